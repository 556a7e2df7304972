/* test.status-check — a status_check connector: counts its checks in a file and answers
 * PENDING until the count reaches `ready_after` (then OK), or fails when `fail_at` is reached.
 * Parameters: {"counter_file": "/abs/path", "ready_after": 3, "fail_at": 0} */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>
#include "patchbay/connector.h"
#include "patchbay/params.h"

static const patchbay_host *host;

/* A number parameter, or 0 when absent; a string one, or "" (patchbay/params.h reads both). */
static long long number(patchbay_str json, const char *key) {
    char value[32];
    return patchbay_params_get(json, key, value, sizeof value) == PATCHBAY_PARAM_FOUND ? atoll(value) : 0;
}

static void text(patchbay_str json, const char *key, char *out, size_t cap) {
    if (patchbay_params_get(json, key, out, cap) != PATCHBAY_PARAM_FOUND) out[0] = 0;
}

/* With {"count_in_state": true}: counts its checks in its own state ({"calls": N}) instead of a file,
 * as an author would; PENDING until N reaches ready_after, or an error when it reaches fail_at. */
static patchbay_status count_in_state(patchbay_task *task, patchbay_error *error, patchbay_str params) {
    patchbay_str state = { 0, 0 };
    char calls_text[32];
    long long calls = 0;
    if (host->state_get(task, &state) == PATCHBAY_OK && patchbay_params_get(state, "calls", calls_text, sizeof calls_text) == PATCHBAY_PARAM_FOUND)
        calls = atoll(calls_text);
    calls++;
    char json[64];
    int length = snprintf(json, sizeof json, "{\"calls\":%lld}", calls);
    patchbay_str next = { json, (size_t)length };
    host->state_set(task, next);
    long long fail_at = number(params, "fail_at");
    if (fail_at > 0 && calls >= fail_at) {
        host->set_error(error, PATCHBAY_FAILURE_TRANSIENT, patchbay_cstr("the remote job failed"), patchbay_cstr(""));
        return PATCHBAY_ERROR;
    }
    if (calls < number(params, "ready_after")) return PATCHBAY_PENDING;
    host->set_output(task, patchbay_cstr("checks"), patchbay_cstr(json), 0);
    return PATCHBAY_OK;
}

static patchbay_status run(patchbay_task *task, patchbay_error *error) {
    patchbay_str params = host->parameters(task);
    char mode[8];
    if (patchbay_params_get(params, "count_in_state", mode, sizeof mode) == PATCHBAY_PARAM_FOUND && strcmp(mode, "true") == 0)
        return count_in_state(task, error, params);
    char path[512];
    text(params, "counter_file", path, sizeof path);
    long long count = 0;
    FILE *file = fopen(path, "r");
    if (file) { if (fscanf(file, "%lld", &count) != 1) count = 0; fclose(file); }
    count++;
    file = fopen(path, "w");
    if (!file) {
        patchbay_str message = { "cannot write counter_file", 25 };
        host->set_error(error, PATCHBAY_FAILURE_CONFIG, message, message);
        return PATCHBAY_ERROR;
    }
    fchmod(fileno(file), 0666);  /* the next check runs as another task uid */
    fprintf(file, "%lld\n", count);
    fclose(file);
    long long fail_first = number(params, "fail_first");  /* a flaky source: the first N calls fail, transiently */
    if (fail_first > 0 && count <= fail_first) {
        host->set_error(error, PATCHBAY_FAILURE_TRANSIENT, patchbay_cstr("the source answered 503"), patchbay_cstr(""));
        return PATCHBAY_ERROR;
    }
    long long fail_at = number(params, "fail_at");
    if (fail_at > 0 && count >= fail_at) {
        patchbay_str message = { "the remote job failed", 21 };
        host->set_error(error, PATCHBAY_FAILURE_TRANSIENT, message, message);
        return PATCHBAY_ERROR;
    }
    if (count >= number(params, "ready_after")) {
        patchbay_str name = { "checks", 6 };
        char value[32];
        int length = snprintf(value, sizeof value, "%lld", count);
        patchbay_str v = { value, (size_t)length };
        host->set_output(task, name, v, 0);
        return PATCHBAY_OK;
    }
    return PATCHBAY_PENDING;
}

static const patchbay_connector descriptor = {
    .struct_size = sizeof(patchbay_connector),
    .abi_version = PATCHBAY_ABI_VERSION,
    .id = "test.status-check",
    .version = "1.0.0",
    .display_name = "Status check (test)",
    .description = "Pending until the counter file reaches ready_after.",
    .parameters_schema = "{\"type\":\"object\",\"properties\":{"
        "\"counter_file\":{\"type\":\"string\"},\"count_in_state\":{\"type\":\"boolean\"},"
        "\"ready_after\":{\"type\":\"integer\"},\"fail_at\":{\"type\":\"integer\"},\"fail_first\":{\"type\":\"integer\"}}}",
    .pattern = PATCHBAY_PATTERN_STATUS_CHECK,
    .capabilities = 0,
    .run = run,
};

uint32_t patchbay_abi_version(void) { return PATCHBAY_ABI_VERSION; }

const patchbay_connector *patchbay_connector_entry(const patchbay_host *h) {
    host = h;
    return &descriptor;
}
