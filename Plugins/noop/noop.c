/* dev.patchbay.noop — does nothing, or exactly what its parameters ask: for flow skeletons,
 * benchmarks (the engine's per-task overhead) and tests of the orchestration rules.
 *
 * Parameters (all optional):
 *   sleep_ms      wait this long (in 10 ms steps, stopping early when cancelled)
 *   message       log this line at info level
 *   log_lines     log this many numbered lines ("line 1" ...) at info level
 *   output_name   set this output ...
 *   output_value  ... to this value (default "done")
 *   fail          "config" | "transient" | "system": fail with that class ...
 *   fail_message  ... and this message
 *   count         true: increment {"runs": N} in the component state
 *
 * Built with: cc -shared -fPIC -O2 -I../../SDK/include noop.c -o libnoop.so
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "patchbay/connector.h"
#include "patchbay/params.h"

static const patchbay_host *host;

static patchbay_status run(patchbay_task *task, patchbay_error *error) {
    char text[512], value[512];
    patchbay_str params = host->parameters(task);
    long long remaining = 0, lines = 0;
    int count = 0;
    if (patchbay_params_integer(params, "sleep_ms", &remaining) < 0 || patchbay_params_integer(params, "log_lines", &lines) < 0
        || patchbay_params_boolean(params, "count", &count) < 0) {
        host->set_error(error, PATCHBAY_FAILURE_CONFIG,
                        patchbay_cstr("'sleep_ms' and 'log_lines' must be whole numbers, 'count' true or false"), patchbay_cstr(""));
        return PATCHBAY_ERROR;
    }
    static const char *const texts[] = { "message", "output_name", "output_value", "fail", "fail_message", "count_input" };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        int found = patchbay_params_get(params, texts[i], text, sizeof text);
        if (found != PATCHBAY_PARAM_FOUND && found != PATCHBAY_PARAM_ABSENT) {
            snprintf(value, sizeof value, "parameter '%s' must be text of at most %zu bytes", texts[i], sizeof text - 1);
            host->set_error(error, PATCHBAY_FAILURE_CONFIG, patchbay_cstr(value), patchbay_cstr(""));
            return PATCHBAY_ERROR;
        }
    }
    {
        while (remaining > 0) {
            if (host->is_cancelled(task)) return PATCHBAY_CANCELLED;
            long long step = remaining < 10 ? remaining : 10;
            struct timespec pause = { 0, (long)step * 1000000L };
            nanosleep(&pause, NULL);
            remaining -= step;
        }
    }
    if (patchbay_params_get(params, "message", text, sizeof text) == 1) host->log(task, PATCHBAY_LOG_INFO, patchbay_cstr(text));
    {
        char line[32];
        for (long long i = 1; i <= lines; i++) {
            snprintf(line, sizeof line, "line %lld", i);
            host->log(task, PATCHBAY_LOG_INFO, patchbay_cstr(line));
        }
    }
    if (patchbay_params_get(params, "count_input", text, sizeof text) == PATCHBAY_PARAM_FOUND) {
        /* Reads an input table to its end: its rows, all its bytes and its longest field, as outputs. */
        patchbay_table_reader *reader;
        if (host->open_input(task, patchbay_cstr(text), &reader) != PATCHBAY_OK) {
            host->set_error(error, PATCHBAY_FAILURE_CONFIG, patchbay_cstr("count_input: no such input table"), patchbay_cstr(""));
            return PATCHBAY_ERROR;
        }
        const patchbay_str *columns, *values;
        size_t width = 0, got = 0;
        unsigned long long rows = 0, bytes = 0, longest = 0;
        host->input_columns(reader, &columns, &width);
        patchbay_status s;
        while ((s = host->read_records(reader, &values, &got)) == PATCHBAY_OK) {
            rows += got;
            for (size_t i = 0; i < got * width; i++) {
                bytes += values[i].length;
                if (values[i].length > longest) longest = values[i].length;
            }
        }
        host->close_input(reader);
        if (s != PATCHBAY_END) {
            host->set_error(error, PATCHBAY_FAILURE_DATA, patchbay_cstr("count_input: the input table could not be read to its end"), patchbay_cstr(""));
            return PATCHBAY_ERROR;
        }
        snprintf(value, sizeof value, "%llu", rows);
        host->set_output(task, patchbay_cstr("input_rows"), patchbay_cstr(value), 0);
        snprintf(value, sizeof value, "%llu", bytes);
        host->set_output(task, patchbay_cstr("input_bytes"), patchbay_cstr(value), 0);
        snprintf(value, sizeof value, "%llu", longest);
        host->set_output(task, patchbay_cstr("input_longest_field"), patchbay_cstr(value), 0);
    }
    if (count) {
        patchbay_str state = { 0 };
        long long runs = 0;
        if (host->state_get(task, &state) == PATCHBAY_OK && patchbay_params_get(state, "runs", value, sizeof value) == 1) runs = atoll(value);
        snprintf(value, sizeof value, "{\"runs\":%lld}", runs + 1);
        host->state_set(task, patchbay_cstr(value));
    }
    if (patchbay_params_get(params, "output_name", text, sizeof text) == 1) {
        if (patchbay_params_get(params, "output_value", value, sizeof value) != 1) strcpy(value, "done");
        host->set_output(task, patchbay_cstr(text), patchbay_cstr(value), 0);
    }
    if (patchbay_params_get(params, "fail", text, sizeof text) == 1) {
        patchbay_failure_class failure = strcmp(text, "config") == 0 ? PATCHBAY_FAILURE_CONFIG
                                       : strcmp(text, "transient") == 0 ? PATCHBAY_FAILURE_TRANSIENT : PATCHBAY_FAILURE_SYSTEM;
        if (patchbay_params_get(params, "fail_message", value, sizeof value) != 1) strcpy(value, "failed on request");
        host->set_error(error, failure, patchbay_cstr(value), patchbay_cstr(""));
        return PATCHBAY_ERROR;
    }
    return PATCHBAY_OK;
}

static const patchbay_connector descriptor = {
    .struct_size = sizeof(patchbay_connector),
    .abi_version = PATCHBAY_ABI_VERSION,
    .id = "dev.patchbay.noop",
    .version = "1.0.0",
    .display_name = "No-op",
    .description = "Does nothing, or what its parameters ask: sleep, log, set an output, count runs in its state, fail.",
    .parameters_schema =
        "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
        "\"sleep_ms\":{\"type\":\"integer\",\"minimum\":0},"
        "\"message\":{\"type\":\"string\"},"
        "\"log_lines\":{\"type\":\"integer\",\"minimum\":0},"
        "\"output_name\":{\"type\":\"string\"},"
        "\"output_value\":{\"type\":\"string\"},"
        "\"fail\":{\"type\":\"string\",\"enum\":[\"config\",\"transient\",\"system\"]},"
        "\"fail_message\":{\"type\":\"string\"},"
        "\"count\":{\"type\":\"boolean\"},"
        "\"count_input\":{\"type\":\"string\",\"description\":\"an input table to read to its end (rows, bytes, longest field as outputs)\"}}}",
    .pattern = PATCHBAY_PATTERN_INITIATION,
    .capabilities = PATCHBAY_CAP_READS_TABLES,
    .run = run,
};

uint32_t patchbay_abi_version(void) { return PATCHBAY_ABI_VERSION; }

const patchbay_connector *patchbay_connector_entry(const patchbay_host *h) {
    host = h;
    return &descriptor;
}
