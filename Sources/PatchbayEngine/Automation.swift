// Automation: which schedules fire and which triggers run, decided from the engine's clock, the flows'
// files and what the store remembers, and the runs that follows submitted through the engine. Owns the
// policies (catch-up, overlap, the trigger's cool-down); the cron arithmetic is PatchbaySchedule's, and the
// loop that calls `tick` (and executes the runs) is the daemon's. Knows nothing of HTTP.
public import Foundation
public import PatchbayModel
public import PatchbaySchedule
public import PatchbayStore
import PatchbaySecurity
import Synchronization

extension Engine {
    /// Stops a flow's unattended runs (schedules, triggers, the API), or allows them again (`reason` nil).
    /// A person may still start it (`patchbay run`).
    public func setUnattendedRuns(of flow: String, disabledBecause reason: String?) throws {
        try store.setDisabled(flow: flow, reason: reason, at: time.now())
    }

    /// Why a flow's unattended runs are stopped, and since when; nil when they are not.
    public func unattendedRunsDisabled(flow: String) throws -> (at: Date, reason: String)? {
        try store.disabled(flow: flow)
    }
}

/// A schedule as it stands: for `schedule list` and the API.
public struct ScheduleStatus: Sendable {
    public var flow: String
    public var file: String
    public var schedule: FlowSchedule
    public var lastFire: Date?
    public var next: Fire?
    /// The next fires (up to 12), `next` first.
    public var upcoming: [Fire] = []
    /// Why the user should look twice (runs will queue: the interval is shorter than the flow's recent p90).
    public var warnings: [String]
}

/// A trigger's last evaluation: which tables it still awaits, and when its cool-down ends.
public struct TriggerEvaluation: Sendable, Equatable {
    public var flow: String
    public var trigger: FlowTrigger
    /// Updates after this count (the trigger's last run, or when it was first seen).
    public var since: Date
    public var updated: [String]
    public var awaiting: [String]
    public var coolDownEnds: Date
    /// Every table was updated since `since`, the latest of them after the cool-down: it runs now.
    public var runsNow: Bool

    /// The rule, Keboola's: the flow runs once every watched table has been updated since its last run;
    /// updates inside the cool-down count as updated but do not run it; the first qualifying update after
    /// the cool-down does.
    public static func evaluate(_ trigger: FlowTrigger, flow: String, since: Date, lastImports: [String: Date]) -> TriggerEvaluation {
        let updated = trigger.tables.filter { (lastImports[$0] ?? .distantPast) > since }
        let coolDownEnds = since.addingTimeInterval(TimeInterval(trigger.coolDownMinutes * 60))
        let latest = trigger.tables.compactMap { lastImports[$0] }.max() ?? .distantPast
        let complete = updated.count == trigger.tables.count
        return TriggerEvaluation(flow: flow, trigger: trigger, since: since, updated: updated,
                                 awaiting: trigger.tables.filter { !updated.contains($0) }, coolDownEnds: coolDownEnds,
                                 runsNow: trigger.enabled && complete && latest >= coolDownEnds)
    }
}

/// What one tick did.
public enum AutomationAction: Sendable, Equatable {
    /// A run was submitted (not yet executed: the caller executes it).
    case submitted(RunRecord, reason: String)
    /// A fire was handled without a run, and why.
    case dropped(flow: String, schedule: String, fire: Date, reason: String)
    /// Runs were terminated for a fire (overlap: cancelRunning).
    case terminated(runs: [Int64], flow: String, schedule: String)
    /// A flow file, or a schedule file, could not be read; its automation is paused until it can.
    case unreadable(file: String, problem: String)
}

public final class Automation: Sendable {
    /// Fires older than this when first seen are missed (catch-up decides), not on time.
    public static let onTimeGrace: TimeInterval = 60

    let engine: Engine
    /// Each file's flow as last read, by path and modification time: a tick reads only what changed.
    private let cache = Mutex<[String: (modified: Date, flow: Flow?, problem: String?)]>([:])

    public init(engine: Engine) { self.engine = engine }

    /// Every flow with schedules or triggers: from its flow file, and the files of `schedules/`.
    public func automatedFlows() -> (flows: [(file: String, flow: Flow)], problems: [(file: String, problem: String)]) {
        var flows: [(String, Flow)] = [], problems: [(String, String)] = []
        for file in engine.project.flowFiles() {
            switch read(file, { try FlowLoader(configurationDirectory: self.engine.project.configurationDirectory).load(file: $0) }) {
            case .success(let flow): flows.append((file, flow))
            case .failure(let problem): problems.append((file, problem.description))
            }
        }
        let directory = engine.project.root + "/schedules"
        for name in ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
        where [".yaml", ".yml", ".json"].contains(where: name.hasSuffix) {
            let file = directory + "/" + name
            do {
                let (flowName, schedule) = try ScheduleFileLoader().load(file: file)
                guard let index = flows.firstIndex(where: { $0.1.name == flowName || (($0.0 as NSString).lastPathComponent as NSString).deletingPathExtension == flowName }) else {
                    problems.append((file, "\(file): the schedule's flow '\(flowName)' is not a flow of the project (flows: \(flows.map(\.1.name).joined(separator: ", ")))"))
                    continue
                }
                flows[index].1.schedules = (flows[index].1.schedules ?? []) + [schedule]
            } catch {
                problems.append((file, "\(error)"))
            }
        }
        return (flows.filter { !($0.1.schedules ?? []).isEmpty || !($0.1.triggers ?? []).isEmpty }, problems)
    }

    private struct Problem: Error, CustomStringConvertible { let description: String }

    private func read(_ file: String, _ load: (String) throws -> Flow) -> Result<Flow, Problem> {
        let modified = ((try? FileManager.default.attributesOfItem(atPath: file))?[.modificationDate] as? Date) ?? .distantPast
        if let cached = cache.withLock({ $0[file] }), cached.modified == modified {
            return cached.flow.map { .success($0) } ?? .failure(Problem(description: cached.problem ?? "unreadable"))
        }
        do {
            let flow = try load(file)
            cache.withLock { $0[file] = (modified, flow, nil) }
            return .success(flow)
        } catch {
            cache.withLock { $0[file] = (modified, nil, "\(error)") }
            return .failure(Problem(description: "\(error)"))
        }
    }

    /// One pass at `now`: each enabled schedule's due fire by its policies, each trigger whose tables are
    /// all updated. Runs are submitted, not executed.
    public func tick(now: Date) async -> [AutomationAction] {
        var actions: [AutomationAction] = []
        let (flows, problems) = automatedFlows()
        actions += problems.map { .unreadable(file: $0.file, problem: $0.problem) }
        for (file, flow) in flows {
            // A disabled flow runs nothing unattended; its fires are let go (none waits to run when it is enabled again).
            if (try? engine.store.disabled(flow: flow.name)) ?? nil != nil {
                for schedule in flow.schedules ?? [] { try? engine.store.advance(flow: flow.name, schedule: schedule.id, to: now) }
                continue
            }
            for schedule in flow.schedules ?? [] where schedule.enabled {
                actions += await fire(schedule, of: flow, file: file, now: now)
            }
            for trigger in flow.triggers ?? [] where trigger.enabled {
                if let action = await evaluate(trigger, of: flow, file: file, now: now) { actions.append(action) }
            }
        }
        return actions
    }

    private func fire(_ schedule: FlowSchedule, of flow: Flow, file: String, now: Date) async -> [AutomationAction] {
        let store = engine.store
        let nowSeconds = Int64(now.timeIntervalSince1970.rounded(.down))
        guard var cron = try? schedule.schedule(around: now) else { return [] }
        guard let last = (try? store.lastFire(flow: flow.name, schedule: schedule.id)) ?? nil else {
            // First sight: fires from now on count; none of the past is "missed".
            try? store.advance(flow: flow.name, schedule: schedule.id, to: now)
            return []
        }
        // The fires due: after the last one handled, up to now (bounded: a year of minutely fires is not listed).
        var due: [Fire] = []
        var at = Int64(last.at.timeIntervalSince1970.rounded(.down))
        let most: Int = if case .all(let max) = schedule.catchUp { max } else { 1 }
        while let next = cron.nextFire(after: at), next.instant <= nowSeconds {
            due.append(next)
            if due.count > most { due.removeFirst() }
            at = next.instant
        }
        guard let latest = due.last else { return [] }
        let onTime = Double(nowSeconds - latest.instant) <= Self.onTimeGrace
        let chosen: Fire
        switch schedule.catchUp {
        case .none:
            guard onTime else {
                try? store.advance(flow: flow.name, schedule: schedule.id, to: latest.date)
                return [.dropped(flow: flow.name, schedule: schedule.id, fire: latest.date, reason: "missed while Patchbay was not running (catchUp: none)")]
            }
            chosen = latest
        case .latest:
            chosen = latest
        case .all:
            // The oldest fire still due (of at most `max`); the older ones past the cap are dropped.
            chosen = due[0]
        }
        // Overlap: what is running, what waits.
        let unfinished = ((try? store.unfinishedRuns()) ?? []).filter { $0.flowName == flow.name }
        let waiting = unfinished.filter { $0.status == .created || $0.status == .waiting }
        var actions: [AutomationAction] = []
        switch schedule.overlap {
        case .queueOne where !waiting.isEmpty:
            if case .all = schedule.catchUp, !(chosen.instant == latest.instant && onTime) { return [] }  // a catch-up fire waits its turn
            try? store.advance(flow: flow.name, schedule: schedule.id, to: chosen.date)
            return [.dropped(flow: flow.name, schedule: schedule.id, fire: chosen.date,
                             reason: "run \(waiting[0].id!) already waits for the running one (overlap: queueOne)")]
        case .skip where !unfinished.isEmpty:
            try? store.advance(flow: flow.name, schedule: schedule.id, to: chosen.date)
            return [.dropped(flow: flow.name, schedule: schedule.id, fire: chosen.date,
                             reason: "run \(unfinished[0].id!) is \(unfinished[0].status.rawValue) (overlap: skip)")]
        case .cancelRunning where !unfinished.isEmpty:
            for run in unfinished { _ = try? engine.requestTermination(of: run.id!, reason: "terminated: schedule '\(schedule.id)' fired (overlap: cancelRunning)") }
            actions.append(.terminated(runs: unfinished.map { $0.id! }, flow: flow.name, schedule: schedule.id))
        default:
            break
        }
        // Its own token, when it names one (else the orchestration token, as in Keboola): live, and allowed to run.
        var startedBy: Int64?
        if let name = schedule.token {
            let token = ((try? store.tokens()) ?? []).first { $0.name == name }
            let refusal: String? = if let token {
                (try? engine.liveScopes(of: token, at: now)).map { $0.isMaster || $0.canRunOrchestrations ? nil : "the token '\(name)' may not run orchestrations" }
                    ?? "the token '\(name)' is revoked or expired"
            } else { "there is no token '\(name)'" }
            if let refusal {
                try? store.advance(flow: flow.name, schedule: schedule.id, to: chosen.date)
                return actions + [.dropped(flow: flow.name, schedule: schedule.id, fire: chosen.date, reason: refusal + " (the schedule's token)")]
            }
            startedBy = token?.id
        }
        do {
            let loaded = try await engine.load(flowFile: file)
            var options = RunOptions()
            options.startedBy = startedBy
            options.trigger = "schedule \(schedule.id)"
            options.mark = .fire(flow: flow.name, schedule: schedule.id, at: chosen.date)
            let run = try engine.submit(loaded, options: options)
            let when = chosen.rfc3339
            actions.append(.submitted(run, reason: "schedule '\(schedule.id)' (\(schedule.cron) in \(schedule.timezone)) fired for \(when)"
                                      + (onTime || chosen.instant != latest.instant ? "" : ", missed while Patchbay was not running (catchUp: \(schedule.catchUp.word))")))
        } catch {
            // The fire is handled: a flow that cannot run now is reported, not retried every second.
            try? store.advance(flow: flow.name, schedule: schedule.id, to: chosen.date)
            actions.append(.dropped(flow: flow.name, schedule: schedule.id, fire: chosen.date, reason: "the flow could not be submitted: \(error)"))
        }
        return actions
    }

    /// A trigger's evaluation now. One never seen before counts updates from now: `recording` stores that
    /// (the daemon's first sight), else it is only shown.
    public func evaluation(of trigger: FlowTrigger, flow: String, now: Date, recording: Bool = false) -> TriggerEvaluation {
        let store = engine.store
        let mark = (try? store.triggerMark(flow: flow, trigger: trigger.id)) ?? nil
        if mark == nil && recording { try? store.markTrigger(flow: flow, trigger: trigger.id, since: now) }
        let since = mark?.since ?? now
        let tables = (try? store.tables()) ?? []
        let imports = Dictionary(tables.map { ($0.name, $0.lastImportAt) }, uniquingKeysWith: { first, _ in first })
        return TriggerEvaluation.evaluate(trigger, flow: flow, since: since, lastImports: imports)
    }

    private func evaluate(_ trigger: FlowTrigger, of flow: Flow, file: String, now: Date) async -> AutomationAction? {
        let evaluation = evaluation(of: trigger, flow: flow.name, now: now, recording: true)
        guard evaluation.runsNow else { return nil }
        do {
            let loaded = try await engine.load(flowFile: file)
            var options = RunOptions()
            options.trigger = "trigger \(trigger.id)"
            options.mark = .trigger(flow: flow.name, trigger: trigger.id, at: now)
            let run = try engine.submit(loaded, options: options)
            return .submitted(run, reason: "trigger '\(trigger.id)': \(trigger.tables.joined(separator: ", ")) all updated since \(Engine.rfc3339(evaluation.since))")
        } catch {
            return .unreadable(file: file, problem: "trigger '\(trigger.id)' could not submit the flow: \(error)")
        }
    }

    /// Every schedule with its next fire after `now`, and warnings.
    public func schedules(now: Date) -> [ScheduleStatus] {
        var statuses: [ScheduleStatus] = []
        for (file, flow) in automatedFlows().flows {
            let durations = ((try? engine.store.runs(flow: flow.name, limit: 20)) ?? []).compactMap { run -> TimeInterval? in
                guard let start = run.startedAt, let end = run.finishedAt else { return nil }
                return end.timeIntervalSince(start)
            }.sorted()
            for schedule in flow.schedules ?? [] {
                guard var cron = try? schedule.schedule(around: now) else { continue }
                let fires = cron.fires(after: now, count: 12)
                var warnings: [String] = []
                if durations.count >= 3, fires.count >= 2 {
                    let p90 = durations[min(durations.count - 1, Int((Double(durations.count) * 0.9).rounded(.up)) - 1)]
                    let interval = zip(fires, fires.dropFirst()).map { TimeInterval($1.instant - $0.instant) }.min() ?? .infinity
                    if interval < p90 {
                        warnings.append("runs will queue: it fires every \(Self.words(interval)) at the shortest, and the flow's last \(durations.count) runs took up to \(Self.words(p90)) (p90)")
                    }
                }
                let last = (try? engine.store.lastFire(flow: flow.name, schedule: schedule.id)) ?? nil
                statuses.append(ScheduleStatus(flow: flow.name, file: file, schedule: schedule, lastFire: last?.at, next: fires.first, upcoming: fires, warnings: warnings))
            }
        }
        return statuses
    }

    /// Every trigger's evaluation now.
    public func triggers(now: Date) -> [TriggerEvaluation] {
        automatedFlows().flows.flatMap { _, flow in (flow.triggers ?? []).map { evaluation(of: $0, flow: flow.name, now: now) } }
    }

    static func words(_ seconds: TimeInterval) -> String {
        seconds < 120 ? "\(Int(seconds.rounded())) s" : seconds < 7200 ? "\(Int((seconds / 60).rounded())) min" : String(format: "%.1f h", seconds / 3600)
    }
}
