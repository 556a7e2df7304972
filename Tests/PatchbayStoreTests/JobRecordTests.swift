import Foundation
import GRDB
import PatchbayCore
import PatchbayStore
import Testing

/// JobRecord is read and written column by column by hand (for speed); these prove the hand code covers
/// every stored property and every column of the table, so a field added later cannot be silently dropped.
@Suite("The hand-written row coding of jobs and tokens")
struct JobRecordTests {
    /// A job with every optional field set to something other than its default.
    static func fullJob(runID: Int64) -> JobRecord {
        var job = JobRecord(runID: runID, taskID: "extract", taskName: "Extract", phaseID: "load", phaseIndex: 2, attempt: 3,
                            connectorID: "dev.patchbay.noop", configurationID: "shared", configurationKey: "flow/extract",
                            continueOnFailure: true, status: .error, createdAt: Date(timeIntervalSince1970: 1_700_000_000.25))
        job.connectorVersion = "1.2.3"
        job.connectorSHA256 = String(repeating: "ab", count: 32)
        job.parametersJSON = #"{"rows":5}"#
        job.startedAt = Date(timeIntervalSince1970: 1_700_000_001.5)
        job.finishedAt = Date(timeIntervalSince1970: 1_700_000_002.75)
        job.failureClass = .transient
        job.message = "the source answered 503"
        job.exitKind = "exited"
        job.sandbox = "uid 7900001, landlock, seccomp"
        job.exitSummary = "exited with status 0"
        job.runnerPID = 4242
        job.runnerStart = 987_654
        job.rowsOut = 17
        return job
    }

    @Test("every field written is read back unchanged, through a real store file")
    func roundTrip() throws {
        // Given a migrated store and a job with every field set.
        let store = try TemporaryStore()
        let (run, _) = try store.run()
        let queue = try DatabaseQueue(path: store.directory + "/store.sqlite")
        var job = Self.fullJob(runID: run.id!)

        // When it is inserted and fetched again.
        try queue.write { db in try job.insert(db) }
        let read = try queue.read { db in try JobRecord.fetchOne(db, key: job.id) }

        // Then nothing was lost or changed.
        #expect(read == job)
        #expect(try store.store.job(job.id!) == job)
    }

    @Test("the hand code names exactly the table's columns, one per stored property")
    func coversEveryColumn() throws {
        // Given the jobs table as the migrations made it.
        let store = try TemporaryStore()
        let queue = try DatabaseQueue(path: store.directory + "/store.sqlite")
        let columns = Set(try queue.read { db in try db.columns(in: "jobs").map(\.name) })
        let job = Self.fullJob(runID: 1)

        // When the record is encoded.
        let encoded = Set(try job.databaseDictionary.keys)

        // Then each column is written, and the struct has no property the columns miss.
        #expect(encoded == columns)
        #expect(Mirror(reflecting: job).children.count == columns.count)
    }

    @Test("a token record's hand code names exactly the tokens table's columns and reads back what it wrote")
    func tokenRecordCoversEveryColumn() throws {
        // Given the tokens table as the migrations made it, and a token with every field set
        let store = try TemporaryStore()
        let queue = try DatabaseQueue(path: store.directory + "/store.sqlite")
        let columns = Set(try queue.read { db in try db.columns(in: "tokens").map(\.name) })
        var token = TokenRecord(name: "ci", scopesJSON: #"{"isMaster":false}"#, orchestration: "orders",
                                createdAt: Date(timeIntervalSince1970: 1_700_000_000.5), expiresAt: Date(timeIntervalSince1970: 1_800_000_000))
        token.secretHash = String(repeating: "cd", count: 32)
        token.revokedAt = Date(timeIntervalSince1970: 1_750_000_000.25)

        // When it is written and read again
        try queue.write { db in try token.insert(db) }
        let read = try queue.read { db in try TokenRecord.fetchOne(db, key: token.id) }

        // Then every column is covered, once per property, and nothing changed on the way
        #expect(Set(try token.databaseDictionary.keys) == columns)
        #expect(Mirror(reflecting: token).children.count == columns.count)
        #expect(read == token)
    }
}
