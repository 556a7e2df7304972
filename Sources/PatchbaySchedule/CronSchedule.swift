// When a cron expression fires in a time zone. The rules, written once here and in the README and `--help`:
//   - the expression names wall times of its zone (UTC by default);
//   - a wall time that a spring-forward skips fires once, at the first instant after the gap (several
//     skipped wall times, such as 02:00 and 02:30, fire together at that one instant);
//   - a wall time that repeats in autumn fires once, at its first occurrence;
//   - the next fire after an instant is strictly after it.
// Owns the search; knows nothing of schedules' policies, of runs or of the store.
public import Foundation

/// One fire of a schedule.
public struct Fire: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        /// The wall time happened once, and this is it.
        case onTime
        /// The wall time was skipped by clocks going forward: this is the first instant after the gap.
        case afterGap
        /// The wall time happened twice (clocks went back): this is its first occurrence, the only fire.
        case firstOfRepeated
    }

    /// Seconds since 1970, UTC.
    public var instant: Int64
    /// The wall time the expression names.
    public var scheduled: CivilTime
    /// The zone's offset from UTC at the instant, in seconds.
    public var offset: Int32
    public var kind: Kind

    public var date: Date { Date(timeIntervalSince1970: TimeInterval(instant)) }

    /// RFC 3339 with the zone's offset at the fire: "2026-03-29T03:00:00+02:00". The one form `schedule next`
    /// prints (scripts depend on it).
    public var rfc3339: String { Self.rfc3339(instant: instant, offset: offset) }

    /// The same instant in UTC: "2026-03-29T01:00:00Z".
    public var utcText: String { String(Self.rfc3339(instant: instant, offset: 0).dropLast(6)) + "Z" }

    public static func rfc3339(instant: Int64, offset: Int32) -> String {
        let wall = CivilTime(secondsSinceEpoch: instant + Int64(offset))
        let seconds = Int((instant + Int64(offset)).floorModulo(60))
        let sign = offset < 0 ? "-" : "+"
        let magnitude = Int(offset.magnitude)
        return "\(digits(wall.year, 4))-\(digits(wall.month))-\(digits(wall.day))T\(digits(wall.hour)):\(digits(wall.minute)):\(digits(seconds))"
            + "\(sign)\(digits(magnitude / 3600)):\(digits(magnitude % 3600 / 60))"
    }

    static func digits(_ value: Int, _ width: Int = 2) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }
}

/// A cron expression in a time zone: its fires, one after another.
public struct CronSchedule: Sendable {
    public let expression: CronExpression
    public private(set) var rules: ZoneRules
    public var zone: TimeZone { rules.zone }

    public init(_ expression: CronExpression, zone: TimeZone = TimeZone(identifier: "UTC")!, around instant: Date = Date()) {
        self.expression = expression
        rules = ZoneRules(zone: zone, around: Int64(instant.timeIntervalSince1970))
    }

    /// The first fire strictly after `instant` (seconds since 1970); nil when none comes within 400 years.
    public mutating func nextFire(after instant: Int64) -> Fire? {
        let e = expression
        var wall = CivilTime(secondsSinceEpoch: instant + Int64(rules.offset(at: instant)))
        // The next whole minute of the wall clock.
        advanceMinute(&wall)
        let lastYear = wall.year + 400
        while wall.year <= lastYear {
            if e.months & (1 << UInt16(wall.month)) == 0 {
                // The next month of the expression, from its first day.
                let later = e.months >> UInt16(wall.month + 1)
                if later != 0 { wall.month += 1 + later.trailingZeroBitCount } else {
                    wall.year += 1
                    wall.month = e.months.trailingZeroBitCount
                }
                wall.day = 1; wall.hour = 0; wall.minute = 0
                continue
            }
            let days = CivilTime.days(year: wall.year, month: wall.month, day: wall.day)
            if !e.matches(day: wall.day, weekday: CivilTime.weekday(daysSinceEpoch: days)) {
                nextDay(&wall)
                continue
            }
            if e.hours & (1 << UInt32(wall.hour)) == 0 {
                let later = e.hours >> UInt32(wall.hour)
                if later == 0 { nextDay(&wall); continue }
                wall.hour += later.trailingZeroBitCount
                wall.minute = 0
            }
            if e.minutes & (1 << UInt64(wall.minute)) == 0 {
                let later = e.minutes >> UInt64(wall.minute)
                if later == 0 {
                    wall.minute = 0
                    wall.hour += 1
                    if wall.hour == 24 { nextDay(&wall) }
                    continue
                }
                wall.minute += later.trailingZeroBitCount
            }
            // A wall time of the expression: when it happens.
            let local = (days * 1440 + Int64(wall.hour * 60 + wall.minute)) * 60
            let fire: Fire
            switch rules.resolve(local: local) {
            case .unique(let at): fire = Fire(instant: at, scheduled: wall, offset: 0, kind: .onTime)
            case .skipped(let gapEnd): fire = Fire(instant: gapEnd, scheduled: wall, offset: 0, kind: .afterGap)
            case .repeated(let first, _): fire = Fire(instant: first, scheduled: wall, offset: 0, kind: .firstOfRepeated)
            }
            if fire.instant > instant {
                var found = fire
                found.offset = rules.offset(at: fire.instant)
                return found
            }
            advanceMinute(&wall)  // its (first) time is past: a later wall time
        }
        return nil
    }

    /// The next `count` fires after `date`.
    public mutating func fires(after date: Date, count: Int) -> [Fire] {
        var fires: [Fire] = []
        var at = Int64(date.timeIntervalSince1970.rounded(.down))
        while fires.count < count, let fire = nextFire(after: at) {
            fires.append(fire)
            at = fire.instant
        }
        return fires
    }

    private func advanceMinute(_ wall: inout CivilTime) {
        wall.minute += 1
        if wall.minute == 60 {
            wall.minute = 0
            wall.hour += 1
            if wall.hour == 24 { nextDay(&wall) }
        }
    }

    private func nextDay(_ wall: inout CivilTime) {
        wall.hour = 0
        wall.minute = 0
        wall.day += 1
        if wall.day > CivilTime.daysIn(month: wall.month, of: wall.year) {
            wall.day = 1
            wall.month += 1
            if wall.month == 13 { wall.month = 1; wall.year += 1 }
        }
    }
}
