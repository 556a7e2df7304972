import ArgumentParser
import PatchbayCore
import Foundation
import PatchbayEngine
import PatchbayViews
import PatchbayModel

struct JobsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs",
        abstract: "See runs and their jobs, read their logs, retry or terminate them.",
        discussion: """
            A run is one execution of a flow; it has one job per task. Statuses: created, waiting, processing, success, warning, error, terminating, terminated, cancelled (never started), skipped (disabled or not selected).
            """,
        subcommands: [List.self, Show.self, Logs.self, Retry.self, Resume.self, Terminate.self],
        defaultSubcommand: List.self
    )
}

extension JobsCommand {
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List recent runs, newest first.")

        @Option(help: "Only runs of this flow.") var flow: String?
        @Option(help: "How many runs.") var limit: Int = 20
        @OptionGroup var project: ProjectOptions
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await reportingErrors {
                let engine = try project.engine(global)
                let runs = try engine.runs(flow: flow, limit: limit)
                if global.output == .json {
                    printJSON(try runs.map { runJSON(try engine.detail(of: $0)) })
                    return
                }
                if runs.isEmpty { print("no runs yet — start one with: patchbay run FLOW"); return }
                print("RUN   FLOW                 STATUS       TRIGGER   STARTED               DURATION  MESSAGE")
                for run in runs {
                    let started = (run.startedAt ?? run.createdAt).shortTimestamp
                    let duration = run.finishedAt.map { String(format: "%.2f s", $0.timeIntervalSince(run.startedAt ?? run.createdAt)) } ?? "-"
                    print("\(String(run.id!).padded(5)) \(run.flowName.padded(20)) \(run.status.rawValue.padded(12)) \(run.trigger.padded(9)) \(started.padded(21)) \(duration.padded(9)) \(run.message ?? "")")
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "Show a run and each of its jobs (default: the newest run).")

        @Argument(help: ArgumentHelp("The run id.", valueName: "run")) var runID: Int64?
        @OptionGroup var project: ProjectOptions
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await reportingErrors {
                let engine = try project.engine(global)
                let detail = try engine.detail(of: try engine.run(runID))
                if global.output == .json { printJSON(runJSON(detail)); return }
                let run = detail.run
                print("run \(run.id!) · flow \(run.flowName) (\(run.flowFile)) · \(run.status.rawValue)\(run.retryOf.map { " · retry of run \($0)" } ?? "")")
                if let message = run.message { print("  \(message)") }
                var phase: String?
                for (job, outputs, progress, lineage, wait) in detail.jobs.map({ ($0.job, $0.outputs, $0.progress, $0.lineage, $0.wait) }) {
                    if job.phaseID != phase { print("phase \(job.phaseID)"); phase = job.phaseID }
                    let time = job.startedAt.flatMap { start in job.finishedAt.map { String(format: "%.2f s", $0.timeIntervalSince(start)) } } ?? "-"
                    print("  \(RunView.mark(job.status, "…")) \(job.label)  job \(job.id!) · attempt \(job.attempt) · \(job.status.rawValue) · \(time)"
                          + " · \(job.connectorID)\(job.connectorVersion.map { "@\($0)" } ?? "")" + (job.rowsOut > 0 ? " · \(job.rowsOut) rows" : ""))
                    if let wait {
                        print("      waiting (\(wait.reason.rawValue)): \(wait.detail)" + (wait.until.map { " · until \(iso($0))" } ?? ""))
                    } else if let message = job.message {
                        print("      \(job.failureClass.map { "[\($0.rawValue)] " } ?? "")\(message)")
                    }
                    if let sandbox = job.sandbox { print("      sandbox: \(sandbox)") }
                    if let progress { print("      progress: \(progress)") }
                    for edge in lineage {
                        switch edge.direction {
                        case .read: print("      read \(edge.tableName)" + (edge.producerJobID.map { " (made by job \($0))" } ?? " (not in the catalog)"))
                        case .write: print("      wrote \(edge.tableName)" + (edge.rowCount.map { " (\($0) rows)" } ?? ""))
                        }
                    }
                    for output in outputs {
                        print("      output \(output.name) = \(output.isSecret ? "[hidden]" : output.value ?? "")")
                    }
                }
            }
        }
    }

    struct Logs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "logs", abstract: "Print the log lines of a run's jobs (default: the newest run).")

        @Argument(help: ArgumentHelp("The run id.", valueName: "run")) var runID: Int64?
        @Option(help: "Only this task's job.") var task: String?
        @Option(help: "Lowest level: debug, info, warning or error.") var level: String = "debug"
        @OptionGroup var project: ProjectOptions
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await reportingErrors {
                guard let minimum = LogLevel(rawValue: level) else {
                    throw CLIError("--level must be one of \(LogLevel.allCases.map(\.rawValue).joined(separator: ", "))", exitCode: .inputInvalid)
                }
                let engine = try project.engine(global)
                let logs = try engine.logs(run: try engine.run(runID).id!, task: task, minimum: minimum)
                if global.output == .json {
                    printJSON(logs.map { ["job": $0.line.jobID, "task": $0.job.taskID, "time": iso($0.line.time),
                                          "level": $0.line.level.rawValue, "source": $0.line.source.rawValue, "message": $0.line.message] })
                    return
                }
                for (job, log) in logs {
                    let time = log.time.formatted(.iso8601.time(includingFractionalSeconds: true))
                    print("\(time) \(job.taskID.padded(16)) \(log.level.rawValue.padded(7)) \(log.source.rawValue.padded(9)) \(log.message)")
                }
            }
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "retry",
            abstract: "Re-run the failed tasks and the failed or not-executed phases of a run.",
            discussion: """
                Tasks that succeeded are not run again: their jobs and outputs are reused, so later tasks get the same values. The flow file is read again, so a fix you made since is used for the tasks that re-run; when the file changed, the retry says so. --as-recorded runs the flow exactly as it was when the run started. Run variables are the original run's.

                \(ExitCode.documentation(for: ExitCode.runCodes))
                """)

        @Argument(help: ArgumentHelp("The run to retry.", valueName: "run")) var runID: Int64
        @Option(help: "Tasks of one phase at once (default: as the original run).") var parallelism: Int?
        @Flag(help: "Run the flow as the original run recorded it, not as its file is now.") var asRecorded = false
        @OptionGroup var project: ProjectOptions
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await reportingErrors {
                let engine = try project.engine(global, needs: .runOrchestrations)
                var current: Flow?
                if !asRecorded {
                    let recorded = try engine.recordedFlow(of: runID)
                    let now: Flow
                    do { now = try await engine.load(flowFile: recorded.file, sealFiles: true, notes: printNote, warnings: printWarning) } catch {
                        printNote("run \(runID)'s flow file cannot be used as it is now; `--as-recorded` retries the flow as the run recorded it")
                        throw error
                    }
                    if !now.sameDefinition(as: recorded) {
                        printNote("\(recorded.file) changed since run \(runID): the tasks that re-run use it as it is now (--as-recorded keeps the old definitions)")
                    }
                    current = now
                }
                let run = try engine.submitRetry(of: runID, parallelism: parallelism, current: current)
                let final = await execute(run, on: engine, output: global.output)
                let code = ExitCode.forRun(final.status)
                if code != .success { throw code }
            }
        }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "resume",
            abstract: "Execute a run that recovery made to resume a status check whose host died (started for you).",
            discussion: """
                When the process running a flow dies (kill -9, a crash, a reboot) while a status check waits between checks, the next patchbay command that opens the project ends that run and submits a retry of it (trigger "resume"): the tasks that succeeded are reused, and the status check goes on where it was, with its count of checks, its poll deadline, the state it carries and its next check at the time that was due. That command starts `patchbay jobs resume RUN` in the background to execute the retry; its output goes to .patchbay/resume-run-RUN.log. You would run it by hand only if that start failed.

                \(ExitCode.documentation(for: ExitCode.runCodes))
                """)

        @Argument(help: ArgumentHelp("The run to execute: one that has not started.", valueName: "run")) var runID: Int64
        @OptionGroup var project: ProjectOptions
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await reportingErrors {
                let engine = try project.engine(global, needs: .runOrchestrations)
                let run = try engine.adopt(run: runID)
                let final = await execute(run, on: engine, output: global.output)
                let code = ExitCode.forRun(final.status)
                if code != .success { throw code }
            }
        }
    }

    struct Terminate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "terminate",
            abstract: "Stop a run, or one job of it: running jobs get cancel, then SIGTERM, then SIGKILL; queued jobs are cancelled.",
            discussion: """
                Waits until the run (or with --task, the job) is recorded as ended, or --wait seconds pass. The record says which token stopped it. A job stopped alone ends terminated (or cancelled, if it had not started), and its phase fails as for any failed job.

                Examples:
                  patchbay jobs terminate 42
                  patchbay jobs terminate --flow orders
                  patchbay jobs terminate 42 --task extract_orders

                \(ExitCode.documentation(for: ExitCode.projectCodes + [.waitTimedOut]))
                """)

        @Argument(help: ArgumentHelp("The run to stop (or give --flow).", valueName: "run")) var runID: Int64?
        @Option(help: ArgumentHelp("Stop the latest unfinished run of this flow.", valueName: "flow")) var flow: String?
        @Option(help: ArgumentHelp("Stop only this task's job (by id or name); the run goes on.", valueName: "task")) var task: String?
        @Option(help: "Seconds to wait for the run to end.") var wait: Double = 60
        @OptionGroup var project: ProjectOptions
        @OptionGroup var global: GlobalOptions

        func validate() throws {
            guard (runID == nil) != (flow == nil) else { throw ValidationError("give a run id or --flow FLOW, one of them") }
        }

        func run() async throws {
            try await reportingErrors {
                let (engine, caller) = try project.session(global, needs: .runOrchestrations)
                let runID: Int64
                if let flow {
                    guard let latest = try engine.runs(flow: flow, limit: 50).first(where: { !$0.status.isFinished }) else {
                        throw CLIError("the flow '\(flow)' has no unfinished run", exitCode: .inputInvalid)
                    }
                    runID = latest.id!
                } else {
                    runID = self.runID!
                }
                // The record says who stopped it.
                let reason = "terminated on request by token '\(caller.token.name)'"
                if let task {
                    let job = try engine.requestTermination(of: runID, task: task, reason: reason)
                    if job.status.isFinished {
                        throw CLIError("job \(job.id!) (task \(job.taskID)) of run \(runID) already ended: \(job.status.rawValue)", exitCode: .inputInvalid)
                    }
                    let ended = try await engine.waitForEnd(ofJob: job.id!, within: .milliseconds(Int64(wait * 1000)))
                    if global.output == .json {
                        printJSON(["run": runID, "job": ended.id!, "task": ended.taskID, "status": ended.status.rawValue,
                                   "message": ended.message as Any? ?? NSNull()])
                    } else if ended.status.isFinished {
                        print("job \(ended.id!) (run \(runID), task \(ended.taskID)): \(ended.status.rawValue)\(ended.message.map { " — \($0)" } ?? "")")
                    } else {
                        print("job \(ended.id!) (run \(runID), task \(ended.taskID)): still \(ended.status.rawValue) after \(wait) s; its host has been asked to stop it")
                    }
                    if !ended.status.isFinished { throw ExitCode.waitTimedOut }
                    return
                }
                let before = try engine.requestTermination(of: runID, reason: reason)
                if before.isFinished {
                    throw CLIError("run \(runID) already ended: \(before.rawValue)", exitCode: .inputInvalid)
                }
                let run = try await engine.waitForEnd(of: runID, within: .milliseconds(Int64(wait * 1000)))
                if global.output == .json {
                    printJSON(runJSON(try engine.detail(of: run)))
                } else if run.status.isFinished {
                    print("run \(runID): \(run.status.rawValue)\(run.message.map { " — \($0)" } ?? "")")
                } else {
                    print("run \(runID): still \(run.status.rawValue) after \(wait) s; its host has been asked to stop it")
                }
                if !run.status.isFinished { throw ExitCode.waitTimedOut }
            }
        }
    }
}
