import Foundation

/// Named exclusive locks that hold across every process of a project: jobs of one configuration,
/// runs of one flow. In-process waiters queue first-come-first-served and are woken on release;
/// across processes an `flock` on `.patchbay/locks/<key>.lock` decides, and the kernel drops it when
/// a holder dies, even by SIGKILL — a crashed host never leaves a configuration locked.
actor LockManager {
    struct Handle: Sendable {
        let key: String
        let descriptor: Int32
    }

    private struct Waiter {
        let owner: Int64
        let continuation: CheckedContinuation<Bool, Never>
    }

    let directory: String
    private var held: Set<String> = []
    private var queues: [String: [Waiter]] = [:]
    private var abandoned: Set<Int64> = []

    /// Paces the back-off while another process holds a lock.
    private let clock: EngineClock

    init(directory: String, clock: EngineClock = .system) {
        self.directory = directory
        self.clock = clock
    }

    /// Waits for the lock. `onWait` runs once if it is not free at once (the caller records `waiting`).
    /// Returns nil if the owner was abandoned (terminated) while it waited.
    func acquire(_ key: String, owner: Int64, onWait: @Sendable () -> Void) async -> Handle? {
        var waited = false
        if abandoned.contains(owner) { return nil }
        if held.contains(key) {
            onWait()
            waited = true
            let granted = await withCheckedContinuation { continuation in
                queues[key, default: []].append(Waiter(owner: owner, continuation: continuation))
            }
            guard granted else { return nil }
        } else {
            held.insert(key)
        }
        let path = directory + "/" + Self.fileName(for: key)
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            // Without a lock file, in-process exclusion still holds; say nothing more can be promised.
            return Handle(key: key, descriptor: -1)
        }
        var delay = Duration.milliseconds(1)
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            if !waited { onWait(); waited = true }
            if abandoned.contains(owner) {
                close(descriptor)
                handOver(key)
                return nil
            }
            await clock.sleep(for: delay)
            delay = min(delay * 2, .milliseconds(25))
        }
        return Handle(key: key, descriptor: descriptor)
    }

    func release(_ handle: Handle) {
        Self.unlockFile(handle)
        handOver(handle.key)
    }

    /// Releases from a synchronous place (a `defer`): the file lock at once, so another process waiting for it
    /// goes on now, whatever this process's threads are busy with; the in-process hand-over on the actor after.
    /// (A release left wholly to a Task waited for a free thread of the pool: a process whose threads were all
    /// blocked waiting for a child that needed this lock never released it.)
    nonisolated func releaseSoon(_ handle: Handle) {
        Self.unlockFile(handle)
        let key = handle.key
        Task { await self.handOverKey(key) }
    }

    private func handOverKey(_ key: String) { handOver(key) }

    private static func unlockFile(_ handle: Handle) {
        if handle.descriptor >= 0 {
            flock(handle.descriptor, LOCK_UN)
            close(handle.descriptor)
        }
    }

    /// Gives the key to the next in-process waiter, or frees it.
    private func handOver(_ key: String) {
        if var queue = queues[key], !queue.isEmpty {
            let next = queue.removeFirst()
            queues[key] = queue.isEmpty ? nil : queue
            next.continuation.resume(returning: true)
        } else {
            held.remove(key)
        }
    }

    /// Stops every wait of an owner (a run being terminated); later acquires by it fail at once.
    func abandon(owner: Int64) {
        abandoned.insert(owner)
        for (key, queue) in queues {
            let (mine, others) = (queue.filter { $0.owner == owner }, queue.filter { $0.owner != owner })
            queues[key] = others.isEmpty ? nil : others
            for waiter in mine { waiter.continuation.resume(returning: false) }
        }
    }

    /// A readable file name with a hash, so distinct keys never share a file.
    static func fileName(for key: String) -> String {
        var hash: UInt64 = 0xcbf29ce484222325
        for byte in key.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100000001b3 }
        let readable = String(key.map { $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" ? $0 : "_" }.prefix(80))
        return "\(readable)-\(String(hash, radix: 16)).lock"
    }
}
