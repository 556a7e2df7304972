// Output and input tables inside the task's workspace, as RFC 4180 CSV with a
// header row. Output files are written under out/tables/ and handed to the host
// only when the task succeeds; the host never reads a half-written table.
#if canImport(Glibc)
import Glibc
#endif
import PatchbayABI
import PatchbayCore

/// A buffered append-only file. Owns its descriptor and buffer until close().
final class ByteSink {
    private var descriptor: Int32
    private let buffer: UnsafeMutablePointer<UInt8>
    private let capacity = 1 << 20
    private var used = 0
    private(set) var failed: Int32 = 0
    /// Bytes appended so far, buffered or written, from the file's first byte.
    private(set) var size: UInt64

    /// A new file at `path`.
    init?(path: String) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return nil }
        descriptor = fd
        buffer = .allocate(capacity: capacity)
        size = 0
    }

    /// The file at `path`, appended to from its first `size` bytes (a checkpoint's; anything after them is cut).
    init?(appendingTo path: String, at size: UInt64) {
        let fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        guard ftruncate(fd, off_t(size)) == 0, lseek(fd, off_t(size), SEEK_SET) == off_t(size) else {
            let error = errno
            _ = Glibc.close(fd)
            errno = error
            return nil
        }
        descriptor = fd
        buffer = .allocate(capacity: capacity)
        self.size = size
    }

    func append(_ bytes: UnsafeRawBufferPointer) {
        size += UInt64(bytes.count)
        if bytes.count > capacity - used { flush() }
        if bytes.count > capacity {
            writeAll(bytes)
            return
        }
        if let base = bytes.baseAddress { (buffer + used).update(from: base.assumingMemoryBound(to: UInt8.self), count: bytes.count) }
        used += bytes.count
    }

    func append(_ byte: UInt8) {
        size += 1
        if used == capacity { flush() }
        buffer[used] = byte
        used += 1
    }

    func flush() {
        writeAll(UnsafeRawBufferPointer(start: buffer, count: used))
        used = 0
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) {
        var offset = 0
        while offset < bytes.count && failed == 0 {
            let n = write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                failed = errno
                return
            }
            offset += n
        }
    }

    /// Flushes and closes; returns 0 or the first errno seen. Idempotent.
    func close() -> Int32 {
        guard descriptor >= 0 else { return failed }
        flush()
        if Glibc.close(descriptor) != 0 && failed == 0 { failed = errno }
        descriptor = -1
        return failed
    }

    deinit {
        if descriptor >= 0 { _ = Glibc.close(descriptor) }
        buffer.deallocate()
    }
}

/// Writes one CSV field, quoting only when it must. An empty string is written `""`, because an unquoted
/// empty field is NULL (TableWriter.write leaves a NULL empty).
@inline(__always)
func appendField(_ value: patchbay_str, to sink: ByteSink) {
    guard value.length > 0, let data = value.data else {
        sink.append(0x22)
        sink.append(0x22)
        return
    }
    let bytes = UnsafeRawBufferPointer(start: data, count: value.length)
    var needsQuotes = false
    for byte in bytes where byte == 0x2C || byte == 0x22 || byte == 0x0A || byte == 0x0D {
        needsQuotes = true
        break
    }
    guard needsQuotes else {
        sink.append(bytes)
        return
    }
    sink.append(0x22)
    var runStart = 0
    for (i, byte) in bytes.enumerated() where byte == 0x22 {
        sink.append(UnsafeRawBufferPointer(rebasing: bytes[runStart...i]))  // includes the quote
        sink.append(0x22)  // doubled
        runStart = i + 1
    }
    sink.append(UnsafeRawBufferPointer(rebasing: bytes[runStart...]))
    sink.append(0x22)
}

/// One open output table.
final class TableWriter {
    let name: String
    let columns: [String]
    let types: [ColumnType]
    /// Whether any column needs its values checked (false for an all-string table).
    private let checked: Bool
    let relativePath: String
    private(set) var rowCount: UInt64 = 0
    private var sink: ByteSink?
    /// The file's size once closed.
    private var closedSize: UInt64?
    private(set) var error: Int32 = 0

    /// Creates `out/tables/NAME.csv` relative to the runner's working directory, its workspace (the
    /// directories above it may be closed to the task's uid).
    init?(name: String, columns: [String], types: [ColumnType]) {
        self.name = name
        self.columns = columns
        self.types = types
        checked = types.contains { $0 != .string }
        relativePath = "out/tables/\(name).csv"
        guard let sink = ByteSink(path: relativePath) else { return nil }
        for (i, column) in columns.enumerated() {
            if i > 0 { sink.append(0x2C) }
            var column = column
            column.withUTF8 { raw in
                appendField(patchbay_str(data: UnsafeRawPointer(raw.baseAddress)?.assumingMemoryBound(to: CChar.self), length: raw.count), to: sink)
            }
        }
        sink.append(0x0A)
        self.sink = sink
    }

    /// Reopens a table a checkpoint kept: its file holds the header and `mark.file.rowCount` rows in its
    /// first `mark.byteCount` bytes, and the rows written now follow them.
    init?(resuming mark: TableMark) {
        name = mark.file.name
        columns = mark.file.columns
        types = mark.file.types
        checked = types.contains { $0 != .string }
        relativePath = mark.file.expectedWorkspacePath
        guard let sink = ByteSink(appendingTo: relativePath, at: mark.byteCount) else { return nil }
        rowCount = mark.file.rowCount
        self.sink = sink
    }

    var isOpen: Bool { sink != nil }

    /// The table as it stands on disk once its buffer is written: for a checkpoint. Nil if a write failed.
    func mark() -> TableMark? {
        var size = closedSize
        if let sink {
            sink.flush()
            error = sink.failed
            size = sink.size
        }
        guard error == 0, let size else { return nil }
        return TableMark(file: TableFile(name: name, columns: columns, types: types, rowCount: rowCount, path: relativePath),
                         byteCount: size)
    }

    /// The first value of a batch that is not in its column's form: "column 'amount' (decimal), row 3 of
    /// the batch: '12,5' is not digits with an optional '-' and '.digits'". Nil when every value fits.
    func firstMisfit(_ values: UnsafePointer<patchbay_str>, nulls: UnsafePointer<UInt8>?, rows: Int) -> String? {
        guard checked else { return nil }
        let width = columns.count
        for row in 0..<rows {
            for column in 0..<width where types[column] != .string {
                let index = row * width + column
                if let nulls, nulls[index] != 0 { continue }
                let value = values[index]
                let raw = UnsafeRawBufferPointer(start: value.data, count: value.length)
                if !types[column].accepts(raw) {
                    var text = String(decoding: raw.prefix(80), as: UTF8.self)
                    if raw.count > 80 { text += "…" }
                    return "column '\(columns[column])' (\(types[column].word)), row \(row + 1) of the batch: '\(text)' is not \(types[column].form)"
                }
            }
        }
        return nil
    }

    func write(_ values: UnsafePointer<patchbay_str>, nulls: UnsafePointer<UInt8>? = nil, rows: Int) {
        guard let current = sink else { return }
        let width = columns.count
        var index = 0
        for _ in 0..<rows {
            for column in 0..<width {
                if column > 0 { current.append(0x2C) }
                if let nulls, nulls[index] != 0 {
                    // NULL: an unquoted empty field.
                } else {
                    appendField(values[index], to: current)
                }
                index += 1
            }
            current.append(0x0A)
        }
        rowCount += UInt64(rows)
        error = current.failed
    }

    /// Flushes to disk. Returns 0 or errno.
    func close() -> Int32 {
        guard let current = sink else { return error }
        sink = nil
        let result = current.close()
        if error == 0 { error = result }
        closedSize = current.size
        return error
    }
}

/// Why an input table could not be read.
struct InputError: Error { var detail: String }

/// Memory the runner owns and lends to the connector: stable addresses until
/// replaced or freed (Swift arrays give no such promise outside a closure).
struct LentStrings: ~Copyable {
    private var bytes = UnsafeMutableRawBufferPointer(start: nil, count: 0)
    private(set) var strings = UnsafeMutableBufferPointer<patchbay_str>(start: nil, count: 0)
    private(set) var count = 0

    /// Replaces the contents: `spans` index into `source`.
    mutating func replace(with source: [UInt8], spans: [(Int, Int)]) {
        if bytes.count < source.count + 1 {
            bytes.deallocate()
            bytes = .allocate(byteCount: max(source.count + 1, 4096), alignment: 1)
        }
        if strings.count < spans.count {
            strings.deallocate()
            strings = .allocate(capacity: max(spans.count, 64))
        }
        source.withUnsafeBytes { raw in
            if raw.count > 0 { bytes.baseAddress!.copyMemory(from: raw.baseAddress!, byteCount: raw.count) }
        }
        let base = bytes.baseAddress!.assumingMemoryBound(to: CChar.self)
        for (i, (offset, length)) in spans.enumerated() {
            strings[i] = patchbay_str(data: base + offset, length: length)
        }
        count = spans.count
    }

    var pointer: UnsafePointer<patchbay_str>? { UnsafePointer(strings.baseAddress) }

    deinit {
        bytes.deallocate()
        strings.deallocate()
    }
}

/// An input table, read as a stream: a window of the file (about 1 MiB) is parsed and lent to the connector
/// a batch of rows at a time, so a connector reading a table of any size keeps a flat memory.
final class TableReader {
    let columns: [String]
    /// The manifest's types, all `.string` for a table without one.
    let types: [ColumnType]
    /// With a manifest, an unquoted empty field is NULL; without one, there is no NULL.
    private let hasNulls: Bool
    /// One byte per value of the current batch, 1 where it is NULL, lent to the connector with the batch;
    /// `batchHasNull` says whether any is.
    private var nullBytes = UnsafeMutableBufferPointer<UInt8>(start: nil, count: 0)
    private(set) var batchHasNull = false
    var nulls: UnsafePointer<UInt8>? { batchHasNull ? UnsafePointer(nullBytes.baseAddress) : nil }
    /// The types, lent until close.
    private(set) var lentTypes: UnsafeMutableBufferPointer<UInt32>
    private let descriptor: Int32
    private let path: String
    /// The window of the file being parsed; `position` is the next unparsed byte in it.
    private var window: [UInt8] = []
    private var position = 0
    /// Where in the file the window ends, and whether the file has no more.
    private var fileOffset: off_t = 0
    private var atEnd = false
    private let batchRows = 1024
    private static let readSize = 1 << 20
    private var scratch: [UInt8] = []
    private var spans: [(Int, Int)] = []
    private(set) var rowsRead = 0
    /// The current batch, lent to the connector until the next batch or close.
    private(set) var batch = LentStrings()
    /// The column names, lent until close.
    private(set) var columnNames = LentStrings()

    /// Opens the table on `fd`, which the runner opened before it gave up its privileges (read by offset,
    /// from 0, so a table may be opened more than once).
    init(descriptor fd: Int32, path: String, types declared: [ColumnType]?) throws(InputError) {
        descriptor = fd
        self.path = path
        hasNulls = declared != nil
        var header: [(Int, Int)] = []
        var names: [UInt8] = []
        guard try Self.nextRow(descriptor: fd, path: path, window: &window, position: &position, fileOffset: &fileOffset,
                               atEnd: &atEnd, into: &names, spans: &header) else {
            throw InputError(detail: "\(path) is empty: a table needs a header row")
        }
        header = header.map { ($0.0, max($0.1, 0)) }
        let list = header.map { String(decoding: names[$0.0..<($0.0 + $0.1)], as: UTF8.self) }
        if let declared, declared.count != list.count {
            throw InputError(detail: "\(path) has \(list.count) columns but its manifest types \(declared.count)")
        }
        columns = list
        columnNames.replace(with: names, spans: header)
        types = declared ?? Array(repeating: .string, count: columns.count)
        lentTypes = .allocate(capacity: max(types.count, 1))
        for (i, type) in types.enumerated() { lentTypes[i] = type.abiValue }
    }

    deinit {
        lentTypes.deallocate()
        nullBytes.deallocate()
    }

    /// Parses the next record, reading more of the file whenever the record may go on past the window:
    /// the parse is undone and tried again on a longer window, so a field is never cut at a window's edge.
    private static func nextRow(descriptor: Int32, path: String, window: inout [UInt8], position: inout Int, fileOffset: inout off_t,
                                atEnd: inout Bool, into storage: inout [UInt8], spans: inout [(Int, Int)]) throws(InputError) -> Bool {
        while true {
            let (start, stored, spanCount) = (position, storage.count, spans.count)
            var complete = false
            var found = false
            do {
                found = try parseRow(window, &position, into: &storage, spans: &spans)
                complete = atEnd || (found && position < window.count)
            } catch {
                if atEnd { throw error }
            }
            if complete || (!found && atEnd) { return found }
            // Undo, move the unparsed tail to the front, read more, and parse the record again.
            position = start
            storage.removeSubrange(stored...)
            spans.removeSubrange(spanCount...)
            if position > 0 {
                window.removeSubrange(0..<position)
                position = 0
            }
            var chunk = [UInt8](repeating: 0, count: readSize)
            var n = 0
            repeat {
                n = chunk.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, fileOffset) }
            } while n < 0 && errno == EINTR
            if n < 0 { throw InputError(detail: "cannot read \(path): \(String(cString: strerror(errno)))") }
            if n == 0 { atEnd = true } else {
                window.append(contentsOf: chunk[0..<n])
                fileOffset += off_t(n)
            }
        }
    }

    /// Parses the next batch into `batch`; returns the row count (0 at the end).
    func nextBatch() throws(InputError) -> Int {
        scratch.removeAll(keepingCapacity: true)
        spans.removeAll(keepingCapacity: true)
        var rows = 0
        var rowSpans: [(Int, Int)] = []
        while rows < batchRows {
            rowSpans.removeAll(keepingCapacity: true)
            guard try Self.nextRow(descriptor: descriptor, path: path, window: &window, position: &position, fileOffset: &fileOffset,
                                   atEnd: &atEnd, into: &scratch, spans: &rowSpans) else { break }
            if rowSpans.count == 1 && rowSpans[0].1 == Self.unquotedEmpty && columns.count != 1 { continue }  // blank line
            guard rowSpans.count == columns.count else {
                throw InputError(detail: "data row \(rowsRead + rows + 1) has \(rowSpans.count) fields; the header has \(columns.count)")
            }
            spans.append(contentsOf: rowSpans)
            rows += 1
        }
        rowsRead += rows
        // An unquoted empty field is marked by a length of -1: NULL with a manifest, "" without one.
        batchHasNull = false
        for i in spans.indices where spans[i].1 == Self.unquotedEmpty {
            spans[i].1 = 0
            if hasNulls {
                if !batchHasNull {
                    if nullBytes.count < spans.count {
                        nullBytes.deallocate()
                        nullBytes = .allocate(capacity: spans.count)
                    }
                    nullBytes.update(repeating: 0)
                    batchHasNull = true
                }
                nullBytes[i] = 1
            }
        }
        batch.replace(with: scratch, spans: spans)
        return rows
    }

    /// The span length parseRow gives an unquoted empty field.
    static let unquotedEmpty = -1

    /// Parses one CSV record starting at `position`; false at end of input.
    private static func parseRow(_ bytes: [UInt8], _ position: inout Int, into storage: inout [UInt8],
                                 spans: inout [(Int, Int)]) throws(InputError) -> Bool {
        guard position < bytes.count else { return false }
        while true {
            let start = storage.count
            if position < bytes.count && bytes[position] == 0x22 {
                position += 1
                var closed = false
                while position < bytes.count {
                    let byte = bytes[position]
                    position += 1
                    if byte == 0x22 {
                        if position < bytes.count && bytes[position] == 0x22 {
                            storage.append(0x22)
                            position += 1
                        } else {
                            closed = true
                            break
                        }
                    } else {
                        storage.append(byte)
                    }
                }
                guard closed else { throw InputError(detail: "a quoted field is not closed before the end of the file") }
                spans.append((start, storage.count - start))
            } else {
                var end = position
                while end < bytes.count && bytes[end] != 0x2C && bytes[end] != 0x0A && bytes[end] != 0x0D { end += 1 }
                storage.append(contentsOf: bytes[position..<end])
                spans.append((start, end == position ? unquotedEmpty : end - position))
                position = end
            }
            if position >= bytes.count { return true }
            switch bytes[position] {
            case 0x2C:
                position += 1
            case 0x0D:
                position += 1
                if position < bytes.count && bytes[position] == 0x0A { position += 1 }
                return true
            case 0x0A:
                position += 1
                return true
            default:
                throw InputError(detail: "unexpected character after a quoted field at byte \(position)")
            }
        }
    }
}
