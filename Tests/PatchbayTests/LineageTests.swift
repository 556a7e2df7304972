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
