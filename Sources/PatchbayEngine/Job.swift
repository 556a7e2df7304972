import Foundation
import Logging
import PatchbayCore
import PatchbayModel
import PatchbayRegistry
import PatchbayRunner
import PatchbaySecurity
import PatchbayStore
import PatchbayWire
import Synchronization

/// The host side of one job's runner: every log line goes to the store (masked) before anyone sees it,
/// credentials are answered only within the run's token, finished tables go to the job's staging
/// directory, never straight into the catalog.
///
/// Log lines are written in batches: the supervisor flushes whenever it has read all that its runner
/// had sent (and before the job completes), so a 20,000-line log costs a transaction per wake-up, not
/// per line, and a line is still stored before it is reported. A write that fails is kept and tried
/// again; if it never succeeds, the job fails as a `system` error that says so.
struct JobHost: TaskHost {
    let job: JobRecord
    let store: Store
    let stagingDirectory: String
    let connectorVersion: String?
    let sha256: String
    let parametersJSON: String
    let access: CredentialAccess
    let events: @Sendable (RunEvent) -> Void
    /// The engine's rate limits.
    let rates: RateLimiter
    /// When the job got its slot in its phase (stored with its start, for the timeline).
    var dispatchedAt: Date? = nil
    let journal = JobJournal()

    /// A batch bigger than this is written at once, without waiting for the supervisor's flush.
    static let batchLimit = 1024

    func credential(named name: String, for descriptor: ConnectorDescriptor?) -> CredentialAnswer {
        access.answer(name)
    }

    /// A turn under the project's rate limit `key`; a wait of a second or more is the job's wait, so that
    /// `jobs show` and the board say why it is not working.
    func reserveRate(key: String, tokens: UInt32) -> Duration {
        let now = Date()
        let (wait, limit) = rates.reserve(key, tokens: tokens, now: now)
        if let limit, wait >= .seconds(1) {
            let seconds = wait.inSeconds
            self.wait(.rateLimit, "rate limit on \(key) (\(limit.perSecond.formatted())/s, bursts of \(Int(limit.burst))): next request in \(String(format: "%.1f", seconds)) s",
                      until: now.addingTimeInterval(seconds))
        }
        return wait
    }

    func handle(_ event: TaskEvent) {
        switch event {
        case .started(let pid):
            do {
                if let started = try store.start(job: job, runnerPID: pid, runnerStart: ProcessIdentity(pid: pid)?.startTicks,
                                                 connectorVersion: connectorVersion, sha256: sha256, parametersJSON: parametersJSON,
                                                 dispatchedAt: dispatchedAt) {
                    events(.job(started))
                }
            } catch {
                journal.fail("the job's start could not be stored: \(error)")
            }
        case .log(let line):
            let record = LogRecord(jobID: job.id!, time: line.time, level: line.level, source: line.source,
                                   message: access.masker.mask(line.message))
            if journal.add(record) >= Self.batchLimit { flush() }
        case .progress(let fraction, let message):
            let masked = access.masker.mask(message)
            let report = ProgressReport(fraction: fraction, message: masked)
            let record = LogRecord(jobID: job.id!, time: Date(), level: .info, source: .progress, message: report.text)
            if let buffered = journal.addProgress(record, final: report.fraction == 1), buffered >= Self.batchLimit { flush() }
            events(.progress(jobID: job.id!, fraction: fraction, message: masked))
        case .output(let output) where output.isSecret:
            access.hide(String(decoding: output.value, as: UTF8.self))
        default:
            break
        }
    }

    /// At the job's end: the last progress report is stored too, if the throttle held it back.
    func finish() {
        journal.settleProgress()
        flush()
    }

    /// Writes the buffered log lines in one transaction, then reports them.
    func flush() {
        guard let written = journal.write(to: store) else { return }
        for record in written { events(.log(job, record)) }
    }

    func commit(tables: [TableFile]) throws {
        try DirectoryTableSink(directory: stagingDirectory, durable: true).commit(tables)
    }

    /// Records why the started job waits, and until when (nil: it works again), and tells the run's watchers.
    func wait(_ reason: JobWait.Reason?, _ message: String? = nil, until: Date? = nil) {
        do {
            if let updated = try store.wait(job: job, reason: reason?.rawValue, message: message, until: until) { events(.job(updated)) }
        } catch {
            journal.fail("the job's wait could not be stored: \(error)")
        }
    }
}

/// The host of an authentication run again within another job: its own credentials, its log lines into that
/// job's log (marked with the task), its secret outputs hidden there too; no table, output or state is kept.
struct AuthenticationAgainHost: TaskHost {
    let job: JobHost
    let access: CredentialAccess
    let task: String

    func credential(named name: String, for descriptor: ConnectorDescriptor?) -> CredentialAnswer { access.answer(name) }

    func handle(_ event: TaskEvent) {
        switch event {
        case .log(var line):
            line.message = "[\(task)] " + access.masker.mask(line.message)
            job.handle(.log(line))
        case .output(let output) where output.isSecret:
            let value = String(decoding: output.value, as: UTF8.self)
            access.hide(value)
            job.access.hide(value)
        default:
            break
        }
    }

    func flush() { job.flush() }

    func commit(tables: [TableFile]) throws {}

    func reserveRate(key: String, tokens: UInt32) -> Duration { job.reserveRate(key: key, tokens: tokens) }
}

/// A job's log lines not yet in the store, and the store failures it met.
final class JobJournal: Sendable {
    private struct State {
        var pending: [LogRecord] = []
        /// Why the buffered lines are not stored yet (cleared once they are).
        var logFailure: String?
        /// Any other write that failed (it cannot be retried).
        var failure: String?
        /// When the last progress line was buffered, and the newest report held back since.
        var lastProgress: ContinuousClock.Instant?
        var heldProgress: LogRecord?
    }

    /// A connector may report progress for every row: at most one progress line per this interval is
    /// stored (the first, each one after the interval, and the final one: `settleProgress`).
    static let progressInterval = Duration.milliseconds(250)
    private let state = Mutex(State())

    /// Buffers a line; returns how many are buffered.
    func add(_ record: LogRecord) -> Int {
        state.withLock { state in
            state.pending.append(record)
            return state.pending.count
        }
    }

    /// Buffers a progress line unless one was buffered less than `progressInterval` ago (then it is held
    /// until the next one, or the job's end); returns how many lines are buffered, or nil when held.
    func addProgress(_ record: LogRecord, final: Bool, now: ContinuousClock.Instant = .now) -> Int? {
        state.withLock { state in
            if !final, let last = state.lastProgress, now - last < Self.progressInterval {
                state.heldProgress = record
                return nil
            }
            state.lastProgress = now
            state.heldProgress = nil
            state.pending.append(record)
            return state.pending.count
        }
    }

    /// Buffers the progress line the throttle held back, so the job's last progress is always stored.
    func settleProgress() {
        state.withLock { state in
            if let held = state.heldProgress { state.pending.append(held) }
            state.heldProgress = nil
        }
    }

    func fail(_ reason: String) {
        state.withLock { state in if state.failure == nil { state.failure = reason } }
    }

    /// Why the job is not fully recorded, if anything failed and was not made good.
    var failure: String? { state.withLock { $0.failure ?? $0.logFailure } }

    /// Stores what is buffered and returns it; nil when there was nothing, or the write failed (the lines
    /// stay buffered for the next attempt).
    func write(to store: Store) -> [LogRecord]? {
        state.withLock { state in
            guard !state.pending.isEmpty else { return nil }
            do {
                try store.append(logs: state.pending)
            } catch {
                let count = state.pending.count
                state.logFailure = "\(count) log line\(count == 1 ? "" : "s") could not be stored: \(error)"
                return nil
            }
            state.logFailure = nil
            defer { state.pending.removeAll(keepingCapacity: true) }
            return state.pending
        }
    }
}

/// What one job may be told when its connector asks for a credential: its own `#` values, the named
/// credentials of its connector and the unexpired secret outputs of earlier authentication tasks of
/// the run — all only if the run's token grants the connector. Denials are remembered: they fail the
/// job with the `config` class even if the connector carries on.
final class CredentialAccess: Sendable {
    let connector: String
    let tokenName: String
    let granted: Bool
    private let values: [String: String]
    private let earlier: RestrictedOutputs?
    private let denied = Mutex<[String]>([])
    /// Every secret this job could see or make; grows when the connector sets a secret output.
    private let secrets: Mutex<(values: [String], masker: Masker)>

    init(connector: String, tokenName: String, granted: Bool, values: [String: String], earlier: RestrictedOutputs?) {
        self.connector = connector
        self.tokenName = tokenName
        self.granted = granted
        self.values = values
        self.earlier = earlier
        let all = Array(values.values) + (earlier?.values ?? [])
        secrets = Mutex((all, Masker(secrets: all)))
    }

    var masker: Masker { secrets.withLock { $0.masker } }

    func hide(_ value: String) {
        secrets.withLock { secrets in
            guard !secrets.values.contains(value) else { return }
            secrets.values.append(value)
            secrets.masker = Masker(secrets: secrets.values)
        }
    }

    func answer(_ name: String) -> CredentialAnswer {
        guard granted else {
            denied.withLock { $0.append(name) }
            return .denied(reason: refusal)
        }
        if let value = values[name] ?? earlier?.value(name) { return .value(Array(value.utf8)) }
        return .notFound
    }

    private var refusal: String {
        "the run's token '\(tokenName)' does not grant connector '\(connector)' (give it --component \(connector))"
    }

    /// The first denial, as the job's failure message.
    var denial: String? { denied.withLock { $0.first }.map { "credential '\($0)' denied: \(refusal)" } }
}

/// Secret outputs of authentication tasks, kept in memory for the later tasks of the same run only
/// (never in the store), each until its TTL: the output `<name>_ttl` in seconds, else one hour.
final class RestrictedOutputs: Sendable {
    static let defaultTTL: TimeInterval = 3600
    private let entries = Mutex<[String: (value: String, expires: Date)]>([:])

    func add(_ outputs: [TaskOutput], now: Date = Date()) {
        let ttls = Dictionary(outputs.filter { !$0.isSecret }.map { ($0.name, String(decoding: $0.value, as: UTF8.self)) },
                              uniquingKeysWith: { _, last in last })
        entries.withLock { entries in
            for output in outputs where output.isSecret {
                let ttl = ttls[output.name + "_ttl"].flatMap(TimeInterval.init) ?? Self.defaultTTL
                entries[output.name] = (String(decoding: output.value, as: UTF8.self), now.addingTimeInterval(ttl))
            }
        }
    }

    func value(_ name: String, now: Date = Date()) -> String? {
        entries.withLock { entries in
            guard let entry = entries[name] else { return nil }
            if entry.expires <= now {
                entries[name] = nil
                return nil
            }
            return entry.value
        }
    }

    var values: [String] { entries.withLock { $0.values.map(\.value) } }
}

extension TokenScopes {
    /// The buckets these scopes may write, as the runner enforces it at open_output. (The engine checks the
    /// finished tables again: a runner's report is never trusted on its own.)
    var writeRule: BucketRule {
        if isMaster { return .any }
        let writable = buckets.filter { $0.key != "*" && $0.value >= .write }.keys.sorted()
        guard buckets["*"] == .write else { return .only(writable) }
        return .anyExcept(buckets.filter { $0.key != "*" && $0.value < .write }.keys.sorted())
    }
}

/// Why a job ends before (or instead of) its connector running: the completion to record.
struct JobFailure: Error {
    var completion: JobCompletion

    init(_ message: String, class failureClass: FailureClass = .config) {
        completion = JobCompletion(status: .error, failureClass: failureClass, message: message)
    }

    init(cancelled message: String) { completion = JobCompletion(status: .cancelled, message: message) }
}

/// What a job's end is recorded with: the masker for its secrets and the host whose log must be whole.
private struct JobRecorder {
    var masker = Masker(secrets: [])
    var host: JobHost?
}

extension Engine {
    func stagingDirectory(job id: Int64) -> String { project.stagingDirectory + "/job-\(id)" }

    /// Runs one job to its end, in stages: parameters rendered, secrets and inputs resolved, configuration
    /// lock held, runner spawned (and, for a status check, spawned again until ready), outcome judged, then
    /// everything recorded at once. A stage that fails ends the job with what it threw.
    func runJob(_ job: JobRecord, task: FlowTask, flow: Flow, context: RunContext, entry: CatalogEntry?,
                outputs: [String: [String: OutputValue]], events: @escaping @Sendable (RunEvent) -> Void) async -> JobOutcome {
        var recorder = JobRecorder()
        let dispatchedAt = Date()
        do {
            guard let entry, entry.isReady, let descriptor = entry.descriptor else {
                throw JobFailure("connector '\(task.connector)' is not available any more")
            }
            let parameters = try renderParameters(of: task, flow: flow, schema: descriptor.parametersSchema, context: context, outputs: outputs)
            let (connectorParameters, access) = try secrets(of: task, parameters: parameters, context: context)
            recorder.masker = access.masker
            let inputs = try inputTables(of: task, context: context)

            // One job per configuration at a time, across every run and process. A task with inline
            // parameters has a configuration of its own (`connector/flow:NAME/TASK`), already covered by the
            // flow lock this run holds, so only shared configurations take a lock of their own.
            var lock: LockManager.Handle?
            if task.configurationID != nil {
                let waited = Mutex(false)
                lock = await locks.acquire("config:" + job.configurationKey, owner: context.runID) { [store] in
                    // Name the job in the way: what a user looks at (or terminates) to get this one going.
                    let holder = (try? store.runningJob(configurationKey: job.configurationKey)).flatMap { $0 }
                    let message = holder.map { "waiting for job \($0.id!) (run \($0.runID), task \($0.taskID)) of configuration '\(job.configurationKey)' to finish" }
                        ?? "waiting: another job of configuration '\(job.configurationKey)' is running"
                    if let waiting = try? store.waitForLock(job: job, message: message, blockingRun: holder?.runID) { events(.job(waiting)) }
                    waited.withLock { $0 = true }
                }
                if waited.withLock({ $0 }) { try? store.endWaits(job: job) }
                guard lock != nil else { throw JobFailure(cancelled: "the run was terminated before this job started") }
            }
            defer { if let lock { locks.releaseSoon(lock) } }
            // The store's updates start from the stored row, so `job` need not be fetched again after waiting.
            // It becomes `processing` when its runner has started (JobHost records both in one transaction).
            let control = TaskControl()
            guard context.register(control, job: job.id!) else {
                throw JobFailure(cancelled: context.stopReason(job: job.id!).map { "\($0), before it started" }
                                 ?? "the run was terminated before this job started")
            }
            defer { context.unregister(job: job.id!) }

            let stateJSON = openingSecrets(ofState: (try? store.state(configurationKey: job.configurationKey))?.stateJSON ?? "{}",
                                           connector: task.connector.id, hide: access.hide)
            var jobHost = JobHost(job: job, store: store, stagingDirectory: stagingDirectory(job: job.id!), connectorVersion: entry.version,
                                  sha256: entry.sha256, parametersJSON: parameters.jsonText, access: access, events: events, rates: rates)
            jobHost.dispatchedAt = dispatchedAt
            recorder.host = jobHost
            // Lineage: the catalog tables this job reads, each with the job that made the version it gets.
            let catalogInputs = task.inputs.values.filter { !$0.contains("/") }.sorted()
            if !catalogInputs.isEmpty {
                do { try store.recordReads(job: job.id!, tables: catalogInputs) } catch {
                    jobHost.journal.fail("the tables the job reads could not be recorded: \(error)")
                }
            }
            var spec = try taskSpec(for: task, entry: entry, descriptor: descriptor, parameters: connectorParameters, stateJSON: stateJSON,
                                    inputs: inputs, context: context)
            // An extraction that checkpoints (ABI 1.5) resumes a later attempt where the one before stopped.
            let checkpoints = entry.pattern == .extraction && descriptor.capabilities.contains(.checkpoints)
            if checkpoints { spec.checkpointDirectory = stagingDirectory(job: job.id!) + ".checkpoint" }
            defer { if checkpoints { removeTree(stagingDirectory(job: job.id!) + ".checkpoint") } }
            var (report, checks) = await spawn(spec, host: jobHost, control: control, job: job.id!, task: task, pattern: entry.pattern, context: context)
            var completion = judge(report, checks: checks, job: job, task: task, pattern: entry.pattern, context: context)
            // Automatic retries (`retry:`): a new runner per attempt, from the same committed state, after a wait.
            var attempt = 1
            while let policy = task.retry, completion.status == .error, let failureClass = completion.failureClass,
                  policy.on.contains(failureClass), access.denial == nil, attempt <= policy.max, !context.isStopping(job: job.id!) {
                attempt += 1
                let wait = policy.wait(before: attempt)
                let waiting = "attempt \(attempt - 1) of \(policy.max + 1) failed (\(failureClass.rawValue) error): \(completion.message ?? ""); trying again in \(wait)"
                jobHost.handle(.log(LogLine(time: time.now(), level: .warning, source: .host, message: waiting)))
                jobHost.flush()
                jobHost.wait(.retry, "retry back-off: \(waiting)", until: time.now().addingTimeInterval(wait.inSeconds))
                await sleep(wait, unless: context, job: job.id!)
                jobHost.wait(nil)
                if context.isStopping(job: job.id!) { break }
                resume(&spec, from: report, host: jobHost)
                (report, checks) = await spawn(spec, host: jobHost, control: control, job: job.id!, task: task, pattern: entry.pattern, context: context)
                completion = judge(report, checks: checks, job: job, task: task, pattern: entry.pattern, context: context)
            }
            if attempt > 1 {
                let attempts = "\(attempt) attempts"
                completion.message = completion.status == .success ? "succeeded after \(attempts)" : "\(completion.message ?? "failed") (after \(attempts))"
            }
            // The service refused the credentials: authenticate again with the run's authentication task, once, and retry.
            if completion.status == .error, completion.failureClass == .unauthorized, let auth = context.latestAuthenticator,
               auth.task.id != task.id, access.denial == nil, !context.isStopping(job: job.id!) {
                jobHost.handle(.log(LogLine(time: time.now(), level: .warning, source: .host, message:
                    "the service refused the credentials (\(completion.message ?? "unauthorized")); authenticating again with task '\(auth.task.id)', then trying once more")))
                jobHost.flush()
                if let failure = await authenticateAgain(auth, flow: flow, context: context, outputs: outputs, into: jobHost) {
                    completion.message = "\(completion.message ?? "unauthorized"); authenticating again with task '\(auth.task.id)' failed: \(failure)"
                } else {
                    resume(&spec, from: report, host: jobHost)
                    (report, checks) = await spawn(spec, host: jobHost, control: control, job: job.id!, task: task, pattern: entry.pattern, context: context)
                    completion = judge(report, checks: checks, job: job, task: task, pattern: entry.pattern, context: context)
                    let again = "after authenticating again with task '\(auth.task.id)'"
                    completion.message = completion.status == .success ? "succeeded \(again)" : "\(completion.message ?? "failed") (\(again))"
                }
            }
            if completion.status == .success, entry.pattern == .authentication { context.addAuthenticator(task, entry) }
            if let denial = access.denial {
                completion = JobCompletion(status: .error, failureClass: .config, message: denial,
                                           exitKind: report.classification.kind, exitSummary: report.classification.summary)
            }
            completion.sandbox = report.sandbox
            recorder.masker = access.masker  // with the secret outputs the connector set
            let finished = record(job, completion, recorder, context: context, events: events)
            // A success's tables, or a data failure's evidence, once the store has recorded them.
            if finished.job.status == .success || !completion.tables.isEmpty { publishStagedTables(job: job.id!) } else {
                removeTree(stagingDirectory(job: job.id!))
            }
            return finished
        } catch let failure as JobFailure {
            return record(job, failure.completion, recorder, context: context, events: events)
        } catch {
            return record(job, JobFailure("\(error)", class: .system).completion, recorder, context: context, events: events)
        }
    }

    // MARK: stages

    /// The next attempt starts from the checkpoint the last one kept, if it kept one (else from the one before,
    /// or from the committed state): its state, and its tables' rows.
    private func resume(_ spec: inout TaskSpec, from report: TaskReport, host: JobHost) {
        guard let kept = report.checkpoint else { return }
        spec.resume = kept
        spec.stateJSON = kept.stateJSON
        let tables = kept.tables.map { "\($0.file.name) (\($0.file.rowCount) rows)" }.joined(separator: ", ")
        host.handle(.log(LogLine(time: time.now(), level: .info, source: .host, message:
            "resuming from the last attempt's checkpoint: its state, and \(kept.rowCount) rows kept\(tables.isEmpty ? "" : " in " + tables)")))
    }

    /// A time as parameters get it: RFC 3339, UTC, seconds ("2026-12-02T06:31:12Z"), or with milliseconds.
    static func rfc3339(_ date: Date, milliseconds: Bool = false) -> String {
        UTCTime.text(millisecondsSince1970: Int64((date.timeIntervalSince1970 * 1000).rounded(.down)), milliseconds: milliseconds, zone: "Z")
    }

    private func renderParameters(of task: FlowTask, flow: Flow, schema text: String, context: RunContext,
                                  outputs: [String: [String: OutputValue]]) throws(JobFailure) -> JSONValue {
        let schema = JSONValue.schema(parsing: text)
        let parameters: JSONValue
        do {
            parameters = try Template.render(task.parameters, schema: schema, variable: { name in
                switch name {
                case "run.id": return String(context.runID)
                case "run.started_at": return Self.rfc3339(context.started)
                case "run.date": return String(Self.rfc3339(context.started).prefix(10))
                default:
                    let variable = name.hasPrefix("vars.") ? String(name.dropFirst(5)) : name
                    guard let value = flow.variables?[variable] else { throw JobFailure("${{ \(name) }} has no value") }
                    return value
                }
            }) { reference in
                var value = outputs[reference.task]?[reference.output]
                if outputs[reference.task] == nil, let (_, stored) = try store.latestOutputs(flow: flow.name, task: reference.task),
                   let found = stored.first(where: { $0.name == reference.output }) {
                    value = OutputValue(value: found.value, isSecret: found.isSecret)
                }
                guard let value else {
                    throw JobFailure("\(reference): task '\(reference.task)' did not set the output '\(reference.output)'")
                }
                guard !value.isSecret, let text = value.value else {
                    throw JobFailure("\(reference) is a secret output; secrets are never rendered into parameters")
                }
                return text
            }
        } catch let failure as JobFailure {
            throw failure
        } catch {
            throw JobFailure("\(error)")
        }
        if let schema {
            let violations = JSONSchema.validate(parameters, against: schema)
            if !violations.isEmpty {
                let text = violations.map { "parameters\($0.pointer.isEmpty ? "" : $0.pointer): \($0.message)" }.joined(separator: "; ")
                throw JobFailure("after filling outputs: \(text)")
            }
        }
        return parameters
    }

    /// The runner's task for a flow task: its connector, parameters, state and inputs, the limits and paths the
    /// flow gives it, the network its connector declares narrowed by the flow, and the run's buckets.
    private func taskSpec(for task: FlowTask, entry: CatalogEntry, descriptor: ConnectorDescriptor, parameters: JSONValue, stateJSON: String,
                          inputs: [InputTable], context: RunContext) throws(JobFailure) -> TaskSpec {
        var spec = TaskSpec(pluginPath: entry.path, parametersJSON: parameters.jsonText, stateJSON: stateJSON, inputs: inputs,
                            limits: TaskLimits(timeout: task.timeout ?? .seconds(3600)), workspaceRoot: project.workDirectory,
                            minimumLogLevel: 2, writableBuckets: context.scopes.writeRule)
        (spec.readablePaths, spec.writablePaths) = try grantedPaths(of: task)
        spec.network = descriptor.network.narrowed(to: task.network ?? .any)
        spec.expectedDescriptor = descriptor
        return spec
    }

    /// Runs an authentication task again for a job whose credentials a service refused: its log lines go to that
    /// job's log (marked), its secret outputs replace the run's, and nothing else of it is kept. Nil when it
    /// succeeded, else why not.
    private func authenticateAgain(_ auth: (task: FlowTask, entry: CatalogEntry), flow: Flow, context: RunContext,
                                   outputs: [String: [String: OutputValue]], into jobHost: JobHost) async -> String? {
        guard let descriptor = auth.entry.descriptor else { return "its connector is not available" }
        do {
            let parameters = try renderParameters(of: auth.task, flow: flow, schema: descriptor.parametersSchema, context: context, outputs: outputs)
            let (connectorParameters, access) = try secrets(of: auth.task, parameters: parameters, context: context)
            let configurationKey = flow.configurationKey(for: auth.task)
            let stateJSON = openingSecrets(ofState: (try? store.state(configurationKey: configurationKey))?.stateJSON ?? "{}",
                                           connector: auth.task.connector.id, hide: access.hide)
            let spec = try taskSpec(for: auth.task, entry: auth.entry, descriptor: descriptor, parameters: connectorParameters,
                                    stateJSON: stateJSON, inputs: try inputTables(of: auth.task, context: context), context: context)
            let report = await runner.run(spec, host: AuthenticationAgainHost(job: jobHost, access: access, task: auth.task.id), control: TaskControl())
            guard report.classification.isSuccess else { return report.classification.summary }
            context.restricted.add(report.outputs)
            // Its state is kept now: a refresh token it rotated is the only one that works from here on.
            if let state = sealingSecrets(ofState: report.newStateJSON, connector: auth.task.connector.id) {
                try? store.commit(state: state, configurationKey: configurationKey, job: jobHost.job.id!)
            }
            return nil
        } catch {
            return error.completion.message ?? "it could not be started"
        }
    }

    /// `#` values leave the parameters: the connector asks for them, and for its named credentials, by name.
    private func secrets(of task: FlowTask, parameters: JSONValue,
                         context: RunContext) throws(JobFailure) -> (JSONValue, CredentialAccess) {
        do {
            let (connectorParameters, secretValues) = try separateSecrets(parameters, connector: task.connector.id)
            let named = try context.credentials(for: task.connector.id, box: { try self.secretBox() })
            let access = CredentialAccess(connector: task.connector.id, tokenName: context.tokenName,
                                          granted: context.scopes.allows(component: task.connector.id),
                                          values: named.merging(secretValues) { _, own in own }, earlier: context.restricted)
            return (connectorParameters, access)
        } catch {
            throw JobFailure("secrets of task '\(task.id)': \(error)")
        }
    }

    /// The paths the flow grants the task beyond its workspace, absolute; each must exist.
    private func grantedPaths(of task: FlowTask) throws(JobFailure) -> (read: [String], write: [String]) {
        guard let files = task.files else { return ([], []) }
        func resolve(_ paths: [String], _ key: String) throws(JobFailure) -> [String] {
            var resolved: [String] = []
            for path in paths {
                let absolute = path.hasPrefix("/") ? path : project.root + "/" + path
                guard FileManager.default.fileExists(atPath: absolute) else {
                    throw JobFailure("files.\(key): \(absolute) does not exist (a task may be granted only paths that do)")
                }
                resolved.append(absolute)
            }
            return resolved
        }
        return (try resolve(files.read, "read"), try resolve(files.write, "write"))
    }

    /// Inputs: tables of the catalog (or project files, for names with a '/'), if the token may read them.
    private func inputTables(of task: FlowTask, context: RunContext) throws(JobFailure) -> [InputTable] {
        var inputs: [InputTable] = []
        for (name, table) in task.inputs.sorted(by: { $0.key < $1.key }) {
            if !table.contains("/"), !context.scopes.allows(table: table, .read) {
                throw JobFailure("input '\(name)': the run's token '\(context.tokenName)' may not read the bucket of '\(table)'")
            }
            let path = table.contains("/") ? (table.hasPrefix("/") ? table : project.root + "/" + table) : project.tableFile(table)
            guard FileManager.default.isReadableFile(atPath: path) else {
                let why = table.contains("/") ? "the file \(path) cannot be read"
                    : "the table '\(table)' does not exist yet (no job has produced it)"
                throw JobFailure("input '\(name)': \(why)")
            }
            do {
                inputs.append(InputTable(name: name, path: path, types: try TableManifest.types(besides: path)))
            } catch {
                throw JobFailure("input '\(name)': its manifest \(error)")
            }
        }
        return inputs
    }

    /// Runs the task in a runner; a status check is asked again every interval until ready, failed or out of time.
    /// The state a check sets while not ready is what the next check of the same job reads; the last state
    /// set by any check is the job's new state, committed only if the job succeeds (the header's rules).
    private func spawn(_ spec: TaskSpec, host: JobHost, control: TaskControl, job: Int64, task: FlowTask, pattern: JobPattern?,
                       context: RunContext) async -> (TaskReport, checks: Int) {
        var spec = spec
        guard pattern == .statusCheck else { return (await runner.run(spec, host: host, control: control), 1) }
        let policy = task.poll ?? PollPolicy()
        var checks = 0, carried: String? = nil
        // The deadline is the engine clock's; its wall time is what a resumed check (another process) goes by.
        var giveUp = time.now().addingTimeInterval(policy.timeout.inSeconds)
        var timeLeft = policy.timeout
        // A check that was waiting when its host died goes on here (in a retry of its run) where it was: its
        // count, its deadline, its carried state, and its next check at the time it was due.
        if let resumed = try? store.pollProgress(job: job) {
            checks = resumed.checks
            carried = resumed.stateJSON.map { openingSecrets(ofState: $0, connector: task.connector.id, hide: host.access.hide) }
            giveUp = resumed.deadline
            timeLeft = .seconds(max(0, giveUp.timeIntervalSince(time.now())))
            let due = resumed.nextCheck.timeIntervalSince(time.now())
            host.handle(.log(LogLine(time: time.now(), level: .info, source: .host,
                                     message: "resumed after its host died: \(checks) checks were not ready; check \(checks + 1) "
                                         + (due > 0 ? "in \(String(format: "%.1f", due)) s" : "now"))))
            host.flush()
            if due > 0 {
                host.wait(.poll, "poll: resumed after \(checks) checks; check \(checks + 1) at \(Engine.rfc3339(resumed.nextCheck))", until: resumed.nextCheck)
                await sleep(.seconds(due), unless: context, job: job)
                host.wait(nil)
            }
            if let state = carried { spec.stateJSON = state }
        }
        let deadline = time.deadline(after: timeLeft)
        var report = await runner.run(spec, host: host, control: control)
        checks += 1
        carried = report.newStateJSON ?? carried
        while report.classification == .pending, deadline.remaining >= policy.interval, !context.isStopping(job: job) {
            host.handle(.log(LogLine(time: time.now(), level: .info, source: .host,
                                     message: "not ready yet (check \(checks)); checking again in \(policy.interval)")))
            host.flush()
            let next = time.now().addingTimeInterval(policy.interval.inSeconds)
            // Persisted before the wait: a host killed now loses neither the count nor the next check's time.
            try? store.record(poll: PollProgress(checks: checks, deadline: giveUp, nextCheck: next,
                                                 stateJSON: sealingSecrets(ofState: carried, connector: task.connector.id)), job: job)
            host.wait(.poll, "poll: check \(checks) not ready; check \(checks + 1) in \(policy.interval)", until: next)
            await sleep(policy.interval, unless: context, job: job)
            host.wait(nil)
            if context.isStopping(job: job) { break }
            if let state = carried { spec.stateJSON = state }
            report = await runner.run(spec, host: host, control: control)
            checks += 1
            carried = report.newStateJSON ?? carried
        }
        try? store.clearPoll(job: job)
        report.newStateJSON = carried
        return (report, checks)
    }

    /// What the runner's report means for the job, by the pattern's rules and the token's scopes.
    private func judge(_ report: TaskReport, checks: Int, job: JobRecord, task: FlowTask, pattern: JobPattern?,
                       context: RunContext) -> JobCompletion {
        let exit = (kind: report.classification.kind, summary: report.classification.summary)
        switch report.classification {
        case .succeeded:
            let now = time.now()
            var completion = JobCompletion(
                status: .success, exitKind: exit.kind, exitSummary: exit.summary,
                rowsOut: Int64(report.tables.reduce(0) { $0 + $1.rowCount }),
                outputs: report.outputs.map { OutputRecord(jobID: job.id!, name: $0.name, value: $0.isSecret ? nil : String(decoding: $0.value, as: UTF8.self), isSecret: $0.isSecret) },
                state: sealingSecrets(ofState: report.newStateJSON, connector: task.connector.id),
                tables: report.tables.map { TableRecord(name: $0.name, columns: $0.columns, types: $0.types, rowCount: Int64($0.rowCount), lastImportAt: now, jobID: job.id!, file: $0.name + ".csv") })
            if checks > 1 { completion.message = "ready after \(checks) checks" }
            if let table = report.tables.first(where: { !context.scopes.allows(table: $0.name, .write) }) {
                return JobCompletion(status: .error, failureClass: .config,
                                     message: "the run's token '\(context.tokenName)' may not write the bucket of '\(table.name)'; nothing was stored",
                                     exitKind: exit.kind, exitSummary: exit.summary)
            }
            if pattern == .authentication { context.restricted.add(report.outputs) }
            return completion
        case .pending:
            return JobCompletion(status: context.isStopping(job: job.id!) ? .terminated : .error, failureClass: .transient,
                                 message: "status check: still not ready after \(checks) checks (poll timeout \((task.poll ?? PollPolicy()).timeout))",
                                 exitKind: exit.kind, exitSummary: exit.summary)
        case .cancelled where context.isStopping(job: job.id!):
            let reason = context.stopReason(job: job.id!) ?? "terminated on request"
            return JobCompletion(status: .terminated, failureClass: .transient, message: "\(reason) (\(exit.summary))",
                                 exitKind: exit.kind, exitSummary: exit.summary)
        default:
            let stopped = context.isStopping(job: job.id!)
            var completion = JobCompletion(status: stopped ? .terminated : .error, failureClass: report.classification.failureClass,
                                           message: context.stopReason(job: job.id!).map { "\($0) (\(exit.summary))" } ?? exit.summary,
                                           exitKind: exit.kind, exitSummary: exit.summary)
            // Bad data: the tables the connector wrote are kept as the failed job's evidence, where the token may write them.
            let evidence = report.tables.filter { context.scopes.allows(table: $0.name, .write) }
            if report.classification.failureClass == .data, !evidence.isEmpty {
                let now = time.now()
                completion.tables = evidence.map { TableRecord(name: $0.name, columns: $0.columns, types: $0.types, rowCount: Int64($0.rowCount),
                                                              lastImportAt: now, jobID: job.id!, file: $0.name + ".csv", evidence: true) }
                let kept = evidence.map { "\($0.name) (\($0.rowCount) row\($0.rowCount == 1 ? "" : "s"))" }.joined(separator: ", ")
                completion.message = "\(exit.summary); kept as evidence: \(kept)"
            }
            return completion
        }
    }

    /// Records the job's end, masked, once its log is whole; a store that cannot record it fails the job (or the run) visibly.
    private func record(_ job: JobRecord, _ completion: JobCompletion, _ recorder: JobRecorder, context: RunContext,
                        events: @Sendable (RunEvent) -> Void) -> JobOutcome {
        let masker = recorder.masker
        var completion = completion
        // A failure is also the job's last log line, at error level: `jobs logs` then tells it too.
        if completion.status == .error || completion.status == .terminated, let message = completion.message {
            let failure = completion.failureClass.map { " (\($0.rawValue) error)" } ?? ""
            recorder.host?.handle(.log(LogLine(time: time.now(), level: .error, source: .host,
                                               message: "the job ended \(completion.status.rawValue)\(failure): \(message)")))
        }
        // The job's log must be whole before its end is recorded; if it is not, the job failed.
        recorder.host?.finish()
        if let failure = recorder.host?.journal.failure {
            completion = JobCompletion(status: .error, failureClass: .system, message: failure,
                                       exitKind: completion.exitKind, exitSummary: completion.exitSummary)
        }
        completion.message = masker.mask(completion.message)
        completion.exitSummary = masker.mask(completion.exitSummary)
        completion.outputs = completion.outputs.map { output in
            var output = output
            output.value = masker.mask(output.value)
            return output
        }
        let finished: JobRecord
        do {
            finished = try store.complete(job: job, with: completion)
        } catch {
            // Never leave the job `processing` while the run moves on: record it as a system error, or,
            // if even that cannot be written, fail the run with the reason.
            let reason = "the job's result could not be stored: \(error)"
            logger.error("a job's result could not be stored", metadata: ["job": "\(job.id!)", "task": "\(job.taskID)", "error": "\(error)"])
            let failure = JobCompletion(status: .error, failureClass: .system, message: masker.mask(reason),
                                        exitKind: completion.exitKind, exitSummary: completion.exitSummary)
            let recorded: JobRecord
            do { recorded = try store.complete(job: job, with: failure) } catch {
                context.recordStoreFailure("job \(job.id!) (\(job.taskID)): \(reason); recording the failure failed too: \(error)")
                var unrecorded = job
                unrecorded.status = .error
                unrecorded.failureClass = .system
                unrecorded.message = failure.message
                recorded = unrecorded
            }
            events(.job(recorded))
            return JobOutcome(job: recorded)
        }
        events(.job(finished))
        let values = completion.outputs.map { ($0.name, OutputValue(value: $0.value, isSecret: $0.isSecret)) }
        return JobOutcome(job: finished, outputs: Dictionary(values, uniquingKeysWith: { _, last in last }))
    }

    /// Moves a succeeded job's staged tables into tables/ (after the store has recorded them).
    func publishStagedTables(job id: Int64) {
        let staging = stagingDirectory(job: id)
        // Most jobs stage nothing: asked cheaply first (a listing that fails builds and throws an NSError).
        guard access(staging, F_OK) == 0, let names = try? FileManager.default.contentsOfDirectory(atPath: staging) else { return }
        // Each manifest just before its table, so that the window in which a reader may pair a new
        // manifest with an old file is one rename long (the runner refuses a pair whose columns differ).
        for name in names.sorted() where name.hasSuffix(".csv") {
            let manifest = TableFile.manifestPath(besides: name)
            if names.contains(manifest) { rename(staging + "/" + manifest, project.tablesDirectory + "/" + manifest) }
            rename(staging + "/" + name, project.tablesDirectory + "/" + name)
        }
        DirectoryTableSink.sync(project.tablesDirectory)
        removeTree(staging)
    }

    func removeTree(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Sleeps, waking early if the run is being terminated.
    private func sleep(_ duration: Duration, unless context: RunContext, job: Int64) async {
        let deadline = time.deadline(after: duration)
        while case let left = deadline.remaining, left > .zero, !context.isStopping(job: job) {
            await time.sleep(for: min(.milliseconds(50), left))
        }
    }
}
