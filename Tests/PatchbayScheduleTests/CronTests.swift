import Foundation
import PatchbaySchedule
import Testing

/// The next `count` fire times of `expression` in `zone` after `from`, as `schedule next` prints them.
func fires(_ expression: String, _ zone: String = "UTC", from: String, count: Int = 3) throws -> [String] {
    let start = try #require(ISO8601DateFormatter().date(from: from))
    var schedule = CronSchedule(try CronExpression(parsing: expression), zone: try #require(TimeZone(identifier: zone)), around: start)
    return schedule.fires(after: start, count: count).map(\.rfc3339)
}

@Suite("Cron: the five fields, names, macros and the day rule")
struct CronSyntaxTests {
    @Test("ranges, lists, steps and names fire where they say")
    func fields() throws {
        #expect(try fires("*/20 9-10 * * *", from: "2026-12-03T09:30:00Z", count: 4)
                == ["2026-12-03T09:40:00+00:00", "2026-12-03T10:00:00+00:00", "2026-12-03T10:20:00+00:00", "2026-12-03T10:40:00+00:00"])
        #expect(try fires("0 9 * JAN,jul mon-fri", from: "2026-12-31T12:00:00Z", count: 2)
                == ["2027-01-01T09:00:00+00:00", "2027-01-04T09:00:00+00:00"])  // 1 Jan 2027 is a Friday
        #expect(try fires("5,10-12/2 0 1 * *", from: "2026-12-01T00:06:00Z", count: 3)
                == ["2026-12-01T00:10:00+00:00", "2026-12-01T00:12:00+00:00", "2027-01-01T00:05:00+00:00"])
        #expect(try fires("0 0 * * 7", from: "2026-12-03T00:00:00Z", count: 1) == ["2026-12-06T00:00:00+00:00"])  // 7 is Sunday
        #expect(try fires("30 4/6 * * *", from: "2026-12-03T05:00:00Z", count: 3)
                == ["2026-12-03T10:30:00+00:00", "2026-12-03T16:30:00+00:00", "2026-12-03T22:30:00+00:00"])
    }

    @Test("the macros are their five-field forms")
    func macros() throws {
        #expect(try fires("@hourly", from: "2026-12-03T00:10:00Z", count: 1) == ["2026-12-03T01:00:00+00:00"])
        #expect(try fires("@daily", from: "2026-12-03T00:10:00Z", count: 1) == ["2026-12-04T00:00:00+00:00"])
        #expect(try fires("@weekly", from: "2026-12-03T00:10:00Z", count: 1) == ["2026-12-06T00:00:00+00:00"])
        #expect(try fires("@monthly", from: "2026-12-03T00:10:00Z", count: 1) == ["2027-01-01T00:00:00+00:00"])
        #expect(try fires("@yearly", from: "2026-12-03T00:10:00Z", count: 1) == ["2027-01-01T00:00:00+00:00"])
        #expect(try fires("@annually", from: "2027-01-01T00:00:00Z", count: 1) == ["2028-01-01T00:00:00+00:00"])
    }

    @Test("day of month OR day of week when both are restricted; AND when either starts with *")
    func dayRule() throws {
        // The 13th, or any Friday (November 2026: Fridays 6, 13, 20, 27; 13 December is a Sunday)
        #expect(try fires("0 0 13 * 5", from: "2026-11-01T00:00:00Z", count: 8) == [
            "2026-11-06T00:00:00+00:00", "2026-11-13T00:00:00+00:00", "2026-11-20T00:00:00+00:00", "2026-11-27T00:00:00+00:00",
            "2026-12-04T00:00:00+00:00", "2026-12-11T00:00:00+00:00", "2026-12-13T00:00:00+00:00", "2026-12-18T00:00:00+00:00",
        ])
        // */2 starts with *: odd days that are Fridays
        #expect(try fires("0 0 */2 * 5", from: "2026-11-01T00:00:00Z", count: 4)
                == ["2026-11-13T00:00:00+00:00", "2026-11-27T00:00:00+00:00", "2026-12-11T00:00:00+00:00", "2026-12-25T00:00:00+00:00"])
    }

    @Test("29 February fires in leap years only, and 2100 is not one")
    func leapDay() throws {
        #expect(try fires("0 12 29 2 *", from: "2025-01-01T00:00:00Z", count: 2) == ["2028-02-29T12:00:00+00:00", "2032-02-29T12:00:00+00:00"])
        #expect(try fires("0 12 29 2 *", from: "2097-01-01T00:00:00Z", count: 1) == ["2104-02-29T12:00:00+00:00"])
        #expect(try fires("0 0 31 * *", from: "2026-04-01T00:00:00Z", count: 2) == ["2026-05-31T00:00:00+00:00", "2026-07-31T00:00:00+00:00"])
    }

    @Test("an invalid expression names the field at fault and points at it", arguments: [
        ("0 25 * * *", 1, 2..<4, "25 is out of range for the hour (0-23)"),
        ("* * * *", nil, 0..<7, "has 4 fields; cron needs five"),
        ("0 0 * * * 2026", nil, 10..<14, "has 6 fields"),
        ("0 0 31 2 *", 2, 4..<6, "no month of the expression has that day, so it would never fire"),
        ("0 0 * * MON-FOO", 4, 8..<15, "'FOO' is not a day of week"),
        ("5-1 * * * *", 0, 0..<3, "the range 5-1 runs backwards"),
        ("*/0 * * * *", 0, 0..<3, "'0' after '/' is not a step"),
        ("0 0 1,,2 * *", 2, 6..<6, "an empty item in the list"),
        ("@reboot", nil, 0..<7, "'@reboot' is not a cron macro"),
        ("0 0 * 13 *", 3, 6..<8, "13 is out of range for the month (1-12 or JAN-DEC)"),
    ] as [(String, Int?, Range<Int>, String)])
    func invalid(expression: String, field: Int?, span: Range<Int>, message: String) throws {
        let error = try #require(throws: CronError.self) { try CronExpression(parsing: expression) }
        #expect(error.field == field)
        #expect(error.message.contains(message), "\(error.message)")
        if !span.isEmpty { #expect(error.span == span, "\(error.description)") }
        #expect(error.description.contains("\n  \(expression)\n  " + String(repeating: " ", count: error.span.lowerBound) + "^"))
    }
}

@Suite("Cron in a time zone: every DST rule, in the zones that break schedulers")
struct CronZoneTests {
    @Test("Europe/Prague: a skipped 02:30 fires at 03:00 CEST; a repeated 02:30 fires once, at its first occurrence")
    func prague() throws {
        #expect(try fires("30 2 * * *", "Europe/Prague", from: "2026-03-28T00:00:00Z")
                == ["2026-03-28T02:30:00+01:00", "2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"])
        #expect(try fires("30 2 * * *", "Europe/Prague", from: "2026-10-24T00:00:00Z")
                == ["2026-10-24T02:30:00+02:00", "2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"])
        // Every half hour: the gap's wall times fire together once; the fold's second pass is silent
        #expect(try fires("*/30 * * * *", "Europe/Prague", from: "2026-03-29T00:00:00Z")
                == ["2026-03-29T01:30:00+01:00", "2026-03-29T03:00:00+02:00", "2026-03-29T03:30:00+02:00"])
        #expect(try fires("*/30 * * * *", "Europe/Prague", from: "2026-10-24T23:00:00Z", count: 5) == [
            "2026-10-25T01:30:00+02:00", "2026-10-25T02:00:00+02:00", "2026-10-25T02:30:00+02:00",
            "2026-10-25T03:00:00+01:00", "2026-10-25T03:30:00+01:00",
        ])
    }

    @Test("America/New_York: spring forward at 02:00, fall back at 02:00")
    func newYork() throws {
        #expect(try fires("30 2 * * *", "America/New_York", from: "2026-03-07T00:00:00Z")
                == ["2026-03-07T02:30:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"])
        #expect(try fires("30 1 * * *", "America/New_York", from: "2026-10-31T12:00:00Z", count: 2)
                == ["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"])
    }

    @Test("Australia/Lord_Howe: a 30-minute shift, back in April and forward in October")
    func lordHowe() throws {
        #expect(try fires("45 1 * * *", "Australia/Lord_Howe", from: "2026-04-04T00:00:00Z", count: 2)
                == ["2026-04-05T01:45:00+11:00", "2026-04-06T01:45:00+10:30"])
        #expect(try fires("15 2 * * *", "Australia/Lord_Howe", from: "2026-10-03T00:00:00Z", count: 2)
                == ["2026-10-04T02:30:00+11:00", "2026-10-05T02:15:00+11:00"])
    }

    @Test("America/Sao_Paulo: midnight itself was skipped (2018) and 23:30 repeated (2019)")
    func saoPaulo() throws {
        #expect(try fires("0 0 * * *", "America/Sao_Paulo", from: "2018-11-02T12:00:00Z")
                == ["2018-11-03T00:00:00-03:00", "2018-11-04T01:00:00-02:00", "2018-11-05T00:00:00-02:00"])
        #expect(try fires("30 23 * * *", "America/Sao_Paulo", from: "2019-02-15T12:00:00Z")
                == ["2019-02-15T23:30:00-02:00", "2019-02-16T23:30:00-02:00", "2019-02-17T23:30:00-03:00"])
    }

    @Test("Pacific/Apia skipped 30 December 2011: its 09:00 fires at the first instant after, 31 December 00:00")
    func apia() throws {
        #expect(try fires("0 9 * * *", "Pacific/Apia", from: "2011-12-28T20:00:00Z")
                == ["2011-12-29T09:00:00-10:00", "2011-12-31T00:00:00+14:00", "2011-12-31T09:00:00+14:00"])
    }

    @Test("every transition of 2020-2035 in six zones: fires only move forward, no wall time fires twice, a skipped one fires at the gap's end",
          arguments: ["Europe/Prague", "America/New_York", "Australia/Lord_Howe", "Asia/Hebron", "America/Sao_Paulo", "Pacific/Apia"])
    func everyTransition(zone name: String) throws {
        let zone = try #require(TimeZone(identifier: name))
        var rules = ZoneRules(zone: zone, around: 1_830_000_000)
        let transitions = rules.transitions(in: 1_577_836_800..<2_082_758_400)  // 2020-01-01 … 2036-01-01
        for expression in ["* * * * *", "30 * * * *", "0 0 * * *"] {
            var schedule = CronSchedule(try CronExpression(parsing: expression), zone: zone, around: Date(timeIntervalSince1970: 1_830_000_000))
            for change in transitions {
                let window = (change.instant - 3 * 3600)..<(change.instant + 3 * 3600)
                var at = window.lowerBound, seen = Set<CivilTime>(), last = Int64.min
                while let fire = schedule.nextFire(after: at), fire.instant < window.upperBound {
                    #expect(fire.instant > last && fire.instant > at, "\(name) \(expression): fires must move forward")
                    #expect(seen.insert(fire.scheduled).inserted, "\(name) \(expression): \(fire.scheduled) fired twice")
                    let wall = CivilTime(secondsSinceEpoch: fire.instant + Int64(fire.offset))
                    switch fire.kind {
                    case .afterGap: #expect(fire.instant == change.instant, "\(name): a skipped wall time fires at the gap's end")
                    case .onTime, .firstOfRepeated: #expect(wall == fire.scheduled, "\(name): a fire happens at its wall time")
                    }
                    last = fire.instant
                    at = fire.instant
                }
                // Every minute: each whole-minute instant of the window fires, but those of a fold's second pass
                if expression == "* * * * *" {
                    let repeated = Int(max(0, change.offsetBefore - change.offsetAfter)) / 60
                    #expect(seen.count == 359 - repeated, "\(name) at \(change.instant): \(seen.count) fires, not \(359 - repeated)")
                }
            }
        }
    }
}
