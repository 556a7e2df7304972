import Foundation
import PatchbayCore
import Testing

/// The guide's promise: each template builds with one command and runs under the host.
@Suite("SDK templates build with one command and run")
struct TemplateTests {
    static let hasCargo = (try? Fixtures.run("/usr/bin/env", ["cargo", "--version"]).status) == 0

    func copyTemplate(_ name: String) throws -> String {
        let directory = try Fixtures.temporaryDirectory()
        let target = directory + "/" + name
        try FileManager.default.copyItem(atPath: Fixtures.repository + "/SDK/templates/" + name, toPath: target)
        return target
    }

    func runGreetings(_ library: String) throws {
        let tables = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tables) }
        let result = try Fixtures.run(Fixtures.patchbay, ["task", "run", library, "--param", "count=3", "--param", "greeting=ahoj",
                                                          "--tables-dir", tables])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(try String(contentsOfFile: tables + "/out.greetings.csv", encoding: .utf8) == "n,greeting\n1,ahoj\n2,ahoj\n3,ahoj\n")
    }

    @Test("C: make")
    func c() throws {
        let directory = try copyTemplate("c")
        defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: directory).deletingLastPathComponent().path) }
        let build = try Fixtures.run("/usr/bin/env", ["make", "-s", "-C", directory, "SDK=\(Fixtures.repository)/SDK"])
        #expect(build.status == 0, "\(build.stderr)")
        try runGreetings(directory + "/libmy_connector.so")
    }

    @Test("Swift: swift build -c release")
    func swift() throws {
        let directory = try copyTemplate("swift")
        defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: directory).deletingLastPathComponent().path) }
        let manifest = directory + "/Package.swift"
        let text = try String(contentsOfFile: manifest, encoding: .utf8)
            .replacingOccurrences(of: "path: \"../..\"", with: "path: \"\(Fixtures.repository)/SDK\"")
        try text.write(toFile: manifest, atomically: true, encoding: .utf8)
        let build = try Fixtures.run("/usr/bin/env", ["swift", "build", "-c", "release", "--package-path", directory])
        #expect(build.status == 0, "\(build.stdout)\(build.stderr)")
        try runGreetings(directory + "/.build/release/libMyConnector.so")
    }

    @Test("Rust: cargo build --release", .enabled(if: hasCargo, "cargo is not installed"))
    func rust() throws {
        let directory = try copyTemplate("rust")
        defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: directory).deletingLastPathComponent().path) }
        let build = try Fixtures.run("/usr/bin/env", ["cargo", "build", "--release", "--offline", "--manifest-path", directory + "/Cargo.toml"])
        #expect(build.status == 0, "\(build.stderr)")
        try runGreetings(directory + "/target/release/libmy_connector.so")
    }
}
