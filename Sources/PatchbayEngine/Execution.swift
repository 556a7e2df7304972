import Foundation
import Logging
import PatchbayCore
import PatchbayModel
import PatchbayRegistry
import PatchbayRunner
import PatchbaySecurity
import PatchbayStore
import Synchronization

/// What one executing run shares between its jobs: whether termination was asked, and the
/// controls of the jobs running now (to cancel them).
final class RunContext: Sendable {
    let runID: Int64
    /// What the run's token allows its tasks (credentials of which connectors, which buckets).
    let scopes: TokenScopes
    let tokenName: String
    /// Named credentials (connector → name → ciphertext), read once per run.
    private let storedCredentials: [String: [String: String]]
    /// Secret outputs of the run's authentication tasks, for its later tasks only.
    let restricted = RestrictedOutputs()
    /// The run's authentication tasks that succeeded, latest last, with their connectors: what a task whose
    /// credentials a service refused authenticates again with.
    private let authenticators = Mutex<[(task: FlowTask, entry: CatalogEntry)]>([])

    func addAuthenticator(_ task: FlowTask, _ entry: CatalogEntry) { authenticators.withLock { $0.append((task, entry)) } }
    var latestAuthenticator: (task: FlowTask, entry: CatalogEntry)? { authenticators.withLock { $0.last } }
    private let state = Mutex<(terminating: Bool, controls: [Int64: TaskControl], stopped: [Int64: String])>((false, [:], [:]))
    /// Writes that failed and could not even be recorded as a job's failure: the run ends in error with them.
    private let storeFailures = Mutex<[String]>([])

    func recordStoreFailure(_ reason: String) { storeFailures.withLock { $0.append(reason) } }
    var unrecordedFailures: [String] { storeFailures.withLock { $0 } }

    /// When the run started (`${{ run.started_at }}`, `${{ run.date }}`).
    let started: Date

    init(runID: Int64, started: Date = Date(), scopes: TokenScopes = TokenScopes(), tokenName: String = "none", credentials: [CredentialRecord] = []) {
        self.runID = runID
        self.started = started
        self.scopes = scopes
        self.tokenName = tokenName
        storedCredentials = Dictionary(grouping: credentials, by: \.connectorID)
            .mapValues { Dictionary($0.map { ($0.name, $0.ciphertext) }, uniquingKeysWith: { _, last in last }) }
    }

    /// The named credentials of a connector, decrypted (only when it has some).
    func credentials(for connector: String, box: () throws -> SecretBox) throws -> [String: String] {
        guard let stored = storedCredentials[connector], !stored.isEmpty else { return [:] }
        let box = try box()
        return try stored.mapValues { try box.open($0, connector: connector) }
    }

    var isTerminating: Bool { state.withLock { $0.terminating } }

    /// Whether this job is to stop: the whole run is terminating, or the job alone was asked to.
    func isStopping(job: Int64) -> Bool { state.withLock { $0.terminating || $0.stopped[job] != nil } }

    /// Why this job alone was asked to stop, if it was.
    func stopReason(job: Int64) -> String? { state.withLock { $0.stopped[job] } }

    /// Stops one job: its runner is cancelled if it runs, and a job not started yet will not start.
    func stop(job: Int64, reason: String) {
        let control: TaskControl? = state.withLock { value in
            guard value.stopped[job] == nil else { return nil }
            value.stopped[job] = reason
            return value.controls[job]
        }
        control?.cancel()
    }

    /// Marks the run terminating and cancels every running job; true the first time.
    func terminate() -> Bool {
        let controls: [TaskControl]? = state.withLock { value in
            if value.terminating { return nil }
            value.terminating = true
            return Array(value.controls.values)
        }
        controls?.forEach { $0.cancel() }
        return controls != nil
    }

    /// Registers a running job's control; false (and nothing registered) if the run or the job is stopping.
    func register(_ control: TaskControl, job: Int64) -> Bool {
        state.withLock { value in
            if value.terminating || value.stopped[job] != nil { return false }
            value.controls[job] = control
            return true
        }
    }

    func unregister(job: Int64) { _ = state.withLock { $0.controls.removeValue(forKey: job) } }
}

/// An output value as later tasks see it.
struct OutputValue: Sendable {
    let value: String?
    let isSecret: Bool
}

/// A job as it ended, with the outputs it set (so later phases need not read them back).
struct JobOutcome: Sendable {
    let job: JobRecord
    var outputs: [String: OutputValue] = [:]
}

extension Engine {
    /// Runs a submitted run to its end and returns its final record. Waits (`waiting`) while another
    /// run of the same flow is unfinished; jobs wait while another job of their configuration runs.
    public func execute(_ submitted: RunRecord, events: @escaping @Sendable (RunEvent) -> Void = { _ in }) async -> RunRecord {
        let runID = submitted.id!
        let token = submitted.tokenID.flatMap { try? store.token($0) }
        // A token revoked or expired since the run was submitted grants nothing.
        let context = RunContext(runID: runID, started: submitted.startedAt ?? time.now(), scopes: token.flatMap { try? liveScopes(of: $0) } ?? TokenScopes(),
                                 tokenName: token?.name ?? "none", credentials: (try? store.credentials()) ?? [])
        // The flow this process just submitted is used as it is; only a run from elsewhere (a retry, another
        // process's queued run) is read back from its stored snapshot.
        let flow: Flow
        if let known = memo.withLock({ $0.flows.removeValue(forKey: runID) }) {
            flow = known
        } else {
            do { flow = try JSONDecoder().decode(Flow.self, from: Data(submitted.flowJSON.utf8)) } catch {
                return finish(submitted, context, .error, "the stored flow cannot be read: \(error)", events: events)
            }
        }
        // Another process may ask to terminate this run through the store.
        // It polls on the machine's clock, not the engine's: it watches another process, not the run's own time.
        let monitor = Task.detached { [store, locks, terminationPollInterval] in
            while !Task.isCancelled {
                try? await Task.sleep(for: terminationPollInterval)
                if (try? store.runStatus(runID)) == .terminating, context.terminate() {
                    await locks.abandon(owner: runID)
                }
                for (job, reason) in (try? store.stopRequests(run: runID)) ?? [:] { context.stop(job: job, reason: reason) }
            }
        }
        defer { monitor.cancel() }

        // One run of a flow at a time: a second one waits for the first.
        let flowLock = await locks.acquire("flow:" + flow.name, owner: runID) { [store] in
            // Name the run in the way: what a user waits for, or terminates.
            // (The holder may not be marked processing yet: the oldest other unfinished run of the flow is it.)
            let holder = (try? store.runs(flow: flow.name, limit: 50))?.filter { $0.id != runID && !$0.status.isFinished }.last
            let message = holder.map { "waiting for run \($0.id!) of '\(flow.name)' to finish" }
                ?? "another run of '\(flow.name)' is in progress"
            try? store.update(run: runID, to: .waiting, message: message)
            if let run = try? store.run(runID) { events(.run(run)) }
        }
        guard let flowLock else {
            cancelRemaining(runID, from: 0, reason: "the run was terminated before it started", events: events)
            return finish(submitted, context, .terminated, "terminated before it started", events: events)
        }
        defer { locks.releaseSoon(flowLock) }
        // A run that waited may have waited on a host that died: record that before going on.
        _ = recover()
        if (try? store.runStatus(runID)) == .terminating {
            cancelRemaining(runID, from: 0, reason: "the run was terminated before it started", events: events)
            return finish(submitted, context, .terminated, "terminated before it started", events: events)
        }
        do { try store.update(run: runID, to: .processing) } catch {
            // A stop that raced the start leaves the run `terminating`: it goes on and ends terminated.
            logger.error("the run's start could not be recorded", metadata: ["run": "\(runID)", "error": "\(error)"])
            if !(error is TransitionError) { context.recordStoreFailure("run \(runID): its start could not be recorded: \(error)") }
        }
        if let run = try? store.run(runID) { events(.run(run)) }
        logger.debug("run started", metadata: ["run": "\(runID)", "flow": "\(flow.name)", "tasks": "\(flow.tasks.count)"])

        var outputs: [String: [String: OutputValue]] = [:]
        var failedPhase: Phase?
        var warnings = 0
        // Connectors `load` resolved in this process are used as resolved; the registry is scanned again only
        // for a run that needs others (a retry, a queued run): a plugin added since is usable then.
        var catalog = memo.withLock { $0.connectors }
        if Set(flow.tasks.map(\.connector)).contains(where: { catalog[$0] == nil }) { await refreshRegistry() }
        for (index, phase) in flow.phases.enumerated() {
            let jobs = (try? store.jobs(run: runID, phase: index)) ?? []
            for job in jobs where job.status == .success { outputs[job.taskID] = outputValues(of: job) }
            let pending = jobs.filter { $0.status == .created }
            if pending.isEmpty { continue }
            if context.isTerminating { break }
            for reference in Set(pending.compactMap { flow.task($0.taskID)?.connector }) where catalog[reference] == nil {
                catalog[reference] = try? await registry.resolve(reference.description)
            }
            let snapshot = outputs
            let finished = await runPhase(pending, flow: flow, context: context, catalog: catalog, outputs: snapshot,
                                          parallelism: submitted.parallelism, events: events)
            for outcome in finished where outcome.job.status == .success { outputs[outcome.job.taskID] = outcome.outputs }
            // A job a user stopped alone fails its phase like a terminated one, even if it had not started.
            let stopped = { (job: JobRecord) in job.status == .terminated || (job.status == .cancelled && context.stopReason(job: job.id!) != nil) }
            let failures = finished.map(\.job).filter { $0.status == .error || stopped($0) }
            if failures.contains(where: { !$0.continueOnFailure || stopped($0) }) {
                failedPhase = phase
                break
            }
            warnings += failures.count
        }

        let remainingFrom = failedPhase.flatMap { phase in flow.phases.firstIndex { $0.id == phase.id }.map { $0 + 1 } } ?? 0
        if context.isTerminating {
            cancelRemaining(runID, from: 0, reason: "the run was terminated before this job started", events: events)
            // The reason given with the request (e.g. "interrupted by the user (Ctrl-C)") stays the run's message.
            let reason = (try? store.run(runID))?.message ?? "terminated on request"
            return finish(submitted, context, .terminated, reason, events: events)
        }
        if let failedPhase {
            cancelRemaining(runID, from: remainingFrom, reason: "not run: phase '\(failedPhase.id)' failed", events: events)
            let failed = ((try? store.jobs(run: runID)) ?? []).filter {
                $0.phaseID == failedPhase.id && ($0.status == .error || $0.status == .terminated || context.stopReason(job: $0.id!) != nil)
            }
            let names = failed.map(\.taskID).joined(separator: ", ")
            return finish(submitted, context, .error, "phase '\(failedPhase.id)' failed (\(names))", events: events)
        }
        if warnings > 0 {
            return finish(submitted, context, .warning, "\(warnings) task\(warnings == 1 ? "" : "s") failed with continueOnFailure", events: events)
        }
        return finish(submitted, context, .success, nil, events: events)
    }

    /// Runs one phase's jobs, at most `parallelism` at once. Every job of the phase runs even when
    /// one fails, so the outcome never depends on which finished first.
    func runPhase(_ jobs: [JobRecord], flow: Flow, context: RunContext, catalog: [ConnectorReference: CatalogEntry],
                  outputs: [String: [String: OutputValue]], parallelism: Int,
                  events: @escaping @Sendable (RunEvent) -> Void) async -> [JobOutcome] {
        await withTaskGroup(of: JobOutcome.self) { group in
            var queue = jobs[...]
            var finished: [JobOutcome] = []
            func startNext() {
                guard let job = queue.popFirst() else { return }
                let task = flow.task(job.taskID)!
                group.addTask {
                    await self.runJob(job, task: task, flow: flow, context: context, entry: catalog[task.connector],
                                      outputs: outputs, events: events)
                }
            }
            for _ in 0..<max(1, parallelism) { startNext() }
            for await job in group {
                finished.append(job)
                startNext()
            }
            return finished
        }
    }

    /// A succeeded (or reused) job's outputs, as later tasks see them.
    private func outputValues(of job: JobRecord) -> [String: OutputValue] {
        Dictionary(((try? store.outputs(job: job.id!)) ?? []).map { ($0.name, OutputValue(value: $0.value, isSecret: $0.isSecret)) },
                   uniquingKeysWith: { _, last in last })
    }

    /// Records the run's end. A run whose jobs could not all be recorded ends in error with the reason;
    /// if its own end cannot be written either, the record returned says so (and the next command's
    /// recovery finds the host gone and marks the run).
    private func finish(_ submitted: RunRecord, _ context: RunContext, _ status: JobStatus, _ message: String?,
                        events: @Sendable (RunEvent) -> Void) -> RunRecord {
        var status = status, message = message
        let unrecorded = context.unrecordedFailures
        if !unrecorded.isEmpty {
            status = .error
            message = "the store could not record every job: " + unrecorded.joined(separator: "; ")
        }
        logger.debug("run finished", metadata: ["run": "\(submitted.id!)", "flow": "\(submitted.flowName)", "status": "\(status.rawValue)"])
        do {
            try store.update(run: submitted.id!, to: status, message: message)
            if let run = try store.run(submitted.id!) {
                events(.run(run))
                return run
            }
        } catch {
            logger.error("the run's end could not be stored", metadata: ["run": "\(submitted.id!)", "error": "\(error)"])
            status = .error
            message = (message.map { $0 + "; " } ?? "") + "the run's end could not be stored: \(error)"
        }
        var run = submitted
        run.status = status
        run.message = message
        run.finishedAt = time.now()
        events(.run(run))
        return run
    }

    /// Jobs that never started become `cancelled`.
    private func cancelRemaining(_ runID: Int64, from phaseIndex: Int, reason: String, events: @Sendable (RunEvent) -> Void) {
        for job in (try? store.jobs(run: runID)) ?? [] where job.phaseIndex >= phaseIndex && (job.status == .created || job.status == .waiting) {
            if let updated = try? store.update(job: job, to: .cancelled, message: reason) { events(.job(updated)) }
        }
    }
}

