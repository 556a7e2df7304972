import ArgumentParser
import PatchbayCore
import Foundation
import PatchbayRegistry
import PatchbayRunner

struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Show how tasks are confined on this machine, and where Patchbay looks for things.")

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let mode = ConfinementMode.current
        let runner = TaskRunner.defaultRunnerPath
        let runnerOK = FileManager.default.isExecutableFile(atPath: runner)
        let sandbox = SandboxPolicy.current
        let layers = sandbox.layerStates
        if global.output == .json {
            printJSON(["confinement": mode.description, "runner": runner, "runner_found": runnerOK,
                       "sandbox": layers.map { ["layer": $0.name, "on": $0.on, "detail": $0.detail] },
                       "plugin_directories": global.directories.directories,
                       "install_directory": global.directories.installDirectory,
                       "workspace_root": TaskSpec.defaultWorkspaceRoot])
            return
        }
        print("""
            confinement        \(mode)
            runner             \(runner)\(runnerOK ? "" : "  (NOT FOUND: build with scripts/build, or set PATCHBAY_RUNNER)")
            plugin directories \(global.directories.directories.joined(separator: ", "))
            install directory  \(global.directories.installDirectory)
            workspaces         \(TaskSpec.defaultWorkspaceRoot)
            every task         own process and session, empty environment, private working directory,
                               no new privileges, parent-death signal, no core dumps
            sandbox layers     (every task and probe; PATCHBAY_SANDBOX_OFF=uid,landlock,seccomp turns one off)
            """)
        for layer in layers {
            print("  \(layer.name): \(layer.on ? "on" : "off") (\(layer.detail))")
        }
        print("zygote             \(Spawner.zygoteEnabled ? "on: runners are forked from one pre-started runner (PATCHBAY_ZYGOTE=off spawns each)" : "off (PATCHBAY_ZYGOTE=off): each runner is spawned")")
        if Spawner.zygoteEnabled {
            let preloaded = SandboxPolicy.swiftRuntimeLibraries
            print("  preloads          \(preloaded.isEmpty ? "nothing (the host maps no Swift runtime library)" : preloaded.map { ($0 as NSString).lastPathComponent }.joined(separator: ", ") + ", in the zygote for plugins that link the Swift runtime (the other zygote loads nothing)")")
        }
        if !runnerOK { throw ExitCode.pluginUnavailable }
    }
}
