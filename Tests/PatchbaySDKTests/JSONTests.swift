import PatchbaySDK
import Testing

@Suite("The SDK's JSON reader and writer (connectors need no package)")
struct SDKJSONTests {
    @Test("a surrogate pair decodes to one scalar")
    func pair() throws {
        #expect(try JSON.parse(#""\uD83D\uDE00""#) == .string("😀"))
    }

    @Test("a high surrogate before a non-surrogate escape decodes without trapping",
          arguments: [#""\uD800\u0041""#, #""\uDBFF\u0000""#, #""\uD800\uD800""#])
    func unpaired(_ text: String) throws {
        guard case .string(let string) = try JSON.parse(text) else { Issue.record("not a string"); return }
        #expect(string.unicodeScalars.first == "\u{FFFD}")
        #expect(string.unicodeScalars.count == 2)
    }

    @Test("non-ASCII text round-trips through serialize and parse")
    func roundTrip() throws {
        let value = JSON.object(["name": .string("Zürich–Praha \"q\" \n"), "n": .number(3), "ok": .bool(true), "x": .null,
                                 "list": .array([.string("é")])])
        #expect(try JSON.parse(value.serialized) == value)
    }

    @Test("malformed text is refused with the byte offset", arguments: ["{\"a\":}", "[1,", "\"\\u12\"", "tru"])
    func malformed(_ text: String) {
        #expect(throws: JSON.ParseError.self) { try JSON.parse(text) }
    }

    @Test("whole numbers read as Int; others do not")
    func numbers() throws {
        #expect(try JSON.parse("42").int == 42)
        #expect(try JSON.parse("4.5").int == nil)
    }
}
