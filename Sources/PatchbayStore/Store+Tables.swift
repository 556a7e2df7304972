// Component state and the table catalog.
public import Foundation
import GRDB
import PatchbayCore

extension Store {
    // MARK: state and tables

    public func state(configurationKey: String) throws -> StateRecord? {
        try pool.read { db in
            try StateRecord.fetchOne(db.cachedStatement(sql: "SELECT * FROM componentState WHERE configurationKey = ?"),
                                     arguments: [configurationKey])
        }
    }

    /// Records the catalog tables a job reads, each with the job that produced the version it reads.
    public func recordReads(job: Int64, tables: [String]) throws {
        try write { db in
            for name in tables {
                let producer = try Int64.fetchOne(db, sql: "SELECT jobID FROM tables WHERE name = ?", arguments: [name])
                try LineageRecord(jobID: job, tableName: name, direction: .read, producerJobID: producer).upsert(db)
            }
        }
    }

    /// A job's edges, reads first.
    public func lineage(job: Int64) throws -> [LineageRecord] {
        try pool.read { db in
            try LineageRecord.filter(Column("jobID") == job).order(Column("direction"), Column("tableName")).fetchAll(db)
        }
    }

    /// The jobs that read a table, newest first.
    public func readers(table: String, limit: Int = 20) throws -> [JobRecord] {
        try pool.read { db in
            try JobRecord.fetchAll(db, sql: """
                SELECT jobs.* FROM jobs JOIN lineage ON lineage.jobID = jobs.id
                WHERE lineage.tableName = ? AND lineage.direction = 'read' ORDER BY jobs.id DESC LIMIT ?
                """, arguments: [table, limit])
        }
    }

    public func tables() throws -> [TableRecord] {
        try pool.read { db in try TableRecord.order(Column("name")).fetchAll(db) }
    }

    public func table(_ name: String) throws -> TableRecord? {
        try pool.read { db in try TableRecord.fetchOne(db, key: name) }
    }
}

extension Store {
    /// Commits a component state outside a job's completion: that of an authentication run again inside
    /// another job (its rotated refresh token must not be lost with it). `job` is the job it ran in.
    public func commit(state json: String, configurationKey: String, job: Int64, at time: Date = Date()) throws {
        try write { db in try StateRecord(configurationKey: configurationKey, stateJSON: json, jobID: job, updatedAt: time).upsert(db) }
    }
}
