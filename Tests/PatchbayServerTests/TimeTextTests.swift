import Foundation
import PatchbayViews
import Testing

@Suite("Times as the JSON of runs and jobs writes them")
struct TimeTextTests {
    @Test("a date's RFC 3339 text is what Foundation's ISO 8601 format style writes, milliseconds truncated, either side of 1970")
    func rfc3339MatchesTheFormatStyle() {
        // Given dates at the edges (a second's last microsecond, before 1970, a leap day) and many random ones
        var dates = [0, 1.9999, -1.5, -0.0005, 951_782_400.123, 1_796_359_204.999999, 4_102_444_799.999].map(Date.init(timeIntervalSince1970:))
        var generator = SystemRandomNumberGenerator()
        dates += (0..<5000).map { _ in Date(timeIntervalSince1970: Double.random(in: -2e9...4e9, using: &generator)) }
        let style = Date.ISO8601FormatStyle.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted)
        // When each is written by hand, Then it is exactly the format style's text
        for date in dates {
            #expect(rfc3339UTC(date) == date.formatted(style), "at \(date.timeIntervalSince1970)")
        }
        #expect(rfc3339UTC(Date(timeIntervalSince1970: 1_796_359_204.0615)) == "2026-12-04T04:40:04.061Z")
    }
}
