import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Task workspaces: the private directory a runner works in (`out/tables` for what it writes, `tmp`). Input
/// tables never appear in it: the runner opens them with the host's rights and hands the task descriptors.
///
/// Making a directory is not free: on ext4 without a journal (common under containers) every
/// `mkdir` scans the inodes deleted in the last seconds, so a host that makes and deletes five
/// directories per task slows down with its own history (measured: 35% of all CPU of a 300-task
/// flow). A workspace that a task left exactly as it found it is therefore kept, and the next task
/// gets it; anything else the task left, or a workspace the pool has no room for, is deleted.
///
/// Names carry the host's pid (`task-<pid>-<random>`), so `sweepAbandoned` can delete the workspaces
/// of hosts that are gone, pooled or not.
public final class WorkspacePool: Sendable {
    public static let shared = WorkspacePool()
    /// Idle workspaces kept per root; a flow with more tasks at once makes the rest and deletes them.
    public static let capacity = 64

    private let idle = Mutex<[String: [String]]>([:])
    /// Roots this process has swept: the workspaces that processes before it left behind (every CLI
    /// process leaves its pooled ones at exit) are deleted once, at the first task under a root, so a
    /// shared root such as the default one does not grow with every command.
    private let swept = Mutex<Set<String>>([])

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// The directories of every workspace, relative to it (`tmp` is the task's private temporary directory).
    static let skeleton = ["", "/out", "/out/tables", "/tmp"]

    /// A private, empty workspace under `root`: an idle one if there is one, else a new one; with `owner`,
    /// handed to that uid (the task's own).
    func take(root: String, owner: UInt32? = nil) throws(Failure) -> String {
        let path = try take(root: root)
        if let owner {
            for directory in Self.skeleton where chown(path + directory, owner, owner) != 0 {
                let reason = String(cString: strerror(errno))
                removeTree(path)
                throw Failure(description: "cannot hand the task workspace \(path + directory) to uid \(owner): \(reason)")
            }
        }
        return path
    }

    private func take(root: String) throws(Failure) -> String {
        if let path = idle.withLock({ $0[root]?.popLast() }) { return path }
        if swept.withLock({ $0.insert(root).inserted }) { Self.sweepAbandoned(root: root) }
        if mkdir(root, 0o711) != 0 && errno != EEXIST {
            try? FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true,
                                                     attributes: [.posixPermissions: 0o711])
        }
        let path = root + "/task-\(getpid())-" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
        for directory in Self.skeleton.map({ path + $0 }) where mkdir(directory, 0o700) != 0 {
            let reason = String(cString: strerror(errno))
            removeTree(path)
            throw Failure(description: "cannot create the task workspace \(directory): \(reason)")
        }
        return path
    }

    /// Takes a workspace back after its task (whose processes are all gone): it is kept only if it is
    /// exactly the empty skeleton again (real directories, owned by this user or the task's `owner`, which
    /// are given back to this user, 0700).
    func giveBack(_ path: String, root: String, owner: UInt32? = nil) {
        let kept = Self.isPristine(path, taskOwner: owner) && idle.withLock { pools in
            guard pools[root, default: []].count < Self.capacity else { return false }
            pools[root, default: []].append(path)
            return true
        }
        if !kept { removeTree(path) }
    }

    /// Deletes every idle workspace (at process exit: nothing is left behind for the next host to sweep).
    public func removeIdle() {
        for path in idle.withLock({ pools in defer { pools = [:] }; return pools.values.flatMap { $0 } }) { removeTree(path) }
    }

    /// Deletes the workspaces under `root` whose host process is gone (killed hosts, or pools left at exit).
    public static func sweepAbandoned(root: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: root) else { return }
        for name in names where ProcessIdentity.taskOwnerIsGone(name) { removeTree(root + "/" + name) }
    }

    /// The skeleton and nothing else: `out/tables` and `tmp`, all empty, no links, owned by this
    /// user (so a tree handed to an unprivileged runner user is never reused), mode reset to 0700.
    /// Each directory is opened beneath its parent's descriptor, never by its whole path again.
    static func isPristine(_ path: String, taskOwner: UInt32? = nil) -> Bool {
        let root = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard root >= 0 else { return false }
        return isPristine(directory: root, children: pristineTree, taskOwner: taskOwner)
    }

    /// The skeleton as a tree: each directory's children (what `skeleton` lists as paths).
    private struct Skeleton { let name: String; let children: [Skeleton] }
    private static let pristineTree = [
        Skeleton(name: "out", children: [Skeleton(name: "tables", children: [])]),
        Skeleton(name: "tmp", children: []),
    ]

    /// Checks one open directory (and closes it): a real directory, owned as above, holding exactly `children`.
    private static func isPristine(directory fd: Int32, children: [Skeleton], taskOwner: UInt32?) -> Bool {
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else { close(fd); return false }
        if let taskOwner, info.st_uid == taskOwner {
            guard fchown(fd, geteuid(), getegid()) == 0 else { close(fd); return false }
        } else if info.st_uid != geteuid() {
            close(fd)
            return false
        }
        guard info.st_mode & 0o7777 == 0o700 || fchmod(fd, 0o700) == 0 else { close(fd); return false }
        for child in children {
            let childFD = openat(fd, child.name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard childFD >= 0, isPristine(directory: childFD, children: child.children, taskOwner: taskOwner) else {
                close(fd)
                return false
            }
        }
        // Last, as the listing takes the descriptor over (and closes it).
        return directoryEntries(consuming: fd)?.sorted() == children.map(\.name)
    }

}

/// Deletes a directory tree without following symbolic links (a connector may leave anything in its workspace).
func removeTree(_ path: String) {
    let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
    if fd >= 0 {
        removeContents(of: fd)
        close(fd)
    }
    rmdir(path)
}

private func removeContents(of directory: Int32) {
    for name in directoryEntries(directory) ?? [] {
        if unlinkat(directory, name, 0) == 0 { continue }
        let child = openat(directory, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        if child >= 0 {
            removeContents(of: child)
            close(child)
        }
        unlinkat(directory, name, AT_REMOVEDIR)
    }
}

/// The names in an open directory, without `.` and `..`; the descriptor stays open.
private func directoryEntries(_ directory: Int32) -> [String]? {
    directoryEntries(consuming: dup(directory))
}

/// The names in an open directory, without `.` and `..`; the descriptor is closed.
private func directoryEntries(consuming directory: Int32) -> [String]? {
    guard let stream = fdopendir(directory) else {
        if directory >= 0 { close(directory) }
        return nil
    }
    defer { closedir(stream) }
    var names: [String] = []
    while let entry = readdir(stream) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        if name != "." && name != ".." { names.append(name) }
    }
    return names
}
