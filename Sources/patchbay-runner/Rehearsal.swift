// The zygote's rehearsal: before it forks any child, it runs once through what every runner does with the
// host's messages and a connector's descriptor, on made-up values and without a syscall that matters.
//
// Why: Swift instantiates a generic type's metadata (and resolves each mangled type name) the first time
// a call site needs it, and caches it in the process. A forked child inherits its parent's caches, so
// what the zygote has instantiated no child pays for again. Measured in a 3×100-task flow, before this:
// about 13% of every runner's CPU went to that first-use work. Nothing here loads a plugin, opens a file
// or reaches the host; it must never need to.
#if canImport(Glibc)
import Glibc
#endif
import PatchbayABI
import PatchbayCore
import PatchbayWire

func rehearseRunnerStart() {
    // The host's side of the conversation, as a runner decodes it.
    // Paths as long as real ones, made at run time: a string of more than 15 bytes lives on the heap, and freeing
    // one is its own first use (the metadata its deallocation needs was 5% of a runner's CPU while the rehearsal's
    // strings were all literals, which the compiler folds and never frees).
    let long = String(repeating: "/rehearsal", count: 4 + Int(getpid() & 0))
    var confinement = Confinement(openFiles: 1, fileSizeBytes: 1, userID: 1, groupID: 1, layers: [.landlock, .seccomp],
                                  readablePaths: ["/usr", long + "/usr"], network: .tcpPorts([443]))
    confinement.writablePaths = ["/tmp", long + "/tmp"]
    confinement.cgroupTasks = [long + "/tasks"]
    let hello = Hello(nonce: [0], mode: .run, pluginPath: long + "/p.so", workspace: long + "/w",
                      inputs: [InputTable(name: "in.t", path: long + "/t.csv")], confinement: confinement, writableBuckets: .only(["out"]))
    for message in [HostMessage.hello(hello), .credentialReply(status: 0, value: [1])] {
        _ = try? HostMessage.decode(message.frame().dropFirst(4))
    }
    var inputs: [String: Int32] = [:]
    inputs["in.t"] = -1
    for _ in 0..<2 {
        let decoded = try? HostMessage.decode(HostMessage.hello(hello).frame().dropFirst(4))
        guard case .hello(let received)? = decoded else { break }
        _ = LandlockGrants(readable: received.confinement.readablePaths, writable: received.confinement.writablePaths,
                           plugin: received.pluginPath, workspace: ".").withRules { $0.count }
    }

    // A connector's descriptor, read and checked as a plugin's is.
    let texts: [String] = ["dev.patchbay.rehearsal", "1.0.0", "Rehearsal", "{}", "token"]
    let strings = texts.map { strdup($0) }
    defer { for string in strings { free(string) } }
    let credentials: [UnsafePointer<CChar>?] = [UnsafePointer(strings[4])]
    let ports: [UInt16] = [443]
    credentials.withUnsafeBufferPointer { names in
        ports.withUnsafeBufferPointer { tcp in
            var connector = patchbay_connector()
            connector.struct_size = UInt32(MemoryLayout<patchbay_connector>.size)
            connector.abi_version = UInt32(PATCHBAY_ABI_VERSION)
            connector.id = UnsafePointer(strings[0])
            connector.version = UnsafePointer(strings[1])
            connector.display_name = UnsafePointer(strings[2])
            connector.parameters_schema = UnsafePointer(strings[3])
            connector.credential_names = names.baseAddress
            connector.credential_count = 1
            connector.pattern = patchbay_pattern(JobPattern.extraction.abiValue)
            connector.run = { _, _ in patchbay_status(PATCHBAY_OK) }
            connector.network = patchbay_network(PATCHBAY_NETWORK_TCP_PORTS)
            connector.tcp_port_count = 1
            connector.tcp_ports = tcp.baseAddress
            guard let described = try? withUnsafePointer(to: &connector, { try readDescriptor($0) }) else { return }
            let descriptor = described.info
            // The runner's side of the conversation, as it encodes it.
            let table = TableFile(name: "out.t", columns: ["a"], rowCount: 1, path: "out/tables/out.t.csv")
            let messages: [RunnerMessage] = [
                .ready(protocolVersion: Wire.protocolVersion, nonce: [0], runnerPID: 1), .phase(.confining), .descriptor(descriptor),
                .loaded(nanoseconds: 1), .log(level: 1, message: "m"), .progress(fraction: 0.5, message: "m"),
                .credentialRequest(name: "token"), .stateSet(json: "{}"), .tableOpened(name: "out.t", columns: ["a"]),
                .result(.succeeded(tables: [table])), .result(.failed(.system, userMessage: "u", internalMessage: "i")),
            ]
            for message in messages { _ = message.frame() }
        }
    }
}
