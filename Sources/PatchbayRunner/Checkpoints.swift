// Checkpoints (ABI 1.5): what the host keeps of a task that ended without success so that the job's next
// attempt resumes where it stopped, and how that attempt gets it back. Owns the copying in both directions
// and the checks on what the runner claimed; knows nothing of jobs, retries or the store (the engine decides
// when an attempt resumes, and from which checkpoint).
import CPatchbaySys
import Foundation
import PatchbayCore
#if canImport(Glibc)
import Glibc
#endif

enum Checkpoints {
    struct Refused: Error, CustomStringConvertible {
        let description: String
    }

    /// Copies the first bytes of each table the checkpoint names out of the workspace into `directory`
    /// (made anew, the host's own), and checks each copy holds the header and rows the runner claimed.
    /// The task's processes are all gone by now, so what was checked is what is kept.
    static func keep(_ checkpoint: Checkpoint, workspace: String, owner: UInt32?, in directory: String) throws(Refused) -> Checkpoint {
        removeTree(directory)
        guard mkdir(directory, 0o700) == 0 else { throw Refused(description: "cannot create \(directory): \(String(cString: strerror(errno)))") }
        var kept: [TableMark] = []
        for mark in checkpoint.tables {
            let source: Int32
            do { source = try ReportedTables.open(mark.file, workspace: workspace, owner: owner) } catch {
                throw Refused(description: error.description)
            }
            defer { close(source) }
            let path = directory + "/" + mark.file.name + ".csv"
            try copy(mark.byteCount, from: source, to: path, what: mark.file.name)
            let copied = open(path, O_RDONLY | O_CLOEXEC)
            guard copied >= 0 else { throw Refused(description: "cannot reopen \(path): \(String(cString: strerror(errno)))") }
            defer { close(copied) }
            do { try ReportedTables.checkContent(copied, of: mark.file, at: "the checkpoint of \(mark.file.expectedWorkspacePath)") } catch {
                throw Refused(description: error.description)
            }
            var file = mark.file
            file.path = path
            kept.append(TableMark(file: file, byteCount: mark.byteCount))
        }
        return Checkpoint(stateJSON: checkpoint.stateJSON, tables: kept)
    }

    /// Puts a kept checkpoint's tables where the runner writes them, owned by the task: what the runner is
    /// told it finds there (paths relative to the workspace, as it reports them).
    static func restore(_ checkpoint: Checkpoint, into workspace: String, owner: UInt32?) throws(Refused) -> [TableMark] {
        var placed: [TableMark] = []
        for mark in checkpoint.tables {
            let source = open(mark.file.path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
            guard source >= 0 else { throw Refused(description: "cannot read the checkpoint of table '\(mark.file.name)' at \(mark.file.path): \(String(cString: strerror(errno)))") }
            defer { close(source) }
            let target = workspace + "/" + mark.file.expectedWorkspacePath
            try copy(mark.byteCount, from: source, to: target, what: mark.file.name)
            if let owner, chown(target, owner, owner) != 0 {
                throw Refused(description: "cannot give \(target) to the task's uid \(owner): \(String(cString: strerror(errno)))")
            }
            var file = mark.file
            file.path = file.expectedWorkspacePath
            placed.append(TableMark(file: file, byteCount: mark.byteCount))
        }
        return placed
    }

    /// Copies exactly `count` bytes from the start of `source` into a new file at `path`.
    private static func copy(_ count: UInt64, from source: Int32, to path: String, what table: String) throws(Refused) {
        let target = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard target >= 0 else { throw Refused(description: "cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(target) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var offset: UInt64 = 0
        while offset < count {
            let n = buffer.withUnsafeMutableBytes { pread(source, $0.baseAddress, Int(min(count - offset, UInt64($0.count))), off_t(offset)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                let reason = n == 0 ? "the file has only \(offset) of its \(count) bytes" : String(cString: strerror(errno))
                throw Refused(description: "table '\(table)': cannot copy its checkpoint to \(path): \(reason)")
            }
            var written = 0
            while written < n {
                let w = buffer.withUnsafeBytes { write(target, $0.baseAddress! + written, n - written) }
                if w < 0 && errno == EINTR { continue }
                guard w > 0 else { throw Refused(description: "table '\(table)': cannot write \(path): \(String(cString: strerror(errno)))") }
                written += w
            }
            offset += UInt64(n)
        }
    }

    static func removeTree(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }
}
