import PatchbayCore
import Testing

/// The host's RFC 4180 reader (previews, frame checks).
@Suite("CSV records")
struct CSVTests {
    @Test("quotes, doubled quotes, commas and line breaks inside quotes, CRLF, and an empty last field", arguments: [
        ("a,b\n1,2\n", [["a", "b"], ["1", "2"]]),
        ("a,b\r\n\"x, y\",\"say \"\"hi\"\"\"\r\n", [["a", "b"], ["x, y", "say \"hi\""]]),
        ("note\n\"multi\nline\"\nnext\n", [["note"], ["multi\nline"], ["next"]]),
        ("a,b\n1,\n", [["a", "b"], ["1", ""]]),
        ("no final newline", [["no final newline"]]),
        ("Zürich,€\n", [["Zürich", "€"]]),
    ])
    func records(_ text: String, _ expected: [[String]]) {
        #expect(CSV.records(Array(text.utf8)) == expected)
    }

    @Test("a limit stops early, and a record cut off inside quotes (the head of a file) is left out")
    func limitsAndTruncation() {
        #expect(CSV.records(Array("h\n1\n2\n3\n".utf8), limit: 2) == [["h"], ["1"]])
        #expect(CSV.records(Array("h\n1\n\"cut off".utf8)) == [["h"], ["1"]])
    }

    @Test("an unquoted empty field is NULL (nil) and a quoted one the empty string, at the end of a line and of the file too")
    func nulls() {
        #expect(CSV.nullableRecords(Array("a,b,c\n,\"\",x\n1,,\"\"".utf8)) == [["a", "b", "c"], [nil, "", "x"], ["1", nil, ""]])
        #expect(CSV.records(Array("a,b\n,\"\"\n".utf8)) == [["a", "b"], ["", ""]])
    }
}
