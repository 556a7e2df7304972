import Foundation
import PatchbayCore
import PatchbayEngine
import PatchbayModel
import Testing

/// `${{ run.id }}`, `${{ run.date }}`, `${{ run.started_at }}` and `${{ vars.NAME }}` in parameters, through the CLI.
@Suite("Run variables")
struct VariableTests {
    static let flow = """
        name: v
        variables: {region: eu, rows: 3}
        phases:
          - id: p
            tasks:
              - id: echo
                connector: dev.patchbay.noop
                parameters:
                  output_name: said
                  output_value: "run ${{ run.id }} on ${{ run.date }} at ${{ run.started_at }} in ${{ vars.region }}"
                  log_lines: ${{ vars.rows }}
        """

    @Test("run and flow variables fill parameters, --var overrides a flow variable, and a whole variable takes the schema's type")
    func variablesFill() throws {
        // Given a flow with variables, one of them an integer parameter
        let project = try TestProject(files: ["flows/v.yaml": Self.flow])
        defer { project.remove() }
        // When it runs with one variable overridden
        let run = try project.patchbay(["run", "v", "--var", "region=us-east", "--output", "json"])
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        // Then the output carries the run's id, its UTC date and time, and the overridden variable
        let json = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        let job = try #require((json["jobs"] as? [[String: Any]])?.first)
        let said = try #require((job["outputs"] as? [[String: Any]])?.first?["value"] as? String)
        let id = try #require(json["id"] as? Int)
        let pattern = #/run (\d+) on (\d{4}-\d{2}-\d{2}) at (\d{4}-\d{2}-\d{2})T\d{2}:\d{2}:\d{2}Z in us-east/#
        let match = try #require(said.wholeMatch(of: pattern), "\(said)")
        #expect(Int(match.1) == id && match.2 == match.3)
        // And the integer variable became an integer: three log lines
        let logs = try project.patchbay(["jobs", "logs"])
        #expect(logs.stdout.contains("line 3") && !logs.stdout.contains("line 4"), "\(logs.stdout)")
    }

    @Test("a variable with no value is refused before anything runs, naming the task and the variables there are")
    func unknownVariable() throws {
        // Given a flow that uses a variable it does not define
        let project = try TestProject(files: ["flows/v.yaml": Self.flow.replacingOccurrences(of: "vars.region", with: "vars.zone")])
        defer { project.remove() }
        // When it runs, Then it is refused with the fix
        let run = try project.patchbay(["run", "v"])
        #expect(run.status == 4)
        #expect(run.stderr.contains("${{ vars.zone }} has no value: define it under variables:, or pass --var zone=VALUE (variables: region, rows)"), "\(run.stderr)")
        // And --var supplies it
        #expect(try project.patchbay(["run", "v", "--var", "zone=ap"]).status == 0)
    }

    @Test("the template parser knows the run variables and says what a reference may be")
    func parser() throws {
        #expect(try Template.variables(in: .string("${{ run.id }}-${{ vars.a }}-${{ tasks.t.outputs.o }}")) == ["run.id", "vars.a"])
        #expect(Template.isWholeReference(.string("${{ vars.rows }}")))
        #expect(throws: TemplateError.self) { try Template.variables(in: .string("${{ run.hour }}")) }
    }
}
