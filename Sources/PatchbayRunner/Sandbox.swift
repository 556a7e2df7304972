// The sandbox a runner puts itself in, as the host decides it: which kernel layers this machine allows
// (decided once per process), the uid each task runs as, and what a task may read.
//
// Every layer that the machine allows is in force for every task and every probe: a task never runs as
// root (each gets a uid of its own from a reserved range, leased for the task's life, so two tasks cannot
// signal, ptrace or read each other), Landlock confines its filesystem, TCP, signals and abstract sockets,
// and seccomp refuses the calls no connector needs. `PATCHBAY_SANDBOX_OFF=uid,landlock,seccomp` turns
// layers off for diagnosis; `patchbay doctor` says which are on and why the others are off.
import CPatchbaySys
import Foundation
public import PatchbayWire
#if canImport(Glibc)
import Glibc
#endif

public struct SandboxPolicy: Sendable {
    /// The kernel layers every runner applies.
    public let layers: SandboxLayers
    /// Whether each task runs as a uid of its own (the host is root).
    public let dropsPrivileges: Bool
    /// The Landlock ABI the kernel offers (0: none).
    public let landlockABI: Int
    /// Why a layer is off, by name ("uid", "landlock", "seccomp").
    public let off: [String: String]
    /// What a task may read and map executable, besides its plugin and workspace.
    public let readablePaths: [String]

    public static let current = SandboxPolicy(environment: ProcessInfo.processInfo.environment)

    /// The machine's policy with some layers turned off (`uid`, `landlock`, `seccomp`), for diagnosis and benchmarks.
    public init(turningOff layers: Set<String>) {
        self.init(environment: ["PATCHBAY_SANDBOX_OFF": layers.sorted().joined(separator: ",")])
    }

    init(environment: [String: String]) {
        let forcedOff = Set((environment["PATCHBAY_SANDBOX_OFF"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        var off: [String: String] = [:]
        var layers: SandboxLayers = []
        landlockABI = Int(pb_landlock_abi())
        if forcedOff.contains("landlock") {
            off["landlock"] = "turned off by PATCHBAY_SANDBOX_OFF"
        } else if landlockABI == 0 {
            off["landlock"] = "the kernel offers no Landlock (not built in, or not in the lsm= list)"
        } else {
            layers.insert(.landlock)
        }
        if forcedOff.contains("seccomp") {
            off["seccomp"] = "turned off by PATCHBAY_SANDBOX_OFF"
        } else if pb_seccomp_available() == 0 {
            off["seccomp"] = "the kernel has no seccomp filters"
        } else {
            layers.insert(.seccomp)
        }
        if forcedOff.contains("uid") {
            off["uid"] = "turned off by PATCHBAY_SANDBOX_OFF"
            dropsPrivileges = false
        } else if getuid() != 0 {
            off["uid"] = "the host is not root, so tasks run as its uid \(getuid()) (they cannot reach other users' files)"
            dropsPrivileges = false
        } else {
            dropsPrivileges = true
        }
        self.layers = layers
        self.off = off
        readablePaths = Self.systemPaths + Self.hostLibraryDirectories()
    }

    /// The system's libraries, certificates and name-service files (read-only for a task).
    static let systemPaths = [
        "/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin",
        "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/ssl", "/etc/ca-certificates", "/etc/pki",
        "/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/host.conf", "/etc/gai.conf", "/etc/services",
        "/etc/protocols", "/etc/localtime", "/etc/timezone", "/etc/passwd", "/etc/group", "/etc/mime.types",
    ]

    /// Directories of the shared libraries the host itself has mapped outside the system paths (the Swift
    /// runtime of a toolchain in /opt, say): a Swift connector built with the host's toolchain needs them.
    static func hostLibraryDirectories() -> [String] {
        Set(mappedLibraries().filter { path in !systemPaths.contains { path.hasPrefix($0 + "/") } }
            .map { ($0 as NSString).deletingLastPathComponent }).sorted()
    }

    /// Every shared library the host has mapped, by path, from the whole of /proc/self/maps (read to EOF:
    /// /proc files report size 0, and a size-based read such as String(contentsOfFile:) stops short).
    /// Read once per process: the host maps no library later that a task would need (plugins are loaded
    /// by runners, never by the host).
    static func mappedLibraries() -> [String] { hostMappedLibraries }

    private static let hostMappedLibraries: [String] = {
        guard let maps = readSmallFile("/proc/self/maps") else { return [] }
        var seen: Set<Substring> = [], paths: [String] = []
        for line in maps.utf8.split(separator: UInt8(ascii: "\n")) {
            guard let slash = line.firstIndex(of: UInt8(ascii: "/")) else { continue }
            let path = Substring(line[slash...])
            if path.contains(".so"), seen.insert(path).inserted { paths.append(String(path)) }
        }
        return paths
    }()

    /// Each layer, on or off, with what it does or why it is off (for `doctor`).
    public var layerStates: [(name: String, on: Bool, detail: String)] {
        [
            ("uid", dropsPrivileges, off["uid"] ?? "each task runs as a uid of its own from \(TaskUser.base)…\(TaskUser.base + TaskUser.slots - 1): it cannot signal, ptrace or read the host or another task"),
            ("landlock", layers.contains(.landlock), off["landlock"] ?? "ABI \(landlockABI): system libraries read-only, the plugin, the workspace; nothing else\(landlockABI >= 4 ? "; TCP only to declared ports" : "")\(landlockABI >= 6 ? "; signals and abstract sockets only within the task" : "")"),
            ("seccomp", layers.contains(.seccomp), off["seccomp"] ?? "ptrace, mounts, namespaces, bpf, perf, keys, kexec, modules, io_uring and more refused; non-local sockets without a declared network"),
        ]
    }

    /// The Swift runtime libraries a Swift connector needs, as the host itself has them mapped (its toolchain's):
    /// the zygote loads them once, so a Swift plugin's dlopen finds them in place instead of loading them per task.
    public static let swiftRuntimeLibraries: [String] = {
        let wanted = ["libswiftCore.so", "libswift_Concurrency.so", "libswift_StringProcessing.so", "libswift_RegexParser.so"]
        let mapped = mappedLibraries()
        return wanted.compactMap { name in mapped.first { ($0 as NSString).lastPathComponent == name } }
    }()

    /// One line per layer, for `doctor` and reports: on, or off and why.
    public var summary: String {
        var parts: [String] = []
        parts.append(dropsPrivileges ? "own uid per task" : "uid off")
        parts.append(layers.contains(.landlock) ? "landlock (ABI \(landlockABI))" : "landlock off")
        parts.append(layers.contains(.seccomp) ? "seccomp" : "seccomp off")
        return parts.joined(separator: ", ")
    }
}

/// A uid (and gid of the same number) leased to one task, from a reserved range. The lease is a lock on a
/// file, so hosts in other processes never hand out the same uid while it is in use.
final class TaskUser {
    static let base: UInt32 = 7_900_000
    static let slots: UInt32 = 4096
    /// Where the leases are kept (root only).
    static let directory: String = {
        for candidate in ["/run/patchbay/task-users", NSTemporaryDirectory() + "patchbay-task-users-0"] {
            let parent = (candidate as NSString).deletingLastPathComponent
            mkdir(parent, 0o755)
            if mkdir(candidate, 0o700) == 0 || errno == EEXIST {
                var info = stat()
                if lstat(candidate, &info) == 0, info.st_mode & S_IFMT == S_IFDIR, info.st_uid == 0 { return candidate }
            }
        }
        return ""
    }()

    let uid: UInt32
    private let descriptor: Int32

    private init(uid: UInt32, descriptor: Int32) {
        self.uid = uid
        self.descriptor = descriptor
    }

    /// A uid no other live task of any host on this machine has; nil if all are taken.
    static func lease() -> TaskUser? {
        guard !directory.isEmpty else { return nil }
        let start = UInt32.random(in: 0..<slots)
        for step in 0..<slots {
            let slot = (start + step) % slots
            let fd = open(directory + "/\(slot)", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
            guard fd >= 0 else { continue }
            if flock(fd, LOCK_EX | LOCK_NB) == 0 { return TaskUser(uid: base + slot, descriptor: fd) }
            close(fd)
        }
        return nil
    }

    /// Gives the uid back; only once none of the task's processes is left.
    func release() { close(descriptor) }
}
