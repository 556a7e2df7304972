import Foundation
import PatchbayCore

/// Reads a flow file — Patchbay YAML (or the same shape in JSON) or Keboola's orchestration JSON —
/// and checks its structure: ids, phase order, configurations and output references. Connector
/// checks (unknown connector, parameter schema) need the registry: see `FlowValidator`.
public struct FlowLoader: Sendable {
    /// Where shared configurations live as `<id>.yaml` / `<id>.json` (a project's `configurations/`).
    public var configurationDirectory: String?

    public init(configurationDirectory: String? = nil) {
        self.configurationDirectory = configurationDirectory
    }

    public func load(file: String) throws -> Flow {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw FlowError([FlowIssue(nil, "", "cannot read \(file)")])
        }
        return try load(text: String(decoding: data, as: UTF8.self), file: file)
    }

    public func load(text: String, file: String) throws -> Flow {
        let root = try DocumentParser.parse(text, file: file)
        var reader = FlowReader(file: file, configurationDirectory: configurationDirectory)
        let flow = reader.read(root)
        if !reader.issues.isEmpty { throw FlowError(reader.issues) }
        return flow
    }
}

/// A shared configuration: a connector and its parameters, used by one or more tasks.
struct Configuration {
    var id: String
    var connector: ConnectorReference?
    var parameters: Node?
    var inputs: [String: String]
    var location: SourceLocation
}

/// Walks located nodes into the model, collecting every issue instead of stopping at the first.
struct FlowReader {
    let file: String
    let configurationDirectory: String?
    var issues: [FlowIssue] = []
    var configurations: [String: Configuration] = [:]
    var loadedConfigurationFiles: Set<String> = []

    init(file: String, configurationDirectory: String?) {
        self.file = file
        self.configurationDirectory = configurationDirectory
    }

    mutating func fail(_ node: Node?, _ path: String, _ message: String) {
        issues.append(FlowIssue(node?.location, path, message))
    }

    // MARK: typed field access

    mutating func mapping(_ node: Node, _ path: String) -> [(key: String, keyLocation: SourceLocation, value: Node)]? {
        guard case .mapping(let pairs) = node.kind else {
            fail(node, path, "expected an object, found \(node.typeName)")
            return nil
        }
        return pairs
    }

    mutating func sequence(_ node: Node, _ path: String) -> [Node]? {
        guard case .sequence(let items) = node.kind else {
            fail(node, path, "expected a list, found \(node.typeName)")
            return nil
        }
        return items
    }

    /// Ids may be written as numbers (Keboola) or text.
    mutating func identifier(_ node: Node?, _ path: String, required: Bool = true) -> String? {
        guard let node else { return nil }
        switch node.kind {
        case .scalar(.string(let text)) where !text.isEmpty:
            guard text.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }) else {
                fail(node, path, "'\(text)' is not a valid id (letters, digits, '_' and '-' only)")
                return nil
            }
            return text
        case .scalar(.integer(let number)): return String(number)
        default:
            fail(node, path, "expected an id (text or a whole number), found \(node.typeName)")
            return nil
        }
    }

    mutating func text(_ node: Node?, _ path: String) -> String? {
        guard let node else { return nil }
        switch node.kind {
        case .scalar(.string(let text)): return text
        case .scalar(.integer(let number)): return String(number)
        case .scalar(.number(let number)): return String(number)
        default:
            fail(node, path, "expected text, found \(node.typeName)")
            return nil
        }
    }

    mutating func flag(_ node: Node?, _ path: String, default value: Bool) -> Bool {
        guard let node else { return value }
        guard case .scalar(.bool(let flag)) = node.kind else {
            fail(node, path, "expected true or false, found \(node.typeName)")
            return value
        }
        return flag
    }

    mutating func seconds(_ node: Node?, _ path: String) -> Duration? {
        guard let node else { return nil }
        switch node.kind {
        case .scalar(.integer(let value)) where value > 0: return .seconds(value)
        case .scalar(.number(let value)) where value > 0: return .milliseconds(Int64(value * 1000))
        case .scalar(.string(let text)):
            if let duration = Self.duration(text), duration > .zero { return duration }
            fail(node, path, "'\(text)' is not a duration: write seconds (30, 0.5) or a number with a unit (500ms, 30s, 5m, 2h)")
            return nil
        default:
            fail(node, path, "expected a duration greater than 0: seconds (30, 0.5) or a number with a unit (500ms, 30s, 5m, 2h)")
            return nil
        }
    }

    /// "500ms", "30s", "5m", "2h", "1.5h": a number and one unit.
    static func duration(_ text: String) -> Duration? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for (unit, seconds) in units where text.hasSuffix(unit) {
            guard let value = Double(text.dropLast(unit.count)), value.isFinite, value >= 0 else { continue }
            return .milliseconds(Int64((value * seconds * 1000).rounded()))
        }
        return nil
    }

    /// `retry: {max, delay, backoff, on}`; every field optional (Keboola's defaults: 3, 10 s, 1, [transient]).
    mutating func retry(_ node: Node, _ path: String) -> RetryPolicy? {
        guard let fields = mapping(node, path) else { return nil }
        checkKeys(fields, path, allowed: ["max", "delay", "backoff", "on"])
        var policy = RetryPolicy()
        if let max = node["max"] {
            if case .scalar(.integer(let value)) = max.kind, (0...20).contains(value) { policy.max = Int(value) } else {
                fail(max, join(path, "max"), "expected a whole number of retries from 0 to 20")
            }
        }
        if let delay = seconds(node["delay"], join(path, "delay")) { policy.delay = delay }
        if let backoff = node["backoff"] {
            switch backoff.kind {
            case .scalar(.integer(let value)) where (1...10).contains(value): policy.backoff = Double(value)
            case .scalar(.number(let value)) where value >= 1 && value <= 10: policy.backoff = value
            default: fail(backoff, join(path, "backoff"), "expected a factor from 1 (the same wait each time) to 10")
            }
        }
        if let on = node["on"], let list = sequence(on, join(path, "on")) {
            var classes = Set<FailureClass>()
            for (index, item) in list.enumerated() {
                guard let name = text(item, "\(join(path, "on"))[\(index)]") else { continue }
                if let failureClass = FailureClass(rawValue: name) { classes.insert(failureClass) } else {
                    fail(item, "\(join(path, "on"))[\(index)]",
                         "'\(name)' is not a failure class; write \(FailureClass.allCases.map(\.rawValue).joined(separator: ", "))")
                }
            }
            policy.on = classes
        }
        return policy
    }

    mutating func checkKeys(_ pairs: [(key: String, keyLocation: SourceLocation, value: Node)], _ path: String, allowed: [String]) {
        for pair in pairs where !allowed.contains(pair.key) {
            let suggestion = allowed.min { editDistance($0, pair.key) < editDistance($1, pair.key) }
                .flatMap { editDistance($0, pair.key) <= 3 ? " (did you mean '\($0)'?)" : nil } ?? ""
            issues.append(FlowIssue(pair.keyLocation, join(path, pair.key),
                                    "unknown field\(suggestion); allowed here: \(allowed.joined(separator: ", "))"))
        }
    }

    mutating func connector(_ node: Node?, version: Node?, _ path: String) -> ConnectorReference? {
        guard let text = text(node, path) else { return nil }
        var reference = ConnectorReference(id: text)
        if let at = text.firstIndex(of: "@") {
            reference = ConnectorReference(id: String(text[..<at]), version: String(text[text.index(after: at)...]))
        }
        if let version { reference.version = self.text(version, join(path, "version")) }
        if reference.id.isEmpty { fail(node, path, "the connector id is empty") }
        return reference
    }

    mutating func tableMap(_ node: Node?, _ path: String) -> [String: String] {
        guard let node, let pairs = mapping(node, path) else { return [:] }
        var result: [String: String] = [:]
        for pair in pairs {
            guard let table = text(pair.value, join(path, pair.key)) else { continue }
            // A catalog table (a name with no '/'; with one, it is a project file) follows the bucket.table grammar.
            if !table.contains("/"), !(table.contains(".") && TableFile.isValidName(table)) {
                fail(pair.value, join(path, pair.key),
                     "'\(table)' is not a table name: write bucket.table (letters, digits, '-', '_'), or a path with a '/' for a project file")
                continue
            }
            result[pair.key] = table
        }
        return result
    }

    // MARK: documents

    mutating func read(_ root: Node) -> Flow {
        guard let pairs = mapping(root, "") else { return Flow(name: "", file: file, phases: [], tasks: [], format: "native") }
        // Keboola's API wraps the orchestration in {"name": …, "configuration": {"phases": …, "tasks": …}}.
        if let inner = root["configuration"], inner["phases"] != nil, root["phases"] == nil {
            var flow = readKeboola(inner)
            if let name = text(root["name"], "name") { flow.name = name }
            return flow
        }
        if root["tasks"] != nil, root["phases"] != nil {
            return readKeboola(root)
        }
        return readNative(root, pairs: pairs)
    }

    var defaultName: String {
        let base = (file as NSString).lastPathComponent
        return (base as NSString).deletingPathExtension
    }

    mutating func readNative(_ root: Node, pairs: [(key: String, keyLocation: SourceLocation, value: Node)]) -> Flow {
        checkKeys(pairs, "", allowed: ["name", "description", "variables", "configurations", "phases", "schedules", "triggers", "notifications"])
        let name = text(root["name"], "name") ?? defaultName
        var variables: [String: String]?
        if let section = root["variables"], let entries = mapping(section, "variables") {
            var values: [String: String] = [:]
            for entry in entries {
                switch entry.value.kind {
                case .scalar(.string(let text)): values[entry.key] = text
                case .scalar(.integer(let number)): values[entry.key] = String(number)
                case .scalar(.number(let number)): values[entry.key] = String(number)
                case .scalar(.bool(let flag)): values[entry.key] = String(flag)
                default: fail(entry.value, join("variables", entry.key), "a variable is text, a number or a boolean")
                }
            }
            variables = values
        }
        if let section = root["configurations"], let entries = mapping(section, "configurations") {
            for entry in entries {
                let path = join("configurations", entry.key)
                if let configuration = readConfiguration(entry.value, id: entry.key, path: path, lenient: false) {
                    configurations[entry.key] = configuration
                }
            }
        }
        var phases: [Phase] = []
        var tasks: [FlowTask] = []
        guard let phasesNode = root["phases"] else {
            fail(root, "phases", "a flow needs a 'phases' list")
            return Flow(name: name, file: file, phases: [], tasks: [], format: "native")
        }
        for (index, node) in (sequence(phasesNode, "phases") ?? []).enumerated() {
            let path = "phases[\(index)]"
            guard let phase = readPhase(node, path: path, allowed: ["id", "name", "dependsOn", "tasks"]) else { continue }
            phases.append(phase)
            let id = phase.id
            for (taskIndex, taskNode) in (node["tasks"].flatMap { sequence($0, join(path, "tasks")) } ?? []).enumerated() {
                if let task = readNativeTask(taskNode, phase: id, path: "\(path).tasks[\(taskIndex)]") { tasks.append(task) }
            }
        }
        var flow = Flow(name: name, file: file, phases: phases, tasks: tasks, format: "native", variables: variables)
        if let node = root["schedules"] { flow.schedules = readSchedules(node) }
        if let node = root["triggers"] { flow.triggers = readTriggers(node) }
        if let node = root["notifications"] { flow.notifications = readNotifications(node) }
        return finish(flow)
    }

    /// A phase's id, name and dependsOn. `allowed` lists the known fields (nil: Keboola's, which has more).
    mutating func readPhase(_ node: Node, path: String, allowed: [String]?) -> Phase? {
        guard let fields = mapping(node, path) else { return nil }
        if let allowed { checkKeys(fields, path, allowed: allowed) }
        guard let id = identifier(node["id"], join(path, "id")) else {
            if node["id"] == nil { fail(node, path, "a phase needs an 'id'") }
            return nil
        }
        let dependsOn = (node["dependsOn"].flatMap { sequence($0, join(path, "dependsOn")) } ?? [])
            .enumerated().compactMap { identifier($1, "\(join(path, "dependsOn"))[\($0)]") }
        return Phase(id: id, name: text(node["name"], join(path, "name")) ?? id, dependsOn: dependsOn, location: node.location)
    }

    mutating func readNativeTask(_ node: Node, phase: String, path: String) -> FlowTask? {
        guard let fields = mapping(node, path) else { return nil }
        checkKeys(fields, path, allowed: ["id", "name", "connector", "version", "configuration", "parameters", "inputs",
                                          "enabled", "continueOnFailure", "timeout", "poll", "retry", "files", "network"])
        guard let id = identifier(node["id"], join(path, "id")) else {
            if node["id"] == nil { fail(node, path, "a task needs an 'id'") }
            return nil
        }
        var poll: PollPolicy?
        if let pollNode = node["poll"], let pollFields = mapping(pollNode, join(path, "poll")) {
            checkKeys(pollFields, join(path, "poll"), allowed: ["interval", "timeout"])
            var policy = PollPolicy()
            if let interval = seconds(pollNode["interval"], join(path, "poll.interval")) { policy.interval = interval }
            if let timeout = seconds(pollNode["timeout"], join(path, "poll.timeout")) { policy.timeout = timeout }
            poll = policy
        }
        var files: FileGrants?
        if let filesNode = node["files"], let fileFields = mapping(filesNode, join(path, "files")) {
            checkKeys(fileFields, join(path, "files"), allowed: ["read", "write"])
            func paths(_ key: String) -> [String] {
                guard let list = filesNode[key].flatMap({ sequence($0, join(path, "files.\(key)")) }) else { return [] }
                return list.enumerated().compactMap { index, item in
                    guard let value = text(item, "\(join(path, "files.\(key)"))[\(index)]") else { return nil }
                    if value.isEmpty || value.split(separator: "/").contains("..") {
                        fail(item, "\(join(path, "files.\(key)"))[\(index)]", "'\(value)' is not a usable path (empty, or with '..')")
                        return nil
                    }
                    return value
                }
            }
            files = FileGrants(read: paths("read"), write: paths("write"))
        }
        let configurationID = node["configuration"].flatMap { identifier($0, join(path, "configuration")) }
        var task = makeTask(
            id: id, name: text(node["name"], join(path, "name")) ?? id, phase: phase, node: node, path: path,
            connector: node["connector"].flatMap { connector($0, version: node["version"], join(path, "connector")) },
            connectorNode: node["connector"], configurationID: configurationID, configurationNode: node["configuration"],
            parameters: node["parameters"], parametersPath: join(path, "parameters"),
            inputs: tableMap(node["inputs"], join(path, "inputs")),
            enabled: flag(node["enabled"], join(path, "enabled"), default: true),
            continueOnFailure: flag(node["continueOnFailure"], join(path, "continueOnFailure"), default: false),
            timeout: seconds(node["timeout"], join(path, "timeout")), poll: poll)
        task?.files = files
        if let retryNode = node["retry"] { task?.retry = retry(retryNode, join(path, "retry")) }
        if let networkNode = node["network"] { task?.network = network(networkNode, join(path, "network")) }
        return task
    }

    mutating func readKeboola(_ root: Node) -> Flow {
        var phases: [Phase] = []
        var tasks: [FlowTask] = []
        for (index, node) in (sequence(root["phases"]!, "phases") ?? []).enumerated() {
            if let phase = readPhase(node, path: "phases[\(index)]", allowed: nil) { phases.append(phase) }
        }
        for (index, node) in (sequence(root["tasks"]!, "tasks") ?? []).enumerated() {
            let path = "tasks[\(index)]"
            guard mapping(node, path) != nil else { continue }
            guard let id = identifier(node["id"], join(path, "id")) else {
                if node["id"] == nil { fail(node, path, "a task needs an 'id'") }
                continue
            }
            guard let phase = identifier(node["phase"], join(path, "phase")) else {
                if node["phase"] == nil { fail(node, path, "a task needs a 'phase'") }
                continue
            }
            guard let body = node["task"], mapping(body, join(path, "task")) != nil else {
                fail(node, path, "a task needs a 'task' object with componentId and configId or configData")
                continue
            }
            let bodyPath = join(path, "task")
            if let mode = text(body["mode"], join(bodyPath, "mode")), mode != "run", mode != "debug" {
                fail(body["mode"], join(bodyPath, "mode"), "mode '\(mode)' is not supported (run or debug)")
            }
            if body["componentId"] == nil { fail(body, bodyPath, "a task needs 'componentId'") }
            var parameters: Node?
            var inputs: [String: String] = [:]
            if let data = body["configData"], mapping(data, join(bodyPath, "configData")) != nil {
                parameters = data["parameters"]
                inputs = keboolaInputs(data["storage"], join(bodyPath, "configData.storage"))
            }
            // Keboola checks a task's configuration only when the task is enabled: a disabled task may have
            // no configId, or an empty one.
            let enabled = flag(node["enabled"], join(path, "enabled"), default: true)
            let noConfiguration = body["configId"].map { node in
                if case .scalar(.string(let text)) = node.kind { return text.isEmpty }
                return false
            } ?? true
            let configurationID = !enabled && noConfiguration ? nil : body["configId"].flatMap { identifier($0, join(bodyPath, "configId")) }
            if configurationID == nil, body["configData"] == nil, enabled {
                fail(body, bodyPath, "a task needs 'configId' or 'configData'")
            }
            let task = makeTask(
                id: id, name: text(node["name"], join(path, "name")) ?? id, phase: phase, node: node, path: path,
                connector: body["componentId"].flatMap { connector($0, version: nil, join(bodyPath, "componentId")) },
                connectorNode: body["componentId"], configurationID: configurationID,
                configurationNode: configurationID == nil ? nil : body["configId"],
                parameters: parameters, parametersPath: join(bodyPath, "configData.parameters"), inputs: inputs,
                enabled: enabled,
                continueOnFailure: flag(node["continueOnFailure"], join(path, "continueOnFailure"), default: false),
                timeout: nil, poll: nil)
            if let task { tasks.append(task) }
        }
        return finish(Flow(name: defaultName, file: file, phases: phases, tasks: tasks, format: "keboola"))
    }

    /// Keboola's input mapping: storage.input.tables[{source, destination}] → input name (destination without .csv).
    mutating func keboolaInputs(_ node: Node?, _ path: String) -> [String: String] {
        guard let tables = node?["input"]?["tables"], let items = sequence(tables, join(path, "input.tables")) else { return [:] }
        var result: [String: String] = [:]
        for (index, item) in items.enumerated() {
            let itemPath = "\(join(path, "input.tables"))[\(index)]"
            guard let source = text(item["source"], join(itemPath, "source")) else {
                fail(item, itemPath, "an input table needs 'source'")
                continue
            }
            var name = text(item["destination"], join(itemPath, "destination")) ?? source
            if name.hasSuffix(".csv") { name.removeLast(4) }
            result[name] = source
        }
        return result
    }

    // MARK: configurations

    mutating func readConfiguration(_ node: Node, id: String, path: String, lenient: Bool) -> Configuration? {
        guard let fields = mapping(node, path) else { return nil }
        if !lenient { checkKeys(fields, path, allowed: ["connector", "version", "parameters", "inputs"]) }
        let connectorNode = node["connector"] ?? node["componentId"]
        var inputs = tableMap(node["inputs"], join(path, "inputs"))
        if let storage = node["storage"] { inputs.merge(keboolaInputs(storage, join(path, "storage"))) { _, new in new } }
        return Configuration(
            id: id, connector: connectorNode.flatMap { connector($0, version: node["version"], join(path, "connector")) },
            parameters: node["parameters"], inputs: inputs, location: node.location)
    }

    /// A configuration declared in the flow, else `configurations/<id>.yaml|yml|json` in the project.
    mutating func configuration(_ id: String) -> Configuration? {
        if let found = configurations[id] { return found }
        guard let directory = configurationDirectory, !loadedConfigurationFiles.contains(id) else { return nil }
        loadedConfigurationFiles.insert(id)
        for ext in ["yaml", "yml", "json"] {
            let path = "\(directory)/\(id).\(ext)"
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            do {
                let node = try DocumentParser.parse(String(decoding: data, as: UTF8.self), file: path)
                let configuration = readConfiguration(node, id: id, path: "", lenient: ext == "json")
                configurations[id] = configuration
                return configuration
            } catch let error as FlowError {
                issues.append(contentsOf: error.issues)
                return nil
            } catch {
                issues.append(FlowIssue(nil, "", "\(path): \(error)"))
                return nil
            }
        }
        return nil
    }

    // MARK: tasks

    /// `network: none`, `network: any`, or `network: {tcp: [443, 5432]}`: what the task narrows its connector to.
    mutating func network(_ node: Node, _ path: String) -> NetworkAccess? {
        if case .string(let word) = node.value {
            switch word {
            case "none": return NetworkAccess.none
            case "any": return .any
            default:
                fail(node, path, "expected none, any or {tcp: [PORT, …]}, found '\(word)'")
                return nil
            }
        }
        guard let fields = mapping(node, path) else { return nil }
        checkKeys(fields, path, allowed: ["tcp"])
        guard let list = node["tcp"].flatMap({ sequence($0, join(path, "tcp")) }) else {
            fail(node, path, "expected {tcp: [PORT, …]}")
            return nil
        }
        var ports: [UInt16] = []
        for (index, item) in list.enumerated() {
            guard case .scalar(.integer(let value)) = item.kind, value >= 1, value <= 65535 else {
                fail(item, "\(join(path, "tcp"))[\(index)]", "a TCP port is a whole number from 1 to 65535")
                continue
            }
            ports.append(UInt16(value))
        }
        return .tcpPorts(ports)
    }

    mutating func makeTask(id: String, name: String, phase: String, node: Node, path: String,
                           connector: ConnectorReference?, connectorNode: Node?,
                           configurationID: String?, configurationNode: Node?,
                           parameters: Node?, parametersPath: String, inputs: [String: String],
                           enabled: Bool, continueOnFailure: Bool, timeout: Duration?, poll: PollPolicy?) -> FlowTask? {
        var resolvedConnector = connector
        var merged: [String: JSONValue] = [:]
        var locations: [String: SourceLocation] = [:]
        var mergedInputs: [String: String] = [:]
        if let configurationID {
            if let configuration = configuration(configurationID) {
                if let configured = configuration.connector {
                    if let connector, connector.id != configured.id {
                        fail(connectorNode, join(path, "connector"),
                             "the task says '\(connector.id)' but configuration '\(configurationID)' is for '\(configured.id)'")
                    }
                    if resolvedConnector == nil { resolvedConnector = configured }
                }
                if let parametersNode = configuration.parameters {
                    if case .object(let values) = parametersNode.value { merged = values } else {
                        fail(parametersNode, "configurations.\(configurationID).parameters", "expected an object, found \(parametersNode.typeName)")
                    }
                    locations = parametersNode.locations()
                }
                mergedInputs = configuration.inputs
            } else {
                let place = configurationDirectory.map { " (looked in the flow's 'configurations' and in \($0))" } ?? ""
                fail(configurationNode, join(path, "configuration"), "unknown configuration '\(configurationID)'\(place)")
            }
        }
        if let parameters {
            if case .object(let values) = parameters.value {
                merged.merge(values) { _, task in task }
                locations.merge(parameters.locations()) { _, task in task }
            } else {
                fail(parameters, parametersPath, "expected an object, found \(parameters.typeName)")
            }
        }
        mergedInputs.merge(inputs) { _, task in task }
        guard let resolvedConnector else {
            fail(node, path, "a task needs a 'connector' (or a configuration that names one)")
            return nil
        }
        return FlowTask(id: id, name: name, phase: phase, connector: resolvedConnector, configurationID: configurationID,
                        parameters: .object(merged), inputs: mergedInputs, enabled: enabled,
                        continueOnFailure: continueOnFailure, timeout: timeout, poll: poll, files: nil, location: node.location,
                        parameterLocations: locations)
    }

    // MARK: whole-flow checks

    mutating func finish(_ flow: Flow) -> Flow {
        var flow = flow
        var seenPhases: [String: SourceLocation?] = [:]
        for phase in flow.phases {
            if seenPhases[phase.id] != nil {
                issues.append(FlowIssue(phase.location, "phases.\(phase.id)", "duplicate phase id '\(phase.id)'"))
            }
            seenPhases[phase.id] = phase.location
        }
        var seenTasks = Set<String>()
        for task in flow.tasks {
            if !seenTasks.insert(task.id).inserted {
                issues.append(FlowIssue(task.location, "tasks.\(task.id)", "duplicate task id '\(task.id)'"))
            }
            if seenPhases[task.phase] == nil {
                issues.append(FlowIssue(task.location, "tasks.\(task.id).phase", "unknown phase '\(task.phase)'"))
            }
        }
        for phase in flow.phases {
            for dependency in phase.dependsOn where seenPhases[dependency] == nil {
                issues.append(FlowIssue(phase.location, "phases.\(phase.id).dependsOn", "unknown phase '\(dependency)'"))
            }
            if !flow.tasks.contains(where: { $0.phase == phase.id }) {
                issues.append(FlowIssue(phase.location, "phases.\(phase.id)", "phase '\(phase.id)' has no tasks"))
            }
        }
        if flow.phases.isEmpty { issues.append(FlowIssue(nil, "phases", "the flow has no phases")) }
        if let ordered = orderPhases(flow.phases) { flow.phases = ordered }
        checkReferences(flow)
        return flow
    }

    /// Stable topological order: a phase runs after everything it depends on, otherwise in file order.
    mutating func orderPhases(_ phases: [Phase]) -> [Phase]? {
        var remaining = phases
        var ordered: [Phase] = []
        var done = Set<String>()
        let known = Set(phases.map(\.id))
        while !remaining.isEmpty {
            guard let next = remaining.firstIndex(where: { $0.dependsOn.allSatisfy { done.contains($0) || !known.contains($0) } }) else {
                let cycle = remaining.map(\.id).joined(separator: " → ")
                issues.append(FlowIssue(remaining[0].location, "phases.\(remaining[0].id).dependsOn",
                                        "phases depend on each other in a cycle: \(cycle)"))
                return nil
            }
            done.insert(remaining[next].id)
            ordered.append(remaining.remove(at: next))
        }
        return ordered
    }

    mutating func checkReferences(_ flow: Flow) {
        for task in flow.tasks {
            let references: [(pointer: String, reference: OutputReference)]
            do { references = try Template.references(in: task.parameters) } catch let error as TemplateError {
                issues.append(FlowIssue(task.parameterLocations[error.pointer] ?? task.location,
                                        "tasks.\(task.id).parameters\(dotted(error.pointer))", error.message))
                continue
            } catch { continue }
            guard let ownPhase = flow.phaseIndex(of: task.id) else { continue }
            for (pointer, reference) in references {
                let location = task.parameterLocations[pointer] ?? task.location
                let path = "tasks.\(task.id).parameters\(dotted(pointer))"
                guard let target = flow.task(reference.task), let targetPhase = flow.phaseIndex(of: target.id) else {
                    issues.append(FlowIssue(location, path, "refers to unknown task '\(reference.task)'"))
                    continue
                }
                if targetPhase >= ownPhase {
                    let when = targetPhase == ownPhase ? "the same phase" : "a later phase"
                    issues.append(FlowIssue(location, path,
                        "refers to task '\(target.id)' in \(when) ('\(target.phase)'); outputs flow only to later phases"))
                } else if !target.enabled {
                    issues.append(FlowIssue(location, path, "refers to task '\(target.id)', which is disabled"))
                }
            }
        }
    }
}

func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

/// "/a/0/b" → ".a[0].b"
func dotted(_ pointer: String) -> String {
    pointer.split(separator: "/", omittingEmptySubsequences: true)
        .map { part in Int(part) != nil ? "[\(part)]" : ".\(part)" }.joined()
}

