import Foundation
import PatchbayCore
import GRDB
import PatchbayEngine
import PatchbayStore
import Testing

@Suite("The store: nothing is swallowed, nothing is silent, a log is written in batches")
struct StoreFailureTests {
    @Test("a 20,000-line log is stored whole and in order, in batches rather than a transaction per line")
    func logsAreBatched() async throws {
        // Given a task that logs 20,000 lines
        let test = try TestProject(files: ["flows/chatty.yaml": """
            phases:
              - id: p
                tasks:
                  - {id: chatty, connector: dev.patchbay.noop, parameters: {log_lines: 20000}}
            """])
        defer { test.remove() }
        let before = test.store.writeTransactionCount
        // When it runs
        let (run, jobs) = try await test.run("chatty")
        // Then every line is in the store, in order, and the run cost far fewer transactions than lines
        #expect(run.status == .success)
        let lines = try test.store.logs(job: jobs["chatty"]!.id!).map(\.message).filter { $0.hasPrefix("line ") }
        #expect(lines.count == 20_000)
        #expect(lines.first == "line 1" && lines.last == "line 20000")
        #expect(lines == (1...20_000).map { "line \($0)" })
        let transactions = test.store.writeTransactionCount - before
        #expect(transactions < 500, "\(transactions) write transactions for 20,000 lines")
    }

    @Test("a job whose result cannot be stored fails as a system error, visibly, and so does its run")
    func failedFinalWriteIsRecorded() async throws {
        // Given a store that refuses to record any job as succeeded (a trigger stands in for a full disk)
        let test = try TestProject(files: ["flows/f.yaml": """
            phases:
              - id: p
                tasks:
                  - {id: ok, connector: dev.patchbay.noop}
              - id: later
                tasks:
                  - {id: next, connector: dev.patchbay.noop}
            """])
        defer { test.remove() }
        let queue = try DatabaseQueue(path: test.project.storePath)
        try await queue.write { db in
            try db.execute(sql: """
                CREATE TRIGGER refuse_success BEFORE UPDATE OF status ON jobs WHEN NEW.status = 'success'
                BEGIN SELECT RAISE(ABORT, 'simulated: database or disk is full'); END
                """)
        }
        try queue.close()
        // When the flow runs
        let (run, jobs) = try await test.run("f")
        // Then the job is not left `processing`: it is an error of class system that gives the reason,
        // and the run ends in error without running the later phase
        let job = try #require(jobs["ok"])
        #expect(job.status == .error)
        #expect(job.failureClass == .system)
        #expect(job.message?.contains("the job's result could not be stored") == true, "\(job.message ?? "")")
        #expect(job.message?.contains("simulated: database or disk is full") == true, "\(job.message ?? "")")
        #expect(run.status == .error)
        #expect(jobs["next"]?.status == .cancelled)
    }

    @Test("a command that waits for another process's write lock says so after a second, then goes on")
    func waitingForTheStoreIsNotSilent() async throws {
        // Given another process (here: another connection) holding the store's write lock
        let test = try TestProject(files: ["flows/f.yaml": "phases:\n  - id: p\n    tasks:\n      - {id: a, connector: dev.patchbay.noop}\n"])
        defer { test.remove() }
        let queue = try DatabaseQueue(path: test.project.storePath)
        let locked = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        let holder = Thread {
            try? queue.inDatabase { db in
                try db.execute(sql: "BEGIN IMMEDIATE")
                locked.signal()
                release.wait()
                try db.execute(sql: "COMMIT")
            }
        }
        holder.start()
        locked.wait()
        // When `patchbay run` needs to write
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Fixtures.patchbay)
        process.arguments = ["run", "f"] + (try test.cliOptions)
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // Then it says what it waits for (read as it is written; the lock is held until then)
        var said = ""
        let deadline = Date().addingTimeInterval(30)
        while !said.contains("waiting for another process"), Date() < deadline {
            let chunk = errors.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            said += String(decoding: chunk, as: UTF8.self)
        }
        release.signal()
        said += String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(said.contains("waiting for another process to finish writing to \(test.project.storePath)"), "\(said)")
        // And once the lock is released it goes on: the run succeeds
        #expect(process.terminationStatus == 0, "\(said)")
    }
}
