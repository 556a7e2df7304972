// Prometheus metrics at /metrics (swift-prometheus): runs and jobs by status and the queue depth, read from
// the engine at each scrape; task durations and runner crashes by class, observed as this daemon's runs end.
public import Foundation
public import PatchbayEngine
import PatchbayCore
import Prometheus
import Synchronization

public final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    private let durations: DurationHistogram
    private let seen = Mutex<Set<Int64>>([])

    public init() {
        durations = registry.makeDurationHistogram(
            name: "patchbay_task_duration_seconds",
            buckets: [.milliseconds(10), .milliseconds(50), .milliseconds(100), .milliseconds(500), .seconds(1), .seconds(5), .seconds(30),
                      .seconds(120), .seconds(600), .seconds(3600)],
            help: "How long each task of the runs this daemon executed took, from its runner's start to its end")
    }

    /// Every run event of the runs this daemon executes: a job's end is counted once.
    func observe(_ event: RunEvent) {
        guard case .job(let job) = event, job.status.isFinished, let id = job.id, seen.withLock({ $0.insert(id).inserted }) else { return }
        if let start = job.startedAt, let end = job.finishedAt {
            durations.record(.milliseconds(Int64((end.timeIntervalSince(start) * 1000).rounded())))
        }
        if let kind = job.exitKind, ["crashed", "exited", "protocol_violation", "out_of_memory", "process_limit", "refused_system_call", "runner_unavailable"].contains(kind) {
            registry.makeCounter(name: "patchbay_runner_crashes_total", labels: [("class", job.failureClass?.rawValue ?? "system"), ("kind", kind)],
                                 help: "Tasks whose runner process ended without a result, by failure class and how it ended").increment()
        }
    }

    /// The text a scrape gets, with the store's counts as they are now.
    func scrape(_ engine: Engine, inProgress: Int) -> [UInt8] {
        if let counts = try? engine.statusCounts() {
            for status in JobStatus.allCases {
                registry.makeGauge(name: "patchbay_runs", labels: [("status", status.rawValue)], help: "Runs in the store, by status").set(Double(counts.runs[status] ?? 0))
                registry.makeGauge(name: "patchbay_jobs", labels: [("status", status.rawValue)], help: "Jobs in the store, by status").set(Double(counts.jobs[status] ?? 0))
            }
            registry.makeGauge(name: "patchbay_queue_depth", help: "Runs created or waiting, not started yet").set(Double(counts.queued))
        }
        registry.makeGauge(name: "patchbay_runs_in_progress", help: "Runs this daemon is executing now").set(Double(inProgress))
        return registry.emitToBuffer()
    }
}
