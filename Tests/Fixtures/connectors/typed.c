/* test.typed — writes and reads typed columns with NULLs through the ABI 1.3 functions.
 * {"mode": "write"}: opens out.typed (integer, decimal, boolean, date, timestamp, string, json), first
 *   writes a batch with a malformed decimal (output "bad_batch" = its status, expected INVALID_ARGUMENT),
 *   then three good rows: one full, one with NULL amount and note, one with an empty-string note.
 * {"mode": "read"}: reads its input "t" and sets outputs "types" (the type numbers), "cells" (every
 *   value, NULL as ~, rows joined by ';') and "legacy" (the same through the 1.0 read_records). */
#include <stdio.h>
#include <string.h>
#include "patchbay/connector.h"
#include "patchbay/params.h"

static const patchbay_host *host;

static patchbay_str s(const char *text) { patchbay_str v = { text, strlen(text) }; return v; }

static patchbay_status fail(patchbay_error *error, const char *why) {
    host->set_error(error, PATCHBAY_FAILURE_SYSTEM, s(why), s(""));
    return PATCHBAY_ERROR;
}

static patchbay_status write_typed(patchbay_task *task, patchbay_error *error) {
    patchbay_str names[7] = { s("id"), s("amount"), s("ok"), s("day"), s("at"), s("note"), s("doc") };
    patchbay_column_type types[7] = { PATCHBAY_TYPE_INTEGER, PATCHBAY_TYPE_DECIMAL, PATCHBAY_TYPE_BOOLEAN, PATCHBAY_TYPE_DATE,
                                      PATCHBAY_TYPE_TIMESTAMP, PATCHBAY_TYPE_STRING, PATCHBAY_TYPE_JSON };
    patchbay_table_writer *writer = NULL;
    if (host->open_output_typed(task, s("out.typed"), names, types, 7, &writer) != PATCHBAY_OK) return fail(error, "open_output_typed failed");
    patchbay_str bad[14] = { s("1"), s("10.50"), s("true"), s("2026-12-02"), s("2026-12-02T10:00:00Z"), s("a"), s("{}"),
                             s("2"), s("12,5"), s("false"), s("2026-12-02"), s("2026-12-02T10:00:00Z"), s("b"), s("[]") };
    char status[8];
    snprintf(status, sizeof status, "%u", host->write_records_nullable(writer, bad, NULL, 2));
    host->set_output(task, s("bad_batch"), s(status), 0);
    patchbay_str good[21] = {
        s("1"), s("10.50"), s("true"), s("2026-12-02"), s("2026-12-02T10:00:00.250Z"), s("plain, \"quoted\""), s("{\"k\": [1, 2.5e3, null]}"),
        s("2"), s(""), s("false"), s("2024-02-29"), s("2026-01-01T00:00:00Z"), s(""), s("null"),
        s("-3"), s("-0.001"), s("false"), s("2000-01-01"), s("2026-01-01T23:59:59Z"), s(""), s("\"x\""),
    };
    uint8_t nulls[21] = { 0 };
    nulls[7 + 1] = 1;  /* row 2: amount NULL */
    nulls[7 + 5] = 1;  /* row 2: note NULL */
    if (host->write_records_nullable(writer, good, nulls, 3) != PATCHBAY_OK) return fail(error, "write_records_nullable refused good rows");
    return host->close_output(writer) == PATCHBAY_OK ? PATCHBAY_OK : fail(error, "close_output failed");
}

/* Appends every value of the input to `out`, NULL as ~, through the nullable or the 1.0 call. */
static int render(patchbay_task *task, int nullable, char *out, size_t cap) {
    patchbay_table_reader *reader = NULL;
    if (host->open_input(task, s("t"), &reader) != PATCHBAY_OK) return -1;
    const patchbay_str *columns = NULL;
    size_t width = 0, used = 0, rows = 0;
    host->input_columns(reader, &columns, &width);
    for (;;) {
        const patchbay_str *values = NULL;
        const uint8_t *nulls = NULL;
        patchbay_status status = nullable ? host->read_records_nullable(reader, &values, &nulls, &rows)
                                          : host->read_records(reader, &values, &rows);
        if (status == PATCHBAY_END) break;
        if (status != PATCHBAY_OK) return -1;
        for (size_t i = 0; i < rows * width; i++) {
            int n = (nulls && nulls[i]) ? snprintf(out + used, cap - used, "~")
                                        : snprintf(out + used, cap - used, "%.*s", (int)values[i].length, values[i].data ? values[i].data : "");
            used += (size_t)n;
            used += (size_t)snprintf(out + used, cap - used, "%s", (i + 1) % width == 0 ? ";" : "|");
            if (used >= cap) return -1;
        }
    }
    host->close_input(reader);
    return 0;
}

static patchbay_status read_typed(patchbay_task *task, patchbay_error *error) {
    patchbay_table_reader *reader = NULL;
    if (host->open_input(task, s("t"), &reader) != PATCHBAY_OK) return fail(error, "open_input failed");
    const patchbay_column_type *types = NULL;
    size_t count = 0;
    if (host->input_column_types(reader, &types, &count) != PATCHBAY_OK) return fail(error, "input_column_types failed");
    char text[64] = "";
    size_t used = 0;
    for (size_t i = 0; i < count && used < sizeof text - 4; i++) used += (size_t)snprintf(text + used, sizeof text - used, i ? ",%u" : "%u", types[i]);
    host->close_input(reader);
    host->set_output(task, s("types"), s(text), 0);
    static char cells[4096], legacy[4096];
    if (render(task, 1, cells, sizeof cells) != 0 || render(task, 0, legacy, sizeof legacy) != 0) return fail(error, "reading failed");
    host->set_output(task, s("cells"), s(cells), 0);
    host->set_output(task, s("legacy"), s(legacy), 0);
    return PATCHBAY_OK;
}

static patchbay_status run(patchbay_task *task, patchbay_error *error) {
    char mode[16];
    if (patchbay_params_get(host->parameters(task), "mode", mode, sizeof mode) != PATCHBAY_PARAM_FOUND) return fail(error, "mode?");
    return strcmp(mode, "write") == 0 ? write_typed(task, error) : read_typed(task, error);
}

static const patchbay_connector descriptor = {
    .struct_size = sizeof(patchbay_connector),
    .abi_version = PATCHBAY_ABI_VERSION,
    .id = "test.typed",
    .version = "1.0.0",
    .display_name = "Typed tables (test)",
    .pattern = PATCHBAY_PATTERN_PREPARATION,
    .capabilities = PATCHBAY_CAP_READS_TABLES | PATCHBAY_CAP_WRITES_TABLES,
    .run = run,
};

uint32_t patchbay_abi_version(void) { return PATCHBAY_ABI_VERSION; }

const patchbay_connector *patchbay_connector_entry(const patchbay_host *h) {
    host = h;
    return &descriptor;
}
