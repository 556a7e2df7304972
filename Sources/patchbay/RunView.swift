import Foundation
import PatchbayCore
import PatchbayEngine
import Synchronization

/// Shows a run as it happens. On a terminal: a board of phases and tasks (status, elapsed time, rows),
/// redrawn in place ten times a second. Elsewhere: one plain line per change, for logs and CI.
final class RunView: Sendable {
    private struct State {
        var run: RunRecord?
        var jobs: [Int64: JobRecord] = [:]
        var progress: [Int64: Double] = [:]
        var drawnLines = 0
    }

    private let state = Mutex(State())
    let live: Bool
    let quiet: Bool

    /// `quiet` prints nothing (JSON output); `live` redraws a board (a terminal).
    init(quiet: Bool, live: Bool = isatty(STDOUT_FILENO) == 1) {
        self.quiet = quiet
        self.live = live && !quiet
    }

    func handle(_ event: RunEvent) {
        guard !quiet else { return }
        switch event {
        case .run(let run):
            state.withLock { $0.run = run }
            if !live { line("run \(run.id!) (\(run.flowName)): \(run.status.rawValue)\(run.message.map { " — \($0)" } ?? "")") }
        case .job(let job):
            let previous = state.withLock { value -> JobStatus? in
                let old = value.jobs[job.id!]?.status
                value.jobs[job.id!] = job
                return old
            }
            if !live, previous != job.status {
                var text = "  \(job.phaseID) / \(job.label): \(job.status.rawValue)"
                if job.status.isFinished, let started = job.startedAt, let finished = job.finishedAt {
                    text += String(format: " in %.2f s", finished.timeIntervalSince(started))
                }
                if job.rowsOut > 0 { text += " · \(job.rowsOut) rows" }
                if let message = job.message, job.status != .success || job.reusedJobID != nil { text += " — \(message)" }
                line(text)
            }
        case .progress(let jobID, let fraction, _):
            state.withLock { $0.progress[jobID] = fraction }
        case .log(let job, let log):
            if !live, log.level >= .warning {
                line("    [\(job.label)] \(log.level.rawValue): \(log.message)")
            }
        }
    }

    private func line(_ text: String) {
        writeStandardOutput("\(Self.clockTime()) \(text)\n")
    }

    /// The local time of day as HH:MM:SS. By hand with localtime_r: a run prints a line per job, and
    /// Foundation's date formatting cost about 1.5% of the host's CPU in a 300-task flow (measured).
    static func clockTime(_ now: time_t = time(nil)) -> String {
        var seconds = now
        var parts = tm()
        localtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return two(parts.tm_hour) + ":" + two(parts.tm_min) + ":" + two(parts.tm_sec)
    }

    /// Seeds the board with the run's jobs, so tasks that have not started yet show too.
    func show(_ run: RunRecord, jobs: [JobRecord]) {
        state.withLock { value in
            value.run = run
            for job in jobs { value.jobs[job.id!] = job }
        }
        if !live && !quiet { line("run \(run.id!) (\(run.flowName)): \(run.status.rawValue), \(jobs.count) tasks") }
    }

    /// Redraws until `done` says so; then draws the final board once more.
    func animate(until done: @escaping @Sendable () -> Bool) async {
        guard live else { return }
        var frame = 0
        while !done() {
            draw(frame: frame)
            frame += 1
            try? await Task.sleep(for: .milliseconds(100))
        }
        draw(frame: frame)
    }

    private func draw(frame: Int) {
        let spinner = Array("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏")
        let text: String = state.withLock { value in
            var lines: [String] = []
            guard let run = value.run else { return "" }
            let elapsed = (run.finishedAt ?? Date()).timeIntervalSince(run.startedAt ?? run.createdAt)
            lines.append("run \(run.id!) · \(run.flowName) · \(Self.mark(run.status, spinner[frame % spinner.count])) \(run.status.rawValue) · \(String(format: "%.1f s", elapsed))")
            let jobs = value.jobs.values.sorted { ($0.phaseIndex, $0.id!) < ($1.phaseIndex, $1.id!) }
            let waits = JobWait.waits(run: run, jobs: jobs)
            var lastPhase: String?
            for job in jobs {
                let phase = job.phaseID == lastPhase ? "" : job.phaseID
                lastPhase = job.phaseID
                var time = ""
                if let started = job.startedAt {
                    time = String(format: "%6.2f s", (job.finishedAt ?? Date()).timeIntervalSince(started))
                }
                var detail = job.rowsOut > 0 ? "\(job.rowsOut) rows" : ""
                if job.status == .processing, let fraction = value.progress[job.id!] { detail = String(format: "%3.0f%%", fraction * 100) }
                if job.status != .success, job.status != .processing, let message = job.message { detail = message }
                if let wait = waits[job.id!] { detail = "\(wait.reason.rawValue): \(wait.detail)" }
                if job.reusedJobID != nil { detail = "reused" }
                let row = "  \(phase.padded(12)) \(Self.mark(job.status, spinner[frame % spinner.count])) "
                    + "\(job.label.padded(20)) \(job.status.rawValue.padded(11)) "
                    + "\(time.padded(9)) \(detail)"
                lines.append(row)
            }
            lines = Self.fit(lines, jobs: jobs, into: Self.terminalSize())
            var output = value.drawnLines > 0 ? "\u{1B}[\(value.drawnLines)F" : ""
            output += lines.map { "\u{1B}[2K" + $0 }.joined(separator: "\n") + "\n"
            value.drawnLines = lines.count
            return output
        }
        writeStandardOutput(text)
    }

    /// The board cut to the terminal, so a redraw never scrolls: each line shorter than the width (a wrapped
    /// line would break the cursor arithmetic), and no more lines than the height. When the jobs do not fit,
    /// the ones that matter now (running, failed) are kept, and a last line counts the rest.
    static func fit(_ lines: [String], jobs: [JobRecord], into size: (columns: Int, rows: Int)) -> [String] {
        let width = max(size.columns - 1, 20)
        func cut(_ line: String) -> String { line.count > width ? String(line.prefix(width - 1)) + "…" : line }
        let room = max(size.rows - 2, 3)
        guard lines.count > room else { return lines.map(cut) }
        let header = lines[0]
        let rows = Array(lines.dropFirst())
        let isUrgent: (Int) -> Bool = { [.processing, .error, .terminating].contains(jobs[$0].status) }
        let urgent = jobs.indices.filter(isUrgent), rest = jobs.indices.filter { !isUrgent($0) }
        let shown = Array((urgent + rest).prefix(room - 2)).sorted()
        var counts: [String: Int] = [:]
        for job in jobs { counts[job.status.rawValue, default: 0] += 1 }
        let summary = "  \(jobs.count - shown.count) more · " + counts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        return ([header] + shown.map { rows[$0] } + [summary]).map(cut)
    }

    /// Columns and rows of the terminal on stdout (80 × 24 when it cannot be asked).
    static func terminalSize() -> (columns: Int, rows: Int) {
        var size = winsize()
        guard ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0, size.ws_row > 0 else { return (80, 24) }
        return (Int(size.ws_col), Int(size.ws_row))
    }

    static func mark(_ status: JobStatus, _ spin: Character) -> String {
        switch status {
        case .success: "✓"
        case .warning: "!"
        case .error: "✗"
        case .terminated, .terminating: "■"
        case .cancelled: "-"
        case .skipped: "○"
        case .processing: String(spin)
        case .waiting: "…"
        case .created: "·"
        }
    }
}

extension JobRecord {
    /// How views name a job's task: its id, and its name beside it when the two differ (a Keboola
    /// orchestration's tasks have numeric ids: "Extract orders (101)").
    var label: String { taskName == taskID || taskName.isEmpty ? taskID : "\(taskName) (\(taskID))" }
}
