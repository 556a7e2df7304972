// Times as text in UTC, without a formatter (ICU formatting showed up in hot paths): the one place that
// turns a moment into its calendar digits. Pure: milliseconds since 1970 in, text out. And a duration's
// seconds and nanoseconds, the one conversion every layer needs.
#if canImport(Glibc)
import Glibc
#endif

public enum UTCTime {
    /// "2026-12-02 06:31:12.822" (the store's form) or "2026-12-02T06:31:12Z" (RFC 3339, as parameters get it).
    public static func text(millisecondsSince1970 milliseconds: Int64, separator: String = "T", milliseconds showMilliseconds: Bool,
                            zone: String) -> String {
        let (quotient, remainder) = milliseconds.quotientAndRemainder(dividingBy: 1000)
        var seconds = time_t(remainder < 0 ? quotient - 1 : quotient)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func digits(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        var text = digits(parts.tm_year + 1900, 4) + "-" + digits(parts.tm_mon + 1, 2) + "-" + digits(parts.tm_mday, 2) + separator
            + digits(parts.tm_hour, 2) + ":" + digits(parts.tm_min, 2) + ":" + digits(parts.tm_sec, 2)
        if showMilliseconds { text += "." + digits(Int32(milliseconds - Int64(seconds) * 1000), 3) }
        return text + zone
    }
}

extension Duration {
    /// The duration in seconds, as a double (for a rate, a date that far ahead, or a message).
    public var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }

    /// The duration in whole nanoseconds, 0 for a negative one (for a wire field or a sleep).
    public var inNanoseconds: UInt64 {
        components.seconds < 0 ? 0 : UInt64(components.seconds) * 1_000_000_000 + UInt64(max(0, components.attoseconds / 1_000_000_000))
    }
}
