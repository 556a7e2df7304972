// The Engine's read side: what the CLI, the HTTP server and the web view may ask about runs, jobs,
// logs, tables, tokens and credentials. They go through here and never reach the Store; the answers
// are the stored records, re-exported below so that a client imports the Engine alone.
import Foundation
import PatchbaySecurity
public import PatchbayCore

@_exported public import enum PatchbayStore.JobStatus
@_exported public import struct PatchbayStore.RunRecord
@_exported public import struct PatchbayStore.JobRecord
@_exported public import struct PatchbayStore.LogRecord
@_exported public import struct PatchbayStore.WaitSpanRecord
@_exported public import struct PatchbayStore.OutputRecord
@_exported public import struct PatchbayStore.TableRecord
@_exported public import struct PatchbayStore.LineageRecord
@_exported public import struct PatchbayStore.TokenRecord
@_exported public import struct PatchbayStore.CredentialRecord
@_exported public import struct PatchbayStore.TransitionError
@_exported public import enum PatchbayStore.StoreError

/// A job and the outputs it left.
public struct JobDetail: Sendable {
    public let job: JobRecord
    public let outputs: [OutputRecord]
    /// The job's last progress report as a line ("42% copying rows"), if its connector made any.
    public let progress: String?
    /// The tables it read (with the job that made each) and wrote.
    public var lineage: [LineageRecord] = []
    /// Why it waits now, if it does.
    public var wait: JobWait?
}

/// A run with each of its jobs, in phase order.
public struct RunDetail: Sendable {
    public let run: RunRecord
    public let jobs: [JobDetail]

    public init(run: RunRecord, jobs: [JobDetail]) {
        self.run = run
        self.jobs = jobs
    }
}

extension Engine {
    // MARK: runs and jobs

    /// Recent runs, newest first.
    public func runs(flow: String? = nil, limit: Int = 50) throws -> [RunRecord] {
        try reading { try store.runs(flow: flow, limit: limit) }
    }

    /// A run, or the newest one when `id` is nil.
    public func run(_ id: Int64? = nil) throws -> RunRecord {
        try reading {
            if let id {
                guard let run = try store.run(id) else { throw EngineError.noSuchRun(id) }
                return run
            }
            guard let newest = try store.runs(limit: 1).first else { throw EngineError.noRuns }
            return newest
        }
    }

    /// A run's jobs in phase order.
    public func jobs(run id: Int64) throws -> [JobRecord] {
        try reading { try store.jobs(run: id) }
    }

    /// A run, its jobs and their outputs.
    public func detail(of run: RunRecord) throws -> RunDetail {
        try reading {
            let details = try store.details(run: run.id!)
            let jobs = try store.jobs(run: run.id!)
            let waits = JobWait.waits(run: run, jobs: jobs)
            return RunDetail(run: run, jobs: jobs.map {
                JobDetail(job: $0, outputs: details.outputs[$0.id!] ?? [], progress: details.progress[$0.id!],
                          lineage: details.lineage[$0.id!] ?? [], wait: waits[$0.id!])
            })
        }
    }

    /// The log lines of a run at `minimum` level or above, optionally of one task's job, in the order written.
    public func logs(run id: Int64, task: String? = nil, minimum: LogLevel = .debug) throws -> [(job: JobRecord, line: LogRecord)] {
        try reading {
            let all = try store.jobs(run: id)
            if let task, !all.contains(where: { $0.taskID == task }) {
                var seen = Set<String>()
                throw EngineError.noSuchTask(task, run: id, tasks: all.map(\.taskID).filter { seen.insert($0).inserted })
            }
            let jobs = Dictionary(uniqueKeysWithValues: all.map { ($0.id!, $0) })
            return try store.logs(run: id).compactMap { line in
                guard let job = jobs[line.jobID], line.level >= minimum, task == nil || job.taskID == task else { return nil }
                return (job, line)
            }
        }
    }

    /// Waits until a run has finished or `limit` has passed, and returns it as it then is.
    public func waitForEnd(of id: Int64, within limit: Duration) async throws -> RunRecord {
        let deadline = time.deadline(after: limit)
        var current = try run(id)
        while !current.status.isFinished, deadline.remaining > .zero {
            try Task.checkCancellation()
            await time.sleep(for: terminationPollInterval / 2)
            current = try run(id)
        }
        return current
    }

    /// Waits until job `id` has ended, or `limit` passes; returns its record as it is then.
    public func waitForEnd(ofJob id: Int64, within limit: Duration) async throws -> JobRecord {
        let deadline = time.deadline(after: limit)
        func read() throws -> JobRecord {
            guard let job = try reading({ try store.job(id) }) else { throw EngineError.store("job \(id) is gone from the store") }
            return job
        }
        var current = try read()
        while !current.status.isFinished, deadline.remaining > .zero {
            try Task.checkCancellation()
            await time.sleep(for: terminationPollInterval / 2)
            current = try read()
        }
        return current
    }

    // MARK: tables

    /// The table catalog, by name.
    public func tables() throws -> [TableRecord] {
        try reading { try store.tables() }
    }

    /// One table of the catalog.
    /// The job that produced a table's current version, and the jobs that read it (newest first).
    public func lineage(of table: TableRecord) throws -> (producer: JobRecord?, readers: [JobRecord]) {
        try reading { (try store.job(table.jobID), try store.readers(table: table.name)) }
    }

    public func table(_ name: String) throws -> TableRecord {
        try reading {
            guard let table = try store.table(name) else { throw EngineError.noSuchTable(name, known: try store.tables().map(\.name)) }
            return table
        }
    }

    /// Where a catalog table's file is.
    public func path(of table: TableRecord) -> String { project.tablesDirectory + "/" + table.file }

    /// The manifest beside the table's file, nil when it has none (then no value is NULL).
    public func manifestPath(of table: TableRecord) -> String? {
        let manifest = TableFile.manifestPath(besides: path(of: table))
        return FileManager.default.fileExists(atPath: manifest) ? manifest : nil
    }

    // MARK: tokens and credentials

    /// Every token, oldest first (hashes only; never a secret).
    public func tokens() throws -> [TokenRecord] {
        try reading { try store.tokens() }
    }

    /// Stores a credential of a connector, encrypted for that connector alone.
    public func setCredential(name: String, connector: String, value: String) throws {
        let ciphertext = try secretBox().seal(value, connector: connector)
        try reading { try store.setCredential(CredentialRecord(name: name, connectorID: connector, ciphertext: ciphertext)) }
    }

    /// The credentials' names per connector (ciphertexts stay inside).
    public func credentials() throws -> [CredentialRecord] {
        try reading { try store.credentials() }
    }

    /// A store call whose failure is the store's, as a typed engine error.
    func reading<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as EngineError {
            throw error
        } catch let error as AccessError {
            throw error
        } catch {
            throw EngineError.store("the store \(store.path) could not be read or written: \(error)")
        }
    }
}

extension Engine {
    // MARK: logs by page, a task's job, counts (for the HTTP API and metrics)

    /// A page of a job's log after the line `after` (an id from the page before), oldest first, and the id to
    /// ask after for the next page (nil when this page is the end so far).
    public func logPage(job id: Int64, after: Int64?, limit: Int) throws -> (lines: [LogRecord], next: Int64?) {
        let lines = try store.logs(job: id, after: after ?? 0, limit: limit + 1)
        let page = Array(lines.prefix(limit))
        return (page, lines.count > limit ? page.last?.id : nil)
    }

    /// The job of `task` in run `runID`.
    public func job(run runID: Int64, task: String) throws -> JobRecord {
        let jobs = try store.jobs(run: runID)
        guard let job = jobs.last(where: { $0.taskID == task }) else {
            if try store.run(runID) == nil { throw EngineError.noSuchRun(runID) }
            throw EngineError.noSuchTask(task, run: runID, tasks: jobs.map(\.taskID))
        }
        return job
    }

    /// Counts for metrics: runs and jobs by status, and the runs waiting to start.
    public func statusCounts() throws -> (runs: [JobStatus: Int], jobs: [JobStatus: Int], queued: Int) {
        try store.statusCounts()
    }
}
