import Foundation
import PatchbayCore
import Testing

/// First-party connectors, built from source for the tests: C ones with the
/// project's Makefile, the Swift one by SwiftPM (scripts/build runs before the tests).
enum FirstParty {
    static let directory: Result<String, Fixtures.FixtureError> = {
        do {
            let directory = try Fixtures.temporaryDirectory()
            let make = try Fixtures.run("/usr/bin/env", ["make", "-s", "-C", Fixtures.repository + "/Plugins", "OUT=\(directory)"])
            guard make.status == 0 else { return .failure(.init(message: "make: \(make.stderr)")) }
            let swiftPlugin = Fixtures.binDirectory + "/libPatchbayTableDiff.so"
            guard FileManager.default.fileExists(atPath: swiftPlugin) else {
                return .failure(.init(message: "\(swiftPlugin) is missing: run scripts/build before the tests"))
            }
            try FileManager.default.copyItem(atPath: swiftPlugin, toPath: directory + "/libPatchbayTableDiff.so")
            return .success(directory)
        } catch {
            return .failure(.init(message: "\(error)"))
        }
    }()

    /// Runs the real CLI with the first-party plugins and the given arguments.
    static func patchbay(_ arguments: [String], input: Data? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
        try Fixtures.run(Fixtures.patchbay, arguments + ["--plugin-dir", try directory.get()], input: input)
    }
}

@Suite("The patchbay command line")
struct CLITests {
    @Test("the root help, verbatim: what Patchbay is, where to start, and every exit code once")
    func rootHelpVerbatim() throws {
        // Given the built CLI, When its help is printed (not on a terminal: ArgumentParser wraps at 80 columns)
        let root = try Fixtures.run(Fixtures.patchbay, ["--help"])
        // Then the text before the usage line is exactly this: paragraphs wrapped once, lists never broken
        #expect(root.status == 0)
        let head = root.stdout.components(separatedBy: "\nUSAGE:").first ?? ""
        #expect(head == """
            OVERVIEW: Run data-integration connectors, each isolated in a process of its
            own.

            Connectors are shared libraries built against the Patchbay C ABI
            (SDK/include/patchbay/connector.h). Every task runs in a `patchbay-runner`
            process: a crash, hang or memory blow-up of a connector becomes a clear task
            error and the host keeps going.

            Start here:
              patchbay init demo && cd demo && patchbay run orders
              patchbay doctor          what confinement this machine allows
              patchbay plugins list    connectors found in the plugin directories
              patchbay task run dev.patchbay.sample-data --param rows=5

            Exit codes:
              0   success
              1   a task failed (the connector reported an error), or was cancelled
              2   a task crashed, timed out, hit a limit, or broke the protocol
              3   unknown plugin, or it refused to load
              4   a flow or input is invalid or missing; or no such run, token or table
              5   the run ended in warning (a task with continueOnFailure failed)
              6   the run was terminated (on request, by Ctrl-C, or its host died)
              7   the token was refused, or a key file is not private
              8   the project's store or files could not be read or written
              9   gave up waiting
              10  a status check is not ready yet (PENDING): ask again later
              64  invalid command line

            """)
    }

    @Test("no command's help has a line that ArgumentParser must break: examples and lists stay whole",
          arguments: ["", "init", "run", "validate", "seal", "jobs", "jobs list", "jobs show", "jobs logs", "jobs retry",
                      "jobs terminate", "tables", "tables show", "tables export", "tokens", "tokens create", "credentials",
                      "credentials set", "encrypt", "plugins", "plugins watch", "plugins check", "flows", "flows list", "task", "task run", "doctor"])
    func helpLinesFit(_ command: String) throws {
        // Given a screen wide enough that nothing is wrapped, When the help is printed
        let arguments = command.split(separator: " ").map(String.init) + ["--help"]
        let wide = try Fixtures.run(Fixtures.patchbay, arguments, environment: ["COLUMNS": "1000"])
        // Then every indented line of the discussion (examples, exit codes) fits in 80 columns,
        // so that the 80-column help shows it on one line
        let discussion = wide.stdout.components(separatedBy: "\nUSAGE:").first ?? ""
        let long = discussion.split(separator: "\n").filter { $0.hasPrefix(" ") && $0.count >= 80 }
        #expect(long.isEmpty, "\(long)")
    }

    @Test("each command's help lists the exit codes it can end with, worded as in the one table")
    func exitCodesPerCommand() throws {
        let run = try Fixtures.run(Fixtures.patchbay, ["run", "--help"]).stdout
        #expect(run.contains("  5   the run ended in warning (a task with continueOnFailure failed)\n  6   the run was terminated"))
        #expect(!run.contains("  2   a task crashed"), "run never exits 2")
        let task = try Fixtures.run(Fixtures.patchbay, ["task", "run", "--help"]).stdout
        #expect(task.contains("  2   a task crashed, timed out, hit a limit, or broke the protocol"))
        #expect(!task.contains("  6   "), "task run never exits 6")
        let terminate = try Fixtures.run(Fixtures.patchbay, ["jobs", "terminate", "--help"]).stdout
        #expect(terminate.contains("  9   gave up waiting"))
    }

    @Test("a table write that fails says why and where: the system's reason, the table and its path")
    func ioFailureKeepsItsCause() throws {
        // Given a task that may write files of at most 1 MB (the same failure as a full disk, made safely)
        let tables = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tables) }
        // When it writes a table larger than that
        let result = try FirstParty.patchbay(["task", "run", "dev.patchbay.sample-data", "--param", "rows=200000",
                                              "--max-file-mb", "1", "--tables-dir", tables])
        // Then it fails, and its error carries the cause and the path, not only "write_records failed"
        #expect(result.status == 1, "\(result.stdout)\n\(result.stderr)")
        #expect(result.stdout.contains("file too large (the task's file size limit is 1024 KiB), writing table 'in.sample' at /"), "\(result.stdout)")
        #expect(result.stdout.contains("/out/tables/in.sample.csv"), "\(result.stdout)")
        #expect(!FileManager.default.fileExists(atPath: tables + "/in.sample.csv"), "a failed task leaves no table")
    }

    @Test("help teaches: examples and every exit code")
    func help() throws {
        let root = try Fixtures.run(Fixtures.patchbay, ["--help"])
        #expect(root.status == 0)
        #expect(root.stdout.contains("Exit codes:\n  0   success"))
        let run = try Fixtures.run(Fixtures.patchbay, ["task", "run", "--help"])
        #expect(run.stdout.contains("patchbay task run dev.patchbay.sample-data --param rows=1000"))
        #expect(run.stdout.contains("--credential <name=value>"))
    }

    @Test("a real task end to end: log, outputs, table landed, JSON for scripts")
    func sampleData() throws {
        let tables = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tables) }
        let result = try FirstParty.patchbay(["task", "run", "dev.patchbay.sample-data", "--param", "rows=250", "--tables-dir", tables, "--output", "json"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(json["status"] as? String == "success" && json["exit"] as? String == "succeeded", "status and exit, as a job's JSON has them")
        let table = try #require((json["tables"] as? [[String: Any]])?.first)
        #expect(table["rows"] as? Int == 250)
        let csv = try String(contentsOfFile: tables + "/in.sample.csv", encoding: .utf8)
        #expect(csv.split(separator: "\n").count == 251)
        #expect(csv.hasPrefix("id,customer,country,amount,created_at\n1,"))
    }

    @Test("an input table is read as a stream: a field of 1.5 MiB with quotes and line breaks across the reader's window arrives whole")
    func inputStreams() throws {
        // Given a 3 MiB table: 20,000 small rows around one huge quoted field that spans the 1 MiB read window
        var csv = "id,text\n"
        for i in 0..<10_000 { csv += "\(i),row \(i)\n" }
        let huge = String(repeating: "a,\"\"b\nc", count: 1_572_864 / 8)  // 1.5 MiB unquoted: commas, quotes, line breaks
        let unquoted = huge.replacingOccurrences(of: "\"\"", with: "\"")
        csv += "huge,\"\(huge)\"\n"
        for i in 10_000..<20_000 { csv += "\(i),row \(i)\n" }
        let directory = try Fixtures.directory(with: ["big.csv": csv])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // When a connector reads it to its end
        let result = try FirstParty.patchbay(["task", "run", "dev.patchbay.noop", "--param", "count_input=big", "--input", "big=\(directory)/big.csv",
                                              "--output", "json"])
        // Then every row arrived, the huge field whole and unescaped
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let outputs = Dictionary(uniqueKeysWithValues: (json["outputs"] as? [[String: Any]] ?? []).map { ($0["name"] as! String, $0["value"] as! String) })
        #expect(outputs["input_rows"] == "20001")
        #expect(outputs["input_longest_field"] == String(unquoted.utf8.count), "\(outputs)")
    }

    @Test("tables show previews records, not lines: a quoted line break stays inside its field, in text and JSON")
    func tablesShowRecords() throws {
        // Given a table whose second row holds a line break inside a quoted field
        let project = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: project) }
        let data = try Fixtures.directory(with: ["n.csv": "id,note\n1,plain\n2,\"two\nlines\"\n3,last\n"])
        defer { try? FileManager.default.removeItem(atPath: data) }
        _ = try FirstParty.patchbay(["init", project])
        try FileManager.default.createDirectory(atPath: project + "/flows", withIntermediateDirectories: true)
        try "phases:\n  - id: p\n    tasks:\n      - {id: x, connector: dev.patchbay.file-extract, files: {read: [\"\(data)\"]}, parameters: {path: \"\(data)/n.csv\", table: in.notes}}\n"
            .write(toFile: project + "/flows/n.yaml", atomically: true, encoding: .utf8)
        #expect(try FirstParty.patchbay(["run", "n", "--project", project]).status == 0)
        // When it is shown
        let text = try FirstParty.patchbay(["tables", "show", "in.notes", "--project", project])
        let json = try FirstParty.patchbay(["tables", "show", "in.notes", "--project", project, "--output", "json"])
        // Then each row is one record
        #expect(text.stdout.contains("first 3 rows:\n  1 | plain\n  2 | two\\nlines\n  3 | last"), "\(text.stdout)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect((object["preview"] as? [[String: String]])?[1] == ["id": "2", "note": "two\nlines"], "\(json.stdout)")
    }

    @Test("task run checks the parameters against the connector's schema first, naming each parameter at fault, and runs nothing")
    func taskRunValidatesParameters() throws {
        // Given sample-data, whose schema wants an integer `rows` ≥ 0 and no unknown parameter
        let tables = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tables) }
        // When it is run with a string where the integer goes, and a parameter it does not know
        let result = try FirstParty.patchbay(["task", "run", "dev.patchbay.sample-data", "--param", "rows=abc", "--tables-dir", tables])
        let unknown = try FirstParty.patchbay(["task", "run", "dev.patchbay.sample-data", "--param", "colour=red", "--tables-dir", tables])
        // Then each is refused as invalid input, with the parameter and the reason, and no table lands
        #expect(result.status == 4, "\(result.stdout)\(result.stderr)")
        #expect(result.stderr.contains(#"--param rows: expected integer, found string ("abc")"#), "\(result.stderr)")
        #expect(result.stderr.contains("nothing was run"))
        #expect(unknown.status == 4 && unknown.stderr.contains("colour"), "\(unknown.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: tables).isEmpty)
    }

    @Test("task run of a status check that is not ready exits 10 (PENDING) and says so, with the state it set")
    func taskRunPending() throws {
        // Given a status check that counts its calls in its state and is ready at the fifth
        let check = try FlowFixtures.directory.get() + "/libstatus_check.so"
        // When task run calls it once
        let result = try FirstParty.patchbay(["task", "run", check, "--param", "count_in_state=true", "--param", "ready_after=5"])
        // Then it ends with the PENDING code and mark, and the state it set is shown
        #expect(result.status == 10, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("⧗ not ready yet"), "\(result.stdout)")
        #expect(result.stdout.contains(#"state: {"calls":1}"#), "\(result.stdout)")
    }

    @Test("progress shows in task run's JSON, as a progress line in the job's log, and as the last value in jobs show")
    func progressIsVisible() throws {
        // Given sample-data, which reports progress per batch of rows
        let tables = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tables) }
        // When it runs alone with JSON output
        let result = try FirstParty.patchbay(["task", "run", "dev.patchbay.sample-data", "--param", "rows=5000", "--tables-dir", tables, "--output", "json"])
        // Then the result lists the reports, the last one complete
        #expect(result.status == 0, "\(result.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let progress = try #require(json["progress"] as? [[String: Any]])
        #expect(!progress.isEmpty && progress.last?["fraction"] as? Double == 1.0, "\(progress)")

        // And in a flow, the job's log holds it and jobs show prints the last value
        let project = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: project) }
        try FileManager.default.createDirectory(atPath: project + "/flows", withIntermediateDirectories: true)
        try "name: p\n".write(toFile: project + "/patchbay.yaml", atomically: true, encoding: .utf8)
        try "phases:\n  - id: p\n    tasks:\n      - {id: gen, connector: dev.patchbay.sample-data, parameters: {rows: 5000}}\n"
            .write(toFile: project + "/flows/p.yaml", atomically: true, encoding: .utf8)
        _ = try FirstParty.patchbay(["init", project])
        let run = try FirstParty.patchbay(["run", "p", "--project", project])
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        let shown = try FirstParty.patchbay(["jobs", "show", "--project", project])
        #expect(shown.stdout.contains("progress: 100%"), "\(shown.stdout)")
        let logs = try FirstParty.patchbay(["jobs", "logs", "--project", project])
        #expect(logs.stdout.contains("progress") && logs.stdout.contains("100%"), "\(logs.stdout)")
    }

    @Test("exit codes: crash 2, unknown connector 3, refused plugin 3, malformed config 4 with line and column")
    func exitCodes() throws {
        let crash = try FirstParty.patchbay(["task", "run", try Fixtures.plugin("segfault")])
        #expect(crash.status == 2)
        #expect(crash.stdout.contains("crashed with SIGSEGV"))

        let unknown = try FirstParty.patchbay(["task", "run", "com.example.nothing"])
        #expect(unknown.status == 3)
        #expect(unknown.stderr.contains("unknown connector 'com.example.nothing'"))
        #expect(unknown.stderr.contains("dev.patchbay.sample-data"))
        #expect(unknown.stderr.contains("hint: `patchbay plugins list` shows the installed connectors"))

        let notELF = try FirstParty.patchbay(["task", "run", try Fixtures.plugin("not_elf")])
        #expect(notELF.status == 3)
        #expect(notELF.stderr.contains("quarantined: refused to load (not an ELF shared library)"))

        let directory = try Fixtures.directory(with: ["params.json": "{\n  \"rows\": 5,\n  \"table\": in.sample\n}\n"])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let malformed = try FirstParty.patchbay(["task", "run", "dev.patchbay.sample-data", "--config", directory + "/params.json"])
        #expect(malformed.status == 4)
        #expect(malformed.stderr.contains("params.json: not valid JSON (line 3, column 12: 'in.sample' is not a JSON value"))

        let usage = try FirstParty.patchbay(["task", "run", "dev.patchbay.sample-data", "--param", "rows"])
        #expect(usage.status == 64)
    }

    @Test("an error states the fact and the CLI alone adds the next step, naming its own command")
    func errorsCarryTheCLIsHint() throws {
        // Given a new project with no runs and an empty table catalog
        let root = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(try FirstParty.patchbay(["init", root]).status == 0)
        // When a run, a table and a token that are not there are asked for
        let noRuns = try FirstParty.patchbay(["jobs", "show", "--project", root])
        let noRun = try FirstParty.patchbay(["jobs", "show", "999", "--project", root])
        let noTable = try FirstParty.patchbay(["tables", "show", "in.nope", "--project", root])
        let noToken = try FirstParty.patchbay(["tokens", "revoke", "999", "--project", root])
        // Then each says what is wrong on one line and what to do on the next, and exits as the table says
        #expect(noRuns.stderr == "error: there are no runs yet\nhint: start one with `patchbay run FLOW`\n")
        #expect(noRun.stderr == "error: there is no run 999\nhint: `patchbay jobs list` shows the runs\n")
        #expect(noTable.stderr.hasPrefix("error: no table 'in.nope' in the catalog (it is empty)\nhint: `patchbay tables list`"))
        #expect(noToken.stderr == "error: there is no token 999\nhint: `patchbay tokens list` shows the tokens\n")
        #expect([noRuns.status, noRun.status, noTable.status, noToken.status] == [4, 4, 4, 4])
    }

    @Test("--log-level debug tells on stderr what the registry and the runner did; the default says nothing of it")
    func logLevel() throws {
        // Given a task run twice, once at the default level and once at debug
        let quiet = try FirstParty.patchbay(["task", "run", "dev.patchbay.noop"])
        let verbose = try FirstParty.patchbay(["task", "run", "dev.patchbay.noop", "--log-level", "debug"])
        // Then only the debug run explains itself, and only on stderr
        #expect(quiet.status == 0 && verbose.status == 0)
        #expect(!quiet.stderr.contains("probed a plugin") && !quiet.stderr.contains("task ended"))
        #expect(verbose.stderr.contains("debug patchbay.registry:") && verbose.stderr.contains("probed a plugin"))
        #expect(verbose.stderr.contains("debug patchbay.runner:") && verbose.stderr.contains("task ended"))
        #expect(!verbose.stdout.contains("probed a plugin"))
    }

    @Test("--output json writes valid JSON whatever the text holds, keys in byte order, numbers and booleans as such")
    func jsonOutputIsExact() throws {
        // Given a message with quotes, a backslash, a slash, a line break, a control character and non-ASCII text
        let message = "q\"\\/\n\u{01}ü ✓"
        // When a task logs it and the result is asked for as JSON
        let result = try FirstParty.patchbay(["task", "run", "dev.patchbay.noop", "--param", "message=\(message)", "--output", "json"])
        #expect(result.status == 0, "\(result.stderr)")
        // Then the text parses, the message comes back byte for byte, and every object's keys are sorted
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result.stdout)")
        let logs = try #require(object["logs"] as? [[String: Any]])
        #expect(logs.contains { ($0["message"] as? String) == message }, "\(logs)")
        let topLevel = result.stdout.split(separator: "\n").filter { $0.hasPrefix("  \"") }.map { $0.dropFirst(3).prefix { $0 != "\"" } }
        #expect(!topLevel.isEmpty && topLevel == topLevel.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }, "\(topLevel)")
        // And a plugin's schema keeps its numbers and booleans (a parsed 0 is not false)
        let inspect = try FirstParty.patchbay(["plugins", "inspect", "dev.patchbay.file-extract", "--output", "json"])
        #expect(inspect.stdout.contains(#""minimum" : 0"#) && inspect.stdout.contains(#""has_check" : true"#), "\(inspect.stdout)")
    }

    @Test("plugins list and inspect show id, pattern, ABI, SHA-256 and the declared outputs and tables")
    func pluginsList() throws {
        let list = try FirstParty.patchbay(["plugins", "list"])
        #expect(list.status == 0)
        for id in ["dev.patchbay.file-extract@1.2.0", "dev.patchbay.sample-data@1.0.0", "dev.patchbay.table-diff@1.3.0"] {
            #expect(list.stdout.contains(id))
        }
        let inspect = try FirstParty.patchbay(["plugins", "inspect", "dev.patchbay.table-diff", "--output", "json"])
        let json = try #require(try JSONSerialization.jsonObject(with: Data(inspect.stdout.utf8)) as? [String: Any])
        #expect(json["pattern"] as? String == "validation")
        #expect(json["abi"] as? String == "1.5")
        #expect(json["outputs"] as? [String] == ["primary_rows", "secondary_rows", "differing_rows"])
        #expect(json["tables"] as? [String] == ["{diffTable}"])
        let noop = try FirstParty.patchbay(["plugins", "inspect", "dev.patchbay.noop"])
        #expect(noop.stdout.contains("outputs       not declared") && noop.stdout.contains("tables        not declared"), "\(noop.stdout)")
        #expect((json["sha256"] as? String)?.count == 64)
        #expect((json["parameters_schema"] as? [String: Any])?["type"] as? String == "object")
    }
}

@Suite("First-party connectors do real work")
struct FirstPartyConnectorTests {
    @Test("file-extract reads CSV with quoted fields and JSON lines into tables")
    func fileExtract() throws {
        let directory = try Fixtures.directory(with: [
            "a.csv": "id,note\n1,\"hello, world\"\n2,\"she said \"\"hi\"\"\"\n",
            "b.jsonl": "{\"id\": 1, \"name\": \"Ann\", \"vip\": true}\n{\"id\": 2, \"name\": \"B\\u00e9la\"}\n",
        ])
        defer { try? FileManager.default.removeItem(atPath: directory) }

        let csv = try FirstParty.patchbay(["task", "run", "dev.patchbay.file-extract", "--read", directory, "--param", "path=\(directory)/a.csv",
                                           "--param", "table=in.notes", "--tables-dir", directory + "/tables"])
        #expect(csv.status == 0, "\(csv.stdout)\(csv.stderr)")
        #expect(try String(contentsOfFile: directory + "/tables/in.notes.csv", encoding: .utf8)
                == "id,note\n1,\"hello, world\"\n2,\"she said \"\"hi\"\"\"\n")

        let jsonl = try FirstParty.patchbay(["task", "run", "dev.patchbay.file-extract", "--read", directory, "--param", "path=\(directory)/b.jsonl",
                                             "--param", "table=in.people", "--tables-dir", directory + "/tables"])
        #expect(jsonl.status == 0, "\(jsonl.stdout)\(jsonl.stderr)")
        #expect(try String(contentsOfFile: directory + "/tables/in.people.csv", encoding: .utf8) == "id,name,vip\n1,Ann,true\n2,Béla,\n")
    }

    @Test("a malformed file fails with a config error naming the record, and lands no table")
    func malformedFile() throws {
        let directory = try Fixtures.directory(with: ["bad.csv": "a,b\n1,2\n3\n"])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try FirstParty.patchbay(["task", "run", "dev.patchbay.file-extract", "--read", directory, "--param", "path=\(directory)/bad.csv",
                                              "--tables-dir", directory + "/tables"])
        #expect(result.status == 1)
        #expect(result.stdout.contains("failed (config error): \(directory)/bad.csv:3: 1 fields where the header has 2: 3 (onBadRow: skip or reject would go on)"), "\(result.stdout)")
        #expect(!FileManager.default.fileExists(atPath: directory + "/tables"))
    }

    @Test("file-extract is tolerant and exact: BOM, physical line numbers, varying JSON keys, null, truncated lines, bad UTF-8, encodings, duplicate headers, delimiters, quotes, rejects")
    func fileExtractTolerance() throws {
        // Given files a data engineer meets on day one
        let directory = try Fixtures.directory(with: [
            "orders.csv": "\u{FEFF}id,name,note\n1,Ada,\"a, b\"\n2,Lin,\"multi\nline\"\n3,bad\n4,Zoë,ok\n",
            "customers.jsonl": "{\"id\":1,\"a\":\"x\"}\n{\"id\":2,\"b\":null}\n{\"id\":3\n{\"id\":4,\"a\":\"y\",\"c\":true}\n",
            "semicolons.csv": "id;name\n1;a\n",
            "twice.csv": "id,id\n1,2\n",
            "latin1.csv": "id\n\u{00E9}\n",
        ])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Data([0x69, 0x64, 0x0A, 0xE9, 0x0A]).write(to: URL(fileURLWithPath: directory + "/latin1.csv"))
        func extract(_ file: String, _ parameters: [String] = []) throws -> (status: Int32, stdout: String) {
            let result = try FirstParty.patchbay(["task", "run", "dev.patchbay.file-extract", "--read", directory, "--param", "path=\(directory)/\(file)",
                                                  "--tables-dir", directory + "/tables"] + parameters.flatMap { ["--param", $0] })
            return (result.status, result.stdout)
        }
        func table(_ name: String) throws -> String { try String(contentsOfFile: directory + "/tables/\(name).csv", encoding: .utf8) }

        // When a CSV with a BOM and one short row is read as it is, Then the row's physical line (after a quoted newline) and text are named
        let strict = try extract("orders.csv")
        #expect(strict.status == 1 && strict.stdout.contains("orders.csv:5: 2 fields where the header has 3: 3,bad"), "\(strict.stdout)")
        // When the bad row is rejected, Then the good rows land with a clean first column, and the bad one in <table>_rejected
        let rejected = try extract("orders.csv", ["table=in.orders", "onBadRow=reject"])
        #expect(rejected.status == 0, "\(rejected.stdout)")
        #expect(try table("in.orders") == "id,name,note\n1,Ada,\"a, b\"\n2,Lin,\"multi\nline\"\n4,Zoë,ok\n")
        #expect(try table("in.orders_rejected") == "line,raw,reason\n5,\"3,bad\",2 fields where the header has 3\n")
        // When more rows are bad than allowed, Then the job fails and says by how much
        let share = try extract("orders.csv", ["onBadRow=skip", "maxBadShare=0.1"])
        #expect(share.status == 1 && share.stdout.contains("1 of 4 rows were bad (25.00%), more than maxBadShare 10.00%"), "\(share.stdout)")

        // When JSON lines vary in their keys, have a null and one truncated line, Then the columns are the union and the line is named
        let truncated = try extract("customers.jsonl")
        #expect(truncated.status == 1 && truncated.stdout.contains("customers.jsonl:3: the object is not closed (a truncated line?): {\"id\":3"), "\(truncated.stdout)")
        let skipped = try extract("customers.jsonl", ["table=in.customers", "onBadRow=skip"])
        #expect(skipped.status == 0, "\(skipped.stdout)")
        #expect(try table("in.customers") == "id,a,b,c\n1,x,,\n2,,,\n4,y,,true\n")

        // And a semicolon file reads with its delimiter, a header naming a column twice and bytes that are not UTF-8 are refused, each named
        #expect(try extract("semicolons.csv", ["table=in.semi", "delimiter=;"]).status == 0)
        #expect(try table("in.semi") == "id,name\n1,a\n")
        let twice = try extract("twice.csv")
        #expect(twice.stdout.contains("the header names column 'id' twice (columns 1 and 2)"), "\(twice.stdout)")
        let latin1 = try extract("latin1.csv")
        #expect(latin1.stdout.contains("latin1.csv:2: byte 0xE9 is not UTF-8 (if the file is latin1 or windows-1252, set \"encoding\")"), "\(latin1.stdout)")
        // And with its encoding named, the same file converts to UTF-8; a windows-1252 file with another quote character reads too
        #expect(try extract("latin1.csv", ["table=in.latin", "encoding=latin1"]).status == 0)
        #expect(try table("in.latin") == "id\né\n")
        try Data("id;name\n1;'Caf\u{E9}; ''bar'''\n2;\u{80}uro\n".unicodeScalars.map { UInt8($0.value) }).write(to: URL(fileURLWithPath: directory + "/cp1252.csv"))
        let cp1252 = try extract("cp1252.csv", ["table=in.cp", "delimiter=;", "quote='", "encoding=windows-1252"])
        #expect(cp1252.status == 0, "\(cp1252.stdout)")
        #expect(try table("in.cp") == "id,name\n1,Café; 'bar'\n2,€uro\n")
    }

    @Test("file-extract types the columns it is told to: a value outside its type is a bad row naming the column, the value and the form")
    func fileExtractTypedColumns() throws {
        // Given a CSV and a JSON-lines file whose values mostly fit id integer, amount decimal, created timestamp
        let directory = try Fixtures.directory(with: [
            "typed.csv": "id,amount,created,note\n1,10.50,2026-12-02T10:00:00Z,a\n2,abc,2026-12-02T10:00:00Z,b\n3,7,2026-02-30,c\n4,,2026-12-02T10:00:00.5Z,d\n",
            "typed.jsonl": "{\"id\": 1, \"amount\": 2.5, \"extra\": 1}\n{\"id\": \"two\", \"amount\": 1}\n{\"amount\": null, \"id\": 3}\n",
        ])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        func extract(_ file: String, _ parameters: [String]) throws -> (status: Int32, stdout: String) {
            let result = try FirstParty.patchbay(["task", "run", "dev.patchbay.file-extract", "--read", directory, "--param", "path=\(directory)/\(file)",
                                                  "--tables-dir", directory + "/tables"] + parameters.flatMap { ["--param", $0] })
            return (result.status, result.stdout)
        }
        func file(_ name: String) throws -> String { try String(contentsOfFile: directory + "/tables/\(name)", encoding: .utf8) }
        let columns = #"columns={"id":"integer","amount":"decimal","created":"timestamp"}"#
        // When the CSV is read strictly, Then the first misfit fails the task at its line, naming column, value and form
        let strict = try extract("typed.csv", [columns])
        #expect(strict.status == 1 && strict.stdout.contains("typed.csv:3: column 'amount': 'abc' is not a decimal (digits with an optional '-' and '.digits')"), "\(strict.stdout)")
        // When misfits are rejected, Then the good rows land typed (an empty field is NULL), and each misfit is in the rejects with its reason
        let rejected = try extract("typed.csv", [columns, "table=in.typed", "onBadRow=reject"])
        #expect(rejected.status == 0, "\(rejected.stdout)")
        #expect(try file("in.typed.csv") == "id,amount,created,note\n1,10.50,2026-12-02T10:00:00Z,a\n4,,2026-12-02T10:00:00.5Z,d\n")
        #expect(try file("in.typed_rejected.csv").contains("4,\"3,7,2026-02-30,c\",\"column 'created': '2026-02-30' is not a timestamp"))
        let manifest = try file("in.typed.manifest.json")
        #expect(manifest.contains(#"{"name":"id","type":"integer"}"#) && manifest.contains(#"{"name":"note","type":"string"}"#), "\(manifest)")
        // When a JSON-lines file is read with declared columns, Then they are the table's columns, in their order, and other keys are dropped
        let jsonl = try extract("typed.jsonl", [#"columns={"amount":"decimal","id":"integer"}"#, "table=in.j", "onBadRow=skip"])
        #expect(jsonl.status == 0, "\(jsonl.stdout)")
        #expect(try file("in.j.csv") == "amount,id\n2.5,1\n,3\n")
        #expect(jsonl.stdout.contains("1 line had keys outside the declared columns (the first: 'extra'); they were dropped"), "\(jsonl.stdout)")
        #expect(jsonl.stdout.contains("skipped line 2: column 'id': 'two' is not an integer"), "\(jsonl.stdout)")
        // And a declared column the header lacks, or an unknown type, is refused before any row
        let missing = try extract("typed.csv", [#"columns={"amont":"decimal"}"#])
        #expect(missing.stdout.contains("parameter 'columns' types column 'amont', which the header does not have (columns: id, amount, created, note)"), "\(missing.stdout)")
        let unknown = try extract("typed.csv", [#"columns={"id":"int"}"#])
        #expect(unknown.status != 0, "\(unknown.stdout)")
    }

    @Test("table-diff compares numbers as numbers (10.0 is 10), within a tolerance, and names a tiny share exactly")
    func tableDiffNumbers() throws {
        // Given the same amounts written differently, and one row of 2,000 off by 0.5
        var big = "id,amount\n", bigger = "id,amount\n"
        for i in 1...2000 { big += "\(i),\(i).0\n"; bigger += "\(i),\(i == 7 ? "7.5" : String(i))\n" }
        let directory = try Fixtures.directory(with: ["a.csv": big, "b.csv": bigger])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        func diff(_ extra: [String]) throws -> (status: Int32, stdout: String) {
            let result = try FirstParty.patchbay(["task", "run", "dev.patchbay.table-diff", "--param", "key=id",
                                                  "--input", "primary=\(directory)/a.csv", "--input", "secondary=\(directory)/b.csv"]
                                                 + extra.flatMap { ["--param", $0] } + ["--tables-dir", directory + "/t"])
            return (result.status, result.stdout)
        }
        // When compared exactly, Then only row 7 differs, and its share is not rounded to 0.0%
        let exact = try diff([])
        #expect(exact.status == 1 && exact.stdout.contains("1 of 2000 rows differ (0.05%)") && exact.stdout.contains("first: key 7 differs in amount (7.0 vs 7.5)"), "\(exact.stdout)")
        // When a tolerance of 0.5 is allowed, Then they agree
        #expect(try diff(["tolerance=0.5"]).status == 0)
    }

    @Test("table-diff with tables larger than its memory spills to its workspace and finds the same differences, in key order per partition")
    func tableDiffSpills() throws {
        // Given 40,000 rows a side (about 2 MB packed) against a 1 MB budget: two rows changed, one missing, one extra
        var a = "id,amount,note\n", b = "id,amount,note\n"
        for i in 0..<40_000 {
            a += "\(i),\(i).0,row \(i)\n"
            if i == 123 { b += "123,124,row 123\n"; continue }
            if i == 30_000 { continue }
            b += "\(i),\(i),\(i == 777 ? "changed" : "row \(i)")\n"
        }
        b += "40001,1,extra\n"
        let directory = try Fixtures.directory(with: ["a.csv": a, "b.csv": b])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // When they are compared with a 1 MB budget
        let result = try FirstParty.patchbay(["task", "run", "dev.patchbay.table-diff", "--param", "key=id", "--param", "memoryMB=1",
                                              "--param", "threshold=0.001", "--input", "primary=\(directory)/a.csv", "--input", "secondary=\(directory)/b.csv",
                                              "--tables-dir", directory + "/t"])
        // Then exactly the four differences are found (10.0 and 10 agree), and the check passes within its threshold
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("differing_rows = 4"), "\(result.stdout)")
        let rows = try String(contentsOfFile: directory + "/t/validation.diff.csv", encoding: .utf8).split(separator: "\n").dropFirst()
        #expect(Set(rows.map { String($0.split(separator: ",")[0]) }) == ["123", "777", "30000", "40001"], "\(rows)")
        #expect(rows.contains("123,differs in amount,123.0|row 123,124|row 123"), "\(rows)")
    }

    @Test("table-diff passes equal tables and fails the job when they disagree beyond the threshold")
    func tableDiff() throws {
        let directory = try Fixtures.directory(with: ["a.csv": "id,amount\n1,10\n2,20\n3,30\n", "b.csv": "id,amount\n3,30\n1,10\n2,21\n"])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let same = try FirstParty.patchbay(["task", "run", "dev.patchbay.table-diff", "--param", "key=id",
                                            "--input", "primary=\(directory)/a.csv", "--input", "secondary=\(directory)/a.csv",
                                            "--tables-dir", directory + "/t1"])
        #expect(same.status == 0, "\(same.stdout)\(same.stderr)")
        #expect(same.stdout.contains("differing_rows = 0"))

        let differ = try FirstParty.patchbay(["task", "run", "dev.patchbay.table-diff", "--param", "key=id",
                                              "--input", "primary=\(directory)/a.csv", "--input", "secondary=\(directory)/b.csv",
                                              "--tables-dir", directory + "/t2"])
        #expect(differ.status == 1)
        #expect(differ.stdout.contains("failed (data error): the tables disagree: 1 of 3 rows differ (33.3%), more than the threshold allows (0.0%: 0 rows); first: key 2 differs in amount (20 vs 21)"), "\(differ.stdout)")
        // The failed check's differences are its evidence, written as on success
        #expect(try String(contentsOfFile: directory + "/t2/validation.diff.csv", encoding: .utf8)
                == "key,difference,primary,secondary\n2,differs in amount,20,21\n")

        let tolerated = try FirstParty.patchbay(["task", "run", "dev.patchbay.table-diff", "--param", "key=id", "--param", "threshold=0.5",
                                                 "--input", "primary=\(directory)/a.csv", "--input", "secondary=\(directory)/b.csv",
                                                 "--tables-dir", directory + "/t3"])
        #expect(tolerated.status == 0)
        #expect(try String(contentsOfFile: directory + "/t3/validation.diff.csv", encoding: .utf8)
                == "key,difference,primary,secondary\n2,differs in amount,20,21\n")
    }
}
