// Time as the engine sees it: one clock for the run's own waits and deadlines (status-check intervals and
// poll timeouts, lock back-off, waiting for a run's end) and the wall clock stamped on records. (Polling
// the store for another process's termination request watches that process, and keeps the machine's clock.) Injected, so a test can run an
// hour of status checks in milliseconds, and nothing in the engine reads the time any other way.
public import Foundation

public struct EngineClock: Sendable {
    /// The wall time written on runs, jobs, logs and tables.
    public let now: @Sendable () -> Date
    private let sleeping: @Sendable (Duration) async -> Void
    private let deadlines: @Sendable (Duration) -> Deadline

    /// - Parameters:
    ///   - clock: paces waits and measures deadlines.
    ///   - now: the wall time for records.
    public init<C: Clock<Duration>>(clock: C, now: @escaping @Sendable () -> Date) {
        self.now = now
        sleeping = { duration in try? await clock.sleep(for: duration) }
        deadlines = { duration in Deadline.on(clock, after: duration) }
    }

    /// The machine's monotonic clock and wall time.
    public static let system = EngineClock(clock: ContinuousClock(), now: { Date() })

    /// Sleeps; a cancelled task wakes at once.
    func sleep(for duration: Duration) async { await sleeping(duration) }

    /// A point `duration` from now on this clock.
    func deadline(after duration: Duration) -> Deadline { deadlines(duration) }
}

/// A point in time on the engine's clock, asked how far away it is.
struct Deadline: Sendable {
    private let remainingTime: @Sendable () -> Duration

    private init(remaining: @escaping @Sendable () -> Duration) { remainingTime = remaining }

    /// Opens the clock's concrete type, whose instants can be compared.
    static func on<C: Clock<Duration>>(_ clock: C, after duration: Duration) -> Deadline {
        let end = clock.now.advanced(by: duration)
        return Deadline { clock.now.duration(to: end) }
    }

    /// Time left; zero or less once it has passed.
    var remaining: Duration { remainingTime() }
}
