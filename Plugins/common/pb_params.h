/* pb_params.h — reading a flat JSON parameters object in C, for first-party
 * connectors. Header-only, libc only. Values of the top-level object are
 * returned as text: strings unescaped, numbers and booleans as written.
 * Nested objects and arrays are skipped (returned as NULL).
 */
#ifndef PB_PARAMS_H
#define PB_PARAMS_H

#include <stdlib.h>
#include <string.h>
#include "patchbay/connector.h"

static const char *pbp_skip_ws(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

/* Parses a JSON string at p (which points at the opening quote). Writes the
 * unescaped text to out (if not NULL, capacity cap, NUL-terminated) and returns
 * the position after the closing quote, or NULL if malformed. */
static const char *pbp_string(const char *p, const char *end, char *out, size_t cap, size_t *out_len) {
    size_t n = 0;
    if (p >= end || *p != '"') return NULL;
    p++;
    while (p < end && *p != '"') {
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
                if (end - p < 4) return NULL;
                unsigned v = 0;
                for (int i = 0; i < 4; i++) {
                    char h = *p++;
                    v <<= 4;
                    if (h >= '0' && h <= '9') v |= (unsigned)(h - '0');
                    else if (h >= 'a' && h <= 'f') v |= (unsigned)(h - 'a' + 10);
                    else if (h >= 'A' && h <= 'F') v |= (unsigned)(h - 'A' + 10);
                    else return NULL;
                }
                /* UTF-8 encode (BMP; surrogates pass through as-is). */
                unsigned char buf[3];
                size_t k;
                if (v < 0x80) { buf[0] = (unsigned char)v; k = 1; }
                else if (v < 0x800) { buf[0] = (unsigned char)(0xC0 | (v >> 6)); buf[1] = (unsigned char)(0x80 | (v & 0x3F)); k = 2; }
                else { buf[0] = (unsigned char)(0xE0 | (v >> 12)); buf[1] = (unsigned char)(0x80 | ((v >> 6) & 0x3F)); buf[2] = (unsigned char)(0x80 | (v & 0x3F)); k = 3; }
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

/* Skips any JSON value; returns the position after it, or NULL if malformed. */
static const char *pbp_skip_value(const char *p, const char *end) {
    p = pbp_skip_ws(p, end);
    if (p >= end) return NULL;
    if (*p == '"') return pbp_string(p, end, NULL, 0, NULL);
    if (*p == '{' || *p == '[') {
        int depth = 0;
        while (p < end) {
            if (*p == '"') { p = pbp_string(p, end, NULL, 0, NULL); if (!p) return NULL; continue; }
            if (*p == '{' || *p == '[') depth++;
            if (*p == '}' || *p == ']') { depth--; if (depth == 0) return p + 1; }
            p++;
        }
        return NULL;
    }
    while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n' && *p != '\r' && *p != '\t') p++;
    return p;
}

/* Copies the top-level member `key` of the JSON object in `json` into out
 * (capacity cap). Returns 1 if found as a scalar, 0 if absent, -1 if the JSON is malformed. */
static int pbp_get(patchbay_str json, const char *key, char *out, size_t cap) {
    const char *p = json.data, *end = json.data + json.length;
    char name[256];
    p = pbp_skip_ws(p, end);
    if (p >= end || *p != '{') return -1;
    p = pbp_skip_ws(p + 1, end);
    if (p < end && *p == '}') return 0;
    while (p < end) {
        p = pbp_string(p, end, name, sizeof name, NULL);
        if (!p) return -1;
        p = pbp_skip_ws(p, end);
        if (p >= end || *p != ':') return -1;
        p = pbp_skip_ws(p + 1, end);
        if (strcmp(name, key) == 0) {
            if (p < end && *p == '"') return pbp_string(p, end, out, cap, NULL) ? 1 : -1;
            if (p < end && (*p == '{' || *p == '[')) return 0;
            const char *v = p;
            p = pbp_skip_value(p, end);
            if (!p) return -1;
            size_t n = (size_t)(p - v);
            if (n + 1 > cap) n = cap - 1;
            memcpy(out, v, n);
            out[n] = '\0';
            return 1;
        }
        p = pbp_skip_value(p, end);
        if (!p) return -1;
        p = pbp_skip_ws(p, end);
        if (p < end && *p == ',') { p = pbp_skip_ws(p + 1, end); continue; }
        if (p < end && *p == '}') return 0;
        return -1;
    }
    return -1;
}

static patchbay_str pbp_str(const char *text) {
    patchbay_str s = { text, text ? strlen(text) : 0 };
    return s;
}

#endif
