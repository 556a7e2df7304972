import Foundation
public import Logging
import PatchbayCore
public import PatchbayRunner
import PatchbayWire

/// What changed in the catalog after a scan.
public enum CatalogChange: Sendable, Equatable {
    case added(CatalogEntry)
    case quarantined(CatalogEntry)
    case removed(path: String)
}

/// The catalog of plugins in the plugin directories. A file is probed again only when its fingerprint
/// (size, modification and change times, inode) changes; with a `ProbeMemory`, not even across processes.
public actor PluginRegistry {
    public nonisolated let directories: PluginDirectories
    private let runner: TaskRunner
    private var entries: [String: CatalogEntry] = [:]
    private var fingerprints: [String: FileFingerprint] = [:]
    /// Files looked up by path outside the plugin directories: cached, but never part of the catalog.
    private var probedByPath: [String: (FileFingerprint, CatalogEntry)] = [:]
    /// Where probes are remembered between processes, once recalled.
    private var memory: (any ProbeMemory)?
    /// Files this process has probed (the number tests and benchmarks read).
    public private(set) var probeCount = 0

    /// Probes and their verdicts (debug), a probe memory that cannot be read or written (warning).
    private let logger: Logger
    /// The limits every probe runs under (the same sandbox as a task's; `task run` passes the user's).
    private let probeLimits: TaskLimits

    /// What a probe gets unless the caller says otherwise: it runs no connector function but the entry.
    public static let defaultProbeLimits = TaskLimits(timeout: .seconds(10), memoryBytes: 1 << 30, processes: 16, killGrace: .milliseconds(200))

    public init(directories: PluginDirectories = .standard(), runner: TaskRunner = TaskRunner(),
                probeLimits: TaskLimits = PluginRegistry.defaultProbeLimits, logger: Logger = Logger(label: "patchbay.registry")) {
        self.directories = directories
        self.runner = runner
        self.probeLimits = probeLimits
        self.logger = logger
    }

    /// Every entry, ready and quarantined, sorted by id, version, path.
    public var catalog: [CatalogEntry] {
        entries.values.sorted { a, b in
            if (a.id ?? "~") != (b.id ?? "~") { return (a.id ?? "~") < (b.id ?? "~") }
            if let va = a.version.flatMap(SemanticVersion.init), let vb = b.version.flatMap(SemanticVersion.init), va != vb {
                return va > vb
            }
            return a.path < b.path
        }
    }

    private static func fingerprint(_ path: String) -> FileFingerprint? { FileFingerprint(path: path) }

    /// Remembers probes in `memory` from now on, and first takes what it already knows of the files in
    /// the plugin directories (each is checked against its fingerprint at the next refresh). Once per registry.
    public func remember(in memory: any ProbeMemory) {
        guard self.memory == nil else { return }
        self.memory = memory
        let directories = Set(self.directories.directories)
        // A memory that cannot be read costs probes, not correctness: everything is probed as if new.
        let recalled: [RememberedProbe]
        do { recalled = try memory.recall() } catch {
            logger.warning("cannot read the remembered plugin probes; probing every plugin file", metadata: ["error": "\(error)"])
            recalled = []
        }
        for probe in recalled where entries[probe.entry.path] == nil
            && directories.contains((probe.entry.path as NSString).deletingLastPathComponent) {
            entries[probe.entry.path] = probe.entry
            fingerprints[probe.entry.path] = probe.fingerprint
        }
    }

    /// Plugin files: `*.so` regular files, skipping hidden and temporary names.
    static func pluginFiles(in directory: String) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        return names.filter { $0.hasSuffix(".so") && !$0.hasPrefix(".") }.sorted().map { directory + "/" + $0 }
    }

    private func remember(_ probes: [RememberedProbe], forgetting forgotten: [String]) {
        guard let memory else { return }
        do { try memory.remember(probes, forgetting: forgotten) } catch {
            logger.warning("cannot remember plugin probes; the next command probes these files again", metadata: ["error": "\(error)"])
        }
    }

    /// Rescans every directory; probes new and changed files. Returns what changed.
    @discardableResult
    public func refresh() async -> [CatalogChange] {
        var seen = Set<String>()
        var toProbe: [(String, FileFingerprint)] = []
        for directory in directories.directories {
            for path in Self.pluginFiles(in: directory) {
                guard let print = Self.fingerprint(path) else { continue }
                seen.insert(path)
                if fingerprints[path] != print { toProbe.append((path, print)) }
            }
        }
        var changes: [CatalogChange] = []
        var forgotten: [String] = []
        for path in entries.keys where !seen.contains(path) {
            entries[path] = nil
            fingerprints[path] = nil
            forgotten.append(path)
            changes.append(.removed(path: path))
        }
        let runner = self.runner, probeLimits = self.probeLimits
        probeCount += toProbe.count
        let probed = await withTaskGroup(of: (String, FileFingerprint, CatalogEntry).self) { group in
            var results: [(String, FileFingerprint, CatalogEntry)] = []
            var iterator = toProbe.makeIterator()
            func next() -> Bool {
                guard let (path, print) = iterator.next() else { return false }
                group.addTask { (path, print, await Self.probe(path: path, runner: runner, limits: probeLimits)) }
                return true
            }
            for _ in 0..<4 where next() {}
            while let result = await group.next() {
                results.append(result)
                _ = next()
            }
            return results
        }
        for (path, print, entry) in probed.sorted(by: { $0.0 < $1.0 }) {
            logger.debug("probed a plugin", metadata: ["path": "\(path)", "verdict": "\(entry.isReady ? "ready" : "\(entry.status)")"])
            entries[path] = entry
            fingerprints[path] = print
            changes.append(entry.isReady ? .added(entry) : .quarantined(entry))
        }
        if !probed.isEmpty || !forgotten.isEmpty {
            // Not remembering costs the next process probes, not correctness: say so and go on.
            remember(probed.map { RememberedProbe(fingerprint: $0.1, entry: $0.2) }, forgetting: forgotten)
        }
        return changes
    }

    /// Probes one file in a runner: loads it, checks the ABI and descriptor, reports it.
    public static func probe(path: String, runner: TaskRunner = TaskRunner(), limits: TaskLimits = defaultProbeLimits) async -> CatalogEntry {
        let size = fingerprint(path)?.size ?? 0
        let sha = (try? sha256Hex(ofFileAt: path)) ?? ""
        let report = await runner.run(TaskSpec(pluginPath: path, mode: .probe, limits: limits), host: ProbeHost())
        let status: CatalogEntry.Status = report.classification.isSuccess && report.descriptor != nil
            ? .ready : .quarantined(reason: report.classification.summary)
        return CatalogEntry(path: path, sha256: sha, size: size, status: status, descriptor: report.descriptor,
                            probeLoadTime: report.loadTime)
    }

    /// The entry for one file, ready or quarantined: probed once, then served from the
    /// catalog until the file's size, modification time or inode changes.
    public func entry(at path: String) async -> CatalogEntry {
        let print = Self.fingerprint(path)
        if let known = entries[path], print != nil, fingerprints[path] == print { return known }
        if let (known, entry) = probedByPath[path], known == print { return entry }
        probeCount += 1
        let entry = await Self.probe(path: path, runner: runner, limits: probeLimits)
        if let print { probedByPath[path] = (print, entry) }
        return entry
    }

    /// Finds a runnable connector: `ID` (newest version), `ID@VERSION`, or a path to a `.so`.
    public func resolve(_ reference: String) async throws -> CatalogEntry {
        if reference.contains("/") || reference.hasSuffix(".so") {
            let path = URL(fileURLWithPath: reference).standardizedFileURL.path
            guard FileManager.default.fileExists(atPath: path) else { throw RegistryError.fileNotFound(reference) }
            let entry = await entry(at: path)
            if case .quarantined(let reason) = entry.status { throw RegistryError.quarantined(path: path, reason: reason) }
            return entry
        }
        let parts = reference.split(separator: "@", maxSplits: 1).map(String.init)
        let id = parts[0]
        let candidates = catalog.filter { $0.id == id }
        guard !candidates.isEmpty else {
            let quarantined = catalog.compactMap { entry -> String? in
                if case .quarantined(let reason) = entry.status { return "\((entry.path as NSString).lastPathComponent): \(reason)" }
                return nil
            }
            throw RegistryError.unknownConnector(id, known: Array(Set(catalog.compactMap(\.id))).sorted(), quarantined: quarantined)
        }
        let ready = candidates.filter(\.isReady)
        if parts.count == 2 {
            guard let match = ready.first(where: { $0.version == parts[1] }) else {
                throw RegistryError.unknownVersion(id: id, version: parts[1], available: ready.compactMap(\.version))
            }
            return match
        }
        return ready[0]  // `catalog` sorts newest first
    }

    /// Probes `file`, then copies it into the install directory by temp-file + rename
    /// (never overwriting a mapped file in place). Returns the installed entry.
    public func install(file: String) async throws -> CatalogEntry {
        let source = URL(fileURLWithPath: file).standardizedFileURL.path
        guard FileManager.default.fileExists(atPath: source) else { throw RegistryError.fileNotFound(file) }
        let probed = await Self.probe(path: source, runner: runner, limits: probeLimits)
        guard probed.isReady, let descriptor = probed.descriptor else {
            if case .quarantined(let reason) = probed.status { throw RegistryError.installRefused(path: file, reason: reason) }
            throw RegistryError.installRefused(path: file, reason: "the probe returned no descriptor")
        }
        let directory = directories.installDirectory
        let name = "lib\(descriptor.id)-\(descriptor.version).so"
        let target = directory + "/" + name
        let temporary = directory + "/.\(name).\(UInt32.random(in: 0...UInt32.max)).tmp"
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: source, toPath: temporary)
            chmod(temporary, 0o755)
            let copied = try sha256Hex(ofFileAt: temporary)
            guard copied == probed.sha256 else {
                try? FileManager.default.removeItem(atPath: temporary)
                throw RegistryError.installRefused(path: file, reason: "the file changed while it was being installed")
            }
            guard rename(temporary, target) == 0 else {
                let reason = String(cString: strerror(errno))
                try? FileManager.default.removeItem(atPath: temporary)
                throw RegistryError.io("cannot move the plugin into \(directory): \(reason)")
            }
        } catch let error as RegistryError {
            throw error
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw RegistryError.io("cannot install into \(directory): \(error.localizedDescription)")
        }
        var installed = probed
        installed.path = target
        if directories.directories.contains(directory), let print = Self.fingerprint(target) {
            entries[target] = installed
            fingerprints[target] = print
            remember([RememberedProbe(fingerprint: print, entry: installed)], forgetting: [])
        }
        return installed
    }
}

/// The probe answers nothing and keeps nothing.
struct ProbeHost: TaskHost {}
