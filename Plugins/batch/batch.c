/* dev.patchbay.batch — the preparation pattern: reads an input table and writes it as batches, one row per
 * batch, each batch's rows as one JSON payload, ready for an egression to send.
 *
 * Parameters: {"input": "source", "table": "out.batches", "size": 100, "wrap": "records"}
 *   input  the input table to read (default "source")
 *   table  the output table (default "out.batches"): batch (integer, from 1), rows (integer), payload (json)
 *   size   rows per batch (default 100, at most 100000)
 *   wrap   the envelope: absent, the payload is a JSON array of row objects; "records" makes it
 *          {"records": [...]}
 * Each row is an object keyed by column. Values keep their column's type (ABI 1.3): integers, floats and
 * booleans are JSON numbers and booleans, decimals stay strings (no digit lost), a json column is embedded,
 * NULL is null, the rest are strings. Outputs: batches, rows.
 *
 * Built with: cc -shared -fPIC -O2 -I../../SDK/include batch.c -o libbatch.so
 * Depends only on libc.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "patchbay/connector.h"
#include "patchbay/params.h"

static const patchbay_host *host;

static patchbay_status fail(patchbay_error *error, patchbay_failure_class cls, const char *message) {
    host->set_error(error, cls, patchbay_cstr(message), patchbay_cstr(""));
    return PATCHBAY_ERROR;
}

/* A growable text buffer; `failed` is set once an allocation fails. */
typedef struct { char *data; size_t used, cap; int failed; } text;

static void put(text *t, const char *src, size_t n) {
    if (t->failed) return;
    if (t->used + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 1 << 14;
        while (cap < t->used + n + 1) cap *= 2;
        char *grown = realloc(t->data, cap);
        if (!grown) { t->failed = 1; return; }
        t->data = grown;
        t->cap = cap;
    }
    memcpy(t->data + t->used, src, n);
    t->used += n;
}

static void put_c(text *t, const char *s) { put(t, s, strlen(s)); }

/* A JSON string: quotes, backslashes and control characters escaped (the text is UTF-8 already). */
static void put_string(text *t, const char *s, size_t n) {
    put(t, "\"", 1);
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c != '"' && c != '\\' && c >= 0x20) continue;
        put(t, s + start, i - start);
        char escaped[8];
        switch (c) {
        case '"': put_c(t, "\\\""); break;
        case '\\': put_c(t, "\\\\"); break;
        case '\n': put_c(t, "\\n"); break;
        case '\r': put_c(t, "\\r"); break;
        case '\t': put_c(t, "\\t"); break;
        default: snprintf(escaped, sizeof escaped, "\\u%04x", c); put_c(t, escaped);
        }
        start = i + 1;
    }
    put(t, s + start, n - start);
    put(t, "\"", 1);
}

/* One value by its column's type. */
static void put_value(text *t, patchbay_str v, int is_null, patchbay_column_type type) {
    if (is_null) { put_c(t, "null"); return; }
    switch (type) {
    case PATCHBAY_TYPE_INTEGER:
    case PATCHBAY_TYPE_BOOLEAN:
    case PATCHBAY_TYPE_JSON:
        put(t, v.data, v.length);  /* the runner checked each is in its one form: valid JSON as it is */
        break;
    case PATCHBAY_TYPE_FLOAT:
        if ((v.length == 3 && memcmp(v.data, "NaN", 3) == 0) || (v.length >= 8 && memcmp(v.data + v.length - 8, "Infinity", 8) == 0))
            put_string(t, v.data, v.length);  /* JSON has no NaN or Infinity */
        else
            put(t, v.data, v.length);
        break;
    default:
        put_string(t, v.data, v.length);
    }
}

typedef struct {
    char input[256], table[256], wrap[256];
    long long size;
} settings;

static patchbay_status read_parameters(patchbay_task *task, patchbay_error *error, settings *set) {
    patchbay_str params = host->parameters(task);
    strcpy(set->input, "source");
    strcpy(set->table, "out.batches");
    set->wrap[0] = 0;
    set->size = 100;
    const char *names[] = { "input", "table", "wrap" };
    char *fields[] = { set->input, set->table, set->wrap };
    for (int i = 0; i < 3; i++) {
        int found = patchbay_params_get(params, names[i], fields[i], 256);
        if (found != PATCHBAY_PARAM_FOUND && found != PATCHBAY_PARAM_ABSENT) {
            char why[128];
            snprintf(why, sizeof why, "parameter '%s' must be text of at most 255 bytes", names[i]);
            return fail(error, PATCHBAY_FAILURE_CONFIG, why);
        }
    }
    if (patchbay_params_integer(params, "size", &set->size) < 0 || set->size < 1 || set->size > 100000)
        return fail(error, PATCHBAY_FAILURE_CONFIG, "parameter 'size' must be a whole number of rows from 1 to 100000");
    return PATCHBAY_OK;
}

/* Writes the batch held in `payload` (its rows so far) as one output row. */
static patchbay_status flush(patchbay_table_writer *writer, text *payload, const settings *set, long long batch, long long rows) {
    put_c(payload, set->wrap[0] ? "]}" : "]");
    if (payload->failed) return PATCHBAY_ERROR;
    char batch_text[32], rows_text[32];
    snprintf(batch_text, sizeof batch_text, "%lld", batch);
    snprintf(rows_text, sizeof rows_text, "%lld", rows);
    patchbay_str row[3] = { patchbay_cstr(batch_text), patchbay_cstr(rows_text), { payload->data, payload->used } };
    return host->write_records(writer, row, 1);
}

static void open_payload(text *payload, const settings *set) {
    payload->used = 0;
    if (set->wrap[0]) {
        put_c(payload, "{");
        put_string(payload, set->wrap, strlen(set->wrap));
        put_c(payload, ":[");
    } else {
        put_c(payload, "[");
    }
}

static patchbay_status run(patchbay_task *task, patchbay_error *error) {
    settings set;
    char why[512];
    if (read_parameters(task, error, &set) != PATCHBAY_OK) return PATCHBAY_ERROR;
    if (host->struct_size < PATCHBAY_HOST_SIZE_1_3) return fail(error, PATCHBAY_FAILURE_CONFIG, "this host is older than ABI 1.3 (typed tables)");
    patchbay_table_reader *reader = NULL;
    patchbay_status s = host->open_input(task, patchbay_cstr(set.input), &reader);
    if (s != PATCHBAY_OK) {
        snprintf(why, sizeof why, "cannot open the input table '%s' (status %u); give it in the task's inputs", set.input, s);
        return fail(error, PATCHBAY_FAILURE_CONFIG, why);
    }
    const patchbay_str *columns = NULL;
    const patchbay_column_type *types = NULL;
    size_t width = 0, type_count = 0;
    host->input_columns(reader, &columns, &width);
    if (host->input_column_types(reader, &types, &type_count) != PATCHBAY_OK || type_count != width) types = NULL;
    patchbay_str out_columns[3] = { patchbay_cstr("batch"), patchbay_cstr("rows"), patchbay_cstr("payload") };
    patchbay_column_type out_types[3] = { PATCHBAY_TYPE_INTEGER, PATCHBAY_TYPE_INTEGER, PATCHBAY_TYPE_JSON };
    patchbay_table_writer *writer = NULL;
    s = host->open_output_typed(task, patchbay_cstr(set.table), out_columns, out_types, 3, &writer);
    if (s != PATCHBAY_OK) {
        host->close_input(reader);
        snprintf(why, sizeof why, "cannot open the output table '%s' (status %u)", set.table, s);
        return fail(error, PATCHBAY_FAILURE_CONFIG, why);
    }
    /* Each column's key, escaped once. */
    text keys = {0};
    size_t *key_at = calloc(width + 1, sizeof(size_t));
    for (size_t c = 0; c < width && key_at; c++) {
        key_at[c] = keys.used;
        put_string(&keys, columns[c].data, columns[c].length);
        put_c(&keys, ":");
    }
    if (key_at) key_at[width] = keys.used;
    text payload = {0};
    long long batch = 0, in_batch = 0, total = 0;
    const patchbay_str *values = NULL;
    const uint8_t *nulls = NULL;
    size_t got = 0;
    open_payload(&payload, &set);
    while (key_at && (s = host->read_records_nullable(reader, &values, &nulls, &got)) == PATCHBAY_OK) {
        for (size_t r = 0; r < got; r++) {
            if (in_batch > 0) put_c(&payload, ",");
            put_c(&payload, "{");
            for (size_t c = 0; c < width; c++) {
                if (c > 0) put_c(&payload, ",");
                put(&payload, keys.data + key_at[c], key_at[c + 1] - key_at[c]);
                size_t i = r * width + c;
                put_value(&payload, values[i], nulls && nulls[i], types ? types[c] : PATCHBAY_TYPE_STRING);
            }
            put_c(&payload, "}");
            in_batch++;
            total++;
            if (in_batch == set.size) {
                if ((s = flush(writer, &payload, &set, ++batch, in_batch)) != PATCHBAY_OK) goto out;
                in_batch = 0;
                open_payload(&payload, &set);
            }
        }
        if (host->is_cancelled(task)) { s = PATCHBAY_CANCELLED; goto out; }
    }
    if (s == PATCHBAY_END && in_batch > 0) s = flush(writer, &payload, &set, ++batch, in_batch);
    else if (s == PATCHBAY_END) s = PATCHBAY_OK;
out:
    host->close_input(reader);
    free(keys.data);
    free(key_at);
    free(payload.data);
    if (s == PATCHBAY_CANCELLED) return s;
    if (s != PATCHBAY_OK) {
        snprintf(why, sizeof why, "the batches could not be written (status %u)%s", s, payload.failed || !key_at ? ": out of memory" : "");
        return fail(error, PATCHBAY_FAILURE_SYSTEM, why);
    }
    s = host->close_output(writer);
    if (s != PATCHBAY_OK) return fail(error, PATCHBAY_FAILURE_SYSTEM, "the batches could not be finished");
    char number[32];
    snprintf(number, sizeof number, "%lld", batch);
    host->set_output(task, patchbay_cstr("batches"), patchbay_cstr(number), 0);
    snprintf(number, sizeof number, "%lld", total);
    host->set_output(task, patchbay_cstr("rows"), patchbay_cstr(number), 0);
    snprintf(why, sizeof why, "%lld rows of %s in %lld batches of at most %lld into %s", total, set.input, batch, set.size, set.table);
    host->log(task, PATCHBAY_LOG_INFO, patchbay_cstr(why));
    return PATCHBAY_OK;
}

static const patchbay_connector descriptor = {
    .struct_size = sizeof(patchbay_connector),
    .abi_version = PATCHBAY_ABI_VERSION,
    .id = "dev.patchbay.batch",
    .version = "1.0.0",
    .display_name = "Batch (preparation)",
    .description = "Writes an input table as batches of rows, each one JSON payload, for an egression to send.",
    .parameters_schema =
        "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
        "\"input\":{\"type\":\"string\",\"default\":\"source\",\"description\":\"the input table to read\"},"
        "\"table\":{\"type\":\"string\",\"default\":\"out.batches\",\"description\":\"the output table: batch, rows, payload\"},"
        "\"size\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":100000,\"default\":100,\"description\":\"rows per batch\"},"
        "\"wrap\":{\"type\":\"string\",\"description\":\"envelope key: {KEY: [rows]} instead of [rows]\"}}}",
    .pattern = PATCHBAY_PATTERN_PREPARATION,
    .capabilities = PATCHBAY_CAP_READS_TABLES | PATCHBAY_CAP_WRITES_TABLES,
    .run = run,
    .declares = PATCHBAY_DECLARES_OUTPUTS | PATCHBAY_DECLARES_TABLES,
    .output_names = (const char *const[]){ "batches", "rows" },
    .output_count = 2,
    .output_tables = (const char *const[]){ "{table}" },
    .output_table_count = 1,
};

uint32_t patchbay_abi_version(void) { return PATCHBAY_ABI_VERSION; }

const patchbay_connector *patchbay_connector_entry(const patchbay_host *h) {
    host = h;
    return &descriptor;
}
