import PatchbayCore
import PatchbayModel
import Testing

@Suite("Lineage is checked before a run, against what connectors declare (ABI 1.4)")
struct LineageValidationTests {
    /// `ex.write` writes the table its `table` parameter names (default `in.default`) and sets `rows`;
    /// `ex.read` reads tables and declares nothing.
    static let facts: [ConnectorReference: ConnectorFacts] = [
        ConnectorReference(id: "ex.write"): .available(
            id: "ex.write", version: "1.0.0",
            parametersSchema: #"{"type":"object","properties":{"table":{"type":"string","default":"in.default"},"n":{}}}"#,
            lineage: Lineage(outputs: ["rows", "bytes"], tables: [TablePattern("{table}")!, TablePattern("{table}_rejected")!])),
        ConnectorReference(id: "ex.read"): .available(id: "ex.read", version: "2.0.0", parametersSchema: ""),
    ]

    func load(_ yaml: String) throws -> Flow { try FlowLoader().load(text: yaml, file: "f.yaml") }

    func problems(_ yaml: String) throws -> [FlowIssue] { FlowValidator.check(try load(yaml), connectors: Self.facts) }

    @Test("a reference to an output the connector does not declare is refused at its line, with what it declares and the closest")
    func undeclaredOutput() throws {
        // Given a task that uses `row` of a connector declaring `rows` and `bytes`
        let found = try problems("""
            name: f
            phases:
              - id: a
                tasks: [{id: w, connector: ex.write, parameters: {table: in.x}}]
              - id: b
                tasks:
                  - id: r
                    connector: ex.write
                    parameters:
                      table: in.y
                      n: ${{ tasks.w.outputs.row }}
            """)
        // Then one problem, at the parameter, naming the task, the output, the suggestion and the list
        #expect(found.count == 1, "\(found)")
        #expect(found.first?.location?.line == 11)
        #expect(found.first?.path == "tasks.r.parameters.n")
        #expect(found.first?.message == "task 'w' has no output 'row' (did you mean 'rows'?): ex.write@1.0.0 declares rows, bytes")
    }

    @Test("two tasks of one phase writing one table are refused; the schema's default counts as the value")
    func twoWritersInOnePhase() throws {
        let found = try problems("""
            name: f
            phases:
              - id: a
                tasks:
                  - {id: one, connector: ex.write}
                  - {id: two, connector: ex.write, parameters: {table: in.default}}
                  - {id: three, connector: ex.write, parameters: {table: in.other}}
            """)
        #expect(found.map(\.path) == ["tasks.two"], "\(found)")
        #expect(found.first?.message == "writes in.default, in.default_rejected, as task 'one' of the same phase ('a') does: tasks of a phase run at once, so each would be whichever finished last")
    }

    @Test("a task reading what a later phase writes is refused; what an earlier phase writes is fine")
    func readsFromLaterPhase() throws {
        let found = try problems("""
            name: f
            phases:
              - id: a
                tasks: [{id: early, connector: ex.write, parameters: {table: in.early}}]
              - id: b
                tasks: [{id: reader, connector: ex.read, inputs: {x: in.early, y: in.late}}]
              - id: c
                tasks: [{id: late, connector: ex.write, parameters: {table: in.late}}]
            """)
        #expect(found.map(\.path) == ["tasks.reader.inputs.y"], "\(found)")
        #expect(found.first?.message == "reads in.late, which task 'late' writes in a later phase ('c'); a task may read only what an earlier phase writes")
    }

    @Test("a task reading what its own phase writes is refused, and so is a task reading its own table")
    func readsFromOwnPhase() throws {
        let found = try problems("""
            name: f
            phases:
              - id: a
                tasks:
                  - {id: w, connector: ex.write, parameters: {table: in.t}}
                  - {id: reader, connector: ex.read, inputs: {x: in.t_rejected}}
                  - {id: self, connector: ex.write, parameters: {table: in.s}, inputs: {x: in.s}}
            """)
        #expect(found.map(\.message) == [
            "reads in.t_rejected, which task 'w' writes in the same phase ('a'); a task may read only what an earlier phase writes",
            "reads in.s, which the task itself writes in the same phase ('a'); a task may read only what an earlier phase writes",
        ], "\(found)")
    }

    @Test("a connector that declares nothing, a disabled task and a templated name are not checked")
    func undeclaredIsNotChecked() throws {
        let found = try problems("""
            name: f
            phases:
              - id: a
                tasks:
                  - {id: w, connector: ex.write, parameters: {table: in.t}}
                  - {id: off, connector: ex.write, enabled: false, parameters: {table: in.t}}
                  - {id: r, connector: ex.read}
              - id: b
                tasks:
                  - {id: t1, connector: ex.write, parameters: {table: "in.${{ vars.x }}"}}
                  - {id: t2, connector: ex.write, parameters: {table: "in.${{ vars.x }}"}}
                  - {id: q, connector: ex.read, parameters: {v: "${{ tasks.r.outputs.anything }}"}}
            variables: {x: same}
            """)
        #expect(found.isEmpty, "\(found)")
    }

    @Test("external inputs: tables no task of the flow writes, when every earlier task declares what it writes")
    func externalInputs() throws {
        let declared = try load("""
            name: f
            phases:
              - id: a
                tasks: [{id: w, connector: ex.write, parameters: {table: in.made}}]
              - id: b
                tasks: [{id: r, connector: ex.read, inputs: {x: in.made, y: in.elsewhere, z: files/local.csv}}]
            """)
        #expect(FlowValidator.externalInputs(declared, connectors: Self.facts).map(\.table) == ["in.elsewhere"])
        // When an earlier task declares nothing, it may be the writer: no warning
        let unknown = try load("""
            name: f
            phases:
              - id: a
                tasks: [{id: w, connector: ex.read}]
              - id: b
                tasks: [{id: r, connector: ex.read, inputs: {y: in.elsewhere}}]
            """)
        #expect(FlowValidator.externalInputs(unknown, connectors: Self.facts).isEmpty)
    }
}

@Suite("A declared table pattern")
struct TablePatternTests {
    @Test("a name, or one {parameter} with literal parts, is a pattern; anything else is not",
          arguments: ["out.orders", "{table}", "{table}_rejected", "out.{name}", "{t-1}"])
    func accepted(_ text: String) {
        #expect(TablePattern(text) != nil)
    }

    @Test("refused", arguments: ["", "{a}{b}", "{}", "{table", "table}", "out/{x}", "{x y}", "../x", "out..x"])
    func refused(_ text: String) {
        #expect(TablePattern(text) == nil)
    }

    @Test("the parameter's value stands in for the braces; an unset parameter or a bad result names no table")
    func resolves() throws {
        let pattern = try #require(TablePattern("{table}_rejected"))
        #expect(pattern.parameter == "table")
        #expect(pattern.tableName { $0 == "table" ? "in.orders" : nil } == "in.orders_rejected")
        #expect(pattern.tableName { _ in nil } == nil)
        #expect(pattern.tableName { _ in "../etc" } == nil)
        #expect(TablePattern("out.fixed")?.tableName { _ in nil } == "out.fixed")
        let lineage = Lineage(outputs: [], tables: [pattern])
        #expect(!lineage.allows(output: "x"))
        #expect(lineage.allows(table: "in.a_rejected") { _ in "in.a" })
        #expect(!lineage.allows(table: "in.a") { _ in "in.a" })
        #expect(Lineage.undeclared.allows(table: "any.thing") { _ in nil } && Lineage.undeclared.allows(output: "x"))
    }
}
