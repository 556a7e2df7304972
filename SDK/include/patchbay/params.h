/* patchbay/params.h — reading a task's parameters (a JSON object) in C, for any connector.
 *
 * Header-only and libc-only: include it after patchbay/connector.h, or alone. Every function is
 * `static`, so two connectors that include it never clash. It reads the top-level members of an
 * object: strings come back unescaped (\uXXXX and surrogate pairs as UTF-8, a lone surrogate as
 * U+FFFD), numbers and booleans as written; a nested object or array is PATCHBAY_PARAM_NOT_SCALAR
 * for those, and patchbay_params_member() gives its raw JSON text (walk an object's members with
 * patchbay_json_members()).
 *
 *     char table[128];
 *     if (patchbay_params_get(host->parameters(task), "table", table, sizeof table) == PATCHBAY_PARAM_FOUND) ...
 *     long long rows = 1000;   (a default, kept when the member is absent)
 *     if (patchbay_params_integer(host->parameters(task), "rows", &rows) < 0) ... a config error
 *
 * The host has already checked the parameters against the connector's JSON Schema before run().
 */
#ifndef PATCHBAY_PARAMS_H
#define PATCHBAY_PARAMS_H

#include <stdlib.h>
#include <string.h>
#include "patchbay/connector.h"

/* What patchbay_params_get() found. */
enum {
    PATCHBAY_PARAM_FOUND = 1,       /* out holds the whole value */
    PATCHBAY_PARAM_ABSENT = 0,      /* no such member */
    PATCHBAY_PARAM_MALFORMED = -1,  /* the text is not a JSON object */
    PATCHBAY_PARAM_TOO_LONG = -2,   /* out holds the first cap-1 bytes only */
    PATCHBAY_PARAM_NOT_SCALAR = -3, /* the member is an object or an array */
    PATCHBAY_PARAM_WRONG_TYPE = -4  /* patchbay_params_integer/_boolean: the member is another type */
};

/* A patchbay_str view of a NUL-terminated string (NULL gives the empty string). */
static inline patchbay_str patchbay_cstr(const char *text) {
    patchbay_str s = { text, text ? strlen(text) : 0 };
    return s;
}

/* Reads 4 hex digits at *p, advancing it; 0x110000 when they are not hex digits. (Internal.) */
static inline unsigned patchbay_json_hex4_(const char **p, const char *end) {
    if (end - *p < 4) return 0x110000u;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char h = *(*p)++;
        v <<= 4;
        if (h >= '0' && h <= '9') v |= (unsigned)(h - '0');
        else if (h >= 'a' && h <= 'f') v |= (unsigned)(h - 'a' + 10);
        else if (h >= 'A' && h <= 'F') v |= (unsigned)(h - 'A' + 10);
        else return 0x110000u;
    }
    return v;
}

static inline const char *patchbay_json_skip_ws(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

/* Parses a JSON string at p (which points at the opening quote). Writes the
 * unescaped text to out (if not NULL, capacity cap, NUL-terminated) and returns
 * the position after the closing quote, or NULL if malformed. */
static inline const char *patchbay_json_string(const char *p, const char *end, char *out, size_t cap, size_t *out_len) {
    size_t n = 0;
    if (p >= end || *p != '"') return NULL;
    p++;
    while (p < end && *p != '"') {
        if (*p != '\\') {  /* a run of plain bytes, copied at once */
            const char *run = p;
            while (p < end && *p != '"' && *p != '\\') p++;
            size_t length = (size_t)(p - run);
            if (out && n + 1 < cap) memcpy(out + n, run, length < cap - 1 - n ? length : cap - 1 - n);
            n += length;
            continue;
        }
        unsigned c = (unsigned char)*p++;
        if (c == '\\') {
            if (p >= end) return NULL;
            char e = *p++;
            switch (e) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'u': {
                unsigned v = patchbay_json_hex4_(&p, end);
                if (v == 0x110000u) return NULL;
                if (v >= 0xD800u && v <= 0xDBFFu && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
                    const char *q = p + 2;
                    unsigned low = patchbay_json_hex4_(&q, end);
                    if (low >= 0xDC00u && low <= 0xDFFFu) { v = 0x10000u + ((v - 0xD800u) << 10) + (low - 0xDC00u); p = q; }
                }
                if (v >= 0xD800u && v <= 0xDFFFu) v = 0xFFFDu; /* a lone surrogate is not text: U+FFFD */
                unsigned char buf[4];
                size_t k;
                if (v < 0x80u) { buf[0] = (unsigned char)v; k = 1; }
                else if (v < 0x800u) { buf[0] = (unsigned char)(0xC0u | (v >> 6)); buf[1] = (unsigned char)(0x80u | (v & 0x3Fu)); k = 2; }
                else if (v < 0x10000u) { buf[0] = (unsigned char)(0xE0u | (v >> 12)); buf[1] = (unsigned char)(0x80u | ((v >> 6) & 0x3Fu)); buf[2] = (unsigned char)(0x80u | (v & 0x3Fu)); k = 3; }
                else { buf[0] = (unsigned char)(0xF0u | (v >> 18)); buf[1] = (unsigned char)(0x80u | ((v >> 12) & 0x3Fu)); buf[2] = (unsigned char)(0x80u | ((v >> 6) & 0x3Fu)); buf[3] = (unsigned char)(0x80u | (v & 0x3Fu)); k = 4; }
                for (size_t i = 0; i < k; i++) { if (out && n + 1 < cap) out[n] = (char)buf[i]; n++; }
                continue;
            }
            default: c = (unsigned char)e; break; /* \" \\ \/ */
            }
        }
        if (out && n + 1 < cap) out[n] = (char)c;
        n++;
    }
    if (p >= end) return NULL;
    if (out && cap > 0) out[n < cap ? n : cap - 1] = '\0';
    if (out_len) *out_len = n;
    return p + 1;
}

/* The column type (ABI 1.3) that a JSON value names with the words flows use, as in `columns: {id: integer}`:
 * "string", "integer", "decimal", "float", "boolean", "date", "timestamp" or "json". 0 for anything else. */
static inline patchbay_column_type patchbay_column_type_named(patchbay_str value) {
    static const struct { const char *word; patchbay_column_type type; } words[] = {
        { "string", PATCHBAY_TYPE_STRING }, { "integer", PATCHBAY_TYPE_INTEGER }, { "decimal", PATCHBAY_TYPE_DECIMAL },
        { "float", PATCHBAY_TYPE_FLOAT }, { "boolean", PATCHBAY_TYPE_BOOLEAN }, { "date", PATCHBAY_TYPE_DATE },
        { "timestamp", PATCHBAY_TYPE_TIMESTAMP }, { "json", PATCHBAY_TYPE_JSON },
    };
    char word[16];
    size_t used = 0;
    if (value.length == 0 || value.data[0] != '"' || !patchbay_json_string(value.data, value.data + value.length, word, sizeof word, &used)) return 0;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) if (strcmp(words[i].word, word) == 0) return words[i].type;
    return 0;
}

/* Skips a JSON string at p (its opening quote): the position after it, or NULL if malformed. A string
 * without escapes (the usual case) is found with two memchr()s; one with escapes is parsed in full. */
static inline const char *patchbay_json_skip_string_(const char *p, const char *end) {
    const char *close = memchr(p + 1, '"', (size_t)(end - p - 1));
    if (!close) return NULL;
    if (!memchr(p + 1, '\\', (size_t)(close - p - 1))) return close + 1;
    return patchbay_json_string(p, end, NULL, 0, NULL);
}

/* Skips any JSON value; returns the position after it, or NULL if malformed. */
static inline const char *patchbay_json_skip_value(const char *p, const char *end) {
    p = patchbay_json_skip_ws(p, end);
    if (p >= end) return NULL;
    if (*p == '"') return patchbay_json_skip_string_(p, end);
    if (*p == '{' || *p == '[') {
        int depth = 0;
        while (p < end) {
            if (*p == '"') { p = patchbay_json_skip_string_(p, end); if (!p) return NULL; continue; }
            if (*p == '{' || *p == '[') depth++;
            if (*p == '}' || *p == ']') { depth--; if (depth == 0) return p + 1; }
            p++;
        }
        return NULL;
    }
    while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n' && *p != '\r' && *p != '\t') p++;
    return p;
}

/* Walks the members of the JSON object `json`: on each call, the next member's key (unescaped into
 * `key`, capacity `cap`) and its raw value text in `*value`. Start with `*cursor` NULL. Returns
 * PATCHBAY_PARAM_FOUND for a member, PATCHBAY_PARAM_ABSENT after the last, PATCHBAY_PARAM_MALFORMED
 * for text that is not an object. A key longer than `cap` - 1 is truncated; `*key_length` (when not
 * NULL) is its whole length, so a caller can tell.
 *
 *     const char *cursor = NULL; char key[256]; patchbay_str value;
 *     while (patchbay_json_members(object, &cursor, key, sizeof key, &value, NULL) == PATCHBAY_PARAM_FOUND) ...
 */
static inline int patchbay_json_members(patchbay_str json, const char **cursor, char *key, size_t cap, patchbay_str *value,
                                        size_t *key_length) {
    const char *p = *cursor, *end = json.data + json.length;
    if (!p) {
        p = patchbay_json_skip_ws(json.data, end);
        if (p >= end || *p != '{') return PATCHBAY_PARAM_MALFORMED;
        p = patchbay_json_skip_ws(p + 1, end);
        if (p < end && *p == '}') { *cursor = end; return PATCHBAY_PARAM_ABSENT; }
    } else {
        if (p >= end) return PATCHBAY_PARAM_ABSENT;
        p = patchbay_json_skip_ws(p, end);
        if (p < end && *p == '}') { *cursor = end; return PATCHBAY_PARAM_ABSENT; }
        if (p >= end || *p != ',') return PATCHBAY_PARAM_MALFORMED;
        p = patchbay_json_skip_ws(p + 1, end);
    }
    size_t length = 0;
    p = patchbay_json_string(p, end, key, cap, &length);
    if (!p) return PATCHBAY_PARAM_MALFORMED;
    if (key_length) *key_length = length;
    p = patchbay_json_skip_ws(p, end);
    if (p >= end || *p != ':') return PATCHBAY_PARAM_MALFORMED;
    p = patchbay_json_skip_ws(p + 1, end);
    const char *v = p;
    p = patchbay_json_skip_value(p, end);
    if (!p || p == v) return PATCHBAY_PARAM_MALFORMED;
    value->data = v;
    value->length = (size_t)(p - v);
    *cursor = p;
    return PATCHBAY_PARAM_FOUND;
}

/* The raw JSON text of the top-level member `key` of `json`, whatever its kind (an object or an array
 * too): PATCHBAY_PARAM_FOUND with `*value` pointing into `json`, or ABSENT / MALFORMED. */
static inline int patchbay_params_member(patchbay_str json, const char *key, patchbay_str *value) {
    const char *cursor = NULL;
    char name[256];
    size_t length = 0;
    int found;
    while ((found = patchbay_json_members(json, &cursor, name, sizeof name, value, &length)) == PATCHBAY_PARAM_FOUND) {
        if (length < sizeof name && strcmp(name, key) == 0) return PATCHBAY_PARAM_FOUND;
    }
    return found;
}

/* Copies the top-level member `key` of the JSON object `json` (the task's parameters, or its state)
 * into `out` (capacity `cap`, always NUL-terminated): a string unescaped, a number or boolean as written.
 * Returns one of the PATCHBAY_PARAM_* results; only PATCHBAY_PARAM_FOUND means `out` holds the whole value. */
static inline int patchbay_params_get_typed_(patchbay_str json, const char *key, char *out, size_t cap, int *quoted) {
    *quoted = 0;
    patchbay_str member;
    int found = patchbay_params_member(json, key, &member);
    if (found != PATCHBAY_PARAM_FOUND) return found;
    const char *p = member.data, *end = member.data + member.length;
    if (*p == '"') {
        size_t length = 0;
        *quoted = 1;
        if (!patchbay_json_string(p, end, out, cap, &length)) return PATCHBAY_PARAM_MALFORMED;
        return length + 1 <= cap ? PATCHBAY_PARAM_FOUND : PATCHBAY_PARAM_TOO_LONG;
    }
    if (*p == '{' || *p == '[') return PATCHBAY_PARAM_NOT_SCALAR;
    size_t n = member.length;
    if (cap == 0) return PATCHBAY_PARAM_TOO_LONG;
    int fits = n + 1 <= cap;
    if (!fits) n = cap - 1;
    memcpy(out, p, n);
    out[n] = '\0';
    return fits ? PATCHBAY_PARAM_FOUND : PATCHBAY_PARAM_TOO_LONG;
}

static inline int patchbay_params_get(patchbay_str json, const char *key, char *out, size_t cap) {
    int quoted;
    return patchbay_params_get_typed_(json, key, out, cap, &quoted);
}

/* A member that must be a JSON integer (not a string, not a fraction): PATCHBAY_PARAM_FOUND with *out set,
 * PATCHBAY_PARAM_ABSENT (out untouched: keep your default), or PATCHBAY_PARAM_WRONG_TYPE and the others.
 *
 *     long long rows = 1000;
 *     if (patchbay_params_integer(params, "rows", &rows) < 0) ... fail with PATCHBAY_FAILURE_CONFIG
 */
static inline int patchbay_params_integer(patchbay_str json, const char *key, long long *out) {
    char text[32];
    int quoted;
    int found = patchbay_params_get_typed_(json, key, text, sizeof text, &quoted);
    if (found == PATCHBAY_PARAM_TOO_LONG) return quoted ? PATCHBAY_PARAM_WRONG_TYPE : PATCHBAY_PARAM_TOO_LONG;
    if (found != PATCHBAY_PARAM_FOUND) return found;
    if (quoted || text[0] == 0) return PATCHBAY_PARAM_WRONG_TYPE;
    char *end;
    long long value = strtoll(text, &end, 10);
    if (*end != 0) return PATCHBAY_PARAM_WRONG_TYPE;  /* 1.5, 1e3, true, null */
    *out = value;
    return PATCHBAY_PARAM_FOUND;
}

/* A member that must be true or false: *out 1 or 0. Results as patchbay_params_integer. */
static inline int patchbay_params_boolean(patchbay_str json, const char *key, int *out) {
    char text[8];
    int quoted;
    int found = patchbay_params_get_typed_(json, key, text, sizeof text, &quoted);
    if (found == PATCHBAY_PARAM_TOO_LONG) return PATCHBAY_PARAM_WRONG_TYPE;
    if (found != PATCHBAY_PARAM_FOUND) return found;
    if (quoted || (strcmp(text, "true") != 0 && strcmp(text, "false") != 0)) return PATCHBAY_PARAM_WRONG_TYPE;
    *out = text[0] == 't';
    return PATCHBAY_PARAM_FOUND;
}

#endif /* PATCHBAY_PARAMS_H */
