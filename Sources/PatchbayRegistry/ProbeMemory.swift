// What the registry remembers between processes: each plugin file as it was when probed, and what the
// probe found. A command then probes only files that are new or changed since any earlier command, not
// every file every time. The registry does not know where the memory lives (the Engine keeps it in the
// project's store); a memory that cannot be read or written only costs probes, never correctness.
import Foundation

/// A plugin file's identity on disk. Any write, rename over, or `touch` changes it: the change time
/// (ctime) cannot be set back by a user, so a file replaced in place is never mistaken for the one probed.
public struct FileFingerprint: Sendable, Equatable {
    public var size: UInt64
    /// Modification and status-change times, nanoseconds since 1970.
    public var modified: Int64
    public var changed: Int64
    public var inode: UInt64

    public init(size: UInt64, modified: Int64, changed: Int64, inode: UInt64) {
        self.size = size
        self.modified = modified
        self.changed = changed
        self.inode = inode
    }

    /// The fingerprint of a regular file; nil for anything else or a file that is not there.
    public init?(path: String) {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        self.init(size: UInt64(info.st_size),
                  modified: Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec),
                  changed: Int64(info.st_ctim.tv_sec) * 1_000_000_000 + Int64(info.st_ctim.tv_nsec),
                  inode: UInt64(info.st_ino))
    }
}

/// One remembered probe: the file as it was, and its catalog entry.
public struct RememberedProbe: Sendable, Equatable {
    public var fingerprint: FileFingerprint
    public var entry: CatalogEntry

    public init(fingerprint: FileFingerprint, entry: CatalogEntry) {
        self.fingerprint = fingerprint
        self.entry = entry
    }
}

/// Where probes are remembered.
public protocol ProbeMemory: Sendable {
    /// Every remembered probe.
    func recall() throws -> [RememberedProbe]
    /// Keeps `probes` (replacing earlier ones of the same path) and forgets the files at `forgotten`.
    func remember(_ probes: [RememberedProbe], forgetting forgotten: [String]) throws
}
