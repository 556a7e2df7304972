import Foundation
#if canImport(Glibc)
import Glibc
#endif
import PatchbayCore
@testable import PatchbayEngine
import PatchbaySecurity
import PatchbayStore
import Testing

/// A real `patchbay serve` on a free loopback port, over a test project; killed when released.
final class ServeProcess: @unchecked Sendable {
    // @unchecked: `process` and `output` are set in init and only read afterwards; Process itself is thread-safe for
    // the calls made here (signals, waiting).
    let process = Process()
    let output = Pipe()
    let port: Int
    let base: String

    init(_ project: TestProject, arguments: [String] = []) throws {
        process.executableURL = URL(fileURLWithPath: Fixtures.patchbay)
        process.arguments = ["serve", "--port", "0", "--tick", "0.2"] + arguments + (try project.cliOptions)
        let line = try Fixtures.start(process, firstLineTo: output)
        guard let range = line.range(of: "http://127.0.0.1:"),
              let port = Int(line[range.upperBound...].prefix { $0.isNumber }) else {
            throw Fixtures.FixtureError(message: "patchbay serve did not start: '\(line)'")
        }
        self.port = port
        base = "http://127.0.0.1:\(port)"
    }

    struct Answer: Sendable {
        let status: Int
        let headers: [String: String]
        let body: Data
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// One HTTP/1.1 exchange on a connection of its own (`Connection: close`), on a thread of its own so that
    /// any number can be in flight at once. Chunked bodies (server-sent events) are decoded.
    func request(_ method: String, _ path: String, token: String? = nil, headers: [String: String] = [:], body: Data? = nil,
                 timeout: TimeInterval = 30) async throws -> Answer {
        var text = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\nContent-Length: \(body?.count ?? 0)\r\n"
        if let token { text += "Authorization: Bearer \(token)\r\n" }
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        let request = Array((text + "\r\n").utf8) + Array(body ?? Data())
        let port = self.port
        return try await Fixtures.offPool { try Self.exchange(request, port: port, timeout: timeout) }
    }

    static func exchange(_ request: [UInt8], port: Int, timeout: TimeInterval) throws -> Answer {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Fixtures.FixtureError(message: "socket: \(errno)") }
        defer { close(fd) }
        var time = timeval(tv_sec: Int(timeout), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard connected == 0 else { throw Fixtures.FixtureError(message: "connect to port \(port): errno \(errno)") }
        var sent = 0
        while sent < request.count {
            let n = request.withUnsafeBytes { send(fd, $0.baseAddress! + sent, request.count - sent, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw Fixtures.FixtureError(message: "send: errno \(errno)") }
            sent += n
        }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { break }
            guard n > 0 else { throw Fixtures.FixtureError(message: "no answer within \(timeout) s (errno \(errno))") }
            bytes += buffer[..<n]
            // A peer that keeps the connection open (chromedriver) has answered once its Content-Length has arrived.
            if let end = bytes.firstRange(of: Array("\r\n\r\n".utf8)),
               let length = String(decoding: bytes[..<end.lowerBound], as: UTF8.self).lowercased()
                   .components(separatedBy: "\r\n").first(where: { $0.hasPrefix("content-length:") })
                   .flatMap({ Int($0.dropFirst(15).trimmingCharacters(in: .whitespaces)) }),
               bytes.count - end.upperBound >= length { break }
        }
        guard let split = bytes.firstRange(of: Array("\r\n\r\n".utf8)) else { throw Fixtures.FixtureError(message: "no HTTP head in \(bytes.count) bytes") }
        let head = String(decoding: bytes[..<split.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        let status = Int(head[0].split(separator: " ")[1]) ?? 0
        var fields: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var payload = Array(bytes[split.upperBound...])
        if fields["transfer-encoding"]?.lowercased() == "chunked" {
            var decoded: [UInt8] = [], at = 0
            while let end = payload[at...].firstRange(of: Array("\r\n".utf8)),
                  let size = Int(String(decoding: payload[at..<end.lowerBound], as: UTF8.self), radix: 16), size > 0 {
                decoded += payload[end.upperBound..<(end.upperBound + size)]
                at = end.upperBound + size + 2
            }
            payload = decoded
        }
        return Answer(status: status, headers: fields, body: Data(payload))
    }

    /// SIGTERM, then the exit (within `limit`), and what the daemon printed on stdout after it started.
    func terminate(within limit: TimeInterval = 30) throws -> Int32 {
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(limit)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        guard !process.isRunning else { throw Fixtures.FixtureError(message: "patchbay serve did not exit within \(limit) s of SIGTERM") }
        return process.terminationStatus
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}

@Suite("patchbay serve: the HTTP API through a real daemon")
struct ServerTests {
    static func project(_ extra: [String: String] = [:]) throws -> TestProject {
        try TestProject(files: ["flows/quick.yaml": """
            phases:
              - {id: p, tasks: [{id: t, connector: dev.patchbay.noop}]}
            """].merging(extra) { $1 })
    }

    static func masterToken(_ project: TestProject) throws -> String {
        try String(contentsOfFile: project.project.masterTokenPath, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test("the token matrix: none, invalid, expired and revoked are 401; a token without the scope is 403; a run-only token may run")
    func tokens() async throws {
        let project = try Self.project()
        defer { project.remove() }
        let engine = project.engine
        let reader = try engine.createToken(name: "reader", scopes: TokenScopes(buckets: ["*": .read])).secret
        let runner = try engine.createToken(name: "runner", scopes: TokenScopes(canRunOrchestrations: true)).secret
        let expired = try engine.createToken(name: "old", scopes: TokenScopes(canRunOrchestrations: true), expiresIn: -1).secret
        let (revokedRecord, revoked) = try engine.createToken(name: "gone", scopes: TokenScopes(canRunOrchestrations: true))
        try engine.revokeToken(revokedRecord.id!)
        let serve = try ServeProcess(project)
        let path = "/v1/flows/quick/runs"
        // When each token asks for a run
        let none = try await serve.request("POST", path)
        let invalid = try await serve.request("POST", path, token: "pbt_1_not-the-secret")
        let old = try await serve.request("POST", path, token: expired)
        let gone = try await serve.request("POST", path, token: revoked)
        let readOnly = try await serve.request("POST", path, token: reader)
        let allowed = try await serve.request("POST", path, token: runner)
        // Then only the run-only token's is accepted, and each refusal is a problem with a stable code
        #expect(none.status == 401 && none.json["code"] as? String == "unauthorized" && none.headers["content-type"] == "application/problem+json")
        #expect(none.headers["www-authenticate"]?.hasPrefix("Bearer") == true)
        #expect(invalid.status == 401 && (invalid.json["detail"] as? String)?.contains("not valid for this project") == true, "\(invalid.text)")
        #expect(old.status == 401 && (old.json["detail"] as? String)?.contains("expired") == true, "\(old.text)")
        #expect(gone.status == 401 && (gone.json["detail"] as? String)?.contains("revoked") == true, "\(gone.text)")
        #expect(readOnly.status == 403 && readOnly.json["code"] as? String == "forbidden" && readOnly.json["type"] as? String == "https://patchbay.dev/problems/forbidden",
                "\(readOnly.text)")
        #expect(allowed.status == 202, "\(allowed.text)")
        let location = try #require(allowed.headers["location"])
        #expect(location.hasPrefix("/v1/runs/"))
        // And the reader may read what the runner started; an unknown route is a problem too
        let shown = try await serve.request("GET", location, token: reader)
        #expect(shown.status == 200 && shown.json["flow"] as? String == "quick")
        let unknown = try await serve.request("GET", "/v1/nothing", token: reader)
        #expect(unknown.status == 404 && unknown.json["code"] as? String == "not_found", "\(unknown.text)")
        let noFlow = try await serve.request("POST", "/v1/flows/missing/runs", token: runner)
        #expect(noFlow.status == 404 && (noFlow.json["detail"] as? String)?.contains("flows: quick") == true, "\(noFlow.text)")
    }

    @Test("200 concurrent trigger requests for one flow: every one is answered 202, no two runs overlap, none is lost")
    func concurrentTriggers() async throws {
        let project = try Self.project()
        defer { project.remove() }
        let token = try Self.masterToken(project)
        let serve = try ServeProcess(project)
        // When 200 requests arrive at once
        let answers = try await withThrowingTaskGroup(of: ServeProcess.Answer.self) { group in
            for _ in 0..<200 { group.addTask { try await serve.request("POST", "/v1/flows/quick/runs", token: token, timeout: 120) } }
            return try await group.reduce(into: [ServeProcess.Answer]()) { $0.append($1) }
        }
        let statuses = answers.map(\.status)
        for answer in answers where answer.status != 202 { Issue.record("\(answer.status): \(answer.text)") }
        // Then every request got its run
        #expect(statuses.count == 200 && statuses.allSatisfy { $0 == 202 }, "\(Dictionary(grouping: statuses, by: { $0 }).mapValues(\.count))")
        // And every run ends, one after another
        let deadline = Date().addingTimeInterval(240)
        var runs: [RunRecord] = []
        repeat {
            runs = try project.store.runs(flow: "quick", limit: 1000)
            if runs.count >= statuses.filter({ $0 == 202 }).count && runs.allSatisfy({ $0.status.isFinished }) { break }
            try await Task.sleep(for: .milliseconds(100))
        } while Date() < deadline
        #expect(runs.count == 200 && runs.allSatisfy { $0.status == .success }, "\(Dictionary(grouping: runs, by: \.status.rawValue).mapValues(\.count))")
        let intervals = runs.compactMap { run in run.startedAt.flatMap { start in run.finishedAt.map { (start, $0) } } }.sorted { $0.0 < $1.0 }
        let overlapping = zip(intervals, intervals.dropFirst()).filter { $1.0 < $0.1 }
        #expect(intervals.count == 200 && overlapping.isEmpty, "\(overlapping.count) runs started before the one before them ended")
    }

    @Test("Idempotency-Key: 100 retries create one run and replay its answer; another body with the key is 422")
    func idempotency() async throws {
        let project = try Self.project()
        defer { project.remove() }
        let token = try Self.masterToken(project)
        let serve = try ServeProcess(project)
        let body = Data(#"{"variables": {"day": "2026-12-03"}}"#.utf8)
        let answers = try await withThrowingTaskGroup(of: ServeProcess.Answer.self) { group in
            for _ in 0..<100 {
                group.addTask { try await serve.request("POST", "/v1/flows/quick/runs", token: token, headers: ["Idempotency-Key": "k-1"], body: body) }
            }
            return try await group.reduce(into: [ServeProcess.Answer]()) { $0.append($1) }
        }
        // Concurrent duplicates while the first is in flight are 409; all others replay the first 202
        let accepted = answers.filter { $0.status == 202 }
        #expect(accepted.count + answers.filter { $0.status == 409 }.count == 100, "\(answers.map(\.status))")
        #expect(Set(accepted.compactMap { $0.headers["location"] }).count == 1)
        #expect(try project.store.runs(flow: "quick", limit: 1000).count == 1)
        let again = try await serve.request("POST", "/v1/flows/quick/runs", token: token, headers: ["Idempotency-Key": "k-1"], body: body)
        #expect(again.status == 202 && again.headers["idempotent-replayed"] == "true" && again.headers["location"] == accepted.first?.headers["location"])
        let other = try await serve.request("POST", "/v1/flows/quick/runs", token: token, headers: ["Idempotency-Key": "k-1"], body: Data("{}".utf8))
        #expect(other.status == 422 && other.json["code"] as? String == "idempotency_key_reused", "\(other.text)")
        #expect(try project.store.runs(flow: "quick", limit: 1000).count == 1)
    }

    @Test("a job's log: pages by continuation token, and server-sent events until the job ends")
    func logs() async throws {
        let project = try Self.project(["flows/talk.yaml": """
            phases:
              - {id: p, tasks: [{id: t, connector: dev.patchbay.sample-data, parameters: {rows: 3}}]}
            """])
        defer { project.remove() }
        let token = try Self.masterToken(project)
        let serve = try ServeProcess(project)
        let started = try await serve.request("POST", "/v1/flows/talk/runs", token: token)
        let location = try #require(started.headers["location"])
        // Server-sent events end with the job
        let stream = try await serve.request("GET", location + "/jobs/t/log", token: token, headers: ["Accept": "text/event-stream"])
        #expect(stream.headers["content-type"] == "text/event-stream")
        #expect(stream.text.contains("event: line\ndata: ") && stream.text.hasSuffix("event: end\ndata: {\"status\":\"success\"}\n\n"), "\(stream.text)")
        // And pages of one line follow each other by their tokens to the same lines
        var lines: [String] = [], after: String?
        repeat {
            let page = try await serve.request("GET", location + "/jobs/t/log?limit=1" + (after.map { "&after=\($0)" } ?? ""), token: token)
            #expect(page.status == 200)
            let got = page.json["lines"] as? [[String: Any]] ?? []
            lines += got.compactMap { $0["message"] as? String }
            after = page.json["more"] as? Bool == true ? page.json["next"] as? String : nil
        } while after != nil
        let streamed = stream.text.components(separatedBy: "\n").filter { $0.hasPrefix("data: {\"id\"") }.count
        #expect(!lines.isEmpty && lines.count == streamed, "\(lines.count) paged, \(streamed) streamed")
        let bad = try await serve.request("GET", location + "/jobs/t/log?after=x", token: token)
        #expect(bad.status == 400 && bad.json["code"] as? String == "invalid_request")
    }

    @Test("the orchestration token refuses tokens revoke and refresh, and rotates atomically: the old secret stops, a run in progress finishes")
    func orchestrationToken() async throws {
        let project = try Self.project(["flows/slow.yaml": """
            phases:
              - id: p
                tasks:
                  - {id: wait, connector: test.status-check, poll: {interval: 0.2, timeout: 60}, parameters: {count_in_state: true, ready_after: 6}}
            """])
        defer { project.remove() }
        let (token, first) = try project.engine.createToken(name: "slow's", scopes: TokenScopes(canRunOrchestrations: true), orchestration: "slow")
        // tokens revoke and refresh point to the dedicated commands
        for verb in ["revoke", "refresh"] {
            let refused = try project.patchbay(["tokens", verb, "\(token.id!)"])
            #expect(refused.status == 4 && refused.stderr.contains("is the orchestration token of flow 'slow'")
                    && refused.stderr.contains("patchbay flows token rotate slow") && refused.stderr.contains("patchbay flows disable slow"), "\(refused.stderr)")
        }
        let serve = try ServeProcess(project)
        let started = try await serve.request("POST", "/v1/flows/slow/runs", token: first)
        #expect(started.status == 202, "\(started.text)")
        let location = try #require(started.headers["location"])
        let runID = try #require(Int64(location.split(separator: "/").last!))
        // When it is rotated while that run waits on its status check
        let rotated = try project.patchbay(["flows", "token", "rotate", "slow", "--output", "json"])
        let second = try #require((try JSONSerialization.jsonObject(with: Data(rotated.stdout.utf8)) as? [String: Any])?["secret"] as? String, "\(rotated.stderr)")
        // Then the old secret is refused at once, the new one works, and the run in progress still succeeds
        #expect(try await serve.request("POST", "/v1/flows/slow/runs", token: first).status == 401)
        let again = try await serve.request("POST", "/v1/flows/slow/runs", token: second)
        #expect(again.status == 202, "\(again.text)")
        let deadline = Date().addingTimeInterval(60)
        while try project.store.run(runID)?.status.isFinished != true, Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(try project.store.run(runID)?.status == .success)
        // And a disabled flow takes no API run until it is enabled again
        #expect(try project.patchbay(["flows", "disable", "slow", "--reason", "maintenance"]).status == 0)
        let refused = try await serve.request("POST", "/v1/flows/slow/runs", token: second)
        #expect(refused.status == 409 && (refused.json["detail"] as? String)?.contains("(maintenance)") == true, "\(refused.text)")
        #expect(try project.patchbay(["flows", "enable", "slow"]).status == 0)
        #expect(try await serve.request("POST", "/v1/flows/slow/runs", token: second).status == 202)
    }

    @Test("schemathesis finds nothing: every documented operation, fuzzed for a bounded time against the live daemon, answers as the document says")
    func schemathesis() async throws {
        let tool = Fixtures.repository + "/.build/tools/bin/schemathesis"
        try #require(FileManager.default.isExecutableFile(atPath: tool), "schemathesis is not installed: scripts/test installs it into .build/tools")
        let project = try Self.project()
        defer { project.remove() }
        let serve = try ServeProcess(project)
        let result = try Fixtures.run(tool, ["run", serve.base + "/openapi.json", "-H", "Authorization: Bearer \(try Self.masterToken(project))",
                                             "--checks", "all", "--max-examples", "10", "--max-time", "45", "--seed", "1"])
        #expect(result.status == 0, "\(result.stdout.suffix(4000))")
    }

    @Test("notifications follow Keboola's rule: a run started by a person's token tells only that token's webhook; one started as the orchestration token tells the flow's; every call is signed")
    func notificationRule() async throws {
        let ingest = try IngestService()
        let base = "http://127.0.0.1:\(ingest.port)"
        let project = try Self.project(["flows/failing.yaml": """
            phases:
              - {id: p, tasks: [{id: t, connector: test.status-check, parameters: {count_in_state: true, fail_at: 1}}]}
            notifications:
              webhooks:
                - {url: "\(base)/ingest?to=flow", on: [error]}
            """])
        defer { project.remove() }
        let person = try project.engine.createToken(name: "alice", scopes: TokenScopes(canRunOrchestrations: true), webhook: base + "/ingest?to=alice").secret
        let orchestration = try project.engine.createToken(name: "failing's", scopes: TokenScopes(canRunOrchestrations: true), orchestration: "failing").secret
        let serve = try ServeProcess(project)
        func received(_ count: Int) async throws -> [[String: Any]] {
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline {
                let lines = try ingest.received()
                if lines.count >= count { return lines }
                try await Task.sleep(for: .milliseconds(50))
            }
            return try ingest.received()
        }
        // When alice's token starts a run that fails, only alice is told
        #expect(try await serve.request("POST", "/v1/flows/failing/runs", token: person).status == 202)
        let first = try await received(1)
        #expect(first.count == 1 && first.first?["path"] as? String == "/ingest?to=alice", "\(first)")
        // When the orchestration token starts one, the flow's webhook is told
        #expect(try await serve.request("POST", "/v1/flows/failing/runs", token: orchestration).status == 202)
        let both = try await received(2)
        #expect(both.count == 2 && both.last?["path"] as? String == "/ingest?to=flow", "\(both)")
        // And a run by hand (the CLI, alice's token) tells alice again
        let manual = try project.patchbay(["run", "failing", "--token", person])
        #expect(manual.status == 1, "\(manual.stderr)")
        let all = try await received(3)
        #expect(all.count == 3 && all.last?["path"] as? String == "/ingest?to=alice", "\(all)")
        // Every call carries the event and a signature a receiver can check with the project's key
        let key = try String(contentsOfFile: project.project.stateDirectory + "/webhook-key", encoding: .utf8)
        for call in all {
            let body = try #require(call["body"] as? String), timestamp = try #require(Int64(call["timestamp"] as? String ?? ""))
            #expect(call["event"] as? String == "error")
            #expect(call["signature"] as? String == WebhookKey.signature(key: key, timestamp: timestamp, body: body))
            let payload = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
            #expect((payload["run"] as? [String: Any])?["status"] as? String == "error" && payload["event"] as? String == "error")
        }
    }

    @Test("SIGTERM during a run: no new run starts, the running one gets its grace, then is terminated and recorded; the daemon exits 0")
    func drain() async throws {
        let project = try Self.project(["flows/slow.yaml": """
            phases:
              - id: p
                tasks:
                  - id: wait
                    connector: test.status-check
                    poll: {interval: 0.2, timeout: 600}
                    parameters: {count_in_state: true, ready_after: 100000}
            """])
        defer { project.remove() }
        let token = try Self.masterToken(project)
        let serve = try ServeProcess(project, arguments: ["--grace", "0.5"])
        let started = try await serve.request("POST", "/v1/flows/slow/runs", token: token)
        let location = try #require(started.headers["location"])
        let runID = try #require(Int64(location.split(separator: "/").last!))
        // Once the run has started, the daemon is told to stop
        let deadline = Date().addingTimeInterval(30)
        while try project.store.run(runID)?.status != .processing, Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(try serve.terminate() == 0)
        // Then the run is recorded as terminated, with the reason, and nothing is left processing
        let run = try #require(try project.store.run(runID))
        #expect(run.status == .terminated, "\(run.status) \(run.message ?? "")")
        #expect((run.message ?? "").contains("patchbay serve shut down (SIGTERM)"), "\(run.message ?? "")")
        let job = try #require(try project.store.jobs(run: runID).first)
        #expect(job.status == .terminated, "\(job.status) \(job.message ?? "")")
    }
}
