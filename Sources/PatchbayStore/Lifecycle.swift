// The life of a run or a job: its statuses and the one table of moves between them. The Store refuses
// any other move, and recovery asks the same table, so a finished job or run is never reopened by a late
// writer (a host that was presumed dead, a second `jobs terminate`).
public import GRDB

/// Status of a run or a job. `cancelled` never started; `terminated` was stopped while it ran;
/// `skipped` (jobs only) was disabled in the flow or not selected.
public enum JobStatus: String, Sendable, Codable, CaseIterable, DatabaseValueConvertible {
    case created, waiting, processing, success, warning, error, terminating, terminated, cancelled, skipped

    /// A finished status is final: no move leaves it.
    public var isFinished: Bool { Self.moves[self, default: []].isEmpty }

    /// Has it started work (so stopping it is `terminated`, not `cancelled`)?
    public var hasStarted: Bool { self == .processing || self == .terminating }

    /// The one transition table. `created` and `waiting` have not started: they may still be cancelled or
    /// skipped. A started one can only end, or be asked to stop. `terminating` ends as whatever its work
    /// became when the stop arrived (it may have just succeeded), or `terminated`.
    static let moves: [JobStatus: Set<JobStatus>] = [
        .created: [.waiting, .processing, .success, .warning, .error, .terminating, .terminated, .cancelled, .skipped],
        .waiting: [.processing, .success, .warning, .error, .terminating, .terminated, .cancelled],
        .processing: [.success, .warning, .error, .terminating, .terminated],
        .terminating: [.success, .warning, .error, .terminated, .cancelled],
        .success: [], .warning: [], .error: [], .terminated: [], .cancelled: [], .skipped: [],
    ]

    /// May a run or a job in this status move to `next`? Staying put (a new message) is allowed while unfinished.
    public func canMove(to next: JobStatus) -> Bool {
        next == self ? !isFinished : Self.moves[self, default: []].contains(next)
    }

    /// The statuses from which `next` may be reached: what a guarded UPDATE accepts.
    public static func sources(of next: JobStatus) -> [JobStatus] {
        allCases.filter { $0.canMove(to: next) }
    }
}

/// A write that the transition table refuses.
public struct TransitionError: Error, CustomStringConvertible, Sendable {
    public let subject: String
    public let from: JobStatus
    public let to: JobStatus
    /// There is no such row at all.
    public let missing: Bool

    public init(subject: String, from: JobStatus, to: JobStatus, missing: Bool = false) {
        self.subject = subject
        self.from = from
        self.to = to
        self.missing = missing
    }

    public var description: String {
        missing ? "\(subject) does not exist" : "\(subject) is \(from.rawValue) and cannot become \(to.rawValue)"
    }
}

extension JobStatus {
    /// Every status that may still move.
    public static let unfinished = allCases.filter { !$0.isFinished }
}

extension Store {
    /// The SQL list of statuses from which `next` may be reached (raw values are plain identifiers).
    static func sourceList(of next: JobStatus) -> String {
        JobStatus.sources(of: next).map { "'\($0.rawValue)'" }.joined(separator: ", ")
    }

    /// The SQL list of unfinished statuses.
    static let unfinishedList = JobStatus.unfinished.map { "'\($0.rawValue)'" }.joined(separator: ", ")

    /// Why a guarded UPDATE changed nothing: the row is missing, or its status may not make the move.
    func refusal(_ db: Database, table: String, id: Int64, to next: JobStatus) throws -> any Error {
        let subject = "\(table == "runs" ? "run" : "job") \(id)"
        guard let current = try JobStatus.fetchOne(db, sql: "SELECT status FROM \(table) WHERE id = ?", arguments: [id]) else {
            return TransitionError(subject: subject, from: .created, to: next, missing: true)
        }
        return TransitionError(subject: subject, from: current, to: next)
    }
}
