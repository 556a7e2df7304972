// PatchbayModel — what a flow *is*: phases, tasks, configurations, parameters, output references;
// parsing them from YAML and Keboola's orchestration JSON, and validating them with the file, line,
// column and field path of every fault. It must never know processes, SQLite, HTTP or the CLI.
import Foundation
import Synchronization

/// A JSON value. Integers stay exact (a parameter of 9007199254740993 rows is not a Double).
/// Objects keep their keys sorted when written, so the same value always renders to the same text.
public enum JSONValue: Sendable, Equatable, Hashable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public var objectValue: [String: JSONValue]? {
        if case .object(let value) = self { return value }
        return nil
    }

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The JSON Schema type name of this value ("integer" values are also "number"s).
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .integer: "integer"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    /// Compact JSON text with sorted keys.
    public var jsonText: String {
        var out = ""
        write(to: &out)
        return out
    }

    private func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let value): out += value ? "true" : "false"
        case .integer(let value): out += String(value)
        case .number(let value):
            if value.isFinite, value == value.rounded(), abs(value) < 1e15 {
                out += String(Int64(value))
            } else if value.isFinite {
                out += "\(value)"
            } else {
                out += "null"
            }
        case .string(let value): JSONValue.writeString(value, to: &out)
        case .array(let values):
            out += "["
            for (index, value) in values.enumerated() {
                if index > 0 { out += "," }
                value.write(to: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (index, key) in members.keys.sorted().enumerated() {
                if index > 0 { out += "," }
                JSONValue.writeString(key, to: &out)
                out += ":"
                members[key]!.write(to: &out)
            }
            out += "}"
        }
    }

    /// `value` as a JSON string literal: quotes, backslashes and control characters escaped.
    public static func writeString(_ value: String, to out: inout String) {
        out += "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }

    /// Parses JSON text (no locations; for values the host wrote itself).
    public init(parsing text: String) throws {
        var parser = LocatedJSONParser(bytes: Array(text.utf8), file: "<json>")
        self = try parser.parseDocument().value
    }

    /// A connector's parameter schema, parsed once per process: every task of a flow and every job of a run
    /// asks for the same few texts (a 300-task flow parsed its connector's schema 600 times, about 5% of its
    /// start). Nil when the text is not JSON. Bounded: past `SchemaMemo.capacity` texts it parses without keeping.
    public static func schema(parsing text: String) -> JSONValue? {
        if let known = SchemaMemo.parsed.withLock({ $0[text] }) { return known }
        let value = try? JSONValue(parsing: text)
        SchemaMemo.parsed.withLock { memo in
            if memo.count < SchemaMemo.capacity { memo[text] = .some(value) }
        }
        return value
    }
}

/// The parsed schemas of `JSONValue.schema(parsing:)`, keyed by their text (a result of nil is kept too).
private enum SchemaMemo {
    static let capacity = 256
    static let parsed = Mutex<[String: JSONValue?]>([:])
}

extension JSONValue: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Int64.self) { self = .integer(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONValue].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .integer(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}
