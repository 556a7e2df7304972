@testable import PatchbayModel
import Testing
import Foundation

@Suite("The located JSON parser: values, and where each was written")
struct LocatedJSONParserTests {
    func parse(_ text: String) throws -> Node {
        var parser = LocatedJSONParser(bytes: Array(text.utf8), file: "f.json")
        return try parser.parseDocument()
    }

    @Test("columns count Unicode scalars, so non-ASCII text before a value does not shift it")
    func columnsCountScalars() throws {
        // Given a one-line document with a two-byte and a three-byte character before the value
        let text = ##"{"name":"Zürich–Praha","#password":"hunter2"}"##
        // When it is parsed
        let root = try parse(text)
        // Then the value's column is its position in scalars, which is where a rewriter will look
        let location = try #require(root.locations()["/#password"])
        let scalars = Array(text.unicodeScalars)
        let quote = try #require(text.range(of: "\"hunter2"))
        let expected = text.unicodeScalars.distance(from: text.startIndex, to: quote.lowerBound) + 1
        #expect(location.line == 1)
        #expect(location.column == expected)
        #expect(scalars[location.column - 1] == "\"")
    }

    @Test("lines are counted across line breaks, and the column restarts on each line")
    func lines() throws {
        let root = try parse("{\n  \"a\": 1,\n  \"ö\": [true,\n    \"x\"]\n}")
        #expect(root.locations()["/a"] == PatchbayModel.SourceLocation(file: "f.json", line: 2, column: 8))
        #expect(root.locations()["/ö/1"] == PatchbayModel.SourceLocation(file: "f.json", line: 4, column: 5))
    }

    @Test("a surrogate pair decodes to one scalar")
    func surrogatePair() throws {
        #expect(try parse(#""\uD83D\uDE00""#).value == .string("😀"))
    }

    @Test("a high surrogate followed by a non-surrogate escape decodes without trapping",
          arguments: [#""\uD800\u0041""#, #""\uDBFF\u0000""#, #""\uD800\uD800""#])
    func unpairedHighSurrogate(_ text: String) throws {
        // Given a high surrogate whose next escape is not a low surrogate
        // When it is parsed, Then the lone surrogate becomes U+FFFD and the next escape is read on its own
        let value = try parse(text).value
        guard case .string(let string) = value else { Issue.record("not a string: \(value)"); return }
        #expect(string.unicodeScalars.first == "\u{FFFD}")
        #expect(string.unicodeScalars.count == 2)
    }

    @Test("a lone low surrogate becomes U+FFFD")
    func loneLowSurrogate() throws {
        #expect(try parse(#""a\uDC00b""#).value == .string("a\u{FFFD}b"))
    }

    @Test("errors say line and column in scalars", arguments: [
        ("{\"é\": tru}", "line 1, column 7: 'tru' is not a JSON value (strings need double quotes)"),
        ("[1,\n 2,,]", "line 2, column 4: unexpected character ','"),
        ("{\"a\": \"x\ny\"}", "line 1, column 9: a line break inside a string (write \\n)"),
        ("", "line 1, column 1: the file is empty"),
        ("\"\\u12\"", "line 1, column 4: \\u needs four hex digits"),
    ])
    func errors(_ text: String, _ expected: String) {
        #expect(LocatedJSONParser.firstError(in: text) == expected)
    }

    @Test("integers stay exact; fractions and exponents are numbers")
    func numbers() throws {
        #expect(try parse("9007199254740993").value == .integer(9007199254740993))
        #expect(try parse("-0.5e2").value == .number(-50))
    }

    @Test("a duplicate key is refused at the key")
    func duplicateKey() {
        #expect(LocatedJSONParser.firstError(in: ##"{"a":1, "a":2}"##) == "line 1, column 9: duplicate key 'a'")
    }
}
