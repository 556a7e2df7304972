import Foundation
import PatchbayCore
import PatchbayEngine
import PatchbayStore
import Testing

/// Jobs record the tables they read (with the job that made each version) and wrote; tables show tells both ways.
@Suite("Lineage")
struct LineageTests {
    @Test("a reader records the producing job of the version it read; tables show lists the producer and the readers")
    func readsAndWrites() async throws {
        // Given a flow in which one task writes a table and a later one reads it
        let project = try TestProject(files: ["flows/l.yaml": """
            phases:
              - id: make
                tasks:
                  - {id: make, connector: dev.patchbay.sample-data, parameters: {rows: 10, table: in.made}}
              - id: use
                tasks:
                  - {id: use, connector: dev.patchbay.noop, inputs: {made: in.made}, parameters: {count_input: made}}
            """])
        defer { project.remove() }
        // When it runs twice
        _ = try await project.run("l")
        let (second, jobs) = try await project.run("l")
        #expect(second.status == .success)
        // Then the second reader read the version the second maker wrote, and the maker recorded its write
        let maker = try #require(jobs["make"]), reader = try #require(jobs["use"])
        #expect(try project.store.lineage(job: reader.id!) == [LineageRecord(jobID: reader.id!, tableName: "in.made", direction: .read, producerJobID: maker.id!)])
        #expect(try project.store.lineage(job: maker.id!) == [LineageRecord(jobID: maker.id!, tableName: "in.made", direction: .write, rowCount: 10)])
        // And tables show names the producer and both readers, newest first
        let shown = try project.patchbay(["tables", "show", "in.made"])
        #expect(shown.stdout.contains("produced by: job \(maker.id!) (run \(second.id!), task make)"), "\(shown.stdout)")
        #expect(shown.stdout.contains("read by: job \(reader.id!) (run \(second.id!), task use), job "), "\(shown.stdout)")
        // And jobs show says what each job read and wrote
        let detail = try project.patchbay(["jobs", "show"])
        #expect(detail.stdout.contains("read in.made (made by job \(maker.id!))") && detail.stdout.contains("wrote in.made (10 rows)"), "\(detail.stdout)")
    }
}

@Suite("Lineage checked before a run")
struct LineageValidationCLITests {
    @Test("validate refuses a misspelt output, two writers in one phase and a read from the same phase, in text and JSON, and runs nothing")
    func refusesBadWiring() async throws {
        // Given a flow with three lineage mistakes, against the first-party connectors' declarations
        let project = try TestProject(files: ["flows/bad.yaml": """
            phases:
              - id: extract
                tasks:
                  - {id: a, connector: dev.patchbay.sample-data, parameters: {rows: 5, table: in.orders}}
                  - {id: b, connector: dev.patchbay.sample-data, parameters: {rows: 5, table: in.orders}}
                  - id: diff
                    connector: dev.patchbay.table-diff
                    inputs: {primary: in.orders, secondary: in.orders}
              - id: use
                tasks:
                  - {id: c, connector: dev.patchbay.noop, parameters: {message: "${{ tasks.a.outputs.rows_count }}"}}
            """])
        defer { project.remove() }
        // When it is validated, and run
        let text = try project.patchbay(["validate", "bad"])
        let json = try project.patchbay(["validate", "bad", "--output", "json"])
        let run = try project.patchbay(["run", "bad"])
        // Then each mistake is a problem at its line, with the field and what the connector declares
        #expect(text.status == 4, "\(text.stderr)")
        #expect(text.stderr.contains("bad.yaml:5:9: tasks.b: writes in.orders, as task 'a' of the same phase ('extract') does"), "\(text.stderr)")
        #expect(text.stderr.contains("bad.yaml:6:9: tasks.diff.inputs.primary: reads in.orders, which task 'a' writes in the same phase ('extract'), and task 'b' in the same phase ('extract'); a task may read only what an earlier phase writes"), "\(text.stderr)")
        #expect(text.stderr.contains("bad.yaml:11:69: tasks.c.parameters.message: task 'a' has no output 'rows_count' (did you mean 'row_count'?): dev.patchbay.sample-data@1.0.0 declares row_count"), "\(text.stderr)")
        // And JSON carries the same problems, each with file, line, column, field and message
        #expect(json.status == 4)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any], "\(json.stdout)")
        let problems = try #require(object["problems"] as? [[String: Any]])
        let reference = try #require(problems.first { ($0["field"] as? String) == "tasks.c.parameters.message" })
        #expect(reference["line"] as? Int == 11 && reference["column"] as? Int == 69 && (reference["file"] as? String)?.hasSuffix("flows/bad.yaml") == true)
        #expect(problems.count == 4, "\(problems)")
        // And nothing ran
        #expect(run.status == 4)
        #expect(try project.store.runs(limit: 10).isEmpty)
    }

    @Test("validate warns of a table no task of the flow writes: when and by which job the catalog's copy was written, or the closest name")
    func warnsOfExternalTables() async throws {
        // Given a table another flow wrote, and a flow that reads it and a misspelling of it
        let project = try TestProject(files: [
            "flows/make.yaml": "phases:\n  - id: p\n    tasks:\n      - {id: make, connector: dev.patchbay.sample-data, parameters: {rows: 3, table: in.orders}}\n",
            "flows/read.yaml": """
                phases:
                  - id: p
                    tasks:
                      - id: check
                        connector: dev.patchbay.table-diff
                        inputs: {primary: in.orders, secondary: in.ordres}
                """,
        ])
        defer { project.remove() }
        let (made, jobs) = try await project.run("make")
        #expect(made.status == .success)
        let maker = try #require(jobs["make"])
        // When the reading flow is validated
        let text = try project.patchbay(["validate", "read"])
        let json = try project.patchbay(["validate", "read", "--output", "json"])
        // Then it is valid, with two warnings
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("valid, 2 warnings"), "\(text.stdout)")
        #expect(text.stdout.contains("tasks.check.inputs.primary: reads in.orders, which no task of this flow writes; the catalog's copy was written 20"), "\(text.stdout)")
        #expect(text.stdout.contains("Z by job \(maker.id!) (flow make, task make)"), "\(text.stdout)")
        #expect(text.stdout.contains("tasks.check.inputs.secondary: reads in.ordres, which no task of this flow writes, and the catalog has no such table (did you mean in.orders?)"), "\(text.stdout)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any], "\(json.stdout)")
        let warnings = try #require(object["warnings"] as? [[String: Any]])
        #expect(warnings.map { $0["field"] as? String } == ["tasks.check.inputs.primary", "tasks.check.inputs.secondary"])
        // And `run` says the same on stderr before it starts
        let run = try project.patchbay(["run", "read"])
        #expect(run.stderr.contains("warning: ") && run.stderr.contains("reads in.ordres"), "\(run.stderr)")
    }
}

@Suite("A failed check keeps its evidence")
struct EvidenceTests {
    @Test("a table-diff that finds differences fails as a data error, commits its diff table marked as the failed job's evidence, and says so everywhere")
    func failedCheckCommitsItsDiff() async throws {
        // Given two tables that disagree in 10 of 100 rows, and a check between them
        let project = try TestProject(files: ["flows/d.yaml": """
            phases:
              - id: extract
                tasks:
                  - {id: a, connector: dev.patchbay.sample-data, parameters: {rows: 100, table: in.a}}
                  - {id: b, connector: dev.patchbay.sample-data, parameters: {rows: 90, table: in.b}}
              - id: check
                tasks:
                  - id: compare
                    connector: dev.patchbay.table-diff
                    inputs: {primary: in.a, secondary: in.b}
                    parameters: {key: [id], diffTable: out.ab_diff}
            """])
        defer { project.remove() }
        // When it runs
        let (run, jobs) = try await project.run("d")
        // Then the check failed as bad data, and its message names the table it kept
        #expect(run.status == .error)
        let compare = try #require(jobs["compare"])
        #expect(compare.status == .error && compare.failureClass == .data)
        #expect(compare.message?.hasSuffix("kept as evidence: out.ab_diff (10 rows)") == true, "\(compare.message ?? "")")
        // And the table exists, with the 10 differences, recorded as the evidence of that job
        let record = try #require(try project.store.table("out.ab_diff"))
        #expect(record.evidence && record.jobID == compare.id! && record.rowCount == 10)
        let shown = try project.patchbay(["tables", "show", "out.ab_diff"])
        #expect(shown.stdout.contains("evidence of failed job \(compare.id!) (run \(run.id!), task compare)"), "\(shown.stdout)")
        let json = try project.patchbay(["tables", "show", "out.ab_diff", "--output", "json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(object["evidence_of_failed_job"] as? Int64 == compare.id! && (object["preview"] as? [Any])?.count == 10)
        let listed = try project.patchbay(["tables", "list"])
        #expect(listed.stdout.contains("(failed: evidence)"), "\(listed.stdout)")
        // And the failed extraction-side tables are untouched: only a validation leaves evidence
        #expect(try project.store.table("in.a")?.evidence == false)
    }
}

@Suite("Preparation: batches of rows for an egression")
struct BatchTests {
    @Test("batch writes an input as JSON payloads of at most size rows, each value by its column's type, NULL as null")
    func batchesTypedRows() async throws {
        // Given five typed rows (one with a NULL amount), extracted in the first phase
        let data = try Fixtures.directory(with: ["orders.csv": "id,amount,paid,note\n1,10.50,true,a\n2,,false,\"b \"\"q\"\"\"\n3,7,true,c\n4,1.25,false,d\n5,3,true,e\n"])
        defer { try? FileManager.default.removeItem(atPath: data) }
        let project = try TestProject(files: ["flows/send.yaml": """
            phases:
              - id: extract
                tasks:
                  - id: orders
                    connector: dev.patchbay.file-extract
                    files: {read: ["\(data)"]}
                    parameters: {path: "\(data)/orders.csv", table: in.orders, columns: {id: integer, amount: decimal, paid: boolean}}
              - id: prepare
                tasks:
                  - {id: batch, connector: dev.patchbay.batch, inputs: {source: in.orders}, parameters: {size: 2, wrap: records, table: out.batches}}
            """])
        defer { project.remove() }
        // When it runs
        let (run, jobs) = try await project.run("send")
        #expect(run.status == .success, "\(run.message ?? "")")
        // Then three batches of 2, 2 and 1 rows, typed as the columns are
        #expect(try project.outputs(jobs["batch"]!) == ["batches": "3", "rows": "5"])
        let table = try #require(try project.store.table("out.batches"))
        #expect(table.columns == ["batch", "rows", "payload"] && table.types == [.integer, .integer, .json] && table.rowCount == 3)
        let csv = try String(contentsOfFile: project.project.tableFile("out.batches"), encoding: .utf8)
        let records = CSV.nullableRecords(Data(csv.utf8), limit: 10).dropFirst().map { $0.map { $0 ?? "" } }
        #expect(records.map { $0[0] } == ["1", "2", "3"] && records.map { $0[1] } == ["2", "2", "1"])
        let first = try #require(try JSONSerialization.jsonObject(with: Data(records[0][2].utf8)) as? [String: [[String: Any]]])
        let rows = try #require(first["records"])
        #expect(rows[0]["id"] as? Int == 1 && rows[0]["amount"] as? String == "10.50" && rows[0]["paid"] as? Bool == true)
        #expect(rows[1]["amount"] is NSNull && rows[1]["note"] as? String == "b \"q\"")
        // And validate reads its declaration: the flow, which reads in.orders a phase after it is written, is valid
        let check = try project.patchbay(["validate", "send"])
        #expect(check.status == 0, "\(check.stderr)")
    }
}

/// A real HTTP service of the tests on a free port it prints first.
final class LocalService {
    let process = Process()
    let port: Int

    /// The project's demo API (`patchbay-demo-api`, Hummingbird), built with the tests.
    static func demoAPI(_ arguments: [String] = []) throws -> LocalService {
        try LocalService(executable: Fixtures.binDirectory + "/patchbay-demo-api", arguments)
    }

    init(executable: String, _ arguments: [String], name: String? = nil) throws {
        let output = Pipe()
        let script = name ?? (executable as NSString).lastPathComponent
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let line = try Fixtures.start(process, firstLineTo: output)
        guard let port = Int(line.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw Fixtures.FixtureError(message: "\(script) did not start: '\(line)'")
        }
        self.port = port
    }

    deinit {
        kill(process.processIdentifier, SIGKILL)  // it inherits an ignored SIGTERM
        process.waitUntilExit()
    }
}

/// The ingestion service the egression tests send to (`patchbay-demo-api --ingest`): it logs every request it gets.
final class IngestService {
    let log: String
    let service: LocalService
    var port: Int { service.port }

    init(acceptSuffix: String = "-2") throws {
        log = try Fixtures.temporaryDirectory() + "/received.jsonl"
        service = try LocalService.demoAPI(["--ingest", log, "--accept-suffix", acceptSuffix])
    }

    /// What it received, one object a request.
    func received() throws -> [[String: Any]] {
        guard let text = try? String(contentsOfFile: log, encoding: .utf8) else { return [] }
        return try text.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:] }
    }

    deinit { try? FileManager.default.removeItem(atPath: (log as NSString).deletingLastPathComponent) }
}

@Suite("HTTP extraction from a real paginated API")
struct HTTPExtractTests {
    static let pagings: [(name: String, path: String, pagination: String, records: String)] = [
        ("page", "/page", #"{"type":"page","param":"page","size_param":"per_page","size":10,"total":"meta.total"}"#, "data.items"),
        ("offset", "/offset", #"{"type":"offset","param":"offset","size_param":"limit","size":10}"#, "items"),
        ("cursor", "/cursor", #"{"type":"cursor","param":"cursor","path":"next"}"#, "items"),
        ("next_url", "/next", #"{"type":"next_url","path":"links.next"}"#, "items"),
        ("link", "/link", #"{"type":"link"}"#, ""),
        ("after a 429", "/flaky", #"{"type":"page","param":"page","size_param":"per_page","size":10,"total":"meta.total"}"#, "data.items"),
        ("cursor in a header", "/cursor-header", #"{"type":"cursor","param":"cursor","path":"next","in":"header","header":"X-Cursor"}"#, "items"),
        ("cursor in a POST body", "/search", #"{"type":"cursor","param":"cursor","path":"next","in":"body","body":"{\"filter\": \"all\"}"}"#, "items"),
        ("after a 503 with an HTTP date", "/flaky-date", #"{"type":"page","param":"page","size_param":"per_page","size":10,"total":"meta.total"}"#, "data.items"),
        ("after a 429 with a reset time", "/flaky-reset", #"{"type":"page","param":"page","size_param":"per_page","size":10,"total":"meta.total"}"#, "data.items"),
    ]

    @Test("every kind of pagination reads all 25 records exactly once, typed as declared; a 429's Retry-After is waited out",
          arguments: HTTPExtractTests.pagings.map(\.name))
    func paginates(_ name: String) throws {
        let paging = try #require(Self.pagings.first { $0.name == name })
        let api = try LocalService.demoAPI()
        let tables = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tables) }
        let result = try FirstParty.patchbay(["task", "run", "dev.patchbay.http-extract", "--param", "url=http://127.0.0.1:\(api.port)\(paging.path)",
                                              "--param", "pagination=\(paging.pagination)", "--param", "records=\(paging.records)",
                                              "--param", #"columns={"id":"integer","amount":"decimal","name":"string","tags":"json","note":"string"}"#,
                                              "--param", "table=in.items", "--tables-dir", tables])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        let csv = try String(contentsOfFile: tables + "/in.items.csv", encoding: .utf8)
        let rows = CSV.nullableRecords(Data(csv.utf8), limit: 100)
        let header = try #require(rows.first).map { $0 ?? "" }
        let id = try #require(header.firstIndex(of: "id")), note = try #require(header.firstIndex(of: "note"))
        #expect(rows.dropFirst().compactMap { $0[id].flatMap(Int.init) } == Array(1...25), "\(csv)")
        #expect(rows.dropFirst().allSatisfy { $0[note] == nil }, "JSON null is NULL")
        if name == "after a 429" { #expect(result.stdout.contains("attempt 1: HTTP 429; trying again in 1000 ms"), "\(result.stdout)") }
        if name.hasPrefix("after a 503 with") || name.hasPrefix("after a 429 with") {
            // The time the server named (whole seconds, 2 s ahead) is waited out to within 1 s
            let waited = result.stdout.components(separatedBy: "; trying again in ").dropFirst().first.flatMap { Int($0.prefix { $0.isNumber }) }
            #expect(waited.map { (900...2100).contains($0) } == true, "\(result.stdout)")
        }
    }

    @Test("parent → child: the ids of one endpoint feed the next, each child paged from its start, values percent-encoded")
    func parentToChild() throws {
        // Given customers c1, c2 and "c 3" with 3, 0 and 12 orders, served 5 a page under /customers/ID/orders
        let api = try LocalService.demoAPI()
        let tables = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: tables) }
        // When an extraction takes its parents from /customers
        let result = try FirstParty.patchbay(["task", "run", "dev.patchbay.http-extract", "--param", "url=http://127.0.0.1:\(api.port)/customers/{parent}/orders",
                                              "--param", #"parent={"url":"http://127.0.0.1:\#(api.port)/customers","records":"items","field":"id"}"#,
                                              "--param", #"pagination={"type":"page","param":"page","size_param":"per_page","size":5,"total":"meta.total"}"#,
                                              "--param", "records=data.items", "--param", #"columns={"order":"string","customer":"string"}"#,
                                              "--param", "table=in.orders", "--tables-dir", tables])
        // Then every order of every customer is read once, in the parents' order
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("3 parents from http://127.0.0.1:\(api.port)/customers"), "\(result.stdout)")
        let rows = CSV.records(try Data(contentsOf: URL(fileURLWithPath: tables + "/in.orders.csv")))
        let order = try #require(rows.first?.firstIndex(of: "order"))
        #expect(rows.dropFirst().map { $0[order] } == (1...3).map { "c1-\($0)" } + (1...12).map { "c 3-\($0)" })
        #expect(result.stdout.contains("pages = 5"), "\(result.stdout)")  // c1: 1, c2: 1 (empty), c 3: 3 (its total reached)
        // When a parent lacks the field, Then the task fails naming it
        let missing = try FirstParty.patchbay(["task", "run", "dev.patchbay.http-extract", "--param", "url=http://127.0.0.1:\(api.port)/customers/{parent}/orders",
                                               "--param", #"parent={"url":"http://127.0.0.1:\#(api.port)/customers","records":"items","field":"name"}"#,
                                               "--param", "records=data.items"])
        #expect(missing.status == 1 && missing.stdout.contains("the parents: record 1 of http://127.0.0.1:\(api.port)/customers has no 'name'"), "\(missing.stdout)")
    }

    @Test("a 500 is transient, retried with back-off and then reported; malformed JSON fails as a system error naming its byte offset, never a page cut short")
    func serverFaults() throws {
        let api = try LocalService.demoAPI()
        // Given a server that always answers 500, When a task reads it with 3 attempts, Then it tried 3 times and failed as transient
        let broken = try FirstParty.patchbay(["task", "run", "dev.patchbay.http-extract", "--param", "url=http://127.0.0.1:\(api.port)/broken", "--param", "max_attempts=3"])
        #expect(broken.status == 1 && broken.stdout.contains("failed (transient error): GET http://127.0.0.1:\(api.port)/broken: HTTP 500 after 3 attempts"), "\(broken.stdout)")
        #expect(broken.stdout.contains("attempt 1: HTTP 500; trying again in") && broken.stdout.contains("attempt 2: HTTP 500; trying again in"), "\(broken.stdout)")
        // Given a body that stops being JSON after its second record, Then the task fails saying where, and keeps nothing
        let malformed = try FirstParty.patchbay(["task", "run", "dev.patchbay.http-extract", "--param", "url=http://127.0.0.1:\(api.port)/malformed", "--param", "records=items"])
        #expect(malformed.status == 1 && malformed.stdout.contains("failed (system error)")
                && malformed.stdout.contains("the body is not valid JSON at byte 32 (near '{\"id\": 3}]}'), after 2 records of page 1"), "\(malformed.stdout)")
        #expect(!malformed.stdout.contains("tables:"), "\(malformed.stdout)")
        // Given a body that ends inside its second record, Then the task fails naming the record where the text stops
        let truncated = try FirstParty.patchbay(["task", "run", "dev.patchbay.http-extract", "--param", "url=http://127.0.0.1:\(api.port)/truncated", "--param", "records=items"])
        #expect(truncated.status == 1 && truncated.stdout.contains("the body is not valid JSON at byte 22 (near '{\"id\": 2, \"name\": \"it'), after 1 records of page 1"),
                "\(truncated.stdout)")
        #expect(!truncated.stdout.contains("tables:"), "\(truncated.stdout)")
    }

    @Test("headers and query parameters go with every request; basic auth and an API key in the query authenticate; max_bytes caps the read")
    func headersQueryAndAuth() throws {
        let api = try LocalService.demoAPI()
        let tables = try Fixtures.temporaryDirectory()  // what the tasks write lands here, not in the working directory
        defer { try? FileManager.default.removeItem(atPath: tables) }
        let base = ["task", "run", "dev.patchbay.http-extract", "--tables-dir", tables, "--param", "url=http://127.0.0.1:\(api.port)/guarded", "--param", "records=items",
                    "--param", #"headers={"X-Tenant":"acme"}"#, "--param", #"query={"region":"eu"}"#]
        // Basic auth, its password a secret parameter
        let basic = try FirstParty.patchbay(base + ["--param", #"auth={"type":"basic","username":"demo"}"#, "--param", "#password=pw"])
        #expect(basic.status == 0 && basic.stdout.contains("rows = 3"), "\(basic.stdout)")
        // An API key in the query
        let key = try FirstParty.patchbay(base + ["--param", #"auth={"type":"api_key","in":"query","param":"api_key"}"#, "--param", "#api_key=k3y"])
        #expect(key.status == 0 && key.stdout.contains("rows = 3"), "\(key.stdout)")
        // Without the header, the server refuses: a config error with its words
        let bare = try FirstParty.patchbay(["task", "run", "dev.patchbay.http-extract", "--param", "url=http://127.0.0.1:\(api.port)/guarded", "--param", "records=items",
                                            "--param", #"query={"region":"eu"}"#, "--param", "#api_key=k3y", "--param", #"auth={"type":"api_key","in":"query"}"#])
        #expect(bare.status == 1 && bare.stdout.contains("X-Tenant: acme and region=eu required"), "\(bare.stdout)")
        // A header value with a line break is refused before any request (no header injection)
        let injected = try FirstParty.patchbay(base + ["--param", #"headers={"X-Tenant":"acme\r\nX-Evil: 1"}"#])
        #expect(injected.status == 1 && injected.stdout.contains("parameter 'headers'"), "\(injected.stdout)")
        // max_bytes: the read stops once the bodies reach it, with a warning
        let capped = try FirstParty.patchbay(["task", "run", "dev.patchbay.http-extract", "--tables-dir", tables, "--param", "url=http://127.0.0.1:\(api.port)/cursor", "--param", "records=items",
                                              "--param", #"pagination={"type":"cursor","param":"cursor","path":"next"}"#, "--param", "max_bytes=1"])
        #expect(capped.status == 0 && capped.stdout.contains("rows = 5") && capped.stdout.contains("stopped after max_bytes 1"), "\(capped.stdout)")
    }

    @Test("https: the server's certificate is verified against the CA given (or the system's), and one no CA vouches for is a config error, not retried")
    func tls() throws {
        // Given the demo API over TLS, with a certificate for 127.0.0.1 that signs itself
        let pki = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: pki) }
        let made = try Fixtures.run("/usr/bin/env", ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", pki + "/key.pem", "-out", pki + "/cert.pem",
                                                     "-days", "1", "-subj", "/CN=patchbay test", "-addext", "subjectAltName=IP:127.0.0.1"])
        #expect(made.status == 0, "\(made.stderr)")
        chmod(pki + "/cert.pem", 0o644)
        let api = try LocalService.demoAPI(["--tls", pki + "/cert.pem", pki + "/key.pem"])
        let read = ["task", "run", "dev.patchbay.http-extract", "--tables-dir", pki, "--param", "url=https://127.0.0.1:\(api.port)/page", "--param", "records=data.items",
                    "--param", #"pagination={"type":"page","param":"page","size_param":"per_page","size":10,"total":"meta.total"}"#]
        // When the task trusts that certificate (granted to its sandbox), Then it reads all 25 records over TLS
        let trusted = try FirstParty.patchbay(read + ["--param", "ca_file=\(pki)/cert.pem", "--read", pki])
        #expect(trusted.status == 0 && trusted.stdout.contains("rows = 25"), "\(trusted.stdout)\(trusted.stderr)")
        // When it trusts only the system's CAs, Then the certificate is refused at once, saying why
        let refused = try FirstParty.patchbay(read)
        #expect(refused.status == 1 && refused.stdout.contains("failed (config error)")
                && refused.stdout.contains("the TLS certificate of 127.0.0.1:\(api.port) is not trusted: self-signed certificate")
                && refused.stdout.contains("after 1 attempt"), "\(refused.stdout)")
        // When it names a CA file its sandbox was not granted, Then it cannot read it: a config error, at once
        let ungranted = try FirstParty.patchbay(read + ["--param", "ca_file=\(pki)/cert.pem"])
        #expect(ungranted.status == 1 && ungranted.stdout.contains("failed (config error)")
                && ungranted.stdout.contains("the CA certificates \(pki)/cert.pem cannot be read after 1 attempt"), "\(ungranted.stdout)")
    }

    @Test("a pagination loop fails the task as a config error saying so, instead of running forever or duplicating rows")
    func loopIsStopped() throws {
        let api = try LocalService.demoAPI()
        let result = try FirstParty.patchbay(["task", "run", "dev.patchbay.http-extract", "--param", "url=http://127.0.0.1:\(api.port)/loop",
                                              "--param", #"pagination={"type":"cursor","param":"cursor","path":"next"}"#, "--param", "records=items"])
        #expect(result.status == 1 && result.stdout.contains("failed (config error): pagination loop: page 2"), "\(result.stdout)")
        let wrong = try FirstParty.patchbay(["task", "run", "dev.patchbay.http-extract", "--param", "url=http://127.0.0.1:\(api.port)/page",
                                             "--param", "records=items"])
        #expect(wrong.status == 1 && wrong.stdout.contains("the body has no array of records at 'items'"), "\(wrong.stdout)")
    }
}

@Suite("Authentication: OAuth2 client credentials against a real token endpoint")
struct OAuth2Tests {
    static func flow(port: Int, secret: String) -> String {
        """
        phases:
          - id: login
            tasks:
              - {id: login, connector: dev.patchbay.oauth2, network: {tcp: [\(port)]}, parameters: {token_url: "http://127.0.0.1:\(port)/oauth/token", client_id: demo, "#client_secret": \(secret)}}
          - id: extract
            tasks:
              - id: items
                connector: dev.patchbay.http-extract
                network: {tcp: [\(port)]}
                parameters:
                  url: "http://127.0.0.1:\(port)/private"
                  records: data.items
                  pagination: {type: page, param: page, size_param: per_page, size: 10, total: meta.total}
                  columns: {id: integer, name: string}
                  table: in.items
        """
    }

    @Test("oauth2 gets a token that the extraction after it sends as a bearer token; the token is never stored or shown; a wrong secret is a config error naming the server's reason")
    func tokenFlowsToLaterTasks() async throws {
        // Given a real API with a token endpoint and a private, paginated resource
        let api = try LocalService.demoAPI()
        let project = try TestProject(files: ["flows/private.yaml": Self.flow(port: api.port, secret: "s3cret"),
                                              "flows/wrong.yaml": Self.flow(port: api.port, secret: "nope")])
        defer { project.remove() }
        // When the flow runs
        let (run, jobs) = try await project.run("private")
        // Then the extraction read all 25 private records with the token
        #expect(run.status == .success, "\(run.message ?? "") \(jobs.mapValues { $0.message ?? "" })")
        #expect(try project.outputs(jobs["items"]!)["rows"] == "25")
        // And the token is a secret output: recorded without its value, and nowhere in the logs
        let outputs = try project.store.outputs(job: jobs["login"]!.id!)
        #expect(outputs.contains { $0.name == "access_token" && $0.isSecret && $0.value == nil })
        #expect(outputs.contains { $0.name == "access_token_ttl" && $0.value == "600" })
        let logs = try jobs.values.flatMap { try project.store.logs(job: $0.id!).map(\.message) }
        #expect(!logs.contains { $0.contains("tok-1") }, "\(logs)")
        // When the secret is wrong, Then the login fails as a config error with the server's words, and nothing after it runs
        let (wrong, wrongJobs) = try await project.run("wrong")
        #expect(wrong.status == .error && wrongJobs["login"]?.failureClass == .config)
        #expect(wrongJobs["login"]?.message?.contains("refused: invalid_client (unknown client or wrong secret)") == true, "\(wrongJobs["login"]?.message ?? "")")
        #expect(wrongJobs["items"]?.status == .cancelled)
    }

    @Test("the refresh-token grant: the token the server rotates to is kept in the state, sealed, and the next run uses it; a used one is a config error")
    func refreshTokenRotates() async throws {
        // Given a token endpoint whose refresh tokens work once each (rt-0 first), and a flow that starts from rt-0
        let api = try LocalService.demoAPI()
        let login = ##"{id: login, connector: dev.patchbay.oauth2, parameters: {token_url: "http://127.0.0.1:\##(api.port)/oauth/token", client_id: demo, grant: refresh_token, "#refresh_token": rt-0}}"##
        let flow = Self.flow(port: api.port, secret: "x").replacingOccurrences(of: ##"{id: login, connector: dev.patchbay.oauth2, network: {tcp: [\##(api.port)]}, parameters: {token_url: "http://127.0.0.1:\##(api.port)/oauth/token", client_id: demo, "#client_secret": x}}"##, with: login)
        #expect(flow.contains("grant: refresh_token"))
        let project = try TestProject(files: ["flows/refresh.yaml": flow])
        defer { project.remove() }
        // When it runs twice
        let (first, firstJobs) = try await project.run("refresh")
        let (second, secondJobs) = try await project.run("refresh")
        // Then each run got a token (the second with the one the first was rotated to) and read the private records
        #expect(first.status == .success && second.status == .success, "\(firstJobs.mapValues { $0.message ?? "" }) \(secondJobs.mapValues { $0.message ?? "" })")
        #expect(try project.outputs(secondJobs["items"]!)["rows"] == "25")
        let logs = { (job: JobRecord) in try project.store.logs(job: job.id!).map(\.message) }
        #expect(try logs(firstJobs["login"]!).contains("refresh token from the parameters used; the server rotated it: the new one is kept (encrypted) for the next run"))
        #expect(try logs(secondJobs["login"]!).contains { $0.hasPrefix("refresh token from the state used") })
        // And the state holds the latest one sealed, never in the clear, in the store or its log
        let state = try #require(try project.store.state(configurationKey: secondJobs["login"]!.configurationKey)).stateJSON
        #expect(state.contains(##""#refresh_token":"PBENC:"##) && !state.contains("rt-"), "\(state)")
        let files = try FileManager.default.contentsOfDirectory(atPath: project.project.stateDirectory).filter { $0.hasPrefix("patchbay.sqlite") }
        for file in files {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: project.project.stateDirectory + "/" + file))
            #expect(bytes.range(of: Data("rt-2".utf8)) == nil, "\(file) holds the refresh token in the clear")
        }
        // When the state is lost and the flow starts again from the used rt-0, Then the server's refusal is a config error
        try project.store.commit(state: "{}", configurationKey: secondJobs["login"]!.configurationKey, job: secondJobs["login"]!.id!)
        let (stale, staleJobs) = try await project.run("refresh")
        #expect(stale.status == .error && staleJobs["login"]?.failureClass == .config)
        #expect(staleJobs["login"]?.message?.contains("refused: invalid_grant (the refresh token was used already or is unknown)") == true, "\(staleJobs["login"]?.message ?? "")")
    }
}

@Suite("Egression: batches sent to a real service")
struct EgressionTests {
    static func flow(_ path: String, auth: Bool = false, port: Int) -> String {
        """
        phases:
        \(auth ? "  - id: login\n    tasks:\n      - {id: auth, connector: test.auth, parameters: {\"#token\": tok, rotate: true}}\n" : "")\
          - id: extract
            tasks:
              - {id: orders, connector: dev.patchbay.sample-data, parameters: {rows: 5, table: in.orders}}
          - id: prepare
            tasks:
              - {id: batch, connector: dev.patchbay.batch, inputs: {source: in.orders}, parameters: {size: 2, table: out.batches}}
          - id: send
            tasks:
              - {id: send, connector: dev.patchbay.http-send, network: {tcp: [\(port)]}, inputs: {payloads: out.batches}, parameters: {url: "http://127.0.0.1:\(port)\(path)", max_wait_s: 10}}
        """
    }

    @Test("http-send posts every batch, waits out a 503's Retry-After, and records each response; the service got each payload once")
    func sendsWithRetry() async throws {
        // Given a service whose first answer is 503 with Retry-After: 1
        let service = try IngestService()
        let project = try TestProject(files: ["flows/out.yaml": Self.flow("/flaky", port: service.port)])
        defer { project.remove() }
        // When the flow extracts 5 rows, batches them by 2 and sends them
        let (run, jobs) = try await project.run("out")
        // Then all three batches were sent, the first on its second attempt
        #expect(run.status == .success, "\(run.message ?? "") \(jobs["send"]?.message ?? "")")
        #expect(try project.outputs(jobs["send"]!) == ["sent": "3", "attempts": "4"])
        let csv = try String(contentsOfFile: project.project.tableFile("out.responses"), encoding: .utf8)
        let rows = CSV.nullableRecords(Data(csv.utf8), limit: 10).dropFirst().map { $0.map { $0 ?? "" } }
        #expect(rows.map { [$0[0], $0[1], $0[2]] } == [["1", "200", "2"], ["2", "200", "1"], ["3", "200", "1"]], "\(rows)")
        let logs = try project.store.logs(job: jobs["send"]!.id!).map(\.message)
        #expect(logs.contains("attempt 1: HTTP 503; trying again in 1000 ms"), "\(logs)")
        // And the service received the first batch twice (the 503 and the retry) and every row exactly once in the end
        let bodies = try service.received().compactMap { $0["body"] as? String }
        #expect(bodies.count == 4)
        let sentRows = try bodies.dropFirst().flatMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [[String: Any]] ?? [] }
        #expect(sentRows.compactMap { $0["id"] as? String }.sorted() == ["1", "2", "3", "4", "5"], "\(sentRows)")
    }

    @Test("a 401 fails the send as unauthorized; the host authenticates again with the run's authentication task, and the retry is accepted")
    func reauthenticatesOn401() async throws {
        // Given a service that accepts only the second token an authentication issues
        let service = try IngestService(acceptSuffix: "-2")
        let project = try TestProject(files: ["flows/secure.yaml": Self.flow("/secure", auth: true, port: service.port)])
        defer { project.remove() }
        // When the flow runs
        let (run, jobs) = try await project.run("secure")
        // Then the send succeeded after authenticating again, and the service saw the first token refused, then the second
        #expect(run.status == .success, "\(run.message ?? "") \(jobs["send"]?.message ?? "")")
        #expect(jobs["send"]?.message == "succeeded after authenticating again with task 'auth'", "\(jobs["send"]?.message ?? "")")
        let tokens = try service.received().compactMap { $0["authorization"] as? String }
        #expect(tokens.first == "Bearer tok-1" && tokens.dropFirst().allSatisfy { $0 == "Bearer tok-2" } && tokens.count == 4, "\(tokens)")
    }
}
