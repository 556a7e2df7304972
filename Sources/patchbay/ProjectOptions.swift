import ArgumentParser
import PatchbayModel
import PatchbayCore
import Foundation
import PatchbayEngine
import PatchbayRegistry
import PatchbayRunner
import PatchbaySecurity
import Synchronization

/// Finds the project a command works on and opens its store. Every command that opens a project
/// first records the end of runs whose host died (kill -9, crash): nothing stays "processing" forever.
struct ProjectOptions: ParsableArguments {
    @Option(name: .customLong("project"), help: ArgumentHelp(
        "The project directory. Default: $PATCHBAY_PROJECT, else the nearest directory upwards with a patchbay.yaml.",
        valueName: "dir"))
    var directory: String?

    @Option(help: ArgumentHelp(
        "The token to act as. Default: $PATCHBAY_TOKEN, else the project's master token (.patchbay/master-token, made by init).",
        valueName: "secret"))
    var token: String?

    func project() throws -> Project {
        if let directory = directory ?? ProcessInfo.processInfo.environment["PATCHBAY_PROJECT"] {
            let project = Project(root: directory)
            guard FileManager.default.fileExists(atPath: project.root + "/" + Project.markerFile) else {
                throw CLIError("\(project.root) is not a Patchbay project (no \(Project.markerFile)); create one with: patchbay init \(directory)",
                               exitCode: .inputInvalid)
            }
            return project
        }
        guard let project = Project.locate(from: FileManager.default.currentDirectoryPath) else {
            throw CLIError("no Patchbay project here or above (no \(Project.markerFile)); create one with `patchbay init DIR` or pass --project DIR",
                           exitCode: .inputInvalid)
        }
        return project
    }

    /// What a command needs its token to allow.
    enum Need {
        case read, runOrchestrations, manageTokens

        var wording: String {
            switch self {
            case .read: "read this project"
            case .runOrchestrations: "run orchestrations (create it with --can-run-orchestrations)"
            case .manageTokens: "manage tokens and credentials (create it with --can-manage-tokens)"
            }
        }
    }

    /// Opens the project's engine as a token that may do what the command needs.
    func engine(_ global: GlobalOptions, needs: Need = .read) throws -> Engine { try session(global, needs: needs).engine }

    /// The engine, and the token the command acts as (refused with a clear message if revoked,
    /// expired, unknown, or lacking the scope).
    func session(_ global: GlobalOptions, needs: Need, resumingHere: ResumedRuns? = nil) throws -> (engine: Engine, caller: Caller) {
        let engine = try openEngine(global, resumingHere: resumingHere)
        let project = engine.project
        var secret = token ?? ProcessInfo.processInfo.environment["PATCHBAY_TOKEN"]
        if secret == nil, FileManager.default.fileExists(atPath: project.masterTokenPath) {
            secret = String(decoding: try readPrivateFile(project.masterTokenPath, what: "master token"), as: UTF8.self)
        }
        let caller = try engine.authenticate(secret)
        let allowed = switch needs {
        case .read: true
        case .runOrchestrations: caller.scopes.isMaster || caller.scopes.canRunOrchestrations
        case .manageTokens: caller.scopes.isMaster || caller.scopes.canManageTokens
        }
        guard allowed else { throw AccessError.lacks(caller.token.name, needs.wording) }
        if needs == .runOrchestrations { engine.prepareToRunTasks() }
        return (engine, caller)
    }

    /// Opens the project's engine, after crash recovery. Notes about recovered runs go to stderr.
    /// `resumingHere`: status checks whose host died resume in this process (the daemon), not in one of their own.
    private func openEngine(_ global: GlobalOptions, resumingHere: ResumedRuns? = nil) throws -> Engine {
        let engine = try Engine(project: try project(), registry: global.registry(), waiting: printNote)
        // A status check that waited when its host died resumes in a retry of its run, executed by a
        // `patchbay jobs resume` of its own that outlives this command; its output goes to a log beside the store.
        let root = engine.project.root, logs = engine.project.stateDirectory
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let plugins = global.pluginDirectories.flatMap { ["--plugin-dir", $0] }
        if let resumingHere {
            engine.resumeRuns { run in
                guard let adopted = try? engine.adopt(run: run) else { return nil }
                resumingHere.runs.withLock { $0.append(adopted) }
                return ProcessIdentity.current.pid
            }
        } else {
            engine.resumeRuns { run in
                let started = Spawner.startDetached(executable: executable, arguments: ["jobs", "resume", String(run), "--project", root] + plugins,
                                                    log: logs + "/resume-run-\(run).log")
                return try? started.get()
            }
        }
        for note in engine.recover() {
            writeStandardError("recovered: \(note)\n")
        }
        return engine
    }
}

/// Runs that recovery resumed and this process adopted, for the daemon to execute.
final class ResumedRuns: Sendable {
    let runs = Mutex<[RunRecord]>([])
}

/// Runs an async body and maps the errors every project command can meet to their exit codes.
func reportingErrors<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as CLIError {
        printError(error)
        throw error.exitCode
    } catch let error as AccessError {
        printError(error)
        switch error {
        case .noSuchToken, .orchestrationHasToken, .orchestrationToken: throw ExitCode.inputInvalid
        case .noToken, .unknownToken, .revoked, .expired, .lacks: throw ExitCode.accessDenied
        }
    } catch let error as SecurityError {
        printError(error)
        throw ExitCode.accessDenied
    } catch let error as EngineError {
        switch error {
        case .invalidFlow(let flowError):
            let count = flowError.issues.count
            writeStandardError("error: the flow is not valid (\(count) problem\(count == 1 ? "" : "s")):\n")
            for issue in flowError.issues { writeStandardError("  \(issue)\n") }
            let hint = hint(for: error)
            if let hint { writeStandardError("hint: \(hint)\n") }
            if OutputFormat.errorsAsJSON.load(ordering: .relaxed) {
                var object: [String: Any] = ["error": "the flow is not valid (\(count) problem\(count == 1 ? "" : "s"))",
                                             "problems": flowError.issues.map(problemJSON)]
                if let hint { object["hint"] = hint }
                printJSON(object)
            }
            throw ExitCode.inputInvalid
        case .invalidProject(let problems):
            writeStandardError("error: the project file is not valid (\(problems.issues.count) problem\(problems.issues.count == 1 ? "" : "s")):\n")
            for issue in problems.issues { writeStandardError("  \(issue)\n") }
            if OutputFormat.errorsAsJSON.load(ordering: .relaxed) {
                printJSON(["error": "the project file is not valid", "problems": problems.issues.map(problemJSON)] as [String: Any])
            }
            throw ExitCode.inputInvalid
        case .noSuchRun, .noRuns, .noSuchTable, .noSuchTask, .cannotRetry:
            printError(error)
            throw ExitCode.inputInvalid
        case .store:
            printError(error)
            throw ExitCode.storeFailed
        }
    }
}
