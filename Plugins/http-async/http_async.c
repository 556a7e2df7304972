/* dev.patchbay.http-async-start and dev.patchbay.http-async-status — an asynchronous export over HTTP or HTTPS,
 * in two patterns (one source, built twice: -DSTATUS builds the status check).
 *
 * http-async-start (initiation): POSTs `body` (default "{}") to `url` and sets the output "id" from the answer's
 *   `id_path` (a dot path, e.g. "export.id"), for the status check and the extraction after it.
 *   Parameters: {"url": "http://api/exports", "body": "{\"report\": \"orders\"}", "id_path": "export.id"}
 * http-async-status (status check): GETs `url` (usually with ${{ tasks.start.outputs.id }} in it) and answers
 *   PENDING until the answer's `state_path` equals `ready` (then OK, with the output "download" from
 *   `download_path`, made absolute), or fails when it equals `failed` (with `reason_path`, if any).
 *   Parameters: {"url": "http://api/exports/e1", "state_path": "state", "ready": "done", "failed": "failed",
 *                "download_path": "download", "reason_path": "reason"}
 * Both retry 408/429/5xx and connection failures; an "access_token" credential goes as a bearer token (a 401
 * fails as UNAUTHORIZED, so the host authenticates again once).
 *
 * Built with: cc -shared -fPIC -O2 -I../../SDK/include http_async.c -o libhttp_async_start.so
 *             cc -shared -fPIC -O2 -DSTATUS -I../../SDK/include http_async.c -o libhttp_async_status.so
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

/* One request with the run's bearer token, if any; a non-2xx is this task's failure, classed. */
static patchbay_status call(patchbay_task *task, patchbay_error *error, const char *method, const char *url, const char *body,
                            pb_response *response) {
    char why[1500], headers[2600] = "Accept: application/json\r\nContent-Type: application/json\r\n";
    pb_url target;
    if (pb_url_parse(url, &target, why, sizeof why) != 0) return fail(error, PATCHBAY_FAILURE_CONFIG, why);
    patchbay_str token = { 0, 0 };
    if (host->credential(task, patchbay_cstr("access_token"), &token) == PATCHBAY_OK && token.length < 2000)
        snprintf(headers + strlen(headers), sizeof headers - strlen(headers), "Authorization: Bearer %.*s\r\n", (int)token.length, token.data);
    pb_retry_policy policy = { 4, 30000, 0 };
    long long attempts = 0;
    patchbay_status s = pb_http_retrying(host, task, method, &target, headers, body, body ? strlen(body) : 0, &policy, response, &attempts, why, sizeof why);
    if (s != PATCHBAY_OK) return s;
    if (response->status >= 200 && response->status <= 299) return PATCHBAY_OK;
    char message[2000];
    snprintf(message, sizeof message, "%s %.400s: %.500s after %lld attempt%s: %.300s", method, url, why, attempts, attempts == 1 ? "" : "s",
             response->body ? response->body : "");
    patchbay_failure_class cls = response->status == 401 ? PATCHBAY_FAILURE_UNAUTHORIZED
                               : pb_http_retryable(response->status) ? PATCHBAY_FAILURE_TRANSIENT : PATCHBAY_FAILURE_CONFIG;
    pb_response_free(response);
    return fail(error, cls, message);
}

static int param(patchbay_task *task, const char *name, char *out, size_t cap, const char *fallback) {
    int found = patchbay_params_get(host->parameters(task), name, out, cap);
    if (found != PATCHBAY_PARAM_FOUND) snprintf(out, cap, "%s", fallback ? fallback : "");
    return found == PATCHBAY_PARAM_FOUND || fallback != NULL;
}

#ifndef STATUS
static patchbay_status run(patchbay_task *task, patchbay_error *error) {
    char url[2048], body[8192], id_path[256], id[512], why[900];
    if (!param(task, "url", url, sizeof url, NULL) || !param(task, "id_path", id_path, sizeof id_path, NULL))
        return fail(error, PATCHBAY_FAILURE_CONFIG, "parameters 'url' (where to start the export, http:// or https://) and 'id_path' are required");
    param(task, "body", body, sizeof body, "{}");
    pb_response response;
    patchbay_status s = call(task, error, "POST", url, body, &response);
    if (s != PATCHBAY_OK) return s;
    patchbay_str answer = { response.body ? response.body : "", response.body_length };
    int found = pb_json_text_at(answer, id_path, id, sizeof id);
    pb_response_free(&response);
    if (!found) {
        snprintf(why, sizeof why, "POST %.400s answered without an id at '%.200s'", url, id_path);
        return fail(error, PATCHBAY_FAILURE_CONFIG, why);
    }
    host->set_output(task, patchbay_cstr("id"), patchbay_cstr(id), 0);
    snprintf(why, sizeof why, "started export %.300s at %.400s", id, url);
    host->log(task, PATCHBAY_LOG_INFO, patchbay_cstr(why));
    return PATCHBAY_OK;
}
#else
static patchbay_status run(patchbay_task *task, patchbay_error *error) {
    char url[2048], state_path[256], ready[128], failed[128], download_path[256], reason_path[256], state[512], value[2048], why[2600];
    if (!param(task, "url", url, sizeof url, NULL)) return fail(error, PATCHBAY_FAILURE_CONFIG, "parameter 'url' (the export's status, http:// or https://) is required");
    param(task, "state_path", state_path, sizeof state_path, "state");
    param(task, "ready", ready, sizeof ready, "done");
    param(task, "failed", failed, sizeof failed, "failed");
    param(task, "download_path", download_path, sizeof download_path, "");
    param(task, "reason_path", reason_path, sizeof reason_path, "");
    pb_response response;
    patchbay_status s = call(task, error, "GET", url, NULL, &response);
    if (s != PATCHBAY_OK) return s;
    patchbay_str answer = { response.body ? response.body : "", response.body_length };
    if (!pb_json_text_at(answer, state_path, state, sizeof state)) state[0] = 0;
    if (strcmp(state, failed) == 0) {
        if (!reason_path[0] || !pb_json_text_at(answer, reason_path, value, sizeof value)) snprintf(value, sizeof value, "no reason given");
        snprintf(why, sizeof why, "the export at %.400s failed: %.1000s", url, value);
        pb_response_free(&response);
        return fail(error, PATCHBAY_FAILURE_TRANSIENT, why);
    }
    if (strcmp(state, ready) != 0) {
        snprintf(why, sizeof why, "the export is %.200s", state[0] ? state : "in no state yet");
        pb_response_free(&response);
        host->progress(task, -1, patchbay_cstr(why));
        return PATCHBAY_PENDING;
    }
    if (download_path[0] && pb_json_text_at(answer, download_path, value, sizeof value)) {
        pb_url base;
        pb_url_parse(url, &base, why, sizeof why);
        char absolute[2400];
        if (strncmp(value, "http://", 7) == 0) snprintf(absolute, sizeof absolute, "%s", value);
        else snprintf(absolute, sizeof absolute, "http://%s:%s%s%s", base.host, base.port, value[0] == '/' ? "" : "/", value);
        host->set_output(task, patchbay_cstr("download"), patchbay_cstr(absolute), 0);
    }
    pb_response_free(&response);
    snprintf(why, sizeof why, "the export at %.400s is %.200s", url, state);
    host->log(task, PATCHBAY_LOG_INFO, patchbay_cstr(why));
    return PATCHBAY_OK;
}
#endif

static const patchbay_connector descriptor = {
    .struct_size = sizeof(patchbay_connector),
    .abi_version = PATCHBAY_ABI_VERSION,
#ifndef STATUS
    .id = "dev.patchbay.http-async-start",
    .version = "1.1.0",
    .display_name = "HTTP async export: start (initiation)",
    .description = "Starts an asynchronous export over HTTP or HTTPS and hands its id to the tasks after it.",
    .parameters_schema =
        "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"url\",\"id_path\"],\"properties\":{"
        "\"url\":{\"type\":\"string\"},\"body\":{\"type\":\"string\",\"default\":\"{}\"},\"id_path\":{\"type\":\"string\"}}}",
    .pattern = PATCHBAY_PATTERN_INITIATION,
    .output_names = (const char *const[]){ "id" },
    .output_count = 1,
#else
    .id = "dev.patchbay.http-async-status",
    .version = "1.1.0",
    .display_name = "HTTP async export: status (status check)",
    .description = "Polls an asynchronous export's status over HTTP or HTTPS until it is ready, then gives its download URL.",
    .parameters_schema =
        "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"url\"],\"properties\":{"
        "\"url\":{\"type\":\"string\"},\"state_path\":{\"type\":\"string\",\"default\":\"state\"},"
        "\"ready\":{\"type\":\"string\",\"default\":\"done\"},\"failed\":{\"type\":\"string\",\"default\":\"failed\"},"
        "\"download_path\":{\"type\":\"string\"},\"reason_path\":{\"type\":\"string\"}}}",
    .pattern = PATCHBAY_PATTERN_STATUS_CHECK,
    .output_names = (const char *const[]){ "download" },
    .output_count = 1,
#endif
    .credential_names = (const char *const[]){ "access_token" },
    .credential_count = 1,
    .run = run,
    .network = PATCHBAY_NETWORK_ANY,
    .declares = PATCHBAY_DECLARES_OUTPUTS | PATCHBAY_DECLARES_TABLES,
    .output_table_count = 0,
};

uint32_t patchbay_abi_version(void) { return PATCHBAY_ABI_VERSION; }

const patchbay_connector *patchbay_connector_entry(const patchbay_host *h) {
    host = h;
    return &descriptor;
}
