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

    @Test("tables that disagree fail as a data error naming the count and the first difference, and no table is left behind")
    func disagreementFails() {
        // Given a secondary table with one changed and one missing row
        let changed = FakeTable(columns: ["id", "total"], rows: [["1", "10"], ["2", "99"]])
        let host = FakeHost(parameters: #"{"key":["id"]}"#, inputs: ["primary": orders, "secondary": changed])
        // When table-diff runs
        let outcome = host.run(TableDiff.self)
        // Then the user is told what disagrees, and the diff it wrote is discarded with the failed task
        #expect(outcome == .failure(.data, message: "the tables disagree: 2 of 3 rows differ (66.7%), more than the threshold allows (0.0%: 0 rows); first: key 2 differs in total (20 vs 99)",
                                    internal: ""))
        #expect(host.tables.isEmpty)
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
