import Foundation
import PatchbayCore
import PatchbayRunner
import PatchbayWire
import Testing

/// Paths of the repository, the build, and the test-only connectors (compiled once per test run).
enum Fixtures {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let binDirectory = URL(fileURLWithPath: TaskRunner.defaultRunnerPath).deletingLastPathComponent().path
    static let patchbay = binDirectory + "/patchbay"
    static let sdkInclude = repository + "/SDK/include"

    /// Does this machine give the runner a writable cgroup v1 hierarchy (per-task process and memory limits)?
    static var hasCgroups: Bool {
        if case .cgroupV1 = ConfinementMode.current { return true }
        return false
    }
    static let connectorSources = repository + "/Tests/Fixtures/connectors"

    /// Behaviours of misbehaving.c, each built as lib<name>.so.
    static let behaviours = [
        "good", "segfault", "abort", "exit3", "loop", "ignore_term", "cooperative", "memory_bomb", "fork_bomb",
        "leave_children", "stdout_flood", "garbage_frames", "truncated_frame", "lying_result", "credential",
        "constructor_crash", "abi_major", "small_descriptor", "oversized_descriptor", "newer_minor", "missing_entry", "reserved_set", "symlinked_table", "forged_table",
        "entry_forks_and_hangs", "linked_directory", "hardlinked_table", "lying_rows", "second_result", "oversized_state",
        "undeclared_output", "undeclared_table", "forged_undeclared", "bad_declaration", "forged_checkpoint",
    ]

    /// Compiles everything once; a failure to compile fails the tests that need it.
    static let built: Result<String, FixtureError> = compileAll()

    static func plugin(_ name: String) throws -> String {
        let directory = try built.get()
        let path = directory + "/lib\(name).so"
        guard FileManager.default.fileExists(atPath: path) else { throw FixtureError(message: "fixture \(name) was not built") }
        return path
    }

    /// Starts a service whose first line on stdout says where it listens, and returns that line (its stderr is dropped).
    /// Starts `process` and returns what it wrote to `output` up to its first line, or up to `until`.
    static func start(_ process: Process, firstLineTo output: Pipe, until marker: String = "\n") throws -> String {
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        var line = ""
        while !line.contains(marker) {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line += String(decoding: chunk, as: UTF8.self)
        }
        return line
    }

    /// A private directory for one test, removed by the caller.
    static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "patchbay-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        chmod(path, 0o755)  // runners may run as an unprivileged user
        return path
    }

    /// A private directory holding `files` (name → contents), each readable by a runner
    /// that may run as an unprivileged user. Removed by the caller.
    static func directory(with files: [String: String]) throws -> String {
        let directory = try temporaryDirectory()
        for (name, contents) in files {
            try contents.write(toFile: directory + "/" + name, atomically: true, encoding: .utf8)
            chmod(directory + "/" + name, 0o644)
        }
        return directory
    }

    struct FixtureError: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }

    /// Blocking work (a child process, a socket read) on a thread of Dispatch's, never on Swift's cooperative pool:
    /// an async test that blocks a pool thread while a Task it awaits needs the pool can starve that Task (the pool
    /// has one thread per core, two here), which made a checkpoint test's run wait 120 s for a thread under load.
    static func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
        }
    }

    @discardableResult
    static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                    input: Data? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let out = Pipe(), err = Pipe(), stdin = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = stdin
        try process.run()
        if let input { stdin.fileHandleForWriting.write(input) }
        try? stdin.fileHandleForWriting.close()
        // Read both pipes while the process runs, so a chatty one never blocks on a full pipe.
        nonisolated(unsafe) var errorData = Data()
        let reader = Thread { errorData = err.fileHandleForReading.readDataToEndOfFile() }
        reader.start()
        let outputData = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        while !reader.isFinished { usleep(1000) }
        return (process.terminationStatus, String(decoding: outputData, as: UTF8.self), String(decoding: errorData, as: UTF8.self))
    }

    private static func compileAll() -> Result<String, FixtureError> {
        do {
            let directory = NSTemporaryDirectory() + "patchbay-fixtures-\(getpid())"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            chmod(directory, 0o755)
            let source = connectorSources + "/misbehaving.c"
            var jobs: [[String]] = behaviours.map { name in
                ["-DBEHAVIOUR_\(name.uppercased())", "-I", sdkInclude, source, "-o", "\(directory)/lib\(name).so"]
            }
            jobs.append(["-DBEHAVIOUR_GOOD", "-DCONNECTOR_ID=\"test.versions\"", "-DCONNECTOR_VERSION=\"1.2.0\"", "-I", sdkInclude, source, "-o", "\(directory)/libversions_1_2_0.so"])
            jobs.append(["-DBEHAVIOUR_GOOD", "-DCONNECTOR_ID=\"test.versions\"", "-DCONNECTOR_VERSION=\"1.10.0\"", "-I", sdkInclude, source, "-o", "\(directory)/libversions_1_10_0.so"])
            jobs.append(["-DBEHAVIOUR_GOOD", "-DCONNECTOR_ID=\"test.hot-added\"", "-I", sdkInclude, source, "-o", "\(directory)/libhot_added.so"])
            jobs.append(["-I", repository + "/Tests/Fixtures/abi-v1.0", connectorSources + "/frozen_v1.c", "-o", "\(directory)/libfrozen_v1.so"])
            let failures = Failures()
            let commands = jobs
            DispatchQueue.concurrentPerform(iterations: commands.count) { index in
                do {
                    let result = try run("/usr/bin/env", ["cc", "-shared", "-fPIC", "-O1", "-std=c99"] + commands[index])
                    if result.status != 0 { failures.add("cc \(commands[index].joined(separator: " ")):\n\(result.stderr)") }
                } catch {
                    failures.add("cc: \(error)")
                }
            }
            // A connector whose dependency is gone: link against libpbgone.so, then delete it.
            let gone = directory + "/gone.c"
            try "int pbgone_function(void) { return 1; }\n".write(toFile: gone, atomically: true, encoding: .utf8)
            try run("/usr/bin/env", ["cc", "-shared", "-fPIC", gone, "-o", "\(directory)/libpbgone.so"])
            let linked = try run("/usr/bin/env", ["cc", "-shared", "-fPIC", "-DBEHAVIOUR_MISSING_LIBRARY", "-I", sdkInclude, source,
                                                  "-L", directory, "-lpbgone", "-Wl,-rpath,\(directory)", "-o", "\(directory)/libmissing_library.so"])
            if linked.status != 0 { failures.add("missing_library: \(linked.stderr)") }
            try FileManager.default.removeItem(atPath: "\(directory)/libpbgone.so")
            // Not ELF, and a truncated ELF.
            try "this is a text file, not a shared library\n".write(toFile: "\(directory)/libnot_elf.so", atomically: true, encoding: .utf8)
            if let good = FileManager.default.contents(atPath: "\(directory)/libgood.so") {
                try good.prefix(good.count / 3).write(to: URL(fileURLWithPath: "\(directory)/libtruncated.so"))
            }
            // A Swift connector on PatchbaySDK, compiled with the SDK sources in one module.
            let sdkSources = try FileManager.default.contentsOfDirectory(atPath: repository + "/SDK/Sources/PatchbaySDK")
                .filter { $0.hasSuffix(".swift") }.map { repository + "/SDK/Sources/PatchbaySDK/" + $0 }
            let swift = try run("/usr/bin/env", ["swiftc", "-emit-library", "-parse-as-library", "-module-name", "PatchbaySDK",
                                                 "-suppress-warnings", "-I", sdkInclude] + sdkSources
                                + [connectorSources + "/fatal_error.swift", "-o", "\(directory)/libswift_fatal.so"])
            if swift.status != 0 { failures.add("swiftc: \(swift.stderr)") }
            if let message = failures.message { return .failure(FixtureError(message: message)) }
            return .success(directory)
        } catch {
            return .failure(FixtureError(message: "building fixtures: \(error)"))
        }
    }

    final class Failures: @unchecked Sendable {
        // Guarded by `lock`: every access below takes it.
        private let lock = NSLock()
        private var messages: [String] = []
        func add(_ message: String) { lock.withLock { messages.append(message) } }
        var message: String? { lock.withLock { messages.isEmpty ? nil : messages.joined(separator: "\n") } }
    }
}

/// A host that records events and answers credentials from a dictionary.
final class RecordingHost: TaskHost, @unchecked Sendable {
    // Guarded by `lock`: every access below takes it.
    private let lock = NSLock()
    private var recorded: [TaskEvent] = []
    private var committed: [TableFile] = []
    let credentials: [String: String]
    let destination: String?

    init(credentials: [String: String] = [:], destination: String? = nil) {
        self.credentials = credentials
        self.destination = destination
    }

    func credential(named name: String, for descriptor: ConnectorDescriptor?) -> CredentialAnswer {
        credentials[name].map { .value(Array($0.utf8)) } ?? .notFound
    }

    func handle(_ event: TaskEvent) { lock.withLock { recorded.append(event) } }

    func commit(tables: [TableFile]) throws {
        if let destination { try DirectoryTableSink(directory: destination).commit(tables) }
        lock.withLock { committed.append(contentsOf: tables) }
    }

    var events: [TaskEvent] { lock.withLock { recorded } }
    var tables: [TableFile] { lock.withLock { committed } }
}
