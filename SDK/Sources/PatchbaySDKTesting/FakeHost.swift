// PatchbaySDKTesting — a fake host for a connector's own unit tests, in the spirit of HummingbirdTesting:
// give it parameters, credentials, input tables and state; run your `Connector` type through the same
// C callback table the real host serves; read back the outcome, outputs, tables, state and log.
//
// Owns: an in-memory host that keeps the header's promises (host-owned strings live until the task ends,
// tables are visible only if the task succeeds, opening an output twice is INVALID_ARGUMENT, a table the
// task may not touch is DENIED). Must never know: the Patchbay host, processes, SQLite. Needs no package.
public import PatchbaySDK
@_spi(PatchbayTesting) import PatchbaySDK
import PatchbayABI

/// A table as rows of strings, with a type per column. NULL is kept as nil in `records`; `rows` shows it
/// as an empty string.
public struct FakeTable: Equatable, Sendable {
    public var columns: [String]
    public var types: [ColumnType]
    public var records: [[String?]]
    public var rows: [[String]] {
        get { records.map { $0.map { $0 ?? "" } } }
        set { records = newValue.map { $0.map(Optional.some) } }
    }

    public init(columns: [String], types: [ColumnType]? = nil, rows: [[String]] = []) {
        self.columns = columns
        self.types = types ?? Array(repeating: .string, count: columns.count)
        self.records = rows.map { $0.map(Optional.some) }
    }

    public init(columns: [String], types: [ColumnType]? = nil, records: [[String?]]) {
        self.init(columns: columns, types: types)
        self.records = records
    }
}

/// How a connector function ended, as the host sees it.
public enum FakeOutcome: Equatable, Sendable {
    case success
    /// PATCHBAY_ERROR with what the connector said (`set_error`).
    case failure(FailureClass, message: String, internal: String)
    /// PATCHBAY_PENDING from a status-check connector.
    case pending
    case cancelled
    /// Any other status, or PATCHBAY_ERROR without `set_error`: a broken connector.
    case protocolViolation(String)
}

/// One task's world. Set what the task gets, call `run` or `check`, then read what it did.
public final class FakeHost {
    // What the task gets
    public var parametersJSON: String
    public var credentials: [String: String]
    public var inputs: [String: FakeTable]
    /// The state of the configuration's last successful run ("{}" when none).
    public var state: String
    /// Tables the task may not read or write (`open_input`/`open_output` answer DENIED).
    public var deniedTables: Set<String>
    /// Input rows handed over per `read_records` call (small batches find batching bugs).
    public var readBatchRows: Int
    /// Makes `is_cancelled` answer yes (as after the user's cancel or a deadline).
    public var isCancelled = false
    /// What `remaining_ms` answers (nil: no deadline).
    public var remainingMilliseconds: Int64?

    // What the task did
    public private(set) var outcome: FakeOutcome?
    public private(set) var log: [(level: LogLevel, message: String)] = []
    public private(set) var progress: [(fraction: Double?, message: String)] = []
    public private(set) var outputs: [String: (value: String, secret: Bool)] = [:]
    /// Tables written, by name: a successful task's, and a validation's that failed on bad data (its evidence).
    public private(set) var tables: [String: FakeTable] = [:]
    /// Every rate_limit call (key and tokens), in order; the fake host never makes a task wait.
    public private(set) var rateRequests: [(key: String, tokens: UInt32)] = []

    public init(parameters: String = "{}", credentials: [String: String] = [:], inputs: [String: FakeTable] = [:],
                state: String = "{}", deniedTables: Set<String> = [], readBatchRows: Int = 1024) {
        self.parametersJSON = parameters
        self.credentials = credentials
        self.inputs = inputs
        self.state = state
        self.deniedTables = deniedTables
        self.readBatchRows = max(1, readBatchRows)
    }

    /// Runs `run()` of a new instance of `type`, as one task. Returns how it ended (also in `outcome`).
    @discardableResult
    public func run<C: Connector>(_ type: C.Type) -> FakeOutcome {
        call(type) { connector, context in try connector.run(context) }
    }

    /// Runs `check()` of a new instance of `type`. Nothing it writes is kept.
    @discardableResult
    public func check<C: Checking>(_ type: C.Type) -> FakeOutcome {
        let kept = (outputs, tables, state)
        let result = call(type) { connector, context in try (connector as? any Checking)?.check(context) }
        (outputs, tables, state) = kept
        return result
    }

    private func call<C: Connector>(_ type: C.Type, _ body: (any Connector, TaskContext) throws -> Void) -> FakeOutcome {
        let task = FakeTask(host: self)
        let handle = Unmanaged.passUnretained(task).toOpaque()
        let status = withUnsafePointer(to: fakeHostTable) { table in
            perform(C(), host: table, task: OpaquePointer(handle), error: OpaquePointer(handle), body)
        }
        let result: FakeOutcome
        switch Int(status) {
        case Int(PATCHBAY_OK): result = .success
        case Int(PATCHBAY_PENDING): result = .pending
        case Int(PATCHBAY_CANCELLED): result = .cancelled
        case Int(PATCHBAY_ERROR):
            if let error = task.error { result = .failure(error.0, message: error.1, internal: error.2) } else {
                result = .protocolViolation("returned PATCHBAY_ERROR without calling set_error")
            }
        default: result = .protocolViolation("returned status \(status), which run() may not return")
        }
        // A validation that found bad data keeps its tables as the evidence (not its state), as the host does.
        let evidence: Bool
        if case .failure(.data, _, _) = result { evidence = C.pattern == .validation } else { evidence = false }
        task.finish(keeping: result == .success, evidence: evidence)
        outcome = result
        return result
    }

    fileprivate func record(log level: LogLevel, _ message: String) { log.append((level, message)) }
    fileprivate func record(rate key: String, _ tokens: UInt32) { rateRequests.append((key, tokens)) }
    fileprivate func record(progress fraction: Double?, _ message: String) { progress.append((fraction, message)) }
    fileprivate func record(output name: String, _ value: String, secret: Bool) { outputs[name] = (value, secret) }
    fileprivate func commit(tables written: [String: FakeTable], state newState: String?) {
        for (name, table) in written { tables[name] = table }
        if let newState { state = newState }
    }
}

/// One running task: the strings it was lent, its readers and writers. Freed when the task ends.
private final class FakeTask {
    unowned let host: FakeHost
    var error: (FailureClass, String, String)?
    var newState: String?
    var readers: [FakeReader] = []
    var writers: [String: FakeWriter] = [:]
    /// Bytes lent to the connector; valid until the task ends, as the header promises.
    fileprivate var lent: [UnsafeMutableRawBufferPointer] = []

    init(host: FakeHost) { self.host = host }

    func lend(_ text: String) -> patchbay_str {
        let bytes = Array(text.utf8)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, bytes.count), alignment: 1)
        buffer.copyBytes(from: bytes)
        lent.append(buffer)
        return patchbay_str(data: UnsafeRawPointer(buffer.baseAddress)?.assumingMemoryBound(to: CChar.self), length: bytes.count)
    }

    func lend(_ texts: [String]) -> UnsafePointer<patchbay_str>? {
        let views = UnsafeMutableBufferPointer<patchbay_str>.allocate(capacity: max(1, texts.count))
        for (i, text) in texts.enumerated() { views[i] = lend(text) }
        lent.append(UnsafeMutableRawBufferPointer(views))
        return UnsafePointer(views.baseAddress)
    }

    func finish(keeping: Bool, evidence: Bool = false) {
        if keeping {
            host.commit(tables: writers.mapValues { $0.table.value }, state: newState)
        } else if evidence {
            host.commit(tables: writers.mapValues { $0.table.value }, state: nil)
        }
        for buffer in lent { buffer.deallocate() }
        lent = []
    }
}

private final class FakeReader {
    let task: FakeTask
    let table: FakeTable
    var next = 0
    var closed = false
    /// The types and the current batch's NULL flags, lent to the connector.
    let types: UnsafeMutableBufferPointer<UInt32>
    var nulls: [UInt8] = []

    init(task: FakeTask, table: FakeTable) {
        self.task = task
        self.table = table
        types = .allocate(capacity: max(1, table.types.count))
        for (i, type) in table.types.enumerated() { types[i] = type.abiValue }
    }

    deinit { types.deallocate() }

    /// The next batch of records, or nil at the end.
    func nextBatch() -> ArraySlice<[String?]>? {
        let batch = table.records.dropFirst(next).prefix(task.host.readBatchRows)
        next += batch.count
        return batch.isEmpty ? nil : batch
    }
}

private final class FakeWriter {
    let table: FakeTableBox
    var closed = false
    init(columns: [String], types: [ColumnType]? = nil) { table = FakeTableBox(FakeTable(columns: columns, types: types)) }
}

/// A writer's table, mutated in place as rows arrive.
private final class FakeTableBox {
    var value: FakeTable
    init(_ value: FakeTable) { self.value = value }
}

private func task(_ pointer: OpaquePointer?) -> FakeTask? {
    pointer.map { Unmanaged<FakeTask>.fromOpaque(UnsafeRawPointer($0)).takeUnretainedValue() }
}

private func object<T: AnyObject>(_ pointer: OpaquePointer?, as type: T.Type) -> T? {
    pointer.map { Unmanaged<T>.fromOpaque(UnsafeRawPointer($0)).takeUnretainedValue() }
}

private func status(_ value: Int) -> patchbay_status { patchbay_status(value) }

/// The host callback table: every callback finds its task (or reader, writer) from the handle it is given.
/// `nonisolated(unsafe)`: a C struct of function pointers, written once here and never mutated, so sharing
/// it between threads is safe; the compiler cannot see that C function pointers carry no state.
nonisolated(unsafe) private let fakeHostTable: patchbay_host = {
    var table = patchbay_host()
    table.struct_size = UInt32(MemoryLayout<patchbay_host>.size)
    table.abi_version = UInt32(PATCHBAY_ABI_VERSION)
    table.log = { pointer, level, message in
        task(pointer)?.host.record(log: LogLevel(rawValue: level) ?? .error, message.string)
    }
    table.parameters = { pointer in task(pointer)?.lend(task(pointer)!.host.parametersJSON) ?? patchbay_str(data: nil, length: 0) }
    table.credential = { pointer, name, out in
        guard let task = task(pointer), let out else { return status(PATCHBAY_INVALID_ARGUMENT) }
        guard let value = task.host.credentials[name.string] else { return status(PATCHBAY_NOT_FOUND) }
        out.pointee = task.lend(value)
        return status(PATCHBAY_OK)
    }
    table.open_input = { pointer, name, out in
        guard let task = task(pointer), let out else { return status(PATCHBAY_INVALID_ARGUMENT) }
        if task.host.deniedTables.contains(name.string) { return status(PATCHBAY_DENIED) }
        guard let input = task.host.inputs[name.string] else { return status(PATCHBAY_NOT_FOUND) }
        let reader = FakeReader(task: task, table: input)
        task.readers.append(reader)
        out.pointee = OpaquePointer(Unmanaged.passUnretained(reader).toOpaque())
        return status(PATCHBAY_OK)
    }
    table.input_columns = { pointer, out, count in
        guard let reader = object(pointer, as: FakeReader.self), !reader.closed, let out, let count else {
            return status(PATCHBAY_INVALID_ARGUMENT)
        }
        out.pointee = reader.task.lend(reader.table.columns)
        count.pointee = reader.table.columns.count
        return status(PATCHBAY_OK)
    }
    table.read_records = { pointer, out, rows in readRecords(pointer, out, nil, rows) }
    table.read_records_nullable = { pointer, out, nulls, rows in readRecords(pointer, out, nulls, rows) }
    table.input_column_types = { pointer, out, count in
        guard let reader = object(pointer, as: FakeReader.self), !reader.closed, let out, let count else {
            return status(PATCHBAY_INVALID_ARGUMENT)
        }
        out.pointee = UnsafePointer(reader.types.baseAddress)
        count.pointee = reader.table.types.count
        return status(PATCHBAY_OK)
    }
    table.close_input = { pointer in object(pointer, as: FakeReader.self)?.closed = true }
    table.open_output = { pointer, name, columns, count, out in openOutput(pointer, name, columns, nil, count, out) }
    table.open_output_typed = { pointer, name, columns, types, count, out in
        guard types != nil else { return status(PATCHBAY_INVALID_ARGUMENT) }
        return openOutput(pointer, name, columns, types, count, out)
    }
    table.write_records = { pointer, values, rows in writeRecords(pointer, values, nil, rows) }
    table.write_records_nullable = { pointer, values, nulls, rows in writeRecords(pointer, values, nulls, rows) }
    table.close_output = { pointer in
        guard let writer = object(pointer, as: FakeWriter.self) else { return status(PATCHBAY_OK) }
        writer.closed = true
        return status(PATCHBAY_OK)
    }
    table.state_get = { pointer, out in
        guard let task = task(pointer), let out else { return status(PATCHBAY_INVALID_ARGUMENT) }
        out.pointee = task.lend(task.newState ?? task.host.state)
        return status(PATCHBAY_OK)
    }
    table.state_set = { pointer, json in
        guard let task = task(pointer) else { return status(PATCHBAY_INVALID_ARGUMENT) }
        task.newState = json.string
        return status(PATCHBAY_OK)
    }
    table.set_output = { pointer, name, value, flags in
        guard let task = task(pointer) else { return status(PATCHBAY_INVALID_ARGUMENT) }
        task.host.record(output: name.string, value.string, secret: flags & UInt32(PATCHBAY_OUTPUT_SECRET) != 0)
        return status(PATCHBAY_OK)
    }
    table.progress = { pointer, fraction, message in
        task(pointer)?.host.record(progress: fraction < 0 ? nil : fraction, message.string)
    }
    table.is_cancelled = { pointer in task(pointer)?.host.isCancelled == true ? 1 : 0 }
    table.rate_limit = { pointer, key, tokens, waited in
        guard let task = task(pointer), key.length > 0, tokens > 0 else { return status(PATCHBAY_INVALID_ARGUMENT) }
        if task.host.isCancelled { return status(PATCHBAY_CANCELLED) }
        task.host.record(rate: key.string, tokens)
        waited?.pointee = 0
        return status(PATCHBAY_OK)
    }
    table.remaining_ms = { pointer in task(pointer)?.host.remainingMilliseconds ?? -1 }
    table.set_error = { pointer, failureClass, user, internalMessage in
        task(pointer)?.error = (FailureClass(rawValue: failureClass) ?? .system, user.string, internalMessage.string)
    }
    return table
}()

private func readRecords(_ pointer: OpaquePointer?, _ out: UnsafeMutablePointer<UnsafePointer<patchbay_str>?>?,
                         _ nullsOut: UnsafeMutablePointer<UnsafePointer<UInt8>?>?, _ rows: UnsafeMutablePointer<Int>?) -> patchbay_status {
    guard let reader = object(pointer, as: FakeReader.self), !reader.closed, let out, let rows else {
        return status(PATCHBAY_INVALID_ARGUMENT)
    }
    guard let batch = reader.nextBatch() else {
        rows.pointee = 0
        return status(PATCHBAY_END)
    }
    let values = batch.flatMap { $0 }
    out.pointee = reader.task.lend(values.map { $0 ?? "" })
    rows.pointee = batch.count
    if let nullsOut {
        let flags = values.map { $0 == nil ? UInt8(1) : 0 }
        if flags.contains(1) {
            let lent = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: flags.count)
            _ = lent.initialize(from: flags)
            reader.task.lent.append(UnsafeMutableRawBufferPointer(lent))
            nullsOut.pointee = UnsafePointer(lent.baseAddress)
        } else {
            nullsOut.pointee = nil
        }
    }
    return status(PATCHBAY_OK)
}

private func openOutput(_ pointer: OpaquePointer?, _ name: patchbay_str, _ columns: UnsafePointer<patchbay_str>?, _ types: UnsafePointer<UInt32>?,
                        _ count: Int, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> patchbay_status {
    guard let task = task(pointer), let out, count == 0 || columns != nil else { return status(PATCHBAY_INVALID_ARGUMENT) }
    let name = name.string
    if task.host.deniedTables.contains(name) { return status(PATCHBAY_DENIED) }
    guard task.writers[name] == nil else { return status(PATCHBAY_INVALID_ARGUMENT) }
    var columnTypes: [ColumnType]?
    if let types {
        columnTypes = []
        for i in 0..<count {
            guard let type = ColumnType(abi: types[i]) else { return status(PATCHBAY_INVALID_ARGUMENT) }
            columnTypes!.append(type)
        }
    }
    let writer = FakeWriter(columns: (0..<count).map { columns![$0].string }, types: columnTypes)
    task.writers[name] = writer
    out.pointee = OpaquePointer(Unmanaged.passUnretained(writer).toOpaque())
    return status(PATCHBAY_OK)
}

private func writeRecords(_ pointer: OpaquePointer?, _ values: UnsafePointer<patchbay_str>?, _ nulls: UnsafePointer<UInt8>?,
                          _ rows: Int) -> patchbay_status {
    guard let writer = object(pointer, as: FakeWriter.self), !writer.closed, rows == 0 || values != nil else {
        return status(PATCHBAY_INVALID_ARGUMENT)
    }
    let width = writer.table.value.columns.count
    for r in 0..<rows {
        writer.table.value.records.append((0..<width).map { c in
            let i = r * width + c
            return (nulls?[i] ?? 0) != 0 ? nil : values![i].string
        })
    }
    return status(PATCHBAY_OK)
}
