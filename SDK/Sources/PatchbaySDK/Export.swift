// Building the C descriptor from a Connector type, and the two exported functions.

/// The ABI version this SDK was built against. Exported so the host can refuse
/// a mismatch before running any other connector code.
@_cdecl("patchbay_abi_version")
public func _patchbayABIVersion() -> UInt32 { UInt32(PATCHBAY_ABI_VERSION) }

/// The connector registered by `export`. One connector per shared library.
/// `registered`, `descriptor` and `hostTable` are set once by the entry point, which the host calls once,
/// before any other connector function. `instance` is made on the first check() or run(); the header
/// promises those are called on one thread, so it is never touched by two threads at once.
nonisolated(unsafe) private var registered: (any Connector.Type)?
nonisolated(unsafe) private var instance: (any Connector)?
nonisolated(unsafe) private var descriptor: UnsafeMutablePointer<patchbay_connector>?
nonisolated(unsafe) var hostTable: UnsafePointer<patchbay_host>?

/// Call from your entry point, the one line every Swift connector writes:
///
///     @_cdecl("patchbay_connector_entry")
///     public func entry(_ host: UnsafePointer<patchbay_host>?) -> UnsafePointer<patchbay_connector>? { export(MyConnector.self, host: host) }
public func export<C: Connector>(_ type: C.Type, host: UnsafePointer<patchbay_host>?) -> UnsafePointer<patchbay_connector>? {
    if let descriptor { return UnsafePointer(descriptor) }
    guard let host else { return nil }
    hostTable = host
    registered = type
    let made = UnsafeMutablePointer<patchbay_connector>.allocate(capacity: 1)
    var d = patchbay_connector()
    d.struct_size = UInt32(MemoryLayout<patchbay_connector>.size)
    d.abi_version = UInt32(PATCHBAY_ABI_VERSION)
    d.id = permanent(C.id)
    d.version = permanent(C.version)
    d.display_name = permanent(C.displayName)
    d.description = permanent(C.summary)
    d.parameters_schema = permanent(C.parametersSchema)
    d.credential_names = permanentList(C.credentials)
    d.credential_count = C.credentials.count
    d.pattern = C.pattern.rawValue
    d.capabilities = C.capabilities.rawValue
    switch C.network {
    case .none: d.network = patchbay_network(PATCHBAY_NETWORK_NONE)
    case .any: d.network = patchbay_network(PATCHBAY_NETWORK_ANY)
    case .tcpPorts(let ports):
        d.network = patchbay_network(PATCHBAY_NETWORK_TCP_PORTS)
        let copy = UnsafeMutablePointer<UInt16>.allocate(capacity: max(ports.count, 1))
        copy.initialize(from: ports, count: ports.count)
        d.tcp_ports = UnsafePointer(copy)
        d.tcp_port_count = UInt32(ports.count)
    }
    // Lineage (ABI 1.4): a list is declared only when the connector gives one.
    if let outputs = C.declaredOutputs {
        d.declares |= UInt32(PATCHBAY_DECLARES_OUTPUTS)
        d.output_names = permanentList(outputs)
        d.output_count = UInt32(outputs.count)
    }
    if let tables = C.declaredTables {
        d.declares |= UInt32(PATCHBAY_DECLARES_TABLES)
        d.output_tables = permanentList(tables)
        d.output_table_count = UInt32(tables.count)
    }
    // check() only for a connector that has one (see `Checking`).
    if C.self is any Checking.Type {
        d.check = { task, error in
            invoke(task, error) { connector, context in try (connector as? any Checking)?.check(context) }
        }
    }
    d.run = { task, error in invoke(task, error) { connector, context in try connector.run(context) } }
    // No cancel(): `TaskContext.isCancelled` asks the host, which knows (and the runner then needs no
    // watcher thread for a Swift connector). A flag set from the host's cancel thread would be a data race.
    d.cancel = nil
    made.initialize(to: d)
    descriptor = made
    return UnsafePointer(made)
}

/// An array of permanent copies, itself permanent.
private func permanentList(_ names: [String]) -> UnsafePointer<UnsafePointer<CChar>?> {
    let list = UnsafeMutablePointer<UnsafePointer<CChar>?>.allocate(capacity: max(names.count, 1))
    for (i, name) in names.enumerated() { list[i] = permanent(name) }
    return UnsafePointer(list)
}

/// A NUL-terminated copy that lives as long as the process (the descriptor's rule).
private func permanent(_ text: String) -> UnsafePointer<CChar> {
    let utf8 = Array(text.utf8CString)
    let copy = UnsafeMutablePointer<CChar>.allocate(capacity: utf8.count)
    copy.initialize(from: utf8, count: utf8.count)
    return UnsafePointer(copy)
}

/// Runs a connector function, mapping every outcome to a status: nothing unwinds into C.
private func invoke(_ task: OpaquePointer?, _ error: OpaquePointer?,
                    _ body: (any Connector, TaskContext) throws -> Void) -> patchbay_status {
    guard let host = hostTable, let connectorType = registered, let task else { return patchbay_status(PATCHBAY_INVALID_ARGUMENT) }
    let connector = instance ?? connectorType.init()
    instance = connector
    return perform(connector, host: host, task: task, error: error, body)
}

/// Calls a connector's function with a task of `host`, mapping every outcome to a status: the one
/// mapping that the exported entry points and `PatchbaySDKTesting`'s fake host share. (SPI, not for connectors:
/// `package` access would need `-package-name` from every author who compiles the SDK with plain swiftc.)
@_spi(PatchbayTesting) public func perform(_ connector: any Connector, host: UnsafePointer<patchbay_host>, task: OpaquePointer, error: OpaquePointer?,
                     _ body: (any Connector, TaskContext) throws -> Void) -> patchbay_status {
    let context = TaskContext(host: host, task: task)
    do {
        try body(connector, context)
        return patchbay_status(PATCHBAY_OK)
    } catch is NotReadyYet {
        return patchbay_status(PATCHBAY_PENDING)
    } catch is TaskCancelled {
        return patchbay_status(PATCHBAY_CANCELLED)
    } catch let failure as ConnectorError {
        report(host, error, failure.failureClass, failure.userMessage, failure.internalMessage)
        return patchbay_status(PATCHBAY_ERROR)
    } catch let failure {
        report(host, error, .system, String(describing: failure), "unclassified Swift error of type \(type(of: failure))")
        return patchbay_status(PATCHBAY_ERROR)
    }
}

private func report(_ host: UnsafePointer<patchbay_host>, _ error: OpaquePointer?, _ failureClass: FailureClass,
                    _ user: String, _ internalMessage: String) {
    var user = user, internalMessage = internalMessage
    user.withUTF8 { u in
        internalMessage.withUTF8 { i in
            host.pointee.set_error(error, failureClass.rawValue, u.patchbayString, i.patchbayString)
        }
    }
}

extension UnsafeBufferPointer where Element == UInt8 {
    var patchbayString: patchbay_str {
        patchbay_str(data: UnsafeRawPointer(baseAddress)?.assumingMemoryBound(to: CChar.self), length: count)
    }
}

extension patchbay_str {
    /// A Swift copy of the bytes (invalid UTF-8 is repaired).
    public var string: String {
        guard length > 0, let data else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
    }
}
