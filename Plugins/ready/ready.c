/* dev.patchbay.ready — a status check (DIL's file-download case): answers PENDING until a source is there,
 * then OK with what it found. The host polls it (`poll: {interval, timeout}` in the flow).
 *
 * Parameters: {"path": "/data/drop/orders.csv"} or {"url": "http://files.example.com:8080/orders.csv"},
 *             "min_bytes": 1, "newer": true
 *   path       a local file (ready when it exists and has min_bytes) or directory (ready when it holds at
 *              least one entry); the flow must grant it: files: {read: [...]}
 *   url        HTTP or HTTPS: ready when HEAD answers 200 (and Content-Length ≥ min_bytes, when given);
 *              404 and 5xx are "not yet", 401 and 403 a config error
 *   min_bytes  the smallest size that counts (default 0)
 *   newer      wait for a source newer than the one the last successful job found (its modification time,
 *              or Last-Modified, kept in the component state): each run waits for a new drop
 * Outputs: source, bytes, modified (RFC 3339 UTC; empty when the server gives no Last-Modified).
 *
 * Built with: cc -shared -fPIC -O2 -I../../SDK/include ready.c -o libready.so
 * Depends only on libc.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "patchbay/connector.h"
#include "patchbay/params.h"
#include "../common/http_client.h"

static const patchbay_host *host;

static patchbay_status fail(patchbay_error *error, patchbay_failure_class cls, const char *message) {
    host->set_error(error, cls, patchbay_cstr(message), patchbay_cstr(""));
    return PATCHBAY_ERROR;
}

/* What a check found: whether it is there, its size and its modification time (seconds; 0 when unknown). */
typedef struct { int present; long long bytes; long long modified; char why[600]; } finding;

static void check_path(const char *path, finding *f) {
    struct stat info;
    if (stat(path, &info) != 0) { snprintf(f->why, sizeof f->why, "%s is not there yet", path); return; }
    f->modified = (long long)info.st_mtime;
    if (S_ISDIR(info.st_mode)) {
        DIR *dir = opendir(path);
        long long entries = 0;
        struct dirent *entry;
        while (dir && (entry = readdir(dir)) != NULL) {
            if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0) entries++;
        }
        if (dir) closedir(dir);
        f->bytes = entries;
        f->present = entries > 0;
        if (!f->present) snprintf(f->why, sizeof f->why, "the directory %s is empty", path);
        return;
    }
    f->bytes = (long long)info.st_size;
    f->present = 1;
}

/* HEAD on an HTTP or HTTPS URL. Returns 0, or a config error's message in f->why with -1. */
static int check_url(const char *url, finding *f) {
    pb_url target;
    if (pb_url_parse(url, &target, f->why, sizeof f->why) != 0) return -1;
    pb_response response;
    if (pb_http("HEAD", &target, NULL, NULL, 0, 10, &response, f->why, sizeof f->why) != 0) return 0;  /* not there yet */
    int status = response.status;
    char value[128];
    if (status == 401 || status == 403) {
        snprintf(f->why, sizeof f->why, "HEAD %.200s answered %d: the source refuses this client", url, status);
        pb_response_free(&response);
        return -1;
    }
    if (status != 200) {
        snprintf(f->why, sizeof f->why, "HEAD %.200s answered %d", url, status);
        pb_response_free(&response);
        return 0;
    }
    f->present = 1;
    f->bytes = pb_header(&response, "Content-Length", value, sizeof value) ? atoll(value) : -1;
    if (pb_header(&response, "Last-Modified", value, sizeof value)) {
        /* An HTTP date: "Wed, 02 Dec 2026 10:00:00 GMT". */
        static const char *months = "JanFebMarAprMayJunJulAugSepOctNovDec";
        char month[4] = "";
        int day = 0, year = 0, hour = 0, minute = 0, second = 0;
        const char *m;
        if (sscanf(value, "%*3s, %d %3s %d %d:%d:%d", &day, month, &year, &hour, &minute, &second) == 6 && (m = strstr(months, month))) {
            struct tm parts;
            memset(&parts, 0, sizeof parts);
            parts.tm_mday = day; parts.tm_mon = (int)((m - months) / 3); parts.tm_year = year - 1900;
            parts.tm_hour = hour; parts.tm_min = minute; parts.tm_sec = second;
            f->modified = (long long)timegm(&parts);
        }
    }
    pb_response_free(&response);
    return 0;
}

static patchbay_status run(patchbay_task *task, patchbay_error *error) {
    patchbay_str params = host->parameters(task);
    char path[4096] = "", url[2048] = "", why[600];
    int has_path = patchbay_params_get(params, "path", path, sizeof path) == PATCHBAY_PARAM_FOUND;
    int has_url = patchbay_params_get(params, "url", url, sizeof url) == PATCHBAY_PARAM_FOUND;
    if (has_path == has_url) return fail(error, PATCHBAY_FAILURE_CONFIG, "give one of 'path' (a local file or directory) and 'url' (http:// or https://)");
    long long min_bytes = 0;
    int newer = 0;
    if (patchbay_params_integer(params, "min_bytes", &min_bytes) < 0 || min_bytes < 0)
        return fail(error, PATCHBAY_FAILURE_CONFIG, "parameter 'min_bytes' must be a whole number of bytes, 0 or more");
    if (patchbay_params_boolean(params, "newer", &newer) < 0) return fail(error, PATCHBAY_FAILURE_CONFIG, "parameter 'newer' must be true or false");
    long long seen = 0;
    patchbay_str state = { 0, 0 };
    if (newer && host->state_get(task, &state) == PATCHBAY_OK) patchbay_params_integer(state, "modified", &seen);
    finding f = { 0, 0, 0, "" };
    if (has_path) check_path(path, &f);
    else if (check_url(url, &f) != 0) return fail(error, PATCHBAY_FAILURE_CONFIG, f.why);
    const char *source = has_path ? path : url;
    if (f.present && f.bytes >= 0 && f.bytes < min_bytes) {
        f.present = 0;
        snprintf(f.why, sizeof f.why, "%.400s has %lld bytes, fewer than min_bytes %lld", source, f.bytes, min_bytes);
    }
    if (f.present && newer && f.modified <= seen) {
        f.present = 0;
        snprintf(f.why, sizeof f.why, "%.400s is not newer than the one the last run found", source);
    }
    if (!f.present) {
        host->progress(task, -1, patchbay_cstr(f.why));
        return PATCHBAY_PENDING;
    }
    char text[64] = "";
    host->set_output(task, patchbay_cstr("source"), patchbay_cstr(source), 0);
    snprintf(text, sizeof text, "%lld", f.bytes);
    host->set_output(task, patchbay_cstr("bytes"), patchbay_cstr(f.bytes >= 0 ? text : ""), 0);
    text[0] = 0;
    if (f.modified > 0) {
        time_t at = (time_t)f.modified;
        struct tm parts;
        gmtime_r(&at, &parts);
        strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
    }
    host->set_output(task, patchbay_cstr("modified"), patchbay_cstr(text), 0);
    if (newer) {
        char next[64];
        snprintf(next, sizeof next, "{\"modified\":%lld}", f.modified);
        host->state_set(task, patchbay_cstr(next));
    }
    snprintf(why, sizeof why, "%.400s is ready (%lld %s, modified %s)", source, f.bytes, has_path && f.bytes >= 0 ? "bytes or entries" : "bytes", text[0] ? text : "unknown");
    host->log(task, PATCHBAY_LOG_INFO, patchbay_cstr(why));
    return PATCHBAY_OK;
}

static const patchbay_connector descriptor = {
    .struct_size = sizeof(patchbay_connector),
    .abi_version = PATCHBAY_ABI_VERSION,
    .id = "dev.patchbay.ready",
    .version = "1.1.0",
    .display_name = "Ready (status check)",
    .description = "Waits until a local file or directory, or an HTTP or HTTPS resource, is there (and newer than last time).",
    .parameters_schema =
        "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
        "\"path\":{\"type\":\"string\",\"description\":\"a local file or directory the flow grants\"},"
        "\"url\":{\"type\":\"string\",\"description\":\"an http:// or https:// URL answering HEAD\"},"
        "\"min_bytes\":{\"type\":\"integer\",\"minimum\":0,\"default\":0},"
        "\"newer\":{\"type\":\"boolean\",\"default\":false,\"description\":\"wait for a source newer than last run's\"}}}",
    .pattern = PATCHBAY_PATTERN_STATUS_CHECK,
    .capabilities = PATCHBAY_CAP_STATE,
    .run = run,
    .network = PATCHBAY_NETWORK_ANY,  /* for url; a flow that checks a path narrows it: network: none */
    .declares = PATCHBAY_DECLARES_OUTPUTS | PATCHBAY_DECLARES_TABLES,
    .output_names = (const char *const[]){ "source", "bytes", "modified" },
    .output_count = 3,
    .output_table_count = 0,
};

uint32_t patchbay_abi_version(void) { return PATCHBAY_ABI_VERSION; }

const patchbay_connector *patchbay_connector_entry(const patchbay_host *h) {
    host = h;
    return &descriptor;
}
