public import PatchbayModel

/// The one rule for `#` parameters, on every path that hands parameters to a connector (`patchbay run`
/// and `patchbay task run` alike): a value under a key that starts with `#` is a secret. It never stays
/// in the parameters the connector receives; the connector asks for it by name through the credential
/// callback, and every form of it is masked in whatever the task writes.
public enum SecretParameters {
    /// Does this key name a secret?
    public static func isSecret(key: String) -> Bool { key.hasPrefix("#") }

    /// Is there a `#` key anywhere in the value?
    public static func containsSecret(_ value: JSONValue) -> Bool {
        switch value {
        case .object(let members): members.contains { isSecret(key: $0.key) || containsSecret($0.value) }
        case .array(let items): items.contains(where: containsSecret)
        default: false
        }
    }

    /// A `#` value that is not a string, or that `reveal` refused, with the JSON pointer of its key.
    public struct Fault: Error, Sendable, CustomStringConvertible {
        public var pointer: String
        public var reason: String
        public var description: String { "parameters\(pointer): \(reason)" }
    }

    /// Takes every `#` value out of `parameters`, at any depth. `reveal` turns the stored text into the
    /// secret (decrypts a ciphertext, or refuses one it cannot open). Returns the parameters without them,
    /// and the secrets by key (`#password` → value), for the credential callback and the masker.
    public static func separate(_ parameters: JSONValue, reveal: (String) throws -> String) throws(Fault)
        -> (parameters: JSONValue, secrets: [String: String]) {
        guard containsSecret(parameters) else { return (parameters, [:]) }
        var secrets: [String: String] = [:]
        func strip(_ value: JSONValue, pointer: String) throws(Fault) -> JSONValue {
            switch value {
            case .object(let members):
                var kept: [String: JSONValue] = [:]
                for key in members.keys.sorted() {
                    let member = members[key]!, path = pointer + "/" + key
                    guard isSecret(key: key) else {
                        kept[key] = try strip(member, pointer: path)
                        continue
                    }
                    guard case .string(let text) = member else {
                        throw Fault(pointer: path, reason: "a '#' value must be a string (it is a secret), found \(member.typeName)")
                    }
                    do { secrets[key] = try reveal(text) } catch {
                        throw Fault(pointer: path, reason: "\(error)")
                    }
                }
                return .object(kept)
            case .array(let items):
                var kept: [JSONValue] = []
                for (index, item) in items.enumerated() { kept.append(try strip(item, pointer: "\(pointer)/\(index)")) }
                return .array(kept)
            default:
                return value
            }
        }
        return (try strip(parameters, pointer: ""), secrets)
    }

    /// Rewrites every value under a `#` key (its JSON pointer given), leaving the rest as it is.
    public static func mapSecrets(_ value: JSONValue, pointer: String = "", _ transform: (String, JSONValue) -> JSONValue) -> JSONValue {
        switch value {
        case .object(let members):
            var result: [String: JSONValue] = [:]
            for (key, member) in members {
                let path = pointer + "/" + key
                result[key] = isSecret(key: key) ? transform(path, member) : mapSecrets(member, pointer: path, transform)
            }
            return .object(result)
        case .array(let items):
            return .array(items.enumerated().map { mapSecrets($1, pointer: pointer + "/\($0)", transform) })
        default:
            return value
        }
    }
}
