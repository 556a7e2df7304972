import Foundation
import PatchbayCore
#if canImport(Glibc)
import Glibc
#endif

/// Splits a captured stream into log lines, within a byte and line budget
/// shared by the task's stdout and stderr; keeps the stream's tail for crash reports.
struct OutputCapture {
    let source: LogSource
    private var partial: [UInt8] = []
    private(set) var tail: [UInt8] = []
    private let tailLimit = 16 << 10
    private let lineLimit = 8 << 10

    init(source: LogSource) { self.source = source }

    /// Feeds bytes; returns the complete lines among them.
    mutating func feed(_ bytes: UnsafeRawBufferPointer, budget: inout LogBudget) -> [String] {
        keepTail(bytes)
        if budget.isSpent {
            // Past the budget only the count and the tail matter: no line splitting.
            budget.dropped += bytes.count
            return []
        }
        var lines: [String] = []
        var start = 0
        while start < bytes.count {
            guard let found = memchr(bytes.baseAddress! + start, 0x0A, bytes.count - start) else { break }
            let end = bytes.baseAddress!.distance(to: UnsafeRawPointer(found))
            partial.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start..<end]).prefix(max(0, lineLimit - partial.count)))
            if let line = budget.admit(partial) { lines.append(line) }
            partial.removeAll(keepingCapacity: true)
            start = end + 1
        }
        if start < bytes.count {
            let room = max(0, lineLimit - partial.count)
            partial.append(contentsOf: bytes[start..<min(bytes.count, start + room)])
            if bytes.count - start > room { budget.dropped += bytes.count - start - room }
        }
        return lines
    }

    private mutating func keepTail(_ bytes: UnsafeRawBufferPointer) {
        if bytes.count >= tailLimit {
            tail = Array(bytes.suffix(tailLimit))
        } else {
            tail.append(contentsOf: bytes)
            if tail.count > 2 * tailLimit { tail.removeFirst(tail.count - tailLimit) }
        }
    }

    /// The unterminated last line, if any.
    mutating func finish(budget: inout LogBudget) -> String? {
        defer { partial.removeAll() }
        return partial.isEmpty ? nil : budget.admit(partial)
    }

    var tailText: String { String(decoding: tail.suffix(tailLimit), as: UTF8.self) }
}

/// How much captured output a task may keep in its log.
struct LogBudget {
    var bytesLeft: Int
    var linesLeft: Int
    var dropped = 0

    init(bytes: Int = 4 << 20, lines: Int = 20_000) {
        bytesLeft = bytes
        linesLeft = lines
    }

    var isSpent: Bool { linesLeft <= 0 || bytesLeft <= 0 }

    mutating func admit(_ line: [UInt8]) -> String? {
        guard linesLeft > 0, bytesLeft >= line.count else {
            dropped += line.count + 1
            return nil
        }
        linesLeft -= 1
        bytesLeft -= line.count
        var text = String(decoding: line, as: UTF8.self)
        if text.hasSuffix("\r") { text.removeLast() }
        return text
    }
}
