import Foundation

/// `${{ tasks.<task>.outputs.<name> }}`: a value an earlier task set through the ABI.
public struct OutputReference: Sendable, Hashable, CustomStringConvertible {
    public var task: String
    public var output: String

    public var description: String { "tasks.\(task).outputs.\(output)" }
}

public struct TemplateError: Error, Sendable {
    /// JSON pointer of the parameter at fault.
    public var pointer: String
    public var message: String

    public init(pointer: String, message: String) {
        self.pointer = pointer
        self.message = message
    }
}

/// Finds and fills output references in parameter values. Only string values are templates;
/// a string that is exactly one reference takes the output's type where the schema asks for one.
public enum Template {
    /// Every reference in the parameters, with the JSON pointer of the string holding it.
    public static func references(in value: JSONValue, pointer: String = "") throws -> [(pointer: String, reference: OutputReference)] {
        switch value {
        case .string(let text):
            return try parse(text, pointer: pointer).compactMap { part in
                if case .reference(let reference) = part { return (pointer, reference) }
                return nil
            }
        case .array(let items):
            return try items.enumerated().flatMap { try references(in: $1, pointer: "\(pointer)/\($0)") }
        case .object(let members):
            return try members.keys.sorted().flatMap { try references(in: members[$0]!, pointer: "\(pointer)/\($0)") }
        default:
            return []
        }
    }

    /// Every variable the parameters use (`run.id`, `vars.region`, …), each once, sorted.
    public static func variables(in value: JSONValue) throws -> [String] {
        var found = Set<String>()
        func walk(_ value: JSONValue, _ pointer: String) throws {
            switch value {
            case .string(let text):
                for case .variable(let name) in try parse(text, pointer: pointer) { found.insert(name) }
            case .array(let items): for (index, item) in items.enumerated() { try walk(item, "\(pointer)/\(index)") }
            case .object(let members): for (key, member) in members { try walk(member, "\(pointer)/\(key)") }
            default: break
            }
        }
        try walk(value, "")
        return found.sorted()
    }

    /// The run variables a parameter may use besides `vars.NAME`.
    public static let runVariables = ["run.id", "run.started_at", "run.date"]

    /// Is this string exactly one reference (so it may become a number or boolean)?
    public static func isWholeReference(_ value: JSONValue) -> Bool {
        guard case .string(let text) = value, let parts = try? parse(text, pointer: ""), parts.count == 1 else { return false }
        if case .text = parts[0] { return false }
        return true
    }

    /// Fills every reference. `schema` (the connector's parameter schema) decides whether a whole-string
    /// reference becomes a number or boolean.
    public static func render(_ value: JSONValue, schema: JSONValue?, pointer: String = "",
                              variable: (String) throws -> String = { name in throw TemplateError(pointer: "", message: "'${{ \(name) }}' has no value here") },
                              output: (OutputReference) throws -> String) throws -> JSONValue {
        switch value {
        case .string(let text):
            let parts = try parse(text, pointer: pointer)
            guard parts.contains(where: { if case .text = $0 { false } else { true } }) else { return value }
            var rendered = ""
            for part in parts {
                switch part {
                case .text(let literal): rendered += literal
                case .reference(let reference): rendered += try output(reference)
                case .variable(let name): rendered += try variable(name)
                }
            }
            if parts.count == 1, let wanted = schema.map(JSONSchema.types(of:)), !wanted.isEmpty, !wanted.contains("string") {
                if wanted.contains("integer") || wanted.contains("number"), let number = Int64(rendered) { return .integer(number) }
                if wanted.contains("number"), let number = Double(rendered) { return .number(number) }
                if wanted.contains("boolean"), rendered == "true" || rendered == "false" { return .bool(rendered == "true") }
            }
            return .string(rendered)
        case .array(let items):
            return .array(try items.enumerated().map { index, item in
                try render(item, schema: schema.flatMap(JSONSchema.itemSchema), pointer: "\(pointer)/\(index)", variable: variable, output: output)
            })
        case .object(let members):
            var result: [String: JSONValue] = [:]
            for (key, member) in members {
                result[key] = try render(member, schema: schema.flatMap { JSONSchema.propertySchema($0, key) },
                                         pointer: "\(pointer)/\(key)", variable: variable, output: output)
            }
            return .object(result)
        default:
            return value
        }
    }

    enum Part {
        case text(String)
        case reference(OutputReference)
        /// `run.id`, `run.started_at`, `run.date` or `vars.NAME`.
        case variable(String)
    }

    static func parse(_ text: String, pointer: String) throws -> [Part] {
        guard text.contains("${{") else { return [.text(text)] }
        var parts: [Part] = []
        var rest = Substring(text)
        while let open = rest.range(of: "${{") {
            if open.lowerBound > rest.startIndex { parts.append(.text(String(rest[..<open.lowerBound]))) }
            guard let close = rest[open.upperBound...].range(of: "}}") else {
                throw TemplateError(pointer: pointer, message: "'${{' without a closing '}}'")
            }
            let inner = rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            let pieces = inner.split(separator: ".", omittingEmptySubsequences: false)
            if runVariables.contains(inner) || (pieces.count == 2 && pieces[0] == "vars" && !pieces[1].isEmpty) {
                parts.append(.variable(inner))
                rest = rest[close.upperBound...]
                continue
            }
            guard pieces.count == 4, pieces[0] == "tasks", pieces[2] == "outputs", !pieces[1].isEmpty, !pieces[3].isEmpty else {
                throw TemplateError(pointer: pointer,
                                    message: "'${{ \(inner) }}' is not a reference; write ${{ tasks.<task id>.outputs.<output name> }}, ${{ vars.<name> }}, or one of \(runVariables.map { "${{ \($0) }}" }.joined(separator: ", "))")
            }
            parts.append(.reference(OutputReference(task: String(pieces[1]), output: String(pieces[3]))))
            rest = rest[close.upperBound...]
        }
        if !rest.isEmpty { parts.append(.text(String(rest))) }
        return parts
    }
}
