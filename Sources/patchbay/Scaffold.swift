// What `patchbay init` writes into a new project: the marker, an example flow that runs with the
// first-party connectors, a shared configuration, a .gitignore. The CLI's alone: the Engine needs only
// the project's directories, which it makes itself.
import Foundation
import PatchbayEngine

enum Scaffold {
    /// Writes a new project: marker, an example flow that runs with the first-party connectors,
    /// a shared configuration, and a .gitignore for the store. Existing files are never overwritten.
    static func write(at root: String, name: String) throws -> (Project, created: [String]) {
        let project = Project(root: root)
        try FileManager.default.createDirectory(atPath: project.root, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: project.flowsDirectory, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: project.configurationDirectory, withIntermediateDirectories: true)
        var created: [String] = []
        let files: [(String, String)] = [
            (Project.markerFile, """
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
