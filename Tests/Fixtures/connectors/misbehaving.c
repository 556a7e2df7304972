/* Test-only connectors. One source, one behaviour per build:
 *   cc -shared -fPIC -DBEHAVIOUR_<NAME> -I SDK/include misbehaving.c -o lib<name>.so
 * Each proves that one way a connector can go wrong becomes a clear task error
 * and leaves the host running. Keep every loop bounded: the machine is shared. */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "patchbay/connector.h"

#ifndef CONNECTOR_ID
#define CONNECTOR_ID "test.misbehaving"
#endif
#ifndef CONNECTOR_VERSION
#define CONNECTOR_VERSION "1.0.0"
#endif

static const patchbay_host *host;

/* A NULL the compiler cannot see through (a provable NULL store is UB it may delete). */
static int *volatile nowhere = 0;

static patchbay_str str(const char *text) { patchbay_str s = { text, strlen(text) }; return s; }

static void output_int(patchbay_task *task, const char *name, long value) {
    char text[32];
    snprintf(text, sizeof text, "%ld", value);
    host->set_output(task, str(name), str(text), 0);
}

#ifdef BEHAVIOUR_CONSTRUCTOR_CRASH
__attribute__((constructor)) static void crash_on_load(void) { *nowhere = 1; }
#endif

#ifdef BEHAVIOUR_MISSING_LIBRARY
/* Linked against libpbgone.so, which the test deletes after linking. */
extern int pbgone_function(void);
#endif

#if defined(BEHAVIOUR_FORGED_TABLE) || defined(BEHAVIOUR_LYING_ROWS) || defined(BEHAVIOUR_SECOND_RESULT) || defined(BEHAVIOUR_FORGED_UNDECLARED)
/* Writes a forged "result: succeeded" frame on the runner's socket, `times` times: with one table
 * (`table` with one column, `rows` rows, at `path`), or none when `table` is NULL. Returns 0 or -1. */
static int forge_result(const char *table, const char *column, uint64_t rows, const char *path, int times) {
    unsigned char frame[256];
    size_t n = 4;
#define PUT32(v) do { uint32_t x = (uint32_t)(v); memcpy(frame + n, &x, 4); n += 4; } while (0)
#define PUTSTR(s) do { PUT32(strlen(s)); memcpy(frame + n, s, strlen(s)); n += strlen(s); } while (0)
    frame[n++] = 0x4A; frame[n++] = 0;  /* result: succeeded */
    if (table) {
        PUT32(1);
        PUTSTR(table);
        PUT32(1); PUTSTR(column);
        PUT32(1); PUT32(PATCHBAY_TYPE_STRING);  /* its one type */
        memcpy(frame + n, &rows, 8); n += 8;
        PUTSTR(path);
    } else {
        PUT32(0);
    }
#undef PUT32
#undef PUTSTR
    uint32_t length = (uint32_t)(n - 4);
    memcpy(frame, &length, 4);
    for (int i = 0; i < times; i++) if (write(3, frame, n) < 0) return -1;
    return 0;
}
#endif

static patchbay_status run(patchbay_task *task, patchbay_error *error) {
    (void)error;
#if defined(BEHAVIOUR_GOOD)
    patchbay_str columns[2] = { str("id"), str("name") };
    patchbay_table_writer *writer;
    if (host->open_output(task, str("out.good"), columns, 2, &writer) != PATCHBAY_OK) return PATCHBAY_ERROR;
    patchbay_str rows[4] = { str("1"), str("one"), str("2"), str("two, with \"quotes\"") };
    host->write_records(writer, rows, 2);
    host->log(task, PATCHBAY_LOG_INFO, str("good connector ran"));
    host->set_output(task, str("answer"), str("42"), 0);
    return PATCHBAY_OK;
#elif defined(BEHAVIOUR_SEGFAULT)
    host->log(task, PATCHBAY_LOG_INFO, str("about to dereference NULL"));
    *nowhere = 1;
    return PATCHBAY_OK;
#elif defined(BEHAVIOUR_ABORT)
    fprintf(stderr, "assertion failed: the ledger does not balance\n");
    abort();
#elif defined(BEHAVIOUR_EXIT3)
    exit(3);
#elif defined(BEHAVIOUR_LOOP)
    for (volatile unsigned long i = 0;; i++) {}
#elif defined(BEHAVIOUR_IGNORE_TERM)
    signal(SIGTERM, SIG_IGN);
    for (volatile unsigned long i = 0;; i++) {}
#elif defined(BEHAVIOUR_COOPERATIVE)
    /* Stops when asked. */
    while (!host->is_cancelled(task)) usleep(1000);
    return PATCHBAY_CANCELLED;
#elif defined(BEHAVIOUR_MEMORY_BOMB)
    for (int i = 0; i < 4096; i++) { /* at most 4 GiB, far beyond any test limit */
        char *block = malloc(1 << 20);
        if (!block) { fprintf(stderr, "malloc failed after %d MiB\n", i); abort(); }
        memset(block, 0x5A, 1 << 20);
    }
    return PATCHBAY_OK;
#elif defined(BEHAVIOUR_FORK_BOMB)
    /* Bounded: at most 200 children, each sleeping; the process limit stops it well before. */
    for (int i = 0; i < 200; i++) {
        pid_t pid = fork();
        if (pid == 0) { sleep(30); _exit(0); }
        if (pid < 0) {
            char text[96];
            snprintf(text, sizeof text, "fork failed after %d children", i);
            host->set_error(error, PATCHBAY_FAILURE_SYSTEM, str(text), str(""));
            return PATCHBAY_ERROR;
        }
    }
    return PATCHBAY_OK;
#elif defined(BEHAVIOUR_LEAVE_CHILDREN)
    /* A child in the task's session, and a daemon that leaves the session. */
    int link[2];
    if (pipe(link) != 0) return PATCHBAY_ERROR;
    pid_t child = fork();
    if (child == 0) { sleep(300); _exit(0); }
    pid_t middle = fork();
    if (middle == 0) {
        setsid();
        pid_t daemon = fork();
        if (daemon == 0) { close(link[0]); close(link[1]); sleep(300); _exit(0); }
        if (write(link[1], &daemon, sizeof daemon) < 0) _exit(1);
        _exit(0);
    }
    pid_t daemon = 0;
    if (read(link[0], &daemon, sizeof daemon) != sizeof daemon) return PATCHBAY_ERROR;
    output_int(task, "child_pid", child);
    output_int(task, "daemon_pid", daemon);
    return PATCHBAY_OK;
#elif defined(BEHAVIOUR_STDOUT_FLOOD)
    static char line[101];
    memset(line, 'x', 100);
    line[100] = '\n';
    for (int i = 0; i < 1000000; i++) fwrite(line, 1, sizeof line, stdout); /* ~100 MB */
    return PATCHBAY_OK;
#elif defined(BEHAVIOUR_GARBAGE_FRAMES)
    static const unsigned char garbage[] = { 0xff, 0xff, 0xff, 0x7f, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x13, 0x37 };
    if (write(3, garbage, sizeof garbage) < 0) return PATCHBAY_ERROR;
    sleep(10);
    return PATCHBAY_OK;
#elif defined(BEHAVIOUR_TRUNCATED_FRAME)
    /* Announces a 100-byte log frame, sends 6 bytes of it, and exits. */
    static const unsigned char partial[] = { 100, 0, 0, 0, 0x44, 2, 0, 0, 0, 9 };
    if (write(3, partial, sizeof partial) < 0) return PATCHBAY_ERROR;
    _exit(0);
#elif defined(BEHAVIOUR_LYING_RESULT)
    /* Forges a well-formed frame of an unknown kind. */
    static const unsigned char forged[] = { 1, 0, 0, 0, 0x7E };
    if (write(3, forged, sizeof forged) < 0) return PATCHBAY_ERROR;
    sleep(10);
    return PATCHBAY_OK;
#elif defined(BEHAVIOUR_CREDENTIAL)
    patchbay_str value;
    patchbay_status s = host->credential(task, str("api_token"), &value);
    if (s != PATCHBAY_OK) {
        host->set_error(error, PATCHBAY_FAILURE_CONFIG, str(s == PATCHBAY_DENIED ? "credential denied" : "credential missing"), str(""));
        return PATCHBAY_ERROR;
    }
    output_int(task, "credential_length", (long)value.length);
    /* Asking for one it did not declare must be denied. */
    s = host->credential(task, str("undeclared"), &value);
    output_int(task, "undeclared_status", (long)s);
    return PATCHBAY_OK;
#elif defined(BEHAVIOUR_MISSING_LIBRARY)
    return pbgone_function() ? PATCHBAY_OK : PATCHBAY_ERROR;
#elif defined(BEHAVIOUR_SYMLINKED_TABLE)
    /* Writes a real table, then swaps its file for a link to a file of the host's before returning OK. */
    patchbay_table_writer *writer = 0;
    patchbay_str column = str("line"), cell = str("x");
    if (host->open_output(task, str("out.stolen"), &column, 1, &writer) != PATCHBAY_OK) return PATCHBAY_ERROR;
    host->write_records(writer, &cell, 1);
    host->close_output(writer);
    unlink("out/tables/out.stolen.csv");
    if (symlink("/etc/passwd", "out/tables/out.stolen.csv") != 0) return PATCHBAY_ERROR;
    return PATCHBAY_OK;
#elif defined(BEHAVIOUR_FORGED_TABLE)
    /* Forges a result frame that reports a table named "../escaped" outside out/tables/, then exits. */
    FILE *f = fopen("out/escaped.csv", "w");
    if (!f) return PATCHBAY_ERROR;
    fputs("a\n1\n", f);
    fclose(f);
    if (forge_result("../escaped", "a", 1, "out/tables/../escaped.csv", 1) != 0) return PATCHBAY_ERROR;
    _exit(0);
#elif defined(BEHAVIOUR_LINKED_DIRECTORY)
    /* Writes a real table, then makes out/tables a link to the directory that now holds it. */
    patchbay_table_writer *writer = 0;
    patchbay_str column = str("line"), cell = str("x");
    if (host->open_output(task, str("out.moved"), &column, 1, &writer) != PATCHBAY_OK) return PATCHBAY_ERROR;
    host->write_records(writer, &cell, 1);
    host->close_output(writer);
    if (rename("out/tables", "out/real") != 0 || symlink("real", "out/tables") != 0) return PATCHBAY_ERROR;
    return PATCHBAY_OK;
#elif defined(BEHAVIOUR_HARDLINKED_TABLE)
    /* Writes a real table and gives its file a second name. */
    patchbay_table_writer *writer = 0;
    patchbay_str column = str("line"), cell = str("x");
    if (host->open_output(task, str("out.linked"), &column, 1, &writer) != PATCHBAY_OK) return PATCHBAY_ERROR;
    host->write_records(writer, &cell, 1);
    host->close_output(writer);
    if (link("out/tables/out.linked.csv", "out/second-name") != 0) return PATCHBAY_ERROR;
    return PATCHBAY_OK;
#elif defined(BEHAVIOUR_UNDECLARED_OUTPUT)
    /* Declares the output "answer" (ABI 1.4) and sets "answr". */
    host->set_output(task, str("answr"), str("42"), 0);
    return PATCHBAY_OK;
#elif defined(BEHAVIOUR_UNDECLARED_TABLE)
    /* Declares the table its `table` parameter names (ABI 1.4) and opens another. */
    patchbay_table_writer *writer = 0;
    patchbay_str column = str("line"), cell = str("x");
    if (host->open_output(task, str("out.other"), &column, 1, &writer) != PATCHBAY_OK) return PATCHBAY_ERROR;
    host->write_records(writer, &cell, 1);
    host->close_output(writer);
    return PATCHBAY_OK;
#elif defined(BEHAVIOUR_FORGED_UNDECLARED)
    /* Writes a table file it never opened, of a name it does not declare, and forges the result that reports it. */
    FILE *f = fopen("out/tables/out.sneaky.csv", "w");
    if (!f) return PATCHBAY_ERROR;
    fputs("line\nx\n", f);
    fclose(f);
    if (forge_result("out.sneaky", "line", 1, "out/tables/out.sneaky.csv", 1) != 0) return PATCHBAY_ERROR;
    _exit(0);
#elif defined(BEHAVIOUR_LYING_ROWS) || defined(BEHAVIOUR_SECOND_RESULT)
    /* A real one-row table, then a forged result: it claims 5 rows, or it comes twice. */
    FILE *f = fopen("out/tables/out.lie.csv", "w");
    if (!f) return PATCHBAY_ERROR;
    fputs("line\nx\n", f);
    fclose(f);
#if defined(BEHAVIOUR_LYING_ROWS)
    if (forge_result("out.lie", "line", 5, "out/tables/out.lie.csv", 1) != 0) return PATCHBAY_ERROR;
#else
    if (forge_result(NULL, NULL, 0, NULL, 2) != 0) return PATCHBAY_ERROR;
#endif
    _exit(0);
#elif defined(BEHAVIOUR_FORGED_CHECKPOINT)
    /* Declares checkpoints, then forges one whose table climbs out of out/tables/: the host keeps such a
     * checkpoint's file, so it must refuse the frame before anything is kept. */
    FILE *f = fopen("out/escaped.csv", "w");
    if (!f) return PATCHBAY_ERROR;
    fputs("a\n1\n", f);
    fclose(f);
    unsigned char frame[256];
    size_t n = 4;
    uint32_t x;
    uint64_t rows = 1, bytes = 4;
#define PUT32(v) do { x = (uint32_t)(v); memcpy(frame + n, &x, 4); n += 4; } while (0)
#define PUTSTR(s) do { PUT32(strlen(s)); memcpy(frame + n, s, strlen(s)); n += strlen(s); } while (0)
    frame[n++] = 0x4D;  /* checkpoint */
    PUTSTR("{}");
    PUT32(1); PUTSTR("out.escaped"); PUT32(1); PUTSTR("a"); PUT32(1); PUT32(PATCHBAY_TYPE_STRING);
    memcpy(frame + n, &rows, 8); n += 8;
    PUTSTR("out/tables/../escaped.csv");
    memcpy(frame + n, &bytes, 8); n += 8;
#undef PUT32
#undef PUTSTR
    x = (uint32_t)(n - 4);
    memcpy(frame, &x, 4);
    if (write(3, frame, n) < 0) return PATCHBAY_ERROR;
    sleep(5);  /* the host kills a liar at once */
    return PATCHBAY_OK;
#elif defined(BEHAVIOUR_OVERSIZED_STATE)
    /* Component state of 2 MiB. */
    size_t size = 2u << 20;
    char *json = malloc(size + 16);
    if (!json) return PATCHBAY_ERROR;
    memcpy(json, "{\"x\":\"", 6);
    memset(json + 6, 'a', size);
    memcpy(json + 6 + size, "\"}", 2);
    patchbay_str state = { json, size + 8 };
    host->state_set(task, state);
    return PATCHBAY_OK;
#else
    return PATCHBAY_OK;
#endif
}

#if defined(BEHAVIOUR_NEWER_MINOR)
/* A descriptor from a future ABI 1.6 with two appended fields the host does not know. */
typedef struct {
    patchbay_connector v1;
    const char *future_field;
    uint64_t future_flags;
} future_connector;
static const future_connector future = {
    .v1 = {
        .struct_size = sizeof(future_connector),
        .abi_version = (1u << 16) | 6u,
        .id = "test.newer-minor", .version = "1.6.0", .display_name = "From ABI 1.6",
        .pattern = PATCHBAY_PATTERN_EXTRACTION, .run = run,
    },
    .future_field = "ignored by a 1.0 host",
    .future_flags = 7,
};
#define DESCRIPTOR (&future.v1)
#else
static const patchbay_connector descriptor = {
#if defined(BEHAVIOUR_SMALL_DESCRIPTOR)
    .struct_size = 8,
#elif defined(BEHAVIOUR_OVERSIZED_DESCRIPTOR)
    .struct_size = 4096,  /* claims the current minor, whose descriptor size the host knows exactly: a lie */
#else
    .struct_size = sizeof(patchbay_connector),
#endif
    .abi_version = PATCHBAY_ABI_VERSION,
    .id = CONNECTOR_ID,
    .version = CONNECTOR_VERSION,
    .display_name = "Misbehaving test connector",
    .credential_names = (const char *const[]){ "api_token" },
    .credential_count = 1,
    .pattern = PATCHBAY_PATTERN_EXTRACTION,
#if defined(BEHAVIOUR_FORGED_CHECKPOINT)
    .capabilities = PATCHBAY_CAP_WRITES_TABLES | PATCHBAY_CAP_STATE | PATCHBAY_CAP_CHECKPOINTS,
#endif
#if defined(BEHAVIOUR_RESERVED_SET)
    .reserved = 7,
#endif
    .run = run,
#if defined(BEHAVIOUR_UNDECLARED_OUTPUT) || defined(BEHAVIOUR_UNDECLARED_TABLE) || defined(BEHAVIOUR_FORGED_UNDECLARED)
    .declares = PATCHBAY_DECLARES_OUTPUTS | PATCHBAY_DECLARES_TABLES,
    .output_names = (const char *const[]){ "answer" },
    .output_count = 1,
    .output_tables = (const char *const[]){ "{table}", "out.fixed" },
    .output_table_count = 2,
#elif defined(BEHAVIOUR_BAD_DECLARATION)
    .declares = PATCHBAY_DECLARES_TABLES,
    .output_tables = (const char *const[]){ "out.fine", "{a}{b}" },
    .output_table_count = 2,
#endif
};
#define DESCRIPTOR (&descriptor)
#endif

uint32_t patchbay_abi_version(void) {
#if defined(BEHAVIOUR_ABI_MAJOR)
    return 2u << 16;
#else
    return PATCHBAY_ABI_VERSION;
#endif
}

#if !defined(BEHAVIOUR_MISSING_ENTRY)
const patchbay_connector *patchbay_connector_entry(const patchbay_host *h) {
    host = h;
#if defined(BEHAVIOUR_ENTRY_FORKS_AND_HANGS)
    /* At probe time, before any descriptor exists: 20 daemons that leave the session, then a hang. */
    for (int i = 0; i < 20; i++) {
        if (fork() == 0) {
            setsid();
            prctl(PR_SET_NAME, "pb-probe-daemon", 0, 0, 0);
            for (;;) pause();
        }
    }
    for (;;) pause();
#endif
    return DESCRIPTOR;
}
#endif
