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
final class Spawner: Sendable {
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

    /// posix_spawn in a new session with exactly `mappings` as descriptors and a one-variable environment.
    func spawn(executable: String, arguments: [String], mappings: [pb_fd_mapping]) -> Result<pid_t, SpawnError> {
        perform {
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
