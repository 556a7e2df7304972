/* A Patchbay connector in C: depends on libc and the one header.
 * Build: make            (produces libmy_connector.so)
 * Try:   patchbay task run ./libmy_connector.so --param greeting=hello --param count=3
 * Check: patchbay plugins check ./libmy_connector.so
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "patchbay/connector.h"
#include "patchbay/params.h"   /* patchbay_params_get(), patchbay_cstr() */

static const patchbay_host *host; /* valid for the life of the process */

static patchbay_status fail(patchbay_error *error, uint32_t failure_class, const char *message) {
    host->set_error(error, failure_class, patchbay_cstr(message), patchbay_cstr(""));
    return PATCHBAY_ERROR;
}

/* A text parameter into out, or `fallback` when absent; 0 when it is there but not text that fits. */
static int text_parameter(patchbay_str params, const char *key, const char *fallback, char *out, size_t cap) {
    int found = patchbay_params_get(params, key, out, cap);
    if (found == PATCHBAY_PARAM_ABSENT) { snprintf(out, cap, "%s", fallback); return 1; }
    return found == PATCHBAY_PARAM_FOUND;
}

/* A whole-number parameter ≥ 0, or `fallback` when absent; 0 when it is something else. The host checks
 * the schema before run(), so this holds only when the connector is run some other way; it costs nothing. */
static int count_parameter(patchbay_str params, const char *key, long fallback, long *out) {
    char text[32];
    int found = patchbay_params_get(params, key, text, sizeof text);
    if (found == PATCHBAY_PARAM_ABSENT) { *out = fallback; return 1; }
    if (found != PATCHBAY_PARAM_FOUND || text[0] < '0' || text[0] > '9') return 0;
    char *end;
    *out = strtol(text, &end, 10);
    return *end == '\0';
}

static patchbay_status run(patchbay_task *task, patchbay_error *error) {
    patchbay_str params = host->parameters(task);
    char greeting[128];
    long count;
    if (!text_parameter(params, "greeting", "hello", greeting, sizeof greeting))
        return fail(error, PATCHBAY_FAILURE_CONFIG, "parameter 'greeting' must be text of at most 127 bytes");
    if (!count_parameter(params, "count", 1, &count) || count > 1000000)
        return fail(error, PATCHBAY_FAILURE_CONFIG, "parameter 'count' must be a whole number from 0 to 1000000");

    patchbay_str columns[2] = { patchbay_cstr("n"), patchbay_cstr("greeting") };
    patchbay_table_writer *writer;
    patchbay_status opened = host->open_output(task, patchbay_cstr("out.greetings"), columns, 2, &writer);
    if (opened == PATCHBAY_DENIED) return fail(error, PATCHBAY_FAILURE_CONFIG, "the task's token may not write the bucket 'out'");
    if (opened != PATCHBAY_OK) return fail(error, PATCHBAY_FAILURE_SYSTEM, "cannot open the output table");
    for (long i = 1; i <= count; i++) {
        char number[32];
        snprintf(number, sizeof number, "%ld", i);
        patchbay_str row[2] = { patchbay_cstr(number), patchbay_cstr(greeting) }; /* copied by the host before it returns */
        if (host->write_records(writer, row, 1) != PATCHBAY_OK) return fail(error, PATCHBAY_FAILURE_SYSTEM, "write_records failed");
        host->progress(task, (double)i / (double)count, patchbay_cstr(""));
        if (host->is_cancelled(task)) return PATCHBAY_CANCELLED;
    }
    char done[64];
    snprintf(done, sizeof done, "%ld greetings written", count);
    host->log(task, PATCHBAY_LOG_INFO, patchbay_cstr(done));
    return PATCHBAY_OK;
}

static const patchbay_connector descriptor = {
    .struct_size = sizeof(patchbay_connector),
    .abi_version = PATCHBAY_ABI_VERSION,
    .id = "com.example.my-connector",
    .version = "0.1.0",
    .display_name = "My connector (C)",
    .description = "Writes a greeting N times into out.greetings.",
    .parameters_schema = "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{\"greeting\":{\"type\":\"string\"},\"count\":{\"type\":\"integer\",\"minimum\":0}}}",
    .pattern = PATCHBAY_PATTERN_EXTRACTION,
    .capabilities = PATCHBAY_CAP_WRITES_TABLES,
    .run = run,
    .network = PATCHBAY_NETWORK_NONE, /* or PATCHBAY_NETWORK_TCP_PORTS with .tcp_ports / .tcp_port_count */
    /* Lineage (ABI 1.4): it sets no outputs and writes one table, so `patchbay validate` can check
     * the flows that use it. A pattern such as "{table}" names the table by a string parameter. */
    .declares = PATCHBAY_DECLARES_OUTPUTS | PATCHBAY_DECLARES_TABLES,
    .output_tables = (const char *const[]){ "out.greetings" },
    .output_table_count = 1,
};

uint32_t patchbay_abi_version(void) { return PATCHBAY_ABI_VERSION; }

const patchbay_connector *patchbay_connector_entry(const patchbay_host *h) {
    host = h;
    return &descriptor;
}
