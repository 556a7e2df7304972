import Foundation
import PatchbayCore
import PatchbayEngine
import PatchbayRegistry
import PatchbayRunner
import Testing

/// A connector that wants out, run as a flow task through real runners, as CI runs it (root, cgroups writable).
@Suite("The sandbox holds a hostile connector")
struct SandboxTests {
    /// A TCP port on loopback that accepts, for the connector to try.
    static func listeningPort() throws -> (socket: Int32, port: UInt16) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in(sin_family: sa_family_t(AF_INET), sin_port: 0,
                                  sin_addr: in_addr(s_addr: UInt32(0x7F00_0001).bigEndian), sin_zero: (0, 0, 0, 0, 0, 0, 0, 0))
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        try withUnsafeMutablePointer(to: &address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                guard bind(fd, raw, length) == 0, listen(fd, 4) == 0, getsockname(fd, raw, &length) == 0 else {
                    throw Fixtures.FixtureError(message: "cannot listen on loopback: \(String(cString: strerror(errno)))")
                }
            }
        }
        return (fd, UInt16(bigEndian: address.sin_port))
    }

    @Test("every escape is denied, each refused system call is named, the host finishes the run, and a good task after succeeds",
          .enabled(if: getuid() == 0, "the sandbox's own uid per task needs the host to run as root (CI does)"))
    func escapesAreDenied() async throws {
        // Given a project, a file in a workspace of another task, a file in the host's working directory, and a port that accepts
        let listener = try Self.listeningPort()
        defer { close(listener.socket) }
        let project = try TestProject(files: ["flows/h.yaml": "name: h\nphases: []\n"])
        defer { project.remove() }
        let victimDirectory = project.project.workDirectory + "/task-\(getpid())-victim"
        try FileManager.default.createDirectory(atPath: victimDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try "another task's data".write(toFile: victimDirectory + "/data.csv", atomically: true, encoding: .utf8)
        let hostFile = try #require(try FileManager.default.contentsOfDirectory(atPath: FileManager.default.currentDirectoryPath)
            .first { !$0.hasPrefix(".") && FileManager.default.isReadableFile(atPath: $0) })
        let escapes = ["ptrace", "mount", "bpf", "unshare"]
        try """
            name: h
            phases:
              - id: attack
                tasks:
                  - id: probe
                    connector: test.hostile
                    parameters: {attack: probe, key: "\(project.project.masterKeyPath)", project: "\(project.project.root)",
                                 victim: "\(victimDirectory)/data.csv", proc: "\(hostFile)", port: "\(listener.port)"}
                  - {id: kill_parent, connector: test.hostile, parameters: {attack: kill_parent}}
            \(escapes.map { "      - {id: \($0), connector: test.hostile, continueOnFailure: true, parameters: {attack: \($0)}}" }.joined(separator: "\n"))
              - id: after
                tasks:
                  - {id: good, connector: dev.patchbay.noop, parameters: {output_name: ok, output_value: "yes"}}
            """.write(toFile: project.project.root + "/flows/h.yaml", atomically: true, encoding: .utf8)

        // When the flow runs
        let (run, jobs) = try await project.run("h")

        // Then every attempt that does not end the task was denied, each for a reason
        let outputs = try project.outputs(try #require(jobs["probe"]))
        let attempts = ["read_key", "read_host_cwd", "read_host_environ", "read_key_walking_up", "read_shadow", "read_victim",
                        "write_project", "write_tmp", "signal_host", "open_socket"]
        for attempt in attempts {
            let said = try #require(outputs[attempt], "the connector did not report '\(attempt)'")
            #expect(said.hasPrefix("denied ("), "\(attempt): \(said)")
        }
        #expect(try project.outputs(try #require(jobs["kill_parent"]))["kill_parent"]?.hasPrefix("denied (") == true)
        #expect(!FileManager.default.fileExists(atPath: project.project.root + "/pwned.txt"))
        #expect(!FileManager.default.fileExists(atPath: "/tmp/patchbay-hostile-was-here"))
        // And each refused call ended its task, named, as a system error
        for escape in escapes {
            let job = try #require(jobs[escape])
            #expect(job.status == .error && job.failureClass == .system, "\(escape): \(job.status) \(job.message ?? "")")
            #expect(job.message?.hasPrefix("refused system call \(escape)") == true, "\(escape): \(job.message ?? "")")
        }
        // And the host finished the run, and the good task after it succeeded
        #expect(run.status == .warning, "\(run.message ?? "")")
        #expect(jobs["good"]?.status == .success)
        // And each job records what held it, which `jobs show` prints
        let held = try #require(jobs["good"]?.sandbox)
        #expect(held.hasPrefix("uid 79") && held.contains("seccomp") && held.contains("network none"), "\(held)")
        let shown = try project.patchbay(["jobs", "show", String(run.id!)])
        #expect(shown.stdout.contains("sandbox: \(held)"), "\(shown.stdout)")
    }

    @Test("a project and plugins under a directory only its owner may enter still run: the task never walks above its workspace",
          .enabled(if: getuid() == 0, "the sandbox's own uid per task needs the host to run as root (CI does)"))
    func privateTreesRun() throws {
        // Given a directory of mode 0700 (as mktemp -d makes it) holding the plugins and the project
        let root = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        chmod(root, 0o700)
        let plugins = root + "/plugins"
        try FileManager.default.copyItem(atPath: try FirstParty.directory.get(), toPath: plugins)
        let run = { (arguments: [String]) in try Fixtures.run(Fixtures.patchbay, arguments + ["--plugin-dir", plugins]) }
        #expect(try run(["init", root + "/project"]).status == 0)
        // When its example flow runs (extractions write tables, a Swift validation reads them)
        let result = try run(["run", "orders", "--project", root + "/project"])
        // Then every task succeeds
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("4 success"), "\(result.stdout)")
    }

    @Test("a connector that SIGKILLs its parent does not stop `patchbay task run`",
          .enabled(if: getuid() == 0, "the sandbox's own uid per task needs the host to run as root (CI does)"))
    func taskRunSurvivesItsConnector() throws {
        let plugin = try FlowFixtures.directory.get() + "/libhostile.so"
        let result = try FirstParty.patchbay(["task", "run", plugin, "--param", "attack=kill_parent", "--output", "json"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("denied (Operation not permitted)"))
        #expect(result.stdout.contains(#""sandbox" : "uid 79"#), "\(result.stdout)")
    }

    @Test("a connector that declares one TCP port reaches that port and no other; --network none takes even that away",
          .enabled(if: SandboxPolicy.current.landlockABI >= 4, "Landlock TCP rules need ABI 4 (Linux 6.7)"))
    func declaredPortOnly() throws {
        // Given two ports that accept, and a connector built to declare the first (ABI 1.1)
        let allowed = try Self.listeningPort(), other = try Self.listeningPort()
        defer { close(allowed.socket); close(other.socket) }
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let plugin = directory + "/libhostile_net.so"
        let build = try Fixtures.run("/usr/bin/env", ["cc", "-shared", "-fPIC", "-std=c99", "-I", Fixtures.sdkInclude, "-DDECLARED_PORT=\(allowed.port)",
                                                      Fixtures.connectorSources + "/hostile.c", "-o", plugin])
        try #require(build.status == 0, "\(build.stderr)")
        func attempt(_ port: UInt16, _ extra: [String] = []) throws -> String {
            let result = try FirstParty.patchbay(["task", "run", plugin, "--param", "attack=probe", "--param", "port=\(port)", "--output", "json"] + extra)
            let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result.stderr)")
            let outputs = json["outputs"] as? [[String: Any]] ?? []
            return outputs.first { $0["name"] as? String == "open_socket" }?["value"] as? String ?? "no report"
        }
        // When it connects to each, Then only the declared one answers
        #expect(try attempt(allowed.port) == "ALLOWED (connected)")
        #expect(try attempt(other.port).hasPrefix("denied ("))
        // And narrowed to no network, it cannot open an internet socket at all
        #expect(try attempt(allowed.port, ["--network", "none"]).hasPrefix("denied (Permission denied)"))
        // And the declaration is shown where a user decides to install it; widening it is refused
        let inspect = try FirstParty.patchbay(["plugins", "inspect", plugin])
        #expect(inspect.stdout.contains("network       outbound TCP to port \(allowed.port)"), "\(inspect.stdout)")
        let widen = try FirstParty.patchbay(["task", "run", plugin, "--network", "any"])
        #expect(widen.status == 4 && widen.stderr.contains("never widen it"), "\(widen.stderr)")
    }

    @Test("with Landlock forced off, the task's own uid still keeps the master key and the project out of reach",
          .enabled(if: getuid() == 0, "the sandbox's own uid per task needs the host to run as root (CI does)"))
    func layersHoldWithOneOff() throws {
        // Given a key file only its owner may read, and a project directory only its owner may write
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Data(repeating: 7, count: 32).write(to: URL(fileURLWithPath: directory + "/master.key"))
        chmod(directory + "/master.key", 0o600)
        let plugin = try FlowFixtures.directory.get() + "/libhostile.so"
        // When the connector runs with one layer forced off
        let result = try Fixtures.run(Fixtures.patchbay, ["task", "run", plugin, "--param", "attack=probe", "--param", "key=\(directory)/master.key",
                                                          "--param", "project=\(directory)", "--output", "json"],
                                      environment: ["PATCHBAY_SANDBOX_OFF": "landlock", "PATH": "/usr/bin:/bin"])
        // Then the key and the project stay out of reach
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains(#""name" : "read_key""#))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let outputs = (json["outputs"] as? [[String: Any]] ?? []).reduce(into: [String: String]()) { $0[$1["name"] as? String ?? ""] = $1["value"] as? String }
        #expect(outputs["read_key"]?.hasPrefix("denied (Permission denied)") == true, "\(outputs)")
        #expect(outputs["write_project"]?.hasPrefix("denied (Permission denied)") == true, "\(outputs)")
        // And doctor says which layer is off and why
        let doctor = try Fixtures.run(Fixtures.patchbay, ["doctor"], environment: ["PATCHBAY_SANDBOX_OFF": "landlock", "PATH": "/usr/bin:/bin"])
        #expect(doctor.stdout.contains("landlock: off (turned off by PATCHBAY_SANDBOX_OFF)"), "\(doctor.stdout)")
    }
}

/// Probes run connector code (ELF constructors, the entry point): the same sandbox and limits as a task.
@Suite("A probe is a task like any other")
struct ProbeSandboxTests {
    /// Live processes (zombies, which only wait to be reaped, do not count) named by `prctl(PR_SET_NAME)`.
    static func processes(named name: String) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { pid in
            guard (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?.trimmingCharacters(in: .newlines) == name,
                  let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            return stat[stat.index(close, offsetBy: 2)] != "Z"
        }
    }

    @Test("an entry point that forks 20 daemons and hangs: the probe stops at the user's timeout, and no daemon outlives it")
    func probeLeavesNothingBehind() async throws {
        // Given a plugin whose entry point daemonises 20 children, then never returns
        let plugin = try Fixtures.plugin("entry_forks_and_hangs")
        let limits = TaskLimits(timeout: .seconds(1), memoryBytes: 256 << 20, processes: 64, killGrace: .milliseconds(100))
        // When it is probed under the user's limits
        let entry = await PluginRegistry.probe(path: plugin, limits: limits)
        // Then the probe gave up at the user's timeout, not the default 10 s, and quarantined the plugin
        guard case .quarantined(let reason) = entry.status else { Issue.record("a hanging entry point was not quarantined"); return }
        #expect(reason.contains("timed out after 1.0 s"), "\(reason)")
        // And none of the daemons is alive
        #expect(Self.processes(named: "pb-probe-daemon").isEmpty, "daemons outlived their probe")
    }
}

@Suite("The runner's descriptor frame is the connector's word")
struct DescriptorTrustTests {
    @Test("a plugin that describes itself at run time otherwise than at its probe is a protocol violation, not a new grant")
    func changedDescriptorIsRefused() async throws {
        // Given the descriptor a plugin gave at its probe, as the catalog keeps it
        let plugin = try Fixtures.plugin("credential")
        let probed = try #require(await PluginRegistry.probe(path: plugin).descriptor)
        // When it runs and describes itself with one more credential than the catalog knows
        var catalog = probed
        catalog.credentialNames = []
        var spec = TaskSpec(pluginPath: plugin, limits: TaskLimits(timeout: .seconds(20)))
        spec.expectedDescriptor = catalog
        let report = await TaskRunner().run(spec, host: RecordingHost(credentials: ["api_token": "t"]))
        // Then the task is killed for it, and no credential was handed over
        #expect(report.classification.kind == "protocol_violation", "\(report.classification.summary)")
        #expect(report.classification.summary.contains("not as it did when probed"))
        #expect(report.outputs.isEmpty)
        // And the same descriptor as probed runs as before
        spec.expectedDescriptor = probed
        let again = await TaskRunner().run(spec, host: RecordingHost(credentials: ["api_token": "t"]))
        #expect(again.classification.kind != "protocol_violation", "\(again.classification.summary)")
    }
}
