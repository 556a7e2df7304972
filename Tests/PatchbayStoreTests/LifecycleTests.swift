import Foundation
import GRDB
import PatchbayCore
import PatchbayStore
import Testing

/// A store in a fresh temporary directory, removed when the test ends.
struct TemporaryStore: ~Copyable {
    let directory: String
    let store: Store

    init() throws {
        directory = NSTemporaryDirectory() + "patchbay-store-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        store = try Store(path: directory + "/store.sqlite")
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    /// A run of one job, both `created`.
    func run() throws -> (RunRecord, JobRecord) {
        let now = Date()
        let run = RunRecord(flowName: "f", flowFile: "f.yaml", flowJSON: "{}", status: .created, trigger: "manual", retryOf: nil,
                            onlyTasks: nil, parallelism: 1, hostPID: nil, hostStart: nil, createdAt: now)
        let job = JobRecord(runID: 0, taskID: "t", taskName: "t", phaseID: "p", phaseIndex: 0, attempt: 1, connectorID: "c",
                            configurationID: nil, configurationKey: "f/t", continueOnFailure: false, status: .created, createdAt: now)
        let (stored, jobs) = try store.insert(run: run, jobs: [job])
        return (stored, jobs[0])
    }
}

@Suite("The one table of status moves, kept by the store")
struct LifecycleTests {
    @Test("a finished status is final, an unfinished one can always be stopped", arguments: JobStatus.allCases)
    func finishedIsFinal(status: JobStatus) {
        if status.isFinished {
            #expect(JobStatus.allCases.allSatisfy { !status.canMove(to: $0) })
        } else {
            #expect(status.canMove(to: .terminated) || status.canMove(to: .cancelled))
            #expect(status == .created || !status.canMove(to: .created))
        }
    }

    @Test("started work is terminated, never cancelled or skipped; unstarted work may be", arguments: [
        (JobStatus.processing, JobStatus.cancelled, false), (.processing, .skipped, false), (.processing, .waiting, false),
        (.created, .cancelled, true), (.waiting, .cancelled, true), (.created, .skipped, true),
        (.terminating, .terminated, true), (.terminating, .processing, false), (.processing, .terminating, true),
    ])
    func moves(from: JobStatus, to: JobStatus, allowed: Bool) {
        #expect(from.canMove(to: to) == allowed)
        #expect(JobStatus.sources(of: to).contains(from) == allowed)
    }

    @Test("a finished job is never reopened: a late completion is refused and the stored row is unchanged")
    func lateCompletionIsRefused() throws {
        // Given a job that succeeded
        let test = try TemporaryStore()
        let (_, job) = try test.run()
        _ = try test.store.update(job: job, to: .processing)
        let done = try test.store.complete(job: job, with: JobCompletion(status: .success, message: "done"))
        // When a late writer (recovery of a host it thought dead) records it terminated
        #expect {
            _ = try test.store.complete(job: job, with: JobCompletion(status: .terminated, failureClass: .transient, message: "late"))
        } throws: { error in
            (error as? TransitionError)?.description == "job \(job.id!) is success and cannot become terminated"
        }
        #expect(throws: TransitionError.self) { _ = try test.store.update(job: job, to: .processing) }
        // Then the row is as the first writer left it
        #expect(try test.store.job(job.id!) == done)
    }

    @Test("a finished run keeps its status: a termination request changes nothing, a status move is refused")
    func finishedRunIsFinal() throws {
        // Given a run that succeeded
        let test = try TemporaryStore()
        let (run, _) = try test.run()
        try test.store.update(run: run.id!, to: .processing)
        try test.store.update(run: run.id!, to: .success)
        // When it is asked to stop, Then it answers with its status and stays as it was
        #expect(try test.store.requestTermination(run: run.id!) == .success)
        #expect(try test.store.run(run.id!)?.status == .success)
        #expect(throws: TransitionError.self) { try test.store.update(run: run.id!, to: .terminated) }
        // And a run that is not there is named so
        #expect { try test.store.update(run: 999, to: .processing) } throws: { "\($0)" == "run 999 does not exist" }
    }

    @Test("a store written by a newer Patchbay is refused, not migrated or misread")
    func newerDatabaseIsRefused() throws {
        // Given a store with a migration this version does not know
        let test = try TemporaryStore()
        let path = test.store.path
        let queue = try DatabaseQueue(path: path)
        try queue.inDatabase { db in try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v99: from the future')") }
        try queue.close()
        // When it is opened, Then it is refused with the reason
        #expect {
            _ = try Store(path: path)
        } throws: { error in
            "\(error)".contains("written by a newer Patchbay") && "\(error)".contains("v99: from the future")
        }
    }
}
