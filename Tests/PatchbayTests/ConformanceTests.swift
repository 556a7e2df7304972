import Foundation
import Testing

/// `patchbay plugins check`: the battery an author runs before shipping, through the real CLI and real runners.
@Suite("The conformance kit")
struct ConformanceTests {
    /// The verdict of each item, by name, from `plugins check --output json`.
    static func verdicts(_ arguments: [String]) throws -> (status: Int32, verdicts: [String: String], reasons: [String: String]) {
        let result = try FirstParty.patchbay(["plugins", "check"] + arguments + ["--output", "json"])
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result.stdout)\(result.stderr)")
        let items = try #require(json["items"] as? [[String: String]])
        return (result.status,
                Dictionary(uniqueKeysWithValues: items.map { ($0["name"]!, $0["verdict"]!) }),
                Dictionary(uniqueKeysWithValues: items.map { ($0["name"]!, $0["reason"]!) }))
    }

    @Test("every first-party connector conforms, given the parameters and inputs a real task would get")
    func firstPartyConform() throws {
        // Given the first-party connectors and a readable CSV file
        let directory = try Fixtures.directory(with: ["a.csv": "id,amount\n1,10\n2,20\n"])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let runs: [[String]] = [
            ["dev.patchbay.sample-data"],
            ["dev.patchbay.noop", "--param", "sleep_ms=2000"],
            ["dev.patchbay.file-extract", "--param", "path=\(directory)/a.csv", "--param", "table=in.a", "--read", directory],
            ["dev.patchbay.table-diff", "--param", "key=id", "--input", "primary=\(directory)/a.csv", "--input", "secondary=\(directory)/a.csv"],
        ]
        for arguments in runs {
            // When each is put through the battery
            let (status, verdicts, reasons) = try Self.verdicts(arguments)
            // Then no item fails
            #expect(status == 0, "\(arguments[0]): \(reasons)")
            #expect(!verdicts.values.contains("fail"), "\(arguments[0]): \(reasons)")
        }
        // And a cancelled run of the sleeping no-op ended well within the bound
        let (_, noop, reasons) = try Self.verdicts(["dev.patchbay.noop", "--param", "sleep_ms=2000"])
        #expect(noop["cancellation"] == "pass" && reasons["cancellation"]?.contains("cancelled on request") == true, "\(reasons)")
    }

    @Test("a connector that breaks the rules fails each broken item, with the reason, and exits 1")
    func nonconformingFails() throws {
        // Given a connector that breaks several rules
        let plugin = try FlowFixtures.directory.get() + "/libnonconforming.so"
        // When it is checked
        let (status, verdicts, reasons) = try Self.verdicts([plugin])
        // Then each broken rule is a failure that says what is wrong
        #expect(status == 1)
        #expect(verdicts["schema"] == "fail" && reasons["schema"]?.contains("'password' looks secret") == true, "\(reasons)")
        #expect(verdicts["schema-breaking parameters"] == "fail", "\(reasons)")
        #expect(verdicts["credentials"] == "fail" && reasons["credentials"]?.contains("'undeclared_key'") == true, "\(reasons)")
        #expect(verdicts["state round trip"] == "fail", "\(reasons)")
        // And what it does right still passes
        #expect(verdicts["descriptor"] == "pass" && verdicts["run()"] == "pass", "\(reasons)")
        // And the text report says the same, item by item
        let text = try FirstParty.patchbay(["plugins", "check", plugin])
        #expect(text.stdout.contains("✗ credentials") && text.stdout.contains("✗ does not conform"), "\(text.stdout)")
    }

    @Test("plugins check keeps a flow task's secret policy: a '#' value reaches the connector only as a credential, and no reason quotes it")
    func secretsStayHidden() throws {
        // Given a connector that asks for "#password" and echoes whatever it gets into its log and outputs
        let plugin = try FlowFixtures.directory.get() + "/libsecret_echo.so"
        // When it is checked with a '#' parameter
        let result = try FirstParty.patchbay(["plugins", "check", plugin, "--param", "#password=hunter2-s3cret", "--output", "json"])
        // Then the connector was answered (it asked for the credential, and may), and the secret is nowhere in the report
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result.stdout)")
        let items = try #require(json["items"] as? [[String: String]])
        #expect(items.first { $0["name"] == "credentials" }?["reason"]?.contains("#password (given)") == true, "\(items)")
        #expect(!result.stdout.contains("hunter2-s3cret") && !result.stderr.contains("hunter2-s3cret"), "\(result.stdout)")
    }
}
