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
    public func flowFile(_ argument: String) -> String {
        let candidates = [argument, flowsDirectory + "/" + argument, flowsDirectory + "/" + argument + ".yaml",
                          flowsDirectory + "/" + argument + ".yml", flowsDirectory + "/" + argument + ".json"]
        for candidate in candidates where FileManager.default.fileExists(atPath: candidate) {
            return URL(fileURLWithPath: candidate).standardizedFileURL.path
        }
        return argument
    }

    // MARK: scaffolding

    /// Writes a new project: marker, an example flow that runs with the first-party connectors,
    /// a shared configuration, and a .gitignore for the store. Existing files are never overwritten.
    public static func create(at root: String, name: String) throws -> (Project, created: [String]) {
        let project = Project(root: root)
        try FileManager.default.createDirectory(atPath: project.root, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: project.flowsDirectory, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: project.configurationDirectory, withIntermediateDirectories: true)
        var created: [String] = []
        let files: [(String, String)] = [
            (markerFile, """
                # A Patchbay project. Flows live in flows/, shared configurations in configurations/,
                # committed tables in tables/, and the job store in .patchbay/ (keep it out of git).
                name: \(name)

                """),
            (".gitignore", ".patchbay/\ntables/\n"),
            ("configurations/orders-source.yaml", """
                # A configuration shared by every task that names it: same connector, same parameters,
                # and jobs of one configuration never run at once, in any flow.
                connector: dev.patchbay.sample-data
                parameters:
                  rows: 5000
                  seed: 7

                """),
            ("flows/orders.yaml", """
                # Extract two copies of the orders, then check that they agree and reuse an output.
                #   patchbay run orders            run it (phases in order, tasks of a phase in parallel)
                #   patchbay jobs show             what happened, job by job
                #   patchbay tables list           the tables it committed
                name: orders
                phases:
                  - id: extract
                    name: Extract
                    tasks:
                      - id: orders
                        configuration: orders-source
                        parameters:
                          table: in.orders
                      - id: orders_replica
                        configuration: orders-source
                        parameters:
                          table: in.orders_replica
                  - id: check
                    name: Validate and derive
                    dependsOn: [extract]
                    tasks:
                      - id: compare
                        connector: dev.patchbay.table-diff
                        inputs:
                          primary: in.orders
                          secondary: in.orders_replica
                        parameters:
                          key: [id]
                          threshold: 0
                          diffTable: out.orders_diff
                      - id: sample
                        connector: dev.patchbay.sample-data
                        parameters:
                          # an output of an earlier phase, filled in when this task starts
                          rows: ${{ tasks.orders.outputs.row_count }}
                          table: out.orders_sample
                          seed: 3

                """),
        ]
        for (relative, content) in files {
            let path = project.root + "/" + relative
            guard !FileManager.default.fileExists(atPath: path) else { continue }
            try content.write(toFile: path, atomically: true, encoding: .utf8)
            created.append(relative)
        }
        try project.prepareDirectories()
        return (project, created)
    }
}
