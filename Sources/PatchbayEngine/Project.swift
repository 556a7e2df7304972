// PatchbayEngine — runs orchestrations: the parallel phase runner, run and job states, per-configuration
// and per-flow locks, retries, termination, task-output hand-off, pattern semantics (status_check polling),
// atomic table commits and crash recovery. It must never know HTTP or the CLI; it talks to SQLite only
// through PatchbayStore and to connectors only through PatchbayRunner.
import Foundation

/// A project on disk: flows, shared configurations, the table files and the store.
///
///     patchbay.yaml            marks the project root
///     flows/*.yaml             orchestrations
///     configurations/ID.yaml   configurations shared by tasks (connector + parameters)
///     tables/BUCKET.TABLE.csv  tables committed by succeeded jobs
///     .patchbay/               the SQLite store, locks, staging and task workspaces (not for git)
public struct Project: Sendable {
    public let root: String

    public init(root: String) {
        self.root = URL(fileURLWithPath: root).standardizedFileURL.path
    }

    public static let markerFile = "patchbay.yaml"

    public var configurationDirectory: String { root + "/configurations" }
    public var flowsDirectory: String { root + "/flows" }
    public var tablesDirectory: String { root + "/tables" }
    public var stateDirectory: String { root + "/.patchbay" }
    public var storePath: String { stateDirectory + "/patchbay.sqlite" }
    public var locksDirectory: String { stateDirectory + "/locks" }
    public var stagingDirectory: String { stateDirectory + "/staging" }
    public var workDirectory: String { stateDirectory + "/work" }
    /// The host's master key (0600): encrypts `#` values and named credentials.
    public var masterKeyPath: String { stateDirectory + "/master.key" }
    /// The master token's secret, for the local CLI only (0600).
    public var masterTokenPath: String { stateDirectory + "/master-token" }

    /// The project that contains `directory` (it or the nearest parent with a patchbay.yaml).
    public static func locate(from directory: String) -> Project? {
        var url = URL(fileURLWithPath: directory).standardizedFileURL
        while true {
            if FileManager.default.fileExists(atPath: url.path + "/" + markerFile) { return Project(root: url.path) }
            let parent = url.deletingLastPathComponent()
            if parent.path == url.path { return nil }
            url = parent
        }
    }

    /// Creates the working directories (idempotent).
    public func prepareDirectories() throws {
        for directory in [tablesDirectory, stateDirectory, locksDirectory, stagingDirectory, workDirectory] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
    }

    /// The CSV file of a table in the catalog.
    public func tableFile(_ name: String) -> String { tablesDirectory + "/" + name + ".csv" }

    /// Resolves a flow argument: a path, or a name in flows/ (with or without .yaml/.json).
    /// Every flow file in flows/ (YAML and Keboola JSON), sorted by name.
    public func flowFiles() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: flowsDirectory)) ?? []
        return names.filter { name in !name.hasPrefix(".") && [".yaml", ".yml", ".json"].contains { name.hasSuffix($0) } }
            .sorted().map { flowsDirectory + "/" + $0 }
    }

    public func flowFile(_ argument: String) -> String {
        let candidates = [argument, flowsDirectory + "/" + argument, flowsDirectory + "/" + argument + ".yaml",
                          flowsDirectory + "/" + argument + ".yml", flowsDirectory + "/" + argument + ".json"]
        for candidate in candidates where FileManager.default.fileExists(atPath: candidate) {
            return URL(fileURLWithPath: candidate).standardizedFileURL.path
        }
        return argument
    }
}
