// Tokens and credentials: hashes and ciphertexts only (PatchbaySecurity makes them).
public import Foundation
import GRDB
import PatchbayCore

extension Store {
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
