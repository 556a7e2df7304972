public import Foundation
import Synchronization
import PatchbayModel
public import PatchbaySecurity
import PatchbayStore
import Logging

/// Who is calling: a token that was found, is live, and whose scopes were read.
public struct Caller: Sendable {
    public let token: TokenRecord
    public let scopes: TokenScopes
}

/// Why a token was refused. The message says what is wrong; the CLI adds what to do next.
public enum AccessError: Error, CustomStringConvertible, Sendable {
    case noToken
    case unknownToken
    case revoked(String, Date)
    case expired(String, Date)
    case lacks(String, String)
    case noSuchToken(Int64)
    case orchestrationHasToken(String)
    /// `tokens revoke`/`refresh` on a flow's orchestration token: it has commands of its own.
    case orchestrationToken(name: String, flow: String)

    public var description: String {
        switch self {
        case .noToken:
            "no token was given, and the project has no master token file"
        case .unknownToken: "the token is not valid for this project (mistyped, refreshed, or from another project)"
        case .revoked(let name, let time): "the token '\(name)' was revoked at \(time.formatted(.iso8601))"
        case .expired(let name, let time): "the token '\(name)' expired at \(time.formatted(.iso8601))"
        case .lacks(let name, let scope): "the token '\(name)' may not \(scope)"
        case .noSuchToken(let id): "there is no token \(id)"
        case .orchestrationHasToken(let flow): "the orchestration '\(flow)' has a token already"
        case .orchestrationToken(let name, let flow):
            "'\(name)' is the orchestration token of flow '\(flow)': it is not revoked or refreshed like other tokens (the next run would only "
                + "mint a new one). Rotate its secret with `patchbay flows token rotate \(flow)`; stop unattended runs with `patchbay flows disable \(flow)`"
        }
    }
}

extension Engine {
    /// Master key and master token of a project, made once: the key file and the token file are
    /// created 0600 and never overwritten. Returns the master token's secret when it was just made.
    @discardableResult
    public func bootstrapSecurity() throws -> String? {
        _ = try MasterKey.load(at: project.masterKeyPath, create: true)
        guard !FileManager.default.fileExists(atPath: project.masterTokenPath) else { return nil }
        var secret = ""
        let scopes = String(decoding: try JSONEncoder().encode(TokenScopes.master), as: UTF8.self)
        _ = try store.createToken(TokenRecord(name: "master", scopesJSON: scopes)) { id in
            secret = TokenSecret.generate(id: id)
            return TokenSecret.hash(secret)
        }
        try writePrivateFile(project.masterTokenPath, contents: Data((secret + "\n").utf8))
        return secret
    }

    /// The project's connector-bound encryption (its master key, read from disk once per engine).
    public func secretBox() throws -> SecretBox {
        if let box = memo.withLock({ $0.box }) { return box }
        let box = SecretBox(master: try MasterKey.load(at: project.masterKeyPath))
        memo.withLock { $0.box = box }
        return box
    }

    /// The token a secret names, if it is live. Comparison of the secret is constant-time.
    public func authenticate(_ secret: String?, at time: Date = Date()) throws -> Caller {
        guard let secret = secret?.trimmingCharacters(in: .whitespacesAndNewlines), !secret.isEmpty else { throw AccessError.noToken }
        guard let id = TokenSecret.id(of: secret), let token = try store.token(id),
              TokenSecret.matches(secret, storedHash: token.secretHash) else { throw AccessError.unknownToken }
        return Caller(token: token, scopes: try liveScopes(of: token, at: time))
    }

    /// What a token allows, if it is neither revoked nor expired.
    func liveScopes(of token: TokenRecord, at time: Date = Date()) throws -> TokenScopes {
        if let revoked = token.revokedAt { throw AccessError.revoked(token.name, revoked) }
        if let expires = token.expiresAt, expires <= time { throw AccessError.expired(token.name, expires) }
        guard let scopes = token.scopes else { throw AccessError.unknownToken }
        return scopes
    }

    /// Creates a token; its secret is returned once and stored only as a hash.
    public func createToken(name: String, scopes: TokenScopes, expiresIn: TimeInterval? = nil,
                            orchestration: String? = nil, webhook: String? = nil) throws -> (TokenRecord, secret: String) {
        if let orchestration, try store.orchestrationToken(orchestration) != nil { throw AccessError.orchestrationHasToken(orchestration) }
        var secret = ""
        var record = TokenRecord(name: name, scopesJSON: String(decoding: try JSONEncoder().encode(scopes), as: UTF8.self),
                                 orchestration: orchestration, expiresAt: expiresIn.map { Date().addingTimeInterval($0) })
        record.webhook = webhook
        let token = try store.createToken(record) { id in
            secret = TokenSecret.generate(id: id)
            return TokenSecret.hash(secret)
        }
        return (token, secret)
    }

    /// A new secret for a token; the old one stops working at once.
    public func refreshToken(_ id: Int64) throws -> String {
        guard let token = try store.token(id) else { throw AccessError.noSuchToken(id) }
        if let flow = token.orchestration { throw AccessError.orchestrationToken(name: token.name, flow: flow) }
        let secret = TokenSecret.generate(id: id)
        try store.replaceTokenSecret(id, hash: TokenSecret.hash(secret))
        return secret
    }

    public func revokeToken(_ id: Int64) throws {
        guard let token = try store.token(id) else { throw AccessError.noSuchToken(id) }
        if let flow = token.orchestration { throw AccessError.orchestrationToken(name: token.name, flow: flow) }
        _ = try store.revokeToken(id)
    }

    /// A new secret for a flow's orchestration token, in one write: the old secret stops working at once; the
    /// token stays the same one (its id and grants), so schedules act with the new secret and a run in
    /// progress, which acts as the token and not as its secret, finishes as it started.
    public func rotateOrchestrationToken(flow: String) throws -> (TokenRecord, secret: String) {
        guard let token = try store.orchestrationToken(flow) else {
            throw EngineError.cannotRetry("the flow '\(flow)' has no orchestration token yet: it gets one at its first run")
        }
        let secret = TokenSecret.generate(id: token.id!)
        try store.replaceTokenSecret(token.id!, hash: TokenSecret.hash(secret))
        return (token, secret)
    }

    /// The orchestration's own token, made the first time it runs: it may use the credentials of the
    /// flow's connectors and read and write every bucket. A narrower one can be made beforehand with
    /// `patchbay tokens create --orchestration FLOW`.
    func orchestrationToken(for flow: Flow) throws -> TokenRecord {
        if let token = try store.orchestrationToken(flow.name) { return token }
        let scopes = TokenScopes(components: Array(Set(flow.tasks.map(\.connector.id))).sorted(), buckets: ["*": .write])
        do {
            return try createToken(name: "orchestration \(flow.name)", scopes: scopes, orchestration: flow.name).0
        } catch {
            // Two first runs at once (the API takes concurrent requests): the other made it; use that one.
            if let token = try store.orchestrationToken(flow.name) { return token }
            throw error
        }
    }

}

extension TokenRecord {
    /// The grants stored with the token (nil if the row is damaged). Decoded once per distinct text: every API
    /// request authenticates, and the text of a token's grants never changes.
    public var scopes: TokenScopes? {
        if let known = decodedScopes.withLock({ $0[scopesJSON] }) { return known }
        guard let decoded = try? JSONDecoder().decode(TokenScopes.self, from: Data(scopesJSON.utf8)) else { return nil }
        decodedScopes.withLock { cache in
            if cache.count > 1024 { cache.removeAll() }
            cache[scopesJSON] = decoded
        }
        return decoded
    }
}

/// Grants by their stored text (TokenRecord.scopes).
private let decodedScopes = Mutex<[String: TokenScopes]>([:])

// MARK: - `#` values: encrypted at rest, handed to connectors only through the credential callback

extension Engine {
    /// Encrypts every plain `#` value of the flow for its task's connector, and checks that the
    /// ciphertexts there are bound to that connector. Called on load, so a run's stored snapshot never
    /// holds a plain secret.
    /// With `rewriteFiles`, the ciphertexts are also written over the plain values in the flow and
    /// configuration files (everything else in them kept), so the files never hold them in the clear.
    /// Returns what it wrote back, one line per file.
    @discardableResult
    func sealSecrets(in flow: inout Flow, rewriteFiles: Bool = false) throws -> [String] {
        var issues: [FlowIssue] = []
        var sealed: [SourceLocation: String] = [:]
        let hasSecrets = flow.tasks.contains { SecretParameters.containsSecret($0.parameters) }
        guard hasSecrets else { return [] }
        let box = try secretBox()
        for index in flow.tasks.indices {
            let task = flow.tasks[index]
            flow.tasks[index].parameters = SecretParameters.mapSecrets(task.parameters) { pointer, value in
                let location = task.parameterLocations[pointer] ?? task.location
                let path = "tasks.\(task.id).parameters" + pointer.replacingOccurrences(of: "/", with: ".")
                guard case .string(let text) = value else {
                    issues.append(FlowIssue(location, path, "a '#' value must be a string (it is encrypted)"))
                    return value
                }
                if SecretBox.isCiphertext(text) {
                    do { _ = try box.open(text, connector: task.connector.id) } catch {
                        issues.append(FlowIssue(location, path, "\(error)"))
                    }
                    return value
                }
                do {
                    let ciphertext = try box.seal(text, connector: task.connector.id)
                    if let location = task.parameterLocations[pointer] { sealed[location] = ciphertext }
                    return .string(ciphertext)
                } catch {
                    issues.append(FlowIssue(location, path, "cannot encrypt: \(error)"))
                    return value
                }
            }
        }
        if !issues.isEmpty { throw EngineError.invalidFlow(FlowError(issues)) }
        var notes: [String] = []
        guard rewriteFiles else {
            for (file, values) in Dictionary(grouping: sealed, by: { $0.key.file }) {
                notes.append("\(file): \(values.count) plain '#' value\(values.count == 1 ? "" : "s"), encrypted in place when the flow runs (or now: patchbay seal)")
            }
            return notes.sorted()
        }
        for (file, values) in Dictionary(grouping: sealed, by: { $0.key.file }) {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { continue }
            let (rewritten, skipped) = ScalarRewriter.rewrite(text, Dictionary(uniqueKeysWithValues: values.map { ($0.key, $0.value) }))
            let written = values.count - skipped.count
            if written > 0 {
                try Self.replaceFile(file, with: rewritten)
                notes.append("\(file): encrypted \(written) plain '#' value\(written == 1 ? "" : "s") in place")
            }
            for location in skipped {
                notes.append("\(location): a plain '#' value this command cannot rewrite (multi-line); replace it with `patchbay encrypt` output")
            }
        }
        return notes.sorted()
    }

    /// Writes a file by temporary file and rename, keeping its mode.
    static func replaceFile(_ path: String, with text: String) throws {
        var info = stat()
        let mode = stat(path, &info) == 0 ? info.st_mode & 0o7777 : 0o644
        let temporary = path + ".patchbay-\(getpid()).tmp"
        try text.write(toFile: temporary, atomically: false, encoding: .utf8)
        chmod(temporary, mode)
        guard rename(temporary, path) == 0 else {
            unlink(temporary)
            throw EngineError.store("cannot replace \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Takes the `#` values out of a task's parameters and decrypts them for its connector: the
    /// connector gets the rest as parameters and these only by name through the credential callback.
    func separateSecrets(_ parameters: JSONValue, connector: String) throws -> (JSONValue, [String: String]) {
        guard SecretParameters.containsSecret(parameters) else { return (parameters, [:]) }
        let box = try secretBox()
        return try SecretParameters.separate(parameters) { try box.open($0, connector: connector) }
    }
}

// MARK: secrets in component state

extension Engine {
    /// A component state's `#` members are secrets (a rotated refresh token, kept for the next run): the
    /// store keeps them sealed for their connector, as it keeps `#` parameters, and never in the clear — a
    /// value that cannot be sealed is dropped (null). Returns the state to store.
    func sealingSecrets(ofState json: String?, connector: String) -> String? {
        guard let json, json.contains("\"#"), let value = try? JSONValue(parsing: json), SecretParameters.containsSecret(value) else { return json }
        let box = try? secretBox()
        return SecretParameters.mapSecrets(value) { _, member in
            guard case .string(let text) = member, !SecretBox.isCiphertext(text) else { return member }
            guard let sealed = try? box?.seal(text, connector: connector) else {
                logger.error("a secret of a component state could not be sealed; it is not kept", metadata: ["connector": "\(connector)"])
                return .null
            }
            return .string(sealed)
        }.jsonText
    }

    /// A stored component state as its connector gets it: the `#` members opened, each one given to `hide`
    /// (masked in whatever the job writes). A member that does not open is left sealed.
    func openingSecrets(ofState json: String, connector: String, hide: (String) -> Void) -> String {
        guard json.contains("\"#"), let value = try? JSONValue(parsing: json), SecretParameters.containsSecret(value),
              let box = try? secretBox() else { return json }
        return SecretParameters.mapSecrets(value) { _, member in
            guard case .string(let text) = member, SecretBox.isCiphertext(text), let open = try? box.open(text, connector: connector) else { return member }
            hide(open)
            return .string(open)
        }.jsonText
    }
}
