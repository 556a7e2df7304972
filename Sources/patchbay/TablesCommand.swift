import ArgumentParser
import PatchbayCore
import Foundation
import PatchbayViews
import PatchbayEngine

struct TablesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tables",
        abstract: "The table catalog: tables committed by succeeded jobs (bucket.table).",
        subcommands: [List.self, Show.self, Export.self],
        defaultSubcommand: List.self
    )
}

extension TablesCommand {
    static func json(_ table: TableRecord, _ engine: Engine) -> [String: Any] {
        ["name": table.name, "columns": table.columns, "types": table.types.map(\.word),
         "schema": zip(table.columns, table.types).map { ["name": $0, "type": $1.word] }, "rows": table.rowCount, "last_import_at": iso(table.lastImportAt),
         "job": table.jobID, "file": engine.path(of: table), "evidence_of_failed_job": table.evidence ? table.jobID as Any : NSNull()]
    }

    /// A value as JSON by its column's type: NULL is null, integers, floats and booleans are JSON numbers and
    /// booleans, a JSON column is its value; decimals stay strings (a JSON number would lose their digits).
    static func jsonValue(_ text: String?, type: ColumnType) -> Any {
        guard let text else { return NSNull() }
        switch type {
        case .integer: return Int64(text) ?? text
        case .float: return Double(text).flatMap { $0.isFinite ? $0 : nil } ?? text
        case .boolean: return text == "true"
        case .json: return (try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])) ?? text
        default: return text
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List the tables with their columns, rows and last import.")
        @OptionGroup var project: ProjectOptions
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await reportingErrors {
                let engine = try project.engine(global)
                let tables = try engine.tables()
                if global.output == .json { printJSON(tables.map { TablesCommand.json($0, engine) }); return }
                if tables.isEmpty { print("no tables yet: a succeeded job that writes tables adds them"); return }
                print("TABLE                          ROWS        COLUMNS  LAST IMPORT           JOB")
                for table in tables {
                    let time = table.lastImportAt.shortTimestamp
                    print("\(table.name.padded(30)) \(String(table.rowCount).padded(11)) \(String(table.columns.count).padded(8)) \(time.padded(21)) \(table.jobID)"
                          + (table.evidence ? " (failed: evidence)" : ""))
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "Show a table's columns, counts and first rows.")
        @Argument(help: ArgumentHelp("bucket.table", valueName: "table")) var name: String
        @Option(help: "How many rows to print.") var rows: Int = 10
        @OptionGroup var project: ProjectOptions
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await reportingErrors {
                let engine = try project.engine(global)
                let table = try engine.table(name)
                let path = engine.path(of: table)
                // The first rows as records, not lines: a quoted field may hold a line break.
                // Without a manifest (an untyped table) there is no NULL: an unquoted empty field is "".
                var preview: [[String?]] = []
                if let handle = FileHandle(forReadingAtPath: path) {
                    preview = Array(CSV.nullableRecords(handle.readData(ofLength: 1 << 20), limit: rows + 1).dropFirst())
                    if engine.manifestPath(of: table) == nil { preview = preview.map { $0.map { $0 ?? "" } } }
                }
                let types = table.types
                let (producer, readers) = try engine.lineage(of: table)
                func job(_ job: JobRecord) -> String { "job \(job.id!) (run \(job.runID), task \(job.taskID))" }
                if global.output == .json {
                    var object = TablesCommand.json(table, engine)
                    object["producer"] = producer.map { ["job": $0.id!, "run": $0.runID, "task": $0.taskID] as [String: Any] } ?? NSNull()
                    object["readers"] = readers.map { ["job": $0.id!, "run": $0.runID, "task": $0.taskID] as [String: Any] }
                    object["preview"] = preview.map { row in
                        Dictionary(zip(table.columns, row.enumerated().map { TablesCommand.jsonValue($1, type: $0 < types.count ? types[$0] : .string) }),
                                   uniquingKeysWith: { first, _ in first })
                    }
                    printJSON(object)
                    return
                }
                print("\(table.name): \(table.rowCount) rows, committed by job \(table.jobID) at \(iso(table.lastImportAt))")
                if table.evidence {
                    print("evidence of failed \(producer.map(job) ?? "job \(table.jobID)"): what its check found wrong with the data")
                }
                print("file: \(path)")
                print("columns: \(zip(table.columns, types).map { "\($0) \($1.word)" }.joined(separator: ", "))")
                print("produced by: \(producer.map(job) ?? "job \(table.jobID)")")
                print("read by: \(readers.isEmpty ? "no job yet" : readers.map(job).joined(separator: ", "))")
                if !preview.isEmpty {
                    print("first \(preview.count) rows:")
                    for row in preview {
                        print("  " + row.map { $0?.replacingOccurrences(of: "\n", with: "\\n") ?? "NULL" }.joined(separator: " | "))
                    }
                }
            }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "export", abstract: "Write a table as CSV to a file or standard output.")
        @Argument(help: ArgumentHelp("bucket.table", valueName: "table")) var name: String
        @Option(help: ArgumentHelp("The file to write (written to a temporary file, then renamed); default: standard output.", valueName: "file"))
        var to: String?
        @OptionGroup var project: ProjectOptions
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await reportingErrors {
                let engine = try project.engine(global)
                let table = try engine.table(name)
                let path = engine.path(of: table)
                guard let input = FileHandle(forReadingAtPath: path) else {
                    throw CLIError("the catalog lists \(name) but its file \(path) cannot be read", exitCode: .inputInvalid)
                }
                if let to {
                    let temporary = to + ".patchbay-tmp"
                    guard FileManager.default.createFile(atPath: temporary, contents: nil), let output = FileHandle(forWritingAtPath: temporary) else {
                        throw CLIError("cannot write \(to)", exitCode: .inputInvalid)
                    }
                    while case let chunk = input.readData(ofLength: 1 << 20), !chunk.isEmpty { output.write(chunk) }
                    try output.close()
                    guard rename(temporary, to) == 0 else { throw CLIError("cannot write \(to)", exitCode: .inputInvalid) }
                    // The types travel with the file: its manifest goes beside it, where `task run --input` looks.
                    var manifest: String?
                    if let source = engine.manifestPath(of: table) {
                        let target = TableFile.manifestPath(besides: to)
                        try? FileManager.default.removeItem(atPath: target)
                        do { try FileManager.default.copyItem(atPath: source, toPath: target) } catch {
                            throw CLIError("exported \(name) to \(to), but cannot write its manifest \(target): \(error.localizedDescription)", exitCode: .inputInvalid)
                        }
                        manifest = target
                    }
                    if global.output == .json {
                        printJSON(["exported": name, "file": to, "rows": table.rowCount, "manifest": manifest ?? NSNull(),
                                   "columns": zip(table.columns, table.types).map { ["name": $0, "type": $1.word] }] as [String: Any])
                    } else {
                        writeStandardError("exported \(name) (\(table.rowCount) rows) to \(to)\(manifest.map { ", its types to \($0)" } ?? "")\n")
                    }
                } else {
                    while case let chunk = input.readData(ofLength: 1 << 20), !chunk.isEmpty { writeStandardOutput(bytes: [UInt8](chunk)) }
                }
            }
        }
    }
}
