// Log lines (appended in batches), run events and task outputs.
import Foundation
import GRDB
import PatchbayCore

extension Store {
    // MARK: logs, events, outputs

    public func append(logs: [LogRecord]) throws {
        guard !logs.isEmpty else { return }
        try write { db in
            let statement = try db.cachedStatement(sql: "INSERT INTO logs (jobID, time, level, source, message) VALUES (?, ?, ?, ?, ?)")
            for log in logs { try statement.execute(arguments: [log.jobID, StoredTime.text(log.time), log.level, log.source, log.message]) }
        }
    }

    public func logs(job id: Int64) throws -> [LogRecord] {
        try pool.read { db in try LogRecord.filter(Column("jobID") == id).order(Column("id")).fetchAll(db) }
    }

    /// A job's lines after the line `after`, at most `limit`.
    public func logs(job id: Int64, after: Int64, limit: Int) throws -> [LogRecord] {
        try pool.read { db in
            try LogRecord.filter(Column("jobID") == id && Column("id") > after).order(Column("id")).limit(limit).fetchAll(db)
        }
    }

    /// Runs and jobs by status, and the runs not started yet (created or waiting).
    public func statusCounts() throws -> (runs: [JobStatus: Int], jobs: [JobStatus: Int], queued: Int) {
        try pool.read { db in
            var runs: [JobStatus: Int] = [:], jobs: [JobStatus: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT status, COUNT(*) AS n FROM runs GROUP BY status") {
                if let status = JobStatus(rawValue: row["status"]) { runs[status] = row["n"] }
            }
            for row in try Row.fetchAll(db, sql: "SELECT status, COUNT(*) AS n FROM jobs GROUP BY status") {
                if let status = JobStatus(rawValue: row["status"]) { jobs[status] = row["n"] }
            }
            return (runs, jobs, (runs[.created] ?? 0) + (runs[.waiting] ?? 0))
        }
    }

    /// The newest progress line of a job (what `jobs show` prints as its last progress).
    public func lastProgress(job id: Int64) throws -> LogRecord? {
        try pool.read { db in
            try LogRecord.fetchOne(db, sql: "SELECT * FROM logs WHERE jobID = ? AND source = 'progress' ORDER BY id DESC LIMIT 1",
                                   arguments: [id])
        }
    }

    public func logs(run id: Int64) throws -> [LogRecord] {
        try pool.read { db in
            try LogRecord.fetchAll(db, sql: "SELECT logs.* FROM logs JOIN jobs ON jobs.id = logs.jobID WHERE jobs.runID = ? ORDER BY logs.id",
                                   arguments: [id])
        }
    }

    public func events(run id: Int64) throws -> [EventRecord] {
        try pool.read { db in try EventRecord.filter(Column("runID") == id).order(Column("id")).fetchAll(db) }
    }

    /// Everything `jobs show` tells of each job of a run beside the job itself, in three queries for the
    /// whole run (a query per job cost ~1% of a 300-task run's CPU): outputs, last progress, lineage.
    public func details(run id: Int64) throws -> (outputs: [Int64: [OutputRecord]], progress: [Int64: String], lineage: [Int64: [LineageRecord]]) {
        try pool.read { db in
            let outputs = try OutputRecord.fetchAll(db, sql: """
                SELECT outputs.* FROM outputs JOIN jobs ON jobs.id = outputs.jobID WHERE jobs.runID = ? ORDER BY outputs.name
                """, arguments: [id])
            let progress = try Row.fetchAll(db, sql: """
                SELECT logs.jobID, logs.message FROM logs WHERE logs.id IN (
                    SELECT MAX(logs.id) FROM logs JOIN jobs ON jobs.id = logs.jobID
                    WHERE jobs.runID = ? AND logs.source = 'progress' GROUP BY logs.jobID)
                """, arguments: [id])
            let lineage = try LineageRecord.fetchAll(db, sql: """
                SELECT lineage.* FROM lineage JOIN jobs ON jobs.id = lineage.jobID WHERE jobs.runID = ?
                ORDER BY lineage.direction, lineage.tableName
                """, arguments: [id])
            return (Dictionary(grouping: outputs, by: \.jobID),
                    Dictionary(uniqueKeysWithValues: progress.map { ($0["jobID"] as Int64, $0["message"] as String) }),
                    Dictionary(grouping: lineage, by: \.jobID))
        }
    }

    public func outputs(job id: Int64) throws -> [OutputRecord] {
        try pool.read { db in try OutputRecord.filter(Column("jobID") == id).order(Column("name")).fetchAll(db) }
    }

    /// The outputs of the newest succeeded job of a task in a flow (for `--only` runs that skip it).
    public func latestOutputs(flow: String, task: String) throws -> (JobRecord, [OutputRecord])? {
        try pool.read { db in
            guard let job = try JobRecord.fetchOne(db, sql: """
                SELECT jobs.* FROM jobs JOIN runs ON runs.id = jobs.runID
                WHERE runs.flowName = ? AND jobs.taskID = ? AND jobs.status = 'success' ORDER BY jobs.id DESC LIMIT 1
                """, arguments: [flow, task]) else { return nil }
            return (job, try OutputRecord.filter(Column("jobID") == (job.reusedJobID ?? job.id)).fetchAll(db))
        }
    }
}
