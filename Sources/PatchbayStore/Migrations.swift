// The schema, as numbered migrations. Once shipped a migration is never edited: a change is a new one.
import GRDB

extension Store {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: runs, jobs, events, logs, state, outputs, tables") { db in
            try db.execute(sql: """
                CREATE TABLE runs (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    flowName TEXT NOT NULL,
                    flowFile TEXT NOT NULL,
                    flowJSON TEXT NOT NULL,
                    status TEXT NOT NULL,
                    trigger TEXT NOT NULL,
                    retryOf INTEGER REFERENCES runs(id),
                    onlyTasks TEXT,
                    parallelism INTEGER NOT NULL,
                    hostPID INTEGER,
                    hostStart INTEGER,
                    createdAt DATETIME NOT NULL,
                    startedAt DATETIME,
                    finishedAt DATETIME,
                    message TEXT
                );
                CREATE INDEX runsByFlow ON runs(flowName, status);
                CREATE INDEX runsByStatus ON runs(status);
                CREATE TABLE jobs (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    runID INTEGER NOT NULL REFERENCES runs(id),
                    taskID TEXT NOT NULL,
                    taskName TEXT NOT NULL,
                    phaseID TEXT NOT NULL,
                    phaseIndex INTEGER NOT NULL,
                    attempt INTEGER NOT NULL,
                    connectorID TEXT NOT NULL,
                    connectorVersion TEXT,
                    connectorSHA256 TEXT,
                    configurationID TEXT,
                    configurationKey TEXT NOT NULL,
                    continueOnFailure BOOLEAN NOT NULL,
                    parametersJSON TEXT,
                    status TEXT NOT NULL,
                    createdAt DATETIME NOT NULL,
                    startedAt DATETIME,
                    finishedAt DATETIME,
                    failureClass TEXT,
                    message TEXT,
                    exitKind TEXT,
                    exitSummary TEXT,
                    runnerPID INTEGER,
                    runnerStart INTEGER,
                    rowsOut INTEGER NOT NULL DEFAULT 0,
                    reusedJobID INTEGER REFERENCES jobs(id)
                );
                CREATE INDEX jobsByRun ON jobs(runID);
                CREATE INDEX jobsByConfiguration ON jobs(configurationKey, startedAt);
                CREATE TABLE events (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    runID INTEGER NOT NULL REFERENCES runs(id),
                    jobID INTEGER REFERENCES jobs(id),
                    time DATETIME NOT NULL,
                    status TEXT NOT NULL,
                    detail TEXT
                );
                CREATE INDEX eventsByRun ON events(runID);
                CREATE TABLE logs (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    jobID INTEGER NOT NULL REFERENCES jobs(id),
                    time DATETIME NOT NULL,
                    level TEXT NOT NULL,
                    source TEXT NOT NULL,
                    message TEXT NOT NULL
                );
                CREATE INDEX logsByJob ON logs(jobID);
                CREATE TABLE outputs (
                    jobID INTEGER NOT NULL REFERENCES jobs(id),
                    name TEXT NOT NULL,
                    value TEXT,
                    isSecret BOOLEAN NOT NULL,
                    PRIMARY KEY (jobID, name)
                );
                CREATE TABLE componentState (
                    configurationKey TEXT PRIMARY KEY,
                    stateJSON TEXT NOT NULL,
                    jobID INTEGER NOT NULL REFERENCES jobs(id),
                    updatedAt DATETIME NOT NULL
                );
                CREATE TABLE tables (
                    name TEXT PRIMARY KEY,
                    columnsJSON TEXT NOT NULL,
                    rowCount INTEGER NOT NULL,
                    lastImportAt DATETIME NOT NULL,
                    jobID INTEGER NOT NULL REFERENCES jobs(id),
                    file TEXT NOT NULL
                );
                """)
        }
        migrator.registerMigration("v2: tokens, credentials, the token of each run") { db in
            try db.execute(sql: """
                CREATE TABLE tokens (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    name TEXT NOT NULL,
                    secretHash TEXT NOT NULL,
                    scopesJSON TEXT NOT NULL,
                    orchestration TEXT,
                    createdAt TEXT NOT NULL,
                    expiresAt TEXT,
                    revokedAt TEXT
                );
                CREATE UNIQUE INDEX tokensByOrchestration ON tokens(orchestration) WHERE orchestration IS NOT NULL AND revokedAt IS NULL;
                CREATE TABLE credentials (
                    name TEXT NOT NULL,
                    connectorID TEXT NOT NULL,
                    ciphertext TEXT NOT NULL,
                    updatedAt TEXT NOT NULL,
                    PRIMARY KEY (name, connectorID)
                );
                ALTER TABLE runs ADD COLUMN tokenID INTEGER REFERENCES tokens(id);
                """)
        }
        migrator.registerMigration("v3: the plugin catalog, as last probed") { db in
            try db.execute(sql: """
                CREATE TABLE pluginProbes (
                    path TEXT PRIMARY KEY,
                    size INTEGER NOT NULL,
                    modifiedNanos INTEGER NOT NULL,
                    changedNanos INTEGER NOT NULL,
                    inode INTEGER NOT NULL,
                    sha256 TEXT NOT NULL,
                    quarantineReason TEXT,
                    loadNanos INTEGER NOT NULL,
                    abiVersion INTEGER,
                    structSize INTEGER,
                    connectorID TEXT,
                    version TEXT,
                    displayName TEXT,
                    description TEXT,
                    parametersSchema TEXT,
                    credentialNamesJSON TEXT,
                    pattern INTEGER,
                    capabilities INTEGER,
                    hasCheck BOOLEAN,
                    hasCancel BOOLEAN,
                    probedAt TEXT NOT NULL
                );
                """)
        }
        migrator.registerMigration("v4: the network each plugin declares") { db in
            try db.execute(sql: """
                ALTER TABLE pluginProbes ADD COLUMN networkKind INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE pluginProbes ADD COLUMN tcpPortsJSON TEXT NOT NULL DEFAULT '[]';
                """)
        }
        migrator.registerMigration("v5: what held each job") { db in
            try db.execute(sql: "ALTER TABLE jobs ADD COLUMN sandbox TEXT")
        }
        migrator.registerMigration("v6: lineage, the tables each job read and wrote") { db in
            try db.execute(sql: """
                CREATE TABLE lineage (
                    jobID INTEGER NOT NULL REFERENCES jobs(id),
                    tableName TEXT NOT NULL,
                    direction TEXT NOT NULL CHECK (direction IN ('read', 'write')),
                    producerJobID INTEGER REFERENCES jobs(id),
                    rowCount INTEGER,
                    PRIMARY KEY (jobID, tableName, direction)
                );
                CREATE INDEX lineageByTable ON lineage(tableName, direction);
                """)
        }
        migrator.registerMigration("v7: typed columns (ABI 1.3)") { db in
            // '[]' for a table committed before: every column a string.
            try db.execute(sql: "ALTER TABLE tables ADD COLUMN typesJSON TEXT NOT NULL DEFAULT '[]'")
        }
        migrator.registerMigration("v8: the outputs and tables each plugin declares (ABI 1.4)") { db in
            // NULL: declares nothing. The probes kept before this knew no lineage: forget them, so that every
            // plugin is probed again by the next command and its declaration read.
            try db.execute(sql: """
                ALTER TABLE pluginProbes ADD COLUMN outputNamesJSON TEXT;
                ALTER TABLE pluginProbes ADD COLUMN outputTablesJSON TEXT;
                DELETE FROM pluginProbes;
                """)
        }
        migrator.registerMigration("v9: tables kept as the evidence of a failed job") { db in
            try db.execute(sql: "ALTER TABLE tables ADD COLUMN evidence BOOLEAN NOT NULL DEFAULT 0")
        }
        migrator.registerMigration("v10: a request to stop one job of a run") { db in
            try db.execute(sql: """
                CREATE TABLE jobStopRequests (
                    jobID INTEGER PRIMARY KEY NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                    runID INTEGER NOT NULL,
                    reason TEXT NOT NULL,
                    requestedAt TEXT NOT NULL
                );
                CREATE INDEX jobStopRequestsByRun ON jobStopRequests(runID);
                """)
        }
        migrator.registerMigration("v11: why a started job waits, and until when") { db in
            try db.execute(sql: """
                ALTER TABLE jobs ADD COLUMN waitReason TEXT;
                ALTER TABLE jobs ADD COLUMN waitUntil TEXT;
                """)
        }
        migrator.registerMigration("v12: a status check's progress, so that its wait survives the host") { db in
            try db.execute(sql: """
                CREATE TABLE pollProgress (
                    jobID INTEGER PRIMARY KEY NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                    checks INTEGER NOT NULL,
                    deadline TEXT NOT NULL,
                    nextCheck TEXT NOT NULL,
                    stateJSON TEXT
                );
                """)
        }
        migrator.registerMigration("v13: automation — the last fire of each schedule, each trigger's last run, idempotency keys") { db in
            try db.execute(sql: """
                CREATE TABLE scheduleFires (
                    flowName TEXT NOT NULL,
                    scheduleID TEXT NOT NULL,
                    lastFire TEXT NOT NULL,
                    runID INTEGER,
                    PRIMARY KEY (flowName, scheduleID)
                );
                CREATE TABLE triggerMarks (
                    flowName TEXT NOT NULL,
                    triggerID TEXT NOT NULL,
                    since TEXT NOT NULL,
                    runID INTEGER,
                    PRIMARY KEY (flowName, triggerID)
                );
                CREATE TABLE idempotencyKeys (
                    scope TEXT NOT NULL,
                    key TEXT NOT NULL,
                    requestHash TEXT NOT NULL,
                    status INTEGER,
                    responseJSON TEXT,
                    location TEXT,
                    createdAt TEXT NOT NULL,
                    PRIMARY KEY (scope, key)
                );
                """)
        }
        migrator.registerMigration("v14: flows disabled for unattended runs") { db in
            try db.execute(sql: """
                CREATE TABLE disabledFlows (
                    flowName TEXT PRIMARY KEY NOT NULL,
                    disabledAt TEXT NOT NULL,
                    reason TEXT NOT NULL
                );
                """)
        }
        migrator.registerMigration("v15: who started a run, and the webhook of a token") { db in
            try db.execute(sql: "ALTER TABLE runs ADD COLUMN startedByTokenID INTEGER")
            try db.execute(sql: "ALTER TABLE tokens ADD COLUMN webhook TEXT")
        }
        migrator.registerMigration("v16: the history of every wait, and when a job got its slot, for the run timeline") { db in
            try db.execute(sql: """
                ALTER TABLE jobs ADD COLUMN dispatchedAt TEXT;
                CREATE TABLE waitSpans (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    jobID INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
                    runID INTEGER NOT NULL,
                    reason TEXT NOT NULL,
                    detail TEXT NOT NULL,
                    startedAt TEXT NOT NULL,
                    until TEXT,
                    endedAt TEXT,
                    blockingRunID INTEGER
                );
                CREATE INDEX waitSpansByRun ON waitSpans(runID);
                """)
        }
        return migrator
    }
}
