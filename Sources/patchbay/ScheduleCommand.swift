// `patchbay schedule`: cron expressions in a time zone, their next fires, and why a fire lands where it does.
import ArgumentParser
import Foundation
import PatchbayViews
import PatchbayEngine
import PatchbayModel
import PatchbaySchedule

struct ScheduleCommand: AsyncParsableCommand {
    static let rules = """
        Cron: five fields, minute (0-59) hour (0-23) day-of-month (1-31) month (1-12 or JAN-DEC) day-of-week (0-7 or SUN-SAT, 0 and 7 are Sunday), each `*`, a value, a range A-B, a list A,B and a step */N or A-B/N; or @hourly, @daily (@midnight), @weekly, @monthly, @yearly (@annually). When both day fields are restricted, a day matches either (the standard OR rule); a day field that starts with `*` (such as */2) leaves the other to decide.

        Time zones: any IANA name (Europe/Prague, America/New_York), from the system's tzdata; UTC by default. The expression names wall times of that zone.

        Spring forward: a wall time the clocks skip fires once, at the first instant after the gap (02:30 on a day that jumps from 02:00 to 03:00 fires at 03:00).

        Fall back: a wall time that repeats fires once, at its first occurrence.
        """

    static let configuration = CommandConfiguration(
        commandName: "schedule",
        abstract: "Cron schedules in a time zone: the next fire times, and what DST does to them.",
        discussion: rules,
        subcommands: [List.self, Next.self, Explain.self]
    )

    struct Expression: ParsableArguments {
        @Argument(help: ArgumentHelp("A cron expression, quoted: '30 2 * * *', '*/15 9-17 * * MON-FRI', '@daily'.", valueName: "expr"))
        var expression: String
        @Option(name: .customLong("tz"), help: ArgumentHelp("The IANA time zone the expression's wall times are in.", valueName: "zone"))
        var zone: String = "UTC"
        @Option(help: ArgumentHelp("Fires after this time: RFC 3339 (2026-03-29T00:00:00Z) or a wall time of the zone (2026-03-29T01:30, 2026-03-29). Now by default.",
                                   valueName: "time"))
        var from: String?
        @Option(help: "How many fires.") var count: Int = 10

        /// The schedule and the instant to start after, or the error worded for the user.
        func schedule() throws -> (CronSchedule, Int64) {
            guard count >= 1, count <= 100_000 else { throw CLIError("--count must be 1 to 100000, not \(count)", exitCode: .inputInvalid) }
            do {
                let zone = try ScheduleWords.zone(named: self.zone)
                let start = try from.map { text throws(ScheduleInputError) in try ScheduleWords.instant(text, in: zone) } ?? Int64(Date().timeIntervalSince1970)
                let cron = try CronExpression(parsing: expression)
                return (CronSchedule(cron, zone: zone, around: Date(timeIntervalSince1970: TimeInterval(start))), start)
            } catch let error as CronError {
                throw CLIError(error.description, exitCode: .inputInvalid)
            } catch {
                throw CLIError("\(error)", exitCode: .inputInvalid)
            }
        }
    }

    struct Next: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "next",
            abstract: "Print the next fire times, one per line, as RFC 3339 with the zone's offset.",
            discussion: """
                The form is fixed, for scripts: 2026-03-29T03:00:00+02:00, one fire a line, oldest first.

                  patchbay schedule next '30 2 * * *' --tz Europe/Prague --from 2026-03-28
                  2026-03-28T02:30:00+01:00
                  2026-03-29T03:00:00+02:00
                  2026-03-30T02:30:00+02:00

                \(ScheduleCommand.rules)
                """)
        @OptionGroup var expression: Expression

        func run() async throws {
            try await reportingErrors {
                var (schedule, start) = try expression.schedule()
                var lines = ""
                var at = start
                for _ in 0..<expression.count {
                    guard let fire = schedule.nextFire(after: at) else { break }
                    lines += fire.rfc3339 + "\n"
                    at = fire.instant
                }
                writeStandardOutput(lines)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List the project's schedules with their next fire (in their zone and in UTC), and its triggers' last evaluation.",
            discussion: """
                Schedules live in a flow file (schedules: [{cron, timezone, id, enabled, catchUp, maxCatchUp, overlap, token}]) or in schedules/NAME.yaml|json ({flow, cron, …}, or a Keboola scheduler configuration as exported). Triggers live in the flow file: triggers: [{tables: [in.orders], coolDownMinutes: 5}]. `patchbay serve` acts on them.

                Policies: catchUp none | latest (the default: a missed fire runs once) | all (each missed fire, one run after another, at most maxCatchUp, default 10); overlap queueOne (the default, Keboola's: one run waits, never two in parallel, never a pile) | skip | cancelRunning. The last fire is stored with the run it starts, so a restart never fires twice.
                """)
        @OptionGroup var project: ProjectOptions
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await reportingErrors {
                let engine = try project.engine(global)
                let automation = Automation(engine: engine)
                let now = Date()
                let schedules = automation.schedules(now: now)
                let triggers = automation.triggers(now: now)
                let problems = automation.automatedFlows().problems
                if global.output == .json {
                    printJSON([
                        "schedules": schedules.map(scheduleJSON),
                        "triggers": triggers.map(triggerJSON),
                        "problems": problems.map { ["file": $0.file, "problem": $0.problem] },
                    ])
                    return
                }
                if schedules.isEmpty && triggers.isEmpty && problems.isEmpty {
                    print("no schedules or triggers: add schedules: or triggers: to a flow file (patchbay schedule list --help)")
                }
                if !schedules.isEmpty {
                    print("FLOW             SCHEDULE         CRON               ZONE                 NEXT (LOCAL)               NEXT (UTC)             POLICIES")
                    for status in schedules {
                        let next = status.next.map { ($0.rfc3339, $0.utcText) } ?? ("never", "")
                        let policies = "catch-up \(status.schedule.catchUp.word), overlap \(status.schedule.overlap.rawValue)"
                            + (status.schedule.enabled ? "" : ", DISABLED")
                        print("\(status.flow.padded(16)) \(status.schedule.id.padded(16)) \(status.schedule.cron.padded(18)) \(status.schedule.timezone.padded(20)) "
                              + "\(next.0.padded(26)) \(String(next.1).padded(22)) \(policies)")
                        for warning in status.warnings { print("  ⚠ \(warning)") }
                    }
                }
                if !triggers.isEmpty {
                    if !schedules.isEmpty { print("") }
                    print("FLOW             TRIGGER          TABLES                          AWAITING                        COOL-DOWN ENDS")
                    for evaluation in triggers {
                        print("\(evaluation.flow.padded(16)) \(evaluation.trigger.id.padded(16)) \(evaluation.trigger.tables.joined(separator: ",").padded(31)) "
                              + "\((evaluation.awaiting.isEmpty ? "none: the next update runs it" : evaluation.awaiting.joined(separator: ",")).padded(31)) "
                              + "\(iso(evaluation.coolDownEnds))")
                    }
                }
                for problem in problems { writeStandardError("warning: \(problem.problem)\n") }
            }
        }
    }

    struct Explain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "explain",
            abstract: "Show the next fires in local time and UTC, in words, with transition days marked.",
            discussion: ScheduleCommand.rules)
        @OptionGroup var expression: Expression

        func run() async throws {
            try await reportingErrors {
                var (schedule, start) = try expression.schedule()
                writeStandardOutput(ScheduleWords.explain(&schedule, zoneName: expression.zone, after: start, count: expression.count).joined(separator: "\n") + "\n")
            }
        }
    }
}
