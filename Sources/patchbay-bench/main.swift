// patchbay-bench — reproducible performance figures. Run in release:
//   swift run -c release patchbay-bench [probe|cold|sandbox|records|flow|all] [--runs N]
//   swift run -c release patchbay-bench flow --runs 7 [--phases 3 --tasks 100 --parallelism 8] [--cli]
//     --cli times `patchbay run` of the same flow as a child process, from start to exit (every job persisted).
//   sandbox: a cold no-op task with every layer, and with each layer off, so each layer's cost shows.
// Prints medians (and p10/p90) because the machine is shared and noisy.
// Needs the first-party plugins: scripts/build release.
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import PatchbayWire
import PatchbayCore
import PatchbayEngine
import PatchbayModel
import PatchbayRegistry
import PatchbayRunner
import PatchbaySchedule
import Synchronization

struct Quiet: TaskHost {}

/// Refuses a table that does not begin with `firstLines` (its header and first row): values in the wrong columns
/// would look fast too. Keeps nothing.
struct FirstLinesHost: TaskHost {
    struct Mismatch: Error, CustomStringConvertible { let description: String }
    let firstLines: String
    func commit(tables: [TableFile]) throws {
        for table in tables {
            let head = FileHandle(forReadingAtPath: table.path).map { String(decoding: $0.readData(ofLength: firstLines.utf8.count), as: UTF8.self) }
            guard head == firstLines else { throw Mismatch(description: "\(table.name) begins '\(head ?? "(unreadable)")', not '\(firstLines)'") }
        }
    }
}

/// Servers this program started, killed by `verify` before it exits (a `defer` does not run on exit()).
let servers = Mutex<[pid_t]>([])

/// Stops the benchmark with a message when a figure would be a lie (preconditions print no message in release).
func verify(_ condition: Bool, _ message: @autoclosure () -> String) {
    guard !condition else { return }
    print("error: \(message())")
    servers.withLock { $0.forEach { _ = kill($0, SIGKILL) } }
    exit(1)
}

/// Lands a task's tables in a directory (to make benchmark inputs), and answers the credentials it is given.
struct DirectoryHost: TaskHost {
    let directory: String
    var credentials: [String: String] = [:]
    func commit(tables: [TableFile]) throws { try DirectoryTableSink(directory: directory).commit(tables) }
    func credential(named name: String, for descriptor: ConnectorDescriptor?) -> CredentialAnswer {
        credentials[name].map { .value(Array($0.utf8)) } ?? .notFound
    }
}

func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
func percentile(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
}
func milliseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
}
/// CPU seconds used so far by this process (the host) and by its reaped children (the runners).
func cpuSeconds() -> (host: Double, runners: Double) {
    func seconds(_ who: Int32) -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(who), &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }
    return (seconds(RUSAGE_SELF.rawValue), seconds(RUSAGE_CHILDREN.rawValue))
}
func line(_ name: String, _ values: [Double], unit: String, target: String) {
    print(String(format: "%-46@ median %9.3f %@   p10 %9.3f   p90 %9.3f   (n=%d)  target %@",
                 name as NSString, median(values), unit as NSString, percentile(values, 0.1), percentile(values, 0.9),
                 values.count, target as NSString))
}

/// Runs `spec` `runs` times (at least 3): millions of `rows` a second, the runner's peak RSS in MiB, and the
/// runner's CPU time as a share of the wall time (near 1: the runner is the bottleneck; well below: it waits).
/// With `written`, a run counts only when the task wrote exactly that many rows: a reader that stopped early would look fast.
func rowsPerSecondAndResident(_ spec: TaskSpec, rows: Int, runs: Int = 3, written expected: UInt64? = nil,
                              host: some TaskHost = Quiet()) -> (rates: [Double], resident: [Double], busy: [Double]) {
    var rates: [Double] = [], resident: [Double] = [], busy: [Double] = []
    for _ in 0..<max(3, runs) {
        let before = cpuSeconds().runners
        let started = ContinuousClock.now
        let report = TaskRunner().runBlocking(spec, host: host)
        let seconds = milliseconds(ContinuousClock.now - started) / 1000
        verify(report.classification.isSuccess, report.classification.summary)
        let written = report.tables.reduce(0) { $0 + $1.rowCount }
        verify(expected == nil || written == expected, "the task wrote \(written) rows, not \(expected ?? 0)")
        rates.append(Double(rows) / seconds / 1_000_000)
        resident.append(Double(report.peakResidentBytes) / 1_048_576)
        busy.append((cpuSeconds().runners - before) / seconds)
    }
    return (rates, resident, busy)
}

let arguments = CommandLine.arguments.dropFirst()
let which = arguments.first { !$0.hasPrefix("--") && Int($0) == nil } ?? "all"
let usage = """
    USAGE: patchbay-bench [probe|cold|sandbox|records|diff|extract|http|postgres|flow|types|cron|api|all] [--runs N]
           patchbay-bench flow [--runs N] [--phases 3] [--tasks 100] [--parallelism 8] [--cli]

      probe     loading a C and a Swift connector (dlopen, entry, descriptor checks), and a whole probe
      cold      one isolated no-op task, spawn to reap
      sandbox   the same task with every sandbox layer, then with each layer off (what each costs)
      records   rows through the ABI (5 string columns, 1M rows), and an input table read to its end at
                two sizes (--input-rows, default 2M, and a tenth of it) with the runner's peak RSS
      diff      table-diff on two tables of --diff-rows rows (default 1M, 5 columns) each: rows/s, runner peak RSS
      extract   file-extract on a CSV of --extract-rows rows (default 1M; id, amount, created, note), untyped,
                then typed (integer, decimal, timestamp) with 1% misfits rejected: rows/s, runner peak RSS
      http      http-extract from a local JSON API (patchbay-demo-api --bench, pages rendered
                beforehand): --http-rows rows (default 1M) × 5 typed columns, pages of 10,000: rows/s, peak RSS
      postgres  postgres-extract from a private PostgreSQL cluster (Tests/Fixtures/services/pg_cluster.sh) into a
                committed table, --pg-rows rows (default 1M) × 5 typed columns, taking turns with psql's \\copy of
                the same SELECT to /dev/null: rows/s, the ratio, MB/s; then peak RSS at 10× the rows
                (--pg-skip-large skips that)
      types     the runner's check of typed values (ABI 1.3): 1M values of each column type, values/s
      api       `patchbay serve` on a no-op flow: latency from POST /v1/flows/F/runs to the first task's runner starting
                (--api-runs N, default 200, one after another), then the p99 of GET /v1/runs/ID under wrk load on loopback
                (--wrk-seconds S, default 30; needs wrk: apt-get install wrk)
      cron      next-fire computations in America/New_York for croniter's five expressions (../shared/peers/
                cron_bench.py), --cron-fires fires each (default 100,000): µs per fire; with --croniter PYTHON
                (a python with croniter installed) the peer runs in turn with it and the ratio is printed
                (--croniter-script PATH names the peer script)
      flow      phases × tasks no-op flow at a parallelism, every job persisted; --cli times
                `patchbay run` as a child process from start to exit
    Prints the median, p10 and p90 of each: the machine is shared and noisy. Build with
    scripts/build release first (the first-party plugins are needed).
    """
if arguments.contains("--help") || arguments.contains("-h") {
    print(usage)
    exit(0)
}
guard ["probe", "cold", "sandbox", "records", "diff", "extract", "http", "postgres", "flow", "types", "cron", "api", "all"].contains(which) else {
    print("error: unknown benchmark '\(which)'\n\n\(usage)")
    exit(2)
}
func option(_ name: String, _ fallback: Int) -> Int {
    arguments.firstIndex(of: name).flatMap { Int(arguments[arguments.index(after: $0)]) } ?? fallback
}
let runs = option("--runs", which == "flow" ? 7 : 50)

if which == "types" || which == "all" {
    // Each type's values as a connector would write them, checked the way the runner checks a batch.
    let samples: [(ColumnType, [String])] = [
        (.integer, ["0", "-12", "9223372036854775807", "123456"]), (.decimal, ["10.50", "-0.001", "123456789.123"]),
        (.float, ["2.5e3", "-1.25", "NaN"]), (.boolean, ["true", "false"]), (.date, ["2026-12-02", "2024-02-29"]),
        (.timestamp, ["2026-12-02T10:00:00.250Z", "2026-01-01T00:00:00Z"]), (.json, [#"{"k": [1, 2.5e3, null], "s": "x"}"#, "[1,2,3]"]),
    ]
    let count = 1_000_000
    for (type, values) in samples {
        let bytes = values.map { Array($0.utf8) }
        var rates: [Double] = []
        for _ in 0..<max(3, min(runs, 11)) {
            let start = ContinuousClock.now
            var accepted = 0
            for i in 0..<count where bytes[i % bytes.count].withUnsafeBytes({ type.accepts($0) }) { accepted += 1 }
            precondition(accepted == count, "a sample of \(type.word) was refused")
            let elapsed = ContinuousClock.now - start
            rates.append(Double(count) / elapsed.inSeconds / 1e6)
        }
        print("types \(type.word.padding(toLength: 9, withPad: " ", startingAt: 0)) median \(String(format: "%.1f", median(rates))) M values/s")
    }
}

if which == "cron" || which == "all" {
    // croniter's loop (cron_bench.py): K fires of each expression from 2025-01-01 00:00 in New York.
    let expressions = [("every_5min", "*/5 * * * *"), ("weekdays_0900", "0 9 * * 1-5"), ("every_6h_at_15", "15 */6 * * *"),
                       ("daily_0230_dst", "30 2 * * *"), ("1st_15th_0000", "0 0 1,15 * *")]
    let fires = option("--cron-fires", 100_000)
    let zone = TimeZone(identifier: "America/New_York")!
    let start = Date(timeIntervalSince1970: 1_735_707_600)  // 2025-01-01T00:00:00-05:00
    let python = arguments.firstIndex(of: "--croniter").map { arguments[arguments.index(after: $0)] }
    let script = arguments.firstIndex(of: "--croniter-script").map { arguments[arguments.index(after: $0)] } ?? "../shared/peers/cron_bench.py"
    var ours: [String: [Double]] = [:], theirs: [String: [Double]] = [:]
    for _ in 0..<(python == nil ? max(3, min(runs, 11)) : 3) {
        for (name, text) in expressions {
            var schedule = CronSchedule(try! CronExpression(parsing: text), zone: zone, around: start)
            let began = ContinuousClock.now
            var at = Int64(start.timeIntervalSince1970)
            for _ in 0..<fires { at = schedule.nextFire(after: at)!.instant }
            ours[name, default: []].append((ContinuousClock.now - began).inSeconds * 1e6 / Double(fires))
        }
        // The peer, in turn with us: the same expressions, zone and start.
        if let python {
            let peer = Process()
            peer.executableURL = URL(fileURLWithPath: python)
            peer.arguments = [script, String(fires), "America/New_York"]
            let output = Pipe()
            peer.standardOutput = output
            peer.standardError = FileHandle.nullDevice
            try! peer.run()
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            peer.waitUntilExit()
            guard let json = text.split(separator: "\n").first(where: { $0.hasPrefix("BENCH ") }),
                  let object = try? JSONSerialization.jsonObject(with: Data(json.dropFirst(6).utf8)) as? [String: Any] else {
                print("error: \(python) \(script) printed no BENCH line (is croniter installed? pip install croniter)")
                exit(1)
            }
            for (name, _) in expressions { theirs[name, default: []].append(object["\(name)_us_per_fire"] as? Double ?? .nan) }
        }
    }
    for (name, text) in expressions {
        let mine = median(ours[name]!)
        var row = "cron \(name.padding(toLength: 15, withPad: " ", startingAt: 0)) \(text.padding(toLength: 13, withPad: " ", startingAt: 0)) median \(String(format: "%.3f", mine)) µs/fire"
        if let peer = theirs[name] { row += String(format: "   croniter %.2f µs/fire   %.0f× (target ≥ 100×)", median(peer), median(peer) / mine) }
        print(row)
    }
    let total = expressions.map { median(ours[$0.0]!) }.reduce(0, +) / Double(expressions.count)
    print(String(format: "cron mean of the five medians %.3f µs/fire = %.2f M fires/s", total, 1 / total))
    if which == "cron" { exit(0) }
}

if which == "api" || which == "all" {
    // A project of one no-op flow, served by the release `patchbay serve` beside this binary.
    let bin = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
    let root = NSTemporaryDirectory() + "patchbay-bench-api-\(getpid())"
    func patchbay(_ arguments: [String]) -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: bin + "/patchbay")
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try! process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return text
    }
    _ = patchbay(["init", root])
    try! "phases:\n  - {id: p, tasks: [{id: t, connector: dev.patchbay.noop}]}\n".write(toFile: root + "/flows/quick.yaml", atomically: true, encoding: .utf8)
    let token = try! String(contentsOfFile: root + "/.patchbay/master-token", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    let serve = Process()
    serve.executableURL = URL(fileURLWithPath: bin + "/patchbay")
    serve.arguments = ["serve", "--project", root, "--port", "0", "--log-level", "error"]
    let output = Pipe()
    serve.standardOutput = output
    serve.standardError = FileHandle.nullDevice
    try! serve.run()
    var greeting = ""
    while !greeting.contains("\n") { greeting += String(decoding: output.fileHandleForReading.availableData, as: UTF8.self) }
    let port = Int(greeting[greeting.range(of: "127.0.0.1:")!.upperBound...].prefix { $0.isNumber })!
    let base = "http://127.0.0.1:\(port)"
    func call(_ method: String, _ path: String) async -> (Int, [String: Any], [AnyHashable: Any]) {
        var request = URLRequest(url: URL(string: base + path)!)
        request.httpMethod = method
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        let (data, response) = try! await URLSession.shared.data(for: request)
        let http = response as! HTTPURLResponse
        return (http.statusCode, (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:], http.allHeaderFields)
    }
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    // Latency: the request leaves → the run's first job records its runner's start (stored with milliseconds).
    var latencies: [Double] = []
    var lastRun = 1
    for _ in 0..<option("--api-runs", 200) {
        let sent = Date()
        let (status, _, headers) = await call("POST", "/v1/flows/quick/runs")
        precondition(status == 202, "POST answered \(status)")
        let location = headers["Location"] as? String ?? headers["location"] as? String ?? ""
        lastRun = Int(location.split(separator: "/").last ?? "1") ?? 1
        var started: Date?
        while started == nil {
            let (_, run, _) = await call("GET", location)
            if let jobs = run["jobs"] as? [[String: Any]], let text = jobs.first?["started_at"] as? String { started = formatter.date(from: text) }
            if started == nil { try? await Task.sleep(for: .milliseconds(2)) }
        }
        latencies.append(started!.timeIntervalSince(sent) * 1000)
        while (await call("GET", location)).1["finished_at"] is NSNull { try? await Task.sleep(for: .milliseconds(2)) }
    }
    line("api POST …/runs → first runner started", latencies, unit: "ms", target: "p50 ≤ 10 ms, p99 ≤ 50 ms (p99 \(String(format: "%.1f", percentile(latencies, 0.99))) ms)")
    // Run-status reads under load.
    let seconds = option("--wrk-seconds", 30)
    let wrk = Process()
    wrk.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    wrk.arguments = ["wrk", "-t2", "-c16", "-d\(seconds)s", "--latency", "-H", "Authorization: Bearer \(token)", base + "/v1/runs/\(lastRun)"]
    let wrkOutput = Pipe()
    wrk.standardOutput = wrkOutput
    wrk.standardError = FileHandle.nullDevice
    if (try? wrk.run()) != nil {
        let text = String(decoding: wrkOutput.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        wrk.waitUntilExit()
        let wanted = text.split(separator: "\n").filter { $0.contains("50%") || $0.contains("99%") || $0.contains("Requests/sec") || $0.contains("Non-2xx") }
        print("api GET /v1/runs/\(lastRun) under wrk -t2 -c16 for \(seconds) s (target p99 ≤ 20 ms): " + wanted.map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: "; "))
    } else {
        print("api: wrk is not installed (apt-get install wrk): the read-under-load figure is skipped")
    }
    // exit() runs no defer: the daemon and its project go explicitly.
    kill(serve.processIdentifier, SIGKILL)
    serve.waitUntilExit()
    try? FileManager.default.removeItem(atPath: root)
    if which == "api" { exit(0) }
}

let registry = PluginRegistry()
await registry.refresh()
/// A first-party connector, or the end of the benchmark saying how to build it.
func firstParty(_ id: String) async -> CatalogEntry {
    guard let entry = try? await registry.resolve(id) else {
        print("error: \(id) not found in \(PluginDirectories.standard().directories); run scripts/build release first")
        exit(3)
    }
    return entry
}
/// The repository this benchmark was built in (its test services and scripts).
let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
let sample = await firstParty("dev.patchbay.sample-data")
let swiftConnector = try? await registry.resolve("dev.patchbay.table-diff")
let noop = await firstParty("dev.patchbay.noop")
let runner = TaskRunner()
print("confinement: \(runner.confinement)")
print("runner: \(runner.runnerExecutable)")

let workspace = NSTemporaryDirectory() + "patchbay-bench-\(getpid())"
defer { try? FileManager.default.removeItem(atPath: workspace) }

// Warm the page cache and the spawner thread once.
_ = runner.runBlocking(TaskSpec(pluginPath: sample.path, mode: .probe), host: Quiet())

if which == "probe" || which == "all" {
    for (name, entry) in [("C", sample), ("Swift", swiftConnector)] {
        guard let entry else { continue }
        var load: [Double] = [], whole: [Double] = []
        for _ in 0..<runs {
            let report = runner.runBlocking(TaskSpec(pluginPath: entry.path, mode: .probe), host: Quiet())
            precondition(report.classification.isSuccess, report.classification.summary)
            load.append(milliseconds(report.loadTime))
            whole.append(milliseconds(report.wallTime))
        }
        line("probe \(name): dlopen + entry + checks", load, unit: "ms", target: "≤ 1 ms")
        line("probe \(name): whole probe incl. runner spawn", whole, unit: "ms", target: "-")
    }
}

if which == "cold" || which == "all" {
    // A no-op task leaves its workspace pristine, so the next one reuses it; a task that writes a table (even
    // an empty one) leaves a workspace that is deleted and made anew, which ext4 makes costly (Workspace.swift).
    let specs = [("cold isolated no-op task (spawn→result→reap)", TaskSpec(pluginPath: noop.path, workspaceRoot: workspace)),
                 ("cold task writing an empty table", TaskSpec(pluginPath: sample.path, parametersJSON: "{\"rows\":0}", workspaceRoot: workspace))]
    var walls = Array(repeating: [Double](), count: specs.count)
    for _ in 0..<runs {
        for (index, spec) in specs.enumerated() {
            let started = ContinuousClock.now
            let report = runner.runBlocking(spec.1, host: Quiet())
            walls[index].append(milliseconds(ContinuousClock.now - started))
            precondition(report.classification.isSuccess, report.classification.summary)
        }
    }
    for (index, spec) in specs.enumerated() { line(spec.0, walls[index], unit: "ms", target: index == 0 ? "≤ 2 ms" : "-") }
}

if which == "sandbox" || which == "all" {
    // The same cold no-op task under each sandbox: what each layer costs on its own is the difference.
    let spec = TaskSpec(pluginPath: noop.path, workspaceRoot: workspace)
    let variants: [(String, Set<String>)] = [("every layer", []), ("without the task's own uid", ["uid"]),
                                             ("without Landlock", ["landlock"]), ("without seccomp", ["seccomp"]),
                                             ("no layer (uid, Landlock, seccomp off)", ["uid", "landlock", "seccomp"])]
    let runners = variants.map { TaskRunner(sandbox: SandboxPolicy(turningOff: $0.1)) }
    var walls = Array(repeating: [Double](), count: variants.count)
    for _ in 0..<runs {
        for (index, variant) in runners.enumerated() {  // interleaved, so drift hits every variant alike
            let started = ContinuousClock.now
            let report = variant.runBlocking(spec, host: Quiet())
            walls[index].append(milliseconds(ContinuousClock.now - started))
            precondition(report.classification.isSuccess, report.classification.summary)
        }
    }
    print("sandbox: \(SandboxPolicy.current.summary)")
    for (index, variant) in variants.enumerated() {
        line("sandbox: cold no-op task, \(variant.0)", walls[index], unit: "ms", target: index == 0 ? "≤ 2 ms" : "-")
    }
}

if which == "records" || which == "all" {
    var rates: [Double] = []
    let rows = 1_000_000
    let spec = TaskSpec(pluginPath: sample.path, parametersJSON: "{\"rows\":\(rows)}", workspaceRoot: workspace)
    for _ in 0..<max(3, min(runs / 10, 7)) {
        let started = ContinuousClock.now
        let report = runner.runBlocking(spec, host: Quiet())
        let seconds = milliseconds(ContinuousClock.now - started) / 1000
        precondition(report.classification.isSuccess && report.tables.first?.rowCount == UInt64(rows), report.classification.summary)
        rates.append(Double(rows) / seconds / 1_000_000)
    }
    line("records through the ABI (5 string columns, 1M rows)", rates, unit: "M/s", target: "≥ 1 M/s")
}

if which == "records" || which == "all" {
    // Reading: the no-op connector reads an input table to its end. The runner streams it, so the runner's
    // peak RSS must be the same for a table ten times larger.
    let largest = option("--input-rows", 2_000_000)
    for rows in [largest / 10, largest] {
        let file = workspace + "-input-\(rows).csv"
        FileManager.default.createFile(atPath: file, contents: nil)
        let handle = FileHandle(forWritingAtPath: file)!
        var chunk = "id,customer,country,amount,created_at\n"
        for row in 0..<rows {
            chunk += "\(row),customer-\(row % 100000),CZ,\(row % 10000).\(row % 100),2026-01-01T00:00:00Z\n"
            if chunk.utf8.count > 1 << 20 { handle.write(Data(chunk.utf8)); chunk = "" }
        }
        handle.write(Data(chunk.utf8))
        try? handle.close()
        defer { try? FileManager.default.removeItem(atPath: file) }
        chmod(file, 0o644)
        let spec = TaskSpec(pluginPath: noop.path, parametersJSON: #"{"count_input":"big"}"#, inputs: [InputTable(name: "big", path: file)],
                            workspaceRoot: workspace)
        let (rates, resident, _) = rowsPerSecondAndResident(spec, rows: rows)
        line("input read by a connector (5 columns, \(rows) rows)", rates, unit: "M/s", target: "-")
        line("  runner peak RSS reading \(rows) rows", resident, unit: "MiB", target: "flat")
    }
}

if which == "diff" || which == "all", let tableDiff = swiftConnector {
    // Two equal tables from sample-data (same seed), compared by key: the rows of both sides per second, and the
    // runner's peak RSS (table-diff packs rows into hash partitions and spills them past its memory budget).
    let rows = option("--diff-rows", 1_000_000)
    let tables = workspace + "-diff"
    try? FileManager.default.createDirectory(atPath: tables, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: tables) }
    chmod(tables, 0o755)
    for name in ["a", "b"] {
        let spec = TaskSpec(pluginPath: sample.path, parametersJSON: #"{"rows":\#(rows),"table":"in.\#(name)"}"#, workspaceRoot: workspace)
        let report = runner.runBlocking(spec, host: DirectoryHost(directory: tables))
        precondition(report.classification.isSuccess, report.classification.summary)
        chmod(tables + "/in.\(name).csv", 0o644)
    }
    let spec = TaskSpec(pluginPath: tableDiff.path, parametersJSON: #"{"key":"id"}"#,
                        inputs: [InputTable(name: "primary", path: tables + "/in.a.csv"), InputTable(name: "secondary", path: tables + "/in.b.csv")],
                        limits: TaskLimits(timeout: .seconds(600), memoryBytes: 4 << 30), workspaceRoot: workspace)
    let (rates, resident, _) = rowsPerSecondAndResident(spec, rows: 2 * rows)
    line("table-diff, \(rows) rows a side (rows of both sides)", rates, unit: "M/s", target: "≥ 1 M/s")
    line("  runner peak RSS", resident, unit: "MiB", target: "≤ 100 MiB")
}

if which == "extract" || which == "all" {
    let rows = option("--extract-rows", 1_000_000)
    let extractor = await firstParty("dev.patchbay.file-extract")
    let directory = workspace + "-extract"
    try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    chmod(directory, 0o755)
    // One row in a hundred has an amount that is not a decimal.
    var text = "id,amount,created,note\n"
    text.reserveCapacity(rows * 48)
    for i in 0..<rows {
        text += "\(i),\(i % 100 == 7 ? "n/a" : "\(i % 5000).\(i % 100)"),2026-12-0\(1 + i % 9)T10:\(10 + i % 50):00Z,note \(i % 977)\n"
    }
    try text.write(toFile: directory + "/orders.csv", atomically: true, encoding: .utf8)
    chmod(directory + "/orders.csv", 0o644)
    for (label, extra) in [("untyped", ""), ("typed, 1% rejected", #","columns":{"id":"integer","amount":"decimal","created":"timestamp"},"onBadRow":"reject""#)] {
        var spec = TaskSpec(pluginPath: extractor.path, parametersJSON: #"{"path":"\#(directory)/orders.csv","table":"in.orders"\#(extra)}"#,
                            limits: TaskLimits(timeout: .seconds(600), memoryBytes: 4 << 30), workspaceRoot: workspace)
        spec.readablePaths = [directory]
        let (rates, resident, _) = rowsPerSecondAndResident(spec, rows: rows)
        line("file-extract, \(rows) CSV rows, \(label)", rates, unit: "M/s", target: "report")
        line("  runner peak RSS", resident, unit: "MiB", target: "report")
    }
}

if which == "http" || which == "all" {
    let rows = option("--http-rows", 1_000_000)
    let extractor = await firstParty("dev.patchbay.http-extract")
    // The demo API's benchmark mode (built beside this program); it prints its port once every page is rendered.
    let server = Process()
    let output = Pipe()
    server.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("patchbay-demo-api")
    server.arguments = ["--bench", String(rows), "10000"]
    server.standardOutput = output
    try server.run()
    servers.withLock { $0.append(server.processIdentifier) }
    defer { kill(server.processIdentifier, SIGKILL); server.waitUntilExit() }
    let announced = String(decoding: output.fileHandleForReading.availableData, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    guard let port = Int(announced) else { print("error: patchbay-demo-api --bench did not start: '\(announced)'"); exit(3) }
    let parameters = #"{"url":"http://127.0.0.1:\#(port)/page","records":"data.items","table":"in.bench","#
        + #""pagination":{"type":"page","param":"page","size_param":"per_page","size":10000,"total":"meta.total"},"#
        + #""columns":{"id":"integer","customer":"string","country":"string","amount":"decimal","created_at":"timestamp"}}"#
    let spec = TaskSpec(pluginPath: extractor.path, parametersJSON: parameters, limits: TaskLimits(timeout: .seconds(600), memoryBytes: 4 << 30),
                        workspaceRoot: workspace, network: .any)
    let (rates, resident, busy) = rowsPerSecondAndResident(spec, rows: rows, runs: runs, written: UInt64(rows),
                                                            host: FirstLinesHost(firstLines: "id,customer,country,amount,created_at\n1,customer-7919,DE,1.01,2026-02-02T01:00:00Z\n"))
    line("http-extract, \(rows) rows × 5 typed columns, pages of 10,000", rates, unit: "M/s", target: "≥ 1 M/s")
    line("  runner peak RSS", resident, unit: "MiB", target: "flat")
    line("  runner CPU / wall", busy, unit: "×", target: "-")
}

if which == "postgres" || which == "all" {
    // postgres-extract from a private PostgreSQL cluster (Tests/Fixtures/services/pg_cluster.sh) into a committed
    // table, side by side with the floor: psql's \copy of the same SELECT to /dev/null, the two taking turns.
    let rows = option("--pg-rows", 1_000_000)
    let extractor = await firstParty("dev.patchbay.postgres-extract")
    let script = repository + "/Tests/Fixtures/services/pg_cluster.sh"
    let cluster = NSTemporaryDirectory() + "patchbay-bench-pg-\(getpid())"
    let password = "bench-\(UInt32.random(in: 0...UInt32.max))"
    func shell(_ arguments: [String], quiet: Bool = false) -> (status: Int32, output: String) {
        let process = Process(), output = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["PGPASSWORD=\(password)"] + arguments
        process.standardOutput = quiet ? FileHandle.nullDevice : output
        do { try process.run() } catch { return (127, "\(error)") }
        let text = quiet ? "" : String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, text)
    }
    let started = shell(["bash", script, "start", cluster, password])
    guard started.status == 0, let port = Int(started.output.trimmingCharacters(in: .whitespacesAndNewlines)) else {
        print("postgres: skipped, no private PostgreSQL cluster could start (\(started.output.prefix(200)))")
        exit(3)
    }
    defer { _ = shell(["bash", script, "stop", cluster]) }
    let psql = [shell(["bash", script, "bin"]).output.trimmingCharacters(in: .whitespacesAndNewlines) + "/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", String(port), "-U", "patchbay", "-d", "postgres"]
    func load(_ count: Int, from first: Int) {
        let sql = "INSERT INTO bench SELECT i, 'customer ' || i, (ARRAY['DE','FR','US','JP'])[1 + i % 4], (i % 100000) / 100.0, "
            + "timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second' FROM generate_series(\(first), \(first + count - 1)) i"
        precondition(shell(psql + ["-c", sql]).status == 0, "loading the bench table failed")
        precondition(shell(psql + ["-c", "VACUUM ANALYZE bench"]).status == 0)
    }
    precondition(shell(psql + ["-c", "CREATE TABLE bench(id int8, customer text, country text, amount numeric(12,2), created_at timestamptz)"]).status == 0)
    load(rows, from: 1)
    let select = "SELECT id, customer, country, amount, created_at FROM bench"
    let parameters = #"{"port":\#(port),"user":"patchbay","query":"\#(select)","table":"in.bench","columns":{"amount":"decimal"}}"#
    let landing = workspace + "/pg-tables"
    try FileManager.default.createDirectory(atPath: landing, withIntermediateDirectories: true)
    let spec = TaskSpec(pluginPath: extractor.path, parametersJSON: parameters, limits: TaskLimits(timeout: .seconds(1200), memoryBytes: 4 << 30),
                        workspaceRoot: workspace, network: .any)
    func extractOnce() -> (seconds: Double, resident: Double, bytes: Double) {
        let started = ContinuousClock.now
        let report = TaskRunner().runBlocking(spec, host: DirectoryHost(directory: landing, credentials: ["#password": password]))
        let seconds = milliseconds(ContinuousClock.now - started) / 1000
        guard report.classification.isSuccess else {
            print("error: postgres-extract failed: \(report.classification.summary)")
            _ = shell(["bash", script, "stop", cluster])
            exit(1)
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: landing + "/in.bench.csv")[.size] as? Int) ?? 0
        return (seconds, Double(report.peakResidentBytes) / 1_048_576, Double(size))
    }
    var ours: [Double] = [], floor: [Double] = [], ratios: [Double] = [], megabytes: [Double] = [], resident: [Double] = []
    for _ in 0..<(arguments.contains("--runs") ? max(3, runs) : 5) {
        let begun = ContinuousClock.now
        precondition(shell(psql + ["-c", "\\copy (\(select)) TO '/dev/null' csv"], quiet: true).status == 0, "psql \\copy failed")
        let copy = milliseconds(ContinuousClock.now - begun) / 1000
        let extraction = extractOnce()
        ours.append(Double(rows) / extraction.seconds / 1_000_000)
        floor.append(Double(rows) / copy / 1_000_000)
        ratios.append(copy / extraction.seconds)
        megabytes.append(extraction.bytes / extraction.seconds / 1_000_000)
        resident.append(extraction.resident)
    }
    line("postgres-extract, \(rows) rows × 5 typed columns", ours, unit: "M/s", target: "≥ 0.8× psql")
    line("  psql \\copy of the same SELECT to /dev/null", floor, unit: "M/s", target: "-")
    line("  ratio: psql time / postgres-extract time", ratios, unit: "×", target: "≥ 0.8")
    line("  committed CSV written", megabytes, unit: "MB/s", target: "-")
    line("  runner peak RSS, \(rows) rows", resident, unit: "MiB", target: "flat")
    // Flat memory: the same extraction over ten times the rows.
    if !arguments.contains("--pg-skip-large") {
        load(rows * 9, from: rows + 1)
        let large = (0..<1).map { _ in extractOnce() }
        line("  runner peak RSS, \(rows * 10) rows", large.map(\.resident), unit: "MiB", target: "flat")
        line("  rate at \(rows * 10) rows", large.map { Double(rows * 10) / $0.seconds / 1_000_000 }, unit: "M/s", target: "-")
    }
}

if which == "flow" || which == "all" {
    // An orchestration of no-op tasks, each in its own runner process, every job, event and state
    // change persisted in SQLite (WAL) — the shape the issue compares with Luigi, Dagster, Prefect, Airflow.
    let phases = option("--phases", 3), tasks = option("--tasks", 100), parallelism = option("--parallelism", 8)
    let root = NSTemporaryDirectory() + "patchbay-bench-flow-\(getpid())"
    defer { try? FileManager.default.removeItem(atPath: root) }
    var yaml = "name: bench\nphases:\n"
    for phase in 0..<phases {
        yaml += "  - id: p\(phase)\n    tasks:\n"
        for task in 0..<tasks { yaml += "      - {id: t\(phase)_\(task), connector: dev.patchbay.noop}\n" }
    }
    let project = Project(root: root)
    try FileManager.default.createDirectory(atPath: project.flowsDirectory, withIntermediateDirectories: true)
    try yaml.write(toFile: project.flowsDirectory + "/bench.yaml", atomically: true, encoding: .utf8)
    if arguments.contains("--cli") {
        // The whole command, as a user runs it: `patchbay run bench`, a child process, start to exit.
        let executable = URL(fileURLWithPath: runner.runnerExecutable).deletingLastPathComponent().appendingPathComponent("patchbay").path
        func command(_ arguments: [String] = ["run", "bench", "--project", root, "--parallelism", String(parallelism), "--output", "json"]) throws -> Double {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            let started = ContinuousClock.now
            try process.run()
            process.waitUntilExit()
            precondition(process.terminationStatus == 0, "patchbay \(arguments.joined(separator: " ")) exited \(process.terminationStatus)")
            return milliseconds(ContinuousClock.now - started) / 1000
        }
        _ = try command(["init", root])  // the project's keys and master token, as a user makes them
        _ = try command()  // the store and the plugin catalog, as a project's first run makes them
        let walls = try (0..<runs).map { _ in try command() }
        line("flow \(phases)×\(tasks) no-op tasks, `patchbay run`, whole process", walls, unit: "s", target: "≤ 1.5× xargs -P \(parallelism)")
        exit(0)
    }
    let engine = try Engine(project: project, registry: registry)
    let flow = try await engine.load(flowFile: project.flowFile("bench"))
    var walls: [Double] = [], perTask: [Double] = [], hostCPU: [Double] = [], runnerCPU: [Double] = []
    for _ in 0..<runs {
        let cpuBefore = cpuSeconds()
        let started = ContinuousClock.now
        let run = try engine.submit(flow, options: RunOptions(parallelism: parallelism))
        let final = await engine.execute(run)
        let wall = milliseconds(ContinuousClock.now - started)
        precondition(final.status == .success, "bench run ended \(final.status): \(final.message ?? "")")
        walls.append(wall / 1000)
        perTask.append(wall / Double(phases * tasks))
        let cpuAfter = cpuSeconds()
        hostCPU.append((cpuAfter.host - cpuBefore.host) * 1000 / Double(phases * tasks))
        runnerCPU.append((cpuAfter.runners - cpuBefore.runners) * 1000 / Double(phases * tasks))
    }
    let jobs = try engine.jobs(run: try engine.run().id!)
    precondition(jobs.count == phases * tasks && jobs.allSatisfy { $0.status == .success && $0.runnerPID != nil })
    line("flow \(phases)×\(tasks) no-op tasks, parallelism \(parallelism), persisted", walls, unit: "s", target: "≤ 0.6 s")
    line("  wall time per task", perTask, unit: "ms", target: "-")
    line("  CPU per task: host (engine, store, supervisor)", hostCPU, unit: "ms", target: "-")
    line("  CPU per task: runner process", runnerCPU, unit: "ms", target: "-")
}
