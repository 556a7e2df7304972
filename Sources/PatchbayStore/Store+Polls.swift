// A status check's progress while it waits between checks: how many it made, when it gives up, when it
// checks next and the state it carries. Written at every wait, so that a host killed meanwhile loses
// nothing: the check resumes (in a retry of its run) where it was.
public import Foundation
import GRDB

public struct PollProgress: Sendable, Equatable {
    /// Checks made so far, all not ready.
    public var checks: Int
    /// When the poll gives up (its first check plus the poll timeout).
    public var deadline: Date
    /// When the next check is due.
    public var nextCheck: Date
    /// The state the last check set, which the next one reads (nil: none set).
    public var stateJSON: String?

    public init(checks: Int, deadline: Date, nextCheck: Date, stateJSON: String?) {
        self.checks = checks
        self.deadline = deadline
        self.nextCheck = nextCheck
        self.stateJSON = stateJSON
    }
}

extension Store {
    public func record(poll progress: PollProgress, job: Int64) throws {
        try write { db in
            try db.execute(sql: """
                INSERT INTO pollProgress(jobID, checks, deadline, nextCheck, stateJSON) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT(jobID) DO UPDATE SET checks = excluded.checks, deadline = excluded.deadline,
                    nextCheck = excluded.nextCheck, stateJSON = excluded.stateJSON
                """, arguments: [job, progress.checks, StoredTime.text(progress.deadline), StoredTime.text(progress.nextCheck), progress.stateJSON])
        }
    }

    public func pollProgress(job: Int64) throws -> PollProgress? {
        try pool.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM pollProgress WHERE jobID = ?", arguments: [job]) else { return nil }
            return PollProgress(checks: row["checks"], deadline: row["deadline"], nextCheck: row["nextCheck"], stateJSON: row["stateJSON"])
        }
    }

    /// Gives a job of a new run the poll progress of the job it continues.
    public func carryPoll(from old: Int64, to new: Int64) throws {
        try write { db in
            try db.execute(sql: """
                INSERT OR REPLACE INTO pollProgress(jobID, checks, deadline, nextCheck, stateJSON)
                SELECT ?, checks, deadline, nextCheck, stateJSON FROM pollProgress WHERE jobID = ?
                """, arguments: [new, old])
        }
    }

    /// The poll is over (ready, failed, out of time, or carried into a retry): nothing is left to resume.
    public func clearPoll(job: Int64) throws {
        try write { db in try db.execute(sql: "DELETE FROM pollProgress WHERE jobID = ?", arguments: [job]) }
    }
}
