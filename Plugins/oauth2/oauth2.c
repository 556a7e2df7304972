/* dev.patchbay.oauth2 — the authentication pattern: gets an OAuth2 access token with the client-credentials
 * grant (RFC 6749 §4.4) from a plain-HTTP token endpoint, and hands it to the run's later tasks as the secret
 * output "access_token" (never stored, never shown), with "access_token_ttl" from expires_in.
 *
 * Parameters: {"token_url": "http://auth.example.com/oauth/token", "client_id": "…", "#client_secret": "…",
 *              "scope": "read"}
 *   The client's credentials go in the form body (client_secret_post). A 400 or 401 is a config error with the
 *   server's error and error_description; 5xx and connection failures are retried (Retry-After or back-off).
 *
 * Built with: cc -shared -fPIC -O2 -I../../SDK/include oauth2.c -o liboauth2.so
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

/* application/x-www-form-urlencoded: name=value, the value percent-encoded, '&' between pairs. */
static void form_add(char *out, size_t cap, const char *name, const char *value, size_t length) {
    size_t n = strlen(out);
    n += (size_t)snprintf(out + n, cap - n, "%s%s=", n ? "&" : "", name);
    for (size_t i = 0; i < length && n + 4 < cap; i++) {
        unsigned char c = (unsigned char)value[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~')
            out[n++] = (char)c;
        else
            n += (size_t)snprintf(out + n, cap - n, "%%%02X", c);
    }
    out[n < cap ? n : cap - 1] = 0;
}

static patchbay_status run(patchbay_task *task, patchbay_error *error) {
    patchbay_str params = host->parameters(task);
    char token_url[2048], client_id[512], scope[512] = "", why[1500];
    if (patchbay_params_get(params, "token_url", token_url, sizeof token_url) != PATCHBAY_PARAM_FOUND
        || patchbay_params_get(params, "client_id", client_id, sizeof client_id) != PATCHBAY_PARAM_FOUND)
        return fail(error, PATCHBAY_FAILURE_CONFIG, "parameters 'token_url' (plain http://) and 'client_id' are required");
    patchbay_params_get(params, "scope", scope, sizeof scope);
    patchbay_str secret = { 0, 0 };
    if (host->credential(task, patchbay_cstr("#client_secret"), &secret) != PATCHBAY_OK)
        return fail(error, PATCHBAY_FAILURE_CONFIG, "parameter '#client_secret' is required (it stays encrypted in the flow)");
    pb_url target;
    if (pb_url_parse(token_url, &target, why, sizeof why) != 0) return fail(error, PATCHBAY_FAILURE_CONFIG, why);
    char form[4096] = "";
    form_add(form, sizeof form, "grant_type", "client_credentials", 18);
    form_add(form, sizeof form, "client_id", client_id, strlen(client_id));
    form_add(form, sizeof form, "client_secret", secret.data, secret.length);
    if (scope[0]) form_add(form, sizeof form, "scope", scope, strlen(scope));
    pb_retry_policy policy = { 4, 30000, 0 };
    pb_response response;
    long long attempts = 0;
    patchbay_status s = pb_http_retrying(host, task, "POST", &target, "Content-Type: application/x-www-form-urlencoded\r\nAccept: application/json\r\n",
                                         form, strlen(form), &policy, &response, &attempts, why, sizeof why);
    if (s != PATCHBAY_OK) return s;
    patchbay_str body = { response.body ? response.body : "", response.body_length };
    char token[4096], value[512], description[512] = "";
    if (response.status < 200 || response.status > 299) {
        char code[128] = "";
        patchbay_params_get(body, "error", code, sizeof code);
        patchbay_params_get(body, "error_description", description, sizeof description);
        char message[2000];
        snprintf(message, sizeof message, "the token endpoint %.300s refused: %.200s%s%.300s%s", token_url, code[0] ? code : why,
                 description[0] ? " (" : "", description, description[0] ? ")" : "");
        int status = response.status;
        pb_response_free(&response);
        return fail(error, status == 400 || status == 401 || status == 403 ? PATCHBAY_FAILURE_CONFIG : PATCHBAY_FAILURE_TRANSIENT, message);
    }
    if (patchbay_params_get(body, "access_token", token, sizeof token) != PATCHBAY_PARAM_FOUND || !token[0]) {
        pb_response_free(&response);
        return fail(error, PATCHBAY_FAILURE_SYSTEM, "the token endpoint answered 200 without an access_token");
    }
    host->set_output(task, patchbay_cstr("access_token"), patchbay_cstr(token), PATCHBAY_OUTPUT_SECRET);
    if (patchbay_params_get(body, "expires_in", value, sizeof value) == PATCHBAY_PARAM_FOUND && atoll(value) > 0)
        host->set_output(task, patchbay_cstr("access_token_ttl"), patchbay_cstr(value), 0);
    snprintf(why, sizeof why, "got an access token from %.300s (expires in %s s)", token_url,
             patchbay_params_get(body, "expires_in", value, sizeof value) == PATCHBAY_PARAM_FOUND ? value : "?");
    host->log(task, PATCHBAY_LOG_INFO, patchbay_cstr(why));
    memset(token, 0, sizeof token);
    pb_response_free(&response);
    return PATCHBAY_OK;
}

static const patchbay_connector descriptor = {
    .struct_size = sizeof(patchbay_connector),
    .abi_version = PATCHBAY_ABI_VERSION,
    .id = "dev.patchbay.oauth2",
    .version = "1.0.0",
    .display_name = "OAuth2 client credentials (authentication)",
    .description = "Gets an access token for the run's later tasks, with the client-credentials grant.",
    .parameters_schema =
        "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"token_url\",\"client_id\",\"#client_secret\"],\"properties\":{"
        "\"token_url\":{\"type\":\"string\",\"description\":\"the token endpoint, plain http://\"},"
        "\"client_id\":{\"type\":\"string\"},"
        "\"#client_secret\":{\"type\":\"string\",\"x-secret\":true},"
        "\"scope\":{\"type\":\"string\"}}}",
    .credential_names = (const char *const[]){ "#client_secret" },
    .credential_count = 1,
    .pattern = PATCHBAY_PATTERN_AUTHENTICATION,
    .run = run,
    .network = PATCHBAY_NETWORK_ANY,  /* a flow narrows it to the token endpoint's port */
    .declares = PATCHBAY_DECLARES_OUTPUTS | PATCHBAY_DECLARES_TABLES,
    .output_names = (const char *const[]){ "access_token", "access_token_ttl" },
    .output_count = 2,
    .output_table_count = 0,
};

uint32_t patchbay_abi_version(void) { return PATCHBAY_ABI_VERSION; }

const patchbay_connector *patchbay_connector_entry(const patchbay_host *h) {
    host = h;
    return &descriptor;
}
