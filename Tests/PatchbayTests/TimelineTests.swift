import Foundation
import PatchbayEngine
import PatchbayStore
import Testing

/// The rule that turns stored times and waits into a run's timeline segments (RunTimeline.derive).
@Suite("Run timeline: every stretch of a job's bar has its cause")
struct TimelineTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    func at(_ seconds: Double) -> Date { t0.addingTimeInterval(seconds) }

    func run(parallelism: Int = 2, started: Double = 0, finished: Double? = 10) -> RunRecord {
        var run = RunRecord(flowName: "f", flowFile: "flows/f.yaml", flowJSON: "{}", status: finished == nil ? .processing : .success,
                            trigger: "manual", retryOf: nil, onlyTasks: nil, parallelism: parallelism, hostPID: nil, hostStart: nil, createdAt: t0)
        run.id = 7
        run.startedAt = at(started)
        run.finishedAt = finished.map(at)
        return run
    }

    func job(_ id: Int64, phase: Int, dispatched: Double?, started: Double?, finished: Double?, status: JobStatus = .success) -> JobRecord {
        var job = JobRecord(runID: 7, taskID: "t\(id)", taskName: "t\(id)", phaseID: "p\(phase)", phaseIndex: phase, attempt: 1,
                            connectorID: "dev.patchbay.noop", configurationID: nil, configurationKey: "k\(id)", continueOnFailure: false,
                            status: status, createdAt: t0)
        job.id = id
        job.dispatchedAt = dispatched.map(at)
        job.startedAt = started.map(at)
        job.finishedAt = finished.map(at)
        return job
    }

    func span(_ job: Int64, _ reason: JobWait.Reason, from: Double, to: Double?, until: Double? = nil, blocking: Int64? = nil) -> WaitSpanRecord {
        WaitSpanRecord(jobID: job, runID: 7, reason: reason.rawValue, detail: "\(reason.rawValue) detail", startedAt: at(from), until: until.map(at),
                       endedAt: to.map(at), blockingRunID: blocking)
    }

    func words(_ segments: [TimelineSegment]) -> [String] {
        segments.map { "\($0.kind.word) \(String(format: "%g", $0.start.timeIntervalSince(t0)))-\(String(format: "%g", $0.end.timeIntervalSince(t0)))" }
    }

    @Test("a job of the second phase waits for the first, then for its slot, then its runner starts, then it runs")
    func phaseParallelismRunnerRunning() {
        // Given phase 0 ending at 4 s and a job of phase 1 dispatched at 5 s, started at 5.5 s, ended at 8 s
        let jobs = [job(1, phase: 0, dispatched: 0, started: 0.5, finished: 4), job(2, phase: 1, dispatched: 5, started: 5.5, finished: 8)]
        // When the timeline is derived
        let timeline = RunTimeline.derive(run: run(), jobs: jobs, waits: [], now: at(20))
        // Then each stretch has its kind, in order, without gaps
        #expect(words(timeline.lanes[1].bars[0].segments) == ["phase 0-4", "parallelism 4-5", "runner_start 5-5.5", "running 5.5-8"])
        #expect(words(timeline.lanes[0].bars[0].segments) == ["runner_start 0-0.5", "running 0.5-4"])
        #expect(timeline.duration == 10)
    }

    @Test("a configuration-lock wait is its own segment, naming the run that holds the lock")
    func lockWait() throws {
        let jobs = [job(1, phase: 0, dispatched: 1, started: 6, finished: 7)]
        let timeline = RunTimeline.derive(run: run(), jobs: jobs, waits: [span(1, .configurationLock, from: 1.2, to: 5.8, blocking: 3)], now: at(20))
        let segments = timeline.lanes[0].bars[0].segments
        #expect(words(segments) == ["parallelism 0-1", "configuration_lock 1.2-5.8", "runner_start 5.8-6", "running 6-7"])
        #expect(segments[1].blockingRun == 3 && segments[1].detail == "configuration_lock detail")
    }

    @Test("waits a started job recorded cut its running: a poll, a retry back-off, a rate limit that ends at its 'until'")
    func waitsWhileRunning() {
        let jobs = [job(1, phase: 0, dispatched: 0, started: 0, finished: 10)]
        let waits = [span(1, .poll, from: 1, to: 3), span(1, .retry, from: 4, to: 5), span(1, .rateLimit, from: 6, to: nil, until: 7)]
        let timeline = RunTimeline.derive(run: run(), jobs: jobs, waits: waits, now: at(20))
        #expect(words(timeline.lanes[0].bars[0].segments) == ["running 0-1", "poll 1-3", "running 3-4", "retry 4-5", "running 5-6", "rate_limit 6-7", "running 7-10"])
    }

    @Test("while a run goes on, a job not started waits for the lock it asked for, up to now; a reused job has no bar of its own")
    func unfinished() {
        var reused = job(2, phase: 0, dispatched: nil, started: -100, finished: -90)
        reused.reusedJobID = 1
        let jobs = [job(1, phase: 0, dispatched: nil, started: nil, finished: nil, status: .waiting), reused]
        let timeline = RunTimeline.derive(run: run(finished: nil), jobs: jobs, waits: [span(1, .configurationLock, from: 2, to: nil)], now: at(5))
        #expect(words(timeline.lanes[0].bars[0].segments) == ["parallelism 0-2", "configuration_lock 2-5"])
        #expect(timeline.lanes[0].bars[1].segments.isEmpty)
        #expect(timeline.end == at(5))
    }

    @Test("the run is compared with the median of the flow's last finished runs")
    func median() {
        var recent: [RunRecord] = []
        for (index, seconds) in [4.0, 1, 3, 100].enumerated() {
            var earlier = run(started: 0, finished: seconds)
            earlier.id = Int64(index + 1)
            recent.append(earlier)
        }
        var current = run()
        current.id = 9
        let timeline = RunTimeline.derive(run: current, jobs: [], waits: [], now: at(20), recent: recent)
        #expect(timeline.medianDuration == 3.5 && timeline.comparedRuns == 4)
    }
}
