import Foundation
import PatchbayCore
import PatchbayEngine
import PatchbayRegistry
import Testing

/// Each command is a new process with a new registry; the project's store remembers what was probed.
@Suite("The plugin catalog is kept in the store: a command probes only new or changed files")
struct ProbeMemoryTests {
    /// A project whose flow uses a good plugin, with a plugin directory of its own holding it and a quarantined one.
    struct Setup {
        let root: String
        let plugins: String
        let project: Project

        init() throws {
            root = try Fixtures.temporaryDirectory()
            plugins = root + "/plugins"
            try FileManager.default.createDirectory(atPath: plugins, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: try Fixtures.plugin("good"), toPath: plugins + "/libgood.so")
            try FileManager.default.copyItem(atPath: try Fixtures.plugin("not_elf"), toPath: plugins + "/libnot_elf.so")
            try FileManager.default.createDirectory(atPath: root + "/flows", withIntermediateDirectories: true)
            try "name: m\nphases:\n  - id: p\n    tasks:\n      - {id: t, connector: test.misbehaving}\n"
                .write(toFile: root + "/flows/m.yaml", atomically: true, encoding: .utf8)
            project = Project(root: root)
        }

        /// What one command does: a new engine and registry load the flow. Returns the files it probed.
        func command() async throws -> (probed: Int, catalog: [CatalogEntry]) {
            let registry = PluginRegistry(directories: PluginDirectories(directories: [plugins], installDirectory: plugins))
            let engine = try Engine(project: project, registry: registry)
            _ = try await engine.load(flowFile: project.flowFile("m"))
            return (await registry.probeCount, await registry.catalog)
        }
    }

    @Test("the second command probes nothing and sees the same catalog, quarantine reasons included")
    func secondCommandProbesNothing() async throws {
        // Given a project whose first command probed its two plugin files
        let setup = try Setup()
        defer { try? FileManager.default.removeItem(atPath: setup.root) }
        let first = try await setup.command()
        #expect(first.probed == 2)
        // When a second command (a new process: new engine, new registry) loads the flow
        let second = try await setup.command()
        // Then it probes no file and knows the same entries
        #expect(second.probed == 0)
        #expect(second.catalog == first.catalog)
        #expect(second.catalog.contains { !$0.isReady && "\($0.status)".contains("not an ELF") })
    }

    @Test("a plugin replaced in place, with its size and modification time put back, is probed again")
    func replacedFileIsProbedAgain() async throws {
        // Given a project that remembers its plugins
        let setup = try Setup()
        defer { try? FileManager.default.removeItem(atPath: setup.root) }
        let first = try await setup.command()
        let good = setup.plugins + "/libgood.so"
        var before = stat()
        #expect(stat(good, &before) == 0)
        // When one byte of the file is changed in place (in the compiler's .comment note, so it still loads)
        // and its modification time is set back
        let bytes = try Data(contentsOf: URL(fileURLWithPath: good))
        let note = try #require(bytes.range(of: Data("GCC: ".utf8))).upperBound
        let handle = try #require(FileHandle(forUpdatingAtPath: good))
        try handle.seek(toOffset: UInt64(note))
        try handle.write(contentsOf: Data("X".utf8))
        try handle.close()
        var times = [before.st_atim, before.st_mtim]
        #expect(utimensat(AT_FDCWD, good, &times, 0) == 0)
        var after = stat()
        #expect(stat(good, &after) == 0)
        #expect(after.st_size == before.st_size && after.st_ino == before.st_ino)
        #expect(after.st_mtim.tv_sec == before.st_mtim.tv_sec && after.st_mtim.tv_nsec == before.st_mtim.tv_nsec)
        // Then the next command probes that file (its change time moved), and only that one
        let second = try await setup.command()
        #expect(second.probed == 1)
        let old = try #require(first.catalog.first { $0.path == good })
        let new = try #require(second.catalog.first { $0.path == good })
        #expect(old.sha256 != new.sha256)
        // And a file that is gone is forgotten
        try FileManager.default.removeItem(atPath: setup.plugins + "/libnot_elf.so")
        let third = try await setup.command()
        #expect(third.probed == 0)
        #expect(third.catalog.map(\.path) == [good])
        #expect(try await setup.command().catalog.map(\.path) == [good])
    }
}
