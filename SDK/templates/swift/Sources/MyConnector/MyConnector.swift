// A Patchbay connector in Swift: one type, one export line.
// Try: patchbay task run .build/release/libMyConnector.so --param greeting=hello --param count=3
import PatchbaySDK

struct MyConnector: Connector {
    static let id = "com.example.my-swift-connector"
    static let version = "0.1.0"
    static let displayName = "My connector (Swift)"
    static let summary = "Writes a greeting N times into out.greetings."
    static let pattern = JobPattern.extraction
    static let capabilities: Capabilities = [.writesTables]
    /// The network it needs: none (local sockets only); `.tcpPorts([443])` or `.any` ask for more.
    static let network = Network.none
    static let parametersSchema = #"{"type":"object","properties":{"greeting":{"type":"string"},"count":{"type":"integer","minimum":0}}}"#

    func run(_ task: TaskContext) throws {
        let parameters = try task.parameters()
        let greeting = parameters["greeting"]?.string ?? "hello"
        guard let count = parameters["count"]?.int ?? 1 as Int?, (0...1_000_000).contains(count) else {
            throw ConnectorError.config("parameter 'count' must be between 0 and 1000000")
        }
        let table = try task.openOutput("out.greetings", columns: ["n", "greeting"])
        for n in 1...max(count, 1) where count > 0 {
            try table.write([String(n), greeting])
            try task.checkCancellation()
        }
        try table.close()
        task.info("greetings written")
    }
}

@_cdecl("patchbay_connector_entry")
public func entry(_ host: UnsafePointer<patchbay_host>?) -> UnsafePointer<patchbay_connector>? { export(MyConnector.self, host: host) }
