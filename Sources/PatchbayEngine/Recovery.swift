import Foundation
import PatchbayCore
import PatchbayRunner
import PatchbayStore

extension Engine {
    /// Finds runs whose host process is gone (killed, crashed, machine restarted) and records how they
    /// ended: running jobs `terminated` with the reason, never-started jobs `cancelled`, their runner
    /// processes killed, staged tables of unfinished jobs discarded. Runs of live hosts are left alone,
    /// so queued runs stay queued. Called by every command that opens a project; cheap when all is well.
    /// Returns one line per run it closed.
    @discardableResult
    public func recover() -> [String] {
        var notes: [String] = []
        for run in (try? store.unfinishedRuns()) ?? [] {
            guard let pid = run.hostPID, let start = run.hostStart else { continue }
            if ProcessIdentity(pid: pid, startTicks: start).isAlive { continue }
            let reason = "the host process (pid \(pid)) died while the run was in progress (killed or crashed)"
            var stopped = 0
            for job in (try? store.jobs(run: run.id!)) ?? [] where !job.status.isFinished {
                if let runnerPID = job.runnerPID, let runnerStart = job.runnerStart,
                   ProcessIdentity(pid: runnerPID, startTicks: runnerStart).isAlive {
                    ProcessIdentity.killSession(runnerPID)
                }
                let started = job.status.hasStarted
                let completion = started
                    ? JobCompletion(status: .terminated, failureClass: .transient,
                                    message: "\(reason); the job was stopped and nothing it produced was committed")
                    : JobCompletion(status: .cancelled, message: "not started: \(reason)")
                _ = try? store.complete(job: job, with: completion)
                removeTree(stagingDirectory(job: job.id!))
                if started { stopped += 1 }
            }
            let everStarted = run.status.hasStarted
            let status: JobStatus = everStarted ? .terminated : .cancelled
            let message = everStarted ? "\(reason); \(stopped) running job(s) terminated"
                : "the host process (pid \(pid)) died before the run started; a retry of it runs it"
            try? store.update(run: run.id!, to: status, message: message)
            notes.append("run \(run.id!) (\(run.flowName)): \(status.rawValue) — \(message)")
        }
        recoverStaging()
        WorkspacePool.sweepAbandoned(root: project.workDirectory)
        return notes
    }

    /// A host killed between recording a success and moving its tables leaves them staged: finish the move.
    /// Staged tables of jobs that did not succeed (and whose host is gone) are deleted.
    private func recoverStaging() {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: project.stagingDirectory) else { return }
        for entry in entries where entry.hasPrefix("job-") {
            guard let id = Int64(entry.dropFirst(4)), let job = try? store.job(id) else {
                removeTree(project.stagingDirectory + "/" + entry)
                continue
            }
            if job.status == .success {
                publishStagedTables(job: id)
            } else if job.status.isFinished {
                removeTree(stagingDirectory(job: id))
            }
        }
    }
}
