// PatchbayRegistry — which connectors exist and whether they may run.
//
// Owns: plugin directories, probing each plugin file (in a runner, never in
// the host), SHA-256 pinning, side-by-side versions, quarantine, installing
// by temp-file + rename, and watching directories for hot-add.
// Must never know: orchestrations, jobs, SQLite, HTTP.
import Crypto
public import Foundation
public import PatchbayCore
import PatchbayRunner
import PatchbayWire

/// One plugin file, as probed.
public struct CatalogEntry: Sendable, Equatable {
    public enum Status: Sendable, Equatable {
        case ready
        /// The probe failed: the plugin is never run; the reason says why.
        case quarantined(reason: String)
    }

    public var path: String
    public var sha256: String
    public var size: UInt64
    public var status: Status
    /// Present when the probe succeeded.
    public var descriptor: ConnectorDescriptor?
    /// Loading time inside the runner, as measured by the probe.
    public var probeLoadTime: Duration

    public var id: String? { descriptor?.id }
    public var version: String? { descriptor?.version }
    public var pattern: JobPattern? { descriptor?.pattern }
    public var isReady: Bool { status == .ready }

    public var abiVersionText: String { descriptor?.abiVersionText ?? "-" }

    public init(path: String, sha256: String, size: UInt64, status: Status, descriptor: ConnectorDescriptor?, probeLoadTime: Duration) {
        self.path = path
        self.sha256 = sha256
        self.size = size
        self.status = status
        self.descriptor = descriptor
        self.probeLoadTime = probeLoadTime
    }
}

/// Where plugins are found, in order of precedence for equal id and version.
public struct PluginDirectories: Sendable, Equatable {
    public var directories: [String]
    /// Where `plugins install` puts files.
    public var installDirectory: String

    public init(directories: [String], installDirectory: String) {
        self.directories = directories
        self.installDirectory = installDirectory
    }

    /// `$PATCHBAY_PLUGIN_PATH` (colon-separated) if set; else the build's own
    /// plugins (`plugins/` beside or above the executable's directory) and the
    /// user directory (`$XDG_DATA_HOME/patchbay/plugins`, default ~/.local/share/patchbay/plugins).
    public static func standard(environment: [String: String] = ProcessInfo.processInfo.environment) -> PluginDirectories {
        let dataHome = environment["XDG_DATA_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (NSHomeDirectory() + "/.local/share")
        let user = environment["PATCHBAY_USER_PLUGINS"].flatMap { $0.isEmpty ? nil : $0 } ?? (dataHome + "/patchbay/plugins")
        if let path = environment["PATCHBAY_PLUGIN_PATH"], !path.isEmpty {
            let dirs = path.split(separator: ":").map(String.init)
            return PluginDirectories(directories: dirs, installDirectory: user)
        }
        return PluginDirectories(directories: [builtInDirectory, user], installDirectory: user)
    }

    /// The build's plugin output: `.build/plugins` for `.build/debug/patchbay`.
    public static var builtInDirectory: String {
        let executable = Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])
        var directory = executable.resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<3 {
            let candidate = directory.appendingPathComponent("plugins")
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isDirectory), isDirectory.boolValue {
                return candidate.path
            }
            directory = directory.deletingLastPathComponent()
        }
        return executable.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("plugins").path
    }
}

/// Semantic versions ordered as semver orders them (pre-releases before releases).
public struct SemanticVersion: Comparable, Sendable {
    public let core: [Int]
    public let prerelease: String?

    public init?(_ text: String) {
        let withoutBuild = text.split(separator: "+", maxSplits: 1).first.map(String.init) ?? text
        let parts = withoutBuild.split(separator: "-", maxSplits: 1)
        let numbers = parts.first?.split(separator: ".").compactMap { Int($0) } ?? []
        guard numbers.count == 3 else { return nil }
        core = numbers
        prerelease = parts.count > 1 ? String(parts[1]) : nil
    }

    public static func < (a: SemanticVersion, b: SemanticVersion) -> Bool {
        if a.core != b.core { return a.core.lexicographicallyPrecedes(b.core) }
        switch (a.prerelease, b.prerelease) {
        case (nil, nil), (nil, _): return false
        case (_, nil): return true
        case (let x?, let y?): return x < y
        }
    }
}

public enum RegistryError: Error, CustomStringConvertible, Equatable {
    /// `quarantined`: the plugin files that failed their probe, with why (one of them may be the one meant).
    case unknownConnector(String, known: [String], quarantined: [String] = [])
    case unknownVersion(id: String, version: String, available: [String])
    case quarantined(path: String, reason: String)
    case fileNotFound(String)
    case installRefused(path: String, reason: String)
    case io(String)

    public var description: String {
        switch self {
        case .unknownConnector(let id, let known, let quarantined):
            let list = known.isEmpty ? "no connectors are installed" : "installed: \(known.joined(separator: ", "))"
            return "unknown connector '\(id)' (\(list))" + (quarantined.isEmpty ? "" : "; quarantined: \(quarantined.joined(separator: "; "))")
        case .unknownVersion(let id, let version, let available):
            return "connector \(id) has no version \(version) (available: \(available.joined(separator: ", ")))"
        case .quarantined(let path, let reason):
            return "\(path) is quarantined: \(reason)"
        case .fileNotFound(let path):
            return "no such file: \(path)"
        case .installRefused(let path, let reason):
            return "not installing \(path): \(reason)"
        case .io(let message):
            return message
        }
    }
}

func sha256Hex(ofFileAt path: String) throws -> String {
    guard let handle = FileHandle(forReadingAtPath: path) else { throw RegistryError.fileNotFound(path) }
    defer { try? handle.close() }
    var hasher = SHA256()
    while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
        hasher.update(data: chunk)
    }
    return hasher.finalize().map { String(format: "%02x", $0) }.joined()
}
