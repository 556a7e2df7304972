import Foundation
public import PatchbayCore
#if canImport(Glibc)
import Glibc
#endif

/// Lands finished tables in a directory as `<name>.csv`, each by rename, so a
/// reader sees the old file or the whole new one, never half of one.
public struct DirectoryTableSink: Sendable {
    public let directory: String
    /// fsync each file before its rename and the directory after, so a committed table survives a power loss.
    public let durable: Bool

    public init(directory: String, durable: Bool = false) {
        self.directory = directory
        self.durable = durable
    }

    public func commit(_ tables: [TableFile]) throws {
        guard !tables.isEmpty else { return }  // no directory for nothing: mkdir is not free (see WorkspacePool)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { if durable { Self.sync(directory) } }
        for table in tables {
            let target = directory + "/" + table.name + ".csv"
            if durable { Self.sync(table.path) }
            try TableManifest(table).write(besides: target, durable: durable)
            if rename(table.path, target) == 0 { continue }
            guard errno == EXDEV else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: target, NSLocalizedDescriptionKey: "cannot move \(table.name) into \(directory): \(String(cString: strerror(errno)))"])
            }
            // Another filesystem: copy beside the target, then rename.
            let temporary = directory + "/.\(table.name).csv.\(UInt32.random(in: 0...UInt32.max)).tmp"
            try FileManager.default.copyItem(atPath: table.path, toPath: temporary)
            guard rename(temporary, target) == 0 else {
                try? FileManager.default.removeItem(atPath: temporary)
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: target])
            }
        }
    }

    /// Flushes a file or directory to disk (best effort: a failure here is not a lost table).
    public static func sync(_ path: String) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        fsync(descriptor)
        close(descriptor)
    }
}

/// What Keboola keeps beside each table file, and Patchbay too: `<name>.manifest.json` names each
/// column's type and how NULL is written, so the CSV stays plain RFC 4180 that any tool reads.
///
///     {"format":"patchbay-table/1","null":"unquoted empty field","columns":[{"name":"id","type":"integer"}],"rows":3}
///
/// A table without a manifest (placed by hand, or from before ABI 1.3) is all strings, with no NULL.
public struct TableManifest: Sendable, Equatable, Codable {
    public struct Column: Sendable, Equatable, Codable {
        public var name: String
        public var type: String
    }

    public static let currentFormat = "patchbay-table/1"
    public var format = Self.currentFormat
    public var null = "unquoted empty field"
    public var columns: [Column]
    public var rows: UInt64

    public init(_ table: TableFile) {
        columns = zip(table.columns, table.types).map { Column(name: $0, type: $1.word) }
        rows = table.rowCount
    }

    /// Writes the manifest by rename, so a reader sees the old one or the new one.
    func write(besides tableFile: String, durable: Bool) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let target = TableFile.manifestPath(besides: tableFile)
        let temporary = target + ".\(UInt32.random(in: 0...UInt32.max)).tmp"
        try encoder.encode(self).write(to: URL(fileURLWithPath: temporary))
        if durable { DirectoryTableSink.sync(temporary) }
        guard rename(temporary, target) == 0 else {
            try? FileManager.default.removeItem(atPath: temporary)
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: target])
        }
    }

    /// Why a manifest beside a table cannot be used: its path and what is wrong.
    public struct Invalid: Error, CustomStringConvertible {
        public var path: String
        public var reason: String
        public var description: String { "\(path): \(reason)" }
    }

    /// The column types of the table at `tableFile`, from the manifest beside it; nil when it has none.
    public static func types(besides tableFile: String) throws(Invalid) -> [ColumnType]? {
        let path = TableFile.manifestPath(besides: tableFile)
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let manifest: TableManifest
        do { manifest = try JSONDecoder().decode(TableManifest.self, from: data) } catch {
            throw Invalid(path: path, reason: "not a table manifest (\(error))")
        }
        guard manifest.format == currentFormat else {
            throw Invalid(path: path, reason: "format '\(manifest.format)' is not \(currentFormat)")
        }
        var types: [ColumnType] = []
        for column in manifest.columns {
            guard let type = ColumnType(word: column.type) else {
                let words = ColumnType.allCases.map(\.word).joined(separator: ", ")
                throw Invalid(path: path, reason: "column '\(column.name)' has type '\(column.type)'; the types are \(words)")
            }
            types.append(type)
        }
        return types
    }
}
