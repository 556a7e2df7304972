/* A connector built against the frozen ABI 1.0 header (Tests/Fixtures/abi-v1.0).
 * Every later host must load and run it. It calls every callback v1.0 published, in
 * the order the header declares them, and reports what each answered as one output,
 * "calls", so a host that reorders, drops or changes a callback fails the test. */
#include <stdio.h>
#include <string.h>
#include "patchbay/connector.h"

static const patchbay_host *host;
static char report[2048];

static void note(const char *call, const char *what) {
    size_t used = strlen(report);
    snprintf(report + used, sizeof report - used, "%s%s=%s", used ? ";" : "", call, what);
}

static void note_status(const char *call, patchbay_status status) {
    char text[16];
    snprintf(text, sizeof text, "%u", (unsigned)status);
    note(call, text);
}

static patchbay_str str(const char *text) { patchbay_str s = { text, strlen(text) }; return s; }

static patchbay_status run(patchbay_task *task, patchbay_error *error) {
    char text[256];
    report[0] = 0;

    host->log(task, PATCHBAY_LOG_INFO, str("frozen v1.0 connector calling every callback"));
    note("log", "done");

    patchbay_str parameters = host->parameters(task);
    snprintf(text, sizeof text, "%.*s", (int)parameters.length, parameters.data);
    note("parameters", text);

    patchbay_str value = { 0, 0 };
    patchbay_status status = host->credential(task, str("token"), &value);
    snprintf(text, sizeof text, "%u:%.*s", (unsigned)status, (int)value.length, value.data ? value.data : "");
    note("credential", text);

    patchbay_table_reader *reader = 0;
    note_status("open_input", host->open_input(task, str("source"), &reader));
    const patchbay_str *columns = 0;
    size_t column_count = 0;
    status = host->input_columns(reader, &columns, &column_count);
    snprintf(text, sizeof text, "%u:%zu:%.*s", (unsigned)status, column_count,
             column_count ? (int)columns[0].length : 0, column_count ? columns[0].data : "");
    note("input_columns", text);
    const patchbay_str *values = 0;
    size_t rows = 0, total = 0;
    while ((status = host->read_records(reader, &values, &rows)) == PATCHBAY_OK) total += rows;
    snprintf(text, sizeof text, "%u:%zu", (unsigned)status, total);
    note("read_records", text);
    host->close_input(reader);
    note("close_input", "done");

    patchbay_table_writer *writer = 0;
    patchbay_str column = str("n");
    note_status("open_output", host->open_output(task, str("out.frozen"), &column, 1, &writer));
    patchbay_str cells[2] = { str("1"), str("2") };
    note_status("write_records", host->write_records(writer, cells, 2));
    note_status("close_output", host->close_output(writer));

    patchbay_str state = { 0, 0 };
    status = host->state_get(task, &state);
    snprintf(text, sizeof text, "%u:%.*s", (unsigned)status, (int)state.length, state.data);
    note("state_get", text);
    note_status("state_set", host->state_set(task, str("{\"frozen\":1}")));

    host->progress(task, 1.0, str("done"));
    note("progress", "done");
    snprintf(text, sizeof text, "%d", host->is_cancelled(task));
    note("is_cancelled", text);
    snprintf(text, sizeof text, "%s", host->remaining_ms(task) > 0 ? "positive" : "none");
    note("remaining_ms", text);
    /* set_error before returning OK: the last call wins only when the task fails, so this is harmless. */
    host->set_error(error, PATCHBAY_FAILURE_CONFIG, str("unused"), str(""));
    note("set_error", "done");

    status = host->set_output(task, str("abi"), str("1.0"), 0);
    char status_text[16];
    snprintf(status_text, sizeof status_text, "%u", (unsigned)status);
    note("set_output", status_text);
    return host->set_output(task, str("calls"), str(report), 0);
}

static const patchbay_connector descriptor = {
    .struct_size = sizeof(patchbay_connector),
    .abi_version = PATCHBAY_ABI_VERSION,
    .id = "test.frozen-v1",
    .version = "1.0.0",
    .display_name = "Built against the frozen v1.0 header",
    .credential_names = (const char *const[]){ "token" },
    .credential_count = 1,
    .pattern = PATCHBAY_PATTERN_EXTRACTION,
    .capabilities = PATCHBAY_CAP_READS_TABLES | PATCHBAY_CAP_WRITES_TABLES | PATCHBAY_CAP_STATE,
    .run = run,
};

uint32_t patchbay_abi_version(void) { return PATCHBAY_ABI_VERSION; }
const patchbay_connector *patchbay_connector_entry(const patchbay_host *h) { host = h; return &descriptor; }
