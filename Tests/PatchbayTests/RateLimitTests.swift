import Foundation
@testable import PatchbayEngine
import PatchbayModel
import PatchbayStore
import Testing

@Suite("A rate limit shared by every task that calls one service (ABI 1.4)")
struct RateLimitTests {
    @Test("the bucket gives a burst at once, then one turn every 1/rate, in order, and refills no further than the burst")
    func turnsInOrder() {
        // Given 10 requests a second in bursts of 2
        let limiter = RateLimiter(limits: ["svc": RateLimit(perSecond: 10, burst: 2)])
        let start = Date(timeIntervalSince1970: 1_000)
        // When five requests come at once
        let waits = (0..<5).map { _ in limiter.reserve("svc", tokens: 1, now: start).wait }
        // Then two go now and the others 0.1 s apart
        #expect(waits == [.zero, .zero, .milliseconds(100), .milliseconds(200), .milliseconds(300)])
        // And after a long pause only a burst is saved up
        let later = start.addingTimeInterval(60)
        #expect(limiter.reserve("svc", tokens: 2, now: later).wait == .zero)
        #expect(limiter.reserve("svc", tokens: 1, now: later).wait == .milliseconds(100))
        // And a key the project does not limit never waits
        #expect(limiter.reserve("other", tokens: 1000, now: start).wait == .zero && limiter.reserve("other", tokens: 1, now: start).limit == nil)
    }

    @Test("patchbay.yaml's rate_limits are read with their defaults; a mistake is refused at its line, with the field")
    func settings() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let good = directory + "/good.yaml", bad = directory + "/bad.yaml"
        try "name: p\nrate_limits:\n  api.example.com: {per_second: 10, burst: 20}\n  slow.example.com: {per_second: 0.5}\n".write(toFile: good, atomically: true, encoding: .utf8)
        try "name: p\nrate_limit:\n  x: 1\nrate_limits:\n  a.com: {per_second: -1, bursts: 3}\n  b.com: {burst: 2}\n".write(toFile: bad, atomically: true, encoding: .utf8)
        let settings = try ProjectSettings.load(file: good)
        #expect(settings.rateLimits == ["api.example.com": RateLimit(perSecond: 10, burst: 20), "slow.example.com": RateLimit(perSecond: 0.5, burst: 1)])
        #expect(try ProjectSettings.load(file: directory + "/none.yaml") == ProjectSettings())
        do {
            _ = try ProjectSettings.load(file: bad)
            Issue.record("a bad project file was accepted")
        } catch {
            let problems = error.issues.map(\.description)
            #expect(problems.contains { $0.hasSuffix("bad.yaml:2:1: rate_limit: unknown field (did you mean 'rate_limits'?); allowed here: name, rate_limits") }, "\(problems)")
            #expect(problems.contains { $0.contains("bad.yaml:5:23: rate_limits.a.com.per_second: must be a number above 0") }, "\(problems)")
            #expect(problems.contains { $0.contains("rate_limits.a.com.bursts: unknown field; allowed here: per_second, burst") }, "\(problems)")
            #expect(problems.contains { $0.contains("rate_limits.b.com: per_second is required") }, "\(problems)")
        }
    }

    @Test("two tasks of one phase that call one service share its limit: together they never go faster than it allows")
    func sharedAcrossTasks() async throws {
        // Given a service limited to 20 requests a second, no burst, and two tasks that each send 10 requests at once
        let project = try TestProject(files: [
            "flows/calls.yaml": """
                phases:
                  - id: p
                    tasks:
                      - {id: a, connector: test.rated, parameters: {key: svc.test, requests: 10}}
                      - {id: b, connector: test.rated, parameters: {key: svc.test, requests: 10}}
                      - {id: free, connector: test.rated, parameters: {key: other.test, requests: 50}}
                """,
        ], settings: "rate_limits:\n  svc.test: {per_second: 20, burst: 1}\n")
        defer { project.remove() }
        // When they run in parallel
        let (run, jobs) = try await project.run("calls")
        #expect(run.status == .success, "\(run.message ?? "")")
        // Then the 20 turns were 50 ms apart across both tasks: from the first request of either to the last of either
        // at least 0.9 s passed, on one clock for both (each task's own clock made a task that started late under load
        // look fast), and together they waited about 100 ms a request (alone, each would have waited 50 ms)
        let outputs = try jobs.mapValues { try project.outputs($0) }
        let first = [outputs["a"]?["first_at_ms"], outputs["b"]?["first_at_ms"]].compactMap { $0.flatMap(Int.init) }
        let last = [outputs["a"]?["last_at_ms"], outputs["b"]?["last_at_ms"]].compactMap { $0.flatMap(Int.init) }
        #expect(first.count == 2 && last.count == 2 && last.max()! - first.min()! >= 900, "\(outputs)")
        #expect((outputs["a"]?["waited_ms"]).flatMap(Int.init)! + (outputs["b"]?["waited_ms"]).flatMap(Int.init)! >= 1400, "\(outputs)")
        // And a service the project does not limit never waits, and an empty key is refused
        #expect(outputs["free"]?["waited_ms"] == "0" && outputs["free"]?["empty_key_status"] == "4", "\(String(describing: outputs["free"]))")
    }
}
