// patchbay — the command line. Commands read like the manual; exit codes live
// in ExitCodes.swift. Must never know: SQL, the wire protocol's bytes.
import ArgumentParser
import PatchbayCore
import PatchbayRunner
#if canImport(Glibc)
import Glibc
#endif

@main
struct Patchbay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "patchbay",
        abstract: "Run data-integration connectors, each isolated in a process of its own.",
        discussion: """
            Connectors are shared libraries built against the Patchbay C ABI (SDK/include/patchbay/connector.h). Every task runs in a `patchbay-runner` process: a crash, hang or memory blow-up of a connector becomes a clear task error and the host keeps going.

            Start here:
              patchbay init demo && cd demo && patchbay run orders
              patchbay doctor          what confinement this machine allows
              patchbay plugins list    connectors found in the plugin directories
              patchbay task run dev.patchbay.sample-data --param rows=5

            \(ExitCode.documentation)
            """,
        version: "0.1.0",
        subcommands: [InitCommand.self, RunCommand.self, ValidateCommand.self, SealCommand.self, FlowsCommand.self, JobsCommand.self, TablesCommand.self,
                      TokensCommand.self, CredentialsCommand.self, EncryptCommand.self,
                      PluginsCommand.self, TaskCommand.self, ScheduleCommand.self, ServeCommand.self, DoctorCommand.self]
    )

    /// A reader that closes our stdout (`patchbay run F | head`) must never kill a run: SIGPIPE is ignored
    /// and writes to a closed pipe are dropped (StandardStreams.swift).
    static func main() async {
        signal(SIGPIPE, SIG_IGN)
        // Whether the command returns or exits with an error code, it leaves no idle workspace or cgroup behind.
        atexit(releaseIdleResourcesAtExit)
        await main(nil)
    }
}

/// Called by exit() on whatever thread exits: nonisolated, unlike a closure written inside `main`, which would
/// inherit the main actor and trap when another thread runs it.
private func releaseIdleResourcesAtExit() {
    TaskRunner.releaseIdleResources()
}
