import ArgumentParser
import PatchbayModel
import PatchbayCore
import Foundation
import PatchbayEngine
import Synchronization

struct ValidateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check a flow without running it: structure, references, connectors and parameters.",
        discussion: """
            Every problem is printed as FILE:LINE:COLUMN: FIELD: WHAT. Nothing is written: plain '#' values are reported, and `patchbay run` or `patchbay seal` encrypts them in place.

            \(ExitCode.documentation(for: ExitCode.projectCodes))
            """)

    @Argument(help: ArgumentHelp("The flow file, or its name in flows/.", valueName: "flow")) var flow: String
    @OptionGroup var project: ProjectOptions
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await reportingErrors {
            let engine = try project.engine(global)
            let loaded = try await engine.load(flowFile: engine.project.flowFile(flow), sealFiles: false, notes: printNote)
            if global.output == .json {
                printJSON(["valid": true, "flow": loaded.name, "format": loaded.format, "phases": loaded.phases.map(\.id),
                           "tasks": loaded.tasks.map(\.id)])
                return
            }
            print("✓ \(loaded.name) (\(loaded.format)): \(loaded.phases.count) phases, \(loaded.tasks.count) tasks, valid")
            for phase in loaded.phases {
                let tasks = loaded.tasks(in: phase.id).map { $0.enabled ? $0.id : "\($0.id) (disabled)" }
                print("  \(phase.id): \(tasks.joined(separator: ", "))")
            }
        }
    }
}

struct SealCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seal",
        abstract: "Encrypt the plain '#' values of a flow and its configurations in place.",
        discussion: """
            Each plain value under a '#' key is replaced by a ciphertext bound to its task's connector, in the file it came from; comments, order and layout stay as they were. `patchbay run` does the same before it runs. A value written over several lines is reported, not rewritten: replace it with the output of `patchbay encrypt`.

            \(ExitCode.documentation(for: ExitCode.projectCodes))
            """)

    @Argument(help: ArgumentHelp("The flow file, or its name in flows/.", valueName: "flow")) var flow: String
    @OptionGroup var project: ProjectOptions
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await reportingErrors {
            let engine = try project.engine(global)
            let collected = Mutex<[String]>([])
            let loaded = try await engine.load(flowFile: engine.project.flowFile(flow), sealFiles: true) { note in
                collected.withLock { $0.append(note) }
            }
            let notes = collected.withLock { $0 }
            if global.output == .json {
                printJSON(["flow": loaded.name, "notes": notes])
                return
            }
            if notes.isEmpty { print("\(loaded.name): no plain '#' values; nothing to encrypt") }
            for note in notes { print(note) }
        }
    }
}
