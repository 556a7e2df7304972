// The ingestion service of the egression and notification tests (`patchbay-demo-api --ingest LOG`): every POST
// it gets is appended to LOG as one JSON line (its path with the query, the Authorization header, the body, and the
// X-Patchbay-Event/-Timestamp/-Signature headers of a webhook), so a test reads exactly what was sent.
//
//   POST /ingest (any query too)   200 {"ok": true}
//   POST /flaky                    the first request 503 with Retry-After: 1, then 200
//   POST /secure                   200 for "Authorization: Bearer T" with T ending in --accept-suffix (default -2), else 401
// Anything else is 404 (and logged, when it is a POST).
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The log and the one fault that needs memory, behind an actor: requests arrive on many event loops.
actor IngestLog {
    private let handle: FileHandle
    private var flakySeen = 0

    init(path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
        self.handle = handle
    }

    func append(_ line: JSON) { handle.write(Data((line.text + "\n").utf8)) }

    /// True for the first request to /flaky only.
    func firstFlaky() -> Bool {
        flakySeen += 1
        return flakySeen == 1
    }
}

struct IngestAPI: HTTPResponder {
    typealias Context = BasicRequestContext
    let log: IngestLog
    let acceptSuffix: String

    func respond(to request: Request, context: Context) async throws -> Response {
        guard request.method == .post else { return answer(404, ["error": "no such endpoint"]) }
        let body = String(buffer: try await request.body.collect(upTo: 16 << 20))
        let authorization = request.headers[.authorization] ?? ""
        func header(_ name: String) -> JSON { request.headers[HTTPField.Name(name)!].map { .string($0) } ?? .null }
        await log.append(["path": .string(request.uri.description), "authorization": .string(authorization), "body": .string(body),
                          "event": header("X-Patchbay-Event"), "timestamp": header("X-Patchbay-Timestamp"),
                          "signature": header("X-Patchbay-Signature")])
        switch request.uri.path {
        case "/flaky":
            return await log.firstFlaky() ? answer(503, ["error": "busy"], headers: [("Retry-After", "1")]) : answer(200, ["ok": true])
        case "/secure":
            return authorization.hasPrefix("Bearer ") && authorization.hasSuffix(acceptSuffix)
                ? answer(200, ["ok": true]) : answer(401, ["error": "token revoked"])
        case "/ingest":
            return answer(200, ["ok": true])
        default:
            return answer(404, ["error": "no such endpoint"])
        }
    }
}
