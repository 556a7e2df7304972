/* dev.patchbay.http-extract — the extraction pattern for JSON REST APIs over HTTP or HTTPS, declared by its
 * parameters (no code): where the records are, how to page, when to stop.
 *
 * Parameters: {"url": "http://api.example.com:8080/orders", "records": "data.items", "table": "in.orders",
 *              "pagination": {"type": "page", "param": "page", "start": 1, "size_param": "per_page", "size": 100,
 *                             "path": "meta.next", "total": "meta.total"},
 *              "max_pages": 10000, "columns": {"id": "integer"}, "max_attempts": 4, "max_wait_s": 120}
 *   records     a dot path to the array of records in the body ("" or absent: the body is the array)
 *   pagination  type none | page (param, start) | offset (param, size_param) | cursor (path → param)
 *               | next_url (path: a URL in the body) | link (the Link header's rel="next"); size_param and
 *               size ask for a page size; total: a dot path to the count of all records
 *   Stops on: no next page (no cursor, no next URL), an empty page, the total reached, max_pages; a page
 *   whose records are those of the page before, or a cursor seen within the last 2 pages, is a pagination
 *   loop: the task fails (config) saying so, rather than run forever or duplicate rows.
 *   Each record is a flat object: strings unescaped, numbers and booleans as written, null as NULL, nested
 *   values as JSON text. The columns are `columns` (typed, by name) or the first page's keys; a key
 *   outside them is dropped, with one warning.
 *   Retries 408/429/5xx and connection failures (Retry-After or back-off, within max_wait_s), under the
 *   project's rate limit for the host; an "access_token" credential is sent as a bearer token (a 401 fails
 *   as UNAUTHORIZED: the host authenticates again once), a "#api_key" parameter as the api_key_header.
 *   parent {url, records, field}: parent → child requests: one GET of parent.url gives the parent records; for
 *   each, its `field` (percent-encoded) replaces {parent} in `url`, and that child is paged from its start.
 *   incremental {field, param, lookback}: keeps the greatest `field` seen (a number, or text such as an RFC 3339
 *   time) in the component state, committed only on success; the next run sends it as the query `param` (less
 *   `lookback` for a number) and skips records at or below it, so none is extracted twice.
 *   Checkpoints (ABI 1.5): after every page the rows so far are written and the state says where the next page
 *   starts; a job whose runner dies (killed, crashed, timed out) and is retried resumes at that page, with those
 *   rows kept, so no record is lost or extracted twice. The committed state never holds the position.
 * Outputs: rows, pages, watermark.
 *
 * Built with: cc -shared -fPIC -O2 -I../../SDK/include http_extract.c -o libhttp_extract.so
 * Depends only on libc.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "patchbay/connector.h"
#include "patchbay/params.h"
#include "../common/http_client.h"

static const patchbay_host *host;

enum { MAX_COLUMNS = 256, BATCH_ROWS = 256 };

static patchbay_status fail(patchbay_error *error, patchbay_failure_class cls, const char *message) {
    host->set_error(error, cls, patchbay_cstr(message), patchbay_cstr(""));
    return PATCHBAY_ERROR;
}

typedef struct {
    char url[2048], records[256], table[256];
    char type[16], param[64], size_param[64], path[256], total[256], api_key_header[128];
    char watermark_field[128], watermark_param[64];  /* incremental: the field, and the query parameter to send it as */
    char parent_url[2048], parent_records[256], parent_field[128];  /* parent → child: `url` holds {parent} */
    char ca_file[1024];  /* https: the CA certificates to trust instead of the system's */
    char extra_headers[2048];  /* `headers`, each "Name: value\r\n" */
    char token_in[8], token_header[128];  /* where a cursor goes: query (default), header (token_header) or body */
    char request_body[2048];  /* with token_in body: the JSON object POSTed, the cursor added as `param` */
    char auth_type[16], username[256], api_key_in[8], api_key_param[64];
    long long max_bytes;
    long long lookback;
    long long start, size, max_pages, max_attempts, max_wait_s;
    size_t typed;
    char typed_name[MAX_COLUMNS][128];
    patchbay_column_type typed_type[MAX_COLUMNS];
} settings;

/* `base` with `name=value` added to its query (value percent-encoded). */
static void with_query(char *out, size_t cap, const char *base, const char *name, const char *value) {
    size_t n = (size_t)snprintf(out, cap, "%s%c%s=", base, strchr(base, '?') ? '&' : '?', name);
    for (const unsigned char *v = (const unsigned char *)value; *v && n + 4 < cap; v++) {
        if ((*v >= 'a' && *v <= 'z') || (*v >= 'A' && *v <= 'Z') || (*v >= '0' && *v <= '9') || *v == '-' || *v == '_' || *v == '.' || *v == '~')
            out[n++] = (char)*v;
        else
            n += (size_t)snprintf(out + n, cap - n, "%%%02X", *v);
    }
    out[n < cap ? n : cap - 1] = 0;
}

static patchbay_status read_parameters(patchbay_task *task, patchbay_error *error, settings *set) {
    patchbay_str params = host->parameters(task);
    memset(set, 0, sizeof *set);
    if (patchbay_params_get(params, "url", set->url, sizeof set->url) != PATCHBAY_PARAM_FOUND)
        return fail(error, PATCHBAY_FAILURE_CONFIG, "parameter 'url' (the first page, http:// or https://) is required");
    patchbay_params_get(params, "records", set->records, sizeof set->records);
    if (patchbay_params_get(params, "table", set->table, sizeof set->table) != PATCHBAY_PARAM_FOUND) strcpy(set->table, "in.http");
    if (patchbay_params_get(params, "api_key_header", set->api_key_header, sizeof set->api_key_header) != PATCHBAY_PARAM_FOUND)
        strcpy(set->api_key_header, "X-API-Key");
    set->max_pages = 10000;
    set->max_attempts = 4;
    set->max_wait_s = 120;
    if (patchbay_params_integer(params, "max_pages", &set->max_pages) < 0 || set->max_pages < 1
        || patchbay_params_integer(params, "max_attempts", &set->max_attempts) < 0 || set->max_attempts < 1
        || patchbay_params_integer(params, "max_wait_s", &set->max_wait_s) < 0 || set->max_wait_s < 0)
        return fail(error, PATCHBAY_FAILURE_CONFIG, "max_pages, max_attempts and max_wait_s must be whole numbers (1 or more; max_wait_s 0 or more)");
    strcpy(set->type, "none");
    patchbay_str paging;
    if (patchbay_params_member(params, "pagination", &paging) == PATCHBAY_PARAM_FOUND) {
        patchbay_params_get(paging, "type", set->type, sizeof set->type);
        patchbay_params_get(paging, "param", set->param, sizeof set->param);
        patchbay_params_get(paging, "size_param", set->size_param, sizeof set->size_param);
        patchbay_params_get(paging, "path", set->path, sizeof set->path);
        patchbay_params_get(paging, "total", set->total, sizeof set->total);
        set->start = 1;
        patchbay_params_integer(paging, "start", &set->start);
        strcpy(set->token_in, "query");
        patchbay_params_get(paging, "in", set->token_in, sizeof set->token_in);
        patchbay_params_get(paging, "header", set->token_header, sizeof set->token_header);
        patchbay_params_get(paging, "body", set->request_body, sizeof set->request_body);
        patchbay_params_integer(paging, "size", &set->size);
    }
    if (!set->token_in[0]) strcpy(set->token_in, "query");
    if (strcmp(set->token_in, "query") && strcmp(set->token_in, "header") && strcmp(set->token_in, "body"))
        return fail(error, PATCHBAY_FAILURE_CONFIG, "pagination.in (where the cursor goes) must be query, header or body");
    if (strcmp(set->token_in, "header") == 0 && !set->token_header[0])
        return fail(error, PATCHBAY_FAILURE_CONFIG, "pagination.header (the header that carries the cursor) is required with in: header");
    if (strcmp(set->token_in, "body") == 0 && (!set->request_body[0] || set->request_body[0] != '{'))
        strcpy(set->request_body, "{}");
    static const char *types[] = { "none", "page", "offset", "cursor", "next_url", "link" };
    int known = 0;
    for (size_t i = 0; i < 6; i++) known |= strcmp(set->type, types[i]) == 0;
    if (!known) return fail(error, PATCHBAY_FAILURE_CONFIG, "pagination.type must be none, page, offset, cursor, next_url or link");
    if ((strcmp(set->type, "page") == 0 || strcmp(set->type, "offset") == 0 || strcmp(set->type, "cursor") == 0) && !set->param[0])
        return fail(error, PATCHBAY_FAILURE_CONFIG, "pagination.param (the query parameter that selects the page) is required for page, offset and cursor");
    if ((strcmp(set->type, "cursor") == 0 || strcmp(set->type, "next_url") == 0) && !set->path[0])
        return fail(error, PATCHBAY_FAILURE_CONFIG, "pagination.path (where the body gives the next cursor or URL) is required for cursor and next_url");
    if (strcmp(set->type, "offset") == 0 && set->size < 1)
        return fail(error, PATCHBAY_FAILURE_CONFIG, "pagination.size (the page size, 1 or more) is required for offset");
    patchbay_str incremental;
    if (patchbay_params_member(params, "incremental", &incremental) == PATCHBAY_PARAM_FOUND) {
        if (patchbay_params_get(incremental, "field", set->watermark_field, sizeof set->watermark_field) != PATCHBAY_PARAM_FOUND)
            return fail(error, PATCHBAY_FAILURE_CONFIG, "incremental.field (the record field that only grows: an id or an updated_at) is required");
        patchbay_params_get(incremental, "param", set->watermark_param, sizeof set->watermark_param);
        patchbay_params_integer(incremental, "lookback", &set->lookback);
    }
    if (patchbay_params_get(params, "ca_file", set->ca_file, sizeof set->ca_file) == PATCHBAY_PARAM_FOUND) pb_tls_trust(set->ca_file);
    /* Headers and query parameters sent with every request (their values may be ${{ }} templates: the host renders them). */
    const char *cursor = NULL;
    char key[128], text[1024];
    patchbay_str member;
    size_t key_length;
    patchbay_str object;
    if (patchbay_params_member(params, "headers", &object) == PATCHBAY_PARAM_FOUND)
        while (patchbay_json_members(object, &cursor, key, sizeof key, &member, &key_length) == PATCHBAY_PARAM_FOUND) {
            size_t used = 0;
            if (member.data[0] != '"' || !patchbay_json_string(member.data, member.data + member.length, text, sizeof text, &used)
                || strpbrk(text, "\r\n") || strpbrk(key, "\r\n: ") || !key[0])
                return fail(error, PATCHBAY_FAILURE_CONFIG, "parameter 'headers': each is a name (no spaces, colons or line breaks) and a string value on one line");
            size_t n = strlen(set->extra_headers);
            if (n + strlen(key) + strlen(text) + 5 >= sizeof set->extra_headers) return fail(error, PATCHBAY_FAILURE_CONFIG, "parameter 'headers' is longer than 2 KiB");
            snprintf(set->extra_headers + n, sizeof set->extra_headers - n, "%s: %s\r\n", key, text);
        }
    cursor = NULL;
    if (patchbay_params_member(params, "query", &object) == PATCHBAY_PARAM_FOUND)
        while (patchbay_json_members(object, &cursor, key, sizeof key, &member, &key_length) == PATCHBAY_PARAM_FOUND) {
            size_t used = 0;
            if (member.data[0] == '"') patchbay_json_string(member.data, member.data + member.length, text, sizeof text, &used);
            else snprintf(text, sizeof text, "%.*s", (int)(member.length < sizeof text ? member.length : sizeof text - 1), member.data);
            char with[2048];
            with_query(with, sizeof with, set->url, key, text);
            snprintf(set->url, sizeof set->url, "%s", with);
        }
    /* Auth beyond a bearer token from an earlier task: basic, or an API key in a header or the query. */
    strcpy(set->auth_type, "auto");
    strcpy(set->api_key_in, "header");
    strcpy(set->api_key_param, "api_key");
    patchbay_str auth;
    if (patchbay_params_member(params, "auth", &auth) == PATCHBAY_PARAM_FOUND) {
        patchbay_params_get(auth, "type", set->auth_type, sizeof set->auth_type);
        patchbay_params_get(auth, "username", set->username, sizeof set->username);
        patchbay_params_get(auth, "in", set->api_key_in, sizeof set->api_key_in);
        patchbay_params_get(auth, "param", set->api_key_param, sizeof set->api_key_param);
        if (strcmp(set->auth_type, "none") && strcmp(set->auth_type, "basic") && strcmp(set->auth_type, "bearer") && strcmp(set->auth_type, "api_key"))
            return fail(error, PATCHBAY_FAILURE_CONFIG, "auth.type must be none, basic, bearer or api_key");
        if (strcmp(set->auth_type, "basic") == 0 && !set->username[0])
            return fail(error, PATCHBAY_FAILURE_CONFIG, "auth.username is required for basic auth (its password: the secret parameter '#password')");
        if (strcmp(set->api_key_in, "header") && strcmp(set->api_key_in, "query"))
            return fail(error, PATCHBAY_FAILURE_CONFIG, "auth.in must be header or query");
    }
    if (patchbay_params_integer(params, "max_bytes", &set->max_bytes) < 0 || set->max_bytes < 0)
        return fail(error, PATCHBAY_FAILURE_CONFIG, "max_bytes must be a whole number of bytes");
    patchbay_str parent;
    if (patchbay_params_member(params, "parent", &parent) == PATCHBAY_PARAM_FOUND) {
        if (patchbay_params_get(parent, "url", set->parent_url, sizeof set->parent_url) != PATCHBAY_PARAM_FOUND
            || patchbay_params_get(parent, "field", set->parent_field, sizeof set->parent_field) != PATCHBAY_PARAM_FOUND)
            return fail(error, PATCHBAY_FAILURE_CONFIG, "parent.url (where the parent records are) and parent.field (the value each child request takes) are required");
        patchbay_params_get(parent, "records", set->parent_records, sizeof set->parent_records);
        if (!strstr(set->url, "{parent}"))
            return fail(error, PATCHBAY_FAILURE_CONFIG, "with 'parent', 'url' must say where each parent's value goes: {parent} (e.g. http://api/customers/{parent}/orders)");
    }
    patchbay_str declared;
    if (patchbay_params_member(params, "columns", &declared) == PATCHBAY_PARAM_FOUND) {
        const char *cursor = NULL;
        patchbay_str value;
        size_t key_length = 0;
        while (set->typed < MAX_COLUMNS && patchbay_json_members(declared, &cursor, set->typed_name[set->typed], sizeof set->typed_name[0], &value, &key_length)
               == PATCHBAY_PARAM_FOUND) {
            patchbay_column_type type = patchbay_column_type_named(value);
            if (!type || key_length >= sizeof set->typed_name[0]) {
                char why[300];
                snprintf(why, sizeof why, "parameter 'columns': column '%.100s' needs a type: string, integer, decimal, float, boolean, date, timestamp or json",
                         set->typed_name[set->typed]);
                return fail(error, PATCHBAY_FAILURE_CONFIG, why);
            }
            set->typed_type[set->typed++] = type;
        }
    }
    return PATCHBAY_OK;
}

/* Orders two watermark values: as numbers when both are, else as text (RFC 3339 times in one form sort as text). */
static int watermark_compare(const char *a, const char *b) {
    char *end_a, *end_b;
    double x = strtod(a, &end_a), y = strtod(b, &end_b);
    if (*a && *b && !*end_a && !*end_b) return x < y ? -1 : x > y;
    return strcmp(a, b);
}

/* A next URL as the server gave it: absolute, or a path on the same host. */
static void resolve(char *out, size_t cap, const pb_url *base, const char *next) {
    if (strncmp(next, "http://", 7) == 0 || strncmp(next, "https://", 8) == 0) snprintf(out, cap, "%s", next);
    else snprintf(out, cap, "%s://%s:%s%s%s", base->tls ? "https" : "http", base->host, base->port, next[0] == '/' ? "" : "/", next);
}

/* The output: its columns, their types, and a batch of rows being filled. */
typedef struct {
    patchbay_table_writer *writer;
    size_t ncol;
    char *names[MAX_COLUMNS];
    patchbay_column_type types[MAX_COLUMNS];
    char *values;  /* NUL-separated copies of one batch's values */
    size_t used, cap;
    size_t *at;    /* (offset, length or -1 for NULL) per value */
    size_t count;
    unsigned long long rows, dropped;
    char dropped_key[128];
    char *scratch;  /* one record's unescaped strings, reused */
    size_t scratch_cap;
} output;

static int keep(output *o, const char *text, size_t n, int is_null) {
    if (o->used + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 1 << 16;
        while (cap < o->used + n + 1) cap *= 2;
        char *grown = realloc(o->values, cap);
        if (!grown) return -1;
        o->values = grown;
        o->cap = cap;
    }
    o->at[2 * o->count] = o->used;
    o->at[2 * o->count + 1] = is_null ? (size_t)-1 : n;
    memcpy(o->values + o->used, text, n);
    o->used += n;
    o->values[o->used++] = 0;
    o->count++;
    return 0;
}

static patchbay_status flush_rows(output *o) {
    if (o->count == 0) return PATCHBAY_OK;
    patchbay_str *vals = malloc(sizeof *vals * o->count);
    uint8_t *nulls = calloc(o->count, 1);
    if (!vals || !nulls) { free(vals); free(nulls); return PATCHBAY_ERROR; }
    for (size_t i = 0; i < o->count; i++) {
        vals[i].data = o->values + o->at[2 * i];
        vals[i].length = o->at[2 * i + 1] == (size_t)-1 ? 0 : o->at[2 * i + 1];
        nulls[i] = o->at[2 * i + 1] == (size_t)-1;
    }
    patchbay_status s = host->write_records_nullable(o->writer, vals, nulls, o->count / o->ncol);
    o->rows += o->count / o->ncol;
    o->count = o->used = 0;
    free(vals);
    free(nulls);
    return s;
}

/* One record into the batch, column by column; its other keys are dropped (the first is remembered). The record is
 * the object at `p`, read in the same pass that finds its end: *record_end is the byte after it, or NULL when the
 * text stops being JSON there (the caller reports the byte). Reading a page used to cross every byte six times
 * (the path to the records, the path's parent, the loop hash, each record, each member, the total); see run(). */
static patchbay_status add_record(output *o, const char *p, const char *end, const char **record_end, char *why, size_t cap) {
    *record_end = NULL;
    if (p >= end || *p != '{') {
        if ((*record_end = patchbay_json_skip_value(p, end)) != NULL) snprintf(why, cap, "a record that is not a JSON object");
        return *record_end ? PATCHBAY_ERROR : PATCHBAY_OK;
    }
    size_t start = o->count;
    for (size_t c = 0; c < o->ncol; c++) keep(o, "", 0, 1);  /* NULL until a key fills it */
    patchbay_str record = { p, (size_t)(end - p) };
    const char *cursor = NULL, *after = p + 1;  /* after: the end of the last member read */
    char key[128];
    size_t key_length = 0;
    patchbay_str value;
    int found;
    size_t expected = 0;  /* records of one API mostly list their keys in one order: try the next column first */
    while ((found = patchbay_json_members(record, &cursor, key, sizeof key, &value, &key_length)) == PATCHBAY_PARAM_FOUND) {
        after = cursor;
        size_t c = expected;
        if (c >= o->ncol || strcmp(o->names[c], key) != 0)
            for (c = 0; c < o->ncol && strcmp(o->names[c], key) != 0; c++) {}
        expected = c + 1;
        if (c == o->ncol) {
            if (!o->dropped++) snprintf(o->dropped_key, sizeof o->dropped_key, "%s", key);
            continue;
        }
        size_t slot = start + c, n = value.length;
        const char *v = value.data;
        if (n == 4 && memcmp(v, "null", 4) == 0) continue;
        if (v[0] == '"') {
            /* A string without escapes is its own text between the quotes (the members walk checked its end). */
            const char *q = v + 1, *close = v + n - 1;
            while (q < close && *q != '\\') q++;
            if (q == close) {
                v++;
                n -= 2;
            } else {
                if (o->scratch_cap < n + 1) {  /* unescaped, a string is never longer than its JSON text */
                    char *grown = realloc(o->scratch, n + 1);
                    if (!grown) return PATCHBAY_ERROR;
                    o->scratch = grown;
                    o->scratch_cap = n + 1;
                }
                if (!patchbay_json_string(v, v + n, o->scratch, n + 1, &n)) { snprintf(why, cap, "a malformed string in column '%s'", key); return PATCHBAY_ERROR; }
                v = o->scratch;
            }
        }
        /* The value goes at the batch's end; its slot points there (the placeholder stays unused). */
        if (keep(o, v, n, 0) != 0) return PATCHBAY_ERROR;
        o->count--;
        o->at[2 * slot] = o->at[2 * o->count];
        o->at[2 * slot + 1] = o->at[2 * o->count + 1];
    }
    if (found != PATCHBAY_PARAM_ABSENT) { o->count = start; return PATCHBAY_OK; }  /* *record_end NULL: not JSON here */
    /* The walk ended at this '}', or at the end of the text when the record is cut short there (a truncated body). */
    const char *close = patchbay_json_skip_ws(after, end);
    if (close < end && *close == '}') *record_end = close + 1;
    else o->count = start;
    return PATCHBAY_OK;
}

/* The loop check's hash of a page's records: FNV-1a over 8-byte words (a byte at a time cost more than reading the
 * records themselves: a multiply's latency per byte). */
static unsigned long long records_hash(patchbay_str records) {
    unsigned long long hash = 1469598103934665603ULL;
    size_t i = 0;
    for (; i + 8 <= records.length; i += 8) {
        unsigned long long word;
        memcpy(&word, records.data + i, 8);
        hash = (hash ^ word) * 1099511628211ULL;
        hash ^= hash >> 29;
    }
    for (; i < records.length; i++) hash = (hash ^ (unsigned char)records.data[i]) * 1099511628211ULL;
    return hash;
}

enum { MAX_PARENTS = 100000 };

/* The parents' values: `field` of every record at parent_records of one GET of parent_url, each percent-encoded
 * for a URL path or query (*out: count × 256 bytes, the caller frees it). */
static patchbay_status read_parents(patchbay_task *task, patchbay_error *error, const settings *set, const char *headers,
                                    pb_retry_policy *policy, char **out, size_t *count, char *why) {
    pb_url target;
    if (pb_url_parse(set->parent_url, &target, why, 2048) != 0) return fail(error, PATCHBAY_FAILURE_CONFIG, why);
    pb_response response;
    long long attempts = 0;
    patchbay_status s = pb_http_retrying(host, task, "GET", &target, headers, NULL, 0, policy, &response, &attempts, why, 2048);
    if (s != PATCHBAY_OK) return s;
    if (response.status < 200 || response.status > 299) {
        char message[2600];
        snprintf(message, sizeof message, "the parents: GET %.500s: %.600s after %lld attempt%s", set->parent_url, why, attempts, attempts == 1 ? "" : "s");
        patchbay_failure_class cls = response.status == 401 ? PATCHBAY_FAILURE_UNAUTHORIZED
                                   : pb_http_retryable(response.status) ? PATCHBAY_FAILURE_TRANSIENT : PATCHBAY_FAILURE_CONFIG;
        pb_response_free(&response);
        return fail(error, cls, message);
    }
    patchbay_str body = { response.body ? response.body : "", response.body_length }, records;
    if (!pb_json_at(body, set->parent_records, &records) || records.length == 0 || records.data[0] != '[') {
        snprintf(why, 2048, "the parents: GET %.500s: the body has no array of records at '%s' (set parent.records to its dot path)", set->parent_url, set->parent_records);
        pb_response_free(&response);
        return fail(error, PATCHBAY_FAILURE_CONFIG, why);
    }
    *out = NULL;
    *count = 0;
    size_t cap = 0;
    const char *p = patchbay_json_skip_ws(records.data + 1, records.data + records.length), *end = records.data + records.length;
    while (p < end && *p != ']') {
        const char *value_end = patchbay_json_skip_value(p, end);
        if (!value_end) break;
        char value[200];
        patchbay_str record = { p, (size_t)(value_end - p) };
        if (!pb_json_text_at(record, set->parent_field, value, sizeof value) || !value[0]) {
            snprintf(why, 2048, "the parents: record %zu of %.500s has no '%s'", *count + 1, set->parent_url, set->parent_field);
            pb_response_free(&response);
            return fail(error, PATCHBAY_FAILURE_CONFIG, why);
        }
        if (*count == MAX_PARENTS) { pb_response_free(&response); return fail(error, PATCHBAY_FAILURE_CONFIG, "more than 100,000 parents: narrow parent.url"); }
        if (*count == cap) {
            cap = cap ? cap * 2 : 64;
            char *bigger = realloc(*out, cap * 256);
            if (!bigger) { pb_response_free(&response); return fail(error, PATCHBAY_FAILURE_SYSTEM, "out of memory"); }
            *out = bigger;
        }
        char *slot = *out + *count * 256;
        size_t n = 0;
        for (const unsigned char *c = (const unsigned char *)value; *c && n + 4 < 256; c++) {
            if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' || *c == '_' || *c == '.' || *c == '~')
                slot[n++] = (char)*c;
            else
                n += (size_t)snprintf(slot + n, 256 - n, "%%%02X", *c);
        }
        slot[n] = 0;
        (*count)++;
        p = patchbay_json_skip_ws(value_end, end);
        if (p < end && *p == ',') p = patchbay_json_skip_ws(p + 1, end);
    }
    pb_response_free(&response);
    return PATCHBAY_OK;
}

/* Where the next page starts, with what the loop knows by then: a checkpoint's state (ABI 1.5). After each
 * page the rows are written and this goes into the state beside the committed watermark; if the runner dies,
 * the next attempt reads it back, with the rows so far already in the table, and asks for the next page. */
typedef struct {
    long long child, page, offset, pages, child_pages;
    unsigned long long skipped, bytes, child_start, hash, rows;
    char next[4096], token[600], cursor[2][512], newest[256];
} resume_point;

/* `text` as the inside of a JSON string. */
static void json_escape(char *out, size_t cap, const char *text) {
    size_t n = 0;
    for (const unsigned char *c = (const unsigned char *)text; *c && n + 7 < cap; c++) {
        if (*c == '"' || *c == '\\') { out[n++] = '\\'; out[n++] = (char)*c; }
        else if (*c < 0x20) n += (size_t)snprintf(out + n, cap - n, "\\u%04x", *c);
        else out[n++] = (char)*c;
    }
    out[n] = 0;
}

static patchbay_status save_checkpoint(patchbay_task *task, const output *o, const char *watermark, const resume_point *at) {
    size_t cap = 16384 + o->ncol * 300, n = 0;
    char *json = malloc(cap), escaped[4 * 4096 + 8];
    if (!json) return PATCHBAY_ERROR;
    json_escape(escaped, sizeof escaped, watermark);
    n += (size_t)snprintf(json + n, cap - n, "{\"watermark\":\"%s\",\"resume\":{\"child\":%lld,\"page\":%lld,\"offset\":%lld,"
                          "\"pages\":%lld,\"child_pages\":%lld,\"skipped\":%llu,\"bytes\":%llu,\"child_start\":%llu,\"hash\":\"%llu\",\"rows\":%llu",
                          escaped, at->child, at->page, at->offset, at->pages, at->child_pages, at->skipped, at->bytes, at->child_start, at->hash, at->rows);
    const char *texts[] = { "next", at->next, "token", at->token, "cursor0", at->cursor[0], "cursor1", at->cursor[1], "newest", at->newest };
    for (size_t i = 0; i < 10; i += 2) {
        json_escape(escaped, sizeof escaped, texts[i + 1]);
        n += (size_t)snprintf(json + n, cap - n, ",\"%s\":\"%s\"", texts[i], escaped);
    }
    n += (size_t)snprintf(json + n, cap - n, ",\"columns\":{");
    for (size_t c = 0; c < o->ncol && n < cap; c++) {
        json_escape(escaped, 600, o->names[c]);
        n += (size_t)snprintf(json + n, cap - n, "%s\"%s\":%u", c ? "," : "", escaped, (unsigned)o->types[c]);
    }
    patchbay_status s = n + 3 < cap ? PATCHBAY_OK : PATCHBAY_ERROR;
    if (s == PATCHBAY_OK) {
        snprintf(json + n, cap - n, "}}}");
        s = host->state_set(task, patchbay_cstr(json));
    }
    free(json);
    return s;
}

/* A checkpoint's position from the state, and the table's columns (reopened as they were). 1 if there was one. */
static int read_checkpoint(patchbay_str state, output *o, resume_point *at) {
    patchbay_str resume, columns, value;
    if (patchbay_params_member(state, "resume", &resume) != PATCHBAY_PARAM_FOUND) return 0;
    patchbay_params_integer(resume, "child", &at->child);
    patchbay_params_integer(resume, "page", &at->page);
    patchbay_params_integer(resume, "offset", &at->offset);
    patchbay_params_integer(resume, "pages", &at->pages);
    patchbay_params_integer(resume, "child_pages", &at->child_pages);
    long long number = 0;
    if (patchbay_params_integer(resume, "skipped", &number) == PATCHBAY_PARAM_FOUND) at->skipped = (unsigned long long)number;
    if (patchbay_params_integer(resume, "bytes", &number) == PATCHBAY_PARAM_FOUND) at->bytes = (unsigned long long)number;
    if (patchbay_params_integer(resume, "child_start", &number) == PATCHBAY_PARAM_FOUND) at->child_start = (unsigned long long)number;
    if (patchbay_params_integer(resume, "rows", &number) == PATCHBAY_PARAM_FOUND) at->rows = (unsigned long long)number;
    char hash[32] = "";
    patchbay_params_get(resume, "hash", hash, sizeof hash);
    at->hash = strtoull(hash, NULL, 10);
    patchbay_params_get(resume, "next", at->next, sizeof at->next);
    patchbay_params_get(resume, "token", at->token, sizeof at->token);
    patchbay_params_get(resume, "cursor0", at->cursor[0], sizeof at->cursor[0]);
    patchbay_params_get(resume, "cursor1", at->cursor[1], sizeof at->cursor[1]);
    patchbay_params_get(resume, "newest", at->newest, sizeof at->newest);
    if (patchbay_params_member(resume, "columns", &columns) == PATCHBAY_PARAM_FOUND) {
        const char *cursor = NULL;
        char key[512];
        while (o->ncol < MAX_COLUMNS && patchbay_json_members(columns, &cursor, key, sizeof key, &value, NULL) == PATCHBAY_PARAM_FOUND) {
            o->names[o->ncol] = strdup(key);
            o->types[o->ncol++] = (patchbay_column_type)strtoul(value.data, NULL, 10);
        }
    }
    return 1;
}

static patchbay_status run(patchbay_task *task, patchbay_error *error) {
    settings *set = calloc(1, sizeof *set);
    output *o = calloc(1, sizeof *o);
    char *why = malloc(2048), *url = malloc(4096), *next = malloc(4096);
    char previous_cursor[2][512] = { "", "" };
    char *parents = NULL;  /* parent → child: the parents' values, 256 bytes each */
    resume_point *at = NULL;  /* a checkpoint's position, when this attempt resumes one */
    unsigned long long previous_hash = 0;
    int total_read = 0;  /* the total of the pages being read (a child's own) is known */
    unsigned long long known_total = 0;
    patchbay_status s = PATCHBAY_OK;
    if (!set || !o || !why || !url || !next) { s = fail(error, PATCHBAY_FAILURE_SYSTEM, "out of memory"); goto done; }
    if ((s = read_parameters(task, error, set)) != PATCHBAY_OK) goto done;
    pb_url base;
    if (pb_url_parse(set->url, &base, why, 2048) != 0) { s = fail(error, PATCHBAY_FAILURE_CONFIG, why); goto done; }
    char headers[5000] = "Accept: application/json\r\n";
    snprintf(headers + strlen(headers), sizeof headers - strlen(headers), "%s", set->extra_headers);
    patchbay_str secret = { 0, 0 };
    int automatic = strcmp(set->auth_type, "auto") == 0;
    if (strcmp(set->auth_type, "basic") == 0) {
        /* RFC 7617: base64 of "user:password". */
        char plain[600], encoded[820];
        patchbay_str password = { "", 0 };
        host->credential(task, patchbay_cstr("#password"), &password);
        int n = snprintf(plain, sizeof plain, "%s:%.*s", set->username, (int)(password.length < 300 ? password.length : 300), password.data);
        static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        size_t e = 0;
        for (int i = 0; i < n; i += 3) {
            unsigned v = (unsigned char)plain[i] << 16 | (i + 1 < n ? (unsigned char)plain[i + 1] << 8 : 0) | (i + 2 < n ? (unsigned char)plain[i + 2] : 0);
            encoded[e++] = digits[v >> 18 & 63];
            encoded[e++] = digits[v >> 12 & 63];
            encoded[e++] = i + 1 < n ? digits[v >> 6 & 63] : '=';
            encoded[e++] = i + 2 < n ? digits[v & 63] : '=';
        }
        encoded[e] = 0;
        snprintf(headers + strlen(headers), sizeof headers - strlen(headers), "Authorization: Basic %s\r\n", encoded);
        memset(plain, 0, sizeof plain);
    } else if ((automatic || strcmp(set->auth_type, "bearer") == 0)
               && host->credential(task, patchbay_cstr("access_token"), &secret) == PATCHBAY_OK && secret.length < 2000) {
        snprintf(headers + strlen(headers), sizeof headers - strlen(headers), "Authorization: Bearer %.*s\r\n", (int)secret.length, secret.data);
    } else if ((automatic || strcmp(set->auth_type, "api_key") == 0)
               && host->credential(task, patchbay_cstr("#api_key"), &secret) == PATCHBAY_OK && secret.length < 2000) {
        if (strcmp(set->api_key_in, "query") == 0) {
            char key_value[2048], with[2048];
            snprintf(key_value, sizeof key_value, "%.*s", (int)secret.length, secret.data);
            with_query(with, sizeof with, set->url, set->api_key_param, key_value);
            snprintf(set->url, sizeof set->url, "%s", with);
        } else {
            snprintf(headers + strlen(headers), sizeof headers - strlen(headers), "%s: %.*s\r\n", set->api_key_header, (int)secret.length, secret.data);
        }
    }
    o->at = malloc(sizeof(size_t) * 2 * (BATCH_ROWS + 1) * MAX_COLUMNS);
    if (!o->at) { s = fail(error, PATCHBAY_FAILURE_SYSTEM, "out of memory"); goto done; }
    pb_retry_policy policy = { set->max_attempts, set->max_wait_s * 1000, 0 };
    /* Incremental: the last run's watermark, sent as the query parameter (less the lookback, for numbers). */
    char watermark[256] = "", newest[256] = "";
    patchbay_str state = { 0, 0 };
    if (set->watermark_field[0] && host->state_get(task, &state) == PATCHBAY_OK)
        patchbay_params_get(state, "watermark", watermark, sizeof watermark);
    if (watermark[0] && set->watermark_param[0]) {
        char sent[256], *end;
        long long number = strtoll(watermark, &end, 10);
        if (!*end && set->lookback > 0) snprintf(sent, sizeof sent, "%lld", number - set->lookback); else snprintf(sent, sizeof sent, "%s", watermark);
        char with[2048];
        with_query(with, sizeof with, set->url, set->watermark_param, sent);
        snprintf(set->url, sizeof set->url, "%s", with);
    }
    snprintf(newest, sizeof newest, "%s", watermark);
    unsigned long long skipped = 0;
    long long page = set->start, offset = 0, pages = 0, child_pages = 0;
    unsigned long long child_start = 0;  /* records before this child's: its total counts only its own */
    unsigned long long bytes = 0;  /* bodies read, for max_bytes */
    char token[600] = "";  /* the cursor, when it goes in a header or the body */
    /* A checkpoint of an attempt before this one: go on from the page after its last. */
    at = calloc(1, sizeof *at);
    if (!at) { s = fail(error, PATCHBAY_FAILURE_SYSTEM, "out of memory"); goto done; }
    int resuming = host->state_get(task, &state) == PATCHBAY_OK && read_checkpoint(state, o, at);
    if (resuming) {
        page = at->page; offset = at->offset; pages = at->pages; child_pages = at->child_pages;
        skipped = at->skipped; bytes = at->bytes; child_start = at->child_start; previous_hash = at->hash; o->rows = at->rows;
        snprintf(token, sizeof token, "%s", at->token);
        snprintf(previous_cursor[0], sizeof previous_cursor[0], "%s", at->cursor[0]);
        snprintf(previous_cursor[1], sizeof previous_cursor[1], "%s", at->cursor[1]);
        snprintf(newest, sizeof newest, "%s", at->newest);
        if (o->ncol > 0) {
            patchbay_str columns[MAX_COLUMNS];
            for (size_t c = 0; c < o->ncol; c++) columns[c] = patchbay_cstr(o->names[c]);
            if ((s = host->open_output_typed(task, patchbay_cstr(set->table), columns, o->types, o->ncol, &o->writer)) != PATCHBAY_OK) {
                snprintf(why, 2048, "cannot reopen output table '%s' from the checkpoint (status %u)", set->table, s);
                s = fail(error, PATCHBAY_FAILURE_SYSTEM, why);
                goto done;
            }
        }
        snprintf(why, 2048, "resuming after page %lld (%llu rows kept by the checkpoint)", pages, o->rows);
        host->log(task, PATCHBAY_LOG_INFO, patchbay_cstr(why));
    }
    /* Parent → child: each parent's value in its place in the URL, each child paged from its start. */
    char url_template[2048];
    size_t parent_count = 1;
    snprintf(url_template, sizeof url_template, "%s", set->url);
    if (set->parent_url[0]) {
        if ((s = read_parents(task, error, set, headers, &policy, &parents, &parent_count, why)) != PATCHBAY_OK) goto done;
        snprintf(why, 2048, "%zu parents from %.500s: one child request sequence each", parent_count, set->parent_url);
        host->log(task, PATCHBAY_LOG_INFO, patchbay_cstr(why));
    }
    for (size_t child = resuming ? (size_t)at->child : 0; child < parent_count; child++) {
    int resumed_child = resuming && child == (size_t)at->child && at->child_pages > 0;  /* else it starts afresh */
    if (parents) {
        char *place = strstr(url_template, "{parent}");
        snprintf(set->url, sizeof set->url, "%.*s%s%s", (int)(place - url_template), url_template, parents + child * 256, place + 8);
        if (!resumed_child) {
            page = set->start; offset = 0; child_pages = 0; previous_hash = 0; total_read = 0;
            child_start = o->rows + (o->ncol ? o->count / o->ncol : 0) + skipped;
            previous_cursor[0][0] = previous_cursor[1][0] = 0;
            token[0] = 0;
        }
    }
    if (resumed_child) snprintf(next, 4096, "%s", at->next); else snprintf(next, 4096, "%s", set->url);
    int more = 1;
    while (more) {
        /* This page's URL. */
        if (strcmp(set->type, "page") == 0 || strcmp(set->type, "offset") == 0) {
            char number[32], sized[4096];
            snprintf(number, sizeof number, "%lld", strcmp(set->type, "page") == 0 ? page : offset);
            with_query(sized, sizeof sized, set->url, set->param, number);
            if (set->size_param[0] && set->size > 0) { snprintf(number, sizeof number, "%lld", set->size); with_query(url, 4096, sized, set->size_param, number); }
            else snprintf(url, 4096, "%s", sized);
        } else {
            snprintf(url, 4096, "%s", next);
        }
        pb_url target;
        if (pb_url_parse(url, &target, why, 2048) != 0) { s = fail(error, PATCHBAY_FAILURE_CONFIG, why); goto done; }
        pb_response response;
        long long attempts = 0;
        /* A cursor that goes in a header or in the body (then the request is a POST of `pagination.body`). */
        char page_headers[5400], page_body[2600] = "";
        snprintf(page_headers, sizeof page_headers, "%s", headers);
        int posting = strcmp(set->token_in, "body") == 0;
        if (posting) {
            if (token[0]) {
                char quoted[700];
                size_t q = 0;
                for (const char *c = token; *c && q + 3 < sizeof quoted; c++) { if (*c == '"' || *c == '\\') quoted[q++] = '\\'; quoted[q++] = *c; }
                quoted[q] = 0;
                const char *inner = patchbay_json_skip_ws(set->request_body + 1, set->request_body + strlen(set->request_body));
                snprintf(page_body, sizeof page_body, "{\"%s\":\"%s\"%s%s", set->param, quoted, *inner == '}' ? "" : ",", set->request_body + 1);
            } else {
                snprintf(page_body, sizeof page_body, "%s", set->request_body);
            }
            snprintf(page_headers + strlen(page_headers), sizeof page_headers - strlen(page_headers), "Content-Type: application/json\r\n");
        } else if (token[0] && strcmp(set->token_in, "header") == 0) {
            snprintf(page_headers + strlen(page_headers), sizeof page_headers - strlen(page_headers), "%s: %s\r\n", set->token_header, token);
        }
        s = pb_http_retrying(host, task, posting ? "POST" : "GET", &target, page_headers, posting ? page_body : NULL, strlen(page_body),
                             &policy, &response, &attempts, why, 2048);
        if (s != PATCHBAY_OK) goto done;
        bytes += response.body_length;
        if (response.status < 200 || response.status > 299) {
            char message[2600];
            snprintf(message, sizeof message, "%s %.500s: %.600s after %lld attempt%s%s%.300s", posting ? "POST" : "GET", url, why, attempts, attempts == 1 ? "" : "s",
                     response.body_length ? ": " : "", response.body ? response.body : "");
            patchbay_failure_class cls = response.status == 401 ? PATCHBAY_FAILURE_UNAUTHORIZED
                                       : pb_http_retryable(response.status) ? PATCHBAY_FAILURE_TRANSIENT : PATCHBAY_FAILURE_CONFIG;
            pb_response_free(&response);
            s = fail(error, cls, message);
            goto done;
        }
        pages++;
        child_pages++;
        patchbay_str body = { response.body ? response.body : "", response.body_length };
        /* The records are read where they start, in one pass that finds their end (never crossed beforehand). */
        const char *first = pb_json_start_at(body, set->records), *end = body.data + body.length;
        if (!first || *first != '[') {
            snprintf(why, 2048, "GET %.500s: the body has no array of records at '%s' (set \"records\" to its dot path)", url, set->records);
            pb_response_free(&response);
            s = fail(error, PATCHBAY_FAILURE_CONFIG, why);
            goto done;
        }
        const char *p = patchbay_json_skip_ws(first + 1, end);
        int empty = p < end && *p == ']';
        /* The columns: declared, else the first page's first record's keys. */
        if (!o->writer) {
            if (set->typed) {
                for (size_t c = 0; c < set->typed; c++) { o->names[c] = strdup(set->typed_name[c]); o->types[c] = set->typed_type[c]; }
                o->ncol = set->typed;
            } else if (!empty) {
                const char *cursor = NULL, *first_end = patchbay_json_skip_value(p, end);
                patchbay_str first = { p, first_end ? (size_t)(first_end - p) : 0 }, value;
                char key[128];
                while (o->ncol < MAX_COLUMNS && patchbay_json_members(first, &cursor, key, sizeof key, &value, NULL) == PATCHBAY_PARAM_FOUND) {
                    o->names[o->ncol] = strdup(key);
                    o->types[o->ncol++] = PATCHBAY_TYPE_STRING;
                }
            }
            if (o->ncol > 0) {
                patchbay_str columns[MAX_COLUMNS];
                for (size_t c = 0; c < o->ncol; c++) columns[c] = patchbay_cstr(o->names[c]);
                if ((s = host->open_output_typed(task, patchbay_cstr(set->table), columns, o->types, o->ncol, &o->writer)) != PATCHBAY_OK) {
                    snprintf(why, 2048, "cannot open output table '%s' (status %u)", set->table, s);
                    pb_response_free(&response);
                    s = fail(error, PATCHBAY_FAILURE_CONFIG, why);
                    goto done;
                }
            }
        }
        long long in_page = 0;
        const char *broken = NULL;  /* where the records' JSON stops being JSON */
        while (p < end && *p != ']') {
            const char *value_end = NULL;
            if (set->watermark_field[0] || !o->writer) {  /* the record's bounds first: its watermark is read before it */
                value_end = patchbay_json_skip_value(p, end);
                if (!value_end) { broken = p; break; }
            }
            /* Incremental: a record at or below the last run's watermark was read before (a lookback re-reads it). */
            char mark[256];
            if (set->watermark_field[0] && pb_json_text_at((patchbay_str){ p, (size_t)(value_end - p) }, set->watermark_field, mark, sizeof mark)) {
                if (watermark[0] && watermark_compare(mark, watermark) <= 0) {
                    skipped++;
                    in_page++;
                    p = patchbay_json_skip_ws(value_end, end);
                    if (p < end && *p == ',') p = patchbay_json_skip_ws(p + 1, end);
                    continue;
                }
                if (!newest[0] || watermark_compare(mark, newest) > 0) snprintf(newest, sizeof newest, "%s", mark);
            }
            patchbay_status added = PATCHBAY_OK;
            if (o->writer) {
                added = add_record(o, p, value_end ? value_end : end, &value_end, why, 2048);
                if (added == PATCHBAY_OK && !value_end) { broken = p; break; }
            }
            if (added != PATCHBAY_OK) {
                char message[2600];
                snprintf(message, sizeof message, "GET %.500s: record %lld (at byte %zu of the body): %.1000s", url, in_page + 1, (size_t)(p - body.data), why);
                pb_response_free(&response);
                s = fail(error, PATCHBAY_FAILURE_CONFIG, message);
                goto done;
            }
            in_page++;
            if (o->count >= BATCH_ROWS * o->ncol && flush_rows(o) != PATCHBAY_OK) { pb_response_free(&response); s = fail(error, PATCHBAY_FAILURE_SYSTEM, "the rows could not be written"); goto done; }
            p = patchbay_json_skip_ws(value_end, end);
            if (p < end && *p == ',') p = patchbay_json_skip_ws(p + 1, end);
            else if (p < end && *p != ']') { broken = p; break; }
        }
        if (!broken && p < end) {
            /* The same records as the page before: the server ignores the paging parameters (a loop). The page's rows
             * are in the batch by now; the task fails, so none of them is ever committed. */
            unsigned long long hash = records_hash((patchbay_str){ first, (size_t)(p + 1 - first) });
            if (child_pages > 1 && hash == previous_hash && !empty) {
                snprintf(why, 2048, "pagination loop: page %lld (%.500s) returned the same records as the page before; check pagination.param", pages, url);
                pb_response_free(&response);
                s = fail(error, PATCHBAY_FAILURE_CONFIG, why);
                goto done;
            }
            previous_hash = hash;
        }
        if (broken || p >= end) {
            /* Never a page cut short without a word: the records after a fault would be lost. */
            const char *at = broken ? broken : end;
            snprintf(why, 2048, "GET %.500s: the body is not valid JSON at byte %zu (near '%.40s'), after %lld records of page %lld",
                     url, (size_t)(at - body.data), at < body.data + body.length ? at : "the end", in_page, pages);
            pb_response_free(&response);
            s = fail(error, PATCHBAY_FAILURE_SYSTEM, why);
            goto done;
        }
        char progress[160];
        snprintf(progress, sizeof progress, "page %lld: %lld records (%llu so far)", pages, in_page, o->rows + (o->ncol ? o->count / o->ncol : 0));
        host->progress(task, -1, patchbay_cstr(progress));
        /* Where the next page is, and whether there is one. */
        char value[512];
        unsigned long long so_far = o->rows + (o->ncol ? o->count / o->ncol : 0) + skipped - child_start;  /* the total counts every record */
        more = in_page > 0 && strcmp(set->type, "none") != 0;
        /* The total is read on the first page and again only when the records reach it (an API's total may grow while
         * it is read): the records stand before it in most bodies, and finding it crosses them all once more. */
        if (more && set->total[0] && (!total_read || so_far >= known_total)) {
            total_read = pb_json_text_at(body, set->total, value, sizeof value);
            if (total_read) known_total = strtoull(value, NULL, 10);
            if (total_read && so_far >= known_total) more = 0;
        }
        if (more && strcmp(set->type, "page") == 0) page++;
        if (more && strcmp(set->type, "offset") == 0) offset += in_page;
        if (more && strcmp(set->type, "cursor") == 0) {
            if (!pb_json_text_at(body, set->path, value, sizeof value) || !value[0]) more = 0;
            else if (strcmp(value, previous_cursor[0]) == 0 || strcmp(value, previous_cursor[1]) == 0) {
                snprintf(why, 2048, "pagination loop: page %lld gave the cursor '%.200s' again (seen within the last 2 pages)", pages, value);
                pb_response_free(&response);
                s = fail(error, PATCHBAY_FAILURE_CONFIG, why);
                goto done;
            } else {
                snprintf(previous_cursor[1], sizeof previous_cursor[1], "%s", previous_cursor[0]);
                snprintf(previous_cursor[0], sizeof previous_cursor[0], "%s", value);
                if (strcmp(set->token_in, "query") == 0) with_query(next, 4096, set->url, set->param, value);
                else { snprintf(next, 4096, "%s", set->url); snprintf(token, sizeof token, "%s", value); }
            }
        }
        if (more && strcmp(set->type, "next_url") == 0) {
            if (!pb_json_text_at(body, set->path, value, sizeof value) || !value[0]) more = 0;
            else resolve(next, 4096, &base, value);
        }
        if (more && strcmp(set->type, "link") == 0) {
            char link[1024];
            char *open = NULL, *close_bracket = NULL;
            more = 0;
            if (pb_header(&response, "Link", link, sizeof link) && strstr(link, "rel=\"next\"") && (open = strchr(link, '<')) && (close_bracket = strchr(open, '>'))) {
                *close_bracket = 0;
                resolve(next, 4096, &base, open + 1);
                more = 1;
            }
        }
        pb_response_free(&response);
        if (more && set->max_bytes > 0 && bytes >= (unsigned long long)set->max_bytes) {
            snprintf(why, 2048, "stopped after max_bytes %lld (%llu bytes read): the API has more", set->max_bytes, bytes);
            host->log(task, PATCHBAY_LOG_WARNING, patchbay_cstr(why));
            more = 0;
        }
        if (more && pages >= set->max_pages) {
            snprintf(why, 2048, "stopped after max_pages %lld: the API has more", set->max_pages);
            host->log(task, PATCHBAY_LOG_WARNING, patchbay_cstr(why));
            more = 0;
        }
        if (host->is_cancelled(task)) { s = PATCHBAY_CANCELLED; goto done; }
        /* A checkpoint: the rows so far are written, and the state says where the next page starts. */
        if (more || child + 1 < parent_count) {
            if (flush_rows(o) != PATCHBAY_OK) { s = fail(error, PATCHBAY_FAILURE_SYSTEM, "the rows could not be written"); goto done; }
            resume_point point = { .child = (long long)child + !more, .page = more ? page : set->start, .offset = more ? offset : 0,
                                   .pages = pages, .child_pages = more ? child_pages : 0, .skipped = skipped, .bytes = bytes,
                                   .child_start = child_start, .hash = more ? previous_hash : 0, .rows = o->rows };
            snprintf(point.next, sizeof point.next, "%s", more ? next : "");
            snprintf(point.token, sizeof point.token, "%s", more ? token : "");
            snprintf(point.cursor[0], sizeof point.cursor[0], "%s", more ? previous_cursor[0] : "");
            snprintf(point.cursor[1], sizeof point.cursor[1], "%s", more ? previous_cursor[1] : "");
            snprintf(point.newest, sizeof point.newest, "%s", newest);
            if (save_checkpoint(task, o, watermark, &point) != PATCHBAY_OK) {
                s = fail(error, PATCHBAY_FAILURE_SYSTEM, "the checkpoint could not be saved");
                goto done;
            }
        }
    }
    }
    if (parents) snprintf(set->url, sizeof set->url, "%s", url_template);
    if (!o->writer) { s = fail(error, PATCHBAY_FAILURE_CONFIG, "the API returned no records, and no 'columns' are declared to name the table's columns"); goto done; }
    if (flush_rows(o) != PATCHBAY_OK) { s = fail(error, PATCHBAY_FAILURE_SYSTEM, "the rows could not be written"); goto done; }
    if (o->dropped) {
        snprintf(why, 2048, "%llu values had keys outside the table's columns (the first: '%s'); they were dropped (declare \"columns\" to keep them)",
                 o->dropped, o->dropped_key);
        host->log(task, PATCHBAY_LOG_WARNING, patchbay_cstr(why));
    }
    char number[32];
    snprintf(number, sizeof number, "%llu", o->rows);
    host->set_output(task, patchbay_cstr("rows"), patchbay_cstr(number), 0);
    if (!set->watermark_field[0]) host->state_set(task, patchbay_cstr("{}"));  /* no checkpoint's position is committed */
    if (set->watermark_field[0]) {
        /* The state is committed only when the job succeeds: a failed run reads the same rows again. */
        char next_state[400];
        snprintf(next_state, sizeof next_state, "{\"watermark\":\"%s\"}", newest);
        host->state_set(task, patchbay_cstr(next_state));
        host->set_output(task, patchbay_cstr("watermark"), patchbay_cstr(newest), 0);
        snprintf(why, 2048, "incremental on %s: %llu new rows after %s %s (%llu read again and skipped); next run starts after %s",
                 set->watermark_field, o->rows, set->watermark_field, watermark[0] ? watermark : "(first run)", skipped, newest[0] ? newest : "nothing");
        host->log(task, PATCHBAY_LOG_INFO, patchbay_cstr(why));
    }
    snprintf(number, sizeof number, "%lld", pages);
    host->set_output(task, patchbay_cstr("pages"), patchbay_cstr(number), 0);
    snprintf(why, 2048, "extracted %llu rows in %lld pages from %.500s into %s", o->rows, pages, set->url, set->table);
    host->log(task, PATCHBAY_LOG_INFO, patchbay_cstr(why));
    s = PATCHBAY_OK;
done:
    if (o) {
        for (size_t c = 0; c < o->ncol; c++) free(o->names[c]);
        free(o->values);
        free(o->at);
        free(o->scratch);
    }
    free(o);
    free(at);
    free(parents);
    free(set);
    free(why);
    free(url);
    free(next);
    return s;
}

static const patchbay_connector descriptor = {
    .struct_size = sizeof(patchbay_connector),
    .abi_version = PATCHBAY_ABI_VERSION,
    .id = "dev.patchbay.http-extract",
    .version = "1.3.0",
    .display_name = "HTTP extract (JSON REST)",
    .description = "Reads a paginated JSON API over HTTP or HTTPS into a table, declared by its parameters.",
    .parameters_schema =
        "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"url\"],\"properties\":{"
        "\"url\":{\"type\":\"string\",\"description\":\"the first page, http:// or https://\"},"
        "\"records\":{\"type\":\"string\",\"description\":\"dot path to the array of records\"},"
        "\"table\":{\"type\":\"string\",\"default\":\"in.http\"},"
        "\"pagination\":{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
        "\"type\":{\"type\":\"string\",\"enum\":[\"none\",\"page\",\"offset\",\"cursor\",\"next_url\",\"link\"]},"
        "\"param\":{\"type\":\"string\"},\"start\":{\"type\":\"integer\"},\"size_param\":{\"type\":\"string\"},"
        "\"size\":{\"type\":\"integer\",\"minimum\":1},\"path\":{\"type\":\"string\"},\"total\":{\"type\":\"string\"},"
        "\"in\":{\"type\":\"string\",\"enum\":[\"query\",\"header\",\"body\"],\"description\":\"where a cursor goes\"},"
        "\"header\":{\"type\":\"string\"},\"body\":{\"type\":\"string\",\"description\":\"with in: body, the JSON object POSTed\"}}},"
        "\"headers\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"}},"
        "\"query\":{\"type\":\"object\",\"additionalProperties\":{\"type\":[\"string\",\"number\",\"boolean\"]}},"
        "\"auth\":{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
        "\"type\":{\"type\":\"string\",\"enum\":[\"none\",\"basic\",\"bearer\",\"api_key\"]},\"username\":{\"type\":\"string\"},"
        "\"in\":{\"type\":\"string\",\"enum\":[\"header\",\"query\"]},\"param\":{\"type\":\"string\"}}},"
        "\"#password\":{\"type\":\"string\",\"x-secret\":true,\"description\":\"basic auth's password\"},"
        "\"max_bytes\":{\"type\":\"integer\",\"minimum\":0,\"description\":\"stop once the bodies read reach it (0: no cap)\"},"
        "\"max_pages\":{\"type\":\"integer\",\"minimum\":1,\"default\":10000},"
        "\"columns\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\",\"enum\":[\"string\",\"integer\",\"decimal\",\"float\",\"boolean\",\"date\",\"timestamp\",\"json\"]}},"
        "\"incremental\":{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"field\"],\"properties\":{"
        "\"field\":{\"type\":\"string\"},\"param\":{\"type\":\"string\"},\"lookback\":{\"type\":\"integer\",\"minimum\":0}}},"
        "\"parent\":{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"url\",\"field\"],\"properties\":{"
        "\"url\":{\"type\":\"string\"},\"records\":{\"type\":\"string\"},\"field\":{\"type\":\"string\"}},"
        "\"description\":\"parent → child: one GET of url gives the parents; each one's field goes where url says {parent}\"},"
        "\"ca_file\":{\"type\":\"string\",\"description\":\"https: a PEM file of the CA certificates to trust instead of the system's (grant it: files.read)\"},"
        "\"api_key_header\":{\"type\":\"string\",\"default\":\"X-API-Key\"},"
        "\"#api_key\":{\"type\":\"string\",\"x-secret\":true},"
        "\"max_attempts\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":20,\"default\":4},"
        "\"max_wait_s\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":3600,\"default\":120}}}",
    .credential_names = (const char *const[]){ "access_token", "#api_key", "#password" },
    .credential_count = 3,
    .pattern = PATCHBAY_PATTERN_EXTRACTION,
    .capabilities = PATCHBAY_CAP_WRITES_TABLES | PATCHBAY_CAP_STATE | PATCHBAY_CAP_CHECKPOINTS,
    .run = run,
    .network = PATCHBAY_NETWORK_ANY,  /* a flow narrows it to the API's port: network: {tcp: [8080]} */
    .declares = PATCHBAY_DECLARES_OUTPUTS | PATCHBAY_DECLARES_TABLES,
    .output_names = (const char *const[]){ "rows", "pages", "watermark" },
    .output_count = 3,
    .output_tables = (const char *const[]){ "{table}" },
    .output_table_count = 1,
};

uint32_t patchbay_abi_version(void) { return PATCHBAY_ABI_VERSION; }

const patchbay_connector *patchbay_connector_entry(const patchbay_host *h) {
    host = h;
    return &descriptor;
}
