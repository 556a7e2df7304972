// The stored records: one value type per table, and how the shared vocabulary is stored.
// Plain values: the Store reads and writes them; the Engine hands them to the CLI, HTTP and web view.
public import Foundation
public import GRDB
public import PatchbayCore

// The shared vocabulary is stored as its name (raw text), as GRDB recommends for enums.
extension FailureClass: DatabaseValueConvertible {}
extension LogLevel: DatabaseValueConvertible {}
extension LogSource: DatabaseValueConvertible {}

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
    /// The token that started the run (nil: a schedule, a trigger or recovery); its jobs act as `tokenID` (v15).
    public var startedByTokenID: Int64?
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
    /// What held the job's task: uid, kernel layers, network, cgroups.
    public var sandbox: String?
    public var exitSummary: String?
    public var runnerPID: Int32?
    public var runnerStart: Int64?
    public var rowsOut: Int64
    /// A retry reuses a succeeded job instead of running it again.
    public var reusedJobID: Int64?
    /// Why a started job waits now (`poll`, `retry`, `rate_limit`) and until when; nil while it works.
    public var waitReason: String?
    public var waitUntil: Date?
    /// When the job got its slot in its phase (the parallelism limit let it go), before its runner started.
    public var dispatchedAt: Date?

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

/// Jobs are read and written by hand, column by column, with the same names and conversions as the
/// synthesized Codable path: a flow reads and writes every job several times, and that path (a keyed
/// decoder per row, with dynamic casts) cost about 3% of the host's CPU in a 300-task flow (measured).
/// `JobRecordTests` proves the two agree on every column.
extension JobRecord {
    public init(row: Row) throws {
        id = try row.decode(forColumn: "id")
        runID = try row.decode(forColumn: "runID")
        taskID = try row.decode(forColumn: "taskID")
        taskName = try row.decode(forColumn: "taskName")
        phaseID = try row.decode(forColumn: "phaseID")
        phaseIndex = try row.decode(forColumn: "phaseIndex")
        attempt = try row.decode(forColumn: "attempt")
        connectorID = try row.decode(forColumn: "connectorID")
        connectorVersion = try row.decode(forColumn: "connectorVersion")
        connectorSHA256 = try row.decode(forColumn: "connectorSHA256")
        configurationID = try row.decode(forColumn: "configurationID")
        configurationKey = try row.decode(forColumn: "configurationKey")
        continueOnFailure = try row.decode(forColumn: "continueOnFailure")
        parametersJSON = try row.decode(forColumn: "parametersJSON")
        status = try row.decode(forColumn: "status")
        createdAt = try row.decode(forColumn: "createdAt")
        startedAt = try row.decode(forColumn: "startedAt")
        finishedAt = try row.decode(forColumn: "finishedAt")
        failureClass = try row.decode(forColumn: "failureClass")
        message = try row.decode(forColumn: "message")
        exitKind = try row.decode(forColumn: "exitKind")
        sandbox = try row.decode(forColumn: "sandbox")
        exitSummary = try row.decode(forColumn: "exitSummary")
        runnerPID = try row.decode(forColumn: "runnerPID")
        runnerStart = try row.decode(forColumn: "runnerStart")
        rowsOut = try row.decode(forColumn: "rowsOut")
        reusedJobID = try row.decode(forColumn: "reusedJobID")
        waitReason = try row.decode(forColumn: "waitReason")
        waitUntil = try row.decode(forColumn: "waitUntil")
        dispatchedAt = try row.decode(forColumn: "dispatchedAt")
    }

    public func encode(to container: inout PersistenceContainer) throws {
        container["id"] = id
        container["runID"] = runID
        container["taskID"] = taskID
        container["taskName"] = taskName
        container["phaseID"] = phaseID
        container["phaseIndex"] = phaseIndex
        container["attempt"] = attempt
        container["connectorID"] = connectorID
        container["connectorVersion"] = connectorVersion
        container["connectorSHA256"] = connectorSHA256
        container["configurationID"] = configurationID
        container["configurationKey"] = configurationKey
        container["continueOnFailure"] = continueOnFailure
        container["parametersJSON"] = parametersJSON
        container["status"] = status
        container["createdAt"] = createdAt
        container["startedAt"] = startedAt
        container["finishedAt"] = finishedAt
        container["failureClass"] = failureClass
        container["message"] = message
        container["exitKind"] = exitKind
        container["sandbox"] = sandbox
        container["exitSummary"] = exitSummary
        container["runnerPID"] = runnerPID
        container["runnerStart"] = runnerStart
        container["rowsOut"] = rowsOut
        container["reusedJobID"] = reusedJobID
        container["waitReason"] = waitReason
        container["waitUntil"] = waitUntil
        container["dispatchedAt"] = dispatchedAt
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

/// One wait of a job, as it happened: a configuration lock, a status check's poll, a retry's back-off or a rate
/// limit, from its start to its end (nil while it lasts; a rate limit's ends at `until`).
public struct WaitSpanRecord: Sendable, Codable, Equatable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "waitSpans"
    public var id: Int64?
    public var jobID: Int64
    public var runID: Int64
    /// A `JobWait.Reason` word.
    public var reason: String
    public var detail: String
    public var startedAt: Date
    public var until: Date?
    public var endedAt: Date?
    /// The run whose job holds the lock this one waits for.
    public var blockingRunID: Int64?

    public init(jobID: Int64, runID: Int64, reason: String, detail: String, startedAt: Date, until: Date? = nil, endedAt: Date? = nil,
                blockingRunID: Int64? = nil) {
        self.jobID = jobID
        self.runID = runID
        self.reason = reason
        self.detail = detail
        self.startedAt = startedAt
        self.until = until
        self.endedAt = endedAt
        self.blockingRunID = blockingRunID
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }
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

/// One edge of the lineage: a job read a table (made by `producerJobID`, if the catalog knew it), or wrote one.
public struct LineageRecord: Sendable, Codable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "lineage"
    public enum Direction: String, Sendable, Codable, DatabaseValueConvertible { case read, write }
    public var jobID: Int64
    public var tableName: String
    public var direction: Direction
    public var producerJobID: Int64?
    public var rowCount: Int64?

    public init(jobID: Int64, tableName: String, direction: Direction, producerJobID: Int64? = nil, rowCount: Int64? = nil) {
        self.jobID = jobID
        self.tableName = tableName
        self.direction = direction
        self.producerJobID = producerJobID
        self.rowCount = rowCount
    }
}

public struct TableRecord: Sendable, Codable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "tables"
    /// bucket.table
    public var name: String
    public var columnsJSON: String
    /// The columns' type words, one per column ("[]" for a table from before typed columns: all strings).
    public var typesJSON: String
    public var rowCount: Int64
    public var lastImportAt: Date
    public var jobID: Int64
    /// The CSV file, relative to the project's tables directory.
    public var file: String
    /// This version is the evidence of a failed job (`jobID`): what broke a data rule, kept to be looked at.
    public var evidence: Bool = false

    public init(name: String, columns: [String], types: [ColumnType]? = nil, rowCount: Int64, lastImportAt: Date, jobID: Int64, file: String,
                evidence: Bool = false) {
        self.evidence = evidence
        self.name = name
        self.columnsJSON = String(decoding: (try? JSONEncoder().encode(columns)) ?? Data("[]".utf8), as: UTF8.self)
        self.typesJSON = String(decoding: (try? JSONEncoder().encode((types ?? []).map(\.word))) ?? Data("[]".utf8), as: UTF8.self)
        self.rowCount = rowCount
        self.lastImportAt = lastImportAt
        self.jobID = jobID
        self.file = file
    }

    public var columns: [String] { (try? JSONDecoder().decode([String].self, from: Data(columnsJSON.utf8))) ?? [] }

    /// One type per column; `.string` where none was recorded.
    public var types: [ColumnType] {
        let words = (try? JSONDecoder().decode([String].self, from: Data(typesJSON.utf8))) ?? []
        return columns.indices.map { $0 < words.count ? ColumnType(word: words[$0]) ?? .string : .string }
    }
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
    public var sandbox: String?
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
        UTCTime.text(millisecondsSince1970: Int64((date.timeIntervalSince1970 * 1000).rounded(.down)), separator: " ",
                     milliseconds: true, zone: "")
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
    /// Where runs started by hand with this token report their errors, warnings and long runs (v15).
    public var webhook: String?

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

/// By hand, as JobRecord: every command checks its token first, and the synthesized path's first use
/// (a keyed decoder and its dynamic casts) was ~4% of a one-task `patchbay run` (measured).
extension TokenRecord {
    public init(row: Row) throws {
        id = try row.decode(forColumn: "id")
        name = try row.decode(forColumn: "name")
        secretHash = try row.decode(forColumn: "secretHash")
        scopesJSON = try row.decode(forColumn: "scopesJSON")
        orchestration = try row.decode(forColumn: "orchestration")
        createdAt = try row.decode(forColumn: "createdAt")
        expiresAt = try row.decode(forColumn: "expiresAt")
        revokedAt = try row.decode(forColumn: "revokedAt")
        webhook = try row.decode(forColumn: "webhook")
    }

    public func encode(to container: inout PersistenceContainer) throws {
        container["id"] = id
        container["name"] = name
        container["secretHash"] = secretHash
        container["scopesJSON"] = scopesJSON
        container["orchestration"] = orchestration
        container["createdAt"] = createdAt
        container["expiresAt"] = expiresAt
        container["revokedAt"] = revokedAt
        container["webhook"] = webhook
    }
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
