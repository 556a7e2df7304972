import PatchbaySDK
import PatchbaySDKTesting
@testable import PatchbayTableDiff
import Testing

/// A connector that counts its runs in its state and hands out a secret token.
struct Counter: Connector {
    static let id = "test.counter"
    static let version = "1.0.0"
    static let displayName = "Counter"
    static let pattern = JobPattern.authentication
    static let credentials = ["api_key"]

    func run(_ task: TaskContext) throws {
        let runs = (try JSON.parse(try task.state())["runs"]?.int ?? 0) + 1
        try task.setState(#"{"runs":\#(runs)}"#)
        try task.setOutput("token", "tok-" + (try task.credential("api_key")), secret: true)
        task.info("run \(runs)")
        if task.isCancelled { throw TaskCancelled() }
    }
}

@Suite("PatchbaySDKTesting: a connector's unit tests run it through the C callback table, with no Patchbay host")
struct FakeHostTests {
    let orders = FakeTable(columns: ["id", "total"], rows: [["1", "10"], ["2", "20"], ["3", "30"]])

    @Test("equal tables pass; the diff table is kept because the task succeeded")
    func equalTablesPass() {
        // Given two equal input tables, read back one row per call
        let host = FakeHost(parameters: #"{"key":["id"]}"#, inputs: ["primary": orders, "secondary": orders], readBatchRows: 1)
        // When table-diff runs
        let outcome = host.run(TableDiff.self)
        // Then it succeeds, says so in its outputs and log, and its (empty) diff table is committed
        #expect(outcome == .success)
        #expect(host.outputs["differing_rows"]?.value == "0")
        #expect(host.tables["validation.diff"] == FakeTable(columns: ["key", "difference", "primary", "secondary"]))
        #expect(host.log.map(\.message) == ["compared 3 primary and 3 secondary rows on 1 columns: 0 differ"])
    }

    @Test("tables that disagree fail as a data error naming the count and the first difference, and the diff is kept as evidence")
    func disagreementFails() {
        // Given a secondary table with one changed and one missing row
        let changed = FakeTable(columns: ["id", "total"], rows: [["1", "10"], ["2", "99"]])
        let host = FakeHost(parameters: #"{"key":["id"]}"#, inputs: ["primary": orders, "secondary": changed])
        // When table-diff runs
        let outcome = host.run(TableDiff.self)
        // Then the user is told what disagrees, and the diff it wrote is kept as the failed check's evidence
        #expect(outcome == .failure(.data, message: "the tables disagree: 2 of 3 rows differ (66.7%), more than the threshold allows (0.0%: 0 rows); first: key 2 differs in total (20 vs 99)",
                                    internal: ""))
        #expect(host.tables["validation.diff"]?.rows.count == 2)
    }

    @Test("comparison follows the columns' types: exact decimals, instants, JSON values; untyped text still reads 10.0 as 10")
    func typedComparison() {
        // Given the same values written differently, and two that only look alike
        let columns = ["id", "amount", "at", "doc", "flag", "note"]
        let types: [ColumnType] = [.integer, .decimal, .timestamp, .json, .boolean, .string]
        let primary = FakeTable(columns: columns, types: types, records: [
            ["1", "10.50", "2026-12-02T10:00:00.500Z", #"{"a":1,"b":[true]}"#, "true", "10.0"],
            ["2", "12345678901234567890.1", "2026-12-02T10:00:00Z", "[1]", "false", "x"],
        ])
        let secondary = FakeTable(columns: columns, types: types, records: [
            ["1", "10.5", "2026-12-02T10:00:00.5Z", #"{ "b": [true], "a": 1 }"#, "true", "10"],
            ["2", "12345678901234567890.2", "2026-12-02T10:00:00.000Z", "[1]", "false", "x"],
        ])
        let host = FakeHost(parameters: #"{"key":"id"}"#, inputs: ["primary": primary, "secondary": secondary])
        // When table-diff runs
        let outcome = host.run(TableDiff.self)
        // Then row 1 agrees column by column, and row 2 differs in the 20-digit decimal only (a double would miss it)
        #expect(outcome == .failure(.data, message: "the tables disagree: 1 of 2 rows differ (50.0%), more than the threshold allows (0.0%: 0 rows); first: key 2 differs in amount (12345678901234567890.1 vs 12345678901234567890.2)", internal: ""), "\(outcome)")
    }

    @Test("a table the task may not read is refused by the host, and the connector reports it as a config error")
    func deniedInput() {
        let host = FakeHost(inputs: ["primary": orders, "secondary": orders], deniedTables: ["secondary"])
        #expect(host.run(TableDiff.self) == .failure(.config, message: "this task's token may not read table 'secondary'", internal: ""))
    }

    @Test("state is committed only by a successful run; a secret output stays marked secret; a missing credential fails")
    func stateOutputsCredentials() {
        // Given a host with a credential
        let host = FakeHost(credentials: ["api_key": "k1"])
        // When the connector runs twice, Then its state counts both runs and its token is secret
        #expect(host.run(Counter.self) == .success)
        #expect(host.run(Counter.self) == .success)
        #expect(host.state == #"{"runs":2}"#)
        #expect(host.outputs["token"]?.value == "tok-k1" && host.outputs["token"]?.secret == true)
        // When a run is cancelled, Then its state change is not kept
        host.isCancelled = true
        #expect(host.run(Counter.self) == .cancelled)
        #expect(host.state == #"{"runs":2}"#)
        // When the credential is missing, Then the run fails and nothing changes
        let bare = FakeHost()
        #expect(bare.run(Counter.self) != .success)
        #expect(bare.state == "{}")
    }
}

/// Copies its input to a typed output, doubling each integer and keeping NULLs.
struct TypedCopy: Connector {
    static let id = "test.typed-copy"
    static let version = "1.0.0"
    static let displayName = "Typed copy"
    static let pattern = JobPattern.preparation

    func run(_ task: TaskContext) throws {
        let input = try task.openInput("in")
        let output = try task.openOutput("out.copy", columns: zip(input.columns, input.types).map { Column($0, $1) })
        try input.forEachRecord { row in
            try output.write(zip(row, input.types).map { value, type in
                type == .integer ? value.map { String(Int($0)! * 2) } : value
            })
        }
        try output.close()
    }
}

@Suite("PatchbaySDK typed columns (ABI 1.3)")
struct TypedColumnsSDKTests {
    @Test("a Swift connector reads the input's types and NULLs and writes a typed output with NULLs")
    func typedRoundTrip() {
        // Given a typed input with a NULL integer and an empty (not NULL) string
        let input = FakeTable(columns: ["n", "s"], types: [.integer, .string], records: [["2", "a"], [nil, ""], ["-5", nil]])
        let host = FakeHost(inputs: ["in": input], readBatchRows: 2)
        // When the connector runs
        let outcome = host.run(TypedCopy.self)
        // Then the output keeps the types, doubles the integers and keeps NULL apart from ""
        #expect(outcome == .success)
        #expect(host.tables["out.copy"] == FakeTable(columns: ["n", "s"], types: [.integer, .string], records: [["4", "a"], [nil, ""], ["-10", nil]]))
    }
}

@Suite("table-diff on typed tables")
struct TableDiffNullTests {
    @Test("NULL agrees only with NULL: a NULL against an empty string is a difference, shown as NULL")
    func nullIsNotEmpty() {
        // Given two tables that agree but for one NULL against ""
        let primary = FakeTable(columns: ["id", "note"], types: [.integer, .string], records: [["1", nil], ["2", nil]])
        let secondary = FakeTable(columns: ["id", "note"], types: [.integer, .string], records: [["1", nil], ["2", ""]])
        let host = FakeHost(parameters: #"{"key":["id"]}"#, inputs: ["primary": primary, "secondary": secondary])
        // When table-diff runs
        let outcome = host.run(TableDiff.self)
        // Then row 2 alone differs, and the message shows the NULL as NULL
        guard case .failure(.data, let message, _) = outcome else {
            Issue.record("expected a data failure, got \(outcome)")
            return
        }
        #expect(host.outputs["differing_rows"]?.value == "1")
        #expect(message.contains("first: key 2 differs in note (NULL vs )"), "\(message)")
    }
}

@Suite("table-diff's canonical forms")
struct CanonicalFormTests {
    @Test("a decimal's canonical form drops leading zeros, trailing fraction zeros and a negative zero; anything else is not a decimal",
          arguments: [("10.50", "10.5"), ("007", "7"), ("-0.000", "0"), ("-12.0", "-12"), ("0.10", "0.1"), ("1.", nil), ("1e3", nil), ("", nil), ("-", nil)])
    func decimals(_ text: String, _ canonical: String?) {
        #expect(Comparison.canonicalDecimal(text) == canonical)
    }

    @Test("a timestamp's fraction loses its trailing zeros", arguments: [
        ("2026-12-02T10:00:00.500Z", "2026-12-02T10:00:00.5Z"), ("2026-12-02T10:00:00.000Z", "2026-12-02T10:00:00Z"), ("2026-12-02T10:00:00Z", "2026-12-02T10:00:00Z"),
    ])
    func timestamps(_ text: String, _ canonical: String) {
        #expect(Comparison.canonicalTimestamp(text) == canonical)
    }

    @Test("types pick the comparison: numbers exact, floats as doubles, strings and untyped tables loosely")
    func kinds() {
        #expect(Comparison(.integer, .decimal) == .exactNumber)
        #expect(Comparison(.float, .integer) == .float)
        #expect(Comparison(.string, .string) == .untyped)
        #expect(Comparison(.boolean, .boolean) == .text)
        #expect(Comparison(.date, .string) == .untyped)
        #expect(!Comparison.text.same("true", "TRUE", tolerance: 0))
        #expect(Comparison.untyped.same("10.0", "10", tolerance: 0) && !Comparison.untyped.same(nil, "", tolerance: 0))
    }
}
