public import PatchbayCore
import Foundation

/// A connector named by id, optionally pinned to one version.
public struct ConnectorReference: Sendable, Codable, Equatable, Hashable, CustomStringConvertible {
    public var id: String
    public var version: String?

    public init(id: String, version: String? = nil) {
        self.id = id
        self.version = version
    }

    /// `id` or `id@version`, as the registry resolves it.
    public var description: String { version.map { "\(id)@\($0)" } ?? id }
}

/// A group of tasks that run in parallel; phases run one after another.
public struct Phase: Sendable, Codable, Equatable {
    public var id: String
    public var name: String
    /// Phases that must finish before this one (explicit order; otherwise file order).
    public var dependsOn: [String]
    public var location: SourceLocation?
}

/// How the host re-invokes a status_check connector until it says ready.
public struct PollPolicy: Sendable, Codable, Equatable {
    public var interval: Duration
    public var timeout: Duration

    public init(interval: Duration = .seconds(5), timeout: Duration = .seconds(600)) {
        self.interval = interval
        self.timeout = timeout
    }
}

/// Automatic retries of a failed task, within its job (`retry:` in a flow). `retry: {}` takes Keboola's
/// defaults: 3 more attempts, 10 s apart, on transient failures only. Each attempt is a new runner; the
/// job keeps one record, and its message says how many attempts it took.
public struct RetryPolicy: Sendable, Codable, Equatable {
    /// Attempts after the first.
    public var max: Int
    public var delay: Duration
    /// Each wait is the one before times this (1: always `delay`).
    public var backoff: Double
    /// The failure classes retried (`transient` by default; `config` and `data` are rarely worth it).
    public var on: Set<FailureClass>

    public init(max: Int = 3, delay: Duration = .seconds(10), backoff: Double = 1, on: Set<FailureClass> = [.transient]) {
        self.max = max
        self.delay = delay
        self.backoff = backoff
        self.on = on
    }

    /// The wait before attempt `attempt` (2 is the first retry).
    public func wait(before attempt: Int) -> Duration {
        var wait = delay
        for _ in 0..<Swift.max(0, attempt - 2) { wait = wait * backoff }
        return wait
    }
}

/// Paths outside its workspace that a task's connector may use, as the flow author grants them (the sandbox
/// allows nothing else). Absolute, or relative to the project. The task runs as a uid of its own, so a
/// path must also be readable (or writable) by other users.
public struct FileGrants: Sendable, Codable, Equatable {
    public var read: [String]
    public var write: [String]

    public init(read: [String] = [], write: [String] = []) {
        self.read = read
        self.write = write
    }
}

/// One connector invocation in a flow.
public struct FlowTask: Sendable, Codable, Equatable {
    public var id: String
    public var name: String
    public var phase: String
    public var connector: ConnectorReference
    /// The shared configuration this task uses (project or flow `configurations`); nil for inline parameters.
    public var configurationID: String?
    /// The configuration's parameters with the task's own on top.
    public var parameters: JSONValue
    /// Input name the connector asks for → table (`bucket.table`) in the project's table catalog.
    public var inputs: [String: String]
    public var enabled: Bool
    public var continueOnFailure: Bool
    public var timeout: Duration?
    public var poll: PollPolicy?
    /// Automatic retries of a failure (nil: none).
    public var retry: RetryPolicy?
    /// Paths beyond the workspace the connector may read or write (nil: none).
    public var files: FileGrants?
    /// Narrows the network the connector declares (nil: as declared). Never widens it.
    public var network: NetworkAccess?
    public var location: SourceLocation?
    /// Where each parameter was written, by JSON pointer ("/rows"), for schema errors.
    public var parameterLocations: [String: SourceLocation]
}

/// An orchestration: phases in execution order and their tasks.
public struct Flow: Sendable, Codable, Equatable {
    public var name: String
    public var file: String
    /// Execution order: `dependsOn` respected, file order otherwise.
    public var phases: [Phase]
    /// File order.
    public var tasks: [FlowTask]
    /// `native` (Patchbay YAML/JSON) or `keboola` (Keboola orchestration JSON).
    public var format: String
    /// `variables:` of the flow, with `--var` values on top once a run is submitted (nil: none).
    /// Parameters use them as `${{ vars.NAME }}`.
    public var variables: [String: String]?
    /// `schedules:` and `triggers:` of the flow file (nil in a run's snapshot recorded before they existed).
    public var schedules: [FlowSchedule]?
    public var triggers: [FlowTrigger]?
    /// `notifications:` of the flow file: its webhooks (nil: none).
    public var notifications: FlowNotifications?

    public func tasks(in phase: String) -> [FlowTask] { tasks.filter { $0.phase == phase } }

    /// Whether `other` defines the same flow: phases, tasks and everything they say, wherever in its file
    /// each is written (line and column do not count; nor do variables, which belong to a run).
    public func sameDefinition(as other: Flow) -> Bool {
        func bare(_ flow: Flow) -> Flow {
            var flow = flow
            flow.file = ""
            flow.variables = nil
            flow.schedules = flow.schedules?.map { schedule in var schedule = schedule; schedule.location = nil; return schedule }
            flow.triggers = flow.triggers?.map { trigger in var trigger = trigger; trigger.location = nil; return trigger }
            flow.phases = flow.phases.map { phase in var phase = phase; phase.location = nil; return phase }
            flow.tasks = flow.tasks.map { task in
                var task = task
                task.location = nil
                task.parameterLocations = [:]
                return task
            }
            return flow
        }
        return bare(self) == bare(other)
    }

    public func task(_ id: String) -> FlowTask? { tasks.first { $0.id == id } }

    public func phaseIndex(of taskID: String) -> Int? {
        guard let task = task(taskID) else { return nil }
        return phases.firstIndex { $0.id == task.phase }
    }

    /// Jobs with the same key are never run at once, anywhere: connector + shared configuration,
    /// or for inline parameters the flow's own task.
    public func configurationKey(for task: FlowTask) -> String {
        if let configuration = task.configurationID { return "\(task.connector.id)/\(configuration)" }
        return "\(task.connector.id)/flow:\(name)/\(task.id)"
    }
}
