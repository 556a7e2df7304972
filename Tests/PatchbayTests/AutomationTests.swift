import Foundation
import PatchbayCore
@testable import PatchbayEngine
import PatchbayModel
import PatchbaySecurity
import PatchbayStore
import Testing

/// A project with one no-op flow and the schedules or triggers given, and an automation over it whose
/// ticks the test drives with its own clock.
struct AutomatedProject {
    let project: TestProject
    var automation: Automation

    init(_ automation: String) throws {
        project = try TestProject(files: ["flows/f.yaml": """
            phases:
              - id: p
                tasks:
                  - {id: t, connector: dev.patchbay.noop}
            \(automation)
            """])
        self.automation = Automation(engine: project.engine)
    }

    static func date(_ text: String) -> Date { ISO8601DateFormatter().date(from: text)! }

    /// One tick at `now`; the runs it submitted are executed to their end (as the daemon would).
    func tick(_ now: Date) async -> [AutomationAction] {
        let actions = await automation.tick(now: now)
        for case .submitted(let run, _) in actions { _ = await project.engine.execute(run) }
        return actions
    }

    /// The fire each run of the flow was started for, oldest first.
    func fires() throws -> [Date] {
        try project.store.runs(flow: "f", limit: 1000).reversed().map { run in
            try #require(run.trigger.hasPrefix("schedule") ? run : nil, "run \(run.id!) was not started by a schedule")
            return run.createdAt
        }
    }

    func submitted(_ actions: [AutomationAction]) -> [String] {
        actions.compactMap { if case .submitted(_, let reason) = $0 { reason } else { nil } }
    }

    func remove() { project.remove() }
}

@Suite("Schedules: catch-up, overlap and restarts, with the test's clock")
struct ScheduleAutomationTests {
    @Test("catch-up after three days down: latest runs the missed fire once, all runs each of the last N, none runs nothing",
          arguments: [("latest", 1), ("all\n    maxCatchUp: 5", 5), ("none", 0)])
    func catchUp(policy: String, runs: Int) async throws {
        // Given an hourly schedule, first seen at noon
        let automated = try AutomatedProject("""
            schedules:
              - id: hourly
                cron: "0 * * * *"
                catchUp: \(policy)
            """)
        defer { automated.remove() }
        let noon = AutomatedProject.date("2026-12-01T12:00:30Z")
        #expect(await automated.tick(noon).isEmpty)
        // When Patchbay comes back three days later and ticks until nothing more is due
        let back = noon.addingTimeInterval(3 * 86_400 + 600)
        var submitted: [String] = []
        for _ in 0..<10 { submitted += automated.submitted(await automated.tick(back)) }
        // Then the policy's number of runs started, the latest fires
        #expect(submitted.count == runs, "\(submitted)")
        if runs == 1 { #expect(submitted[0].contains("fired for 2026-12-04T12:00:00+00:00, missed while Patchbay was not running (catchUp: latest)"), "\(submitted)") }
        if runs == 5 {
            #expect(submitted.first?.contains("fired for 2026-12-04T08:00:00+00:00") == true && submitted.last?.contains("fired for 2026-12-04T12:00:00+00:00") == true,
                    "\(submitted)")
        }
        let last = try automated.project.store.lastFire(flow: "f", schedule: "hourly")
        #expect(last?.at == AutomatedProject.date("2026-12-04T12:00:00Z"), "every missed fire is handled, run or not")
        // And the next tick, still within the hour, starts nothing
        #expect(automated.submitted(await automated.tick(back.addingTimeInterval(60))).isEmpty)
    }

    @Test("zero double fires across restarts at the autumn fold: each wall time of a half-hourly Prague schedule runs once")
    func restartAtTheFold() async throws {
        var automated = try AutomatedProject("""
            schedules:
              - {id: half, cron: "*/30 * * * *", timezone: Europe/Prague}
            """)
        defer { automated.remove() }
        // Ticks every 5 minutes from 00:00 to 03:30 local (22:00Z to 02:30Z), the automation recreated (a restart)
        // at every tick of the fold's two passes
        var reasons: [String] = []
        var now = AutomatedProject.date("2026-10-24T22:00:10Z")
        while now < AutomatedProject.date("2026-10-25T02:31:00Z") {
            if now > AutomatedProject.date("2026-10-24T23:50:00Z") && now < AutomatedProject.date("2026-10-25T01:10:00Z") {
                automated.automation = Automation(engine: automated.project.engine)
            }
            reasons += automated.submitted(await automated.tick(now))
            now = now.addingTimeInterval(300)
        }
        let fired = reasons.map { String($0[$0.range(of: "fired for ")!.upperBound...].prefix(25)) }
        #expect(fired == ["2026-10-25T00:30:00+02:00", "2026-10-25T01:00:00+02:00", "2026-10-25T01:30:00+02:00", "2026-10-25T02:00:00+02:00",
                          "2026-10-25T02:30:00+02:00", "2026-10-25T03:00:00+01:00", "2026-10-25T03:30:00+01:00"], "\(fired)")
    }

    @Test("a schedule's own token starts its runs; a revoked one drops the fire, saying why")
    func ownToken() async throws {
        let automated = try AutomatedProject("""
            schedules:
              - {id: mine, cron: "* * * * *", token: ops}
            """)
        defer { automated.remove() }
        let (ops, _) = try automated.project.engine.createToken(name: "ops", scopes: TokenScopes(canRunOrchestrations: true))
        let start = AutomatedProject.date("2026-12-03T10:00:05Z")
        _ = await automated.tick(start)
        let fired = await automated.tick(start.addingTimeInterval(60))
        let run = try #require(fired.compactMap { if case .submitted(let run, _) = $0 { run } else { nil } }.first, "\(fired)")
        #expect(run.startedByTokenID == ops.id)
        try automated.project.engine.revokeToken(ops.id!)
        let dropped = await automated.tick(start.addingTimeInterval(120))
        #expect(dropped.contains { if case .dropped(_, _, _, let reason) = $0 { reason.contains("the token 'ops' is revoked or expired") } else { false } }, "\(dropped)")
    }

    @Test("overlap: queueOne keeps one waiting run and drops the next fire; skip drops a fire while a run is unfinished")
    func overlap() async throws {
        for (policy, expected) in [("queueOne", 2), ("skip", 1)] {
            let automated = try AutomatedProject("""
                schedules:
                  - {id: often, cron: "* * * * *", overlap: \(policy)}
                """)
            defer { automated.remove() }
            let start = AutomatedProject.date("2026-12-03T10:00:05Z")
            _ = await automated.automation.tick(now: start)
            // When three fires come while the first fire's run is running (its state as the daemon would have it)
            var actions: [AutomationAction] = []
            for minute in 1...3 {
                let tick = await automated.automation.tick(now: start.addingTimeInterval(Double(minute) * 60))
                if minute == 1, case .submitted(let run, _)? = tick.first { try automated.project.store.update(run: run.id!, to: .processing) }
                actions += tick
            }
            // Then queueOne made one run and one waiting run; skip made one
            #expect(automated.submitted(actions).count == expected, "\(policy): \(actions)")
            let dropped = actions.compactMap { if case .dropped(_, _, _, let reason) = $0 { reason } else { nil } }
            #expect(dropped.count == 3 - expected)
            #expect(dropped.allSatisfy { $0.contains("(overlap: \(policy))") }, "\(dropped)")
        }
    }
}

@Suite("Choosing a schedule: runs that would queue are flagged")
struct ScheduleAdviceTests {
    @Test("a schedule whose interval is shorter than the flow's recent p90 duration warns, saying how long runs take; a slower one does not")
    func warnsWhenRunsWouldQueue() throws {
        let automated = try AutomatedProject("""
            schedules:
              - {id: often, cron: "*/5 * * * *"}
              - {id: hourly, cron: "0 * * * *"}
            """)
        defer { automated.remove() }
        // Given five finished runs of the flow that took 10 to 14 minutes
        let now = Date()
        for minutes in [10.0, 11, 12, 13, 14] {
            var run = RunRecord(flowName: "f", flowFile: "", flowJSON: "{}", status: .created, trigger: "manual", retryOf: nil, onlyTasks: nil,
                                parallelism: 1, hostPID: nil, hostStart: nil, createdAt: now.addingTimeInterval(-3600))
            run.status = .success
            run.startedAt = now.addingTimeInterval(-3600)
            run.finishedAt = now.addingTimeInterval(-3600 + minutes * 60)
            _ = try automated.project.store.insert(run: run, jobs: [])
        }
        // When the schedules are listed
        let statuses = automated.automation.schedules(now: now)
        // Then the 5-minute one warns with the durations, the hourly one does not
        let often = try #require(statuses.first { $0.schedule.id == "often" })
        #expect(often.warnings == ["runs will queue: it fires every 5 min at the shortest, and the flow's last 5 runs took up to 14 min (p90)"], "\(often.warnings)")
        #expect(statuses.first { $0.schedule.id == "hourly" }?.warnings == [])
    }
}

@Suite("Notifications: running much longer than usual")
struct LongRunningTests {
    @Test("a run longer than the average of the flow's last runs by more than the tolerance is reported once, to the flow's long_running webhooks")
    func longRunning() async throws {
        let automated = try AutomatedProject("""
            notifications:
              webhooks:
                - {url: "http://127.0.0.1:9/slow", on: [long_running]}
                - {url: "http://127.0.0.1:9/errors", on: [error]}
              longRunningTolerancePercent: 100
            """)
        defer { automated.remove() }
        let engine = automated.project.engine
        let now = Date()
        // Given three earlier runs of 4 to 6 s (average 5 s), and one started 11 s ago, as a schedule starts them
        for seconds in [4.0, 5, 6] {
            var run = RunRecord(flowName: "f", flowFile: "", flowJSON: "{}", status: .success, trigger: "schedule s", retryOf: nil, onlyTasks: nil,
                                parallelism: 1, hostPID: nil, hostStart: nil, createdAt: now.addingTimeInterval(-600))
            run.startedAt = now.addingTimeInterval(-600)
            run.finishedAt = now.addingTimeInterval(-600 + seconds)
            _ = try automated.project.store.insert(run: run, jobs: [])
        }
        let flow = try await engine.load(flowFile: automated.project.project.flowFile("f"))
        let running = try engine.submit(flow)
        try automated.project.store.update(run: running.id!, to: .processing, at: now.addingTimeInterval(-11))
        // When the daemon looks, and looks again
        let notes = engine.longRunningNotifications(now: now, alreadySent: [])
        // Then the long_running webhook alone is told, once, with how long it runs against the average
        #expect(notes.map(\.url) == ["http://127.0.0.1:9/slow"] && notes.first?.event == .longRunning, "\(notes)")
        #expect(notes.first?.body.contains("the average of its last 3 runs is 5.0 s") == true, "\(notes.first?.body ?? "")")
        #expect(engine.longRunningNotifications(now: now, alreadySent: [running.id!]).isEmpty)
        // And within the tolerance (twice the average) nothing is said
        #expect(engine.longRunningNotifications(now: now.addingTimeInterval(-2), alreadySent: []).isEmpty)
    }
}

@Suite("Table triggers: every watched table updated, then the cool-down")
struct TriggerRuleTests {
    let trigger = FlowTrigger(id: "t", tables: ["in.a", "in.b"], coolDownMinutes: 10)
    let since = Date(timeIntervalSince1970: 1_000_000)

    func at(_ minutes: Double) -> Date { since.addingTimeInterval(minutes * 60) }

    @Test("one table updated is not enough, and the evaluation says which one is awaited")
    func awaiting() {
        let evaluation = TriggerEvaluation.evaluate(trigger, flow: "f", since: since, lastImports: ["in.a": at(12)])
        #expect(!evaluation.runsNow && evaluation.awaiting == ["in.b"] && evaluation.updated == ["in.a"])
        #expect(evaluation.coolDownEnds == at(10))
    }

    @Test("updates inside the cool-down count as updated but do not run it; the first update after the cool-down does")
    func coolDown() {
        let inside = TriggerEvaluation.evaluate(trigger, flow: "f", since: since, lastImports: ["in.a": at(2), "in.b": at(5)])
        #expect(!inside.runsNow && inside.awaiting.isEmpty, "both updated, within the cool-down")
        let after = TriggerEvaluation.evaluate(trigger, flow: "f", since: since, lastImports: ["in.a": at(11), "in.b": at(5)])
        #expect(after.runsNow, "in.b's update inside the cool-down still counts; in.a's after it runs the flow")
        let before = TriggerEvaluation.evaluate(trigger, flow: "f", since: since, lastImports: ["in.a": at(-1), "in.b": at(11)])
        #expect(!before.runsNow && before.awaiting == ["in.a"], "an update before the last run does not count")
        var disabled = trigger
        disabled.enabled = false
        #expect(!TriggerEvaluation.evaluate(disabled, flow: "f", since: since, lastImports: ["in.a": at(11), "in.b": at(11)]).runsNow)
    }

    @Test("through the engine: a producer's run updates both tables, the trigger runs the flow once and then awaits both again")
    func endToEnd() async throws {
        // Given a flow triggered by two tables that another flow writes
        let project = try TestProject(files: [
            "flows/f.yaml": """
                phases:
                  - {id: p, tasks: [{id: t, connector: dev.patchbay.noop}]}
                triggers:
                  - {id: both, tables: [in.a, in.b], coolDownMinutes: 1}
                """,
            "flows/producer.yaml": """
                phases:
                  - id: p
                    tasks:
                      - {id: a, connector: dev.patchbay.sample-data, parameters: {rows: 2, table: in.a}}
                      - {id: b, connector: dev.patchbay.sample-data, parameters: {rows: 2, table: in.b}}
                """,
        ])
        defer { project.remove() }
        let automation = Automation(engine: project.engine)
        // The trigger was first seen ten minutes ago (its cool-down is long over)
        try project.store.markTrigger(flow: "f", trigger: "both", since: Date().addingTimeInterval(-600))
        #expect(automation.triggers(now: Date()).first?.awaiting == ["in.a", "in.b"])
        // When the producer writes both tables
        let (produced, _) = try await project.run("producer")
        #expect(produced.status == .success)
        // Then the next tick runs the flow, once
        let actions = await automation.tick(now: Date())
        let runs = actions.compactMap { if case .submitted(let run, _) = $0 { run } else { nil } }
        #expect(runs.count == 1 && runs.first?.trigger == "trigger both", "\(actions)")
        #expect(await automation.tick(now: Date()).isEmpty, "a second tick finds nothing new")
        let evaluation = try #require(automation.triggers(now: Date()).first)
        #expect(evaluation.awaiting == ["in.a", "in.b"], "after its run it waits for both tables again")
    }
}
