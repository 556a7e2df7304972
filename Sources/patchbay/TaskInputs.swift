import ArgumentParser
import Foundation
import PatchbayModel
import PatchbayRunner
import PatchbaySecurity
import PatchbayWire

/// A task's inputs as the command line gives them, under the policy of a flow task: `#` values are taken out
/// of the parameters and reach the connector only through the credential callback (and are masked).
struct TaskInput {
    /// Every parameter as given, `#` ones included: what the connector's schema is checked against.
    var parameters: JSONValue
    /// What the connector reads as its parameters: without the `#` values.
    var connectorParameters: JSONValue
    /// --credential values and the `#` values, by name.
    var secrets: [String: [UInt8]]
    var inputs: [InputTable]
    var readable: [String], writable: [String]
}

/// What a task is given on the command line, shared by `task run` and `plugins check`: parameters (inline
/// or from a file), credentials and input tables.
struct TaskInputOptions: ParsableArguments {
    @Option(name: .customLong("param"), help: ArgumentHelp(
        "A parameter, key=value; repeatable. Values that parse as JSON (numbers, true, null, [..], {..}) are used as such; others are strings.",
        valueName: "key=value"))
    var parameters: [String] = []

    @Option(help: ArgumentHelp("A JSON file with the parameters object; --param values override its keys.", valueName: "file"))
    var config: String?

    @Option(name: .customLong("credential"), help: ArgumentHelp(
        "A credential the connector may ask for, NAME=VALUE, NAME=@FILE (read from a file) or NAME=- (read from stdin); repeatable.",
        valueName: "name=value"))
    var credentials: [String] = []

    @Option(name: .customLong("input"), help: ArgumentHelp("An input table, NAME=FILE.csv; repeatable.", valueName: "name=file"))
    var inputs: [String] = []

    @Option(name: .customLong("read"), help: ArgumentHelp(
        "A file or directory the connector may read; repeatable. The sandbox allows nothing else outside its workspace.",
        valueName: "path"))
    var readable: [String] = []

    @Option(name: .customLong("write"), help: ArgumentHelp("A file or directory the connector may write; repeatable.", valueName: "path"))
    var writable: [String] = []

    func validate() throws {
        for item in parameters + credentials + inputs where !item.contains("=") {
            throw ValidationError("'\(item)' is not of the form key=value")
        }
    }

    /// The --read and --write grants, absolute; each must exist.
    func grantedPaths() throws -> (read: [String], write: [String]) {
        for (paths, option) in [(readable, "--read"), (writable, "--write")] {
            for path in paths where !FileManager.default.fileExists(atPath: path) {
                throw CLIError("\(option) \(path): no such file or directory", exitCode: .inputInvalid)
            }
        }
        func absolute(_ paths: [String]) -> [String] { paths.map { URL(fileURLWithPath: $0).standardizedFileURL.path } }
        return (absolute(readable), absolute(writable))
    }

    func split(_ item: String) -> (String, String) {
        let index = item.firstIndex(of: "=")!
        return (String(item[..<index]), String(item[item.index(after: index)...]))
    }

    /// Everything at once, checked, with the `#` values separated as in a flow.
    func taskInput() throws -> TaskInput {
        let parameters: JSONValue
        do { parameters = try JSONValue(parsing: try buildParameters()) } catch let error as CLIError { throw error } catch {
            throw CLIError("the parameters are not valid JSON: \(error)", exitCode: .inputInvalid)
        }
        let (connectorParameters, hidden): (JSONValue, [String: String])
        do {
            (connectorParameters, hidden) = try SecretParameters.separate(parameters) { value in
                guard !SecretBox.isCiphertext(value) else { throw CLIError.ciphertextOutsideProject }
                return value
            }
        } catch {
            // The fault names the parameter and quotes why `reveal` refused it.
            throw CLIError("\(error)", exitCode: .inputInvalid)
        }
        var secrets = try readCredentials()
        for (key, value) in hidden { secrets[key] = Array(value.utf8) }
        let (readable, writable) = try grantedPaths()
        return TaskInput(parameters: parameters, connectorParameters: connectorParameters, secrets: secrets,
                         inputs: try inputTables(), readable: readable, writable: writable)
    }

    /// The --input tables, each a readable file.
    func inputTables() throws -> [InputTable] {
    try inputs.map { item in
        let (name, file) = split(item)
        let path = URL(fileURLWithPath: file).standardizedFileURL.path
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw CLIError("--input \(name): cannot read \(file)", exitCode: .inputInvalid)
        }
        do {
            return InputTable(name: name, path: path, types: try TableManifest.types(besides: path))
        } catch {
            throw CLIError("--input \(name): its manifest \(error)", exitCode: .inputInvalid)
        }
    }
    }

    func buildParameters() throws -> String {
        var object: [String: Any] = [:]
        if let config {
            guard let data = FileManager.default.contents(atPath: config) else {
                throw CLIError("--config: cannot read \(config)", exitCode: .inputInvalid)
            }
            let parsed: Any
            do { parsed = try JSONSerialization.jsonObject(with: data) } catch {
                let fault = LocatedJSONParser.firstError(in: String(decoding: data, as: UTF8.self)) ?? "\(error)"
                throw CLIError("\(config): not valid JSON (\(fault))", exitCode: .inputInvalid)
            }
            guard let dictionary = parsed as? [String: Any] else {
                throw CLIError("\(config): the parameters must be a JSON object", exitCode: .inputInvalid)
            }
            object = (dictionary["parameters"] as? [String: Any]) ?? dictionary
        }
        for item in parameters {
            let (key, raw) = split(item)
            if let value = try? JSONSerialization.jsonObject(with: Data(raw.utf8), options: [.fragmentsAllowed]) {
                object[key] = value
            } else {
                object[key] = raw
            }
        }
        return JSONText.render(object, pretty: false)
    }

    func readCredentials() throws -> [String: [UInt8]] {
        var result: [String: [UInt8]] = [:]
        for item in credentials {
            let (name, value) = split(item)
            // A value read from stdin or a file loses its trailing line break, as `echo` adds one.
            func withoutLineBreak(_ data: Data) -> [UInt8] {
                var bytes = [UInt8](data)
                while bytes.last == 0x0A || bytes.last == 0x0D { bytes.removeLast() }
                return bytes
            }
            if value == "-" {
                result[name] = withoutLineBreak(FileHandle.standardInput.readDataToEndOfFile())
            } else if value.hasPrefix("@") {
                guard let data = FileManager.default.contents(atPath: String(value.dropFirst())) else {
                    throw CLIError("--credential \(name): cannot read \(value.dropFirst())", exitCode: .inputInvalid)
                }
                result[name] = withoutLineBreak(data)
            } else {
                result[name] = Array(value.utf8)
            }
        }
        return result
    }
}
