import ArgumentParser
import PatchbayCore
import PatchbayEngine
import Foundation
import PatchbayViews
import PatchbayModel
import PatchbayRegistry
import PatchbayRunner
import PatchbaySecurity
import PatchbayWire
import Synchronization

struct TaskCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "task",
        abstract: "Run one connector task in an isolated runner.",
        subcommands: [Run.self]
    )
}

extension TaskCommand {
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "run",
            abstract: "Run one task and print its log, outputs, tables and final status.",
            discussion: """
                The task runs in a runner process of its own, under the limits below. Output tables are written into the task's private workspace and moved into --tables-dir only if the task succeeds.

                Examples:
                  patchbay task run dev.patchbay.sample-data --param rows=1000
                  patchbay task run dev.patchbay.file-extract@1.0.0 \\
                    --param path=$PWD/orders.csv --param table=in.orders
                  patchbay task run ./libmy_connector.so --config params.json \\
                    --credential api_key=@key.txt
                  patchbay task run dev.patchbay.table-diff \\
                    --input primary=a.csv --input secondary=b.csv

                \(ExitCode.documentation(for: ExitCode.taskCodes))
                """)

        @Argument(help: ArgumentHelp("An installed connector's id, id@version, or a path to a .so file.", valueName: "connector"))
        var connector: String

        @Option(help: ArgumentHelp("Narrow the network the connector declares: none, or tcp:PORT,… (never wider than declared).", valueName: "network"))
        var network: String?

        @Option(help: ArgumentHelp("Stop the task after this many seconds (cancel, then SIGTERM, then SIGKILL).", valueName: "seconds"))
        var timeout: Double = 3600

        @Option(help: ArgumentHelp("Memory limit in MB.", valueName: "MB"))
        var memory: UInt64 = 2048

        @Option(help: ArgumentHelp("Processes and threads the task may have at once.", valueName: "n"))
        var processes: UInt64 = 64

        @Option(name: .customLong("max-file-mb"), help: ArgumentHelp("The largest file the task may write, output tables included, in MB (0: no limit).", valueName: "MB"))
        var maxFileMB: UInt64 = 0

        @Option(help: ArgumentHelp("Where the task's output tables land on success.", valueName: "dir"))
        var tablesDir: String = "tables"

        @Flag(help: "Call the connector's check() instead of run().")
        var check = false

        @Flag(help: "Include debug log lines.")
        var verbose = false

        @OptionGroup var given: TaskInputOptions
        @OptionGroup var global: GlobalOptions

        func validate() throws {
            guard timeout > 0 else { throw ValidationError("--timeout must be more than 0 seconds") }
            guard memory >= 16 else { throw ValidationError("--memory must be at least 16 MB") }
        }

        func run() async throws {
            // Probes run in the same sandbox as the task, under the limits the user gave it.
            let limits = TaskLimits(timeout: .milliseconds(Int64(timeout * 1000)), memoryBytes: memory << 20, processes: processes,
                                    killGrace: .milliseconds(200), fileSizeBytes: maxFileMB << 20)
            let registry = global.registry(probeLimits: limits)
            await registry.refresh()
            let entry: CatalogEntry
            do { entry = try await registry.resolve(connector) } catch let error as RegistryError {
                printError(error)
                throw CLIError(error).exitCode
            }
            let input: TaskInput
            do { input = try given.taskInput() } catch let error as CLIError {
                printError(error)
                throw error.exitCode
            }
            let parametersJSON = input.connectorParameters.jsonText, secrets = input.secrets, inputTables = input.inputs

            let tablesDirectory = URL(fileURLWithPath: tablesDir).standardizedFileURL.path
            let masker = Masker(secrets: secrets.values.map { String(decoding: $0, as: UTF8.self) })
            // The same checks a flow makes before a task runs: the parameters (`#` values too) against the schema.
            if let schemaText = entry.descriptor?.parametersSchema, let schema = try? JSONValue(parsing: schemaText) {
                let violations = JSONSchema.validate(input.parameters, against: schema)
                if !violations.isEmpty {
                    for violation in violations {
                        let name = violation.pointer.split(separator: "/").first.map { "--param \($0)" } ?? "the parameters"
                        printError("\(name)\(violation.pointer.split(separator: "/").count > 1 ? " (\(violation.pointer))" : ""): \(violation.message)")
                    }
                    printError("the parameters do not match \(entry.descriptor?.id ?? "the connector")'s schema (`patchbay plugins inspect \(connector)` shows it); nothing was run")
                    throw ExitCode.inputInvalid
                }
            }
            let host = CLITaskHost(secrets: secrets, masker: masker, live: global.output == .text, tablesDirectory: tablesDirectory)
            if global.output == .text, let d = entry.descriptor {
                print("▶ \(d.id)@\(d.version) (\(entry.pattern?.name ?? "?")) \(entry.path)")
            }
            var spec = TaskSpec(
                pluginPath: entry.path, mode: check ? .check : .run, parametersJSON: parametersJSON, inputs: inputTables,
                limits: TaskLimits(timeout: limits.timeout, memoryBytes: limits.memoryBytes, processes: limits.processes,
                                   fileSizeBytes: limits.fileSizeBytes),
                minimumLogLevel: verbose ? 1 : 2)
            (spec.readablePaths, spec.writablePaths) = (input.readable, input.writable)
            let declared = entry.descriptor?.network ?? .none
            spec.network = declared
            spec.expectedDescriptor = entry.descriptor
            if let network {
                guard let asked = NetworkAccess(argument: network) else {
                    printError("--network \(network): write none, any or tcp:PORT,PORT"); throw ExitCode.inputInvalid
                }
                guard declared.narrowed(to: asked) == asked else {
                    printError("--network \(network): the connector declares \(declared.wording); a task may narrow that, never widen it"); throw ExitCode.inputInvalid
                }
                spec.network = asked
            }
            let report = masker.mask(await TaskRunner().run(spec, host: host))
            if global.output == .json {
                printJSON(json(report, entry: entry, tablesDirectory: tablesDirectory, progress: host.progress.reports))
            } else {
                print(host.progress.clearing(host.terminal), terminator: "")
                printSummary(report, tablesDirectory: tablesDirectory)
            }
            let code = ExitCode.forTask(report.classification)
            if code != .success { throw code }
        }

        // MARK: outputs

        func printSummary(_ report: TaskReport, tablesDirectory: String) {
            if !report.outputs.isEmpty {
                print("outputs:")
                for output in report.outputs {
                    print("  \(output.name) = \(output.isSecret ? "[hidden]" : String(decoding: output.value, as: UTF8.self))")
                }
            }
            if !report.tables.isEmpty {
                print("tables:")
                for table in report.tables {
                    print("  \(table.name)  \(table.rowCount) rows × \(table.columns.count) columns → \(tablesDirectory)/\(table.name).csv")
                }
            }
            if let state = report.newStateJSON { print("state: \(state)") }
            print("sandbox: \(report.sandbox)")
            let mark = report.classification.isSuccess ? "✓" : report.classification == .pending ? "⧗" : "✗"
            print("\(mark) \(report.classification.summary) in \(formatDuration(report.wallTime))")
        }

        static func status(of classification: ExitClassification) -> String {
            switch classification {
            case .succeeded: JobStatus.success.rawValue
            case .pending: "pending"
            case .cancelled: JobStatus.cancelled.rawValue
            default: JobStatus.error.rawValue
            }
        }

        func json(_ report: TaskReport, entry: CatalogEntry, tablesDirectory: String,
                  progress: [(time: Date, report: ProgressReport)]) -> [String: Any] {
            var object: [String: Any] = [
                // The words of `jobs` (success, error, cancelled; pending for a status check not ready), and how
                // the runner ended under `exit`, as a job's JSON has them.
                "status": Self.status(of: report.classification),
                "exit": report.classification.kind,
                "summary": report.classification.summary,
                "connector": entry.json,
                "wall_time_ms": Double(report.wallTime.components.attoseconds) / 1e15 + Double(report.wallTime.components.seconds) * 1000,
                "load_time_ms": Double(report.loadTime.components.attoseconds) / 1e15 + Double(report.loadTime.components.seconds) * 1000,
                "peak_memory_bytes": report.peakMemoryBytes,
                "peak_resident_bytes": report.peakResidentBytes,
                "leftover_processes_killed": report.leftoverProcessesKilled,
                "confinement": report.confinement.description,
                "sandbox": report.sandbox,
                "logs": report.logs.map { ["time": iso($0.time), "level": $0.level.rawValue,
                                           "source": $0.source.rawValue, "message": $0.message] },
                "outputs": report.outputs.map { ["name": $0.name, "secret": $0.isSecret,
                                                 "value": $0.isSecret ? "[hidden]" : String(decoding: $0.value, as: UTF8.self)] },
                "tables": report.tables.map { ["name": $0.name, "columns": $0.columns, "rows": $0.rowCount,
                                               "path": "\(tablesDirectory)/\($0.name).csv"] },
            ]
            if let failureClass = report.classification.failureClass { object["failure_class"] = failureClass.rawValue }
            if !report.internalMessage.isEmpty { object["internal_message"] = report.internalMessage }
            if let state = report.newStateJSON { object["state"] = state }
            object["progress"] = progress.map { ["time": iso($0.time), "fraction": $0.report.fraction as Any, "message": $0.report.message] }
            return object
        }
    }
}

/// Answers credentials from the command line, prints events live, lands tables in a directory.
/// Progress: on a terminal, one line redrawn in place; in text output elsewhere, a line when the percentage
/// moves; in JSON, every report in the result's `progress`.
struct CLITaskHost: TaskHost {
    let secrets: [String: [UInt8]]
    let masker: Masker
    let live: Bool
    let tablesDirectory: String
    let progress = ProgressLog()
    let terminal = isatty(STDOUT_FILENO) == 1

    func credential(named name: String, for descriptor: ConnectorDescriptor?) -> CredentialAnswer {
        secrets[name].map { .value($0) } ?? .notFound
    }

    func handle(_ event: TaskEvent) {
        switch event {
        case .log(let line) where live:
            let text = "[\(RunView.clockTime())] \(line.level.rawValue.padded(7)) \(line.source.rawValue.padded(9)) \(masker.mask(line.message))"
            print(progress.clearing(terminal) + text)
            if terminal, let last = progress.reports.last { printLive(last.report) }
        case .progress(let fraction, let message):
            let report = ProgressReport(fraction: fraction, message: masker.mask(message))
            let moved = progress.add(report)
            guard live else { return }
            if terminal {
                printLive(report)
            } else if moved {
                print("[\(RunView.clockTime())] progress  \(report.text)")
            }
        default:
            break
        }
    }

    /// The progress line, drawn over itself (no newline) until the next log line clears it.
    private func printLive(_ report: ProgressReport) {
        writeStandardOutput("\r\u{1B}[2K  \(report.text)")
        progress.drawn()
    }

    func commit(tables: [TableFile]) throws {
        try DirectoryTableSink(directory: tablesDirectory).commit(tables)
    }
}

extension CLIError {
    static let ciphertextOutsideProject = CLIError(
        "an encrypted '#' value needs its project's master key: run it in a flow (patchbay run), or pass the plain value to task run",
        exitCode: .inputInvalid)
}

extension Masker {
    /// The report with every secret form hidden: log lines, outputs that are not secret, messages.
    func mask(_ report: TaskReport) -> TaskReport {
        guard !isEmpty else { return report }
        var report = report
        report.logs = report.logs.map { line in
            var line = line
            line.message = mask(line.message)
            return line
        }
        report.outputs = report.outputs.map { output in
            var output = output
            if !output.isSecret { output.value = Array(mask(String(decoding: output.value, as: UTF8.self)).utf8) }
            return output
        }
        report.internalMessage = mask(report.internalMessage)
        report.classification = report.classification.mapMessages { mask($0) }
        return report
    }
}

/// The progress reports of one `task run`, for the live line and the JSON result.
final class ProgressLog: Sendable {
    private struct State {
        var reports: [(time: Date, report: ProgressReport)] = []
        var lastPercent: Int?
        var lineDrawn = false
    }
    private let state = Mutex(State())

    /// Keeps a report; true when its whole percentage (or its message, when the fraction is unknown)
    /// differs from the last one's.
    func add(_ report: ProgressReport) -> Bool {
        state.withLock { state in
            let previous = state.reports.last?.report
            state.reports.append((Date(), report))
            let percent = report.fraction.map { Int(($0 * 100).rounded(.down)) }
            defer { state.lastPercent = percent }
            return previous == nil || percent != state.lastPercent || (percent == nil && previous?.message != report.message)
        }
    }

    var reports: [(time: Date, report: ProgressReport)] { state.withLock { $0.reports } }

    func drawn() { state.withLock { $0.lineDrawn = true } }

    /// What to print before a log line so it does not run into the live progress line.
    func clearing(_ terminal: Bool) -> String {
        state.withLock { state in
            defer { state.lineDrawn = false }
            return terminal && state.lineDrawn ? "\r\u{1B}[2K" : ""
        }
    }
}
