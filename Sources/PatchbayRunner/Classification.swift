import Foundation
public import PatchbayCore
public import PatchbayWire

/// How a task ended, in categories a user acts on differently.
public enum ExitClassification: Sendable, Equatable {
    case succeeded
    /// A status_check connector said "not ready yet".
    case pending
    case failed(FailureClass, message: String)
    case cancelled(how: StopSequence.Stage)
    case crashed(signal: Int32, phase: RunnerPhase?, detail: String)
    case exited(code: Int32, phase: RunnerPhase?, detail: String)
    case timedOut(after: Duration, how: StopSequence.Stage)
    case outOfMemory(limitBytes: UInt64)
    case processLimit(limit: UInt64, detail: String)
    case protocolViolation(String)
    case refusedToLoad(LoadFailureKind, String)
    case runnerUnavailable(String)
    /// The sandbox's seccomp filter refused a system call (ptrace, mount, bpf, …) and ended the task.
    case refusedSystemCall(name: String, phase: RunnerPhase?)

    /// A short stable name, for JSON and tests.
    public var kind: String {
        switch self {
        case .succeeded: "succeeded"
        case .pending: "pending"
        case .failed: "failed"
        case .cancelled: "cancelled"
        case .crashed: "crashed"
        case .exited: "exited"
        case .timedOut: "timed_out"
        case .outOfMemory: "out_of_memory"
        case .processLimit: "process_limit"
        case .protocolViolation: "protocol_violation"
        case .refusedToLoad: "refused_to_load"
        case .runnerUnavailable: "runner_unavailable"
        case .refusedSystemCall: "refused_system_call"
        }
    }

    public var isSuccess: Bool { self == .succeeded }

    /// The same classification with every free-text part passed through `transform` (to mask secrets).
    public func mapMessages(_ transform: (String) -> String) -> ExitClassification {
        switch self {
        case .failed(let failureClass, let message): .failed(failureClass, message: transform(message))
        case .crashed(let signal, let phase, let detail): .crashed(signal: signal, phase: phase, detail: transform(detail))
        case .exited(let code, let phase, let detail): .exited(code: code, phase: phase, detail: transform(detail))
        case .processLimit(let limit, let detail): .processLimit(limit: limit, detail: transform(detail))
        case .protocolViolation(let detail): .protocolViolation(transform(detail))
        case .refusedToLoad(let kind, let detail): .refusedToLoad(kind, transform(detail))
        case .runnerUnavailable(let detail): .runnerUnavailable(transform(detail))
        case .succeeded, .pending, .cancelled, .timedOut, .outOfMemory, .refusedSystemCall: self
        }
    }

    /// The failure class the job records: what the connector said, or what the exit implies.
    public var failureClass: FailureClass? {
        switch self {
        case .succeeded, .pending: nil
        case .failed(let failureClass, _): failureClass
        case .cancelled, .timedOut: .transient
        case .outOfMemory, .processLimit, .refusedToLoad: .config
        case .crashed, .exited, .protocolViolation, .runnerUnavailable, .refusedSystemCall: .system
        }
    }

    /// One line a user understands.
    public var summary: String {
        switch self {
        case .succeeded:
            return "succeeded"
        case .pending:
            return "not ready yet (status check)"
        case .failed(let failureClass, let message):
            return "failed (\(failureClass.rawValue) error): \(message)"
        case .cancelled(let how):
            return "cancelled on request\(Self.stopWording(how))"
        case .crashed(let signal, let phase, let detail):
            let where_ = phase.map { " \($0.wording)" } ?? ""
            return "crashed with \(Self.signalName(signal))\(where_)\(detail.isEmpty ? "" : ": \(detail)")"
        case .exited(let code, let phase, let detail):
            let where_ = phase.map { " \($0.wording)" } ?? ""
            return "exited with status \(code)\(where_) without reporting a result\(detail.isEmpty ? "" : ": \(detail)")"
        case .timedOut(let after, let how):
            return "timed out after \(Self.format(after))\(Self.stopWording(how))"
        case .outOfMemory(let limit):
            return "ran out of memory (limit \(limit >> 20) MB) and was killed"
        case .processLimit(let limit, let detail):
            return "hit the process limit (\(limit) processes and threads)\(detail.isEmpty ? "" : ": \(detail)")"
        case .protocolViolation(let detail):
            return "broke the runner protocol and was killed: \(detail)"
        case .refusedToLoad(let kind, let detail):
            return "refused to load (\(kind.wording)): \(detail)"
        case .runnerUnavailable(let detail):
            return "could not start a runner: \(detail)"
        case .refusedSystemCall(let name, let phase):
            let where_ = phase.map { " \($0.wording)" } ?? ""
            return "refused system call \(name)\(where_): the sandbox does not allow it, and the task was ended"
        }
    }

    static func stopWording(_ stage: StopSequence.Stage) -> String {
        switch stage {
        case .running, .cancelRequested: return "; it stopped when asked"
        case .terminateSent: return "; stopped with SIGTERM"
        case .killSent: return "; it ignored SIGTERM and was killed with SIGKILL"
        }
    }

    public static func signalName(_ signal: Int32) -> String {
        switch signal {
        case SIGSEGV: "SIGSEGV (invalid memory access)"
        case SIGABRT: "SIGABRT (abort)"
        case SIGILL: "SIGILL (illegal instruction; Swift runtime traps end here)"
        case SIGBUS: "SIGBUS (bus error)"
        case SIGFPE: "SIGFPE (arithmetic error)"
        case SIGKILL: "SIGKILL"
        case SIGTERM: "SIGTERM"
        case SIGXCPU: "SIGXCPU (CPU time limit)"
        case SIGTRAP: "SIGTRAP (trap; Swift runtime traps end here)"
        default: "signal \(signal)"
        }
    }

    static func format(_ duration: Duration) -> String {
        let seconds = duration.inSeconds
        return seconds >= 1 ? String(format: "%.1f s", seconds) : String(format: "%.0f ms", seconds * 1000)
    }
}

/// Everything known about a finished task.
public struct TaskReport: Sendable {
    public var classification: ExitClassification
    public var descriptor: ConnectorDescriptor?
    public var logs: [LogLine]
    public var outputs: [TaskOutput]
    /// The tables the task finished (paths inside its workspace), only when it succeeded.
    public var tables: [TableFile]
    /// The component state the connector set last (nil if it never did).
    public var newStateJSON: String?
    /// The last checkpoint of a task that did not succeed (ABI 1.5), kept in the spec's checkpoint directory:
    /// the next attempt of the job resumes from it.
    public var checkpoint: Checkpoint?
    /// The connector's internal message, for developers.
    public var internalMessage: String
    public var runnerPID: Int32?
    /// The larger of the runner's peak resident set and its memory cgroup's peak (which counts page cache).
    public var peakMemoryBytes: UInt64
    /// The runner process's own peak resident set (ru_maxrss), page cache not counted.
    public var peakResidentBytes: UInt64 = 0
    public var wallTime: Duration
    /// Processes left behind by the connector and killed after it finished.
    public var leftoverProcessesKilled: Int
    /// Loading inside the runner: ELF check, dlopen, ABI probe, entry, descriptor checks.
    public var loadTime: Duration
    public var confinement: ConfinementMode
    /// What held the task, in one line: its uid, the kernel layers, its network, its cgroups.
    public var sandbox: String = ""
}

extension RunnerPhase {
    /// Where the runner was, in words: "in run()".
    public var wording: String {
        switch self {
        case .confining: "while applying limits"
        case .loading: "while loading the plugin (dlopen; ELF constructors run here)"
        case .entry: "in patchbay_abi_version or patchbay_connector_entry"
        case .checking: "in check()"
        case .running: "in run()"
        case .finishing: "while finishing output tables"
        }
    }
}

/// Everything known about a finished runner that its classification depends on, gathered by the
/// supervisor. The classifier below is a pure function of it: tests call it with a table, no process.
public struct ExitEvidence: Sendable {
    /// The wait status, as waitpid(2) gave it.
    public var waitStatus: Int32
    /// What the runner reported, if it got that far.
    public var outcome: TaskOutcome?
    /// The first protocol violation, if any.
    public var violation: String?
    public var stopReason: StopSequence.Reason?
    public var stopStage: StopSequence.Stage
    /// cgroup counters (nil without cgroup confinement).
    public var outOfMemoryKills: Int?
    public var processLimitHits: Int?
    public var peakMemoryBytes: UInt64
    /// The last phase the runner announced.
    public var phase: RunnerPhase?
    /// Whether the handshake completed.
    public var handshakeDone: Bool
    /// The connector's last words on stderr.
    public var crashDetail: String
    public var limits: TaskLimits
    /// The system call the seccomp filter refused, as the runner's SIGSYS reporter named it.
    public var refusedSystemCall: String?

    public init(waitStatus: Int32, outcome: TaskOutcome? = nil, violation: String? = nil,
                stopReason: StopSequence.Reason? = nil, stopStage: StopSequence.Stage = .running,
                outOfMemoryKills: Int? = nil, processLimitHits: Int? = nil, peakMemoryBytes: UInt64 = 0,
                phase: RunnerPhase? = nil, handshakeDone: Bool = true, crashDetail: String = "", limits: TaskLimits = TaskLimits(),
                refusedSystemCall: String? = nil) {
        self.refusedSystemCall = refusedSystemCall
        self.waitStatus = waitStatus
        self.outcome = outcome
        self.violation = violation
        self.stopReason = stopReason
        self.stopStage = stopStage
        self.outOfMemoryKills = outOfMemoryKills
        self.processLimitHits = processLimitHits
        self.peakMemoryBytes = peakMemoryBytes
        self.phase = phase
        self.handshakeDone = handshakeDone
        self.crashDetail = crashDetail
        self.limits = limits
    }
}

extension ExitClassification {
    /// How a task ended, from the evidence alone. The order of the rules is the order of trust: a
    /// protocol violation first (nothing the runner said counts), then what the kernel counted (OOM,
    /// pids.max), then the runner's own report, then the stop the host began, then the exit itself.
    public init(_ evidence: ExitEvidence) {
        let status = evidence.waitStatus
        let signalled = (status & 0x7F) != 0 && (status & 0x7F) != 0x7F
        let signal = status & 0x7F
        let code = (status >> 8) & 0xFF
        let limits = evidence.limits

        if let violation = evidence.violation { self = .protocolViolation(violation); return }
        if let kills = evidence.outOfMemoryKills, kills > 0 { self = .outOfMemory(limitBytes: limits.memoryBytes); return }
        let processLimitHit = (evidence.processLimitHits ?? 0) > 0

        if let outcome = evidence.outcome {
            switch outcome {
            case .succeeded:
                if signalled || code != 0 {
                    self = .exited(code: signalled ? 128 + signal : code, phase: .finishing, detail: "after reporting success")
                } else {
                    self = .succeeded
                }
            case .pending:
                self = .pending
            case .refusedToLoad(let kind, let detail):
                self = .refusedToLoad(kind, detail)
            case .cancelled:
                if evidence.stopReason == .deadline, let timeout = limits.timeout {
                    self = .timedOut(after: timeout, how: .cancelRequested)
                } else {
                    self = .cancelled(how: .cancelRequested)
                }
            case .failed(let failureClass, let user, _, _):
                self = processLimitHit ? .processLimit(limit: limits.processes, detail: user) : .failed(failureClass, message: user)
            }
            return
        }
        if let reason = evidence.stopReason, evidence.stopStage >= .cancelRequested {
            let how: StopSequence.Stage = (signalled && signal == SIGKILL) ? .killSent
                : (signalled && signal == SIGTERM) ? .terminateSent : evidence.stopStage
            if reason == .deadline, let timeout = limits.timeout {
                self = .timedOut(after: timeout, how: how)
            } else {
                self = .cancelled(how: how)
            }
            return
        }
        if processLimitHit { self = .processLimit(limit: limits.processes, detail: evidence.crashDetail); return }
        // Without a memory cgroup, a task near its address-space limit that died ran out of memory.
        if evidence.outOfMemoryKills == nil, limits.memoryBytes > 0, evidence.peakMemoryBytes >= limits.memoryBytes * 9 / 10 {
            self = .outOfMemory(limitBytes: limits.memoryBytes)
            return
        }
        if signalled, signal == SIGSYS, let call = evidence.refusedSystemCall {
            self = .refusedSystemCall(name: call, phase: evidence.phase)
            return
        }
        if signalled {
            if signal == SIGXCPU || (signal == SIGKILL && limits.cpuSeconds > 0 && evidence.phase == .running) {
                self = .crashed(signal: signal, phase: evidence.phase, detail: "CPU time limit of \(limits.cpuSeconds) s reached")
            } else {
                self = .crashed(signal: signal, phase: evidence.phase, detail: evidence.crashDetail)
            }
            return
        }
        if !evidence.handshakeDone {
            self = .runnerUnavailable("the runner exited with status \(code) before the handshake: \(evidence.crashDetail)")
            return
        }
        self = .exited(code: code, phase: evidence.phase, detail: evidence.crashDetail)
    }
}
