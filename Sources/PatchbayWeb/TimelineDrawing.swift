// The geometry of a run's timeline as the page draws it (SVG): lanes, bars, segments and the time axis in
// local time and UTC, with the words that name each bar and segment for people and screen readers.
// Owns: positions and labels. Must never know: where the times came from (the Engine's RunTimeline).
import Foundation
import PatchbayEngine

struct TimelineDrawing {
    static let labelWidth = 190.0
    static let width = 1000.0
    static let rowHeight = 20.0
    static let laneHeader = 22.0
    static let axisHeight = 34.0

    let timeline: RunTimeline
    let zone: TimeZone

    /// What the template draws: `height`, `ticks`, `lanes` (each with `bars`, each with `segments`).
    var context: [String: Any] {
        let chart = Self.width - Self.labelWidth
        let span = max(timeline.duration, 0.001)
        func x(_ date: Date) -> Double { Self.labelWidth + max(0, min(1, date.timeIntervalSince(timeline.start) / span)) * chart }
        var y = Self.axisHeight
        var lanes: [[String: Any]] = []
        for lane in timeline.lanes {
            let top = y
            y += Self.laneHeader
            var bars: [[String: Any]] = []
            for bar in lane.bars {
                let job = bar.job
                let rowY = y
                y += Self.rowHeight
                var segments: [[String: Any]] = []
                var links: [[String: Any]] = []
                for segment in bar.segments {
                    let left = x(segment.start)
                    let text = "\(Self.name(of: segment.kind)) \(Self.seconds(segment.duration)): \(segment.detail)"
                    let shape: [String: Any] = ["x": Self.f(left), "y": Self.f(rowY + 3), "w": Self.f(max(x(segment.end) - left, 1)),
                                                "h": Self.f(Self.rowHeight - 6), "kind": segment.kind.word, "text": text]
                    segments.append(shape)
                    if let blocking = segment.blockingRun {
                        var link = shape
                        link["run"] = blocking
                        link["label"] = "\(job.taskID): \(text); open run \(blocking), which holds the lock"
                        links.append(link)
                    }
                }
                bars.append([
                    "job": job.id!, "task": job.taskID, "status": job.status.rawValue, "y": Self.f(rowY + Self.rowHeight - 6),
                    "rowY": Self.f(rowY), "rowH": Self.f(Self.rowHeight), "labelX": Self.f(Self.labelWidth - 6),
                    "segments": segments, "links": links, "label": Self.label(of: bar),
                ])
            }
            lanes.append(["phase": lane.phase, "y": Self.f(top + 15), "lineY": Self.f(top + 2), "bars": bars])
        }
        let ticks = (0...4).map { step -> [String: Any] in
            let date = timeline.start.addingTimeInterval(span * Double(step) / 4)
            return ["x": Self.f(x(date)), "anchor": step == 0 ? "start" : step == 4 ? "end" : "middle",
                    "local": Self.clock(date, zone), "utc": Self.clock(date, TimeZone(identifier: "UTC")!) + " UTC"]
        }
        return ["height": Self.f(y + 6), "width": Self.f(Self.width), "ticks": ticks, "lanes": lanes,
                "axisBottom": Self.f(Self.axisHeight - 4), "chartLeft": Self.f(Self.labelWidth), "chartRight": Self.f(Self.width)]
    }

    /// A bar's name: the task, its status and time, and every segment in words.
    static func label(of bar: TimelineBar) -> String {
        let job = bar.job
        var words = "task \(job.taskID) (phase \(job.phaseID)): \(job.status.rawValue)"
        if let reused = job.reusedJobID { words += ", reused from job \(reused)" }
        if let start = job.startedAt, job.reusedJobID == nil { words += ", \(seconds((job.finishedAt ?? Date()).timeIntervalSince(start))) running" }
        let parts = bar.segments.map { "\(name(of: $0.kind)) \(seconds($0.duration))" }
        return parts.isEmpty ? words : words + "; " + parts.joined(separator: ", ")
    }

    /// A segment's kind as the legend and labels say it.
    static func name(of kind: SegmentKind) -> String {
        switch kind {
        case .wait(.phase): "waiting for the phase"
        case .wait(.run): "waiting for the run's turn"
        case .wait(.parallelism): "waiting for the parallelism limit"
        case .wait(.configurationLock): "waiting on a configuration lock"
        case .wait(.poll): "polling"
        case .wait(.retry): "retry back-off"
        case .wait(.rateLimit): "rate-limited"
        case .runnerStart: "runner start"
        case .running: "running"
        }
    }

    /// The legend: every kind, in the order a bar shows them.
    static let legend: [[String: String]] = ([.wait(.run), .wait(.phase), .wait(.parallelism), .wait(.configurationLock), .runnerStart, .running,
                                              .wait(.rateLimit), .wait(.poll), .wait(.retry)] as [SegmentKind]).map { ["kind": $0.word, "name": name(of: $0)] }

    static func f(_ value: Double) -> String { String(format: "%.1f", value) }

    static func seconds(_ value: TimeInterval) -> String {
        value < 1 ? String(format: "%.0f ms", value * 1000) : value < 120 ? String(format: "%.2f s", value) : String(format: "%.1f min", value / 60)
    }

    static func clock(_ date: Date, _ zone: TimeZone) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let c = calendar.dateComponents([.hour, .minute, .second, .nanosecond], from: date)
        return String(format: "%02d:%02d:%02d.%03d", c.hour ?? 0, c.minute ?? 0, c.second ?? 0, (c.nanosecond ?? 0) / 1_000_000)
    }
}
