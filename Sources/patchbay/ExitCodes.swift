import ArgumentParser
import Foundation
import PatchbayCore
import PatchbayRegistry
import PatchbayEngine
import PatchbayRunner

/// Every exit code the CLI uses, in one place: each command's help lists its own from `documented`.
extension ExitCode {
    /// A task or run failed: the connector reported an error, or the task was cancelled.
    static let taskFailed = ExitCode(1)
    /// The connector crashed, timed out, ran out of memory or processes, or broke the protocol.
    static let taskAborted = ExitCode(2)
    /// The plugin could not be found, or refused to load (not ELF, ABI mismatch, missing symbol, ...).
    static let pluginUnavailable = ExitCode(3)
    /// A file the command needs is missing or malformed, or what it names does not exist.
    static let inputInvalid = ExitCode(4)
    /// A run ended in `warning`: a task with continueOnFailure failed, the others went on.
    static let runWarning = ExitCode(5)
    /// A run was terminated (on request, by Ctrl-C, or its host died), or cancelled before it started.
    static let runTerminated = ExitCode(6)
    /// The token is missing, unknown, revoked or expired, or may not do this; or a key file is not private.
    static let accessDenied = ExitCode(7)
    /// The project's store or files could not be read or written (the message says why).
    static let storeFailed = ExitCode(8)
    /// The command gave up waiting (`jobs terminate --wait`).
    static let waitTimedOut = ExitCode(9)
    /// A status check answered PENDING: not ready yet, ask again later (`task run` of a status_check connector).
    static let taskPending = ExitCode(10)

    /// What each code means, in the order help lists them. 64 is ArgumentParser's ValidationError.
    static let documented: [(code: ExitCode, meaning: String)] = [
        (.success, "success"),
        (.taskFailed, "a task failed (the connector reported an error), or was cancelled"),
        (.taskAborted, "a task crashed, timed out, hit a limit, or broke the protocol"),
        (.pluginUnavailable, "unknown plugin, or it refused to load"),
        (.inputInvalid, "a flow or input is invalid or missing; or no such run, token or table"),
        (.runWarning, "the run ended in warning (a task with continueOnFailure failed)"),
        (.runTerminated, "the run was terminated (on request, by Ctrl-C, or its host died)"),
        (.accessDenied, "the token was refused, or a key file is not private"),
        (.storeFailed, "the project's store or files could not be read or written"),
        (.waitTimedOut, "gave up waiting"),
        (.taskPending, "a status check is not ready yet (PENDING): ask again later"),
        (.validationFailure, "invalid command line"),
    ]

    /// The exit-code section of a command's help: one code a line, each shorter than the 80 columns
    /// ArgumentParser wraps at, so no wrapping breaks a phrase (the help tests hold every line to it).
    static func documentation(for codes: [ExitCode]) -> String {
        let lines = documented.filter { entry in codes.contains(entry.code) || entry.code == .validationFailure }
            .map { "  \(String($0.code.rawValue).padding(toLength: 4, withPad: " ", startingAt: 0))\($0.meaning)" }
        return "Exit codes:\n" + lines.joined(separator: "\n")
    }

    /// Every code, for the root command's help.
    static var documentation: String { documentation(for: documented.map(\.code)) }

    /// The codes of commands that open a project (every one may meet these).
    static let projectCodes: [ExitCode] = [.success, .inputInvalid, .accessDenied, .storeFailed]
    /// The codes of commands that execute a run.
    static let runCodes: [ExitCode] = projectCodes + [.taskFailed, .runWarning, .runTerminated]
    /// The codes of `task run`.
    static let taskCodes: [ExitCode] = [.success, .taskFailed, .taskAborted, .pluginUnavailable, .inputInvalid, .taskPending]

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
        case .succeeded: .success
        case .pending: .taskPending
        case .failed, .cancelled: .taskFailed
        case .crashed, .exited, .timedOut, .outOfMemory, .processLimit, .protocolViolation, .refusedSystemCall: .taskAborted
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
