/* Plugins/common/http_client.h — the first-party C connectors' HTTP/1.1 client: parse an http:// or https://
 * URL, send one request with Connection: close, read the status line, the headers and the body. Header-only,
 * like the SDK's params.h; every function is static. Not part of the ABI. libc only, but for https: built with
 * PB_TLS it speaks TLS 1.2+ through OpenSSL (link -lssl -lcrypto), verifying the server's certificate and name
 * against the system's CA certificates, or the file given to pb_tls_trust(). */
#ifndef PATCHBAY_PLUGINS_HTTP_CLIENT_H
#define PATCHBAY_PLUGINS_HTTP_CLIENT_H

#include <errno.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#ifdef PB_TLS
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#endif

typedef struct { char host[256]; char port[8]; char path[2048]; int tls; } pb_url;

#ifdef PB_TLS
/* The CA certificates that https servers are verified against: a PEM file, or "" for the system's. */
static char pb_tls_ca_file[1024];
static inline void pb_tls_trust(const char *pem_file) { snprintf(pb_tls_ca_file, sizeof pb_tls_ca_file, "%s", pem_file ? pem_file : ""); }
#endif

/* Splits http[s]://HOST[:PORT][/PATH]; -1 with `why` for anything else (https when built without TLS). */
static inline int pb_url_parse(const char *url, pb_url *out, char *why, size_t cap) {
    size_t scheme = strncmp(url, "http://", 7) == 0 ? 7 : strncmp(url, "https://", 8) == 0 ? 8 : 0;
#ifndef PB_TLS
    if (scheme == 8) scheme = 0;
#endif
    if (!scheme) {
        snprintf(why, cap, "url must be http:// or https://: %.200s", url);
        return -1;
    }
    out->tls = scheme == 8;
    const char *rest = url + scheme, *slash = strchr(rest, '/');
    size_t authority = slash ? (size_t)(slash - rest) : strlen(rest);
    if (authority == 0 || authority >= sizeof out->host) { snprintf(why, cap, "url has no host: %.200s", url); return -1; }
    memcpy(out->host, rest, authority);
    out->host[authority] = 0;
    snprintf(out->port, sizeof out->port, out->tls ? "443" : "80");
    char *colon = strchr(out->host, ':');
    if (colon) { snprintf(out->port, sizeof out->port, "%.5s", colon + 1); *colon = 0; }
    snprintf(out->path, sizeof out->path, "%s", slash ? slash : "/");
    return 0;
}

typedef struct {
    int status;
    char *head;  /* the status line and headers, NUL-terminated */
    char *body;  /* NUL-terminated; at most 1 MiB is kept */
    size_t body_length;
} pb_response;

static inline void pb_response_free(pb_response *r) {
    free(r->head);
    free(r->body);
    r->head = r->body = NULL;
}

/* A header's value (after the colon and spaces), up to the line's end, into `out`; 0 when absent. */
static inline int pb_header(const pb_response *r, const char *name, char *out, size_t cap) {
    size_t n = strlen(name);
    for (const char *line = strstr(r->head ? r->head : "", "\r\n"); line && line[2]; line = strstr(line + 2, "\r\n")) {
        const char *header = line + 2;
        if (strncasecmp(header, name, n) != 0 || header[n] != ':') continue;
        const char *value = header + n + 1;
        while (*value == ' ' || *value == '\t') value++;
        const char *end = strstr(value, "\r\n");
        size_t length = end ? (size_t)(end - value) : strlen(value);
        snprintf(out, cap, "%.*s", (int)length, value);
        return 1;
    }
    return 0;
}

/* One connection: a socket, and its TLS session for https. */
typedef struct {
    int fd;
#ifdef PB_TLS
    SSL *ssl;
#endif
} pb_link;

static inline ssize_t pb_link_write(pb_link *link, const void *bytes, size_t n) {
#ifdef PB_TLS
    if (link->ssl) { int w = SSL_write(link->ssl, bytes, (int)(n > 1 << 30 ? 1 << 30 : n)); return w > 0 ? w : -1; }
#endif
    return write(link->fd, bytes, n);
}

static inline ssize_t pb_link_read(pb_link *link, void *bytes, size_t n) {
#ifdef PB_TLS
    if (link->ssl) {
        int r = SSL_read(link->ssl, bytes, (int)(n > 1 << 30 ? 1 << 30 : n));
        if (r > 0) return r;
        int why = SSL_get_error(link->ssl, r);
        return why == SSL_ERROR_ZERO_RETURN || why == SSL_ERROR_SYSCALL ? 0 : -1;  /* a close without close_notify ends the body too */
    }
#endif
    return read(link->fd, bytes, n);
}

static inline void pb_link_close(pb_link *link) {
#ifdef PB_TLS
    if (link->ssl) { SSL_shutdown(link->ssl); SSL_free(link->ssl); link->ssl = NULL; }
#endif
    close(link->fd);
}

#ifdef PB_TLS
/* TLS over a connected socket: TLS 1.2 or later, the certificate verified and its name matched to the host.
 * 0; -1 with `why` for a handshake that failed (a second try may work); -2 with `why` when trying again cannot
 * help: the CA certificates cannot be read, or the server's certificate does not verify (`why` says why). */
static inline int pb_tls_start(pb_link *link, const pb_url *url, char *why, size_t cap) {
    static SSL_CTX *context;
    if (!context) {
        context = SSL_CTX_new(TLS_client_method());
        if (!context) { snprintf(why, cap, "TLS could not start (OpenSSL)"); return -1; }
        SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION);
        SSL_CTX_set_verify(context, SSL_VERIFY_PEER, NULL);
        int loaded = pb_tls_ca_file[0] ? SSL_CTX_load_verify_locations(context, pb_tls_ca_file, NULL) : SSL_CTX_set_default_verify_paths(context);
        if (loaded != 1) {
            snprintf(why, cap, "the CA certificates %.300s cannot be read", pb_tls_ca_file[0] ? pb_tls_ca_file : "of the system");
            SSL_CTX_free(context);
            context = NULL;
            return -2;
        }
    }
    link->ssl = SSL_new(context);
    if (!link->ssl) { snprintf(why, cap, "TLS could not start (OpenSSL)"); return -1; }
    /* The name checked is the URL's: an address against the certificate's IP entries, a name against its DNS ones. */
    unsigned char address[16];
    if (inet_pton(AF_INET, url->host, address) == 1 || inet_pton(AF_INET6, url->host, address) == 1) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(link->ssl), url->host);
    } else {
        SSL_set_tlsext_host_name(link->ssl, url->host);
        SSL_set1_host(link->ssl, url->host);
    }
    SSL_set_fd(link->ssl, link->fd);
    if (SSL_connect(link->ssl) != 1) {
        long verified = SSL_get_verify_result(link->ssl);
        int permanent = verified != X509_V_OK;
        if (permanent)
            snprintf(why, cap, "the TLS certificate of %s:%s is not trusted: %s", url->host, url->port, X509_verify_cert_error_string(verified));
        else
            snprintf(why, cap, "the TLS handshake with %s:%s failed: %s", url->host, url->port, ERR_reason_error_string(ERR_get_error()) ? ERR_reason_error_string(ERR_peek_last_error()) : "the server closed it");
        SSL_free(link->ssl);
        link->ssl = NULL;
        return permanent ? -2 : -1;
    }
    return 0;
}
#endif

/* Sends `method` to `url` with `headers` (each "Name: value\r\n", may be NULL) and `body` (may be NULL), waits at
 * most `timeout_s` for each read or write, and reads the whole response. 0 with `out` filled, or -1 with `why`
 * when the server could not be reached or did not answer HTTP (the caller may try again). */
static inline int pb_http(const char *method, const pb_url *url, const char *headers, const char *body, size_t body_length,
                   int timeout_s, pb_response *out, char *why, size_t cap) {
    memset(out, 0, sizeof *out);
    struct addrinfo hints, *found = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(url->host, url->port, &hints, &found) != 0 || !found) {
        snprintf(why, cap, "%s does not resolve", url->host);
        return -1;
    }
    int fd = socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval limit = { timeout_s, 0 };
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
    }
    if (fd < 0 || connect(fd, found->ai_addr, found->ai_addrlen) != 0) {
        snprintf(why, cap, "%s:%s does not answer (%s)", url->host, url->port, strerror(errno));
        if (fd >= 0) close(fd);
        freeaddrinfo(found);
        return -1;
    }
    freeaddrinfo(found);
    pb_link link = { .fd = fd };
#ifdef PB_TLS
    link.ssl = NULL;
    int tls = url->tls ? pb_tls_start(&link, url, why, cap) : 0;
    if (tls != 0) {
        /* Unreadable CA certificates or a certificate that does not verify: a second try cannot help (status -1). */
        if (tls == -2) out->status = -1;
        close(fd);
        return tls == -2 ? 0 : -1;
    }
#endif
    char request[4096], authority[300];
    /* Host carries the port unless it is the scheme's own (RFC 9110 §7.2), so a server can build absolute links. */
    snprintf(authority, sizeof authority, strcmp(url->port, url->tls ? "443" : "80") == 0 ? "%s" : "%s:%s", url->host, url->port);
    int n = snprintf(request, sizeof request,
                     "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: patchbay/1.0\r\nConnection: close\r\n%sContent-Length: %zu\r\n\r\n",
                     method, url->path, authority, headers ? headers : "", body ? body_length : 0);
    if (n < 0 || (size_t)n >= sizeof request || pb_link_write(&link, request, (size_t)n) != n) {
        snprintf(why, cap, "could not send the request to %s", url->host);
        pb_link_close(&link);
        return -1;
    }
    for (size_t sent = 0; body && sent < body_length;) {
        ssize_t w = pb_link_write(&link, body + sent, body_length - sent);
        if (w <= 0) { snprintf(why, cap, "could not send the body to %s (%s)", url->host, strerror(errno)); pb_link_close(&link); return -1; }
        sent += (size_t)w;
    }
    /* The whole answer, up to a bound: a cut answer would lose records without a word. */
    size_t used = 0, capacity = 1 << 16, bound = (size_t)256 << 20;
    char *all = malloc(capacity + 1);
    ssize_t got;
    int too_large = 0;
    while (all && (got = pb_link_read(&link, all + used, capacity - used)) > 0) {
        used += (size_t)got;
        if (used == capacity) {
            if (capacity >= bound) { too_large = 1; break; }
            capacity *= 2;
            char *grown = realloc(all, capacity + 1);
            if (!grown) { free(all); all = NULL; break; }
            all = grown;
        }
    }
    pb_link_close(&link);
    if (!all) { snprintf(why, cap, "out of memory reading the answer of %s", url->host); return -1; }
    if (too_large) { snprintf(why, cap, "%s answered more than 256 MiB", url->host); free(all); return -1; }
    all[used] = 0;
    char *split = strstr(all, "\r\n\r\n");
    if (sscanf(all, "HTTP/%*d.%*d %d", &out->status) != 1 || !split) {
        snprintf(why, cap, "%s answered something that is not HTTP", url->host);
        free(all);
        return -1;
    }
    *split = 0;
    out->head = all;
    out->body_length = used - (size_t)(split + 4 - all);
    out->body = malloc(out->body_length + 1);
    if (out->body) { memcpy(out->body, split + 4, out->body_length); out->body[out->body_length] = 0; }
    char length[32];
    if (strcmp(method, "HEAD") != 0 && pb_header(out, "Content-Length", length, sizeof length) && (size_t)atoll(length) > out->body_length) {
        snprintf(why, cap, "%s's answer was cut off: %zu of its %s bytes", url->host, out->body_length, length);
        pb_response_free(out);
        return -1;
    }
    return 0;
}

/* ---- Reading an answer's JSON by dot path ------------------------------------------------------------ */

#include "patchbay/params.h"

/* Where the value at a dot path ("data.items") of a JSON document starts, found without crossing the value itself
 * (the members before it on the way are skipped, the value's end is the caller's to find): a reader that walks a
 * page's records finds their end as it goes, instead of skipping them all first. NULL when absent or malformed
 * on the way (a path segment of 256 bytes or more names nothing). "" is the document itself. The first of two
 * equal keys wins. pb_json_at is this and the value's end. */
static inline const char *pb_json_start_at(patchbay_str doc, const char *path) {
    const char *p = patchbay_json_skip_ws(doc.data, doc.data + doc.length), *end = doc.data + doc.length;
    char name[256];
    while (*path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path), length = 0;
        if (n >= sizeof name || p >= end || *p != '{') return NULL;
        p = patchbay_json_skip_ws(p + 1, end);
        for (;;) {
            if (p >= end || *p == '}') return NULL;
            if (!(p = patchbay_json_string(p, end, name, sizeof name, &length))) return NULL;
            p = patchbay_json_skip_ws(p, end);
            if (p >= end || *p != ':') return NULL;
            p = patchbay_json_skip_ws(p + 1, end);
            if (length == n && memcmp(name, path, n) == 0) break;
            if (!(p = patchbay_json_skip_value(p, end))) return NULL;
            p = patchbay_json_skip_ws(p, end);
            if (p < end && *p == ',') p = patchbay_json_skip_ws(p + 1, end);
            else if (p >= end || *p != '}') return NULL;
        }
        path += n + (dot ? 1 : 0);
    }
    return p < end ? p : NULL;
}

/* The value at a dot path ("data.items") of a JSON document, its whole text; 0 when absent or not JSON there.
 * "" is the document's value. */
static inline int pb_json_at(patchbay_str doc, const char *path, patchbay_str *out) {
    const char *start = pb_json_start_at(doc, path);
    const char *end = start ? patchbay_json_skip_value(start, doc.data + doc.length) : NULL;
    if (!end) return 0;
    *out = (patchbay_str){ start, (size_t)(end - start) };
    return 1;
}

/* A scalar at a dot path as text (a string unescaped, a number as written); 0 when absent, null or "" path. */
static inline int pb_json_text_at(patchbay_str doc, const char *path, char *out, size_t cap) {
    patchbay_str value;
    if (!path[0] || !pb_json_at(doc, path, &value) || value.length == 0) return 0;
    if (value.data[0] == '"') {
        size_t n = 0;
        return patchbay_json_string(value.data, value.data + value.length, out, cap, &n) && n + 1 <= cap;
    }
    const char *end = patchbay_json_skip_value(value.data, value.data + value.length);
    size_t n = end ? (size_t)(end - value.data) : 0;
    if (n == 0 || n >= cap || (n == 4 && memcmp(value.data, "null", 4) == 0)) return 0;
    memcpy(out, value.data, n);
    out[n] = 0;
    return 1;
}

/* ---- Retries, as every first-party HTTP connector does them ------------------------------------------ */

#include <time.h>
#include "patchbay/connector.h"

/* How a connector retries: attempts in all, and a bound on the waiting between them. */
typedef struct { long long max_attempts; long long max_wait_ms; long long waited_ms; } pb_retry_policy;

static inline int pb_http_retryable(int status) { return status == 0 || status == 408 || status == 429 || status >= 500; }

/* Sleeps `ms`, in steps, stopping early when the task is cancelled; 0, or -1 when cancelled. */
static inline int pb_pause(const patchbay_host *host, patchbay_task *task, long long ms) {
    while (ms > 0) {
        if (host->is_cancelled(task)) return -1;
        long long step = ms < 20 ? ms : 20;
        struct timespec t = { 0, (long)step * 1000000L };
        nanosleep(&t, NULL);
        ms -= step;
    }
    return 0;
}

/* An HTTP date (RFC 9110 §5.6.7: "Sun, 06 Nov 1994 08:49:37 GMT", or the obsolete RFC 850 form
 * "Sunday, 06-Nov-94 08:49:37 GMT") as seconds since 1970; -1 when it is neither. */
static inline long long pb_http_date(const char *text) {
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    const char *comma = strchr(text, ',');
    if (!comma) return -1;
    int day, year, hour, minute, second;
    char month[4] = "";
    if (sscanf(comma + 1, " %2d %3s %4d %2d:%2d:%2d GMT", &day, month, &year, &hour, &minute, &second) != 6
        && sscanf(comma + 1, " %2d-%3[A-Za-z]-%2d %2d:%2d:%2d GMT", &day, month, &year, &hour, &minute, &second) != 6) return -1;
    if (year < 100) year += year < 70 ? 2000 : 1900;
    const char *found = strlen(month) == 3 ? strstr(months, month) : NULL;
    if (!found || (found - months) % 3 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return -1;
    struct tm t;
    memset(&t, 0, sizeof t);
    t.tm_year = year - 1900; t.tm_mon = (int)((found - months) / 3); t.tm_mday = day;
    t.tm_hour = hour; t.tm_min = minute; t.tm_sec = second;
    return (long long)timegm(&t);
}

/* How long the server asks to wait before trying again, in ms, or -1 when it does not say: Retry-After in
 * seconds or as an HTTP date, else a rate limit's reset (RateLimit-Reset: seconds from now; X-RateLimit-Reset:
 * seconds from now, or a Unix time when it is that large). A time already past is 0. */
static inline long long pb_retry_after_ms(const pb_response *response) {
    char value[128];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    long long now_ms = (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    if (pb_header(response, "Retry-After", value, sizeof value)) {
        char *end;
        long long seconds = strtoll(value, &end, 10);
        if (end != value && *end == 0 && seconds >= 0) return seconds * 1000;
        long long at = pb_http_date(value);
        if (at >= 0) return at * 1000 > now_ms ? at * 1000 - now_ms : 0;
    }
    if (pb_header(response, "RateLimit-Reset", value, sizeof value) || pb_header(response, "X-RateLimit-Reset", value, sizeof value)) {
        char *end;
        long long reset = strtoll(value, &end, 10);
        if (end == value || reset < 0) return -1;
        if (reset < 1000000000LL) return reset * 1000;  /* seconds from now */
        return reset * 1000 > now_ms ? reset * 1000 - now_ms : 0;  /* a Unix time */
    }
    return -1;
}

/* One request, tried again on 408, 429, 5xx and a connection failure: after the time the server asks for
 * (pb_retry_after_ms: Retry-After in seconds or as an HTTP date, a rate limit's reset) or an exponential
 * back-off with jitter from 250 ms, while attempts and the policy's waiting allow. Each attempt
 * first takes a turn under the project's rate limit for the URL's host (ABI 1.4). `*attempts` says how many it
 * took. Returns PATCHBAY_OK with the last response in `out` (status 0 when the server was never reached, `why`
 * saying why), or PATCHBAY_CANCELLED. */
static inline patchbay_status pb_http_retrying(const patchbay_host *host, patchbay_task *task, const char *method, const pb_url *url,
                                        const char *headers, const char *body, size_t body_length, pb_retry_policy *policy,
                                        pb_response *out, long long *attempts, char *why, size_t cap) {
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)out;
    for (*attempts = 1;; (*attempts)++) {
        if (host->struct_size >= PATCHBAY_HOST_SIZE_1_4) {
            uint64_t turn = 0;
            if (host->rate_limit(task, patchbay_cstr(url->host), 1, &turn) == PATCHBAY_CANCELLED) return PATCHBAY_CANCELLED;
        }
        memset(out, 0, sizeof *out);
        /* (Status -1: TLS that cannot work — unreadable CA certificates, an untrusted certificate — `why` saying
         * why; not tried again.) */
        if (pb_http(method, url, headers, body, body_length, 30, out, why, cap) == 0 && out->status > 0) snprintf(why, cap, "HTTP %d", out->status);
        if (!pb_http_retryable(out->status) || *attempts >= policy->max_attempts) return PATCHBAY_OK;
        long long asked = out->status != 0 ? pb_retry_after_ms(out) : -1;
        long long wait = asked >= 0 ? asked : (250LL << (*attempts - 1)) + (long long)(rand_r(&seed) % 100);
        if (policy->waited_ms + wait > policy->max_wait_ms) {
            size_t used = strlen(why);
            snprintf(why + used, cap - used, "; gave up: waiting %lld ms more would pass the bound of %lld ms", wait, policy->max_wait_ms);
            return PATCHBAY_OK;
        }
        pb_response_free(out);
        char line[700];
        snprintf(line, sizeof line, "attempt %lld: %.500s; trying again in %lld ms", *attempts, why, wait);
        host->log(task, PATCHBAY_LOG_WARNING, patchbay_cstr(line));
        if (pb_pause(host, task, wait) != 0) return PATCHBAY_CANCELLED;
        policy->waited_ms += wait;
    }
}

#endif
