// The one task this runner process serves, and the host callback table the
// connector calls. Callbacks may come from any connector thread; every one of
// them takes `session.lock`, so the socket's request/reply pairs never interleave.
#if canImport(Glibc)
import Glibc
#endif
import PatchbayABI
import PatchbayCore
import PatchbayWire

/// A pthread mutex with a stable address.
final class Lock {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t> = .allocate(capacity: 1)
    init() { pthread_mutex_init(mutex, nil) }
    deinit { pthread_mutex_destroy(mutex); mutex.deallocate() }
    @inline(__always) func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}

/// Bytes lent to the connector until replaced or the task ends.
final class LentBytes {
    private(set) var pointer: UnsafeMutableRawBufferPointer
    init<C: Collection>(_ source: C) where C.Element == UInt8 {
        pointer = .allocate(byteCount: source.count + 1, alignment: 1)
        pointer.copyBytes(from: source)
        pointer[source.count] = 0
    }
    var str: patchbay_str {
        patchbay_str(data: pointer.baseAddress?.assumingMemoryBound(to: CChar.self), length: pointer.count - 1)
    }
    deinit { pointer.deallocate() }
}

func string(_ value: patchbay_str) -> String? {
    if value.length == 0 { return "" }
    guard let data = value.data else { return nil }
    return String(decoding: UnsafeRawBufferPointer(start: data, count: value.length), as: UTF8.self)
}

func bytes(_ value: patchbay_str) -> [UInt8]? {
    if value.length == 0 { return [] }
    guard let data = value.data else { return nil }
    return Array(UnsafeRawBufferPointer(start: data, count: value.length))
}

func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

final class TaskSession {
    let channel: Channel
    let hello: Hello
    let lock = Lock()
    /// Opaque handles given to the connector; only their identity matters.
    let taskHandle = OpaquePointer(bitPattern: 0x7A5C_0001)!
    let errorHandle = OpaquePointer(bitPattern: 0x7A5C_0002)!

    private let parameters: LentBytes
    private var state: LentBytes
    private var credentials: [String: LentBytes] = [:]
    private var readers: [UInt: TableReader] = [:]
    private(set) var writers: [UInt: TableWriter] = [:]
    private var writerOrder: [UInt] = []
    private var nextHandle: UInt = 0x5A00_0000
    private var cancelled = false
    private var lastProgress: UInt64 = 0
    private(set) var writeFailure: String?
    /// The first request the task's token refused: it fails the task with class config, whatever the
    /// connector returns afterwards.
    private(set) var denial: String?

    /// What the connector said with set_error().
    var failure: (failureClass: UInt32, user: String, internal: String)?

    /// Whether each state_set() is a checkpoint: an extraction declaring PATCHBAY_CAP_CHECKPOINTS, in run().
    /// Set once, before the connector's run() is called.
    var takesCheckpoints = false
    /// Tables an earlier attempt's checkpoint left in the workspace, by name, until the connector opens them again.
    private var resumed: [String: TableMark]

    /// The input tables, opened by the runner before it dropped its privileges (by name).
    let inputDescriptors: [String: Int32]

    init(channel: Channel, hello: Hello, inputDescriptors: [String: Int32]) {
        self.inputDescriptors = inputDescriptors
        self.channel = channel
        self.hello = hello
        parameters = LentBytes(hello.parametersJSON.utf8)
        state = LentBytes(hello.stateJSON.utf8)
        resumed = Dictionary(hello.resumedTables.map { ($0.file.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    func isTask(_ task: OpaquePointer?) -> Bool { task == taskHandle }

    private func newHandle() -> UInt {
        nextHandle += 16
        return nextHandle
    }

    // MARK: callbacks (each called with the lock held)

    func log(_ level: UInt32, _ message: patchbay_str) {
        guard level >= hello.minimumLogLevel, let text = string(message) else { return }
        channel.send(.log(level: min(max(level, 1), 4), message: text))
    }

    var parametersString: patchbay_str { parameters.str }

    func credential(_ name: patchbay_str, _ out: UnsafeMutablePointer<patchbay_str>?) -> patchbay_status {
        guard let out, let key = string(name), !key.isEmpty else { return patchbay_status(PATCHBAY_INVALID_ARGUMENT) }
        if let cached = credentials[key] {
            out.pointee = cached.str
            return patchbay_status(PATCHBAY_OK)
        }
        channel.send(.credentialRequest(name: key))
        guard case .credentialReply(let status, let value) = channel.receive() else {
            fail("host answered a credential request with another message")
        }
        guard status == patchbay_status(PATCHBAY_OK) else { return status }
        let lent = LentBytes(value)
        credentials[key] = lent
        out.pointee = lent.str
        return status
    }

    /// rate_limit's first half, under the lock: asks the host for a turn; returns how long to wait (nil: invalid).
    func reserveRate(_ key: patchbay_str, _ tokens: UInt32) -> UInt64? {
        guard tokens > 0, let name = string(key), !name.isEmpty, name.utf8.count <= 256 else { return nil }
        channel.send(.rateRequest(key: name, tokens: tokens))
        guard case .rateReply(let wait) = channel.receive() else {
            fail("host answered a rate-limit request with another message")
        }
        return wait
    }

    func openInput(_ name: patchbay_str, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> patchbay_status {
        guard let out, let key = string(name) else { return patchbay_status(PATCHBAY_INVALID_ARGUMENT) }
        guard let input = hello.inputs.first(where: { $0.name == key }) else {
            channel.send(.log(level: UInt32(PATCHBAY_LOG_WARNING), message: "open_input: the task has no input table named '\(key)' (it has: \(hello.inputs.map(\.name).joined(separator: ", ")))"))
            return patchbay_status(PATCHBAY_NOT_FOUND)
        }
        guard let descriptor = inputDescriptors[key] else {
            channel.send(.log(level: UInt32(PATCHBAY_LOG_ERROR), message: "open_input '\(key)': \(input.path) could not be opened before the task started"))
            return patchbay_status(PATCHBAY_IO)
        }
        do {
            let reader = try TableReader(descriptor: descriptor, path: input.path, types: input.types)
            let handle = newHandle()
            readers[handle] = reader
            out.pointee = OpaquePointer(bitPattern: handle)
            return patchbay_status(PATCHBAY_OK)
        } catch {
            channel.send(.log(level: UInt32(PATCHBAY_LOG_ERROR), message: "open_input '\(key)': \(error.detail)"))
            return patchbay_status(PATCHBAY_IO)
        }
    }

    private func reader(_ handle: OpaquePointer?) -> TableReader? {
        guard let handle else { return nil }
        return readers[UInt(bitPattern: handle)]
    }

    func inputColumns(_ handle: OpaquePointer?, _ outColumns: UnsafeMutablePointer<UnsafePointer<patchbay_str>?>?,
                      _ outCount: UnsafeMutablePointer<Int>?) -> patchbay_status {
        guard let reader = reader(handle), let outColumns, let outCount else { return patchbay_status(PATCHBAY_INVALID_ARGUMENT) }
        outColumns.pointee = reader.columnNames.pointer
        outCount.pointee = reader.columns.count
        return patchbay_status(PATCHBAY_OK)
    }

    func inputColumnTypes(_ handle: OpaquePointer?, _ outTypes: UnsafeMutablePointer<UnsafePointer<UInt32>?>?,
                          _ outCount: UnsafeMutablePointer<Int>?) -> patchbay_status {
        guard let reader = reader(handle), let outTypes, let outCount else { return patchbay_status(PATCHBAY_INVALID_ARGUMENT) }
        outTypes.pointee = UnsafePointer(reader.lentTypes.baseAddress)
        outCount.pointee = reader.types.count
        return patchbay_status(PATCHBAY_OK)
    }

    /// read_records and read_records_nullable: `outNulls` nil for the 1.0 call, which gives a NULL as "".
    func readRecords(_ handle: OpaquePointer?, _ outValues: UnsafeMutablePointer<UnsafePointer<patchbay_str>?>?,
                     _ outNulls: UnsafeMutablePointer<UnsafePointer<UInt8>?>? = nil,
                     _ outRows: UnsafeMutablePointer<Int>?) -> patchbay_status {
        guard let reader = reader(handle), let outValues, let outRows else { return patchbay_status(PATCHBAY_INVALID_ARGUMENT) }
        do {
            let rows = try reader.nextBatch()
            outRows.pointee = rows
            outValues.pointee = reader.batch.pointer
            outNulls?.pointee = reader.nulls
            return patchbay_status(rows == 0 ? PATCHBAY_END : PATCHBAY_OK)
        } catch {
            channel.send(.log(level: UInt32(PATCHBAY_LOG_ERROR), message: "read_records: \(error.detail)"))
            outRows.pointee = 0
            return patchbay_status(PATCHBAY_IO)
        }
    }

    func closeInput(_ handle: OpaquePointer?) {
        guard let handle else { return }
        readers[UInt(bitPattern: handle)] = nil
    }

    /// open_output and open_output_typed: `types` nil for the 1.0 call, which makes string columns.
    func openOutput(_ name: patchbay_str, _ columns: UnsafePointer<patchbay_str>?, types rawTypes: UnsafePointer<UInt32>? = nil,
                    typed: Bool = false, _ count: Int, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> patchbay_status {
        guard let out, let table = string(name), TableFile.isValidName(table), count > 0, let columns else {
            channel.send(.log(level: UInt32(PATCHBAY_LOG_ERROR), message: "open_output: invalid arguments (table names use letters, digits, '.', '-', '_'; at least one column)"))
            return patchbay_status(PATCHBAY_INVALID_ARGUMENT)
        }
        guard !writers.values.contains(where: { $0.name == table }) else {
            channel.send(.log(level: UInt32(PATCHBAY_LOG_ERROR), message: "open_output: table '\(table)' is already open in this task"))
            return patchbay_status(PATCHBAY_INVALID_ARGUMENT)
        }
        var names: [String] = []
        for i in 0..<count {
            guard let column = string(columns[i]), !column.isEmpty else { return patchbay_status(PATCHBAY_INVALID_ARGUMENT) }
            names.append(column)
        }
        guard Set(names).count == names.count else {
            channel.send(.log(level: UInt32(PATCHBAY_LOG_ERROR), message: "open_output '\(table)': duplicate column names"))
            return patchbay_status(PATCHBAY_INVALID_ARGUMENT)
        }
        var types = Array(repeating: ColumnType.string, count: count)
        if typed {
            guard let rawTypes else { return patchbay_status(PATCHBAY_INVALID_ARGUMENT) }
            for i in 0..<count {
                guard let type = ColumnType(abi: rawTypes[i]) else {
                    channel.send(.log(level: UInt32(PATCHBAY_LOG_ERROR), message: "open_output_typed '\(table)': column '\(names[i])' has type \(rawTypes[i]), which is not a PATCHBAY_TYPE_* (1…8)"))
                    return patchbay_status(PATCHBAY_INVALID_ARGUMENT)
                }
                types[i] = type
            }
        }
        let bucket = table.split(separator: ".", maxSplits: 1).first.map(String.init) ?? table
        guard hello.writableBuckets.allows(bucket: bucket) else {
            let reason = "open_output: the run's token may not write the bucket of '\(table)' (bucket '\(bucket)'; it may write \(hello.writableBuckets.description)); nothing was written"
            denial = denial ?? reason
            channel.send(.log(level: UInt32(PATCHBAY_LOG_ERROR), message: reason))
            return patchbay_status(PATCHBAY_DENIED)
        }
        if let mark = resumed[table] {
            // A checkpoint kept this table: the rows go on after its rows, in the columns it had.
            guard mark.file.columns == names, mark.file.types == types else {
                let had = zip(mark.file.columns, mark.file.types).map { "\($0) \($1.word)" }.joined(separator: ", ")
                channel.send(.log(level: UInt32(PATCHBAY_LOG_ERROR), message: "open_output '\(table)': the checkpoint this attempt resumes from kept the table with the columns (\(had)); it must be opened with those again"))
                return patchbay_status(PATCHBAY_INVALID_ARGUMENT)
            }
            guard let writer = TableWriter(resuming: mark) else {
                let reason = ioFailure(errno, "reopening table '\(table)' at \(hello.workspace)/\(mark.file.expectedWorkspacePath) from its checkpoint")
                writeFailure = writeFailure ?? reason
                channel.send(.log(level: UInt32(PATCHBAY_LOG_ERROR), message: "open_output: \(reason)"))
                return patchbay_status(PATCHBAY_IO)
            }
            resumed[table] = nil
            return register(writer, out)
        }
        guard let writer = TableWriter(name: table, columns: names, types: types) else {
            let reason = ioFailure(errno, "creating table '\(table)' at \(hello.workspace)/out/tables/\(table).csv")
            writeFailure = writeFailure ?? reason
            channel.send(.log(level: UInt32(PATCHBAY_LOG_ERROR), message: "open_output: \(reason)"))
            return patchbay_status(PATCHBAY_IO)
        }
        return register(writer, out)
    }

    private func register(_ writer: TableWriter, _ out: UnsafeMutablePointer<OpaquePointer?>) -> patchbay_status {
        let handle = newHandle()
        writers[handle] = writer
        writerOrder.append(handle)
        out.pointee = OpaquePointer(bitPattern: handle)
        channel.send(.tableOpened(name: writer.name, columns: writer.columns))
        return patchbay_status(PATCHBAY_OK)
    }

    /// write_records and write_records_nullable (`nulls` nil: no value is NULL). A batch with a value
    /// outside its column's form writes nothing: the connector may then write its rows one by one.
    func writeRecords(_ handle: OpaquePointer?, _ values: UnsafePointer<patchbay_str>?, nulls: UnsafePointer<UInt8>? = nil,
                      _ rows: Int) -> patchbay_status {
        guard let handle, let writer = writers[UInt(bitPattern: handle)], writer.isOpen else {
            return patchbay_status(PATCHBAY_INVALID_ARGUMENT)
        }
        if rows == 0 { return patchbay_status(PATCHBAY_OK) }
        guard let values else { return patchbay_status(PATCHBAY_INVALID_ARGUMENT) }
        for i in 0..<(rows * writer.columns.count) where values[i].data == nil && values[i].length > 0 && (nulls?[i] ?? 0) == 0 {
            return patchbay_status(PATCHBAY_INVALID_ARGUMENT)
        }
        if let misfit = writer.firstMisfit(values, nulls: nulls, rows: rows) {
            channel.send(.log(level: UInt32(PATCHBAY_LOG_ERROR), message: "write_records '\(writer.name)': \(misfit); none of the batch's \(rows) rows was written"))
            return patchbay_status(PATCHBAY_INVALID_ARGUMENT)
        }
        writer.write(values, nulls: nulls, rows: rows)
        if writer.error != 0 {
            noteWriteFailure(writer.error, "writing table '\(writer.name)'", writer)
            return patchbay_status(PATCHBAY_IO)
        }
        return patchbay_status(PATCHBAY_OK)
    }

    func closeOutput(_ handle: OpaquePointer?) -> patchbay_status {
        guard let handle else { return patchbay_status(PATCHBAY_OK) }
        guard let writer = writers[UInt(bitPattern: handle)] else { return patchbay_status(PATCHBAY_INVALID_ARGUMENT) }
        let error = writer.close()
        if error != 0 {
            noteWriteFailure(error, "closing table '\(writer.name)'", writer)
            return patchbay_status(PATCHBAY_IO)
        }
        return patchbay_status(PATCHBAY_OK)
    }

    /// "no space left on device, writing table 'in.sample' at /…/out/tables/in.sample.csv": the system's
    /// reason and the path, logged at once (the connector may word its own error without them) and kept
    /// for the task's result. The first failure is the one that counts.
    private func noteWriteFailure(_ error: Int32, _ what: String, _ writer: TableWriter) {
        let reason = ioFailure(error, "\(what) at \(hello.workspace)/\(writer.relativePath)")
        if writeFailure == nil {
            writeFailure = reason
            channel.send(.log(level: UInt32(PATCHBAY_LOG_ERROR), message: reason))
        }
    }

    private func ioFailure(_ error: Int32, _ what: String) -> String {
        var reason = String(cString: strerror(error))
        if let first = reason.first, first.isUppercase { reason = first.lowercased() + reason.dropFirst() }
        if error == EFBIG, hello.confinement.fileSizeBytes > 0 {
            reason += " (the task's file size limit is \(hello.confinement.fileSizeBytes >> 10) KiB)"
        }
        return "\(reason), \(what)"
    }

    func stateGet(_ out: UnsafeMutablePointer<patchbay_str>?) -> patchbay_status {
        guard let out else { return patchbay_status(PATCHBAY_INVALID_ARGUMENT) }
        out.pointee = state.str
        return patchbay_status(PATCHBAY_OK)
    }

    func stateSet(_ json: patchbay_str) -> patchbay_status {
        guard let text = string(json) else { return patchbay_status(PATCHBAY_INVALID_ARGUMENT) }
        state = LentBytes(text.utf8)
        guard takesCheckpoints else {
            channel.send(.stateSet(json: text))
            return patchbay_status(PATCHBAY_OK)
        }
        // A checkpoint: every table's rows so far reach its file first, so the state never runs ahead of them.
        var marks: [TableMark] = []
        for handle in writerOrder {
            guard let writer = writers[handle] else { continue }
            guard let mark = writer.mark() else {
                noteWriteFailure(writer.error, "writing table '\(writer.name)' for a checkpoint", writer)
                return patchbay_status(PATCHBAY_IO)
            }
            marks.append(mark)
        }
        marks += resumed.values.sorted { $0.file.name < $1.file.name }
        channel.send(.checkpoint(Checkpoint(stateJSON: text, tables: marks)))
        return patchbay_status(PATCHBAY_OK)
    }

    func setOutput(_ name: patchbay_str, _ value: patchbay_str, _ flags: UInt32) -> patchbay_status {
        guard let key = string(name), !key.isEmpty, let raw = bytes(value) else { return patchbay_status(PATCHBAY_INVALID_ARGUMENT) }
        channel.send(.output(name: key, value: raw, flags: OutputFlags(rawValue: flags)))
        return patchbay_status(PATCHBAY_OK)
    }

    func progress(_ fraction: Double, _ message: patchbay_str) {
        // At most ten reports a second reach the host, plus the final one.
        let now = monotonicNanoseconds()
        guard fraction >= 1 || now - lastProgress >= 100_000_000 else { return }
        lastProgress = now
        channel.send(.progress(fraction: fraction.isFinite ? min(fraction, 1) : -1, message: string(message) ?? ""))
    }

    func isCancelled() -> Bool {
        if cancelled { return true }
        var request = pollfd(fd: Wire.cancelDescriptor, events: Int16(POLLIN), revents: 0)
        if poll(&request, 1, 0) > 0 {
            // A byte means "cancel"; a hang-up means the host is gone: stop either way.
            cancelled = true
        }
        return cancelled
    }

    func markCancelled() { cancelled = true }

    func remainingMilliseconds() -> Int64 {
        guard hello.deadlineNanoseconds > 0 else { return -1 }
        let now = monotonicNanoseconds()
        return now >= hello.deadlineNanoseconds ? 0 : Int64((hello.deadlineNanoseconds - now) / 1_000_000)
    }

    func setError(_ failureClass: UInt32, _ user: patchbay_str, _ internalMessage: patchbay_str) {
        // A class this runner does not know (a newer minor's) is a system failure: the vocabulary decides.
        let known = FailureClass.allCases.contains { $0.abiValue == failureClass } ? failureClass : UInt32(PATCHBAY_FAILURE_SYSTEM)
        failure = (known, string(user) ?? "", string(internalMessage) ?? "")
    }

    /// Closes every writer still open, in opening order; the tables a successful task hands back.
    func finishTables() -> [TableFile]? {
        var produced: [TableFile] = []
        for handle in writerOrder {
            guard let writer = writers[handle] else { continue }
            let error = writer.close()
            if error != 0 {
                noteWriteFailure(error, "finishing table '\(writer.name)'", writer)
                return nil
            }
            produced.append(TableFile(name: writer.name, columns: writer.columns, types: writer.types, rowCount: writer.rowCount,
                                      path: writer.relativePath))
        }
        // A table the checkpoint kept and this attempt never opened again is handed back as it was.
        for mark in resumed.values.sorted(by: { $0.file.name < $1.file.name }) {
            guard truncate(mark.file.expectedWorkspacePath, off_t(mark.byteCount)) == 0 else {
                writeFailure = writeFailure ?? ioFailure(errno, "keeping table '\(mark.file.name)' from its checkpoint")
                return nil
            }
            produced.append(mark.file)
        }
        return writeFailure == nil ? produced : nil
    }
}

/// The one session of this process. Set once in main before any connector code
/// runs and never replaced, so reading it from callback threads is safe; all
/// mutation inside goes through `session.lock`.
nonisolated(unsafe) var currentSession: TaskSession!

@inline(__always)
private func withSession<T>(_ task: OpaquePointer?, invalid: T, _ body: (TaskSession) -> T) -> T {
    let session = currentSession!
    guard session.isTask(task) else { return invalid }
    return session.lock.withLock { body(session) }
}

@inline(__always)
private func withSession<T>(_ body: (TaskSession) -> T) -> T {
    let session = currentSession!
    return session.lock.withLock { body(session) }
}

private let invalidArgument = patchbay_status(PATCHBAY_INVALID_ARGUMENT)

/// The callback table, allocated once; lives for the life of the process.
func makeHostTable() -> UnsafePointer<patchbay_host> {
    var table = patchbay_host()
    table.struct_size = UInt32(MemoryLayout<patchbay_host>.size)
    table.abi_version = UInt32(PATCHBAY_ABI_VERSION)
    table.log = { task, level, message in withSession(task, invalid: ()) { $0.log(level, message) } }
    table.parameters = { task in withSession(task, invalid: patchbay_str(data: nil, length: 0)) { $0.parametersString } }
    table.credential = { task, name, out in withSession(task, invalid: invalidArgument) { $0.credential(name, out) } }
    table.open_input = { task, name, out in withSession(task, invalid: invalidArgument) { $0.openInput(name, out) } }
    table.input_columns = { reader, columns, count in withSession { $0.inputColumns(reader, columns, count) } }
    table.read_records = { reader, values, rows in withSession { $0.readRecords(reader, values, nil, rows) } }
    table.close_input = { reader in withSession { $0.closeInput(reader) } }
    table.open_output = { task, name, columns, count, out in
        withSession(task, invalid: invalidArgument) { $0.openOutput(name, columns, count, out) }
    }
    table.write_records = { writer, values, rows in withSession { $0.writeRecords(writer, values, rows) } }
    table.close_output = { writer in withSession { $0.closeOutput(writer) } }
    table.open_output_typed = { task, name, columns, types, count, out in
        withSession(task, invalid: invalidArgument) { $0.openOutput(name, columns, types: types, typed: true, count, out) }
    }
    table.write_records_nullable = { writer, values, nulls, rows in withSession { $0.writeRecords(writer, values, nulls: nulls, rows) } }
    table.read_records_nullable = { reader, values, nulls, rows in withSession { $0.readRecords(reader, values, nulls, rows) } }
    table.input_column_types = { reader, types, count in withSession { $0.inputColumnTypes(reader, types, count) } }
    table.state_get = { task, out in withSession(task, invalid: invalidArgument) { $0.stateGet(out) } }
    table.state_set = { task, json in withSession(task, invalid: invalidArgument) { $0.stateSet(json) } }
    table.set_output = { task, name, value, flags in withSession(task, invalid: invalidArgument) { $0.setOutput(name, value, flags) } }
    table.progress = { task, fraction, message in withSession(task, invalid: ()) { $0.progress(fraction, message) } }
    table.is_cancelled = { task in withSession(task, invalid: 0) { $0.isCancelled() ? 1 : 0 } }
    table.remaining_ms = { task in withSession(task, invalid: -1) { $0.remainingMilliseconds() } }
    table.rate_limit = { task, key, tokens, out in
        guard let wait = withSession(task, invalid: nil, { $0.reserveRate(key, tokens) }) else { return invalidArgument }
        // The wait itself without the lock (other threads may call the host meanwhile), waking for a cancel.
        let started = monotonicNanoseconds()
        while monotonicNanoseconds() - started < wait {
            if withSession(task, invalid: true, { $0.isCancelled() }) {
                out?.pointee = (monotonicNanoseconds() - started) / 1_000_000
                return patchbay_status(PATCHBAY_CANCELLED)
            }
            let left = wait - (monotonicNanoseconds() - started)
            var pause = timespec(tv_sec: 0, tv_nsec: Int(min(left, 20_000_000)))
            nanosleep(&pause, nil)
        }
        out?.pointee = wait / 1_000_000
        return patchbay_status(PATCHBAY_OK)
    }
    table.set_error = { error, failureClass, user, internalMessage in
        withSession { session in
            guard error == session.errorHandle else { return }
            session.setError(failureClass, user, internalMessage)
        }
    }
    let pointer = UnsafeMutablePointer<patchbay_host>.allocate(capacity: 1)
    pointer.initialize(to: table)
    return UnsafePointer(pointer)
}

/// Set once in main, before the watcher thread starts; never changed after.
nonisolated(unsafe) var currentDescriptor: UnsafePointer<patchbay_connector>?

/// Starts the thread that waits on the cancel pipe and calls the connector's cancel().
/// It lives here, not in main.swift: closures in top-level code are main-actor
/// isolated, and Swift traps when such a closure runs on another thread.
func startCancelWatcher() {
    var thread = pthread_t()
    pthread_create(&thread, nil, { _ in
        var byte: UInt8 = 0
        while read(Wire.cancelDescriptor, &byte, 1) < 0 && errno == EINTR {}
        let session = currentSession!
        session.lock.withLock { session.markCancelled() }
        currentDescriptor?.pointee.cancel?(session.taskHandle)
        return nil
    }, nil)
}
