import Foundation
import PatchbayCore
import PatchbayEngine
import PatchbaySecurity
import PatchbayStore
import Testing

/// The web view of `patchbay serve`, in a real headless Chromium against a real daemon and store.
@Suite("The web view: runs, the timeline, run and retry from the page, in a real browser", .serialized,
       .enabled(if: Browser.isAvailable, "needs Debian's chromium and chromium-driver (.ci/run installs them)"))
struct WebViewTests {
    static let flows: [String: String] = [
        "flows/pick.yaml": """
            phases:
              - {id: only, tasks: [{id: keep, connector: dev.patchbay.noop}, {id: drop, connector: dev.patchbay.noop}]}
            """,
        "flows/slow.yaml": """
            phases:
              - {id: first, tasks: [{id: wait, connector: dev.patchbay.noop, parameters: {sleep_ms: 2500}}]}
            """,
        "flows/fragile.yaml": """
            phases:
              - id: one
                tasks:
                  - {id: ok, connector: dev.patchbay.noop, parameters: {output_name: made}}
                  - {id: bad, connector: dev.patchbay.noop, parameters: {fail: system, fail_message: broken on purpose}}
              - {id: two, tasks: [{id: after, connector: dev.patchbay.noop}]}
            """,
        "configurations/shared.yaml": "connector: dev.patchbay.noop\nparameters: {sleep_ms: 1200}\n",
        "flows/holder.yaml": "phases:\n  - {id: p, tasks: [{id: hold, configuration: shared}]}\n",
        "flows/blocked.yaml": "phases:\n  - {id: p, tasks: [{id: wants, configuration: shared}]}\n",
        "flows/secret.yaml": """
            phases:
              - {id: auth, tasks: [{id: login, connector: test.auth, parameters: {"#token": \(Secrets.quoted(Secrets.accessToken)), ttl: 600}}]}
              - {id: use, tasks: [{id: echo, connector: test.secret-echo, parameters: {"#password": \(Secrets.quoted(Secrets.password))}}]}
            """,
    ]

    /// A daemon over a project with the flows above, a browser logged in with the master token.
    struct Setup {
        let project: TestProject
        let serve: ServeProcess
        let browser: Browser
        let token: String

        init(extra: [String: String] = [:]) throws {
            project = try TestProject(files: WebViewTests.flows.merging(extra) { $1 })
            serve = try ServeProcess(project)
            token = try ServerTests.masterToken(project)
            browser = try Browser()
            try browser.open(serve.base + "/ui/runs")
            // Given the login page (any page sends one there first)
            #expect(try browser.url.contains("/ui/login"))
            try browser.type(token, into: "#token")
            try browser.click("form.login button")
            #expect(try browser.wait(until: "return location.pathname === '/ui/runs'", within: 10), "logged in and sent back to the runs")
        }

        /// Waits for run `id` to end (the store is the truth), within `seconds`.
        func finished(_ id: Int64, within seconds: Double = 60) async throws -> RunRecord {
            try await project.engine.waitForEnd(of: id, within: .seconds(seconds))
        }

        var newestRun: RunRecord? { get throws { try project.store.runs(limit: 1).first } }

        /// Starts the 2.5 s flow from its page, and waits for the run's page to show `ready` (a CSS selector).
        func startSlowRun(showing ready: String) throws {
            try browser.open(serve.base + "/ui/flows/slow/run")
            try browser.click("form.select button")
            #expect(try browser.wait(until: "return !!document.querySelector('\(ready)')", within: 10))
        }
    }

    @Test("log in with a token: an HttpOnly, SameSite=Strict session; a page without it goes to the login; a wrong token is refused")
    func login() async throws {
        let setup = try Setup()
        defer { setup.project.remove() }
        // Then the page names the token's owner, and the session cookie is hidden from scripts
        #expect(try setup.browser.source.contains("master"))
        #expect(try setup.browser.run("return document.cookie") as? String == "", "HttpOnly: no script reads the session")
        // And over plain HTTP: no session is the login page, the cookie's attributes are as promised
        let anonymous = try await setup.serve.request("GET", "/ui/runs")
        #expect(anonymous.status == 303 && anonymous.headers["location"]?.hasPrefix("/ui/login") == true)
        let form = try await setup.serve.request("GET", "/ui/login")
        let nonce = try #require(form.text.firstMatch(of: /name="nonce" value="([^"]+)"/)?.1)
        let loginCookie = try #require(form.headers["set-cookie"]?.split(separator: ";").first)
        let wrong = try await setup.serve.request("POST", "/ui/login", headers: ["Cookie": String(loginCookie), "Content-Type": "application/x-www-form-urlencoded"],
                                                  body: Data("nonce=\(nonce)&token=pbt_1_wrong".utf8))
        #expect(wrong.status == 401 && wrong.text.contains("cannot log in"), "\(wrong.status)")
        let right = try await setup.serve.request("POST", "/ui/login", headers: ["Cookie": String(loginCookie), "Content-Type": "application/x-www-form-urlencoded"],
                                                  body: Data("nonce=\(nonce)&token=\(setup.token)".utf8))
        let cookie = try #require(right.headers["set-cookie"])
        #expect(right.status == 303 && cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "\(cookie)")
        // And a login without the form's own nonce is refused (no login CSRF)
        let forged = try await setup.serve.request("POST", "/ui/login", headers: ["Content-Type": "application/x-www-form-urlencoded"],
                                                   body: Data("nonce=x&token=\(setup.token)".utf8))
        #expect(forged.status == 403)
        // And every page forbids inline script
        let page = try await setup.serve.request("GET", "/ui/runs", headers: ["Cookie": String(cookie.split(separator: ";")[0])])
        let policy = try #require(page.headers["content-security-policy"])
        #expect(page.status == 200 && policy.contains("script-src 'self'") && !policy.contains("unsafe-inline"), "\(policy)")
        #expect(!page.text.contains("<script>") && !page.text.contains(" onclick="), "no inline script in the HTML")
    }

    @Test("run a flow with one task deselected: that task is skipped, the other runs; a POST without the CSRF token is refused")
    func runWithSelection() async throws {
        let setup = try Setup()
        defer { setup.project.remove() }
        // Given the run page of the flow, with every task checked
        try setup.browser.open(setup.serve.base + "/ui/flows/pick/run")
        #expect(try setup.browser.run("return [...document.querySelectorAll('input[name=task]')].map(i => i.value + ':' + i.checked).join(',')") as? String
                == "keep:true,drop:true")
        // When the user unchecks 'drop' and runs
        try setup.browser.click("input[value=drop]")
        try setup.browser.click("form.select button")
        #expect(try setup.browser.wait(until: "return /^\\/ui\\/runs\\/\\d+$/.test(location.pathname)", within: 10))
        let run = try #require(try setup.newestRun)
        let finished = try await setup.finished(run.id!)
        // Then 'keep' ran and 'drop' was skipped, as with --only
        let jobs = try setup.project.jobsByTask(run.id!)
        #expect(finished.status == .success && jobs["keep"]?.status == .success && jobs["drop"]?.status == .skipped,
                "\(jobs.mapValues(\.status.rawValue))")
        #expect(run.trigger.contains("web") && run.startedByTokenID != nil)
        // And a form sent without its CSRF token starts nothing
        let cookie = try #require(try await Self.sessionCookie(setup))
        let before = try setup.project.store.runs(limit: 100).count
        let forged = try await setup.serve.request("POST", "/ui/flows/pick/run", headers: ["Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"],
                                                   body: Data("task=keep".utf8))
        #expect(forged.status == 403 && forged.text.contains("CSRF"))
        #expect(try setup.project.store.runs(limit: 100).count == before)
    }

    @Test("the run page updates live through server-sent events while the run processes, without a reload")
    func liveUpdate() async throws {
        let setup = try Setup()
        defer { setup.project.remove() }
        // Given a run of a 2.5 s task, opened while it processes
        try setup.startSlowRun(showing: "#live")
        _ = try setup.browser.run("window.__sameDocument = true; return true")
        // When the run goes on, Then the live region is replaced by the server's updates, in the same document
        #expect(try setup.browser.wait(until: "return window.__sameDocument && Number(document.getElementById('live').dataset.updates || 0) >= 2 && document.querySelector('#live rect.seg-running')",
                                       within: 20), "two updates arrived and a running segment is drawn")
        #expect(try setup.browser.run("return document.getElementById('run-status').textContent") as? String == "processing")
        // And at the end the page shows the finished run
        #expect(try setup.browser.wait(until: "return document.getElementById('run-status') && document.getElementById('run-status').textContent === 'success'", within: 30))
    }

    @Test("retry a failed run from its page: the failed task and the not executed phase are checked by default, and only they run again")
    func retryDefaults() async throws {
        let setup = try Setup()
        defer { setup.project.remove() }
        // Given a run whose 'bad' failed, so that phase 'two' never ran
        let (failed, first) = try await setup.project.run("fragile")
        #expect(failed.status == .error && first["after"]?.status == .cancelled, "\(first.mapValues(\.status.rawValue))")
        // When the user opens it and chooses Retry
        try setup.browser.open(setup.serve.base + "/ui/runs/\(failed.id!)")
        #expect(try setup.browser.source.contains("broken on purpose"))
        try setup.browser.click("a[href='/ui/runs/\(failed.id!)/retry']")
        #expect(try setup.browser.wait(until: "return location.pathname.endsWith('/retry')", within: 10))
        // Then only the failed task and the task of the phase not executed are checked
        #expect(try setup.browser.run("return [...document.querySelectorAll('input[name=task]')].map(i => i.value + ':' + i.checked).join(',')") as? String
                == "ok:false,bad:true,after:true")
        try setup.browser.click("form.select button")
        #expect(try setup.browser.wait(until: "return /^\\/ui\\/runs\\/\\d+$/.test(location.pathname) && !location.pathname.endsWith('/\(failed.id!)')", within: 10))
        let retry = try #require(try setup.newestRun)
        _ = try await setup.finished(retry.id!)
        // And 'ok' was reused, 'bad' ran again (its second attempt), 'after' was not reached again
        let jobs = try setup.project.jobsByTask(retry.id!)
        #expect(retry.retryOf == failed.id)
        #expect(jobs["ok"]?.reusedJobID == first["ok"]?.id, "reused, not run again")
        #expect(jobs["bad"]?.attempt == 2 && jobs["bad"]?.status == .error)
        #expect(jobs["after"]?.status == .cancelled)
    }

    @Test("a configuration-lock wait is drawn as its own segment, labelled, and linked to the run that holds the lock")
    func lockWaitDrawn() async throws {
        let setup = try Setup()
        defer { setup.project.remove() }
        // Given a run that holds configuration 'shared' for 1.2 s, and a second run that needs it meanwhile
        let engine = setup.project.engine
        let holder = try engine.submit(try await engine.load(flowFile: setup.project.project.flowFile("holder")))
        let (started, signal) = AsyncStream<Void>.makeStream()
        let holding = Task {
            await engine.execute(holder) { event in if case .job(let job) = event, job.status == .processing { signal.yield() } }
        }
        var starts = started.makeAsyncIterator()
        _ = await starts.next()  // the holder's job runs, and holds the lock
        let (blocked, _) = try await setup.project.run("blocked")
        _ = await holding.value
        // When its page is opened
        try setup.browser.open(setup.serve.base + "/ui/runs/\(blocked.id!)")
        // Then the bar has a configuration-lock segment with its cause, linked to the holder's run
        let link = try setup.browser.run("const a = document.querySelector('a.lock-link'); return a ? a.getAttribute('href') + '|' + a.getAttribute('aria-label') : ''") as? String ?? ""
        #expect(link.hasPrefix("/ui/runs/\(holder.id!)|"), "\(link)")
        #expect(link.contains("waiting on a configuration lock") && link.contains("shared") && link.contains("run \(holder.id!)"), "\(link)")
        let width = try setup.browser.run("const r = document.querySelector('.bar rect.seg-configuration_lock'); return r ? r.getBBox().width : 0") as? Double ?? 0
        #expect(width > 100, "the lock wait (most of the run) is drawn wide: \(width)")
        // And every bar is reachable by keyboard and named
        let named = try setup.browser.run("""
            const bars = [...document.querySelectorAll('a.bar')]; bars[0].focus();
            return bars.length > 0 && bars.every(b => (b.getAttribute('aria-label') || '').length > 10) && document.activeElement === bars[0]
            """) as? Bool
        #expect(named == true)
    }

    @Test("no secret appears in the HTML of any page: credentials, secret outputs and the token are never rendered")
    func noSecretRendered() async throws {
        let setup = try Setup()
        defer { setup.project.remove() }
        // Given a run whose tasks were given secrets and log them
        let (run, _) = try await setup.project.run("secret")
        _ = try await setup.project.run("fragile")
        // When every page is read
        var pages = ["/ui/runs", "/ui/runs/\(run.id!)", "/ui/runs/\(run.id! + 1)", "/ui/runs/\(run.id! + 1)/retry", "/ui/flows/secret/run",
                     "/ui/plugins", "/ui/schedules", "/ui/tokens"]
        pages.append("/ui/runs?flow=secret")
        var seen = 0
        for page in pages {
            try setup.browser.open(setup.serve.base + page)
            let html = try setup.browser.source
            #expect(!html.contains("Problem"), "\(page) rendered: \(html.prefix(300))")
            seen += html.count
            // Then no form of any secret is in it, nor the token logged in with
            for secret in Secrets.all + [setup.token] {
                for form in Secrets.forms(of: secret) { #expect(!html.contains(form), "\(page) shows a secret") }
            }
        }
        #expect(seen > 10_000)
        try setup.browser.open(setup.serve.base + "/ui/runs/\(run.id!)")
        #expect(try setup.browser.source.contains("[hidden]"), "the secret output is shown as [hidden]")
    }

    @Test("a run of 300 tasks renders in Chromium in under 1 s; the first byte of every page arrives in under 50 ms; screenshots of the run page and the runs list")
    func speedAndScreenshots() async throws {
        let tasks = (0..<3).map { phase in
            "  - {id: p\(phase), tasks: [" + (0..<100).map { "{id: t\(phase)_\($0), connector: dev.patchbay.noop}" }.joined(separator: ", ") + "]}"
        }.joined(separator: "\n")
        let setup = try Setup(extra: ["flows/wide.yaml": "phases:\n" + tasks + "\n"])
        defer { setup.project.remove() }
        let (wide, _) = try await setup.project.run("wide", parallelism: 8)
        _ = try await setup.project.run("fragile")
        #expect(wide.status == .success)
        // When the 300-task run page is loaded (twice: the first warms the daemon's template and store caches)
        var timings: [String: (load: Double, firstByte: Double)] = [:]
        for page in ["/ui/runs/\(wide.id!)", "/ui/runs/\(wide.id!)", "/ui/runs", "/ui/plugins", "/ui/schedules", "/ui/tokens"] {
            try setup.browser.open(setup.serve.base + page)
            let numbers = try setup.browser.run("const n = performance.getEntriesByType('navigation')[0]; return [n.loadEventEnd - n.startTime, n.responseStart - n.requestStart]") as? [Double] ?? []
            timings[page] = (numbers.first ?? .infinity, numbers.last ?? .infinity)
        }
        // Then it renders within a second, and every page's first byte is within 50 ms
        let run = try #require(timings["/ui/runs/\(wide.id!)"])
        #expect(run.load < 1000, "300-task run page: \(run.load) ms to load")
        #expect(try setup.browser.run("return 0") != nil)
        for (page, timing) in timings { #expect(timing.firstByte < 50, "\(page): first byte after \(timing.firstByte) ms") }
        try setup.browser.open(setup.serve.base + "/ui/runs/\(wide.id!)")
        #expect(try setup.browser.run("return document.querySelectorAll('a.bar').length") as? Int == 300)

        // And screenshots of a run page and the runs list, of the window's size and not blank
        let screenshots = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Screenshots")
        try FileManager.default.createDirectory(at: screenshots, withIntermediateDirectories: true)
        let fragile = try #require(try setup.newestRun)
        for (name, page) in [("run-page", "/ui/runs/\(fragile.id!)"), ("runs", "/ui/runs")] {
            try setup.browser.open(setup.serve.base + page)
            let png = try setup.browser.screenshot()
            let size = try #require(Browser.pngSize(png))
            #expect(size.width == Browser.width && size.height >= Browser.height - 150, "\(name): \(size)")
            #expect(png.count > 20_000, "\(name) is \(png.count) bytes: a blank page compresses to far less")
            try png.write(to: screenshots.appendingPathComponent("\(name).png"))
        }
    }

    @Test("a token that may only read sees no Run, Retry or Terminate, and its POSTs are refused with 403")
    func readOnlyToken() async throws {
        let setup = try Setup()
        defer { setup.project.remove() }
        let reader = try setup.project.engine.createToken(name: "reader", scopes: TokenScopes(buckets: ["*": .read])).secret
        let (failed, _) = try await setup.project.run("fragile")
        // Given a browser logged in as the reader
        try setup.browser.click("form.logout button")
        #expect(try setup.browser.wait(until: "return location.pathname === '/ui/login'", within: 10))
        try setup.browser.type(reader, into: "#token")
        try setup.browser.click("form.login button")
        #expect(try setup.browser.wait(until: "return location.pathname === '/ui/runs'", within: 10))
        // Then the pages offer no action
        #expect(try !setup.browser.source.contains("/run\">Run"))
        try setup.browser.open(setup.serve.base + "/ui/runs/\(failed.id!)")
        #expect(try !setup.browser.source.contains("Retry…"))
        // And a retry posted with its session's own CSRF token is still refused
        let csrf = try setup.browser.run("return document.querySelector('input[name=csrf]').value") as? String ?? ""
        _ = try setup.browser.run("""
            const f = document.createElement('form'); f.method = 'post'; f.action = '/ui/runs/\(failed.id!)/retry';
            for (const [k, v] of [['csrf', arguments[0]], ['task', 'bad']]) { const i = document.createElement('input'); i.type = 'hidden'; i.name = k; i.value = v; f.appendChild(i); }
            document.body.appendChild(f); f.submit(); return true
            """, [csrf])
        #expect(try setup.browser.wait(until: "return document.title.startsWith('Not allowed')", within: 10))
        #expect(try setup.project.store.runs(limit: 10).count == 1, "nothing ran")
    }

    @Test("terminate a running run from its page: the run and its job end as terminated, saying who did it")
    func terminateFromPage() async throws {
        let setup = try Setup()
        defer { setup.project.remove() }
        // Given a run of a 2.5 s task, its page open while it processes
        try setup.startSlowRun(showing: "form[action$=\"/terminate\"] button")
        let run = try #require(try setup.newestRun)
        // When the user terminates it
        try setup.browser.click("form[action$='/terminate'] button")
        let ended = try await setup.finished(run.id!, within: 30)
        // Then it ends terminated, with the reason naming the page and the token
        let job = try #require(try setup.project.jobsByTask(run.id!)["wait"])
        #expect(ended.status == .terminated && job.status == .terminated, "\(ended.status) \(job.status)")
        #expect((job.message ?? ended.message ?? "").contains("web view") || (ended.message ?? "").contains("web view"), "\(job.message ?? "") \(ended.message ?? "")")
    }

    @Test("schedules and triggers: next fires in their zone and in UTC, a DST transition day marked; the tables a trigger still awaits")
    func schedulesPage() async throws {
        // Given a schedule that fires on the day clocks go forward in Prague (the last Sunday of March 2027 is the 28th)
        let setup = try Setup(extra: ["flows/timed.yaml": """
            schedules:
              - {id: spring, cron: "0 3 28 3 *", timezone: Europe/Prague}
              - {id: daily, cron: "0 6 * * *", timezone: America/New_York}
            triggers:
              - {id: both, tables: [in.a, in.b], coolDownMinutes: 1}
            phases:
              - {id: p, tasks: [{id: t, connector: dev.patchbay.noop}]}
            """])
        defer { setup.project.remove() }
        // When the page is opened
        try setup.browser.open(setup.serve.base + "/ui/schedules")
        let html = try setup.browser.source
        // Then the spring fire is shown in Prague's offset and UTC, on a day marked as a transition
        #expect(html.contains("2027-03-28T03:00:00+02:00 · 2027-03-28T01:00:00Z"), "\(html.prefix(3000))")
        #expect(html.contains("DST: clocks go forward 60 min this day"))
        // And the daily New York fires are in their own zone, with UTC beside them
        #expect(html.contains("America/New_York") && html.contains("T06:00:00-05:00 · "))
        // And the trigger awaits both of its tables
        #expect(html.contains("<strong>in.a, in.b</strong>"))
    }

    // MARK: helpers

    /// The browser's session cookie, read from the daemon's answer to a fresh login (scripts cannot read it).
    static func sessionCookie(_ setup: Setup) async throws -> String? {
        let form = try await setup.serve.request("GET", "/ui/login")
        guard let nonce = form.text.firstMatch(of: /name="nonce" value="([^"]+)"/)?.1,
              let login = form.headers["set-cookie"]?.split(separator: ";").first else { return nil }
        let answer = try await setup.serve.request("POST", "/ui/login", headers: ["Cookie": String(login), "Content-Type": "application/x-www-form-urlencoded"],
                                                   body: Data("nonce=\(nonce)&token=\(setup.token)".utf8))
        return answer.headers["set-cookie"].map { String($0.split(separator: ";")[0]) }
    }
}
