/* dev.patchbay.http-send — the egression pattern: POSTs each row's payload of an input table to an HTTP or HTTPS
 * endpoint, and records every response (batch, status, attempts, body) in a table.
 *
 * Parameters: {"url": "http://ingest.example.com:8080/v1/orders", "input": "payloads", "column": "payload",
 *              "content_type": "application/json", "table": "out.responses", "max_attempts": 4, "max_wait_s": 60}
 *   A 2xx is sent. 408, 429, 5xx and a connection failure are tried again, up to max_attempts, after an
 *   exponential back-off with jitter (0.25 s, 0.5 s, 1 s, …) or the server's Retry-After (seconds), never
 *   waiting more than max_wait_s in all. Each attempt first takes a turn under the project's rate limit
 *   for the URL's host (ABI 1.4 rate_limit). With an "access_token" credential (an earlier authentication
 *   task's secret) it sends "Authorization: Bearer …"; a 401 fails the task as UNAUTHORIZED, so the host
 *   authenticates again and retries it once. Any batch not sent fails the task (transient, or config for a
 *   4xx), naming the first. Outputs: sent, attempts.
 *
 * Built with: cc -shared -fPIC -O2 -I../../SDK/include http_send.c -o libhttp_send.so
 * Depends only on libc.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "patchbay/connector.h"
#include "patchbay/params.h"
#include "../common/http_client.h"

static const patchbay_host *host;

static patchbay_status fail(patchbay_error *error, patchbay_failure_class cls, const char *message) {
    host->set_error(error, cls, patchbay_cstr(message), patchbay_cstr(""));
    return PATCHBAY_ERROR;
}

typedef struct {
    char url[2048], input[256], column[256], content_type[128], table[256];
    long long max_attempts, max_wait_s;
} settings;

static patchbay_status read_parameters(patchbay_task *task, patchbay_error *error, settings *set) {
    patchbay_str params = host->parameters(task);
    if (patchbay_params_get(params, "url", set->url, sizeof set->url) != PATCHBAY_PARAM_FOUND)
        return fail(error, PATCHBAY_FAILURE_CONFIG, "parameter 'url' (the http:// or https:// endpoint) is required");
    struct { const char *name; char *out; size_t cap; const char *fallback; } texts[] = {
        { "input", set->input, sizeof set->input, "payloads" }, { "column", set->column, sizeof set->column, "payload" },
        { "content_type", set->content_type, sizeof set->content_type, "application/json" },
        { "table", set->table, sizeof set->table, "out.responses" },
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        int found = patchbay_params_get(params, texts[i].name, texts[i].out, texts[i].cap);
        if (found == PATCHBAY_PARAM_ABSENT) snprintf(texts[i].out, texts[i].cap, "%s", texts[i].fallback);
        else if (found != PATCHBAY_PARAM_FOUND) {
            char why[128];
            snprintf(why, sizeof why, "parameter '%s' must be a short string", texts[i].name);
            return fail(error, PATCHBAY_FAILURE_CONFIG, why);
        }
    }
    set->max_attempts = 4;
    set->max_wait_s = 60;
    if (patchbay_params_integer(params, "max_attempts", &set->max_attempts) < 0 || set->max_attempts < 1 || set->max_attempts > 20)
        return fail(error, PATCHBAY_FAILURE_CONFIG, "parameter 'max_attempts' must be a whole number from 1 to 20");
    if (patchbay_params_integer(params, "max_wait_s", &set->max_wait_s) < 0 || set->max_wait_s < 0 || set->max_wait_s > 3600)
        return fail(error, PATCHBAY_FAILURE_CONFIG, "parameter 'max_wait_s' must be a whole number of seconds from 0 to 3600");
    return PATCHBAY_OK;
}

/* What sending one payload came to. */
typedef struct { int status; long long attempts; char body[2048]; char why[600]; } outcome;

static patchbay_status send_one(patchbay_task *task, const pb_url *target, const char *headers, patchbay_str payload,
                                pb_retry_policy *policy, outcome *o) {
    memset(o, 0, sizeof *o);
    pb_response response;
    patchbay_status s = pb_http_retrying(host, task, "POST", target, headers, payload.data, payload.length, policy, &response,
                                         &o->attempts, o->why, sizeof o->why);
    if (s != PATCHBAY_OK) return s;
    o->status = response.status;
    snprintf(o->body, sizeof o->body, "%.*s", (int)(response.body_length < 2000 ? response.body_length : 2000), response.body ? response.body : "");
    pb_response_free(&response);
    return PATCHBAY_OK;
}

static patchbay_status run(patchbay_task *task, patchbay_error *error) {
    settings set;
    char why[1200];
    if (read_parameters(task, error, &set) != PATCHBAY_OK) return PATCHBAY_ERROR;
    pb_url target;
    if (pb_url_parse(set.url, &target, why, sizeof why) != 0) return fail(error, PATCHBAY_FAILURE_CONFIG, why);
    /* The bearer token of an earlier authentication task, if the run has one. */
    char headers[3000];
    patchbay_str token = { 0, 0 };
    int n = snprintf(headers, sizeof headers, "Content-Type: %s\r\n", set.content_type);
    if (host->credential(task, patchbay_cstr("access_token"), &token) == PATCHBAY_OK && token.length > 0 && token.length < 2000)
        snprintf(headers + n, sizeof headers - (size_t)n, "Authorization: Bearer %.*s\r\n", (int)token.length, token.data);
    patchbay_table_reader *reader = NULL;
    patchbay_status s = host->open_input(task, patchbay_cstr(set.input), &reader);
    if (s != PATCHBAY_OK) {
        snprintf(why, sizeof why, "cannot open the input table '%s' (status %u); give it in the task's inputs", set.input, s);
        return fail(error, PATCHBAY_FAILURE_CONFIG, why);
    }
    const patchbay_str *columns = NULL;
    size_t width = 0, payload_column = (size_t)-1, batch_column = (size_t)-1;
    host->input_columns(reader, &columns, &width);
    for (size_t c = 0; c < width; c++) {
        if (columns[c].length == strlen(set.column) && memcmp(columns[c].data, set.column, columns[c].length) == 0) payload_column = c;
        if (columns[c].length == 5 && memcmp(columns[c].data, "batch", 5) == 0) batch_column = c;
    }
    if (payload_column == (size_t)-1) {
        host->close_input(reader);
        snprintf(why, sizeof why, "the input table '%s' has no column '%s'", set.input, set.column);
        return fail(error, PATCHBAY_FAILURE_CONFIG, why);
    }
    patchbay_str out_columns[4] = { patchbay_cstr("batch"), patchbay_cstr("status"), patchbay_cstr("attempts"), patchbay_cstr("body") };
    patchbay_column_type out_types[4] = { PATCHBAY_TYPE_INTEGER, PATCHBAY_TYPE_INTEGER, PATCHBAY_TYPE_INTEGER, PATCHBAY_TYPE_STRING };
    patchbay_table_writer *writer = NULL;
    s = host->struct_size >= PATCHBAY_HOST_SIZE_1_3 ? host->open_output_typed(task, patchbay_cstr(set.table), out_columns, out_types, 4, &writer)
                                                    : host->open_output(task, patchbay_cstr(set.table), out_columns, 4, &writer);
    if (s != PATCHBAY_OK) {
        host->close_input(reader);
        snprintf(why, sizeof why, "cannot open the output table '%s' (status %u)", set.table, s);
        return fail(error, PATCHBAY_FAILURE_CONFIG, why);
    }
    const patchbay_str *values = NULL;
    size_t got = 0;
    long long row = 0, sent = 0, attempts = 0;
    pb_retry_policy policy = { set.max_attempts, set.max_wait_s * 1000, 0 };
    outcome first_failure;
    long long first_failed_batch = 0;
    while ((s = host->read_records(reader, &values, &got)) == PATCHBAY_OK) {
        for (size_t r = 0; r < got; r++) {
            row++;
            long long batch = row;
            if (batch_column != (size_t)-1) {
                char text[32];
                snprintf(text, sizeof text, "%.*s", (int)(values[r * width + batch_column].length < 31 ? values[r * width + batch_column].length : 31),
                         values[r * width + batch_column].data);
                if (atoll(text) > 0) batch = atoll(text);
            }
            outcome o;
            if (send_one(task, &target, headers, values[r * width + payload_column], &policy, &o) == PATCHBAY_CANCELLED) {
                host->close_input(reader);
                return PATCHBAY_CANCELLED;
            }
            attempts += o.attempts;
            if (o.status >= 200 && o.status < 300) sent++;
            else if (first_failed_batch == 0) { first_failure = o; first_failed_batch = batch; }
            char b[32], st[16], at[16];
            snprintf(b, sizeof b, "%lld", batch);
            snprintf(st, sizeof st, "%d", o.status);
            snprintf(at, sizeof at, "%lld", o.attempts);
            patchbay_str out_row[4] = { patchbay_cstr(b), patchbay_cstr(st), patchbay_cstr(at), patchbay_cstr(o.body) };
            if (host->write_records(writer, out_row, 1) != PATCHBAY_OK) {
                host->close_input(reader);
                return fail(error, PATCHBAY_FAILURE_SYSTEM, "the responses could not be written");
            }
            host->progress(task, -1, patchbay_cstr(o.why));
            if (o.status == 401) { s = PATCHBAY_END; goto refused; }  /* the token is refused: sending more would be refused too */
        }
    }
refused:
    host->close_input(reader);
    if (s != PATCHBAY_END) return fail(error, PATCHBAY_FAILURE_SYSTEM, "the input table could not be read to its end");
    char number[32];
    snprintf(number, sizeof number, "%lld", sent);
    host->set_output(task, patchbay_cstr("sent"), patchbay_cstr(number), 0);
    snprintf(number, sizeof number, "%lld", attempts);
    host->set_output(task, patchbay_cstr("attempts"), patchbay_cstr(number), 0);
    if (first_failed_batch != 0) {
        if (first_failure.status == 401)
            snprintf(why, sizeof why, "%.300s refused the credentials at batch %lld (HTTP 401: %.400s); %lld batches sent before",
                     set.url, first_failed_batch, first_failure.body, sent);
        else
            snprintf(why, sizeof why, "%lld of %lld batches were not sent to %.300s; the first, batch %lld: %.600s after %lld attempt%s",
                     row - sent, row, set.url, first_failed_batch, first_failure.why, first_failure.attempts, first_failure.attempts == 1 ? "" : "s");
        patchbay_failure_class cls = first_failure.status == 401 ? PATCHBAY_FAILURE_UNAUTHORIZED
                                   : pb_http_retryable(first_failure.status) ? PATCHBAY_FAILURE_TRANSIENT : PATCHBAY_FAILURE_CONFIG;
        return fail(error, cls, why);
    }
    if (host->close_output(writer) != PATCHBAY_OK) return fail(error, PATCHBAY_FAILURE_SYSTEM, "the responses could not be finished");
    snprintf(why, sizeof why, "sent %lld batches to %.300s in %lld attempts", sent, set.url, attempts);
    host->log(task, PATCHBAY_LOG_INFO, patchbay_cstr(why));
    return PATCHBAY_OK;
}

static const patchbay_connector descriptor = {
    .struct_size = sizeof(patchbay_connector),
    .abi_version = PATCHBAY_ABI_VERSION,
    .id = "dev.patchbay.http-send",
    .version = "1.1.0",
    .display_name = "HTTP send (egression)",
    .description = "POSTs each payload of an input table to an HTTP or HTTPS endpoint, with retries, and records the responses.",
    .parameters_schema =
        "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"url\"],\"properties\":{"
        "\"url\":{\"type\":\"string\",\"description\":\"a http:// or https:// endpoint\"},"
        "\"input\":{\"type\":\"string\",\"default\":\"payloads\"},"
        "\"column\":{\"type\":\"string\",\"default\":\"payload\"},"
        "\"content_type\":{\"type\":\"string\",\"default\":\"application/json\"},"
        "\"table\":{\"type\":\"string\",\"default\":\"out.responses\"},"
        "\"max_attempts\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":20,\"default\":4},"
        "\"max_wait_s\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":3600,\"default\":60}}}",
    .credential_names = (const char *const[]){ "access_token" },
    .credential_count = 1,
    .pattern = PATCHBAY_PATTERN_EGRESSION,
    .capabilities = PATCHBAY_CAP_READS_TABLES | PATCHBAY_CAP_WRITES_TABLES,
    .run = run,
    .network = PATCHBAY_NETWORK_ANY,  /* a flow narrows it to the endpoint's port: network: {tcp: [8080]} */
    .declares = PATCHBAY_DECLARES_OUTPUTS | PATCHBAY_DECLARES_TABLES,
    .output_names = (const char *const[]){ "sent", "attempts" },
    .output_count = 2,
    .output_tables = (const char *const[]){ "{table}" },
    .output_table_count = 1,
};

uint32_t patchbay_abi_version(void) { return PATCHBAY_ABI_VERSION; }

const patchbay_connector *patchbay_connector_entry(const patchbay_host *h) {
    host = h;
    return &descriptor;
}
