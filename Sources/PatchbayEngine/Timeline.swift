// A run as a timeline: its phases as lanes, each job as a bar of segments on one time axis, each segment with
// its cause in words: waiting for the phase, for a configuration lock (and the run that holds it), for the
// parallelism limit, the runner starting, running, and the waits a started job recorded (rate limit, poll,
// retry back-off). Owns: the one rule that turns stored times and waits into segments, and the comparison
// with the flow's recent runs. Must never know: how a timeline is drawn (the web view draws it).
public import Foundation
import PatchbayStore

/// What a stretch of a job's bar is.
public enum SegmentKind: Sendable, Equatable, Hashable {
    /// Waiting, for one of the named reasons.
    case wait(JobWait.Reason)
    /// The host preparing and starting the job's runner (parameters, secrets, the spawn).
    case runnerStart
    /// The connector working.
    case running

    /// The word a page or a script matches: a wait's reason word, `runner_start` or `running`.
    public var word: String {
        switch self {
        case .wait(let reason): reason.rawValue
        case .runnerStart: "runner_start"
        case .running: "running"
        }
    }
}

public struct TimelineSegment: Sendable, Equatable {
    public var kind: SegmentKind
    public var start: Date
    public var end: Date
    /// The cause, in words.
    public var detail: String
    /// The run that holds the configuration lock this segment waits for.
    public var blockingRun: Int64?

    public var duration: TimeInterval { end.timeIntervalSince(start) }
}

/// One job: its record and its segments, in time order, without gaps or overlaps.
public struct TimelineBar: Sendable {
    public let job: JobRecord
    public let segments: [TimelineSegment]
}

/// One phase and its jobs.
public struct TimelineLane: Sendable {
    public let phase: String
    public let bars: [TimelineBar]
}

public struct RunTimeline: Sendable {
    public let run: RunRecord
    public let lanes: [TimelineLane]
    /// The axis: from the run's creation to its end (or now, while it goes on).
    public let start: Date
    public let end: Date
    /// The median duration of the flow's last finished runs before this one, and how many there were.
    public let medianDuration: TimeInterval?
    public let comparedRuns: Int

    public var duration: TimeInterval { end.timeIntervalSince(start) }
}

extension RunTimeline {
    /// The segments of every job of `run`, from its jobs and their recorded waits, as of `now`.
    public static func derive(run: RunRecord, jobs: [JobRecord], waits: [WaitSpanRecord], now: Date,
                              recent: [RunRecord] = []) -> RunTimeline {
        let runStart = run.startedAt ?? now
        let axisEnd = max(run.finishedAt ?? now, runStart)
        let spansByJob = Dictionary(grouping: waits, by: \.jobID)
        let phases = jobs.reduce(into: [(index: Int, id: String)]()) { list, job in
            if !list.contains(where: { $0.index == job.phaseIndex }) { list.append((job.phaseIndex, job.phaseID)) }
        }.sorted { $0.index < $1.index }
        // A phase may start when every job of the phases before it has ended.
        var phaseReady: [Int: Date] = [:]
        var ready = runStart
        for phase in phases {
            phaseReady[phase.index] = ready
            let ends = jobs.filter { $0.phaseIndex == phase.index && $0.reusedJobID == nil }.compactMap { $0.finishedAt ?? ($0.startedAt == nil ? nil : now) }
            if let last = ends.max() { ready = max(ready, last) }
        }
        let lanes = phases.map { phase in
            TimelineLane(phase: phase.id, bars: jobs.filter { $0.phaseIndex == phase.index }.map { job in
                TimelineBar(job: job, segments: segments(of: job, run: run, ready: phaseReady[phase.index] ?? runStart,
                                                         spans: spansByJob[job.id!] ?? [], now: now))
            })
        }
        let durations = recent.filter { $0.id != run.id && $0.status.isFinished }.prefix(20).compactMap { earlier -> TimeInterval? in
            guard let start = earlier.startedAt, let end = earlier.finishedAt else { return nil }
            return end.timeIntervalSince(start)
        }
        return RunTimeline(run: run, lanes: lanes, start: run.createdAt, end: axisEnd, medianDuration: median(durations),
                           comparedRuns: durations.count)
    }

    public static func median(_ values: [TimeInterval]) -> TimeInterval? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    /// A job's segments: before it started, the waits for its run's turn, its phase, the parallelism limit and
    /// a configuration lock, then its runner's start; after, running, cut by the waits it recorded.
    static func segments(of job: JobRecord, run: RunRecord, ready: Date, spans: [WaitSpanRecord], now: Date) -> [TimelineSegment] {
        // A reused job ran in another run, and a job never started has no time of its own.
        guard job.reusedJobID == nil else { return [] }
        let end = job.finishedAt ?? now
        var segments: [TimelineSegment] = []
        func add(_ kind: SegmentKind, _ from: Date, _ to: Date, _ detail: String, blocking: Int64? = nil) {
            let from = max(from, segments.last?.end ?? from)
            guard to > from else { return }
            segments.append(TimelineSegment(kind: kind, start: from, end: to, detail: detail, blockingRun: blocking))
        }
        if let started = run.startedAt, started > run.createdAt {
            add(.wait(.run), run.createdAt, started, "the run waited for its turn (another run of '\(run.flowName)')")
        }
        let runStart = run.startedAt ?? run.createdAt
        let phaseEnd = min(ready, job.startedAt ?? end)
        if job.phaseIndex > 0 || ready > runStart {
            add(.wait(.phase), runStart, phaseEnd, "waiting for the phases before '\(job.phaseID)' to finish")
        }
        guard let started = job.startedAt else {
            // Not started: it waits still (or never ran: skipped, cancelled).
            if !job.status.isFinished, run.startedAt != nil, now > ready {
                let lock = spans.last { $0.reason == JobWait.Reason.configurationLock.rawValue && $0.endedAt == nil }
                if let lock {
                    add(.wait(.parallelism), ready, lock.startedAt, "queued: the phase runs at most \(run.parallelism) tasks at once")
                    add(.wait(.configurationLock), lock.startedAt, now, lock.detail, blocking: lock.blockingRunID)
                } else {
                    add(.wait(.parallelism), ready, now, "queued: the phase runs at most \(run.parallelism) tasks at once")
                }
            }
            return segments
        }
        let dispatched = min(max(job.dispatchedAt ?? started, ready), started)
        let locks = spans.filter { $0.reason == JobWait.Reason.configurationLock.rawValue }
        add(.wait(.parallelism), ready, min(dispatched, locks.first?.startedAt ?? dispatched),
            "queued: the phase runs at most \(run.parallelism) tasks at once (--parallelism)")
        for lock in locks {
            add(.wait(.configurationLock), lock.startedAt, min(lock.endedAt ?? started, started), lock.detail, blocking: lock.blockingRunID)
        }
        add(.runnerStart, dispatched, started, "the host rendered the parameters, opened the secrets and started the runner")
        // Running, cut by the waits the started job recorded.
        for span in spans where span.reason != JobWait.Reason.configurationLock.rawValue {
            guard let reason = JobWait.Reason(rawValue: span.reason) else { continue }
            let from = max(span.startedAt, started)
            let to = min([span.endedAt, span.until, end].compactMap { $0 }.min() ?? end, end)
            add(.running, started, from, "the connector ran")
            add(.wait(reason), from, to, span.detail)
        }
        add(.running, started, end, job.status.isFinished ? "the connector ran; the job ended \(job.status.rawValue)" : "the connector runs")
        return segments
    }
}

extension Engine {
    /// A run as a timeline (with its flow's recent runs to compare), as of now.
    public func timeline(of run: RunRecord) throws -> RunTimeline {
        try reading {
            let jobs = try store.jobs(run: run.id!)
            let waits = try store.waitSpans(run: run.id!)
            let recent = try store.runs(flow: run.flowName, limit: 40).filter { $0.id! < run.id! }
            return RunTimeline.derive(run: run, jobs: jobs, waits: waits, now: time.now(), recent: recent)
        }
    }
}
