// Runs: recording, status moves, termination requests, and the queries over them.
public import Foundation
import GRDB
import PatchbayCore

extension Store {
    // MARK: runs

    /// `mark`: the schedule fire or trigger that started the run, recorded with it (so a restart never repeats it).
    public func insert(run: RunRecord, jobs: [JobRecord], mark: AutomationMark? = nil) throws -> (RunRecord, [JobRecord]) {
        try write { db in
            var run = run
            try run.insert(db)
            try EventRecord.note(db, runID: run.id!, time: run.createdAt, status: run.status, detail: "run created")
            if let mark { try Self.apply(mark, runID: run.id!, db) }
            let inserted = try jobs.map { job -> JobRecord in
                var job = job
                job.runID = run.id!
                try job.insert(db)
                return job
            }
            return (run, inserted)
        }
    }

    /// Moves a run to a status, with an event; `finished` also stamps the end time.
    public func update(run id: Int64, to status: JobStatus, message: String? = nil, at time: Date = Date()) throws {
        try write { db in
            var assignments = ["status = ?"]
            var arguments: [any DatabaseValueConvertible] = [status]
            if status == .processing { assignments.append("startedAt = COALESCE(startedAt, ?)"); arguments.append(time) }
            if status.isFinished { assignments.append("finishedAt = ?"); arguments.append(time) }
            if let message { assignments.append("message = ?"); arguments.append(message) }
            arguments.append(id)
            try db.execute(sql: "UPDATE runs SET \(assignments.joined(separator: ", ")) WHERE id = ? AND status IN (\(Self.sourceList(of: status)))",
                           arguments: StatementArguments(arguments))
            guard db.changesCount > 0 else { throw try refusal(db, table: "runs", id: id, to: status) }
            try EventRecord.note(db, runID: id, time: time, status: status, detail: message)
        }
    }

    /// Asks the host running this run to stop it. Returns the run's status before the request.
    /// Marks an unfinished run `terminating`, with why (the run's message until it ends). Returns the
    /// status it had, nil if there is no such run.
    public func requestTermination(run id: Int64, reason: String = "terminated on request") throws -> JobStatus? {
        try write { db in
            guard let run = try RunRecord.fetchOne(db, key: id) else { return nil }
            if run.status != .terminating, run.status.canMove(to: .terminating) {
                try db.execute(sql: "UPDATE runs SET status = ?, message = ? WHERE id = ?", arguments: [JobStatus.terminating, reason, id])
                try EventRecord.note(db, runID: id, time: Date(), status: .terminating, detail: reason)
            }
            return run.status
        }
    }

    /// Asks whoever runs job `id` to stop it alone: a running job becomes `terminating`, a job not started
    /// will not start. The first request's reason is kept. Returns the status the job had (nil: no such job).
    public func requestTermination(job id: Int64, reason: String) throws -> JobStatus? {
        try write { db in
            guard let job = try JobRecord.fetchOne(db, key: id) else { return nil }
            guard !job.status.isFinished else { return job.status }
            try db.execute(sql: "INSERT OR IGNORE INTO jobStopRequests (jobID, runID, reason, requestedAt) VALUES (?, ?, ?, ?)",
                           arguments: [id, job.runID, reason, StoredTime.text(Date())])
            if job.status == .processing {
                try db.execute(sql: "UPDATE jobs SET status = ?, message = ? WHERE id = ? AND status = ?",
                               arguments: [JobStatus.terminating, reason, id, JobStatus.processing])
            }
            try EventRecord.note(db, runID: job.runID, jobID: id, time: Date(), status: .terminating, detail: reason)
            return job.status
        }
    }

    /// The stop requests for the unfinished jobs of a run: job id → reason.
    public func stopRequests(run id: Int64) throws -> [Int64: String] {
        try pool.read { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT r.jobID, r.reason FROM jobStopRequests r JOIN jobs j ON j.id = r.jobID
                WHERE r.runID = ? AND j.status IN (\(Self.unfinishedList))
                """, arguments: [id])
            return Dictionary(rows.map { ($0["jobID"] as Int64, $0["reason"] as String) }, uniquingKeysWith: { first, _ in first })
        }
    }

    public func run(_ id: Int64) throws -> RunRecord? {
        try pool.read { db in try RunRecord.fetchOne(db, key: id) }
    }

    public func runStatus(_ id: Int64) throws -> JobStatus? {
        try pool.read { db in try JobStatus.fetchOne(db, sql: "SELECT status FROM runs WHERE id = ?", arguments: [id]) }
    }

    public func runs(flow: String? = nil, limit: Int = 50) throws -> [RunRecord] {
        try pool.read { db in
            var request = RunRecord.order(Column("id").desc).limit(limit)
            if let flow { request = request.filter(Column("flowName") == flow) }
            return try request.fetchAll(db)
        }
    }

    /// Runs that have not finished: the recovery pass checks whether their hosts still live.
    public func unfinishedRuns() throws -> [RunRecord] {
        try pool.read { db in
            try RunRecord.filter(JobStatus.unfinished.contains(Column("status")))
                .order(Column("id")).fetchAll(db)
        }
    }

    /// Is another run of this flow ahead of `id` (older, not finished)? Used for the one-at-a-time rule.
    public func olderUnfinishedRun(flow: String, before id: Int64) throws -> RunRecord? {
        try pool.read { db in
            try RunRecord.filter(Column("flowName") == flow && Column("id") < id
                                 && JobStatus.unfinished.contains(Column("status")))
                .order(Column("id")).fetchOne(db)
        }
    }
}

extension Store {
    /// Makes `host` the process that executes a run not started yet (a run resumed in the background), so that
    /// recovery judges the run by that process's life. Nil when the run has started, ended, or does not exist.
    public func adopt(run id: Int64, host pid: Int32, start: Int64) throws -> RunRecord? {
        try write { db in
            try db.execute(sql: "UPDATE runs SET hostPID = ?, hostStart = ? WHERE id = ? AND status = 'created'", arguments: [pid, start, id])
            return db.changesCount > 0 ? try RunRecord.fetchOne(db, key: id) : nil
        }
    }
}
