import Foundation
import PatchbayCore
@testable import PatchbayEngine
import PatchbayModel
import PatchbayRegistry
import PatchbayRunner
import PatchbayStore
import Synchronization
import Testing

/// Test-only connectors for flows (status_check, secret-echo, auth), built once per test run.
enum FlowFixtures {
    static let directory: Result<String, Fixtures.FixtureError> = {
        do {
            let directory = try Fixtures.temporaryDirectory()
            let builds: [(source: String, library: String, defines: [String])] = [
                ("status_check.c", "libstatus_check.so", []),
                ("secret_echo.c", "libsecret_echo.so", []),
                ("secret_echo.c", "libauth.so", ["-DAUTH"]),
                ("secret_echo.c", "libapi.so", ["-DAPI"]),
                ("hostile.c", "libhostile.so", []),
                ("nonconforming.c", "libnonconforming.so", []),
                ("typed.c", "libtyped.so", []),
                ("rated.c", "librated.so", []),
            ]
            for build in builds {
                let result = try Fixtures.run("/usr/bin/env", ["cc", "-shared", "-fPIC", "-O1", "-std=c99", "-I", Fixtures.sdkInclude]
                                              + build.defines + [Fixtures.connectorSources + "/" + build.source, "-o", directory + "/" + build.library])
                guard result.status == 0 else { return .failure(.init(message: "cc \(build.source): \(result.stderr)")) }
            }
            return .success(directory)
        } catch {
            return .failure(.init(message: "\(error)"))
        }
    }()

    static var pluginDirectories: [String] {
        get throws { [try FirstParty.directory.get(), try directory.get()] }
    }
}

/// A real project in a temporary directory: files, a real SQLite store and an engine that spawns
/// real runner processes. Removed by `remove()`.
struct TestProject {
    let project: Project
    let engine: Engine

    /// `settings`: what patchbay.yaml says after the project's name.
    init(files: [String: String], settings: String = "", time: EngineClock = .system) throws {
        let root = try Fixtures.temporaryDirectory()
        try ("name: test\n" + settings).write(toFile: root + "/patchbay.yaml", atomically: true, encoding: .utf8)
        for (path, contents) in files {
            let full = root + "/" + path
            try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try contents.write(toFile: full, atomically: true, encoding: .utf8)
        }
        project = Project(root: root)
        try project.prepareDirectories()
        let directories = try FlowFixtures.pluginDirectories
        let registry = PluginRegistry(directories: PluginDirectories(directories: directories, installDirectory: directories[0]))
        engine = try Engine(project: project, registry: registry, terminationPollInterval: .milliseconds(20), time: time)
        try engine.bootstrapSecurity()
    }

    /// The engine's store, which a test reads directly to check what was recorded.
    var store: Store { engine.store }

    /// Loads, submits and executes a flow file of the project.
    func run(_ flow: String, only: [String]? = nil, parallelism: Int = 4) async throws -> (RunRecord, [String: JobRecord]) {
        let loaded = try await engine.load(flowFile: project.flowFile(flow))
        let run = try engine.submit(loaded, options: RunOptions(only: only, parallelism: parallelism))
        let final = await engine.execute(run)
        return (final, try jobsByTask(final.id!))
    }

    func jobsByTask(_ run: Int64) throws -> [String: JobRecord] {
        Dictionary(uniqueKeysWithValues: try store.jobs(run: run).map { ($0.taskID, $0) })
    }

    func outputs(_ job: JobRecord) throws -> [String: String] {
        Dictionary(uniqueKeysWithValues: try store.outputs(job: job.id!).map { ($0.name, $0.value ?? "") })
    }

    /// The CLI, pointed at this project and the test plugins.
    func patchbay(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        try Fixtures.run(Fixtures.patchbay, arguments + cliOptions)
    }

    var cliOptions: [String] {
        get throws { ["--project", project.root] + (try FlowFixtures.pluginDirectories).flatMap { ["--plugin-dir", $0] } }
    }

    func remove() { try? FileManager.default.removeItem(atPath: project.root) }
}

/// The largest number of jobs that ran at the same moment, from their recorded start and end times.
func maximumOverlap(_ jobs: [JobRecord]) -> Int {
    var points: [(Date, Int)] = []
    for job in jobs {
        guard let start = job.startedAt, let end = job.finishedAt else { continue }
        points.append((start, 1))
        points.append((end, -1))
    }
    // An end at the same instant as a start counts first: touching is not overlapping.
    points.sort { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
    var current = 0, most = 0
    for (_, delta) in points {
        current += delta
        most = max(most, current)
    }
    return most
}

/// A clock whose sleeps return at once and move its time on: an hour of waiting takes no time.
struct VirtualClock: Clock {
    struct Instant: InstantProtocol {
        var offset: Duration
        func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        func duration(to other: Instant) -> Duration { other.offset - offset }
        static func < (a: Instant, b: Instant) -> Bool { a.offset < b.offset }
    }

    private final class Elapsed: Sendable {
        let value = Mutex(Duration.zero)
    }
    private let elapsed = Elapsed()

    var now: Instant { Instant(offset: elapsed.value.withLock { $0 }) }
    var minimumResolution: Duration { .zero }
    /// How far this clock has been moved on by sleeps.
    var total: Duration { elapsed.value.withLock { $0 } }

    func sleep(until deadline: Instant, tolerance: Duration?) async throws {
        try Task.checkCancellation()
        elapsed.value.withLock { $0 = max($0, deadline.offset) }
        await Task.yield()
    }
}
