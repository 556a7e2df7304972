import Foundation
import PatchbayCore
import PatchbayEngine
import PatchbayStore
import Testing

@Suite("Initiation and status check: an asynchronous export of a real API")
struct AsyncExportTests {
    @Test("oauth2 → start an export → poll its status until done → extract its download: each stage a connector, outputs flowing forward")
    func exportEndToEnd() async throws {
        // Given a real API whose exports are done on their third status check
        let api = try LocalService("demo_api.py")
        let base = "http://127.0.0.1:\(api.port)"
        let project = try TestProject(files: ["flows/export.yaml": """
            phases:
              - id: login
                tasks:
                  - {id: login, connector: dev.patchbay.oauth2, parameters: {token_url: "\(base)/oauth/token", client_id: demo, "#client_secret": s3cret}}
              - id: start
                tasks:
                  - {id: start, connector: dev.patchbay.http-async-start, parameters: {url: "\(base)/exports", body: "{}", id_path: export.id}}
              - id: wait
                tasks:
                  - id: status
                    connector: dev.patchbay.http-async-status
                    poll: {interval: 0.05, timeout: 30}
                    parameters: {url: "\(base)/exports/${{ tasks.start.outputs.id }}", download_path: download}
              - id: extract
                tasks:
                  - id: items
                    connector: dev.patchbay.http-extract
                    parameters:
                      url: "${{ tasks.status.outputs.download }}"
                      records: data.items
                      pagination: {type: page, param: page, size_param: per_page, size: 10, total: meta.total}
                      columns: {id: integer}
                      table: in.export
            """])
        defer { project.remove() }
        // When it runs
        let (run, jobs) = try await project.run("export")
        // Then the export was polled until done, its download URL went to the extraction, and all 25 rows landed
        #expect(run.status == .success, "\(run.message ?? "") \(jobs.mapValues { $0.message ?? "" })")
        #expect(try project.outputs(jobs["start"]!) == ["id": "e1"])
        #expect(jobs["status"]?.message == "ready after 3 checks", "\(jobs["status"]?.message ?? "")")
        #expect(try project.outputs(jobs["status"]!)["download"] == "\(base)/exports/e1/data")
        #expect(try project.outputs(jobs["items"]!)["rows"] == "25")
        #expect(try project.store.table("in.export")?.types == [.integer])
    }

    @Test("a failed export fails the status check with the API's reason")
    func failedExport() throws {
        let api = try LocalService("demo_api.py")
        let result = try FirstParty.patchbay(["task", "run", "dev.patchbay.http-async-status", "--param", "url=http://127.0.0.1:\(api.port)/exports/bad",
                                              "--param", "reason_path=reason"])
        #expect(result.status == 1 && result.stdout.contains("the export at http://127.0.0.1:\(api.port)/exports/bad failed: the export broke"), "\(result.stdout)")
    }
}
