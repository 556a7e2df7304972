// dev.patchbay.table-diff — a validation connector written with PatchbaySDK.
//
// Compares the input tables `primary` and `secondary` (names configurable) and
// fails the job when they disagree beyond a threshold. Rows are matched by the
// `key` columns (or, without a key, compared as multisets of whole rows).
// Writes every difference to an output table and reports counts as outputs.
public import PatchbaySDK

struct TableDiff: Connector, Checking {
    static let id = "dev.patchbay.table-diff"
    static let version = "1.0.0"
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
        for (key, values) in left.rows.sorted(by: { $0.key < $1.key }) {
            guard let other = right.rows[key] else {
                differing += values.count
                for value in values { try diff.write([key, "missing in secondary", value.joined(separator: "|"), ""]) }
                continue
            }
            let extra = max(values.count, other.count) - min(values.count, other.count)
            for (a, b) in zip(values, other) where a != b {
                differing += 1
                let columns = zip(compared, zip(a, b)).filter { $0.1.0 != $0.1.1 }.map(\.0)
                try diff.write([key, "differs in " + columns.joined(separator: ", "), a.joined(separator: "|"), b.joined(separator: "|")])
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
            throw ConnectorError.config(
                "the tables disagree: \(differing) of \(total) rows differ (\(percent(fraction)) > threshold \(percent(settings.threshold))); see table \(settings.diffTable)")
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

    func percent(_ value: Double) -> String {
        let tenths = Int((value * 1000).rounded())
        return "\(tenths / 10).\(tenths % 10)%"
    }

    struct Settings {
        var primary = "primary"
        var secondary = "secondary"
        var key: [String] = []
        var threshold = 0.0
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
        }

        static func text(_ value: JSON, _ name: String) throws -> String {
            guard let text = value.string, !text.isEmpty else { throw ConnectorError.config("parameter '\(name)' must be a non-empty string") }
            return text
        }
    }
}

@_cdecl("patchbay_connector_entry")
public func entry(_ host: UnsafePointer<patchbay_host>?) -> UnsafePointer<patchbay_connector>? { export(TableDiff.self, host: host) }
