import Foundation
import PatchbayCore
import PatchbayRunner
import PatchbayWire
import Testing

@Suite("Connectors built for any ABI 1.x load forever")
struct ABICompatibilityTests {
    @Test("a connector built against the frozen v1.0 header loads, and every v1.0 callback answers as v1.0 said")
    func frozenV1() async throws {
        // Given a v1.0 connector that calls each callback in header order, with an input table and a credential
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "id\n1\n2\n3\n".write(toFile: directory + "/source.csv", atomically: true, encoding: .utf8)
        let spec = TaskSpec(pluginPath: try Fixtures.plugin("frozen_v1"), parametersJSON: #"{"k":"v"}"#, stateJSON: #"{"before":1}"#,
                            inputs: [InputTable(name: "source", path: directory + "/source.csv")],
                            limits: TaskLimits(timeout: .seconds(20)))
        // When a current host runs it
        let host = RecordingHost(credentials: ["token": "t0k3n"])
        let report = await TaskRunner().run(spec, host: host)
        // Then it succeeds, and each callback gave the v1.0 answer
        #expect(report.classification == .succeeded, "\(report.classification.summary)")
        #expect(report.descriptor?.abiVersion == 0x0001_0000)
        #expect(report.outputs.first { $0.name == "abi" }?.value == Array("1.0".utf8))
        let calls = String(decoding: try #require(report.outputs.first { $0.name == "calls" }).value, as: UTF8.self)
        #expect(calls == [
            "log=done", #"parameters={"k":"v"}"#, "credential=0:t0k3n", "open_input=0", "input_columns=0:1:id",
            "read_records=6:3", "close_input=done", "open_output=0", "write_records=0", "close_output=0",
            #"state_get=0:{"before":1}"#, "state_set=0", "progress=done", "is_cancelled=0", "remaining_ms=positive",
            "set_error=done", "set_output=0",
        ].joined(separator: ";"))
        #expect(report.tables.map(\.name) == ["out.frozen"] && report.tables.first?.rowCount == 2)
        #expect(report.newStateJSON == #"{"frozen":1}"#)
        #expect(report.logs.contains { $0.message == "frozen v1.0 connector calling every callback" })
    }

    @Test("every field and constant of the frozen v1.0 to v1.5 headers has the same offset, size and value in the current one")
    func frozenLayoutIsUnchanged() throws {
        // Given one layout probe compiled against each header
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        func layout(include: String, defines: [String] = []) throws -> [String] {
            let binary = directory + "/layout-\(UUID().uuidString)"
            let build = try Fixtures.run("/usr/bin/env", ["cc", "-std=c99", "-I", include] + defines
                                         + [Fixtures.connectorSources + "/abi_layout.c", "-o", binary])
            try #require(build.status == 0, "\(build.stderr)")
            return try Fixtures.run(binary, []).stdout.split(separator: "\n").map(String.init)
        }
        // When each prints its layout (the ABI version last: each minor raises it)
        let frozenWithVersion = try layout(include: Fixtures.repository + "/Tests/Fixtures/abi-v1.0")
        let frozen1_1 = try layout(include: Fixtures.repository + "/Tests/Fixtures/abi-v1.1",
                                   defines: ["-DPATCHBAY_LAYOUT_PUBLISHED_SIZES", "-DPATCHBAY_LAYOUT_V1_1"])
        let frozen1_2 = try layout(include: Fixtures.repository + "/Tests/Fixtures/abi-v1.2",
                                   defines: ["-DPATCHBAY_LAYOUT_PUBLISHED_SIZES", "-DPATCHBAY_LAYOUT_V1_1", "-DPATCHBAY_LAYOUT_V1_2"])
        let v1_3 = ["-DPATCHBAY_LAYOUT_PUBLISHED_SIZES", "-DPATCHBAY_LAYOUT_V1_1", "-DPATCHBAY_LAYOUT_V1_2", "-DPATCHBAY_LAYOUT_V1_3"]
        let frozen1_3 = try layout(include: Fixtures.repository + "/Tests/Fixtures/abi-v1.3", defines: v1_3)
        let v1_4 = v1_3 + ["-DPATCHBAY_LAYOUT_V1_4"]
        let frozen1_4 = try layout(include: Fixtures.repository + "/Tests/Fixtures/abi-v1.4", defines: v1_4)
        let v1_5 = v1_4 + ["-DPATCHBAY_LAYOUT_V1_5"]
        let frozen1_5 = try layout(include: Fixtures.repository + "/Tests/Fixtures/abi-v1.5", defines: v1_5)
        let current = try layout(include: Fixtures.sdkInclude, defines: v1_5)
        #expect(frozenWithVersion.last == "PATCHBAY_ABI_VERSION=65536")
        #expect(frozen1_1.last == "PATCHBAY_ABI_VERSION=65537")
        #expect(frozen1_2.last == "PATCHBAY_ABI_VERSION=65538")
        #expect(frozen1_3.last == "PATCHBAY_ABI_VERSION=65539")
        #expect(frozen1_4.last == "PATCHBAY_ABI_VERSION=65540")
        #expect(current.last == "PATCHBAY_ABI_VERSION=65541")
        let frozen = Array(frozenWithVersion.dropLast())
        // Then every v1.0 line is unchanged, the 1.1 additions are as frozen, and the published sizes match the layouts
        #expect(frozen.count > 60)
        #expect(Array(current.prefix(frozen.count)) == frozen)
        #expect(Array(current.prefix(frozen1_1.count - 1)) == Array(frozen1_1.dropLast()))  // 1.2 only appends
        #expect(Array(current.prefix(frozen1_2.count - 1)) == Array(frozen1_2.dropLast()))  // 1.3 only appends
        #expect(Array(current.prefix(frozen1_3.count - 1)) == Array(frozen1_3.dropLast()))  // 1.4 only appends
        #expect(Array(current.prefix(frozen1_4.count - 1)) == Array(frozen1_4.dropLast()))  // 1.5 only appends
        #expect(current == frozen1_5)
        #expect(current.contains("PATCHBAY_CAP_CHECKPOINTS=16"))
        #expect(current.contains("PATCHBAY_CONNECTOR_SIZE_1_4=152"))
        #expect(current.contains("PATCHBAY_TYPE_JSON=8"))
        #expect(current.contains("PATCHBAY_FAILURE_DATA=4"))
        #expect(current.contains("PATCHBAY_CONNECTOR_SIZE_1_1=120"))
        func end(of field: String) throws -> Int {
            let line = try #require(frozen.first { $0.hasPrefix(field + " ") })
            let numbers = line.split(separator: " ").dropFirst().map { Int($0.split(separator: "=")[1])! }
            return numbers[0] + numbers[1]
        }
        #expect(current.contains("PATCHBAY_HOST_SIZE_1_0=\(try end(of: "patchbay_host.set_error"))"))
        #expect(current.contains("PATCHBAY_CONNECTOR_SIZE_1_0=\(try end(of: "patchbay_connector.cancel"))"))
    }

    @Test("a descriptor from a newer minor (larger struct) is accepted; the unknown tail is ignored")
    func newerMinor() async throws {
        let report = try await runFixture("newer_minor")
        #expect(report.classification == .succeeded, "\(report.classification.summary)")
        #expect(report.descriptor?.abiVersion == 0x0001_0006)
        let size = try #require(report.descriptor?.structSize)
        #expect(size == 168, "v1.5 is 152 bytes; the 1.6 descriptor appends 16")
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
            .descriptor(ConnectorDescriptor(abiVersion: 0x10000, structSize: 120, id: "a.b", version: "1.0.0", displayName: "A",
                                       description: "ünïcode", parametersSchema: "{}", credentialNames: ["x", "y"], pattern: .extraction,
                                       capabilities: [.readsTables, .writesTables], hasCheck: true, hasCancel: false)),
            .descriptor(ConnectorDescriptor(abiVersion: 0x10004, structSize: 152, id: "a.c", version: "1.0.0", displayName: "C",
                                       description: "", parametersSchema: "{}", credentialNames: [], pattern: .validation,
                                       capabilities: [], hasCheck: false, hasCancel: false,
                                       lineage: Lineage(outputs: [], tables: [TablePattern("{table}_rejected")!, TablePattern("out.x")!]))),
            .descriptor(ConnectorDescriptor(abiVersion: 0x10004, structSize: 152, id: "a.d", version: "1.0.0", displayName: "D",
                                       description: "", parametersSchema: "{}", credentialNames: [], pattern: .validation,
                                       capabilities: [], hasCheck: false, hasCancel: false, lineage: Lineage(outputs: ["n"]))),
            .loaded(nanoseconds: 123_456),
            .log(level: 2, message: "hello\nworld"),
            .progress(fraction: 0.5, message: ""),
            .credentialRequest(name: "token"),
            .stateSet(json: "{\"cursor\":3}"),
            .output(name: "id", value: [0, 255], flags: .secret),
            .tableOpened(name: "out.t", columns: ["a", "b"]),
            .result(.failed(.config, userMessage: "bad", internalMessage: "x")),
            .result(.failed(.data, userMessage: "differ", internalMessage: "", evidence: [TableFile(name: "out.d", columns: ["k"], types: [.integer], rowCount: 2, path: "out/tables/out.d.csv")])),
            .result(.succeeded(tables: [TableFile(name: "t", columns: ["a"], rowCount: 9, path: "out/tables/t.csv")])),
            .result(.refusedToLoad(.missingSymbol, detail: "no entry")),
            .result(.pending),
            .result(.cancelled),
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
