import ArgumentParser
import Foundation
import PatchbayEngine
import PatchbayRegistry
import PatchbayStore

/// Finds the project a command works on and opens its store. Every command that opens a project
/// first records the end of runs whose host died (kill -9, crash): nothing stays "processing" forever.
struct ProjectOptions: ParsableArguments {
    @Option(name: .customLong("project"), help: ArgumentHelp(
        "The project directory. Default: $PATCHBAY_PROJECT, else the nearest directory upwards with a patchbay.yaml.",
        valueName: "dir"))
    var directory: String?

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

    /// Opens the project's engine, after crash recovery. Notes about recovered runs go to stderr.
    func engine(_ global: GlobalOptions) throws -> Engine {
        let project = try project()
        let store: Store
        do {
            try project.prepareDirectories()
            store = try Store(path: project.storePath)
        } catch {
            throw CLIError("cannot open the store \(project.storePath): \(error)", exitCode: .inputInvalid)
        }
        let engine = try Engine(project: project, store: store, registry: global.registry())
        for note in engine.recover() {
            FileHandle.standardError.write(Data("recovered: \(note)\n".utf8))
        }
        return engine
    }
}

/// Runs an async body and maps the errors every project command can meet to their exit codes.
func reportingErrors<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as CLIError {
        printError(error.description)
        throw error.exitCode
    } catch let error as EngineError {
        switch error {
        case .invalidFlow(let flowError):
            let count = flowError.issues.count
            FileHandle.standardError.write(Data("error: the flow is not valid (\(count) problem\(count == 1 ? "" : "s")):\n".utf8))
            for issue in flowError.issues { FileHandle.standardError.write(Data("  \(issue)\n".utf8)) }
            throw ExitCode.inputInvalid
        case .noSuchRun, .cannotRetry:
            printError(error.description)
            throw ExitCode.inputInvalid
        case .store:
            printError(error.description)
            throw ExitCode.failure
        }
    }
}
