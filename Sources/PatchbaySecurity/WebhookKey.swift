// The key that signs a project's webhook calls (HMAC-SHA256), kept beside the master key: made once, 0600.
import Crypto
public import Foundation
#if canImport(Glibc)
import Glibc
#endif

public enum WebhookKey {
    /// The key's text (64 hex characters) at `path`, made there first if there is none.
    public static func load(at path: String) throws -> String {
        if let existing = try? String(contentsOfFile: path, encoding: .utf8) { return existing.trimmingCharacters(in: .whitespacesAndNewlines) }
        let key = SymmetricKey(size: .bits256).withUnsafeBytes { $0.map { String(format: "%02x", $0) }.joined() }
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if fd >= 0 {
            _ = key.withCString { write(fd, $0, strlen($0)) }
            close(fd)
            return key
        }
        // Made by another process meanwhile.
        return try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The signature a receiver checks: `sha256=` and the hex HMAC-SHA256 of "TIMESTAMP.BODY" keyed with the key's text.
    public static func signature(key: String, timestamp: Int64, body: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data("\(timestamp).\(body)".utf8), using: SymmetricKey(data: Data(key.utf8)))
        return "sha256=" + mac.map { String(format: "%02x", $0) }.joined()
    }
}
