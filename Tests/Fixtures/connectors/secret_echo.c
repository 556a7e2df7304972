/* Test connectors that misuse their secrets on purpose, to prove the host hides them.
 *
 * test.secret-echo (extraction): asks for the credentials "#password", "api_key" and "access_token";
 *   logs each value raw, base64, JSON-escaped and URL-encoded, prints it to stdout, sets it as a
 *   plain (non-secret) output and, if it was denied, says so and goes on. With {"table": "B.T"} it
 *   also writes one row to that output table.
 * test.auth (authentication): sets the secret output "access_token" to its credential "#token"
 *   (a '#' parameter) and "access_token_ttl" to parameters.ttl (seconds). With {"rotate": true} the token
 *   is "#token-N", N one more than its state's "issued" (which it sets to N).
 * test.api (extraction, -DAPI): a service's client that asks for "access_token" and refuses a token ending in
 *   parameters.revoked (default "-1") as PATCHBAY_FAILURE_UNAUTHORIZED; with {"revoked": "*"} it refuses every one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "patchbay/connector.h"
#include "patchbay/params.h"

static const patchbay_host *host;

/* A string parameter, or "" when absent (patchbay/params.h reads it). */
static void text(patchbay_str json, const char *key, char *out, size_t cap) {
    if (patchbay_params_get(json, key, out, cap) != PATCHBAY_PARAM_FOUND) out[0] = 0;
}

static void say(patchbay_task *task, const char *message) {
    patchbay_str m = { message, strlen(message) };
    host->log(task, PATCHBAY_LOG_INFO, m);
}

static void base64(const char *in, size_t length, char *out) {
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < length; i += 3) {
        unsigned v = (unsigned char)in[i] << 16;
        if (i + 1 < length) v |= (unsigned char)in[i + 1] << 8;
        if (i + 2 < length) v |= (unsigned char)in[i + 2];
        out[o++] = alphabet[(v >> 18) & 63];
        out[o++] = alphabet[(v >> 12) & 63];
        out[o++] = i + 1 < length ? alphabet[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < length ? alphabet[v & 63] : '=';
    }
    out[o] = 0;
}

static void json_escaped(const char *in, size_t length, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < length; i++) {
        char c = in[i];
        if (c == '"' || c == '\\' || c == '/') { out[o++] = '\\'; out[o++] = c; } else { out[o++] = c; }
    }
    out[o] = 0;
}

static void url_encoded(const char *in, size_t length, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char)in[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~') {
            out[o++] = (char)c;
        } else {
            o += (size_t)sprintf(out + o, "%%%02X", c);
        }
    }
    out[o] = 0;
}

static patchbay_status echo(patchbay_task *task, patchbay_error *error) {
    (void)error;
    patchbay_str given = host->parameters(task);
    char shown[4096];
    snprintf(shown, sizeof shown, "parameters: %.*s", (int)given.length, given.data);
    say(task, shown);
    const char *names[] = { "#password", "api_key", "access_token" };
    for (size_t k = 0; k < 3; k++) {
        patchbay_str name = { names[k], strlen(names[k]) }, value = { 0, 0 };
        patchbay_status status = host->credential(task, name, &value);
        char line[4096], encoded[2048], raw[512];
        if (status == PATCHBAY_DENIED) { snprintf(line, sizeof line, "denied %s; going on anyway", names[k]); say(task, line); continue; }
        if (status != PATCHBAY_OK) { snprintf(line, sizeof line, "missing %s", names[k]); say(task, line); continue; }
        size_t n = value.length < sizeof raw - 1 ? value.length : sizeof raw - 1;
        memcpy(raw, value.data, n);
        raw[n] = 0;
        snprintf(line, sizeof line, "%s raw: %s", names[k], raw); say(task, line);
        base64(raw, n, encoded); snprintf(line, sizeof line, "%s base64: %s", names[k], encoded); say(task, line);
        json_escaped(raw, n, encoded); snprintf(line, sizeof line, "{\"%s\": \"%s\"}", names[k], encoded); say(task, line);
        url_encoded(raw, n, encoded); snprintf(line, sizeof line, "GET /login?%s=%s", names[k], encoded); say(task, line);
        printf("stdout %s=%s\n", names[k], raw);
        fflush(stdout);
        patchbay_str output = { names[k][0] == '#' ? "password_echo" : names[k], names[k][0] == '#' ? 13 : strlen(names[k]) };
        patchbay_str v = { raw, n };
        host->set_output(task, output, v, 0);
    }
    char table[128];
    text(host->parameters(task), "table", table, sizeof table);
    if (table[0]) {
        patchbay_str tname = { table, strlen(table) }, column = { "status", 6 }, cell = { "ok", 2 };
        patchbay_table_writer *writer = 0;
        if (host->open_output(task, tname, &column, 1, &writer) != PATCHBAY_OK) return PATCHBAY_ERROR;
        host->write_records(writer, &cell, 1);
        host->close_output(writer);
    }
    return PATCHBAY_OK;
}

static patchbay_status authenticate(patchbay_task *task, patchbay_error *error) {
    char ttl[32];
    patchbay_str credential = { "#token", 6 }, value = { 0, 0 };
    if (host->credential(task, credential, &value) != PATCHBAY_OK) {
        patchbay_str message = { "no #token", 9 };
        host->set_error(error, PATCHBAY_FAILURE_CONFIG, message, message);
        return PATCHBAY_ERROR;
    }
    text(host->parameters(task), "ttl", ttl, sizeof ttl);
    patchbay_str name = { "access_token", 12 };
    char rotated[600];
    int rotate = 0;
    if (patchbay_params_boolean(host->parameters(task), "rotate", &rotate) == PATCHBAY_PARAM_FOUND && rotate) {
        long long issued = 0;
        patchbay_str state_json = { 0, 0 };
        if (host->state_get(task, &state_json) == PATCHBAY_OK) patchbay_params_integer(state_json, "issued", &issued);
        snprintf(rotated, sizeof rotated, "%.*s-%lld", (int)(value.length < 500 ? value.length : 500), value.data, issued + 1);
        value.data = rotated;
        value.length = strlen(rotated);
        char state[64];
        snprintf(state, sizeof state, "{\"issued\":%lld}", issued + 1);
        host->state_set(task, patchbay_cstr(state));
    }
    host->set_output(task, name, value, PATCHBAY_OUTPUT_SECRET);
    if (ttl[0]) {
        patchbay_str ttl_name = { "access_token_ttl", 16 }, ttl_value = { ttl, strlen(ttl) };
        host->set_output(task, ttl_name, ttl_value, 0);
    }
    return PATCHBAY_OK;
}

static const char *const echo_credentials[] = { "#password", "api_key", "access_token" };
static const char *const auth_credentials[] = { "#token" };

static const patchbay_connector echo_descriptor = {
    .struct_size = sizeof(patchbay_connector),
    .abi_version = PATCHBAY_ABI_VERSION,
    .id = "test.secret-echo",
    .version = "1.0.0",
    .display_name = "Secret echo (test)",
    .description = "Leaks its credentials in every encoding, on purpose.",
    .parameters_schema = "{\"type\":\"object\"}",
    .credential_names = echo_credentials,
    .credential_count = 3,
    .pattern = PATCHBAY_PATTERN_EXTRACTION,
    .capabilities = PATCHBAY_CAP_WRITES_TABLES,
    .run = echo,
};

static const patchbay_connector auth_descriptor = {
    .struct_size = sizeof(patchbay_connector),
    .abi_version = PATCHBAY_ABI_VERSION,
    .id = "test.auth",
    .version = "1.0.0",
    .display_name = "Authentication (test)",
    .description = "Sets a secret access token with a TTL.",
    .parameters_schema = "{\"type\":\"object\"}",
    .credential_names = auth_credentials,
    .credential_count = 1,
    .pattern = PATCHBAY_PATTERN_AUTHENTICATION,
    .capabilities = 0,
    .run = authenticate,
};

static patchbay_status call_api(patchbay_task *task, patchbay_error *error) {
    patchbay_str name = { "access_token", 12 }, value = { 0, 0 };
    if (host->credential(task, name, &value) != PATCHBAY_OK) {
        host->set_error(error, PATCHBAY_FAILURE_CONFIG, patchbay_cstr("no access_token"), patchbay_cstr(""));
        return PATCHBAY_ERROR;
    }
    char revoked[64];
    text(host->parameters(task), "revoked", revoked, sizeof revoked);
    if (!revoked[0]) strcpy(revoked, "-1");
    size_t n = strlen(revoked);
    if (strcmp(revoked, "*") == 0 || (value.length >= n && memcmp(value.data + value.length - n, revoked, n) == 0)) {
        host->set_error(error, PATCHBAY_FAILURE_UNAUTHORIZED, patchbay_cstr("401 Unauthorized: the token was revoked"), patchbay_cstr(""));
        return PATCHBAY_ERROR;
    }
    say(task, "the service accepted the token");
    return PATCHBAY_OK;
}

static const char *const api_credentials[] = { "access_token" };

static const patchbay_connector api_descriptor = {
    .struct_size = sizeof(patchbay_connector),
    .abi_version = PATCHBAY_ABI_VERSION,
    .id = "test.api",
    .version = "1.0.0",
    .display_name = "API client (test)",
    .description = "Refuses a revoked access token as unauthorized.",
    .parameters_schema = "{\"type\":\"object\"}",
    .credential_names = api_credentials,
    .credential_count = 1,
    .pattern = PATCHBAY_PATTERN_EXTRACTION,
    .run = call_api,
};

uint32_t patchbay_abi_version(void) { return PATCHBAY_ABI_VERSION; }

#if defined(API)
const patchbay_connector *patchbay_connector_entry(const patchbay_host *h) { host = h; return &api_descriptor; }
#elif defined(AUTH)
const patchbay_connector *patchbay_connector_entry(const patchbay_host *h) { host = h; return &auth_descriptor; }
#else
const patchbay_connector *patchbay_connector_entry(const patchbay_host *h) { host = h; return &echo_descriptor; }
#endif
