/*
 * patchbay/connector.h — the Patchbay connector ABI, version 1.4.
 *
 * This header is the whole contract between a Patchbay host and a connector
 * plugin. Anything not declared here is not a published API. It is plain C99,
 * has no function-like macros (Swift and Rust import it as is) and knows
 * nothing of the host's implementation language, storage or transport.
 *
 * ===========================================================================
 * VERSIONING
 * ===========================================================================
 * The ABI version is one 32-bit number: (major << 16) | minor.
 *
 * MAJOR changes when anything already published changes meaning or layout:
 *   removing or reordering a field, changing a field's type, changing a
 *   function's signature, changing the meaning of an enum value, or changing
 *   an ownership rule written in this header. A host refuses a connector whose
 *   major differs from its own, before running any of the connector's code
 *   beyond patchbay_abi_version().
 *
 * MINOR changes when something is appended: a field at the end of a struct, a
 *   function at the end of the host table, a new enum value, a new flag bit.
 *   Hosts and connectors of different minors interoperate both ways:
 *   - Every struct that crosses the boundary begins with `uint32_t struct_size`,
 *     set by whoever allocates the struct to sizeof() as they compiled it.
 *   - A reader uses a field only when the writer's struct_size covers it
 *     (offsetof(field) + sizeof(field) <= struct_size) and otherwise treats it
 *     as absent (NULL / 0). A host accepts a connector descriptor LARGER than
 *     the one it knows (a newer minor) and ignores the fields past its own.
 *   - A descriptor smaller than the v1.0 size is refused.
 *   Fields are only ever appended: "always add new fields to the end".
 *
 * A callback's arguments never change once published: a function that needs
 *   another argument is appended as a new function (SQLite's `_v2` rule), and
 *   the old one keeps working.
 *
 * A field the writer marks "must be 0" (reserved) is refused when it is not,
 * so that a later minor can give it a meaning.
 *
 * CHANGELOG
 *   1.0  First release. (Header revisions since, with no change of layout or
 *        meaning: PATCHBAY_ABI_VERSION written as an expression; the v1.0
 *        struct sizes published as PATCHBAY_HOST_SIZE_1_0 and
 *        PATCHBAY_CONNECTOR_SIZE_1_0; `reserved` is checked.)
 *   1.1  The connector declares the network it needs (`network`, `tcp_port_count`,
 *        `tcp_ports`, appended to patchbay_connector; PATCHBAY_NETWORK_*;
 *        PATCHBAY_CONNECTOR_SIZE_1_1). A 1.0 connector gets no network.
 *   1.2  A failure class of its own for bad data: PATCHBAY_FAILURE_DATA (the data
 *        broke a rule: a validation found differences, a row is malformed), so a
 *        user can tell bad data from a bad configuration. No layout change: the
 *        descriptor is PATCHBAY_CONNECTOR_SIZE_1_1 bytes. A host of 1.1 reads the
 *        new class as SYSTEM.
 *   1.3  Typed columns and NULL: patchbay_column_type (PATCHBAY_TYPE_*), and four
 *        host functions appended: open_output_typed, write_records_nullable,
 *        read_records_nullable, input_column_types (PATCHBAY_HOST_SIZE_1_3). The
 *        1.0 functions keep working: open_output makes string columns, and
 *        read_records gives a NULL value as an empty string.
 *   1.4  Lineage: the connector may declare the outputs it sets and the tables it
 *        writes (`declares`, `output_count`, `output_names`, `output_table_count`,
 *        `reserved_1_4`, `output_tables`, appended to patchbay_connector;
 *        PATCHBAY_DECLARES_*; PATCHBAY_CONNECTOR_SIZE_1_4), so that a flow's
 *        references and table wiring are checked before it runs. A connector that
 *        declares nothing (every 1.3 one) is checked as before. A validation
 *        connector built for 1.4 that fails with PATCHBAY_FAILURE_DATA keeps its
 *        tables as the failed job's evidence (one built for an older minor does not).
 *        A failure class for refused credentials: PATCHBAY_FAILURE_UNAUTHORIZED.
 *        A rate limit shared by every task that calls one service: the host
 *        function rate_limit, appended (PATCHBAY_HOST_SIZE_1_4).
 *   1.5  Checkpoints: PATCHBAY_CAP_CHECKPOINTS. An extraction that declares it makes
 *        every state_set() a checkpoint (the state and the rows written before it);
 *        when its runner dies, the job's next attempt resumes there. No layout change.
 *
 * ===========================================================================
 * THE TWO EXPORTED SYMBOLS
 * ===========================================================================
 * A connector is a shared library that exports exactly two plain functions:
 *
 *   uint32_t patchbay_abi_version(void);
 *       Returns PATCHBAY_ABI_VERSION as the connector saw it at compile time.
 *       Must do nothing else: the host calls it first, and refuses the plugin
 *       on a major mismatch.
 *
 *   const patchbay_connector *patchbay_connector_entry(const patchbay_host *host);
 *       Returns the connector's descriptor. Called once per process, must be
 *       cheap (no I/O). `host` is valid for the life of the process; the
 *       connector keeps it to call the host's services. The returned pointer
 *       stays owned by the connector and must stay valid for the life of the
 *       process (a static object is the norm). Does not pass ownership.
 *
 * ===========================================================================
 * OWNERSHIP RULES (apply everywhere unless a field says otherwise)
 * ===========================================================================
 * 1. Inputs the host passes to the connector are borrowed for the duration of
 *    the call only.
 * 2. Whatever the connector passes to a host callback is copied by the host
 *    before the callback returns; the connector may free or reuse it at once.
 * 3. Objects the host creates (patchbay_task, patchbay_error, table readers and
 *    writers) are owned and freed only by the host.
 * 4. Strings are UTF-8. Strings that cross at run time are patchbay_str
 *    {data, length}, not NUL-terminated, and may contain NUL. The descriptor's
 *    own strings are NUL-terminated C strings with static lifetime, because
 *    they are written once by hand and live as long as the library.
 * 5. The host never unloads a connector (it loads with RTLD_NODELETE), so
 *    static data in the connector lives for the life of the process.
 *
 * THREADS
 *   check() and run() are called on one thread. Host callbacks may be called
 *   from any thread; the host serializes them. cancel() is called from a
 *   different host thread while run() is in progress.
 *
 * PROCESS
 *   Each task runs in a runner process of its own. The connector may use
 *   stdout and stderr freely: the host captures both into the task log. It
 *   must not touch file descriptors it did not open. Its working directory is
 *   a private, empty directory that is deleted after the task.
 */
#ifndef PATCHBAY_CONNECTOR_H
#define PATCHBAY_CONNECTOR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Version --------------------------------------------------------- */

enum {
    PATCHBAY_ABI_MAJOR = 1,
    PATCHBAY_ABI_MINOR = 5,
    PATCHBAY_ABI_VERSION = (PATCHBAY_ABI_MAJOR << 16) | PATCHBAY_ABI_MINOR
};

/* ---- Basic types ----------------------------------------------------- */

/* A UTF-8 string or byte run. `data` may be NULL only when `length` is 0.
 * Who owns `data`, and for how long, is written beside every use. */
typedef struct patchbay_str {
    const char *data;
    size_t length;
} patchbay_str;

/* Status codes returned by every function on both sides of the ABI. */
typedef uint32_t patchbay_status;
enum {
    PATCHBAY_OK = 0,               /* done */
    PATCHBAY_ERROR = 1,            /* failed; details in the patchbay_error */
    PATCHBAY_NOT_FOUND = 2,        /* no such credential, input table, ... */
    PATCHBAY_DENIED = 3,           /* the task's token does not allow this */
    PATCHBAY_INVALID_ARGUMENT = 4, /* bad argument (NULL handle, bad UTF-8, wrong column count, ...) */
    PATCHBAY_CANCELLED = 5,        /* the task was cancelled; return promptly */
    PATCHBAY_END = 6,              /* read_records: no more rows */
    PATCHBAY_IO = 7,               /* the host could not read or write storage */
    PATCHBAY_PENDING = 8           /* run() of a status_check connector: not ready yet, ask again later */
};

/* Failure classes, set on a patchbay_error. */
typedef uint32_t patchbay_failure_class;
enum {
    PATCHBAY_FAILURE_CONFIG = 1,    /* the user must fix something (parameters, credentials, setup) */
    PATCHBAY_FAILURE_TRANSIENT = 2, /* retrying later may succeed (timeouts, rate limits, 5xx) */
    PATCHBAY_FAILURE_SYSTEM = 3,    /* a bug in the connector or the host */
    PATCHBAY_FAILURE_DATA = 4,      /* 1.2: the data broke a rule (differences found, malformed rows); not retried */
    PATCHBAY_FAILURE_UNAUTHORIZED = 5 /* 1.4: the service refused the credentials the task was given (HTTP 401):
                                       * the host runs the run's authentication task again, once, and retries
                                       * the task with its new secrets. A host of 1.3 reads it as SYSTEM. */
};

/* Job patterns: what a connector does, and so what the host does with it. */
typedef uint32_t patchbay_pattern;
enum {
    PATCHBAY_PATTERN_AUTHENTICATION = 1, /* produces a credential (secret output with a TTL) */
    PATCHBAY_PATTERN_INITIATION = 2,     /* starts something remote, returns its id as an output */
    PATCHBAY_PATTERN_STATUS_CHECK = 3,   /* run() returns OK (ready), PENDING (ask again) or ERROR */
    PATCHBAY_PATTERN_EXTRACTION = 4,     /* writes records to output tables */
    PATCHBAY_PATTERN_PREPARATION = 5,    /* reshapes input tables into output tables for egress */
    PATCHBAY_PATTERN_EGRESSION = 6,      /* sends input tables to a third party, records responses */
    PATCHBAY_PATTERN_VALIDATION = 7      /* compares inputs; fails the job when they disagree */
};

/* What the host keeps of a task, by outcome. The same for every pattern but where noted.
 *
 *   state   state_get() reads the state the configuration's last successful job committed ("{}" at
 *           first). state_set() replaces it for the rest of the task; the host commits the last value
 *           set only when the job succeeds. A failed, cancelled or crashed job commits nothing, so the
 *           next job starts again from the last committed state.
 *           status_check: each check of one job is a new run() in a new runner. A check that answers
 *           PENDING passes the state it set to the next check of the same job (to count checks or back
 *           off); the last state set by any check is committed if the job ends ready (OK).
 *   outputs set_output() values are kept when the job succeeds; later tasks of the run reference them
 *           as ${{ tasks.TASK.outputs.NAME }}. On failure they are dropped. authentication: a secret output
 *           (PATCHBAY_OUTPUT_SECRET) is a credential for the tasks after it, never shown.
 *   tables  output tables move into the project's tables only when the job succeeds; on any failure
 *           nothing is written. validation (a connector built for 1.4 or later): a run() that fails
 *           with PATCHBAY_FAILURE_DATA keeps the tables it wrote, as the evidence of the failed job.
 *   status_check: of the outputs and tables, only those of the check that answers OK are kept.
 *   logs    every log line and progress report is kept, whatever the outcome.
 *
 *   checkpoint  (ABI 1.5) extraction with PATCHBAY_CAP_CHECKPOINTS: each state_set() during run()
 *           is also a checkpoint. The host keeps that state with the rows written to every output
 *           table before the call (a batch is never split). If the runner then dies (a crash, a
 *           kill, a timeout, a failure the task's retry policy retries), the job's next attempt
 *           starts with state_get() answering the checkpoint's state and with those tables already
 *           holding those rows: open_output_typed() with the same columns and types appends to
 *           them (other columns: INVALID_ARGUMENT), and a table not opened again is handed back as
 *           it was. So set, after each page, a state that says where the next page starts, and
 *           the resumed attempt neither loses nor repeats a row. The state a successful job commits
 *           is the last one set, as always: drop the position from it at the end. Without the flag,
 *           state_set() is no checkpoint, and a retried attempt starts from the committed state.
 */

typedef uint32_t patchbay_log_level;
enum {
    PATCHBAY_LOG_DEBUG = 1,
    PATCHBAY_LOG_INFO = 2,
    PATCHBAY_LOG_WARNING = 3,
    PATCHBAY_LOG_ERROR = 4
};

/* Capability flags in patchbay_connector.capabilities. */
enum {
    PATCHBAY_CAP_READS_TABLES = 1u << 0,  /* opens input tables */
    PATCHBAY_CAP_WRITES_TABLES = 1u << 1, /* opens output tables */
    PATCHBAY_CAP_STATE = 1u << 2,         /* keeps component state between runs */
    PATCHBAY_CAP_CANCEL = 1u << 3,        /* cancel() stops run() promptly */
    PATCHBAY_CAP_CHECKPOINTS = 1u << 4    /* each state_set() in run() is a checkpoint (ABI 1.5; see "checkpoint" below) */
};

/* Flags for set_output(). */
enum {
    PATCHBAY_OUTPUT_SECRET = 1u << 0 /* never shown, logged or rendered into text */
};

/* The network a connector declares (patchbay_connector.network, ABI 1.1). The host
 * gives a task exactly what its connector declares, or less when the flow narrows
 * it, never more. */
typedef uint32_t patchbay_network;
enum {
    PATCHBAY_NETWORK_NONE = 0,      /* local (AF_UNIX) sockets only */
    PATCHBAY_NETWORK_TCP_PORTS = 1, /* outbound TCP to tcp_ports only; nothing listens */
    PATCHBAY_NETWORK_ANY = 2        /* whatever the machine's network allows */
};

/* The type of a table column (ABI 1.3). A value crosses as its text, in the one
 * form written beside each type; the host refuses a value not in that form
 * (write_records_nullable returns INVALID_ARGUMENT, writes none of the batch and
 * logs the column, row and value). Any value may be NULL instead.
 * On disk a table stays RFC 4180 CSV, with a manifest beside it naming each
 * column's type; in the CSV an unquoted empty field is NULL and "" is the empty
 * string (PostgreSQL's CSV rule). */
typedef uint32_t patchbay_column_type;
enum {
    PATCHBAY_TYPE_STRING = 1,    /* any UTF-8 text */
    PATCHBAY_TYPE_INTEGER = 2,   /* -?[0-9]+, within a signed 64-bit integer */
    PATCHBAY_TYPE_DECIMAL = 3,   /* -?[0-9]+(.[0-9]+)? exact, any precision */
    PATCHBAY_TYPE_FLOAT = 4,     /* a decimal with an optional exponent (e/E[+-]digits), or NaN, Infinity, -Infinity */
    PATCHBAY_TYPE_BOOLEAN = 5,   /* true or false */
    PATCHBAY_TYPE_DATE = 6,      /* YYYY-MM-DD */
    PATCHBAY_TYPE_TIMESTAMP = 7, /* RFC 3339 in UTC: YYYY-MM-DDTHH:MM:SS[.fraction]Z */
    PATCHBAY_TYPE_JSON = 8       /* one JSON value */
};

/* ---- Opaque host objects (owned by the host, rule 3) ------------------- */

/* One task: the context of one check() or run() call. Valid until that call
 * returns (and, for cancel(), until run() returns). */
typedef struct patchbay_task patchbay_task;

/* Where a connector describes a failure. Passed to check() and run(); valid
 * for that call. Set it with patchbay_host.set_error(). */
typedef struct patchbay_error patchbay_error;

/* An open input table. Valid until close_input() or the end of the task. */
typedef struct patchbay_table_reader patchbay_table_reader;

/* An open output table. Valid until close_output() or the end of the task. */
typedef struct patchbay_table_writer patchbay_table_writer;

/* ---- The host's services ---------------------------------------------- */

/* The host callback table, allocated by the host, valid for the life of the
 * process. A connector calls only the functions its struct_size covers.
 * New functions are appended at the end only, each group labelled with the
 * minor that added it. */
typedef struct patchbay_host {
    uint32_t struct_size;  /* sizeof(patchbay_host) as the host compiled it */
    uint32_t abi_version;  /* the host's PATCHBAY_ABI_VERSION */

    /* --- Version 1.0 --- */

    /* Writes one line to the task log. `message` is copied (rule 2). */
    void (*log)(patchbay_task *task, patchbay_log_level level, patchbay_str message);

    /* The task's parameters as a JSON object (UTF-8). The bytes are owned by
     * the host and valid until the task ends. Never NULL: "{}" at least. */
    patchbay_str (*parameters)(patchbay_task *task);

    /* Fetches the credential `name` (one of the descriptor's credential_names).
     * out_value: (out) owned by the host, valid until the task ends.
     * Returns NOT_FOUND when no such credential is set, DENIED when the task's
     * token does not allow it. The host never logs the value. */
    patchbay_status (*credential)(patchbay_task *task, patchbay_str name, patchbay_str *out_value);

    /* Opens the input table `name` for reading.
     * out_reader: (out) owned by the host, valid until close_input() or task end.
     * Returns NOT_FOUND when the task has no such input, DENIED when its token
     * may not read it. */
    patchbay_status (*open_input)(patchbay_task *task, patchbay_str name, patchbay_table_reader **out_reader);

    /* The input's column names. out_columns: (out) array of out_count names,
     * owned by the reader, valid until close_input(). */
    patchbay_status (*input_columns)(patchbay_table_reader *reader, const patchbay_str **out_columns, size_t *out_count);

    /* Reads the next batch of rows. out_values: (out) row-major array of
     * (*out_rows × column count) values, owned by the reader and valid until
     * the next read_records() or close_input() on this reader.
     * Returns OK with *out_rows >= 1, or END with *out_rows == 0. */
    patchbay_status (*read_records)(patchbay_table_reader *reader, const patchbay_str **out_values, size_t *out_rows);

    /* Closes a reader. Accepts NULL. */
    void (*close_input)(patchbay_table_reader *reader);

    /* Opens the output table `name` ("bucket.table" or "table") with the given
     * column names; columns are copied. Opening the same name twice in a task
     * is INVALID_ARGUMENT. Rows become visible to anyone only if the task
     * succeeds: a failed task leaves no partial table behind.
     * out_writer: (out) owned by the host, valid until close_output() or task end. */
    patchbay_status (*open_output)(patchbay_task *task, patchbay_str name, const patchbay_str *columns, size_t column_count, patchbay_table_writer **out_writer);

    /* Appends row_count rows. `values` is a row-major array of
     * (row_count × column_count) values, copied before the call returns. */
    patchbay_status (*write_records)(patchbay_table_writer *writer, const patchbay_str *values, size_t row_count);

    /* Finishes a writer. Accepts NULL. Writers still open when run() returns
     * are closed by the host. */
    patchbay_status (*close_output)(patchbay_table_writer *writer);

    /* The component state saved by this configuration's last successful run,
     * as JSON ("{}" when none). out_json: (out) owned by the host, valid
     * until the next state_set() or the task end. */
    patchbay_status (*state_get)(patchbay_task *task, patchbay_str *out_json);

    /* Replaces the component state with `json` (copied). The host keeps it
     * only if the task succeeds. */
    patchbay_status (*state_set)(patchbay_task *task, patchbay_str json);

    /* Sets a task output that later tasks may reference. `name` and `value`
     * are copied. flags: PATCHBAY_OUTPUT_SECRET keeps the value out of every
     * log and every text the host renders. Setting a name twice replaces it. */
    patchbay_status (*set_output)(patchbay_task *task, patchbay_str name, patchbay_str value, uint32_t flags);

    /* Reports progress. fraction is 0...1, or negative when unknown.
     * `message` is copied and may be empty. */
    void (*progress)(patchbay_task *task, double fraction, patchbay_str message);

    /* Non-zero once the host asked the task to stop (user cancel, deadline).
     * The connector should then return PATCHBAY_CANCELLED promptly. */
    int (*is_cancelled)(patchbay_task *task);

    /* Milliseconds left before the task's deadline, or -1 when it has none. */
    int64_t (*remaining_ms)(patchbay_task *task);

    /* Describes a failure. Call it before returning PATCHBAY_ERROR; the last
     * call wins. `user_message` is shown to the user (say what to fix),
     * `internal_message` is for the connector's developers (may be empty).
     * Both are copied. */
    void (*set_error)(patchbay_error *error, patchbay_failure_class failure_class, patchbay_str user_message, patchbay_str internal_message);

    /* --- Version 1.3 --- */

    /* open_output() with a type for each column: types has column_count entries,
     * each a PATCHBAY_TYPE_*; both arrays are copied. An unknown type is
     * INVALID_ARGUMENT. */
    patchbay_status (*open_output_typed)(patchbay_task *task, patchbay_str name, const patchbay_str *columns, const patchbay_column_type *types, size_t column_count, patchbay_table_writer **out_writer);

    /* write_records() with NULLs: `nulls` is NULL (no value is NULL) or a
     * row-major array of (row_count × column_count) bytes, non-zero where the
     * value is NULL (its patchbay_str is then ignored). Both are copied. The
     * batch is checked against the column types before any of it is written. */
    patchbay_status (*write_records_nullable)(patchbay_table_writer *writer, const patchbay_str *values, const uint8_t *nulls, size_t row_count);

    /* read_records() with NULLs: out_nulls: (out) NULL when no value of the
     * batch is NULL, else (*out_rows × column count) bytes, non-zero where the
     * value is NULL; owned by the reader, valid as long as out_values. */
    patchbay_status (*read_records_nullable)(patchbay_table_reader *reader, const patchbay_str **out_values, const uint8_t **out_nulls, size_t *out_rows);

    /* The input's column types, one per column of input_columns().
     * out_types: (out) owned by the reader, valid until close_input(). A table
     * written without types (by open_output, or placed by hand) is all
     * PATCHBAY_TYPE_STRING and has no NULLs. */
    patchbay_status (*input_column_types)(patchbay_table_reader *reader, const patchbay_column_type **out_types, size_t *out_count);

    /* --- Version 1.4 --- */
    /* Waits until `tokens` requests (1 or more) may be sent under the rate limit
     * named `key`: by convention the service's host name ("api.example.com").
     * The limit is the host's, shared by every task of every run it serves, and
     * set by the project (patchbay.yaml: rate_limits: {api.example.com:
     * {per_second: 10, burst: 20}}); a key the project does not limit never
     * waits. Returns OK when the requests may go, with *out_waited_ms (may be
     * NULL) set to how long it waited; CANCELLED if the task was cancelled while
     * it waited; INVALID_ARGUMENT for an empty key or 0 tokens. Ask before each
     * request (or batch): the host hands out the turns in order, so tasks that
     * share a service never exceed its limit together. */
    patchbay_status (*rate_limit)(patchbay_task *task, patchbay_str key, uint32_t tokens, uint64_t *out_waited_ms);
} patchbay_host;

/* ---- The connector's descriptor ---------------------------------------- */

/* Allocated and owned by the connector; static lifetime (see rule 5).
 * Every string here is NUL-terminated UTF-8 with static lifetime. */
typedef struct patchbay_connector {
    uint32_t struct_size;   /* sizeof(patchbay_connector) as the connector compiled it */
    uint32_t abi_version;   /* PATCHBAY_ABI_VERSION as the connector compiled it */

    const char *id;           /* reverse-DNS, e.g. "com.example.csv-extractor"; [a-z0-9.-_]+ */
    const char *version;      /* semantic version, e.g. "1.2.0" */
    const char *display_name; /* short human name, e.g. "CSV extractor" */
    const char *description;  /* one or two sentences; may be NULL */

    /* JSON Schema (draft 2020-12 subset) of the parameters object; NULL means
     * "{}" (any object). Secret fields are marked with "x-secret": true and by
     * convention their names start with '#'. */
    const char *parameters_schema;

    /* Names of the credentials run() may ask for; credential_count entries. */
    const char *const *credential_names;
    size_t credential_count;

    patchbay_pattern pattern; /* one of PATCHBAY_PATTERN_* */
    uint32_t reserved;        /* must be 0 */
    uint64_t capabilities;    /* PATCHBAY_CAP_* bits */

    /* Checks parameters and credentials quickly (e.g. connects, reads nothing).
     * May be NULL (nothing to check). Returns OK or ERROR with `error` set. */
    patchbay_status (*check)(patchbay_task *task, patchbay_error *error);

    /* Does the work. Returns OK, ERROR with `error` set, CANCELLED, or for a
     * status_check connector PENDING. Required. */
    patchbay_status (*run)(patchbay_task *task, patchbay_error *error);

    /* Asks a running run() to stop. Called from another thread; must only
     * flag the request. May be NULL (the host then relies on is_cancelled()). */
    void (*cancel)(patchbay_task *task);

    /* --- Version 1.1 --- */
    /* The network run() and check() need: PATCHBAY_NETWORK_*. A connector whose
     * struct_size does not cover it (a 1.0 connector) gets PATCHBAY_NETWORK_NONE. */
    patchbay_network network;
    /* With PATCHBAY_NETWORK_TCP_PORTS: the ports it connects to, tcp_port_count
     * entries (at most 64), each 1…65535. Static lifetime; NULL when the count is 0. */
    uint32_t tcp_port_count;
    const uint16_t *tcp_ports;

    /* --- Version 1.4 --- */
    /* Lineage: what run() produces, so that a flow is checked before it runs.
     * `declares` holds PATCHBAY_DECLARES_* bits; a list whose bit is clear says
     * nothing (the connector may set any output or write any table, and a flow
     * using it is not checked for that). A connector whose struct_size does not
     * cover these fields (a 1.3 connector) declares nothing. */
    uint32_t declares;
    /* With PATCHBAY_DECLARES_OUTPUTS: the names set_output() may set, output_count
     * entries (at most 256; NULL when 0). A flow's ${{ tasks.T.outputs.NAME }} must
     * name one of them, and the host fails a task whose connector sets another. */
    uint32_t output_count;
    const char *const *output_names;
    /* With PATCHBAY_DECLARES_TABLES: the tables open_output() may open,
     * output_table_count entries (at most 256; NULL when 0). Each is a table name
     * ("out.orders") or a pattern holding one parameter name in braces, such as
     * "{table}" or "{table}_rejected": the value of that string parameter stands in
     * for the braces. Two tasks of one phase must not write one table, and a task
     * must not read a table written in its own or a later phase; the host fails a
     * task whose connector opens a table none of them names. */
    uint32_t output_table_count;
    uint32_t reserved_1_4;  /* must be 0 */
    const char *const *output_tables;
} patchbay_connector;

/* Bits of patchbay_connector.declares (ABI 1.4). */
enum {
    PATCHBAY_DECLARES_OUTPUTS = 1u << 0, /* output_names is the whole list of outputs */
    PATCHBAY_DECLARES_TABLES = 1u << 1   /* output_tables is the whole list of tables */
};

/* ---- Sizes of the v1.0 structs ----------------------------------------- */

/* struct_size of each struct as v1.0 laid it out, on the platform compiling
 * this header (they differ between 32- and 64-bit platforms): a host refuses
 * a descriptor smaller than PATCHBAY_CONNECTOR_SIZE_1_0, and a connector calls
 * a 1.1 function only when the host's struct_size is larger than
 * PATCHBAY_HOST_SIZE_1_0 and covers it. Later minors add PATCHBAY_*_SIZE_1_1
 * and so on; these never change. */
enum {
    PATCHBAY_HOST_SIZE_1_0 = offsetof(patchbay_host, set_error) + sizeof(void (*)(void)),
    PATCHBAY_HOST_SIZE_1_3 = offsetof(patchbay_host, input_column_types) + sizeof(void (*)(void)),
    PATCHBAY_HOST_SIZE_1_4 = offsetof(patchbay_host, rate_limit) + sizeof(void (*)(void)),
    PATCHBAY_CONNECTOR_SIZE_1_0 = offsetof(patchbay_connector, cancel) + sizeof(void (*)(void)),
    PATCHBAY_CONNECTOR_SIZE_1_1 = offsetof(patchbay_connector, tcp_ports) + sizeof(const uint16_t *),
    PATCHBAY_CONNECTOR_SIZE_1_4 = offsetof(patchbay_connector, output_tables) + sizeof(const char *const *)
};

/* ---- Exported by every connector --------------------------------------- */

uint32_t patchbay_abi_version(void);
const patchbay_connector *patchbay_connector_entry(const patchbay_host *host);

#ifdef __cplusplus
}
#endif

#endif /* PATCHBAY_CONNECTOR_H */
