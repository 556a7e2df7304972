import Foundation
import PatchbayCore
import PatchbayModel
import PatchbayStore
import Testing

/// `retry:` in a flow: automatic retries of a failed task, within its job, through real runners and a real store.
@Suite("Automatic retries")
struct RetryTests {
    static func project(_ retry: String, failFirst: Int, counters: String) throws -> TestProject {
        try TestProject(files: ["flows/r.yaml": """
            phases:
              - id: p
                tasks:
                  - id: flaky
                    connector: test.status-check
                    retry: \(retry)
                    files: {write: ["\(counters)"]}
                    parameters: {counter_file: "\(counters)/n", fail_first: \(failFirst)}
            """])
    }

    @Test("a transient failure is tried again until it succeeds, and the job says how many attempts it took")
    func retriesUntilSuccess() async throws {
        // Given a source that fails twice with 503, and a task allowed 3 retries 10 ms apart
        let counters = try Fixtures.temporaryDirectory()
        chmod(counters, 0o777)  // the connector runs as a uid of its own
        defer { try? FileManager.default.removeItem(atPath: counters) }
        let project = try Self.project("{max: 3, delay: 10ms}", failFirst: 2, counters: counters)
        defer { project.remove() }
        // When the flow runs
        let (run, jobs) = try await project.run("r")
        // Then the third attempt succeeded, in one job, and each failed attempt is in its log
        let job = try #require(jobs["flaky"])
        #expect(run.status == .success && job.status == .success, "\(job.message ?? "")")
        #expect(job.message == "succeeded after 3 attempts")
        let logs = try project.store.logs(run: run.id!).map(\.message)
        #expect(logs.contains { $0.hasPrefix("attempt 1 of 4 failed (transient error): failed (transient error): the source answered 503; trying again in") }, "\(logs)")
        #expect(logs.contains { $0.hasPrefix("attempt 2 of 4 failed") })
    }

    @Test("retries stop at max, and a class not listed in `on` is not retried")
    func retriesStop() async throws {
        // Given a source that always fails, allowed 2 retries; and one allowed retries only for config failures
        let counters = try Fixtures.temporaryDirectory()
        chmod(counters, 0o777)
        defer { try? FileManager.default.removeItem(atPath: counters) }
        let bounded = try Self.project("{max: 2, delay: 10ms, backoff: 2}", failFirst: 100, counters: counters)
        defer { bounded.remove() }
        let (_, jobs) = try await bounded.run("r")
        #expect(jobs["flaky"]?.status == .error)
        #expect(jobs["flaky"]?.message?.hasSuffix("(after 3 attempts)") == true, "\(jobs["flaky"]?.message ?? "")")
        #expect(try String(contentsOfFile: counters + "/n", encoding: .utf8) == "3\n")

        try FileManager.default.removeItem(atPath: counters + "/n")
        let other = try Self.project("{max: 2, delay: 10ms, on: [config]}", failFirst: 100, counters: counters)
        defer { other.remove() }
        let (_, once) = try await other.run("r")
        #expect(once["flaky"]?.status == .error && once["flaky"]?.message?.contains("attempts") == false)
        #expect(try String(contentsOfFile: counters + "/n", encoding: .utf8) == "1\n")
    }

    @Test("the retry policy is parsed with defaults, and a bad field is refused at its line")
    func parsing() throws {
        let flow = { (retry: String) in "name: r\nphases:\n  - id: p\n    tasks:\n      - {id: t, connector: x, retry: \(retry)}\n" }
        let defaults = try FlowLoader().load(text: flow("{}"), file: "r.yaml").tasks.first?.retry
        #expect(defaults == RetryPolicy(max: 3, delay: .seconds(10), backoff: 1, on: [.transient]))
        #expect(RetryPolicy(max: 3, delay: .seconds(1), backoff: 2).wait(before: 4) == .seconds(4))
        let error = #expect(throws: FlowError.self) { try FlowLoader().load(text: flow("{max: 3, on: [flaky]}"), file: "r.yaml") }
        #expect(error?.description.contains("r.yaml:5:") == true && error?.description.contains("'flaky' is not a failure class") == true,
                "\(error?.description ?? "")")
    }
}
