import Foundation
import PatchbayModel
@testable import PatchbaySecurity
import Testing

@Suite("The '#' rule: secrets leave the parameters, on every path")
struct SecretParametersTests {
    @Test("every '#' value, at any depth, leaves the parameters and is handed over by key")
    func separates() throws {
        // Given parameters with secrets at the top and nested in an array of objects
        let parameters = try JSONValue(parsing: ##"{"user":"u","#password":"p1","hosts":[{"name":"h","#token":"t1"}]}"##)
        // When they are separated
        let (rest, secrets) = try SecretParameters.separate(parameters) { "revealed-" + $0 }
        // Then no '#' key is left, and each secret is revealed once by key
        #expect(rest == .object(["user": .string("u"), "hosts": .array([.object(["name": .string("h")])])]))
        #expect(secrets == ["#password": "revealed-p1", "#token": "revealed-t1"])
        #expect(!SecretParameters.containsSecret(rest))
    }

    @Test("a '#' value that is not a string is refused with its pointer")
    func notAString() throws {
        let parameters = try JSONValue(parsing: ##"{"a":{"#n":5}}"##)
        #expect {
            try SecretParameters.separate(parameters) { $0 }
        } throws: { error in
            "\(error)" == "parameters/a/#n: a '#' value must be a string (it is a secret), found integer"
        }
    }

    @Test("a value reveal refuses is reported with the reason")
    func revealRefuses() throws {
        struct Refused: Error, CustomStringConvertible { var description: String { "no key" } }
        #expect {
            try SecretParameters.separate(.object(["#k": .string("PBENC:1:x:y")])) { _ in throw Refused() }
        } throws: { error in "\(error)" == "parameters/#k: no key" }
    }

    @Test("parameters without '#' keys come back as they were")
    func untouched() throws {
        let parameters = try JSONValue(parsing: ##"{"a":[1,{"b":"c"}]}"##)
        let (rest, secrets) = try SecretParameters.separate(parameters) { _ in Issue.record("reveal called"); return "" }
        #expect(rest == parameters)
        #expect(secrets.isEmpty)
    }
}

@Suite("The masker: every form a connector may write a secret in")
struct MaskerTests {
    let secret = "hunter2/ü+\"x"
    var masker: Masker { Masker(secrets: [secret]) }

    @Test("each encoded form is hidden", arguments: [
        "raw", "base64", "base64 unpadded", "base64url", "json", "json with \\/", "percent",
    ])
    func forms(_ form: String) {
        let base64 = Data(secret.utf8).base64EncodedString()
        let text: String = switch form {
        case "raw": secret
        case "base64": base64
        case "base64 unpadded": String(base64.reversed().drop { $0 == "=" }.reversed())
        case "base64url": base64.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        case "json": "hunter2/ü+\\\"x"
        case "json with \\/": "hunter2\\/ü+\\\"x"
        default: secret.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~")))!
        }
        let masked = masker.mask("before \(text) after")
        #expect(masked == "before [hidden] after", "\(form): \(masked)")
    }

    @Test("a value that contains another secret is hidden whole")
    func longestFirst() {
        let masker = Masker(secrets: ["abcd", "abcdefgh"])
        #expect(masker.mask("x abcdefgh y abcd") == "x [hidden] y [hidden]")
    }

    @Test("values shorter than four bytes are not masked (they would hide ordinary words)")
    func short() {
        #expect(Masker(secrets: ["abc"]).mask("abc abc") == "abc abc")
        #expect(Masker(secrets: ["abc"]).isEmpty)
    }

    @Test("a control character in a secret is hidden in its JSON escape")
    func control() {
        #expect(Masker(secrets: ["a\u{1}bcd"]).mask(##"{"v":"a\u0001bcd"}"##) == ##"{"v":"[hidden]"}"##)
    }
}
