// The cron expression: five fields (minute, hour, day of month, month, day of week) with ranges, lists,
// steps and names, or one of the @ macros, parsed into bit sets. An invalid expression is an error that
// points at its field. Knows nothing of time zones or of when anything fires.

/// A parsed cron expression.
public struct CronExpression: Sendable, Hashable, CustomStringConvertible {
    /// The text as written.
    public let source: String
    /// Bit n set: minute n (0…59), hour n (0…23), day n (1…31), month n (1…12), weekday n (0 Sunday … 6).
    public let minutes: UInt64
    public let hours: UInt32
    public let days: UInt32
    public let months: UInt16
    public let weekdays: UInt8
    /// Whether the day-of-month or day-of-week field starts with `*`. When neither does, a day matches if
    /// either field matches (the standard OR rule); otherwise it must match both (the `*` one always does).
    public let daysStarred: Bool
    public let weekdaysStarred: Bool

    public var description: String { source }

    /// The five fields, with the bounds and names of each.
    struct Field {
        let name: String
        let range: ClosedRange<Int>
        let names: [String]  // index + range.lowerBound = value
    }

    static let fields = [
        Field(name: "minute", range: 0...59, names: []),
        Field(name: "hour", range: 0...23, names: []),
        Field(name: "day of month", range: 1...31, names: []),
        Field(name: "month", range: 1...12, names: ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]),
        Field(name: "day of week", range: 0...7, names: ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]),
    ]

    static let macros: [String: String] = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
        "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
    ]

    public init(parsing text: String) throws(CronError) {
        source = text
        let trimmed = text.trimmingSpaces
        var body = trimmed
        if trimmed.hasPrefix("@") {
            guard let expanded = Self.macros[trimmed.lowercased()] else {
                throw CronError(expression: text, field: nil, span: text.spanOf(trimmed),
                                message: "'\(trimmed)' is not a cron macro (@yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly)")
            }
            body = expanded
        }
        // The fields and where each stands in the text (for the error's pointer).
        var parts: [(text: Substring, span: Range<Int>)] = []
        var start: Int?
        for (offset, character) in body.enumerated() {
            if character == " " || character == "\t" {
                if let s = start { parts.append((body.dropFirst(s).prefix(offset - s), s..<offset)); start = nil }
            } else if start == nil {
                start = offset
            }
        }
        if let s = start { parts.append((body.dropFirst(s), s..<body.count)) }
        if trimmed.hasPrefix("@") { parts = parts.map { ($0.text, text.spanOf(trimmed)) } } else {
            let shift = text.leadingSpaceCount
            parts = parts.map { ($0.text, ($0.span.lowerBound + shift)..<($0.span.upperBound + shift)) }
        }
        guard parts.count == 5 else {
            let what = parts.count < 5 ? "has \(parts.count) field\(parts.count == 1 ? "" : "s")" : "has \(parts.count) fields"
            let extra = parts.count == 6 ? " (a seconds field or a year field is not supported)" : ""
            throw CronError(expression: text, field: nil, span: parts.count > 5 ? parts[5].span.lowerBound..<text.count : text.spanOf(trimmed),
                            message: "\(what); cron needs five: minute hour day-of-month month day-of-week\(extra), or a macro such as @daily")
        }
        var bits: [UInt64] = []
        for (index, part) in parts.enumerated() {
            bits.append(try Self.parse(part.text, field: Self.fields[index], index: index, span: part.span, expression: text))
        }
        minutes = bits[0]
        hours = UInt32(bits[1])
        days = UInt32(bits[2])
        months = UInt16(bits[3])
        let weekdayBits = bits[4]
        weekdays = UInt8((weekdayBits | (weekdayBits >> 7)) & 0x7F)  // 7 is Sunday too
        daysStarred = parts[2].text.hasPrefix("*")
        weekdaysStarred = parts[4].text.hasPrefix("*")
        // A day no month of the expression has (31 in April only, 30 February) never fires, unless the
        // day of week is restricted too (then the OR rule fires on those weekdays).
        if weekdaysStarred && !daysStarred {
            let possible = (1...12).contains { month in
                guard months & (1 << month) != 0 else { return false }
                let longest = CivilTime.daysIn(month: month, of: 2000)  // a leap year: 29 February exists
                return UInt64(days) & ((UInt64(1) << UInt64(longest + 1)) - 2) != 0
            }
            guard possible else {
                throw CronError(expression: text, field: 2, span: parts[2].span,
                                message: "no month of the expression has that day, so it would never fire")
            }
        }
    }

    /// One field's list of items: `*`, `N`, `A-B`, each with an optional `/STEP`, or a name.
    static func parse(_ text: Substring, field: Field, index: Int, span: Range<Int>, expression: String) throws(CronError) -> UInt64 {
        var bits: UInt64 = 0
        var offset = span.lowerBound
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            let itemSpan = offset..<(offset + item.count)
            offset += item.count + 1
            func fail(_ message: String) -> CronError {
                CronError(expression: expression, field: index, span: itemSpan.isEmpty ? span : itemSpan, message: message)
            }
            guard !item.isEmpty else { throw fail("an empty item in the list (two commas, or a comma at an end)") }
            let pieces = item.split(separator: "/", omittingEmptySubsequences: false)
            guard pieces.count <= 2 else { throw fail("'\(item)' has more than one '/'") }
            var step = 1
            if pieces.count == 2 {
                guard let value = Int(pieces[1]), value > 0 else { throw fail("'\(pieces[1])' after '/' is not a step (a whole number, 1 or more)") }
                step = value
            }
            let rangeText = pieces[0]
            var low: Int, high: Int
            if rangeText == "*" {
                low = field.range.lowerBound
                high = index == 4 ? 6 : field.range.upperBound
            } else {
                let ends = rangeText.split(separator: "-", omittingEmptySubsequences: false)
                guard ends.count <= 2, !ends.contains(where: \.isEmpty) else {
                    throw fail("'\(rangeText)' is not a value or a range A-B of the \(field.name) (\(Self.describe(field)))")
                }
                low = try value(ends[0], field, fail)
                high = ends.count == 2 ? try value(ends[1], field, fail) : (pieces.count == 2 ? (index == 4 ? 6 : field.range.upperBound) : low)
                guard low <= high else { throw fail("the range \(rangeText) runs backwards: write it from the smaller to the larger value") }
            }
            var value = low
            while value <= high {
                bits |= 1 << UInt64(value)
                value += step
            }
        }
        return bits
    }

    static func value(_ text: Substring, _ field: Field, _ fail: (String) -> CronError) throws(CronError) -> Int {
        if let number = Int(text) {
            guard field.range.contains(number) else {
                throw fail("\(number) is out of range for the \(field.name) (\(Self.describe(field)))")
            }
            return number
        }
        if let at = field.names.firstIndex(of: text.uppercased()) { return at + field.range.lowerBound }
        throw fail("'\(text)' is not a \(field.name) (\(Self.describe(field)))")
    }

    static func describe(_ field: Field) -> String {
        var text = "\(field.range.lowerBound)-\(field.range.upperBound)"
        if field.name == "day of week" { text = "0-7, 0 and 7 are Sunday, or SUN-SAT" }
        else if !field.names.isEmpty { text += " or \(field.names.first!)-\(field.names.last!)" }
        return text
    }

    /// Whether the day matches: the OR rule when both day fields are restricted, else both must match.
    @inline(__always) func matches(day: Int, weekday: Int) -> Bool {
        let byDay = days & (1 << UInt32(day)) != 0
        let byWeekday = weekdays & (1 << UInt8(weekday)) != 0
        return (!daysStarred && !weekdaysStarred) ? (byDay || byWeekday) : (byDay && byWeekday)
    }
}

/// An invalid cron expression, pointing at the field at fault.
public struct CronError: Error, Sendable, Equatable, CustomStringConvertible {
    public let expression: String
    /// 0 minute … 4 day of week; nil for the expression as a whole.
    public let field: Int?
    /// Characters of `expression` at fault.
    public let span: Range<Int>
    public let message: String

    public var fieldName: String? { field.map { CronExpression.fields[$0].name } }

    /// "cron '0 25 * * *': field 2 (hour): 25 is out of range …" with the expression and a caret line under it.
    public var description: String {
        let place = field.map { "field \($0 + 1) (\(CronExpression.fields[$0].name))" } ?? "the expression"
        let caret = String(repeating: " ", count: span.lowerBound) + String(repeating: "^", count: max(1, span.count))
        return "cron '\(expression)': \(place): \(message)\n  \(expression)\n  \(caret)"
    }
}

extension String {
    var trimmingSpaces: String {
        var text = Substring(self)
        while text.first == " " || text.first == "\t" { text = text.dropFirst() }
        while text.last == " " || text.last == "\t" { text = text.dropLast() }
        return String(text)
    }

    var leadingSpaceCount: Int { prefix { $0 == " " || $0 == "\t" }.count }

    func spanOf(_ trimmed: String) -> Range<Int> {
        let start = leadingSpaceCount
        return start..<(start + max(trimmed.count, 1))
    }
}
