// The web view of `patchbay serve`, under /ui: runs, a run's timeline with the reason for every wait, run a
// flow with a task selection, retry with Keboola's default selection, terminate, plugins, schedules and
// triggers, tokens. Pages are rendered here with Mustache templates (HTML-escaped), work without JavaScript,
// and update live through server-sent events (static/app.js, the only script). Every page and action checks
// the session's token as the API does; every POST carries the session's CSRF token; no inline script runs
// (Content-Security-Policy); no secret is ever rendered. Goes through the Engine alone; knows nothing of SQL.
import Foundation
import HTTPTypes
public import Hummingbird
public import Logging
import Mustache
import NIOCore
import PatchbayCore
public import PatchbayEngine
import PatchbayModel
import PatchbayRegistry
import PatchbaySchedule
import PatchbaySecurity
public import PatchbayServer
import PatchbayViews

public struct WebView: Sendable {
    let engine: Engine
    let pool: RunPool
    let automation: Automation
    let logger: Logger
    let library: MustacheLibrary
    let sessions = WebSessions()
    /// The zone pages show local times in (the server's).
    let zone = TimeZone.current
    static let maxForm = 256 * 1024
    static let maxLogLines = 2000

    static let securityHeaders: HTTPFields = [
        HTTPField.Name("Content-Security-Policy")!:
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        HTTPField.Name("X-Content-Type-Options")!: "nosniff",
        HTTPField.Name("Referrer-Policy")!: "same-origin",
        HTTPField.Name("X-Frame-Options")!: "DENY",
        .cacheControl: "no-store",
    ]

    public init(engine: Engine, pool: RunPool, logger: Logger) async throws {
        self.engine = engine
        self.pool = pool
        self.automation = Automation(engine: engine)
        self.logger = logger
        guard let directory = Bundle.module.resourceURL?.appendingPathComponent("Templates").path else {
            throw WebError(.internalServerError, "the web view's templates are missing from the build")
        }
        library = try await MustacheLibrary(directory: directory)
    }

    /// Adds the view's routes (all under /ui, and / as a way in) to the daemon's router.
    public func register(on router: Router<BasicRequestContext>) {
        router.get("/") { _, _ in Self.redirect("/ui/runs") }
        router.get("/ui") { _, _ in Self.redirect("/ui/runs") }
        router.get("/ui/static/:file") { _, context in try self.asset(context.parameters.get("file") ?? "") }
        router.get("/ui/login") { request, _ in self.loginPage(request, problem: nil) }
        router.post("/ui/login") { request, _ in try await self.logIn(request) }
        router.post("/ui/logout") { request, _ in try await self.action(request, need: .read) { session, _, _ in
            self.sessions.close(session.id)
            var response = Self.redirect("/ui/login")
            response.headers[.setCookie] = WebSessions.setCookie(WebSessions.cookie, "", maxAge: 0)
            return response
        } }
        router.get("/ui/runs") { request, _ in
            let flow: String? = request.uri.queryParameters.get("flow").map { String($0) }
            return try await self.page(request, title: "Runs", section: "Runs") { caller, csrf in try await self.runsPage(flow, caller, csrf) }
        }
        router.get("/ui/runs/:run") { request, context in
            let run = try? self.run(context)
            return try await self.page(request, title: run.map { "Run \($0.id!) · \($0.flowName)" } ?? "Run", section: "Runs", found: run != nil) { caller, csrf in
                try self.runPage(try self.run(context), caller, csrf)
            }
        }
        router.get("/ui/runs/:run/events") { request, context in try await self.liveEvents(request, context) }
        router.get("/ui/runs/:run/retry") { request, context in
            let run = try? self.run(context)
            return try await self.page(request, title: "Retry run \(run?.id ?? 0)", section: "Runs", found: run != nil) { caller, csrf in
                try self.retryPage(try self.run(context), caller, csrf)
            }
        }
        router.post("/ui/runs/:run/retry") { request, context in try await self.action(request, need: .runOrchestrations) { _, caller, form in
            try self.retry(context, caller, form)
        } }
        router.post("/ui/runs/:run/terminate") { request, context in try await self.action(request, need: .runOrchestrations) { _, caller, _ in
            try self.terminate(context, caller)
        } }
        router.get("/ui/flows/:flow/run") { request, context in
            let flow = try? self.flowFile(context)
            return try await self.page(request, title: "Run \(flow?.name ?? "")", section: "Runs", found: flow != nil) { caller, csrf in
                try await self.runFlowPage(try self.flowFile(context), caller, csrf)
            }
        }
        router.post("/ui/flows/:flow/run") { request, context in try await self.action(request, need: .runOrchestrations) { _, caller, form in
            try await self.runFlow(context, caller, form)
        } }
        router.get("/ui/plugins") { request, _ in try await self.page(request, title: "Plugins", section: "Plugins") { caller, csrf in await self.pluginsPage(caller, csrf) } }
        router.get("/ui/schedules") { request, _ in
            try await self.page(request, title: "Schedules and triggers", section: "Schedules") { caller, csrf in self.schedulesPage(caller, csrf) }
        }
        router.get("/ui/tokens") { request, _ in try await self.page(request, title: "Tokens", section: "Tokens") { caller, csrf in try self.tokensPage(caller, csrf) } }
    }

    // MARK: answers

    static func html(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        var headers = securityHeaders
        headers[.contentType] = "text/html; charset=utf-8"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    static func redirect(_ location: String) -> Response {
        var headers = securityHeaders
        headers[.location] = location
        return Response(status: .seeOther, headers: headers)
    }

    /// A whole page at once: the layout's top, the page's template, the layout's bottom.
    func render(_ template: String, _ context: [String: Any], status: HTTPResponse.Status = .ok) -> Response {
        Self.html(text(of: "top", context) + text(of: template, context) + text(of: "bottom", context), status: status)
    }

    func text(of template: String, _ context: [String: Any]) -> String {
        library.render(context, withTemplate: template) ?? "template \(template) is missing"
    }

    /// The layout's parts every page shares: who is logged in, what they may do, the CSRF token for forms.
    func common(_ caller: Caller, _ csrf: String, title: String, section: String) -> [String: Any] {
        ["title": title, "user": caller.token.name, "csrf": csrf, "canRun": caller.scopes.isMaster || caller.scopes.canRunOrchestrations,
         "nav": [["href": "/ui/runs", "name": "Runs"], ["href": "/ui/plugins", "name": "Plugins"],
                 ["href": "/ui/schedules", "name": "Schedules"], ["href": "/ui/tokens", "name": "Tokens"]].map { item -> [String: Any] in
                     var item: [String: Any] = item
                     item["current"] = (item["name"] as? String) == section
                     return item
                 },
         "project": engine.project.root]
    }

    private func asset(_ name: String) throws -> Response {
        let types = ["app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8"]
        guard let type = types[name], let url = Bundle.module.resourceURL?.appendingPathComponent("Static/\(name)"),
              let data = try? Data(contentsOf: url) else { throw WebError(.notFound, "no file \(name)") }
        var headers = Self.securityHeaders
        headers[.contentType] = type
        headers[.cacheControl] = "max-age=300"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    // MARK: sessions and checks

    enum Need { case read, runOrchestrations }

    /// The session and caller of a request, or why there is none.
    private func caller(_ request: Request) -> (WebSession, Caller)? {
        guard let session = sessions.session(WebSessions.cookie(WebSessions.cookie, in: request.headers[.cookie]), now: Date()),
              let caller = try? engine.authenticate(session.token) else { return nil }
        return (session, caller)
    }

    /// A page for a logged-in caller; without a session, the way to the login page. The layout's top (with the
    /// style sheet and script links) is sent at once, and the page's part follows when `build` has gathered it:
    /// the browser fetches the assets while a large run is read and drawn. `found` false is a 404 before anything.
    private func page(_ request: Request, title: String, section: String, found: Bool = true,
                      _ build: @escaping @Sendable (Caller, String) async throws -> (template: String, context: [String: Any])) async throws -> Response {
        guard let (session, caller) = caller(request) else { return Self.redirect("/ui/login?next=" + (request.uri.path.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")) }
        guard found else { return errorPage(WebError(.notFound, "There is no \(request.uri.path.split(separator: "/").dropFirst().joined(separator: " ")) here."), caller, session.csrf) }
        let top = text(of: "top", common(caller, session.csrf, title: title, section: section))
        let csrf = session.csrf
        let body = ResponseBody { writer in
            try await writer.write(ByteBuffer(string: top))
            var rest: String
            do {
                let (template, context) = try await build(caller, csrf)
                rest = self.text(of: template, self.common(caller, csrf, title: title, section: section).merging(context) { $1 })
            } catch {
                rest = "<h1>Problem</h1>\n<p class=\"problem\" role=\"alert\">" + Self.escape(self.problemText(error).text) + "</p>\n"
            }
            try await writer.write(ByteBuffer(string: rest + self.text(of: "bottom", [:])))
            try await writer.finish(nil)
        }
        var headers = Self.securityHeaders
        headers[.contentType] = "text/html; charset=utf-8"
        return Response(status: .ok, headers: headers, body: body)
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
            .replacingOccurrences(of: "\"", with: "&quot;").replacingOccurrences(of: "'", with: "&#39;")
    }

    /// A POST from a form of this view: a live session, its CSRF token, the same origin, and the scope it needs.
    private func action(_ request: Request, need: Need, _ body: (WebSession, Caller, FormBody) async throws -> Response) async throws -> Response {
        guard let (session, caller) = caller(request) else { return Self.redirect("/ui/login") }
        let form = try await self.form(request)
        guard let sent = form["csrf"], WebSessions.same(sent, session.csrf), sameOrigin(request) else {
            return render("error", common(caller, session.csrf, title: "Refused", section: "") .merging(
                ["problem": "This form was not sent from this page (its CSRF token is missing or wrong). Open the page again and retry."]) { $1 },
                status: .forbidden)
        }
        if need == .runOrchestrations, !caller.scopes.isMaster, !caller.scopes.canRunOrchestrations {
            return render("error", common(caller, session.csrf, title: "Not allowed", section: "").merging(
                ["problem": "The token '\(caller.token.name)' may not run orchestrations (create one with --can-run-orchestrations)."]) { $1 },
                status: .forbidden)
        }
        do { return try await body(session, caller, form) } catch { return errorPage(error, caller, session.csrf) }
    }

    /// An Origin header, when a browser sends one, names this server.
    private func sameOrigin(_ request: Request) -> Bool {
        guard let origin = request.headers[HTTPField.Name("Origin")!], origin != "null" else { return true }
        guard let host = request.headers[HTTPField.Name("Host")!] ?? request.head.authority else { return false }
        return origin == "http://\(host)" || origin == "https://\(host)"
    }

    private func form(_ request: Request) async throws -> FormBody {
        let buffer = try await request.body.collect(upTo: Self.maxForm)
        return FormBody(String(buffer: buffer))
    }

    private func errorPage(_ error: any Error, _ caller: Caller, _ csrf: String) -> Response {
        let (status, text) = problemText(error)
        return render("error", common(caller, csrf, title: "Problem", section: "").merging(["problem": text]) { $1 }, status: status)
    }

    /// An error as a status and a sentence for people.
    private func problemText(_ error: any Error) -> (status: HTTPResponse.Status, text: String) {
        let (status, text): (HTTPResponse.Status, String) = switch error {
        case let error as WebError: (error.status, error.message)
        case EngineError.noSuchRun(let id): (.notFound, "There is no run \(id).")
        case let error as EngineError: (.conflict, error.description)
        default: (.internalServerError, "\(error)")
        }
        if status == .internalServerError { logger.error("a page failed", metadata: ["error": "\(error)"]) }
        return (status, text)
    }

    // MARK: login

    private func loginPage(_ request: Request, problem: String?, status: HTTPResponse.Status = .ok) -> Response {
        let nonce = WebSessions.random()
        let next = request.uri.queryParameters.get("next").flatMap { $0.removingPercentEncoding }.flatMap(Self.safeNext) ?? "/ui/runs"
        var context: [String: Any] = ["title": "Log in", "nonce": nonce, "next": next]
        if let problem { context["problem"] = problem }
        var response = render("login", context, status: status)
        response.headers[.setCookie] = WebSessions.setCookie(WebSessions.loginCookie, nonce, maxAge: 900)
        return response
    }

    /// Only a path of this view is a place to go after logging in.
    static func safeNext(_ path: String) -> String? { path.hasPrefix("/ui/") && !path.hasPrefix("//") && !path.contains("\\") ? path : nil }

    private func logIn(_ request: Request) async throws -> Response {
        let form = try await self.form(request)
        guard let sent = form["nonce"], let expected = WebSessions.cookie(WebSessions.loginCookie, in: request.headers[.cookie]),
              WebSessions.same(sent, expected), sameOrigin(request) else {
            return loginPage(request, problem: "The login form expired or was not sent from this page; try again.", status: .forbidden)
        }
        let token = (form["token"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        do {
            _ = try engine.authenticate(token)
        } catch let error as AccessError {
            logger.notice("a web login was refused", metadata: ["why": "\(error)"])
            return loginPage(request, problem: "That token cannot log in: \(error.description).", status: .unauthorized)
        }
        let session = sessions.open(token: token, now: Date())
        var response = Self.redirect(form["next"].flatMap(Self.safeNext) ?? "/ui/runs")
        response.headers[.setCookie] = WebSessions.setCookie(WebSessions.cookie, session.id)
        return response
    }

    // MARK: runs

    func run(_ context: BasicRequestContext) throws -> RunRecord {
        let text = context.parameters.get("run") ?? ""
        guard let id = Int64(text), id > 0 else { throw WebError(.badRequest, "'\(text)' is not a run id (a whole number).") }
        return try engine.run(id)
    }

    private func runsPage(_ flowFilter: String?, _ caller: Caller, _ csrf: String) async throws -> (template: String, context: [String: Any]) {
        let runs = try engine.runs(flow: flowFilter, limit: 100)
        let tokens = Dictionary(try engine.tokens().map { ($0.id!, $0.name) }, uniquingKeysWith: { a, _ in a })
        var context: [String: Any] = [:]
        context["runs"] = runs.map { run -> [String: Any] in
            [
                "id": run.id!, "flow": run.flowName, "status": run.status.rawValue, "trigger": Self.trigger(of: run, tokens: tokens),
                "startLocal": run.startedAt.map { Self.dateTime($0, zone) } ?? "not started",
                "startUTC": run.startedAt.map { Self.dateTime($0, TimeZone(identifier: "UTC")!) + " UTC" } ?? "",
                "duration": Self.duration(of: run), "retryOf": run.retryOf ?? false,
            ]
        }
        var flows: [[String: Any]] = []
        for file in engine.project.flowFiles() {
            let name = ((file as NSString).lastPathComponent as NSString).deletingPathExtension
            let recent = try engine.runs(flow: name, limit: 20).reversed()
            flows.append(["name": name, "runs": recent.count, "spark": Self.sparkline(recent.map { Self.seconds(of: $0) }),
                          "last": recent.last?.status.rawValue ?? "never run"])
        }
        context["flows"] = flows
        context["filter"] = flowFilter ?? false
        return ("runs", context)
    }

    /// Who or what started a run: manual, a schedule, a table trigger, the API or this view, and with which token.
    static func trigger(of run: RunRecord, tokens: [Int64: String]) -> String {
        let by = run.startedByTokenID.flatMap { tokens[$0] }.map { " (token \($0))" } ?? ""
        let what = run.trigger.hasPrefix("trigger ") ? "table trigger \(run.trigger.dropFirst(8))" : run.trigger
        return what + by
    }

    static func seconds(of run: RunRecord) -> TimeInterval? {
        guard let start = run.startedAt else { return nil }
        return (run.finishedAt ?? Date()).timeIntervalSince(start)
    }

    static func duration(of run: RunRecord) -> String { seconds(of: run).map(TimelineDrawing.seconds) ?? "–" }

    /// Points of an SVG polyline 100 × 20 for the durations (nil: a run not started, left out).
    static func sparkline(_ values: [TimeInterval?]) -> [String: Any] {
        let known = values.compactMap { $0 }
        guard known.count >= 2, let top = known.max() else { return ["points": "", "label": "too few runs for a trend"] }
        let step = 100.0 / Double(known.count - 1)
        let points = known.enumerated().map { index, value in
            "\(TimelineDrawing.f(Double(index) * step)),\(TimelineDrawing.f(19 - (top > 0 ? value / top : 0) * 18))"
        }.joined(separator: " ")
        let median = RunTimeline.median(known) ?? 0
        return ["points": points, "label": "last \(known.count) runs: median \(TimelineDrawing.seconds(median)), longest \(TimelineDrawing.seconds(top))"]
    }

    static func dateTime(_ date: Date, _ zone: TimeZone) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        return String(format: "%04d-%02d-%02d %02d:%02d:%02d", c.year ?? 0, c.month ?? 0, c.day ?? 0, c.hour ?? 0, c.minute ?? 0, c.second ?? 0)
    }

    /// The run's page: its summary, the comparison with recent runs, the timeline, the jobs and the log.
    private func runPage(_ run: RunRecord, _ caller: Caller, _ csrf: String) throws -> (template: String, context: [String: Any]) {
        var page = try liveParts(run)
        let tokens = Dictionary(try engine.tokens().map { ($0.id!, $0.name) }, uniquingKeysWith: { a, _ in a })
        page["trigger"] = Self.trigger(of: run, tokens: tokens)
        page["live"] = !run.status.isFinished
        page["canRetry"] = run.status.isFinished && run.status != .success
        page["canTerminate"] = !run.status.isFinished
        page["legend"] = TimelineDrawing.legend
        page["zone"] = zone.identifier
        let lines = try engine.logs(run: run.id!)
        page["logs"] = lines.suffix(Self.maxLogLines).map { entry -> [String: Any] in
            ["time": TimelineDrawing.clock(entry.line.time, zone), "task": entry.job.taskID, "level": entry.line.level.rawValue,
             "source": entry.line.source.rawValue, "message": entry.line.message]
        }
        page["logsCut"] = lines.count > Self.maxLogLines ? "the last \(Self.maxLogLines) of \(lines.count) lines (all: patchbay jobs logs --run \(run.id!))" : false
        return ("run", page)
    }

    /// What changes while a run goes on: its status line, the timeline and the jobs' table (the live region).
    func liveParts(_ run: RunRecord) throws -> [String: Any] {
        let timeline = try engine.timeline(of: run)
        let detail = try engine.detail(of: run)
        var parts: [String: Any] = ["run": run.id!, "flow": run.flowName, "status": timeline.run.status.rawValue,
                                    "message": timeline.run.message ?? false, "duration": TimelineDrawing.seconds(timeline.duration)]
        if let median = timeline.medianDuration {
            let ratio = median > 0 ? timeline.duration / median : 1
            parts["comparison"] = "median of the last \(timeline.comparedRuns) runs: \(TimelineDrawing.seconds(median)); this run \(String(format: "%.2f", ratio))× that"
        } else {
            parts["comparison"] = "no earlier finished run of this flow to compare with"
        }
        parts["timeline"] = TimelineDrawing(timeline: timeline, zone: zone).context
        parts["jobs"] = detail.jobs.map { entry -> [String: Any] in
            let job = entry.job
            return ["id": job.id!, "task": job.taskID, "phase": job.phaseID, "status": job.status.rawValue, "connector": job.connectorID,
                    "attempt": job.attempt, "rows": job.rowsOut, "message": job.message ?? "", "failure": job.failureClass?.rawValue ?? false,
                    "wait": entry.wait.map { "\($0.reason.rawValue): \($0.detail)" } ?? false, "sandbox": job.sandbox ?? "",
                    "outputs": entry.outputs.map { ["name": $0.name, "value": $0.isSecret ? "[hidden]" : ($0.value ?? "")] }]
        }
        return parts
    }

    /// GET …/events: the live region again each time the run changes, as server-sent events, until it ends.
    private func liveEvents(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        guard caller(request) != nil else { throw WebError(.unauthorized, "log in first") }
        let first = try run(context)
        let view = self
        let body = ResponseBody { writer in
            var last = ""
            while true {
                let run = try view.engine.run(first.id!)
                let html = view.library.render(try view.liveParts(run), withTemplate: "live") ?? ""
                if html != last {
                    last = html
                    // Every line break ends an SSE line (CR, LF, CRLF): a connector's message with a bare CR must not
                    // start a field of its own (an injected `event: end`) in the stream.
                    let data = html.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r" || $0 == "\r\n" })
                        .map { "data: \($0)" }.joined(separator: "\n")
                    try await writer.write(ByteBuffer(string: "event: update\n\(data)\n\n"))
                }
                if run.status.isFinished {
                    try await writer.write(ByteBuffer(string: "event: end\ndata: \(run.status.rawValue)\n\n"))
                    break
                }
                try await Task.sleep(for: .milliseconds(250))
            }
            try await writer.finish(nil)
        }
        var headers = Self.securityHeaders
        headers[.contentType] = "text/event-stream"
        return Response(status: .ok, headers: headers, body: body)
    }

    // MARK: run a flow, retry, terminate

    func flowFile(_ context: BasicRequestContext) throws -> (name: String, file: String) {
        let name = context.parameters.get("flow") ?? ""
        guard let file = engine.project.flowFiles().first(where: { (($0 as NSString).lastPathComponent as NSString).deletingPathExtension == name }) else {
            throw WebError(.notFound, "There is no flow '\(name)'.")
        }
        return (name, file)
    }

    private func runFlowPage(_ flowFile: (name: String, file: String), _ caller: Caller, _ csrf: String) async throws -> (template: String, context: [String: Any]) {
        let (name, file) = flowFile
        let flow = try await engine.load(flowFile: file)
        var page: [String: Any] = [:]
        page["flow"] = name
        page["phases"] = flow.phases.map { phase -> [String: Any] in
            ["phase": phase.id, "tasks": flow.tasks.filter { $0.phase == phase.id }.map { task -> [String: Any] in
                ["id": task.id, "name": task.name, "connector": task.connector.id, "checked": task.enabled,
                 "note": task.enabled ? "" : "disabled in the flow"]
            }]
        }
        return ("run-flow", page)
    }

    private func runFlow(_ context: BasicRequestContext, _ caller: Caller, _ form: FormBody) async throws -> Response {
        let (name, file) = try flowFile(context)
        guard !pool.isDraining else { throw WebError(.serviceUnavailable, "No new run starts while the server shuts down.") }
        let flow = try await engine.load(flowFile: file)
        let chosen = form.all("task")
        guard !chosen.isEmpty else { throw WebError(.badRequest, "Select at least one task to run.") }
        var options = RunOptions(only: chosen.count == flow.tasks.count ? nil : chosen)
        options.trigger = "manual (web)"
        options.startedBy = caller.token.id
        let run = try engine.submit(flow, options: options)
        pool.start(run)
        logger.info("run started from the web view", metadata: ["run": "\(run.id!)", "flow": "\(name)", "token": "\(caller.token.name)"])
        return Self.redirect("/ui/runs/\(run.id!)")
    }

    private func retryPage(_ run: RunRecord, _ caller: Caller, _ csrf: String) throws -> (template: String, context: [String: Any]) {
        let jobs = try engine.jobs(run: run.id!)
        var page: [String: Any] = [:]
        page["run"] = run.id!
        page["flow"] = run.flowName
        var phases: [[String: Any]] = []
        for job in jobs {
            // Keboola's Job Retry: the failed tasks and those of failed or not executed phases are checked.
            let checked = job.status != .success && job.status != .skipped
            let entry: [String: Any] = ["id": job.taskID, "name": job.taskName, "status": job.status.rawValue, "checked": checked,
                                        "note": checked ? "runs again" : job.status == .success ? "reused unless checked" : "skipped unless checked"]
            if let index = phases.firstIndex(where: { ($0["phase"] as? String) == job.phaseID }) {
                phases[index]["tasks"] = (phases[index]["tasks"] as! [[String: Any]]) + [entry]
            } else {
                phases.append(["phase": job.phaseID, "tasks": [entry]])
            }
        }
        page["phases"] = phases
        return ("retry", page)
    }

    private func retry(_ context: BasicRequestContext, _ caller: Caller, _ form: FormBody) throws -> Response {
        let original = try run(context)
        guard !pool.isDraining else { throw WebError(.serviceUnavailable, "No new run starts while the server shuts down.") }
        let retry = try engine.submitRetry(of: original.id!, trigger: "retry (web)", tasks: Set(form.all("task")))
        pool.start(retry)
        return Self.redirect("/ui/runs/\(retry.id!)")
    }

    private func terminate(_ context: BasicRequestContext, _ caller: Caller) throws -> Response {
        let run = try run(context)
        if !run.status.isFinished {
            _ = try engine.requestTermination(of: run.id!, reason: "terminated from the web view by token '\(caller.token.name)'")
        }
        return Self.redirect("/ui/runs/\(run.id!)")
    }

    // MARK: plugins, schedules, tokens

    private func pluginsPage(_ caller: Caller, _ csrf: String) async -> (template: String, context: [String: Any]) {
        var page: [String: Any] = [:]
        page["plugins"] = await engine.registry.catalog.map { entry -> [String: Any] in
            var object = entry.json
            let network = object["network"] as? [String: Any]
            let kind = network?["kind"] as? String ?? "none"
            let ports = (network?["tcp_ports"] as? [Int] ?? []).map(String.init).joined(separator: ", ")
            object["networkText"] = kind == "tcp_ports" ? "outbound TCP to \(ports)" : kind
            object["file"] = (entry.path as NSString).lastPathComponent
            object["quarantined"] = !entry.isReady
            return object
        }
        return ("plugins", page)
    }

    private func schedulesPage(_ caller: Caller, _ csrf: String) -> (template: String, context: [String: Any]) {
        let now = engine.time.now()
        var page: [String: Any] = [:]
        page["schedules"] = automation.schedules(now: now).map { status -> [String: Any] in
            let zone = TimeZone(identifier: status.schedule.timezone) ?? TimeZone(identifier: "UTC")!
            return ["flow": status.flow, "id": status.schedule.id, "cron": status.schedule.cron, "zone": status.schedule.timezone,
                    "enabled": status.schedule.enabled, "warnings": status.warnings,
                    "fires": status.upcoming.prefix(5).map { fire -> [String: Any] in
                        let dst = Self.transitionDay(fire.date, zone)
                        return ["local": fire.rfc3339, "utc": fire.utcText, "dst": dst != nil, "dstText": dst ?? "",
                                "kind": fire.kind == .onTime ? "" : fire.kind == .afterGap ? "after the spring-forward gap" : "first of the repeated hour"]
                    }]
        }
        page["triggers"] = automation.triggers(now: now).map { evaluation -> [String: Any] in
            ["flow": evaluation.flow, "id": evaluation.trigger.id, "tables": evaluation.trigger.tables.joined(separator: ", "),
             "updated": evaluation.updated.joined(separator: ", "), "awaiting": evaluation.awaiting.joined(separator: ", "),
             "waiting": !evaluation.awaiting.isEmpty, "enabled": evaluation.trigger.enabled,
             "coolDown": Self.dateTime(evaluation.coolDownEnds, zone)]
        }
        return ("schedules", page)
    }

    /// "clocks change this day" when `date`'s day in `zone` has a daylight-saving transition.
    static func transitionDay(_ date: Date, _ zone: TimeZone) -> String? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let start = calendar.startOfDay(for: date)
        guard let next = zone.nextDaylightSavingTimeTransition(after: start.addingTimeInterval(-1)),
              next < start.addingTimeInterval(26 * 3600), calendar.isDate(next, inSameDayAs: date) else { return nil }
        let change = zone.daylightSavingTimeOffset(for: next.addingTimeInterval(1)) - zone.daylightSavingTimeOffset(for: next.addingTimeInterval(-1))
        return "DST: clocks go \(change > 0 ? "forward" : "back") \(Int(abs(change) / 60)) min this day at \(dateTime(next, TimeZone(identifier: "UTC")!)) UTC"
    }

    private func tokensPage(_ caller: Caller, _ csrf: String) throws -> (template: String, context: [String: Any]) {
        var page: [String: Any] = [:]
        let now = Date()
        page["tokens"] = try engine.tokens().map { token -> [String: Any] in
            let scopes = token.scopes
            var words: [String] = []
            if scopes?.isMaster == true { words.append("master") }
            if scopes?.canRunOrchestrations == true { words.append("run orchestrations") }
            if scopes?.canManageTokens == true { words.append("manage tokens") }
            if let components = scopes?.components, !components.isEmpty { words.append("components: " + components.joined(separator: ", ")) }
            if let buckets = scopes?.buckets, !buckets.isEmpty { words.append("buckets: " + buckets.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value.rawValue)" }.joined(separator: ", ")) }
            if let flow = token.orchestration { words.append("orchestration \(flow)") }
            let state = token.revokedAt.map { "revoked \(Self.dateTime($0, zone))" }
                ?? token.expiresAt.map { $0 <= now ? "expired \(Self.dateTime($0, zone))" : "expires \(Self.dateTime($0, zone))" } ?? "no expiry"
            return ["id": token.id!, "name": token.name, "scopes": words.isEmpty ? "read" : words.joined(separator: "; "), "state": state,
                    "created": Self.dateTime(token.createdAt, zone), "live": token.revokedAt == nil && (token.expiresAt.map { $0 > now } ?? true)]
        }
        return ("tokens", page)
    }
}

/// A page's problem: the status and the sentence to show.
struct WebError: Error {
    let status: HTTPResponse.Status
    let message: String
    init(_ status: HTTPResponse.Status, _ message: String) {
        self.status = status
        self.message = message
    }
}
