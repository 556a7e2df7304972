// A table column's type (ABI 1.3) and the one text form each type's values take. The runner checks
// every value a connector writes against it; the catalog, the manifest and the commands name types by
// `word`. Owns: the type list, its ABI numbers and the value grammar. Must never know: files, CSV or
// the wire.
public import PatchbayABI

public enum ColumnType: Sendable, CaseIterable, Hashable {
    case string, integer, decimal, float, boolean, date, timestamp, json

    public init?(abi value: UInt32) {
        guard let match = Self.allCases.first(where: { $0.abiValue == value }) else { return nil }
        self = match
    }

    public var abiValue: UInt32 {
        switch self {
        case .string: UInt32(PATCHBAY_TYPE_STRING)
        case .integer: UInt32(PATCHBAY_TYPE_INTEGER)
        case .decimal: UInt32(PATCHBAY_TYPE_DECIMAL)
        case .float: UInt32(PATCHBAY_TYPE_FLOAT)
        case .boolean: UInt32(PATCHBAY_TYPE_BOOLEAN)
        case .date: UInt32(PATCHBAY_TYPE_DATE)
        case .timestamp: UInt32(PATCHBAY_TYPE_TIMESTAMP)
        case .json: UInt32(PATCHBAY_TYPE_JSON)
        }
    }

    /// The word in manifests, the catalog, flows and `tables show`.
    public var word: String {
        switch self {
        case .string: "string"
        case .integer: "integer"
        case .decimal: "decimal"
        case .float: "float"
        case .boolean: "boolean"
        case .date: "date"
        case .timestamp: "timestamp"
        case .json: "json"
        }
    }

    public init?(word: String) {
        guard let match = Self.allCases.first(where: { $0.word == word }) else { return nil }
        self = match
    }

    /// What a value of this type looks like, for an error message.
    public var form: String {
        switch self {
        case .string: "UTF-8 text"
        case .integer: "digits with an optional '-', within 64 bits"
        case .decimal: "digits with an optional '-' and '.digits'"
        case .float: "a decimal with an optional exponent, NaN, Infinity or -Infinity"
        case .boolean: "true or false"
        case .date: "YYYY-MM-DD"
        case .timestamp: "YYYY-MM-DDTHH:MM:SS[.fraction]Z (RFC 3339, UTC)"
        case .json: "one JSON value"
        }
    }

    /// Whether `text` (a value's bytes, never NULL) is in this type's one form.
    public func accepts(_ text: UnsafeRawBufferPointer) -> Bool {
        let b = text.bindMemory(to: UInt8.self)
        switch self {
        case .string: return true
        case .integer: return Grammar.integer(b)
        case .decimal: return Grammar.decimal(b)
        case .float: return Grammar.float(b)
        case .boolean: return Grammar.equals(b, "true") || Grammar.equals(b, "false")
        case .date: return b.count == 10 && Grammar.date(b, 0)
        case .timestamp: return Grammar.timestamp(b)
        case .json:
            var parser = JSONGrammar(bytes: b)
            return parser.document()
        }
    }

    public func accepts(_ text: String) -> Bool {
        var copy = text
        return copy.withUTF8 { accepts(UnsafeRawBufferPointer($0)) }
    }
}

private enum Grammar {
    static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }

    static func equals(_ b: UnsafeBufferPointer<UInt8>, _ word: StaticString) -> Bool {
        guard b.count == word.utf8CodeUnitCount else { return false }
        let w = UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
        return b.elementsEqual(w)
    }

    /// Digits from `i`; returns the index after them and how many there were.
    static func digits(_ b: UnsafeBufferPointer<UInt8>, _ i: Int) -> (Int, Int) {
        var j = i
        while j < b.count && isDigit(b[j]) { j += 1 }
        return (j, j - i)
    }

    static func integer(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        let negative = b.first == 0x2D
        let start = negative ? 1 : 0
        let (end, count) = digits(b, start)
        guard count > 0, end == b.count else { return false }
        if count < 19 { return true }
        // 19 digits or more: compare with Int64's bounds as text, skipping leading zeros.
        var first = start
        while first < end - 1 && b[first] == 0x30 { first += 1 }
        let significant = end - first
        if significant != 19 { return significant < 19 }
        let bound: StaticString = negative ? "9223372036854775808" : "9223372036854775807"
        let limit = UnsafeBufferPointer(start: bound.utf8Start, count: bound.utf8CodeUnitCount)
        return !limit.lexicographicallyPrecedes(b[first..<end])  // at most the bound, digit by digit
    }

    static func decimal(_ b: UnsafeBufferPointer<UInt8>) -> Bool { decimalEnd(b, allowExponent: false) == b.count }

    static func float(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        equals(b, "NaN") || equals(b, "Infinity") || equals(b, "-Infinity") || decimalEnd(b, allowExponent: true) == b.count
    }

    /// The index after -?digits(.digits)?([eE][+-]?digits)?, or -1.
    static func decimalEnd(_ b: UnsafeBufferPointer<UInt8>, allowExponent: Bool) -> Int {
        var i = b.first == 0x2D ? 1 : 0
        var (end, count) = digits(b, i)
        guard count > 0 else { return -1 }
        i = end
        if i < b.count && b[i] == 0x2E {
            (end, count) = digits(b, i + 1)
            guard count > 0 else { return -1 }
            i = end
        }
        if allowExponent && i < b.count && (b[i] == 0x65 || b[i] == 0x45) {
            i += 1
            if i < b.count && (b[i] == 0x2B || b[i] == 0x2D) { i += 1 }
            (end, count) = digits(b, i)
            guard count > 0 else { return -1 }
            i = end
        }
        return i
    }

    static func number(_ b: UnsafeBufferPointer<UInt8>, _ i: Int, _ width: Int) -> Int? {
        guard i + width <= b.count else { return nil }
        var value = 0
        for k in i..<(i + width) {
            guard isDigit(b[k]) else { return nil }
            value = value * 10 + Int(b[k] - 0x30)
        }
        return value
    }

    /// YYYY-MM-DD at `i`, a real day of the Gregorian calendar.
    static func date(_ b: UnsafeBufferPointer<UInt8>, _ i: Int) -> Bool {
        guard i + 10 <= b.count, b[i + 4] == 0x2D, b[i + 7] == 0x2D,
              let year = number(b, i, 4), let month = number(b, i + 5, 2), let day = number(b, i + 8, 2),
              (1...12).contains(month), day >= 1 else { return false }
        switch month {
        case 2: return day <= (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28)
        case 4, 6, 9, 11: return day <= 30
        default: return day <= 31
        }
    }

    static func timestamp(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        guard b.count >= 20, date(b, 0), b[10] == 0x54, b[13] == 0x3A, b[16] == 0x3A,
              let hour = number(b, 11, 2), let minute = number(b, 14, 2), let second = number(b, 17, 2),
              hour < 24, minute < 60, second < 61 else { return false }
        var i = 19
        if b[i] == 0x2E {
            let (end, count) = digits(b, i + 1)
            guard count > 0 else { return false }
            i = end
        }
        return i == b.count - 1 && b[i] == 0x5A
    }
}

/// Checks that bytes are exactly one JSON value (RFC 8259), with nesting bounded so that no input can
/// exhaust the stack.
private struct JSONGrammar {
    let bytes: UnsafeBufferPointer<UInt8>
    var i = 0

    mutating func document() -> Bool {
        skipSpace()
        guard value(depth: 0) else { return false }
        skipSpace()
        return i == bytes.count
    }

    mutating func skipSpace() {
        while i < bytes.count {
            switch bytes[i] {
            case 0x20, 0x09, 0x0A, 0x0D: i += 1
            default: return
            }
        }
    }

    mutating func literal(_ word: StaticString) -> Bool {
        let n = word.utf8CodeUnitCount
        guard i + n <= bytes.count else { return false }
        for k in 0..<n where bytes[i + k] != word.utf8Start[k] { return false }
        i += n
        return true
    }

    mutating func value(depth: Int) -> Bool {
        guard depth < 512, i < bytes.count else { return false }
        switch bytes[i] {
        case 0x7B: return container(close: 0x7D, depth: depth, keyed: true)
        case 0x5B: return container(close: 0x5D, depth: depth, keyed: false)
        case 0x22: return string()
        case 0x74: return literal("true")
        case 0x66: return literal("false")
        case 0x6E: return literal("null")
        default:
            let rest = UnsafeBufferPointer(rebasing: bytes[i...])
            let end = Grammar.decimalEnd(rest, allowExponent: true)
            guard end > 0 else { return false }
            // JSON forbids leading zeros ("01").
            let digitsStart = rest[0] == 0x2D ? 1 : 0
            if end > digitsStart + 1, rest[digitsStart] == 0x30, Grammar.isDigit(rest[digitsStart + 1]) { return false }
            i += end
            return true
        }
    }

    mutating func container(close: UInt8, depth: Int, keyed: Bool) -> Bool {
        i += 1
        skipSpace()
        if i < bytes.count && bytes[i] == close { i += 1; return true }
        while true {
            skipSpace()
            if keyed {
                guard i < bytes.count, bytes[i] == 0x22, string() else { return false }
                skipSpace()
                guard i < bytes.count, bytes[i] == 0x3A else { return false }
                i += 1
                skipSpace()
            }
            guard value(depth: depth + 1) else { return false }
            skipSpace()
            guard i < bytes.count else { return false }
            if bytes[i] == 0x2C { i += 1; continue }
            guard bytes[i] == close else { return false }
            i += 1
            return true
        }
    }

    mutating func string() -> Bool {
        i += 1
        while i < bytes.count {
            let c = bytes[i]
            if c == 0x22 { i += 1; return true }
            if c < 0x20 { return false }
            if c == 0x5C {
                i += 1
                guard i < bytes.count else { return false }
                if bytes[i] == 0x75 {
                    guard i + 4 < bytes.count else { return false }
                    for k in 1...4 where !bytes[i + k].isHexDigit { return false }
                    i += 4
                } else {
                    switch bytes[i] {
                    case 0x22, 0x5C, 0x2F, 0x62, 0x66, 0x6E, 0x72, 0x74: break
                    default: return false
                    }
                }
            }
            i += 1
        }
        return false
    }
}

private extension UInt8 {
    var isHexDigit: Bool { (0x30...0x39).contains(self) || (0x41...0x46).contains(self) || (0x61...0x66).contains(self) }
}
