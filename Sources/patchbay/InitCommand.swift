import ArgumentParser
import PatchbayCore
import Foundation
import PatchbayEngine

struct InitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a project: an example flow, a shared configuration and the job store.",
        discussion: """
            Existing files are left as they are, so running it again is safe.

            Then:
              cd DIR && patchbay run orders      run the example flow
              patchbay jobs show                 what each job did
              patchbay tables list               the tables it committed
            """)

    @Argument(help: ArgumentHelp("Where to create the project.", valueName: "dir")) var directory: String = "."
    @Option(help: "The project's name (default: the directory's name).") var name: String?
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await reportingErrors {
            let absolute = URL(fileURLWithPath: directory).standardizedFileURL
            let (project, created) = try Scaffold.write(at: absolute.path, name: name ?? absolute.lastPathComponent)
            let madeToken = try Engine(project: project, registry: global.registry(), waiting: printNote).bootstrapSecurity() != nil
            if global.output == .json {
                printJSON(["project": project.root, "created": created, "store": project.storePath,
                           "master_token": project.masterTokenPath])
                return
            }
            print("project \(project.root)")
            for file in created { print("  created \(file)") }
            if created.isEmpty { print("  (every file existed already; nothing was overwritten)") }
            print("  store   .patchbay/patchbay.sqlite")
            print("  keys    .patchbay/master.key (encrypts # values), .patchbay/master-token (the CLI's token)\(madeToken ? "" : " — kept")")
            print("          both mode 0600, readable by you only; never commit .patchbay/")
            print("next: cd \(directory) && patchbay run orders")
        }
    }
}
