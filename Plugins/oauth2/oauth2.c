/* dev.patchbay.oauth2 — the authentication pattern: gets an OAuth2 access token with the client-credentials
 * grant (RFC 6749 §4.4) from an HTTP or HTTPS token endpoint, and hands it to the run's later tasks as the secret
 * output "access_token" (never stored, never shown), with "access_token_ttl" from expires_in.
 *
 * Parameters: {"token_url": "http://auth.example.com/oauth/token", "client_id": "…", "#client_secret": "…",
 *              "scope": "read", "grant": "client_credentials" | "refresh_token", "#refresh_token": "…"}
 *   The client's credentials go in the form body (client_secret_post). A 400 or 401 is a config error with the
 *   server's error and error_description; 5xx and connection failures are retried (Retry-After or back-off).
 *   grant refresh_token (RFC 6749 §6): the refresh token is the one kept in the component state by the last
 *   successful run, else the "#refresh_token" parameter (the first one); a server that rotates it answers a new
 *   one, which goes into the state as "#refresh_token" — the host keeps '#' members of a state encrypted — and
 *   is used next run (the state is committed only when the job succeeds). #client_secret is then optional.
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
        return fail(error, PATCHBAY_FAILURE_CONFIG, "parameters 'token_url' (http:// or https://) and 'client_id' are required");
    patchbay_params_get(params, "scope", scope, sizeof scope);
    char grant[32] = "client_credentials";
    patchbay_params_get(params, "grant", grant, sizeof grant);
    int refreshing = strcmp(grant, "refresh_token") == 0;
    if (!refreshing && strcmp(grant, "client_credentials") != 0)
        return fail(error, PATCHBAY_FAILURE_CONFIG, "parameter 'grant' must be client_credentials or refresh_token");
    patchbay_str secret = { 0, 0 };
    int has_secret = host->credential(task, patchbay_cstr("#client_secret"), &secret) == PATCHBAY_OK;
    if (!has_secret && !refreshing)
        return fail(error, PATCHBAY_FAILURE_CONFIG, "parameter '#client_secret' is required (it stays encrypted in the flow)");
    /* The refresh token: the rotated one the last successful run kept, else the first one, from the parameters. */
    char refresh[4096] = "", from[32] = "the state";
    if (refreshing) {
        patchbay_str state;
        if (host->state_get(task, &state) != PATCHBAY_OK || patchbay_params_get(state, "#refresh_token", refresh, sizeof refresh) != PATCHBAY_PARAM_FOUND) {
            patchbay_str given;
            if (host->credential(task, patchbay_cstr("#refresh_token"), &given) != PATCHBAY_OK || given.length == 0 || given.length >= sizeof refresh)
                return fail(error, PATCHBAY_FAILURE_CONFIG, "grant refresh_token needs parameter '#refresh_token' (the first one; later runs use the one the server rotated to)");
            memcpy(refresh, given.data, given.length);
            refresh[given.length] = 0;
            strcpy(from, "the parameters");
        }
    }
    pb_url target;
    if (pb_url_parse(token_url, &target, why, sizeof why) != 0) return fail(error, PATCHBAY_FAILURE_CONFIG, why);
    char form[8192] = "";
    form_add(form, sizeof form, "grant_type", grant, strlen(grant));
    if (refreshing) form_add(form, sizeof form, "refresh_token", refresh, strlen(refresh));
    form_add(form, sizeof form, "client_id", client_id, strlen(client_id));
    if (has_secret) form_add(form, sizeof form, "client_secret", secret.data, secret.length);
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
    if (refreshing) {
        char rotated[4096], state[8300];
        int got = patchbay_params_get(body, "refresh_token", rotated, sizeof rotated) == PATCHBAY_PARAM_FOUND && rotated[0];
        /* Kept for the next run: the rotated token, or the one that worked (so a first one from the parameters is kept too). */
        size_t n = (size_t)snprintf(state, sizeof state, "{\"#refresh_token\":\"");
        for (const char *p = got ? rotated : refresh; *p && n + 8 < sizeof state; p++) {
            if (*p == '"' || *p == '\\') state[n++] = '\\';
            state[n++] = *p;
        }
        snprintf(state + n, sizeof state - n, "\"}");
        host->state_set(task, patchbay_cstr(state));
        snprintf(why, sizeof why, "refresh token from %s used; %s", from,
                 got ? "the server rotated it: the new one is kept (encrypted) for the next run" : "the server kept it: it is used again next run");
        host->log(task, PATCHBAY_LOG_INFO, patchbay_cstr(why));
        memset(rotated, 0, sizeof rotated);
        memset(state, 0, sizeof state);
    }
    memset(refresh, 0, sizeof refresh);
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
    .version = "1.1.0",
    .display_name = "OAuth2 (authentication)",
    .description = "Gets an access token for the run's later tasks: the client-credentials grant, or the refresh-token grant with rotation kept.",
    .parameters_schema =
        "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"token_url\",\"client_id\"],\"properties\":{"
        "\"token_url\":{\"type\":\"string\",\"description\":\"the token endpoint, http:// or https://\"},"
        "\"client_id\":{\"type\":\"string\"},"
        "\"#client_secret\":{\"type\":\"string\",\"x-secret\":true,\"description\":\"required for client_credentials\"},"
        "\"grant\":{\"type\":\"string\",\"enum\":[\"client_credentials\",\"refresh_token\"],\"default\":\"client_credentials\"},"
        "\"#refresh_token\":{\"type\":\"string\",\"x-secret\":true,\"description\":\"the first refresh token; rotated ones are kept in the state\"},"
        "\"scope\":{\"type\":\"string\"}}}",
    .credential_names = (const char *const[]){ "#client_secret", "#refresh_token" },
    .credential_count = 2,
    .pattern = PATCHBAY_PATTERN_AUTHENTICATION,
    .capabilities = PATCHBAY_CAP_STATE,
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
