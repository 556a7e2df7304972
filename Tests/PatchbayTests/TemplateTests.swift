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
        // And it passes the conformance kit the guide tells authors to run
        let check = try Fixtures.run(Fixtures.patchbay, ["plugins", "check", library])
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        #expect(check.stdout.contains("✓ conforms"), "\(check.stdout)")
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

        // And it shows an author inputs, credentials, state and outputs: a name per input row, signed
        let names = try Fixtures.directory(with: ["names.csv": "name\nAda\nLin\n"])
        defer { try? FileManager.default.removeItem(atPath: names) }
        let signed = try Fixtures.run(Fixtures.patchbay, ["task", "run", directory + "/.build/release/libMyConnector.so",
                                                          "--param", "from_input=names", "--input", "names=\(names)/names.csv",
                                                          "--credential", "signature=xyz", "--tables-dir", names + "/tables"])
        #expect(signed.status == 0, "\(signed.stdout)\(signed.stderr)")
        #expect(signed.stdout.contains(#"state: {"total":2}"#) && signed.stdout.contains("greeted = 2"), "\(signed.stdout)")
        #expect(try String(contentsOfFile: names + "/tables/out.greetings.csv", encoding: .utf8) == "n,greeting\n1,hello Ada (xyz)\n2,hello Lin (xyz)\n")
        // And check() is exported because the type is `Checking`, and cancel() is not
        let inspect = try Fixtures.run(Fixtures.patchbay, ["plugins", "inspect", directory + "/.build/release/libMyConnector.so"])
        #expect(inspect.stdout.contains("check()       yes   cancel()  no"), "\(inspect.stdout)")
    }

    @Test("Rust: cargo build --release, offline, with no warning; its tests hold it to the header and the shared parameter cases",
          .enabled(if: hasCargo, "cargo is not installed"))
    func rust() throws {
        // Given a fresh copy of the template
        let directory = try copyTemplate("rust")
        defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: directory).deletingLastPathComponent().path) }
        // When it is built with the one command the guide gives
        let build = try Fixtures.run("/usr/bin/env", ["cargo", "build", "--release", "--offline", "--manifest-path", directory + "/Cargo.toml"])
        // Then it builds clean and runs under the host
        #expect(build.status == 0, "\(build.stderr)")
        #expect(!build.stderr.contains("warning"), "\(build.stderr)")
        try runGreetings(directory + "/target/release/libmy_connector.so")

        // And its own tests pass against every constant a C compiler reads from the header, and the cases params.h passes
        let constants = directory + "/header-constants.txt"
        try Self.headerConstants().map { "\($0.name) \($0.value)" }.joined(separator: "\n").write(toFile: constants, atomically: true, encoding: .utf8)
        let test = try Fixtures.run("/usr/bin/env", ["cargo", "test", "--offline", "--manifest-path", directory + "/Cargo.toml"],
                                    environment: ProcessInfo.processInfo.environment.merging([
                                        "PATCHBAY_HEADER_CONSTANTS": constants,
                                        "PATCHBAY_PARAMS_CASES": Fixtures.repository + "/Tests/Fixtures/params-cases.tsv"]) { $1 })
        #expect(test.status == 0, "\(test.stdout)\(test.stderr)")
        #expect(test.stdout.contains("every_constant_of_the_header ... ok") && test.stdout.contains("the_shared_cases ... ok"), "\(test.stdout)")

        // And its structs name the header's fields and callbacks, in the header's order
        let bindings = try String(contentsOfFile: directory + "/src/patchbay.rs", encoding: .utf8)
        let header = try String(contentsOfFile: Fixtures.sdkInclude + "/patchbay/connector.h", encoding: .utf8)
        for name in ["patchbay_host", "patchbay_connector"] {
            #expect(Self.rustFields(name, in: bindings) == Self.headerFields(name, in: header), "\(name)")
        }
    }

    @Test("Rust panics: caught as the template does, the error quotes the panic; uncaught (an abort), the crash's summary is the panic",
          .enabled(if: hasCargo, "cargo is not installed"))
    func rustPanics() throws {
        // Given a connector built on the template's bindings that panics in run(), caught or not
        let target = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: target) }
        let build = try Fixtures.run("/usr/bin/env", ["cargo", "build", "--release", "--offline", "--target-dir", target,
                                                      "--manifest-path", Fixtures.connectorSources + "/rust_panic/Cargo.toml"])
        #expect(build.status == 0, "\(build.stderr)")
        let library = target + "/release/librust_panic.so"
        // When each runs
        let caught = try Fixtures.run(Fixtures.patchbay, ["task", "run", library, "--param", "mode=caught"])
        let uncaught = try Fixtures.run(Fixtures.patchbay, ["task", "run", library, "--param", "mode=uncaught"])
        // Then the caught one is a system error with the panic's message, and the aborted one a crash that quotes it
        #expect(caught.status == 1 && caught.stdout.contains("failed (system error): the connector panicked: index out of bounds"), "\(caught.stdout)")
        #expect(uncaught.status == 2, "\(uncaught.stdout)")
        #expect(uncaught.stdout.contains("crashed with SIGABRT (abort) in run(): panicked at src/lib.rs:"), "\(uncaught.stdout)")
        #expect(uncaught.stdout.contains("index out of bounds: the len is 0 but the index is 2 in"), "\(uncaught.stdout)")
        let summary = uncaught.stdout.split(separator: "\n").last.map(String.init) ?? ""
        #expect(!summary.contains("<unknown>") && !summary.contains("RUST_BACKTRACE") && !summary.contains(" | "), "\(summary)")
    }

    /// Every `PATCHBAY_*` enum constant of the header with the value a C compiler gives it.
    static func headerConstants() throws -> [(name: String, value: UInt64)] {
        let header = try String(contentsOfFile: Fixtures.sdkInclude + "/patchbay/connector.h", encoding: .utf8)
        let names = header.split(separator: "\n").compactMap { line -> String? in
            let words = line.trimmingCharacters(in: .whitespaces).split(separator: " ", maxSplits: 2)
            guard words.count >= 2, words[0].hasPrefix("PATCHBAY_"), words[1] == "=" else { return nil }
            return String(words[0])
        }
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let source = "#include <stdio.h>\n#include \"patchbay/connector.h\"\nint main(void) {\n"
            + names.map { "    printf(\"\($0) %llu\\n\", (unsigned long long)\($0));\n" }.joined() + "    return 0;\n}\n"
        try source.write(toFile: directory + "/constants.c", atomically: true, encoding: .utf8)
        let build = try Fixtures.run("/usr/bin/env", ["cc", "-I", Fixtures.sdkInclude, directory + "/constants.c", "-o", directory + "/constants"])
        guard build.status == 0 else { throw Fixtures.FixtureError(message: build.stderr) }
        return try Fixtures.run(directory + "/constants", []).stdout.split(separator: "\n").map { line in
            let parts = line.split(separator: " ")
            return (String(parts[0]), UInt64(parts[1]) ?? .max)
        }
    }

    /// The field names of a C struct in the header, in order (function pointers by their name).
    static func headerFields(_ name: String, in header: String) -> [String] {
        guard let start = header.range(of: "typedef struct \(name) {"), let end = header.range(of: "} \(name);", range: start.upperBound..<header.endIndex)
        else { return [] }
        var body = String(header[start.upperBound..<end.lowerBound])
        while let open = body.range(of: "/*"), let close = body.range(of: "*/", range: open.upperBound..<body.endIndex) {
            body.removeSubrange(open.lowerBound..<close.upperBound)
        }
        return body.split(separator: ";").compactMap { declaration in
            let text = declaration.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !text.isEmpty else { return nil }
            if let pointer = text.range(of: "(*") {
                return String(text[pointer.upperBound...].prefix { $0 != ")" })
            }
            return text.split(whereSeparator: { " *".contains($0) }).last.map(String.init)
        }
    }

    /// The field names of a `#[repr(C)] pub struct` in the Rust bindings, in order.
    static func rustFields(_ name: String, in source: String) -> [String] {
        guard let start = source.range(of: "pub struct \(name) {"), let end = source.range(of: "\n}", range: start.upperBound..<source.endIndex)
        else { return [] }
        return source[start.upperBound..<end.lowerBound].split(separator: "\n").compactMap { line in
            let text = line.trimmingCharacters(in: .whitespaces)
            guard text.hasPrefix("pub "), let colon = text.firstIndex(of: ":") else { return nil }
            return String(text[text.index(text.startIndex, offsetBy: 4)..<colon])
        }
    }
}
