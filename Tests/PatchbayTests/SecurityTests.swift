import Foundation
import PatchbayCore
import PatchbayEngine
import PatchbaySecurity
import PatchbayStore
import Testing

/// Secrets a connector must never be able to leak: distinct, with characters that every encoding changes.
enum Secrets {
    static let password = "pa55/w0rd+\"quoted\" &more"
    static let apiKey = "key-8f1c/9e+2b==tail"
    static let accessToken = "at.eyJhbGciOi/Jz+x\"y"
    static let all = [password, apiKey, accessToken]

    /// A secret as a double-quoted YAML/JSON scalar.
    static func quoted(_ secret: String) -> String { "\"" + secret.replacingOccurrences(of: "\"", with: "\\\"") + "\"" }

    /// Every form the secret-echo connector logs a secret in (see secret_echo.c).
    static func forms(of secret: String) -> [String] {
        var json = ""
        for character in secret {
            if character == "\"" || character == "\\" || character == "/" { json.append("\\") }
            json.append(character)
        }
        let url = secret.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~")))!
        return [secret, Data(secret.utf8).base64EncodedString(), json, url]
    }

    /// Files under `directory` (recursively) whose bytes contain any form of any secret.
    static func filesLeaking(under directory: String) -> [String] {
        var leaks: [String] = []
        let enumerator = FileManager.default.enumerator(atPath: directory)
        while let relative = enumerator?.nextObject() as? String {
            let path = directory + "/" + relative
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            for secret in all {
                for form in forms(of: secret) where data.range(of: Data(form.utf8)) != nil {
                    leaks.append("\(relative) contains \(form)")
                }
            }
        }
        return leaks
    }
}

@Suite("Encrypted values")
struct SecretBoxTests {
    @Test("a ciphertext opens only for its connector, only with its key; the key file is private")
    func bindingAndKeyFile() throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/master.key"
        let box = SecretBox(master: try MasterKey.load(at: path, create: true))
        var info = stat()
        stat(path, &info)
        #expect(info.st_mode & 0o777 == 0o600)

        let sealed = try box.seal(Secrets.password, connector: "dev.example.a")
        #expect(!sealed.contains(Secrets.password))
        #expect(try box.open(sealed, connector: "dev.example.a") == Secrets.password)
        #expect(throws: SecurityError.wrongConnector(expected: "dev.example.b", found: "dev.example.a")) {
            try box.open(sealed, connector: "dev.example.b")
        }
        // Relabelled for another connector: the authenticated binding no longer matches.
        let relabelled = sealed.replacingOccurrences(of: "dev.example.a:", with: "dev.example.b:")
        #expect(throws: SecurityError.tampered) { try box.open(relabelled, connector: "dev.example.b") }
        let other = SecretBox(master: try MasterKey.load(at: directory + "/other.key", create: true))
        #expect(throws: SecurityError.tampered) { try other.open(sealed, connector: "dev.example.a") }

        chmod(path, 0o644)
        #expect(throws: SecurityError.self) { try MasterKey.load(at: path) }
    }

    @Test("masking hides a secret raw, in base64, JSON-escaped and URL-encoded, and leaves other text alone")
    func masking() {
        let masker = Masker(secrets: [Secrets.password, "ab"])
        for form in Secrets.forms(of: Secrets.password) {
            #expect(masker.mask("before \(form) after") == "before [hidden] after", "\(form)")
        }
        #expect(masker.mask("ab stays: too short to mask") == "ab stays: too short to mask")
    }
}

@Suite("Tokens, credentials and masking through real runs")
struct TokenTests {
    static let noopFlow = """
        name: nightly
        phases:
          - id: only
            tasks:
              - {id: ping, connector: dev.patchbay.noop}
        """

    @Test("a token's secret is shown once and stored as a hash; scope, revocation and expiry are enforced")
    func tokenLifecycle() throws {
        let test = try TestProject(files: ["flows/nightly.yaml": Self.noopFlow])
        defer { test.remove() }
        var info = stat()
        stat(test.project.masterTokenPath, &info)
        #expect(info.st_mode & 0o777 == 0o600, "the master token file is private")

        func create(_ arguments: [String]) throws -> (id: Int64, secret: String) {
            let result = try test.patchbay(["tokens", "create", "--output", "json"] + arguments)
            #expect(result.status == 0, "\(result.stderr)")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
            return (try #require(object["id"] as? Int64), try #require(object["secret"] as? String))
        }
        let runner = try create(["--name", "runner", "--can-run-orchestrations"])
        let reader = try create(["--name", "reader"])
        let shortLived = try create(["--name", "short-lived", "--expires-in", "1s"])
        // An already expired token, made through the engine so that no test waits for a clock to pass.
        let short = try test.engine.createToken(name: "short", scopes: TokenScopes(), expiresIn: -1).secret

        let listed = try test.patchbay(["tokens", "list", "--output", "json"])
        #expect(listed.status == 0)
        for secret in [runner.secret, reader.secret, shortLived.secret] {
            #expect(!listed.stdout.contains(secret), "listings never show a secret")
            // Read by another process: closing a descriptor of the store in this one would drop SQLite's
            // POSIX locks held by the engine's own connections (a classic way to corrupt a WAL database).
            let search = try Fixtures.run("/usr/bin/env", ["grep", "-c", "--binary-files=text", "-F", secret, test.project.storePath])
            #expect(search.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "0", "the store keeps only a hash")
        }

        // A token that may only run orchestrations can trigger a run, and the run works.
        let ran = try test.patchbay(["run", "nightly", "--token", runner.secret])
        #expect(ran.status == 0, "\(ran.stderr)")
        let refused = try test.patchbay(["run", "nightly", "--token", reader.secret])
        #expect(refused.status == 7)
        #expect(refused.stderr.contains("the token 'reader' may not run orchestrations"), "\(refused.stderr)")
        #expect(try test.patchbay(["jobs", "list", "--token", reader.secret]).status == 0, "reading needs no extra scope")
        let tokenAdmin = try test.patchbay(["tokens", "list", "--token", runner.secret])
        #expect(tokenAdmin.status == 7 && tokenAdmin.stderr.contains("may not manage tokens"))

        #expect(try test.patchbay(["tokens", "revoke", "\(runner.id)"]).status == 0)
        let revoked = try test.patchbay(["jobs", "list", "--token", runner.secret])
        #expect(revoked.status == 7)
        #expect(revoked.stderr.contains("the token 'runner' was revoked"), "\(revoked.stderr)")

        let refreshed = try test.patchbay(["tokens", "refresh", "\(reader.id)", "--output", "json"])
        let newSecret = try #require((try JSONSerialization.jsonObject(with: Data(refreshed.stdout.utf8)) as? [String: Any])?["secret"] as? String)
        #expect(try test.patchbay(["jobs", "list", "--token", reader.secret]).status == 7, "the old secret stops working")
        #expect(try test.patchbay(["jobs", "list", "--token", newSecret]).status == 0)

        // Given a token created with --expires-in 1s, When it is checked 1.5 s later (an injected time),
        // Then it is refused as expired; and the CLI refuses an expired token with exit code 7 and the reason.
        #expect(throws: AccessError.self) { try test.engine.authenticate(shortLived.secret, at: Date().addingTimeInterval(1.5)) }
        #expect(try test.engine.authenticate(shortLived.secret, at: .distantPast).token.name == "short-lived", "live before its expiry")
        let expired = try test.patchbay(["jobs", "list", "--token", short])
        #expect(expired.status == 7)
        #expect(expired.stderr.contains("the token 'short' expired"), "\(expired.stderr)")

        // A token manager cannot hand out more than it has.
        let manager = try create(["--name", "manager", "--can-manage-tokens", "--component", "dev.patchbay.noop"])
        let escalation = try test.patchbay(["tokens", "create", "--name", "more", "--can-run-orchestrations", "--bucket", "out:write",
                                            "--token", manager.secret])
        #expect(escalation.status == 7)
        #expect(escalation.stderr.contains("--can-run-orchestrations, --bucket out:write"), "\(escalation.stderr)")
        #expect(try test.patchbay(["tokens", "create", "--name", "same", "--component", "dev.patchbay.noop", "--token", manager.secret]).status == 0)

        let bogus = try test.patchbay(["jobs", "list", "--token", "pbt_1_not-the-secret"])
        #expect(bogus.status == 7 && bogus.stderr.contains("not valid for this project"))
    }

    @Test("a connector asking for a credential its run's token does not grant is denied, and its job fails with class config")
    func credentialOutsideScope() async throws {
        let test = try TestProject(files: ["flows/leaky.yaml": """
            name: leaky
            phases:
              - id: only
                tasks:
                  - id: echo
                    connector: test.secret-echo
                    parameters: {"#password": \(Secrets.quoted(Secrets.password))}
            """])
        defer { test.remove() }
        // The orchestration's own token, made narrower than the default before its first run: no components.
        _ = try test.engine.createToken(name: "leaky, no components", scopes: TokenScopes(buckets: ["*": .write]), orchestration: "leaky")
        let (run, jobs) = try await test.run("leaky")
        let job = try #require(jobs["echo"])
        #expect(run.status == .error)
        #expect(job.status == .error)
        #expect(job.failureClass == .config)
        #expect(job.message?.contains("credential '#password' denied") == true, "\(job.message ?? "")")
        let logs = try test.store.logs(job: job.id!).map(\.message)
        #expect(logs.contains("denied #password; going on anyway"))
        #expect(Secrets.filesLeaking(under: test.project.root).isEmpty)
    }

    @Test("bucket permissions: no table is produced in a bucket the token may not write, nor read from one it may not read")
    func bucketPermissions() async throws {
        let test = try TestProject(files: [
            "flows/load.yaml": """
                name: load
                phases:
                  - id: only
                    tasks:
                      - {id: write_out, connector: test.secret-echo, parameters: {table: out.secrets}}
                      - {id: write_in, connector: test.secret-echo, parameters: {table: in.allowed}}
                """,
            "flows/read.yaml": """
                name: read
                phases:
                  - id: only
                    tasks:
                      - {id: reader, connector: test.secret-echo, inputs: {source: in.allowed}}
                """,
        ])
        defer { test.remove() }
        _ = try test.engine.createToken(name: "in only", scopes: TokenScopes(components: ["test.secret-echo"], buckets: ["in": .write]),
                                        orchestration: "load")
        let (_, jobs) = try await test.run("load")
        #expect(jobs["write_in"]?.status == .success)
        let denied = try #require(jobs["write_out"])
        #expect(denied.status == .error && denied.failureClass == .config)
        #expect(denied.message?.contains("may not write the bucket of 'out.secrets'") == true, "\(denied.message ?? "")")
        // The runner refused at open_output, before the connector could write a row, not after it had staged them
        #expect(denied.message?.contains("open_output:") == true, "\(denied.message ?? "")")
        let deniedLog = try test.store.logs(job: denied.id!).map(\.message)
        #expect(deniedLog.contains { $0.hasPrefix("open_output: the run's token may not write the bucket of 'out.secrets' (bucket 'out'; it may write in)") }, "\(deniedLog)")
        #expect(!FileManager.default.fileExists(atPath: test.project.tableFile("out.secrets")))
        #expect(try test.store.table("out.secrets") == nil)
        #expect(FileManager.default.fileExists(atPath: test.project.tableFile("in.allowed")))

        _ = try test.engine.createToken(name: "no buckets", scopes: TokenScopes(components: ["test.secret-echo"]), orchestration: "read")
        let (_, readJobs) = try await test.run("read")
        let reader = try #require(readJobs["reader"])
        #expect(reader.status == .error && reader.failureClass == .config)
        #expect(reader.message?.contains("may not read the bucket of 'in.allowed'") == true, "\(reader.message ?? "")")
    }

    @Test("after a full run with secrets no file holds one in any form, and every leaked form reads [hidden]")
    func noPlaintextAnywhere() throws {
        let test = try TestProject(files: ["flows/secrets.yaml": """
            name: secrets
            phases:
              - id: login
                tasks:
                  - {id: auth, connector: test.auth, parameters: {"#token": \(Secrets.quoted(Secrets.accessToken)), ttl: "600"}}
              - id: use
                dependsOn: [login]
                tasks:
                  - id: echo
                    connector: test.secret-echo
                    parameters: {"#password": \(Secrets.quoted(Secrets.password)), table: out.result}
            """])
        defer { test.remove() }
        let stored = try Fixtures.run(Fixtures.patchbay, ["credentials", "set", "api_key", "--connector", "test.secret-echo"] + test.cliOptions,
                                      input: Data(Secrets.apiKey.utf8))
        #expect(stored.status == 0, "\(stored.stderr)")
        let names = try test.patchbay(["credentials", "list"])
        #expect(names.stdout.contains("api_key") && !names.stdout.contains(Secrets.apiKey))

        let run = try test.patchbay(["run", "secrets"])
        #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)")
        let logs = try test.patchbay(["jobs", "logs"])
        #expect(logs.status == 0, "\(logs.stderr)")
        let shown = logs.stdout + run.stdout + run.stderr
        // The connector leaked each secret in five ways; each reads [hidden].
        for name in ["#password", "api_key", "access_token"] {
            for line in ["\(name) raw: [hidden]", "\(name) base64: [hidden]", "{\"\(name)\": \"[hidden]\"}",
                         "GET /login?\(name)=[hidden]", "stdout \(name)=[hidden]"] {
                #expect(shown.contains(line), "'\(line)' missing from the logs")
            }
        }
        for secret in Secrets.all {
            for form in Secrets.forms(of: secret) { #expect(!shown.contains(form), "the CLI showed \(form)") }
        }
        // The store (database, WAL, shared memory), staging, workspaces and tables: no secret in any form.
        #expect(Secrets.filesLeaking(under: test.project.root) == [])
    }

    @Test("an authentication task's secret output reaches later tasks of its run only until its TTL")
    func authenticationOutputExpires() async throws {
        let test = try TestProject(files: ["flows/expiring.yaml": """
            name: expiring
            phases:
              - id: login
                tasks:
                  - {id: auth, connector: test.auth, parameters: {"#token": \(Secrets.quoted(Secrets.accessToken)), ttl: "0"}}
              - id: use
                tasks:
                  - {id: echo, connector: test.secret-echo}
            """])
        defer { test.remove() }
        let (run, jobs) = try await test.run("expiring")
        #expect(run.status == .success)
        let logs = try test.store.logs(job: jobs["echo"]!.id!).map(\.message)
        #expect(logs.contains("missing access_token"), "an expired access token is not handed out: \(logs)")
        #expect(try test.store.outputs(job: jobs["auth"]!.id!).allSatisfy { !$0.isSecret || $0.value == nil })
    }

    @Test("jobs retry runs an authentication again when a later task runs again: its secrets were never stored")
    func retryRerunsAuthentication() async throws {
        // Given a run whose authentication succeeded and whose later task, which needs the token, failed
        let flow = """
            name: login
            phases:
              - id: login
                tasks:
                  - {id: auth, connector: test.auth, parameters: {"#token": \(Secrets.quoted(Secrets.accessToken)), ttl: "600"}}
              - id: use
                tasks:
                  - {id: echo, connector: test.secret-echo, parameters: {table: "bad..name"}}
            """
        let test = try TestProject(files: ["flows/login.yaml": flow])
        defer { test.remove() }
        let (first, firstJobs) = try await test.run("login")
        #expect(first.status == .error && firstJobs["auth"]?.status == .success && firstJobs["echo"]?.status == .error)
        // When the flow is fixed and the run retried
        try flow.replacingOccurrences(of: ", parameters: {table: \"bad..name\"}", with: "")
            .write(toFile: test.project.flowFile("login"), atomically: true, encoding: .utf8)
        let retry = try test.patchbay(["jobs", "retry", String(first.id!)])
        #expect(retry.status == 0, "\(retry.stdout)\(retry.stderr)")
        // Then the authentication ran again (a new attempt, not reused), and the task after it got the token
        let run = try #require(try test.store.runs().first)
        let jobs = try test.jobsByTask(run.id!)
        #expect(jobs["auth"]?.status == .success && jobs["auth"]?.reusedJobID == nil && jobs["auth"]?.attempt == 2, "\(String(describing: jobs["auth"]))")
        let logs = try test.store.logs(job: jobs["echo"]!.id!).map(\.message)
        #expect(logs.contains("access_token raw: [hidden]") && !logs.contains("missing access_token"), "\(logs)")
    }

    @Test("a task whose credentials the service refuses (unauthorized) gets the run's authentication run again, once, and is retried with the new token")
    func unauthorizedAuthenticatesAgain() async throws {
        // Given an authentication that issues a new token each time, and a service that has revoked the first one
        let flow = """
            name: api
            phases:
              - id: login
                tasks:
                  - {id: auth, connector: test.auth, parameters: {"#token": \(Secrets.quoted(Secrets.accessToken)), rotate: true}}
              - id: use
                tasks:
                  - {id: call, connector: test.api}
            """
        let test = try TestProject(files: ["flows/api.yaml": flow, "flows/refused.yaml": flow.replacingOccurrences(of: "name: api", with: "name: refused")
            .replacingOccurrences(of: "connector: test.api}", with: "connector: test.api, parameters: {revoked: \"*\"}}")])
        defer { test.remove() }
        // When the flow runs
        let (run, jobs) = try await test.run("api")
        // Then the call succeeds after one more authentication, and its log says so without showing a token
        #expect(run.status == .success, "\(run.message ?? "")")
        let call = try #require(jobs["call"])
        #expect(call.status == .success && call.message == "succeeded after authenticating again with task 'auth'", "\(call.message ?? "")")
        let logs = try test.store.logs(job: call.id!).map(\.message)
        #expect(logs.contains { $0.hasPrefix("the service refused the credentials (failed (unauthorized error): 401 Unauthorized: the token was revoked); authenticating again with task 'auth'") }, "\(logs)")
        #expect(logs.contains("the service accepted the token"), "\(logs)")
        #expect(!logs.contains { $0.contains(Secrets.accessToken) }, "\(logs)")
        // When the service refuses every token, Then the task is tried once more only, and fails as unauthorized
        let (refused, refusedJobs) = try await test.run("refused")
        #expect(refused.status == .error)
        let failed = try #require(refusedJobs["call"])
        #expect(failed.failureClass == .unauthorized, "\(String(describing: failed.failureClass))")
        #expect(failed.message?.hasSuffix("(after authenticating again with task 'auth')") == true, "\(failed.message ?? "")")
        let refusals = try test.store.logs(job: failed.id!).filter { $0.message.hasPrefix("the service refused the credentials") }
        #expect(refusals.count == 1)
    }
}

@Suite("Plain secrets in flow files")
struct FileSealingTests {
    @Test("plain '#' values are encrypted in the flow and configuration files, comments and layout kept; a run still gets them")
    func plainValuesAreEncryptedInPlace() throws {
        let test = try TestProject(files: [
            "flows/login.yaml": """
                # how we log in
                name: login
                phases:
                  - id: only
                    tasks:
                      - id: echo
                        connector: test.secret-echo
                        parameters:
                          "#password": \(Secrets.quoted(Secrets.password))   # plain for now
                          note: keep me
                      - {id: token, connector: test.auth, configuration: auth}
                """,
            "configurations/auth.yaml": "connector: test.auth\nparameters:\n  '#token': plain-token-value\n  ttl: \"60\"\n",
        ])
        defer { test.remove() }
        let run = try test.patchbay(["run", "login"])
        #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)")
        #expect(run.stderr.contains("encrypted 1 plain '#' value in place"), "\(run.stderr)")

        let flow = try String(contentsOfFile: test.project.root + "/flows/login.yaml", encoding: .utf8)
        let configuration = try String(contentsOfFile: test.project.root + "/configurations/auth.yaml", encoding: .utf8)
        #expect(!flow.contains(Secrets.quoted(Secrets.password)) && !flow.contains("pa55"))
        #expect(flow.contains("\"#password\": \"PBENC:1:test.secret-echo:"))
        #expect(flow.contains("# how we log in") && flow.contains("# plain for now") && flow.contains("note: keep me"))
        #expect(!configuration.contains("plain-token-value") && configuration.contains("'#token': \"PBENC:1:test.auth:"))
        let logs = try test.patchbay(["jobs", "logs"]).stdout
        #expect(logs.contains("#password raw: [hidden]"), "the connector still got the value: \(logs)")

        // A second run reads the ciphertexts and writes nothing.
        let again = try test.patchbay(["run", "login"])
        #expect(again.status == 0 && !again.stderr.contains("encrypted"), "\(again.stderr)")
        #expect(Secrets.filesLeaking(under: test.project.root) == [])
    }
}

@Suite("The '#' rule on every path, and commands that write files only when asked")
struct SecretPathTests {
    @Test("`task run --param '#password=…'` hands the secret through the credential callback only, masked everywhere")
    func taskRunSeparatesSecrets() throws {
        // Given a connector that prints its parameters and every credential it gets, in several encodings
        let plugin = try FlowFixtures.directory.get() + "/libsecret_echo.so"
        // When it runs as a single task with a plain '#' parameter
        let result = try Fixtures.run(Fixtures.patchbay, ["task", "run", plugin, "--param", "#password=\(Secrets.password)",
                                                          "--param", "user=ann", "--output", "json"])
        // Then the parameters it saw hold no '#' key, it got the value by name, and no form of it is printed
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains(#"parameters: {\"user\":\"ann\"}"#), "\(result.stdout)")
        #expect(result.stdout.contains("#password raw: [hidden]"), "\(result.stdout)")
        for form in Secrets.forms(of: Secrets.password) {
            #expect(!result.stdout.contains(form) && !result.stderr.contains(form), "leaked as \(form)")
        }
    }

    @Test("`task run` refuses an encrypted '#' value it has no key for, before starting the connector")
    func taskRunRefusesCiphertext() throws {
        let plugin = try FlowFixtures.directory.get() + "/libsecret_echo.so"
        let result = try Fixtures.run(Fixtures.patchbay, ["task", "run", plugin, "--param", "#password=PBENC:1:test.secret-echo:AAAA"])
        #expect(result.status == 4)
        #expect(result.stderr.contains("parameters/#password: an encrypted '#' value needs its project's master key"), "\(result.stderr)")
    }

    @Test("`validate` writes nothing; `seal` encrypts a one-line JSON flow with non-ASCII text and leaves valid JSON")
    func validateDoesNotWriteAndSealKeepsJSONValid() throws {
        // Given a one-line Keboola-style JSON flow whose line has non-ASCII text before a plain '#' value
        let flowText = ##"{"name":"Zürich–Praha","phases":[{"id":"p","tasks":[{"id":"echo","connector":"test.secret-echo","parameters":{"#password":"hunter2-plain"}}]}]}"##
        let test = try TestProject(files: ["flows/route.json": flowText])
        defer { test.remove() }
        let path = test.project.root + "/flows/route.json"

        // When it is validated, Then the file is untouched and the plain value is reported
        let validate = try test.patchbay(["validate", "route"])
        #expect(validate.status == 0, "\(validate.stderr)")
        #expect(try String(contentsOfFile: path, encoding: .utf8) == flowText)
        #expect(validate.stderr.contains("1 plain '#' value, encrypted in place when the flow runs (or now: patchbay seal)"), "\(validate.stderr)")

        // When it is sealed, Then the file is valid JSON holding a ciphertext and no part of the plain value
        let seal = try test.patchbay(["seal", "route"])
        #expect(seal.status == 0, "\(seal.stderr)")
        let sealed = try String(contentsOfFile: path, encoding: .utf8)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(sealed.utf8)) as? [String: Any])
        #expect(object["name"] as? String == "Zürich–Praha")
        #expect(!sealed.contains("hunter2") && !sealed.contains("\"hu\""), "\(sealed)")
        #expect(sealed.contains(##""#password":"PBENC:1:test.secret-echo:"##), "\(sealed)")

        // And the sealed flow runs, its connector getting the value
        let run = try test.patchbay(["run", "route"])
        #expect(run.status == 0, "\(run.stdout)\n\(run.stderr)")
    }
}
