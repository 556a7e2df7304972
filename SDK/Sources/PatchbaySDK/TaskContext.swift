// The task a connector function is running: safe Swift wrappers for every host callback.

public enum LogLevel: UInt32, Sendable {
    case debug = 1, info, warning, error
}

/// A table column's type (ABI 1.3). Values cross as text in the type's one form (see the header); the
/// host refuses a batch with a value outside it. Numbers are the header's.
public enum ColumnType: Sendable, CaseIterable {
    case string, integer, decimal, float, boolean, date, timestamp, json

    public var abiValue: UInt32 {
        switch self {
        case .string: UInt32(PATCHBAY_TYPE_STRING)
        case .integer: UInt32(PATCHBAY_TYPE_INTEGER)
        case .decimal: UInt32(PATCHBAY_TYPE_DECIMAL)
        case .float: UInt32(PATCHBAY_TYPE_FLOAT)
        case .boolean: UInt32(PATCHBAY_TYPE_BOOLEAN)
        case .date: UInt32(PATCHBAY_TYPE_DATE)
        case .timestamp: UInt32(PATCHBAY_TYPE_TIMESTAMP)
        case .json: UInt32(PATCHBAY_TYPE_JSON)
        }
    }

    public init?(abi value: UInt32) {
        guard let match = Self.allCases.first(where: { $0.abiValue == value }) else { return nil }
        self = match
    }

    /// Whether values of this type are numbers (compared as numbers, not as text).
    public var isNumeric: Bool { self == .integer || self == .decimal || self == .float }
}

/// A column of an output table: its name and type.
public struct Column: Sendable, Equatable {
    public var name: String
    public var type: ColumnType
    public init(_ name: String, _ type: ColumnType = .string) { self.name = name; self.type = type }
}

extension UnsafePointer where Pointee == patchbay_host {
    /// Whether the host has the ABI 1.3 functions (typed columns, NULL).
    var hasTypedTables: Bool { Int(pointee.struct_size) >= Int(PATCHBAY_HOST_SIZE_1_3) }
}

/// The context of one `check` or `run` call. Valid only during that call.
public struct TaskContext {
    let host: UnsafePointer<patchbay_host>
    let task: OpaquePointer

    @_spi(PatchbayTesting) public init(host: UnsafePointer<patchbay_host>, task: OpaquePointer) {
        self.host = host
        self.task = task
    }

    // MARK: Logging and progress

    public func log(_ level: LogLevel, _ message: String) {
        var message = message
        message.withUTF8 { host.pointee.log(task, level.rawValue, $0.patchbayString) }
    }
    public func info(_ message: String) { log(.info, message) }
    public func warning(_ message: String) { log(.warning, message) }
    public func debug(_ message: String) { log(.debug, message) }

    /// Reports progress: `fraction` in 0...1, or nil when unknown.
    public func progress(_ fraction: Double?, _ message: String = "") {
        var message = message
        message.withUTF8 { host.pointee.progress(task, fraction ?? -1, $0.patchbayString) }
    }

    public var isCancelled: Bool { host.pointee.is_cancelled(task) != 0 }

    /// Waits for a turn to send `tokens` requests to the service `key` (its host name) under the project's
    /// rate limit, shared with every other task that calls it (ABI 1.4). Returns how long it waited; throws
    /// `TaskCancelled` if the task was stopped meanwhile. On an older host it never waits.
    @discardableResult
    public func rateLimit(_ key: String, tokens: UInt32 = 1) throws -> Duration {
        guard Int(host.pointee.struct_size) >= Int(PATCHBAY_HOST_SIZE_1_4) else { return .zero }
        var waited: UInt64 = 0
        var key = key
        let status = key.withUTF8 { host.pointee.rate_limit(task, $0.patchbayString, tokens, &waited) }
        if status == patchbay_status(PATCHBAY_CANCELLED) { throw TaskCancelled() }
        guard status == patchbay_status(PATCHBAY_OK) else { throw ConnectorError.system("rate_limit('\(key)', \(tokens)) answered status \(status)") }
        return .milliseconds(Int64(waited))
    }

    /// Throws `TaskCancelled` once the host asked the task to stop.
    public func checkCancellation() throws {
        if isCancelled { throw TaskCancelled() }
    }

    /// Milliseconds left before the deadline, nil when there is none.
    public var remainingMilliseconds: Int64? {
        let value = host.pointee.remaining_ms(task)
        return value < 0 ? nil : value
    }

    // MARK: Parameters, credentials, state, outputs

    /// The parameters object as JSON text.
    public var parametersJSON: String { host.pointee.parameters(task).string }

    /// The parameters, parsed. Throws a `config` error if they are not a JSON object.
    public func parameters() throws -> JSON {
        do {
            let value = try JSON.parse(parametersJSON)
            guard case .object = value else { throw ConnectorError.config("the parameters must be a JSON object") }
            return value
        } catch let error as JSON.ParseError {
            throw ConnectorError.config("the parameters are not valid JSON: \(error)")
        }
    }

    /// A credential the connector declared. Throws a `config` error when it is not set or not allowed.
    public func credential(_ name: String) throws -> String {
        var value = patchbay_str(data: nil, length: 0)
        var name = name
        let status = name.withUTF8 { host.pointee.credential(task, $0.patchbayString, &value) }
        switch Int(status) {
        case Int(PATCHBAY_OK): return value.string
        case Int(PATCHBAY_NOT_FOUND): throw ConnectorError.config("the credential '\(name)' is not set")
        case Int(PATCHBAY_DENIED): throw ConnectorError.config("the credential '\(name)' is not allowed for this task's token")
        default: throw ConnectorError.system("reading the credential '\(name)' failed (status \(status))")
        }
    }

    /// The component state from the configuration's last successful run ("{}" when none).
    public func state() throws -> String {
        var value = patchbay_str(data: nil, length: 0)
        try check(host.pointee.state_get(task, &value), "reading the state")
        return value.string
    }

    /// Replaces the component state; kept only if the task succeeds.
    public func setState(_ json: String) throws {
        var json = json
        try check(json.withUTF8 { host.pointee.state_set(task, $0.patchbayString) }, "saving the state")
    }

    /// Sets a task output later tasks can reference. Secret values are never shown or logged.
    public func setOutput(_ name: String, _ value: String, secret: Bool = false) throws {
        var name = name, value = value
        let status = name.withUTF8 { n in
            value.withUTF8 { v in host.pointee.set_output(task, n.patchbayString, v.patchbayString, secret ? UInt32(PATCHBAY_OUTPUT_SECRET) : 0) }
        }
        try check(status, "setting output '\(name)'")
    }

    // MARK: Tables

    /// Opens an input table of the task.
    public func openInput(_ name: String) throws -> InputTable {
        var reader: OpaquePointer?
        var name = name
        let status = name.withUTF8 { host.pointee.open_input(task, $0.patchbayString, &reader) }
        switch Int(status) {
        case Int(PATCHBAY_OK): break
        case Int(PATCHBAY_NOT_FOUND): throw ConnectorError.config("the task has no input table '\(name)'")
        case Int(PATCHBAY_DENIED): throw ConnectorError.config("this task's token may not read table '\(name)'")
        default: throw ConnectorError.system("opening input table '\(name)' failed (status \(status))")
        }
        return try InputTable(host: host, reader: reader!, name: name)
    }

    /// Opens an output table; rows become visible only if the task succeeds.
    public func openOutput(_ name: String, columns: [String]) throws -> OutputTable {
        var writer: OpaquePointer?
        var name = name
        var names = StringBatch()
        for column in columns { names.append(column) }
        let status = names.withStrings { strings in
            name.withUTF8 { host.pointee.open_output(task, $0.patchbayString, strings.baseAddress, strings.count, &writer) }
        }
        try check(status, "opening output table '\(name)'")
        return OutputTable(host: host, writer: writer!, name: name, width: columns.count)
    }

    /// Opens an output table with a type per column. On a host older than ABI 1.3 the columns are strings
    /// and NULLs are written as empty strings (a warning in the task log says so).
    public func openOutput(_ name: String, columns: [Column]) throws -> OutputTable {
        guard host.hasTypedTables else {
            warning("this host is older than ABI 1.3: '\(name)' is written without types, and NULL as an empty string")
            return try openOutput(name, columns: columns.map(\.name))
        }
        var writer: OpaquePointer?
        var name = name
        var names = StringBatch()
        for column in columns { names.append(column.name) }
        let types = columns.map(\.type.abiValue)
        let status = names.withStrings { strings in
            types.withUnsafeBufferPointer { types in
                name.withUTF8 { host.pointee.open_output_typed(task, $0.patchbayString, strings.baseAddress, types.baseAddress, strings.count, &writer) }
            }
        }
        try check(status, "opening output table '\(name)'")
        return OutputTable(host: host, writer: writer!, name: name, width: columns.count)
    }

    func check(_ status: patchbay_status, _ what: String) throws {
        guard status == patchbay_status(PATCHBAY_OK) else {
            if status == patchbay_status(PATCHBAY_DENIED) { throw ConnectorError.config("\(what): not allowed for this task's token") }
            throw ConnectorError.system("\(what) failed (status \(status))")
        }
    }
}

/// An input table being read. Values are copied into Swift strings row by row.
public final class InputTable {
    let host: UnsafePointer<patchbay_host>
    let reader: OpaquePointer
    public let name: String
    public let columns: [String]
    /// One per column: all `.string` for a table written without types, or on a host older than ABI 1.3.
    public let types: [ColumnType]

    init(host: UnsafePointer<patchbay_host>, reader: OpaquePointer, name: String) throws {
        self.host = host
        self.reader = reader
        self.name = name
        var pointer: UnsafePointer<patchbay_str>?
        var count = 0
        guard host.pointee.input_columns(reader, &pointer, &count) == patchbay_status(PATCHBAY_OK), let pointer else {
            throw ConnectorError.system("reading the columns of '\(name)' failed")
        }
        columns = (0..<count).map { pointer[$0].string }
        var types = [ColumnType](repeating: .string, count: count)
        var raw: UnsafePointer<UInt32>?
        var typeCount = 0
        if host.hasTypedTables, host.pointee.input_column_types(reader, &raw, &typeCount) == patchbay_status(PATCHBAY_OK),
           let raw, typeCount == count {
            for i in 0..<count { types[i] = ColumnType(abi: raw[i]) ?? .string }
        }
        self.types = types
    }

    /// Reads the next batch: values, NULL flags (nil when none is NULL) and the row count, 0 at the end.
    private func next() throws -> (UnsafePointer<patchbay_str>, UnsafePointer<UInt8>?, Int)? {
        var values: UnsafePointer<patchbay_str>?
        var nulls: UnsafePointer<UInt8>?
        var rows = 0
        let status = host.hasTypedTables ? host.pointee.read_records_nullable(reader, &values, &nulls, &rows)
                                         : host.pointee.read_records(reader, &values, &rows)
        if status == patchbay_status(PATCHBAY_END) { return nil }
        guard status == patchbay_status(PATCHBAY_OK), let values else {
            throw ConnectorError.config("reading table '\(name)' failed (status \(status)); see the task log")
        }
        return (values, nulls, rows)
    }

    /// Calls `body` for every row, in order, with NULL as nil.
    public func forEachRecord(_ body: ([String?]) throws -> Void) throws {
        let width = columns.count
        var row = [String?](repeating: nil, count: width)
        while let (values, nulls, rows) = try next() {
            for r in 0..<rows {
                for c in 0..<width {
                    let i = r * width + c
                    row[c] = (nulls?[i] ?? 0) != 0 ? nil : values[i].string
                }
                try body(row)
            }
        }
    }

    /// Calls `body` for every row, in order.
    public func forEachRow(_ body: ([String]) throws -> Void) throws {
        var values: UnsafePointer<patchbay_str>?
        var rows = 0
        let width = columns.count
        while true {
            let status = host.pointee.read_records(reader, &values, &rows)
            if status == patchbay_status(PATCHBAY_END) { return }
            guard status == patchbay_status(PATCHBAY_OK), let values else {
                throw ConnectorError.config("reading table '\(name)' failed (status \(status)); see the task log")
            }
            var row = [String](repeating: "", count: width)
            for r in 0..<rows {
                for c in 0..<width { row[c] = values[r * width + c].string }
                try body(row)
            }
        }
    }

    /// Calls `body` for every batch of rows as the host lends them, without a String per field: for connectors
    /// that read large tables and look at bytes (hashing, comparing, copying). A batch is valid only inside `body`.
    public func forEachBatch(_ body: (RowBatch) throws -> Void) throws {
        while let (values, nulls, rows) = try next() {
            try body(RowBatch(values: values, nulls: nulls, rows: rows, width: columns.count))
        }
    }

    deinit { host.pointee.close_input(reader) }
}

/// Rows lent by the host, row-major: `field(row, column)` is a view of the bytes (UTF-8). Valid only inside
/// the `forEachBatch` body that received it: the host reuses the memory for the next batch.
public struct RowBatch {
    let values: UnsafePointer<patchbay_str>
    let nulls: UnsafePointer<UInt8>?
    public let rows: Int
    public let width: Int

    init(values: UnsafePointer<patchbay_str>, nulls: UnsafePointer<UInt8>? = nil, rows: Int, width: Int) {
        self.values = values
        self.nulls = nulls
        self.rows = rows
        self.width = width
    }

    /// Whether the value is NULL (its `field` is then empty).
    public func isNull(_ row: Int, _ column: Int) -> Bool { (nulls?[row * width + column] ?? 0) != 0 }

    public func field(_ row: Int, _ column: Int) -> UnsafeRawBufferPointer {
        let value = values[row * width + column]
        return UnsafeRawBufferPointer(start: value.data.map(UnsafeRawPointer.init), count: value.length)
    }
}

/// Strings packed into one byte buffer, lent to C as `patchbay_str` views
/// that never outlive `withStrings`.
struct StringBatch {
    private var bytes: [UInt8] = []
    private var spans: [(offset: Int, length: Int)] = []

    var count: Int { spans.count }
    var isEmpty: Bool { spans.isEmpty }

    mutating func append(_ value: String) {
        var value = value
        value.withUTF8 { utf8 in
            spans.append((bytes.count, utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        spans.removeAll(keepingCapacity: true)
    }

    func withStrings<T>(_ body: (UnsafeBufferPointer<patchbay_str>) throws -> T) rethrows -> T {
        try bytes.withUnsafeBufferPointer { base in
            let start = UnsafeRawPointer(base.baseAddress)?.assumingMemoryBound(to: CChar.self)
            var views: [patchbay_str] = []
            views.reserveCapacity(spans.count)
            for span in spans { views.append(patchbay_str(data: start.map { $0 + span.offset }, length: span.length)) }
            return try views.withUnsafeBufferPointer(body)
        }
    }
}

/// An output table being written. Rows are buffered and sent in batches.
public final class OutputTable {
    let host: UnsafePointer<patchbay_host>
    let writer: OpaquePointer
    public let name: String
    public let width: Int
    private var pending = StringBatch()
    /// One byte per pending value, 1 for NULL; empty while no pending value is NULL.
    private var pendingNulls: [UInt8] = []
    private let batchRows = 1024

    init(host: UnsafePointer<patchbay_host>, writer: OpaquePointer, name: String, width: Int) {
        self.host = host
        self.writer = writer
        self.name = name
        self.width = width
    }

    /// Appends one row; it must have one value per column.
    public func write(_ row: [String]) throws {
        guard row.count == width else {
            throw ConnectorError.system("a row for '\(name)' has \(row.count) values; the table has \(width) columns")
        }
        for value in row { pending.append(value) }
        if !pendingNulls.isEmpty { pendingNulls.append(contentsOf: repeatElement(0, count: width)) }
        if pending.count >= batchRows * width { try flush() }
    }

    /// Appends one row in which nil is NULL. On a host older than ABI 1.3, NULL is written as "".
    public func write(_ row: [String?]) throws {
        guard row.count == width else {
            throw ConnectorError.system("a row for '\(name)' has \(row.count) values; the table has \(width) columns")
        }
        if pendingNulls.isEmpty, row.contains(where: { $0 == nil }), host.hasTypedTables {
            pendingNulls = [UInt8](repeating: 0, count: pending.count)
        }
        for value in row {
            pending.append(value ?? "")
            if !pendingNulls.isEmpty { pendingNulls.append(value == nil ? 1 : 0) }
        }
        if pending.count >= batchRows * width { try flush() }
    }

    /// Sends buffered rows to the host.
    public func flush() throws {
        guard !pending.isEmpty else { return }
        let rows = pending.count / width
        let status = pending.withStrings { strings in
            pendingNulls.isEmpty ? host.pointee.write_records(writer, strings.baseAddress, rows)
                : pendingNulls.withUnsafeBufferPointer { host.pointee.write_records_nullable(writer, strings.baseAddress, $0.baseAddress, rows) }
        }
        pending.removeAll()
        pendingNulls.removeAll(keepingCapacity: true)
        guard status == patchbay_status(PATCHBAY_OK) else {
            if status == patchbay_status(PATCHBAY_INVALID_ARGUMENT) {
                throw ConnectorError.data("writing to '\(name)': a value is not in its column's type (the task log names it)")
            }
            throw ConnectorError.system("writing to '\(name)' failed (status \(status))")
        }
    }

    /// Flushes and closes. Tables still open when `run` returns are flushed here too.
    public func close() throws {
        try flush()
        guard host.pointee.close_output(writer) == patchbay_status(PATCHBAY_OK) else {
            throw ConnectorError.system("closing '\(name)' failed")
        }
    }

    deinit { try? flush() }
}
