// The HTTP API, v1: its routes (one table, which the OpenAPI document is checked against), the token each
// needs, and what each does through the Engine. Errors are problem+json (Problem.swift). Knows nothing of SQL.
import Crypto
public import Foundation
import HTTPTypes
public import Hummingbird
public import Logging
import NIOCore
import PatchbayCore
public import PatchbayEngine
import PatchbayModel
import PatchbayRegistry
import PatchbaySecurity
import PatchbaySchedule
import PatchbayViews

/// What a route needs of the caller's token.
enum Need: String, Sendable {
    /// Nothing: health, the OpenAPI document, metrics.
    case none
    /// Any live token.
    case read
    /// A token that may run orchestrations (or the master token).
    case runOrchestrations = "run_orchestrations"
}

/// One route of the API: the one list both the router and the OpenAPI check read.
public struct APIRoute: Sendable {
    public let method: HTTPRequest.Method
    /// In OpenAPI's form: `/v1/runs/{run}`.
    public let path: String
    public let operationID: String
    let need: Need

    /// "GET", "POST": as the OpenAPI document and the tests spell it.
    public var methodName: String { method.rawValue }

    /// Whether a request path is this route's (any value in each `{parameter}`).
    func matches(path: String) -> Bool {
        let template = self.path.split(separator: "/", omittingEmptySubsequences: false)
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        return template.count == parts.count && zip(template, parts).allSatisfy { $0.hasPrefix("{") ? !$1.isEmpty : $0 == $1 }
    }

    /// Hummingbird's form of the path: `/v1/runs/:run`.
    var routerPath: String {
        path.split(separator: "/", omittingEmptySubsequences: false).map { part in
            part.hasPrefix("{") && part.hasSuffix("}") ? ":" + part.dropFirst().dropLast() : String(part)
        }.joined(separator: "/")
    }
}

public struct API: Sendable {
    public static let routes: [APIRoute] = [
        APIRoute(method: .get, path: "/v1/health", operationID: "health", need: .none),
        APIRoute(method: .get, path: "/openapi.json", operationID: "openapi", need: .none),
        APIRoute(method: .get, path: "/metrics", operationID: "metrics", need: .none),
        APIRoute(method: .post, path: "/v1/flows/{flow}/runs", operationID: "triggerRun", need: .runOrchestrations),
        APIRoute(method: .get, path: "/v1/runs", operationID: "listRuns", need: .read),
        APIRoute(method: .get, path: "/v1/runs/{run}", operationID: "showRun", need: .read),
        APIRoute(method: .get, path: "/v1/runs/{run}/jobs/{task}/log", operationID: "jobLog", need: .read),
        APIRoute(method: .post, path: "/v1/runs/{run}/retry", operationID: "retryRun", need: .runOrchestrations),
        APIRoute(method: .post, path: "/v1/runs/{run}/terminate", operationID: "terminateRun", need: .runOrchestrations),
        APIRoute(method: .get, path: "/v1/plugins", operationID: "listPlugins", need: .read),
        APIRoute(method: .get, path: "/v1/schedules", operationID: "listSchedules", need: .read),
        APIRoute(method: .get, path: "/v1/triggers", operationID: "listTriggers", need: .read),
    ]

    /// The OpenAPI 3.1 document of these routes, served at /openapi.json.
    public static var openAPIDocument: Data {
        (Bundle.module.url(forResource: "openapi", withExtension: "json")).flatMap { try? Data(contentsOf: $0) } ?? Data("{}".utf8)
    }

    let engine: Engine
    let pool: RunPool
    let metrics: ServerMetrics
    let automation: Automation
    let logger: Logger
    /// The answers of finished runs, by id.
    let finishedRuns = AnswerCache(capacity: 2048)
    /// The largest request body read (a run's task selection and variables).
    static let maxBody = 1 << 20

    public init(engine: Engine, pool: RunPool, metrics: ServerMetrics, logger: Logger) {
        self.engine = engine
        self.pool = pool
        self.metrics = metrics
        self.automation = Automation(engine: engine)
        self.logger = logger
    }

    /// The router: every route of the table, behind the problem+json middleware.
    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: ProblemMiddleware(logger: logger))
        for route in Self.routes {
            router.on(RouterPath(route.routerPath), method: route.method) { request, context in
                try await self.handle(route, request, context)
            }
        }
        return router
    }

    private func handle(_ route: APIRoute, _ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let caller = try authorize(request, route.need)
        switch route.operationID {
        case "health":
            return JSON.response(["status": pool.isDraining ? "draining" : "ok", "runs_in_progress": pool.runningCount, "version": "0.1.0"])
        case "openapi":
            return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: Self.openAPIDocument)))
        case "metrics":
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: metrics.scrape(engine, inProgress: pool.runningCount))))
        case "triggerRun": return try await triggerRun(request, context, caller: caller!)
        case "listRuns":
            let limit = try number(request, "limit", default: 20, range: 1...500)
            let flow = request.uri.queryParameters.get("flow")
            return JSON.response(["runs": try engine.runs(flow: flow, limit: limit).map { runJSON(try engine.detail(of: $0)) }])
        case "showRun":
            let run = try run(context)
            if let bytes = finishedRuns.bytes(of: run.id!) { return JSON.response(bytes: bytes) }
            let bytes = JSON.bytes(runJSON(try engine.detail(of: run)))
            // A finished run never changes again: its answer is kept (status reads are the API's most common call).
            if run.status.isFinished { finishedRuns.keep(bytes, for: run.id!) }
            return JSON.response(bytes: bytes)
        case "jobLog": return try await jobLog(request, context)
        case "retryRun": return try await retry(request, context, caller: caller!)
        case "terminateRun":
            let run = try run(context)
            guard !run.status.isFinished else { throw Problem(.conflict, "run \(run.id!) is \(run.status.rawValue): there is nothing to terminate") }
            let status = try engine.requestTermination(of: run.id!, reason: "terminated through the API by token '\(caller!.token.name)'")
            return JSON.response(["run": run.id!, "status": status.rawValue], status: .accepted, headers: [.location: "/v1/runs/\(run.id!)"])
        case "listPlugins":
            return JSON.response(["plugins": await engine.registry.catalog.map(\.json)])
        case "listSchedules":
            return JSON.response(["schedules": automation.schedules(now: engine.time.now()).map(scheduleJSON)])
        case "listTriggers":
            return JSON.response(["triggers": automation.triggers(now: engine.time.now()).map(triggerJSON)])
        default:
            throw Problem(.notFound, "no operation \(route.operationID)")
        }
    }

    // MARK: tokens

    /// The caller, when the route needs a token: 401 for none or an invalid one, 403 for one without the scope.
    private func authorize(_ request: Request, _ need: Need) throws -> Caller? {
        guard need != .none else { return nil }
        guard let header = request.headers[.authorization] else {
            throw Problem(.unauthorized, "send a token: Authorization: Bearer pbt_… (patchbay tokens create makes one)")
        }
        guard header.lowercased().hasPrefix("bearer ") else { throw Problem(.unauthorized, "the Authorization header must be 'Bearer TOKEN'") }
        let caller: Caller
        do { caller = try engine.authenticate(String(header.dropFirst(7))) } catch let error as AccessError {
            throw Problem(.unauthorized, error.description)
        }
        if need == .runOrchestrations, !caller.scopes.isMaster, !caller.scopes.canRunOrchestrations {
            throw Problem(.forbidden, "the token '\(caller.token.name)' may not run orchestrations (create one with --can-run-orchestrations)",
                          extra: ["scope": Need.runOrchestrations.rawValue])
        }
        return caller
    }

    // MARK: runs

    private func run(_ context: BasicRequestContext) throws -> RunRecord {
        let text = context.parameters.get("run") ?? ""
        guard let id = Int64(text), id > 0 else { throw Problem(.invalidRequest, "'\(text)' is not a run id (a whole number)") }
        do { return try engine.run(id) } catch EngineError.noSuchRun { throw Problem(.notFound, "there is no run \(id)") }
    }

    private func number(_ request: Request, _ name: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
        guard let text = request.uri.queryParameters.get(name) else { return value }
        guard let number = Int(text), range.contains(number) else {
            throw Problem(.invalidRequest, "query parameter \(name): '\(text)' is not a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return number
    }

    private func body(_ request: Request) async throws -> ByteBuffer {
        do { return try await request.body.collect(upTo: Self.maxBody) } catch {
            throw Problem(.payloadTooLarge, "a request body is at most \(Self.maxBody) bytes")
        }
    }

    /// POST /v1/flows/{flow}/runs: a run of the flow, executed in the background: 202 with its Location.
    private func triggerRun(_ request: Request, _ context: BasicRequestContext, caller: Caller) async throws -> Response {
        let name = context.parameters.get("flow") ?? ""
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }), !name.hasPrefix(".") else {
            throw Problem(.invalidRequest, "'\(name)' is not a flow name (letters, digits, '-', '_', '.')")
        }
        let flows = engine.project.flowFiles()
        guard let file = flows.first(where: { (($0 as NSString).lastPathComponent as NSString).deletingPathExtension == name }) else {
            let known = flows.map { (($0 as NSString).lastPathComponent as NSString).deletingPathExtension }
            throw Problem(.notFound, "there is no flow '\(name)' (flows: \(known.joined(separator: ", ")))")
        }
        let bytes = try await body(request)
        let raw = Data(bytes.readableBytesView)
        var only: [String]?, variables: [String: String] = [:]
        if !raw.isEmpty {
            guard let object = try? JSONSerialization.jsonObject(with: raw) as? [String: Any] else {
                throw Problem(.invalidRequest, "the body must be a JSON object: {\"tasks\": [\"t1\"], \"variables\": {\"k\": \"v\"}}, or empty")
            }
            for key in object.keys where key != "tasks" && key != "variables" {
                throw Problem(.invalidRequest, "unknown field '\(key)' in the body (fields: tasks, variables)")
            }
            if let tasks = object["tasks"] {
                guard let list = tasks as? [String], !list.isEmpty else { throw Problem(.invalidRequest, "tasks: a non-empty list of task ids") }
                only = list
            }
            if let given = object["variables"] {
                guard let map = given as? [String: String] else { throw Problem(.invalidRequest, "variables: an object of text values") }
                variables = map
            }
        }
        let key = request.headers[HTTPField.Name("Idempotency-Key")!]
        let scope = "POST /v1/flows/\(name)/runs"
        let hash = SHA256.hash(data: raw).map { String(format: "%02x", $0) }.joined()
        if let key {
            guard !key.isEmpty, key.utf8.count <= 255 else { throw Problem(.invalidRequest, "Idempotency-Key: 1 to 255 characters") }
            switch try engine.claim(idempotencyKey: key, scope: scope, requestHash: hash) {
            case .proceed: break
            case .mismatch: throw Problem(.idempotencyKeyReused, "the Idempotency-Key '\(key)' was used with another body; use a new key for a new request")
            case .inFlight: throw Problem(.idempotencyKeyInFlight, "the first request with the Idempotency-Key '\(key)' is still in progress; retry later")
            case .replay(let answer):
                var headers: HTTPFields = [HTTPField.Name("Idempotent-Replayed")!: "true", .contentType: "application/json"]
                if let location = answer.location { headers[.location] = location }
                return Response(status: HTTPResponse.Status(code: answer.status ?? 200), headers: headers,
                                body: ResponseBody(byteBuffer: ByteBuffer(string: answer.responseJSON ?? "{}")))
            }
        }
        do {
            guard !pool.isDraining else { throw Problem(.draining, "no new runs start while the server shuts down") }
            if let disabled = try engine.unattendedRunsDisabled(flow: name) {
                throw Problem(.conflict, "the flow '\(name)' is disabled since \(iso(disabled.at)) (\(disabled.reason)): `patchbay flows enable \(name)` allows its runs again")
            }
            let loaded: Flow
            do { loaded = try await engine.load(flowFile: file) } catch EngineError.invalidFlow(let problems) {
                throw Problem(.invalidFlow, "the flow '\(name)' is not valid (\(problems.issues.count) problem\(problems.issues.count == 1 ? "" : "s"))",
                              extra: ["problems": problems.issues.map(\.description)])
            }
            // A task the flow lacks: the resource named does not exist.
            for id in only ?? [] where loaded.task(id) == nil && !loaded.tasks.contains(where: { $0.name == id }) {
                throw Problem(.notFound, "the flow '\(name)' has no task '\(id)' (tasks: \(loaded.tasks.map(\.id).joined(separator: ", ")))")
            }
            var options = RunOptions(only: only)
            options.variables = variables
            options.trigger = "api"
            options.startedBy = caller.token.id
            let submitted: RunRecord
            do { submitted = try engine.submit(loaded, options: options) } catch EngineError.invalidFlow(let problems) {
                throw Problem(.invalidRequest, problems.issues.map(\.description).joined(separator: "; "))
            }
            pool.start(submitted)
            let location = "/v1/runs/\(submitted.id!)"
            let object = runJSON(try engine.detail(of: submitted))
            let text = String(decoding: JSON.bytes(object), as: UTF8.self)
            if let key { try engine.settle(idempotencyKey: key, scope: scope, status: 202, responseJSON: text, location: location) }
            logger.info("run triggered through the API", metadata: ["run": "\(submitted.id!)", "flow": "\(name)", "token": "\(caller.token.name)"])
            return Response(status: .accepted, headers: [.location: location, .contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
        } catch {
            if let key { try? engine.settle(idempotencyKey: key, scope: scope, status: nil) }  // nothing was done: the key is free again
            throw error
        }
    }

    private func retry(_ request: Request, _ context: BasicRequestContext, caller: Caller) async throws -> Response {
        let original = try run(context)
        guard !pool.isDraining else { throw Problem(.draining, "no new runs start while the server shuts down") }
        let retry: RunRecord
        do { retry = try engine.submitRetry(of: original.id!) } catch EngineError.cannotRetry(let why) { throw Problem(.conflict, why) }
        pool.start(retry)
        return JSON.response(runJSON(try engine.detail(of: retry)), status: .accepted, headers: [.location: "/v1/runs/\(retry.id!)"])
    }

    /// GET …/log: a page of lines after a continuation token, or with `Accept: text/event-stream`, the lines as
    /// server-sent events until the job ends (each event's id is the token to resume after).
    private func jobLog(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let run = try run(context)
        let task = context.parameters.get("task") ?? ""
        let job: JobRecord
        do { job = try engine.job(run: run.id!, task: task) } catch EngineError.noSuchTask(_, _, let tasks) {
            throw Problem(.notFound, "run \(run.id!) has no task '\(task)' (tasks: \(tasks.joined(separator: ", ")))")
        }
        var after: Int64?
        if let token = request.uri.queryParameters.get("after") ?? request.headers[HTTPField.Name("Last-Event-ID")!] {
            guard let value = Int64(token), value >= 0 else { throw Problem(.invalidRequest, "'\(token)' is not a continuation token from this log") }
            after = value
        }
        let limit = try number(request, "limit", default: 500, range: 1...5000)
        guard request.headers[.accept]?.contains("text/event-stream") == true else {
            let page = try engine.logPage(job: job.id!, after: after, limit: limit)
            return JSON.response(["job": job.id!, "status": try engine.job(run: run.id!, task: task).status.rawValue, "lines": page.lines.map(Self.line),
                                  "next": page.next.map { String($0) } ?? (page.lines.last?.id).map { String($0) } ?? (after.map { String($0) } ?? NSNull()),
                                  "more": page.next != nil])
        }
        let engine = self.engine
        let runID = run.id!, start = after
        let body = ResponseBody { writer in
            var cursor = start
            while true {
                let page = try engine.logPage(job: job.id!, after: cursor, limit: 500)
                for record in page.lines {
                    let data = String(decoding: JSON.bytes(Self.line(record)), as: UTF8.self)
                    try await writer.write(ByteBuffer(string: "id: \(record.id!)\nevent: line\ndata: \(data)\n\n"))
                    cursor = record.id
                }
                if page.next != nil { continue }
                let status = (try? engine.job(run: runID, task: task).status) ?? .error
                if status.isFinished {
                    // Lines written just before the end: one last read, then the end.
                    let rest = try engine.logPage(job: job.id!, after: cursor, limit: 5000)
                    for record in rest.lines {
                        try await writer.write(ByteBuffer(string: "id: \(record.id!)\nevent: line\ndata: \(String(decoding: JSON.bytes(Self.line(record)), as: UTF8.self))\n\n"))
                    }
                    try await writer.write(ByteBuffer(string: "event: end\ndata: {\"status\":\"\(status.rawValue)\"}\n\n"))
                    break
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
    }
}

extension API {
    /// A log line as the API shows it; its id is the continuation token to read after it.
    static func line(_ record: LogRecord) -> [String: Any] {
        ["id": String(record.id!), "time": iso(record.time), "level": record.level.rawValue, "source": record.source.rawValue, "message": record.message]
    }
}

/// Turns every error a route throws, and the router's own (404, 405), into problem+json.
struct ProblemMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let problem as Problem {
            return problem.response(instance: request.uri.path)
        } catch let error as HTTPError {
            let code: Problem.Code = switch error.status {
            case .notFound: .notFound
            case .methodNotAllowed: .methodNotAllowed
            case .contentTooLarge: .payloadTooLarge
            case .unauthorized: .unauthorized
            default: .invalidRequest
            }
            // A path the API has, asked with another method: 405 with the methods it takes.
            let allowed = API.routes.filter { $0.matches(path: request.uri.path) }.map(\.methodName)
            if code == .notFound, !allowed.isEmpty {
                var response = Problem(.methodNotAllowed, "\(request.uri.path) takes \(allowed.joined(separator: ", ")), not \(request.method.rawValue)")
                    .response(instance: request.uri.path)
                response.headers[.allow] = allowed.joined(separator: ", ")
                return response
            }
            let detail = code == .notFound ? "no route \(request.method.rawValue) \(request.uri.path) (see /openapi.json)" : (error.body ?? "\(error.status)")
            return Problem(code, detail).response(instance: request.uri.path)
        } catch {
            logger.error("a request failed", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            return Problem(.internalError, "\(error)").response(instance: request.uri.path)
        }
    }
}
