// The conformance kit behind `patchbay plugins check`: a fixed battery an author runs against a connector
// before shipping it, in the spirit of Airbyte's Connector Acceptance Tests. Every item runs the connector
// for real, in a sandboxed runner, exactly as a flow task would run; nothing is stored and no table lands.
// Owns: the items, their order and their verdicts. Must never know: the command line, HTTP, the store.
import Foundation
public import PatchbayCore
import PatchbayModel
import PatchbaySecurity
public import PatchbayRegistry
public import PatchbayRunner
public import PatchbayWire
import Synchronization

/// One connector put through the battery.
public struct ConformanceReport: Sendable {
    public enum Verdict: String, Sendable {
        case pass, warn, fail, skip
    }

    public struct Item: Sendable {
        public let name: String
        public let verdict: Verdict
        public let reason: String
    }

    public var items: [Item] = []
    public var passed: Bool { !items.contains { $0.verdict == .fail } }

    mutating func add(_ name: String, _ verdict: Verdict, _ reason: String) {
        items.append(Item(name: name, verdict: verdict, reason: reason))
    }
}

/// What the battery runs the connector with: the author's parameters, inputs and credentials.
public struct ConformanceInput: Sendable {
    public var parametersJSON: String
    public var inputs: [InputTable]
    public var credentials: [String: [UInt8]]
    public var limits: TaskLimits
    /// How long after cancel() the task must have ended.
    public var cancelBound: Duration
    /// Files and directories the sandbox lets the task read and write, as `task run --read/--write`.
    public var readablePaths: [String] = []
    public var writablePaths: [String] = []

    public init(parametersJSON: String = "{}", inputs: [InputTable] = [], credentials: [String: [UInt8]] = [:],
                limits: TaskLimits = TaskLimits(timeout: .seconds(60)), cancelBound: Duration = .seconds(2)) {
        self.parametersJSON = parametersJSON
        self.inputs = inputs
        self.credentials = credentials
        self.limits = limits
        self.cancelBound = cancelBound
    }
}

public enum ConformanceKit {
    /// Names a property should be marked secret for ("x-secret": true, or a leading '#').
    static let secretLooking = ["password", "secret", "token", "api_key", "apikey", "private_key", "credential"]

    /// Runs every item against `entry`, in order; a connector that does not load gets that one item.
    public static func check(_ entry: CatalogEntry, with input: ConformanceInput, runner: TaskRunner = TaskRunner()) async -> ConformanceReport {
        var report = ConformanceReport()
        guard entry.isReady, let descriptor = entry.descriptor else {
            if case .quarantined(let reason) = entry.status { report.add("descriptor", .fail, reason) }
            return report
        }
        report.add("descriptor", .pass, "\(descriptor.id)@\(descriptor.version), \(descriptor.pattern.name), ABI \(entry.abiVersionText), "
                   + "\(descriptor.structSize)-byte descriptor")
        let schema = schemaItem(descriptor.parametersSchema)
        report.add("schema", schema.verdict, schema.reason)

        func spec(_ mode: RunnerMode, parameters: String? = nil, state: String = "{}") -> TaskSpec {
            var spec = TaskSpec(pluginPath: entry.path, mode: mode, parametersJSON: parameters ?? input.parametersJSON, stateJSON: state,
                                inputs: input.inputs, limits: input.limits)
            spec.network = descriptor.network
            spec.expectedDescriptor = descriptor
            spec.readablePaths = input.readablePaths
            spec.writablePaths = input.writablePaths
            return spec
        }
        let host = RecordingConformanceHost(credentials: input.credentials)
        let ready: (ExitClassification) -> Bool = { $0 == .succeeded || ($0 == .pending && descriptor.pattern == .statusCheck) }

        // check(), then run() with the author's parameters.
        if descriptor.hasCheck {
            let checked = await runner.run(spec(.check), host: host)
            report.add("check()", ready(checked.classification) ? .pass : .fail, checked.classification.summary)
        } else {
            report.add("check()", .skip, "the connector exports no check()")
        }
        let first = await runner.run(spec(.run), host: host)
        report.add("run()", ready(first.classification) ? .pass : .fail,
                   first.classification.summary + (first.tables.isEmpty ? "" : "; tables: " + first.tables.map { "\($0.name) (\($0.rowCount) row\($0.rowCount == 1 ? "" : "s"))" }.joined(separator: ", ")))

        // Parameters that break the schema, handed to run() as if no host had checked them.
        if let broken = brokenParameters(descriptor.parametersSchema, given: input.parametersJSON) {
            let opened = host.tablesOpened
            let refused = await runner.run(spec(.run, parameters: broken.json), host: host)
            let verdict: ConformanceReport.Verdict
            switch refused.classification {
            case .failed(.config, _): verdict = .pass
            case .failed: verdict = .fail
            default: verdict = .fail
            }
            report.add("schema-breaking parameters", verdict,
                       "with \(broken.what): \(refused.classification.summary)\(verdict == .fail ? " (expected a config error)" : "")")
            let openedAfter = host.tablesOpened - opened
            if refused.classification.isSuccess {
                report.add("nothing written after an error", .skip, "the run with broken parameters did not fail")
            } else {
                report.add("nothing written after an error", openedAfter == 0 ? .pass : .fail,
                           openedAfter == 0 ? "the failing run opened no output table"
                               : "the failing run opened \(openedAfter) output table(s) before it failed: check the parameters first")
            }
        } else {
            report.add("schema-breaking parameters", .skip, "the schema declares no typed property to break")
            report.add("nothing written after an error", .skip, "no failing run to watch")
        }

        // State: what run() set is what the next run reads.
        if let state = first.newStateJSON, first.classification.isSuccess {
            let second = await runner.run(spec(.run, state: state), host: host)
            report.add("state round trip", second.classification.isSuccess ? .pass : .fail,
                       "set \(state.count > 60 ? String(state.prefix(60)) + "…" : state); a run from it: \(second.classification.summary)")
        } else if descriptor.capabilities.contains(.state) {
            report.add("state round trip", .fail, "it declares PATCHBAY_CAP_STATE but set no state")
        } else {
            report.add("state round trip", .skip, "it sets no state (and does not declare PATCHBAY_CAP_STATE)")
        }

        // Credentials: only declared names may be asked for.
        let undeclared = host.asked.filter { !descriptor.credentialNames.contains($0) }
        if !undeclared.isEmpty {
            report.add("credentials", .fail, "asked for \(undeclared.map { "'\($0)'" }.joined(separator: ", ")), which it does not declare")
        } else {
            let answers = host.asked.sorted().map { "\($0) (\(input.credentials[$0] == nil ? "not set" : "given"))" }
            let asked = answers.isEmpty ? "asked for none" : "asked for \(answers.joined(separator: ", "))"
            report.add("credentials", .pass, "\(asked); declares \(descriptor.credentialNames.isEmpty ? "none" : descriptor.credentialNames.joined(separator: ", "))")
        }

        report.add("network", contentsOf: await networkItem(descriptor, first: first, runner: runner, host: host, spec: spec(.run)))
        report.add("cancellation", contentsOf: await cancellationItem(spec(.run), runner: runner, host: host, bound: input.cancelBound))
        // What the connector said (errors, logs) is quoted in the reasons: never with a secret it was given.
        let masker = Masker(secrets: input.credentials.values.map { String(decoding: $0, as: UTF8.self) })
        report.items = report.items.map { ConformanceReport.Item(name: $0.name, verdict: $0.verdict, reason: masker.mask($0.reason)) }
        return report
    }

    /// The schema is JSON, an object schema, and marks what looks secret.
    static func schemaItem(_ text: String) -> (verdict: ConformanceReport.Verdict, reason: String) {
        guard let schema = try? JSONValue(parsing: text), case .object(let keywords) = schema else {
            return (.fail, "parameters_schema is not a JSON object")
        }
        if keywords.isEmpty { return (.warn, "the schema is {}: any parameters are accepted, and the host can check none") }
        guard case .string("object")? = keywords["type"] else { return (.fail, #"the schema should say "type": "object" (parameters are an object)"#) }
        guard case .object(let properties)? = keywords["properties"] else { return (.warn, "the schema names no properties") }
        for (name, property) in properties.sorted(by: { $0.key < $1.key }) {
            guard case .object(let rules) = property else { return (.fail, "property '\(name)' is not a schema object") }
            let lower = name.lowercased()
            let marked = name.hasPrefix("#") || rules["x-secret"] == .bool(true)
            if !marked, secretLooking.contains(where: { lower.contains($0) }) {
                return (.fail, "property '\(name)' looks secret but is not marked \"x-secret\": true (or named '#\(name)')")
            }
        }
        let additional = keywords["additionalProperties"] == .bool(false) ? "; unknown parameters are refused" : ""
        return (.pass, "\(properties.count) propert\(properties.count == 1 ? "y" : "ies")\(additional)")
    }

    /// The author's parameters with one typed property given a value of another type.
    static func brokenParameters(_ schemaText: String, given: String) -> (json: String, what: String)? {
        guard case .object(let keywords)? = try? JSONValue(parsing: schemaText),
              case .object(let properties)? = keywords["properties"] else { return nil }
        var parameters: [String: JSONValue] = [:]
        if case .object(let object)? = try? JSONValue(parsing: given) { parameters = object }
        for (name, property) in properties.sorted(by: { $0.key < $1.key }) {
            guard case .object(let rules) = property, case .string(let type)? = rules["type"] else { continue }
            let wrong: JSONValue
            switch type {
            case "integer": wrong = .string("not an integer")
            case "number", "boolean": wrong = .string("not a \(type)")
            case "string": wrong = .integer(12345)
            case "array", "object": wrong = .string("not an \(type)")
            default: continue
            }
            parameters[name] = wrong
            let json = JSONValue.object(parameters)
            guard !JSONSchema.validate(json, against: .object(keywords)).isEmpty else { continue }
            return (json.jsonText, "'\(name)' = \(wrong.jsonText) where the schema wants \(type)")
        }
        return nil
    }

    static func networkItem(_ descriptor: ConnectorDescriptor, first: TaskReport, runner: TaskRunner, host: RecordingConformanceHost,
                            spec: TaskSpec) async -> ConformanceReport.Item {
        let declared = descriptor.network
        let text = (first.logs.map(\.message) + [first.classification.summary]).joined(separator: "\n").lowercased()
        // (Not "permission denied": a file the sandbox hides says that too.)
        let networkWords = ["network", "connect", "socket", "getaddrinfo", "resolve host"]
        if !first.classification.isSuccess, networkWords.contains(where: { text.contains($0) }) {
            return .init(name: "network", verdict: .fail,
                         reason: "the run failed and its log speaks of the network: it may need more than it declares (\(declared.wording))")
        }
        guard declared != .none, first.classification.isSuccess else {
            return .init(name: "network", verdict: .pass, reason: "ran within its declaration (\(declared.wording))")
        }
        var without = spec
        without.network = NetworkAccess.none
        let offline = await runner.run(without, host: host)
        return offline.classification.isSuccess
            ? .init(name: "network", verdict: .warn, reason: "declares \(declared.wording) but these parameters ran with no network at all: declare only what it needs")
            : .init(name: "network", verdict: .pass, reason: "uses the network it declares (\(declared.wording)); without it: \(offline.classification.summary)")
    }

    static func cancellationItem(_ spec: TaskSpec, runner: TaskRunner, host: RecordingConformanceHost, bound: Duration) async -> ConformanceReport.Item {
        let control = TaskControl()
        let clock = ContinuousClock()
        let started = clock.now
        async let report = runner.run(spec, host: host, control: control)
        try? await Task.sleep(for: .milliseconds(50))  // a pause, not a wait for an event: let run() begin
        let cancelledAt = clock.now
        control.cancel()
        let ended = await report
        let after = clock.now - cancelledAt
        if ended.classification == .succeeded, cancelledAt - started > .zero, after < .milliseconds(5) {
            return .init(name: "cancellation", verdict: .pass, reason: "run() finished before the cancel arrived (nothing to stop)")
        }
        let honoured = after <= bound
        return .init(name: "cancellation", verdict: honoured ? .pass : .fail,
                     reason: "ended \(Int(after.components.seconds * 1000 + after.components.attoseconds / 1_000_000_000_000_000)) ms after cancel (bound \(bound)): \(ended.classification.summary)")
    }
}

extension ConformanceReport {
    mutating func add(_ name: String, contentsOf item: Item) { items.append(Item(name: name, verdict: item.verdict, reason: item.reason)) }
}

/// Answers the author's credentials and remembers what the connector asked for and opened.
final class RecordingConformanceHost: TaskHost, Sendable {
    private let credentials: [String: [UInt8]]
    private let state = Mutex<(asked: Set<String>, tablesOpened: Int)>(([], 0))

    init(credentials: [String: [UInt8]]) { self.credentials = credentials }

    var asked: Set<String> { state.withLock { $0.asked } }
    var tablesOpened: Int { state.withLock { $0.tablesOpened } }

    func credential(named name: String, for descriptor: ConnectorDescriptor?) -> CredentialAnswer {
        state.withLock { _ = $0.asked.insert(name) }
        return credentials[name].map { .value($0) } ?? .notFound
    }

    func handle(_ event: TaskEvent) {
        switch event {
        case .tableOpened: state.withLock { $0.tablesOpened += 1 }
        case .log(let line) where line.source == .host:
            // The supervisor refuses an undeclared name itself, before asking the host; its note names it.
            if let name = line.message.between("credential '", "' denied") { state.withLock { _ = $0.asked.insert(name) } }
            if let name = line.message.between("asked for credential '", "'") { state.withLock { _ = $0.asked.insert(name) } }
        default: break
        }
    }
}

private extension String {
    func between(_ start: String, _ end: String) -> String? {
        guard let open = range(of: start), let close = range(of: end, range: open.upperBound..<endIndex) else { return nil }
        return String(self[open.upperBound..<close.lowerBound])
    }
}
