// Reading RFC 4180 CSV records (the format of every table), for the host's checks and previews: quoted
// fields with doubled quotes, commas and line breaks inside quotes, CRLF or LF. Pure: bytes in, fields out.
// (The runner serves input tables with its own streaming parser, which writes fields straight into a batch.)

public enum CSV {
    /// Up to `limit` records from the start of `bytes`, each a list of fields. A record cut off by the end of
    /// `bytes` (an unclosed quote) is left out: `bytes` may be only the head of a file.
    public static func records(_ bytes: some Collection<UInt8>, limit: Int = .max) -> [[String]] {
        nullableRecords(bytes, limit: limit).map { $0.map { $0 ?? "" } }
    }

    /// `records`, with an unquoted empty field as nil: NULL in a table with a manifest, where `""` is the
    /// empty string.
    public static func nullableRecords(_ bytes: some Collection<UInt8>, limit: Int = .max) -> [[String?]] {
        var records: [[String?]] = []
        var fields: [String?] = [], field: [UInt8] = []
        var quoted = false, afterQuote = false, started = false
        var iterator = bytes.makeIterator()
        var pending: UInt8? = nil
        func next() -> UInt8? {
            if let byte = pending { pending = nil; return byte }
            return iterator.next()
        }
        func endField() {
            fields.append(field.isEmpty && !afterQuote ? nil : String(decoding: field, as: UTF8.self))
            field.removeAll(keepingCapacity: true)
            afterQuote = false
        }
        while records.count < limit, let byte = next() {
            started = true
            if quoted {
                if byte == 0x22 {
                    if let following = next() {
                        if following == 0x22 { field.append(0x22) } else { quoted = false; afterQuote = true; pending = following }
                    } else {
                        quoted = false
                        afterQuote = true
                    }
                } else {
                    field.append(byte)
                }
                continue
            }
            switch byte {
            case 0x22 where field.isEmpty && !afterQuote: quoted = true
            case 0x2C: endField()
            case 0x0D: continue
            case 0x0A:
                endField()
                records.append(fields)
                fields.removeAll()
                started = false
            default: field.append(byte)
            }
        }
        if records.count < limit, started, !quoted {
            endField()
            records.append(fields)
        }
        return records
    }
}
