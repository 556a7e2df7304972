// Component state and the table catalog.
import Foundation
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

    public func tables() throws -> [TableRecord] {
        try pool.read { db in try TableRecord.order(Column("name")).fetchAll(db) }
    }

    public func table(_ name: String) throws -> TableRecord? {
        try pool.read { db in try TableRecord.fetchOne(db, key: name) }
    }
}
