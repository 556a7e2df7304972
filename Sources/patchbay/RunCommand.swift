import ArgumentParser
import PatchbayCore
import Foundation
import PatchbayServer
import Logging
import PatchbayModel
import PatchbayViews
import PatchbayEngine
import PatchbayModel
import Synchronization

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a flow: phases one after another, the tasks of a phase in parallel.",
        discussion: """
            FLOW is a file (YAML, or Keboola orchestration JSON) or the name of one in the project's flows/. The whole flow is checked before anything runs: ids, phase order, configurations, output references, connectors and their parameter schemas. Every job, log line, state and output is kept in the project's store; output tables land in tables/ only when their job succeeds.

            A run of a flow waits (status `waiting`) while another run of the same flow is unfinished, and a job waits while another job of its configuration runs, in any flow or process.

            Examples:
              patchbay run orders
              patchbay run flows/orders.yaml --parallelism 2
              patchbay run orders --only compare,sample    (the others are skipped)
              patchbay run keboola-orchestration.json --output json

            \(ExitCode.documentation(for: ExitCode.runCodes))
            """)

    @Argument(help: ArgumentHelp("The flow file, or its name in flows/.", valueName: "flow"))
    var flow: String

    @Option(help: ArgumentHelp("Run only these tasks (comma-separated ids; repeat to add more); the others are skipped.", valueName: "task,…"))
    var only: [String] = []

    /// Every task named by every --only, in order, each once.
    var selected: [String]? {
        guard !only.isEmpty else { return nil }
        var seen = Set<String>()
        return only.flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            .filter { !$0.isEmpty && seen.insert($0).inserted }
    }

    @Option(name: .customLong("var"), help: ArgumentHelp(
        "A variable for ${{ vars.NAME }} in parameters, NAME=VALUE; repeatable. Overrides the flow's own variables:.",
        valueName: "name=value"))
    var variables: [String] = []

    @Option(help: ArgumentHelp("Tasks of one phase that run at once: twice the cores, at least 4.",
                               valueName: "n"))
    var parallelism: Int = RunOptions.defaultParallelism

    @OptionGroup var project: ProjectOptions
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard parallelism >= 1 else { throw ValidationError("--parallelism must be 1 or more") }
        if let selected, selected.isEmpty { throw ValidationError("--only needs at least one task id") }
        for item in variables where !(item.firstIndex(of: "=").map { $0 > item.startIndex } ?? false) {
            throw ValidationError("--var '\(item)' is not of the form NAME=VALUE")
        }
    }

    func run() async throws {
        try await reportingErrors {
            let (engine, caller) = try project.session(global, needs: .runOrchestrations)
            let flow = try await engine.load(flowFile: engine.project.flowFile(self.flow), sealFiles: true, notes: printNote, warnings: printWarning)
            var options = RunOptions(only: selected, parallelism: parallelism)
            options.startedBy = caller.token.id
            for item in variables {
                let equals = item.firstIndex(of: "=")!
                options.variables[String(item[..<equals])] = String(item[item.index(after: equals)...])
            }
            let run = try engine.submit(flow, options: options)
            let final = await execute(run, on: engine, output: global.output)
            // A run started by hand tells only whoever started it (their token's webhook), as in Keboola.
            let notes = engine.notifications(forEndOf: final)
            if !notes.isEmpty { await WebhookSender(key: try engine.webhookSigningKey(), logger: Logger(label: "patchbay.webhooks")).deliver(notes) }
            let code = ExitCode.forRun(final.status)
            if code != .success { throw code }
        }
    }
}

/// Executes a submitted run with the live view, then prints the summary (or the JSON record).
func execute(_ run: RunRecord, on engine: Engine, output: OutputFormat) async -> RunRecord {
    let interrupts = InterruptHandler(run: run.id!, engine: engine)
    defer { interrupts.stop() }
    let view = RunView(quiet: output == .json)
    view.show(run, jobs: (try? engine.jobs(run: run.id!)) ?? [])
    let done = Mutex(false)
    async let animation: Void = view.animate { done.withLock { $0 } }
    let final = await engine.execute(run) { view.handle($0) }
    done.withLock { $0 = true }
    await animation
    let detail = (try? engine.detail(of: final)) ?? RunDetail(run: final, jobs: [])
    if output == .json {
        printJSON(runJSON(detail))
    } else {
        printRunSummary(final, jobs: detail.jobs.map(\.job))
    }
    return final
}

func printRunSummary(_ run: RunRecord, jobs: [JobRecord]) {
    let counts = Dictionary(grouping: jobs, by: \.status).mapValues(\.count)
    let parts = JobStatus.allCases.compactMap { status in counts[status].map { "\($0) \(status.rawValue)" } }
    let elapsed = run.finishedAt.map { String(format: " in %.2f s", $0.timeIntervalSince(run.startedAt ?? run.createdAt)) } ?? ""
    print("\(RunView.mark(run.status, "·")) run \(run.id!) (\(run.flowName)) \(run.status.rawValue)\(elapsed): \(parts.joined(separator: ", "))")
    if let message = run.message { print("  \(message)") }
    for job in jobs where job.status == .error || job.status == .terminated {
        print("  \(job.taskID): \(job.message ?? job.status.rawValue)")
    }
    if run.status != .success {
        print("  details: patchbay jobs show \(run.id!) · logs: patchbay jobs logs \(run.id!)\(run.status == .error || run.status == .terminated ? " · retry: patchbay jobs retry \(run.id!)" : "")")
    }
}

/// Ctrl-C while a run executes: the first stops the run as `jobs terminate` does (cancel, then SIGTERM,
/// then SIGKILL for running jobs; the rest cancelled) and records it as interrupted by the user, so the
/// command ends with exit code 6 and nothing is left for recovery; a second leaves at once (130), and the
/// next command's recovery records what was left.
final class InterruptHandler {
    private let source: any DispatchSourceSignal
    private final class Count: Sendable { let value = Atomic(0) }
    private let count = Count()

    init(run runID: Int64, engine: Engine) {
        signal(SIGINT, SIG_IGN)
        source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler { [count] in
            let seen = count.value.add(1, ordering: .relaxed).newValue
            guard seen == 1 else {
                printNote("interrupted again: leaving now; run \(runID)'s jobs are killed with this process")
                exit(130)
            }
            printNote("stopping run \(runID) (cancel, then SIGTERM, then SIGKILL); press Ctrl-C again to leave at once")
            do {
                _ = try engine.requestTermination(of: runID, reason: "terminated: interrupted by the user (Ctrl-C)")
            } catch {
                printError("cannot stop run \(runID): \(error); leaving now")
                exit(130)
            }
        }
        source.resume()
    }

    func stop() {
        source.cancel()
        signal(SIGINT, SIG_DFL)
    }
}
