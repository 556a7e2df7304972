// What automation must remember across restarts: each schedule's last fire (written with the run it
// started, in one transaction, so that no restart fires twice), each trigger's last run, and the answer
// given to each idempotency key. Knows nothing of cron or of HTTP.
public import Foundation
import GRDB

/// What a run records about the automation that started it, in the transaction that creates it.
public enum AutomationMark: Sendable, Equatable {
    /// A schedule's fire: its `lastFire` becomes `at`.
    case fire(flow: String, schedule: String, at: Date)
    /// A trigger's run: it waits for updates after `at` again.
    case trigger(flow: String, trigger: String, at: Date)
}

/// A stored answer to an idempotent request.
public struct IdempotentAnswer: Sendable, Equatable {
    public var requestHash: String
    /// nil while the first request is in flight.
    public var status: Int?
    public var responseJSON: String?
    public var location: String?
}

extension Store {
    static func apply(_ mark: AutomationMark, runID: Int64, _ db: Database) throws {
        switch mark {
        case .fire(let flow, let schedule, let at):
            try db.execute(sql: """
                INSERT INTO scheduleFires(flowName, scheduleID, lastFire, runID) VALUES (?, ?, ?, ?)
                ON CONFLICT(flowName, scheduleID) DO UPDATE SET lastFire = excluded.lastFire, runID = excluded.runID
                """, arguments: [flow, schedule, at, runID])
        case .trigger(let flow, let trigger, let at):
            try db.execute(sql: """
                INSERT INTO triggerMarks(flowName, triggerID, since, runID) VALUES (?, ?, ?, ?)
                ON CONFLICT(flowName, triggerID) DO UPDATE SET since = excluded.since, runID = excluded.runID
                """, arguments: [flow, trigger, at, runID])
        }
    }

    /// The last fire a schedule handled (ran, or dropped by its policy), and the run it started last.
    public func lastFire(flow: String, schedule: String) throws -> (at: Date, runID: Int64?)? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT lastFire, runID FROM scheduleFires WHERE flowName = ? AND scheduleID = ?", arguments: [flow, schedule])
                .map { ($0["lastFire"], $0["runID"]) }
        }
    }

    /// A fire handled without a run (dropped by a policy), or a schedule's first sight: fires up to `at` are done.
    public func advance(flow: String, schedule: String, to at: Date) throws {
        try write { db in
            try db.execute(sql: """
                INSERT INTO scheduleFires(flowName, scheduleID, lastFire, runID) VALUES (?, ?, ?, NULL)
                ON CONFLICT(flowName, scheduleID) DO UPDATE SET lastFire = MAX(lastFire, excluded.lastFire)
                """, arguments: [flow, schedule, at])
        }
    }

    /// When a trigger last ran (or was first seen), and that run.
    public func triggerMark(flow: String, trigger: String) throws -> (since: Date, runID: Int64?)? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT since, runID FROM triggerMarks WHERE flowName = ? AND triggerID = ?", arguments: [flow, trigger])
                .map { ($0["since"], $0["runID"]) }
        }
    }

    /// A trigger seen for the first time: updates after `since` count.
    public func markTrigger(flow: String, trigger: String, since: Date) throws {
        try write { db in
            try db.execute(sql: "INSERT OR IGNORE INTO triggerMarks(flowName, triggerID, since, runID) VALUES (?, ?, ?, NULL)",
                           arguments: [flow, trigger, since])
        }
    }

    /// Claims `key` for a request: nil when it is new (now in flight), else what was stored for it.
    public func claim(idempotencyKey key: String, scope: String, requestHash: String, at time: Date) throws -> IdempotentAnswer? {
        try write { db in
            if let row = try Row.fetchOne(db, sql: "SELECT requestHash, status, responseJSON, location FROM idempotencyKeys WHERE scope = ? AND key = ?",
                                          arguments: [scope, key]) {
                return IdempotentAnswer(requestHash: row["requestHash"], status: row["status"], responseJSON: row["responseJSON"], location: row["location"])
            }
            try db.execute(sql: "INSERT INTO idempotencyKeys(scope, key, requestHash, createdAt) VALUES (?, ?, ?, ?)",
                           arguments: [scope, key, requestHash, time])
            return nil
        }
    }

    /// The answer to replay for `key`; a nil status releases the claim (the request failed before it did anything).
    public func settle(idempotencyKey key: String, scope: String, status: Int?, responseJSON: String?, location: String?) throws {
        try write { db in
            if let status {
                try db.execute(sql: "UPDATE idempotencyKeys SET status = ?, responseJSON = ?, location = ? WHERE scope = ? AND key = ?",
                               arguments: [status, responseJSON, location, scope, key])
            } else {
                try db.execute(sql: "DELETE FROM idempotencyKeys WHERE scope = ? AND key = ? AND status IS NULL", arguments: [scope, key])
            }
        }
    }
}

extension Store {
    /// Stops (`reason` set) or allows again (nil) a flow's unattended runs: its schedules, triggers and API runs.
    public func setDisabled(flow: String, reason: String?, at time: Date) throws {
        try write { db in
            if let reason {
                try db.execute(sql: "INSERT INTO disabledFlows(flowName, disabledAt, reason) VALUES (?, ?, ?) ON CONFLICT(flowName) DO UPDATE SET disabledAt = excluded.disabledAt, reason = excluded.reason",
                               arguments: [flow, time, reason])
            } else {
                try db.execute(sql: "DELETE FROM disabledFlows WHERE flowName = ?", arguments: [flow])
            }
        }
    }

    /// Why and since when a flow's unattended runs are stopped; nil when they are not.
    public func disabled(flow: String) throws -> (at: Date, reason: String)? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT disabledAt, reason FROM disabledFlows WHERE flowName = ?", arguments: [flow]).map { ($0["disabledAt"], $0["reason"]) }
        }
    }
}
