// The runner's end of the socket: blocking, whole frames, no Foundation.
#if canImport(Glibc)
import Glibc
#endif
import PatchbayWire

/// Blocking frame I/O on the inherited socket. Used only under TaskSession's lock
/// (or before any connector code runs), so one request/reply pair is never interleaved.
struct Channel {
    let descriptor: Int32

    func send(_ message: RunnerMessage) {
        let frame = message.frame()
        frame.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.send(descriptor, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                if n < 0 {
                    if errno == EINTR { continue }
                    // The host is gone; nothing left to report to.
                    _exit(71)
                }
                offset += n
            }
        }
    }

    /// Reads exactly `count` bytes; nil on EOF.
    private func readExactly(_ count: Int) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: count)
        var offset = 0
        while offset < count {
            let n = out.withUnsafeMutableBytes { raw in
                Glibc.read(descriptor, raw.baseAddress! + offset, count - offset)
            }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return nil }
            offset += n
        }
        return out
    }

    /// The next message from the host; exits the process if the host hung up or broke the protocol.
    func receive() -> HostMessage {
        guard let header = readExactly(4) else { _exit(72) }
        let length = UInt32(header[0]) | UInt32(header[1]) << 8 | UInt32(header[2]) << 16 | UInt32(header[3]) << 24
        guard length > 0, length <= Wire.maxFrameLength, let body = readExactly(Int(length)) else { _exit(73) }
        do {
            return try HostMessage.decode(body[...])
        } catch {
            fail("host sent an invalid frame: \(error)")
        }
    }
}

/// Last resort: a message on stderr (captured into the task log) and a distinctive exit code.
func fail(_ text: String) -> Never {
    let line = "patchbay-runner: \(text)\n"
    var bytes = Array(line.utf8)
    _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
    _exit(74)
}
