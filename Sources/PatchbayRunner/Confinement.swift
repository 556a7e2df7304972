import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Per-task resource limits, as the user states them.
public struct TaskLimits: Sendable, Equatable {
    /// Wall-clock time before the task is stopped; nil for none.
    public var timeout: Duration?
    /// Memory in bytes (cgroup memory limit, or address space under rlimits).
    public var memoryBytes: UInt64
    /// CPU seconds (RLIMIT_CPU).
    public var cpuSeconds: UInt64
    /// Open file descriptors (RLIMIT_NOFILE).
    public var openFiles: UInt64
    /// Processes and threads the task may have at once, the runner included.
    public var processes: UInt64
    /// Each stop step (cancel, SIGTERM) waits this long before the next.
    public var killGrace: Duration
    /// The largest file the task may write, output tables included (RLIMIT_FSIZE); 0 for none.
    public var fileSizeBytes: UInt64

    public init(timeout: Duration? = .seconds(3600), memoryBytes: UInt64 = 2 << 30, cpuSeconds: UInt64 = 0,
                openFiles: UInt64 = 1024, processes: UInt64 = 64, killGrace: Duration = .seconds(2), fileSizeBytes: UInt64 = 0) {
        self.timeout = timeout
        self.memoryBytes = memoryBytes
        self.cpuSeconds = cpuSeconds
        self.openFiles = openFiles
        self.processes = processes
        self.killGrace = killGrace
        self.fileSizeBytes = fileSizeBytes
    }
}

/// The strongest confinement this machine allows, decided once per process.
public enum ConfinementMode: Sendable, Equatable, CustomStringConvertible {
    /// cgroup v1 `pids` and `memory` groups per task, plus rlimits. Binds root too.
    case cgroupV1(pids: String, memory: String)
    /// rlimits, with the runner switched to an unprivileged user (RLIMIT_NPROC does not bind root).
    case unprivilegedUser(uid: UInt32, gid: UInt32)
    /// rlimits only (the host is not root, so RLIMIT_NPROC binds).
    case rlimits

    public var description: String {
        switch self {
        case .cgroupV1(let pids, let memory):
            return "cgroup v1 per task (pids.max in \(pids), memory.limit_in_bytes in \(memory)) + rlimits (CPU, files, core)"
        case .unprivilegedUser(let uid, let gid):
            return "rlimits (address space, CPU, files, processes) as unprivileged uid \(uid)/gid \(gid); no cgroups writable"
        case .rlimits:
            return "rlimits (address space, CPU, files, processes) as uid \(getuid())"
        }
    }

    /// Detects the mode; `PATCHBAY_CONFINEMENT=cgroup|user|rlimit` forces one (for tests and diagnosis).
    public static let current: ConfinementMode = detect(forced: ProcessInfo.processInfo.environment["PATCHBAY_CONFINEMENT"])

    static func detect(forced: String?) -> ConfinementMode {
        let root = getuid() == 0
        let nobody = (uid: UInt32(65534), gid: UInt32(65534))
        if forced == "rlimit" { return .rlimits }
        if forced == "user" && root { return .unprivilegedUser(uid: nobody.uid, gid: nobody.gid) }
        if root, let groups = prepareCgroupV1() { return .cgroupV1(pids: groups.pids, memory: groups.memory) }
        return root ? .unprivilegedUser(uid: nobody.uid, gid: nobody.gid) : .rlimits
    }

    private static func prepareCgroupV1() -> (pids: String, memory: String)? {
        let pids = "/sys/fs/cgroup/pids/patchbay"
        let memory = "/sys/fs/cgroup/memory/patchbay"
        for path in [pids, memory] {
            if mkdir(path, 0o755) != 0 && errno != EEXIST { return nil }
            guard access(path + "/cgroup.procs", W_OK) == 0 else { return nil }
        }
        sweepStaleGroups(pids)
        sweepStaleGroups(memory)
        return (pids, memory)
    }

    /// Kills what is left in the task groups of hosts that are gone (`task-<host pid>-<task>`): a host
    /// killed with SIGKILL leaves its connectors' daemons there. Then removes the groups. A live host's
    /// groups are never touched: one may be empty only because its runner has not joined yet.
    private static func sweepStaleGroups(_ parent: String) {
        guard let children = try? FileManager.default.contentsOfDirectory(atPath: parent) else { return }
        for child in children where ProcessIdentity.taskOwnerIsGone(child) {
            let path = parent + "/" + child
            for _ in 0..<100 {
                let pids = (readSmallFile(path + "/cgroup.procs") ?? "").split(separator: "\n").compactMap { Int32($0) }
                if pids.isEmpty { break }
                for pid in pids { kill(pid, SIGKILL) }
                usleep(1000)
            }
            for _ in 0..<200 {
                if rmdir(path) == 0 || errno != EBUSY { break }
                usleep(500)
            }
        }
    }
}

/// One task's cgroups (v1): taken before spawn, joined by the runner itself as it confines (checked by the host at
/// the handshake), swept after the
/// runner exits and then given back.
///
/// Creating a memory cgroup populates dozens of control files and removing it tears them down again
/// (measured: ~8% of the host's CPU in a 300-task flow), so an emptied pair of groups with little
/// memory still charged is kept in a `CgroupPool` and reused: its peak is reset, and the kernel's
/// cumulative event counters (pids.max hits, OOM kills) are the next task's baseline. The control files
/// read or written for every task stay open with the pair (`CgroupFiles`): opening a kernfs file walks
/// its path and sets up a seq_file each time, about ten opens a task.
final class TaskCgroups {
    let pidsPath: String
    let memoryPath: String
    let pool: CgroupPool
    private let files: CgroupFiles
    private var limits: (processes: UInt64, memoryBytes: UInt64) = (0, 0)
    private var baseline: (processLimitHits: Int, outOfMemoryKills: Int) = (0, 0)

    /// Groups for a task with these limits: an idle pair if the host has one, else a new pair.
    init(mode: ConfinementMode, taskID: String, limits: TaskLimits, pool: CgroupPool = .shared) throws {
        guard case .cgroupV1(let pids, let memory) = mode else { throw CgroupError("not in cgroup mode") }
        self.pool = pool
        if let reused = pool.idle.withLock({ $0.popLast() }) {
            pidsPath = reused.pidsPath
            memoryPath = reused.memoryPath
            files = reused.files
            self.limits = reused.limits
            baseline = reused.baseline
        } else {
            pidsPath = pids + "/task-\(getpid())-" + taskID
            memoryPath = memory + "/task-\(getpid())-" + taskID
            for path in [pidsPath, memoryPath] where mkdir(path, 0o755) != 0 {
                throw CgroupError("cannot create \(path): \(String(cString: strerror(errno)))")
            }
            do {
                files = try CgroupFiles(pids: pidsPath, memory: memoryPath)
            } catch {
                CgroupPool.remove([pidsPath, memoryPath])
                throw error
            }
        }
        do {
            try apply(processes: limits.processes, memoryBytes: limits.memoryBytes)
        } catch {
            remove()
            throw error
        }
    }

    /// Writes the limits that differ from the groups' current ones (0 means no limit).
    private func apply(processes: UInt64, memoryBytes: UInt64) throws {
        if processes != limits.processes {
            try Self.write(processes > 0 ? "\(processes)" : "max", to: pidsPath + "/pids.max")
            limits.processes = processes
        }
        if memoryBytes != limits.memoryBytes {
            try Self.write(memoryBytes > 0 ? "\(memoryBytes)" : "-1", to: memoryPath + "/memory.limit_in_bytes")
            limits.memoryBytes = memoryBytes
        }
    }

    static func write(_ value: String, to path: String) throws {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CgroupError("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        try CgroupFiles.write(value, to: fd, named: path)
    }

    /// What a runner writes `0` into to join the pair itself (`Confinement.cgroupTasks`).
    var tasksFiles: [String] { [pidsPath + "/tasks", memoryPath + "/tasks"] }

    /// Whether any process is in the pids group (a runner told to join it, at its handshake).
    var isOccupied: Bool {
        (CgroupFiles.number(files.pidsCurrent) ?? 0) > 0
    }

    /// Moves a process in by its pid (a test's processes; a runner joins itself).
    func join(_ pid: pid_t) throws {
        try CgroupFiles.write("\(pid)", to: files.pidsProcesses, named: pidsPath + "/cgroup.procs")
        try CgroupFiles.write("\(pid)", to: files.memoryProcesses, named: memoryPath + "/cgroup.procs")
    }

    /// What the kernel counted for the task; read before the groups are given back.
    struct Counters {
        /// How often a fork failed at pids.max.
        var processLimitHits: Int
        /// How often the OOM killer acted in the group.
        var outOfMemoryKills: Int
        var peakMemoryBytes: UInt64
    }

    /// The kernel's counters since the groups were created (not since this task began).
    private var cumulative: (processLimitHits: Int, outOfMemoryKills: Int) {
        (Self.counter(named: "max", in: CgroupFiles.read(files.pidsEvents)),
         Self.counter(named: "oom_kill", in: CgroupFiles.read(files.oomControl)))
    }

    var counters: Counters {
        let total = cumulative
        return Counters(
            processLimitHits: total.processLimitHits - baseline.processLimitHits,
            outOfMemoryKills: total.outOfMemoryKills - baseline.outOfMemoryKills,
            peakMemoryBytes: CgroupFiles.number(files.peakMemory) ?? 0)
    }

    private static func counter(named name: String, in text: String) -> Int {
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, parts[0] == name { return Int(parts[1]) ?? 0 }
        }
        return 0
    }

    /// The processes in the group now. Never read through the descriptor kept open: cgroup v1 answers a
    /// `cgroup.procs` read from a pid list it caches per open file for a second after each read, so a pair
    /// reused within that second listed its previous task's (empty) list, and a daemon the connector left was
    /// neither counted nor killed (it lived on into the next task on the pair). `pids.current` is a counter
    /// the kernel computes for every read; the list is opened afresh only when it is not zero.
    private func processes() -> [Int32] {
        let current = CgroupFiles.number(files.pidsCurrent) ?? 1
        guard current > 0 else { return [] }
        return (readSmallFile(pidsPath + "/cgroup.procs") ?? "").split(separator: "\n").compactMap { Int32($0) }
    }

    /// SIGKILLs every process still in the group (forks included, until none are left), then gives
    /// the groups back to the pool, or removes them if they cannot be emptied or the pool is full.
    /// Returns how many processes it killed.
    @discardableResult
    func killAllAndRelease() -> Int {
        var killed = Set<Int32>()
        var empty = false
        for _ in 0..<200 {
            let pids = processes()
            if pids.isEmpty {
                empty = true
                break
            }
            for pid in pids {
                kill(pid, SIGKILL)
                killed.insert(pid)
            }
            usleep(500)
        }
        if empty, reset() {
            let entry = CgroupPool.Idle(pidsPath: pidsPath, memoryPath: memoryPath, files: files, limits: limits, baseline: cumulative)
            let kept = pool.idle.withLock { idle in
                guard idle.count < pool.capacity else { return false }
                idle.append(entry)
                return true
            }
            if kept { return killed.count }
        }
        remove()
        return killed.count
    }

    /// Resets the memory group's peak for the next task. A group that still has more than 1 MiB charged
    /// (page cache the task left) is not reused: the next task would inherit the charge, and reclaiming it
    /// (`memory.force_empty`) costs more than a new group (measured).
    private func reset() -> Bool {
        let usage = CgroupFiles.number(files.memoryUsage) ?? .max
        guard usage <= 1 << 20 else { return false }
        return (try? CgroupFiles.write("0", to: files.peakMemory, named: memoryPath + "/memory.max_usage_in_bytes")) != nil
    }

    private func remove() {
        files.close()
        CgroupPool.remove([pidsPath, memoryPath])
    }
}

/// The control files of one pair of task groups that every task reads or writes, open for as long as the
/// pair exists (closed when it is removed). Descriptors are plain integers: the pair is used by one task at
/// a time, and the pool hands it over under its lock.
struct CgroupFiles: Sendable {
    /// `cgroup.procs` of the pids group is here for joining only: see `TaskCgroups.processes()` for why it is never read.
    let pidsProcesses: Int32, memoryProcesses: Int32, pidsEvents: Int32, pidsCurrent: Int32, oomControl: Int32, peakMemory: Int32, memoryUsage: Int32

    init(pids: String, memory: String) throws {
        var opened: [Int32] = []
        func open(_ path: String, _ flags: Int32) throws -> Int32 {
            let fd = Glibc.open(path, flags | O_CLOEXEC)
            guard fd >= 0 else {
                let reason = String(cString: strerror(errno))
                for fd in opened { Glibc.close(fd) }
                throw CgroupError("cannot open \(path): \(reason)")
            }
            opened.append(fd)
            return fd
        }
        pidsProcesses = try open(pids + "/cgroup.procs", O_WRONLY)
        memoryProcesses = try open(memory + "/cgroup.procs", O_WRONLY)
        pidsEvents = try open(pids + "/pids.events", O_RDONLY)
        pidsCurrent = try open(pids + "/pids.current", O_RDONLY)
        oomControl = try open(memory + "/memory.oom_control", O_RDONLY)
        peakMemory = try open(memory + "/memory.max_usage_in_bytes", O_RDWR)
        memoryUsage = try open(memory + "/memory.usage_in_bytes", O_RDONLY)
    }

    func close() {
        for fd in [pidsProcesses, memoryProcesses, pidsEvents, pidsCurrent, oomControl, peakMemory, memoryUsage] { Glibc.close(fd) }
    }

    /// The one decimal number a counter file holds (`pids.current`, `memory.usage_in_bytes`), read from its start;
    /// nil when it holds anything else. Read per task, so without Foundation's whitespace trimming (which bridged).
    static func number(_ fd: Int32) -> UInt64? {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { buffer -> UInt64? in
            var n = pread(fd, buffer.baseAddress!, buffer.count, 0)
            while n < 0 && errno == EINTR { n = pread(fd, buffer.baseAddress!, buffer.count, 0) }
            guard n > 0, n < buffer.count else { return nil }
            var value: UInt64 = 0, digits = 0
            for byte in buffer[..<n] {
                if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                    let (times, overflow) = value.multipliedReportingOverflow(by: 10)
                    let (sum, carry) = times.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
                    guard !overflow, !carry else { return nil }
                    value = sum
                    digits += 1
                } else if byte != UInt8(ascii: "\n") && byte != UInt8(ascii: " ") {
                    return nil
                }
            }
            return digits > 0 ? value : nil
        }
    }

    /// The file's whole text, read from its start (a kernfs file regenerates its text for each read at offset 0).
    static func read(_ fd: Int32) -> String {
        var bytes: [UInt8] = []
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 4096) { buffer in
            var offset = 0
            while true {
                let n = pread(fd, buffer.baseAddress!, buffer.count, off_t(offset))
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[..<n]))
                offset += n
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func write(_ value: String, to fd: Int32, named path: String) throws {
        let ok = value.withCString { pwrite(fd, $0, strlen($0), 0) } >= 0
        if !ok { throw CgroupError("cannot write \(value) to \(path): \(String(cString: strerror(errno)))") }
    }
}

/// The emptied task cgroups a host keeps for its next tasks (see `TaskCgroups`). They are named
/// `task-<host pid>-<id>`, so those a host leaves at exit are removed by the next host's sweep.
final class CgroupPool: Sendable {
    static let shared = CgroupPool()

    /// A pair of groups with no process in it, ready for the next task.
    struct Idle: Sendable {
        let pidsPath: String
        let memoryPath: String
        let files: CgroupFiles
        var limits: (processes: UInt64, memoryBytes: UInt64)
        var baseline: (processLimitHits: Int, outOfMemoryKills: Int)
    }

    let idle = Mutex<[Idle]>([])
    let capacity: Int

    init(capacity: Int = 32) { self.capacity = capacity }

    /// Off the path of a run's first tasks (a submission calls it on a background queue): makes idle pairs up
    /// to `pairs`. Making a memory group populates dozens of control files under the cgroup mutex; made here,
    /// the first tasks of a run take ready pairs instead of queueing on that mutex behind each other.
    func warm(mode: ConfinementMode, pairs: Int) {
        let missing = pairs - idle.withLock { $0.count }
        guard case .cgroupV1 = mode, missing > 0 else { return }
        let made = (0..<missing).compactMap { _ in
            try? TaskCgroups(mode: mode, taskID: String(UInt64.random(in: 0...UInt64.max), radix: 16), limits: TaskLimits(), pool: self)
        }
        for group in made { group.killAllAndRelease() }
    }

    /// Removes every idle group (tests; a host that wants to leave nothing behind).
    func removeAll() {
        for group in idle.withLock({ idle in defer { idle = [] }; return idle }) {
            group.files.close()
            Self.remove([group.pidsPath, group.memoryPath])
        }
    }

    static func remove(_ paths: [String]) {
        for path in paths {
            for _ in 0..<2000 {
                if rmdir(path) == 0 || errno == ENOENT { break }
                usleep(100)  // a dying process leaves the group a moment after it is reaped
            }
        }
    }
}

/// A kernel file's text (/proc, cgroupfs), read whole without Foundation: these are read several
/// times per task. Read to the end, so a long `cgroup.procs` is never cut inside a pid.
func readSmallFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes: [UInt8] = []
    withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 4096) { buffer in
        while true {
            let n = Glibc.read(fd, buffer.baseAddress!, buffer.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[..<n]))
        }
    }
    return String(decoding: bytes, as: UTF8.self)
}

struct CgroupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
