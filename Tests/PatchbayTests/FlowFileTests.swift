import Foundation
import PatchbayCore
import PatchbayEngine
import PatchbayModel
import Testing

@Suite("Flow files: YAML, Keboola JSON and located errors")
struct FlowFileTests {
    func issues(_ text: String, file: String = "flow.yaml", configurations: String? = nil) -> [FlowIssue] {
        do {
            _ = try FlowLoader(configurationDirectory: configurations).load(text: text, file: file)
            return []
        } catch let error as FlowError {
            return error.issues
        } catch {
            return [FlowIssue(nil, "", "\(error)")]
        }
    }

    @Test("native YAML: phases in file order, tasks with defaults, configuration parameters merged under the task's")
    func nativeYAML() throws {
        let directory = try Fixtures.directory(with: ["shared.yaml": "connector: dev.patchbay.noop\nparameters:\n  message: from config\n  sleep_ms: 1\n"])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let flow = try FlowLoader(configurationDirectory: directory).load(text: """
            name: daily
            phases:
              - id: one
                tasks:
                  - id: a
                    configuration: shared
                    parameters: {sleep_ms: 5}
              - id: two
                tasks:
                  - {id: b, connector: dev.patchbay.noop@1.0.0, enabled: false, continueOnFailure: true}
            """, file: "daily.yaml")
        #expect(flow.name == "daily")
        #expect(flow.phases.map(\.id) == ["one", "two"])
        let a = try #require(flow.task("a"))
        #expect(a.connector == ConnectorReference(id: "dev.patchbay.noop"))
        #expect(a.parameters == .object(["message": .string("from config"), "sleep_ms": .integer(5)]))
        #expect(a.enabled && !a.continueOnFailure)
        #expect(flow.configurationKey(for: a) == "dev.patchbay.noop/shared")
        let b = try #require(flow.task("b"))
        #expect(b.connector.version == "1.0.0")
        #expect(!b.enabled && b.continueOnFailure)
        #expect(flow.configurationKey(for: b) == "dev.patchbay.noop/flow:daily/b")
    }

    @Test("YAML values follow YAML 1.2: NO stays text, 007 and 1.0.0 too")
    func yamlCoreSchema() throws {
        let flow = try FlowLoader().load(text: """
            phases:
              - id: p
                tasks:
                  - id: t
                    connector: x
                    parameters: {country: NO, code: "007", version: 1.0.0, flag: true, count: 3, ratio: 0.5}
            """, file: "f.yaml")
        #expect(flow.task("t")?.parameters == .object([
            "country": .string("NO"), "code": .string("007"), "version": .string("1.0.0"), "flag": .bool(true),
            "count": .integer(3), "ratio": .number(0.5),
        ]))
    }

    @Test("Keboola orchestration JSON imports as is: numeric ids, dependsOn, disabled tasks, continueOnFailure, configData and configId")
    func keboolaImport() throws {
        let configurations = try Fixtures.directory(with: ["kbc-noop.json": #"{"parameters": {"message": "shared"}}"#])
        defer { try? FileManager.default.removeItem(atPath: configurations) }
        let flow = try FlowLoader(configurationDirectory: configurations)
            .load(file: Fixtures.repository + "/Tests/Fixtures/flows/keboola-orchestration.json")
        #expect(flow.format == "keboola")
        #expect(flow.name == "keboola-import")
        #expect(flow.phases.map(\.id) == ["1", "2", "3"])
        #expect(flow.tasks.map(\.id) == ["101", "102", "201", "202", "301"])
        #expect(flow.task("102")?.enabled == false)
        #expect(flow.task("201")?.continueOnFailure == true)
        #expect(flow.task("202")?.parameters == .object(["message": .string("shared")]))
        #expect(flow.task("202")?.configurationID == "kbc-noop")
        #expect(flow.task("101")?.parameters == .object(["rows": .integer(25), "table": .string("in.kbc_orders")]))

        let bare = try FlowLoader().load(file: Fixtures.repository + "/Tests/Fixtures/flows/keboola-bare.json")
        #expect(bare.phases.map(\.id) == ["first", "second"], "dependsOn decides the order, not the file")
    }

    @Test("an input names a catalog table by the bucket.table grammar, or a project file by a path; anything else is refused where it is written")
    func inputTableNames() throws {
        // Given a task with a good catalog table, a project file and two names outside the grammar
        let text = """
            name: i
            phases:
              - id: p
                tasks:
                  - id: t
                    connector: x
                    inputs: {a: in.orders, b: data/orders.csv, c: orders, d: "in.ord ers"}
            """
        // When it is loaded, Then each bad name is refused at its line and column, and nothing else
        let error = #expect(throws: FlowError.self) { try FlowLoader().load(text: text, file: "i.yaml") }
        let issues = error?.issues ?? []
        #expect(issues.map(\.path).sorted() == ["phases[0].tasks[0].inputs.c", "phases[0].tasks[0].inputs.d"], "\(issues)")
        #expect(issues.allSatisfy { $0.location?.line == 7 && $0.message.contains("is not a table name: write bucket.table") })
    }

    @Test("a disabled Keboola task needs no configuration, as in Keboola; an enabled one still does")
    func keboolaDisabledWithoutConfiguration() throws {
        // Given disabled tasks with no configId and an empty one, beside an enabled task that has neither
        func flow(enabledLacks: Bool) -> String {
            """
            {"phases": [{"id": 1, "name": "p"}], "tasks": [
              {"id": 1, "name": "a", "phase": 1, "enabled": false, "task": {"componentId": "dev.patchbay.noop"}},
              {"id": 2, "name": "b", "phase": 1, "enabled": false, "task": {"componentId": "dev.patchbay.noop", "configId": ""}},
              {"id": 3, "name": "c", "phase": 1, "task": {"componentId": "dev.patchbay.noop", \(enabledLacks ? "\"mode\": \"run\"" : "\"configData\": {\"parameters\": {}}")}}
            ]}
            """
        }
        // When they are loaded, Then the disabled ones load, and only the enabled one without a configuration is refused
        let loaded = try FlowLoader().load(text: flow(enabledLacks: false), file: "k.json")
        #expect(loaded.tasks.map(\.enabled) == [false, false, true])
        let refused = #expect(throws: FlowError.self) { try FlowLoader().load(text: flow(enabledLacks: true), file: "k.json") }
        #expect(refused?.issues.map(\.path) == ["tasks[2].task"], "\(refused?.description ?? "")")
    }

    @Test("malformed YAML and JSON: the line and column of the fault")
    func syntaxErrors() {
        let yaml = issues("phases:\n  - id: a\n    tasks: [\n", file: "broken.yaml")
        #expect(yaml.count == 1)
        #expect(yaml.first?.location?.file == "broken.yaml")
        #expect(yaml.first?.message.contains("not valid YAML") == true)
        #expect((yaml.first?.location?.line ?? 0) >= 3)

        let json = issues("{\n  \"phases\": [\n    {\"id\": 1,}\n  ]\n}", file: "broken.json")
        #expect(json.first?.location == SourceLocation(file: "broken.json", line: 3, column: 14))
        #expect(json.first?.message.contains("expected a \"key\"") == true)
    }

    @Test("unknown fields, duplicate ids, unknown phases, empty phases and cycles, each with file, line, column and field")
    func structuralErrors() {
        let found = issues("""
            phases:
              - id: a
                dependsOn: [c]
                tasks:
                  - {id: t1, connector: x, continueOnFailur: true}
                  - {id: t1, connector: x}
              - id: b
                tasks: []
              - id: c
                dependsOn: [a]
                tasks:
                  - {id: t2, connector: x}
              - id: a
                tasks:
                  - {id: t3, connector: x}
            """, file: "bad.yaml")
        let text = found.map(\.description)
        #expect(text.contains("bad.yaml:5:32: phases[0].tasks[0].continueOnFailur: unknown field (did you mean 'continueOnFailure'?); allowed here: id, name, connector, version, configuration, parameters, inputs, enabled, continueOnFailure, timeout, poll, retry, files, network"))
        #expect(text.contains { $0.hasPrefix("bad.yaml:6:9: tasks.t1: duplicate task id 't1'") })
        #expect(text.contains { $0.hasPrefix("bad.yaml:13:5: phases.a: duplicate phase id 'a'") })
        #expect(text.contains { $0.hasPrefix("bad.yaml:7:5: phases.b: phase 'b' has no tasks") })
        let cycle = issues("""
            phases:
              - {id: a, dependsOn: [c], tasks: [{id: t1, connector: x}]}
              - {id: b, dependsOn: [a], tasks: [{id: t2, connector: x}]}
              - {id: c, dependsOn: [b], tasks: [{id: t3, connector: x}]}
            """, file: "cycle.yaml")
        #expect(cycle.map(\.description) == ["cycle.yaml:2:5: phases.a.dependsOn: phases depend on each other in a cycle: a → b → c"])
    }

    @Test("output references: unknown task, same or later phase, disabled task, bad syntax")
    func referenceErrors() {
        let found = issues("""
            phases:
              - id: one
                tasks:
                  - {id: start, connector: x, parameters: {v: "${{ tasks.later.outputs.id }}"}}
                  - {id: sibling, connector: x, parameters: {v: "${{ tasks.start.outputs.id }}"}}
                  - {id: off, connector: x, enabled: false}
              - id: two
                tasks:
                  - {id: later, connector: x, parameters: {a: "${{ tasks.nobody.outputs.id }}", b: "${{ tasks.off.outputs.id }}", c: "${{ env.HOME }}"}}
            """, file: "refs.yaml")
        let text = found.map(\.description)
        #expect(text.contains { $0.hasPrefix("refs.yaml:4:51: tasks.start.parameters.v: refers to task 'later' in a later phase") })
        #expect(text.contains { $0.hasPrefix("refs.yaml:5:53: tasks.sibling.parameters.v: refers to task 'start' in the same phase") })
        #expect(text.contains { $0.contains("tasks.later.parameters.c: '${{ env.HOME }}' is not a reference") })
        // c's syntax error stops the check of that task's other references; a and b are found in a fixed flow:
        let fixed = issues("""
            phases:
              - id: one
                tasks:
                  - {id: off, connector: x, enabled: false}
              - id: two
                tasks:
                  - {id: later, connector: x, parameters: {a: "${{ tasks.nobody.outputs.id }}", b: "${{ tasks.off.outputs.id }}"}}
            """, file: "refs.yaml").map(\.description)
        #expect(fixed.contains { $0.contains("tasks.later.parameters.a: refers to unknown task 'nobody'") })
        #expect(fixed.contains { $0.contains("tasks.later.parameters.b: refers to task 'off', which is disabled") })
    }

    @Test("unknown connectors and parameters that break the connector's schema are found before anything runs")
    func connectorErrors() async throws {
        let project = try TestProject(files: ["flows/bad.yaml": """
            phases:
              - id: one
                tasks:
                  - id: typo
                    connector: dev.patchbay.noop
                    parameters:
                      sleep_ms: "soon"
                      mesage: hi
                  - id: missing
                    connector: dev.patchbay.nothing-like-this
            """])
        defer { project.remove() }
        do {
            _ = try await project.engine.load(flowFile: project.project.flowFile("bad"))
            Issue.record("the flow should not be valid")
        } catch EngineError.invalidFlow(let error) {
            let text = error.issues.map(\.description)
            let file = project.project.root + "/flows/bad.yaml"
            #expect(text.contains { $0.hasPrefix("\(file):7:21: tasks.typo.parameters.sleep_ms: expected integer, found string") })
            #expect(text.contains { $0.hasPrefix("\(file):8:19: tasks.typo.parameters.mesage: unknown parameter (did you mean 'message'?)") })
            #expect(text.contains { $0.hasPrefix("\(file):9:9: tasks.missing.connector:") && $0.contains("dev.patchbay.nothing-like-this") })
            #expect(try project.store.runs().isEmpty, "nothing ran and no run was recorded")
        }
        // The CLI prints the same lines and exits 4.
        let cli = try project.patchbay(["validate", "bad"])
        #expect(cli.status == 4)
        #expect(cli.stderr.contains("the flow is not valid (3 problems)"))
        #expect(cli.stderr.contains("flows/bad.yaml:7:21: tasks.typo.parameters.sleep_ms"))
    }
}
