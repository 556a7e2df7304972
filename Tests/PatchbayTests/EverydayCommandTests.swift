import Foundation
import PatchbayCore
import PatchbayEngine
import Testing

/// Everyday commands that behave, through the real CLI on a real project.
@Suite("Everyday commands")
struct EverydayCommandTests {
    static let flows = [
        "flows/three.yaml": """
            name: three
            phases:
              - id: p
                tasks:
                  - {id: a, connector: dev.patchbay.noop}
                  - {id: b, connector: dev.patchbay.noop}
                  - {id: c, connector: dev.patchbay.noop, continueOnFailure: true, parameters: {fail: transient, fail_message: the source said 503}}
            """,
        "flows/other.yaml": "name: other\nphases:\n  - id: p\n    tasks:\n      - {id: only, connector: dev.patchbay.noop}\n",
    ]

    @Test("repeated --only flags add up: the tasks named by all of them run, the rest are skipped")
    func onlyAddsUp() throws {
        // Given a flow of three tasks
        let project = try TestProject(files: Self.flows)
        defer { project.remove() }
        // When it runs with two --only flags
        let run = try project.patchbay(["run", "three", "--only", "a", "--only", "b", "--output", "json"])
        // Then a and b ran, and c was skipped
        #expect(run.status == 0, "\(run.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        let statuses = Dictionary(uniqueKeysWithValues: (json["jobs"] as? [[String: Any]] ?? []).map { ($0["task"] as! String, $0["status"] as! String) })
        #expect(statuses == ["a": "success", "b": "success", "c": "skipped"], "\(statuses)")
    }

    @Test("a failed job's failure is its last log line at error level, and an unknown --task is an error listing the tasks")
    func failureIsLoggedAndTasksAreChecked() throws {
        // Given a run in which task c failed
        let project = try TestProject(files: Self.flows)
        defer { project.remove() }
        _ = try project.patchbay(["run", "three"])
        // When its log is asked for, and the log of a task the run does not have
        let logs = try project.patchbay(["jobs", "logs", "--task", "c", "--level", "error"])
        let unknown = try project.patchbay(["jobs", "logs", "--task", "nosuch"])
        // Then the failure is there, at error level, with its class and message
        #expect(logs.status == 0)
        #expect(logs.stdout.contains("error") && logs.stdout.contains("the job ended error (transient error): failed (transient error): the source said 503"), "\(logs.stdout)")
        // And the unknown task is refused, with the tasks that exist and the command that shows them
        #expect(unknown.status == 4, "\(unknown.stdout)")
        #expect(unknown.stderr.contains("has no task 'nosuch'; its tasks: a, b, c"), "\(unknown.stderr)")
        #expect(unknown.stderr.contains("hint: `patchbay jobs show"), "\(unknown.stderr)")
    }

    @Test("validate with no flow checks every flow of the project, reports each, and fails if any is invalid")
    func validateEveryFlow() throws {
        // Given a project with two valid flows
        let project = try TestProject(files: Self.flows)
        defer { project.remove() }
        let valid = try project.patchbay(["validate"])
        #expect(valid.status == 0, "\(valid.stdout)\(valid.stderr)")
        #expect(valid.stdout.contains("✓ three") && valid.stdout.contains("✓ other"), "\(valid.stdout)")
        // When a third one has a typo
        try "name: typo\nphases:\n  - id: p\n    tasks:\n      - {id: t, conector: dev.patchbay.noop}\n"
            .write(toFile: project.project.root + "/flows/typo.yaml", atomically: true, encoding: .utf8)
        let invalid = try project.patchbay(["validate"])
        // Then it is named with line, column and the fix, the others are still checked, and the command fails
        #expect(invalid.status == 4)
        #expect(invalid.stdout.contains("typo.yaml:5:17: phases[0].tasks[0].conector: unknown field (did you mean 'connector'?)"), "\(invalid.stdout)")
        #expect(invalid.stdout.contains("✓ three") && invalid.stdout.contains("1 of 3 flows are invalid"), "\(invalid.stdout)")
    }

    @Test("a reader that closes stdout (`run F | head -1`) does not kill the run: every job finishes and is recorded")
    func closedStandardOutput() throws {
        // Given a run whose stdout is a pipe that nobody reads, closed at once
        let project = try TestProject(files: Self.flows)
        defer { project.remove() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Fixtures.patchbay)
        process.arguments = ["run", "three"] + (try project.cliOptions)
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try pipe.fileHandleForReading.close()
        // When it runs to its end
        try process.run()
        process.waitUntilExit()
        // Then it ended as the run did (warning: c failed with continueOnFailure), not of SIGPIPE
        #expect(process.terminationReason == .exit && process.terminationStatus == 5, "\(process.terminationReason) \(process.terminationStatus)")
        let shown = try project.patchbay(["jobs", "show", "--output", "json"])
        let json = try #require(try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any])
        #expect(json["status"] as? String == "warning", "\(shown.stdout)")
    }

    @Test("a command leaves no task workspace behind")
    func noWorkspacesLeft() throws {
        // Given a project, When a flow of three tasks runs from the CLI
        let project = try TestProject(files: Self.flows)
        defer { project.remove() }
        _ = try project.patchbay(["run", "three"])
        // Then the work directory holds no task-* directory of that process
        let left = (try? FileManager.default.contentsOfDirectory(atPath: project.project.workDirectory)) ?? []
        #expect(left.filter { $0.hasPrefix("task-") }.isEmpty, "\(left)")
    }

    @Test("with --output json an error is a JSON object on stdout too, and every time carries its offset (Z)")
    func jsonErrorsAndTimes() throws {
        // Given a project with one run
        let project = try TestProject(files: Self.flows)
        defer { project.remove() }
        _ = try project.patchbay(["run", "other"])
        // When a run that does not exist is asked for in JSON
        let missing = try project.patchbay(["jobs", "show", "99999", "--output", "json"])
        // Then stdout holds the error and its hint as JSON, and the exit code is the usual one
        #expect(missing.status == 4)
        let error = try #require(try JSONSerialization.jsonObject(with: Data(missing.stdout.utf8)) as? [String: String], "\(missing.stdout)")
        #expect(error["error"] == "there is no run 99999" && error["hint"]?.contains("jobs list") == true, "\(error)")
        // And the times of a run are RFC 3339 with a Z
        let shown = try project.patchbay(["jobs", "show", "--output", "json"])
        let run = try #require(try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any])
        let started = try #require(run["started_at"] as? String)
        #expect(started.hasSuffix("Z") && started.count == "2026-12-02T01:31:12.822Z".count, "\(started)")
    }

    @Test("jobs retry reads the flow file again, says when it changed, and --as-recorded keeps the old definitions")
    func retryReadsTheFile() throws {
        // Given a run in which task c failed because of its parameters
        let project = try TestProject(files: Self.flows)
        defer { project.remove() }
        _ = try project.patchbay(["run", "three"])
        let failedRun = try #require(try project.store.runs().first?.id)
        // When the file is fixed and the run is retried as recorded, Then c fails again, as it was
        let path = project.project.root + "/flows/three.yaml"
        let fixed = try String(contentsOfFile: path, encoding: .utf8)
            .replacingOccurrences(of: ", parameters: {fail: transient, fail_message: the source said 503}", with: "")
        try fixed.write(toFile: path, atomically: true, encoding: .utf8)
        let recorded = try project.patchbay(["jobs", "retry", String(failedRun), "--as-recorded"])
        #expect(recorded.status == 5, "\(recorded.stdout)\(recorded.stderr)")
        #expect(!recorded.stderr.contains("changed since"))
        // When it is retried plainly, Then the change is named and c succeeds with the file as it is now
        let plain = try project.patchbay(["jobs", "retry", String(failedRun)])
        #expect(plain.status == 0, "\(plain.stdout)\(plain.stderr)")
        #expect(plain.stderr.contains("three.yaml changed since run \(failedRun): the tasks that re-run use it as it is now"), "\(plain.stderr)")
    }

    @Test("flows list shows every flow of the project with its shape and last run, and an invalid one with its first problem")
    func flowsList() throws {
        // Given a project where one flow ran, one never did, and one is invalid
        let project = try TestProject(files: Self.flows.merging(["flows/broken.yaml": "name: broken\nphases: []\n"]) { $1 })
        defer { project.remove() }
        _ = try project.patchbay(["run", "other"])
        // When the flows are listed
        let text = try project.patchbay(["flows", "list"])
        let json = try project.patchbay(["flows", "list", "--output", "json"])
        // Then each is there as it is
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("other") && text.stdout.contains("run 1 success at"), "\(text.stdout)")
        #expect(text.stdout.contains("three") && text.stdout.contains("never run"), "\(text.stdout)")
        #expect(text.stdout.contains("broken") && text.stdout.contains("✗ not valid"), "\(text.stdout)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        #expect(rows.count == 3 && rows.contains { $0["flow"] as? String == "three" && $0["tasks"] as? Int == 3 })
    }

    @Test("a Keboola orchestration's tasks are shown by name beside their number, and --only takes a name")
    func keboolaTasksByName() throws {
        // Given a Keboola orchestration whose tasks have numeric ids and names
        let project = try TestProject(files: ["flows/k.json": """
            {"phases": [{"id": 1, "name": "Extract"}], "tasks": [
              {"id": 101, "name": "Orders", "phase": 1, "task": {"componentId": "dev.patchbay.noop", "configData": {"parameters": {}}}},
              {"id": 102, "name": "Customers", "phase": 1, "task": {"componentId": "dev.patchbay.noop", "configData": {"parameters": {}}}}
            ]}
            """])
        defer { project.remove() }
        // When it runs with one task chosen by its name
        let run = try project.patchbay(["run", "k", "--only", "Customers"])
        // Then that task ran, the other was skipped, and the lines name each task with its number
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        #expect(run.stdout.contains("Customers (102): success"), "\(run.stdout)")
        let shown = try project.patchbay(["jobs", "show"])
        #expect(shown.stdout.contains("○ Orders (101)") && shown.stdout.contains("✓ Customers (102)"), "\(shown.stdout)")
        // And an unknown one lists the tasks by number and name
        let unknown = try project.patchbay(["run", "k", "--only", "Invoices"])
        #expect(unknown.status == 4 && unknown.stderr.contains("(tasks: 101 (Orders), 102 (Customers))"), "\(unknown.stderr)")
    }
}
