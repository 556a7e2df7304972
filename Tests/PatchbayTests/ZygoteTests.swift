import Foundation
import PatchbayCore
@testable import PatchbayRunner
import PatchbayWire
import Testing

/// Runners are forked by one pre-started zygote per host, as the host's own children.
@Suite("The zygote", .serialized)  // one test kills "the" zygote: no other test here may start a second one meanwhile
struct ZygoteTests {
    /// The pids of this process's zygotes (named pb-zygote, `patchbay-runner --zygote <our pid>`), from /proc;
    /// the runners it forked carry the same command line but their own name.
    static func zygotes() -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { pid in
            guard (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?.hasPrefix("pb-zygote") == true,
                  let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            let words = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            return words.count >= 3 && words[0].hasSuffix("patchbay-runner") && words[1] == "--zygote" && words[2] == String(getpid())
        }
    }

    @Test("the zygote preloads the host's own Swift runtime, found in the whole of /proc/self/maps, and Swift connectors load beside it")
    func preloadsTheSwiftRuntime() async throws {
        // Given this process, which maps the Swift runtime of its toolchain
        let core = try #require(SandboxPolicy.swiftRuntimeLibraries.first, "no Swift runtime library found in /proc/self/maps")
        // Then it is the one a Swift connector needs, and a task may read its directory
        #expect(core.hasSuffix("/libswiftCore.so"))
        #expect(SandboxPolicy.current.readablePaths.contains((core as NSString).deletingLastPathComponent))
        // And a Swift connector runs through the zygote that preloaded it
        let plugin = try FirstParty.directory.get() + "/libPatchbayTableDiff.so"
        let report = await TaskRunner().run(TaskSpec(pluginPath: plugin, mode: .probe), host: RecordingHost())
        #expect(report.classification == .succeeded, "\(report.classification.summary)")
    }

    @Test("a plugin's ELF says whether it links the Swift runtime: a Swift connector does, a C one does not, and a file that is not an ELF library names nothing")
    func linkageIsReadFromTheDynamicSection() throws {
        let directory = try FirstParty.directory.get()
        // Given the first-party Swift and C connectors
        let swift = try #require(PluginLinkage.neededLibraries(directory + "/libPatchbayTableDiff.so"))
        let c = try #require(PluginLinkage.neededLibraries(directory + "/libnoop.so"))
        // Then their DT_NEEDED names say which links the runtime
        #expect(swift.contains { $0.hasPrefix("libswiftCore.so") }, "\(swift)")
        #expect(c.contains { $0.hasPrefix("libc.so") } && !c.contains { $0.hasPrefix("libswift") }, "\(c)")
        #expect(PluginLinkage.needsSwiftRuntime(directory + "/libPatchbayTableDiff.so"))
        #expect(!PluginLinkage.needsSwiftRuntime(directory + "/libnoop.so"))
        // And a text file, or an ELF cut after its header, is not read as a library (the runtime zygote serves it)
        let root = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try "not a library".write(toFile: root + "/text.so", atomically: true, encoding: .utf8)
        let noop = try #require(FileManager.default.contents(atPath: directory + "/libnoop.so"))
        try noop.prefix(100).write(to: URL(fileURLWithPath: root + "/cut.so"))
        #expect(PluginLinkage.neededLibraries(root + "/text.so") == nil)
        #expect(PluginLinkage.neededLibraries(root + "/cut.so") == nil)
        #expect(PluginLinkage.needsSwiftRuntime(root + "/cut.so"))
    }

    @Test("a C connector's runner comes from a zygote with no Swift runtime loaded, a Swift connector's from one with it",
          .enabled(if: ProcessInfo.processInfo.environment["PATCHBAY_ZYGOTE"] != "off", "the zygote is turned off"))
    func zygoteByLinkage() async throws {
        let directory = try FirstParty.directory.get()
        // When a C connector and a Swift connector each run a task
        let c = await TaskRunner().run(TaskSpec(pluginPath: directory + "/libnoop.so"), host: RecordingHost())
        let swift = await TaskRunner().run(TaskSpec(pluginPath: directory + "/libPatchbayTableDiff.so", mode: .probe), host: RecordingHost())
        #expect(c.classification == .succeeded && swift.classification == .succeeded, "\(c.classification.summary); \(swift.classification.summary)")
        // Then this host has a zygote that preloads the runtime and one that maps no Swift library at all
        let zygotes = Self.zygotes().map { pid in
            ((try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? "").contains("--preload")
        }
        #expect(zygotes.contains(true) && zygotes.contains(false), "preloading per zygote: \(zygotes)")
    }

    @Test("a zygote killed while its task runs: the task finishes as if nothing happened, and the next one gets a new zygote",
          .enabled(if: ProcessInfo.processInfo.environment["PATCHBAY_ZYGOTE"] != "off", "the zygote is turned off"))
    func zygoteDeathLosesNothing() async throws {
        // Given a host whose zygote has started a task that takes a while
        let noop = try FirstParty.directory.get() + "/libnoop.so"
        let spec = TaskSpec(pluginPath: noop, parametersJSON: #"{"sleep_ms": 400}"#, limits: TaskLimits(timeout: .seconds(20)))
        async let running = TaskRunner().run(spec, host: RecordingHost())
        let deadline = ContinuousClock.now + .seconds(10)
        var zygotes = Self.zygotes()
        while zygotes.isEmpty, ContinuousClock.now < deadline {
            await Task.yield()
            zygotes = Self.zygotes()
        }
        let first = try #require(zygotes.first, "no zygote started")
        // When the zygote is killed
        kill(first, SIGKILL)
        // Then the running task, the host's own child, still succeeds
        let report = await running
        #expect(report.classification == .succeeded, "\(report.classification.summary)")
        // And the next task succeeds through a new zygote
        let next = await TaskRunner().run(TaskSpec(pluginPath: noop), host: RecordingHost())
        #expect(next.classification == .succeeded, "\(next.classification.summary)")
        // (a runner just forked carries the zygote's name for a moment, so count only that the killed one is gone)
        let now = Self.zygotes()
        #expect(!now.isEmpty && !now.contains(first), "\(now)")
    }

    @Test("a task forked by the zygote starts with every signal at its default, though the host ignores some",
          .enabled(if: ProcessInfo.processInfo.environment["PATCHBAY_ZYGOTE"] != "off", "the zygote is turned off"))
    func childrenStartWithDefaultSignals() async throws {
        // Given a host that ignores SIGHUP and SIGPIPE (an ignored signal survives exec) and a zygote started after that
        signal(SIGHUP, SIG_IGN)
        signal(SIGPIPE, SIG_IGN)
        let hostile = try FlowFixtures.directory.get() + "/libhostile.so"
        let spec = TaskSpec(pluginPath: hostile, parametersJSON: #"{"attack": "signals"}"#, limits: TaskLimits(timeout: .seconds(20)))
        let runner = TaskRunner()
        let first = await runner.run(spec, host: RecordingHost())
        for zygote in Self.zygotes() { kill(zygote, SIGKILL) }
        // When tasks look at their signals' dispositions, the first through a zygote that started only now
        let reports = [first, await runner.run(spec, host: RecordingHost()), await runner.run(spec, host: RecordingHost())]
        // Then every one of them finds the defaults (the zygote reset them once; its children do not need to)
        for report in reports { #expect(report.classification == .succeeded, "\(report.classification.summary)") }
        signal(SIGHUP, SIG_DFL)
    }

    @Test("a zygote holds the seccomp deny list for its children, and a policy with seccomp off gets a zygote without it",
          .enabled(if: getuid() == 0, "a task's own uid (so mount and bpf fail without seccomp) needs root"))
    func seccompZygotesAreKeptApart() async throws {
        // Given two runners in one host: every layer, and seccomp turned off
        let hostile = try FlowFixtures.directory.get() + "/libhostile.so"
        let filtered = TaskRunner(), unfiltered = TaskRunner(sandbox: SandboxPolicy(turningOff: ["seccomp"]))
        let spec = TaskSpec(pluginPath: hostile, parametersJSON: #"{"attack": "bpf"}"#, limits: TaskLimits(timeout: .seconds(20)))
        // When tasks that call bpf() alternate between them
        for _ in 0..<2 {
            let refused = await filtered.run(spec, host: RecordingHost())
            let allowed = await unfiltered.run(spec, host: RecordingHost())
            // Then under seccomp the call ends the task, named
            #expect(refused.classification == .refusedSystemCall(name: "bpf", phase: .running), "\(refused.classification.summary)")
            // And without it the call merely fails (the task's uid may not), and the connector says so itself
            #expect(allowed.classification.kind == "failed", "\(allowed.classification.summary)")
            #expect(allowed.classification.summary.contains("it was not stopped"), "\(allowed.classification.summary)")
        }
    }
}
