import Foundation
import PatchbayCore
import PatchbayEngine
import PatchbayStore
import Testing

/// Typed columns and NULL (ABI 1.3) through real runners: a connector declares types when it opens an
/// output, the runner refuses a value outside its type's form, the host keeps a manifest beside the CSV
/// and the types in the catalog, and a later task reads the types and the NULLs back.
@Suite("Typed tables")
struct TypedTablesTests {
    static let flow = """
        phases:
          - id: write
            tasks:
              - {id: write, connector: test.typed, parameters: {mode: write}}
          - id: read
            tasks:
              - {id: read, connector: test.typed, inputs: {t: out.typed}, parameters: {mode: read}}
              - {id: plain, connector: test.typed, inputs: {t: data/plain.csv}, parameters: {mode: read}}
        """

    @Test("typed columns and NULLs written by one task are read back by the next; a malformed value refuses its batch")
    func roundTrip() async throws {
        // Given a flow whose first task writes typed rows (with NULLs, an empty string and one bad batch)
        // and whose second phase reads them, and a hand-made CSV without a manifest
        let project = try TestProject(files: ["flows/typed.yaml": Self.flow, "data/plain.csv": "a,b\n1,\n"])
        defer { project.remove() }
        // When it runs
        let (run, jobs) = try await project.run("typed")
        // Then it succeeds, and the batch with "12,5" in a decimal column wrote nothing and said why
        #expect(run.status == .success)
        let writer = try #require(jobs["write"]), reader = try #require(jobs["read"]), plain = try #require(jobs["plain"])
        #expect(try project.outputs(writer)["bad_batch"] == "4")  // PATCHBAY_INVALID_ARGUMENT
        let logs = try project.store.logs(job: writer.id!).map(\.message)
        #expect(logs.contains { $0.contains("column 'amount' (decimal), row 2 of the batch: '12,5' is not digits") }, "\(logs)")
        // And the reader saw the declared types, NULL as NULL and "" as the empty string
        let read = try project.outputs(reader)
        #expect(read["types"] == "2,3,5,6,7,1,8")
        #expect(read["cells"] == #"1|10.50|true|2026-12-02|2026-12-02T10:00:00.250Z|plain, "quoted"|{"k": [1, 2.5e3, null]};"#
                + "2|~|false|2024-02-29|2026-01-01T00:00:00Z|~|null;-3|-0.001|false|2000-01-01|2026-01-01T23:59:59Z||\"x\";")
        // And a 1.0 reader gets a NULL as an empty string
        #expect(read["legacy"] == #"1|10.50|true|2026-12-02|2026-12-02T10:00:00.250Z|plain, "quoted"|{"k": [1, 2.5e3, null]};"#
                + "2||false|2024-02-29|2026-01-01T00:00:00Z||null;-3|-0.001|false|2000-01-01|2026-01-01T23:59:59Z||\"x\";")
        // And a table without a manifest is all strings, with no NULL
        #expect(try project.outputs(plain)["types"] == "1,1")
        #expect(try project.outputs(plain)["cells"] == "1|;")
        // And the manifest beside the CSV names the types, and the catalog keeps them
        let manifest = try String(contentsOfFile: project.project.tablesDirectory + "/out.typed.manifest.json", encoding: .utf8)
        #expect(manifest.contains(#""name":"amount","type":"decimal""#) && manifest.contains(#""rows":3"#), "\(manifest)")
        #expect(try project.store.table("out.typed")?.types == [.integer, .decimal, .boolean, .date, .timestamp, .string, .json])
    }

    @Test("tables show prints each column's type and NULL; its JSON gives typed values and null")
    func shown() async throws {
        // Given a committed typed table
        let project = try TestProject(files: ["flows/typed.yaml": Self.flow, "data/plain.csv": "a,b\n1,\n"])
        defer { project.remove() }
        _ = try await project.run("typed", only: ["write"])
        // When it is shown as text
        let text = try project.patchbay(["tables", "show", "out.typed"])
        // Then the columns carry their types and the NULLs show as NULL
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("columns: id integer, amount decimal, ok boolean, day date, at timestamp, note string, doc json"), "\(text.stdout)")
        #expect(text.stdout.contains("2 | NULL | false | 2024-02-29 | 2026-01-01T00:00:00Z | NULL | null"), "\(text.stdout)")
        // And as JSON, values are typed: numbers, booleans, JSON, null; decimals keep their digits as text
        let json = try project.patchbay(["tables", "show", "out.typed", "--output", "json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(object["types"] as? [String] == ["integer", "decimal", "boolean", "date", "timestamp", "string", "json"])
        let preview = try #require(object["preview"] as? [[String: Any]])
        #expect(preview.count == 3)
        #expect(preview[0]["id"] as? Int == 1 && preview[0]["amount"] as? String == "10.50" && preview[0]["ok"] as? Bool == true)
        #expect((preview[0]["doc"] as? [String: Any])?["k"] != nil)
        #expect(preview[1]["amount"] is NSNull && preview[1]["note"] is NSNull)
        #expect(preview[2]["note"] as? String == "")
        // And an export confirms in JSON and takes the manifest along, so the file read back keeps its types
        let file = project.project.root + "/exported.csv"
        let exported = try project.patchbay(["tables", "export", "out.typed", "--to", file, "--output", "json"])
        let confirmation = try #require(try JSONSerialization.jsonObject(with: Data(exported.stdout.utf8)) as? [String: Any], "\(exported.stderr)")
        #expect(confirmation["rows"] as? Int == 3 && confirmation["manifest"] as? String == project.project.root + "/exported.manifest.json")
        let readBack = try Fixtures.run(Fixtures.patchbay, ["task", "run", try FlowFixtures.directory.get() + "/libtyped.so",
                                                            "--input", "t=" + file, "--param", "mode=read", "--output", "json"])
        #expect(readBack.status == 0, "\(readBack.stdout)\n\(readBack.stderr)")
        #expect(readBack.stdout.contains("2,3,5,6,7,1,8"), "\(readBack.stdout)")
    }
}
