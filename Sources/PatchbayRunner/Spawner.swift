import CPatchbaySys
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Spawns runner processes from one long-lived thread.
///
/// PR_SET_PDEATHSIG fires when the *thread* that created the child exits, not
/// the process; Swift's cooperative pool and Dispatch retire idle threads. So
/// every spawn happens on this thread, which lives as long as the process.
public final class Spawner: Sendable {
    static let shared = Spawner()

    private struct Request {
        let run: () -> Void
    }

    // Guarded by `condition`'s lock; proven by every access being inside lock()/unlock().
    private nonisolated(unsafe) var queue: [Request] = []
    private let condition = NSCondition()

    private init() {
        let thread = Thread { [unowned self] in self.serve() }
        thread.name = "patchbay-spawner"
        thread.stackSize = 1 << 20
        thread.start()
    }

    private func serve() {
        while true {
            condition.lock()
            while queue.isEmpty { condition.wait() }
            let request = queue.removeFirst()
            condition.unlock()
            request.run()
        }
    }

    /// Runs `body` on the spawner thread and waits for it.
    func perform<T: Sendable>(_ body: @escaping @Sendable () -> T) -> T {
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: T?  // written before signal, read after wait
        condition.lock()
        queue.append(Request(run: {
            result = body()
            done.signal()
        }))
        condition.signal()
        condition.unlock()
        done.wait()
        return result!
    }

    /// What tells a host's zygotes apart: the runner they fork, whether they hold the seccomp deny list, and
    /// whether they have the Swift runtime loaded (for plugins that link it; see `PluginLinkage`).
    private struct ZygoteKind: Hashable {
        let executable: String
        let seccomp: Bool
        let swiftRuntime: Bool
    }

    /// The zygotes of this host, once started (touched only on the spawner thread). Usually one; a
    /// process that also runs tasks under a policy with seccomp off (a benchmark, a test) has a second.
    private nonisolated(unsafe) var zygotes: [ZygoteKind: (control: Int32, pid: pid_t)] = [:]
    /// `PATCHBAY_ZYGOTE=off` spawns every runner with posix_spawn (for diagnosis and benchmarks).
    public static let zygoteEnabled = ProcessInfo.processInfo.environment["PATCHBAY_ZYGOTE"] != "off"

    /// A runner for one task, with `descriptors` (socket, cancel pipe, stdout, stderr) as its fds 3, 4, 1, 2:
    /// forked by the zygote when there is one (no exec, no loader, no runtime start-up), else spawned.
    /// A zygote that has died is started again, once; its children are the host's own and live on.
    /// With `seccomp`, the zygote installs the seccomp deny list once and its children inherit it; a
    /// request with seccomp off (a policy with the layer turned off) is served by a zygote without it.
    func spawnRunner(executable: String, seccomp: Bool, swiftRuntime: Bool, descriptors: [Int32]) -> Result<pid_t, SpawnError> {
        let kind = ZygoteKind(executable: executable, seccomp: seccomp, swiftRuntime: swiftRuntime)
        if Self.zygoteEnabled, let pid = perform({ self.forkFromZygote(kind, descriptors: descriptors) }) {
            return .success(pid)
        }
        return spawn(executable: executable, arguments: [String(getpid())],
                     mappings: [pb_fd_mapping(source: descriptors[0], target: 3), pb_fd_mapping(source: descriptors[1], target: 4),
                                pb_fd_mapping(source: descriptors[2], target: 1), pb_fd_mapping(source: descriptors[3], target: 2)])
    }

    /// Starts the zygote for these runners now, without waiting for it, so that its start-up (exec, the Swift
    /// runtime, the rehearsal: about 8 ms) overlaps the host's own (the store, the flow, the catalog) instead of
    /// delaying the first task. Nothing if it runs already or zygotes are off.
    func prepareZygote(executable: String, seccomp: Bool, swiftRuntime: Bool) {
        guard Self.zygoteEnabled else { return }
        let kind = ZygoteKind(executable: executable, seccomp: seccomp, swiftRuntime: swiftRuntime)
        condition.lock()
        queue.append(Request(run: { if self.zygotes[kind] == nil { self.startZygote(kind) } }))
        condition.signal()
        condition.unlock()
    }

    /// On the spawner thread (the zygote's death signal is tied to it).
    private func forkFromZygote(_ kind: ZygoteKind, descriptors: [Int32]) -> pid_t? {
        for _ in 0..<2 {
            if zygotes[kind] == nil { startZygote(kind) }
            guard let current = zygotes[kind] else { return nil }
            var pid: pid_t = 0
            let status = descriptors.withUnsafeBufferPointer { pb_zygote_request(current.control, $0.baseAddress, &pid) }
            if status == 0 { return pid }
            stopZygote(kind)
        }
        return nil
    }

    private func startZygote(_ kind: ZygoteKind) {
        stopZygote(kind)
        var pair: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else { return }
        defer { close(pair[1]) }
        let preload = kind.swiftRuntime ? SandboxPolicy.swiftRuntimeLibraries.flatMap { ["--preload", $0] } : []
        let arguments = ["--zygote", String(getpid())] + (kind.seccomp ? ["--seccomp"] : []) + preload
        let started = spawnNow(executable: kind.executable, arguments: arguments,
                               mappings: [pb_fd_mapping(source: pair[1], target: 3), pb_fd_mapping(source: 2, target: 2)])
        guard case .success(let pid) = started else { close(pair[0]); return }
        zygotes[kind] = (pair[0], pid)
    }

    private func stopZygote(_ kind: ZygoteKind) {
        guard let current = zygotes.removeValue(forKey: kind) else { return }
        close(current.control)
        kill(current.pid, SIGKILL)
        var status: Int32 = 0
        while waitpid(current.pid, &status, 0) < 0 && errno == EINTR {}
    }

    /// Starts `executable` in a session of its own, with this process's environment, stdin from /dev/null
    /// and stdout and stderr appended to `log`, and does not wait for it: a process that outlives its starter
    /// (a run resumed in the background). Returns its pid, or the reason it could not start.
    public static func startDetached(executable: String, arguments: [String], log: String) -> Result<Int32, SpawnError> {
        let output = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard output >= 0 else { return .failure(SpawnError(errno: errno, executable: executable)) }
        defer { close(output) }
        var argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var envp: [UnsafeMutablePointer<CChar>?] = ProcessInfo.processInfo.environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in envp { free(pointer) } }
        var pid: pid_t = 0
        let mappings = [pb_fd_mapping(source: output, target: 1), pb_fd_mapping(source: output, target: 2)]
        let error = mappings.withUnsafeBufferPointer { pb_spawn(executable, &argv, &envp, $0.baseAddress, $0.count, &pid) }
        return error == 0 ? .success(pid) : .failure(SpawnError(errno: error, executable: executable))
    }

    /// posix_spawn in a new session with exactly `mappings` as descriptors and a one-variable environment.
    func spawn(executable: String, arguments: [String], mappings: [pb_fd_mapping]) -> Result<pid_t, SpawnError> {
        perform { self.spawnNow(executable: executable, arguments: arguments, mappings: mappings) }
    }

    private func spawnNow(executable: String, arguments: [String], mappings: [pb_fd_mapping]) -> Result<pid_t, SpawnError> {
        do {  // one scope for the C strings' lifetimes
            var argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
            defer { for pointer in argv { free(pointer) } }
            // The environment is empty but for the Swift runtime's crash-report style: a connector
            // that crashes gets a short backtrace in its log, not pages of registers.
            var envp: [UnsafeMutablePointer<CChar>?] = [strdup("SWIFT_BACKTRACE=preset=friendly,interactive=no,color=no"), nil]
            defer { free(envp[0]) }
            var pid: pid_t = 0
            let error = mappings.withUnsafeBufferPointer { maps in
                pb_spawn(executable, &argv, &envp, maps.baseAddress, maps.count, &pid)
            }
            return error == 0 ? .success(pid) : .failure(SpawnError(errno: error, executable: executable))
        }
    }
}

public struct SpawnError: Error, CustomStringConvertible, Sendable {
    public let errno: Int32
    public let executable: String
    public var description: String { "cannot start \(executable): \(String(cString: strerror(errno)))" }
}
