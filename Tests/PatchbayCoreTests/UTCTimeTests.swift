import PatchbayCore
import Testing

@Suite("UTC times as text")
struct UTCTimeTests {
    @Test("the store's form and RFC 3339, milliseconds kept or dropped, and a moment before 1970")
    func forms() {
        let moment: Int64 = 1_764_657_072_822  // 2025-12-02T06:31:12.822Z
        #expect(UTCTime.text(millisecondsSince1970: moment, separator: " ", milliseconds: true, zone: "") == "2025-12-02 06:31:12.822")
        #expect(UTCTime.text(millisecondsSince1970: moment, milliseconds: false, zone: "Z") == "2025-12-02T06:31:12Z")
        #expect(UTCTime.text(millisecondsSince1970: -1, milliseconds: true, zone: "Z") == "1969-12-31T23:59:59.999Z")
    }
}
