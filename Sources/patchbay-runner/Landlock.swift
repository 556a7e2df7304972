// What a task may touch on the filesystem, as Landlock rules: the system's libraries, certificates and
// name-service files (read, and map executable), the host's own library directories, its plugin file,
// the null and random devices, and its workspace (everything). Nothing else: not the project, the
// store, the keys, a home directory, other plugins, other tasks' workspaces, /proc or /tmp.
#if canImport(Glibc)
import Glibc
#endif
import CPatchbaySys

struct LandlockGrants {
    private let grants: [(path: String, access: UInt64)]

    init(readable: [String], writable: [String], plugin: String, workspace: String) {
        let read = UInt64(PB_LANDLOCK_READ)
        // read_file | write_file (| truncate, masked off by the kernel's ABI) for the devices.
        let device = UInt64(1 << 1 | 1 << 2 | 1 << 14)
        var grants: [(String, UInt64)] = readable.map { ($0, read) }
        grants.append((plugin, read))
        for path in ["/dev/null", "/dev/zero", "/dev/full"] { grants.append((path, device)) }
        for path in ["/dev/urandom", "/dev/random"] { grants.append((path, UInt64(1 << 2))) }
        for path in writable { grants.append((path, UInt64.max)) }
        grants.append((workspace, UInt64.max))
        self.grants = grants
    }

    /// The rules as C structs, valid during `body`.
    func withRules<T>(_ body: (UnsafeBufferPointer<pb_landlock_path>) -> T) -> T {
        let copies = grants.map { strdup($0.path) }
        defer { for copy in copies { free(copy) } }
        let rules = zip(copies, grants).map { pb_landlock_path(path: $0, access: $1.access) }
        return rules.withUnsafeBufferPointer(body)
    }
}
