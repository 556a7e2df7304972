// PatchbayWire — the protocol between the host and a runner process.
//
// Owns: frame layout, the binary encoding of every message, the protocol
// version. Must never know: processes, sockets, Foundation (the runner links
// this module and must start in a few milliseconds), or what messages mean.
//
// A frame is a little-endian UInt32 length N (1 ... maxFrameLength) followed
// by N bytes: one kind byte, then the message's fields in order. Integers are
// little-endian; strings and byte runs are a UInt32 length then the bytes;
// arrays are a UInt32 count then the elements.

public import PatchbayCore

/// Why a byte sequence is not a valid frame or message.
public enum WireError: Error, Equatable, CustomStringConvertible {
    case frameTooLarge(UInt32)
    case emptyFrame
    case truncated(field: String)
    case invalidUTF8(field: String)
    case unknownKind(UInt8)
    case trailingBytes(Int)
    case invalidValue(field: String, value: UInt64)

    public var description: String {
        switch self {
        case .frameTooLarge(let n): return "frame length \(n) exceeds the \(Wire.maxFrameLength)-byte limit"
        case .emptyFrame: return "empty frame"
        case .truncated(let field): return "message ends inside field '\(field)'"
        case .invalidUTF8(let field): return "field '\(field)' is not valid UTF-8"
        case .unknownKind(let kind): return "unknown message kind 0x\(String(kind, radix: 16))"
        case .trailingBytes(let n): return "\(n) unexpected bytes after the message"
        case .invalidValue(let field, let value): return "field '\(field)' has invalid value \(value)"
        }
    }
}

public enum Wire {
    /// Bumped when any message changes; the handshake refuses a mismatch.
    public static let protocolVersion: UInt32 = 5
    /// The largest frame either side accepts (16 MiB).
    public static let maxFrameLength: UInt32 = 16 << 20
    /// The runner's socket to the host.
    public static let socketDescriptor: Int32 = 3
    /// The runner's cancel pipe (read end): one byte means "stop".
    public static let cancelDescriptor: Int32 = 4
}

/// Appends fields to a byte buffer.
public struct WireEncoder: Sendable {
    public private(set) var bytes: [UInt8]

    public init(kind: UInt8) {
        bytes = [0, 0, 0, 0, kind]
        bytes.reserveCapacity(64)
    }

    public mutating func u8(_ value: UInt8) { bytes.append(value) }
    public mutating func bool(_ value: Bool) { bytes.append(value ? 1 : 0) }
    public mutating func u32(_ value: UInt32) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }
    public mutating func u64(_ value: UInt64) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }
    public mutating func i64(_ value: Int64) { u64(UInt64(bitPattern: value)) }
    public mutating func f64(_ value: Double) { u64(value.bitPattern) }
    public mutating func bytes<C: Collection>(_ value: C) where C.Element == UInt8 {
        u32(UInt32(value.count))
        bytes.append(contentsOf: value)
    }
    public mutating func string(_ value: String) {
        var value = value
        value.withUTF8 { bytes($0) }
    }
    public mutating func strings(_ values: [String]) {
        u32(UInt32(values.count))
        for value in values { string(value) }
    }
    public mutating func types(_ values: [ColumnType]) {
        u32(UInt32(values.count))
        for value in values { u32(value.abiValue) }
    }

    /// The finished frame: the length prefix filled in.
    public func frame() -> [UInt8] {
        var out = bytes
        let length = UInt32(out.count - 4).littleEndian
        withUnsafeBytes(of: length) { raw in
            for i in 0..<4 { out[i] = raw[i] }
        }
        return out
    }
}

/// Reads fields from one frame's body (kind byte excluded).
public struct WireDecoder {
    private let body: ArraySlice<UInt8>
    private var index: Int

    public init(_ body: ArraySlice<UInt8>) {
        self.body = body
        index = body.startIndex
    }

    private mutating func take(_ count: Int, _ field: String) throws(WireError) -> ArraySlice<UInt8> {
        guard count >= 0, body.endIndex - index >= count else { throw .truncated(field: field) }
        defer { index += count }
        return body[index..<(index + count)]
    }

    public mutating func u8(_ field: String) throws(WireError) -> UInt8 { try take(1, field).first! }
    public mutating func bool(_ field: String) throws(WireError) -> Bool {
        let value = try u8(field)
        guard value <= 1 else { throw .invalidValue(field: field, value: UInt64(value)) }
        return value == 1
    }
    public mutating func u32(_ field: String) throws(WireError) -> UInt32 {
        var value: UInt32 = 0
        for (shift, byte) in try take(4, field).enumerated() { value |= UInt32(byte) << (8 * shift) }
        return value
    }
    public mutating func u64(_ field: String) throws(WireError) -> UInt64 {
        var value: UInt64 = 0
        for (shift, byte) in try take(8, field).enumerated() { value |= UInt64(byte) << (8 * shift) }
        return value
    }
    public mutating func i64(_ field: String) throws(WireError) -> Int64 { Int64(bitPattern: try u64(field)) }
    public mutating func f64(_ field: String) throws(WireError) -> Double { Double(bitPattern: try u64(field)) }
    public mutating func bytes(_ field: String) throws(WireError) -> [UInt8] {
        let count = try u32(field)
        return Array(try take(Int(count), field))
    }
    public mutating func string(_ field: String) throws(WireError) -> String {
        let count = try u32(field)
        let raw = try take(Int(count), field)
        guard let text = String(validating: raw, as: UTF8.self) else { throw .invalidUTF8(field: field) }
        return text
    }
    public mutating func strings(_ field: String) throws(WireError) -> [String] {
        let count = try u32(field)
        guard Int(count) <= body.endIndex - index else { throw .truncated(field: field) }
        var out: [String] = []
        out.reserveCapacity(Int(count))
        for _ in 0..<count { out.append(try string(field)) }
        return out
    }
    public mutating func types(_ field: String) throws(WireError) -> [ColumnType] {
        let count = try u32(field)
        guard Int(count) <= (body.endIndex - index) / 4 else { throw .truncated(field: field) }
        var out: [ColumnType] = []
        for _ in 0..<count {
            let raw = try u32(field)
            guard let type = ColumnType(abi: raw) else { throw .invalidValue(field: field, value: UInt64(raw)) }
            out.append(type)
        }
        return out
    }
    public func finish() throws(WireError) {
        if index != body.endIndex { throw .trailingBytes(body.endIndex - index) }
    }
}

/// Splits a byte stream into frames. Feed it what the socket gave; take frames out.
public struct FrameAccumulator: Sendable {
    private var buffer: [UInt8] = []
    private var start = 0

    public init() {}

    /// Bytes received but not yet part of a complete frame.
    public var pendingByteCount: Int { buffer.count - start }

    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        if start > 0 && start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next complete frame's body (kind byte first), nil if none is complete yet.
    public mutating func nextFrame() throws(WireError) -> ArraySlice<UInt8>? {
        guard buffer.count - start >= 4 else { return nil }
        let length = UInt32(buffer[start]) | UInt32(buffer[start + 1]) << 8
            | UInt32(buffer[start + 2]) << 16 | UInt32(buffer[start + 3]) << 24
        guard length > 0 else { throw .emptyFrame }
        guard length <= Wire.maxFrameLength else { throw .frameTooLarge(length) }
        guard buffer.count - start - 4 >= Int(length) else { return nil }
        let body = buffer[(start + 4)..<(start + 4 + Int(length))]
        start += 4 + Int(length)
        if start > 1 << 20 {
            // `body` is a value: compacting the buffer does not disturb it.
            buffer.removeFirst(start)
            start = 0
        }
        return body
    }
}
