import Foundation
import PatchbayCore
import PatchbayRunner
import PatchbayStore
import Synchronization

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
            // Status checks that were waiting between checks resume in a retry of the run, where they were;
            // not when the run was being terminated, or when nothing could execute the retry.
            let canResume = run.status != .terminating && resumption.withLock { $0 != nil }
            var polls: [String: (job: Int64, progress: PollProgress)] = [:]
            for job in (try? store.jobs(run: run.id!)) ?? [] where !job.status.isFinished {
                if let runnerPID = job.runnerPID, let runnerStart = job.runnerStart,
                   ProcessIdentity(pid: runnerPID, startTicks: runnerStart).isAlive {
                    ProcessIdentity.killSession(runnerPID)
                }
                let started = job.status.hasStarted
                let poll = canResume && started ? (try? store.pollProgress(job: job.id!)) : nil
                if let poll { polls[job.taskID] = (job.id!, poll) }
                let completion = started
                    ? JobCompletion(status: .terminated, failureClass: .transient,
                                    message: "\(reason); " + (poll.map { "its status check (\($0.checks) checks, not ready) resumes in a retry of the run" }
                                                                  ?? "the job was stopped and nothing it produced was committed"))
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
            if !polls.isEmpty, let resumed = resume(run.id!, polls: polls) {
                notes.append("run \(resumed) resumes run \(run.id!)'s status check\(polls.count == 1 ? "" : "s") (\(polls.keys.sorted().joined(separator: ", "))) in the background")
            }
        }
        recoverStaging()
        WorkspacePool.sweepAbandoned(root: project.workDirectory)
        return notes
    }

    /// Submits a retry of a run whose host died while status checks waited, gives each check's job in it the
    /// progress of the one it continues (checks made, deadline, next check, carried state), and hands it to the
    /// process that executes resumed runs. Returns the retry's id, or nil when none could be made or started.
    private func resume(_ runID: Int64, polls: [String: (job: Int64, progress: PollProgress)]) -> Int64? {
        guard let start = resumption.withLock({ $0 }), let retry = try? submitRetry(of: runID, trigger: "resume") else { return nil }
        for job in (try? store.jobs(run: retry.id!)) ?? [] {
            guard let old = polls[job.taskID] else { continue }
            try? store.carryPoll(from: old.job, to: job.id!)
            try? store.clearPoll(job: old.job)  // the ended job has nothing left to resume
        }
        // Until the started process adopts the run, this one is its host: wait for that (briefly), so that a
        // recovery after this process ends does not take the run for one whose host died.
        guard let pid = start(retry.id!) else { return nil }
        let until = Date().addingTimeInterval(5)
        while Date() < until, (try? store.run(retry.id!))?.hostPID != pid, ProcessIdentity(pid: pid) != nil {
            usleep(10_000)
        }
        return retry.id!
    }

    /// How runs that recovery makes to resume status checks get executed: `start` is given the run's id, starts
    /// a process that calls `adopt(run:)` and `execute` (the CLI: `patchbay jobs resume RUN` in the background),
    /// and returns its pid, or nil if none started. Without it, recovery ends such runs as it ends any other.
    public func resumeRuns(with start: @escaping @Sendable (Int64) -> Int32?) {
        resumption.withLock { $0 = start }
    }

    /// Makes this process the one that executes `runID`, a run not started yet (one recovery made to resume a
    /// status check). Throws when the run has started, ended or does not exist.
    public func adopt(run runID: Int64) throws -> RunRecord {
        let me = ProcessIdentity.current
        guard let run = try store.adopt(run: runID, host: me.pid, start: me.startTicks) else {
            let status = try store.run(runID)?.status
            throw EngineError.cannotRetry(status.map { "run \(runID) is \($0.rawValue): only a run that has not started can be resumed" } ?? "there is no run \(runID)")
        }
        return run
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
