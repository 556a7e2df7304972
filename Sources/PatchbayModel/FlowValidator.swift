public import PatchbayCore
import Foundation

/// What the registry knows of a connector a flow names.
public enum ConnectorFacts: Sendable {
    case available(id: String, version: String, parametersSchema: String, network: NetworkAccess = .none, pattern: JobPattern? = nil)
    /// Not installed, not loadable, or no such version; the text says which and what exists.
    case unavailable(String)
}

/// Checks a loaded flow against the connectors it names: each must be available, and each task's
/// parameters must satisfy the connector's JSON Schema (output references are checked at run time).
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
            case .available(let id, let version, let schemaText, let declared, let pattern):
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
                guard let schema = try? JSONValue(parsing: schemaText) else {
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
        return issues
    }
}
