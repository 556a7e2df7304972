// PatchbayStore — the embedded SQLite store (GRDB, WAL): runs, jobs, job events, log lines, component
// state, task outputs and the table catalog. It owns the schema, its migrations and every query.
// It must never know connectors, processes, the CLI or HTTP: it stores what the engine tells it.
//
// Durability: WAL with synchronous=NORMAL. A committed transaction survives a crash or kill -9 of any
// process (it is in the WAL); only a power loss may lose the last transactions. Migrations, once shipped,
// are never edited: a change is a new migration.
import Foundation
import GRDB
import PatchbayCore
import Synchronization

// The shared vocabulary is stored as its name (raw text), as GRDB recommends for enums.
extension FailureClass: DatabaseValueConvertible {}
extension LogLevel: DatabaseValueConvertible {}
extension LogSource: DatabaseValueConvertible {}

/// Status of a run or a job. `cancelled` never started; `terminated` was stopped while it ran;
/// `skipped` (jobs only) was disabled in the flow or not selected.
public enum JobStatus: String, Sendable, Codable, CaseIterable, DatabaseValueConvertible {
    case created, waiting, processing, success, warning, error, terminating, terminated, cancelled, skipped

    public var isFinished: Bool {
        switch self {
        case .success, .warning, .error, .terminated, .cancelled, .skipped: true
        case .created, .waiting, .processing, .terminating: false
        }
    }
}

public struct RunRecord: Sendable, Codable, Equatable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "runs"
    public var id: Int64?
    public var flowName: String
    public var flowFile: String
    /// The validated flow as it ran (retries run this, not the file as it is now).
    public var flowJSON: String
    public var status: JobStatus
    /// manual | retry
    public var trigger: String
    public var retryOf: Int64?
    /// JSON array of the task ids selected with --only, or nil for all.
    public var onlyTasks: String?
    public var parallelism: Int
    /// The host process that runs it: pid and its start time (from /proc), to tell a live host from a reused pid.
    public var hostPID: Int32?
    public var hostStart: Int64?
    /// The token the run acts as (v2): its scopes decide which credentials and buckets its tasks get.
    public var tokenID: Int64?
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    public var message: String?

    public init(flowName: String, flowFile: String, flowJSON: String, status: JobStatus, trigger: String, retryOf: Int64?,
                onlyTasks: String?, parallelism: Int, hostPID: Int32?, hostStart: Int64?, createdAt: Date) {
        self.flowName = flowName
        self.flowFile = flowFile
        self.flowJSON = flowJSON
        self.status = status
        self.trigger = trigger
        self.retryOf = retryOf
        self.onlyTasks = onlyTasks
        self.parallelism = parallelism
        self.hostPID = hostPID
        self.hostStart = hostStart
        self.createdAt = createdAt
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

public struct JobRecord: Sendable, Codable, Equatable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "jobs"
    public var id: Int64?
    public var runID: Int64
    public var taskID: String
    public var taskName: String
    public var phaseID: String
    public var phaseIndex: Int
    public var attempt: Int
    public var connectorID: String
    public var connectorVersion: String?
    public var connectorSHA256: String?
    public var configurationID: String?
    public var configurationKey: String
    public var continueOnFailure: Bool
    /// The parameters as the connector received them (output references filled).
    public var parametersJSON: String?
    public var status: JobStatus
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    /// config | transient | system
    public var failureClass: FailureClass?
    public var message: String?
    /// How the runner process ended (ExitClassification.kind) and its one-line summary.
    public var exitKind: String?
    public var exitSummary: String?
    public var runnerPID: Int32?
    public var runnerStart: Int64?
    public var rowsOut: Int64
    /// A retry reuses a succeeded job instead of running it again.
    public var reusedJobID: Int64?

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }

    public init(runID: Int64, taskID: String, taskName: String, phaseID: String, phaseIndex: Int, attempt: Int,
                connectorID: String, configurationID: String?, configurationKey: String, continueOnFailure: Bool,
                status: JobStatus, createdAt: Date) {
        self.runID = runID
        self.taskID = taskID
        self.taskName = taskName
        self.phaseID = phaseID
        self.phaseIndex = phaseIndex
        self.attempt = attempt
        self.connectorID = connectorID
        self.configurationID = configurationID
        self.configurationKey = configurationKey
        self.continueOnFailure = continueOnFailure
        self.status = status
        self.createdAt = createdAt
        self.rowsOut = 0
    }
}

public struct EventRecord: Sendable, Codable, Equatable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "events"
    public var id: Int64?
    public var runID: Int64
    public var jobID: Int64?
    public var time: Date
    public var status: JobStatus
    public var detail: String?

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }

    static func note(_ db: Database, runID: Int64, jobID: Int64? = nil, time: Date, status: JobStatus, detail: String?) throws {
        try db.cachedStatement(sql: "INSERT INTO events (runID, jobID, time, status, detail) VALUES (?, ?, ?, ?, ?)")
            .execute(arguments: [runID, jobID, StoredTime.text(time), status, detail])
    }
}

public struct LogRecord: Sendable, Codable, Equatable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "logs"
    public var id: Int64?
    public var jobID: Int64
    public var time: Date
    /// debug | info | warning | error
    public var level: LogLevel
    /// connector | stdout | stderr | host
    public var source: LogSource
    public var message: String

    public init(jobID: Int64, time: Date, level: LogLevel, source: LogSource, message: String) {
        self.jobID = jobID
        self.time = time
        self.level = level
        self.source = source
        self.message = message
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

public struct OutputRecord: Sendable, Codable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "outputs"
    public var jobID: Int64
    public var name: String
    /// nil for secret outputs: their values are never written here.
    public var value: String?
    public var isSecret: Bool

    public init(jobID: Int64, name: String, value: String?, isSecret: Bool) {
        self.jobID = jobID
        self.name = name
        self.value = value
        self.isSecret = isSecret
    }
}

public struct TableRecord: Sendable, Codable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "tables"
    /// bucket.table
    public var name: String
    public var columnsJSON: String
    public var rowCount: Int64
    public var lastImportAt: Date
    public var jobID: Int64
    /// The CSV file, relative to the project's tables directory.
    public var file: String

    public init(name: String, columns: [String], rowCount: Int64, lastImportAt: Date, jobID: Int64, file: String) {
        self.name = name
        self.columnsJSON = String(decoding: (try? JSONEncoder().encode(columns)) ?? Data("[]".utf8), as: UTF8.self)
        self.rowCount = rowCount
        self.lastImportAt = lastImportAt
        self.jobID = jobID
        self.file = file
    }

    public var columns: [String] { (try? JSONDecoder().decode([String].self, from: Data(columnsJSON.utf8))) ?? [] }
}

public struct StateRecord: Sendable, Codable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "componentState"
    public var configurationKey: String
    public var stateJSON: String
    public var jobID: Int64
    public var updatedAt: Date
}

/// What a finished job leaves behind, written in one transaction with its final status.
public struct JobCompletion: Sendable {
    public var status: JobStatus
    public var failureClass: FailureClass?
    public var message: String?
    public var exitKind: String?
    public var exitSummary: String?
    public var rowsOut: Int64
    public var outputs: [OutputRecord]
    /// The component state to commit (only on success).
    public var state: String?
    public var tables: [TableRecord]

    public init(status: JobStatus, failureClass: FailureClass? = nil, message: String? = nil, exitKind: String? = nil,
                exitSummary: String? = nil, rowsOut: Int64 = 0, outputs: [OutputRecord] = [], state: String? = nil,
                tables: [TableRecord] = []) {
        self.status = status
        self.failureClass = failureClass
        self.message = message
        self.exitKind = exitKind
        self.exitSummary = exitSummary
        self.rowsOut = rowsOut
        self.outputs = outputs
        self.state = state
        self.tables = tables
    }
}

/// Times as GRDB stores a `Date` ("yyyy-MM-dd HH:mm:ss.SSS", UTC, milliseconds truncated), written
/// without a DateFormatter: the hot statements bind several per job, and ICU formatting cost ~1% of a
/// 300-task flow. Rows written either way read back the same.
enum StoredTime {
    static func text(_ date: Date) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        var seconds = time_t(milliseconds.dividingFloor(by: 1000))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func digits(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return digits(parts.tm_year + 1900, 4) + "-" + digits(parts.tm_mon + 1, 2) + "-" + digits(parts.tm_mday, 2) + " "
            + digits(parts.tm_hour, 2) + ":" + digits(parts.tm_min, 2) + ":" + digits(parts.tm_sec, 2) + "."
            + digits(Int32(milliseconds - Int64(seconds) * 1000), 3)
    }
}

private extension Int64 {
    func dividingFloor(by divisor: Int64) -> Int64 {
        let (quotient, remainder) = quotientAndRemainder(dividingBy: divisor)
        return remainder < 0 ? quotient - 1 : quotient
    }
}

/// A token: only the hash of its secret is kept. `orchestration` names the flow whose own token it is.
public struct TokenRecord: Sendable, Codable, Equatable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "tokens"
    public var id: Int64?
    public var name: String
    public var secretHash: String
    public var scopesJSON: String
    public var orchestration: String?
    public var createdAt: Date
    public var expiresAt: Date?
    public var revokedAt: Date?

    public init(name: String, scopesJSON: String, orchestration: String? = nil, createdAt: Date = Date(), expiresAt: Date? = nil) {
        self.name = name
        self.secretHash = ""
        self.scopesJSON = scopesJSON
        self.orchestration = orchestration
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
}

/// A named credential of one connector, as ciphertext bound to that connector.
public struct CredentialRecord: Sendable, Codable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "credentials"
    public var name: String
    public var connectorID: String
    public var ciphertext: String
    public var updatedAt: Date

    public init(name: String, connectorID: String, ciphertext: String, updatedAt: Date = Date()) {
        self.name = name
        self.connectorID = connectorID
        self.ciphertext = ciphertext
        self.updatedAt = updatedAt
    }
}

/// Why the store cannot be used.
public enum StoreError: Error, CustomStringConvertible, Sendable {
    /// The database was migrated by a newer Patchbay: this one does not know its schema.
    case newerDatabase(path: String, unknownMigrations: [String])

    public var description: String {
        switch self {
        case .newerDatabase(let path, let unknown):
            "\(path) was written by a newer Patchbay (it has migrations this one does not know: \(unknown.joined(separator: ", "))); use that version, or a copy of the project"
        }
    }
}

/// The store of one project. Safe to use from many tasks and many processes at once.
public final class Store: Sendable {
    let pool: DatabasePool
    public let path: String
    private let writes = Atomic<Int>(0)

    /// How long a write waits for another process's write lock before it gives up, and when it says so.
    static let busyStep: Duration = .milliseconds(5)
    static let busyNoticeAfter = 200   // steps: one second
    static let busyGiveUpAfter = 12_000  // steps: sixty seconds

    /// - Parameter waiting: told once per wait, after a second, that another process holds the write lock
    ///   (the CLI prints it, so a blocked command is never silent).
    public init(path: String, waiting: (@Sendable (String) -> Void)? = nil) throws {
        self.path = path
        var configuration = Configuration()
        let notice = "waiting for another process to finish writing to \(path) (it holds the store's write lock); giving up after 60 s"
        configuration.busyMode = .callback { tries in
            if tries == Self.busyNoticeAfter { waiting?(notice) }
            guard tries < Self.busyGiveUpAfter else { return false }
            usleep(UInt32(Self.busyStep.components.attoseconds / 1_000_000_000_000))
            return true
        }
        configuration.label = "patchbay"
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        pool = try DatabasePool(path: path, configuration: configuration)
        let migrator = Self.migrator
        let (superseded, applied) = try pool.read { db in (try migrator.hasBeenSuperseded(db), try migrator.appliedIdentifiers(db)) }
        if superseded {
            let known = Set(migrator.migrations)
            throw StoreError.newerDatabase(path: path, unknownMigrations: applied.filter { !known.contains($0) }.sorted())
        }
        try migrator.migrate(pool)
    }

    /// One write transaction. Every write of the store goes through here, so tests can count them.
    func write<T>(_ body: (Database) throws -> T) throws -> T {
        writes.add(1, ordering: .relaxed)
        return try pool.write(body)
    }

    /// Write transactions this process has made through this store (for tests and benchmarks).
    public var writeTransactionCount: Int { writes.load(ordering: .relaxed) }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: runs, jobs, events, logs, state, outputs, tables") { db in
            try db.execute(sql: """
                CREATE TABLE runs (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    flowName TEXT NOT NULL,
                    flowFile TEXT NOT NULL,
                    flowJSON TEXT NOT NULL,
                    status TEXT NOT NULL,
                    trigger TEXT NOT NULL,
                    retryOf INTEGER REFERENCES runs(id),
                    onlyTasks TEXT,
                    parallelism INTEGER NOT NULL,
                    hostPID INTEGER,
                    hostStart INTEGER,
                    createdAt DATETIME NOT NULL,
                    startedAt DATETIME,
                    finishedAt DATETIME,
                    message TEXT
                );
                CREATE INDEX runsByFlow ON runs(flowName, status);
                CREATE INDEX runsByStatus ON runs(status);
                CREATE TABLE jobs (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    runID INTEGER NOT NULL REFERENCES runs(id),
                    taskID TEXT NOT NULL,
                    taskName TEXT NOT NULL,
                    phaseID TEXT NOT NULL,
                    phaseIndex INTEGER NOT NULL,
                    attempt INTEGER NOT NULL,
                    connectorID TEXT NOT NULL,
                    connectorVersion TEXT,
                    connectorSHA256 TEXT,
                    configurationID TEXT,
                    configurationKey TEXT NOT NULL,
                    continueOnFailure BOOLEAN NOT NULL,
                    parametersJSON TEXT,
                    status TEXT NOT NULL,
                    createdAt DATETIME NOT NULL,
                    startedAt DATETIME,
                    finishedAt DATETIME,
                    failureClass TEXT,
                    message TEXT,
                    exitKind TEXT,
                    exitSummary TEXT,
                    runnerPID INTEGER,
                    runnerStart INTEGER,
                    rowsOut INTEGER NOT NULL DEFAULT 0,
                    reusedJobID INTEGER REFERENCES jobs(id)
                );
                CREATE INDEX jobsByRun ON jobs(runID);
                CREATE INDEX jobsByConfiguration ON jobs(configurationKey, startedAt);
                CREATE TABLE events (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    runID INTEGER NOT NULL REFERENCES runs(id),
                    jobID INTEGER REFERENCES jobs(id),
                    time DATETIME NOT NULL,
                    status TEXT NOT NULL,
                    detail TEXT
                );
                CREATE INDEX eventsByRun ON events(runID);
                CREATE TABLE logs (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    jobID INTEGER NOT NULL REFERENCES jobs(id),
                    time DATETIME NOT NULL,
                    level TEXT NOT NULL,
                    source TEXT NOT NULL,
                    message TEXT NOT NULL
                );
                CREATE INDEX logsByJob ON logs(jobID);
                CREATE TABLE outputs (
                    jobID INTEGER NOT NULL REFERENCES jobs(id),
                    name TEXT NOT NULL,
                    value TEXT,
                    isSecret BOOLEAN NOT NULL,
                    PRIMARY KEY (jobID, name)
                );
                CREATE TABLE componentState (
                    configurationKey TEXT PRIMARY KEY,
                    stateJSON TEXT NOT NULL,
                    jobID INTEGER NOT NULL REFERENCES jobs(id),
                    updatedAt DATETIME NOT NULL
                );
                CREATE TABLE tables (
                    name TEXT PRIMARY KEY,
                    columnsJSON TEXT NOT NULL,
                    rowCount INTEGER NOT NULL,
                    lastImportAt DATETIME NOT NULL,
                    jobID INTEGER NOT NULL REFERENCES jobs(id),
                    file TEXT NOT NULL
                );
                """)
        }
        migrator.registerMigration("v2: tokens, credentials, the token of each run") { db in
            try db.execute(sql: """
                CREATE TABLE tokens (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    name TEXT NOT NULL,
                    secretHash TEXT NOT NULL,
                    scopesJSON TEXT NOT NULL,
                    orchestration TEXT,
                    createdAt TEXT NOT NULL,
                    expiresAt TEXT,
                    revokedAt TEXT
                );
                CREATE UNIQUE INDEX tokensByOrchestration ON tokens(orchestration) WHERE orchestration IS NOT NULL AND revokedAt IS NULL;
                CREATE TABLE credentials (
                    name TEXT NOT NULL,
                    connectorID TEXT NOT NULL,
                    ciphertext TEXT NOT NULL,
                    updatedAt TEXT NOT NULL,
                    PRIMARY KEY (name, connectorID)
                );
                ALTER TABLE runs ADD COLUMN tokenID INTEGER REFERENCES tokens(id);
                """)
        }
        return migrator
    }

    // MARK: runs

    public func insert(run: RunRecord, jobs: [JobRecord]) throws -> (RunRecord, [JobRecord]) {
        try write { db in
            var run = run
            try run.insert(db)
            try EventRecord.note(db, runID: run.id!, time: run.createdAt, status: run.status, detail: "run created")
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
            try db.execute(sql: "UPDATE runs SET \(assignments.joined(separator: ", ")) WHERE id = ?",
                           arguments: StatementArguments(arguments))
            try EventRecord.note(db, runID: id, time: time, status: status, detail: message)
        }
    }

    /// Asks the host running this run to stop it. Returns the run's status before the request.
    /// Marks an unfinished run `terminating`, with why (the run's message until it ends). Returns the
    /// status it had, nil if there is no such run.
    public func requestTermination(run id: Int64, reason: String = "terminated on request") throws -> JobStatus? {
        try write { db in
            guard let run = try RunRecord.fetchOne(db, key: id) else { return nil }
            if !run.status.isFinished, run.status != .terminating {
                try db.execute(sql: "UPDATE runs SET status = ?, message = ? WHERE id = ?", arguments: [JobStatus.terminating, reason, id])
                try EventRecord.note(db, runID: id, time: Date(), status: .terminating, detail: reason)
            }
            return run.status
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
            try RunRecord.filter([JobStatus.created, .waiting, .processing, .terminating].contains(Column("status")))
                .order(Column("id")).fetchAll(db)
        }
    }

    /// Is another run of this flow ahead of `id` (older, not finished)? Used for the one-at-a-time rule.
    public func olderUnfinishedRun(flow: String, before id: Int64) throws -> RunRecord? {
        try pool.read { db in
            try RunRecord.filter(Column("flowName") == flow && Column("id") < id
                                 && [JobStatus.created, .waiting, .processing, .terminating].contains(Column("status")))
                .order(Column("id")).fetchOne(db)
        }
    }

    // MARK: jobs

    public func jobs(run id: Int64) throws -> [JobRecord] {
        try pool.read { db in try JobRecord.filter(Column("runID") == id).order(Column("phaseIndex"), Column("id")).fetchAll(db) }
    }

    public func job(_ id: Int64) throws -> JobRecord? {
        try pool.read { db in try JobRecord.fetchOne(db, key: id) }
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
                WHERE id = ? RETURNING *
                """)
            let updated = try JobRecord.fetchOne(statement, arguments: [
                status, message, status == .processing, StoredTime.text(time), status.isFinished, StoredTime.text(time), job.id])
            try EventRecord.note(db, runID: job.runID, jobID: job.id, time: time, status: status, detail: message)
            return updated ?? job
        }
    }

    /// Records the runner process that serves the job (recovery kills it if the host died) and, the first
    /// time, moves the job from `created`/`waiting` to `processing` with its start time and an event: one
    /// transaction per spawn. Returns the job as it became `processing`, or nil for a status check's
    /// later spawns, which only update the runner.
    public func start(job: JobRecord, runnerPID: Int32, runnerStart: Int64?, connectorVersion: String?, sha256: String?,
                      parametersJSON: String?, at time: Date = Date()) throws -> JobRecord? {
        let stamp = StoredTime.text(time)
        return try write { db in
            try db.cachedStatement(sql: """
                UPDATE jobs SET status = 'processing', message = NULL, startedAt = COALESCE(startedAt, ?)
                WHERE id = ? AND status IN ('created', 'waiting')
                """).execute(arguments: [stamp, job.id])
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
                    exitSummary = ?, rowsOut = ?
                WHERE id = ? RETURNING *
                """)
            let finished = try JobRecord.fetchOne(statement, arguments: [
                completion.status, StoredTime.text(time), completion.failureClass, completion.message, completion.exitKind,
                completion.exitSummary, completion.rowsOut, job.id]) ?? job
            for output in completion.outputs { try output.upsert(db) }
            if let state = completion.state {
                try StateRecord(configurationKey: finished.configurationKey, stateJSON: state, jobID: job.id!, updatedAt: time).upsert(db)
            }
            for table in completion.tables { try table.upsert(db) }
            try EventRecord.note(db, runID: job.runID, jobID: job.id, time: time, status: completion.status, detail: completion.message)
            return finished
        }
    }

    /// A retry's reused job: success, pointing at the original, with the original's outputs copied.
    public func reuse(job: JobRecord, from original: JobRecord) throws -> JobRecord {
        try write { db in
            var job = job
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

    public func logs(run id: Int64) throws -> [LogRecord] {
        try pool.read { db in
            try LogRecord.fetchAll(db, sql: "SELECT logs.* FROM logs JOIN jobs ON jobs.id = logs.jobID WHERE jobs.runID = ? ORDER BY logs.id",
                                   arguments: [id])
        }
    }

    public func events(run id: Int64) throws -> [EventRecord] {
        try pool.read { db in try EventRecord.filter(Column("runID") == id).order(Column("id")).fetchAll(db) }
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

    // MARK: state and tables

    public func state(configurationKey: String) throws -> StateRecord? {
        try pool.read { db in
            try StateRecord.fetchOne(db.cachedStatement(sql: "SELECT * FROM componentState WHERE configurationKey = ?"),
                                     arguments: [configurationKey])
        }
    }

    public func tables() throws -> [TableRecord] {
        try pool.read { db in try TableRecord.order(Column("name")).fetchAll(db) }
    }

    public func table(_ name: String) throws -> TableRecord? {
        try pool.read { db in try TableRecord.fetchOne(db, key: name) }
    }

    // MARK: tokens and credentials (hashes and ciphertexts only; PatchbaySecurity makes them)

    /// Inserts a token; `hash` gets the new id (token secrets name their id) and returns the secret's hash.
    public func createToken(_ token: TokenRecord, hash: (Int64) throws -> String) throws -> TokenRecord {
        try write { db in
            var token = token
            try token.insert(db)
            token.secretHash = try hash(token.id!)
            try token.update(db)
            return token
        }
    }

    public func token(_ id: Int64) throws -> TokenRecord? {
        try pool.read { db in try TokenRecord.fetchOne(db, key: id) }
    }

    public func tokens() throws -> [TokenRecord] {
        try pool.read { db in try TokenRecord.order(Column("id")).fetchAll(db) }
    }

    /// The live (not revoked) own token of an orchestration, if it has one.
    public func orchestrationToken(_ flow: String) throws -> TokenRecord? {
        try pool.read { db in
            try TokenRecord.filter(Column("orchestration") == flow && Column("revokedAt") == nil).fetchOne(db)
        }
    }

    public func revokeToken(_ id: Int64, at time: Date = Date()) throws -> Bool {
        try write { db in
            try db.execute(sql: "UPDATE tokens SET revokedAt = ? WHERE id = ? AND revokedAt IS NULL", arguments: [time, id])
            return db.changesCount > 0
        }
    }

    /// Replaces a token's secret (the old one stops working at once).
    public func replaceTokenSecret(_ id: Int64, hash: String) throws {
        try write { db in try db.execute(sql: "UPDATE tokens SET secretHash = ? WHERE id = ?", arguments: [hash, id]) }
    }

    public func setCredential(_ credential: CredentialRecord) throws {
        try write { db in try credential.upsert(db) }
    }

    public func credentials(connector: String) throws -> [CredentialRecord] {
        try pool.read { db in try CredentialRecord.filter(Column("connectorID") == connector).fetchAll(db) }
    }

    public func credentials() throws -> [CredentialRecord] {
        try pool.read { db in try CredentialRecord.order(Column("connectorID"), Column("name")).fetchAll(db) }
    }

    public func setToken(run id: Int64, token: Int64) throws {
        try write { db in try db.execute(sql: "UPDATE runs SET tokenID = ? WHERE id = ?", arguments: [token, id]) }
    }
}
