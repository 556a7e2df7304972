import Foundation
import Testing

@Suite("patchbay schedule: next fires and their explanation, through the real command")
struct ScheduleCommandTests {
    /// The command needs no project and no plugins.
    static func patchbay(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        try Fixtures.run(Fixtures.patchbay, arguments)
    }

    @Test("schedule next prints one RFC 3339 time with the zone's offset per line, and nothing else")
    func next() throws {
        // When the next three fires of a 02:30 schedule in Prague are asked for, across the spring-forward
        let result = try Self.patchbay(["schedule", "next", "30 2 * * *", "--tz", "Europe/Prague", "--from", "2026-03-28T00:00:00Z", "--count", "3"])
        // Then the skipped 02:30 fires at 03:00 CEST, in exactly the documented form
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "2026-03-28T02:30:00+01:00\n2026-03-29T03:00:00+02:00\n2026-03-30T02:30:00+02:00\n")
        // And a wall time as --from is read in the zone
        let wall = try Self.patchbay(["schedule", "next", "@hourly", "--tz", "America/New_York", "--from", "2026-11-01T00:30", "--count", "3"])
        #expect(wall.stdout == "2026-11-01T01:00:00-04:00\n2026-11-01T02:00:00-05:00\n2026-11-01T03:00:00-05:00\n", "\(wall.stderr)")
    }

    @Test("an invalid expression, zone or time is exit 4 with the field pointed at")
    func invalid() throws {
        let hour = try Self.patchbay(["schedule", "next", "0 25 * * *"])
        #expect(hour.status == 4 && hour.stdout.isEmpty)
        #expect(hour.stderr.contains("cron '0 25 * * *': field 2 (hour): 25 is out of range for the hour (0-23)\n  0 25 * * *\n    ^^"), "\(hour.stderr)")
        let zone = try Self.patchbay(["schedule", "next", "@daily", "--tz", "Europe/Prag"])
        #expect(zone.status == 4 && zone.stderr.contains("unknown time zone 'Europe/Prag' (did you mean Europe/Prague?)"), "\(zone.stderr)")
        let time = try Self.patchbay(["schedule", "next", "@daily", "--from", "yesterday"])
        #expect(time.status == 4 && time.stderr.contains("'yesterday' is not a time"), "\(time.stderr)")
    }

    @Test("schedule explain shows local and UTC times and marks the transition days with what they do")
    func explain() throws {
        let result = try Self.patchbay(["schedule", "explain", "30 2 * * *", "--tz", "Europe/Prague", "--from", "2026-10-24", "--count", "3"])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "'30 2 * * *' in Europe/Prague: at minute 30 past hour 2, every day")
        #expect(lines.contains("  Sat 2026-10-24 02:30 +02:00  2026-10-24T00:30:00Z"))
        #expect(lines.contains("  Sun 2026-10-25 02:30 +02:00  2026-10-25T00:30:00Z  ⚠ transition day: clocks go back 03:00 → 02:00 (+02:00 → +01:00); 02:30 happens twice and fires once, the first time"), "\(lines)")
        #expect(lines.contains("  Mon 2026-10-26 02:30 +01:00  2026-10-26T01:30:00Z"))
    }
}
