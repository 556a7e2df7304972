// A Patchbay connector in Swift: one type, one export line. It writes a greeting into out.greetings,
// `count` times, or once per row of an input table; keeps a running total in its state; sets an output;
// signs with an optional credential; checks its parameters in check(); stops when cancelled.
// Build: swift build -c release
// Try:   patchbay task run .build/release/libMyConnector.so --param greeting=hello --param count=3
//        patchbay task run .build/release/libMyConnector.so --param from_input=names --input names=names.csv
// Check: patchbay plugins check .build/release/libMyConnector.so
import PatchbaySDK

struct MyConnector: Connector, Checking {
    static let id = "com.example.my-swift-connector"
    static let version = "0.1.0"
    static let displayName = "My connector (Swift)"
    static let summary = "Writes a greeting N times, or once per name of an input table, into out.greetings."
    static let pattern = JobPattern.extraction
    static let capabilities: Capabilities = [.readsTables, .writesTables, .state]
    /// The credentials run() may ask for; any other is refused by the host.
    static let credentials = ["signature"]
    /// The network it needs: none (local sockets only); `.tcpPorts([443])` or `.any` ask for more.
    static let network = Network.none
    static let parametersSchema = #"""
        {"type":"object","additionalProperties":false,"properties":{
          "greeting":{"type":"string"},
          "count":{"type":"integer","minimum":0,"maximum":1000000},
          "from_input":{"type":"string","description":"an input table with the names to greet in its first column"}}}
        """#

    struct Settings {
        var greeting = "hello"
        var count = 1
        var input: String?

        init(_ task: TaskContext) throws {
            let parameters = try task.parameters()
            if let value = parameters["greeting"] {
                guard let text = value.string else { throw ConnectorError.config("parameter 'greeting' must be text") }
                greeting = text
            }
            if let value = parameters["count"] {
                guard let number = value.int, (0...1_000_000).contains(number) else {
                    throw ConnectorError.config("parameter 'count' must be a whole number from 0 to 1000000")
                }
                count = number
            }
            input = parameters["from_input"]?.string
        }
    }

    /// Quick and without side effects: the parameters make sense.
    func check(_ task: TaskContext) throws {
        _ = try Settings(task)
    }

    func run(_ task: TaskContext) throws {
        let settings = try Settings(task)
        // An optional credential: not set is fine, anything else (a denial, say) is an error.
        let signature: String?
        do { signature = try task.credential("signature") } catch let error as ConnectorError where error.userMessage.hasSuffix("is not set") {
            signature = nil
        }
        let table = try task.openOutput("out.greetings", columns: ["n", "greeting"])
        var written = 0
        func greet(_ text: String) throws {
            written += 1
            try table.write([String(written), signature.map { "\(text) (\($0))" } ?? text])
        }
        if let input = settings.input {
            try task.openInput(input).forEachRow { row in
                try task.checkCancellation()
                try greet("\(settings.greeting) \(row.first ?? "")")
            }
        } else {
            for n in 0..<settings.count {
                try task.checkCancellation()
                try greet(settings.greeting)
                task.progress(Double(n + 1) / Double(settings.count))
            }
        }
        try table.close()
        // The state is the configuration's own: kept only if this task succeeds (see the guide's state rules).
        let previous = (try? JSON.parse(try task.state()))?["total"]?.int ?? 0
        try task.setState(#"{"total":\#(previous + written)}"#)
        try task.setOutput("greeted", String(written))
        task.info("\(written) greetings written, \(previous + written) in all")
    }
}

@_cdecl("patchbay_connector_entry")
public func entry(_ host: UnsafePointer<patchbay_host>?) -> UnsafePointer<patchbay_connector>? { export(MyConnector.self, host: host) }
