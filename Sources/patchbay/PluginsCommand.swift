import ArgumentParser
import PatchbayCore
import PatchbayEngine
import PatchbayModel
import Foundation
import PatchbayViews
import PatchbayRegistry
import PatchbayRunner

struct PluginsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plugins",
        abstract: "List, inspect, install and watch connector plugins.",
        discussion: """
            Every plugin file is probed in a runner process, never in the host: its ABI version and descriptor are checked, and a plugin that fails is quarantined with the reason. Several versions of one connector may sit side by side; a task names `id@version` or gets the newest.
            """,
        subcommands: [List.self, Inspect.self, Check.self, Install.self, Watch.self]
    )
}

extension PluginsCommand {
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list",
            abstract: "List every plugin in the plugin directories, ready or quarantined.")

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let registry = global.registry()
            await registry.refresh()
            let catalog = await registry.catalog
            if global.output == .json {
                printJSON(["directories": global.directories.directories, "plugins": catalog.map(\.json)])
                return
            }
            print("Plugin directories: \(global.directories.directories.joined(separator: ", "))")
            if catalog.isEmpty {
                print("No plugins found. Build the first-party ones with `scripts/build`, or `patchbay plugins install FILE`.")
                return
            }
            for entry in catalog {
                if let d = entry.descriptor {
                    let pattern = (entry.pattern?.name ?? "?").padded(14)
                    print("  \(d.id)@\(d.version)".padded(40)
                          + " \(pattern) ABI \(entry.abiVersionText)  \(d.displayName)")
                    print("      \(entry.path)  sha256:\(entry.sha256.prefix(16))…")
                } else if case .quarantined(let reason) = entry.status {
                    print("  QUARANTINED \(entry.path)")
                    print("      \(reason)")
                }
            }
        }
    }

    struct Inspect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "inspect",
            abstract: "Show one plugin's descriptor, parameter schema, SHA-256 and ABI.")

        @Argument(help: ArgumentHelp("An installed connector's id, id@version, or a path to a .so file.", valueName: "path|id"))
        var plugin: String

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let registry = global.registry()
            await registry.refresh()
            let entry: CatalogEntry
            do {
                entry = try await registry.resolve(plugin)
            } catch let error as RegistryError {
                // A quarantined plugin is still worth showing, with its reason.
                if case .quarantined(let path, _) = error {
                    let quarantined = await registry.entry(at: path)  // probed by resolve already: no second probe
                    if global.output == .json { printJSON(quarantined.json) } else { printError(error) }
                    throw ExitCode.pluginUnavailable
                }
                printError(error)
                throw CLIError(error).exitCode
            }
            if global.output == .json {
                printJSON(entry.json)
                return
            }
            guard let d = entry.descriptor else { return }
            print("""
                \(d.displayName)
                  id            \(d.id)
                  version       \(d.version)
                  pattern       \(d.pattern.name)
                  ABI           \(entry.abiVersionText) (descriptor \(d.structSize) bytes)
                  path          \(entry.path)
                  sha256        \(entry.sha256)
                  size          \(entry.size) bytes
                  load time     \(formatDuration(entry.probeLoadTime)) (dlopen + entry + checks, in a runner)
                  credentials   \(d.credentialNames.isEmpty ? "none" : d.credentialNames.joined(separator: ", "))
                  network       \(d.network.wording)
                  outputs       \(d.lineage.outputs.map { $0.isEmpty ? "none" : $0.joined(separator: ", ") } ?? "not declared")
                  tables        \(d.lineage.tables.map { $0.isEmpty ? "none" : $0.map(\.text).joined(separator: ", ") } ?? "not declared")
                  capabilities  \(d.capabilities.names.isEmpty ? "none" : d.capabilities.names.joined(separator: ", "))
                  check()       \(d.hasCheck ? "yes" : "no")   cancel()  \(d.hasCancel ? "yes" : "no")
                """)
            if !d.description.isEmpty { print("  description   \(d.description)") }
            print("  parameters schema:")
            let schema = (try? JSONSerialization.jsonObject(with: Data(d.parametersSchema.utf8))).map { JSONText.render($0) } ?? d.parametersSchema
            for line in schema.split(separator: "\n") { print("    \(line)") }
        }
    }

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "check",
            abstract: "Put a connector through the conformance battery before you ship it.",
            discussion: """
                Each item runs the connector for real, in the same sandbox as a flow task; nothing is stored and no table lands:
                  descriptor      it loads, and its descriptor is sane
                  schema          JSON Schema of an object; what looks secret is marked
                  check()         check() succeeds with your parameters (if it has one)
                  run()           run() succeeds with your parameters
                  schema-breaking parameters
                                  a parameter of the wrong type: run() fails, config error
                  nothing written after an error
                                  that failing run opened no output table
                  state round trip
                                  the state run() sets is one a next run starts from
                  credentials     it asks only for the credentials it declares
                  network         what it declares matches what its run needs
                  cancellation    a cancelled run ends within the bound
                Give the parameters, inputs and credentials a real task would get.

                Examples:
                  patchbay plugins check ./libmy_connector.so
                  patchbay plugins check ./libmy_connector.so --config params.json \\
                    --credential api_key=@key.txt --output json

                Exit codes:
                  0   every item passed (warnings allowed)
                  1   an item failed
                  3   unknown plugin
                  4   a parameter file or input is missing or malformed
                  64  invalid command line
                """)

        @Argument(help: ArgumentHelp("The connector: a path to a .so file, or an installed id or id@version.", valueName: "file|id"))
        var plugin: String

        @OptionGroup var given: TaskInputOptions

        @Option(help: ArgumentHelp("How soon after cancel() the run must have ended, in seconds.", valueName: "seconds"))
        var cancelBound: Double = 2

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let registry = global.registry()
            await registry.refresh()
            let entry: CatalogEntry
            do { entry = try await registry.resolve(plugin) } catch let error as RegistryError {
                if case .quarantined(let path, _) = error {
                    entry = await registry.entry(at: path)
                } else {
                    printError(error)
                    throw CLIError(error).exitCode
                }
            }
            // The battery gets what a flow task would: `#` values out of the parameters, as credentials.
            var input: ConformanceInput
            do {
                let given = try self.given.taskInput()
                input = ConformanceInput(parametersJSON: given.connectorParameters.jsonText, inputs: given.inputs,
                                         credentials: given.secrets, cancelBound: .milliseconds(Int64(cancelBound * 1000)))
                (input.readablePaths, input.writablePaths) = (given.readable, given.writable)
            } catch let error as CLIError {
                printError(error)
                throw error.exitCode
            }
            if global.output == .text { print("checking \(entry.id.map { "\($0)@\(entry.version ?? "?")" } ?? entry.path) (\(entry.path))") }
            let report = await ConformanceKit.check(entry, with: input)
            if global.output == .json {
                printJSON(["plugin": entry.json, "passed": report.passed,
                           "items": report.items.map { ["name": $0.name, "verdict": $0.verdict.rawValue, "reason": $0.reason] }])
            } else {
                for item in report.items {
                    let mark = switch item.verdict { case .pass: "✓"; case .warn: "!"; case .fail: "✗"; case .skip: "-" }
                    print("  \(mark) \(item.name.padded(31)) \(item.reason)")
                }
                let count = { (verdict: ConformanceReport.Verdict) in report.items.filter { $0.verdict == verdict }.count }
                print("\(report.passed ? "✓ conforms" : "✗ does not conform"): \(count(.pass)) passed, \(count(.warn)) warned, \(count(.fail)) failed, \(count(.skip)) skipped")
            }
            if !report.passed { throw ExitCode.taskFailed }
        }
    }

    struct Install: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "install",
            abstract: "Probe a plugin file and copy it into the plugin directory (temp file + rename).",
            discussion: "The file is probed first; a plugin that fails the probe is not installed. A running watcher picks the new file up within a second.")

        @Argument(help: ArgumentHelp("The connector's shared library.", valueName: "file"))
        var file: String

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let registry = global.registry()
            do {
                let entry = try await registry.install(file: file)
                if global.output == .json {
                    printJSON(entry.json)
                } else {
                    print("installed \(entry.id ?? "?")@\(entry.version ?? "?") → \(entry.path)")
                    print("  network: \(entry.descriptor?.network.wording ?? "none")")
                }
            } catch let error as RegistryError {
                printError(error)
                throw CLIError(error).exitCode
            }
        }
    }

    struct Watch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "watch",
            abstract: "Watch the plugin directories and probe plugins as they appear (hot-add).",
            discussion: "Prints one line per change (one JSON object per line with --output json) until interrupted. A plugin copied into a watched directory is probed and usable by the next task within a second.")

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let registry = global.registry()
            let watcher = DirectoryWatcher(directories: global.directories.directories)
            report(await registry.refresh(), initial: true)
            // The watch is set up before the first scan, so this line means: every change from now on is reported.
            if global.output == .text {
                print("watching \(global.directories.directories.joined(separator: ", ")) (Ctrl-C to stop)")
            } else {
                printJSONLine(["event": "watching", "directories": global.directories.directories])
            }
            fflush(nil)
            while true {
                if watcher.waitForChange(timeout: .seconds(1)) {
                    report(await registry.refresh(), initial: false)
                }
            }
        }

        func report(_ changes: [CatalogChange], initial: Bool) {
            for change in changes {
                switch change {
                case .added(let entry):
                    if global.output == .json {
                        var object = entry.json
                        object["event"] = initial ? "present" : "added"
                        printJSONLine(object)
                    } else {
                        print("\(initial ? "present" : "added")  \(entry.id ?? "?")@\(entry.version ?? "?")  \(entry.path)")
                    }
                case .quarantined(let entry):
                    if global.output == .json {
                        var object = entry.json
                        object["event"] = "quarantined"
                        printJSONLine(object)
                    } else if case .quarantined(let reason) = entry.status {
                        print("quarantined  \(entry.path): \(reason)")
                    }
                case .removed(let path):
                    if global.output == .json { printJSONLine(["event": "removed", "path": path]) } else { print("removed  \(path)") }
                }
            }
            fflush(nil)  // one line per change reaches a pipe at once
        }

        func printJSONLine(_ object: [String: Any]) {
            print(JSONText.render(object, pretty: false))
        }
    }
}
