import Foundation
import PatchbayCore

/// The part of JSON Schema (draft 2020-12) connector authors use for parameters: type, properties,
/// required, additionalProperties, items, enum, const, minimum/maximum, minLength/maxLength,
/// minItems/maxItems. Keywords it does not know are ignored, never guessed at.
public enum JSONSchema {
    public struct Violation: Sendable, Equatable {
        /// JSON pointer of the value at fault ("" for the whole object).
        public var pointer: String
        public var message: String
    }

    /// `deferred` values (output references, filled at run time) skip type checks.
    public static func validate(_ value: JSONValue, against schema: JSONValue, pointer: String = "",
                                deferred: (JSONValue) -> Bool = { _ in false }) -> [Violation] {
        guard case .object(let keywords) = schema else { return [] }
        if deferred(value) { return [] }
        var violations: [Violation] = []
        func add(_ message: String) { violations.append(Violation(pointer: pointer, message: message)) }

        let allowed = types(of: schema)
        if !allowed.isEmpty, !allowed.contains(where: { matches(value, type: $0) }) {
            add("expected \(allowed.joined(separator: " or ")), found \(value.typeName) \(preview(value))")
            return violations
        }
        if case .array(let options) = keywords["enum"], !options.contains(where: { equal($0, value) }) {
            add("must be one of \(options.map(\.jsonText).joined(separator: ", ")), found \(preview(value))")
        }
        if let constant = keywords["const"], !equal(constant, value) { add("must be \(constant.jsonText)") }
        if let number = numeric(value) {
            if let minimum = keywords["minimum"].flatMap(numeric), number < minimum { add("must be at least \(format(minimum)), found \(format(number))") }
            if let maximum = keywords["maximum"].flatMap(numeric), number > maximum { add("must be at most \(format(maximum)), found \(format(number))") }
        }
        if case .string(let text) = value {
            if let minimum = keywords["minLength"].flatMap(numeric), Double(text.count) < minimum { add("must be at least \(format(minimum)) characters long") }
            if let maximum = keywords["maxLength"].flatMap(numeric), Double(text.count) > maximum { add("must be at most \(format(maximum)) characters long") }
        }
        if case .array(let items) = value {
            if let minimum = keywords["minItems"].flatMap(numeric), Double(items.count) < minimum { add("needs at least \(format(minimum)) items") }
            if let maximum = keywords["maxItems"].flatMap(numeric), Double(items.count) > maximum { add("takes at most \(format(maximum)) items") }
            if let itemSchema = keywords["items"] {
                for (index, item) in items.enumerated() {
                    violations += validate(item, against: itemSchema, pointer: "\(pointer)/\(index)", deferred: deferred)
                }
            }
        }
        if case .object(let members) = value {
            if case .array(let required) = keywords["required"] {
                for case .string(let name) in required where members[name] == nil {
                    add("the required parameter '\(name)' is missing")
                }
            }
            let properties = keywords["properties"]?.objectValue ?? [:]
            for key in members.keys.sorted() {
                let member = members[key]!
                if let propertySchema = properties[key] {
                    violations += validate(member, against: propertySchema, pointer: "\(pointer)/\(key)", deferred: deferred)
                } else if case .bool(false) = keywords["additionalProperties"] {
                    let known = properties.keys.sorted()
                    let suggestion = known.min { editDistance($0, key) < editDistance($1, key) }
                        .flatMap { editDistance($0, key) <= 3 ? " (did you mean '\($0)'?)" : nil } ?? ""
                    violations.append(Violation(pointer: "\(pointer)/\(key)", message:
                        "unknown parameter\(suggestion); the connector accepts: \(known.joined(separator: ", "))"))
                } else if case .object = keywords["additionalProperties"] {
                    violations += validate(member, against: keywords["additionalProperties"]!, pointer: "\(pointer)/\(key)", deferred: deferred)
                }
            }
        }
        return violations
    }

    static func types(of schema: JSONValue) -> [String] {
        switch schema.objectValue?["type"] {
        case .string(let type): [type]
        case .array(let types): types.compactMap(\.stringValue)
        default: []
        }
    }

    static func propertySchema(_ schema: JSONValue, _ key: String) -> JSONValue? {
        schema.objectValue?["properties"]?.objectValue?[key] ?? schema.objectValue?["additionalProperties"].flatMap {
            if case .object = $0 { return $0 }
            return nil
        }
    }

    static func itemSchema(_ schema: JSONValue) -> JSONValue? { schema.objectValue?["items"] }

    static func matches(_ value: JSONValue, type: String) -> Bool {
        switch (type, value) {
        case ("null", .null), ("boolean", .bool), ("string", .string), ("array", .array), ("object", .object),
             ("integer", .integer), ("number", .integer), ("number", .number):
            return true
        case ("integer", .number(let number)):
            return number == number.rounded()
        default:
            return false
        }
    }

    static func numeric(_ value: JSONValue) -> Double? {
        switch value {
        case .integer(let number): Double(number)
        case .number(let number): number
        default: nil
        }
    }

    static func equal(_ a: JSONValue, _ b: JSONValue) -> Bool {
        if let x = numeric(a), let y = numeric(b) { return x == y }
        return a == b
    }

    static func format(_ number: Double) -> String {
        number == number.rounded() && abs(number) < 1e15 ? String(Int64(number)) : String(number)
    }

    static func preview(_ value: JSONValue) -> String {
        let text = value.jsonText
        return text.count > 40 ? "(\(text.prefix(37))…)" : "(\(text))"
    }
}
