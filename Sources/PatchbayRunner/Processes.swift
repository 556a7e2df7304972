import Foundation

/// A process named so that a reused pid is not mistaken for it: pid plus its start time
/// (clock ticks since boot, field 22 of /proc/PID/stat).
public struct ProcessIdentity: Sendable, Equatable, Hashable {
    public let pid: Int32
    public let startTicks: Int64

    public init(pid: Int32, startTicks: Int64) {
        self.pid = pid
        self.startTicks = startTicks
    }

    /// Reads the identity of a live process; nil if there is none (or it is a zombie).
    public init?(pid: Int32) {
        guard let fields = Self.statFields(pid), fields.count > 19, fields[0] != "Z", let start = Int64(fields[19]) else { return nil }
        self.pid = pid
        self.startTicks = start
    }

    public static let current = ProcessIdentity(pid: getpid())!

    /// Is this very process still running?
    public var isAlive: Bool { ProcessIdentity(pid: pid) == self }

    /// Whether a `task-<host pid>-<id>` name (a workspace, a cgroup) belongs to a host that is gone.
    /// Other names, and this host's, never are.
    static func taskOwnerIsGone(_ name: String) -> Bool {
        let parts = name.split(separator: "-")
        guard parts.count == 3, parts[0] == "task", let owner = pid_t(parts[1]), owner != getpid() else { return false }
        return kill(owner, 0) != 0 && errno == ESRCH
    }

    /// Fields after "(comm)": state is [0], ppid [1], pgrp [2], session [3], starttime [19].
    static func statFields(_ pid: Int32) -> [Substring]? {
        guard let stat = readSmallFile("/proc/\(pid)/stat"),
              let close = stat.lastIndex(of: ")") else { return nil }
        return stat[stat.index(after: close)...].split(separator: " ")
    }

    /// SIGKILLs every process of a session (a runner and whatever its connector started);
    /// returns how many there were besides the leader.
    @discardableResult
    public static func killSession(_ sid: Int32) -> Int {
        let count = killAll { pid, fields in pid != sid && fields.count > 3 && Int32(fields[3]) == sid }
        kill(-sid, SIGKILL)
        return count
    }

    /// SIGKILLs every live process that runs as `uid` (a task's own uid: whatever it started, in any
    /// session, daemons included); returns how many there were. For hosts without cgroups.
    public static func killUser(_ uid: UInt32) -> Int {
        killAll { pid, _ in
            var info = stat()
            return stat("/proc/\(pid)", &info) == 0 && info.st_uid == uid
        }
    }

    /// SIGKILLs every live (not zombie) process that `matches`, again until none is left (a dying one
    /// may fork once more); returns the most found in one pass.
    private static func killAll(matching matches: (Int32, [Substring]) -> Bool) -> Int {
        var count = 0
        for _ in 0..<50 {
            var found = 0
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
            for entry in entries {
                guard let pid = Int32(entry), let fields = statFields(pid), !fields.isEmpty, fields[0] != "Z",
                      matches(pid, fields) else { continue }
                kill(pid, SIGKILL)
                found += 1
            }
            if found == 0 { break }
            count = max(count, found)
            usleep(1000)
        }
        return count
    }
}
