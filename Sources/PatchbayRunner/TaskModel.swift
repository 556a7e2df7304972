import CPatchbaySys
public import Foundation
public import PatchbayCore
public import PatchbayWire

/// What the runner is asked to do, with what, under which limits.
public struct TaskSpec: Sendable {
    public var pluginPath: String
    public var mode: RunnerMode
    public var parametersJSON: String
    public var stateJSON: String
    public var inputs: [InputTable]
    public var limits: TaskLimits
    /// Where private task workspaces are created (and deleted afterwards).
    public var workspaceRoot: String
    /// Lowest log level (PATCHBAY_LOG_*) the runner forwards.
    public var minimumLogLevel: UInt32
    /// The buckets the task may write. The runner refuses others at open_output.
    public var writableBuckets: BucketRule
    /// The network the task may use: its connector's declaration, narrowed by the flow.
    public var network: NetworkAccess
    /// Paths beyond its workspace the task may read, and write, as the user granted them.
    public var readablePaths: [String] = []
    public var writablePaths: [String] = []
    /// The descriptor the plugin gave when it was probed (the catalog's). The runner's descriptor frame is
    /// the connector's word: one that differs in what it may ask for (id, version, pattern, credentials,
    /// network, capabilities) is a protocol violation, not a new grant.
    public var expectedDescriptor: ConnectorDescriptor?
    /// A checkpoint an earlier attempt of this job left (ABI 1.5): its tables (files the host owns) are put in
    /// the new workspace before the runner starts, and the runner is told they are there. The caller sets
    /// `stateJSON` to its state.
    public var resume: Checkpoint?
    /// Where the host keeps this task's checkpoint if its runner ends without success (nil: it keeps none).
    /// A host-owned directory, replaced whole each time.
    public var checkpointDirectory: String?

    public init(pluginPath: String, mode: RunnerMode = .run, parametersJSON: String = "{}", stateJSON: String = "{}",
                inputs: [InputTable] = [], limits: TaskLimits = TaskLimits(),
                workspaceRoot: String = TaskSpec.defaultWorkspaceRoot, minimumLogLevel: UInt32 = 1,
                writableBuckets: BucketRule = .any, network: NetworkAccess = .none) {
        self.network = network
        self.pluginPath = pluginPath
        self.mode = mode
        self.parametersJSON = parametersJSON
        self.stateJSON = stateJSON
        self.inputs = inputs
        self.limits = limits
        self.workspaceRoot = workspaceRoot
        self.minimumLogLevel = minimumLogLevel
        self.writableBuckets = writableBuckets
    }

    public static var defaultWorkspaceRoot: String {
        NSTemporaryDirectory() + "patchbay-work-\(getuid())"
    }
}

public struct LogLine: Sendable, Codable, Equatable {
    public var time: Date
    public var level: LogLevel
    public var source: LogSource
    public var message: String

    public init(time: Date, level: LogLevel, source: LogSource, message: String) {
        self.time = time
        self.level = level
        self.source = source
        self.message = message
    }
}

public struct TaskOutput: Sendable, Equatable {
    public var name: String
    public var value: [UInt8]
    public var isSecret: Bool
}

/// Something that happened while the task ran, in order.
public enum TaskEvent: Sendable {
    case started(runnerPID: Int32)
    case phase(RunnerPhase)
    case descriptor(ConnectorDescriptor)
    case log(LogLine)
    case progress(fraction: Double, message: String)
    case output(TaskOutput)
    case stateChanged(json: String)
    case tableOpened(name: String, columns: [String])
}

/// The answer to a connector's credential request.
public enum CredentialAnswer: Sendable {
    case value([UInt8])
    case notFound
    case denied(reason: String)
}

/// The host's side of a running task: who answers credentials, who hears events,
/// who takes the finished tables. Called on the task's supervisor thread.
public protocol TaskHost: Sendable {
    func credential(named name: String, for descriptor: ConnectorDescriptor?) -> CredentialAnswer
    func handle(_ event: TaskEvent)
    /// Called whenever the supervisor has handled everything its runner had sent, before it waits again,
    /// and once after the runner is gone: the moment to write buffered events in one batch.
    func flush()
    /// Takes the finished tables before the workspace is deleted; called only when the task succeeded.
    /// Throwing turns the success into a system failure.
    func commit(tables: [TableFile]) throws
    /// A turn for `tokens` requests under the rate limit `key` (ABI 1.4): how long the task must wait before
    /// they go. The host hands out turns in order across every task it serves; zero for a key it does not limit.
    func reserveRate(key: String, tokens: UInt32) -> Duration
}

extension TaskHost {
    public func credential(named name: String, for descriptor: ConnectorDescriptor?) -> CredentialAnswer { .notFound }
    public func handle(_ event: TaskEvent) {}
    public func flush() {}
    public func commit(tables: [TableFile]) throws {}
    public func reserveRate(key: String, tokens: UInt32) -> Duration { .zero }
}

/// Stops a running task from outside (terminate, shutdown).
public final class TaskControl: Sendable {
    let eventDescriptor: Int32

    public init() {
        eventDescriptor = pb_wakeup_descriptor()
    }

    /// Asks the task to stop: cooperative cancel, then SIGTERM, then SIGKILL.
    public func cancel() {
        var one: UInt64 = 1
        _ = write(eventDescriptor, &one, 8)
    }

    deinit { close(eventDescriptor) }
}
