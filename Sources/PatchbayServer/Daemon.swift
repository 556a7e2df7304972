// The daemon's own work beside the HTTP API: the runs it executes (and their drain on SIGTERM), the
// scheduler and trigger loop, the plugin watcher (hot-add), and runs resumed from a host that died.
// Reaches the project only through the Engine; knows nothing of routes.
import Foundation
public import Logging
public import PatchbayEngine
import PatchbayRegistry
public import ServiceLifecycle
import Synchronization

/// The runs this process executes: started in the background, counted, and drained on shutdown.
public final class RunPool: Sendable {
    let engine: Engine
    let logger: Logger
    let metrics: ServerMetrics
    let webhooks: WebhookSender?
    private let state = Mutex<(running: [Int64: Task<Void, Never>], draining: Bool)>(([:], false))

    public init(engine: Engine, metrics: ServerMetrics, logger: Logger, webhooks: WebhookSender? = nil) {
        self.engine = engine
        self.metrics = metrics
        self.logger = logger
        self.webhooks = webhooks
    }

    public var isDraining: Bool { state.withLock { $0.draining } }
    public var runningCount: Int { state.withLock { $0.running.count } }

    /// Executes `run` in the background; false while draining (the run is then cancelled, never started).
    @discardableResult
    public func start(_ run: RunRecord) -> Bool {
        let id = run.id!
        return state.withLock { state in
            guard !state.draining else { return false }
            state.running[id] = Task { [engine, metrics, logger, webhooks] in
                logger.info("run started", metadata: ["run": "\(id)", "flow": "\(run.flowName)", "trigger": "\(run.trigger)"])
                let finished = await engine.execute(run) { event in metrics.observe(event) }
                logger.info("run finished", metadata: ["run": "\(id)", "flow": "\(run.flowName)", "status": "\(finished.status.rawValue)"])
                self.finished(id)
                await webhooks?.deliver(engine.notifications(forEndOf: finished))
            }
            return true
        }
    }

    private func finished(_ id: Int64) { _ = state.withLock { $0.running.removeValue(forKey: id) } }

    /// No run starts from now on; those running get `grace` to finish, then are terminated (each job recorded
    /// as terminated, with the reason), and this returns once every one has ended.
    public func drain(grace: Duration) async {
        let tasks = state.withLock { state -> [Int64: Task<Void, Never>] in
            state.draining = true
            return state.running
        }
        guard !tasks.isEmpty else { return }
        logger.notice("draining: waiting for running runs", metadata: ["runs": "\(tasks.keys.sorted())", "grace": "\(grace)"])
        let deadline = ContinuousClock.now + grace
        while ContinuousClock.now < deadline, runningCount > 0 {
            try? await Task.sleep(for: .milliseconds(50))
        }
        let left = state.withLock { $0.running }
        for id in left.keys.sorted() {
            logger.warning("terminating a run still running at the end of the grace period", metadata: ["run": "\(id)"])
            _ = try? engine.requestTermination(of: id, reason: "terminated: patchbay serve shut down (SIGTERM) and the run did not finish within its \(grace) grace")
        }
        for task in left.values { await task.value }
    }
}

/// The scheduler and trigger loop, the plugin watcher, and the drain, as one service of the daemon's group.
public final class Daemon: Service {
    let engine: Engine
    let automation: Automation
    let pool: RunPool
    let logger: Logger
    let tick: Duration
    let grace: Duration
    let watcher: DirectoryWatcher
    /// Runs resumed by recovery (a status check whose host died), adopted by this process, to execute first.
    let resumed: [RunRecord]
    /// Problems already logged (a file that cannot be read is said once, not every tick).
    private let reported = Mutex<Set<String>>([])
    /// Runs already reported as running much longer than usual.
    private let toldLong = Mutex<Set<Int64>>([])

    public init(engine: Engine, pool: RunPool, logger: Logger, tick: Duration = .seconds(1), grace: Duration = .seconds(30), resumed: [RunRecord] = []) {
        self.engine = engine
        self.automation = Automation(engine: engine)
        self.pool = pool
        self.logger = logger
        self.tick = tick
        self.grace = grace
        self.resumed = resumed
        watcher = DirectoryWatcher(directories: engine.registry.directories.directories)
    }

    public func run() async throws {
        for run in resumed { pool.start(run) }
        _ = await engine.registry.refresh()
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                for action in await self.automation.tick(now: self.engine.time.now()) { self.act(on: action) }
                // Runs much longer than usual: told once each.
                let long = self.engine.longRunningNotifications(now: self.engine.time.now(), alreadySent: self.toldLong.withLock { $0 })
                if !long.isEmpty {
                    self.toldLong.withLock { $0.formUnion(long.map(\.runID)) }
                    await self.pool.webhooks?.deliver(long)
                }
                // Hot-add: a plugin copied into a plugin directory is usable by the next task (the check does not block).
                if self.watcher.waitForChange(timeout: .zero) {
                    for change in await self.engine.registry.refresh() { self.logger.info("plugins changed", metadata: ["change": "\(change)"]) }
                }
                try? await Task.sleep(for: self.tick)
            }
        }
        await pool.drain(grace: grace)
    }

    private func act(on action: AutomationAction) {
        switch action {
        case .submitted(let run, let reason):
            logger.info("automation started a run", metadata: ["run": "\(run.id!)", "flow": "\(run.flowName)", "why": "\(reason)"])
            if !pool.start(run) { _ = try? engine.requestTermination(of: run.id!, reason: "cancelled: patchbay serve is shutting down") }
        case .dropped(let flow, let schedule, let fire, let reason):
            logger.notice("a schedule's fire did not run", metadata: ["flow": "\(flow)", "schedule": "\(schedule)", "fire": "\(fire)", "why": "\(reason)"])
        case .terminated(let runs, let flow, let schedule):
            logger.notice("a schedule terminated running runs (overlap: cancelRunning)", metadata: ["flow": "\(flow)", "schedule": "\(schedule)", "runs": "\(runs)"])
        case .unreadable(let file, let problem):
            guard reported.withLock({ $0.insert(file + problem).inserted }) else { return }
            logger.warning("automation paused for a file it cannot read", metadata: ["file": "\(file)", "problem": "\(problem)"])
        }
    }
}
