// Calendar arithmetic on the proleptic Gregorian calendar, in whole days and minutes, with no time zone and
// no Foundation: the fast path of every next-fire computation. Knows nothing of cron or of zones.

/// A date and a minute of the day, as a wall clock shows it.
public struct CivilTime: Sendable, Hashable, Comparable {
    public var year: Int
    public var month: Int  // 1…12
    public var day: Int    // 1…31
    public var hour: Int   // 0…23
    public var minute: Int // 0…59

    public init(year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0) {
        self.year = year
        self.month = month
        self.day = day
        self.hour = hour
        self.minute = minute
    }

    /// The wall time `seconds` after 1970-01-01 00:00 (seconds within the minute are dropped).
    public init(secondsSinceEpoch seconds: Int64) {
        let minutes = seconds.floorDivided(by: 60)
        let days = minutes.floorDivided(by: 1440)
        let minuteOfDay = Int(minutes - days * 1440)
        (year, month, day) = CivilTime.date(daysSinceEpoch: days)
        hour = minuteOfDay / 60
        minute = minuteOfDay % 60
    }

    /// Seconds from 1970-01-01 00:00 to this wall time.
    public var secondsSinceEpoch: Int64 {
        (CivilTime.days(year: year, month: month, day: day) * 1440 + Int64(hour * 60 + minute)) * 60
    }

    /// 0 for Sunday … 6 for Saturday.
    public var weekday: Int { CivilTime.weekday(daysSinceEpoch: CivilTime.days(year: year, month: month, day: day)) }

    public static func < (a: CivilTime, b: CivilTime) -> Bool { a.secondsSinceEpoch < b.secondsSinceEpoch }

    // Howard Hinnant's days_from_civil and civil_from_days (public domain algorithms, rewritten here).

    /// Days from 1970-01-01 to the date.
    public static func days(year: Int, month: Int, day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let m = Int64(month)
        let dayOfYear = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The date `days` after 1970-01-01.
    public static func date(daysSinceEpoch days: Int64) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = Int(dayOfYear - (153 * mp + 2) / 5 + 1)
        let month = Int(mp < 10 ? mp + 3 : mp - 9)
        let year = Int(yearOfEra + era * 400) + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }

    static func weekday(daysSinceEpoch days: Int64) -> Int {
        Int((days + 4).floorModulo(7))  // 1970-01-01 was a Thursday
    }

    public static func isLeap(_ year: Int) -> Bool { year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) }

    public static func daysIn(month: Int, of year: Int) -> Int {
        switch month {
        case 2: isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}

extension Int64 {
    @inline(__always) func floorDivided(by divisor: Int64) -> Int64 {
        let q = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? q - 1 : q
    }

    @inline(__always) func floorModulo(_ divisor: Int64) -> Int64 {
        let r = self % divisor
        return r < 0 ? r + divisor : r
    }
}
