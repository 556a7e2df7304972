import Foundation
public import Logging
import PatchbayCore
public import PatchbayModel
public import PatchbayRegistry
public import PatchbayRunner
import PatchbaySecurity
import PatchbayStore
import Synchronization

/// Something that happened in a run, for a live view. Each is already in the store when it is sent.
public enum RunEvent: Sendable {
    case run(RunRecord)
    case job(JobRecord)
    case progress(jobID: Int64, fraction: Double, message: String)
    case log(JobRecord, LogRecord)
}

public struct RunOptions: Sendable {
    /// Task ids to run; the others are `skipped`. nil runs every enabled task.
    public var only: [String]?
    /// Tasks of one phase running at once.
    public var parallelism: Int
    /// Lowest connector log level kept (1 debug … 4 error).
    public var minimumLogLevel: UInt32
    /// `--var NAME=VALUE`: over the flow's own `variables:`, for `${{ vars.NAME }}`.
    public var variables: [String: String] = [:]
    /// What started the run, in words ("manual", "schedule nightly", "trigger orders-updated", "api").
    public var trigger = "manual"
    /// The schedule fire or trigger that started it, recorded with the run.
    public var mark: AutomationMark?
    /// The token of whoever started it (nil: a schedule or a trigger): who is told how it ended.
    public var startedBy: Int64?

    public static let defaultParallelism = max(4, 2 * ProcessInfo.processInfo.activeProcessorCount)

    public init(only: [String]? = nil, parallelism: Int = RunOptions.defaultParallelism, minimumLogLevel: UInt32 = 2) {
        self.only = only
        self.parallelism = parallelism
        self.minimumLogLevel = minimumLogLevel
    }
}

public enum EngineError: Error, CustomStringConvertible, Sendable {
    case invalidFlow(FlowError)
    case noSuchRun(Int64)
    case noRuns
    case noSuchTable(String, known: [String])
    /// A run has no job of this task; `tasks` are those it has.
    case noSuchTask(String, run: Int64, tasks: [String])
    case cannotRetry(String)
    case store(String)
    /// patchbay.yaml has problems (each located).
    case invalidProject(FlowError)

    public var description: String {
        switch self {
        case .invalidFlow(let error): error.description
        case .noSuchRun(let id): "there is no run \(id)"
        case .noRuns: "there are no runs yet"
        case .noSuchTable(let name, let known):
            "no table '\(name)' in the catalog" + (known.isEmpty ? " (it is empty)" : "; tables: \(known.joined(separator: ", "))")
        case .noSuchTask(let task, let run, let tasks):
            "run \(run) has no task '\(task)'" + (tasks.isEmpty ? " (it has no jobs)" : "; its tasks: \(tasks.joined(separator: ", "))")
        case .cannotRetry(let reason): reason
        case .store(let reason): reason
        case .invalidProject(let error): "the project file is not valid:\n" + error.issues.map { "  \($0)" }.joined(separator: "\n")
        }
    }
}

/// The phase runner. One engine per project and process; any number of runs at once.
public final class Engine: Sendable {
    public let project: Project
    let store: Store
    public let registry: PluginRegistry
    let runner: TaskRunner
    let locks: LockManager
    /// How often a run polls the store for a termination request from another process.
    let terminationPollInterval: Duration
    /// Every wait, deadline and timestamp of the engine.
    public let time: EngineClock
    /// Runs starting and ending (debug), store writes that failed (error).
    let logger: Logger
    /// What this process already knows, so a command does no work twice: connectors resolved by `load`,
    /// flows handed to `submit` (by run id), and the master key, read once.
    let memo = Mutex<(connectors: [ConnectorReference: CatalogEntry], flows: [Int64: Flow], box: SecretBox?)>(([:], [:], nil))
    /// The project's rate limits (patchbay.yaml), shared by every job this engine runs.
    let rates: RateLimiter
    /// Starts a process that executes a run recovery made to resume a status check (`resumeRuns(with:)`).
    let resumption = Mutex<(@Sendable (Int64) -> Int32?)?>(nil)

    /// Opens a project's engine and its store (made on first use).
    /// - Parameter waiting: told, after a second, that another process holds the store's write lock.
    public convenience init(project: Project, registry: PluginRegistry, runner: TaskRunner = TaskRunner(),
                            terminationPollInterval: Duration = .milliseconds(100), time: EngineClock = .system,
                            logger: Logger = Logger(label: "patchbay.engine"), waiting: (@Sendable (String) -> Void)? = nil) throws {
        try project.prepareDirectories()
        let store: Store
        do { store = try Store(path: project.storePath, waiting: waiting) } catch let error as StoreError {
            throw EngineError.store("\(error)")
        } catch {
            throw EngineError.store("cannot open the store \(project.storePath): \(error)")
        }
        try self.init(project: project, store: store, registry: registry, runner: runner,
                      terminationPollInterval: terminationPollInterval, time: time, logger: logger)
    }

    /// An engine over a store already open (tests share one between engines of the same project).
    init(project: Project, store: Store, registry: PluginRegistry, runner: TaskRunner = TaskRunner(),
         terminationPollInterval: Duration = .milliseconds(100), time: EngineClock = .system,
         logger: Logger = Logger(label: "patchbay.engine")) throws {
        try project.prepareDirectories()
        self.project = project
        self.store = store
        self.registry = registry
        self.runner = runner
        self.locks = LockManager(directory: project.locksDirectory, clock: time)
        self.terminationPollInterval = terminationPollInterval
        self.time = time
        self.logger = logger
        do { rates = RateLimiter(limits: try ProjectSettings.load(file: project.root + "/" + Project.markerFile).rateLimits) } catch {
            throw EngineError.invalidProject(error)
        }
    }

    // MARK: loading and validating

    /// Reads a flow file and checks it completely: structure, references, connectors, parameter schemas.
    /// Plain `#` values are encrypted for their connector; with `sealFiles`, also in the files they
    /// came from (one note per file goes to `notes`).
    public func load(flowFile: String, sealFiles: Bool = false, notes: (@Sendable (String) -> Void)? = nil,
                     warnings: (@Sendable (FlowIssue) -> Void)? = nil) async throws -> Flow {
        var flow: Flow
        do { flow = try FlowLoader(configurationDirectory: project.configurationDirectory).load(file: flowFile) } catch let error as FlowError {
            throw EngineError.invalidFlow(error)
        }
        await refreshRegistry()
        var facts: [ConnectorReference: ConnectorFacts] = [:]
        for reference in Set(flow.tasks.map(\.connector)) {
            do {
                let entry = try await registry.resolve(reference.description)
                memo.withLock { $0.connectors[reference] = entry }
                facts[reference] = .available(id: entry.id ?? reference.id, version: entry.version ?? "?",
                                              parametersSchema: entry.descriptor?.parametersSchema ?? "",
                                              network: entry.descriptor?.network ?? .none, pattern: entry.pattern,
                                              lineage: entry.descriptor?.lineage ?? .undeclared)
            } catch let error as RegistryError {
                facts[reference] = .unavailable(error.description)
            } catch {
                facts[reference] = .unavailable("\(error)")
            }
        }
        let issues = FlowValidator.check(flow, connectors: facts).sorted {
            ($0.location?.line ?? 0, $0.location?.column ?? 0) < ($1.location?.line ?? 0, $1.location?.column ?? 0)
        }
        if !issues.isEmpty { throw EngineError.invalidFlow(FlowError(issues)) }
        for external in FlowValidator.externalInputs(flow, connectors: facts) { warnings?(externalInputWarning(external)) }
        for note in try sealSecrets(in: &flow, rewriteFiles: sealFiles) { notes?(note) }
        return flow
    }

    /// A task reads a table no task of its flow writes: it is whatever the catalog holds when the task runs.
    /// Says when that was written and by which job, so a stale table (or a typo) shows before the run.
    private func externalInputWarning(_ external: (task: FlowTask, input: String, table: String)) -> FlowIssue {
        func issue(_ message: String) -> FlowIssue {
            FlowIssue(external.task.location, "tasks.\(external.task.id).inputs.\(external.input)",
                      "reads \(external.table), which no task of this flow writes" + message)
        }
        guard let table = try? store.table(external.table) else {
            let known = ((try? store.tables()) ?? []).map(\.name)
            let closest = known.min { editDistance($0, external.table) < editDistance($1, external.table) }
            let hint = closest.flatMap { editDistance($0, external.table) <= 2 ? " (did you mean \($0)?)" : nil } ?? ""
            return issue(", and the catalog has no such table\(hint): the task fails unless another flow writes it first")
        }
        var producer = "job \(table.jobID)"
        if let job = try? store.job(table.jobID), let run = try? store.run(job.runID) {
            producer += " (flow \(run.flowName), task \(job.taskID))"
        }
        return issue("; the catalog's copy was written \(Engine.rfc3339(table.lastImportAt, milliseconds: true)) by \(producer)")
    }

    /// Rescans the plugin directories, probing only files new or changed since any command of this project.
    func refreshRegistry() async {
        await registry.remember(in: StoredProbeMemory(store: store))
        await registry.refresh()
    }

    // MARK: submitting

    /// Records a new run and its jobs (`created`; disabled and unselected tasks `skipped`).
    /// Starts what runs tasks (the runners' zygote) in the background, for a caller about to run some: its
    /// start-up then overlaps loading the flow and the catalog.
    public func prepareToRunTasks() { runner.prepare() }

    public func submit(_ flow: Flow, options: RunOptions = RunOptions()) throws -> RunRecord {
        // Variables: the flow's, with --var on top, kept in the run's snapshot (so a retry sees the same).
        var flow = flow
        if !options.variables.isEmpty || flow.variables != nil {
            flow.variables = (flow.variables ?? [:]).merging(options.variables) { _, given in given }
        }
        var unknown: [FlowIssue] = []
        for task in flow.tasks {
            for name in (try? Template.variables(in: task.parameters)) ?? [] where name.hasPrefix("vars.") {
                let variable = String(name.dropFirst(5))
                if flow.variables?[variable] == nil {
                    let known = (flow.variables ?? [:]).keys.sorted()
                    unknown.append(FlowIssue(task.location, "tasks.\(task.id).parameters",
                        "${{ \(name) }} has no value: define it under variables:, or pass --var \(variable)=VALUE"
                        + (known.isEmpty ? "" : " (variables: \(known.joined(separator: ", ")))")))
                }
            }
        }
        if !unknown.isEmpty { throw EngineError.invalidFlow(FlowError(unknown)) }
        // --only names tasks by id, or by name (a Keboola orchestration's tasks have numeric ids and names).
        var options = options
        options.only = options.only.map { names in
            names.map { name in
                if flow.task(name) != nil { return name }
                let named = flow.tasks.filter { $0.name == name }
                return named.count == 1 ? named[0].id : name
            }
        }
        if let only = options.only {
            var issues: [FlowIssue] = []
            for id in only where flow.task(id) == nil {
                let known = flow.tasks.map { $0.name == $0.id ? $0.id : "\($0.id) (\($0.name))" }
                issues.append(FlowIssue(nil, "--only", "the flow '\(flow.name)' has no task '\(id)' (tasks: \(known.joined(separator: ", ")))"))
            }
            // A selected task may use outputs of an unselected one: they come from its last successful job.
            for task in flow.tasks where only.contains(task.id) {
                for (_, reference) in (try? Template.references(in: task.parameters)) ?? [] where !only.contains(reference.task) {
                    if (try? store.latestOutputs(flow: flow.name, task: reference.task)) == nil {
                        issues.append(FlowIssue(task.location, "tasks.\(task.id).parameters",
                            "uses outputs of '\(reference.task)', which is not selected and has never succeeded; add it to --only"))
                    }
                }
            }
            if !issues.isEmpty { throw EngineError.invalidFlow(FlowError(issues)) }
        }
        let known = memo.withLock { $0.connectors }
        runner.anticipate(tasks: flow.tasks.count, plugins: Set(flow.tasks.map(\.connector)).compactMap { known[$0]?.path })
        let now = time.now()
        let jobs = flow.tasks.map { task in
            let selected = options.only?.contains(task.id) ?? true
            var job = JobRecord(runID: 0, taskID: task.id, taskName: task.name, phaseID: task.phase,
                                phaseIndex: flow.phases.firstIndex { $0.id == task.phase } ?? 0, attempt: 1,
                                connectorID: task.connector.id, configurationID: task.configurationID,
                                configurationKey: flow.configurationKey(for: task), continueOnFailure: task.continueOnFailure,
                                status: task.enabled && selected ? .created : .skipped, createdAt: now)
            if !task.enabled { job.message = "disabled in the flow" } else if !selected { job.message = "not selected (--only)" }
            return job
        }
        let run = try record(flow: flow, trigger: options.trigger, retryOf: nil, only: options.only, parallelism: options.parallelism, jobs: jobs,
                             mark: options.mark, startedBy: options.startedBy)
        memo.withLock { $0.flows[run.id!] = flow }
        return run
    }

    /// Loads and checks each flow file (every flow of the project when `files` is empty), one at a time:
    /// an invalid flow is its problems, and the others are still checked. Nothing is written.
    /// A valid flow may still carry warnings: what validation cannot refuse but a user should see.
    public func checkFlows(_ files: [String] = [], notes: (@Sendable (String) -> Void)? = nil) async throws
        -> [(file: String, flow: Result<Flow, FlowError>, warnings: [FlowIssue])] {
        var checked: [(file: String, flow: Result<Flow, FlowError>, warnings: [FlowIssue])] = []
        for file in files.isEmpty ? project.flowFiles() : files {
            let found = Mutex<[FlowIssue]>([])
            do {
                let flow = try await load(flowFile: file, sealFiles: false, notes: notes) { issue in found.withLock { $0.append(issue) } }
                // A schedule faster than the flow's recent runs: its runs will queue (as `schedule list` warns).
                var warnings = found.withLock { $0 }
                if !(flow.schedules ?? []).isEmpty {
                    for status in Automation(engine: self).schedules(now: time.now()) where status.flow == flow.name {
                        warnings += status.warnings.map { FlowIssue(status.schedule.location, "schedules.\(status.schedule.id)", $0) }
                    }
                }
                checked.append((file, .success(flow), warnings))
            } catch EngineError.invalidFlow(let problems) {
                checked.append((file, .failure(problems), []))
            }
        }
        return checked
    }

    /// The flow as a run recorded it when it started (its snapshot).
    public func recordedFlow(of runID: Int64) throws -> Flow {
        guard let original = try store.run(runID) else { throw EngineError.noSuchRun(runID) }
        do { return try JSONDecoder().decode(Flow.self, from: Data(original.flowJSON.utf8)) } catch {
            throw EngineError.store("run \(runID)'s recorded flow cannot be read: \(error)")
        }
    }

    /// A new run that re-runs the failed tasks and the failed or never-run phases of `runID`,
    /// reusing the jobs (and outputs) that succeeded. With `current` (the flow file as it is now), the tasks
    /// it re-runs use those definitions, and its run variables stay the recorded run's; without, the run's
    /// snapshot is used as it was.
    /// `tasks`, when given, is the whole selection (Keboola's Job Retry): those tasks run again, a task left out is
    /// reused if it succeeded and skipped if not. Without it, what did not succeed runs again (`retryDefaults`).
    public func submitRetry(of runID: Int64, parallelism: Int? = nil, current: Flow? = nil, trigger: String = "retry",
                            tasks selection: Set<String>? = nil) throws -> RunRecord {
        guard let original = try store.run(runID) else { throw EngineError.noSuchRun(runID) }
        guard original.status.isFinished else {
            throw EngineError.cannotRetry("run \(runID) is still \(original.status.rawValue); terminate it first or wait")
        }
        guard original.status != .success else { throw EngineError.cannotRetry("run \(runID) succeeded: there is nothing to retry") }
        var flow = try JSONDecoder().decode(Flow.self, from: Data(original.flowJSON.utf8))
        if var current {
            current.variables = flow.variables
            flow = current
        }
        let previous = Dictionary(try store.jobs(run: runID).map { ($0.taskID, $0) }, uniquingKeysWith: { _, last in last })
        let now = time.now()
        // A succeeded job that set secret outputs (an authentication) is run again when a task of a later phase
        // is: its secrets were never stored, so reusing it would leave those tasks without them.
        let phaseOf = Dictionary(flow.phases.enumerated().map { ($1.id, $0) }, uniquingKeysWith: { first, _ in first })
        if let selection {
            let unknown = selection.subtracting(flow.tasks.map(\.id)).sorted()
            guard unknown.isEmpty else {
                throw EngineError.cannotRetry("run \(runID)'s flow has no task \(unknown.map { "'\($0)'" }.joined(separator: ", ")) (tasks: \(flow.tasks.map(\.id).joined(separator: ", ")))")
            }
            guard !selection.isEmpty else { throw EngineError.cannotRetry("no task is selected: select at least one task to run again") }
        }
        func selected(_ task: FlowTask) -> Bool {
            selection?.contains(task.id) ?? (previous[task.id]?.status != .success && previous[task.id]?.status != .skipped)
        }
        let rerunPhases = flow.tasks.filter(selected).compactMap { phaseOf[$0.phase] }
        let latestRerun = rerunPhases.max() ?? -1
        func mustRerun(_ old: JobRecord) throws -> Bool {
            guard let phase = phaseOf[old.phaseID], phase < latestRerun else { return false }
            return try store.outputs(job: old.reusedJobID ?? old.id!).contains(where: \.isSecret)
        }
        var reuse: [String: JobRecord] = [:]
        let jobs = flow.tasks.map { task -> JobRecord in
            let old = previous[task.id]
            var job = JobRecord(runID: 0, taskID: task.id, taskName: task.name, phaseID: task.phase,
                                phaseIndex: flow.phases.firstIndex { $0.id == task.phase } ?? 0,
                                attempt: (old?.attempt ?? 0) + (old?.startedAt == nil || old?.reusedJobID != nil ? 0 : 1),
                                connectorID: task.connector.id, configurationID: task.configurationID,
                                configurationKey: flow.configurationKey(for: task), continueOnFailure: task.continueOnFailure,
                                status: .created, createdAt: now)
            job.attempt = max(job.attempt, 1)
            switch old?.status {
            case .success? where selection?.contains(task.id) == true:
                job.attempt = old!.attempt + 1
                job.message = "selected to run again"
            case .success? where (try? mustRerun(old!)) == true:
                job.attempt = old!.attempt + 1
                job.message = "run again: its secret outputs are never stored, and later tasks that may need them run again"
            case .success?: reuse[task.id] = old
            case .skipped? where selection?.contains(task.id) != true: job.status = .skipped; job.message = old?.message
            case _ where !selected(task): job.status = .skipped; job.message = "not selected for the retry"
            default: break
            }
            return job
        }
        var run = try record(flow: flow, trigger: trigger, retryOf: runID,
                             only: original.onlyTasks.flatMap { try? JSONDecoder().decode([String].self, from: Data($0.utf8)) },
                             parallelism: parallelism ?? original.parallelism, jobs: jobs)
        for job in try store.jobs(run: run.id!) {
            if let old = reuse[job.taskID] { _ = try store.reuse(job: job, from: old) }
        }
        run = try store.run(run.id!) ?? run
        return run
    }

    private func record(flow: Flow, trigger: String, retryOf: Int64?, only: [String]?, parallelism: Int,
                        jobs: [JobRecord], mark: AutomationMark? = nil, startedBy: Int64? = nil) throws -> RunRecord {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let flowJSON = String(decoding: try encoder.encode(flow), as: UTF8.self)
        let onlyJSON = try only.map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) }
        let host = ProcessIdentity.current
        var run = RunRecord(flowName: flow.name, flowFile: flow.file, flowJSON: flowJSON, status: .created, trigger: trigger,
                            retryOf: retryOf, onlyTasks: onlyJSON, parallelism: max(1, parallelism), hostPID: host.pid,
                            hostStart: host.startTicks, createdAt: time.now())
        // Every job of an orchestration acts as the orchestration's own token, whoever started the run.
        run.tokenID = try orchestrationToken(for: flow).id
        run.startedByTokenID = startedBy
        return try store.insert(run: run, jobs: jobs, mark: mark).0
    }

    // MARK: terminating

    /// Asks whoever runs `runID` to stop it (cancel → SIGTERM → SIGKILL for running jobs). If its host is
    /// gone, recovery records the end at once. Returns the status the run had.
    public func requestTermination(of runID: Int64, reason: String = "terminated on request") throws -> JobStatus {
        guard let status = try store.requestTermination(run: runID, reason: reason) else { throw EngineError.noSuchRun(runID) }
        _ = recover()
        return status
    }

    /// Asks whoever runs `runID` to stop the job of `task` alone (its latest attempt, by task id or name): a
    /// running job gets cancel → SIGTERM → SIGKILL and ends `terminated`, a job not started yet is cancelled.
    /// The rest of the run goes on by the phase rules (a stopped job fails its phase). Returns the job as it was.
    public func requestTermination(of runID: Int64, task: String, reason: String = "terminated on request") throws -> JobRecord {
        guard try store.run(runID) != nil else { throw EngineError.noSuchRun(runID) }
        let jobs = try store.jobs(run: runID)
        guard let job = jobs.last(where: { $0.taskID == task }) ?? jobs.last(where: { $0.taskName == task }) else {
            throw EngineError.noSuchTask(task, run: runID, tasks: Array(Set(jobs.map(\.taskID))).sorted())
        }
        _ = try store.requestTermination(job: job.id!, reason: reason)
        _ = recover()
        return job
    }
}
