import Foundation
import Testing

/// `patchbay/params.h` is compiled as a connector author compiles it (cc, libc only, -Wall -Werror)
/// and run; each line of its output is one case.
@Suite("SDK patchbay/params.h reads a task's parameters in C")
struct ParamsHeaderTests {
    @Test("scalars, UTF-8 escapes, surrogate pairs, a lone surrogate, nested values, a short buffer, bad JSON, walking an object's members, column type words and skipping strings")
    func cases() throws {
        // Given the header compiled into a small program with every warning an error
        // When it reads each case
        let run = try Self.runCases([])
        // Then every value is read exactly, and what cannot be read says why
        #expect(run.stdout.split(separator: "\n") == [
            "rows 1 3132",
            "name 1 5ac3bc72696368",            // Zürich
            "emoji 1 f09f9880",                 // U+1F600 from a surrogate pair
            "lone 1 61efbfbd62",                // a, U+FFFD, b
            "nested -3",
            "list -3",
            "flag 1 74727565",
            "long -2 61626364",                 // truncated to cap - 1 bytes, and said so
            "missing 0",
            "rows -1",
            "rows -1",
            #"member 1 {"rows": 1}"#,
            #"members id (2) = "integer""#,
            #"members näme (5) = [1, {"x": 2}]"#,
            "members z (1) = null",
            "members end 0",
            "members of [1] -1",
            #"type "string" 1"#, #"type "timestamp" 7"#, #"type "json" 8"#,
            #"type "Integer" 0"#, "type 7 0", #"type "decimal 0"#,  // names are lower case; a number or a cut string names none
            "skip 6",                                                // "a\"b" is 6 bytes: the escaped quote is not its end
        ])
    }

    /// A case program of Tests/Fixtures/connectors compiled as an author compiles a connector (cc, libc only, every
    /// warning an error) and run; params_cases.c by default.
    static func runCases(_ arguments: [String], source: String = "params_cases", flags: [String] = []) throws -> (status: Int32, stdout: String, stderr: String) {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let program = directory + "/" + source
        let build = try Fixtures.run("/usr/bin/env", ["cc", "-std=c99", "-Wall", "-Wextra", "-Werror"] + flags + ["-I", Fixtures.sdkInclude,
                                                      Fixtures.connectorSources + "/\(source).c", "-o", program])
        try #require(build.status == 0, "\(build.stderr)")
        return try Fixtures.run(program, arguments)
    }

    /// The cases every parameter reader shares (C here, Rust in TemplateTests), with their expected results.
    static func sharedCases() throws -> (lines: [String], expected: [String]) {
        let text = try String(contentsOfFile: Fixtures.repository + "/Tests/Fixtures/params-cases.tsv", encoding: .utf8)
        let lines = text.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("#") }
        return (lines, lines.map { String($0.split(separator: "\t", omittingEmptySubsequences: false)[2]) })
    }

    @Test("the shared cases: a key inside another value is not a member, escapes and unicode unescape, nesting skips whole")
    func shared() throws {
        // Given the header compiled as an author compiles it, and the cases the Rust template is held to too
        // When it reads every case, Then each result is the expected one
        let run = try Self.runCases([Fixtures.repository + "/Tests/Fixtures/params-cases.tsv"])
        let (lines, expected) = try Self.sharedCases()
        let got = run.stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
        #expect(got.count == expected.count)
        for (index, line) in lines.enumerated() where index < got.count {
            #expect(got[index] == expected[index], "\(line)")
        }
    }
}

/// The first-party HTTP connectors' JSON path readers (`Plugins/common/http_client.h`), compiled as the
/// connectors are and run; each line of its output is one case.
@Suite("The HTTP connectors find a page's records where they start")
struct JSONPathTests {
    @Test("a dot path's value is found without crossing it: keys inside other values are not members, a cut value is the walk's to judge, the first equal key wins")
    func startOfValue() throws {
        // Given the header compiled as the connectors are, with every warning an error
        // When it looks up each path
        let run = try ParamsHeaderTests.runCases([], source: "json_path_cases", flags: ["-D_POSIX_C_SOURCE=200809L", "-D_DEFAULT_SOURCE"])
        // Then each value starts where the document has it, and what is not there is absent
        #expect(run.stdout.split(separator: "\n") == [
            "start data.items 19", "start data 9", "start (document) 0", "start meta.total 62",
            "start data.nope absent", "start data.items.id absent",
            "start items 31",       // the top-level items, not the one inside x
            "start items 10",       // records cut short are found; reading them reports where they stop
            "start items absent",   // a key without its colon on the way
            "start items absent",   // a value on the way that is not JSON
            "start items 15",       // keys compare unescaped
            "start items 10",       // the first of two equal keys
            "text meta.total 1 2",
        ])
    }
}
