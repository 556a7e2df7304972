// The registry's probe memory, kept in the project's store: a command probes only plugin files that are
// new or changed since any earlier command of the project. Rows are translated here, so the Registry
// knows no SQLite and the Store knows no connectors.
import Foundation
import PatchbayCore
import PatchbayRegistry
import PatchbayStore

struct StoredProbeMemory: ProbeMemory {
    let store: Store

    func recall() throws -> [RememberedProbe] {
        // A ready row whose descriptor columns do not read back is forgotten here, so its file is probed again.
        try store.pluginProbes().compactMap { row in
            var descriptor: ConnectorDescriptor?
            if let abi = row.abiVersion, let size = row.structSize, let id = row.connectorID, let version = row.version,
               let pattern = row.pattern.flatMap({ JobPattern(abi: UInt32(truncatingIfNeeded: $0)) }) {
                let names = row.credentialNamesJSON.flatMap { try? JSONDecoder().decode([String].self, from: Data($0.utf8)) } ?? []
                let ports = (try? JSONDecoder().decode([UInt16].self, from: Data(row.tcpPortsJSON.utf8))) ?? []
                guard let network = NetworkAccess(abi: UInt32(truncatingIfNeeded: row.networkKind), ports: ports) else { return nil }
                func list(_ json: String?) -> [String]? { json.flatMap { try? JSONDecoder().decode([String].self, from: Data($0.utf8)) } }
                let tables = list(row.outputTablesJSON)?.compactMap(TablePattern.init)
                guard tables?.count ?? 0 == list(row.outputTablesJSON)?.count ?? 0 else { return nil }
                descriptor = ConnectorDescriptor(
                    abiVersion: UInt32(truncatingIfNeeded: abi), structSize: UInt32(truncatingIfNeeded: size), id: id, version: version,
                    displayName: row.displayName ?? "", description: row.description ?? "", parametersSchema: row.parametersSchema ?? "",
                    credentialNames: names, pattern: pattern, capabilities: Capabilities(rawValue: UInt64(bitPattern: row.capabilities ?? 0)),
                    hasCheck: row.hasCheck ?? false, hasCancel: row.hasCancel ?? false, network: network,
                    lineage: Lineage(outputs: list(row.outputNamesJSON), tables: tables))
            }
            if row.quarantineReason == nil, descriptor == nil { return nil }
            let status: CatalogEntry.Status = row.quarantineReason.map { .quarantined(reason: $0) } ?? .ready
            let entry = CatalogEntry(path: row.path, sha256: row.sha256, size: UInt64(row.size), status: status,
                                     descriptor: descriptor, probeLoadTime: .nanoseconds(row.loadNanos))
            let fingerprint = FileFingerprint(size: UInt64(row.size), modified: row.modifiedNanos, changed: row.changedNanos,
                                              inode: UInt64(bitPattern: row.inode))
            return RememberedProbe(fingerprint: fingerprint, entry: entry)
        }
    }

    func remember(_ probes: [RememberedProbe], forgetting forgotten: [String]) throws {
        let now = Date()
        let rows = probes.map { probe in
            let entry = probe.entry
            var reason: String?
            if case .quarantined(let why) = entry.status { reason = why }
            let load = entry.probeLoadTime.components
            var row = PluginProbeRecord(
                path: entry.path, size: Int64(probe.fingerprint.size), modifiedNanos: probe.fingerprint.modified,
                changedNanos: probe.fingerprint.changed, inode: Int64(bitPattern: probe.fingerprint.inode), sha256: entry.sha256,
                quarantineReason: reason, loadNanos: load.seconds * 1_000_000_000 + load.attoseconds / 1_000_000_000, probedAt: now)
            if let d = entry.descriptor {
                row.abiVersion = Int64(d.abiVersion)
                row.structSize = Int64(d.structSize)
                row.connectorID = d.id
                row.version = d.version
                row.displayName = d.displayName
                row.description = d.description
                row.parametersSchema = d.parametersSchema
                row.credentialNamesJSON = (try? JSONEncoder().encode(d.credentialNames)).map { String(decoding: $0, as: UTF8.self) }
                row.pattern = Int64(d.pattern.abiValue)
                row.capabilities = Int64(bitPattern: d.capabilities.rawValue)
                row.hasCheck = d.hasCheck
                row.hasCancel = d.hasCancel
                row.networkKind = Int64(d.network.abiKind)
                row.tcpPortsJSON = (try? JSONEncoder().encode(d.network.ports)).map { String(decoding: $0, as: UTF8.self) } ?? "[]"
                row.outputNamesJSON = d.lineage.outputs.flatMap { try? JSONEncoder().encode($0) }.map { String(decoding: $0, as: UTF8.self) }
                row.outputTablesJSON = d.lineage.tables.flatMap { try? JSONEncoder().encode($0.map(\.text)) }.map { String(decoding: $0, as: UTF8.self) }
            }
            return row
        }
        try store.keep(pluginProbes: rows, forgetting: forgotten)
    }
}
