import Foundation
import PatchbayCore
import PatchbayRunner
import PatchbayWire
import Testing

/// One way a connector goes wrong, and how the host must describe it.
struct Misbehaviour: Sendable, CustomTestStringConvertible {
    let plugin: String
    let kind: String
    /// Every one of these must appear in the one-line summary.
    let wording: [String]
    var limits = TaskLimits(timeout: .seconds(20), memoryBytes: 256 << 20, processes: 32, killGrace: .milliseconds(300))
    var testDescription: String { "\(plugin) → \(kind)" }
}

func runFixture(_ plugin: String, mode: RunnerMode = .run, limits: TaskLimits = TaskLimits(timeout: .seconds(20), killGrace: .milliseconds(300)),
                host: RecordingHost = RecordingHost(), parameters: String = "{}") async throws -> TaskReport {
    let spec = TaskSpec(pluginPath: try Fixtures.plugin(plugin), mode: mode, parametersJSON: parameters, limits: limits)
    return await TaskRunner().run(spec, host: host)
}

@Suite("A misbehaving connector becomes a clear task error")
struct IsolationTests {
    static let cases: [Misbehaviour] = [
        Misbehaviour(plugin: "segfault", kind: "crashed", wording: ["SIGSEGV", "in run()"]),
        Misbehaviour(plugin: "abort", kind: "crashed", wording: ["SIGABRT", "the ledger does not balance"]),
        Misbehaviour(plugin: "exit3", kind: "exited", wording: ["exited with status 3", "in run()", "without reporting a result"]),
        Misbehaviour(plugin: "swift_fatal", kind: "crashed", wording: ["Fatal error", "the invariant of the test connector broke"]),
        Misbehaviour(plugin: "loop", kind: "timed_out", wording: ["timed out after 1.0 s", "stopped with SIGTERM"],
                     limits: TaskLimits(timeout: .seconds(1), killGrace: .milliseconds(300))),
        Misbehaviour(plugin: "ignore_term", kind: "timed_out", wording: ["timed out after 1.0 s", "ignored SIGTERM", "SIGKILL"],
                     limits: TaskLimits(timeout: .seconds(1), killGrace: .milliseconds(300))),
        Misbehaviour(plugin: "cooperative", kind: "timed_out", wording: ["timed out after 1.0 s", "stopped when asked"],
                     limits: TaskLimits(timeout: .seconds(1), killGrace: .seconds(5))),
        Misbehaviour(plugin: "memory_bomb", kind: "out_of_memory", wording: ["ran out of memory", "limit 64 MB"],
                     limits: TaskLimits(timeout: .seconds(30), memoryBytes: 64 << 20, killGrace: .milliseconds(300))),
        Misbehaviour(plugin: "fork_bomb", kind: "process_limit", wording: ["process limit", "16 processes"],
                     limits: TaskLimits(timeout: .seconds(30), processes: 16, killGrace: .milliseconds(300))),
        Misbehaviour(plugin: "garbage_frames", kind: "protocol_violation", wording: ["broke the runner protocol", "exceeds"]),
        Misbehaviour(plugin: "truncated_frame", kind: "protocol_violation", wording: ["closed inside a frame"]),
        Misbehaviour(plugin: "lying_result", kind: "protocol_violation", wording: ["unknown message kind 0x7e"]),
        Misbehaviour(plugin: "constructor_crash", kind: "crashed", wording: ["SIGSEGV", "while loading the plugin", "ELF constructors"]),
        Misbehaviour(plugin: "abi_major", kind: "refused_to_load", wording: ["ABI major version mismatch", "built for connector ABI 2.0"]),
        Misbehaviour(plugin: "small_descriptor", kind: "refused_to_load", wording: ["descriptor smaller than ABI v1", "8 bytes"]),
        Misbehaviour(plugin: "oversized_descriptor", kind: "refused_to_load",
                     wording: ["its descriptor is 4096 bytes", "ABI 1.5's is 152", "sizeof(patchbay_connector)"]),
        Misbehaviour(plugin: "symlinked_table", kind: "failed", wording: ["tables could not be stored", "is not a plain file of the workspace", "a link"]),
        Misbehaviour(plugin: "linked_directory", kind: "failed", wording: ["tables could not be stored", "out/tables/out.moved.csv is not a plain file of the workspace"]),
        Misbehaviour(plugin: "hardlinked_table", kind: "failed", wording: ["tables could not be stored", "has other names (a hard link"]),
        Misbehaviour(plugin: "lying_rows", kind: "failed", wording: ["tables could not be stored", "reported 5 rows, the file holds 1"]),
        Misbehaviour(plugin: "second_result", kind: "protocol_violation", wording: ["a message arrived after the result"]),
        Misbehaviour(plugin: "oversized_state", kind: "protocol_violation", wording: ["component state of 2097160 bytes", "limit 1048576"]),
        Misbehaviour(plugin: "forged_table", kind: "failed", wording: ["tables could not be stored", "'../escaped', which is not a valid table name"]),
        Misbehaviour(plugin: "forged_checkpoint", kind: "protocol_violation",
                     wording: ["a checkpoint with table 'out.escaped' at 'out/tables/../escaped.csv'", "not at out/tables/out.escaped.csv"]),
        Misbehaviour(plugin: "undeclared_output", kind: "protocol_violation",
                     wording: ["an output 'answr', which the connector does not declare (it declares: answer)"]),
        Misbehaviour(plugin: "undeclared_table", kind: "protocol_violation",
                     wording: ["a table 'out.other', which the connector does not declare (it declares: {table} (parameter not set), out.fixed)"]),
        Misbehaviour(plugin: "forged_undeclared", kind: "failed",
                     wording: ["tables could not be stored", "table 'out.sneaky': the connector does not declare it"]),
        Misbehaviour(plugin: "bad_declaration", kind: "refused_to_load",
                     wording: ["output_tables[1] '{a}{b}' is neither a table name (bucket.table) nor a pattern with one {parameter}"]),
        Misbehaviour(plugin: "reserved_set", kind: "refused_to_load", wording: ["descriptor field 'reserved' is 7; it must be 0"]),
        Misbehaviour(plugin: "missing_entry", kind: "refused_to_load", wording: ["missing symbol", "patchbay_connector_entry"]),
        Misbehaviour(plugin: "not_elf", kind: "refused_to_load", wording: ["not an ELF shared library"]),
        Misbehaviour(plugin: "truncated", kind: "refused_to_load", wording: ["truncated"]),
        Misbehaviour(plugin: "missing_library", kind: "refused_to_load", wording: ["missing library", "libpbgone.so"]),
    ]

    @Test("each misbehaviour gets its own classification and wording", arguments: cases)
    func classifies(_ behaviour: Misbehaviour) async throws {
        let report = try await runFixture(behaviour.plugin, limits: behaviour.limits)
        #expect(report.classification.kind == behaviour.kind, "\(report.classification.summary)")
        for phrase in behaviour.wording {
            #expect(report.classification.summary.contains(phrase), "'\(phrase)' missing from: \(report.classification.summary)")
        }
        #expect(report.tables.isEmpty, "a failed task hands back no table")
    }

    @Test("a table a runner lies about (a path outside its workspace, a link swapped in) is never moved", arguments: ["forged_table", "symlinked_table", "linked_directory", "hardlinked_table", "lying_rows", "forged_undeclared"])
    func lyingTablesAreNotMoved(_ plugin: String) async throws {
        // Given a host that lands committed tables in a directory of its own
        let destination = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: destination) }
        let host = RecordingHost(destination: destination)
        // When a connector reports a table it should not be trusted with
        let report = try await runFixture(plugin, host: host)
        // Then the task fails, the host was never asked to take a table, and nothing landed anywhere
        #expect(!report.classification.isSuccess, "\(report.classification.summary)")
        #expect(host.tables.isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: destination).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: (destination as NSString).deletingLastPathComponent + "/escaped.csv"))
    }

    @Test("the host survives every misbehaviour in one run, and a good task right after succeeds")
    func hostSurvives() async throws {
        for behaviour in Self.cases where behaviour.plugin != "memory_bomb" && behaviour.plugin != "cooperative" {
            let report = try await runFixture(behaviour.plugin, limits: behaviour.limits)
            #expect(!report.classification.isSuccess, "\(behaviour.plugin) should not succeed")
        }
        let destination = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: destination) }
        let host = RecordingHost(destination: destination)
        let report = try await runFixture("good", host: host)
        #expect(report.classification == .succeeded)
        #expect(report.outputs.first { $0.name == "answer" }?.value == Array("42".utf8))
        let table = try String(contentsOfFile: destination + "/out.good.csv", encoding: .utf8)
        #expect(table == "id,name\n1,one\n2,\"two, with \"\"quotes\"\"\"\n")
    }

    @Test("no process a connector starts outlives its task, not even a daemon that left the session")
    func leftoverProcessesAreKilled() async throws {
        let report = try await runFixture("leave_children")
        #expect(report.classification == .succeeded, "\(report.classification.summary)")
        let pids = report.outputs.reduce(into: [String: Int32]()) { $0[$1.name] = Int32(String(decoding: $1.value, as: UTF8.self)) }
        let child = try #require(pids["child_pid"])
        // (This once counted 0 when the task's cgroup pair was reused within a second of its last read: cgroup v1's
        // cached pid list, see TaskCgroups.processes(). The host's own lines and the confinement say which sweep ran.)
        #expect(report.leftoverProcessesKilled >= 1, "\(report.confinement) \(report.logs.filter { $0.source == .host }.map(\.message))")
        #expect(!isAlive(child), "the child in the task's session was left running")
        #expect(report.logs.contains { $0.source == .host && $0.message.contains("left running") })
    }

    @Test("a daemon that left its session is killed with its task's cgroup",
          .enabled(if: Fixtures.hasCgroups, "without a writable cgroup v1 hierarchy a double-forked daemon can escape"))
    func daemonIsKilledWithItsCgroup() async throws {
        let report = try await runFixture("leave_children")
        #expect(report.classification == .succeeded, "\(report.classification.summary)")
        let pids = report.outputs.reduce(into: [String: Int32]()) { $0[$1.name] = Int32(String(decoding: $1.value, as: UTF8.self)) }
        let daemon = try #require(pids["daemon_pid"])
        #expect(!isAlive(daemon), "the daemon escaped its task's cgroup")
    }

    @Test("100 MB on stdout does not flood the host: the log keeps a bounded part and says so")
    func stdoutFlood() async throws {
        // The bound on time is the task's own deadline: a host that choked on the flood would have the task
        // timed out (a wall-clock check beside it measured the other suites running in parallel, not this one).
        let report = try await runFixture("stdout_flood", limits: TaskLimits(timeout: .seconds(60)))
        #expect(report.classification == .succeeded, "\(report.classification.summary)")
        #expect(report.logs.count <= 20_010)
        #expect(report.logs.contains { $0.source == .host && $0.message.contains("output truncated") })
    }

    @Test("a credential reaches the connector through the callback; an undeclared one is denied")
    func credentials() async throws {
        let report = try await runFixture("credential", host: RecordingHost(credentials: ["api_token": "s3cret"]))
        #expect(report.classification == .succeeded, "\(report.classification.summary)")
        let outputs = Dictionary(uniqueKeysWithValues: report.outputs.map { ($0.name, String(decoding: $0.value, as: UTF8.self)) })
        #expect(outputs["credential_length"] == "6")
        #expect(outputs["undeclared_status"] == "3")  // PATCHBAY_DENIED

        let missing = try await runFixture("credential")
        #expect(missing.classification == .failed(.config, message: "credential missing"))
    }

    @Test("cancelling a running task stops it and records how")
    func cancel() async throws {
        let control = TaskControl()
        let spec = TaskSpec(pluginPath: try Fixtures.plugin("cooperative"), limits: TaskLimits(timeout: .seconds(30), killGrace: .seconds(5)))
        async let report = TaskRunner().run(spec, host: RecordingHost(), control: control)
        try await Task.sleep(for: .milliseconds(300))
        control.cancel()
        let finished = await report
        #expect(finished.classification == .cancelled(how: .cancelRequested), "\(finished.classification.summary)")
    }

    func isAlive(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0 else { return false }
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        guard let close = stat.lastIndex(of: ")") else { return false }
        return !stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
    }
}
