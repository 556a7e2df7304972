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
    /// Read once or twice per task: the start time is taken from the bytes of `/proc/PID/stat` directly.
    public init?(pid: Int32) {
        guard let stat = readSmallFile("/proc/\(pid)/stat") else { return nil }
        let bytes = stat.utf8
        guard let close = bytes.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        // After ") ": state is field 0, starttime field 19, each separated by one space.
        var field = -1, start: Int64 = 0, state: UInt8 = 0, digits = 0
        for byte in bytes[bytes.index(after: close)...] {
            if byte == UInt8(ascii: " ") {
                if field == 19 { break }
                field += 1
                continue
            }
            if field == 0 && state == 0 { state = byte }
            if field == 19 {
                guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"), digits < 18 else { return nil }
                start = start * 10 + Int64(byte - UInt8(ascii: "0"))
                digits += 1
            }
        }
        guard field == 19, digits > 0, state != UInt8(ascii: "Z") else { return nil }
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
