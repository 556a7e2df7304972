// The messages of the runner protocol, one enum per direction. The values they carry are PatchbayCore's;
// this file owns only their order on the wire.
public import PatchbayCore

//
// Sequence: host → hello; runner → ready (nonce echoed), then phase/descriptor,
// then any number of log/progress/output/tableOpened messages and credential
// requests (each answered by exactly one credentialReply), then one result.
// The runner exits after sending result.

/// What the runner is asked to do with the plugin.
public enum RunnerMode: UInt8, Sendable {
    /// Load, check the ABI and descriptor, report it, exit. Runs no connector function but the entry.
    case probe = 1
    /// As probe, then call the connector's check().
    case check = 2
    /// As probe, then call run().
    case run = 3
}

/// Where the runner is when it sends `phase`: a crash is reported with the last phase seen.
public enum RunnerPhase: UInt8, Sendable {
    case confining = 1
    case loading = 2
    case entry = 3
    case checking = 4
    case running = 5
    case finishing = 6
}

/// Kernel layers of the sandbox, each applied by the runner to itself after it dropped its uid.
public struct SandboxLayers: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Landlock: the filesystem beyond the allowed paths, TCP beyond declared ports, signals and abstract
    /// sockets outside the task.
    public static let landlock = SandboxLayers(rawValue: 1 << 0)
    /// seccomp-bpf: the deny list of system calls (and, with no network, non-local sockets).
    public static let seccomp = SandboxLayers(rawValue: 1 << 1)
}

/// Resource limits the runner applies to itself before loading. (cgroups, when in force, are joined by
/// the runner itself as its first step, `cgroupTasks`; the host checks at the handshake that it did.)
public struct Confinement: Sendable, Equatable {
    /// RLIMIT_AS in bytes, 0 for none (used when no memory cgroup is available).
    public var addressSpaceBytes: UInt64
    /// RLIMIT_CPU in seconds, 0 for none.
    public var cpuSeconds: UInt64
    /// RLIMIT_NOFILE, 0 for none.
    public var openFiles: UInt64
    /// RLIMIT_NPROC, 0 for none (it does not bind root; see dropToUser / cgroups).
    public var processes: UInt64
    /// RLIMIT_FSIZE in bytes, 0 for none: the largest file the task may write (a write past it fails
    /// with "file too large", the runner ignoring SIGXFSZ).
    public var fileSizeBytes: UInt64
    /// When not UInt32.max, the runner switches to this uid/gid before loading.
    public var userID: UInt32
    public var groupID: UInt32
    /// The kernel layers the runner puts on itself before loading.
    public var layers: SandboxLayers
    /// With `.landlock`: what the task may read (and map executable) besides its plugin and workspace.
    public var readablePaths: [String]
    /// With `.landlock`: what the task may also write (its workspace always).
    public var writablePaths: [String] = []
    /// The sockets the task may use (seccomp for `.none`, Landlock TCP rules for ports).
    public var network: NetworkAccess
    /// The `tasks` files of the task's cgroups, which the runner moves itself into before anything else
    /// (writing `0`: the calling thread, which is the whole of a runner that has not started a thread).
    /// The kernel moves one thread that moves itself without the global lock that a move by pid takes; after
    /// a quiet spell that lock waits for an RCU grace period (7–17 ms measured here) with the cgroup mutex
    /// held, so at each phase's start every task of the phase waited behind the first.
    public var cgroupTasks: [String] = []

    public init(addressSpaceBytes: UInt64 = 0, cpuSeconds: UInt64 = 0, openFiles: UInt64 = 0, processes: UInt64 = 0,
                fileSizeBytes: UInt64 = 0, userID: UInt32 = .max, groupID: UInt32 = .max, layers: SandboxLayers = [],
                readablePaths: [String] = [], network: NetworkAccess = .any) {
        self.layers = layers
        self.readablePaths = readablePaths
        self.network = network
        self.addressSpaceBytes = addressSpaceBytes
        self.cpuSeconds = cpuSeconds
        self.openFiles = openFiles
        self.processes = processes
        self.fileSizeBytes = fileSizeBytes
        self.userID = userID
        self.groupID = groupID
    }
}

/// Which buckets a task may write (a bucket is the part of a table name before the first '.').
public enum BucketRule: Sendable, Equatable {
    case any
    case only([String])
    case anyExcept([String])

    public func allows(bucket: String) -> Bool {
        switch self {
        case .any: true
        case .only(let buckets): buckets.contains(bucket)
        case .anyExcept(let buckets): !buckets.contains(bucket)
        }
    }

    /// For messages: what the rule allows.
    public var description: String {
        switch self {
        case .any: "every bucket"
        case .only(let buckets): buckets.isEmpty ? "no bucket" : buckets.joined(separator: ", ")
        case .anyExcept(let buckets): "every bucket but " + buckets.joined(separator: ", ")
        }
    }
}

/// An input table the runner serves through open_input/read_records.
public struct InputTable: Sendable, Equatable {
    public var name: String
    /// A CSV file (RFC 4180, header row) readable by the runner.
    public var path: String
    /// The column types from the table's manifest, nil for a table without one: then every column is a
    /// string and no value is NULL; with one, an unquoted empty field is NULL.
    public var types: [ColumnType]?
    public init(name: String, path: String, types: [ColumnType]? = nil) { self.name = name; self.path = path; self.types = types }
}

public struct Hello: Sendable, Equatable {
    public var protocolVersion: UInt32
    public var nonce: [UInt8]
    public var mode: RunnerMode
    public var pluginPath: String
    /// The task's private working directory; output tables are written under it.
    public var workspace: String
    public var parametersJSON: String
    public var stateJSON: String
    public var inputs: [InputTable]
    public var confinement: Confinement
    /// CLOCK_MONOTONIC nanoseconds at which the task is due, 0 for none.
    public var deadlineNanoseconds: UInt64
    /// Log lines below this level are dropped in the runner (PATCHBAY_LOG_*).
    public var minimumLogLevel: UInt32
    /// The buckets the task's token may write; open_output answers PATCHBAY_DENIED for any other.
    public var writableBuckets: BucketRule
    /// Output tables an earlier attempt's checkpoint left, already in the workspace at their paths (ABI 1.5):
    /// opening one again with the same columns appends to it.
    public var resumedTables: [TableMark]

    public init(protocolVersion: UInt32 = Wire.protocolVersion, nonce: [UInt8], mode: RunnerMode, pluginPath: String,
                workspace: String, parametersJSON: String = "{}", stateJSON: String = "{}", inputs: [InputTable] = [],
                confinement: Confinement = Confinement(), deadlineNanoseconds: UInt64 = 0, minimumLogLevel: UInt32 = 1,
                writableBuckets: BucketRule = .any, resumedTables: [TableMark] = []) {
        self.protocolVersion = protocolVersion
        self.nonce = nonce
        self.mode = mode
        self.pluginPath = pluginPath
        self.workspace = workspace
        self.parametersJSON = parametersJSON
        self.stateJSON = stateJSON
        self.inputs = inputs
        self.confinement = confinement
        self.deadlineNanoseconds = deadlineNanoseconds
        self.minimumLogLevel = minimumLogLevel
        self.writableBuckets = writableBuckets
        self.resumedTables = resumedTables
    }
}

/// Host → runner.
public enum HostMessage: Sendable, Equatable {
    case hello(Hello)
    /// Answers one credentialRequest: a patchbay_status and the value (empty unless OK).
    case credentialReply(status: UInt32, value: [UInt8])
    /// Answers one rateRequest: how long the runner waits before the requests may go.
    case rateReply(waitNanoseconds: UInt64)

    static let helloKind: UInt8 = 0x01
    static let credentialReplyKind: UInt8 = 0x02
    static let rateReplyKind: UInt8 = 0x03

    public func frame() -> [UInt8] {
        switch self {
        case .hello(let h):
            var e = WireEncoder(kind: Self.helloKind)
            e.u32(h.protocolVersion)
            e.bytes(h.nonce)
            e.u8(h.mode.rawValue)
            e.string(h.pluginPath)
            e.string(h.workspace)
            e.string(h.parametersJSON)
            e.string(h.stateJSON)
            e.u32(UInt32(h.inputs.count))
            for input in h.inputs {
                e.string(input.name); e.string(input.path)
                e.u8(input.types == nil ? 0 : 1); e.types(input.types ?? [])
            }
            let c = h.confinement
            e.u64(c.addressSpaceBytes); e.u64(c.cpuSeconds); e.u64(c.openFiles); e.u64(c.processes)
            e.u64(c.fileSizeBytes); e.u32(c.userID); e.u32(c.groupID)
            e.u32(c.layers.rawValue); e.strings(c.readablePaths); e.strings(c.writablePaths)
            e.network(c.network)
            e.strings(c.cgroupTasks)
            e.u64(h.deadlineNanoseconds)
            e.u32(h.minimumLogLevel)
            switch h.writableBuckets {
            case .any: e.u8(0); e.strings([])
            case .only(let buckets): e.u8(1); e.strings(buckets)
            case .anyExcept(let buckets): e.u8(2); e.strings(buckets)
            }
            e.marks(h.resumedTables)
            return e.frame()
        case .credentialReply(let status, let value):
            var e = WireEncoder(kind: Self.credentialReplyKind)
            e.u32(status)
            e.bytes(value)
            return e.frame()
        case .rateReply(let wait):
            var e = WireEncoder(kind: Self.rateReplyKind)
            e.u64(wait)
            return e.frame()
        }
    }

    /// Decodes one frame body (kind byte first).
    public static func decode(_ body: ArraySlice<UInt8>) throws(WireError) -> HostMessage {
        guard let kind = body.first else { throw .emptyFrame }
        var d = WireDecoder(body.dropFirst())
        let message: HostMessage
        switch kind {
        case helloKind:
            let version = try d.u32("protocolVersion")
            let nonce = try d.bytes("nonce")
            let rawMode = try d.u8("mode")
            guard let mode = RunnerMode(rawValue: rawMode) else { throw .invalidValue(field: "mode", value: UInt64(rawMode)) }
            let plugin = try d.string("pluginPath")
            let workspace = try d.string("workspace")
            let parameters = try d.string("parametersJSON")
            let state = try d.string("stateJSON")
            let inputCount = try d.u32("inputs")
            var inputs: [InputTable] = []
            for _ in 0..<inputCount {
                let name = try d.string("input.name"), path = try d.string("input.path")
                let typed = try d.u8("input.typed"), types = try d.types("input.types")
                inputs.append(InputTable(name: name, path: path, types: typed == 0 ? nil : types))
            }
            var confinement = Confinement(
                addressSpaceBytes: try d.u64("addressSpaceBytes"), cpuSeconds: try d.u64("cpuSeconds"),
                openFiles: try d.u64("openFiles"), processes: try d.u64("processes"),
                fileSizeBytes: try d.u64("fileSizeBytes"), userID: try d.u32("userID"), groupID: try d.u32("groupID"),
                layers: SandboxLayers(rawValue: try d.u32("layers")), readablePaths: try d.strings("readablePaths"))
            confinement.writablePaths = try d.strings("writablePaths")
            confinement.network = try d.network()
            confinement.cgroupTasks = try d.strings("cgroupTasks")
            let deadline = try d.u64("deadline")
            let level = try d.u32("minimumLogLevel")
            let ruleKind = try d.u8("writableBuckets.kind")
            let buckets = try d.strings("writableBuckets")
            let rule: BucketRule
            switch ruleKind {
            case 0: rule = .any
            case 1: rule = .only(buckets)
            case 2: rule = .anyExcept(buckets)
            default: throw .invalidValue(field: "writableBuckets.kind", value: UInt64(ruleKind))
            }
            message = .hello(Hello(protocolVersion: version, nonce: nonce, mode: mode, pluginPath: plugin, workspace: workspace,
                                   parametersJSON: parameters, stateJSON: state, inputs: inputs, confinement: confinement,
                                   deadlineNanoseconds: deadline, minimumLogLevel: level,
                                   writableBuckets: rule, resumedTables: try d.marks()))
        case credentialReplyKind:
            message = .credentialReply(status: try d.u32("status"), value: try d.bytes("value"))
        case rateReplyKind:
            message = .rateReply(waitNanoseconds: try d.u64("waitNanoseconds"))
        default:
            throw .unknownKind(kind)
        }
        try d.finish()
        return message
    }
}

/// Runner → host.
public enum RunnerMessage: Sendable, Equatable {
    case ready(protocolVersion: UInt32, nonce: [UInt8], runnerPID: Int32)
    case phase(RunnerPhase)
    case descriptor(ConnectorDescriptor)
    /// How long loading took inside the runner: ELF check, dlopen, ABI probe, entry, descriptor checks.
    case loaded(nanoseconds: UInt64)
    case log(level: UInt32, message: String)
    case progress(fraction: Double, message: String)
    case credentialRequest(name: String)
    case stateSet(json: String)
    /// A state_set() that is a checkpoint (PATCHBAY_CAP_CHECKPOINTS): the state, and every output table as
    /// flushed to its file just before.
    case checkpoint(Checkpoint)
    case output(name: String, value: [UInt8], flags: OutputFlags)
    case tableOpened(name: String, columns: [String])
    /// rate_limit (ABI 1.4): `tokens` requests under the limit `key`; answered by exactly one rateReply.
    case rateRequest(key: String, tokens: UInt32)
    case result(TaskOutcome)

    public func frame() -> [UInt8] {
        switch self {
        case .ready(let version, let nonce, let pid):
            var e = WireEncoder(kind: 0x41); e.u32(version); e.bytes(nonce); e.u32(UInt32(bitPattern: pid)); return e.frame()
        case .phase(let phase):
            var e = WireEncoder(kind: 0x42); e.u8(phase.rawValue); return e.frame()
        case .descriptor(let d):
            var e = WireEncoder(kind: 0x43)
            e.u32(d.abiVersion); e.u32(d.structSize)
            e.string(d.id); e.string(d.version); e.string(d.displayName); e.string(d.description)
            e.string(d.parametersSchema); e.strings(d.credentialNames)
            e.u32(d.pattern.abiValue); e.u64(d.capabilities.rawValue); e.bool(d.hasCheck); e.bool(d.hasCancel)
            e.network(d.network)
            e.u32(d.lineage.declaresBits); e.strings(d.lineage.outputs ?? []); e.strings(d.lineage.tables?.map(\.text) ?? [])
            return e.frame()
        case .loaded(let nanoseconds):
            var e = WireEncoder(kind: 0x4B); e.u64(nanoseconds); return e.frame()
        case .log(let level, let message):
            var e = WireEncoder(kind: 0x44); e.u32(level); e.string(message); return e.frame()
        case .progress(let fraction, let message):
            var e = WireEncoder(kind: 0x45); e.f64(fraction); e.string(message); return e.frame()
        case .credentialRequest(let name):
            var e = WireEncoder(kind: 0x46); e.string(name); return e.frame()
        case .stateSet(let json):
            var e = WireEncoder(kind: 0x47); e.string(json); return e.frame()
        case .checkpoint(let checkpoint):
            var e = WireEncoder(kind: 0x4D); e.string(checkpoint.stateJSON); e.marks(checkpoint.tables); return e.frame()
        case .output(let name, let value, let flags):
            var e = WireEncoder(kind: 0x48); e.string(name); e.bytes(value); e.u32(flags.rawValue); return e.frame()
        case .tableOpened(let name, let columns):
            var e = WireEncoder(kind: 0x49); e.string(name); e.strings(columns); return e.frame()
        case .rateRequest(let key, let tokens):
            var e = WireEncoder(kind: 0x4C); e.string(key); e.u32(tokens); return e.frame()
        case .result(let outcome):
            var e = WireEncoder(kind: 0x4A)
            switch outcome {
            case .succeeded(let tables):
                e.u8(0)
                e.tables(tables)
            case .failed(let failureClass, let user, let internalMessage, let evidence):
                e.u8(1); e.u32(failureClass.abiValue); e.string(user); e.string(internalMessage)
                e.tables(evidence)
            case .cancelled:
                e.u8(2)
            case .pending:
                e.u8(3)
            case .refusedToLoad(let kind, let detail):
                e.u8(4); e.u8(kind.rawValue); e.string(detail)
            }
            return e.frame()
        }
    }

    public static func decode(_ body: ArraySlice<UInt8>) throws(WireError) -> RunnerMessage {
        guard let kind = body.first else { throw .emptyFrame }
        var d = WireDecoder(body.dropFirst())
        let message: RunnerMessage
        switch kind {
        case 0x41:
            message = .ready(protocolVersion: try d.u32("protocolVersion"), nonce: try d.bytes("nonce"),
                             runnerPID: Int32(bitPattern: try d.u32("runnerPID")))
        case 0x42:
            let raw = try d.u8("phase")
            guard let phase = RunnerPhase(rawValue: raw) else { throw .invalidValue(field: "phase", value: UInt64(raw)) }
            message = .phase(phase)
        case 0x43:
            let abiVersion = try d.u32("abiVersion"), structSize = try d.u32("structSize"), id = try d.string("id")
            let version = try d.string("version"), displayName = try d.string("displayName")
            let description = try d.string("description"), schema = try d.string("parametersSchema")
            let credentials = try d.strings("credentialNames")
            let rawPattern = try d.u32("pattern")
            guard let pattern = JobPattern(abi: rawPattern) else { throw .invalidValue(field: "pattern", value: UInt64(rawPattern)) }
            let capabilities = Capabilities(rawValue: try d.u64("capabilities"))
            let hasCheck = try d.bool("hasCheck"), hasCancel = try d.bool("hasCancel")
            let network = try d.network()
            // Lineage: known bits only, and every table entry a name or a pattern (the runner checked; so does the host).
            let declares = try d.u32("declares")
            guard declares & ~(Lineage.outputsBit | Lineage.tablesBit) == 0 else { throw .invalidValue(field: "declares", value: UInt64(declares)) }
            let outputs = try d.strings("outputNames"), tableTexts = try d.strings("outputTables")
            var tables: [TablePattern] = []
            for text in tableTexts {
                guard let pattern = TablePattern(text) else { throw .invalidValue(field: "outputTables", value: UInt64(tables.count)) }
                tables.append(pattern)
            }
            let lineage = Lineage(outputs: declares & Lineage.outputsBit != 0 ? outputs : nil,
                                  tables: declares & Lineage.tablesBit != 0 ? tables : nil)
            message = .descriptor(ConnectorDescriptor(
                abiVersion: abiVersion, structSize: structSize, id: id, version: version, displayName: displayName,
                description: description, parametersSchema: schema, credentialNames: credentials, pattern: pattern,
                capabilities: capabilities, hasCheck: hasCheck, hasCancel: hasCancel, network: network, lineage: lineage))
        case 0x4B:
            message = .loaded(nanoseconds: try d.u64("nanoseconds"))
        case 0x44:
            message = .log(level: try d.u32("level"), message: try d.string("message"))
        case 0x45:
            message = .progress(fraction: try d.f64("fraction"), message: try d.string("message"))
        case 0x46:
            message = .credentialRequest(name: try d.string("name"))
        case 0x47:
            message = .stateSet(json: try d.string("json"))
        case 0x4D:
            message = .checkpoint(Checkpoint(stateJSON: try d.string("json"), tables: try d.marks()))
        case 0x48:
            message = .output(name: try d.string("name"), value: try d.bytes("value"), flags: OutputFlags(rawValue: try d.u32("flags")))
        case 0x49:
            message = .tableOpened(name: try d.string("name"), columns: try d.strings("columns"))
        case 0x4C:
            message = .rateRequest(key: try d.string("key"), tokens: try d.u32("tokens"))
        case 0x4A:
            let tag = try d.u8("outcome")
            switch tag {
            case 0:
                message = .result(.succeeded(tables: try d.tables()))
            case 1:
                let failureClass = FailureClass(abi: try d.u32("failureClass"))
                let user = try d.string("userMessage"), internalMessage = try d.string("internalMessage")
                let evidence = try d.tables()
                // Only bad data leaves evidence: a table with any other failure is a lie about the protocol.
                guard evidence.isEmpty || failureClass == .data else { throw .invalidValue(field: "evidence", value: UInt64(evidence.count)) }
                message = .result(.failed(failureClass, userMessage: user, internalMessage: internalMessage, evidence: evidence))
            case 2: message = .result(.cancelled)
            case 3: message = .result(.pending)
            case 4:
                let raw = try d.u8("loadFailure")
                guard let kind = LoadFailureKind(rawValue: raw) else { throw .invalidValue(field: "loadFailure", value: UInt64(raw)) }
                message = .result(.refusedToLoad(kind, detail: try d.string("detail")))
            default:
                throw .invalidValue(field: "outcome", value: UInt64(tag))
            }
        default:
            throw .unknownKind(kind)
        }
        try d.finish()
        return message
    }
}

// One encoding of a result's tables: count, then name, columns, types, rows and path of each.
extension WireEncoder {
    mutating func tables(_ tables: [TableFile]) {
        u32(UInt32(tables.count))
        for t in tables { string(t.name); strings(t.columns); types(t.types); u64(t.rowCount); string(t.path) }
    }
}

extension WireDecoder {
    mutating func tables() throws(WireError) -> [TableFile] {
        let count = try u32("tables")
        var tables: [TableFile] = []
        for _ in 0..<count {
            let name = try string("table.name"), columns = try strings("table.columns")
            let types = try types("table.types")
            guard types.count == columns.count else { throw .invalidValue(field: "table.types", value: UInt64(types.count)) }
            let rows = try u64("table.rowCount"), path = try string("table.path")
            tables.append(TableFile(name: name, columns: columns, types: types, rowCount: rows, path: path))
        }
        return tables
    }
}

// One encoding of tables at a checkpoint: the tables, then each one's byte count.
extension WireEncoder {
    mutating func marks(_ marks: [TableMark]) {
        tables(marks.map(\.file))
        for mark in marks { u64(mark.byteCount) }
    }
}

extension WireDecoder {
    mutating func marks() throws(WireError) -> [TableMark] {
        var marks: [TableMark] = []
        for file in try tables() { marks.append(TableMark(file: file, byteCount: try u64("table.byteCount"))) }
        return marks
    }
}

// One encoding of a network declaration, in the hello and in the descriptor: its ABI kind, then its ports.
extension WireEncoder {
    mutating func network(_ network: NetworkAccess) {
        u32(network.abiKind)
        u32(UInt32(network.ports.count))
        for port in network.ports { u32(UInt32(port)) }
    }
}

extension WireDecoder {
    /// A network declaration: at most 64 ports, each 1…65535, of a kind the header defines.
    mutating func network() throws(WireError) -> NetworkAccess {
        let kind = try u32("network")
        let count = try u32("network.ports")
        guard count <= 64 else { throw .invalidValue(field: "network.ports", value: UInt64(count)) }
        var ports: [UInt16] = []
        for _ in 0..<count {
            let port = try u32("network.port")
            guard port > 0, port <= 65535 else { throw .invalidValue(field: "network.port", value: UInt64(port)) }
            ports.append(UInt16(port))
        }
        guard let network = NetworkAccess(abi: kind, ports: ports) else { throw .invalidValue(field: "network", value: UInt64(kind)) }
        return network
    }
}
