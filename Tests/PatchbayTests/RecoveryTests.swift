import Foundation
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

    /// Starts `patchbay run FLOW` in the background.
    func start(_ project: TestProject, _ flow: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Fixtures.patchbay)
        process.arguments = ["run", flow] + (try project.cliOptions)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
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
        let terminate = try project.patchbay(["jobs", "terminate", String(queued.id!)])
        #expect(terminate.status == 0, "\(terminate.stderr)")
        #expect(terminate.stdout.contains("run \(queued.id!): terminated"))
        queuedHost.waitUntilExit()
        #expect(queuedHost.terminationStatus == 6, "a terminated run exits 6")
        let terminatedJobs = try project.jobsByTask(queued.id!)
        #expect(terminatedJobs["slow"]?.status == .terminated)
        #expect(terminatedJobs["after"]?.status == .cancelled)
        #expect(try project.store.state(configurationKey: "dev.patchbay.noop/counted") == nil)
        #expect(try FileManager.default.contentsOfDirectory(atPath: project.project.stagingDirectory).isEmpty)
    }
}
