/* dev.patchbay.file-extract — reads a CSV or JSON-lines file into an output table.
 *
 * Parameters: {"path": "/data/orders.csv", "table": "in.orders", "format": "csv" | "jsonl"}
 *   format defaults to the file's extension (.jsonl / .ndjson → jsonl, else csv).
 * CSV: RFC 4180, first row is the header. JSON lines: one flat object per line;
 * the first line's keys are the columns, later lines may omit keys (empty value)
 * but may not add new ones.
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

static patchbay_status batch_flush(batch *b) {
    if (b->values == 0) return PATCHBAY_OK;
    patchbay_str *vals = malloc(sizeof(patchbay_str) * b->values);
    if (!vals) return PATCHBAY_ERROR;
    for (size_t i = 0; i < b->values; i++) {
        vals[i].data = b->bytes.data + b->offsets[2 * i];
        vals[i].length = b->offsets[2 * i + 1];
    }
    patchbay_status s = host->write_records(b->writer, vals, b->values / b->columns);
    free(vals);
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

/* Parses one CSV field at p; appends it to `out` via batch_value or collects it. */
static const char *csv_field(const char *p, const char *end, buffer *scratch, int *ok) {
    *ok = 1;
    scratch->used = 0;
    if (p < end && *p == '"') {
        p++;
        for (;;) {
            if (p >= end) { *ok = 0; return p; }
            if (*p == '"') {
                if (p + 1 < end && p[1] == '"') { buffer_put(scratch, "\"", 1); p += 2; continue; }
                p++;
                break;
            }
            const char *q = p;
            while (q < end && *q != '"') q++;
            buffer_put(scratch, p, (size_t)(q - p));
            p = q;
        }
    } else {
        const char *q = p;
        while (q < end && *q != ',' && *q != '\n' && *q != '\r') q++;
        buffer_put(scratch, p, (size_t)(q - p));
        p = q;
    }
    return p;
}

static patchbay_status extract_csv(patchbay_task *task, patchbay_error *error, const char *data, size_t size,
                                   const char *table, const char *path) {
    const char *p = data, *end = data + size;
    buffer scratch = {0};
    char *names[MAX_COLUMNS];
    patchbay_str columns[MAX_COLUMNS];
    size_t ncol = 0;
    char why[4400];
    int ok;
    /* Header. */
    for (;;) {
        p = csv_field(p, end, &scratch, &ok);
        if (!ok || ncol == MAX_COLUMNS) { free(scratch.data); return fail(error, PATCHBAY_FAILURE_CONFIG, "the CSV header is malformed or has too many columns"); }
        names[ncol] = strndup(scratch.data ? scratch.data : "", scratch.used);
        columns[ncol] = patchbay_cstr(names[ncol]);
        ncol++;
        if (p < end && *p == ',') { p++; continue; }
        if (p < end && *p == '\r') p++;
        if (p < end && *p == '\n') p++;
        break;
    }
    batch b = {0};
    b.columns = ncol;
    b.offsets = malloc(sizeof(size_t) * 2 * BATCH_ROWS * ncol);
    patchbay_status s = host->open_output(task, patchbay_cstr(table), columns, ncol, &b.writer);
    for (size_t i = 0; i < ncol; i++) free(names[i]);
    if (s != PATCHBAY_OK) { free(scratch.data); free(b.offsets); snprintf(why, sizeof why, "cannot open output table '%s' (status %u)", table, s); return fail(error, PATCHBAY_FAILURE_CONFIG, why); }
    unsigned long long line = 1;
    while (p < end) {
        line++;
        if (*p == '\n' || *p == '\r') { while (p < end && (*p == '\n' || *p == '\r')) p++; continue; } /* blank line */
        size_t fields = 0;
        for (;;) {
            p = csv_field(p, end, &scratch, &ok);
            if (!ok) { snprintf(why, sizeof why, "%s: record %llu has an unclosed quoted field", path, line); s = fail(error, PATCHBAY_FAILURE_CONFIG, why); goto out; }
            if (fields < ncol) batch_value(&b, scratch.data ? scratch.data : "", scratch.used);
            fields++;
            if (p < end && *p == ',') { p++; continue; }
            if (p < end && *p == '\r') p++;
            if (p < end && *p == '\n') p++;
            break;
        }
        if (fields != ncol) {
            snprintf(why, sizeof why, "%s: record %llu has %zu fields; the header has %zu", path, line, fields, ncol);
            s = fail(error, PATCHBAY_FAILURE_CONFIG, why);
            goto out;
        }
        if (b.values == BATCH_ROWS * ncol && (s = batch_flush(&b)) != PATCHBAY_OK) goto out;
        if (host->is_cancelled(task)) { s = PATCHBAY_CANCELLED; goto out; }
    }
    s = batch_flush(&b);
    if (s == PATCHBAY_OK) {
        snprintf(why, sizeof why, "extracted %llu rows from %s into %s", b.rows, path, table);
        host->log(task, PATCHBAY_LOG_INFO, patchbay_cstr(why));
    }
out:
    free(scratch.data);
    free(b.bytes.data);
    free(b.offsets);
    return s;
}

static patchbay_status extract_jsonl(patchbay_task *task, patchbay_error *error, const char *data, size_t size,
                                     const char *table, const char *path) {
    const char *p = data, *end = data + size;
    char *names[MAX_COLUMNS];
    patchbay_str columns[MAX_COLUMNS];
    size_t ncol = 0;
    char why[4400], key[256];
    batch b = {0};
    patchbay_status s = PATCHBAY_OK;
    buffer value = {0};
    size_t *slot_off = NULL, *slot_len = NULL;
    unsigned long long line = 0;
    buffer line_values = {0};
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        line++;
        const char *q = patchbay_json_skip_ws(p, eol);
        if (q == eol) { p = eol + (eol < end); continue; }
        if (*q != '{') { snprintf(why, sizeof why, "%s:%llu: expected a JSON object", path, line); s = fail(error, PATCHBAY_FAILURE_CONFIG, why); goto out; }
        q = patchbay_json_skip_ws(q + 1, eol);
        int first = (b.writer == NULL);
        if (!first) { for (size_t i = 0; i < ncol; i++) slot_len[i] = (size_t)-1; line_values.used = 0; }
        while (q < eol && *q != '}') {
            q = patchbay_json_string(q, eol, key, sizeof key, NULL);
            if (!q) { snprintf(why, sizeof why, "%s:%llu: malformed key", path, line); s = fail(error, PATCHBAY_FAILURE_CONFIG, why); goto out; }
            q = patchbay_json_skip_ws(q, eol);
            if (q >= eol || *q != ':') { snprintf(why, sizeof why, "%s:%llu: expected ':' after \"%s\"", path, line, key); s = fail(error, PATCHBAY_FAILURE_CONFIG, why); goto out; }
            q = patchbay_json_skip_ws(q + 1, eol);
            const char *v = q;
            size_t vlen = 0;
            value.used = 0;
            if (q < eol && *q == '"') {
                size_t need = (size_t)(eol - q);
                if (value.cap < need + 1) { free(value.data); value.data = malloc(need + 1); value.cap = need + 1; }
                q = patchbay_json_string(q, eol, value.data, value.cap, &vlen);
                v = value.data;
            } else {
                q = patchbay_json_skip_value(q, eol);
                if (q) vlen = (size_t)(q - v);
            }
            if (!q) { snprintf(why, sizeof why, "%s:%llu: malformed value of \"%s\"", path, line, key); s = fail(error, PATCHBAY_FAILURE_CONFIG, why); goto out; }
            if (first) {
                if (ncol == MAX_COLUMNS) { s = fail(error, PATCHBAY_FAILURE_CONFIG, "too many keys"); goto out; }
                names[ncol] = strdup(key);
                columns[ncol] = patchbay_cstr(names[ncol]);
                buffer_put(&line_values, v, vlen);
                ncol++;
                if (!slot_off) { slot_off = calloc(MAX_COLUMNS, sizeof(size_t)); slot_len = calloc(MAX_COLUMNS, sizeof(size_t)); }
                slot_off[ncol - 1] = line_values.used - vlen;
                slot_len[ncol - 1] = vlen;
            } else {
                size_t i = 0;
                while (i < ncol && strcmp(columns[i].data, key) != 0) i++;
                if (i == ncol) { snprintf(why, sizeof why, "%s:%llu: key \"%s\" is not among the first line's keys", path, line, key); s = fail(error, PATCHBAY_FAILURE_CONFIG, why); goto out; }
                slot_off[i] = line_values.used;
                slot_len[i] = vlen;
                buffer_put(&line_values, v, vlen);
            }
            q = patchbay_json_skip_ws(q, eol);
            if (q < eol && *q == ',') q = patchbay_json_skip_ws(q + 1, eol);
        }
        if (first) {
            b.columns = ncol;
            b.offsets = malloc(sizeof(size_t) * 2 * BATCH_ROWS * ncol);
            s = host->open_output(task, patchbay_cstr(table), columns, ncol, &b.writer);
            if (s != PATCHBAY_OK) { snprintf(why, sizeof why, "cannot open output table '%s' (status %u)", table, s); s = fail(error, PATCHBAY_FAILURE_CONFIG, why); goto out; }
        }
        for (size_t i = 0; i < ncol; i++) {
            if (slot_len[i] == (size_t)-1) batch_value(&b, "", 0);
            else batch_value(&b, line_values.data + slot_off[i], slot_len[i]);
        }
        line_values.used = 0;
        if (b.values == BATCH_ROWS * ncol && (s = batch_flush(&b)) != PATCHBAY_OK) goto out;
        p = eol + (eol < end);
    }
    if (!b.writer) { s = fail(error, PATCHBAY_FAILURE_CONFIG, "the JSON-lines file has no records"); goto out; }
    s = batch_flush(&b);
    if (s == PATCHBAY_OK) {
        snprintf(why, sizeof why, "extracted %llu rows from %s into %s", b.rows, path, table);
        host->log(task, PATCHBAY_LOG_INFO, patchbay_cstr(why));
    }
out:
    for (size_t i = 0; i < ncol; i++) free(names[i]);
    free(value.data);
    free(line_values.data);
    free(slot_off);
    free(slot_len);
    free(b.bytes.data);
    free(b.offsets);
    return s;
}

static patchbay_status read_parameters(patchbay_task *task, patchbay_error *error, char *path, char *table, char *format) {
    patchbay_str params = host->parameters(task);
    if (patchbay_params_get(params, "path", path, 4096) != 1) return fail(error, PATCHBAY_FAILURE_CONFIG, "parameter 'path' (the file to read) is required");
    if (patchbay_params_get(params, "table", table, 256) != 1) strcpy(table, "in.extracted");
    if (patchbay_params_get(params, "format", format, 16) != 1) {
        size_t n = strlen(path);
        int jsonl = (n > 6 && strcmp(path + n - 6, ".jsonl") == 0) || (n > 7 && strcmp(path + n - 7, ".ndjson") == 0);
        strcpy(format, jsonl ? "jsonl" : "csv");
    }
    if (strcmp(format, "csv") != 0 && strcmp(format, "jsonl") != 0) return fail(error, PATCHBAY_FAILURE_CONFIG, "parameter 'format' must be \"csv\" or \"jsonl\"");
    return PATCHBAY_OK;
}

static patchbay_status check(patchbay_task *task, patchbay_error *error) {
    char path[4096], table[256], format[16], why[4300];
    if (read_parameters(task, error, path, table, format) != PATCHBAY_OK) return PATCHBAY_ERROR;
    FILE *f = fopen(path, "rb");
    if (!f) { snprintf(why, sizeof why, "cannot open %s: %s", path, strerror(errno)); return fail(error, PATCHBAY_FAILURE_CONFIG, why); }
    fclose(f);
    return PATCHBAY_OK;
}

static patchbay_status run(patchbay_task *task, patchbay_error *error) {
    char path[4096], table[256], format[16], why[4400];
    if (read_parameters(task, error, path, table, format) != PATCHBAY_OK) return PATCHBAY_ERROR;
    size_t size = 0;
    char *data = slurp(path, &size, why, sizeof why);
    if (!data) return fail(error, PATCHBAY_FAILURE_CONFIG, why);
    patchbay_status s = strcmp(format, "csv") == 0 ? extract_csv(task, error, data, size, table, path)
                                                  : extract_jsonl(task, error, data, size, table, path);
    free(data);
    return s;
}

static const char *const no_credentials[] = { NULL };

static const patchbay_connector descriptor = {
    .struct_size = sizeof(patchbay_connector),
    .abi_version = PATCHBAY_ABI_VERSION,
    .id = "dev.patchbay.file-extract",
    .version = "1.0.0",
    .display_name = "File extractor (CSV, JSON lines)",
    .description = "Reads a CSV or JSON-lines file into an output table.",
    .parameters_schema =
        "{\"type\":\"object\",\"required\":[\"path\"],\"additionalProperties\":false,"
        "\"properties\":{\"path\":{\"type\":\"string\",\"description\":\"absolute path of the file to read\"},"
        "\"table\":{\"type\":\"string\",\"default\":\"in.extracted\"},"
        "\"format\":{\"type\":\"string\",\"enum\":[\"csv\",\"jsonl\"]}}}",
    .credential_names = no_credentials,
    .credential_count = 0,
    .pattern = PATCHBAY_PATTERN_EXTRACTION,
    .capabilities = PATCHBAY_CAP_WRITES_TABLES,
    .check = check,
    .run = run,
    .cancel = NULL,
};

uint32_t patchbay_abi_version(void) { return PATCHBAY_ABI_VERSION; }

const patchbay_connector *patchbay_connector_entry(const patchbay_host *h) {
    host = h;
    return &descriptor;
}
