// Loading a plugin: ELF pre-checks, dlopen, the ABI probe, descriptor validation.
// Everything here runs inside the runner, never in the host: an ELF constructor
// runs at dlopen and may crash.
#if canImport(Glibc)
import Glibc
#endif
import PatchbayABI
import PatchbayCore
import PatchbayWire

struct LoadFailure: Error {
    var kind: LoadFailureKind
    var detail: String
}

#if arch(x86_64)
private let expectedMachine: UInt16 = 62  // EM_X86_64
private let machineName = "x86-64"
#elseif arch(arm64)
private let expectedMachine: UInt16 = 183  // EM_AARCH64
private let machineName = "aarch64"
#endif

private func machineDescription(_ machine: UInt16) -> String {
    switch machine {
    case 3: return "x86 (32-bit)"
    case 40: return "ARM (32-bit)"
    case 62: return "x86-64"
    case 183: return "aarch64"
    case 243: return "RISC-V"
    default: return "machine type \(machine)"
    }
}

/// Reads the ELF header and checks what dlopen would report less clearly.
/// `path` is where it is read (the runner's own descriptor, /proc/self/fd/N); `name` what messages call it.
func checkELF(at path: String, named name: String) throws(LoadFailure) {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else {
        throw LoadFailure(kind: .fileUnreadable, detail: "cannot open \(name): \(String(cString: strerror(errno)))")
    }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0 else {
        throw LoadFailure(kind: .fileUnreadable, detail: "cannot stat \(name): \(String(cString: strerror(errno)))")
    }
    var header = [UInt8](repeating: 0, count: 64)
    let got = header.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 64, 0) }
    guard got >= 4, header[0] == 0x7F, header[1] == 0x45, header[2] == 0x4C, header[3] == 0x46 else {
        throw LoadFailure(kind: .notELF, detail: "\(name) is not an ELF shared library (it does not start with the ELF magic bytes)")
    }
    guard got == 64 else {
        throw LoadFailure(kind: .truncated, detail: "\(name) is truncated: \(got) bytes, shorter than an ELF header")
    }
    func u16(_ at: Int) -> UInt16 { UInt16(header[at]) | UInt16(header[at + 1]) << 8 }
    func u64(_ at: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(header[at + $1]) << (8 * $1) } }
    let machine = u16(18)
    guard header[4] == 2, header[5] == 1, machine == expectedMachine else {
        let bits = header[4] == 1 ? "32-bit" : "64-bit"
        throw LoadFailure(kind: .wrongArchitecture,
                          detail: "\(name) is built for \(machineDescription(machine)) (\(bits)); this host is \(machineName)")
    }
    guard u16(16) == 3 else {  // ET_DYN
        throw LoadFailure(kind: .notELF, detail: "\(name) is an ELF file but not a shared library (e_type \(u16(16)))")
    }
    let size = UInt64(info.st_size)
    let programEnd = u64(32) + UInt64(u16(56)) * UInt64(u16(54))
    let sectionEnd = u64(40) + UInt64(u16(60)) * UInt64(u16(58))
    if programEnd > size || sectionEnd > size {
        throw LoadFailure(kind: .truncated,
                          detail: "\(name) is truncated: \(size) bytes, but its headers describe \(max(programEnd, sectionEnd))")
    }
}

/// dlopen with the flags the design requires, its error classified.
func openLibrary(at path: String) throws(LoadFailure) -> UnsafeMutableRawPointer {
    if let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE) { return handle }
    let message = dlerror().map { String(cString: $0) } ?? "unknown dynamic loader error"
    if message.includes("cannot open shared object file") {
        // The plugin itself was readable (checkELF), so this names a dependency.
        let name = message.split(separator: ":").first.map(String.init) ?? message
        throw LoadFailure(kind: .missingLibrary, detail: "it needs \(name), which is not installed or not on the library path (\(message))")
    }
    if message.includes("undefined symbol") {
        throw LoadFailure(kind: .missingSymbol, detail: message)
    }
    if message.includes("file too short") || message.includes("unexpected") {
        throw LoadFailure(kind: .truncated, detail: message)
    }
    throw LoadFailure(kind: .dynamicLoaderError, detail: message)
}

typealias VersionFunction = @convention(c) () -> UInt32
typealias EntryFunction = @convention(c) (UnsafePointer<patchbay_host>?) -> UnsafePointer<patchbay_connector>?

func symbol<T>(_ handle: UnsafeMutableRawPointer, _ name: String, as type: T.Type) throws(LoadFailure) -> T {
    guard let address = dlsym(handle, name) else {
        throw LoadFailure(kind: .missingSymbol, detail: "the plugin does not export \(name)() — is it a Patchbay connector?")
    }
    return unsafeBitCast(address, to: type)
}

func checkABIVersion(_ version: UInt32) throws(LoadFailure) {
    let major = version >> 16
    let minor = version & 0xFFFF
    guard major == UInt32(PATCHBAY_ABI_MAJOR) else {
        throw LoadFailure(kind: .abiMajorMismatch,
                          detail: "built for connector ABI \(major).\(minor); this host speaks ABI \(PATCHBAY_ABI_MAJOR).x")
    }
}

/// The size of a v1.0 descriptor: everything up to and including `cancel` (published by the header).
let descriptorV1Size = Int(PATCHBAY_CONNECTOR_SIZE_1_0)

/// The descriptor size of each minor of ABI 1 that this runner knows (published by the header).
/// (1.2, 1.3 and 1.5 changed no descriptor layout.)
let descriptorSizes: [UInt32: Int] = [0: Int(PATCHBAY_CONNECTOR_SIZE_1_0), 1: Int(PATCHBAY_CONNECTOR_SIZE_1_1),
                                      2: Int(PATCHBAY_CONNECTOR_SIZE_1_1), 3: Int(PATCHBAY_CONNECTOR_SIZE_1_1),
                                      4: Int(PATCHBAY_CONNECTOR_SIZE_1_4), 5: Int(PATCHBAY_CONNECTOR_SIZE_1_4)]

/// The connector's descriptor as this runner knows it: the fields its struct_size covers, copied into a
/// zeroed local, so a descriptor of an older minor (smaller) is never read past its end, and the fields it
/// lacks read as absent (NULL / 0). A newer minor's larger descriptor is cut to what this runner knows.
func copyDescriptor(_ pointer: UnsafePointer<patchbay_connector>, size: UInt32) -> patchbay_connector {
    var local = patchbay_connector()
    withUnsafeMutableBytes(of: &local) { target in
        target.copyMemory(from: UnsafeRawBufferPointer(start: UnsafeRawPointer(pointer), count: min(Int(size), target.count)))
    }
    return local
}

private func text(_ pointer: UnsafePointer<CChar>?, _ field: String, required: Bool) throws(LoadFailure) -> String {
    guard let pointer else {
        if required { throw LoadFailure(kind: .invalidDescriptor, detail: "descriptor field '\(field)' is NULL") }
        return ""
    }
    let length = strnlen(pointer, 1 << 20)
    guard length < 1 << 20 else {
        throw LoadFailure(kind: .invalidDescriptor, detail: "descriptor field '\(field)' is not NUL-terminated within 1 MiB")
    }
    let bytes = UnsafeRawBufferPointer(start: pointer, count: length)
    guard let value = String(validating: bytes, as: UTF8.self) else {
        throw LoadFailure(kind: .invalidDescriptor, detail: "descriptor field '\(field)' is not valid UTF-8")
    }
    if required && value.isEmpty {
        throw LoadFailure(kind: .invalidDescriptor, detail: "descriptor field '\(field)' is empty")
    }
    return value
}

private func isValidID(_ id: String) -> Bool {
    guard let first = id.utf8.first, first != UInt8(ascii: "."), id.utf8.count <= 200 else { return false }
    return id.utf8.allSatisfy { c in
        (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) || c == 0x2E || c == 0x2D || c == 0x5F
    }
}

func isSemanticVersion(_ version: String) -> Bool {
    let core = version.split(separator: "-", maxSplits: 1).first.map { $0.split(separator: "+").first ?? $0 } ?? ""
    let parts = core.split(separator: ".", omittingEmptySubsequences: false)
    return parts.count == 3 && parts.allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isNumber) }
}

/// Reads and validates the descriptor: what the host needs to know, and the runner's own copy of the
/// fields this ABI knows (the connector's struct is never read past its struct_size).
/// A plugin's descriptor as the host will see it, and the runner's own copy of the struct. A struct, not a
/// tuple: a tuple's metadata is made at run time from its mangled name, the first time each process destroys
/// one, and a zygote's child is always a first time (it was ~3% of a runner's CPU).
struct DescribedConnector {
    let info: ConnectorDescriptor
    let copy: patchbay_connector
}

func readDescriptor(_ pointer: UnsafePointer<patchbay_connector>?) throws(LoadFailure) -> DescribedConnector {
    guard let pointer else {
        throw LoadFailure(kind: .invalidDescriptor, detail: "patchbay_connector_entry() returned NULL")
    }
    // struct_size is the first field of every version: reading it alone is always in bounds.
    let size = UnsafeRawPointer(pointer).load(as: UInt32.self)
    guard Int(size) >= descriptorV1Size else {
        throw LoadFailure(kind: .descriptorTooSmall,
                          detail: "its descriptor is \(size) bytes; ABI 1.0 needs at least \(descriptorV1Size)")
    }
    let d = copyDescriptor(pointer, size: size)
    try checkABIVersion(d.abi_version)
    // A minor this host knows has exactly one descriptor size: any other struct_size is a descriptor not
    // compiled against that minor's header (or one that lies), and reading by it would misplace fields.
    // A newer minor may be larger than anything known here; its extra fields are ignored.
    let minor = d.abi_version & 0xFFFF
    if let expected = descriptorSizes[minor], Int(size) != expected {
        throw LoadFailure(kind: .invalidDescriptor, detail: "its descriptor is \(size) bytes, but ABI 1.\(minor)'s is \(expected): "
                          + "struct_size must be sizeof(patchbay_connector) from the 1.\(minor) header")
    }
    guard d.reserved == 0 else {
        throw LoadFailure(kind: .invalidDescriptor,
                          detail: "descriptor field 'reserved' is \(d.reserved); it must be 0 (a later ABI minor may give it a meaning)")
    }
    let id = try text(d.id, "id", required: true)
    guard isValidID(id) else {
        throw LoadFailure(kind: .invalidDescriptor, detail: "id '\(id)' is not reverse-DNS (lowercase letters, digits, '.', '-', '_')")
    }
    let version = try text(d.version, "version", required: true)
    guard isSemanticVersion(version) else {
        throw LoadFailure(kind: .invalidDescriptor, detail: "version '\(version)' is not a semantic version (MAJOR.MINOR.PATCH)")
    }
    guard let pattern = JobPattern(abi: d.pattern) else {
        let known = JobPattern.allCases.map { "\($0.abiValue) (\($0.name))" }.joined(separator: ", ")
        throw LoadFailure(kind: .invalidDescriptor, detail: "job pattern \(d.pattern) is not one of \(known)")
    }
    guard d.run != nil else {
        throw LoadFailure(kind: .invalidDescriptor, detail: "descriptor field 'run' is NULL")
    }
    guard d.credential_count <= 256, d.credential_count == 0 || d.credential_names != nil else {
        throw LoadFailure(kind: .invalidDescriptor, detail: "credential_names does not match credential_count \(d.credential_count)")
    }
    var credentials: [String] = []
    for i in 0..<d.credential_count {
        credentials.append(try text(d.credential_names[i], "credential_names[\(i)]", required: true))
    }
    var schema = try text(d.parameters_schema, "parameters_schema", required: false)
    if schema.isEmpty { schema = "{}" }
    // ABI 1.1: the network it needs. A descriptor too small to hold the fields declares none.
    var network = NetworkAccess.none
    if Int(size) >= Int(PATCHBAY_CONNECTOR_SIZE_1_1) {
        guard d.tcp_port_count <= 64, d.tcp_port_count == 0 || d.tcp_ports != nil else {
            throw LoadFailure(kind: .invalidDescriptor, detail: "tcp_ports does not match tcp_port_count \(d.tcp_port_count) (at most 64)")
        }
        let ports = (0..<Int(d.tcp_port_count)).map { d.tcp_ports[$0] }
        guard !ports.contains(0) else { throw LoadFailure(kind: .invalidDescriptor, detail: "tcp_ports holds port 0") }
        guard let declared = NetworkAccess(abi: d.network, ports: ports) else {
            throw LoadFailure(kind: .invalidDescriptor, detail: "network \(d.network) is not one of PATCHBAY_NETWORK_NONE, _TCP_PORTS, _ANY")
        }
        if case .tcpPorts = declared, ports.isEmpty {
            throw LoadFailure(kind: .invalidDescriptor, detail: "network PATCHBAY_NETWORK_TCP_PORTS with no tcp_ports")
        }
        network = declared
    }
    // ABI 1.4: the outputs and tables it declares (a smaller descriptor declares nothing).
    var lineage = Lineage.undeclared
    if Int(size) >= Int(PATCHBAY_CONNECTOR_SIZE_1_4) {
        lineage = try readLineage(d)
    }
    let info = ConnectorDescriptor(
        abiVersion: d.abi_version, structSize: size, id: id, version: version,
        displayName: try text(d.display_name, "display_name", required: true),
        description: try text(d.description, "description", required: false),
        parametersSchema: schema, credentialNames: credentials, pattern: pattern,
        capabilities: Capabilities(rawValue: d.capabilities), hasCheck: d.check != nil, hasCancel: d.cancel != nil,
        network: network, lineage: lineage)
    return DescribedConnector(info: info, copy: d)
}

/// The 1.4 lineage fields: known bits only, lists that match their counts, names an output may have,
/// and table entries that are table names or `{parameter}` patterns.
private func readLineage(_ d: patchbay_connector) throws(LoadFailure) -> Lineage {
    let known = Lineage.outputsBit | Lineage.tablesBit
    guard d.declares & ~known == 0 else {
        throw LoadFailure(kind: .invalidDescriptor, detail: "declares has unknown bits 0x\(String(d.declares & ~known, radix: 16)) (known: PATCHBAY_DECLARES_OUTPUTS, PATCHBAY_DECLARES_TABLES)")
    }
    guard d.reserved_1_4 == 0 else {
        throw LoadFailure(kind: .invalidDescriptor, detail: "descriptor field 'reserved_1_4' is \(d.reserved_1_4); it must be 0")
    }
    func strings(_ list: UnsafePointer<UnsafePointer<CChar>?>?, _ count: UInt32, _ field: String) throws(LoadFailure) -> [String] {
        guard count <= 256, count == 0 || list != nil else {
            throw LoadFailure(kind: .invalidDescriptor, detail: "\(field) does not match its count \(count) (at most 256)")
        }
        var values: [String] = []
        for i in 0..<Int(count) { values.append(try text(list![i], "\(field)[\(i)]", required: true)) }
        return values
    }
    var lineage = Lineage.undeclared
    if d.declares & Lineage.outputsBit != 0 {
        let names = try strings(d.output_names, d.output_count, "output_names")
        if let bad = names.first(where: { $0.utf8.count > 256 }) {
            throw LoadFailure(kind: .invalidDescriptor, detail: "output_names holds a name of \(bad.utf8.count) bytes (at most 256)")
        }
        lineage.outputs = names
    }
    if d.declares & Lineage.tablesBit != 0 {
        var patterns: [TablePattern] = []
        for (i, entry) in try strings(d.output_tables, d.output_table_count, "output_tables").enumerated() {
            guard let pattern = TablePattern(entry) else {
                throw LoadFailure(kind: .invalidDescriptor, detail: "output_tables[\(i)] '\(entry)' is neither a table name (bucket.table) nor a pattern with one {parameter}")
            }
            patterns.append(pattern)
        }
        lineage.tables = patterns
    }
    return lineage
}

extension String {
    /// Substring search on UTF-8 bytes (String.contains(String) lives in _StringProcessing,
    /// which the runner does not link).
    func includes(_ needle: String) -> Bool {
        let haystack = Array(utf8), pattern = Array(needle.utf8)
        guard !pattern.isEmpty, haystack.count >= pattern.count else { return pattern.isEmpty }
        for start in 0...(haystack.count - pattern.count) where haystack[start] == pattern[0] {
            if Array(haystack[start..<(start + pattern.count)]) == pattern { return true }
        }
        return false
    }
}
