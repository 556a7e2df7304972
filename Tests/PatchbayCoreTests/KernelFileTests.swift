import Foundation
@testable import PatchbayRunner
import Testing

/// The host's readers of /proc and cgroup files, which it uses once or more per task.
@Suite("Reading /proc and cgroup counter files")
struct KernelFileTests {
    @Test("a process's start time is field 22 of /proc/PID/stat, even when its name has spaces and parentheses; a gone pid has none")
    func startTimeFromStat() throws {
        // Given this process, and a child renamed to something awkward
        let me = try #require(ProcessIdentity(pid: getpid()))
        let fields = try #require(ProcessIdentity.statFields(getpid()))
        #expect(me.startTicks == Int64(fields[19]), "the byte reader and the field splitter agree")
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/sh")
        child.arguments = ["-c", "exec -a 'a) b (c' sleep 5"]
        try child.run()
        defer { child.terminate(); child.waitUntilExit() }
        // Then its start time is read (not thrown off by the name), and is no earlier than ours
        let deadline = ContinuousClock.now + .seconds(5)
        var identity = ProcessIdentity(pid: child.processIdentifier)
        while identity == nil, ContinuousClock.now < deadline { identity = ProcessIdentity(pid: child.processIdentifier) }
        let other = try #require(identity)
        #expect(other.startTicks >= me.startTicks)
        #expect(other.startTicks == Int64(try #require(ProcessIdentity.statFields(child.processIdentifier))[19]))
        // And a pid that is not running has no identity
        #expect(ProcessIdentity(pid: 0x3FFF_FFFF) == nil)
    }

    @Test("a counter file's number is read as the kernel writes it, and anything else is no number", arguments: [
        ("42\n", UInt64?.some(42)), ("0\n", 0), ("18446744073709551615\n", .max), ("max\n", nil), ("", nil), ("1 2 x\n", nil),
        ("18446744073709551616\n", nil),
    ])
    func counterNumbers(text: String, expected: UInt64?) throws {
        let path = NSTemporaryDirectory() + "counter-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        defer { unlink(path) }
        let fd = open(path, O_RDONLY)
        defer { close(fd) }
        #expect(CgroupFiles.number(fd) == expected)
    }
}
