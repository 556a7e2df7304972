import Foundation
import PatchbayCore
import PatchbayEngine
import PatchbayModel
import PatchbayRunner
import PatchbayStore
import Testing

@Suite("The phase runner: Keboola's status rules, through real runners and a real store")
struct EngineTests {
    @Test("phases run one after another; tasks of a phase run in parallel, never more than --parallelism at once")
    func phasesAndParallelism() async throws {
        let tasks = (1...6).map { "      - {id: t\($0), connector: dev.patchbay.noop, parameters: {sleep_ms: 150}}" }.joined(separator: "\n")
        let project = try TestProject(files: ["flows/wide.yaml": """
            phases:
              - id: first
                tasks:
            \(tasks)
              - id: second
                tasks:
                  - {id: after, connector: dev.patchbay.noop}
            """])
        defer { project.remove() }
        let (run, jobs) = try await project.run("wide", parallelism: 3)
        #expect(run.status == .success)
        let first = (1...6).compactMap { jobs["t\($0)"] }
        #expect(maximumOverlap(first) <= 3)
        #expect(maximumOverlap(first) >= 2, "tasks of a phase ran in parallel")
        let lastOfFirst = try #require(first.compactMap(\.finishedAt).max())
        #expect(try #require(jobs["after"]?.startedAt) >= lastOfFirst)
    }

    @Test("a failing task without continueOnFailure fails its phase: the run ends in error, later phases are cancelled")
    func failureStopsTheFlow() async throws {
        let project = try TestProject(files: ["flows/f.yaml": """
            phases:
              - id: one
                tasks:
                  - {id: ok, connector: dev.patchbay.noop, parameters: {sleep_ms: 50}}
                  - {id: broken, connector: dev.patchbay.noop, parameters: {fail: config, fail_message: "table orders is missing"}}
              - id: two
                tasks:
                  - {id: never, connector: dev.patchbay.noop}
            """])
        defer { project.remove() }
        let (run, jobs) = try await project.run("f")
        #expect(run.status == .error)
        #expect(run.message == "phase 'one' failed (broken)")
        #expect(jobs["ok"]?.status == .success, "the phase's other tasks still run to their end")
        #expect(jobs["broken"]?.status == .error)
        #expect(jobs["broken"]?.failureClass == .config)
        #expect(jobs["broken"]?.message?.contains("table orders is missing") == true)
        #expect(jobs["never"]?.status == .cancelled)
        #expect(jobs["never"]?.startedAt == nil)
        let cli = try project.patchbay(["jobs", "show", String(run.id!)])
        #expect(cli.stdout.contains("[config]"))
    }

    @Test("with continueOnFailure the flow goes on and ends in warning; disabled tasks are skipped and shown as such")
    func continueOnFailureAndDisabled() async throws {
        let project = try TestProject(files: ["flows/w.yaml": """
            phases:
              - id: one
                tasks:
                  - {id: flaky, connector: dev.patchbay.noop, continueOnFailure: true, parameters: {fail: transient}}
                  - {id: off, connector: dev.patchbay.noop, enabled: false}
              - id: two
                tasks:
                  - {id: next, connector: dev.patchbay.noop}
            """])
        defer { project.remove() }
        let (run, jobs) = try await project.run("w")
        #expect(run.status == .warning)
        #expect(jobs["flaky"]?.status == .error)
        #expect(jobs["next"]?.status == .success)
        #expect(jobs["off"]?.status == .skipped)
        #expect(jobs["off"]?.message == "disabled in the flow")
        let show = try project.patchbay(["jobs", "show", String(run.id!)])
        #expect(show.stdout.contains("off  job") && show.stdout.contains("skipped"))
    }

    @Test("outputs flow forward into later phases' parameters; state is committed only when the task succeeds")
    func outputsAndState() async throws {
        let project = try TestProject(files: [
            "configurations/counter.yaml": "connector: dev.patchbay.noop\nparameters: {count: true}\n",
            "flows/o.yaml": """
            phases:
              - id: start
                tasks:
                  - {id: start_export, connector: dev.patchbay.noop, parameters: {output_name: export_id, output_value: "exp-42"}}
                  - {id: count, configuration: counter}
              - id: use
                tasks:
                  - id: poll
                    connector: dev.patchbay.noop
                    parameters: {output_name: url, output_value: "https://api.example/exports/${{ tasks.start_export.outputs.export_id }}"}
                  - {id: count_and_fail, configuration: counter, continueOnFailure: true, parameters: {fail: system}}
            """,
        ])
        defer { project.remove() }
        let (run, jobs) = try await project.run("o")
        #expect(run.status == .warning)
        #expect(try project.outputs(jobs["poll"]!)["url"] == "https://api.example/exports/exp-42")
        #expect(jobs["poll"]?.parametersJSON?.contains("exp-42") == true, "the job records the parameters the connector got")
        // count ran once and succeeded; count_and_fail counted too but failed, so its state was not kept.
        #expect(try project.store.state(configurationKey: "dev.patchbay.noop/counter")?.stateJSON == "{\"runs\":1}")
        let (_, again) = try await project.run("o")
        #expect(again["count"]?.status == .success)
        #expect(try project.store.state(configurationKey: "dev.patchbay.noop/counter")?.stateJSON == "{\"runs\":2}")
    }

    @Test("a failed task leaves no table behind; a succeeded one is in tables/ and in the catalog")
    func tablesCommitAtomically() async throws {
        let project = try TestProject(files: ["flows/t.yaml": """
            phases:
              - id: one
                tasks:
                  - {id: good, connector: dev.patchbay.sample-data, parameters: {rows: 10, table: in.good}}
                  - {id: limit, connector: dev.patchbay.sample-data, continueOnFailure: true, timeout: 0.3, parameters: {rows: 2000000000, table: in.partial}}
            """])
        defer { project.remove() }
        let (run, jobs) = try await project.run("t")
        #expect(run.status == .warning)
        #expect(jobs["limit"]?.status == .error)
        #expect(jobs["limit"]?.exitKind == "timed_out")
        #expect(try project.store.table("in.good")?.rowCount == 10)
        #expect(try project.store.table("in.partial") == nil)
        #expect(FileManager.default.fileExists(atPath: project.project.tableFile("in.good")))
        #expect(!FileManager.default.fileExists(atPath: project.project.tableFile("in.partial")))
        #expect(try FileManager.default.contentsOfDirectory(atPath: project.project.stagingDirectory).isEmpty)
    }

    @Test("a run of a flow waits while another run of it is unfinished, then runs")
    func oneRunOfAFlowAtATime() async throws {
        let project = try TestProject(files: ["flows/solo.yaml": """
            phases:
              - id: one
                tasks:
                  - {id: slow, connector: dev.patchbay.noop, parameters: {sleep_ms: 300}}
            """])
        defer { project.remove() }
        let flow = try await project.engine.load(flowFile: project.project.flowFile("solo"))
        let first = try project.engine.submit(flow)
        let second = try project.engine.submit(flow)
        async let a = project.engine.execute(first)
        async let b = project.engine.execute(second)
        let (runA, runB) = await (a, b)
        #expect(runA.status == .success && runB.status == .success)
        let events = try project.store.events(run: runB.id!).filter { $0.jobID == nil }.map(\.status)
        let eventsA = try project.store.events(run: runA.id!).filter { $0.jobID == nil }.map(\.status)
        #expect(events.contains(.waiting) || eventsA.contains(.waiting), "one of them queued as waiting")
        // And the run that waited named the run it waited for
        let waited = try (project.store.events(run: runB.id!) + project.store.events(run: runA.id!)).first { $0.jobID == nil && $0.status == .waiting }
        let other = waited?.runID == runB.id ? runA.id! : runB.id!
        #expect(waited?.detail == "waiting for run \(other) of 'solo' to finish", "\(waited?.detail ?? "")")
        let jobs = try project.store.jobs(run: runA.id!) + project.store.jobs(run: runB.id!)
        #expect(maximumOverlap(jobs) == 1)
    }

    @Test("50 concurrent runs touching one configuration: none overlaps, none is lost (in-process and across processes)")
    func fiftyRunsOneConfiguration() async throws {
        var files = ["configurations/shared.yaml": "connector: dev.patchbay.noop\nparameters: {count: true, sleep_ms: 5}\n"]
        for index in 0..<50 {
            files["flows/f\(index).yaml"] = "phases:\n  - id: p\n    tasks:\n      - {id: t, configuration: shared}\n"
        }
        let project = try TestProject(files: files)
        defer { project.remove() }
        // 8 runs through their own `patchbay run` processes, 42 in this process, all at once.
        let options = try project.cliOptions
        let processes = (42..<50).map { index in
            Task.detached { try Fixtures.run(Fixtures.patchbay, ["run", "f\(index)", "--output", "json"] + options) }
        }
        try await withThrowingTaskGroup(of: JobStatus.self) { group in
            for index in 0..<42 {
                group.addTask {
                    let flow = try await project.engine.load(flowFile: project.project.flowFile("f\(index)"))
                    return await project.engine.execute(try project.engine.submit(flow)).status
                }
            }
            for try await status in group { #expect(status == .success) }
        }
        for process in processes { #expect(try await process.value.status == 0) }
        let jobs = try project.store.jobs(configurationKey: "dev.patchbay.noop/shared")
        #expect(jobs.count == 50)
        #expect(jobs.allSatisfy { $0.status == .success })
        #expect(maximumOverlap(jobs) == 1, "jobs of one configuration never ran at once")
        let sorted = jobs.sorted { $0.startedAt! < $1.startedAt! }
        for (previous, next) in zip(sorted, sorted.dropFirst()) { #expect(next.startedAt! >= previous.finishedAt!) }
        #expect(try project.store.state(configurationKey: "dev.patchbay.noop/shared")?.stateJSON == "{\"runs\":50}",
                "every job saw the state its predecessor committed")
    }

    @Test("retry re-runs only the failed tasks and the phases not executed, reusing succeeded jobs and their outputs")
    func retryToSuccess() async throws {
        let switchFile = try Fixtures.temporaryDirectory()
        chmod(switchFile, 0o777)  // granted to the connector, which runs as a uid of its own
        defer { try? FileManager.default.removeItem(atPath: switchFile) }
        let project = try TestProject(files: ["flows/r2.yaml": """
            phases:
              - id: one
                tasks:
                  - {id: start, connector: dev.patchbay.noop, parameters: {output_name: id, output_value: "abc"}}
                  - id: gate
                    connector: test.status-check
                    poll: {interval: 0.01, timeout: 5}
                    files: {write: ["\(switchFile)"]}
                    parameters: {counter_file: "\(switchFile)/count", ready_after: 1, fail_at: 2}
              - id: two
                tasks:
                  - {id: use, connector: dev.patchbay.noop, parameters: {output_name: got, output_value: "${{ tasks.start.outputs.id }}"}}
            """])
        defer { project.remove() }
        // The gate fails once the counter reaches 2: start at 1 so the first run fails.
        try "1\n".write(toFile: switchFile + "/count", atomically: true, encoding: .utf8)
        chmod(switchFile + "/count", 0o666)  // the connector runs as a uid of its own
        let (failed, jobs) = try await project.run("r2")
        #expect(failed.status == .error)
        #expect(jobs["gate"]?.status == .error)
        try "-5\n".write(toFile: switchFile + "/count", atomically: true, encoding: .utf8)
        chmod(switchFile + "/count", 0o666)
        let cli = try project.patchbay(["jobs", "retry", String(failed.id!)])
        #expect(cli.status == 0, "\(cli.stdout)\(cli.stderr)")
        let final = try #require(try project.store.runs().first)
        #expect(final.status == .success && final.retryOf == failed.id)
        let retried = try project.jobsByTask(final.id!)
        #expect(retried["start"]?.reusedJobID == jobs["start"]?.id)
        #expect(retried["gate"]?.attempt == 2)
        #expect(try project.outputs(retried["use"]!)["got"] == "abc", "outputs of reused jobs flow forward")
        #expect(throws: EngineError.self) { try project.engine.submitRetry(of: final.id!) }
    }

    @Test("--only runs the selected tasks; outputs of unselected ones come from their last success")
    func onlySelected() async throws {
        let project = try TestProject(files: ["flows/o.yaml": """
            phases:
              - id: one
                tasks:
                  - {id: start, connector: dev.patchbay.noop, parameters: {output_name: id, output_value: "v1"}}
              - id: two
                tasks:
                  - {id: use, connector: dev.patchbay.noop, parameters: {output_name: got, output_value: "${{ tasks.start.outputs.id }}"}}
                  - {id: other, connector: dev.patchbay.noop}
            """])
        defer { project.remove() }
        await #expect(throws: EngineError.self) { _ = try await project.run("o", only: ["use"]) }
        _ = try await project.run("o")
        let (run, jobs) = try await project.run("o", only: ["use"])
        #expect(run.status == .success)
        #expect(jobs["start"]?.status == .skipped && jobs["other"]?.status == .skipped)
        #expect(try project.outputs(jobs["use"]!)["got"] == "v1")
    }

    @Test("a status_check connector is polled until ready, or fails when its timeout passes")
    func statusCheckPolling() async throws {
        let counters = try Fixtures.temporaryDirectory()
        chmod(counters, 0o777)  // granted to the connector, which runs as a uid of its own
        defer { try? FileManager.default.removeItem(atPath: counters) }
        let project = try TestProject(files: ["flows/s.yaml": """
            phases:
              - id: wait
                tasks:
                  - {id: ready, connector: test.status-check, poll: {interval: 0.01, timeout: 10}, files: {write: ["\(counters)"]}, parameters: {counter_file: "\(counters)/a", ready_after: 3}}
                  - {id: never, connector: test.status-check, continueOnFailure: true, poll: {interval: 0.05, timeout: 0.2}, files: {write: ["\(counters)"]}, parameters: {counter_file: "\(counters)/b", ready_after: 1000}}
            """])
        defer { project.remove() }
        let (run, jobs) = try await project.run("s")
        #expect(run.status == .warning)
        #expect(jobs["ready"]?.status == .success)
        #expect(try project.outputs(jobs["ready"]!)["checks"] == "3")
        #expect(jobs["never"]?.status == .error)
        #expect(jobs["never"]?.message?.contains("still not ready") == true)
    }

    @Test("a status check's state carries from one check to the next within a job, and is committed only when the job succeeds")
    func statusCheckStateCarries() async throws {
        // Given a check that counts its calls in its own state, ready at the third, and one that fails at the second
        let project = try TestProject(files: ["flows/s.yaml": """
            phases:
              - id: wait
                tasks:
                  - {id: ready, connector: test.status-check, poll: {interval: 0.01, timeout: 10}, parameters: {count_in_state: true, ready_after: 3}}
                  - {id: broken, connector: test.status-check, continueOnFailure: true, poll: {interval: 0.01, timeout: 10}, parameters: {count_in_state: true, ready_after: 5, fail_at: 2}}
            """])
        defer { project.remove() }

        // When the flow runs
        let (_, jobs) = try await project.run("s")

        // Then the ready check saw each earlier check's state, and its last state is the configuration's
        #expect(jobs["ready"]?.status == .success, "\(jobs["ready"]?.message ?? "")")
        #expect(try project.outputs(jobs["ready"]!)["checks"] == #"{"calls":3}"#)
        #expect(try project.store.state(configurationKey: jobs["ready"]!.configurationKey)?.stateJSON == #"{"calls":3}"#)
        // And the failed one committed nothing, so its next job starts from the state it started with
        #expect(jobs["broken"]?.status == .error)
        #expect(try project.store.state(configurationKey: jobs["broken"]!.configurationKey) == nil)

        // And a second run of the ready check starts from the committed state: one more check, and it is ready
        let (_, again) = try await project.run("s", only: ["ready"])
        #expect(try project.outputs(again["ready"]!)["checks"] == #"{"calls":4}"#)
    }

    @Test("the engine waits on its injected clock: an hour of status checks every ten minutes takes no real hour")
    func statusCheckOnInjectedClock() async throws {
        // Given an engine on a virtual clock, and a check that never becomes ready, polled every 600 s for 3600 s
        let counters = try Fixtures.temporaryDirectory()
        chmod(counters, 0o777)  // granted to the connector, which runs as a uid of its own
        defer { try? FileManager.default.removeItem(atPath: counters) }
        let clock = VirtualClock()
        let project = try TestProject(files: ["flows/s.yaml": """
            phases:
              - id: wait
                tasks:
                  - {id: never, connector: test.status-check, poll: {interval: 600, timeout: 3600}, files: {write: ["\(counters)"]}, parameters: {counter_file: "\(counters)/n", ready_after: 1000}}
            """], time: EngineClock(clock: clock, now: { Date() }))
        defer { project.remove() }
        // When the flow runs
        let started = ContinuousClock.now
        let (run, jobs) = try await project.run("s")
        // Then it checked at 0, 600, … 3600 s of the engine's time (7 checks), gave up, and took seconds, not an hour
        #expect(run.status == .error)
        #expect(jobs["never"]?.message == "status check: still not ready after 7 checks (poll timeout 3600.0 seconds)")
        #expect(clock.total == .seconds(3600))
        #expect(ContinuousClock.now - started < .seconds(300), "an hour of engine time in minutes at most, even on a loaded CI machine")
    }

    @Test("keboola JSON runs end to end: disabled skipped, continueOnFailure gives warning, outputs by numeric task id")
    func keboolaRun() async throws {
        let json = try String(contentsOfFile: Fixtures.repository + "/Tests/Fixtures/flows/keboola-orchestration.json", encoding: .utf8)
        let project = try TestProject(files: ["flows/kbc.json": json, "configurations/kbc-noop.json": #"{"parameters": {"message": "shared"}}"#])
        defer { project.remove() }
        let (run, jobs) = try await project.run("kbc.json")
        #expect(run.status == .warning)
        #expect(jobs["102"]?.status == .skipped)
        #expect(jobs["201"]?.status == .error)
        #expect(jobs["202"]?.status == .success)
        #expect(try project.outputs(jobs["301"]!)["seen"] == "25")
        #expect(try project.store.table("in.kbc_orders")?.rowCount == 25)
    }
}
