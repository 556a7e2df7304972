public import PatchbayCore
import Foundation

/// What the registry knows of a connector a flow names.
public enum ConnectorFacts: Sendable {
    case available(id: String, version: String, parametersSchema: String, network: NetworkAccess = .none, pattern: JobPattern? = nil,
                   lineage: Lineage = .undeclared)
    /// Not installed, not loadable, or no such version; the text says which and what exists.
    case unavailable(String)
}

/// Checks a loaded flow against the connectors it names: each must be available, each task's parameters
/// must satisfy the connector's JSON Schema, and where connectors declare what they produce (ABI 1.4) the
/// flow's lineage must hold: references name declared outputs, no two tasks of a phase write one table,
/// and a task reads only what an earlier phase writes.
public enum FlowValidator {
    public static func check(_ flow: Flow, connectors: [ConnectorReference: ConnectorFacts]) -> [FlowIssue] {
        var issues: [FlowIssue] = []
        for task in flow.tasks {
            let path = "tasks.\(task.id)"
            switch connectors[task.connector] {
            case .none:
                issues.append(FlowIssue(task.location, "\(path).connector", "connector '\(task.connector)' was not looked up"))
            case .unavailable(let reason):
                issues.append(FlowIssue(task.location, "\(path).connector", reason))
            case .available(let id, let version, let schemaText, let declared, let pattern, _):
                // `poll` means something only to a status check: anywhere else it is a mistake worth saying.
                if task.poll != nil, let pattern, pattern != .statusCheck {
                    issues.append(FlowIssue(task.location, "\(path).poll",
                                            "poll applies only to status_check connectors; \(id)@\(version) is of pattern \(pattern.name), which runs once"))
                }
                // A task may narrow its connector's network, never widen it.
                if let asked = task.network, declared.narrowed(to: asked) != asked {
                    issues.append(FlowIssue(task.location, "\(path).network",
                                            "\(id)@\(version) declares network \(declared); a task may narrow that, never widen it (asked: \(asked))"))
                }
                guard !schemaText.isEmpty else { continue }
                guard let schema = JSONValue.schema(parsing: schemaText) else {
                    issues.append(FlowIssue(task.location, "\(path).connector",
                                            "\(id)@\(version) declares a parameter schema that is not valid JSON"))
                    continue
                }
                for violation in JSONSchema.validate(task.parameters, against: schema, deferred: Template.isWholeReference) {
                    let location = task.parameterLocations[violation.pointer] ?? task.location
                    issues.append(FlowIssue(location, "\(path).parameters\(dotted(violation.pointer))",
                                            "\(violation.message) [\(id)@\(version)]"))
                }
            }
        }
        return issues + checkLineage(flow, connectors: connectors)
    }

    /// A connector's declaration, where it makes one, and its parameter schema.
    private static func lineage(of task: FlowTask, _ connectors: [ConnectorReference: ConnectorFacts]) -> (Lineage, String)? {
        guard case .available(let id, let version, _, _, _, let lineage)? = connectors[task.connector] else { return nil }
        return (lineage, "\(id)@\(version)")
    }

    private static func schema(of task: FlowTask, _ connectors: [ConnectorReference: ConnectorFacts]) -> JSONValue? {
        guard case .available(_, _, let text, _, _, _)? = connectors[task.connector] else { return nil }
        return JSONValue.schema(parsing: text)
    }

    /// The tables a task declares it may write, as far as its parameters tell before the run (a pattern
    /// whose parameter is unset or a `${{ }}` template is not known yet); nil when its connector declares none.
    public static func declaredTables(of task: FlowTask, connectors: [ConnectorReference: ConnectorFacts]) -> [String]? {
        guard task.enabled, let (lineage, _) = lineage(of: task, connectors), let patterns = lineage.tables else { return nil }
        let schema = schema(of: task, connectors)
        return patterns.compactMap { pattern in
            pattern.tableName { name in
                // The task's value, or the schema's default where the task gives none (the connector uses it).
                let given = task.parameters.objectValue?[name] ?? schema.flatMap { JSONSchema.propertySchema($0, name)?.objectValue?["default"] }
                guard case .string(let value)? = given, !value.contains("${{") else { return nil }
                return value
            }
        }
    }

    static func checkLineage(_ flow: Flow, connectors: [ConnectorReference: ConnectorFacts]) -> [FlowIssue] {
        var issues: [FlowIssue] = []
        // References name outputs the referenced task's connector declares.
        for task in flow.tasks {
            for (pointer, reference) in (try? Template.references(in: task.parameters)) ?? [] {
                guard let target = flow.task(reference.task), let (lineage, connector) = lineage(of: target, connectors),
                      let outputs = lineage.outputs, !outputs.contains(reference.output) else { continue }
                let closest = outputs.min { editDistance($0, reference.output) < editDistance($1, reference.output) }
                let suggestion = closest.map { editDistance($0, reference.output) <= 2 ? " (did you mean '\($0)'?)" : "" } ?? ""
                issues.append(FlowIssue(task.parameterLocations[pointer] ?? task.location, "tasks.\(task.id).parameters\(dotted(pointer))",
                    "task '\(target.id)' has no output '\(reference.output)'\(suggestion): \(connector) declares "
                    + (outputs.isEmpty ? "no outputs" : outputs.joined(separator: ", "))))
            }
        }
        // Who writes each table, by phase.
        let phases = phaseIndexes(flow)
        var writers: [String: [(task: FlowTask, phase: Int)]] = [:]
        for task in flow.tasks {
            guard let phase = phases[task.id] else { continue }
            // One problem per pair of tasks, naming every table they share.
            var shared: [(other: String, tables: [String])] = []
            for table in Set(declaredTables(of: task, connectors: connectors) ?? []).sorted() {
                if let other = writers[table]?.first(where: { $0.phase == phase }) {
                    if let index = shared.firstIndex(where: { $0.other == other.task.id }) { shared[index].tables.append(table) } else {
                        shared.append((other.task.id, [table]))
                    }
                }
                writers[table, default: []].append((task, phase))
            }
            for (other, tables) in shared {
                issues.append(FlowIssue(task.location, "tasks.\(task.id)",
                    "writes \(tables.joined(separator: ", ")), as task '\(other)' of the same phase ('\(task.phase)') does: tasks of a phase run at once, so \(tables.count == 1 ? "the table" : "each") would be whichever finished last"))
            }
        }
        // A task reads only what an earlier phase writes (Keboola's rule).
        for task in flow.tasks where task.enabled {
            guard let phase = phases[task.id] else { continue }
            for (input, table) in task.inputs.sorted(by: { $0.key < $1.key }) {
                // One problem per input, naming every writer too late for it.
                let late = (writers[table] ?? []).filter { $0.phase >= phase }.enumerated().map { index, writer in
                    let when = writer.phase == phase ? "the same phase" : "a later phase"
                    let who = writer.task.id == task.id ? "the task itself" : "task '\(writer.task.id)'"
                    return "\(who)\(index == 0 ? " writes" : "") in \(when) ('\(writer.task.phase)')"
                }
                guard !late.isEmpty else { continue }
                issues.append(FlowIssue(task.location, "tasks.\(task.id).inputs.\(input)",
                    "reads \(table), which \(late.joined(separator: ", and ")); a task may read only what an earlier phase writes"))
            }
        }
        return issues
    }

    /// The catalog tables tasks read that no task of the flow declares it writes, when every enabled task of
    /// an earlier phase declares its tables (otherwise one of them may be the writer). Such a table comes
    /// from outside the flow: a typo in its name reads whatever an earlier run left.
    public static func externalInputs(_ flow: Flow, connectors: [ConnectorReference: ConnectorFacts])
        -> [(task: FlowTask, input: String, table: String)] {
        // Per phase, in order: what its enabled tasks declare they write (nil when one declares nothing).
        let phases = phaseIndexes(flow)
        var declared = [[String]?](repeating: [], count: flow.phases.count)
        for task in flow.tasks where task.enabled {
            guard let phase = phases[task.id] else { continue }
            if let tables = declaredTables(of: task, connectors: connectors) { declared[phase]? += tables } else { declared[phase] = nil }
        }
        var found: [(task: FlowTask, input: String, table: String)] = []
        for task in flow.tasks where task.enabled && !task.inputs.isEmpty {
            guard let phase = phases[task.id] else { continue }
            let earlier = declared[..<phase]
            guard !earlier.contains(where: { $0 == nil }) else { continue }
            let known = Set(earlier.flatMap { $0 ?? [] })
            for (input, table) in task.inputs.sorted(by: { $0.key < $1.key }) where !table.contains("/") && !known.contains(table) {
                found.append((task, input, table))
            }
        }
        return found
    }

    /// Each task's phase, by its place in execution order: one pass, not a search per task.
    private static func phaseIndexes(_ flow: Flow) -> [String: Int] {
        let order = Dictionary(flow.phases.enumerated().map { ($1.id, $0) }, uniquingKeysWith: { first, _ in first })
        return Dictionary(flow.tasks.compactMap { task in order[task.phase].map { (task.id, $0) } }, uniquingKeysWith: { first, _ in first })
    }
}
