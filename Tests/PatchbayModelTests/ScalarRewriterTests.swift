@testable import PatchbayModel
import Testing

@Suite("The scalar rewriter: a value replaced in place, everything else kept")
struct ScalarRewriterTests {
    /// Parses `text`, then rewrites the value at `pointer` to `replacement`.
    func rewrite(_ text: String, file: String, at pointer: String, to replacement: String) throws -> (String, skipped: [PatchbayModel.SourceLocation]) {
        let root = try DocumentParser.parse(text, file: file)
        let location = try #require(root.locations()[pointer])
        return ScalarRewriter.rewrite(text, [location: replacement])
    }

    @Test("a one-line JSON flow with non-ASCII text before the value stays valid, and no plaintext is left")
    func oneLineJSONWithNonASCII() throws {
        // Given the document that `validate` used to corrupt
        let text = ##"{"name":"Zürich–Praha","parameters":{"#password":"hunter2-plain"}}"##
        // When the secret is rewritten
        let (rewritten, skipped) = try rewrite(text, file: "f.json", at: "/parameters/#password", to: "PBENC:1:x:AAAA")
        // Then the result is the same document with the new value, and nothing of the old one
        #expect(skipped.isEmpty)
        #expect(rewritten == ##"{"name":"Zürich–Praha","parameters":{"#password":"PBENC:1:x:AAAA"}}"##)
        #expect(!rewritten.contains("hu\""))
        #expect(try JSONValue(parsing: rewritten) == .object(["name": .string("Zürich–Praha"),
                                                              "parameters": .object(["#password": .string("PBENC:1:x:AAAA")])]))
    }

    @Test("YAML: plain, quoted and commented values are replaced, comments kept", arguments: [
        ("a: ümlaut\n\"#pw\": plain # note\n", "/#pw", "a: ümlaut\n\"#pw\": \"NEW\" # note\n"),
        ("'#pw': 'it''s'\n", "/#pw", "'#pw': \"NEW\"\n"),
        ("x: {\"#pw\": \"a\\\"b\", y: 1}\n", "/x/#pw", "x: {\"#pw\": \"NEW\", y: 1}\n"),
    ])
    func yaml(_ text: String, _ pointer: String, _ expected: String) throws {
        let (rewritten, skipped) = try rewrite(text, file: "f.yaml", at: pointer, to: "NEW")
        #expect(skipped.isEmpty)
        #expect(rewritten == expected)
    }

    @Test("a block scalar cannot be rewritten on its line and is reported, the text untouched")
    func blockScalar() throws {
        let text = "\"#pw\": |\n  secret\n"
        let (rewritten, skipped) = try rewrite(text, file: "f.yaml", at: "/#pw", to: "NEW")
        #expect(skipped.count == 1)
        #expect(rewritten == text)
    }

    @Test("two values on one line are both replaced")
    func twoOnALine() throws {
        let text = ##"{"#a":"one","#b":"two"}"##
        let root = try DocumentParser.parse(text, file: "f.json")
        let locations = root.locations()
        let (rewritten, _) = ScalarRewriter.rewrite(text, [locations["/#a"]!: "1", locations["/#b"]!: "2"])
        #expect(rewritten == ##"{"#a":"1","#b":"2"}"##)
    }

    @Test("the replacement is quoted so that it stays one JSON and YAML string")
    func quoting() {
        #expect(ScalarRewriter.quoted("a\"b\\c\nd") == #""a\"b\\c\nd""#)
    }
}
