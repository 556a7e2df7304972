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
