// What a user types about schedules and what they read back: a time zone's name (with a suggestion when it
// is misspelt), a start time in RFC 3339 or as a wall time of the zone, an expression in words, and the
// explanation of its next fires with the transition days marked. Text only; the search is CronSchedule's.
public import Foundation
import PatchbayCore

/// A time zone or a time the user wrote that means nothing.
public struct ScheduleInputError: Error, Sendable, CustomStringConvertible {
    public let description: String
}

public enum ScheduleWords {
    /// The IANA zone named `name` ("UTC" by default), from the operating system's tzdata.
    public static func zone(named name: String) throws(ScheduleInputError) -> TimeZone {
        if let zone = TimeZone(identifier: name), name.contains("/") || ["UTC", "GMT"].contains(name.uppercased()) { return zone }
        let known = TimeZone.knownTimeZoneIdentifiers
        if let exact = known.first(where: { $0.lowercased() == name.lowercased() }), let zone = TimeZone(identifier: exact) { return zone }
        let closest = known.min { editDistance($0, name) < editDistance($1, name) }
        let hint = closest.flatMap { editDistance($0, name) <= 3 ? " (did you mean \($0)?)" : nil } ?? ""
        throw ScheduleInputError(description: "unknown time zone '\(name)'\(hint): use an IANA name such as Europe/Prague, America/New_York or UTC")
    }

    /// An instant from RFC 3339 ("2026-03-29T01:30:00Z", "…+02:00", fractions allowed), or a wall time of
    /// `zone` ("2026-03-29T01:30", "2026-03-29 01:30", "2026-03-29": its midnight). A wall time that a gap
    /// skips is the gap's end; one that repeats is its first occurrence, as for fires.
    public static func instant(_ text: String, in zone: TimeZone) throws(ScheduleInputError) -> Int64 {
        let fail = ScheduleInputError(description: "'\(text)' is not a time: write RFC 3339 (2026-03-29T01:30:00Z, 2026-03-29T03:30:00+02:00) or a wall time of the zone (2026-03-29T01:30, 2026-03-29)")
        let characters = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= characters.count else { return nil }
            var value = 0
            for c in characters[range] {
                guard c >= 48 && c <= 57 else { return nil }
                value = value * 10 + Int(c - 48)
            }
            return value
        }
        guard characters.count >= 10, let year = number(0..<4), characters[4] == 45, let month = number(5..<7), characters[7] == 45,
              let day = number(8..<10), (1...12).contains(month), (1...CivilTime.daysIn(month: month, of: year)).contains(day) else { throw fail }
        var hour = 0, minute = 0, second = 0, at = 10
        if characters.count > 10 {
            guard characters[10] == 84 || characters[10] == 116 || characters[10] == 32, let h = number(11..<13), characters.count > 13,
                  characters[13] == 58, let m = number(14..<16), h < 24, m < 60 else { throw fail }
            hour = h; minute = m; at = 16
            if characters.count > 16 && characters[16] == 58 {
                guard let s = number(17..<19), s < 60 else { throw fail }
                second = s; at = 19
                if characters.count > 19 && characters[19] == 46 {  // a fraction: dropped
                    at = 20
                    while at < characters.count, characters[at] >= 48 && characters[at] <= 57 { at += 1 }
                }
            }
        }
        let wall = CivilTime(year: year, month: month, day: day, hour: hour, minute: minute).secondsSinceEpoch + Int64(second)
        if at == characters.count {
            var rules = ZoneRules(zone: zone, around: wall)
            switch rules.resolve(local: wall) {
            case .unique(let instant), .skipped(let instant), .repeated(let instant, _): return instant
            }
        }
        let rest = characters[at...]
        if rest.count == 1, rest.first == 90 || rest.first == 122 { return wall }  // Z
        guard rest.count == 6, rest.first == 43 || rest.first == 45, let h = number((at + 1)..<(at + 3)), characters[at + 3] == 58,
              let m = number((at + 4)..<(at + 6)) else { throw fail }
        let offset = Int64((h * 60 + m) * 60) * (rest.first == 45 ? -1 : 1)
        return wall - offset
    }

    /// "at minute 30 past hour 2, every day" — the expression in words.
    public static func describe(_ e: CronExpression) -> String {
        func list(_ bits: UInt64, _ range: ClosedRange<Int>, names: [String] = [], base: Int = 0) -> String {
            var items: [String] = []
            var value = range.lowerBound
            func word(_ v: Int) -> String { names.isEmpty ? String(v) : names[v - base] }
            while value <= range.upperBound {
                guard bits & (1 << UInt64(value)) != 0 else { value += 1; continue }
                var end = value
                while end + 1 <= range.upperBound, bits & (1 << UInt64(end + 1)) != 0 { end += 1 }
                items.append(end > value + 1 ? "\(word(value))-\(word(end))" : end == value + 1 ? "\(word(value)),\(word(end))" : word(value))
                value = end + 1
            }
            return items.joined(separator: ",")
        }
        let allMinutes = e.minutes == (UInt64(1) << 60) - 1, allHours = e.hours == (UInt32(1) << 24) - 1
        var text = allMinutes ? "every minute" : "at minute\(e.minutes.nonzeroBitCount == 1 ? "" : "s") \(list(e.minutes, 0...59))"
        text += allHours ? (allMinutes ? "" : " of every hour") : " past hour\(e.hours.nonzeroBitCount == 1 ? "" : "s") \(list(UInt64(e.hours), 0...23))"
        let weekdayNames = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let dayWords = "day\(e.days.nonzeroBitCount == 1 ? "" : "s") \(list(UInt64(e.days), 1...31)) of the month"
        let weekdayWords = list(UInt64(e.weekdays), 0...6, names: weekdayNames)
        switch (e.daysStarred, e.weekdaysStarred) {
        case (true, true): text += e.days == UInt32.max - 1 ? ", every day" : ", on \(dayWords)"
        case (false, true): text += ", on \(dayWords)"
        case (true, false): text += e.days == UInt32.max - 1 ? ", on \(weekdayWords)" : ", on \(dayWords) that are \(weekdayWords)"
        case (false, false): text += ", on \(dayWords) or on \(weekdayWords)"
        }
        if e.months != 0b1_1111_1111_1110 {
            text += ", in " + list(UInt64(e.months), 1...12, names: ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], base: 1)
        }
        return text
    }

    /// The next `count` fires in the zone's wall time and in UTC, each transition day marked with what the
    /// change does to that fire.
    public static func explain(_ schedule: inout CronSchedule, zoneName: String, after start: Int64, count: Int) -> [String] {
        var rules = schedule.rules
        var lines = ["'\(schedule.expression.source)' in \(zoneName): \(describe(schedule.expression))",
                     "  LOCAL                        UTC"]
        var at = start
        for _ in 0..<count {
            guard let fire = schedule.nextFire(after: at) else { lines.append("  (no more fires within 400 years)"); break }
            at = fire.instant
            let wall = CivilTime(secondsSinceEpoch: fire.instant + Int64(fire.offset))
            let weekday = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"][wall.weekday]
            let offset = String(Fire.rfc3339(instant: fire.instant, offset: fire.offset).suffix(6))
            var line = "  \(weekday) \(Fire.digits(wall.year, 4))-\(Fire.digits(wall.month))-\(Fire.digits(wall.day)) \(Fire.digits(wall.hour)):\(Fire.digits(wall.minute)) \(offset)"
                + "  \(fire.utcText)"
            // A transition on the fire's local day.
            let dayStart = CivilTime(year: wall.year, month: wall.month, day: wall.day).secondsSinceEpoch - Int64(fire.offset) - 14 * 3600
            let changes = rules.transitions(in: dayStart..<(dayStart + 52 * 3600)).filter { change in
                // Its day: the wall clock's date on either side of the change, or the change this fire was moved by.
                if fire.kind == .afterGap { return change.instant == fire.instant }
                if fire.kind == .firstOfRepeated { return change.instant > fire.instant && change.isFold }
                return [change.offsetBefore, change.offsetAfter].contains { offset in
                    let local = CivilTime(secondsSinceEpoch: change.instant + Int64(offset))
                    return local.year == wall.year && local.month == wall.month && local.day == wall.day
                }
            }
            if let change = changes.first {
                let from = CivilTime(secondsSinceEpoch: change.instant + Int64(change.offsetBefore))
                let to = CivilTime(secondsSinceEpoch: change.instant + Int64(change.offsetAfter))
                let offsets = "\(String(Fire.rfc3339(instant: 0, offset: change.offsetBefore).suffix(6))) → \(String(Fire.rfc3339(instant: 0, offset: change.offsetAfter).suffix(6)))"
                let sameDay = (from.year, from.month, from.day) == (to.year, to.month, to.day)
                let clocks = "clocks go \(change.isGap ? "forward" : "back") \(sameDay ? clock(from) : date(from) + " " + clock(from)) → "
                    + "\(sameDay ? clock(to) : date(to) + " " + clock(to)) (\(offsets))"
                let scheduled = sameDay ? clock(fire.scheduled) : "\(clock(fire.scheduled)) on \(date(fire.scheduled))"
                switch fire.kind {
                case .afterGap: line += "  ⚠ transition day: \(clocks); \(scheduled) does not exist, so it fires at \(clock(wall)), the first instant after the gap"
                case .firstOfRepeated: line += "  ⚠ transition day: \(clocks); \(scheduled) happens twice and fires once, the first time"
                case .onTime: line += "  ⚠ transition day: \(clocks); this fire is not affected"
                }
            }
            lines.append(line)
        }
        return lines
    }

    static func clock(_ wall: CivilTime) -> String { "\(Fire.digits(wall.hour)):\(Fire.digits(wall.minute))" }
    static func date(_ wall: CivilTime) -> String { "\(Fire.digits(wall.year, 4))-\(Fire.digits(wall.month))-\(Fire.digits(wall.day))" }
}
