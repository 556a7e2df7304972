import CPatchbaySys
import Foundation
public import Logging
import PatchbayCore
import PatchbayWire
#if canImport(Glibc)
import Glibc
#endif

func monotonicNow() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

extension Duration {
    var nanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        return UInt64(max(0, seconds)) * 1_000_000_000 + UInt64(max(0, attoseconds) / 1_000_000_000)
    }
}

/// Runs connector tasks, each in a runner process of its own.
public struct TaskRunner: Sendable {
    public let runnerExecutable: String
    public let confinement: ConfinementMode
    /// The uid and kernel layers every task and probe runs under.
    public let sandbox: SandboxPolicy
    /// Each task's end, at debug level: which plugin, how it ended, how long it took.
    public let logger: Logger

    /// Gets the runners' zygote going in the background: a host about to run tasks calls this first, and its
    /// first task finds the zygote ready rather than waiting for it to start.
    public func prepare() {
        Spawner.shared.prepareZygote(executable: runnerExecutable, seccomp: sandbox.layers.contains(.seccomp), swiftRuntime: false)
    }

    /// A run of `tasks` tasks is about to start: what its first tasks would otherwise wait for is done now, in
    /// the background (in cgroup mode: their groups; see `CgroupPool.warm`).
    /// `plugins`: the files its tasks load, so that the zygote for those that link the Swift runtime starts now too.
    public func anticipate(tasks: Int, plugins: [String] = []) {
        guard tasks > 0 else { return }
        let mode = confinement, executable = runnerExecutable, seccomp = sandbox.layers.contains(.seccomp)
        DispatchQueue.global(qos: .userInitiated).async {
            if Set(plugins).contains(where: PluginLinkage.needsSwiftRuntime) {
                Spawner.shared.prepareZygote(executable: executable, seccomp: seccomp, swiftRuntime: true)
            }
            CgroupPool.shared.warm(mode: mode, pairs: min(tasks, 8))
        }
    }

    public init(runnerExecutable: String = TaskRunner.defaultRunnerPath, confinement: ConfinementMode = .current,
                sandbox: SandboxPolicy = .current, logger: Logger = Logger(label: "patchbay.runner")) {
        self.runnerExecutable = runnerExecutable
        self.confinement = confinement
        self.sandbox = sandbox
        self.logger = logger
    }

    /// Removes what this process keeps for its next tasks (idle workspaces, idle cgroups): for a process
    /// about to exit, so that a command leaves no `task-*` directory or group behind.
    public static func releaseIdleResources() {
        WorkspacePool.shared.removeIdle()
        CgroupPool.shared.removeAll()
    }

    /// `$PATCHBAY_RUNNER`, else `patchbay-runner` beside the running executable.
    public static var defaultRunnerPath: String {
        if let path = ProcessInfo.processInfo.environment["PATCHBAY_RUNNER"], !path.isEmpty { return path }
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        if let executable = Bundle.main.executableURL { directory = executable.deletingLastPathComponent() }
        // Test bundles live one level deeper (…/debug/PatchbayPackageTests.xctest).
        for candidate in [directory, directory.deletingLastPathComponent()] {
            let path = candidate.appendingPathComponent("patchbay-runner").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return directory.appendingPathComponent("patchbay-runner").path
    }

    /// Runs one task and waits for it, off the cooperative thread pool.
    public func run(_ spec: TaskSpec, host: some TaskHost, control: TaskControl = TaskControl()) async -> TaskReport {
        await withCheckedContinuation { continuation in
            BlockingThreads.shared.run {
                continuation.resume(returning: self.runBlocking(spec, host: host, control: control))
            }
        }
    }

    /// Runs one task on the calling thread.
    public func runBlocking(_ spec: TaskSpec, host: some TaskHost, control: TaskControl = TaskControl()) -> TaskReport {
        var supervisor = Supervisor(runner: self, spec: spec, host: host, control: control)
        let report = supervisor.run()
        logger.debug("task ended", metadata: ["plugin": "\(spec.pluginPath)", "mode": "\(spec.mode)",
                                              "outcome": "\(report.classification.summary)"])
        return report
    }
}

private let ignoreSIGPIPE: Void = { signal(SIGPIPE, SIG_IGN) }()

/// A table report the host will not act on (the runner is untrusted: its paths are checked).
struct ReportedTableRefused: Error, CustomStringConvertible {
    let description: String
}

/// The checks on a table file a runner reports, before the host acts on it: the runner is connector code.
enum ReportedTables {
    /// A table a runner reports is acted on only if its name is a valid table name, its path is the one the
    /// runner was told to write, and that path is a regular file (not a link a connector swapped in).
    ///
    /// The file is opened beneath the workspace with no link of any kind on the way (openat2), must be one
    /// regular file with no other name (no hard link to a file elsewhere), owned by the task, and must hold
    /// exactly the columns and rows the runner claimed. The task's processes are all gone by now, so what
    /// was checked is what the host moves.
    static func check(_ table: TableFile, workspace: String, owner: UInt32?) throws(ReportedTableRefused) {
        let fd = try open(table, workspace: workspace, owner: owner)
        defer { close(fd) }
        try checkContent(fd, of: table, at: table.path)
    }

    /// The file a runner reported for `table`, opened for reading after the checks on its name, its path
    /// and the file itself (see check).
    static func open(_ table: TableFile, workspace: String, owner: UInt32?) throws(ReportedTableRefused) -> Int32 {
        func refuse(_ why: String) -> ReportedTableRefused {
            ReportedTableRefused(description: "table '\(table.name)': \(why); nothing was stored")
        }
        guard TableFile.isValidName(table.name) else {
            throw ReportedTableRefused(description: "the runner reported a table named '\(table.name)', which is not a valid table name")
        }
        guard table.path == table.expectedWorkspacePath else {
            throw ReportedTableRefused(description: "the runner reported table '\(table.name)' at '\(table.path)', not at \(table.expectedWorkspacePath)")
        }
        let directory = Glibc.open(workspace, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard directory >= 0 else { throw refuse("the workspace cannot be opened: \(String(cString: strerror(errno)))") }
        defer { close(directory) }
        let fd = pb_open_beneath(directory, table.path)
        guard fd >= 0 else {
            throw refuse("\(table.path) is not a plain file of the workspace (\(String(cString: strerror(-fd))); a link, or missing)")
        }
        var info = stat()
        let why: String? = if fstat(fd, &info) != 0 || info.st_mode & S_IFMT != S_IFREG { "\(table.path) is not a regular file" }
            else if info.st_nlink != 1 { "\(table.path) has other names (a hard link to a file elsewhere)" }
            else if info.st_uid != (owner ?? geteuid()) { "\(table.path) is owned by uid \(info.st_uid), not the task's" }
            else { nil }
        if let why {
            close(fd)
            throw refuse(why)
        }
        return fd
    }

    /// Whether the file at `fd` is well-formed CSV holding the header and rows the runner claimed for `table`.
    static func checkContent(_ fd: Int32, of table: TableFile, at place: String) throws(ReportedTableRefused) {
        func refuse(_ why: String) -> ReportedTableRefused {
            ReportedTableRefused(description: "table '\(table.name)': \(why); nothing was stored")
        }
        var records: UInt64 = 0
        let scanned = pb_csv_records(fd, &records)
        guard scanned == 0 else { throw refuse("\(place) is not well-formed CSV (\(String(cString: strerror(scanned))))") }
        guard records >= 1, records - 1 == UInt64(table.rowCount) else {
            throw refuse("the runner reported \(table.rowCount) rows, the file holds \(max(records, 1) - 1)")
        }
        let header = headerFields(fd)
        guard header == table.columns else {
            throw refuse("the runner reported columns \(table.columns), the file's header is \(header)")
        }
    }

    /// The fields of a CSV file's first record (RFC 4180 quoting), from its first 64 KiB.
    static func headerFields(_ fd: Int32) -> [String] {
        var bytes = [UInt8](repeating: 0, count: 65536)
        let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return [] }
        return CSV.records(bytes[..<n], limit: 1).first ?? []
    }
}

/// One task's conversation with its runner process, from spawn to cleanup.
struct Supervisor<Host: TaskHost> {
    let runner: TaskRunner
    let spec: TaskSpec
    let host: Host
    let control: TaskControl

    private var logs: [LogLine] = []
    private var outputs: [TaskOutput] = []
    private var newState: String?
    private var descriptor: ConnectorDescriptor?
    private var loadNanoseconds: UInt64 = 0
    private var result: TaskOutcome?
    private var phase: RunnerPhase?
    private var ready = false
    /// The groups the runner was told to join, checked at its handshake.
    private var joinedGroups: TaskCgroups?
    private var violation: String?
    /// The tables the host took: a success's, or a data failure's evidence.
    private var committed: [TableFile] = []
    /// The last checkpoint the runner reported (paths in its workspace), checked as far as a frame can be.
    private var checkpoint: Checkpoint?
    /// Where that checkpoint was kept once the runner ended without success.
    private var keptCheckpoint: Checkpoint?
    /// The tables the connector declares (ABI 1.4), each pattern resolved once with this task's parameters
    /// (nil name: its parameter is not set); nil when it declares none. From the probed descriptor when the host
    /// has one, so even a frame before the runner's own descriptor is held to it.
    private var declaredTables: [(name: String?, pattern: TablePattern)]?
    /// What held this task, for its report (set once the uid and cgroups are known).
    private var sandbox = ""
    /// 16 random bytes from two draws (one system call each), not sixteen.
    private var nonce: [UInt8] = withUnsafeBytes(of: (UInt64.random(in: 0...UInt64.max), UInt64.random(in: 0...UInt64.max))) { Array($0) }
    private var frames = FrameAccumulator()
    private var stdoutCapture = OutputCapture(source: .stdout)
    private var stderrCapture = OutputCapture(source: .stderr)
    private var budget = LogBudget()
    private var stop: StopSequence
    /// One read buffer for the socket and both pipes, reused on every wake-up;
    /// allocated in init, freed when run() returns (a Supervisor runs once).
    private let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)

    init(runner: TaskRunner, spec: TaskSpec, host: Host, control: TaskControl) {
        self.runner = runner
        self.spec = spec
        self.host = host
        self.control = control
        let start = monotonicNow()
        stop = StopSequence(deadline: spec.limits.timeout.map { start + $0.nanoseconds }, grace: spec.limits.killGrace.nanoseconds)
        if let expected = spec.expectedDescriptor { declaredTables = Self.resolve(expected, parametersJSON: spec.parametersJSON) }
    }

    /// Each declared table pattern with the name it gives this task: the string parameter, or its schema's default.
    static func resolve(_ descriptor: ConnectorDescriptor, parametersJSON: String) -> [(name: String?, pattern: TablePattern)]? {
        guard let patterns = descriptor.lineage.tables else { return nil }
        func object(_ json: String) -> [String: Any]? { try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] }
        let given = object(parametersJSON) ?? [:]
        let properties = object(descriptor.parametersSchema)?["properties"] as? [String: Any] ?? [:]
        let value = { (name: String) -> String? in
            if let set = given[name] { return set as? String }
            return (properties[name] as? [String: Any])?["default"] as? String
        }
        return patterns.map { ($0.tableName(parameter: value), $0) }
    }

    /// Whether the connector may write `table`: always when it declares no tables.
    private func mayWrite(_ table: String) -> Bool {
        declaredTables.map { $0.contains { $0.name == table } } ?? true
    }

    private mutating func note(_ level: LogLevel, _ source: LogSource, _ message: String) {
        let line = LogLine(time: Date(), level: level, source: source, message: message)
        logs.append(line)
        host.handle(.log(line))
    }

    /// The tables to commit: a success's, or a validation's evidence when it found bad data; nothing for any other end.
    private func tablesToCommit(_ classification: ExitClassification) -> [TableFile] {
        switch result {
        case .succeeded(let tables)? where classification.isSuccess: tables
        case .failed(.data, _, _, let evidence)? where classification.failureClass == .data && descriptor?.pattern == .validation
                && (descriptor?.abiVersion ?? 0) & 0xFFFF >= 4: evidence
        default: []
        }
    }

    private var internalMessage: String {
        if case .failed(_, _, let message, _) = result { return message }
        return ""
    }

    private func report(_ classification: ExitClassification, started: UInt64, pid: Int32? = nil, peak: UInt64 = 0,
                        leftovers: Int = 0) -> TaskReport {
        TaskReport(classification: classification, descriptor: descriptor, logs: logs, outputs: outputs,
                   tables: committed, newStateJSON: newState, checkpoint: keptCheckpoint,
                   internalMessage: internalMessage, runnerPID: pid, peakMemoryBytes: peak,
                   wallTime: .nanoseconds(Int64(monotonicNow() - started)), leftoverProcessesKilled: leftovers,
                   loadTime: .nanoseconds(Int64(loadNanoseconds)), confinement: runner.confinement, sandbox: sandbox)
    }

    mutating func run() -> TaskReport {
        _ = ignoreSIGPIPE
        defer { readBuffer.deallocate() }
        let started = monotonicNow()
        let taskID = String(UInt64.random(in: 0...UInt64.max), radix: 16)

        // The task's own uid, held until every process of the task is gone (the defers run in reverse).
        var user: TaskUser?
        if runner.sandbox.dropsPrivileges {
            guard let leased = TaskUser.lease() else {
                return report(.runnerUnavailable("no free task uid in \(TaskUser.base)…\(TaskUser.base + TaskUser.slots - 1) (\(TaskUser.directory))"), started: started)
            }
            user = leased
        }
        defer { user?.release() }

        // The workspace: private and empty, owned by the task's uid; handed back to the pool afterwards
        // (kept only if still pristine).
        let workspace: String
        do { workspace = try WorkspacePool.shared.take(root: spec.workspaceRoot, owner: user?.uid) } catch {
            return report(.runnerUnavailable("\(error)"), started: started)
        }
        defer { WorkspacePool.shared.giveBack(workspace, root: spec.workspaceRoot, owner: user?.uid) }

        // Input tables are opened by the runner before it gives up the host's rights: the task reads them
        // through those descriptors and never sees the project's directories.
        for input in spec.inputs where access(input.path, R_OK) != 0 {
            return report(.failed(.config, message: "input table '\(input.name)': cannot read \(input.path): \(String(cString: strerror(errno)))"), started: started)
        }
        let inputs = spec.inputs
        // An earlier attempt's checkpoint: its tables go back where the runner writes, as the task's.
        var resumedTables: [TableMark] = []
        if let resume = spec.resume {
            do { resumedTables = try Checkpoints.restore(resume, into: workspace, owner: user?.uid) } catch {
                return report(.failed(.system, message: "the checkpoint to resume from could not be restored: \(error)"), started: started)
            }
        }

        var cgroups: TaskCgroups?
        if case .cgroupV1 = runner.confinement {
            do { cgroups = try TaskCgroups(mode: runner.confinement, taskID: taskID, limits: spec.limits) } catch {
                note(.warning, .host, "cgroup confinement unavailable for this task (\(error)); using rlimits only")
                runner.logger.warning("cgroup confinement unavailable for a task; using rlimits only", metadata: ["error": "\(error)"])
            }
        }

        sandbox = Self.describe(user: user?.uid, policy: runner.sandbox, network: spec.network, cgroups: cgroups != nil)

        // Descriptors: socket (fd 3 in the runner), cancel pipe (fd 4), stdout, stderr.
        var pair: [Int32] = [-1, -1]
        var cancelPipe: [Int32] = [-1, -1], outPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0,
              pb_pipe_cloexec(&cancelPipe) == 0, pb_pipe_cloexec(&outPipe) == 0, pb_pipe_cloexec(&errPipe) == 0 else {
            let reason = String(cString: strerror(errno))
            for fd in pair + cancelPipe + outPipe + errPipe where fd >= 0 { close(fd) }
            cgroups?.killAllAndRelease()
            return report(.runnerUnavailable("cannot create descriptors: \(reason)"), started: started)
        }
        let socket = pair[0]
        let spawned = Spawner.shared.spawnRunner(executable: runner.runnerExecutable, seccomp: runner.sandbox.layers.contains(.seccomp),
                                                 swiftRuntime: PluginLinkage.needsSwiftRuntime(spec.pluginPath),
                                                 descriptors: [pair[1], cancelPipe[0], outPipe[1], errPipe[1]])
        for fd in [pair[1], cancelPipe[0], outPipe[1], errPipe[1]] { close(fd) }
        let cancelWrite = cancelPipe[1], stdoutRead = outPipe[0], stderrRead = errPipe[0]
        defer { for fd in [socket, cancelWrite, stdoutRead, stderrRead] { close(fd) } }

        let pid: pid_t
        switch spawned {
        case .success(let value): pid = value
        case .failure(let error):
            cgroups?.killAllAndRelease()
            return report(.runnerUnavailable(error.description), started: started)
        }
        // The handshake: hello goes out before the runner can do anything.
        var confinement = Confinement(openFiles: spec.limits.openFiles, fileSizeBytes: spec.limits.fileSizeBytes)
        confinement.cpuSeconds = spec.limits.cpuSeconds
        switch runner.confinement {
        case .cgroupV1:
            if cgroups == nil {
                confinement.addressSpaceBytes = spec.limits.memoryBytes > 0 ? spec.limits.memoryBytes + (256 << 20) : 0
            }
        case .unprivilegedUser(let uid, let gid):
            confinement.addressSpaceBytes = spec.limits.memoryBytes > 0 ? spec.limits.memoryBytes + (256 << 20) : 0
            confinement.processes = spec.limits.processes
            confinement.userID = user?.uid ?? uid
            confinement.groupID = user?.uid ?? gid
        case .rlimits:
            confinement.addressSpaceBytes = spec.limits.memoryBytes > 0 ? spec.limits.memoryBytes + (256 << 20) : 0
            confinement.processes = spec.limits.processes
        }
        if let user {
            confinement.userID = user.uid
            confinement.groupID = user.uid
        }
        confinement.layers = runner.sandbox.layers
        confinement.readablePaths = runner.sandbox.readablePaths + spec.readablePaths
        confinement.writablePaths = spec.writablePaths
        confinement.network = spec.network
        // The runner joins its groups itself, first thing (see `Confinement.cgroupTasks`); the host checks at the
        // handshake that it did.
        confinement.cgroupTasks = cgroups?.tasksFiles ?? []
        joinedGroups = cgroups
        let hello = Hello(nonce: nonce, mode: spec.mode, pluginPath: spec.pluginPath, workspace: workspace,
                          parametersJSON: spec.parametersJSON, stateJSON: spec.stateJSON, inputs: inputs,
                          confinement: confinement, deadlineNanoseconds: stop.deadline ?? 0,
                          minimumLogLevel: spec.minimumLogLevel, writableBuckets: spec.writableBuckets,
                          resumedTables: resumedTables)
        for fd in [socket, stdoutRead, stderrRead] { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        send(HostMessage.hello(hello).frame(), on: socket)
        // Recorded once the runner has its hello: the store's write overlaps the runner's confinement instead of
        // delaying it (nothing the runner sends is read before this).
        host.handle(.started(runnerPID: pid))

        let pidDescriptor = pb_pidfd_open(pid)
        defer { if pidDescriptor >= 0 { close(pidDescriptor) } }

        // The loop: until the runner exits.
        var socketOpen = true, stdoutOpen = true, stderrOpen = true
        var exited = false
        while !exited {
            let now = monotonicNow()
            apply(stop.advance(now: now), pid: pid, cancelWrite: cancelWrite)
            var fds = [
                pollfd(fd: socketOpen ? socket : -1, events: Int16(POLLIN), revents: 0),
                pollfd(fd: stdoutOpen ? stdoutRead : -1, events: Int16(POLLIN), revents: 0),
                pollfd(fd: stderrOpen ? stderrRead : -1, events: Int16(POLLIN), revents: 0),
                pollfd(fd: pidDescriptor, events: Int16(POLLIN), revents: 0),
                pollfd(fd: control.eventDescriptor, events: Int16(POLLIN), revents: 0),
            ]
            var timeout = stop.timeoutMilliseconds(now: now)
            if pidDescriptor < 0 { timeout = timeout < 0 ? 50 : min(timeout, 50) }  // no pidfd: poll waitpid
            host.flush()
            let n = poll(&fds, nfds_t(fds.count), timeout)
            if n < 0 && errno != EINTR { break }
            if fds[0].revents != 0 { socketOpen = readSocket(socket, pid: pid, cancelWrite: cancelWrite) }
            if fds[1].revents != 0 { stdoutOpen = readStream(stdoutRead, stdout: true) }
            if fds[2].revents != 0 { stderrOpen = readStream(stderrRead, stdout: false) }
            if fds[4].revents != 0 {
                var value: UInt64 = 0
                _ = read(control.eventDescriptor, &value, 8)
                apply(stop.begin(.cancelled, now: monotonicNow()), pid: pid, cancelWrite: cancelWrite)
            }
            if pidDescriptor >= 0 {
                exited = fds[3].revents != 0
            } else {
                var info = siginfo_t()
                exited = waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info._sifields._sigchld.si_pid == pid
            }
        }

        // Reap, sweep leftovers, drain what is still buffered.
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
        let counters = cgroups?.counters
        // Leftovers: the cgroup lists them all; without one, everything running as the task's own uid;
        // without that either, the runner's session.
        let leftovers = cgroups?.killAllAndRelease() ?? user.map { ProcessIdentity.killUser($0.uid) } ?? killSession(pid)
        kill(-pid, SIGKILL)
        if socketOpen { _ = readSocket(socket, pid: pid, cancelWrite: cancelWrite) }
        // The runner is gone and its leftovers killed: no more bytes will come that could finish a frame,
        // even if some other process still holds a copy of the socket (and so the host never sees EOF).
        if frames.pendingByteCount > 0 && violation == nil {
            protocolViolation("the connection closed inside a frame (\(frames.pendingByteCount) bytes of a frame received)", pid: pid, cancelWrite: cancelWrite)
        }
        drain(stdoutRead, stderrRead, stdoutOpen: stdoutOpen, stderrOpen: stderrOpen)
        if leftovers > 0 {
            note(.warning, .host, "killed \(leftovers) process(es) the connector left running after its task")
        }
        if budget.dropped > 0 {
            note(.warning, .host, "output truncated: \(budget.dropped) bytes of stdout/stderr beyond the log limit were dropped")
        }

        host.flush()
        let peak = max(UInt64(usage.ru_maxrss) * 1024, counters?.peakMemoryBytes ?? 0)
        var classification = classify(status: status, peakBytes: peak, counters: counters)
        // A task that did not succeed keeps its last checkpoint for the job's next attempt.
        if !classification.isSuccess, let checkpoint, let directory = spec.checkpointDirectory {
            do {
                keptCheckpoint = try Checkpoints.keep(checkpoint, workspace: workspace, owner: user?.uid, in: directory)
            } catch {
                note(.warning, .host, "the task's last checkpoint could not be kept (the next attempt starts from the committed state): \(error)")
            }
        }

        // Tables land only for a success (or as a data failure's evidence), and only through the host.
        let tables = tablesToCommit(classification)
        if !tables.isEmpty {
            // Each path the runner reported must name a file in its own out/tables/: anything else is a lie.
            let files = tables.map { TableFile(name: $0.name, columns: $0.columns, types: $0.types, rowCount: $0.rowCount, path: workspace + "/" + $0.path) }
            do {
                for table in tables {
                    // A result frame is the connector's word too: a table it never declared is refused here as well.
                    if !mayWrite(table.name) {
                        throw ReportedTableRefused(description: "table '\(table.name)': the connector does not declare it; nothing was stored")
                    }
                    try ReportedTables.check(table, workspace: workspace, owner: user?.uid)
                }
                try host.commit(tables: files)
                committed = tables
            } catch where classification.isSuccess {
                classification = .failed(.system, message: "the task succeeded but its tables could not be stored: \(error)")
            } catch {
                note(.warning, .host, "the failed task's evidence tables could not be stored: \(error)")
            }
        }
        var finished = report(classification, started: started, pid: pid, peak: peak, leftovers: leftovers)
        finished.peakResidentBytes = UInt64(usage.ru_maxrss) * 1024
        return finished
    }

    // MARK: - Stopping

    private func apply(_ action: StopSequence.Action, pid: pid_t, cancelWrite: Int32) {
        switch action {
        case .none: break
        case .requestCancel:
            var byte: UInt8 = 1
            _ = write(cancelWrite, &byte, 1)
        case .terminate: kill(-pid, SIGTERM)
        case .kill: kill(-pid, SIGKILL)
        }
    }

    /// Whether two descriptors claim the same things: what the host grants or checks by them.
    static func sameGrants(_ a: ConnectorDescriptor, _ b: ConnectorDescriptor) -> Bool {
        a.id == b.id && a.version == b.version && a.pattern == b.pattern && a.credentialNames == b.credentialNames
            && a.network == b.network && a.capabilities == b.capabilities && a.lineage == b.lineage
    }



    /// "uid 7901851, landlock ABI 7, seccomp, network none, cgroups": what held one task.
    static func describe(user: UInt32?, policy: SandboxPolicy, network: NetworkAccess, cgroups: Bool) -> String {
        var parts = [user.map { "uid \($0)" } ?? "uid \(getuid()) (not dropped)"]
        parts.append(policy.layers.contains(.landlock) ? "landlock ABI \(policy.landlockABI)" : "no landlock")
        parts.append(policy.layers.contains(.seccomp) ? "seccomp" : "no seccomp")
        parts.append("network \(network)")
        parts.append(cgroups ? "cgroups (pids, memory)" : "rlimits")
        return parts.joined(separator: ", ")
    }

    // What a runner may send, at most: everything it says is input from the connector.
    static var maxStateBytes: Int { 1 << 20 }
    static var maxOutputs: Int { 256 }
    static var maxNameBytes: Int { 256 }
    static var maxOutputBytes: Int { 64 << 10 }
    static var maxProgressBytes: Int { 1 << 10 }

    /// SIGKILLs every process still in the runner's session; returns how many there were.
    private func killSession(_ sid: pid_t) -> Int { ProcessIdentity.killSession(sid) }

    // MARK: - Reading

    private func send(_ frame: [UInt8], on socket: Int32) {
        frame.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.send(socket, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                if n > 0 { offset += n; continue }
                if n < 0 && (errno == EAGAIN || errno == EINTR) {
                    var out = pollfd(fd: socket, events: Int16(POLLOUT), revents: 0)
                    if poll(&out, 1, 1000) >= 0 { continue }
                }
                return  // the runner is gone; its exit tells the rest
            }
        }
    }

    /// Reads what the socket has; false once it is closed.
    private mutating func readSocket(_ socket: Int32, pid: pid_t, cancelWrite: Int32) -> Bool {
        while true {
            let n = recv(socket, readBuffer.baseAddress, readBuffer.count, 0)
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { return true }
                // ECONNRESET and the like: the runner is gone; what it left half-sent is judged as at EOF.
            }
            if n <= 0 {
                if frames.pendingByteCount > 0 && violation == nil {
                    protocolViolation("the connection closed inside a frame (\(frames.pendingByteCount) bytes of a frame received)", pid: pid, cancelWrite: cancelWrite)
                }
                return false
            }
            if violation != nil { continue }  // discard everything after a violation
            frames.append(UnsafeRawBufferPointer(rebasing: readBuffer[0..<n]))
            do {
                while let body = try frames.nextFrame() {
                    let message = try RunnerMessage.decode(body)
                    handle(message, socket: socket, pid: pid, cancelWrite: cancelWrite)
                    if violation != nil { break }
                }
            } catch {
                protocolViolation("\(error)", pid: pid, cancelWrite: cancelWrite)
            }
        }
    }

    private mutating func protocolViolation(_ detail: String, pid: pid_t, cancelWrite: Int32) {
        guard violation == nil else { return }
        violation = detail
        note(.error, .host, "protocol violation: \(detail)")
        apply(stop.begin(.protocolViolation, now: monotonicNow()), pid: pid, cancelWrite: cancelWrite)
    }

    private mutating func handle(_ message: RunnerMessage, socket: Int32, pid: pid_t, cancelWrite: Int32) {
        if result != nil {
            protocolViolation("a message arrived after the result", pid: pid, cancelWrite: cancelWrite)
            return
        }
        switch message {
        case .ready(let version, let echoed, let runnerPID):
            guard !ready else { return protocolViolation("a second ready message", pid: pid, cancelWrite: cancelWrite) }
            guard version == Wire.protocolVersion else {
                return protocolViolation("the runner speaks protocol \(version); this host speaks \(Wire.protocolVersion)", pid: pid, cancelWrite: cancelWrite)
            }
            guard echoed == nonce, runnerPID == pid else {
                return protocolViolation("the handshake did not echo this task's nonce and pid", pid: pid, cancelWrite: cancelWrite)
            }
            if let joinedGroups, !joinedGroups.isOccupied {
                return protocolViolation("the runner did not join its task's cgroups", pid: pid, cancelWrite: cancelWrite)
            }
            ready = true
        case .phase(let value):
            if value != .confining && !ready {
                return protocolViolation("phase \(value.rawValue) before the handshake", pid: pid, cancelWrite: cancelWrite)
            }
            phase = value
            host.handle(.phase(value))
        default:
            guard ready else { return protocolViolation("a message before the handshake", pid: pid, cancelWrite: cancelWrite) }
            handleAfterHandshake(message, socket: socket, pid: pid, cancelWrite: cancelWrite)
        }
    }

    private mutating func handleAfterHandshake(_ message: RunnerMessage, socket: Int32, pid: pid_t, cancelWrite: Int32) {
        switch message {
        case .ready, .phase:
            break
        case .descriptor(let info):
            guard descriptor == nil else { return protocolViolation("a second descriptor", pid: pid, cancelWrite: cancelWrite) }
            if let expected = spec.expectedDescriptor, !Self.sameGrants(expected, info) {
                return protocolViolation("the plugin describes itself as \(info.id)@\(info.version) (credentials \(info.credentialNames), network \(info.network)), not as it did when probed (\(expected.id)@\(expected.version), credentials \(expected.credentialNames), network \(expected.network))", pid: pid, cancelWrite: cancelWrite)
            }
            descriptor = info
            if declaredTables == nil { declaredTables = Self.resolve(info, parametersJSON: spec.parametersJSON) }
            host.handle(.descriptor(info))
        case .loaded(let nanoseconds):
            loadNanoseconds = nanoseconds
        case .log(let level, let text):
            let line = LogLine(time: Date(), level: LogLevel(abi: level), source: .connector, message: text)
            if budget.admit(Array(text.utf8)) != nil {
                logs.append(line)
                host.handle(.log(line))
            }
        case .progress(let fraction, let text):
            // Bounded like a log line; a fraction that is not a number means "unknown".
            let message = text.utf8.count <= Self.maxProgressBytes ? text : String(decoding: text.utf8.prefix(Self.maxProgressBytes), as: UTF8.self)
            host.handle(.progress(fraction: fraction.isFinite ? min(max(fraction, -1), 1) : -1, message: message))
        case .credentialRequest(let name):
            let answer: CredentialAnswer
            if let descriptor, !descriptor.credentialNames.contains(name) {
                answer = .denied(reason: "'\(name)' is not among the credentials the connector declares (\(descriptor.credentialNames.joined(separator: ", ")))")
            } else {
                answer = host.credential(named: name, for: descriptor)
            }
            switch answer {
            case .value(let bytes):
                send(HostMessage.credentialReply(status: CallbackStatus.ok.abiValue, value: bytes).frame(), on: socket)
            case .notFound:
                note(.warning, .host, "the connector asked for credential '\(name)', which is not set")
                send(HostMessage.credentialReply(status: CallbackStatus.notFound.abiValue, value: []).frame(), on: socket)
            case .denied(let reason):
                note(.warning, .host, "credential '\(name)' denied: \(reason)")
                send(HostMessage.credentialReply(status: CallbackStatus.denied.abiValue, value: []).frame(), on: socket)
            }
        case .stateSet(let json):
            if let wrong = Self.stateViolation(json) { return protocolViolation(wrong, pid: pid, cancelWrite: cancelWrite) }
            newState = json
            host.handle(.stateChanged(json: json))
        case .checkpoint(let reported):
            if let wrong = Self.stateViolation(reported.stateJSON) ?? checkpointViolation(reported) {
                return protocolViolation(wrong, pid: pid, cancelWrite: cancelWrite)
            }
            newState = reported.stateJSON
            checkpoint = reported
            host.handle(.stateChanged(json: reported.stateJSON))
        case .output(let name, let value, let flags):
            guard !name.isEmpty, name.utf8.count <= Self.maxNameBytes, value.count <= Self.maxOutputBytes else {
                return protocolViolation("an output of \(name.utf8.count) + \(value.count) bytes (limits \(Self.maxNameBytes) for the name, \(Self.maxOutputBytes) for the value)", pid: pid, cancelWrite: cancelWrite)
            }
            guard outputs.count < Self.maxOutputs || outputs.contains(where: { $0.name == name }) else {
                return protocolViolation("more than \(Self.maxOutputs) outputs", pid: pid, cancelWrite: cancelWrite)
            }
            if let declared = descriptor?.lineage, !declared.allows(output: name) {
                return protocolViolation("an output '\(name)', which the connector does not declare (it declares: \(declared.outputs!.isEmpty ? "none" : declared.outputs!.joined(separator: ", ")))", pid: pid, cancelWrite: cancelWrite)
            }
            let output = TaskOutput(name: name, value: value, isSecret: flags.contains(.secret))
            outputs.removeAll { $0.name == name }
            outputs.append(output)
            host.handle(.output(output))
        case .tableOpened(let name, let columns):
            guard TableFile.isValidName(name) else {
                return protocolViolation("a table named '\(name)', which is not a valid table name", pid: pid, cancelWrite: cancelWrite)
            }
            if let declared = declaredTables, !mayWrite(name) {
                let names = declared.map { entry in entry.name.map { $0 == entry.pattern.text ? $0 : "\($0) (\(entry.pattern.text))" } ?? "\(entry.pattern.text) (parameter not set)" }
                return protocolViolation("a table '\(name)', which the connector does not declare (it declares: \(names.isEmpty ? "none" : names.joined(separator: ", ")))", pid: pid, cancelWrite: cancelWrite)
            }
            host.handle(.tableOpened(name: name, columns: columns))
        case .rateRequest(let key, let tokens):
            guard !key.isEmpty, key.utf8.count <= Self.maxNameBytes, tokens > 0, tokens <= 1_000_000 else {
                return protocolViolation("a rate-limit request for \(tokens) tokens of a key of \(key.utf8.count) bytes (1…1,000,000 tokens, a key of 1…\(Self.maxNameBytes) bytes)", pid: pid, cancelWrite: cancelWrite)
            }
            let wait = host.reserveRate(key: key, tokens: tokens)
            send(HostMessage.rateReply(waitNanoseconds: wait.inNanoseconds).frame(), on: socket)
        case .result(let value):
            if case .refusedToLoad = value {} else if descriptor == nil {
                return protocolViolation("a result before the descriptor", pid: pid, cancelWrite: cancelWrite)
            }
            result = value
        }
    }

    /// Reads a captured stream; false at EOF.
    /// Why a component state is not one: too large, or not a JSON object. Nil when it is.
    static func stateViolation(_ json: String) -> String? {
        guard json.utf8.count <= maxStateBytes else { return "component state of \(json.utf8.count) bytes (limit \(maxStateBytes))" }
        guard (try? JSONSerialization.jsonObject(with: Data(json.utf8))) is [String: Any] else { return "component state that is not a JSON object" }
        return nil
    }

    /// Why a checkpoint frame is a lie: from a connector that does not declare checkpoints, outside an
    /// extraction's run(), or naming a table it may not write, twice, or somewhere else than its own file.
    private func checkpointViolation(_ reported: Checkpoint) -> String? {
        guard spec.mode == .run, let descriptor, descriptor.pattern == .extraction, descriptor.capabilities.contains(.checkpoints) else {
            return "a checkpoint from a task that takes none (an extraction declaring PATCHBAY_CAP_CHECKPOINTS, in run())"
        }
        guard Set(reported.tables.map(\.file.name)).count == reported.tables.count else { return "a checkpoint naming one table twice" }
        for mark in reported.tables {
            let table = mark.file
            guard TableFile.isValidName(table.name), table.path == table.expectedWorkspacePath, mayWrite(table.name) else {
                return "a checkpoint with table '\(table.name)' at '\(table.path)' (a name it may not write, or not at \(table.expectedWorkspacePath))"
            }
        }
        return nil
    }

    private mutating func readStream(_ fd: Int32, stdout: Bool) -> Bool {
        while true {
            let n = read(fd, readBuffer.baseAddress, readBuffer.count)
            if n < 0 { return errno == EAGAIN || errno == EINTR }
            if n == 0 {
                let last = stdout ? stdoutCapture.finish(budget: &budget) : stderrCapture.finish(budget: &budget)
                if let last { note(stdout ? .info : .warning, stdout ? .stdout : .stderr, last) }
                return false
            }
            let chunk = UnsafeRawBufferPointer(rebasing: readBuffer[0..<n])
            let lines = stdout ? stdoutCapture.feed(chunk, budget: &budget) : stderrCapture.feed(chunk, budget: &budget)
            for line in lines { note(stdout ? .info : .warning, stdout ? .stdout : .stderr, line) }
        }
    }

    /// After the runner is gone: reads both streams to EOF, for at most 200 ms.
    private mutating func drain(_ out: Int32, _ err: Int32, stdoutOpen: Bool, stderrOpen: Bool) {
        var outOpen = stdoutOpen, errOpen = stderrOpen
        let until = monotonicNow() + 200_000_000
        while (outOpen || errOpen) && monotonicNow() < until {
            var fds = [pollfd(fd: outOpen ? out : -1, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: errOpen ? err : -1, events: Int16(POLLIN), revents: 0)]
            if poll(&fds, 2, 50) <= 0 { continue }
            if fds[0].revents != 0 { outOpen = readStream(out, stdout: true) }
            if fds[1].revents != 0 { errOpen = readStream(err, stdout: false) }
        }
    }

    // MARK: - Classification

    /// The call the runner's SIGSYS reporter named on stderr ("patchbay-runner: refused system call 101").
    private func refusedSystemCall() -> String? {
        let marker = "patchbay-runner: refused system call "
        guard let line = stderrCapture.tailText.split(separator: "\n").last(where: { $0.hasPrefix(marker) }),
              let number = Int(line.dropFirst(marker.count).trimmingCharacters(in: .whitespaces)) else { return nil }
        return pb_denied_call_name(number).map { String(cString: $0) } ?? "number \(number)"
    }

    /// The connector's last words on stderr, as one line (see `CrashNarrative`).
    private func crashDetail() -> String { CrashNarrative.summary(ofStandardError: stderrCapture.tailText) }

    private func classify(status: Int32, peakBytes: UInt64, counters: TaskCgroups.Counters?) -> ExitClassification {
        ExitClassification(ExitEvidence(
            waitStatus: status, outcome: result, violation: violation, stopReason: stop.reason, stopStage: stop.stage,
            outOfMemoryKills: counters?.outOfMemoryKills, processLimitHits: counters?.processLimitHits, peakMemoryBytes: peakBytes,
            phase: phase, handshakeDone: ready, crashDetail: crashDetail(), limits: spec.limits, refusedSystemCall: refusedSystemCall()))
    }
}
