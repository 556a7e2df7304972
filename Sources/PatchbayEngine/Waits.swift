// Why a job is not running: one named reason per waiting job, for `jobs show`, its JSON and the live board.
// "Why is my task not running" is what Airflow and Dagster users ask most. A job not started waits for an
// earlier phase, for the run's turn (another run of its flow), for a free slot (the parallelism limit) or
// for a configuration lock; a started one waits between status checks, before a retry, or for a rate limit,
// as it recorded. Owns: the reasons and the one rule that derives them. Must never know: how they are shown.
public import Foundation
public import PatchbayStore
import PatchbayModel
import Synchronization

/// Why a job waits, in words a script can match (`reason`) and a person can read (`detail`).
public struct JobWait: Sendable, Equatable {
    public enum Reason: String, Sendable, CaseIterable {
        /// An earlier phase has not finished.
        case phase
        /// The run waits for another run of its flow (a flow never runs alongside itself).
        case run
        /// Its phase already runs as many tasks as the run's parallelism allows.
        case parallelism
        /// Another job of its shared configuration runs (the detail names it).
        case configurationLock = "configuration_lock"
        /// A status check that was not ready, until its next check.
        case poll
        /// A failed attempt, until the next one (`retry:` back-off).
        case retry
        /// A rate limit on the service it calls, until its next request.
        case rateLimit = "rate_limit"
    }

    public var reason: Reason
    public var detail: String
    /// When the wait ends, when that is known (the next check, the next attempt).
    public var until: Date?

    public init(reason: Reason, detail: String, until: Date? = nil) {
        self.reason = reason
        self.detail = detail
        self.until = until
    }

    /// Why each job of a run waits now, by job id; a job that runs or ended has none. One pass over the jobs
    /// (the live board asks ten times a second).
    public static func waits(run: RunRecord, jobs: [JobRecord]) -> [Int64: JobWait] {
        let unfinished = jobs.filter { !$0.status.isFinished }
        let earliest = unfinished.min { $0.phaseIndex < $1.phaseIndex }
        var running: [Int: Int] = [:]
        for job in jobs where job.status == .processing || job.status == .waiting || job.status == .terminating {
            running[job.phaseIndex, default: 0] += 1
        }
        var waits: [Int64: JobWait] = [:]
        for job in jobs {
            if let wait = of(job, run: run, earliest: earliest, running: running[job.phaseIndex] ?? 0) { waits[job.id!] = wait }
        }
        return waits
    }

    /// Why `job` waits, given its run, the run's earliest unfinished job and how many of its phase run.
    private static func of(_ job: JobRecord, run: RunRecord, earliest: JobRecord?, running: Int) -> JobWait? {
        switch job.status {
        case .waiting:
            return JobWait(reason: .configurationLock, detail: job.message ?? "another job of configuration '\(job.configurationKey)' runs")
        case .processing, .terminating:
            guard let word = job.waitReason, let reason = Reason(rawValue: word) else { return nil }
            if let until = job.waitUntil, until < Date() { return nil }  // a wait that has passed (a rate limit's)
            return JobWait(reason: reason, detail: job.message ?? word, until: job.waitUntil)
        case .created:
            if run.status == .waiting || run.status == .created {
                return JobWait(reason: .run, detail: run.message ?? "the run has not started")
            }
            guard !run.status.isFinished else { return nil }
            if let earliest, earliest.phaseIndex < job.phaseIndex {
                return JobWait(reason: .phase, detail: "phase '\(earliest.phaseID)' runs first")
            }
            return JobWait(reason: .parallelism, detail: "queued: \(running) of its phase's tasks run, at most \(run.parallelism) at once (--parallelism)")
        default:
            return nil
        }
    }
}

/// Token buckets, one per limited key (a service's host name), shared by every job this engine runs. A
/// request takes the next turn at once and is told how long to wait for it, so turns are handed out in
/// order and tasks that call one service never exceed its limit together (ABI 1.4's rate_limit).
final class RateLimiter: Sendable {
    private let limits: [String: RateLimit]
    private let buckets = Mutex<[String: (tokens: Double, at: Date)]>([:])

    init(limits: [String: RateLimit]) { self.limits = limits }

    /// How long `tokens` requests under `key` must wait from `now`; zero for a key with no limit.
    func reserve(_ key: String, tokens: UInt32, now: Date) -> (wait: Duration, limit: RateLimit?) {
        guard let limit = limits[key] else { return (.zero, nil) }
        let wait: Double = buckets.withLock { buckets in
            let state = buckets[key] ?? (limit.burst, now)
            let refilled = min(limit.burst, state.tokens + max(0, now.timeIntervalSince(state.at)) * limit.perSecond)
            let left = refilled - Double(tokens)
            buckets[key] = (left, now)
            return left >= 0 ? 0 : -left / limit.perSecond
        }
        return (.nanoseconds(Int64(wait * 1e9)), limit)
    }
}
