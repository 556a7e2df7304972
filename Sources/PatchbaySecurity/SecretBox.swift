// PatchbaySecurity — secrets at rest and the rules for who may see them: the host's master key,
// AES-GCM ciphertexts bound to one connector, token secrets (hashed, compared in constant time),
// token scopes, and masking of secret values in any text. It must never know SQL, processes, the
// CLI or HTTP: callers store and transport what it produces.
import Crypto
public import Foundation

public enum SecurityError: Error, CustomStringConvertible, Equatable {
    case keyFile(String)
    case notCiphertext
    case wrongConnector(expected: String, found: String)
    case tampered

    public var description: String {
        switch self {
        case .keyFile(let why): why
        case .notCiphertext: "not a Patchbay ciphertext (expected PBENC:1:<connector>:<base64>)"
        case .wrongConnector(let expected, let found):
            "this value was encrypted for connector '\(found)' and cannot be decrypted for '\(expected)'"
        case .tampered: "the encrypted value is damaged or was made with another project's master key"
        }
    }
}

/// The project's 256-bit master key, in a file only its owner may read (mode 0600). Created once
/// (`patchbay init`); a key file others can read is refused rather than used.
public struct MasterKey: Sendable {
    /// The raw key bytes (SymmetricKey is not Sendable; one is made per use).
    private let bytes: Data

    public init(bytes: Data) { self.bytes = bytes }

    var key: SymmetricKey { SymmetricKey(data: bytes) }

    /// Loads the key at `path`, creating it (0600, exclusively) if `create` and it does not exist.
    public static func load(at path: String, create: Bool = false) throws -> MasterKey {
        if create, !FileManager.default.fileExists(atPath: path) {
            let bytes = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
            try writePrivateFile(path, contents: bytes)
        }
        let data = try readPrivateFile(path, what: "master key")
        guard data.count == 32 else { throw SecurityError.keyFile("\(path): a master key is 32 bytes, this file has \(data.count)") }
        return MasterKey(bytes: data)
    }
}

/// Creates a file readable and writable by its owner only; fails if it exists.
public func writePrivateFile(_ path: String, contents: Data) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
    guard fd >= 0 else { throw SecurityError.keyFile("cannot create \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    fchmod(fd, 0o600)  // whatever the umask
    let written = contents.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    guard written == contents.count, fsync(fd) == 0 else { throw SecurityError.keyFile("cannot write \(path): \(String(cString: strerror(errno)))") }
}

/// Reads a file that must be private: owned by this user and not readable by group or others.
public func readPrivateFile(_ path: String, what: String) throws -> Data {
    var info = stat()
    guard stat(path, &info) == 0 else { throw SecurityError.keyFile("no \(what) at \(path)") }
    guard info.st_mode & 0o077 == 0, info.st_uid == geteuid() else {
        throw SecurityError.keyFile("\(path) is readable by others (mode \(String(info.st_mode & 0o777, radix: 8))); the \(what) must be mode 0600 and yours: chmod 600 \(path)")
    }
    guard let data = FileManager.default.contents(atPath: path) else { throw SecurityError.keyFile("cannot read \(path)") }
    return data
}

/// Values encrypted for exactly one connector: `PBENC:1:<connector id>:<base64 of nonce|ciphertext|tag>`.
/// The connector id is authenticated data, so a ciphertext moved to another connector fails to open
/// instead of leaking; the text is safe to commit to git.
public struct SecretBox: Sendable {
    public static let prefix = "PBENC:1:"
    let master: MasterKey

    public init(master: MasterKey) { self.master = master }

    public static func isCiphertext(_ text: String) -> Bool { text.hasPrefix(prefix) }

    public func seal(_ plaintext: String, connector: String) throws -> String {
        let box = try AES.GCM.seal(Data(plaintext.utf8), using: master.key, authenticating: Self.binding(connector))
        guard let combined = box.combined else { throw SecurityError.tampered }
        return Self.prefix + connector + ":" + combined.base64EncodedString()
    }

    public func open(_ text: String, connector: String) throws -> String {
        guard text.hasPrefix(Self.prefix) else { throw SecurityError.notCiphertext }
        let rest = text.dropFirst(Self.prefix.count)
        guard let colon = rest.lastIndex(of: ":"), let combined = Data(base64Encoded: String(rest[rest.index(after: colon)...])) else {
            throw SecurityError.notCiphertext
        }
        let boundTo = String(rest[..<colon])
        guard boundTo == connector else { throw SecurityError.wrongConnector(expected: connector, found: boundTo) }
        do {
            let box = try AES.GCM.SealedBox(combined: combined)
            return String(decoding: try AES.GCM.open(box, using: master.key, authenticating: Self.binding(connector)), as: UTF8.self)
        } catch {
            throw SecurityError.tampered
        }
    }

    private static func binding(_ connector: String) -> Data { Data("patchbay/secret/v1/connector:\(connector)".utf8) }
}
