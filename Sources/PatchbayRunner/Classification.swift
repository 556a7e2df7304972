import Foundation
import PatchbayWire

/// The connector's own account of a failure.
public enum FailureClass: String, Sendable, Codable {
    /// The user must fix something (parameters, credentials, data).
    case config
    /// Retrying later may succeed.
    case transient
    /// A bug in the connector or the host.
    case system

    init(abi value: UInt32) {
        switch value {
        case 1: self = .config
        case 2: self = .transient
        default: self = .system
        }
    }
}

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
        case .succeeded, .pending, .cancelled, .timedOut, .outOfMemory: self
        }
    }

    /// The failure class the job records: what the connector said, or what the exit implies.
    public var failureClass: FailureClass? {
        switch self {
        case .succeeded, .pending: nil
        case .failed(let failureClass, _): failureClass
        case .cancelled, .timedOut: .transient
        case .outOfMemory, .processLimit, .refusedToLoad: .config
        case .crashed, .exited, .protocolViolation, .runnerUnavailable: .system
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
            let where_ = phase.map { " \($0)" } ?? ""
            return "crashed with \(Self.signalName(signal))\(where_)\(detail.isEmpty ? "" : ": \(detail)")"
        case .exited(let code, let phase, let detail):
            let where_ = phase.map { " \($0)" } ?? ""
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
            return "refused to load (\(Self.wording(kind))): \(detail)"
        case .runnerUnavailable(let detail):
            return "could not start a runner: \(detail)"
        }
    }

    static func stopWording(_ stage: StopSequence.Stage) -> String {
        switch stage {
        case .running, .cancelRequested: return "; it stopped when asked"
        case .terminateSent: return "; stopped with SIGTERM"
        case .killSent: return "; it ignored SIGTERM and was killed with SIGKILL"
        }
    }

    static func wording(_ kind: LoadFailureKind) -> String {
        switch kind {
        case .fileUnreadable: "unreadable file"
        case .notELF: "not an ELF shared library"
        case .wrongArchitecture: "wrong architecture"
        case .truncated: "truncated file"
        case .missingLibrary: "missing library"
        case .missingSymbol: "missing symbol"
        case .abiMajorMismatch: "ABI major version mismatch"
        case .descriptorTooSmall: "descriptor smaller than ABI v1"
        case .invalidDescriptor: "invalid descriptor"
        case .dynamicLoaderError: "dynamic loader error"
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
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        return seconds >= 1 ? String(format: "%.1f s", seconds) : String(format: "%.0f ms", seconds * 1000)
    }
}

/// Everything known about a finished task.
public struct TaskReport: Sendable {
    public var classification: ExitClassification
    public var descriptor: DescriptorInfo?
    public var logs: [LogLine]
    public var outputs: [TaskOutput]
    public var tables: [ProducedTable]
    /// The component state the connector set last (nil if it never did).
    public var newStateJSON: String?
    /// The connector's internal message, for developers.
    public var internalMessage: String
    public var runnerPID: Int32?
    public var peakMemoryBytes: UInt64
    public var wallTime: Duration
    /// Processes left behind by the connector and killed after it finished.
    public var leftoverProcessesKilled: Int
    /// Loading inside the runner: ELF check, dlopen, ABI probe, entry, descriptor checks.
    public var loadTime: Duration
    public var confinement: ConfinementMode
}
