import ArgumentParser
import PatchbayCore
import Foundation
import PatchbayViews
import PatchbayModel
import Logging
import Synchronization
import PatchbayRegistry
import PatchbayRunner

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json

    /// Whether this process was asked for JSON (set once, when the options are validated).
    static let errorsAsJSON = Atomic<Bool>(false)
}

/// Options every command shares.
struct GlobalOptions: ParsableArguments {
    @Option(name: .customLong("plugin-dir"),
            help: ArgumentHelp("A directory to load plugins from; repeat for several. Replaces the defaults.",
                               discussion: "Default: $PATCHBAY_PLUGIN_PATH (colon-separated), else the build's plugins directory and ~/.local/share/patchbay/plugins.",
                               valueName: "dir"))
    var pluginDirectories: [String] = []

    @Option(help: "Output format: text for people, json for scripts.")
    var output: OutputFormat = .text

    @Option(help: "What Patchbay says on stderr about its own work: error, warning, info or debug.")
    var logLevel: Verbosity = .warning

    /// Remembers the output format for `printError`, which has no options at hand.
    func validate() throws {
        OutputFormat.errorsAsJSON.store(output == .json, ordering: .relaxed)
    }

    var directories: PluginDirectories {
        let standard = PluginDirectories.standard()
        guard !pluginDirectories.isEmpty else { return standard }
        let absolute = pluginDirectories.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        return PluginDirectories(directories: absolute, installDirectory: absolute[0])
    }

    /// The plugin registry; first starts the diagnostics log at the chosen level (every command calls this).
    func registry(probeLimits: TaskLimits = PluginRegistry.defaultProbeLimits) -> PluginRegistry {
        Diagnostics.start(at: logLevel)
        return PluginRegistry(directories: directories, probeLimits: probeLimits)
    }
}

enum Verbosity: String, ExpressibleByArgument, CaseIterable {
    case error, warning, info, debug

    var level: Logger.Level {
        switch self {
        case .error: .error
        case .warning: .warning
        case .info: .info
        case .debug: .debug
        }
    }
}

/// The swift-log backend of the command line: lines on stderr (stdout carries results and JSON), once per process.
enum Diagnostics {
    private static let started = Mutex(false)

    static func start(at verbosity: Verbosity) {
        started.withLock { started in
            guard !started else { return }
            started = true
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = verbosity.level
                return handler
            }
        }
    }
}

/// Writes JSON for scripts: sorted keys, one document.
func printJSON(_ value: Any) {
    print(JSONText.render(value))
}

/// An error on stderr for people; with `--output json`, also one JSON object on stdout for scripts
/// (`{"error": …, "hint": …}`), so a script never reads an empty stdout.
func printError(_ text: String, hint: String? = nil) {
    writeStandardError("error: \(text)\n\(hint.map { "hint: \($0)\n" } ?? "")")
    if OutputFormat.errorsAsJSON.load(ordering: .relaxed) {
        var object: [String: Any] = ["error": text]
        if let hint { object["hint"] = hint }
        printJSON(object)
    }
}

/// Prints an error and, when the CLI knows one, the next step.
func printError(_ error: any Error) {
    printError("\(error)", hint: hint(for: error))
}

func formatDuration(_ duration: Duration) -> String {
    let seconds = duration.inSeconds
    if seconds >= 1 { return String(format: "%.2f s", seconds) }
    if seconds >= 0.001 { return String(format: "%.1f ms", seconds * 1000) }
    return String(format: "%.0f µs", seconds * 1_000_000)
}

extension String {
    /// Left-aligned in a column of `width` characters (cut if longer), for tables in text output.
    func padded(_ width: Int) -> String { padding(toLength: width, withPad: " ", startingAt: 0) }
}

extension Date {
    /// 2026-11-21T08:14:08, for listings.
    var shortTimestamp: String {
        formatted(.iso8601.year().month().day().dateSeparator(.dash).time(includingFractionalSeconds: false).timeSeparator(.colon))
    }
}

/// A line for people that is not the command's result (stderr, so stdout stays parseable).
@Sendable func printNote(_ text: String) {
    writeStandardError("note: \(text)\n")
}

/// A problem (or warning) of a flow as JSON carries it: where, which field, what.
func problemJSON(_ issue: FlowIssue) -> [String: Any] {
    var object: [String: Any] = ["field": issue.path, "message": issue.message]
    if let location = issue.location {
        object["file"] = location.file
        object["line"] = location.line
        object["column"] = location.column
    }
    return object
}

/// What validation found worth saying but not refusing (FILE:LINE:COL: FIELD: WHAT), on stderr.
@Sendable func printWarning(_ issue: FlowIssue) {
    writeStandardError("warning: \(issue)\n")
}

extension NetworkAccess {
    /// `none`, `any` or `tcp:443,5432`, as --network takes it.
    init?(argument: String) {
        switch argument {
        case "none": self = .none
        case "any": self = .any
        default:
            guard argument.hasPrefix("tcp:") else { return nil }
            let ports = argument.dropFirst(4).split(separator: ",").compactMap { UInt16($0) }
            guard !ports.isEmpty, !ports.contains(0) else { return nil }
            self = .tcpPorts(ports)
        }
    }
}
