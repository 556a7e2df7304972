import Foundation
import PatchbayCore
import PatchbayEngine
import PatchbayStore
import Testing

/// A private PostgreSQL cluster (Tests/Fixtures/services/pg_cluster.sh: its own data directory and port,
/// SCRAM login for "patchbay"), stopped and deleted when released.
final class PostgresCluster {
    static let password = "pg-S3cret-7731"
    static let script = Fixtures.repository + "/Tests/Fixtures/services/pg_cluster.sh"
    let directory: String
    let port: Int

    init() throws {
        directory = NSTemporaryDirectory() + "patchbay-pg-" + UUID().uuidString
        let started = try Fixtures.run("/usr/bin/env", ["bash", Self.script, "start", directory, Self.password])
        guard started.status == 0, let port = Int(started.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw Fixtures.FixtureError(message: "the PostgreSQL cluster did not start: \(started.stderr)")
        }
        self.port = port
    }

    deinit { _ = try? Fixtures.run("/usr/bin/env", ["bash", Self.script, "stop", directory]) }

    /// psql, as the cluster's superuser, the statements in `sql`; its unaligned output.
    @discardableResult
    func sql(_ sql: String) throws -> String {
        let result = try Fixtures.run("/usr/bin/env", ["PGPASSWORD=\(Self.password)", Self.psql, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                                                       "-h", "127.0.0.1", "-p", String(port), "-U", "patchbay", "-d", "postgres", "-c", sql])
        guard result.status == 0 else { throw Fixtures.FixtureError(message: "psql: \(result.stderr)") }
        return result.stdout
    }

    /// A psql process running `sql` in the background (already started).
    func background(_ sql: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["PGPASSWORD=\(Self.password)", Self.psql, "-X", "-q", "-v", "ON_ERROR_STOP=1",
                             "-h", "127.0.0.1", "-p", String(port), "-U", "patchbay", "-d", "postgres", "-c", sql]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// The psql of the server the clusters run (pg_cluster.sh says where it is).
    static let psql: String = {
        let bin = (try? Fixtures.run("/usr/bin/env", ["bash", script, "bin"]))?.stdout.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        return bin.isEmpty ? "psql" : bin + "/psql"
    }()

    /// The parameters that reach this cluster.
    var connection: String { "host: 127.0.0.1, port: \(port), user: patchbay, \"#password\": \(Self.password)" }
}

@Suite("PostgreSQL extraction through libpq, against a real server")
struct PostgresExtractTests {
    @Test("a table streams into a typed table: integers, floats with NaN and ±Infinity, exact numerics, booleans, dates, timestamptz in UTC, jsonb and NULL, all kept")
    func typesStayLossless() async throws {
        // Given a table holding every kind of value, special ones included
        let pg = try PostgresCluster()
        try pg.sql("""
            CREATE TABLE kinds(id int8, amount numeric, ratio float8, ok boolean, day date, at timestamptz, doc jsonb, note text);
            INSERT INTO kinds VALUES
              (1, 12345678901234567890.123456789, 'NaN', true, '2024-02-29', '2024-03-01 12:00:00.5+02', '{"a": [1, "x\\ty"]}', E'tab\\there'),
              (2, 'NaN', 'Infinity', false, '1999-12-31', '2000-01-01 00:00:00+00', 'null', NULL),
              (3, 'Infinity', '-Infinity', NULL, NULL, NULL, NULL, E'line one\\nline two'),
              (4, '-Infinity', 0.1, true, '2024-01-01', '2024-01-01 00:00:00-05', '{}', E'back\\\\slash');
            """)
        let project = try TestProject(files: ["flows/pg.yaml": """
            phases:
              - id: extract
                tasks:
                  - id: kinds
                    connector: dev.patchbay.postgres-extract
                    network: {tcp: [\(pg.port)]}
                    parameters: {\(pg.connection), query: "SELECT * FROM kinds ORDER BY id", table: in.kinds}
            """])
        defer { project.remove() }
        // When the flow runs
        let (run, jobs) = try await project.run("pg")
        // Then every value arrives as PostgreSQL holds it, typed from the result's column types
        #expect(run.status == .success, "\(jobs["kinds"]?.message ?? "")")
        #expect(try project.outputs(jobs["kinds"]!)["rows"] == "4")
        let table = try #require(try project.store.table("in.kinds"))
        #expect(table.types == [.integer, .string, .float, .boolean, .date, .timestamp, .json, .string])
        let rows = CSV.records(try Data(contentsOf: URL(fileURLWithPath: project.project.tableFile("in.kinds"))))
        #expect(rows.first == ["id", "amount", "ratio", "ok", "day", "at", "doc", "note"])
        #expect(rows.dropFirst().map { $0[1] } == ["12345678901234567890.123456789", "NaN", "Infinity", "-Infinity"])
        #expect(rows.dropFirst().map { $0[2] } == ["NaN", "Infinity", "-Infinity", "0.1"])
        #expect(rows[1][3...7] == ["true", "2024-02-29", "2024-03-01T10:00:00.5Z", #"{"a": [1, "x\ty"]}"#, "tab\there"])
        #expect(rows[4][5] == "2024-01-01T05:00:00Z")
        #expect(rows[3][7] == "line one\nline two" && rows[4][7] == #"back\slash"#)
    }

    @Test("rows inserted at the watermark while incremental runs go on: every row is extracted exactly once, none lost and none twice")
    func boundaryUnderConcurrentInserts() async throws {
        // Given a table of events, and a writer that keeps inserting, half of its rows at the current greatest time (a tie with the watermark)
        let pg = try PostgresCluster()
        try pg.sql("""
            CREATE TABLE events(id serial PRIMARY KEY, at timestamptz NOT NULL, note text);
            INSERT INTO events(at, note) SELECT timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second', 'seed' FROM generate_series(1, 50) i;
            """)
        let project = try TestProject(files: ["flows/inc.yaml": """
            phases:
              - id: extract
                tasks:
                  - id: events
                    connector: dev.patchbay.postgres-extract
                    parameters: {\(pg.connection), from: public.events, incremental: {column: at}, table: in.events}
            """])
        defer { project.remove() }
        let writer = try pg.background("""
            DO $$ BEGIN FOR i IN 1..400 LOOP
              IF i % 2 = 0 THEN INSERT INTO events(at, note) SELECT max(at), 'tie' FROM events;
              ELSE INSERT INTO events(at, note) VALUES (clock_timestamp(), 'new'); END IF;
              COMMIT; PERFORM pg_sleep(0.003);
            END LOOP; END $$;
            """)
        // When the flow runs again and again while the writer writes, and once more after it stopped
        var extracted: [Int] = [], skipped = 0, runs = 0
        func extractOnce() async throws {
            let (run, jobs) = try await project.run("inc")
            #expect(run.status == .success, "\(jobs["events"]?.message ?? "")")
            let csv = try String(contentsOfFile: project.project.tableFile("in.events"), encoding: .utf8)
            extracted += csv.split(separator: "\n").dropFirst().compactMap { Int($0.prefix { $0 != "," }) }
            let log = try project.store.logs(job: jobs["events"]!.id!).map(\.message).first { $0.hasPrefix("incremental on at:") } ?? ""
            skipped += Int(log.components(separatedBy: "(").dropFirst().first?.prefix { $0.isNumber } ?? "0") ?? 0
            runs += 1
        }
        while writer.isRunning || runs < 3 { try await extractOnce() }
        writer.waitUntilExit()
        #expect(writer.terminationStatus == 0)
        try await extractOnce()
        // Then the runs together extracted each of the table's rows exactly once, and ties at the bound were met and skipped
        let all = try pg.sql("SELECT id FROM events ORDER BY id").split(separator: "\n").compactMap { Int($0) }
        #expect(all.count == 450)
        let counted = Dictionary(extracted.map { ($0, 1) }, uniquingKeysWith: +)
        #expect(counted.filter { $0.value > 1 }.isEmpty, "extracted twice: \(counted.filter { $0.value > 1 }.keys.sorted().prefix(10))")
        #expect(Set(all).subtracting(counted.keys).isEmpty, "lost: \(Set(all).subtracting(counted.keys).sorted().prefix(10))")
        #expect(extracted.count == all.count)
        #expect(skipped > 0, "no run met a row at its bound again (\(runs) runs)")
    }

    @Test("PostgreSQL down is a transient error naming the server; a wrong password is a config error and the password is never shown")
    func connectionFailures() throws {
        // Given a server that is not there
        let closed = try Fixtures.run("/usr/bin/env", ["python3", "-c", "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"])
        let port = closed.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        // When a task reads from it, Then it fails as transient, saying where it tried
        let down = try FirstParty.patchbay(["task", "run", "dev.patchbay.postgres-extract", "--param", "port=\(port)", "--param", "from=t"])
        #expect(down.status == 1 && down.stdout.contains("failed (transient error): cannot connect to PostgreSQL at 127.0.0.1:\(port)"), "\(down.stdout)")
        // Given a real server, When the password is wrong, Then it fails as config, and the password appears nowhere
        let pg = try PostgresCluster()
        let wrong = "Wr0ng-pass-\(UUID().uuidString.prefix(8))"
        let denied = try FirstParty.patchbay(["task", "run", "dev.patchbay.postgres-extract", "--param", "port=\(pg.port)", "--param", "user=patchbay",
                                              "--param", "#password=\(wrong)", "--param", "from=t"])
        #expect(denied.status == 1 && denied.stdout.contains("failed (config error): cannot connect to PostgreSQL")
                && denied.stdout.contains("password authentication failed"), "\(denied.stdout)")
        #expect(!(denied.stdout + denied.stderr).contains(wrong))
    }

    @Test("a query PostgreSQL rejects is a config error with the server's message and SQLSTATE; an unknown incremental column names the result's columns")
    func rejectedQueries() throws {
        let pg = try PostgresCluster()
        try pg.sql("CREATE TABLE t(id int, at timestamptz)")
        let base = ["task", "run", "dev.patchbay.postgres-extract", "--param", "port=\(pg.port)", "--param", "user=patchbay",
                    "--param", "#password=\(PostgresCluster.password)"]
        let syntax = try FirstParty.patchbay(base + ["--param", "query=SELEC 1"])
        #expect(syntax.status == 1 && syntax.stdout.contains("failed (config error): the query failed: ERROR:  syntax error at or near")
                && syntax.stdout.contains("(SQLSTATE 42601)"), "\(syntax.stdout)")
        let missing = try FirstParty.patchbay(base + ["--param", "from=public.nope"])
        #expect(missing.stdout.contains(#"relation "public.nope" does not exist"#) && missing.stdout.contains("SQLSTATE 42P01"), "\(missing.stdout)")
        let column = try FirstParty.patchbay(base + ["--param", "from=t", "--param", #"incremental={"column":"updated"}"#])
        #expect(column.stdout.contains("incremental.column 'updated' is not a column of the result (its columns: id, at)"), "\(column.stdout)")
        let both = try FirstParty.patchbay(base + ["--param", "from=t", "--param", "query=SELECT 1"])
        #expect(both.stdout.contains("give exactly one of 'from'"), "\(both.stdout)")
    }
}
