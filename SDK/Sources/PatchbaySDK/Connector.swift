// PatchbaySDK — the Swift face of the Patchbay connector ABI.
//
// A Swift connector is one type conforming to `Connector` plus one export line:
//
//     import PatchbaySDK
//
//     struct Hello: Connector {
//         static let id = "com.example.hello"
//         static let version = "1.0.0"
//         static let displayName = "Hello"
//         static let pattern = JobPattern.extraction
//         func run(_ task: TaskContext) throws {
//             let table = try task.openOutput("out.greetings", columns: ["greeting"])
//             try table.write(["hello"])
//         }
//     }
//
//     @_cdecl("patchbay_connector_entry")
//     public func entry(_ host: UnsafePointer<patchbay_host>?) -> UnsafePointer<patchbay_connector>? { export(Hello.self, host: host) }
//
// Owns: the descriptor built from the type, error mapping, safe wrappers for
// every host callback. Must never know: the host's internals, its storage or
// its transport. Depends on no package, and not on Foundation (the runner
// starts in ~2 ms; Foundation would add far more to every Swift task).
@_exported import PatchbayABI

/// The job pattern: what the connector does, and so what the host does with it.
public enum JobPattern: UInt32, Sendable {
    case authentication = 1, initiation, statusCheck, extraction, preparation, egression, validation
}

/// What the connector can do, for the host and for `patchbay plugins inspect`.
public struct Capabilities: OptionSet, Sendable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public static let readsTables = Capabilities(rawValue: 1 << 0)
    public static let writesTables = Capabilities(rawValue: 1 << 1)
    public static let state = Capabilities(rawValue: 1 << 2)
    public static let cancel = Capabilities(rawValue: 1 << 3)
    /// An extraction whose every `setState` in `run` is a checkpoint (ABI 1.5): when its runner dies, the
    /// job's next attempt starts with that state and the rows written before it.
    public static let checkpoints = Capabilities(rawValue: 1 << 4)
}

/// The network a connector needs (ABI 1.1): it gets that and nothing more.
public enum Network: Sendable, Equatable {
    /// Local (AF_UNIX) sockets only. The default.
    case none
    /// Outbound TCP to these ports only.
    case tcpPorts([UInt16])
    /// Whatever the machine's network allows.
    case any
}

/// A connector. Implement `run`; everything else has a sensible default.
///
/// Requirements: `id` is reverse-DNS (lowercase letters, digits, `.`, `-`, `_`),
/// `version` is MAJOR.MINOR.PATCH. `run` and `check` are called on one thread;
/// a thrown error fails the task (see `ConnectorError` for how it is classed).
public protocol Connector {
    static var id: String { get }
    static var version: String { get }
    static var displayName: String { get }
    static var summary: String { get }
    static var pattern: JobPattern { get }
    /// JSON Schema of the parameters; mark secret fields with `"x-secret": true`.
    static var parametersSchema: String { get }
    /// Names of the credentials `run` may ask for with `task.credential(_:)`.
    static var credentials: [String] { get }
    static var capabilities: Capabilities { get }
    /// The network `run` and `check` need. Default: none.
    static var network: Network { get }
    /// The names `run` passes to `setOutput` (ABI 1.4): a flow's references are then checked before it
    /// runs, and the host fails a task that sets another. Default: nil, declares nothing.
    static var declaredOutputs: [String]? { get }
    /// The tables `run` opens (ABI 1.4): names ("out.orders"), or patterns with one string parameter in
    /// braces ("{table}", "{table}_rejected"). `patchbay validate` then refuses two tasks of a phase writing
    /// one table, or a task reading a table of its own or a later phase. Default: nil, declares nothing.
    static var declaredTables: [String]? { get }

    init()
    /// Does the work. Throw `NotReadyYet()` from a status-check connector that is not ready.
    func run(_ task: TaskContext) throws
}

extension Connector {
    public static var summary: String { "" }
    public static var parametersSchema: String { "{}" }
    public static var credentials: [String] { [] }
    public static var capabilities: Capabilities { [] }
    public static var network: Network { .none }
    public static var declaredOutputs: [String]? { nil }
    public static var declaredTables: [String]? { nil }
}

/// A connector that can check its parameters and credentials quickly, without doing the work
/// (`patchbay task run --check`, `patchbay plugins check`). Only a type that conforms exports check():
/// the host then knows which connectors have one, and `plugins inspect` says so truthfully.
///
///     struct Orders: Connector, Checking {
///         func check(_ task: TaskContext) throws { _ = try task.credential("api_token") }
///         func run(_ task: TaskContext) throws { ... }
///     }
public protocol Checking: Connector {
    /// Checks parameters and credentials quickly; throw `ConnectorError.config` for what the user must fix.
    func check(_ task: TaskContext) throws
}

/// How a failure is classed: what the user should do about it.
public enum FailureClass: UInt32, Sendable {
    /// The user must fix something: parameters, credentials, data.
    case config = 1
    /// Retrying later may succeed: timeouts, rate limits, 5xx.
    case transient = 2
    /// A bug in the connector or the host.
    case system = 3
    /// The data broke a rule: a validation found differences, rows are malformed (ABI 1.2). Not retried.
    case data = 4
    /// The service refused the credentials (HTTP 401) (ABI 1.4): the host authenticates again with the run's
    /// authentication task, once, and retries the task. An older host treats it as `system`.
    case unauthorized = 5
}

/// The error to throw for a failure the user should see. Any other error is
/// reported as a `system` failure with its description.
public struct ConnectorError: Error, Sendable, CustomStringConvertible {
    public var failureClass: FailureClass
    /// Shown to the user: say what to fix.
    public var userMessage: String
    /// For the connector's developers; may be empty.
    public var internalMessage: String

    public init(_ failureClass: FailureClass, _ userMessage: String, internal internalMessage: String = "") {
        self.failureClass = failureClass
        self.userMessage = userMessage
        self.internalMessage = internalMessage
    }

    public static func config(_ message: String, internal internalMessage: String = "") -> ConnectorError { .init(.config, message, internal: internalMessage) }
    public static func transient(_ message: String, internal internalMessage: String = "") -> ConnectorError { .init(.transient, message, internal: internalMessage) }
    public static func system(_ message: String, internal internalMessage: String = "") -> ConnectorError { .init(.system, message, internal: internalMessage) }
    public static func data(_ message: String, internal internalMessage: String = "") -> ConnectorError { .init(.data, message, internal: internalMessage) }
    public static func unauthorized(_ message: String, internal internalMessage: String = "") -> ConnectorError { .init(.unauthorized, message, internal: internalMessage) }

    public var description: String { "\(failureClass): \(userMessage)" }
}

/// Thrown by a status-check connector's `run` when the remote side is not ready yet:
/// the host asks again after its polling interval.
public struct NotReadyYet: Error, Sendable {
    public init() {}
}

/// Thrown when the task was cancelled; `TaskContext.checkCancellation()` throws it.
public struct TaskCancelled: Error, Sendable {
    public init() {}
}
