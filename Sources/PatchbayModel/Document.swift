import Foundation
import Yams

/// Where something was written: the file, and 1-based line and column.
public struct SourceLocation: Sendable, Codable, Equatable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    public var description: String { "\(file):\(line):\(column)" }
}

/// One fault in a flow or configuration file: where, which field, what is wrong.
public struct FlowIssue: Sendable, Equatable, CustomStringConvertible {
    public var location: SourceLocation?
    /// The field path, e.g. `phases[1].tasks[0].parameters.rows`.
    public var path: String
    public var message: String

    public init(_ location: SourceLocation?, _ path: String, _ message: String) {
        self.location = location
        self.path = path
        self.message = message
    }

    public var description: String {
        let place = location.map { "\($0): " } ?? ""
        return path.isEmpty ? "\(place)\(message)" : "\(place)\(path): \(message)"
    }
}

/// Every fault found in a flow, reported together so a user fixes them in one pass.
public struct FlowError: Error, Sendable, CustomStringConvertible {
    public var issues: [FlowIssue]

    public init(_ issues: [FlowIssue]) { self.issues = issues }

    public var description: String {
        issues.map(\.description).joined(separator: "\n")
    }
}

/// A parsed YAML or JSON node that remembers where it was written.
struct Node {
    enum Kind {
        case scalar(JSONValue)
        case sequence([Node])
        case mapping([(key: String, keyLocation: SourceLocation, value: Node)])
    }

    var kind: Kind
    var location: SourceLocation

    /// The plain value, locations dropped.
    var value: JSONValue {
        switch kind {
        case .scalar(let value): value
        case .sequence(let items): .array(items.map(\.value))
        case .mapping(let pairs): .object(Dictionary(pairs.map { ($0.key, $0.value.value) }, uniquingKeysWith: { _, last in last }))
        }
    }

    subscript(key: String) -> Node? {
        guard case .mapping(let pairs) = kind else { return nil }
        return pairs.first { $0.key == key }?.value
    }

    var typeName: String {
        switch kind {
        case .scalar(let value): value.typeName
        case .sequence: "array"
        case .mapping: "object"
        }
    }

    /// Locations of every value below this one, by JSON-pointer path ("" is this node).
    func locations(prefix: String = "") -> [String: SourceLocation] {
        var result = [prefix: location]
        switch kind {
        case .scalar: break
        case .sequence(let items):
            for (index, item) in items.enumerated() {
                result.merge(item.locations(prefix: "\(prefix)/\(index)")) { first, _ in first }
            }
        case .mapping(let pairs):
            for pair in pairs {
                result.merge(pair.value.locations(prefix: "\(prefix)/\(pair.key)")) { first, _ in first }
            }
        }
        return result
    }
}

enum DocumentParser {
    /// Parses a file's text as JSON (by extension `.json`) or YAML, into located nodes.
    static func parse(_ text: String, file: String) throws -> Node {
        if file.lowercased().hasSuffix(".json") {
            var parser = LocatedJSONParser(bytes: Array(text.utf8), file: file)
            return try parser.parseDocument()
        }
        return try parseYAML(text, file: file)
    }

    static func parseYAML(_ text: String, file: String) throws -> Node {
        let root: Yams.Node?
        do {
            // The basic resolver (no tag rules): scalars are typed by `resolve` below, by hand. Yams's default one
            // compiles a dozen ICU regular expressions on first use (~3% of a one-task `patchbay run`, measured).
            root = try Yams.compose(yaml: text, .basic)
        } catch let error as YamlError {
            throw FlowError([issue(from: error, file: file)])
        }
        guard let root else {
            throw FlowError([FlowIssue(SourceLocation(file: file, line: 1, column: 1), "", "the file is empty")])
        }
        return try convert(root, file: file)
    }

    private static func issue(from error: YamlError, file: String) -> FlowIssue {
        func location(_ mark: Mark) -> SourceLocation { SourceLocation(file: file, line: mark.line, column: mark.column) }
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            let detail = context.map { "\(problem) \($0.text)" } ?? problem
            return FlowIssue(location(mark), "", "not valid YAML: \(detail)")
        case .reader(let problem, _, _, _):
            return FlowIssue(SourceLocation(file: file, line: 1, column: 1), "", "not readable as UTF-8 text: \(problem)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            return FlowIssue(location(context.mark), "", "duplicate key \(duplicates.joined(separator: ", ")) \(context.text)")
        default:
            return FlowIssue(SourceLocation(file: file, line: 1, column: 1), "", "not valid YAML: \(error)")
        }
    }

    private static func convert(_ node: Yams.Node, file: String) throws -> Node {
        let location = SourceLocation(file: file, line: node.mark?.line ?? 1, column: node.mark?.column ?? 1)
        switch node {
        case .scalar(let scalar):
            return Node(kind: .scalar(resolve(scalar)), location: location)
        case .sequence(let sequence):
            return Node(kind: .sequence(try sequence.map { try convert($0, file: file) }), location: location)
        case .mapping(let mapping):
            var pairs: [(key: String, keyLocation: SourceLocation, value: Node)] = []
            for (key, value) in mapping {
                let keyLocation = SourceLocation(file: file, line: key.mark?.line ?? 1, column: key.mark?.column ?? 1)
                guard let name = key.scalar?.string else {
                    throw FlowError([FlowIssue(keyLocation, "", "a mapping key must be text")])
                }
                if pairs.contains(where: { $0.key == name }) {
                    throw FlowError([FlowIssue(keyLocation, "", "duplicate key '\(name)'")])
                }
                pairs.append((name, keyLocation, try convert(value, file: file)))
            }
            return Node(kind: .mapping(pairs), location: location)
        case .alias:
            throw FlowError([FlowIssue(location, "", "YAML aliases are not supported in flow files")])
        }
    }

    /// YAML 1.2 core schema, by hand: `NO` stays the string "NO" (no YAML 1.1 booleans).
    private static func resolve(_ scalar: Yams.Node.Scalar) -> JSONValue {
        let text = scalar.string
        guard scalar.style == .plain else { return .string(text) }
        switch text {
        case "", "~", "null", "Null", "NULL": return .null
        case "true", "True", "TRUE": return .bool(true)
        case "false", "False", "FALSE": return .bool(false)
        default: break
        }
        if let value = Int64(text) { return .integer(value) }
        let looksNumeric = text.first.map { $0.isNumber || $0 == "-" || $0 == "+" || $0 == "." } ?? false
        if looksNumeric, text.allSatisfy({ $0.isNumber || "+-.eE".contains($0) }), let value = Double(text) {
            return .number(value)
        }
        return .string(text)
    }
}

/// A JSON parser that keeps the line and column of every value (Foundation's says only "invalid").
public struct LocatedJSONParser {
    let bytes: [UInt8]
    let file: String
    var index = 0
    var line = 1
    var lineStart = 0

    public init(bytes: [UInt8], file: String) {
        self.bytes = bytes
        self.file = file
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { index = 3; lineStart = 3 }
    }

    /// Columns count Unicode scalars, as libyaml's marks and `ScalarRewriter` do: a UTF-8 byte count would
    /// point past the value on any line with non-ASCII text before it.
    var location: SourceLocation {
        var column = 1
        var i = lineStart
        while i < index {
            if bytes[i] & 0xC0 != 0x80 { column += 1 }  // a leading byte (not a continuation byte) starts a scalar
            i += 1
        }
        return SourceLocation(file: file, line: line, column: column)
    }

    static let prefix = "not valid JSON: "

    func error(_ message: String) -> FlowError {
        FlowError([FlowIssue(location, "", Self.prefix + message)])
    }

    /// Where JSON text first goes wrong, as "line L, column C: what"; nil if it is valid JSON.
    public static func firstError(in text: String) -> String? {
        var parser = LocatedJSONParser(bytes: Array(text.utf8), file: "")
        do {
            _ = try parser.parseDocument()
            return nil
        } catch let error as FlowError {
            guard let issue = error.issues.first, let location = issue.location else { return "\(error)" }
            let message = issue.message.hasPrefix(prefix) ? String(issue.message.dropFirst(prefix.count)) : issue.message
            return "line \(location.line), column \(location.column): \(message)"
        } catch {
            return "\(error)"
        }
    }

    mutating func parseDocument() throws -> Node {
        skipWhitespace()
        guard index < bytes.count else { throw error("the file is empty") }
        let node = try value(depth: 0)
        skipWhitespace()
        if index < bytes.count { throw error("unexpected text after the document") }
        return node
    }

    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0D: index += 1
            case 0x0A: index += 1; line += 1; lineStart = index
            default: return
            }
        }
    }

    mutating func value(depth: Int) throws -> Node {
        guard depth < 512 else { throw error("nested more than 512 levels deep") }
        skipWhitespace()
        let start = location
        guard index < bytes.count else { throw error("unexpected end of the file") }
        switch bytes[index] {
        case UInt8(ascii: "{"):
            index += 1
            var pairs: [(key: String, keyLocation: SourceLocation, value: Node)] = []
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") { index += 1; return Node(kind: .mapping(pairs), location: start) }
            while true {
                skipWhitespace()
                let keyLocation = location
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw error("expected a \"key\" in quotes") }
                let key = try string()
                if pairs.contains(where: { $0.key == key }) {
                    throw FlowError([FlowIssue(keyLocation, "", "duplicate key '\(key)'")])
                }
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':' after the key \"\(key)\"") }
                index += 1
                pairs.append((key, keyLocation, try value(depth: depth + 1)))
                skipWhitespace()
                guard index < bytes.count else { throw error("unexpected end of the file inside an object") }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                if bytes[index] == UInt8(ascii: "}") { index += 1; return Node(kind: .mapping(pairs), location: start) }
                throw error("expected ',' or '}' in an object")
            }
        case UInt8(ascii: "["):
            index += 1
            var items: [Node] = []
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") { index += 1; return Node(kind: .sequence(items), location: start) }
            while true {
                items.append(try value(depth: depth + 1))
                skipWhitespace()
                guard index < bytes.count else { throw error("unexpected end of the file inside an array") }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                if bytes[index] == UInt8(ascii: "]") { index += 1; return Node(kind: .sequence(items), location: start) }
                throw error("expected ',' or ']' in an array")
            }
        case UInt8(ascii: "\""):
            return Node(kind: .scalar(.string(try string())), location: start)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return Node(kind: .scalar(try number()), location: start)
        default:
            // A bare word: true, false, null — or a string someone forgot to quote.
            var end = index
            while end < bytes.count, ![0x2C, 0x7D, 0x5D, 0x3A, 0x20, 0x0A, 0x0D, 0x09].contains(bytes[end]) { end += 1 }
            let word = String(decoding: bytes[index..<end], as: UTF8.self)
            let literals: [String: JSONValue] = ["true": .bool(true), "false": .bool(false), "null": .null]
            guard let value = literals[word] else {
                throw error(word.isEmpty ? "unexpected character '\(Character(UnicodeScalar(bytes[index])))'"
                                         : "'\(word)' is not a JSON value (strings need double quotes)")
            }
            index = end
            return Node(kind: .scalar(value), location: start)
        }
    }

    mutating func number() throws -> JSONValue {
        let start = index
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        var isInteger = true
        while index < bytes.count {
            let byte = bytes[index]
            if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") { index += 1; continue }
            if byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E")
                || byte == UInt8(ascii: "+") || (byte == UInt8(ascii: "-") && index > start) {
                isInteger = false
                index += 1
                continue
            }
            break
        }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        if isInteger, let value = Int64(text) { return .integer(value) }
        guard let value = Double(text) else { index = start; throw error("'\(text)' is not a number") }
        return .number(value)
    }

    mutating func string() throws -> String {
        index += 1
        var out: [UInt8] = []
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                index += 1
                guard index < bytes.count else { throw error("unfinished escape") }
                let escaped = bytes[index]
                index += 1
                switch escaped {
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "/"), UInt8(ascii: "\\"), UInt8(ascii: "\""): out.append(escaped)
                case UInt8(ascii: "u"):
                    let scalar = try hex4()
                    out.append(contentsOf: Array(String(Character(try surrogatePair(completing: scalar))).utf8))
                default:
                    index -= 1
                    throw error("unknown escape '\\\(Character(UnicodeScalar(escaped)))'")
                }
            case 0x0A:
                throw error("a line break inside a string (write \\n)")
            default:
                out.append(byte)
                index += 1
            }
        }
        throw error("unterminated string")
    }

    /// A high surrogate followed by `\\u` and a low one makes one scalar; anything else unpaired becomes
    /// U+FFFD, and the escape after a lone high surrogate is read again on its own.
    mutating func surrogatePair(completing scalar: UInt32) throws -> Unicode.Scalar {
        if (0xD800..<0xDC00).contains(scalar), bytes.count - index >= 6,
           bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") {
            let resume = index
            index += 2
            let low = try hex4()
            guard (0xDC00..<0xE000).contains(low) else {
                index = resume
                return "\u{FFFD}"
            }
            return Unicode.Scalar(0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)) ?? "\u{FFFD}"
        }
        return Unicode.Scalar(scalar) ?? "\u{FFFD}"
    }

    mutating func hex4() throws -> UInt32 {
        guard bytes.count - index >= 4, let value = UInt32(String(decoding: bytes[index..<index + 4], as: UTF8.self), radix: 16) else {
            throw error("\\u needs four hex digits")
        }
        index += 4
        return value
    }
}
