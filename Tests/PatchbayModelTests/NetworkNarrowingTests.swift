import PatchbayCore
import PatchbayModel
import Testing

@Suite("A task may narrow its connector's network, never widen it")
struct NetworkNarrowingTests {
    func issues(_ task: String, declared: NetworkAccess) throws -> [String] {
        let flow = try FlowLoader().load(text: "name: n\nphases:\n  - id: p\n    tasks:\n      - {id: t, connector: c.x\(task)}\n", file: "n.yaml")
        let facts: [ConnectorReference: ConnectorFacts] = [ConnectorReference(id: "c.x"): .available(id: "c.x", version: "1.0.0", parametersSchema: "", network: declared)]
        return FlowValidator.check(flow, connectors: facts).map(\.description)
    }

    @Test("narrowing is accepted", arguments: [
        (", network: none", NetworkAccess.any), (", network: {tcp: [443]}", .tcpPorts([443, 5432])), ("", .none), (", network: any", .any),
    ])
    func narrowing(task: String, declared: NetworkAccess) throws {
        #expect(try issues(task, declared: declared).isEmpty)
    }

    @Test("widening is refused with the field and what was declared", arguments: [
        (", network: any", NetworkAccess.none, "declares network none"), (", network: {tcp: [22]}", .tcpPorts([443]), "declares network tcp:443"),
    ])
    func widening(task: String, declared: NetworkAccess, says: String) throws {
        let found = try issues(task, declared: declared)
        #expect(found.count == 1 && found[0].contains("tasks.t.network") && found[0].contains(says) && found[0].contains("never widen"), "\(found)")
    }

    @Test("the narrowing table: none wins, any yields, ports intersect", arguments: [
        (NetworkAccess.any, NetworkAccess.none, NetworkAccess.none), (.tcpPorts([1, 2]), .any, .tcpPorts([1, 2])),
        (.tcpPorts([1, 2]), .tcpPorts([2, 3]), .tcpPorts([2])), (.none, .any, .none),
    ])
    func table(_ a: NetworkAccess, _ b: NetworkAccess, _ result: NetworkAccess) {
        #expect(a.narrowed(to: b) == result)
        #expect(b.narrowed(to: a) == result)
    }

    @Test("a port that is not 1…65535 is a located error")
    func badPort() throws {
        #expect(throws: FlowError.self) {
            _ = try FlowLoader().load(text: "name: n\nphases:\n  - id: p\n    tasks:\n      - {id: t, connector: c.x, network: {tcp: [0]}}\n", file: "n.yaml")
        }
    }
}
