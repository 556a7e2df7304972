import Foundation
import PatchbayCore
@testable import PatchbayRunner
import Testing

/// Workspaces and cgroups are reused between tasks for speed; these prove reuse never leaks anything
/// from one task to the next.
@Suite("Reused workspaces and cgroups start clean")
struct ReuseTests {
    @Test("a workspace comes back to the pool only as the empty skeleton; anything a task left deletes it")
    func workspaceReuse() throws {
        let root = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let pool = WorkspacePool()

        // Given a workspace handed to a task uid, which it leaves empty
        let owner: UInt32? = getuid() == 0 ? 7_904_095 : nil
        let first = try pool.take(root: root, owner: owner)
        for directory in ["out/tables", "tmp"] {
            #expect(FileManager.default.fileExists(atPath: first + "/" + directory))
        }
        var info = stat()
        #expect(stat(first + "/out/tables", &info) == 0 && info.st_uid == owner ?? getuid())
        pool.giveBack(first, root: root, owner: owner)
        // Then it is reused, given back to the host's uid first
        #expect(stat(first + "/out/tables", &info) == 0 && info.st_uid == getuid())
        #expect(try pool.take(root: root) == first, "a clean workspace is reused")

        try "secret".write(toFile: first + "/out/tables/leftover.csv", atomically: false, encoding: .utf8)
        pool.giveBack(first, root: root)
        #expect(!FileManager.default.fileExists(atPath: first), "a workspace with a leftover file is deleted")
        let second = try pool.take(root: root)
        #expect(second != first)
        #expect(try FileManager.default.contentsOfDirectory(atPath: second + "/out/tables").isEmpty)

        try FileManager.default.removeItem(atPath: second + "/out/tables")
        try FileManager.default.createSymbolicLink(atPath: second + "/out/tables", withDestinationPath: "/etc")
        pool.giveBack(second, root: root)
        #expect(!FileManager.default.fileExists(atPath: second), "a workspace whose directory became a link is deleted")
        #expect(FileManager.default.fileExists(atPath: "/etc/passwd"), "deleting it never follows the link")

        let third = try pool.take(root: root)
        chmod(third, 0o777)
        pool.giveBack(third, root: root)
        let again = try pool.take(root: root)
        stat(again, &info)
        #expect(info.st_mode & 0o777 == 0o700, "a reused workspace is private again")

        if let owner {
            // A directory that ended up owned by anyone but the host or the task's uid is never reused
            let foreign = try pool.take(root: root, owner: owner)
            chown(foreign + "/tmp", owner - 1, owner - 1)
            pool.giveBack(foreign, root: root, owner: owner)
            #expect(!FileManager.default.fileExists(atPath: foreign))
        }
    }

    @Test("workspaces of hosts that are gone are swept; this host's are kept")
    func abandonedWorkspacesAreSwept() throws {
        let root = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        // A pid far above pid_max cannot be alive.
        let dead = root + "/task-99999999-feed", mine = root + "/task-\(getpid())-beef", other = root + "/notes"
        for path in [dead + "/out/tables", mine + "/in", other] {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
        WorkspacePool.sweepAbandoned(root: root)
        #expect(!FileManager.default.fileExists(atPath: dead))
        #expect(FileManager.default.fileExists(atPath: mine))
        #expect(FileManager.default.fileExists(atPath: other))
    }
}

@Suite("Reused cgroups")
struct CgroupReuseTests {
    @Test("a reused cgroup reports only its new task's process-limit hits, not the last task's",
          .enabled(if: Fixtures.hasCgroups, "this machine gives no writable cgroup v1 hierarchy, so nothing is pooled"))
    func countersStartAtZero() async throws {
        let pool = CgroupPool()
        defer { pool.removeAll() }
        let first = try TaskCgroups(mode: .current, taskID: "reuse-\(UInt32.random(in: 0...UInt32.max))",
                                    limits: TaskLimits(processes: 2), pool: pool)
        // A shell that waits until it is inside the group, then forks past pids.max (dash does not retry).
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/sh")
        shell.arguments = ["-c", "read go; for i in 1 2 3 4 5; do sleep 0.2 & done; wait"]
        let go = Pipe()
        shell.standardInput = go
        shell.standardError = FileHandle.nullDevice
        try shell.run()
        try first.join(shell.processIdentifier)
        go.fileHandleForWriting.write(Data("go\n".utf8))
        shell.waitUntilExit()
        #expect(first.counters.processLimitHits > 0, "the shell should have hit pids.max = 2")
        first.killAllAndRelease()

        let second = try TaskCgroups(mode: .current, taskID: "unused", limits: TaskLimits(processes: 64), pool: pool)
        #expect(second.pidsPath == first.pidsPath, "the emptied group is reused")
        #expect(second.counters.processLimitHits == 0)
        #expect(second.counters.outOfMemoryKills == 0)
        #expect(readSmallFile(second.pidsPath + "/pids.max")?.hasPrefix("64") == true, "the new task's limit is applied")
        second.killAllAndRelease()
    }

    @Test("a process left in a group reused within a second is still found and killed (cgroup v1 caches a read list for a second)",
          .enabled(if: Fixtures.hasCgroups, "this machine gives no writable cgroup v1 hierarchy, so nothing is pooled"))
    func leftoverInAReusedGroupIsKilled() throws {
        // Given a pair of groups that a task left empty, its process list read as it was given back
        let pool = CgroupPool()
        defer { pool.removeAll() }
        let first = try TaskCgroups(mode: .current, taskID: "reuse-\(UInt32.random(in: 0...UInt32.max))", limits: TaskLimits(), pool: pool)
        #expect(first.killAllAndRelease() == 0)
        // When the next task on the pair, at once, leaves a process behind
        let second = try TaskCgroups(mode: .current, taskID: "unused", limits: TaskLimits(), pool: pool)
        #expect(second.pidsPath == first.pidsPath, "the emptied group is reused")
        let daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: "/bin/sleep")
        daemon.arguments = ["300"]
        try daemon.run()
        try second.join(daemon.processIdentifier)
        // Then the sweep finds it, kills it, and says so
        let killed = second.killAllAndRelease()
        if killed != 1 { kill(daemon.processIdentifier, SIGKILL) }  // never leave it for 300 s, whatever the sweep did
        #expect(killed == 1, "the leftover was not seen: the group's list was read from the kernel's cache")
        daemon.waitUntilExit()
        #expect(daemon.terminationReason == .uncaughtSignal && daemon.terminationStatus == SIGKILL)
    }
}
