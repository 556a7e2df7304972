/* dev.patchbay.file-extract — reads a CSV or JSON-lines file into an output table.
 *
 * Parameters: {"path": "/data/orders.csv", "table": "in.orders", "format": "csv" | "jsonl", "delimiter": ";",
 *              "quote": "\"" | "'" | "none", "encoding": "utf-8" | "latin1" | "windows-1252",
 *              "header": true, "onBadRow": "fail" | "skip" | "reject", "maxBadShare": 0.01,
 *              "columns": {"id": "integer", "amount": "decimal", "created": "timestamp"}}
 *   format defaults to the extension (.jsonl / .ndjson → jsonl, .csv / .tsv → csv), else to the content.
 * The file is UTF-8 (a byte-order mark is dropped) unless `encoding` says latin1 or windows-1252, which are
 * converted to UTF-8; bytes that are not text in the encoding are an error naming their line. CSV: RFC 4180, the first record is the header
 * (header: false names the columns col_1, col_2, …); a header that names a column twice is refused.
 * JSON lines: one flat object per line; the columns are the union of every line's keys, and a key a
 * line lacks (or a null) is NULL. On a host of ABI 1.3 or later an empty CSV field is NULL too (the
 * table's manifest says so); on an older host both are empty strings. A bad row is reported with its physical line and its text; onBadRow
 * skip or reject goes on (reject writes <table>_rejected: line, raw, reason) unless more than
 * maxBadShare of the rows are bad.
 * `columns` types columns by name (ABI 1.3 types: string, integer, decimal, float, boolean, date,
 * timestamp, json); the others are strings. CSV: each must be a header column. JSON lines: they are the
 * table's columns, by name (keys outside them are dropped, with a warning). A value outside its
 * type's one form is a bad row, handled as onBadRow says, with the column, the value and the form.
 *
 * Built with: cc -shared -fPIC -O2 -I../../SDK/include file_extract.c -o libfile_extract.so
 * Depends only on libc.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "patchbay/connector.h"
#include "patchbay/params.h"

static const patchbay_host *host;

enum { BATCH_ROWS = 512, MAX_COLUMNS = 1024 };

static patchbay_status fail(patchbay_error *error, patchbay_failure_class cls, const char *message) {
    host->set_error(error, cls, patchbay_cstr(message), patchbay_cstr(""));
    return PATCHBAY_ERROR;
}

/* A growable byte buffer holding one batch of unescaped values. */
typedef struct { char *data; size_t used, cap; } buffer;

static int buffer_put(buffer *b, const char *src, size_t n) {
    if (b->used + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1 << 16;
        while (cap < b->used + n) cap *= 2;
        char *grown = realloc(b->data, cap);
        if (!grown) return -1;
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->used, src, n);
    b->used += n;
    return 0;
}

typedef struct {
    patchbay_table_writer *writer;
    size_t columns;
    buffer bytes;
    size_t *offsets; /* (start, length) pairs, BATCH_ROWS * columns of them */
    size_t values;   /* values in the batch */
    unsigned long long rows;
} batch;

/* The length batch_null() records: the value is NULL. */
#define NULL_LENGTH ((size_t)-1)

/* Whether the host has the ABI 1.3 functions (NULLs and types). */
static int host_has_1_3(void) { return host->struct_size >= PATCHBAY_HOST_SIZE_1_3; }

static patchbay_status batch_flush(batch *b) {
    if (b->values == 0) return PATCHBAY_OK;
    patchbay_str *vals = malloc(sizeof(patchbay_str) * b->values);
    uint8_t *nulls = calloc(b->values, 1);
    if (!vals || !nulls) { free(vals); free(nulls); return PATCHBAY_ERROR; }
    int any_null = 0;
    for (size_t i = 0; i < b->values; i++) {
        vals[i].data = b->bytes.data + b->offsets[2 * i];
        vals[i].length = b->offsets[2 * i + 1];
        if (vals[i].length == NULL_LENGTH) { vals[i].length = 0; nulls[i] = 1; any_null = 1; }
    }
    patchbay_status s = any_null && host_has_1_3()
        ? host->write_records_nullable(b->writer, vals, nulls, b->values / b->columns)
        : host->write_records(b->writer, vals, b->values / b->columns);
    free(vals);
    free(nulls);
    b->rows += b->values / b->columns;
    b->values = 0;
    b->bytes.used = 0;
    return s;
}

static int batch_value(batch *b, const char *src, size_t n) {
    b->offsets[2 * b->values] = b->bytes.used;
    b->offsets[2 * b->values + 1] = n;
    b->values++;
    return buffer_put(&b->bytes, src, n);
}

static void batch_null(batch *b) {
    b->offsets[2 * b->values] = b->bytes.used;
    b->offsets[2 * b->values + 1] = NULL_LENGTH;
    b->values++;
}

/* Reads the whole file. */
static char *slurp(const char *path, size_t *size, char *why, size_t why_cap) {
    FILE *f = fopen(path, "rb");
    if (!f) { snprintf(why, why_cap, "cannot open %s: %s", path, strerror(errno)); return NULL; }
    size_t cap = 1 << 16, used = 0;
    char *data = malloc(cap);
    size_t n;
    while (data && (n = fread(data + used, 1, cap - used, f)) > 0) {
        used += n;
        if (used == cap) { cap *= 2; char *g = realloc(data, cap); if (!g) { free(data); data = NULL; } else data = g; }
    }
    fclose(f);
    if (!data) { snprintf(why, why_cap, "%s is too large to read into memory", path); return NULL; }
    *size = used;
    return data;
}

/* What the task was asked to do. */
typedef struct {
    char path[4096], table[256], format[16];
    char delimiter;      /* CSV only */
    char quote;          /* CSV: the quote character, or 0 for none (quotes are then plain text) */
    int encoding;        /* 0 UTF-8, 1 latin1 (ISO-8859-1), 2 windows-1252 */
    int header;          /* CSV: the first record names the columns (else col_1, col_2, …) */
    int on_bad_row;      /* 0 fail, 1 skip, 2 reject (into <table>_rejected) */
    double max_bad_share; /* with skip or reject: fail when more than this share of rows is bad */
    size_t typed;         /* declared columns (`columns`), in the order written */
    char typed_name[MAX_COLUMNS][256];
    patchbay_column_type typed_type[MAX_COLUMNS];
} settings;

/* The types in the order the header lists them, with their one form (the header's words). */
static const struct { const char *word; patchbay_column_type type; const char *form; } type_names[] = {
    { "string", PATCHBAY_TYPE_STRING, "UTF-8 text" },
    { "integer", PATCHBAY_TYPE_INTEGER, "digits with an optional '-', within 64 bits" },
    { "decimal", PATCHBAY_TYPE_DECIMAL, "digits with an optional '-' and '.digits'" },
    { "float", PATCHBAY_TYPE_FLOAT, "a decimal with an optional exponent, NaN, Infinity or -Infinity" },
    { "boolean", PATCHBAY_TYPE_BOOLEAN, "true or false" },
    { "date", PATCHBAY_TYPE_DATE, "YYYY-MM-DD" },
    { "timestamp", PATCHBAY_TYPE_TIMESTAMP, "YYYY-MM-DDTHH:MM:SS[.fraction]Z (RFC 3339, UTC)" },
    { "json", PATCHBAY_TYPE_JSON, "one JSON value" },
};

static const char *type_word(patchbay_column_type t) {
    for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++) if (type_names[i].type == t) return type_names[i].word;
    return "?";
}

static const char *type_form(patchbay_column_type t) {
    for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++) if (type_names[i].type == t) return type_names[i].form;
    return "?";
}

/* The type of column `name` (a string unless `columns` declares it). */
static patchbay_column_type declared_type(const settings *set, const char *name) {
    for (size_t i = 0; i < set->typed; i++) if (strcmp(set->typed_name[i], name) == 0) return set->typed_type[i];
    return PATCHBAY_TYPE_STRING;
}

/* ---- Each type's one form (the runner checks the same; checking here names the row and the value) ---- */

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static size_t digit_run(const char *p, size_t i, size_t n) { size_t j = i; while (j < n && is_digit(p[j])) j++; return j - i; }

/* The length of -?digits(.digits)?([eE][+-]?digits)?, or (size_t)-1. */
static size_t decimal_end(const char *p, size_t n, int exponent) {
    size_t i = (n > 0 && p[0] == '-') ? 1 : 0, d = digit_run(p, i, n);
    if (d == 0) return (size_t)-1;
    i += d;
    if (i < n && p[i] == '.') { d = digit_run(p, i + 1, n); if (d == 0) return (size_t)-1; i += 1 + d; }
    if (exponent && i < n && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        if (i < n && (p[i] == '+' || p[i] == '-')) i++;
        d = digit_run(p, i, n);
        if (d == 0) return (size_t)-1;
        i += d;
    }
    return i;
}

static int two(const char *p, size_t i) { return is_digit(p[i]) && is_digit(p[i + 1]) ? (p[i] - '0') * 10 + (p[i + 1] - '0') : -1; }

static int valid_date(const char *p, size_t n) {
    if (n < 10 || p[4] != '-' || p[7] != '-') return 0;
    for (int i = 0; i < 4; i++) if (!is_digit(p[i])) return 0;
    int year = (p[0] - '0') * 1000 + (p[1] - '0') * 100 + (p[2] - '0') * 10 + (p[3] - '0');
    int month = two(p, 5), day = two(p, 8);
    if (month < 1 || month > 12 || day < 1) return 0;
    static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    return day <= days[month - 1] + (month == 2 && leap);
}

static int value_fits(patchbay_column_type type, const char *p, size_t n) {
    switch (type) {
    case PATCHBAY_TYPE_INTEGER: {
        size_t start = (n > 0 && p[0] == '-') ? 1 : 0;
        if (n == start || digit_run(p, start, n) != n - start) return 0;
        while (start < n - 1 && p[start] == '0') start++;
        size_t significant = n - start;
        if (significant != 19) return significant < 19;
        return memcmp(p + start, p[0] == '-' ? "9223372036854775808" : "9223372036854775807", 19) <= 0;
    }
    case PATCHBAY_TYPE_DECIMAL: return decimal_end(p, n, 0) == n;
    case PATCHBAY_TYPE_FLOAT:
        return (n == 3 && memcmp(p, "NaN", 3) == 0) || (n == 8 && memcmp(p, "Infinity", 8) == 0)
            || (n == 9 && memcmp(p, "-Infinity", 9) == 0) || decimal_end(p, n, 1) == n;
    case PATCHBAY_TYPE_BOOLEAN: return (n == 4 && memcmp(p, "true", 4) == 0) || (n == 5 && memcmp(p, "false", 5) == 0);
    case PATCHBAY_TYPE_DATE: return n == 10 && valid_date(p, n);
    case PATCHBAY_TYPE_TIMESTAMP: {
        if (n < 20 || !valid_date(p, n) || p[10] != 'T' || p[13] != ':' || p[16] != ':' || p[n - 1] != 'Z') return 0;
        int hour = two(p, 11), minute = two(p, 14), second = two(p, 17);
        if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 60) return 0;
        if (n == 20) return 1;
        return p[19] == '.' && n > 21 && digit_run(p, 20, n) == n - 21;
    }
    case PATCHBAY_TYPE_JSON: {
        const char *end = p + n, *q = patchbay_json_skip_ws(p, end);
        const char *after = patchbay_json_skip_value(q, end);
        return after && after != q && patchbay_json_skip_ws(after, end) == end;
    }
    default: return 1;
    }
}

/* Why the row's values at b->offsets[start…] do not fit their columns' types, into `why`; NULL when they do. */
static const char *misfit(const char *bytes, const size_t *offsets, size_t start, size_t ncol, const patchbay_column_type *types,
                          char *const *names, char *why, size_t cap) {
    for (size_t i = 0; i < ncol; i++) {
        if (types[i] == PATCHBAY_TYPE_STRING) continue;
        size_t at = offsets[2 * (start + i)], length = offsets[2 * (start + i) + 1];
        if (length == (size_t)-1 || value_fits(types[i], bytes + at, length)) continue;
        char shown[64];  /* the value itself, at most 60 bytes */
        size_t k = length > 60 ? 60 : length;
        memcpy(shown, bytes + at, k);
        shown[k] = 0;
        snprintf(why, cap, "column '%s': '%s%s' is not %s %s (%s)", names[i], shown, length > 60 ? "…" : "",
                 types[i] == PATCHBAY_TYPE_INTEGER ? "an" : "a", type_word(types[i]), type_form(types[i]));
        return why;
    }
    return NULL;
}

/* The rows that could not be read, as `on_bad_row` says. */
typedef struct {
    const settings *set;
    patchbay_table_writer *rejects;
    unsigned long long count;
} bad_rows;

/* Opens the output table with its columns' types (strings where `columns` says nothing). */
static patchbay_status open_table(patchbay_task *task, const settings *set, const patchbay_str *columns, const patchbay_column_type *types,
                                  size_t ncol, patchbay_table_writer **writer) {
    if (set->typed == 0) return host->open_output(task, patchbay_cstr(set->table), columns, ncol, writer);
    return host->open_output_typed(task, patchbay_cstr(set->table), columns, types, ncol, writer);
}

/* One bad row: fails the task (quoting the row and its physical line), or skips it, or writes it to
 * <table>_rejected (line, raw text, reason). Returns PATCHBAY_OK to go on. */
static patchbay_status bad_row(patchbay_task *task, patchbay_error *error, bad_rows *bad, unsigned long long line,
                               const char *raw, size_t raw_len, const char *reason) {
    char why[4800];
    size_t shown = raw_len > 160 ? 160 : raw_len;
    while (shown > 0 && (raw[shown - 1] == '\n' || raw[shown - 1] == '\r')) shown--;
    bad->count++;
    if (bad->set->on_bad_row == 0) {
        snprintf(why, sizeof why, "%s:%llu: %s: %.*s%s (onBadRow: skip or reject would go on)", bad->set->path, line, reason,
                 (int)shown, raw, raw_len > 160 ? "…" : "");
        return fail(error, PATCHBAY_FAILURE_CONFIG, why);
    }
    if (bad->set->on_bad_row == 1) {
        if (bad->count <= 20) {
            snprintf(why, sizeof why, "skipped line %llu: %s: %.*s", line, reason, (int)shown, raw);
            host->log(task, PATCHBAY_LOG_WARNING, patchbay_cstr(why));
        }
        return PATCHBAY_OK;
    }
    if (!bad->rejects) {
        char name[300];
        snprintf(name, sizeof name, "%s_rejected", bad->set->table);
        patchbay_str columns[3] = { patchbay_cstr("line"), patchbay_cstr("raw"), patchbay_cstr("reason") };
        patchbay_status s = host->open_output(task, patchbay_cstr(name), columns, 3, &bad->rejects);
        if (s != PATCHBAY_OK) {
            snprintf(why, sizeof why, "cannot open the rejects table '%s' (status %u)", name, s);
            return fail(error, PATCHBAY_FAILURE_CONFIG, why);
        }
    }
    char number[32];
    snprintf(number, sizeof number, "%llu", line);
    size_t length = raw_len;
    while (length > 0 && (raw[length - 1] == '\n' || raw[length - 1] == '\r')) length--;
    patchbay_str row[3] = { patchbay_cstr(number), { raw, length }, patchbay_cstr(reason) };
    return host->write_records(bad->rejects, row, 1);
}

/* After the last row: too many bad rows fail the task; otherwise they are counted in the log. */
static patchbay_status bad_rows_finish(patchbay_task *task, patchbay_error *error, bad_rows *bad, unsigned long long good) {
    if (bad->count == 0) return PATCHBAY_OK;
    char why[512];
    double share = (double)bad->count / (double)(bad->count + good);
    if (share > bad->set->max_bad_share) {
        snprintf(why, sizeof why, "%llu of %llu rows were bad (%.2f%%), more than maxBadShare %.2f%%", bad->count, bad->count + good,
                 share * 100, bad->set->max_bad_share * 100);
        return fail(error, PATCHBAY_FAILURE_CONFIG, why);
    }
    snprintf(why, sizeof why, "%llu bad row%s %s", bad->count, bad->count == 1 ? "" : "s",
             bad->set->on_bad_row == 1 ? "skipped" : "written to the rejects table");
    host->log(task, PATCHBAY_LOG_WARNING, patchbay_cstr(why));
    return PATCHBAY_OK;
}

/* Windows-1252's 0x80…0x9F as Unicode code points (0: not a character). */
static const unsigned short cp1252_high[32] = {
    0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017D, 0,
    0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178,
};

/* [data, data+size) in latin1 (1) or windows-1252 (2), as UTF-8 in a new buffer; NULL with `*bad` at the
 * first byte that is no character of the encoding (or out of memory, with *bad NULL). */
static char *to_utf8(const char *data, size_t size, int encoding, size_t *out_size, const char **bad) {
    char *out = malloc(size * 3 + 1);
    *bad = NULL;
    if (!out) return NULL;
    size_t n = 0;
    for (size_t i = 0; i < size; i++) {
        unsigned c = (unsigned char)data[i];
        if (encoding == 2 && c >= 0x80 && c < 0xA0) {
            c = cp1252_high[c - 0x80];
            if (c == 0) { free(out); *bad = data + i; return NULL; }
        }
        if (c < 0x80) out[n++] = (char)c;
        else if (c < 0x800) { out[n++] = (char)(0xC0 | (c >> 6)); out[n++] = (char)(0x80 | (c & 0x3F)); }
        else { out[n++] = (char)(0xE0 | (c >> 12)); out[n++] = (char)(0x80 | ((c >> 6) & 0x3F)); out[n++] = (char)(0x80 | (c & 0x3F)); }
    }
    *out_size = n;
    return out;
}

/* The first byte that is not valid UTF-8 in [p, end), or NULL. */
static const char *invalid_utf8(const char *p, const char *end) {
    const unsigned char *u = (const unsigned char *)p, *e = (const unsigned char *)end;
    while (u < e) {
        if (*u < 0x80) { u++; continue; }
        int n = (*u & 0xE0) == 0xC0 ? 1 : (*u & 0xF0) == 0xE0 ? 2 : (*u & 0xF8) == 0xF0 ? 3 : -1;
        if (n < 0 || (*u & 0xFE) == 0xC0 || e - u <= n) return (const char *)u;
        for (int i = 1; i <= n; i++) if ((u[i] & 0xC0) != 0x80) return (const char *)u;
        u += n + 1;
    }
    return NULL;
}

static unsigned long long newlines(const char *p, const char *end) {
    unsigned long long n = 0;
    while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) { n++; p++; }
    return n;
}

/* Parses one CSV field at p into `scratch`; *ok is 0 for an unclosed quoted field. `quote` 0: no quoting. */
static const char *csv_field(const char *p, const char *end, char delimiter, char quote, buffer *scratch, int *ok) {
    *ok = 1;
    scratch->used = 0;
    if (quote && p < end && *p == quote) {
        p++;
        for (;;) {
            if (p >= end) { *ok = 0; return p; }
            if (*p == quote) {
                if (p + 1 < end && p[1] == quote) { buffer_put(scratch, &quote, 1); p += 2; continue; }
                p++;
                break;
            }
            const char *q = p;
            while (q < end && *q != quote) q++;
            buffer_put(scratch, p, (size_t)(q - p));
            p = q;
        }
        if (p < end && *p != delimiter && *p != '\n' && *p != '\r') *ok = -1;  /* text after the closing quote */
    } else {
        const char *q = p;
        while (q < end && *q != delimiter && *q != '\n' && *q != '\r') q++;
        buffer_put(scratch, p, (size_t)(q - p));
        p = q;
    }
    return p;
}

/* Skips the rest of a malformed record: to the end of its physical line. */
static const char *csv_skip_record(const char *p, const char *end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    return eol ? eol + 1 : end;
}

static patchbay_status extract_csv(patchbay_task *task, patchbay_error *error, const char *data, size_t size, const settings *set) {
    const char *p = data, *end = data + size;
    buffer scratch = {0};
    char *names[MAX_COLUMNS];
    patchbay_str columns[MAX_COLUMNS];
    size_t ncol = 0;
    char why[4400];
    int ok;
    /* The first record: the header, or (header: false) the shape of the rows. */
    for (;;) {
        p = csv_field(p, end, set->delimiter, set->quote, &scratch, &ok);
        if (ok != 1 || ncol == MAX_COLUMNS) {
            for (size_t i = 0; i < ncol; i++) free(names[i]);
            free(scratch.data);
            return fail(error, PATCHBAY_FAILURE_CONFIG, "the CSV header is malformed or has too many columns");
        }
        names[ncol] = strndup(scratch.data ? scratch.data : "", scratch.used);
        ncol++;
        if (p < end && *p == set->delimiter) { p++; continue; }
        if (p < end && *p == '\r') p++;
        if (p < end && *p == '\n') p++;
        break;
    }
    if (!set->header) {
        for (size_t i = 0; i < ncol; i++) { free(names[i]); char n[32]; snprintf(n, sizeof n, "col_%zu", i + 1); names[i] = strdup(n); }
        p = data;
    }
    for (size_t i = 0; i < ncol; i++) {
        columns[i] = patchbay_cstr(names[i]);
        for (size_t j = 0; j < i; j++) {
            if (strcmp(names[i], names[j]) == 0) {
                snprintf(why, sizeof why, "%s: the header names column '%s' twice (columns %zu and %zu); every column needs a name of its own",
                         set->path, names[i], j + 1, i + 1);
                for (size_t k = 0; k < ncol; k++) free(names[k]);
                free(scratch.data);
                return fail(error, PATCHBAY_FAILURE_CONFIG, why);
            }
        }
    }
    patchbay_column_type types[MAX_COLUMNS];
    for (size_t i = 0; i < ncol; i++) types[i] = declared_type(set, names[i]);
    for (size_t d = 0; d < set->typed; d++) {
        size_t i = 0;
        while (i < ncol && strcmp(names[i], set->typed_name[d]) != 0) i++;
        if (i == ncol) {
            int n = snprintf(why, sizeof why, "parameter 'columns' types column '%s', which the header does not have (columns:", set->typed_name[d]);
            for (size_t k = 0; k < ncol && n < (int)sizeof why - 80; k++) n += snprintf(why + n, sizeof why - (size_t)n, "%s %s", k ? "," : "", names[k]);
            snprintf(why + n, sizeof why - (size_t)n, ")");
            for (size_t k = 0; k < ncol; k++) free(names[k]);
            free(scratch.data);
            return fail(error, PATCHBAY_FAILURE_CONFIG, why);
        }
    }
    if (ncol == 1 && set->delimiter == ',' && (strchr(names[0], ';') || strchr(names[0], '\t'))) {
        snprintf(why, sizeof why, "%s: the header is one column '%.80s'; if the file is not comma-separated, set \"delimiter\"", set->path, names[0]);
        host->log(task, PATCHBAY_LOG_WARNING, patchbay_cstr(why));
    }
    batch b = {0};
    bad_rows bad = { set, NULL, 0 };
    b.columns = ncol;
    b.offsets = malloc(sizeof(size_t) * 2 * BATCH_ROWS * ncol);
    patchbay_status s = open_table(task, set, columns, types, ncol, &b.writer);
    if (s != PATCHBAY_OK) {
        for (size_t i = 0; i < ncol; i++) free(names[i]);
        free(scratch.data); free(b.offsets);
        snprintf(why, sizeof why, "cannot open output table '%s' (status %u)", set->table, s);
        return fail(error, PATCHBAY_FAILURE_CONFIG, why);
    }
    unsigned long long line = 1 + newlines(data, p);  /* the physical line the next record starts on */
    while (p < end) {
        if (*p == '\n' || *p == '\r') { if (*p == '\n') line++; p++; continue; } /* blank line */
        const char *record = p;
        size_t fields = 0, start = b.values;
        const char *reason = NULL;
        for (;;) {
            p = csv_field(p, end, set->delimiter, set->quote, &scratch, &ok);
            if (ok == 0) { reason = "an unclosed quoted field"; break; }
            if (ok < 0) { reason = "text after a closing quote"; break; }
            if (fields < ncol) {
                if (scratch.used == 0) batch_null(&b);
                else batch_value(&b, scratch.data, scratch.used);
            }
            fields++;
            if (p < end && *p == set->delimiter) { p++; continue; }
            if (p < end && *p == '\r') p++;
            if (p < end && *p == '\n') p++;
            break;
        }
        char count[600];
        if (!reason && fields != ncol) {
            snprintf(count, sizeof count, "%zu fields where the header has %zu", fields, ncol);
            reason = count;
        }
        if (!reason && set->typed) reason = misfit(b.bytes.data, b.offsets, start, ncol, types, names, count, sizeof count);
        if (reason) {
            b.values = start;  /* take the partial row back */
            if (ok == 0) p = csv_skip_record(record, end);  /* an unclosed quote would swallow the file */
            else if (ok < 0) p = csv_skip_record(p, end);
            if ((s = bad_row(task, error, &bad, line, record, (size_t)(p - record), reason)) != PATCHBAY_OK) goto out;
        }
        line += newlines(record, p);
        if (b.values == BATCH_ROWS * ncol && (s = batch_flush(&b)) != PATCHBAY_OK) goto out;
        if (host->is_cancelled(task)) { s = PATCHBAY_CANCELLED; goto out; }
    }
    s = batch_flush(&b);
    if (s == PATCHBAY_OK) s = bad_rows_finish(task, error, &bad, b.rows);
    if (s == PATCHBAY_OK) {
        snprintf(why, sizeof why, "extracted %llu rows from %s into %s", b.rows, set->path, set->table);
        host->log(task, PATCHBAY_LOG_INFO, patchbay_cstr(why));
    }
out:
    for (size_t i = 0; i < ncol; i++) free(names[i]);
    free(scratch.data);
    free(b.bytes.data);
    free(b.offsets);
    return s;
}

/* One JSON-lines record, parsed: its members' keys and values (strings unescaped, null as empty). */
typedef struct {
    char keys[MAX_COLUMNS][256];
    size_t value_at[MAX_COLUMNS], value_length[MAX_COLUMNS];
    size_t count;
    buffer values;
} json_record;

/* Parses the object on [p, eol); returns NULL, or why it is not a flat JSON object. */
static const char *json_record_parse(json_record *r, const char *p, const char *eol) {
    r->count = 0;
    r->values.used = 0;
    const char *q = patchbay_json_skip_ws(p, eol);
    if (q >= eol || *q != '{') return "not a JSON object";
    q = patchbay_json_skip_ws(q + 1, eol);
    if (q < eol && *q == '}') return patchbay_json_skip_ws(q + 1, eol) == eol ? NULL : "text after the object";
    for (;;) {
        if (r->count == MAX_COLUMNS) return "more than 1024 keys";
        char *key = r->keys[r->count];
        q = patchbay_json_string(q, eol, key, 256, NULL);
        if (!q) return "a malformed key (keys are strings)";
        q = patchbay_json_skip_ws(q, eol);
        if (q >= eol || *q != ':') return "a key without ':' and a value";
        q = patchbay_json_skip_ws(q + 1, eol);
        size_t at = r->values.used, length = 0;
        if (q < eol && *q == '"') {
            size_t need = (size_t)(eol - q);
            if (r->values.used + need + 1 > r->values.cap) {  /* room for the unescaped string, which is never longer */
                size_t cap = r->values.cap ? r->values.cap : 1 << 12;
                while (cap < r->values.used + need + 1) cap *= 2;
                char *grown = realloc(r->values.data, cap);
                if (!grown) return "out of memory";
                r->values.data = grown;
                r->values.cap = cap;
            }
            q = patchbay_json_string(q, eol, r->values.data + at, need + 1, &length);
            if (!q) return "a malformed string";
            r->values.used += length;
        } else if (eol - q >= 4 && memcmp(q, "null", 4) == 0) {
            q += 4;  /* null: no value */
            length = NULL_LENGTH;
        } else {
            const char *v = q;
            q = patchbay_json_skip_value(q, eol);
            if (!q || q == v) return "a malformed value";
            length = (size_t)(q - v);
            buffer_put(&r->values, v, length);
        }
        r->value_at[r->count] = at;
        r->value_length[r->count] = length;
        for (size_t i = 0; i < r->count; i++) if (strcmp(r->keys[i], key) == 0) return "a key given twice";
        r->count++;
        q = patchbay_json_skip_ws(q, eol);
        if (q < eol && *q == ',') { q = patchbay_json_skip_ws(q + 1, eol); continue; }
        if (q < eol && *q == '}') return patchbay_json_skip_ws(q + 1, eol) == eol ? NULL : "text after the object";
        return q >= eol ? "the object is not closed (a truncated line?)" : "expected ',' or '}'";
    }
}

static patchbay_status extract_jsonl(patchbay_task *task, patchbay_error *error, const char *data, size_t size, const settings *set) {
    const char *end = data + size;
    char *names[MAX_COLUMNS];
    patchbay_str columns[MAX_COLUMNS];
    size_t ncol = 0;
    char why[4400];
    batch b = {0};
    bad_rows bad = { set, NULL, 0 };
    patchbay_status s = PATCHBAY_OK;
    json_record *r = calloc(1, sizeof *r);
    size_t *slot = calloc(MAX_COLUMNS, sizeof(size_t));
    if (!r || !slot) { free(r); free(slot); return fail(error, PATCHBAY_FAILURE_SYSTEM, "out of memory"); }
    /* The columns: those `columns` declares, in its order; else the union of every valid line's keys,
     * in the order they first appear (pass 1). */
    patchbay_column_type types[MAX_COLUMNS];
    for (size_t d = 0; d < set->typed; d++) {
        names[ncol] = strdup(set->typed_name[d]);
        columns[ncol] = patchbay_cstr(names[ncol]);
        types[ncol] = set->typed_type[d];
        ncol++;
    }
    for (const char *p = data; p < end && set->typed == 0;) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        if (patchbay_json_skip_ws(p, eol) != eol && json_record_parse(r, p, eol) == NULL) {
            for (size_t k = 0; k < r->count; k++) {
                size_t i = 0;
                while (i < ncol && strcmp(names[i], r->keys[k]) != 0) i++;
                if (i == ncol && ncol < MAX_COLUMNS) {
                    names[ncol] = strdup(r->keys[k]);
                    columns[ncol] = patchbay_cstr(names[ncol]);
                    types[ncol] = PATCHBAY_TYPE_STRING;
                    ncol++;
                }
            }
        }
        p = eol + (eol < end);
    }
    if (ncol == 0) { s = fail(error, PATCHBAY_FAILURE_CONFIG, "the JSON-lines file has no records with keys"); goto out; }
    b.columns = ncol;
    b.offsets = malloc(sizeof(size_t) * 2 * BATCH_ROWS * ncol);
    s = open_table(task, set, columns, types, ncol, &b.writer);
    if (s != PATCHBAY_OK) { snprintf(why, sizeof why, "cannot open output table '%s' (status %u)", set->table, s); s = fail(error, PATCHBAY_FAILURE_CONFIG, why); goto out; }
    char dropped[256] = "";  /* the first key outside the declared columns, named once in the log */
    unsigned long long dropped_lines = 0;
    /* Pass 2: every line, each value in its column; a key a line lacks is empty. */
    unsigned long long line = 0;
    for (const char *p = data; p < end;) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        line++;
        if (patchbay_json_skip_ws(p, eol) != eol) {
            const char *reason = json_record_parse(r, p, eol);
            if (reason) {
                if ((s = bad_row(task, error, &bad, line, p, (size_t)(eol - p), reason)) != PATCHBAY_OK) goto out;
            } else {
                for (size_t i = 0; i < ncol; i++) slot[i] = (size_t)-1;
                int outside = 0;
                for (size_t k = 0; k < r->count; k++) {
                    size_t i = 0;
                    while (i < ncol && strcmp(names[i], r->keys[k]) != 0) i++;
                    if (i < ncol) slot[i] = k;
                    else if (!outside++ && !dropped[0]) snprintf(dropped, sizeof dropped, "%s", r->keys[k]);
                }
                if (outside) dropped_lines++;
                size_t start = b.values;
                for (size_t i = 0; i < ncol; i++) {
                    if (slot[i] == (size_t)-1 || r->value_length[slot[i]] == NULL_LENGTH) batch_null(&b);
                    else batch_value(&b, r->values.data + r->value_at[slot[i]], r->value_length[slot[i]]);
                }
                char misfit_why[600];
                const char *wrong = set->typed ? misfit(b.bytes.data, b.offsets, start, ncol, types, names, misfit_why, sizeof misfit_why) : NULL;
                if (wrong) {
                    b.values = start;  /* take the row back */
                    if ((s = bad_row(task, error, &bad, line, p, (size_t)(eol - p), wrong)) != PATCHBAY_OK) goto out;
                }
                if (b.values == BATCH_ROWS * ncol && (s = batch_flush(&b)) != PATCHBAY_OK) goto out;
            }
        }
        if (host->is_cancelled(task)) { s = PATCHBAY_CANCELLED; goto out; }
        p = eol + (eol < end);
    }
    s = batch_flush(&b);
    if (s == PATCHBAY_OK) s = bad_rows_finish(task, error, &bad, b.rows);
    if (s == PATCHBAY_OK && dropped_lines) {
        snprintf(why, sizeof why, "%llu line%s had keys outside the declared columns (the first: '%s'); they were dropped", dropped_lines,
                 dropped_lines == 1 ? "" : "s", dropped);
        host->log(task, PATCHBAY_LOG_WARNING, patchbay_cstr(why));
    }
    if (s == PATCHBAY_OK) {
        snprintf(why, sizeof why, "extracted %llu rows from %s into %s (%zu columns)", b.rows, set->path, set->table, ncol);
        host->log(task, PATCHBAY_LOG_INFO, patchbay_cstr(why));
    }
out:
    for (size_t i = 0; i < ncol; i++) free(names[i]);
    free(r->values.data);
    free(r);
    free(slot);
    free(b.bytes.data);
    free(b.offsets);
    return s;
}

static patchbay_status read_parameters(patchbay_task *task, patchbay_error *error, settings *set) {
    patchbay_str params = host->parameters(task);
    char text[64];
    if (patchbay_params_get(params, "path", set->path, sizeof set->path) != PATCHBAY_PARAM_FOUND)
        return fail(error, PATCHBAY_FAILURE_CONFIG, "parameter 'path' (the file to read) is required");
    int found = patchbay_params_get(params, "table", set->table, sizeof set->table);
    if (found == PATCHBAY_PARAM_ABSENT) strcpy(set->table, "in.extracted");
    else if (found != PATCHBAY_PARAM_FOUND) return fail(error, PATCHBAY_FAILURE_CONFIG, "parameter 'table' must be a table name (bucket.table)");
    if (patchbay_params_get(params, "format", set->format, sizeof set->format) != PATCHBAY_PARAM_FOUND) strcpy(set->format, "");
    if (set->format[0] && strcmp(set->format, "csv") != 0 && strcmp(set->format, "jsonl") != 0)
        return fail(error, PATCHBAY_FAILURE_CONFIG, "parameter 'format' must be \"csv\" or \"jsonl\"");
    set->delimiter = ',';
    found = patchbay_params_get(params, "delimiter", text, sizeof text);
    if (found == PATCHBAY_PARAM_FOUND) {
        if (strcmp(text, "\\t") == 0 || strcmp(text, "tab") == 0) set->delimiter = '\t';
        else if (strlen(text) == 1 && text[0] != '"' && text[0] != '\n' && text[0] != '\r') set->delimiter = text[0];
        else return fail(error, PATCHBAY_FAILURE_CONFIG, "parameter 'delimiter' must be one character (',', ';', '|'), or \"tab\"");
    } else if (found != PATCHBAY_PARAM_ABSENT) return fail(error, PATCHBAY_FAILURE_CONFIG, "parameter 'delimiter' must be one character");
    set->quote = '"';
    found = patchbay_params_get(params, "quote", text, sizeof text);
    if (found == PATCHBAY_PARAM_FOUND) {
        if (strcmp(text, "none") == 0) set->quote = 0;
        else if (strlen(text) == 1 && text[0] != set->delimiter && text[0] != '\n' && text[0] != '\r') set->quote = text[0];
        else return fail(error, PATCHBAY_FAILURE_CONFIG, "parameter 'quote' must be one character other than the delimiter, or \"none\"");
    } else if (found != PATCHBAY_PARAM_ABSENT) return fail(error, PATCHBAY_FAILURE_CONFIG, "parameter 'quote' must be one character, or \"none\"");
    set->encoding = 0;
    found = patchbay_params_get(params, "encoding", text, sizeof text);
    if (found == PATCHBAY_PARAM_FOUND) {
        for (char *c = text; *c; c++) if (*c >= 'A' && *c <= 'Z') *c = (char)(*c - 'A' + 'a');
        if (strcmp(text, "utf-8") == 0 || strcmp(text, "utf8") == 0) set->encoding = 0;
        else if (strcmp(text, "latin1") == 0 || strcmp(text, "iso-8859-1") == 0) set->encoding = 1;
        else if (strcmp(text, "windows-1252") == 0 || strcmp(text, "cp1252") == 0) set->encoding = 2;
        else return fail(error, PATCHBAY_FAILURE_CONFIG, "parameter 'encoding' must be \"utf-8\", \"latin1\" or \"windows-1252\"");
    } else if (found != PATCHBAY_PARAM_ABSENT) return fail(error, PATCHBAY_FAILURE_CONFIG, "parameter 'encoding' must be a string");
    set->header = 1;
    if (patchbay_params_boolean(params, "header", &set->header) < 0) return fail(error, PATCHBAY_FAILURE_CONFIG, "parameter 'header' must be true or false");
    set->on_bad_row = 0;
    found = patchbay_params_get(params, "onBadRow", text, sizeof text);
    if (found == PATCHBAY_PARAM_FOUND) {
        if (strcmp(text, "fail") == 0) set->on_bad_row = 0;
        else if (strcmp(text, "skip") == 0) set->on_bad_row = 1;
        else if (strcmp(text, "reject") == 0) set->on_bad_row = 2;
        else return fail(error, PATCHBAY_FAILURE_CONFIG, "parameter 'onBadRow' must be \"fail\", \"skip\" or \"reject\"");
    } else if (found != PATCHBAY_PARAM_ABSENT) return fail(error, PATCHBAY_FAILURE_CONFIG, "parameter 'onBadRow' must be \"fail\", \"skip\" or \"reject\"");
    set->max_bad_share = 1;
    found = patchbay_params_get(params, "maxBadShare", text, sizeof text);
    if (found == PATCHBAY_PARAM_FOUND) {
        char *stop;
        set->max_bad_share = strtod(text, &stop);
        if (*stop || set->max_bad_share < 0 || set->max_bad_share > 1)
            return fail(error, PATCHBAY_FAILURE_CONFIG, "parameter 'maxBadShare' must be a number from 0 to 1 (0.01 is 1%)");
    } else if (found != PATCHBAY_PARAM_ABSENT) return fail(error, PATCHBAY_FAILURE_CONFIG, "parameter 'maxBadShare' must be a number from 0 to 1");
    set->typed = 0;
    patchbay_str declared;
    if (patchbay_params_member(params, "columns", &declared) == PATCHBAY_PARAM_FOUND) {
        const char *cursor = NULL;
        patchbay_str value;
        size_t key_length = 0;
        char why[512], word[32];
        while ((found = patchbay_json_members(declared, &cursor, set->typed_name[set->typed], sizeof set->typed_name[0], &value, &key_length))
               == PATCHBAY_PARAM_FOUND) {
            const char *name = set->typed_name[set->typed];
            if (set->typed == MAX_COLUMNS || key_length >= sizeof set->typed_name[0] || key_length == 0)
                return fail(error, PATCHBAY_FAILURE_CONFIG, "parameter 'columns' names an empty or too long column, or more than 1024");
            size_t used = 0;
            size_t t = sizeof type_names / sizeof type_names[0];
            if (value.length >= 2 && value.data[0] == '"' && patchbay_json_string(value.data, value.data + value.length, word, sizeof word, &used)) {
                for (t = 0; t < sizeof type_names / sizeof type_names[0] && strcmp(type_names[t].word, word) != 0; t++) {}
            }
            if (t == sizeof type_names / sizeof type_names[0]) {
                snprintf(why, sizeof why, "parameter 'columns': column '%s' has type %.*s; a type is one of string, integer, decimal, float, boolean, date, timestamp, json",
                         name, (int)(value.length > 40 ? 40 : value.length), value.data);
                return fail(error, PATCHBAY_FAILURE_CONFIG, why);
            }
            for (size_t i = 0; i < set->typed; i++) {
                if (strcmp(set->typed_name[i], name) == 0) {
                    snprintf(why, sizeof why, "parameter 'columns' names column '%s' twice", name);
                    return fail(error, PATCHBAY_FAILURE_CONFIG, why);
                }
            }
            set->typed_type[set->typed++] = type_names[t].type;
        }
        if (found != PATCHBAY_PARAM_ABSENT) return fail(error, PATCHBAY_FAILURE_CONFIG, "parameter 'columns' must be an object: column name → type");
        if (set->typed > 0 && !host_has_1_3())
            return fail(error, PATCHBAY_FAILURE_CONFIG, "parameter 'columns' needs a host of ABI 1.3 or later (typed columns); this host is older");
    }
    return PATCHBAY_OK;
}


/* The format: as given, else by extension (.jsonl, .ndjson), else by content (a first line that opens an object). */
static void choose_format(settings *set, const char *data, size_t size) {
    if (set->format[0]) return;
    size_t n = strlen(set->path);
    int jsonl = (n > 6 && strcmp(set->path + n - 6, ".jsonl") == 0) || (n > 7 && strcmp(set->path + n - 7, ".ndjson") == 0);
    int csv = (n > 4 && strcmp(set->path + n - 4, ".csv") == 0) || (n > 4 && strcmp(set->path + n - 4, ".tsv") == 0);
    if (!jsonl && !csv) {
        const char *p = patchbay_json_skip_ws(data, data + size);
        jsonl = p < data + size && *p == '{';
    }
    strcpy(set->format, jsonl ? "jsonl" : "csv");
    if (!jsonl && n > 4 && strcmp(set->path + n - 4, ".tsv") == 0 && set->delimiter == ',') set->delimiter = '\t';
}

static patchbay_status check(patchbay_task *task, patchbay_error *error) {
    settings *set = calloc(1, sizeof *set);  /* 256 KiB of declared column names: not on the stack */
    if (!set) return fail(error, PATCHBAY_FAILURE_SYSTEM, "out of memory");
    char why[4300];
    patchbay_status s = read_parameters(task, error, set);
    if (s == PATCHBAY_OK) {
        FILE *f = fopen(set->path, "rb");
        if (!f) {
            snprintf(why, sizeof why, "cannot open %s: %s", set->path, strerror(errno));
            s = fail(error, PATCHBAY_FAILURE_CONFIG, why);
        } else {
            fclose(f);
        }
    }
    free(set);
    return s;
}

static patchbay_status extract(patchbay_task *task, patchbay_error *error, settings *set) {
    char why[4400];
    if (read_parameters(task, error, set) != PATCHBAY_OK) return PATCHBAY_ERROR;
    size_t size = 0;
    char *data = slurp(set->path, &size, why, sizeof why);
    if (!data) return fail(error, PATCHBAY_FAILURE_CONFIG, why);
    if (set->encoding != 0) {
        const char *bad = NULL;
        size_t converted_size = 0;
        char *converted = to_utf8(data, size, set->encoding, &converted_size, &bad);
        if (!converted) {
            if (bad) snprintf(why, sizeof why, "%s:%llu: byte 0x%02X is not a character of windows-1252", set->path, 1 + newlines(data, bad), (unsigned char)*bad);
            else snprintf(why, sizeof why, "%s is too large to convert in memory", set->path);
            free(data);
            return fail(error, PATCHBAY_FAILURE_CONFIG, why);
        }
        free(data);
        data = converted;
        size = converted_size;
    }
    /* A UTF-8 byte-order mark is not part of the first column's name. */
    const char *text = data;
    if (size >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0) { text += 3; size -= 3; }
    const char *invalid = invalid_utf8(text, text + size);
    if (invalid) {
        snprintf(why, sizeof why, "%s:%llu: byte 0x%02X is not UTF-8 (if the file is latin1 or windows-1252, set \"encoding\")", set->path,
                 1 + newlines(text, invalid), (unsigned char)*invalid);
        free(data);
        return fail(error, PATCHBAY_FAILURE_CONFIG, why);
    }
    choose_format(set, text, size);
    patchbay_status s = strcmp(set->format, "csv") == 0 ? extract_csv(task, error, text, size, set)
                                                       : extract_jsonl(task, error, text, size, set);
    free(data);
    return s;
}

static patchbay_status run(patchbay_task *task, patchbay_error *error) {
    settings *set = calloc(1, sizeof *set);
    if (!set) return fail(error, PATCHBAY_FAILURE_SYSTEM, "out of memory");
    patchbay_status s = extract(task, error, set);
    free(set);
    return s;
}

static const char *const no_credentials[] = { NULL };

static const patchbay_connector descriptor = {
    .struct_size = sizeof(patchbay_connector),
    .abi_version = PATCHBAY_ABI_VERSION,
    .id = "dev.patchbay.file-extract",
    .version = "1.2.0",
    .display_name = "File extractor (CSV, JSON lines)",
    .description = "Reads a CSV or JSON-lines file into an output table.",
    .parameters_schema =
        "{\"type\":\"object\",\"required\":[\"path\"],\"additionalProperties\":false,"
        "\"properties\":{\"path\":{\"type\":\"string\",\"description\":\"absolute path of the file to read\"},"
        "\"table\":{\"type\":\"string\",\"default\":\"in.extracted\"},"
        "\"format\":{\"type\":\"string\",\"enum\":[\"csv\",\"jsonl\"],\"description\":\"default: by extension, else by content\"},"
        "\"delimiter\":{\"type\":\"string\",\"description\":\"CSV: one character, or tab (default ,; .tsv: tab)\"},"
        "\"header\":{\"type\":\"boolean\",\"description\":\"CSV: the first record names the columns (default true)\"},"
        "\"quote\":{\"type\":\"string\",\"description\":\"CSV: the quote character (default \\\"), or none\"},"
        "\"encoding\":{\"type\":\"string\",\"enum\":[\"utf-8\",\"latin1\",\"windows-1252\"],\"description\":\"the file's text encoding (default utf-8)\"},"
        "\"onBadRow\":{\"type\":\"string\",\"enum\":[\"fail\",\"skip\",\"reject\"],\"description\":\"reject: into <table>_rejected\"},"
        "\"maxBadShare\":{\"type\":\"number\",\"minimum\":0,\"maximum\":1},"
        "\"columns\":{\"type\":\"object\",\"description\":\"column name to type: string, integer, decimal, float, boolean, date, timestamp, json\","
        "\"additionalProperties\":{\"type\":\"string\",\"enum\":[\"string\",\"integer\",\"decimal\",\"float\",\"boolean\",\"date\",\"timestamp\",\"json\"]}}}}",
    .credential_names = no_credentials,
    .credential_count = 0,
    .pattern = PATCHBAY_PATTERN_EXTRACTION,
    .capabilities = PATCHBAY_CAP_WRITES_TABLES,
    .check = check,
    .run = run,
    .cancel = NULL,
    /* No outputs; the table its `table` parameter names, and with onBadRow: reject, its rejects. */
    .declares = PATCHBAY_DECLARES_OUTPUTS | PATCHBAY_DECLARES_TABLES,
    .output_tables = (const char *const[]){ "{table}", "{table}_rejected" },
    .output_table_count = 2,
};

uint32_t patchbay_abi_version(void) { return PATCHBAY_ABI_VERSION; }

const patchbay_connector *patchbay_connector_entry(const patchbay_host *h) {
    host = h;
    return &descriptor;
}
