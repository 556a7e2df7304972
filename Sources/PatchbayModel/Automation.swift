// When a flow runs by itself: its schedules (cron in a time zone, with catch-up and overlap policies) and its
// table triggers (every watched table updated, then a cool-down), as the flow file or a Keboola scheduler
// configuration writes them. The model and its reading, with locations; when a schedule fires is
// PatchbaySchedule's, and acting on it is the engine's.
public import Foundation
import PatchbayCore
public import PatchbaySchedule

/// What happens to fires missed while nothing ran the scheduler.
public enum CatchUpPolicy: Sendable, Codable, Equatable {
    /// Missed fires are dropped; only a fire on time runs.
    case none
    /// The latest missed fire runs once, not once per missed slot (the default).
    case latest
    /// Every missed fire runs, one run after another, at most `max` of them (the latest ones).
    case all(max: Int)

    public var word: String {
        switch self {
        case .none: "none"
        case .latest: "latest"
        case .all(let max): "all (at most \(max))"
        }
    }
}

/// What a fire does while the flow is running.
public enum OverlapPolicy: String, Sendable, Codable, Equatable, CaseIterable {
    /// Keboola's rule: one run waits for the running one; a fire while one already waits adds nothing.
    case queueOne
    /// The fire is dropped while a run of the flow is unfinished.
    case skip
    /// The unfinished runs are terminated, and the fire's run starts.
    case cancelRunning
}

/// One schedule of a flow.
public struct FlowSchedule: Sendable, Codable, Equatable {
    public var id: String
    /// The cron expression as written (checked when the flow is read).
    public var cron: String
    /// The IANA zone its wall times are in.
    public var timezone: String
    public var enabled: Bool
    public var catchUp: CatchUpPolicy
    public var overlap: OverlapPolicy
    /// The token its runs act as (a token's name); nil: the flow's orchestration token, as in Keboola.
    public var token: String?
    public var location: SourceLocation?

    public init(id: String, cron: String, timezone: String = "UTC", enabled: Bool = true, catchUp: CatchUpPolicy = .latest,
                overlap: OverlapPolicy = .queueOne, token: String? = nil, location: SourceLocation? = nil) {
        self.id = id
        self.cron = cron
        self.timezone = timezone
        self.enabled = enabled
        self.catchUp = catchUp
        self.overlap = overlap
        self.token = token
        self.location = location
    }

    /// The expression in its zone (both were checked when the flow was read).
    public func schedule(around date: Date = Date()) throws -> CronSchedule {
        CronSchedule(try CronExpression(parsing: cron), zone: try ScheduleWords.zone(named: timezone), around: date)
    }
}

/// One table trigger of a flow: it runs once every watched table has been updated since its last run.
public struct FlowTrigger: Sendable, Codable, Equatable {
    public var id: String
    public var tables: [String]
    /// Updates within this many minutes of the trigger's last run count, but do not run it (at least 1).
    public var coolDownMinutes: Int
    public var enabled: Bool
    public var location: SourceLocation?

    public init(id: String, tables: [String], coolDownMinutes: Int, enabled: Bool = true, location: SourceLocation? = nil) {
        self.id = id
        self.tables = tables
        self.coolDownMinutes = coolDownMinutes
        self.enabled = enabled
        self.location = location
    }
}

extension FlowReader {
    /// `schedules:` — a list of {cron, timezone, id, enabled, catchUp, maxCatchUp, overlap, token}.
    mutating func readSchedules(_ node: Node) -> [FlowSchedule] {
        var schedules: [FlowSchedule] = []
        for (index, item) in (sequence(node, "schedules") ?? []).enumerated() {
            let path = "schedules[\(index)]"
            guard let fields = mapping(item, path) else { continue }
            checkKeys(fields, path, allowed: ["id", "cron", "timezone", "enabled", "catchUp", "maxCatchUp", "overlap", "token"])
            let id = item["id"].flatMap { identifier($0, join(path, "id")) } ?? "schedule-\(index + 1)"
            guard let cronNode = item["cron"], let cron = text(cronNode, join(path, "cron")) else {
                fail(item, join(path, "cron"), "a schedule needs a cron expression, such as cron: \"30 2 * * *\"")
                continue
            }
            do { _ = try CronExpression(parsing: cron) } catch { fail(cronNode, join(path, "cron"), error.description) }
            let timezone = text(item["timezone"], join(path, "timezone")) ?? "UTC"
            do { _ = try ScheduleWords.zone(named: timezone) } catch { fail(item["timezone"], join(path, "timezone"), error.description) }
            var catchUp = CatchUpPolicy.latest
            if let policy = item["catchUp"], let word = text(policy, join(path, "catchUp")) {
                switch word {
                case "none": catchUp = .none
                case "latest": catchUp = .latest
                case "all":
                    var most = 10
                    if let maxNode = item["maxCatchUp"] {
                        if case .scalar(.integer(let value)) = maxNode.kind, (1...1000).contains(value) { most = Int(value) } else {
                            fail(maxNode, join(path, "maxCatchUp"), "expected a whole number from 1 to 1000: how many missed fires run at most")
                        }
                    }
                    catchUp = .all(max: most)
                default: fail(policy, join(path, "catchUp"), "'\(word)' is not a catch-up policy: write none, latest (the default) or all (with maxCatchUp)")
                }
            }
            if let maxNode = item["maxCatchUp"] {
                if case .all = catchUp {} else { fail(maxNode, join(path, "maxCatchUp"), "maxCatchUp goes with catchUp: all") }
            }
            var overlap = OverlapPolicy.queueOne
            if let policy = item["overlap"], let word = text(policy, join(path, "overlap")) {
                if let known = OverlapPolicy(rawValue: word) { overlap = known } else {
                    fail(policy, join(path, "overlap"), "'\(word)' is not an overlap policy: write \(OverlapPolicy.allCases.map(\.rawValue).joined(separator: ", ")) (queueOne is the default)")
                }
            }
            if schedules.contains(where: { $0.id == id }) { fail(item["id"] ?? item, join(path, "id"), "a second schedule with the id '\(id)'") }
            schedules.append(FlowSchedule(id: id, cron: cron, timezone: timezone, enabled: flag(item["enabled"], join(path, "enabled"), default: true),
                                          catchUp: catchUp, overlap: overlap, token: text(item["token"], join(path, "token")), location: item.location))
        }
        return schedules
    }

    /// `triggers:` — a list of {tables, coolDownMinutes, id, enabled}.
    mutating func readTriggers(_ node: Node) -> [FlowTrigger] {
        var triggers: [FlowTrigger] = []
        for (index, item) in (sequence(node, "triggers") ?? []).enumerated() {
            let path = "triggers[\(index)]"
            guard let fields = mapping(item, path) else { continue }
            checkKeys(fields, path, allowed: ["id", "tables", "coolDownMinutes", "enabled"])
            let id = item["id"].flatMap { identifier($0, join(path, "id")) } ?? "trigger-\(index + 1)"
            var tables: [String] = []
            if let list = item["tables"].flatMap({ sequence($0, join(path, "tables")) }) {
                for (position, entry) in list.enumerated() {
                    guard let table = text(entry, "\(join(path, "tables"))[\(position)]") else { continue }
                    if table.contains("."), TableFile.isValidName(table) { tables.append(table) } else {
                        fail(entry, "\(join(path, "tables"))[\(position)]", "'\(table)' is not a table name: write bucket.table")
                    }
                }
            }
            if tables.isEmpty { fail(item["tables"] ?? item, join(path, "tables"), "a trigger watches at least one table: tables: [in.orders]") }
            var coolDown = 1
            if let node = item["coolDownMinutes"] {
                if case .scalar(.integer(let value)) = node.kind, value >= 1, value <= 525_600 { coolDown = Int(value) } else {
                    fail(node, join(path, "coolDownMinutes"), "expected whole minutes, at least 1")
                }
            } else {
                fail(item, join(path, "coolDownMinutes"), "a trigger needs coolDownMinutes (at least 1), as in Keboola")
            }
            triggers.append(FlowTrigger(id: id, tables: tables, coolDownMinutes: coolDown, enabled: flag(item["enabled"], join(path, "enabled"), default: true),
                                        location: item.location))
        }
        return triggers
    }
}

/// A schedule kept in a file of its own (`schedules/NAME.yaml|json`): Patchbay's form
/// `{flow: orders, cron: …, timezone: …, …}`, or Keboola's scheduler configuration as exported, with or
/// without its `configuration` wrapper: `{"schedule": {"cronTab", "timezone", "state"}, "target":
/// {"componentId": "keboola.orchestrator", "configurationId": FLOW, "mode": "run"}}`.
public struct ScheduleFileLoader: Sendable {
    public init() {}

    /// The flow the schedule belongs to (its name, or Keboola's configurationId), and the schedule.
    public func load(file: String) throws -> (flow: String, schedule: FlowSchedule) {
        guard let data = FileManager.default.contents(atPath: file) else { throw FlowError([FlowIssue(nil, "", "cannot read \(file)")]) }
        let root = try DocumentParser.parse(String(decoding: data, as: UTF8.self), file: file)
        var reader = FlowReader(file: file, configurationDirectory: nil)
        let id = ((file as NSString).lastPathComponent as NSString).deletingPathExtension
        var result: (String, FlowSchedule)?
        let body = root["configuration"].flatMap { $0["schedule"] != nil ? $0 : nil } ?? root
        if body["schedule"] != nil || body["target"] != nil {
            result = reader.readKeboolaSchedule(body, id: id)
        } else if let fields = reader.mapping(root, "") {
            reader.checkKeys(fields, "", allowed: ["flow", "id", "cron", "timezone", "enabled", "catchUp", "maxCatchUp", "overlap", "token"])
            let flow = reader.text(root["flow"], "flow")
            if flow == nil { reader.fail(root, "flow", "a schedule file names its flow: flow: orders") }
            // The same fields as a flow's schedules: entry, read by the same code.
            let pairs = fields.filter { $0.key != "flow" }
            var entry = Node(kind: .mapping(pairs), location: root.location)
            if root["id"] == nil {
                entry = Node(kind: .mapping(pairs + [(key: "id", keyLocation: root.location, value: Node(kind: .scalar(.string(id)), location: root.location))]),
                             location: root.location)
            }
            if let schedule = reader.readSchedules(Node(kind: .sequence([entry]), location: root.location)).first, let flow {
                result = (flow, schedule)
            }
        }
        guard reader.issues.isEmpty, let result else { throw FlowError(reader.issues) }
        return result
    }
}

extension FlowReader {
    mutating func readKeboolaSchedule(_ body: Node, id: String) -> (String, FlowSchedule)? {
        guard let scheduleNode = body["schedule"], let target = body["target"] else {
            fail(body, body["schedule"] == nil ? "schedule" : "target", "a Keboola scheduler configuration has both schedule and target")
            return nil
        }
        guard let cronNode = scheduleNode["cronTab"], let cron = text(cronNode, "schedule.cronTab") else {
            fail(scheduleNode, "schedule.cronTab", "the schedule needs its cronTab")
            return nil
        }
        do { _ = try CronExpression(parsing: cron) } catch { fail(cronNode, "schedule.cronTab", error.description) }
        let timezone = text(scheduleNode["timezone"], "schedule.timezone") ?? "UTC"
        do { _ = try ScheduleWords.zone(named: timezone) } catch { fail(scheduleNode["timezone"], "schedule.timezone", error.description) }
        let state = text(scheduleNode["state"], "schedule.state") ?? "enabled"
        if state != "enabled" && state != "disabled" { fail(scheduleNode["state"], "schedule.state", "'\(state)' is not a state: enabled or disabled") }
        if let component = text(target["componentId"], "target.componentId"), component != "keboola.orchestrator" && component != "keboola.flow" {
            fail(target["componentId"], "target.componentId", "'\(component)' is not an orchestration: Patchbay schedules flows (keboola.orchestrator or keboola.flow)")
        }
        if let mode = text(target["mode"], "target.mode"), mode != "run" {
            fail(target["mode"], "target.mode", "mode '\(mode)' is not supported: run")
        }
        guard let flow = target["configurationId"].flatMap({ identifier($0, "target.configurationId") }) else {
            fail(target, "target.configurationId", "the target names the orchestration's configurationId (the flow)")
            return nil
        }
        return (flow, FlowSchedule(id: id, cron: cron, timezone: timezone, enabled: state == "enabled", location: body.location))
    }
}

/// Who hears about a flow's runs: webhooks on error, on warning and on "running much longer than usual"
/// (Keboola's rule: longer than the average of the last 20 runs by more than the tolerance).
public struct FlowNotifications: Sendable, Codable, Equatable {
    public enum Event: String, Sendable, Codable, CaseIterable {
        case error, warning
        case longRunning = "long_running"
    }

    public struct Webhook: Sendable, Codable, Equatable {
        public var url: String
        public var on: Set<Event>
        public init(url: String, on: Set<Event>) { self.url = url; self.on = on }
    }

    public var webhooks: [Webhook]
    /// How much longer than the average a run may take before it is "much longer" (percent).
    public var longRunningTolerancePercent: Int

    public init(webhooks: [Webhook], longRunningTolerancePercent: Int = 50) {
        self.webhooks = webhooks
        self.longRunningTolerancePercent = longRunningTolerancePercent
    }

    /// Whether `text` is an http or https URL with a host (a webhook's address).
    public static func isWebhookURL(_ text: String) -> Bool {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme), url.host?.isEmpty == false else { return false }
        return true
    }
}

extension FlowReader {
    /// `notifications: {webhooks: [{url, on: [error, warning, long_running]}], longRunningTolerancePercent: 50}`.
    mutating func readNotifications(_ node: Node) -> FlowNotifications? {
        guard let fields = mapping(node, "notifications") else { return nil }
        checkKeys(fields, "notifications", allowed: ["webhooks", "longRunningTolerancePercent"])
        var webhooks: [FlowNotifications.Webhook] = []
        for (index, item) in (node["webhooks"].flatMap { sequence($0, "notifications.webhooks") } ?? []).enumerated() {
            let path = "notifications.webhooks[\(index)]"
            guard let entry = mapping(item, path) else { continue }
            checkKeys(entry, path, allowed: ["url", "on"])
            guard let url = text(item["url"], join(path, "url")), FlowNotifications.isWebhookURL(url) else {
                fail(item["url"] ?? item, join(path, "url"), "a webhook needs an http or https url")
                continue
            }
            var events: Set<FlowNotifications.Event> = [.error]
            if let on = item["on"], let list = sequence(on, join(path, "on")) {
                events = []
                for (position, word) in list.enumerated() {
                    guard let name = text(word, "\(join(path, "on"))[\(position)]") else { continue }
                    if let event = FlowNotifications.Event(rawValue: name) { events.insert(event) } else {
                        fail(word, "\(join(path, "on"))[\(position)]", "'\(name)' is not an event: write error, warning or long_running")
                    }
                }
            }
            webhooks.append(FlowNotifications.Webhook(url: url, on: events))
        }
        var tolerance = 50
        if let value = node["longRunningTolerancePercent"] {
            if case .scalar(.integer(let number)) = value.kind, (0...10_000).contains(number) { tolerance = Int(number) } else {
                fail(value, "notifications.longRunningTolerancePercent", "expected a whole percentage from 0 to 10000")
            }
        }
        return FlowNotifications(webhooks: webhooks, longRunningTolerancePercent: tolerance)
    }
}
