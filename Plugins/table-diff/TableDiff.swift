// dev.patchbay.table-diff — a validation connector written with PatchbaySDK.
//
// Compares the input tables `primary` and `secondary` (names configurable) and
// fails the job when they disagree beyond a threshold. Rows are matched by the
// `key` columns (or, without a key, compared as multisets of whole rows).
// Writes every difference to an output table and reports counts as outputs.
public import PatchbaySDK

struct TableDiff: Connector, Checking {
    static let id = "dev.patchbay.table-diff"
    static let version = "1.1.0"
    static let displayName = "Table diff (validation)"
    static let summary = "Compares two tables by key and fails when more rows differ than the threshold allows."
    static let pattern = JobPattern.validation
    static let capabilities: Capabilities = [.readsTables, .writesTables]
    static let parametersSchema = """
        {"type":"object","additionalProperties":false,"properties":{
          "primary":{"type":"string","default":"primary","description":"input table name of the reference data"},
          "secondary":{"type":"string","default":"secondary","description":"input table name of the data to check"},
          "key":{"type":["string","array"],"items":{"type":"string"},"description":"a column, or the columns, that identify a row; empty compares whole rows"},
          "threshold":{"type":"number","minimum":0,"maximum":1,"default":0,"description":"largest allowed fraction of differing rows"},
          "tolerance":{"type":"number","minimum":0,"default":0,"description":"two numbers agree when this close (10.0 and 10 always agree)"},
          "diffTable":{"type":"string","default":"validation.diff"}}}
        """

    func check(_ task: TaskContext) throws {
        _ = try Settings(task.parameters())
    }

    func run(_ task: TaskContext) throws {
        let settings = try Settings(task.parameters())
        let primary = try task.openInput(settings.primary)
        let secondary = try task.openInput(settings.secondary)
        let common = primary.columns.filter(secondary.columns.contains)
        for key in settings.key where !common.contains(key) {
            throw ConnectorError.config("key column '\(key)' is not in both tables (primary: \(primary.columns.joined(separator: ", ")); secondary: \(secondary.columns.joined(separator: ", ")))")
        }
        let compared = common.filter { !settings.key.contains($0) }
        let left = try load(primary, key: settings.key, compared: compared)
        let right = try load(secondary, key: settings.key, compared: compared)
        try task.checkCancellation()

        let diff = try task.openOutput(settings.diffTable, columns: ["key", "difference", "primary", "secondary"])
        var differing = 0
        var first: String?
        for (key, values) in left.rows.sorted(by: { $0.key < $1.key }) {
            guard let other = right.rows[key] else {
                differing += values.count
                if first == nil { first = "key \(key) is missing in secondary" }
                for value in values { try diff.write([key, "missing in secondary", value.joined(separator: "|"), ""]) }
                continue
            }
            let extra = max(values.count, other.count) - min(values.count, other.count)
            for (a, b) in zip(values, other) where !same(a, b, tolerance: settings.tolerance) {
                differing += 1
                let columns = zip(compared, zip(a, b)).filter { !sameValue($0.1.0, $0.1.1, tolerance: settings.tolerance) }
                if first == nil {
                    first = "key \(key) differs in " + columns.prefix(3).map { "\($0.0) (\($0.1.0) vs \($0.1.1))" }.joined(separator: ", ")
                }
                try diff.write([key, "differs in " + columns.map(\.0).joined(separator: ", "), a.joined(separator: "|"), b.joined(separator: "|")])
            }
            differing += extra
        }
        for (key, values) in right.rows.sorted(by: { $0.key < $1.key }) where left.rows[key] == nil {
            differing += values.count
            for value in values { try diff.write([key, "missing in primary", "", value.joined(separator: "|")]) }
        }
        try diff.close()

        let total = max(left.count, right.count)
        let fraction = total == 0 ? 0 : Double(differing) / Double(total)
        try task.setOutput("primary_rows", String(left.count))
        try task.setOutput("secondary_rows", String(right.count))
        try task.setOutput("differing_rows", String(differing))
        task.info("compared \(left.count) primary and \(right.count) secondary rows on \(compared.count) columns: \(differing) differ")
        if fraction > settings.threshold {
            // Bad data, not a bad configuration: its own class (ABI 1.2), so a user can tell the two apart.
            let allowed = Int((settings.threshold * Double(total)).rounded(.down))
            throw ConnectorError.data(
                "the tables disagree: \(differing) of \(total) rows differ (\(percent(fraction))), more than the threshold allows "
                + "(\(percent(settings.threshold)): \(allowed) row\(allowed == 1 ? "" : "s")); first: \(first ?? "a row missing in primary")")
        }
    }

    struct Loaded {
        var rows: [String: [[String]]] = [:]
        var count = 0
    }

    func load(_ table: InputTable, key: [String], compared: [String]) throws -> Loaded {
        let keyIndexes = key.map { table.columns.firstIndex(of: $0)! }
        let valueIndexes = compared.map { table.columns.firstIndex(of: $0)! }
        var loaded = Loaded()
        try table.forEachRow { row in
            let values = valueIndexes.map { row[$0] }
            let identity = keyIndexes.isEmpty ? values.joined(separator: "\u{1F}") : keyIndexes.map { row[$0] }.joined(separator: "|")
            loaded.rows[identity, default: []].append(values)
            loaded.count += 1
        }
        return loaded
    }

    /// A share as a percentage, with as many decimals as it takes to tell it from 0 (3 of 50,000 is 0.006%).
    func percent(_ value: Double) -> String {
        var decimals = 1
        while decimals < 6, value > 0, value * 100 * pow10(decimals) < 1 { decimals += 1 }
        let scaled = Int((value * 100 * pow10(decimals)).rounded())
        let unit = Int(pow10(decimals))
        let fraction = String(scaled % unit)
        return "\(scaled / unit).\(String(repeating: "0", count: decimals - fraction.count))\(fraction)%"
    }

    private func pow10(_ n: Int) -> Double { (0..<n).reduce(1) { value, _ in value * 10 } }

    /// Two rows agree when every column does (see `sameValue`).
    func same(_ a: [String], _ b: [String], tolerance: Double) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { sameValue($0, $1, tolerance: tolerance) }
    }

    /// Two values agree when they are the same text, or both numbers within `tolerance` ("10.0" and "10" agree).
    func sameValue(_ a: String, _ b: String, tolerance: Double) -> Bool {
        if a == b { return true }
        guard let x = Double(a), let y = Double(b), x.isFinite, y.isFinite else { return false }
        return abs(x - y) <= tolerance
    }

    struct Settings {
        var primary = "primary"
        var secondary = "secondary"
        var key: [String] = []
        var threshold = 0.0
        var tolerance = 0.0
        var diffTable = "validation.diff"

        init(_ parameters: JSON) throws {
            if let value = parameters["primary"] { primary = try Self.text(value, "primary") }
            if let value = parameters["secondary"] { secondary = try Self.text(value, "secondary") }
            if let value = parameters["diffTable"] { diffTable = try Self.text(value, "diffTable") }
            if let value = parameters["key"] {
                if let single = value.string {
                    key = [single]
                } else if let list = value.array, list.allSatisfy({ $0.string != nil }) {
                    key = list.compactMap(\.string)
                } else {
                    throw ConnectorError.config("parameter 'key' must be a column name or a list of column names")
                }
            }
            if let value = parameters["threshold"] {
                guard let number = value.double, (0...1).contains(number) else {
                    throw ConnectorError.config("parameter 'threshold' must be a number from 0 to 1 (a fraction of rows)")
                }
                threshold = number
            }
            if let value = parameters["tolerance"] {
                guard let number = value.double, number >= 0 else {
                    throw ConnectorError.config("parameter 'tolerance' must be a number ≥ 0 (how far two numbers may be apart and still agree)")
                }
                tolerance = number
            }
        }

        static func text(_ value: JSON, _ name: String) throws -> String {
            guard let text = value.string, !text.isEmpty else { throw ConnectorError.config("parameter '\(name)' must be a non-empty string") }
            return text
        }
    }
}

@_cdecl("patchbay_connector_entry")
public func entry(_ host: UnsafePointer<patchbay_host>?) -> UnsafePointer<patchbay_connector>? { export(TableDiff.self, host: host) }
