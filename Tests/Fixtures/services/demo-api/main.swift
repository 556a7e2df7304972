// patchbay-demo-api — the project's own demo service (Hummingbird 2), started by the tests and the quickstart:
// paginated JSON resources of every pagination kind, an OAuth2 token endpoint, an asynchronous export, an
// ingestion endpoint and faults (401, 429/503 with Retry-After, 500, malformed JSON, a pagination loop, a hang).
// It serves on a free port of 127.0.0.1 and prints the port first, alone on a line (whoever started it reads it).
// It knows nothing of Patchbay: it is what a connector talks to, never the host.
//
//   patchbay-demo-api [--tls CERT KEY]      the demo API, over TLS with --tls (PEM files)
//   patchbay-demo-api --bench ROWS SIZE     the benchmark API: GET /page?page=P, every page rendered before the
//                                           port is printed, so that the server costs as little as a server can
//   patchbay-demo-api --ingest LOG [--accept-suffix S]
//                                           the ingestion service: every POST logged to LOG (Ingest.swift)
//
// 25 items, {"id": N, "name": "item N", "amount": "N.50", "tags": [...], "note": null}:
//   GET /page?page=P&per_page=S       {"data": {"items": [...]}, "meta": {"total": 25}}      pages from 1
//   GET /offset?offset=O&limit=L      {"items": [...]}                                       an empty page at the end
//   GET /cursor?cursor=C              {"items": [...], "next": C2 or null}                   5 a page
//   GET /cursor-header                the same, the cursor in the X-Cursor header
//   POST /search                      the same, the cursor in a JSON body {"cursor": C, "filter": "all"} (filter required)
//   GET /broken                       always 500
//   GET /malformed                    200 with a body that stops being JSON at byte 32 (a missing comma)
//   GET /truncated                    200 with a body that ends inside its second record (which starts at byte 22)
//   GET /guarded                      3 items, for basic auth demo:pw or ?api_key=k3y, with X-Tenant: acme and ?region=eu
//   GET /next?at=N                    {"items": [...], "links": {"next": "/next?at=M"}}      no next at the end
//   GET /link?at=N                    [...] with a Link: <...>; rel="next" header
//   GET /loop?cursor=C                always the same page and the same next cursor (a pagination loop)
//   GET /flaky?page=P                 as /page, but the first request to any /flaky* answers 429 with Retry-After: 1
//   GET /flaky-date, /flaky-reset     the same, first a 503 with Retry-After as an HTTP date 2 s away, or a 429 with
//                                     X-RateLimit-Reset (epoch seconds) 2 s away
//   POST /oauth/token                 client credentials (client_id demo, client_secret s3cret): a new
//                                     {"access_token": "tok-N", "expires_in": 600} each time, 401 invalid_client else;
//                                     the refresh-token grant (client_id demo): rt-0 first, each usable once, rotated
//                                     in the answer ({"refresh_token": "rt-N"}); a used or unknown one is 400 invalid_grant
//   GET /private?page=P               as /page, for "Authorization: Bearer tok-N" only (401 otherwise)
//   POST /exports                     starts an asynchronous export: 202 {"export": {"id": "eN"}}
//   GET /exports/eN                   {"state": "running"} for its first 2 checks, then
//                                     {"state": "done", "download": "/exports/eN/data"}; /exports/bad has failed
//   GET /exports/eN/data?page=P       the export's records, as /page
//   POST /ingest                      takes a payload: {"ok": true, "bytes": N}
//   GET /customers                    {"items": [{"id": "c1"}, {"id": "c2"}, {"id": "c 3"}]}
//   GET /customers/ID/orders?page=P   that customer's orders (3, 0 and 12), 5 a page, as /page
//   POST /grow                        adds 5 items (ids 26-30, then 31-35, ...)
//   GET /stall?page=P&per_page=S      as /page, but the first request of page 3 hangs (150 s at most: the test kills
//                                     whoever asked); GET /stall-status?wait=1 answers once it has, with the number
//                                     of requests of each page: {"stalled": true, "requests": {"1": 1, ...}}
//   /page and an export's data take since=N: only items with an id above N
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL

/// What the API remembers between requests.
actor DemoState {
    private(set) var items: [JSON] = (1...25).map { DemoState.item($0, tags: $0 % 3) }
    private var issued = 0
    /// The one refresh token that works now.
    private var refreshToken = "rt-0"
    private var exports: [String: Int] = [:]
    private var flakySeen = 0
    private var stallRequests: [Int: Int] = [:]
    private var stalledWaiters: [Int: CheckedContinuation<Void, Never>] = [:]
    private var nextWaiter = 0
    private(set) var stalled = false

    static func item(_ id: Int, tags: Int) -> JSON {
        .object([("id", .integer(id)), ("name", .string("item \(id)")), ("amount", .string("\(id).50")),
                 ("tags", .array(Array(repeating: "t", count: tags))), ("note", .null)])
    }

    func grow() -> Int {
        let start = items.count + 1
        items += (start..<start + 5).map { DemoState.item($0, tags: 0) }
        return items.count
    }

    func issueToken() -> String {
        issued += 1
        return "tok-\(issued)"
    }

    /// Rotates the refresh token if `presented` is the one that works now: the new access and refresh tokens.
    func refresh(_ presented: String?) -> (access: String, refresh: String)? {
        guard presented == refreshToken else { return nil }
        issued += 1
        refreshToken = "rt-\(issued)"
        return ("tok-\(issued)", refreshToken)
    }

    func startExport() -> String {
        let name = "e\(exports.count + 1)"
        exports[name] = 0
        return name
    }

    /// How many times the export was checked, this time included; nil for no such export.
    func check(export name: String) -> Int? {
        guard let checks = exports[name] else { return nil }
        exports[name] = checks + 1
        return checks + 1
    }

    /// Whether this is the first request to any /flaky* resource.
    func firstFlaky() -> Bool {
        flakySeen += 1
        return flakySeen == 1
    }

    /// Counts a request of a stalling page: whether it is the first of that page.
    func countStall(page: Int) -> Bool {
        stallRequests[page, default: 0] += 1
        return stallRequests[page] == 1
    }

    func markStalled() {
        stalled = true
        for waiter in stalledWaiters.values { waiter.resume() }
        stalledWaiters = [:]
    }

    /// Returns once a request has stalled (at once if one has), or when the waiting task is cancelled.
    func waitUntilStalled() async {
        if stalled { return }
        nextWaiter += 1
        let id = nextWaiter
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                if Task.isCancelled { continuation.resume() } else { stalledWaiters[id] = continuation }
            }
        } onCancel: {
            Task { await self.cancelWaiter(id) }
        }
    }

    private func cancelWaiter(_ id: Int) { stalledWaiters.removeValue(forKey: id)?.resume() }

    var stallCounts: JSON { .object(stallRequests.keys.sorted().map { (String($0), .integer(stallRequests[$0]!)) }) }
}

struct DemoAPI: HTTPResponder {
    typealias Context = BasicRequestContext
    let state = DemoState()
    static let customers: [(String, Int)] = [("c1", 3), ("c2", 0), ("c 3", 12)]

    func respond(to request: Request, context: Context) async throws -> Response {
        let path = request.uri.path
        var query: [String: String] = [:]
        for (key, value) in request.uri.queryParameters { query[String(key)] = String(value) }
        do {
            return request.method == .post ? try await post(path, request: request) : try await get(path, query: query, request: request)
        } catch let error as BadNumber {
            return answer(400, ["error": .string("\(error.name) must be a whole number")])
        }
    }

    struct BadNumber: Error { let name: String }

    private func number(_ query: [String: String], _ name: String, _ fallback: Int) throws -> Int {
        guard let text = query[name] else { return fallback }
        guard let value = Int(text) else { throw BadNumber(name: name) }
        return value
    }

    // MARK: POST

    private func post(_ path: String, request: Request) async throws -> Response {
        let raw = String(buffer: try await request.body.collect(upTo: 16 << 20))
        switch path {
        case "/search":  // a cursor in a JSON body, beside a filter the body must keep
            let asked = (try? JSONSerialization.jsonObject(with: Data(raw.isEmpty ? "{}".utf8 : raw.utf8))) as? [String: Any] ?? [:]
            guard asked["filter"] as? String == "all" else {
                return answer(400, ["error": "the body needs filter: all", "got": .string(raw)])
            }
            let cursor = asked["cursor"].map { "\($0)" }.flatMap { Int($0) } ?? 0
            return answer(200, await cursorPage(at: cursor))
        case "/grow":
            return answer(200, ["items": .integer(await state.grow())])
        case "/ingest":
            return answer(200, ["ok": true, "bytes": .integer(raw.utf8.count)])
        case "/exports":
            return answer(202, ["export": ["id": .string(await state.startExport())]])
        case "/oauth/token":
            return await token(form: Self.form(raw))
        default:
            return answer(404, ["error": "no such endpoint"])
        }
    }

    private func token(form: [String: String]) async -> Response {
        if form["grant_type"] == "refresh_token", form["client_id"] == "demo" {
            guard let (access, refresh) = await state.refresh(form["refresh_token"]) else {
                return answer(400, ["error": "invalid_grant", "error_description": "the refresh token was used already or is unknown"])
            }
            return answer(200, ["access_token": .string(access), "token_type": "Bearer", "expires_in": 600, "refresh_token": .string(refresh)])
        }
        guard form["grant_type"] == "client_credentials" else { return answer(400, ["error": "unsupported_grant_type"]) }
        guard form["client_id"] == "demo", form["client_secret"] == "s3cret" else {
            return answer(401, ["error": "invalid_client", "error_description": "unknown client or wrong secret"])
        }
        return answer(200, ["access_token": .string(await state.issueToken()), "token_type": "Bearer", "expires_in": 600])
    }

    /// An application/x-www-form-urlencoded body's fields ("+" is a space).
    static func form(_ raw: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in raw.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> String { text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(text) }
            if let name = parts.first { fields[decode(name)] = parts.count > 1 ? decode(parts[1]) : "" }
        }
        return fields
    }

    // MARK: GET

    private func get(_ path: String, query: [String: String], request: Request) async throws -> Response {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        if path == "/private", !(request.headers[.authorization] ?? "").hasPrefix("Bearer tok-") {
            return answer(401, ["error": "a bearer token is required"])
        }
        if path == "/exports/bad" { return answer(200, ["state": "failed", "reason": "the export broke"]) }
        if parts.count == 3, parts[1] == "exports" {
            guard let checks = await state.check(export: parts[2]) else { return answer(404, ["error": "no such export"]) }
            return answer(200, checks <= 2 ? ["state": "running"] : ["state": "done", "download": .string("/exports/\(parts[2])/data")])
        }
        if parts.count == 4, parts[1] == "exports", parts[3] == "data" { return try await page(query) }
        switch path {
        case "/customers":
            return answer(200, ["items": .array(Self.customers.map { ["id": .string($0.0)] })])
        case _ where parts.count == 4 && parts[1] == "customers" && parts[3] == "orders":
            let name = parts[2].removingPercentEncoding ?? parts[2]
            guard let count = Self.customers.first(where: { $0.0 == name })?.1 else { return answer(404, ["error": "no such customer"]) }
            let orders: [JSON] = count == 0 ? [] : (1...count).map { ["order": .string("\(name)-\($0)"), "customer": .string(name)] }
            let (page, size) = (try number(query, "page", 1), try number(query, "per_page", 5))
            return answer(200, ["data": ["items": .array(Self.slice(orders, from: (page - 1) * size, count: size))], "meta": ["total": .integer(orders.count)]])
        case "/stall-status":
            if query["wait"] != nil {
                // Answers once a request has stalled, or after two minutes whatever happened.
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await state.waitUntilStalled() }
                    group.addTask { try? await Task.sleep(for: .seconds(120)) }
                    await group.next()
                    group.cancelAll()
                }
            }
            return answer(200, ["stalled": .bool(await state.stalled), "requests": await state.stallCounts])
        case "/stall":
            let page = try number(query, "page", 1)
            if await state.countStall(page: page), page == 3 {
                await state.markStalled()
                try? await Task.sleep(for: .seconds(150))
                return answer(500, ["error": "stalled for 150 s"])
            }
            return try await self.page(query)
        case "/flaky", "/flaky-date", "/flaky-reset":
            if await state.firstFlaky() {
                switch path {
                case "/flaky": return answer(429, ["error": "slow down"], headers: [("Retry-After", "1")])
                case "/flaky-date": return answer(503, ["error": "down for a moment"], headers: [("Retry-After", Self.httpDate(Date().addingTimeInterval(2)))])
                default:
                    let reset = String(Int(Date().timeIntervalSince1970) + 2)
                    return answer(429, ["error": "rate limited"], headers: [("X-RateLimit-Reset", reset), ("X-RateLimit-Remaining", "0")])
                }
            }
            return try await page(query)
        case "/page", "/private":
            return try await page(query)
        case "/offset":
            let (offset, limit) = (try number(query, "offset", 0), try number(query, "limit", 10))
            return answer(200, ["items": .array(Self.slice(await state.items, from: offset, count: limit))])
        case "/broken":
            return answer(500, ["error": "boom"])
        case "/malformed":  // valid JSON until its second record
            return Response(status: .ok, headers: [.contentType: "application/json"],
                            body: .init(byteBuffer: ByteBuffer(string: #"{"items": [{"id": 1}, {"id": 2} {"id": 3}]}"#)))
        case "/truncated":  // the body ends inside its second record (a connection cut short, a proxy's limit)
            return Response(status: .ok, headers: [.contentType: "application/json"],
                            body: .init(byteBuffer: ByteBuffer(string: #"{"items": [{"id": 1}, {"id": 2, "name": "it"#)))
        case "/guarded":  // basic auth (demo:pw) or an API key in the query, a tenant header and a region query
            let basic = request.headers[.authorization] == "Basic ZGVtbzpwdw=="
            guard basic || query["api_key"] == "k3y" else { return answer(401, ["error": "basic auth or api_key required"]) }
            guard request.headers[HTTPField.Name("X-Tenant")!] == "acme", query["region"] == "eu" else {
                return answer(400, ["error": "X-Tenant: acme and region=eu required"])
            }
            return answer(200, ["items": .array(Array(await state.items.prefix(3)))])
        case "/cursor":
            return answer(200, await cursorPage(at: try number(query, "cursor", 0)))
        case "/cursor-header":
            let cursor = request.headers[HTTPField.Name("X-Cursor")!].flatMap { Int($0) } ?? 0
            return answer(200, await cursorPage(at: cursor))
        case "/next":
            let at = try number(query, "at", 0)
            let items = await state.items
            let links: JSON = at + 7 < items.count ? ["next": .string("/next?at=\(at + 7)")] : .object([])
            return answer(200, ["items": .array(Self.slice(items, from: at, count: 7)), "links": links])
        case "/link":
            let at = try number(query, "at", 0)
            let items = await state.items
            let host = request.head.authority ?? "127.0.0.1"
            let headers = at + 10 < items.count ? [("Link", "<http://\(host)/link?at=\(at + 10)>; rel=\"next\"")] : []
            return answer(200, .array(Self.slice(items, from: at, count: 10)), headers: headers)
        case "/loop":
            return answer(200, ["items": .array(Array(await state.items.prefix(5))), "next": "same"])
        default:
            return answer(404, ["error": "no such endpoint"])
        }
    }

    /// A numbered page of the items above `since`.
    private func page(_ query: [String: String]) async throws -> Response {
        let (page, size, since) = (try number(query, "page", 1), try number(query, "per_page", 10), try number(query, "since", 0))
        let items = await state.items.filter { if case .object(let fields) = $0, case .integer(let id) = fields[0].1 { id > since } else { false } }
        return answer(200, ["data": ["items": .array(Self.slice(items, from: (page - 1) * size, count: size))], "meta": ["total": .integer(items.count)]])
    }

    private func cursorPage(at cursor: Int) async -> JSON {
        let items = await state.items
        let next = cursor + 5
        return ["items": .array(Self.slice(items, from: cursor, count: 5)), "next": next < items.count ? .string(String(next)) : .null]
    }

    /// Up to `count` elements from `start` (none outside the array), as a Python slice of it would give.
    static func slice(_ elements: [JSON], from start: Int, count: Int) -> [JSON] {
        let lower = min(max(start, 0), elements.count), upper = min(max(start + count, lower), elements.count)
        return Array(elements[lower..<upper])
    }

    static func httpDate(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return formatter.string(from: date)
    }
}

/// The benchmark API: pages of ROWS rows × 5 columns, rendered once.
struct BenchAPI: HTTPResponder {
    typealias Context = BasicRequestContext
    let pages: [ByteBuffer]
    let empty: ByteBuffer

    init(rows: Int, size: Int) {
        let countries = ["CZ", "DE", "GB", "US", "FR"]
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : String(n) }
        pages = stride(from: 0, to: rows, by: size).map { start in
            let items: [JSON] = (start + 1...min(rows, start + size)).map { n in
                ["id": .integer(n), "customer": .string("customer-\(n * 7919 % 100000)"), "country": .string(countries[n % 5]),
                 "amount": .string("\(n % 10000).\(two(n % 100))"),
                 "created_at": .string("2026-\(two(1 + n % 12))-\(two(1 + n % 28))T\(two(n % 24)):00:00Z")]
            }
            return ByteBuffer(string: JSON.object([("data", ["items": .array(items)]), ("meta", ["total": .integer(rows)])]).text)
        }
        empty = ByteBuffer(string: JSON.object([("data", ["items": []]), ("meta", ["total": .integer(rows)])]).text)
    }

    func respond(to request: Request, context: Context) async throws -> Response {
        let page = request.uri.queryParameters["page"].flatMap { Int($0) } ?? 1
        let body = pages.indices.contains(page - 1) ? pages[page - 1] : empty
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: body))
    }
}

/// A JSON answer with its status and extra headers.
func answer(_ status: Int, _ body: JSON, headers extra: [(String, String)] = []) -> Response {
    var headers: HTTPFields = [.contentType: "application/json"]
    for (name, value) in extra { headers[HTTPField.Name(name)!] = value }
    return Response(status: HTTPResponse.Status(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(string: body.text)))
}

extension JSON: ExpressibleByDictionaryLiteral {
    init(dictionaryLiteral elements: (String, JSON)...) { self = .object(elements) }
}

// MARK: start

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("patchbay-demo-api: \(message)\n".utf8))
    exit(2)
}

let arguments = Array(CommandLine.arguments.dropFirst())
let configuration = ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0), serverName: "patchbay-demo-api")
/// Prints the port the server is bound to, first and alone on its line.
let announce: @Sendable (any Channel) async -> Void = { channel in
    FileHandle.standardOutput.write(Data("\(channel.localAddress?.port ?? 0)\n".utf8))
}
var logger = Logger(label: "patchbay-demo-api")
logger.logLevel = .error

if arguments.first == "--bench" {
    guard arguments.count == 3, let rows = Int(arguments[1]), let size = Int(arguments[2]), rows > 0, size > 0 else {
        fail("usage: patchbay-demo-api --bench ROWS PAGE_SIZE (both positive whole numbers)")
    }
    let app = Application(responder: BenchAPI(rows: rows, size: size), configuration: configuration, onServerRunning: announce, logger: logger)
    try await app.runService()
} else if arguments.first == "--ingest" {
    guard arguments.count == 2 || (arguments.count == 4 && arguments[2] == "--accept-suffix") else {
        fail("usage: patchbay-demo-api --ingest LOG [--accept-suffix SUFFIX]")
    }
    let log: IngestLog
    do { log = try IngestLog(path: arguments[1]) } catch { fail("cannot write the log \(arguments[1]): \(error)") }
    let api = IngestAPI(log: log, acceptSuffix: arguments.count == 4 ? arguments[3] : "-2")
    let app = Application(responder: api, configuration: configuration, onServerRunning: announce, logger: logger)
    try await app.runService()
} else {
    var server: HTTPServerBuilder = .http1()
    if let at = arguments.firstIndex(of: "--tls") {
        guard arguments.count > at + 2 else { fail("usage: patchbay-demo-api --tls CERT.pem KEY.pem") }
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(arguments[at + 1]).map { NIOSSLCertificateSource.certificate($0) }
            let key = try NIOSSLPrivateKey(file: arguments[at + 2], format: .pem)
            server = try .tls(.http1(), tlsConfiguration: .makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key)))
        } catch {
            fail("cannot use \(arguments[at + 1]) and \(arguments[at + 2]) for TLS: \(error)")
        }
    } else if let unknown = arguments.first {
        fail("unknown argument '\(unknown)' (usage: patchbay-demo-api [--tls CERT KEY] | --bench ROWS PAGE_SIZE | --ingest LOG [--accept-suffix S])")
    }
    let app = Application(responder: DemoAPI(), server: server, configuration: configuration, onServerRunning: announce, logger: logger)
    try await app.runService()
}
