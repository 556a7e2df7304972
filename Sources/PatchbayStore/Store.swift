// PatchbayStore — the embedded SQLite store (GRDB, WAL): runs, jobs, job events, log lines, component
// state, task outputs and the table catalog. It owns the schema, its migrations and every query.
// It must never know connectors, processes, the CLI or HTTP: it stores what the engine tells it.
//
// Durability: WAL with synchronous=NORMAL. A committed transaction survives a crash or kill -9 of any
// process (it is in the WAL); only a power loss may lose the last transactions. Migrations, once shipped,
// are never edited: a change is a new migration.
import Foundation
import GRDB
import PatchbayCore
import Synchronization

/// Why the store cannot be used.
public enum StoreError: Error, CustomStringConvertible, Sendable {
    /// The database was migrated by a newer Patchbay: this one does not know its schema.
    case newerDatabase(path: String, unknownMigrations: [String])

    public var description: String {
        switch self {
        case .newerDatabase(let path, let unknown):
            "\(path) was written by a newer Patchbay (it has migrations this one does not know: \(unknown.joined(separator: ", "))); use that version, or a copy of the project"
        }
    }
}

/// The store of one project. Safe to use from many tasks and many processes at once.
public final class Store: Sendable {
    let pool: DatabasePool
    public let path: String
    private let writes = Atomic<Int>(0)

    /// How long a write waits for another process's write lock before it gives up, and when it says so.
    static let busyStep: Duration = .milliseconds(5)
    static let busyNoticeAfter = 200   // steps: one second
    static let busyGiveUpAfter = 12_000  // steps: sixty seconds

    /// - Parameter waiting: told once per wait, after a second, that another process holds the write lock
    ///   (the CLI prints it, so a blocked command is never silent).
    public init(path: String, waiting: (@Sendable (String) -> Void)? = nil) throws {
        self.path = path
        var configuration = Configuration()
        let notice = "waiting for another process to finish writing to \(path) (it holds the store's write lock); giving up after 60 s"
        configuration.busyMode = .callback { tries in
            if tries == Self.busyNoticeAfter { waiting?(notice) }
            guard tries < Self.busyGiveUpAfter else { return false }
            usleep(UInt32(Self.busyStep.components.attoseconds / 1_000_000_000_000))
            return true
        }
        configuration.label = "patchbay"
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        pool = try DatabasePool(path: path, configuration: configuration)
        let migrator = Self.migrator
        let (superseded, applied) = try pool.read { db in (try migrator.hasBeenSuperseded(db), try migrator.appliedIdentifiers(db)) }
        if superseded {
            let known = Set(migrator.migrations)
            throw StoreError.newerDatabase(path: path, unknownMigrations: applied.filter { !known.contains($0) }.sorted())
        }
        try migrator.migrate(pool)
    }

    /// One write transaction. Every write of the store goes through here, so tests can count them.
    func write<T>(_ body: (Database) throws -> T) throws -> T {
        writes.add(1, ordering: .relaxed)
        return try pool.write(body)
    }

    /// Write transactions this process has made through this store (for tests and benchmarks).
    public var writeTransactionCount: Int { writes.load(ordering: .relaxed) }

}
