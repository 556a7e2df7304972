// PatchbayCore — the one vocabulary every layer shares, the runner included: job pattern, failure
// class, log level and source, capabilities, callback status, output flags, the connector's descriptor,
// a table file, why a load was refused, and how a task ended. Every ABI number is taken from the C
// header (PatchbayABI), never retyped.
// Owns: these value types and their ABI numbers. Must never know: Foundation, processes, SQLite, the
// wire's bytes, the CLI or HTTP.
public import PatchbayABI

/// What a connector does, and so what the host does with it (DIL's logical types).
public enum JobPattern: Sendable, CaseIterable, Hashable {
    case authentication, initiation, statusCheck, extraction, preparation, egression, validation

    /// The pattern an ABI number names; nil for a number the header does not define.
    public init?(abi value: UInt32) {
        switch value {
        case UInt32(PATCHBAY_PATTERN_AUTHENTICATION): self = .authentication
        case UInt32(PATCHBAY_PATTERN_INITIATION): self = .initiation
        case UInt32(PATCHBAY_PATTERN_STATUS_CHECK): self = .statusCheck
        case UInt32(PATCHBAY_PATTERN_EXTRACTION): self = .extraction
        case UInt32(PATCHBAY_PATTERN_PREPARATION): self = .preparation
        case UInt32(PATCHBAY_PATTERN_EGRESSION): self = .egression
        case UInt32(PATCHBAY_PATTERN_VALIDATION): self = .validation
        default: return nil
        }
    }

    public var abiValue: UInt32 {
        switch self {
        case .authentication: UInt32(PATCHBAY_PATTERN_AUTHENTICATION)
        case .initiation: UInt32(PATCHBAY_PATTERN_INITIATION)
        case .statusCheck: UInt32(PATCHBAY_PATTERN_STATUS_CHECK)
        case .extraction: UInt32(PATCHBAY_PATTERN_EXTRACTION)
        case .preparation: UInt32(PATCHBAY_PATTERN_PREPARATION)
        case .egression: UInt32(PATCHBAY_PATTERN_EGRESSION)
        case .validation: UInt32(PATCHBAY_PATTERN_VALIDATION)
        }
    }

    /// The name users read and JSON carries: "status_check".
    public var name: String {
        switch self {
        case .authentication: "authentication"
        case .initiation: "initiation"
        case .statusCheck: "status_check"
        case .extraction: "extraction"
        case .preparation: "preparation"
        case .egression: "egression"
        case .validation: "validation"
        }
    }
}

/// Why a task failed, in the terms a user acts on (Airbyte's failure_type, Keboola's exit 1 vs 2).
/// Stored and written as its name ("config").
public enum FailureClass: String, Sendable, Codable, CaseIterable {
    /// The user must fix something (parameters, credentials, data).
    case config
    /// Retrying later may succeed.
    case transient
    /// A bug in the connector or the host.
    case system
    /// The data broke a rule: a validation found differences, rows are malformed (ABI 1.2). Not retried.
    case data
    /// The service refused the task's credentials (ABI 1.4): the host authenticates again, once, and retries.
    case unauthorized

    /// The class an ABI number names; an unknown number is a `system` failure (the connector broke the contract).
    public init(abi value: UInt32) {
        switch value {
        case UInt32(PATCHBAY_FAILURE_CONFIG): self = .config
        case UInt32(PATCHBAY_FAILURE_TRANSIENT): self = .transient
        case UInt32(PATCHBAY_FAILURE_DATA): self = .data
        case UInt32(PATCHBAY_FAILURE_UNAUTHORIZED): self = .unauthorized
        default: self = .system
        }
    }

    public var abiValue: UInt32 {
        switch self {
        case .config: UInt32(PATCHBAY_FAILURE_CONFIG)
        case .transient: UInt32(PATCHBAY_FAILURE_TRANSIENT)
        case .system: UInt32(PATCHBAY_FAILURE_SYSTEM)
        case .data: UInt32(PATCHBAY_FAILURE_DATA)
        case .unauthorized: UInt32(PATCHBAY_FAILURE_UNAUTHORIZED)
        }
    }
}

/// How important a log line is. Stored and written as its name ("warning").
public enum LogLevel: String, Sendable, Codable, CaseIterable, Comparable {
    case debug, info, warning, error

    /// The level an ABI number names; below debug is debug, above error is error.
    public init(abi value: UInt32) {
        switch value {
        case ...UInt32(PATCHBAY_LOG_DEBUG): self = .debug
        case UInt32(PATCHBAY_LOG_INFO): self = .info
        case UInt32(PATCHBAY_LOG_WARNING): self = .warning
        default: self = .error
        }
    }

    public var abiValue: UInt32 {
        switch self {
        case .debug: UInt32(PATCHBAY_LOG_DEBUG)
        case .info: UInt32(PATCHBAY_LOG_INFO)
        case .warning: UInt32(PATCHBAY_LOG_WARNING)
        case .error: UInt32(PATCHBAY_LOG_ERROR)
        }
    }

    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.abiValue < b.abiValue }
}

/// Where a log line came from. Stored and written as its name.
public enum LogSource: String, Sendable, Codable, CaseIterable {
    /// The connector, through the ABI's log callback.
    case connector
    /// The connector's standard output / error, captured.
    case stdout, stderr
    /// The host's own notes about the task (limits, kills, truncation, refusals).
    case host
    /// The connector's progress() reports, as lines (see `ProgressReport`), at most a few a second.
    case progress
}

/// One progress() report: a fraction 0...1 (nil when the connector does not know) and its message.
public struct ProgressReport: Sendable, Equatable {
    public var fraction: Double?
    public var message: String

    public init(fraction: Double, message: String) {
        self.fraction = fraction.isFinite && fraction >= 0 ? min(fraction, 1) : nil
        self.message = message
    }

    /// "42% copying rows", or "… copying rows" when the fraction is unknown: how every view shows it.
    public var text: String {
        let amount = fraction.map { "\(Int(($0 * 100).rounded(.down)))%" } ?? "…"
        return message.isEmpty ? amount : "\(amount) \(message)"
    }
}

/// What a connector says it does (PATCHBAY_CAP_*).
public struct Capabilities: OptionSet, Sendable, Hashable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    public static let readsTables = Capabilities(rawValue: UInt64(PATCHBAY_CAP_READS_TABLES))
    public static let writesTables = Capabilities(rawValue: UInt64(PATCHBAY_CAP_WRITES_TABLES))
    public static let state = Capabilities(rawValue: UInt64(PATCHBAY_CAP_STATE))
    public static let cancel = Capabilities(rawValue: UInt64(PATCHBAY_CAP_CANCEL))
    /// Every state_set() in run() is a checkpoint a later attempt resumes from (ABI 1.5, extraction).
    public static let checkpoints = Capabilities(rawValue: UInt64(PATCHBAY_CAP_CHECKPOINTS))

    /// Each known capability with the words listings use.
    public static let named: [(Capabilities, String)] = [
        (.readsTables, "reads tables"), (.writesTables, "writes tables"), (.state, "keeps state"), (.cancel, "cancels promptly"),
        (.checkpoints, "checkpoints"),
    ]

    /// The words for the capabilities set here, in the header's order; unknown bits by number.
    public var names: [String] {
        var names = Self.named.filter { contains($0.0) }.map(\.1)
        let unknown = rawValue & ~Self.named.reduce(0) { $0 | $1.0.rawValue }
        if unknown != 0 { names.append("unknown bits 0x" + String(unknown, radix: 16)) }
        return names
    }
}

/// The status a host callback answers (patchbay_status), for the answers the host side decides.
public enum CallbackStatus: Sendable, CaseIterable {
    case ok, error, notFound, denied, invalidArgument, cancelled, end, io, pending

    public init?(abi value: UInt32) {
        guard let status = Self.allCases.first(where: { $0.abiValue == value }) else { return nil }
        self = status
    }

    public var abiValue: UInt32 {
        switch self {
        case .ok: UInt32(PATCHBAY_OK)
        case .error: UInt32(PATCHBAY_ERROR)
        case .notFound: UInt32(PATCHBAY_NOT_FOUND)
        case .denied: UInt32(PATCHBAY_DENIED)
        case .invalidArgument: UInt32(PATCHBAY_INVALID_ARGUMENT)
        case .cancelled: UInt32(PATCHBAY_CANCELLED)
        case .end: UInt32(PATCHBAY_END)
        case .io: UInt32(PATCHBAY_IO)
        case .pending: UInt32(PATCHBAY_PENDING)
        }
    }
}

/// Flags of set_output().
public struct OutputFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Never shown, logged or rendered into text.
    public static let secret = OutputFlags(rawValue: UInt32(PATCHBAY_OUTPUT_SECRET))
}

/// The connector's descriptor as the runner read and checked it (strings copied and validated).
public struct ConnectorDescriptor: Sendable, Equatable {
    public var abiVersion: UInt32
    public var structSize: UInt32
    public var id: String
    public var version: String
    public var displayName: String
    public var description: String
    public var parametersSchema: String
    public var credentialNames: [String]
    public var pattern: JobPattern
    public var capabilities: Capabilities
    public var hasCheck: Bool
    public var hasCancel: Bool
    /// What it declares (ABI 1.1); a 1.0 connector declares `.none`.
    public var network: NetworkAccess
    /// The outputs and tables it declares (ABI 1.4); an older connector declares nothing.
    public var lineage: Lineage

    public init(abiVersion: UInt32, structSize: UInt32, id: String, version: String, displayName: String,
                description: String, parametersSchema: String, credentialNames: [String], pattern: JobPattern,
                capabilities: Capabilities, hasCheck: Bool, hasCancel: Bool, network: NetworkAccess = .none,
                lineage: Lineage = .undeclared) {
        self.network = network
        self.lineage = lineage
        self.abiVersion = abiVersion
        self.structSize = structSize
        self.id = id
        self.version = version
        self.displayName = displayName
        self.description = description
        self.parametersSchema = parametersSchema
        self.credentialNames = credentialNames
        self.pattern = pattern
        self.capabilities = capabilities
        self.hasCheck = hasCheck
        self.hasCancel = hasCancel
    }

    /// "1.0": the ABI the connector was built for.
    public var abiVersionText: String { "\(abiVersion >> 16).\(abiVersion & 0xFFFF)" }
}

/// A table a task produced: a CSV file (RFC 4180, header row) with its name, typed columns and rows. `path` is
/// relative to the task's workspace as the runner reports it, and absolute once the host placed it.
public struct TableFile: Sendable, Equatable {
    public var name: String
    public var columns: [String]
    /// One per column; a table opened without types is all `.string`.
    public var types: [ColumnType]
    public var rowCount: UInt64
    public var path: String

    public init(name: String, columns: [String], types: [ColumnType]? = nil, rowCount: UInt64, path: String) {
        self.name = name
        self.columns = columns
        self.types = types ?? Array(repeating: .string, count: columns.count)
        self.rowCount = rowCount
        self.path = path
    }

    /// Table names use ASCII letters, digits, '.', '-' and '_', do not start with '.', and are at most
    /// 200 bytes: a name is also a file name (`<name>.csv`), so it can never be a path. The runner refuses
    /// other names at open_output, and the host refuses them again in what a runner reports.
    public static func isValidName(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 200 else { return false }
        // Dot-separated parts ("bucket.table", "in.c-main.orders"), none empty, each letters, digits, '-' or '_'.
        return name.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false).allSatisfy { part in
            !part.isEmpty && part.allSatisfy { c in
                (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || (c >= 0x30 && c <= 0x39) || c == 0x2D || c == 0x5F
            }
        }
    }

    /// The manifest beside a table file: `tables/in.orders.csv` → `tables/in.orders.manifest.json`.
    public static func manifestPath(besides tableFile: String) -> String {
        (tableFile.hasSuffix(".csv") ? String(tableFile.dropLast(4)) : tableFile) + ".manifest.json"
    }

    /// Where the runner must have written this table, relative to its workspace.
    public var expectedWorkspacePath: String { "out/tables/\(name).csv" }
}

/// An output table as it stood at a checkpoint: its first `byteCount` bytes hold its header row and
/// `file.rowCount` rows, and nothing after them belongs to it.
public struct TableMark: Sendable, Equatable {
    public var file: TableFile
    public var byteCount: UInt64
    public init(file: TableFile, byteCount: UInt64) { self.file = file; self.byteCount = byteCount }
}

/// An extraction's checkpoint (ABI 1.5, PATCHBAY_CAP_CHECKPOINTS): the state its last state_set() gave,
/// with every output table as it stood then. A later attempt of the same job starts from it.
public struct Checkpoint: Sendable, Equatable {
    public var stateJSON: String
    public var tables: [TableMark]
    public init(stateJSON: String, tables: [TableMark]) { self.stateJSON = stateJSON; self.tables = tables }

    /// The rows it keeps, over all its tables.
    public var rowCount: UInt64 { tables.reduce(0) { $0 + $1.file.rowCount } }
}

/// Why a plugin could not be loaded: decided in the runner, worded by the host.
public enum LoadFailureKind: UInt8, Sendable, CaseIterable {
    case fileUnreadable = 1
    case notELF = 2
    case wrongArchitecture = 3
    case truncated = 4
    case missingLibrary = 5
    case missingSymbol = 6
    case abiMajorMismatch = 7
    case descriptorTooSmall = 8
    case invalidDescriptor = 9
    case dynamicLoaderError = 10

    /// A few words for messages: "not an ELF shared library".
    public var wording: String {
        switch self {
        case .fileUnreadable: "unreadable file"
        case .notELF: "not an ELF shared library"
        case .wrongArchitecture: "wrong architecture"
        case .truncated: "truncated file"
        case .missingLibrary: "missing library"
        case .missingSymbol: "missing symbol"
        case .abiMajorMismatch: "ABI major version mismatch"
        case .descriptorTooSmall: "descriptor smaller than ABI v1"
        case .invalidDescriptor: "invalid descriptor"
        case .dynamicLoaderError: "dynamic loader error"
        }
    }
}

/// How a task ended, as its runner reports it (before the host classifies the exit).
public enum TaskOutcome: Sendable, Equatable {
    /// run() or check() returned OK; the tables are finished in the workspace.
    case succeeded(tables: [TableFile])
    /// The connector reported a failure (or the runner did on its behalf: a denial, an I/O error). A
    /// validation's failure of class `data` hands back the tables it wrote as `evidence` (the differences it
    /// found), so that what broke the rule can be looked at; any other failure hands back none (an extraction's
    /// tables would be partial data that replaces good data).
    case failed(FailureClass, userMessage: String, internalMessage: String, evidence: [TableFile] = [])
    /// The connector stopped on request.
    case cancelled
    /// A status_check connector said "not ready yet".
    case pending
    /// The plugin was refused before any of its code but the entry ran.
    case refusedToLoad(LoadFailureKind, detail: String)
}

/// The network a task may use: what its connector declares (ABI 1.1), narrowed by the flow, never widened.
public enum NetworkAccess: Sendable, Hashable, Codable, CustomStringConvertible {
    /// How listings and reports say what a connector declares.
    public var wording: String {
        switch self {
        case .none: "none (local sockets only)"
        case .tcpPorts(let ports): "outbound TCP to port" + (ports.count == 1 ? " " : "s ") + ports.map(String.init).joined(separator: ", ")
        case .any: "any"
        }
    }

    /// No sockets but local (AF_UNIX) ones. A v1.0 connector gets this.
    case none
    /// Outbound TCP to these ports only (no listening); other families as the kernel's Landlock allows.
    case tcpPorts([UInt16])
    /// Anything the machine's network allows.
    case any

    /// The declaration's ABI kind (PATCHBAY_NETWORK_*).
    public var abiKind: UInt32 {
        switch self {
        case .none: UInt32(PATCHBAY_NETWORK_NONE)
        case .tcpPorts: UInt32(PATCHBAY_NETWORK_TCP_PORTS)
        case .any: UInt32(PATCHBAY_NETWORK_ANY)
        }
    }

    /// The declaration an ABI kind and port list make; nil for a kind the header does not define.
    public init?(abi kind: UInt32, ports: [UInt16]) {
        switch kind {
        case UInt32(PATCHBAY_NETWORK_NONE): self = .none
        case UInt32(PATCHBAY_NETWORK_TCP_PORTS): self = .tcpPorts(ports)
        case UInt32(PATCHBAY_NETWORK_ANY): self = .any
        default: return nil
        }
    }

    /// The ports of a `.tcpPorts` declaration (empty otherwise).
    public var ports: [UInt16] {
        if case .tcpPorts(let ports) = self { return ports }
        return []
    }

    /// The stricter of the two: what both allow.
    public func narrowed(to other: NetworkAccess) -> NetworkAccess {
        switch (self, other) {
        case (.none, _), (_, .none): return .none
        case (.any, let other), (let other, .any): return other
        case (.tcpPorts(let mine), .tcpPorts(let theirs)): return .tcpPorts(mine.filter(theirs.contains))
        }
    }

    public var description: String {
        switch self {
        case .none: "none"
        case .tcpPorts(let ports): "tcp:" + ports.map(String.init).joined(separator: ",")
        case .any: "any"
        }
    }
}
