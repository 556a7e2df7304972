// PatchbayRunner — the host side of isolation.
//
// Owns: spawning runner processes, confinement (cgroups, rlimits, users), the
// wire conversation, deadlines and kill escalation, log capture, and putting
// every exit into words. Must never know: SQLite, tokens' storage, flows.

/// How a running task is stopped: cooperative cancel, then SIGTERM to its
/// process group, then SIGKILL. An I/O-free value: the supervisor asks it what
/// to do and when, so tests can drive it without processes or clocks.
public struct StopSequence: Sendable, Equatable {
    public enum Reason: Sendable, Equatable {
        /// The task's deadline passed.
        case deadline
        /// Someone asked the task to stop (terminate, shutdown).
        case cancelled
        /// The runner broke the protocol: no point asking it nicely.
        case protocolViolation
    }

    public enum Action: Sendable, Equatable {
        case none
        case requestCancel
        case terminate
        case kill
    }

    public enum Stage: Int, Sendable, Comparable {
        case running, cancelRequested, terminateSent, killSent
        public static func < (a: Stage, b: Stage) -> Bool { a.rawValue < b.rawValue }
    }

    public private(set) var stage: Stage = .running
    public private(set) var reason: Reason?
    /// Monotonic nanoseconds at which the task is due; nil for none.
    public let deadline: UInt64?
    /// How long each step waits for the task to exit before the next one.
    public let grace: UInt64
    private var nextStepAt: UInt64?

    public init(deadline: UInt64?, grace: UInt64) {
        self.deadline = deadline
        self.grace = grace
    }

    /// Starts stopping for `reason` (the first reason wins).
    public mutating func begin(_ reason: Reason, now: UInt64) -> Action {
        guard self.reason == nil else { return .none }
        self.reason = reason
        if reason == .protocolViolation {
            stage = .killSent
            nextStepAt = nil
            return .kill
        }
        stage = .cancelRequested
        nextStepAt = now + grace
        return .requestCancel
    }

    /// The action due at `now`, if any; call whenever the timer fires.
    public mutating func advance(now: UInt64) -> Action {
        if reason == nil {
            if let deadline, now >= deadline { return begin(.deadline, now: now) }
            return .none
        }
        guard let due = nextStepAt, now >= due else { return .none }
        switch stage {
        case .running:
            return .none
        case .cancelRequested:
            stage = .terminateSent
            nextStepAt = now + grace
            return .terminate
        case .terminateSent:
            stage = .killSent
            nextStepAt = nil
            return .kill
        case .killSent:
            return .none
        }
    }

    /// Milliseconds until the next step is due (for poll), or -1 for none.
    public func timeoutMilliseconds(now: UInt64) -> Int32 {
        let due: UInt64?
        if reason == nil { due = deadline } else { due = nextStepAt }
        guard let due else { return -1 }
        if due <= now { return 0 }
        return Int32(min((due - now + 999_999) / 1_000_000, 60_000))
    }
}
