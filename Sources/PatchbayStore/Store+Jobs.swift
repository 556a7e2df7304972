// Jobs: status moves, the runner that serves each, completion in one transaction, reuse by retries.
public import Foundation
import GRDB
import PatchbayCore

extension Store {
    // MARK: jobs

    public func jobs(run id: Int64) throws -> [JobRecord] {
        try pool.read { db in try JobRecord.filter(Column("runID") == id).order(Column("phaseIndex"), Column("id")).fetchAll(db) }
    }

    /// The jobs of one phase of a run (its index in the flow), in their order.
    public func jobs(run id: Int64, phase index: Int) throws -> [JobRecord] {
        try pool.read { db in
            try JobRecord.filter(Column("runID") == id && Column("phaseIndex") == index).order(Column("id")).fetchAll(db)
        }
    }

    public func job(_ id: Int64) throws -> JobRecord? {
        try pool.read { db in try JobRecord.fetchOne(db, key: id) }
    }

    /// The job of a configuration that is running now, if any (what a waiting job waits for).
    public func runningJob(configurationKey: String) throws -> JobRecord? {
        try pool.read { db in
            try JobRecord.filter(Column("configurationKey") == configurationKey && Column("status") == JobStatus.processing.rawValue)
                .order(Column("id").desc).fetchOne(db)
        }
    }

    public func jobs(configurationKey: String) throws -> [JobRecord] {
        try pool.read { db in
            try JobRecord.filter(Column("configurationKey") == configurationKey).order(Column("startedAt")).fetchAll(db)
        }
    }

    /// Moves a job to a status with an event. `processing` stamps the start; finished statuses the end.
    /// Only status, times and message are written; the record returned is the stored row, so fields
    /// recorded meanwhile (the runner pid, the connector version) are never overwritten with stale ones.
    public func update(job: JobRecord, to status: JobStatus, message: String? = nil, at time: Date = Date()) throws -> JobRecord {
        try write { db in
            let statement = try db.cachedStatement(sql: """
                UPDATE jobs SET status = ?, message = ?,
                    startedAt = CASE WHEN ? AND startedAt IS NULL THEN ? ELSE startedAt END,
                    finishedAt = CASE WHEN ? THEN ? ELSE finishedAt END
                WHERE id = ? AND status IN (\(Self.sourceList(of: status))) RETURNING *
                """)
            guard let updated = try JobRecord.fetchOne(statement, arguments: [
                status, message, status == .processing, StoredTime.text(time), status.isFinished, StoredTime.text(time), job.id])
            else { throw try refusal(db, table: "jobs", id: job.id!, to: status) }
            try EventRecord.note(db, runID: job.runID, jobID: job.id, time: time, status: status, detail: message)
            return updated
        }
    }

    /// Says why a started job waits (a reason word and a message for people) and until when, or, with nil, that
    /// it works again. The status stays; the message is the job's message while it waits.
    /// The wait is kept in the job's history of waits (the run timeline's segments) too.
    public func wait(job: JobRecord, reason: String?, message: String?, until: Date?, at time: Date = Date()) throws -> JobRecord? {
        try write { db in
            let statement = try db.cachedStatement(sql: """
                UPDATE jobs SET waitReason = ?, waitUntil = ?, message = COALESCE(?, message)
                WHERE id = ? AND status IN ('processing', 'terminating') RETURNING *
                """)
            let updated = try JobRecord.fetchOne(statement, arguments: [reason, until.map(StoredTime.text), message, job.id])
            try Self.endWaits(db, job: job.id!, at: time)
            if let reason, updated != nil {
                var span = WaitSpanRecord(jobID: job.id!, runID: job.runID, reason: reason, detail: message ?? reason, startedAt: time, until: until)
                try span.insert(db)
            }
            return updated
        }
    }

    /// Moves a job not started yet to `waiting` for a configuration lock held by a job of `blockingRun`, and opens
    /// that wait in its history; `endWaits` closes it once the lock is taken.
    public func waitForLock(job: JobRecord, message: String, blockingRun: Int64?, at time: Date = Date()) throws -> JobRecord {
        let waiting = try update(job: job, to: .waiting, message: message, at: time)
        try write { db in
            var span = WaitSpanRecord(jobID: job.id!, runID: job.runID, reason: "configuration_lock", detail: message, startedAt: time,
                                      blockingRunID: blockingRun)
            try span.insert(db)
        }
        return waiting
    }

    /// Ends every wait of a job that is still open.
    public func endWaits(job: JobRecord, at time: Date = Date()) throws {
        try write { db in try Self.endWaits(db, job: job.id!, at: time) }
    }

    private static func endWaits(_ db: Database, job: Int64, at time: Date) throws {
        try db.cachedStatement(sql: "UPDATE waitSpans SET endedAt = ? WHERE jobID = ? AND endedAt IS NULL")
            .execute(arguments: [StoredTime.text(time), job])
    }

    /// The waits of a run's jobs, in the order they began.
    public func waitSpans(run id: Int64) throws -> [WaitSpanRecord] {
        try pool.read { db in try WaitSpanRecord.filter(Column("runID") == id).order(Column("id")).fetchAll(db) }
    }

    /// Records the runner process that serves the job (recovery kills it if the host died) and, the first
    /// time, moves the job from `created`/`waiting` to `processing` with its start time and an event: one
    /// transaction per spawn. Returns the job as it became `processing`, or nil for a status check's
    /// later spawns, which only update the runner.
    /// `dispatchedAt` is when the job got its slot in its phase (the timeline's end of its parallelism wait).
    public func start(job: JobRecord, runnerPID: Int32, runnerStart: Int64?, connectorVersion: String?, sha256: String?,
                      parametersJSON: String?, dispatchedAt: Date? = nil, at time: Date = Date()) throws -> JobRecord? {
        let stamp = StoredTime.text(time)
        return try write { db in
            try db.cachedStatement(sql: """
                UPDATE jobs SET status = 'processing', message = NULL, startedAt = COALESCE(startedAt, ?), dispatchedAt = COALESCE(dispatchedAt, ?)
                WHERE id = ? AND status IN ('created', 'waiting')
                """).execute(arguments: [stamp, dispatchedAt.map(StoredTime.text) ?? stamp, job.id])
            let becameProcessing = db.changesCount > 0
            try db.cachedStatement(sql: """
                UPDATE jobs SET runnerPID = ?, runnerStart = ?, connectorVersion = COALESCE(?, connectorVersion),
                connectorSHA256 = COALESCE(?, connectorSHA256), parametersJSON = COALESCE(?, parametersJSON) WHERE id = ?
                """).execute(arguments: [runnerPID, runnerStart, connectorVersion, sha256, parametersJSON, job.id])
            guard becameProcessing else { return nil }
            try EventRecord.note(db, runID: job.runID, jobID: job.id, time: time, status: .processing, detail: nil)
            var started = job
            started.status = .processing
            started.message = nil
            started.startedAt = started.startedAt ?? time
            started.dispatchedAt = started.dispatchedAt ?? dispatchedAt ?? time
            started.runnerPID = runnerPID
            started.runnerStart = runnerStart
            started.connectorVersion = connectorVersion ?? job.connectorVersion
            started.connectorSHA256 = sha256 ?? job.connectorSHA256
            started.parametersJSON = parametersJSON ?? job.parametersJSON
            return started
        }
    }

    /// The final status, outputs, state and catalog rows of a job, all or nothing.
    public func complete(job: JobRecord, with completion: JobCompletion, at time: Date = Date()) throws -> JobRecord {
        try write { db in
            let statement = try db.cachedStatement(sql: """
                UPDATE jobs SET status = ?, finishedAt = ?, failureClass = ?, message = ?, exitKind = ?,
                    exitSummary = ?, rowsOut = ?, sandbox = COALESCE(?, sandbox), waitReason = NULL, waitUntil = NULL
                WHERE id = ? AND status IN (\(Self.sourceList(of: completion.status))) RETURNING *
                """)
            guard let finished = try JobRecord.fetchOne(statement, arguments: [
                completion.status, StoredTime.text(time), completion.failureClass, completion.message, completion.exitKind,
                completion.exitSummary, completion.rowsOut, completion.sandbox, job.id])
            else { throw try refusal(db, table: "jobs", id: job.id!, to: completion.status) }
            for output in completion.outputs { try output.upsert(db) }
            if let state = completion.state {
                try StateRecord(configurationKey: finished.configurationKey, stateJSON: state, jobID: job.id!, updatedAt: time).upsert(db)
            }
            for table in completion.tables {
                try table.upsert(db)
                try LineageRecord(jobID: job.id!, tableName: table.name, direction: .write, rowCount: table.rowCount).upsert(db)
            }
            try EventRecord.note(db, runID: job.runID, jobID: job.id, time: time, status: completion.status, detail: completion.message)
            return finished
        }
    }

    /// A retry's reused job: success, pointing at the original, with the original's outputs copied.
    public func reuse(job: JobRecord, from original: JobRecord) throws -> JobRecord {
        try write { db in
            var job = job
            let current = try JobStatus.fetchOne(db, sql: "SELECT status FROM jobs WHERE id = ?", arguments: [job.id])
            if let current, !current.canMove(to: .success) {
                throw TransitionError(subject: "job \(job.id!)", from: current, to: .success)
            }
            job.status = .success
            job.reusedJobID = original.reusedJobID ?? original.id
            job.startedAt = original.startedAt
            job.finishedAt = original.finishedAt
            job.connectorVersion = original.connectorVersion
            job.connectorSHA256 = original.connectorSHA256
            job.parametersJSON = original.parametersJSON
            job.rowsOut = original.rowsOut
            job.attempt = original.attempt
            job.message = "reused from job \(job.reusedJobID!) (run \(original.runID))"
            try job.update(db)
            try db.execute(sql: "INSERT INTO outputs (jobID, name, value, isSecret) SELECT ?, name, value, isSecret FROM outputs WHERE jobID = ?",
                           arguments: [job.id, original.id])
            try EventRecord.note(db, runID: job.runID, jobID: job.id, time: Date(), status: .success, detail: job.message)
            return job
        }
    }
}
