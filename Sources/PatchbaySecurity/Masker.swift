import Foundation

/// Replaces secret values in text with `[hidden]`: the value itself and the forms it takes when a
/// connector encodes it on the way out — base64 (padded and not), JSON string escaping and URL
/// (percent) encoding. Values shorter than `minimumLength` are not masked (they would hide ordinary
/// words); the credential store refuses to hold them for that reason.
public struct Masker: Sendable {
    public static let replacement = "[hidden]"
    public static let minimumLength = 4
    /// Longest first, so a value that contains another is hidden whole.
    private let forms: [String]

    public init(secrets: [String]) {
        var forms = Set<String>()
        for secret in secrets where secret.utf8.count >= Self.minimumLength {
            forms.insert(secret)
            let base64 = Data(secret.utf8).base64EncodedString()
            forms.insert(base64)
            forms.insert(String(base64.reversed().drop { $0 == "=" }.reversed()))
            forms.insert(base64.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_"))
            forms.insert(Self.jsonEscaped(secret, slash: true))
            forms.insert(Self.jsonEscaped(secret, slash: false))
            if let encoded = secret.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) {
                forms.insert(encoded)
                forms.insert(encoded.replacingOccurrences(of: "%20", with: "+"))
            }
        }
        self.forms = forms.filter { $0.utf8.count >= Self.minimumLength }.sorted { $0.utf8.count > $1.utf8.count }
    }

    public var isEmpty: Bool { forms.isEmpty }

    public func mask(_ text: String) -> String {
        var result = text
        for form in forms where result.contains(form) {
            result = result.replacingOccurrences(of: form, with: Self.replacement)
        }
        return result
    }

    public func mask(_ text: String?) -> String? { text.map { mask($0) } }

    /// The body of a JSON string literal holding `value` (what JSONEncoder writes between the quotes).
    static func jsonEscaped(_ value: String, slash: Bool) -> String {
        var out = ""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "/" where slash: out += "\\/"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
