import ArgumentParser
import PatchbayModel
import PatchbayCore
import Foundation
import PatchbayEngine
import Synchronization

struct ValidateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check flows without running them: structure, references, connectors and parameters.",
        discussion: """
            Every problem is printed as FILE:LINE:COLUMN: FIELD: WHAT. Nothing is written: plain '#' values are reported, and `patchbay run` or `patchbay seal` encrypts them in place. With no FLOW, every flow in the project's flows/ is checked (for CI): each one is reported, and the command fails if any is invalid.

            Examples:
              patchbay validate orders
              patchbay validate flows/a.yaml flows/b.json
              patchbay validate                    every flow of the project

            \(ExitCode.documentation(for: ExitCode.projectCodes))
            """)

    @Argument(help: ArgumentHelp("Flow files, or their names in flows/ (default: every flow in flows/).", valueName: "flow"))
    var flows: [String] = []
    @OptionGroup var project: ProjectOptions
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await reportingErrors {
            let engine = try project.engine(global)
            let files: [String] = flows.isEmpty ? engine.project.flowFiles() : flows.map { engine.project.flowFile($0) }
            if files.isEmpty {
                throw CLIError("there are no flows in \(engine.project.flowsDirectory)", exitCode: .inputInvalid)
            }
            var results: [[String: Any]] = [], invalid = 0
            for (file, checked, warnings) in try await engine.checkFlows(files, notes: printNote) {
                switch checked {
                case .success(let loaded):
                    results.append(["file": file, "valid": true, "flow": loaded.name, "format": loaded.format,
                                    "phases": loaded.phases.map(\.id), "tasks": loaded.tasks.map(\.id),
                                    "warnings": warnings.map(problemJSON)] as [String: Any])
                    if global.output == .text {
                        print("✓ \(loaded.name) (\(loaded.format)): \(loaded.phases.count) phases, \(loaded.tasks.count) tasks, valid"
                              + (warnings.isEmpty ? "" : ", \(warnings.count) warning\(warnings.count == 1 ? "" : "s")"))
                        for phase in loaded.phases {
                            let tasks = loaded.tasks(in: phase.id).map { $0.enabled ? $0.id : "\($0.id) (disabled)" }
                            print("  \(phase.id): \(tasks.joined(separator: ", "))")
                        }
                        for warning in warnings { print("  warning: \(warning)") }
                    }
                case .failure(let flowError):
                    // One flow: its problems are the command's error. Several: each is reported, the others still checked.
                    if files.count == 1 { throw EngineError.invalidFlow(flowError) }
                    invalid += 1
                    results.append(["file": file, "valid": false, "problems": flowError.issues.map(problemJSON)] as [String: Any])
                    if global.output == .text {
                        print("✗ \(file): \(flowError.issues.count) problem\(flowError.issues.count == 1 ? "" : "s")")
                        for issue in flowError.issues { print("  \(issue)") }
                    }
                }
            }
            if global.output == .json {
                let single = files.count == 1 && flows.count == 1
                printJSON(single ? results[0] : ["flows": results] as [String: Any])
            }
            if invalid > 0 {
                if global.output == .text { print("\(invalid) of \(files.count) flows are invalid") }
                throw ExitCode.inputInvalid
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
