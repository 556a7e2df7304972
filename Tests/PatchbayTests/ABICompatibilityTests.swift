import Foundation
import PatchbayRunner
import PatchbayWire
import Testing

@Suite("Connectors built for any ABI 1.x load forever")
struct ABICompatibilityTests {
    @Test("a connector built against the frozen v1.0 header loads and runs")
    func frozenV1() async throws {
        let report = try await runFixture("frozen_v1")
        #expect(report.classification == .succeeded, "\(report.classification.summary)")
        #expect(report.descriptor?.abiVersion == 0x0001_0000)
        #expect(report.outputs.first?.value == Array("1.0".utf8))
    }

    @Test("the frozen v1.0 header is still a prefix-compatible copy of the current one")
    func frozenHeaderIsUnchanged() throws {
        // Appending to the current header is allowed (a minor); changing what v1.0 published is not.
        let frozen = try String(contentsOfFile: Fixtures.repository + "/Tests/Fixtures/abi-v1.0/patchbay/connector.h", encoding: .utf8)
        let current = try String(contentsOfFile: Fixtures.repository + "/SDK/include/patchbay/connector.h", encoding: .utf8)
        for declaration in ["patchbay_status (*run)(patchbay_task *task, patchbay_error *error);",
                            "uint32_t struct_size;   /* sizeof(patchbay_connector) as the connector compiled it */",
                            "const patchbay_connector *patchbay_connector_entry(const patchbay_host *host);"] {
            #expect(frozen.contains(declaration))
            #expect(current.contains(declaration))
        }
    }

    @Test("a descriptor from a newer minor (larger struct) is accepted; the unknown tail is ignored")
    func newerMinor() async throws {
        let report = try await runFixture("newer_minor")
        #expect(report.classification == .succeeded, "\(report.classification.summary)")
        #expect(report.descriptor?.abiVersion == 0x0001_0005)
        let size = try #require(report.descriptor?.structSize)
        #expect(size == 120, "v1.0 is 104 bytes; the 1.5 descriptor appends 16")
    }

    @Test("probing loads nothing but the entry: a connector that would crash in run() probes fine")
    func probeRunsOnlyTheEntry() async throws {
        let report = try await runFixture("segfault", mode: .probe)
        #expect(report.classification == .succeeded)
        #expect(report.descriptor?.id == "test.misbehaving")
        #expect(report.loadTime > .zero)
    }
}

@Suite("Wire protocol")
struct WireTests {
    @Test("every runner message survives encoding, even split across reads")
    func roundTrip() throws {
        let messages: [RunnerMessage] = [
            .ready(protocolVersion: 1, nonce: [1, 2, 3], runnerPID: 42),
            .phase(.running),
            .descriptor(DescriptorInfo(abiVersion: 0x10000, structSize: 120, id: "a.b", version: "1.0.0", displayName: "A",
                                       description: "ünïcode", parametersSchema: "{}", credentialNames: ["x", "y"], pattern: 4,
                                       capabilities: 3, hasCheck: true, hasCancel: false)),
            .loaded(nanoseconds: 123_456),
            .log(level: 2, message: "hello\nworld"),
            .progress(fraction: 0.5, message: ""),
            .credentialRequest(name: "token"),
            .stateSet(json: "{\"cursor\":3}"),
            .output(name: "id", value: [0, 255], flags: 1),
            .tableOpened(name: "out.t", columns: ["a", "b"]),
            .result(TaskResult(status: .failed, failureClass: 1, userMessage: "bad", internalMessage: "x",
                               tables: [ProducedTable(name: "t", columns: ["a"], rowCount: 9, relativePath: "out/tables/t.csv")])),
        ]
        let stream = messages.flatMap { $0.frame() }
        var accumulator = FrameAccumulator()
        var decoded: [RunnerMessage] = []
        for chunk in stride(from: 0, to: stream.count, by: 7).map({ Array(stream[$0..<min($0 + 7, stream.count)]) }) {
            chunk.withUnsafeBytes { accumulator.append($0) }
            while let body = try accumulator.nextFrame() { decoded.append(try RunnerMessage.decode(body)) }
        }
        #expect(decoded == messages)
        #expect(accumulator.pendingByteCount == 0)
    }

    @Test("hello round-trips with limits and inputs")
    func hello() throws {
        let hello = Hello(nonce: Array(0..<16), mode: .check, pluginPath: "/p.so", workspace: "/w", parametersJSON: "{\"a\":1}",
                          inputs: [InputTable(name: "in", path: "/w/in.csv")],
                          confinement: Confinement(addressSpaceBytes: 1, cpuSeconds: 2, openFiles: 3, processes: 4, userID: 5, groupID: 6),
                          deadlineNanoseconds: 99, minimumLogLevel: 2)
        let frame = HostMessage.hello(hello).frame()
        #expect(try HostMessage.decode(frame[4...]) == .hello(hello))
    }

    @Test("malformed frames are rejected with the reason", arguments: [
        ([0, 0, 0, 0], "empty frame"),
        ([0xFF, 0xFF, 0xFF, 0x7F, 1], "exceeds"),
    ] as [([UInt8], String)])
    func malformedFrames(bytes: [UInt8], reason: String) {
        var accumulator = FrameAccumulator()
        bytes.withUnsafeBytes { accumulator.append($0) }
        #expect { _ = try accumulator.nextFrame() } throws: { "\($0)".contains(reason) }
    }

    @Test("a message with trailing bytes, bad UTF-8 or an unknown kind is rejected")
    func malformedMessages() {
        var log = RunnerMessage.log(level: 1, message: "x").frame()
        log.append(0)
        #expect(throws: WireError.trailingBytes(1)) { try RunnerMessage.decode(log[4...]) }
        let badUTF8: [UInt8] = [0x46, 1, 0, 0, 0, 0xFF]
        #expect(throws: WireError.invalidUTF8(field: "name")) { try RunnerMessage.decode(badUTF8[...]) }
        #expect(throws: WireError.unknownKind(0x99)) { try RunnerMessage.decode([0x99][...]) }
    }
}

@Suite("Stopping a task: cancel, then SIGTERM, then SIGKILL")
struct StopSequenceTests {
    @Test("at the deadline the task is asked to cancel, then terminated, then killed, one grace apart")
    func deadline() {
        var stop = StopSequence(deadline: 1_000, grace: 100)
        #expect(stop.advance(now: 999) == .none)
        #expect(stop.timeoutMilliseconds(now: 999) == 1)
        #expect(stop.advance(now: 1_000) == .requestCancel)
        #expect(stop.reason == .deadline)
        #expect(stop.advance(now: 1_099) == .none)
        #expect(stop.advance(now: 1_100) == .terminate)
        #expect(stop.advance(now: 1_200) == .kill)
        #expect(stop.stage == .killSent)
        #expect(stop.advance(now: 9_999) == .none)
        #expect(stop.timeoutMilliseconds(now: 9_999) == -1)
    }

    @Test("a protocol violation kills at once; the first reason wins")
    func violation() {
        var stop = StopSequence(deadline: nil, grace: 100)
        #expect(stop.timeoutMilliseconds(now: 0) == -1)
        #expect(stop.begin(.protocolViolation, now: 5) == .kill)
        #expect(stop.begin(.cancelled, now: 6) == .none)
        #expect(stop.reason == .protocolViolation)
    }

    @Test("a user cancel before the deadline is a cancel, not a timeout")
    func cancelBeforeDeadline() {
        var stop = StopSequence(deadline: 1_000, grace: 100)
        #expect(stop.begin(.cancelled, now: 10) == .requestCancel)
        #expect(stop.advance(now: 109) == .none)
        #expect(stop.advance(now: 110) == .terminate)
        #expect(stop.advance(now: 210) == .kill)
        #expect(stop.reason == .cancelled)  // passing the deadline on the way changes nothing
    }
}
