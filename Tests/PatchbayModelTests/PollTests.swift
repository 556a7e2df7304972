import PatchbayCore
import PatchbayModel
import Testing

/// `poll:` in a flow file: durations with units, and only where a status check reads it.
@Suite("A task's poll policy")
struct PollTests {
    static func flow(_ poll: String) -> String {
        """
        name: p
        phases:
          - id: wait
            tasks:
              - {id: ready, connector: dev.example.check, poll: \(poll)}
        """
    }

    @Test("interval and timeout take seconds or a number with a unit", arguments: [
        ("{interval: 30, timeout: 600}", Duration.seconds(30), Duration.seconds(600)),
        ("{interval: 0.5, timeout: 2h}", .milliseconds(500), .seconds(7200)),
        ("{interval: 500ms, timeout: 5m}", .milliseconds(500), .seconds(300)),
        ("{interval: 1.5m}", .seconds(90), .seconds(600)),
    ])
    func durations(_ poll: String, interval: Duration, timeout: Duration) throws {
        // Given a flow whose task polls, When it is loaded, Then the policy is exactly what was written (defaults for the rest)
        let task = try #require(try FlowLoader().load(text: Self.flow(poll), file: "p.yaml").tasks.first)
        #expect(task.poll == PollPolicy(interval: interval, timeout: timeout))
    }

    @Test("a duration that is not one is refused at its line and column, saying what to write")
    func badDuration() throws {
        // Given a poll interval in words, When the flow is loaded, Then the error names the file, line, column and field
        let error = #expect(throws: FlowError.self) { try FlowLoader().load(text: Self.flow("{interval: 5 minutes}"), file: "p.yaml") }
        let text = error?.description ?? ""
        #expect(text.contains("p.yaml:5:") && text.contains("poll.interval") && text.contains("'5 minutes' is not a duration"), "\(text)")
    }

    @Test("poll on a connector that is not a status check is a validation error, not silence")
    func pollOnExtraction() throws {
        // Given a flow that polls an extraction connector
        let flow = try FlowLoader().load(text: Self.flow("{interval: 5}"), file: "p.yaml")
        let reference = try #require(flow.tasks.first?.connector)
        // When it is validated against what the registry knows of the connector
        let extraction = FlowValidator.check(flow, connectors: [reference: .available(id: "dev.example.check", version: "1.0.0",
                                                                                       parametersSchema: "", pattern: .extraction)])
        let statusCheck = FlowValidator.check(flow, connectors: [reference: .available(id: "dev.example.check", version: "1.0.0",
                                                                                        parametersSchema: "", pattern: .statusCheck)])
        // Then only the extraction is refused, at the task's poll field
        #expect(extraction.map(\.path) == ["tasks.ready.poll"])
        #expect(extraction.first?.message.contains("poll applies only to status_check connectors") == true)
        #expect(statusCheck.isEmpty)
    }
}
