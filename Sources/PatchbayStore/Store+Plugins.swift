// The plugin catalog as last probed: one row per plugin file, with the fingerprint it had (size, times,
// inode), its SHA-256, and its descriptor or why it was quarantined. Rows are what the registry tells
// the engine to keep; the store does not interpret them.
public import Foundation
public import GRDB

/// One probed plugin file. The descriptor columns are nil when the probe found none.
public struct PluginProbeRecord: Sendable, Codable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "pluginProbes"
    public var path: String
    public var size: Int64
    public var modifiedNanos: Int64
    public var changedNanos: Int64
    public var inode: Int64
    public var sha256: String
    public var quarantineReason: String?
    public var loadNanos: Int64
    public var abiVersion: Int64?
    public var structSize: Int64?
    public var connectorID: String?
    public var version: String?
    public var displayName: String?
    public var description: String?
    public var parametersSchema: String?
    public var credentialNamesJSON: String?
    public var pattern: Int64?
    public var capabilities: Int64?
    public var hasCheck: Bool?
    public var hasCancel: Bool?
    public var probedAt: Date
    /// The declared network (PATCHBAY_NETWORK_*) and, for TCP ports, which.
    public var networkKind: Int64 = 0
    public var tcpPortsJSON: String = "[]"
    /// The declared outputs and table patterns (ABI 1.4), as JSON arrays; nil when not declared.
    public var outputNamesJSON: String?
    public var outputTablesJSON: String?

    public init(path: String, size: Int64, modifiedNanos: Int64, changedNanos: Int64, inode: Int64, sha256: String,
                quarantineReason: String?, loadNanos: Int64, probedAt: Date) {
        self.path = path
        self.size = size
        self.modifiedNanos = modifiedNanos
        self.changedNanos = changedNanos
        self.inode = inode
        self.sha256 = sha256
        self.quarantineReason = quarantineReason
        self.loadNanos = loadNanos
        self.probedAt = probedAt
    }
}

extension Store {
    public func pluginProbes() throws -> [PluginProbeRecord] {
        try pool.read { db in try PluginProbeRecord.order(Column("path")).fetchAll(db) }
    }

    /// Keeps `probes` (replacing rows of the same path) and deletes the rows of `forgotten`, in one transaction.
    public func keep(pluginProbes probes: [PluginProbeRecord], forgetting forgotten: [String]) throws {
        try write { db in
            for probe in probes { try probe.upsert(db) }
            for path in forgotten { _ = try PluginProbeRecord.deleteOne(db, key: path) }
        }
    }
}
