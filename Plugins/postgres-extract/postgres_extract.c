/* dev.patchbay.postgres-extract — the extraction pattern for PostgreSQL, through libpq.
 *
 * Parameters: {"host": "127.0.0.1", "port": 5432, "database": "shop", "user": "reader", "#password": "…",
 *              "from": "public.orders" | "query": "SELECT …", "table": "in.orders",
 *              "incremental": {"column": "updated_at"}, "columns": {"amount": "decimal"},
 *              "sslmode": "prefer", "connect_timeout": 10}
 *   Streams `COPY (…) TO STDOUT` and decodes each row as it arrives: constant memory, no temporary file,
 *   never the whole result in memory.
 *   Types (from the result's column types): int2/int4/int8/oid integer, float4/float8 float (NaN and
 *   ±Infinity kept), bool boolean, date date, timestamptz timestamp (RFC 3339, UTC), json/jsonb json,
 *   numeric string (its exact decimal text, NaN and ±Infinity kept; `columns: {c: decimal}` types it
 *   decimal when it holds no special value), everything else string as PostgreSQL writes it.
 *   incremental {column}: the read and its upper bound (max(column)) are taken inside one REPEATABLE READ
 *   snapshot, so no row committed between them is lost; the next run reads column >= the bound, and skips
 *   the rows at the bound it has already extracted (the state keeps a hash of each, with a count), so a
 *   row committed later with the very same value is extracted and none twice. The state is committed
 *   only when the job succeeds.
 * Outputs: rows, watermark.
 *
 * Built with: cc -shared -fPIC -O2 -I../../SDK/include -I/usr/include/postgresql postgres_extract.c -lpq
 * Depends on libc and libpq.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "patchbay/connector.h"
#include "patchbay/params.h"

static const patchbay_host *host;

enum { MAX_COLUMNS = 1600, BATCH_ROWS = 4096, MAX_AT_BOUND = 30000 };

static patchbay_status fail(patchbay_error *error, patchbay_failure_class cls, const char *message) {
    host->set_error(error, cls, patchbay_cstr(message), patchbay_cstr(""));
    return PATCHBAY_ERROR;
}

/* How a column's COPY text becomes its value. */
typedef enum { AS_IS, BOOLEAN_TEXT, TIMESTAMP_UTC } conversion;

typedef struct {
    char host_name[256], database[128], user[128], sslmode[32];
    char from[256], table[256], column[128];
    char *query;  /* the query, or NULL with `from` */
    long long port, connect_timeout;
    patchbay_str columns_override;  /* the `columns` object, or length 0 */
} settings;

/* A multiset of 64-bit row hashes (open addressing): the rows at the watermark already extracted. */
typedef struct {
    uint64_t *keys;
    uint32_t *counts;
    size_t capacity, used;
} hash_counts;

static int counts_grow(hash_counts *set);

static size_t counts_slot(const hash_counts *set, uint64_t key) {
    size_t i = (size_t)(key * 0x9E3779B97F4A7C15ull) & (set->capacity - 1);
    while (set->counts[i] && set->keys[i] != key) i = (i + 1) & (set->capacity - 1);
    return i;
}

/* Adds `count` to key's count; 0 when out of memory. */
static int counts_add(hash_counts *set, uint64_t key, uint32_t count) {
    if ((set->used + 1) * 2 > set->capacity && !counts_grow(set)) return 0;
    size_t i = counts_slot(set, key);
    if (!set->counts[i]) { set->keys[i] = key; set->used++; }
    set->counts[i] += count;
    return 1;
}

static int counts_grow(hash_counts *set) {
    hash_counts bigger = { NULL, NULL, set->capacity ? set->capacity * 2 : 64, 0 };
    bigger.keys = calloc(bigger.capacity, sizeof *bigger.keys);
    bigger.counts = calloc(bigger.capacity, sizeof *bigger.counts);
    if (!bigger.keys || !bigger.counts) { free(bigger.keys); free(bigger.counts); return 0; }
    for (size_t i = 0; i < set->capacity; i++)
        if (set->counts[i]) { size_t j = counts_slot(&bigger, set->keys[i]); bigger.keys[j] = set->keys[i]; bigger.counts[j] = set->counts[i]; bigger.used++; }
    free(set->keys);
    free(set->counts);
    *set = bigger;
    return 1;
}

/* Takes one occurrence of key; 1 if there was one. */
static int counts_take(hash_counts *set, uint64_t key) {
    if (!set->capacity) return 0;
    size_t i = counts_slot(set, key);
    if (!set->counts[i] || set->keys[i] != key) return 0;
    if (--set->counts[i]) return 1;
    set->used--;
    /* The slot is empty now: put the rest of its cluster back, so that probes still reach them. */
    for (size_t j = (i + 1) & (set->capacity - 1); set->counts[j]; j = (j + 1) & (set->capacity - 1)) {
        uint64_t k = set->keys[j];
        uint32_t c = set->counts[j];
        set->counts[j] = 0;
        size_t slot = counts_slot(set, k);
        set->keys[slot] = k;
        set->counts[slot] = c;
    }
    return 1;
}

static void counts_free(hash_counts *set) {
    free(set->keys);
    free(set->counts);
    memset(set, 0, sizeof *set);
}

static uint64_t fnv1a(const char *bytes, size_t length) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < length; i++) { h ^= (unsigned char)bytes[i]; h *= 0x100000001b3ull; }
    return h;
}

/* Appends `text` as a JSON string body (no quotes) to out; returns the new length, or 0 when it does not fit. */
static size_t json_escape(char *out, size_t at, size_t cap, const char *text) {
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (at + 7 >= cap) return 0;
        if (*p == '"' || *p == '\\') { out[at++] = '\\'; out[at++] = (char)*p; }
        else if (*p < 0x20) at += (size_t)snprintf(out + at, cap - at, "\\u%04x", *p);
        else out[at++] = (char)*p;
    }
    out[at] = 0;
    return at;
}

static patchbay_status read_parameters(patchbay_task *task, patchbay_error *error, settings *set) {
    patchbay_str params = host->parameters(task);
    memset(set, 0, sizeof *set);
    if (patchbay_params_get(params, "host", set->host_name, sizeof set->host_name) != PATCHBAY_PARAM_FOUND) strcpy(set->host_name, "127.0.0.1");
    if (patchbay_params_get(params, "database", set->database, sizeof set->database) != PATCHBAY_PARAM_FOUND) strcpy(set->database, "postgres");
    if (patchbay_params_get(params, "user", set->user, sizeof set->user) != PATCHBAY_PARAM_FOUND) strcpy(set->user, "postgres");
    if (patchbay_params_get(params, "sslmode", set->sslmode, sizeof set->sslmode) != PATCHBAY_PARAM_FOUND) strcpy(set->sslmode, "prefer");
    if (patchbay_params_get(params, "table", set->table, sizeof set->table) != PATCHBAY_PARAM_FOUND) strcpy(set->table, "in.postgres");
    set->port = 5432;
    set->connect_timeout = 10;
    if (patchbay_params_integer(params, "port", &set->port) < 0 || set->port < 1 || set->port > 65535)
        return fail(error, PATCHBAY_FAILURE_CONFIG, "parameter 'port' must be a whole number from 1 to 65535");
    if (patchbay_params_integer(params, "connect_timeout", &set->connect_timeout) < 0 || set->connect_timeout < 1)
        return fail(error, PATCHBAY_FAILURE_CONFIG, "parameter 'connect_timeout' must be a whole number of seconds, 1 or more");
    int has_from = patchbay_params_get(params, "from", set->from, sizeof set->from) == PATCHBAY_PARAM_FOUND;
    patchbay_str query;
    int has_query = patchbay_params_member(params, "query", &query) == PATCHBAY_PARAM_FOUND;
    if (has_from == has_query)
        return fail(error, PATCHBAY_FAILURE_CONFIG, "give exactly one of 'from' (a table: \"schema.table\") and 'query' (a SELECT)");
    if (has_query) {
        set->query = malloc(query.length + 1);
        size_t used = 0;
        if (!set->query || query.data[0] != '"'
            || !patchbay_json_string(query.data, query.data + query.length, set->query, query.length + 1, &used) || used == 0)
            return fail(error, PATCHBAY_FAILURE_CONFIG, "parameter 'query' must be a non-empty string (one SELECT)");
    }
    patchbay_str incremental;
    if (patchbay_params_member(params, "incremental", &incremental) == PATCHBAY_PARAM_FOUND
        && patchbay_params_get(incremental, "column", set->column, sizeof set->column) != PATCHBAY_PARAM_FOUND)
        return fail(error, PATCHBAY_FAILURE_CONFIG, "incremental.column (a column that only grows: an id, an updated_at) is required");
    if (patchbay_params_member(params, "columns", &set->columns_override) != PATCHBAY_PARAM_FOUND) set->columns_override.length = 0;
    return PATCHBAY_OK;
}

/* The class of a server error, by its SQLSTATE's class (the first two characters). */
static patchbay_failure_class class_of(const char *sqlstate) {
    if (!sqlstate) return PATCHBAY_FAILURE_TRANSIENT;  /* no answer: the connection went */
    if (strncmp(sqlstate, "08", 2) == 0 || strncmp(sqlstate, "40", 2) == 0 || strncmp(sqlstate, "53", 2) == 0
        || strncmp(sqlstate, "57", 2) == 0 || strncmp(sqlstate, "58", 2) == 0) return PATCHBAY_FAILURE_TRANSIENT;
    if (strncmp(sqlstate, "22", 2) == 0 || strncmp(sqlstate, "23", 2) == 0) return PATCHBAY_FAILURE_DATA;
    if (strncmp(sqlstate, "28", 2) == 0) return PATCHBAY_FAILURE_UNAUTHORIZED;
    if (strncmp(sqlstate, "42", 2) == 0 || strncmp(sqlstate, "3D", 2) == 0 || strncmp(sqlstate, "3F", 2) == 0) return PATCHBAY_FAILURE_CONFIG;
    return PATCHBAY_FAILURE_SYSTEM;
}

/* Fails with the server's message for `what`, trimmed of its trailing newline. */
static patchbay_status fail_result(patchbay_error *error, PGconn *conn, PGresult *result, const char *what) {
    const char *state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : NULL;
    const char *text = result && PQresultErrorMessage(result)[0] ? PQresultErrorMessage(result) : PQerrorMessage(conn);
    char message[1200];
    int n = snprintf(message, sizeof message, "%s: %.1000s", what, text);
    while (n > 0 && (size_t)n < sizeof message && (message[n - 1] == '\n' || message[n - 1] == ' ')) message[--n] = 0;
    if (state) snprintf(message + strlen(message), sizeof message - strlen(message), " (SQLSTATE %s)", state);
    patchbay_failure_class cls = class_of(state);
    if (result) PQclear(result);
    return fail(error, cls, message);
}

/* Runs a statement that returns no rows, or one row of one value into `out` (NULL for none). */
static patchbay_status exec_value(patchbay_error *error, PGconn *conn, const char *sql, const char *what, char *out, size_t cap, int *is_null) {
    PGresult *result = PQexec(conn, sql);
    ExecStatusType status = PQresultStatus(result);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) return fail_result(error, conn, result, what);
    if (out) {
        *is_null = PQntuples(result) < 1 || PQgetisnull(result, 0, 0);
        snprintf(out, cap, "%s", *is_null ? "" : PQgetvalue(result, 0, 0));
    }
    PQclear(result);
    return PATCHBAY_OK;
}

/* Decodes one COPY text field in place (\N is NULL; \b \f \n \r \t \v \\, octal and \xHH escapes). */
static size_t decode_field(char *field, size_t length) {
    size_t w = 0;
    for (size_t r = 0; r < length; r++) {
        char c = field[r];
        if (c != '\\' || r + 1 >= length) { field[w++] = c; continue; }
        c = field[++r];
        switch (c) {
        case 'b': field[w++] = '\b'; break;
        case 'f': field[w++] = '\f'; break;
        case 'n': field[w++] = '\n'; break;
        case 'r': field[w++] = '\r'; break;
        case 't': field[w++] = '\t'; break;
        case 'v': field[w++] = '\v'; break;
        case 'x': {
            unsigned v = 0, digits = 0;
            while (digits < 2 && r + 1 < length) {
                char h = field[r + 1];
                unsigned d = h >= '0' && h <= '9' ? (unsigned)(h - '0') : h >= 'a' && h <= 'f' ? (unsigned)(h - 'a' + 10)
                           : h >= 'A' && h <= 'F' ? (unsigned)(h - 'A' + 10) : 16;
                if (d == 16) break;
                v = v * 16 + d;
                digits++;
                r++;
            }
            field[w++] = digits ? (char)v : 'x';
            break;
        }
        default:
            if (c >= '0' && c <= '7') {
                unsigned v = (unsigned)(c - '0'), digits = 1;
                while (digits < 3 && r + 1 < length && field[r + 1] >= '0' && field[r + 1] <= '7') { v = v * 8 + (unsigned)(field[++r] - '0'); digits++; }
                field[w++] = (char)v;
            } else {
                field[w++] = c;
            }
        }
    }
    return w;
}

typedef struct {
    PGconn *conn;
    settings set;
    int ncol, watch;  /* watch: the incremental column's index, or -1 */
    char **names;
    patchbay_column_type *types;
    conversion *conversions;
    patchbay_table_writer *writer;
    patchbay_str *values;
    uint8_t *nulls;
    char *rows_held[BATCH_ROWS];
    size_t held, batch_nulls;
    unsigned long long rows, skipped;
    hash_counts seen, at_bound;  /* seen: the state's rows at the old bound; at_bound: the new bound's */
    char old_bound[512], bound[512];
    int has_old, has_bound;
    char *base, *sql;  /* the FROM clause and the statement being built */
} extraction;

static patchbay_status flush_rows(extraction *x) {
    patchbay_status s = PATCHBAY_OK;
    if (x->held) s = host->write_records_nullable(x->writer, x->values, x->batch_nulls ? x->nulls : NULL, x->held);
    for (size_t i = 0; i < x->held; i++) PQfreemem(x->rows_held[i]);
    x->rows += x->held;
    x->held = 0;
    x->batch_nulls = 0;
    return s;
}

/* Splits and converts one COPY row (`line`, its `length` without the newline), held until the next flush. */
static patchbay_status take_row(extraction *x, patchbay_error *error, char *line, int length) {
    if (x->watch >= 0) {
        /* The incremental column's raw text decides whether the row is at a bound. */
        const char *p = line, *end = line + length;
        for (int c = 0; c < x->watch && p < end; c++) { const char *tab = memchr(p, '\t', (size_t)(end - p)); p = tab ? tab + 1 : end; }
        const char *tab = memchr(p, '\t', (size_t)(end - p));
        size_t n = (size_t)((tab ? tab : end) - p);
        uint64_t h = 0;
        int at_old = x->has_old && n == strlen(x->old_bound) && memcmp(p, x->old_bound, n) == 0;
        int at_new = x->has_bound && n == strlen(x->bound) && memcmp(p, x->bound, n) == 0;
        if (at_old || at_new) h = fnv1a(line, (size_t)length);
        int extracted_before = at_old && counts_take(&x->seen, h);
        if (at_new) {  /* a row at the new bound is remembered, whether extracted now or before */
            if (x->at_bound.used >= MAX_AT_BOUND) {
                char why[700];
                snprintf(why, sizeof why, "more than %d rows share the value '%.200s' of the incremental column '%.100s': too many to remember "
                         "which were extracted; choose a column whose values are finer", MAX_AT_BOUND, x->bound, x->set.column);
                PQfreemem(line);
                return fail(error, PATCHBAY_FAILURE_CONFIG, why);
            }
            if (!counts_add(&x->at_bound, h, 1)) { PQfreemem(line); return fail(error, PATCHBAY_FAILURE_SYSTEM, "out of memory"); }
        }
        if (extracted_before) { x->skipped++; PQfreemem(line); return PATCHBAY_OK; }
    }
    patchbay_str *values = x->values + x->held * (size_t)x->ncol;
    uint8_t *nulls = x->nulls + x->held * (size_t)x->ncol;
    char *p = line, *end = line + length;
    for (int c = 0; c < x->ncol; c++) {
        if (p > end) {
            PQfreemem(line);
            return fail(error, PATCHBAY_FAILURE_SYSTEM, "the server sent a COPY row with fewer fields than the result has columns");
        }
        char *tab = memchr(p, '\t', (size_t)(end - p));
        char *field_end = tab ? tab : end;
        size_t n = (size_t)(field_end - p);
        if (n == 2 && p[0] == '\\' && p[1] == 'N') {
            nulls[c] = 1;
            values[c] = (patchbay_str){ "", 0 };
            x->batch_nulls++;
        } else {
            nulls[c] = 0;
            if (memchr(p, '\\', n)) n = decode_field(p, n);
            switch (x->conversions[c]) {
            case BOOLEAN_TEXT:
                values[c] = n == 1 && p[0] == 't' ? patchbay_cstr("true") : n == 1 && p[0] == 'f' ? patchbay_cstr("false") : (patchbay_str){ p, n };
                break;
            case TIMESTAMP_UTC:  /* "2024-01-02 03:04:05.123+00" (TimeZone UTC, DateStyle ISO) → "2024-01-02T03:04:05.123Z" */
                if (n > 13 && p[10] == ' ' && memcmp(p + n - 3, "+00", 3) == 0) { p[10] = 'T'; p[n - 3] = 'Z'; n -= 2; }
                values[c] = (patchbay_str){ p, n };
                break;
            default:
                values[c] = (patchbay_str){ p, n };
            }
        }
        p = field_end + 1;
    }
    x->rows_held[x->held++] = line;
    return x->held == BATCH_ROWS ? flush_rows(x) : PATCHBAY_OK;
}

/* The type and conversion of a result column of type `oid`, unless `columns` names it. */
static patchbay_status type_column(extraction *x, patchbay_error *error, int c, Oid oid) {
    patchbay_column_type type = PATCHBAY_TYPE_STRING;
    conversion how = AS_IS;
    switch (oid) {
    case 20: case 21: case 23: case 26: type = PATCHBAY_TYPE_INTEGER; break;            /* int8, int2, int4, oid */
    case 700: case 701: type = PATCHBAY_TYPE_FLOAT; break;                              /* float4, float8 */
    case 16: type = PATCHBAY_TYPE_BOOLEAN; how = BOOLEAN_TEXT; break;                   /* bool */
    case 1082: type = PATCHBAY_TYPE_DATE; break;                                        /* date */
    case 1184: type = PATCHBAY_TYPE_TIMESTAMP; how = TIMESTAMP_UTC; break;              /* timestamptz */
    case 114: case 3802: type = PATCHBAY_TYPE_JSON; break;                              /* json, jsonb */
    default: break;                                                                      /* numeric (1700) and the rest: text */
    }
    if (x->set.columns_override.length) {
        patchbay_str declared;
        if (patchbay_params_member(x->set.columns_override, x->names[c], &declared) == PATCHBAY_PARAM_FOUND) {
            patchbay_column_type named = patchbay_column_type_named(declared);
            if (!named) {
                char why[300];
                snprintf(why, sizeof why, "parameter 'columns': column '%.100s' needs a type: string, integer, decimal, float, boolean, date, timestamp or json", x->names[c]);
                return fail(error, PATCHBAY_FAILURE_CONFIG, why);
            }
            /* Keep the conversion that makes PostgreSQL's text fit the declared type, else the text as it is. */
            if (named != type) how = named == PATCHBAY_TYPE_TIMESTAMP && oid == 1184 ? TIMESTAMP_UTC
                                   : named == PATCHBAY_TYPE_BOOLEAN && oid == 16 ? BOOLEAN_TEXT : AS_IS;
            type = named;
        }
    }
    x->types[c] = type;
    x->conversions[c] = how;
    return PATCHBAY_OK;
}

/* The state's bound and its rows: {"column": …, "watermark": …, "at_watermark": {"<hash>": count, …}}. */
static void read_state(patchbay_task *task, extraction *x) {
    patchbay_str state;
    if (host->state_get(task, &state) != PATCHBAY_OK) return;
    char column[128] = "";
    patchbay_params_get(state, "column", column, sizeof column);
    if (patchbay_params_get(state, "watermark", x->old_bound, sizeof x->old_bound) != PATCHBAY_PARAM_FOUND) return;
    if (strcmp(column, x->set.column) != 0) {
        char why[400];
        snprintf(why, sizeof why, "the saved watermark is for column '%.100s', not '%.100s': reading everything again", column, x->set.column);
        host->log(task, PATCHBAY_LOG_WARNING, patchbay_cstr(why));
        x->old_bound[0] = 0;
        return;
    }
    x->has_old = 1;
    patchbay_str hashes;
    if (patchbay_params_member(state, "at_watermark", &hashes) != PATCHBAY_PARAM_FOUND) return;
    const char *cursor = NULL;
    char key[32];
    patchbay_str count;
    size_t key_length;
    while (patchbay_json_members(hashes, &cursor, key, sizeof key, &count, &key_length) == PATCHBAY_PARAM_FOUND)
        counts_add(&x->seen, strtoull(key, NULL, 16), (uint32_t)strtoul(count.data, NULL, 10));
}

static patchbay_status write_state(patchbay_task *task, patchbay_error *error, extraction *x) {
    size_t cap = 1024 + x->at_bound.used * 32, at = 0;
    char *json = malloc(cap);
    if (!json) return fail(error, PATCHBAY_FAILURE_SYSTEM, "out of memory");
    at += (size_t)snprintf(json, cap, "{\"column\":\"");
    at = json_escape(json, at, cap, x->set.column);
    at += (size_t)snprintf(json + at, cap - at, "\",\"watermark\":\"");
    at = json_escape(json, at, cap, x->bound);
    at += (size_t)snprintf(json + at, cap - at, "\",\"at_watermark\":{");
    int first = 1;
    for (size_t i = 0; i < x->at_bound.capacity; i++) {
        if (!x->at_bound.counts[i]) continue;
        at += (size_t)snprintf(json + at, cap - at, "%s\"%016llx\":%u", first ? "" : ",", (unsigned long long)x->at_bound.keys[i], x->at_bound.counts[i]);
        first = 0;
    }
    snprintf(json + at, cap - at, "}}");
    patchbay_status s = host->state_set(task, patchbay_cstr(json));
    free(json);
    return s;
}

/* A quoted identifier, "schema.table" → "schema"."table"; 0 when it does not fit. */
static int quote_name(PGconn *conn, const char *name, char *out, size_t cap) {
    out[0] = 0;
    const char *dot = strchr(name, '.');
    char part[256];
    const char *p = name;
    while (p) {
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n == 0 || n >= sizeof part) return 0;
        memcpy(part, p, n);
        part[n] = 0;
        char *quoted = PQescapeIdentifier(conn, part, n);
        if (!quoted) return 0;
        size_t used = strlen(out);
        int fits = used + strlen(quoted) + 2 < cap;
        if (fits) snprintf(out + used, cap - used, "%s%s", used ? "." : "", quoted);
        PQfreemem(quoted);
        if (!fits) return 0;
        p = dot ? dot + 1 : NULL;
        dot = p ? strchr(p, '.') : NULL;
    }
    return 1;
}

static patchbay_status connect_to(patchbay_task *task, patchbay_error *error, extraction *x) {
    patchbay_str secret = { "", 0 };
    char password[512] = "";
    if (host->credential(task, patchbay_cstr("#password"), &secret) == PATCHBAY_OK && secret.length < sizeof password) {
        memcpy(password, secret.data, secret.length);
        password[secret.length] = 0;
    }
    char port[16], timeout[16];
    snprintf(port, sizeof port, "%lld", x->set.port);
    snprintf(timeout, sizeof timeout, "%lld", x->set.connect_timeout);
    /* DateStyle ISO and TimeZone UTC: the text of dates and times is the form the types convert from. */
    const char *keys[] = { "host", "port", "dbname", "user", "password", "sslmode", "connect_timeout", "application_name", "client_encoding", "options", NULL };
    const char *values[] = { x->set.host_name, port, x->set.database, x->set.user, password[0] ? password : NULL, x->set.sslmode, timeout,
                             "patchbay", "UTF8", "-c DateStyle=ISO,YMD -c TimeZone=UTC -c extra_float_digits=1 -c IntervalStyle=iso_8601", NULL };
    x->conn = PQconnectdbParams(keys, values, 0);
    memset(password, 0, sizeof password);
    if (x->conn && PQstatus(x->conn) == CONNECTION_OK) return PATCHBAY_OK;
    const char *text = x->conn ? PQerrorMessage(x->conn) : "out of memory";
    /* A refused or timed-out connection may work later; a rejected login or an unknown database will not. */
    patchbay_failure_class cls = PATCHBAY_FAILURE_TRANSIENT;
    if (strstr(text, "password authentication failed") || strstr(text, "no password supplied") || strstr(text, "does not exist")
        || strstr(text, "no pg_hba.conf entry") || strstr(text, "invalid sslmode") || strstr(text, "SSL"))
        cls = PATCHBAY_FAILURE_CONFIG;
    char message[1400];
    int n = snprintf(message, sizeof message, "cannot connect to PostgreSQL at %.200s:%lld (database %.100s, user %.100s): %.900s",
                     x->set.host_name, x->set.port, x->set.database, x->set.user, text);
    while (n > 0 && (size_t)n < sizeof message && (message[n - 1] == '\n' || message[n - 1] == ' ')) message[--n] = 0;
    return fail(error, cls, message);
}

static patchbay_status extract(patchbay_task *task, patchbay_error *error, extraction *x) {
    patchbay_status s = connect_to(task, error, x);
    if (s != PATCHBAY_OK) return s;
    PGconn *conn = x->conn;
    /* One snapshot for the bound and the read: a row committed between them is in both or in neither. */
    if ((s = exec_value(error, conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "starting a read-only transaction", NULL, 0, NULL)) != PATCHBAY_OK) return s;
    size_t base_cap = (x->set.query ? strlen(x->set.query) : 0) + 1024;
    /* Both freed with the extraction (run's cleanup), whatever path returns. */
    char *base = x->base = malloc(base_cap), *sql = x->sql = malloc(base_cap * 2 + 2048);
    if (!base || !sql) return fail(error, PATCHBAY_FAILURE_SYSTEM, "out of memory");
    if (x->set.query) {
        snprintf(base, base_cap, "(%s) AS source", x->set.query);
    } else {
        char quoted[600];
        if (!quote_name(conn, x->set.from, quoted, sizeof quoted))
            return fail(error, PATCHBAY_FAILURE_CONFIG, "parameter 'from' must be a table name: \"table\" or \"schema.table\"");
        snprintf(base, base_cap, "%s AS source", quoted);
    }
    /* The result's columns and types, without reading a row. */
    snprintf(sql, base_cap * 2 + 2048, "SELECT * FROM %s LIMIT 0", base);
    PGresult *shape = PQexec(conn, sql);
    if (PQresultStatus(shape) != PGRES_TUPLES_OK) return fail_result(error, conn, shape, x->set.query ? "the query failed" : "reading the table failed");
    x->ncol = PQnfields(shape);
    if (x->ncol < 1 || x->ncol > MAX_COLUMNS) { PQclear(shape); return fail(error, PATCHBAY_FAILURE_CONFIG, "the result must have 1 to 1600 columns"); }
    x->names = calloc((size_t)x->ncol, sizeof *x->names);
    x->types = calloc((size_t)x->ncol, sizeof *x->types);
    x->conversions = calloc((size_t)x->ncol, sizeof *x->conversions);
    x->values = calloc((size_t)x->ncol * BATCH_ROWS, sizeof *x->values);
    x->nulls = calloc((size_t)x->ncol * BATCH_ROWS, 1);
    if (!x->names || !x->types || !x->conversions || !x->values || !x->nulls) { PQclear(shape); return fail(error, PATCHBAY_FAILURE_SYSTEM, "out of memory"); }
    x->watch = -1;
    for (int c = 0; c < x->ncol; c++) {
        x->names[c] = strdup(PQfname(shape, c));
        if (!x->names[c]) { PQclear(shape); return fail(error, PATCHBAY_FAILURE_SYSTEM, "out of memory"); }
        if (x->set.column[0] && strcmp(x->names[c], x->set.column) == 0) x->watch = c;
        if ((s = type_column(x, error, c, PQftype(shape, c))) != PATCHBAY_OK) { PQclear(shape); return s; }
    }
    PQclear(shape);
    char where[3000] = "";
    if (x->set.column[0]) {
        if (x->watch < 0) {
            char why[700];
            int n = snprintf(why, sizeof why, "incremental.column '%.100s' is not a column of the result (its columns: ", x->set.column);
            for (int c = 0; c < x->ncol && n < 600; c++) n += snprintf(why + n, sizeof why - (size_t)n, "%s%.60s", c ? ", " : "", x->names[c]);
            snprintf(why + n, sizeof why - (size_t)n, "%s)", n >= 600 ? ", …" : "");
            return fail(error, PATCHBAY_FAILURE_CONFIG, why);
        }
        read_state(task, x);
        char *column = PQescapeIdentifier(conn, x->set.column, strlen(x->set.column));
        char *old = x->has_old ? PQescapeLiteral(conn, x->old_bound, strlen(x->old_bound)) : NULL;
        if (!column || (x->has_old && !old)) { PQfreemem(column); PQfreemem(old); return fail(error, PATCHBAY_FAILURE_SYSTEM, "out of memory"); }
        /* The upper bound, in this snapshot; the read stops at it, so the next run starts where this one saw the last row. */
        if (old) snprintf(sql, base_cap * 2 + 2048, "SELECT max(%s)::text FROM %s WHERE %s >= %s", column, base, column, old);
        else snprintf(sql, base_cap * 2 + 2048, "SELECT max(%s)::text FROM %s", column, base);
        int none = 0;
        s = exec_value(error, conn, sql, "reading the incremental column's greatest value", x->bound, sizeof x->bound, &none);
        if (s == PATCHBAY_OK && strlen(x->bound) >= sizeof x->bound - 1) s = fail(error, PATCHBAY_FAILURE_CONFIG, "the incremental column's values are longer than 500 bytes");
        if (s != PATCHBAY_OK) { PQfreemem(column); PQfreemem(old); return s; }
        x->has_bound = !none;
        if (!x->has_bound) {
            snprintf(where, sizeof where, " WHERE false");
            snprintf(x->bound, sizeof x->bound, "%s", x->old_bound);  /* nothing new: the bound stays */
        } else {
            char *upper = PQescapeLiteral(conn, x->bound, strlen(x->bound));
            if (!upper) { PQfreemem(column); PQfreemem(old); return fail(error, PATCHBAY_FAILURE_SYSTEM, "out of memory"); }
            if (old) snprintf(where, sizeof where, " WHERE %s >= %s AND %s <= %s", column, old, column, upper);
            else snprintf(where, sizeof where, " WHERE %s <= %s", column, upper);
            PQfreemem(upper);
        }
        PQfreemem(column);
        PQfreemem(old);
    }
    snprintf(sql, base_cap * 2 + 2048, "COPY (SELECT * FROM %s%s) TO STDOUT", base, where);
    PGresult *started = PQexec(conn, sql);
    if (PQresultStatus(started) != PGRES_COPY_OUT) return fail_result(error, conn, started, x->set.query ? "the query failed" : "reading the table failed");
    PQclear(started);
    patchbay_str *names = calloc((size_t)x->ncol, sizeof *names);
    if (!names) return fail(error, PATCHBAY_FAILURE_SYSTEM, "out of memory");
    for (int c = 0; c < x->ncol; c++) names[c] = patchbay_cstr(x->names[c]);
    s = host->open_output_typed(task, patchbay_cstr(x->set.table), names, x->types, (size_t)x->ncol, &x->writer);
    free(names);
    if (s != PATCHBAY_OK) return fail(error, PATCHBAY_FAILURE_CONFIG, "the output table could not be opened: 'table' must be \"bucket.table\"");
    unsigned long long next_progress = 100000;
    for (;;) {
        char *line = NULL;
        int length = PQgetCopyData(conn, &line, 0);
        if (length == -1) break;
        if (length < 0) return fail_result(error, conn, NULL, "the read broke off");
        if (length > 0 && line[length - 1] == '\n') length--;
        if ((s = take_row(x, error, line, length)) != PATCHBAY_OK) {
            if (s != PATCHBAY_ERROR) fail(error, PATCHBAY_FAILURE_DATA, "a batch of rows did not fit the column types (see the log)");
            return PATCHBAY_ERROR;
        }
        if (x->rows >= next_progress) {
            char progress[96];
            snprintf(progress, sizeof progress, "%llu rows", x->rows);
            host->progress(task, -1, patchbay_cstr(progress));
            next_progress += 100000;
            if (host->is_cancelled(task)) return PATCHBAY_CANCELLED;
        }
    }
    PGresult *finished = PQgetResult(conn);
    if (PQresultStatus(finished) != PGRES_COMMAND_OK) return fail_result(error, conn, finished, "the read failed");
    PQclear(finished);
    while ((finished = PQgetResult(conn))) PQclear(finished);
    if ((s = flush_rows(x)) != PATCHBAY_OK) return fail(error, PATCHBAY_FAILURE_DATA, "a batch of rows did not fit the column types (see the log)");
    if ((s = exec_value(error, conn, "COMMIT", "ending the transaction", NULL, 0, NULL)) != PATCHBAY_OK) return s;
    return PATCHBAY_OK;
}

static patchbay_status run(patchbay_task *task, patchbay_error *error) {
    extraction *x = calloc(1, sizeof *x);
    if (!x) return fail(error, PATCHBAY_FAILURE_SYSTEM, "out of memory");
    patchbay_status s = read_parameters(task, error, &x->set);
    if (s == PATCHBAY_OK) s = extract(task, error, x);
    if (s == PATCHBAY_OK) {
        char text[700];
        snprintf(text, sizeof text, "%llu", x->rows);
        host->set_output(task, patchbay_cstr("rows"), patchbay_cstr(text), 0);
        if (x->set.column[0]) {
            host->set_output(task, patchbay_cstr("watermark"), patchbay_cstr(x->bound), 0);
            if (x->bound[0]) s = write_state(task, error, x);
            snprintf(text, sizeof text, "incremental on %.100s: %llu new rows after %.200s (%llu at the bound read again and skipped); next run starts at %.200s",
                     x->set.column, x->rows, x->has_old ? x->old_bound : "(first run)", x->skipped, x->bound[0] ? x->bound : "the first row");
            host->log(task, PATCHBAY_LOG_INFO, patchbay_cstr(text));
        }
        snprintf(text, sizeof text, "extracted %llu rows from %.200s:%lld/%.100s into %.200s", x->rows, x->set.host_name, x->set.port, x->set.database, x->set.table);
        host->log(task, PATCHBAY_LOG_INFO, patchbay_cstr(text));
    }
    for (size_t i = 0; i < x->held; i++) PQfreemem(x->rows_held[i]);
    if (x->conn) PQfinish(x->conn);
    for (int c = 0; x->names && c < x->ncol; c++) free(x->names[c]);
    free(x->names);
    free(x->types);
    free(x->conversions);
    free(x->values);
    free(x->nulls);
    free(x->set.query);
    free(x->base);
    free(x->sql);
    counts_free(&x->seen);
    counts_free(&x->at_bound);
    free(x);
    return s;
}

static const patchbay_connector descriptor = {
    .struct_size = sizeof(patchbay_connector),
    .abi_version = PATCHBAY_ABI_VERSION,
    .id = "dev.patchbay.postgres-extract",
    .version = "1.0.0",
    .display_name = "PostgreSQL extract",
    .description = "Streams a table or a query from PostgreSQL into a typed table, incremental by a column without losing a row at the bound.",
    .parameters_schema =
        "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
        "\"host\":{\"type\":\"string\",\"default\":\"127.0.0.1\",\"description\":\"a host name, an address, or a socket directory\"},"
        "\"port\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":65535,\"default\":5432},"
        "\"database\":{\"type\":\"string\",\"default\":\"postgres\"},"
        "\"user\":{\"type\":\"string\",\"default\":\"postgres\"},"
        "\"#password\":{\"type\":\"string\",\"x-secret\":true},"
        "\"from\":{\"type\":\"string\",\"description\":\"a table: table or schema.table (or give query)\"},"
        "\"query\":{\"type\":\"string\",\"description\":\"one SELECT (or give from)\"},"
        "\"table\":{\"type\":\"string\",\"default\":\"in.postgres\"},"
        "\"incremental\":{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"column\"],\"properties\":{"
        "\"column\":{\"type\":\"string\",\"description\":\"a column that only grows: an id, an updated_at\"}}},"
        "\"columns\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\",\"enum\":[\"string\",\"integer\",\"decimal\",\"float\",\"boolean\",\"date\",\"timestamp\",\"json\"]}},"
        "\"sslmode\":{\"type\":\"string\",\"enum\":[\"disable\",\"allow\",\"prefer\",\"require\",\"verify-ca\",\"verify-full\"],\"default\":\"prefer\"},"
        "\"connect_timeout\":{\"type\":\"integer\",\"minimum\":1,\"default\":10}}}",
    .credential_names = (const char *const[]){ "#password" },
    .credential_count = 1,
    .pattern = PATCHBAY_PATTERN_EXTRACTION,
    .capabilities = PATCHBAY_CAP_WRITES_TABLES | PATCHBAY_CAP_STATE,
    .run = run,
    .network = PATCHBAY_NETWORK_ANY,  /* a flow narrows it to the server's port: network: {tcp: [5432]} */
    .declares = PATCHBAY_DECLARES_OUTPUTS | PATCHBAY_DECLARES_TABLES,
    .output_names = (const char *const[]){ "rows", "watermark" },
    .output_count = 2,
    .output_tables = (const char *const[]){ "{table}" },
    .output_table_count = 1,
};

uint32_t patchbay_abi_version(void) { return PATCHBAY_ABI_VERSION; }

const patchbay_connector *patchbay_connector_entry(const patchbay_host *h) {
    host = h;
    return &descriptor;
}
