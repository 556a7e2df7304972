import Foundation
import PatchbayCore
import PatchbayRegistry
import PatchbayRunner
import Testing

@Suite("The plugin registry")
struct RegistryTests {
    func directory(with plugins: [String]) throws -> String {
        let directory = try Fixtures.temporaryDirectory()
        for plugin in plugins {
            try FileManager.default.copyItem(atPath: try Fixtures.plugin(plugin), toPath: directory + "/lib\(plugin).so")
        }
        return directory
    }

    @Test("plugins that fail the probe are quarantined with the reason; the rest are ready")
    func quarantine() async throws {
        let directory = try directory(with: ["good", "abi_major", "not_elf", "constructor_crash"])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let registry = PluginRegistry(directories: PluginDirectories(directories: [directory], installDirectory: directory))
        await registry.refresh()
        let catalog = await registry.catalog
        #expect(catalog.count == 4)
        #expect(catalog.filter(\.isReady).map(\.id) == ["test.misbehaving"])
        let reasons = catalog.compactMap { entry -> String? in
            if case .quarantined(let reason) = entry.status { return reason }
            return nil
        }
        #expect(reasons.contains { $0.contains("ABI major version mismatch") })
        #expect(reasons.contains { $0.contains("not an ELF shared library") })
        #expect(reasons.contains { $0.contains("SIGSEGV") && $0.contains("while loading") })
        let good = try #require(catalog.first { $0.isReady })
        #expect(good.sha256.count == 64)
        #expect(good.sha256 == (try Fixtures.run("/usr/bin/sha256sum", [good.path]).stdout.prefix(64)).description)
    }

    @Test("several versions sit side by side; a task gets the newest or the one it names")
    func versions() async throws {
        let directory = try directory(with: ["versions_1_2_0", "versions_1_10_0"])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let registry = PluginRegistry(directories: PluginDirectories(directories: [directory], installDirectory: directory))
        await registry.refresh()
        #expect(try await registry.resolve("test.versions").version == "1.10.0")  // semver, not string order
        #expect(try await registry.resolve("test.versions@1.2.0").version == "1.2.0")
        await #expect(throws: RegistryError.unknownVersion(id: "test.versions", version: "9.9.9", available: ["1.10.0", "1.2.0"])) {
            try await registry.resolve("test.versions@9.9.9")
        }
        await #expect(throws: RegistryError.unknownConnector("test.nope", known: ["test.versions"])) {
            try await registry.resolve("test.nope")
        }
    }

    @Test("install probes first, then copies by temp file + rename; a bad plugin is refused")
    func install() async throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let registry = PluginRegistry(directories: PluginDirectories(directories: [directory], installDirectory: directory))
        let installed = try await registry.install(file: try Fixtures.plugin("versions_1_2_0"))
        #expect(installed.path == directory + "/libtest.versions-1.2.0.so")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["libtest.versions-1.2.0.so"])  // no temp left
        await #expect { try await registry.install(file: try Fixtures.plugin("abi_major")) } throws: {
            "\($0)".contains("not installing") && "\($0)".contains("ABI major version mismatch")
        }
    }

    @Test("a plugin copied into a watched directory is probed and usable by the next task within 1 second")
    func hotAdd() async throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let watch = Process()
        watch.executableURL = URL(fileURLWithPath: Fixtures.patchbay)
        watch.arguments = ["plugins", "watch", "--plugin-dir", directory, "--output", "json"]
        let output = Pipe()
        watch.standardOutput = output
        try watch.run()
        defer { watch.terminate(); watch.waitUntilExit() }
        // Given the watcher has said it watches (no sleep: it prints a ready line)
        let ready = try await firstLine(from: output.fileHandleForReading, within: .seconds(10))
        let readyEvent = try #require(try JSONSerialization.jsonObject(with: Data(ready.utf8)) as? [String: Any])
        #expect(readyEvent["event"] as? String == "watching")
        #expect(readyEvent["directories"] as? [String] == [directory])

        // Copy the way users are told to: temp file + rename.
        let plugin = try Fixtures.plugin("hot_added")  // built before the clock starts (the first use compiles every fixture)
        let copied = Date()
        try FileManager.default.copyItem(atPath: plugin, toPath: directory + "/.hot.tmp")
        rename(directory + "/.hot.tmp", directory + "/libhot_added.so")
        let line = try await firstLine(from: output.fileHandleForReading, within: .seconds(5))
        let elapsed = Date().timeIntervalSince(copied)
        let event = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(event["event"] as? String == "added")
        #expect(event["id"] as? String == "test.hot-added")
        #expect(elapsed < 1.0, "hot-add took \(elapsed) s")

        let run = try Fixtures.run(Fixtures.patchbay, ["task", "run", "test.hot-added", "--plugin-dir", directory, "--tables-dir", directory + "/tables"])
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
    }

    func firstLine(from handle: FileHandle, within limit: Duration) async throws -> String {
        let deadline = ContinuousClock.now + limit
        var buffer = Data()
        while ContinuousClock.now < deadline {
            var ready = pollfd(fd: handle.fileDescriptor, events: Int16(POLLIN), revents: 0)
            if poll(&ready, 1, 50) > 0 {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                buffer.append(chunk)
                if let newline = buffer.firstIndex(of: 0x0A) { return String(decoding: buffer[..<newline], as: UTF8.self) }
            }
        }
        throw Fixtures.FixtureError(message: "no line from the watcher within \(limit); got: \(String(decoding: buffer, as: UTF8.self))")
    }
}
