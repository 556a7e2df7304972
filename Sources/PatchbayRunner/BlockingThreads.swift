import Foundation

/// Threads for blocking work (a supervisor's poll loop), kept after their work so the next task does
/// not pay for a new thread (stack mapping, clone, teardown). A submission never waits behind running
/// work: it wakes an idle thread or starts a new one, so there are at most as many threads as tasks
/// ever ran at once.
final class BlockingThreads: @unchecked Sendable {
    // @unchecked: every stored property is read and written only with `condition` locked.
    static let shared = BlockingThreads()

    private let condition = NSCondition()
    private var work: [@Sendable () -> Void] = []
    /// Threads waiting for work that no submission has claimed yet.
    private var idle = 0
    /// Claims handed to idle threads; each lets exactly one waiting thread go.
    private var wakeups = 0

    func run(_ body: @escaping @Sendable () -> Void) {
        condition.lock()
        work.append(body)
        let claimed = idle > 0
        if claimed {
            idle -= 1
            wakeups += 1
            condition.signal()
        }
        condition.unlock()
        if !claimed {
            let thread = Thread { [self] in serve() }
            thread.name = "patchbay-task"
            thread.start()
        }
    }

    private func serve() {
        condition.lock()
        while true {
            if !work.isEmpty {
                let body = work.removeFirst()
                condition.unlock()
                body()
                condition.lock()
                continue
            }
            idle += 1
            while wakeups == 0 { condition.wait() }
            wakeups -= 1
        }
    }
}
