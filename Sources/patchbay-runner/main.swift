// patchbay-runner — one process, one task, one connector.
//
// Owns: confining itself (limits, privileges, working directory), loading the
// plugin, serving the host callback table, writing output tables into the
// task's workspace, and reporting one result. It links no Foundation so it
// starts in about 2 ms. Must never know: SQLite, tokens, flows, or where the
// host keeps anything beyond the paths it is handed.
//
// Usage (by the host only): patchbay-runner PARENT_PID
//   fd 3: socket to the host; fd 4: cancel pipe; fd 1/2: captured by the host.
// Or: patchbay-runner --zygote PARENT_PID [--seccomp] [--preload LIB]..., fd 3 a control socket: the zygote. It loads nothing and waits;
//   for each request (the four descriptors of one task) it forks a child as the host's own child
//   (CLONE_PARENT), which becomes a runner as above without exec, the loader or runtime start-up.
#if canImport(Glibc)
import Glibc
#endif
import CPatchbaySys
import PatchbayABI
import PatchbayCore
import PatchbayWire

/// The whole life of a runner process, as one function: its state lives in locals
/// (top-level globals would need an actor this executable does not link).
/// `inherited`: the layers already in force when the runner starts (a zygote's seccomp deny list).
func runnerMain(parent: Int32, inherited: SandboxLayers = []) -> Never {
    // 1. Never outlive the host. The death signal is tied to the host thread that
    //    spawned us; if the host died before this line, getppid() no longer matches.
    _ = pb_set_parent_death_signal(SIGKILL)
    guard getppid() == parent else { fail("must be started by the patchbay host (usage: patchbay-runner PARENT_PID)") }

    let channel = Channel(descriptor: Wire.socketDescriptor)

    // 2. The handshake.
    guard case .hello(let hello) = channel.receive() else { fail("the host's first message was not hello") }
    guard hello.protocolVersion == Wire.protocolVersion else {
        channel.send(.ready(protocolVersion: Wire.protocolVersion, nonce: hello.nonce, runnerPID: getpid()))
        fail("host speaks protocol \(hello.protocolVersion); this runner speaks \(Wire.protocolVersion)")
    }

    // 3. Confinement, before any connector code exists in this process. Order matters: what needs the
    //    host's privileges first (limits, the input tables), then the uid, then the kernel layers, which
    //    bind every thread and child the connector will ever have.
    channel.send(.phase(.confining))
    var inputDescriptors: [String: Int32] = [:]
    /// Where the plugin is loaded from: the runner's own descriptor of it, once opened.
    var pluginPath = hello.pluginPath
    func confine(_ c: Confinement, workspace: String, plugin: String) {
        func check(_ result: Int32, _ what: String) {
            if result != 0 { fail("\(what): \(String(cString: strerror(result)))") }
        }
        // Into the task's cgroups first, so that every process and byte after this is counted.
        for path in c.cgroupTasks {
            let fd = open(path, O_WRONLY | O_CLOEXEC)
            let joined = fd >= 0 && write(fd, "0", 1) == 1
            let reason = errno
            if fd >= 0 { close(fd) }
            if !joined { fail("joining the task's cgroup (\(path)): \(String(cString: strerror(reason)))") }
        }
        check(pb_set_limit(Int32(PB_LIMIT_CORE_SIZE), 0), "setting RLIMIT_CORE")
        if c.addressSpaceBytes > 0 { check(pb_set_limit(Int32(PB_LIMIT_ADDRESS_SPACE), c.addressSpaceBytes), "setting RLIMIT_AS") }
        if c.cpuSeconds > 0 { check(pb_set_limit(Int32(PB_LIMIT_CPU_SECONDS), c.cpuSeconds), "setting RLIMIT_CPU") }
        if c.openFiles > 0 { check(pb_set_limit(Int32(PB_LIMIT_OPEN_FILES), c.openFiles), "setting RLIMIT_NOFILE") }
        if c.processes > 0 { check(pb_set_limit(Int32(PB_LIMIT_PROCESSES), c.processes), "setting RLIMIT_NPROC") }
        if c.fileSizeBytes > 0 {
            // A write past the limit then fails with EFBIG, which the table writer reports with its path.
            signal(SIGXFSZ, SIG_IGN)
            check(pb_set_limit(Int32(PB_LIMIT_FILE_SIZE), c.fileSizeBytes), "setting RLIMIT_FSIZE")
        }
        // Input tables, the plugin and the workspace are opened now, with the host's rights: the task itself
        // never walks the directories above them (a project or a plugin directory may be private to its owner).
        for input in hello.inputs {
            let fd = open(input.path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
            if fd >= 0 { inputDescriptors[input.name] = fd }
        }
        let pluginDescriptor = open(plugin, O_RDONLY | O_CLOEXEC)
        check(chdir(workspace) == 0 ? 0 : errno, "entering the workspace \(workspace)")
        if c.userID != .max {
            check(setgroups(0, nil) == 0 ? 0 : errno, "dropping supplementary groups")
            check(setgid(c.groupID) == 0 ? 0 : errno, "switching to gid \(c.groupID)")
            check(setuid(c.userID) == 0 ? 0 : errno, "switching to uid \(c.userID)")
            // A change of credentials clears the parent-death signal: set it again, and make sure the
            // host did not die in between.
            _ = pb_set_parent_death_signal(SIGKILL)
            if getppid() != parent { fail("the host exited while the task was being confined") }
        }
        check(pb_set_no_new_privileges(), "setting PR_SET_NO_NEW_PRIVS")
        // The plugin is loaded by its own path when the task's uid can reach it (so a `$ORIGIN` run path keeps
        // working), else through the descriptor opened above.
        if access(plugin, R_OK) != 0, pluginDescriptor >= 0 { pluginPath = "/proc/self/fd/\(pluginDescriptor)" }
        umask(0o077)
        for directory in ["out", "out/tables", "tmp"] where mkdir(directory, 0o700) != 0 && errno != EEXIST {
            fail("creating \(directory)/ in the workspace: \(String(cString: strerror(errno)))")
        }
        // A private temporary directory: the task cannot reach /tmp itself. Named through its own working
        // directory, so no directory above the workspace needs to be open to the task's uid.
        setenv("TMPDIR", "/proc/self/cwd/tmp", 1)
        if c.layers.contains(.landlock) {
            var result = pb_landlock_result()
            let granted = LandlockGrants(readable: c.readablePaths, writable: c.writablePaths, plugin: pluginPath, workspace: ".")
            let status = granted.withRules { rules in
                var ports: [UInt16] = []
                if case .tcpPorts(let declared) = c.network { ports = declared }
                let restrictTCP: Int32 = if case .any = c.network { 0 } else { 1 }
                return ports.withUnsafeBufferPointer { pb_landlock_confine(rules.baseAddress, rules.count, restrictTCP, $0.baseAddress, $0.count, &result) }
            }
            check(status, "applying the Landlock rules")
        }
        if c.layers.contains(.seccomp) {
            check(pb_report_refused_calls(), "installing the SIGSYS reporter")
            let denyInet = if case .none = c.network { true } else { false }
            if inherited.contains(.seccomp) {
                if denyInet { check(pb_seccomp_deny_inet_sockets(), "installing the seccomp socket filter") }
            } else {
                check(pb_seccomp_confine(denyInet ? 1 : 0), "installing the seccomp filter")
            }
        }
    }
    confine(hello.confinement, workspace: hello.workspace, plugin: hello.pluginPath)
    channel.send(.ready(protocolVersion: Wire.protocolVersion, nonce: hello.nonce, runnerPID: getpid()))

    func finish(_ result: TaskOutcome) -> Never {
        fflush(nil)  // the connector's buffered stdout reaches the host before the result does
        channel.send(.result(result))
        _exit(0)
    }

    func refuse(_ failure: LoadFailure) -> Never {
        finish(.refusedToLoad(failure.kind, detail: failure.detail))
    }

    // 4. Load and describe.
    let session = TaskSession(channel: channel, hello: hello, inputDescriptors: inputDescriptors)
    currentSession = session
    let descriptor: UnsafePointer<patchbay_connector>
    do throws(LoadFailure) {
        channel.send(.phase(.loading))
        let loadStarted = monotonicNanoseconds()
        try checkELF(at: pluginPath, named: hello.pluginPath)
        let handle = try openLibrary(at: pluginPath)
        channel.send(.phase(.entry))
        let version = try symbol(handle, "patchbay_abi_version", as: VersionFunction.self)
        try checkABIVersion(version())
        let entry = try symbol(handle, "patchbay_connector_entry", as: EntryFunction.self)
        guard let pointer = entry(makeHostTable()) else {
            throw LoadFailure(kind: .invalidDescriptor, detail: "patchbay_connector_entry() returned NULL")
        }
        let described = try readDescriptor(pointer)
        let info = described.info, copy = described.copy
        let loadTime = monotonicNanoseconds() - loadStarted
        channel.send(.descriptor(info))
        channel.send(.loaded(nanoseconds: loadTime))
        // From here on the runner reads its own copy, never the connector's struct (which may be smaller).
        let owned = UnsafeMutablePointer<patchbay_connector>.allocate(capacity: 1)
        owned.initialize(to: copy)
        descriptor = UnsafePointer(owned)
    } catch {
        refuse(error)
    }

    if hello.mode == .probe { finish(.succeeded(tables: [])) }

    // 5. Cancellation: connectors with cancel() get it called from a watcher thread.
    currentDescriptor = descriptor
    session.takesCheckpoints = hello.mode == .run && JobPattern(abi: descriptor.pointee.pattern) == .extraction
        && Capabilities(rawValue: descriptor.pointee.capabilities).contains(.checkpoints)
    if descriptor.pointee.cancel != nil { startCancelWatcher() }

    // 6. Run.
    let function: (@convention(c) (OpaquePointer?, OpaquePointer?) -> patchbay_status)?
    if hello.mode == .check {
        channel.send(.phase(.checking))
        function = descriptor.pointee.check
    } else {
        channel.send(.phase(.running))
        function = descriptor.pointee.run
    }
    let status = function?(session.taskHandle, session.errorHandle) ?? patchbay_status(PATCHBAY_OK)

    session.lock.withLock {
        channel.send(.phase(.finishing))
        func failed(_ failureClass: FailureClass, _ user: String, _ internalMessage: String = "") -> TaskOutcome {
            .failed(failureClass, userMessage: user, internalMessage: internalMessage)
        }
        let result: TaskOutcome
        if let denial = session.denial, status != patchbay_status(PATCHBAY_CANCELLED) {
            finish(failed(.config, denial))
        }
        switch Int32(status) {
        case Int32(PATCHBAY_OK):
            if let tables = session.finishTables() {
                result = .succeeded(tables: tables)
            } else {
                result = failed(.system, session.writeFailure ?? "could not finish the output tables")
            }
        case Int32(PATCHBAY_ERROR):
            if let failure = session.failure {
                // A connector that failed after the host could not write its table gets the host's reason beside its own.
                let user = session.writeFailure.map { "\(failure.user) (\($0))" } ?? failure.user
                let failureClass = FailureClass(abi: failure.failureClass)
                // A check that found bad data: the tables it wrote are the evidence (its differences), finished as on success.
                // (A rule of ABI 1.4: a connector built for an older minor keeps nothing, as it was promised.)
                if failureClass == .data, JobPattern(abi: descriptor.pointee.pattern) == .validation, descriptor.pointee.abi_version & 0xFFFF >= 4,
                   let evidence = session.finishTables(), !evidence.isEmpty {
                    result = .failed(.data, userMessage: user, internalMessage: failure.internal, evidence: evidence)
                } else {
                    result = failed(failureClass, user, failure.internal)
                }
            } else if let writeFailure = session.writeFailure {
                result = failed(.system, writeFailure)
            } else {
                result = failed(.system, "the connector failed without saying why (it returned PATCHBAY_ERROR without calling set_error)")
            }
        case Int32(PATCHBAY_CANCELLED):
            result = .cancelled
        case Int32(PATCHBAY_PENDING) where JobPattern(abi: descriptor.pointee.pattern) == .statusCheck:
            result = .pending
        default:
            result = failed(.system, "the connector returned status \(status), which its job pattern does not allow")
        }
        finish(result)
    }
    fail("unreachable: the task ended without a result")
}

/// The zygote: waits on its control socket and forks one runner per request. It never loads a plugin and
/// holds nothing a task could want; its children confine themselves exactly as a spawned runner does,
/// except that with `seccomp` the zygote installs the deny list once, before any child exists, and every
/// child inherits it (compiling the filter per task cost about 4% of a runner's CPU, measured).
func zygoteMain(parent: Int32, preload: [String], seccomp: Bool) -> Never {
    _ = pb_set_parent_death_signal(SIGKILL)
    guard getppid() == parent else { fail("the zygote must be started by the patchbay host") }
    _ = pb_set_process_name("pb-zygote")
    // The host's own Swift runtime libraries, loaded once (trusted system code; no connector is loaded here):
    // a Swift plugin's dlopen in a child then finds them in place. One that does not load is simply skipped.
    for library in preload { _ = dlopen(library, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE) }
    rehearseRunnerStart()
    pb_reset_signal_dispositions()  // after the rehearsal: whatever it touched, every child starts from the defaults
    var inherited: SandboxLayers = []
    if seccomp {
        let status = pb_seccomp_deny_list()
        if status != 0 { fail("the zygote cannot install the seccomp deny list: \(String(cString: strerror(status)))") }
        inherited.insert(.seccomp)
    }
    var descriptors: [Int32] = [-1, -1, -1, -1]
    while true {
        let request = descriptors.withUnsafeMutableBufferPointer { pb_zygote_next(Wire.socketDescriptor, $0.baseAddress) }
        if request == -1 { _exit(0) }  // the host is gone or done
        guard request == 0 else { continue }
        let child = pb_clone_as_sibling()
        if child == 0 {
            let setup = descriptors.withUnsafeBufferPointer { pb_zygote_child_setup($0.baseAddress) }
            if setup != 0 { fail("setting up a task from the zygote: \(String(cString: strerror(setup)))") }
            runnerMain(parent: parent, inherited: inherited)
        }
        _ = pb_zygote_reply(Wire.socketDescriptor, child > 0 ? child : -errno)
        for descriptor in descriptors { close(descriptor) }
    }
}

let arguments = CommandLine.arguments
if arguments.count >= 3, arguments[1] == "--zygote", let parent = Int32(arguments[2]) {
    var preload: [String] = []
    var seccomp = false
    var index = 3
    while index < arguments.count {
        if arguments[index] == "--seccomp" {
            seccomp = true
            index += 1
        } else if arguments[index] == "--preload", index + 1 < arguments.count {
            preload.append(arguments[index + 1])
            index += 2
        } else {
            fail("unknown zygote argument '\(arguments[index])' (usage: patchbay-runner --zygote PARENT_PID [--seccomp] [--preload LIBRARY]...)")
        }
    }
    zygoteMain(parent: parent, preload: preload, seccomp: seccomp)
}
guard arguments.count == 2, let parent = Int32(arguments[1]) else {
    fail("must be started by the patchbay host (usage: patchbay-runner PARENT_PID)")
}
runnerMain(parent: parent)
