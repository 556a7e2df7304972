import ArgumentParser
import PatchbayCore
import Foundation
import PatchbayServer
import Logging
import PatchbayModel
import PatchbayViews
import PatchbayEngine
import PatchbaySecurity

/// Reads a secret from standard input (never from argv, where `ps` and shell history would show it).
func readSecretFromStandardInput(_ what: String) throws -> String {
    if isatty(0) != 0 { writeStandardError("\(what) (input is read until end of file, Ctrl-D): ") }
    var text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
    if text.hasSuffix("\n") { text.removeLast() }
    if text.hasSuffix("\r") { text.removeLast() }
    guard !text.isEmpty else { throw CLIError("no \(what) on standard input (pipe it in: printf %s \"$VALUE\" | patchbay …)", exitCode: .inputInvalid) }
    guard text.utf8.count >= Masker.minimumLength else {
        throw CLIError("the \(what) is shorter than \(Masker.minimumLength) characters: too short to be hidden in logs reliably", exitCode: .inputInvalid)
    }
    return text
}

struct TokensCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokens",
        abstract: "Create, list, refresh and revoke the tokens commands and runs act as.",
        discussion: """
            A token's secret is printed once, when it is created or refreshed, and stored only as a hash. Every command acts as a token: --token, $PATCHBAY_TOKEN, or the project's master token (.patchbay/master-token, made by `patchbay init`). Each orchestration runs as its own token, made when it first runs, which may use the credentials of the flow's connectors.

            \(ExitCode.documentation(for: ExitCode.projectCodes))
            """,
        subcommands: [Create.self, List.self, Refresh.self, Revoke.self],
        defaultSubcommand: List.self)

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "create",
            abstract: "Create a token and print its secret (once).",
            discussion: """
                Examples:
                  patchbay tokens create --name ci --can-run-orchestrations --expires-in 30d
                  patchbay tokens create --name loader \\
                    --component dev.patchbay.sample-data --bucket in:write
                  patchbay tokens create --name orders-run --orchestration orders \\
                    --component dev.patchbay.sample-data --bucket in:write
                """)

        @Option(help: "A name that says who or what uses it.") var name: String
        @Option(name: .customLong("component"), help: ArgumentHelp("A connector id whose credentials it may use; repeat for several.", valueName: "id"))
        var components: [String] = []
        @Option(name: .customLong("bucket"), help: ArgumentHelp("BUCKET:read or BUCKET:write (write includes read; * is every bucket); repeat.", valueName: "bucket:access"))
        var buckets: [String] = []
        @Flag(help: "It may start runs, retry and terminate them.") var canRunOrchestrations = false
        @Flag(help: "It may create, refresh and revoke tokens and set credentials.") var canManageTokens = false
        @Option(help: ArgumentHelp("It expires after this long: 90s, 15m, 12h, 30d.", valueName: "duration")) var expiresIn: String?
        @Option(help: ArgumentHelp("Make it the own token of this flow (its runs act as it), instead of the default one.", valueName: "flow"))
        var orchestration: String?
        @Option(help: ArgumentHelp("Where runs started with this token report their errors, warnings and long runs (a signed POST).", valueName: "url"))
        var webhook: String?
        @OptionGroup var project: ProjectOptions
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await reportingErrors {
                var grants: [String: TokenScopes.Access] = [:]
                for bucket in buckets {
                    let parts = bucket.split(separator: ":", maxSplits: 1).map(String.init)
                    guard parts.count == 2, !parts[0].isEmpty, let access = TokenScopes.Access(rawValue: parts[1]) else {
                        throw CLIError("--bucket \(bucket): write BUCKET:read or BUCKET:write (e.g. in:read, out:write)", exitCode: .inputInvalid)
                    }
                    grants[parts[0]] = max(grants[parts[0]] ?? .read, access)
                }
                var lifetime: TimeInterval?
                if let expiresIn {
                    guard let seconds = parseDuration(expiresIn) else {
                        throw CLIError("--expires-in \(expiresIn): write a number with s, m, h or d (e.g. 12h, 30d)", exitCode: .inputInvalid)
                    }
                    lifetime = seconds
                }
                let (engine, caller) = try project.session(global, needs: .manageTokens)
                let scopes = TokenScopes(components: components, buckets: grants, canRunOrchestrations: canRunOrchestrations,
                                         canManageTokens: canManageTokens)
                let beyond = caller.scopes.missing(toGrant: scopes)
                guard beyond.isEmpty else {
                    throw AccessError.lacks(caller.token.name, "grant what it does not have itself: " + beyond.joined(separator: ", "))
                }
                if let webhook, !FlowNotifications.isWebhookURL(webhook) {
                    throw CLIError("--webhook '\(webhook)' is not an http or https URL", exitCode: .inputInvalid)
                }
                let (token, secret) = try engine.createToken(name: name, scopes: scopes, expiresIn: lifetime, orchestration: orchestration, webhook: webhook)
                if global.output == .json {
                    printJSON(["id": token.id!, "name": token.name, "secret": secret, "scopes": scopes.summary,
                               "expires_at": iso(token.expiresAt)])
                    return
                }
                print("token \(token.id!) '\(token.name)': \(scopes.summary)\(token.expiresAt.map { ", expires \($0.formatted(.iso8601))" } ?? "")")
                print("secret (shown once; store it now): \(secret)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List tokens: id, name, what they may do, expiry. Never secrets.")
        @OptionGroup var project: ProjectOptions
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await reportingErrors {
                let engine = try project.engine(global, needs: .manageTokens)
                let tokens = try engine.tokens()
                let now = Date()
                func state(_ token: TokenRecord) -> String {
                    if token.revokedAt != nil { return "revoked" }
                    if let expires = token.expiresAt, expires <= now { return "expired" }
                    return "active"
                }
                func scopes(_ token: TokenRecord) -> String { token.scopes?.summary ?? "?" }
                if global.output == .json {
                    printJSON(tokens.map { token -> [String: Any] in
                        ["id": token.id!, "name": token.name, "state": state(token), "scopes": scopes(token),
                         "orchestration": token.orchestration ?? NSNull(),
                         "expires_at": iso(token.expiresAt)]
                    })
                    return
                }
                print("ID".padded(5) + "NAME".padded(24) + "STATE".padded(9) + "EXPIRES".padded(22) + "MAY")
                for token in tokens {
                    print("\(token.id!)".padded(5) + token.name.padded(24) + state(token).padded(9)
                          + (token.expiresAt.map { $0.formatted(.iso8601) } ?? "never").padded(22) + scopes(token))
                }
            }
        }
    }

    struct Refresh: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "refresh", abstract: "Give a token a new secret (printed once); the old one stops working.")
        @Argument(help: "The token's id (patchbay tokens list).") var id: Int64
        @OptionGroup var project: ProjectOptions
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await reportingErrors {
                let engine = try project.engine(global, needs: .manageTokens)
                let secret = try engine.refreshToken(id)
                if global.output == .json { printJSON(["id": id, "secret": secret]) } else { print("new secret for token \(id) (shown once): \(secret)") }
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "revoke", abstract: "Revoke a token: every later use is refused.")
        @Argument(help: "The token's id (patchbay tokens list).") var id: Int64
        @OptionGroup var project: ProjectOptions
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await reportingErrors {
                let engine = try project.engine(global, needs: .manageTokens)
                try engine.revokeToken(id)
                if global.output == .json { printJSON(["id": id, "revoked": true]) } else { print("token \(id) revoked") }
            }
        }
    }
}

struct EncryptCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encrypt",
        abstract: "Encrypt a value for one connector (read from standard input), to put under a '#' key.",
        discussion: """
            The ciphertext is bound to the connector: another connector's task cannot decrypt it. It is safe to commit to git. Plain '#' values in flows are encrypted when the flow is loaded.

            Example:
              printf %s "$DB_PASSWORD" | patchbay encrypt --connector dev.example.postgres
              # then in the flow: { "#password": "PBENC:1:dev.example.postgres:…" }
            """)

    @Option(help: ArgumentHelp("The connector id the value is for.", valueName: "id")) var connector: String
    @OptionGroup var project: ProjectOptions
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await reportingErrors {
            let engine = try project.engine(global, needs: .read)
            let value = try readSecretFromStandardInput("value to encrypt")
            let ciphertext = try engine.secretBox().seal(value, connector: connector)
            if global.output == .json { printJSON(["connector": connector, "ciphertext": ciphertext]) } else { print(ciphertext) }
        }
    }
}

struct CredentialsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "credentials",
        abstract: "Named credentials of connectors: set (value from standard input) and list (names only).",
        discussion: """
            A connector receives a credential only through the ABI's credential callback, only if it declares its name, and only when the run's token grants that connector.
            """,
        subcommands: [Set.self, List.self],
        defaultSubcommand: List.self)

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "set",
            abstract: "Store a credential for a connector; the value is read from standard input.",
            discussion: "Example:  printf %s \"$API_KEY\" | patchbay credentials set api_key --connector dev.example.shop")
        @Argument(help: "The credential's name, as the connector declares it.") var name: String
        @Option(help: ArgumentHelp("The connector id it is for.", valueName: "id")) var connector: String
        @OptionGroup var project: ProjectOptions
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await reportingErrors {
                let engine = try project.engine(global, needs: .manageTokens)
                let value = try readSecretFromStandardInput("value of \(name)")
                try engine.setCredential(name: name, connector: connector, value: value)
                if global.output == .json { printJSON(["name": name, "connector": connector, "stored": true]) } else {
                    print("credential '\(name)' stored for \(connector) (encrypted)")
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List credential names per connector (never values).")
        @OptionGroup var project: ProjectOptions
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await reportingErrors {
                let engine = try project.engine(global, needs: .read)
                let credentials = try engine.credentials()
                if global.output == .json {
                    printJSON(credentials.map { ["name": $0.name, "connector": $0.connectorID, "updated_at": iso($0.updatedAt)] })
                    return
                }
                print("CONNECTOR".padded(32) + "NAME".padded(24) + "UPDATED")
                for credential in credentials {
                    print(credential.connectorID.padded(32) + credential.name.padded(24) + credential.updatedAt.formatted(.iso8601))
                }
            }
        }
    }
}
