// What a crashed connector said last, as one line for the job's summary: the message of a Rust panic,
// a Swift fatalError, a C assertion or abort; for a crash with no message, the most telling line on
// stderr. Never a backtrace frame, a register dump or a runtime's advice ("run with RUST_BACKTRACE=1").
// Pure text in, text out: it knows no process and no file.

import Foundation

/// Reads the tail of a crashed task's stderr.
public enum CrashNarrative {
    /// The one line that best says why the task died ("" when stderr holds nothing but noise).
    public static func summary(ofStandardError text: String) -> String {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        // The Swift runtime's crash report follows whatever the connector wrote itself: cut it off.
        if let report = lines.firstIndex(where: { $0.contains("Program crashed:") || $0.hasPrefix("*** Signal") }) {
            lines = Array(lines[..<report])
        }
        if let fatal = lines.last(where: { $0.contains("Fatal error:") }) { return fatal }
        if let panic = rustPanic(in: lines) { return panic }
        if let assertion = lines.last(where: { $0.contains("Assertion `") && $0.hasSuffix("failed.") }) { return assertion }
        let meaningful = lines.filter { !$0.isEmpty && !isNoise($0) }
        let telling = ["error", "fail", "invalid", "abort", "cannot", "can't", "corrupt", "detected", "denied", "panic", "fatal", "exception"]
        if let line = meaningful.last(where: { line in telling.contains { line.lowercased().contains($0) } }) { return line }
        return meaningful.last ?? ""
    }

    /// A Rust panic, in either format: `thread 'x' (123) panicked at src/lib.rs:19:72:` with the message on
    /// the lines after it (Rust 1.73 and later), or `thread 'x' panicked at 'message', src/lib.rs:19:72`.
    static func rustPanic(in lines: [String]) -> String? {
        guard let start = lines.lastIndex(where: { $0.hasPrefix("thread '") && $0.contains(" panicked at ") }),
              let at = lines[start].range(of: " panicked at ") else { return nil }
        let rest = lines[start][at.upperBound...]
        if rest.hasPrefix("'"), let close = rest.range(of: "', ", options: .backwards) {
            return "panicked at \(rest[close.upperBound...]): \(rest[rest.index(after: rest.startIndex)..<close.lowerBound])"
        }
        let location = rest.hasSuffix(":") ? String(rest.dropLast()) : String(rest)
        let message = lines[(start + 1)...].prefix { !$0.isEmpty && !isNoise($0) }.joined(separator: " ")
        return message.isEmpty ? "panicked at \(location)" : "panicked at \(location): \(message)"
    }

    /// Backtrace frames, register dumps and runtimes' advice: never the reason.
    static func isNoise(_ line: String) -> Bool {
        let prefixes = ["note: run with `RUST_BACKTRACE", "note: Some details are omitted", "stack backtrace:", "Current stack trace",
                        "thread caused non-unwinding panic", "Backtrace took", "Thread ", "Registers:", "Images (", "Platform:",
                        "at /rustc/", "at ./", "#"]
        if prefixes.contains(where: { line.hasPrefix($0) }) { return true }
        if line.contains("<unknown>") || line.contains(" in ") && line.contains("0x") { return true }
        // "12: symbol", "3   0x00007f… in …", "0x7f…": a numbered or addressed frame.
        let first = line.split(separator: " ", maxSplits: 1).first.map(String.init) ?? line
        if first.hasPrefix("0x") { return true }
        if first.hasSuffix(":"), Int(first.dropLast()) != nil { return true }
        if Int(first) != nil, line.contains("0x") { return true }
        // A bare symbol name on a line of its own (`_start`, `__libc_start_main`): a frame.
        if !line.contains(" "), line.allSatisfy({ $0.isLetter || $0.isNumber || "_$.:<>".contains($0) }),
           line.first.map({ $0 == "_" || $0.isLetter }) == true, line.contains("_") { return true }
        return false
    }
}
