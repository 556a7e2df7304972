/* test.rated — calls a service `requests` times under the rate limit `key` (ABI 1.4), one host->rate_limit
 * call per request, and sets outputs: waited_ms (the total the host made it wait) and last_ms (when, after its
 * start, its last request was allowed). Parameters: {"key": "svc.test", "requests": 10} */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "patchbay/connector.h"
#include "patchbay/params.h"

static const patchbay_host *host;

static long long now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static patchbay_status run(patchbay_task *task, patchbay_error *error) {
    char key[256] = "svc.test";
    long long requests = 10;
    patchbay_params_get(host->parameters(task), "key", key, sizeof key);
    patchbay_params_integer(host->parameters(task), "requests", &requests);
    if (host->struct_size < PATCHBAY_HOST_SIZE_1_4) {
        host->set_error(error, PATCHBAY_FAILURE_CONFIG, patchbay_cstr("this host has no rate_limit"), patchbay_cstr(""));
        return PATCHBAY_ERROR;
    }
    long long started = now_ms(), last = 0, total = 0, first_at = 0, last_at = 0;
    for (long long i = 0; i < requests; i++) {
        uint64_t waited = 0;
        patchbay_status s = host->rate_limit(task, patchbay_cstr(key), 1, &waited);
        if (s == PATCHBAY_CANCELLED) return s;
        if (s != PATCHBAY_OK) {
            host->set_error(error, PATCHBAY_FAILURE_SYSTEM, patchbay_cstr("rate_limit failed"), patchbay_cstr(""));
            return PATCHBAY_ERROR;
        }
        total += (long long)waited;
        last_at = now_ms();  /* CLOCK_MONOTONIC: one clock for every process, so two tasks' turns compare */
        if (i == 0) first_at = last_at;
        last = last_at - started;
    }
    char text[32];
    snprintf(text, sizeof text, "%lld", total);
    host->set_output(task, patchbay_cstr("waited_ms"), patchbay_cstr(text), 0);
    snprintf(text, sizeof text, "%lld", last);
    host->set_output(task, patchbay_cstr("last_ms"), patchbay_cstr(text), 0);
    snprintf(text, sizeof text, "%lld", first_at);
    host->set_output(task, patchbay_cstr("first_at_ms"), patchbay_cstr(text), 0);
    snprintf(text, sizeof text, "%lld", last_at);
    host->set_output(task, patchbay_cstr("last_at_ms"), patchbay_cstr(text), 0);
    /* An empty key or no tokens is refused. */
    snprintf(text, sizeof text, "%u", host->rate_limit(task, patchbay_cstr(""), 1, NULL));
    host->set_output(task, patchbay_cstr("empty_key_status"), patchbay_cstr(text), 0);
    return PATCHBAY_OK;
}

static const patchbay_connector descriptor = {
    .struct_size = sizeof(patchbay_connector),
    .abi_version = PATCHBAY_ABI_VERSION,
    .id = "test.rated",
    .version = "1.0.0",
    .display_name = "Rate-limited client (test)",
    .parameters_schema = "{\"type\":\"object\"}",
    .pattern = PATCHBAY_PATTERN_EXTRACTION,
    .run = run,
    .declares = PATCHBAY_DECLARES_OUTPUTS | PATCHBAY_DECLARES_TABLES,
    .output_names = (const char *const[]){ "waited_ms", "last_ms", "first_at_ms", "last_at_ms", "empty_key_status" },
    .output_count = 5,
};

uint32_t patchbay_abi_version(void) { return PATCHBAY_ABI_VERSION; }

const patchbay_connector *patchbay_connector_entry(const patchbay_host *h) {
    host = h;
    return &descriptor;
}
