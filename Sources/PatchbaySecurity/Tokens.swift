import Crypto
public import Foundation

/// What a token may do. The master token may do everything; others only what is listed.
public struct TokenScopes: Sendable, Codable, Equatable {
    public enum Access: String, Sendable, Codable, Comparable {
        case read, write
        public static func < (a: Access, b: Access) -> Bool { a == .read && b == .write }
    }

    public var isMaster: Bool
    /// Connector ids whose credentials tasks run with this token may receive.
    public var components: [String]
    /// Bucket (the part of a table name before the first '.') → access; "*" stands for every bucket.
    public var buckets: [String: Access]
    public var canRunOrchestrations: Bool
    public var canManageTokens: Bool

    public init(isMaster: Bool = false, components: [String] = [], buckets: [String: Access] = [:],
                canRunOrchestrations: Bool = false, canManageTokens: Bool = false) {
        self.isMaster = isMaster
        self.components = components
        self.buckets = buckets
        self.canRunOrchestrations = canRunOrchestrations
        self.canManageTokens = canManageTokens
    }

    public static let master = TokenScopes(isMaster: true, canRunOrchestrations: true, canManageTokens: true)

    public func allows(component: String) -> Bool { isMaster || components.contains(component) }

    /// What `other` grants that these scopes do not: a token may only hand out what it has itself.
    public func missing(toGrant other: TokenScopes) -> [String] {
        if isMaster { return [] }
        var missing: [String] = []
        if other.isMaster { missing.append("master") }
        if other.canRunOrchestrations && !canRunOrchestrations { missing.append("--can-run-orchestrations") }
        if other.canManageTokens && !canManageTokens { missing.append("--can-manage-tokens") }
        missing += other.components.filter { !components.contains($0) }.map { "--component \($0)" }
        for (bucket, access) in other.buckets.sorted(by: { $0.key < $1.key }) {
            let held = buckets[bucket] ?? (bucket == "*" ? nil : buckets["*"])
            if held.map({ $0 < access }) ?? true { missing.append("--bucket \(bucket):\(access.rawValue)") }
        }
        return missing
    }

    /// Whether a table may be read (`.read`) or written (`.write`); write access includes read.
    public func allows(table: String, _ access: Access) -> Bool {
        if isMaster { return true }
        let bucket = table.split(separator: ".", maxSplits: 1).first.map(String.init) ?? table
        guard let granted = buckets[bucket] ?? buckets["*"] else { return false }
        return granted >= access
    }

    /// One line for listings: "master" or the grants.
    public var summary: String {
        if isMaster { return "master (everything)" }
        var parts: [String] = []
        if canRunOrchestrations { parts.append("run orchestrations") }
        if canManageTokens { parts.append("manage tokens") }
        if !components.isEmpty { parts.append("components " + components.joined(separator: ",")) }
        if !buckets.isEmpty { parts.append("buckets " + buckets.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value.rawValue)" }.joined(separator: ",")) }
        return parts.isEmpty ? "nothing" : parts.joined(separator: "; ")
    }
}

/// Token secrets: `pbt_<id>_<43 random base64url characters>`. Only a SHA-256 hash is stored; the id
/// part finds the row, the hash is compared in constant time.
public enum TokenSecret {
    public static func generate(id: Int64) -> String {
        let random = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
        let text = random.base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        return "pbt_\(id)_\(text)"
    }

    /// The token id a secret names, or nil if it is not shaped like a Patchbay token.
    public static func id(of secret: String) -> Int64? {
        let parts = secret.split(separator: "_", maxSplits: 2)
        guard parts.count == 3, parts[0] == "pbt" else { return nil }
        return Int64(parts[1])
    }

    public static func hash(_ secret: String) -> String {
        SHA256.hash(data: Data(secret.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// Compares the hash of `secret` with a stored hash, taking the same time wherever they differ.
    public static func matches(_ secret: String, storedHash: String) -> Bool {
        let computed = Array(hash(secret).utf8), stored = Array(storedHash.utf8)
        guard computed.count == stored.count else { return false }
        var difference: UInt8 = 0
        for index in computed.indices { difference |= computed[index] ^ stored[index] }
        return difference == 0
    }
}

/// Durations as users write them: 90s, 15m, 12h, 30d (or a bare number of seconds).
public func parseDuration(_ text: String) -> TimeInterval? {
    let units: [Character: TimeInterval] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
    guard let last = text.last else { return nil }
    if let unit = units[last], let value = Double(text.dropLast()), value > 0 { return value * unit }
    if let value = Double(text), value > 0 { return value }
    return nil
}
