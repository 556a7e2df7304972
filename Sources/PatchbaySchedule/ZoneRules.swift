// A time zone's offsets from UTC over time, read once from the operating system's tzdata through
// Foundation's TimeZone and kept as a sorted list of transitions: the offset at an instant, and the instant
// of a wall time (with its gap or fold), by binary search. Knows nothing of cron.
public import Foundation

/// One change of a zone's offset.
public struct ZoneTransition: Sendable, Hashable {
    /// Seconds since 1970 (UTC) at which the new offset starts.
    public var instant: Int64
    public var offsetBefore: Int32
    public var offsetAfter: Int32

    /// Clocks jump forward: wall times from `instant + offsetBefore` up to `instant + offsetAfter` never happen.
    public var isGap: Bool { offsetAfter > offsetBefore }
    /// Clocks go back: wall times from `instant + offsetAfter` up to `instant + offsetBefore` happen twice.
    public var isFold: Bool { offsetAfter < offsetBefore }
    /// The first wall time the change touches (the gap's or the fold's start).
    var localStart: Int64 { instant + Int64(min(offsetBefore, offsetAfter)) }
}

/// Where a wall time falls in a zone.
public enum WallTimeResolution: Sendable, Hashable {
    /// It happens once, at this instant.
    case unique(Int64)
    /// It never happens (clocks jumped over it); `gapEnd` is the first instant after the gap.
    case skipped(gapEnd: Int64)
    /// It happens twice; the first time at `first`, the second at `second`.
    case repeated(first: Int64, second: Int64)
}

public struct ZoneRules: Sendable {
    public let zone: TimeZone
    /// Transitions in time order, complete from `coveredFrom` to `coveredUntil`.
    public private(set) var transitions: [ZoneTransition] = []
    private var coveredFrom: Int64
    private var coveredUntil: Int64
    /// The offset before the first transition known.
    private var initialOffset: Int32

    /// Rules for `zone`, read for a year either side of `instant` at first and extended as asked.
    public init(zone: TimeZone, around instant: Int64 = Int64(Date().timeIntervalSince1970)) {
        self.zone = zone
        coveredFrom = instant - 366 * 86_400
        coveredUntil = coveredFrom
        initialOffset = Int32(zone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(coveredFrom))))
        extend(until: instant + 366 * 86_400)
    }

    /// Reads the transitions up to `until` (in 10-year steps), unless known already.
    private mutating func extend(until: Int64) {
        guard until > coveredUntil else { return }
        let target = max(until, coveredUntil + 10 * 366 * 86_400)
        var from = Date(timeIntervalSince1970: TimeInterval(coveredUntil))
        var offset = transitions.last?.offsetAfter ?? initialOffset
        while let next = zone.nextDaylightSavingTimeTransition(after: from), next.timeIntervalSince1970 <= TimeInterval(target) {
            let after = Int32(zone.secondsFromGMT(for: next))
            if after != offset {
                transitions.append(ZoneTransition(instant: Int64(next.timeIntervalSince1970.rounded(.down)), offsetBefore: offset, offsetAfter: after))
                offset = after
            }
            from = next
        }
        coveredUntil = target
    }

    /// Reads the transitions back to `from`, unless known already.
    private mutating func extend(from: Int64) {
        guard from < coveredFrom else { return }
        let older = ZoneRules(zone: zone, range: min(from, coveredFrom - 10 * 366 * 86_400), coveredFrom)
        transitions = older.transitions.filter { $0.instant < coveredFrom } + transitions
        initialOffset = older.initialOffset
        coveredFrom = older.coveredFrom
    }

    private init(zone: TimeZone, range start: Int64, _ end: Int64) {
        self.zone = zone
        coveredFrom = start
        coveredUntil = start
        initialOffset = Int32(zone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(start))))
        extend(until: end)
    }

    /// The offset from UTC (seconds, east positive) in force at `instant`.
    public mutating func offset(at instant: Int64) -> Int32 {
        extend(until: instant + 86_400)
        extend(from: instant - 86_400)
        // The last transition at or before the instant.
        var low = 0, high = transitions.count
        while low < high {
            let middle = (low + high) / 2
            if transitions[middle].instant <= instant { low = middle + 1 } else { high = middle }
        }
        return low == 0 ? initialOffset : transitions[low - 1].offsetAfter
    }

    /// When the wall time `local` (seconds since 1970, as a wall clock reads them) happens.
    public mutating func resolve(local: Int64) -> WallTimeResolution {
        extend(until: local + 2 * 86_400)
        extend(from: local - 2 * 86_400)
        // The last transition whose gap or fold starts at or before the wall time.
        var low = 0, high = transitions.count
        while low < high {
            let middle = (low + high) / 2
            if transitions[middle].localStart <= local { low = middle + 1 } else { high = middle }
        }
        guard low > 0 else { return .unique(local - Int64(initialOffset)) }
        let change = transitions[low - 1]
        if change.isGap, local < change.instant + Int64(change.offsetAfter) { return .skipped(gapEnd: change.instant) }
        if change.isFold, local < change.instant + Int64(change.offsetBefore) {
            return .repeated(first: local - Int64(change.offsetBefore), second: local - Int64(change.offsetAfter))
        }
        return .unique(local - Int64(change.offsetAfter))
    }

    /// The transitions whose instant falls in `range` (seconds since 1970).
    public mutating func transitions(in range: Range<Int64>) -> [ZoneTransition] {
        extend(until: range.upperBound)
        extend(from: range.lowerBound)
        return transitions.filter { range.contains($0.instant) }
    }
}
