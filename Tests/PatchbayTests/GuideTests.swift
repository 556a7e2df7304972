import Foundation
import PatchbayModel
import Testing

/// SDK/GUIDE.md cannot drift from the SDK: every C block compiles against the headers, every Swift block
/// type-checks against the SDK modules, every YAML block loads as a flow. (The `sh` blocks are commands:
/// TemplateTests runs the same ones on fresh copies of the templates.)
@Suite("The connector author's guide")
struct GuideTests {
    /// The guide's fenced blocks of one language, with the line each starts on.
    static func blocks(_ language: String) throws -> [(line: Int, code: String)] {
        let lines = try String(contentsOfFile: Fixtures.repository + "/SDK/GUIDE.md", encoding: .utf8).components(separatedBy: "\n")
        var blocks: [(Int, String)] = [], current: [String]?, start = 0
        for (index, line) in lines.enumerated() {
            if current == nil, line == "```" + language {
                current = []
                start = index + 2
            } else if current != nil, line == "```" {
                blocks.append((start, current!.joined(separator: "\n")))
                current = nil
            } else {
                current?.append(line)
            }
        }
        return blocks
    }

    @Test("every C block compiles against connector.h and params.h, warnings as errors")
    func cBlocks() throws {
        let blocks = try Self.blocks("c")
        #expect(blocks.count >= 3)
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for block in blocks {
            // Given the block after the includes an author writes
            let file = directory + "/block\(block.line).c"
            try ("#include <stdio.h>\n#include \"patchbay/connector.h\"\n#include \"patchbay/params.h\"\n#line \(block.line) \"GUIDE.md\"\n" + block.code + "\n")
                .write(toFile: file, atomically: true, encoding: .utf8)
            // When it is compiled, Then it compiles clean
            let build = try Fixtures.run("/usr/bin/env", ["cc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-Wno-unused-function",
                                                          "-Wno-unused-const-variable", "-fsyntax-only", "-I", Fixtures.sdkInclude, file])
            #expect(build.status == 0, "GUIDE.md block at line \(block.line):\n\(build.stderr)")
        }
    }

    @Test("the Swift blocks type-check together against PatchbaySDK and PatchbaySDKTesting")
    func swiftBlocks() throws {
        let blocks = try Self.blocks("swift")
        #expect(blocks.count >= 3)
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/guide.swift"
        try blocks.map { "#sourceLocation(file: \"GUIDE.md\", line: \($0.line))\n\($0.code)\n#sourceLocation()" }.joined(separator: "\n")
            .write(toFile: file, atomically: true, encoding: .utf8)
        let check = try Fixtures.run("/usr/bin/env", ["swiftc", "-typecheck", "-swift-version", "6", "-I", Fixtures.binDirectory + "/Modules",
                                                      "-I", Fixtures.sdkInclude, file])
        #expect(check.status == 0, "\(check.stderr)")
    }

    @Test("every YAML block loads as a flow, with no issue")
    func yamlBlocks() throws {
        let blocks = try Self.blocks("yaml")
        #expect(!blocks.isEmpty)
        for block in blocks {
            #expect(throws: Never.self, "GUIDE.md block at line \(block.line)") { try FlowLoader().load(text: block.code, file: "GUIDE.md") }
        }
    }
}
