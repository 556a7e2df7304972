// `patchbay serve`: the daemon — scheduler, triggers, plugin watcher, status-check waits and the HTTP API.
import ArgumentParser
import Foundation
import Hummingbird
import Logging
import PatchbayEngine
import PatchbayServer
import PatchbayWeb
import Synchronization

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the daemon: schedules, table triggers, hot-added plugins, status-check waits and the HTTP API.",
        discussion: """
            One process for everything unattended: it runs each flow's schedules and triggers (patchbay schedule list shows them), picks up plugins copied into a plugin directory, resumes status checks a killed host left waiting, and serves the HTTP API, whose OpenAPI 3.1 document is at /openapi.json:

              POST /v1/flows/{flow}/runs           start a run: 202 + Location
              GET  /v1/runs, /v1/runs/{run}        runs, jobs, why each waits
              GET  /v1/runs/{run}/jobs/{task}/log  pages, or server-sent events
              POST /v1/runs/{run}/retry, …/terminate
              GET  /v1/plugins, /v1/schedules, /v1/triggers
              GET  /v1/health, /metrics (Prometheus)

            The web view is at /ui (log in with a token): the runs, each run's timeline with the reason for every wait, run a flow with a task selection, retry with the failed tasks checked, terminate, plugins, schedules and triggers, tokens.

            Starting a run needs a Bearer token that may run orchestrations; an Idempotency-Key header replays the first answer. Errors are application/problem+json (RFC 9457) with a stable type and code: 401 without a valid token, 403 without the scope.

            It listens on 127.0.0.1 only, unless --allow-remote. SIGTERM or SIGINT drains it: the API stops, no new run starts, running runs get --grace seconds to finish and are then terminated and recorded as such. Logs go to stderr (--log-level).

              patchbay serve --port 8787 &
              T=$(cat .patchbay/master-token)
              curl -X POST -H "Authorization: Bearer $T" \\
                   http://127.0.0.1:8787/v1/flows/orders/runs
            """)

    @OptionGroup var project: ProjectOptions
    @OptionGroup var global: GlobalOptions
    @Option(help: "The address to listen on.") var host = "127.0.0.1"
    @Option(help: "The port to listen on (0: any free port; the line 'listening on …' says which).") var port = 8787
    @Flag(help: "Listen on an address other than loopback (the API is then reachable from the network: use TLS in front of it).")
    var allowRemote = false
    @Option(help: "Seconds a running run gets to finish after SIGTERM before it is terminated.") var grace: Double = 30
    @Option(help: "Seconds between two evaluations of the schedules and triggers.") var tick: Double = 1

    func run() async throws {
        try await reportingErrors {
            let loopback = ["127.0.0.1", "::1", "localhost"].contains(host) || host.hasPrefix("127.")
            guard loopback || allowRemote else {
                throw CLIError("--host \(host) is not a loopback address: the API would be reachable from the network; add --allow-remote if that is meant",
                               exitCode: .inputInvalid)
            }
            guard grace >= 0, tick > 0, (0...65535).contains(port) else {
                throw CLIError("--grace must be 0 or more, --tick more than 0, --port 0-65535", exitCode: .inputInvalid)
            }
            let resumed = ResumedRuns()
            let engine = try project.session(global, needs: .read, resumingHere: resumed).engine
            var logger = Logger(label: "patchbay.serve")
            logger.logLevel = global.logLevel.level
            let metrics = ServerMetrics()
            let pool = RunPool(engine: engine, metrics: metrics, logger: logger, webhooks: WebhookSender(key: try engine.webhookSigningKey(), logger: logger))
            let daemon = Daemon(engine: engine, pool: pool, logger: logger, tick: .milliseconds(Int64(tick * 1000)),
                                grace: .milliseconds(Int64(grace * 1000)), resumed: resumed.runs.withLock { $0 })
            let api = API(engine: engine, pool: pool, metrics: metrics, logger: logger)
            let router = api.router()
            try await WebView(engine: engine, pool: pool, logger: logger).register(on: router)
            let application = Application(
                router: router,
                configuration: .init(address: .hostname(host, port: port), serverName: "patchbay"),
                services: [daemon],
                onServerRunning: { channel in
                    let bound = channel.localAddress?.port ?? port
                    writeStandardOutput("patchbay serve: listening on http://\(host.contains(":") ? "[\(host)]" : host):\(bound) (project \(engine.project.root))\n")
                },
                logger: logger)
            try await application.runService()
            writeStandardOutput("patchbay serve: stopped\n")
        }
    }
}
