import Foundation
import PatchbayEngine
import PatchbayCore
import PatchbayRunner
import PatchbayStore
import Testing

@Suite("Nothing lost: a host killed with SIGKILL, and terminate")
struct RecoveryTests {
    static let flow = """
        phases:
          - id: one
            tasks:
              - {id: slow, configuration: counted}
          - id: two
            tasks:
              - {id: after, connector: dev.patchbay.noop}
        """
    static let files = [
        "flows/long.yaml": flow,
        "configurations/counted.yaml": "connector: dev.patchbay.noop\nparameters: {count: true, sleep_ms: 30000}\n",
    ]

    /// Starts `patchbay run FLOW` in the background (with the project's test plugins unless `options` says
    /// otherwise); its stderr goes to `errors` when given.
    func start(_ project: TestProject, _ flow: String, options: [String]? = nil, errors: Pipe? = nil) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Fixtures.patchbay)
        process.arguments = ["run", flow] + (try options ?? project.cliOptions)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = errors ?? FileHandle.nullDevice
        try process.run()
        return process
    }

    /// Waits for a process to exit, up to a deadline; a hung one is killed and recorded, never waited on forever.
    func exited(_ process: Process, within limit: Duration = .seconds(30)) -> Int32? {
        let done = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in done.signal() }
        if !process.isRunning { return process.terminationStatus }
        if done.wait(timeout: .now() + .milliseconds(Int(limit.components.seconds * 1000))) == .timedOut {
            Issue.record("process \(process.processIdentifier) did not exit within \(limit)")
            kill(process.processIdentifier, SIGKILL)
            return nil
        }
        return process.terminationStatus
    }

    /// Waits (up to 20 s) until the condition holds on the store.
    func eventually(_ what: String, _ condition: () throws -> Bool) throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if try condition() { return }
            usleep(20_000)
        }
        Issue.record("timed out waiting: \(what)")
    }

    @Test("kill -9 of the host mid-run: the next command marks the run and its running job terminated, kills the runner, keeps the queued run and advances no state")
    func hostKilled() throws {
        let project = try TestProject(files: Self.files)
        defer { project.remove() }
        let host = try start(project, "long")
        try eventually("the slow job runs") {
            try project.store.runs().first.flatMap { try project.jobsByTask($0.id!)["slow"]?.runnerPID } != nil
        }
        let first = try #require(try project.store.runs().first)
        let slow = try #require(try project.jobsByTask(first.id!)["slow"])
        let runner = try #require(ProcessIdentity(pid: slow.runnerPID!))
        #expect(runner.startTicks == slow.runnerStart)

        let queuedHost = try start(project, "long")
        try eventually("the second run queues") { try project.store.runs().count == 2 && project.store.runs().first?.status == .waiting }
        let queued = try #require(try project.store.runs().first)

        kill(host.processIdentifier, SIGKILL)
        host.waitUntilExit()

        let list = try project.patchbay(["jobs", "list", "--output", "json"])
        #expect(list.status == 0)
        // Either this command or the queued host (when it took the flow over) recorded the end.
        let recovered = try #require(try project.store.run(first.id!))
        #expect(recovered.status == .terminated)
        #expect(recovered.message?.contains("died") == true)
        let jobs = try project.jobsByTask(first.id!)
        #expect(jobs["slow"]?.status == .terminated)
        #expect(jobs["slow"]?.message?.contains("host process (pid \(host.processIdentifier)) died") == true)
        #expect(jobs["after"]?.status == .cancelled)
        try eventually("the orphaned runner is gone") { !runner.isAlive }
        #expect(try project.store.state(configurationKey: "dev.patchbay.noop/counted") == nil, "no state advanced")

        // The queued run was not touched: it takes over once the flow is free, and it can be terminated.
        let stillQueued = try #require(try project.store.run(queued.id!))
        #expect(stillQueued.status == .waiting || stillQueued.status == .processing)
        try eventually("the queued run starts its slow job") { try project.jobsByTask(queued.id!)["slow"]?.status == .processing }
        // (By its flow: the latest unfinished run of it is the one stopped, and its record names the token.)
        let terminate = try project.patchbay(["jobs", "terminate", "--flow", "long"])
        #expect(terminate.status == 0, "\(terminate.stderr)")
        #expect(terminate.stdout.contains("run \(queued.id!): terminated"), "\(terminate.stdout)")
        let stopped = try project.store.run(queued.id!)?.message ?? ""
        #expect(stopped.contains("by token '"), "\(stopped)")
        #expect(exited(queuedHost) == 6, "a terminated run exits 6")
        let terminatedJobs = try project.jobsByTask(queued.id!)
        #expect(terminatedJobs["slow"]?.status == .terminated)
        #expect(terminatedJobs["after"]?.status == .cancelled)
        #expect(try project.store.state(configurationKey: "dev.patchbay.noop/counted") == nil)
        #expect(try FileManager.default.contentsOfDirectory(atPath: project.project.stagingDirectory).isEmpty)
    }

    @Test("kill -9 of the host while a status check waits between checks: the next command resumes it in a retry, with its count, state and deadline, and the flow finishes")
    func statusCheckSurvivesHost() throws {
        // Given a flow whose status check is ready on its 4th check, counting its checks in the state it carries
        let project = try TestProject(files: ["flows/wait.yaml": """
            phases:
              - id: first
                tasks:
                  - {id: before, connector: dev.patchbay.noop}
              - id: wait
                tasks:
                  - id: check
                    connector: test.status-check
                    poll: {interval: 1, timeout: 60}
                    parameters: {count_in_state: true, ready_after: 4}
              - id: last
                tasks:
                  - {id: after, connector: dev.patchbay.noop}
            """])
        defer { project.remove() }
        let host = try start(project, "wait")
        var progress: PollProgress?
        try eventually("the check waits after its second check") {
            guard let run = try project.store.runs().first, let check = try project.jobsByTask(run.id!)["check"] else { return false }
            progress = try project.store.pollProgress(job: check.id!)
            return (progress?.checks ?? 0) >= 2
        }
        let first = try #require(try project.store.runs().first)
        let waited = try #require(progress)
        #expect(waited.stateJSON == #"{"calls":\#(waited.checks)}"#)
        // When the host is killed, and any later command opens the project
        kill(host.processIdentifier, SIGKILL)
        host.waitUntilExit()
        let list = try project.patchbay(["jobs", "list"])
        #expect(list.status == 0)
        #expect(list.stderr.contains("resumes run \(first.id!)'s status check (check) in the background"), "\(list.stderr)")
        // Then the run ends terminated, saying where its check went on
        let ended = try #require(try project.store.run(first.id!))
        #expect(ended.status == .terminated)
        #expect(try project.jobsByTask(first.id!)["check"]?.message?.contains("its status check (\(waited.checks) checks, not ready) resumes in a retry of the run") == true)
        // And a retry of it, started in the background, finishes the flow: the check went on from its count and its state
        var resumed: RunRecord?
        try eventually("the resumed run ends") {
            resumed = try project.store.runs().first { $0.retryOf == first.id }
            return resumed?.status.isFinished == true
        }
        let run = try #require(resumed)
        #expect(run.trigger == "resume")
        #expect(run.status == .success, "\(run.message ?? "") \((try? String(contentsOfFile: project.project.stateDirectory + "/resume-run-\(run.id!).log", encoding: .utf8)) ?? "")")
        let jobs = try project.jobsByTask(run.id!)
        #expect(jobs["before"]?.reusedJobID != nil, "the finished phase is reused")
        #expect(jobs["check"]?.message == "ready after 4 checks", "\(jobs["check"]?.message ?? "")")
        #expect(try project.outputs(jobs["check"]!)["checks"] == #"{"calls":4}"#)
        #expect(jobs["after"]?.status == .success)
        let logs = try project.store.logs(job: jobs["check"]!.id!).map(\.message)
        #expect(logs.contains { $0.hasPrefix("resumed after its host died: \(waited.checks) checks were not ready; check \(waited.checks + 1)") }, "\(logs)")
        #expect(try project.store.pollProgress(job: jobs["check"]!.id!) == nil, "nothing is left to resume")
        // And a run that has started cannot be resumed again by hand
        let again = try project.patchbay(["jobs", "resume", String(run.id!)])
        #expect(again.status != 0 && again.stderr.contains("run \(run.id!) is success: only a run that has not started can be resumed"), "\(again.stderr)")
    }

    @Test("jobs terminate RUN --task T stops that job alone: it ends terminated with the token named, its phase mates finish, and the phase fails")
    func terminateOneJob() throws {
        // Given a run whose first phase holds a slow job and a quick one
        let project = try TestProject(files: ["flows/pair.yaml": """
            phases:
              - id: a
                tasks:
                  - {id: slow, connector: dev.patchbay.noop, parameters: {sleep_ms: 30000}}
                  - {id: quick, connector: dev.patchbay.noop, parameters: {sleep_ms: 200}}
              - id: b
                tasks:
                  - {id: later, connector: dev.patchbay.noop}
            """])
        defer { project.remove() }
        let host = try start(project, "pair")
        try eventually("the slow job runs") {
            try project.store.runs().first.flatMap { try project.jobsByTask($0.id!)["slow"]?.status } == .processing
        }
        let run = try #require(try project.store.runs().first)
        // When the slow job alone is terminated
        let terminate = try project.patchbay(["jobs", "terminate", String(run.id!), "--task", "slow"])
        // Then the command waits for it and says how it ended, naming the token
        #expect(terminate.status == 0, "\(terminate.stdout)\(terminate.stderr)")
        #expect(terminate.stdout.contains("(run \(run.id!), task slow): terminated — terminated on request by token '"), "\(terminate.stdout)")
        // And its phase mate finished, the phase failed, and the next phase never ran
        #expect(exited(host) == 1, "a failed run exits 1")
        let jobs = try project.jobsByTask(run.id!)
        #expect(jobs["slow"]?.status == .terminated)
        #expect(jobs["quick"]?.status == .success)
        #expect(jobs["later"]?.status == .cancelled)
        let final = try #require(try project.store.run(run.id!))
        #expect(final.status == .error && final.message == "phase 'a' failed (slow)", "\(final.status) \(final.message ?? "")")
        // And a task the run does not have is an error listing those it has
        let unknown = try project.patchbay(["jobs", "terminate", String(run.id!), "--task", "nosuch"])
        #expect(unknown.status == 4 && unknown.stderr.contains("run \(run.id!) has no task 'nosuch'; its tasks: later, quick, slow"), "\(unknown.stderr)")
    }

    @Test("a job terminated before it starts is cancelled when its phase comes, with the reason, and its phase fails")
    func terminateQueuedJob() throws {
        // Given a run whose first phase is busy, and a job of the next phase not started yet
        let project = try TestProject(files: ["flows/gate.yaml": """
            phases:
              - id: a
                tasks: [{id: gate, connector: dev.patchbay.noop, parameters: {sleep_ms: 1500}}]
              - id: b
                tasks: [{id: later, connector: dev.patchbay.noop}]
            """])
        defer { project.remove() }
        let host = try start(project, "gate")
        try eventually("the gate job runs") {
            try project.store.runs().first.flatMap { try project.jobsByTask($0.id!)["gate"]?.status } == .processing
        }
        let run = try #require(try project.store.runs().first)
        // When the queued job is terminated
        let terminate = try project.patchbay(["jobs", "terminate", String(run.id!), "--task", "later"])
        // Then it never starts: once phase a is done it is cancelled with the reason, and its phase fails
        #expect(terminate.status == 0, "\(terminate.stdout)\(terminate.stderr)")
        #expect(terminate.stdout.contains("task later): cancelled — terminated on request by token '"), "\(terminate.stdout)")
        #expect(terminate.stdout.contains(", before it started"), "\(terminate.stdout)")
        #expect(exited(host) == 1)
        let jobs = try project.jobsByTask(run.id!)
        #expect(jobs["gate"]?.status == .success)
        #expect(jobs["later"]?.status == .cancelled && jobs["later"]?.startedAt == nil)
        #expect(try project.store.run(run.id!)?.message == "phase 'b' failed (later)")
    }

    @Test("every waiting job says why, in jobs show and its JSON: an earlier phase, the parallelism limit, a status check's next poll")
    func waitsAreNamed() throws {
        // Given a run at parallelism 1 whose first phase holds a status check polled every 30 s and a second task,
        // and a later phase
        let project = try TestProject(files: ["flows/waits.yaml": """
            phases:
              - id: a
                tasks:
                  - {id: check, connector: test.status-check, poll: {interval: 30, timeout: 60}, parameters: {count_in_state: true, ready_after: 5}}
                  - {id: second, connector: dev.patchbay.noop}
              - id: b
                tasks:
                  - {id: later, connector: dev.patchbay.noop}
            """])
        defer { project.remove() }
        let host = try start(project, "waits", options: try project.cliOptions + ["--parallelism", "1"])
        try eventually("the status check waits for its next poll") {
            try project.store.runs().first.flatMap { try project.jobsByTask($0.id!)["check"]?.waitReason } == "poll"
        }
        let run = try #require(try project.store.runs().first)
        // When jobs show is asked, as JSON and as text
        let json = try project.patchbay(["jobs", "show", String(run.id!), "--output", "json"])
        let text = try project.patchbay(["jobs", "show", String(run.id!)])
        // Then each job's wait has its reason, a detail a person can read, and for the poll when it ends
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any], "\(json.stdout)")
        let jobs = Dictionary(uniqueKeysWithValues: (object["jobs"] as? [[String: Any]] ?? []).map { ($0["task"] as? String ?? "", $0["wait"] as? [String: Any]) })
        #expect(jobs["check"]??["reason"] as? String == "poll")
        #expect((jobs["check"]??["detail"] as? String)?.hasPrefix("poll: check 1 not ready; check 2 in 30") == true, "\(String(describing: jobs["check"]))")
        #expect((jobs["check"]??["until"] as? String)?.hasSuffix("Z") == true)
        #expect(jobs["second"]??["reason"] as? String == "parallelism")
        #expect(jobs["second"]??["detail"] as? String == "queued: 1 of its phase's tasks run, at most 1 at once (--parallelism)")
        #expect(jobs["later"]??["reason"] as? String == "phase" && jobs["later"]??["detail"] as? String == "phase 'a' runs first")
        #expect(text.stdout.contains("waiting (phase): phase 'a' runs first"), "\(text.stdout)")
        #expect(text.stdout.contains("waiting (poll): poll: check 1 not ready"), "\(text.stdout)")
        // And a terminate ends the wait at once
        #expect(try project.patchbay(["jobs", "terminate", String(run.id!)]).status == 0)
        #expect(exited(host) == 6)
    }

    @Test("ready waits for a newer drop: a run finds the file, the next polls until the file is newer, then goes on with its size and time")
    func readyWaitsForNewerFile() throws {
        // Given a drop directory with a file in it, and a flow whose status check wants a newer file each run
        let drop = try Fixtures.directory(with: ["orders.csv": "id\n1\n"])
        defer { try? FileManager.default.removeItem(atPath: drop) }
        let project = try TestProject(files: ["flows/drop.yaml": """
            phases:
              - id: wait
                tasks:
                  - id: ready
                    connector: dev.patchbay.ready
                    network: none
                    files: {read: ["\(drop)"]}
                    poll: {interval: 0.05, timeout: 60}
                    parameters: {path: "\(drop)/orders.csv", newer: true, min_bytes: 2}
            """])
        defer { project.remove() }
        // When it runs once, Then the file is found at once
        let first = try project.patchbay(["run", "drop"])
        #expect(first.status == 0, "\(first.stdout)\(first.stderr)")
        // When it runs again, Then it waits (the same file is not newer) until the file changes
        let host = try start(project, "drop")
        try eventually("the second run polls") {
            try project.store.runs().first.flatMap { $0.id == nil ? nil : try project.jobsByTask($0.id!)["ready"]?.waitReason } == "poll"
        }
        let waiting = try #require(try project.store.runs().first)
        let said = try project.store.logs(job: try #require(try project.jobsByTask(waiting.id!)["ready"]).id!).map(\.message)
        #expect(said.contains { $0.contains("is not newer than the one the last run found") }, "\(said)")
        try "id\n1\n2\n".write(toFile: drop + "/orders.csv", atomically: false, encoding: .utf8)
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(5)], ofItemAtPath: drop + "/orders.csv")
        #expect(exited(host) == 0)
        let job = try #require(try project.jobsByTask(waiting.id!)["ready"])
        let outputs = try project.outputs(job)
        #expect(job.status == .success && outputs["bytes"] == "7" && outputs["source"] == drop + "/orders.csv", "\(outputs)")
        #expect(outputs["modified"]?.hasSuffix("Z") == true)
    }

    @Test("ready checks a plain-HTTP source with HEAD: 200 is ready with its size, 404 is not yet, a non-http URL is a config error")
    func readyChecksHTTP() throws {
        // Given a real HTTP server serving a directory with one file
        let served = try Fixtures.directory(with: ["export.csv": "id\n1\n2\n3\n"])
        defer { try? FileManager.default.removeItem(atPath: served) }
        let port = 20_000 + Int(getpid() % 20_000)
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        server.arguments = ["python3", "-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", served]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer { kill(server.processIdentifier, SIGKILL); server.waitUntilExit() }  // it inherits an ignored SIGTERM
        try eventually("the server listens") {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var address = sockaddr_in(sin_family: sa_family_t(AF_INET), sin_port: in_port_t(UInt16(port).bigEndian),
                                      sin_addr: in_addr(s_addr: inet_addr("127.0.0.1")), sin_zero: (0, 0, 0, 0, 0, 0, 0, 0))
            return withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 } }
        }
        // When the file is checked, Then it is ready with its Content-Length and Last-Modified
        let ready = try FirstParty.patchbay(["task", "run", "dev.patchbay.ready", "--param", "url=http://127.0.0.1:\(port)/export.csv", "--output", "json"])
        #expect(ready.status == 0, "\(ready.stdout)\(ready.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(ready.stdout.utf8)) as? [String: Any])
        let outputs = Dictionary(uniqueKeysWithValues: (object["outputs"] as? [[String: Any]] ?? []).map { ($0["name"] as? String ?? "", $0["value"] as? String ?? "") })
        #expect(outputs["bytes"] == "9" && outputs["modified"]?.hasSuffix("Z") == true, "\(outputs)")
        // And a file that is not there yet is PENDING (exit 10), and a URL that is not HTTP is refused as a config error
        let missing = try FirstParty.patchbay(["task", "run", "dev.patchbay.ready", "--param", "url=http://127.0.0.1:\(port)/later.csv"])
        #expect(missing.status == 10, "\(missing.stdout)")
        let ftp = try FirstParty.patchbay(["task", "run", "dev.patchbay.ready", "--param", "url=ftp://example.com/x"])
        #expect(ftp.status == 1 && ftp.stdout.contains("url must be http:// or https://"), "\(ftp.stdout)")
    }

    @Test("Ctrl-C on `patchbay run` stops the run as terminate does, records it as interrupted by the user, and exits 6")
    func interruptStopsTheRun() throws {
        // Given a run whose first job is running
        let project = try TestProject(files: Self.files)
        defer { project.remove() }
        let host = try start(project, "long")
        try eventually("the slow job runs") {
            try project.store.runs().first.flatMap { try project.jobsByTask($0.id!)["slow"]?.status } == .processing
        }
        let run = try #require(try project.store.runs().first)
        // When the user presses Ctrl-C once
        kill(host.processIdentifier, SIGINT)
        // Then the command ends with 6, and the store already says what happened: no recovery needed
        #expect(exited(host) == 6)
        let final = try #require(try project.store.run(run.id!))
        #expect(final.status == .terminated)
        #expect(final.message == "terminated: interrupted by the user (Ctrl-C)")
        let jobs = try project.jobsByTask(run.id!)
        #expect(jobs["slow"]?.status == .terminated)
        #expect(jobs["after"]?.status == .cancelled)
        #expect(try project.store.state(configurationKey: "dev.patchbay.noop/counted") == nil, "no state advanced")
    }

    @Test("a second Ctrl-C leaves at once (130) while a connector ignores the first; the next command records the run")
    func secondInterruptLeaves() throws {
        // Given a run of a connector that ignores cancel and SIGTERM (so stopping it takes the kill grace)
        let plugins = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: plugins) }
        try FileManager.default.copyItem(atPath: try Fixtures.plugin("ignore_term"), toPath: plugins + "/libignore_term.so")
        let project = try TestProject(files: ["flows/stubborn.yaml": "phases:\n  - id: p\n    tasks:\n      - {id: stubborn, connector: test.misbehaving}\n"])
        defer { project.remove() }
        let errors = Pipe()
        let process = try start(project, "stubborn", options: ["--project", project.project.root, "--plugin-dir", plugins], errors: errors)
        try eventually("the stubborn job runs") {
            try project.store.runs().first.flatMap { try project.jobsByTask($0.id!)["stubborn"]?.status } == .processing
        }
        // When Ctrl-C is pressed, and again once the command says it is stopping
        kill(process.processIdentifier, SIGINT)
        var said = ""
        while !said.contains("press Ctrl-C again") {
            let chunk = errors.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            said += String(decoding: chunk, as: UTF8.self)
        }
        kill(process.processIdentifier, SIGINT)
        // Then it leaves at once with 130, and the next command records the run as terminated
        #expect(exited(process, within: .seconds(10)) == 130, "\(said)")
        let list = try project.patchbay(["jobs", "list"])
        #expect(list.status == 0)
        let run = try #require(try project.store.runs().first)
        #expect(run.status == .terminated, "\(run.status)")
    }
}
