import ArgumentParser
import PatchbayRegistry
import PatchbayRunner
import PatchbayStore

/// Every exit code the CLI uses, in one place.
extension ExitCode {
    /// The connector ran and reported a failure (config, transient or system error), or was cancelled.
    static let taskFailed = ExitCode(1)
    /// The connector crashed, timed out, ran out of memory or processes, or broke the protocol.
    static let taskAborted = ExitCode(2)
    /// The plugin could not be found, or refused to load (not ELF, ABI mismatch, missing symbol, ...).
    static let pluginUnavailable = ExitCode(3)
    /// A file the command needs is missing or malformed.
    static let inputInvalid = ExitCode(4)
    /// A run ended in `warning`: a task with continueOnFailure failed, the others went on.
    static let runWarning = ExitCode(5)
    /// A run was terminated on request (or its host died), or cancelled before it started.
    static let runTerminated = ExitCode(6)
    /// The token is missing, unknown, revoked or expired, or may not do this; or a key file is not private.
    static let accessDenied = ExitCode(7)
    // 64: invalid command line (ArgumentParser's ValidationError).

    static let documentation = """
        Exit codes: 0 success · 1 the task failed or was cancelled · 2 the task crashed, timed out,
        ran out of memory or processes, or broke the protocol · 3 unknown plugin, or it refused to load ·
        4 an input file is missing or malformed · 64 invalid command line.
        """

    static let runDocumentation = """
        Exit codes: 0 the run ended in success · 1 error (a task failed; later phases were cancelled) ·
        4 the flow or a file is invalid, or no such run · 5 warning (a task with continueOnFailure failed) ·
        6 terminated (on request, or its host died) or cancelled · 7 the token was refused ·
        64 invalid command line.
        """

    static func forRun(_ status: JobStatus) -> ExitCode {
        switch status {
        case .success: .success
        case .warning: .runWarning
        case .terminated, .terminating, .cancelled: .runTerminated
        default: .taskFailed
        }
    }

    static func forTask(_ classification: ExitClassification) -> ExitCode {
        switch classification {
        case .succeeded, .pending: .success
        case .failed, .cancelled: .taskFailed
        case .crashed, .exited, .timedOut, .outOfMemory, .processLimit, .protocolViolation: .taskAborted
        case .refusedToLoad, .runnerUnavailable: .pluginUnavailable
        }
    }
}

/// An error the CLI prints as one line and maps to an exit code.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    let exitCode: ExitCode

    init(_ description: String, exitCode: ExitCode) {
        self.description = description
        self.exitCode = exitCode
    }
}

extension CLIError {
    init(_ error: RegistryError) {
        switch error {
        case .fileNotFound: self.init(error.description, exitCode: .inputInvalid)
        default: self.init(error.description, exitCode: .pluginUnavailable)
        }
    }
}
