// Writing to standard output and error without ever dying of it. A reader that goes away
// (`patchbay run F | head -2`) closes the pipe: SIGPIPE is ignored (see `Patchbay.main`), and what
// would have been written is dropped, while the run goes on and every job is still recorded.
// Foundation's FileHandle.write traps on EPIPE, so the CLI writes through these instead.
#if canImport(Glibc)
import Glibc
#endif

/// Writes all of `text` to `descriptor`, retrying short writes; a closed reader ends it silently.
private func writeAll(_ text: String, to descriptor: Int32) { writeAll(bytes: Array(text.utf8), to: descriptor) }

private func writeAll(bytes: [UInt8], to descriptor: Int32) {
    var bytes = bytes
    bytes.withUnsafeMutableBytes { raw in
        var offset = 0
        while offset < raw.count {
            let n = write(descriptor, raw.baseAddress! + offset, raw.count - offset)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }  // EPIPE or worse: nobody is reading
            offset += n
        }
    }
}

func writeStandardOutput(_ text: String) { writeAll(text, to: STDOUT_FILENO) }
/// Bytes as they are (a table export: a chunk may end inside a UTF-8 character).
func writeStandardOutput(bytes: [UInt8]) { writeAll(bytes: bytes, to: STDOUT_FILENO) }
func writeStandardError(_ text: String) { writeAll(text, to: STDERR_FILENO) }
