import PatchbayCore
import Testing

/// The one text form of each column type, which the runner checks every written value against.
@Suite("Column types")
struct ColumnTypeTests {
    @Test("each type accepts its form and refuses near misses", arguments: [
        (ColumnType.integer, ["0", "-12", "9223372036854775807", "-9223372036854775808", "0009223372036854775807"],
         ["", "1.0", "+1", "1e3", " 1", "9223372036854775808", "-9223372036854775809", "12a"]),
        (.decimal, ["0", "-0.001", "10.50", "123456789012345678901234567890.5"], ["", ".5", "5.", "1e3", "1,5", "--1"]),
        (.float, ["1", "-2.5", "2.5e3", "1E-7", "NaN", "Infinity", "-Infinity"], ["", "e3", "1e", "inf", "1.5.2"]),
        (.boolean, ["true", "false"], ["", "TRUE", "1", "yes"]),
        (.date, ["2026-12-02", "2024-02-29", "2000-02-29"], ["2026-02-29", "1900-02-29", "2026-13-01", "2026-1-01", "2026-12-02T00:00:00Z"]),
        (.timestamp, ["2026-12-02T10:00:00Z", "2026-12-02T10:00:00.250Z", "2016-12-31T23:59:60Z"],
         ["2026-12-02T10:00:00", "2026-12-02T10:00:00+01:00", "2026-12-02 10:00:00Z", "2026-12-02T24:00:00Z", "2026-12-02T10:00:00.Z"]),
        (.json, ["{}", "[1, 2.5e3, null]", "\"x\"", "null", " {\"a\": {\"b\": [true]}} ", "-0.5"],
         ["", "{", "{\"a\" 1}", "[1,]", "01", "nul", "\"\u{01}\"", "{} {}", "'x'"]),
    ])
    func forms(type: ColumnType, accepted: [String], refused: [String]) {
        for value in accepted { #expect(type.accepts(value), "\(type.word) should accept '\(value)'") }
        for value in refused { #expect(!type.accepts(value), "\(type.word) should refuse '\(value)'") }
    }

    @Test("a string column accepts anything; types round-trip through their ABI numbers and words")
    func vocabulary() {
        #expect(ColumnType.string.accepts("") && ColumnType.string.accepts("1,5\n\"x\""))
        for type in ColumnType.allCases {
            #expect(ColumnType(abi: type.abiValue) == type && ColumnType(word: type.word) == type)
        }
        #expect(ColumnType(abi: 0) == nil && ColumnType(abi: 9) == nil && ColumnType(word: "text") == nil)
    }

    @Test("JSON nesting deeper than 512 is refused, not a stack overflow")
    func deepJSON() {
        #expect(!ColumnType.json.accepts(String(repeating: "[", count: 100_000)))
        #expect(ColumnType.json.accepts(String(repeating: "[", count: 100) + String(repeating: "]", count: 100)))
    }
}
