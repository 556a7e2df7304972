@testable import PatchbayModel
import Testing

@Suite("The JSON Schema subset that connector parameters use")
struct JSONSchemaTests {
    let schema = try! JSONValue(parsing: """
        {"type":"object","required":["rows"],"additionalProperties":false,
         "properties":{"rows":{"type":"integer","minimum":1,"maximum":10},
                       "mode":{"enum":["full","delta"]},
                       "name":{"type":"string","minLength":2,"maxLength":4},
                       "tags":{"type":"array","maxItems":1,"items":{"type":"string"}}}}
        """)

    func violations(_ text: String) throws -> [String] {
        JSONSchema.validate(try JSONValue(parsing: text), against: schema).map { "\($0.pointer): \($0.message)" }
    }

    @Test("a value that fits has no violation")
    func fits() throws {
        #expect(try violations(#"{"rows":3,"mode":"delta","name":"ab","tags":["x"]}"#).isEmpty)
    }

    @Test("each keyword names the value at fault", arguments: [
        (#"{}"#, ": the required parameter 'rows' is missing"),
        (#"{"rows":0}"#, "/rows: must be at least 1, found 0"),
        (#"{"rows":11}"#, "/rows: must be at most 10, found 11"),
        (#"{"rows":"3"}"#, "/rows: expected integer, found string (\"3\")"),
        (#"{"rows":1,"mode":"all"}"#, "/mode: must be one of \"full\", \"delta\", found (\"all\")"),
        (#"{"rows":1,"name":"ü"}"#, "/name: must be at least 2 characters long"),
        (#"{"rows":1,"tags":[1]}"#, "/tags/0: expected string, found integer (1)"),
        (#"{"rows":1,"tags":["a","b"]}"#, "/tags: takes at most 1 items"),
    ])
    func keyword(_ text: String, _ expected: String) throws {
        #expect(try violations(text) == [expected])
    }

    @Test("an unknown property is refused with the nearest known name")
    func unknownProperty() throws {
        let found = try violations(#"{"rows":1,"rowz":2}"#)
        #expect(found.count == 1)
        #expect(found.first?.hasPrefix("/rowz:") == true)
        #expect(found.first?.contains("rows") == true)
    }

    @Test("a deferred value (an output reference) skips the type check")
    func deferred() throws {
        let value = try JSONValue(parsing: #"{"rows":"${{ tasks.a.outputs.n }}"}"#)
        #expect(JSONSchema.validate(value, against: schema, deferred: Template.isWholeReference).isEmpty)
    }
}

@Suite("Output references in parameters")
struct OutputReferenceTests {
    @Test("references are found with the pointer of the string that holds them")
    func references() throws {
        let value = try JSONValue(parsing: #"{"a":["x ${{ tasks.t1.outputs.id }}"],"b":"${{tasks.t2.outputs.n}}"}"#)
        let found = try Template.references(in: value).map { "\($0.pointer) \($0.reference)" }
        #expect(found == ["/a/0 tasks.t1.outputs.id", "/b tasks.t2.outputs.n"])
    }

    @Test("a whole reference becomes the type the schema asks for; a partial one stays text")
    func rendering() throws {
        let schema = try JSONValue(parsing: #"{"properties":{"n":{"type":"integer"},"s":{"type":"string"},"ok":{"type":"boolean"}}}"#)
        let value = try JSONValue(parsing: #"{"n":"${{ tasks.a.outputs.n }}","s":"id-${{ tasks.a.outputs.n }}","ok":"${{ tasks.a.outputs.ok }}"}"#)
        let rendered = try Template.render(value, schema: schema) { $0.output == "n" ? "42" : "true" }
        #expect(rendered == .object(["n": .integer(42), "s": .string("id-42"), "ok": .bool(true)]))
    }

    @Test("non-ASCII text around a reference is kept")
    func nonASCII() throws {
        let rendered = try Template.render(.string("Zürich ${{ tasks.a.outputs.x }} – ok"), schema: nil) { _ in "é" }
        #expect(rendered == .string("Zürich é – ok"))
    }

    @Test("a malformed reference is refused with what to write", arguments: [
        "${{ tasks.a.output.x }}", "${{ tasks.a.outputs.x", "${{ }}",
    ])
    func malformed(_ text: String) {
        #expect(throws: TemplateError.self) { try Template.references(in: .string(text)) }
    }
}
