// Lineage (ABI 1.4): what a connector declares it produces, the outputs it sets and the tables it writes,
// and the one rule that turns a declared table pattern into a table name. The runner reads the declaration
// from the descriptor, the host enforces it on what a runner reports, and flow validation checks a flow's
// references and table wiring against it before anything runs. Knows nothing of flows, JSON or storage:
// a parameter is looked up through a closure.
import PatchbayABI

/// One entry of a connector's `output_tables`: a table name ("out.orders"), or a pattern with one string
/// parameter in braces ("{table}", "{table}_rejected") whose value stands in for the braces.
public struct TablePattern: Sendable, Hashable, CustomStringConvertible {
    /// As declared, braces included.
    public let text: String
    /// The parameter in braces, or nil for a plain table name.
    public let parameter: String?
    private let prefix: String
    private let suffix: String

    /// Nil when `text` is neither a valid table name nor a pattern with exactly one `{parameter}` (letters,
    /// digits, '_', '-') whose literal parts could be part of a table name.
    public init?(_ text: String) {
        let bytes = Array(text.utf8)
        let opens = bytes.indices.filter { bytes[$0] == UInt8(ascii: "{") }
        let closes = bytes.indices.filter { bytes[$0] == UInt8(ascii: "}") }
        if opens.isEmpty && closes.isEmpty {
            guard TableFile.isValidName(text) else { return nil }
            self.text = text
            parameter = nil
            prefix = text
            suffix = ""
            return
        }
        guard opens.count == 1, closes.count == 1, opens[0] < closes[0] else { return nil }
        let name = Array(bytes[(opens[0] + 1)..<closes[0]])
        guard !name.isEmpty, name.allSatisfy(Self.isParameterByte) else { return nil }
        let literal = Array(bytes[..<opens[0]]) + Array(bytes[(closes[0] + 1)...])
        guard literal.allSatisfy({ Self.isParameterByte($0) || $0 == UInt8(ascii: ".") }) else { return nil }
        self.text = text
        parameter = String(decoding: name, as: UTF8.self)
        prefix = String(decoding: bytes[..<opens[0]], as: UTF8.self)
        suffix = String(decoding: bytes[(closes[0] + 1)...], as: UTF8.self)
    }

    private static func isParameterByte(_ c: UInt8) -> Bool {
        (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || (c >= 0x30 && c <= 0x39) || c == 0x2D || c == 0x5F
    }

    /// The table this entry names for a task whose string parameter `name` has `value(name)`; nil when the
    /// parameter is not set (the task writes no table by this entry) or the result is not a table name.
    public func tableName(parameter value: (String) -> String?) -> String? {
        guard let parameter else { return text }
        guard let given = value(parameter) else { return nil }
        let name = prefix + given + suffix
        return TableFile.isValidName(name) ? name : nil
    }

    public var description: String { text }
}

/// What a connector declares it produces (ABI 1.4). A nil list declares nothing, and nothing is checked
/// against it; an empty list declares that there is none.
public struct Lineage: Sendable, Hashable {
    public var outputs: [String]?
    public var tables: [TablePattern]?

    public init(outputs: [String]? = nil, tables: [TablePattern]? = nil) {
        self.outputs = outputs
        self.tables = tables
    }

    /// Declares nothing: every connector before ABI 1.4.
    public static let undeclared = Lineage()

    /// The `declares` bits of the descriptor for this declaration.
    public var declaresBits: UInt32 {
        (outputs == nil ? 0 : UInt32(PATCHBAY_DECLARES_OUTPUTS)) | (tables == nil ? 0 : UInt32(PATCHBAY_DECLARES_TABLES))
    }

    public static let outputsBit = UInt32(PATCHBAY_DECLARES_OUTPUTS)
    public static let tablesBit = UInt32(PATCHBAY_DECLARES_TABLES)

    /// Whether a task with these parameters may open `table`: always when tables are not declared.
    public func allows(table: String, parameter value: (String) -> String?) -> Bool {
        guard let tables else { return true }
        return tables.contains { $0.tableName(parameter: value) == table }
    }

    /// Whether the connector may set `output`: always when outputs are not declared.
    public func allows(output: String) -> Bool { outputs?.contains(output) ?? true }
}
