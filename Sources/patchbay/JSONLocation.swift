import Foundation

/// Finds where a JSON document goes wrong, as "line L, column C: what", for error messages
/// (Foundation's parser does not say where).
enum JSONLocation {
    static func describe(_ data: Data) -> String {
        let bytes = [UInt8](data)
        var scanner = Scanner(bytes: bytes)
        do {
            scanner.skipWhitespace()
            try scanner.value()
            scanner.skipWhitespace()
            if scanner.index < bytes.count { throw scanner.error("unexpected text after the document") }
            return "the document is valid JSON but not what was expected"
        } catch let error as LocatedError {
            return error.description
        } catch {
            return "\(error)"
        }
    }

    struct LocatedError: Error, CustomStringConvertible {
        let line: Int, column: Int, message: String
        var description: String { "line \(line), column \(column): \(message)" }
    }

    struct Scanner {
        let bytes: [UInt8]
        var index = 0

        func error(_ message: String) -> LocatedError {
            var line = 1, column = 1
            for byte in bytes[..<min(index, bytes.count)] {
                if byte == 0x0A { line += 1; column = 1 } else { column += 1 }
            }
            return LocatedError(line: line, column: column, message: message)
        }

        mutating func skipWhitespace() {
            while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
        }

        mutating func expect(_ byte: UInt8, _ what: String) throws {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == byte else {
                throw error(index < bytes.count ? "expected \(what), found '\(Character(UnicodeScalar(bytes[index])))'" : "expected \(what), found the end of the file")
            }
            index += 1
        }

        mutating func value() throws {
            skipWhitespace()
            guard index < bytes.count else { throw error("expected a value, found the end of the file") }
            switch bytes[index] {
            case UInt8(ascii: "{"):
                index += 1
                skipWhitespace()
                if index < bytes.count, bytes[index] == UInt8(ascii: "}") { index += 1; return }
                while true {
                    skipWhitespace()
                    guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw error("expected a quoted key") }
                    try string()
                    try expect(UInt8(ascii: ":"), "':'")
                    try value()
                    skipWhitespace()
                    guard index < bytes.count else { throw error("expected ',' or '}', found the end of the file") }
                    if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                    if bytes[index] == UInt8(ascii: "}") { index += 1; return }
                    throw error("expected ',' or '}'")
                }
            case UInt8(ascii: "["):
                index += 1
                skipWhitespace()
                if index < bytes.count, bytes[index] == UInt8(ascii: "]") { index += 1; return }
                while true {
                    try value()
                    skipWhitespace()
                    guard index < bytes.count else { throw error("expected ',' or ']', found the end of the file") }
                    if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                    if bytes[index] == UInt8(ascii: "]") { index += 1; return }
                    throw error("expected ',' or ']'")
                }
            case UInt8(ascii: "\""):
                try string()
            default:
                let start = index
                while index < bytes.count, !([0x2C, 0x7D, 0x5D, 0x20, 0x0A, 0x0D, 0x09].contains(bytes[index])) { index += 1 }
                let word = String(decoding: bytes[start..<index], as: UTF8.self)
                if ["true", "false", "null"].contains(word) || Double(word) != nil { return }
                index = start
                throw error("'\(word)' is not a JSON value (strings need double quotes)")
            }
        }

        mutating func string() throws {
            index += 1
            while index < bytes.count {
                if bytes[index] == UInt8(ascii: "\\") { index += 2; continue }
                if bytes[index] == UInt8(ascii: "\"") { index += 1; return }
                if bytes[index] == 0x0A { throw error("a string is not closed before the end of the line") }
                index += 1
            }
            throw error("a string is not closed before the end of the file")
        }
    }
}
