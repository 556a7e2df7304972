/* A Patchbay connector in C: depends on libc and the one header.
 * Build: make            (produces libmy_connector.so)
 * Try:   patchbay task run ./libmy_connector.so --param greeting=hello --param count=3
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "patchbay/connector.h"

static const patchbay_host *host; /* valid for the life of the process */

static patchbay_str str(const char *text) {
    patchbay_str s = { text, strlen(text) };
    return s;
}

/* Finds "key": <number> or "key": "<text>" in the flat parameters object (enough for a template). */
static int parameter(patchbay_str json, const char *key, char *out, size_t cap) {
    char pattern[128];
    snprintf(pattern, sizeof pattern, "\"%s\":", key);
    const char *end = json.data + json.length;
    const char *at = json.data;
    size_t n = strlen(pattern);
    for (; at + n <= end; at++) if (memcmp(at, pattern, n) == 0) break;
    if (at + n > end) return 0;
    at += n;
    while (at < end && *at == ' ') at++;
    int quoted = at < end && *at == '"';
    if (quoted) at++;
    size_t i = 0;
    while (at < end && i + 1 < cap && (quoted ? *at != '"' : (*at != ',' && *at != '}'))) out[i++] = *at++;
    out[i] = '\0';
    return 1;
}

static patchbay_status run(patchbay_task *task, patchbay_error *error) {
    char greeting[128] = "hello", text[32] = "1";
    patchbay_str params = host->parameters(task);
    parameter(params, "greeting", greeting, sizeof greeting);
    parameter(params, "count", text, sizeof text);
    long count = atol(text);
    if (count < 0 || count > 1000000) {
        host->set_error(error, PATCHBAY_FAILURE_CONFIG, str("parameter 'count' must be between 0 and 1000000"), str(""));
        return PATCHBAY_ERROR;
    }
    patchbay_str columns[2] = { str("n"), str("greeting") };
    patchbay_table_writer *writer;
    if (host->open_output(task, str("out.greetings"), columns, 2, &writer) != PATCHBAY_OK) {
        host->set_error(error, PATCHBAY_FAILURE_SYSTEM, str("cannot open the output table"), str(""));
        return PATCHBAY_ERROR;
    }
    for (long i = 1; i <= count; i++) {
        char number[32];
        snprintf(number, sizeof number, "%ld", i);
        patchbay_str row[2] = { str(number), str(greeting) }; /* copied by the host before it returns */
        if (host->write_records(writer, row, 1) != PATCHBAY_OK) return PATCHBAY_ERROR;
        if (host->is_cancelled(task)) return PATCHBAY_CANCELLED;
    }
    host->log(task, PATCHBAY_LOG_INFO, str("greetings written"));
    return PATCHBAY_OK;
}

static const patchbay_connector descriptor = {
    .struct_size = sizeof(patchbay_connector),
    .abi_version = PATCHBAY_ABI_VERSION,
    .id = "com.example.my-connector",
    .version = "0.1.0",
    .display_name = "My connector (C)",
    .description = "Writes a greeting N times into out.greetings.",
    .parameters_schema = "{\"type\":\"object\",\"properties\":{\"greeting\":{\"type\":\"string\"},\"count\":{\"type\":\"integer\",\"minimum\":0}}}",
    .pattern = PATCHBAY_PATTERN_EXTRACTION,
    .capabilities = PATCHBAY_CAP_WRITES_TABLES,
    .run = run,
    .network = PATCHBAY_NETWORK_NONE, /* or PATCHBAY_NETWORK_TCP_PORTS with .tcp_ports / .tcp_port_count */
};

uint32_t patchbay_abi_version(void) { return PATCHBAY_ABI_VERSION; }

const patchbay_connector *patchbay_connector_entry(const patchbay_host *h) {
    host = h;
    return &descriptor;
}
