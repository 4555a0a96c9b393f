/* kb/http/server.c: the HTTP server on libmicrohttpd (internal thread pool, epoll).
 *
 * Request life: MHD calls access_handler first with no context (we allocate one), then with
 * body chunks (buffered up to KB_HTTP_MAX_BODY; more is answered 413), then once with no
 * data: we find the route, validate its declared parameters (length, UTF-8), call the
 * handler, and queue its response with the security headers every response carries.
 *
 * Threads: each pool thread lazily opens its own SQLite connection and Xapian reader
 * (struct kb_worker, in thread-local storage, closed by the key destructor). Start-up first
 * replays the index queue, which repairs a crash between a SQLite and a Xapian commit.
 *
 * Fresh readers: a worker's reader follows the index (kb import, the editor, a rebuild)
 * without reopening on the request path: a refresher thread opens the new readers and each
 * worker takes its own at its next request (search/fresh.h, REFRESH_MS). */
#include "kb/http/server.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdbool.h>
#include <stddef.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>
#include <sodium.h>

#include "kb/http/api.h"
#include "kb/http/route.h"
#include "kb/articles/indexer.h"
#include "kb/base/log.h"
#include "kb/http/metrics.h"
#include "kb/base/ratelimit.h"
#include "kb/http/theme.h"
#include "kb/http/usage.h"
#include "kb/base/text.h"
#include "search/fresh.h"

#define SERVER_MEMORY_LIMIT (32 * 1024) /* per connection: request line + headers */
#define SERVER_CONNECTIONS 1000
#define SERVER_TIMEOUT 30                /* seconds of inactivity */
#define STATIC_MAX (4 * 1024 * 1024)

/* The Content-Security-Policy, whose connect-src names the chat's origin only. */
#define CSP_BEFORE "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " \
                   "connect-src 'self' "
#define CSP_AFTER "; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

static const char *const security_headers[][2] = {
    {"X-Content-Type-Options", "nosniff"},
    {"X-Frame-Options", "DENY"},
    {"Referrer-Policy", "same-origin"},
    {"Cross-Origin-Opener-Policy", "same-origin"},
};

static const struct kb_param no_params[] = {{NULL, 0}};

/* ---- shared state -------------------------------------------------------------------- */

static const struct kb_http_config *server_cfg;
static pthread_key_t worker_key;

#define REFRESH_MS 250 /* how often the refresher looks for a new index revision */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct search_fresh *readers; /* the workers' readers, kept fresh (search/fresh.h) */

/* A worker: its handle for handlers and its reader's slot. */
struct worker_slot {
    struct kb_worker w; /* first: handlers see &slot->w */
    struct search_fresh_slot *reader;
};

static void worker_free(void *p)
{
    struct worker_slot *s = p;
    if (!s)
        return;
    kb_store_free(s->w.st);
    search_fresh_slot_free(s->reader); /* w.idx was the slot's */
    free(s);
}

/* This thread's worker, opened on first use; NULL when the database cannot be opened. */
static struct kb_worker *worker_get(void)
{
    struct worker_slot *s = pthread_getspecific(worker_key);
    if (s)
        return &s->w;
    s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    if (!(s->reader = search_fresh_slot_new(readers))) {
        free(s);
        return NULL;
    }
    if (kb_store_open(server_cfg->db_path, false, &s->w.st) != KB_OK) {
        search_fresh_slot_free(s->reader);
        free(s);
        return NULL;
    }
    pthread_setspecific(worker_key, s);
    return &s->w;
}

struct search_index *kb_worker_index(struct kb_worker *w, const char *db_path)
{
    (void)db_path; /* the refresher's */
    struct worker_slot *s = (struct worker_slot *)w;
    w->idx = search_fresh_reader(s->reader);
    return w->idx;
}

/* ---- request helpers ----------------------------------------------------------------- */

const char *kb_req_arg(const struct kb_req *req, const char *name)
{
    for (size_t i = 0; req->params && req->params[i].name && i < KB_REQ_MAX_PARAMS; i++)
        if (strcmp(req->params[i].name, name) == 0)
            return req->values[i] && *req->values[i] ? req->values[i] : NULL;
    return NULL;
}

enum kb_err kb_req_int(const struct kb_req *req, const char *name, long lo, long hi, long def,
                       long *out)
{
    const char *s = kb_req_arg(req, name);
    *out = def;
    if (!s)
        return KB_OK;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return KB_EINVAL;
    *out = (long)v;
    return KB_OK;
}

const char *kb_req_header(const struct kb_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *kb_req_cookie(const struct kb_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_COOKIE_KIND, name);
}

/* ---- anonymous forms' tokens ------------------------------------------------------------ */

#define FORM_COOKIE "kb_csrf"

static bool hex_token(const char *c)
{
    size_t n = c ? strlen(c) : 0;
    bool ok = n == KB_HTTP_FORM_TOKEN;
    for (size_t i = 0; ok && i < n; i++)
        ok = (c[i] >= '0' && c[i] <= '9') || (c[i] >= 'a' && c[i] <= 'f');
    return ok;
}

void kb_req_form_token(struct kb_req *req, struct kb_resp *resp, char out[KB_HTTP_FORM_TOKEN + 1])
{
    const char *c = kb_req_cookie(req, FORM_COOKIE);
    if (hex_token(c)) {
        memcpy(out, c, KB_HTTP_FORM_TOKEN + 1);
        return;
    }
    unsigned char r[KB_HTTP_FORM_TOKEN / 2];
    randombytes_buf(r, sizeof r);
    sodium_bin2hex(out, KB_HTTP_FORM_TOKEN + 1, r, sizeof r);
    char cookie[200];
    snprintf(cookie, sizeof cookie, FORM_COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict%s", out,
             kb_http_https(req) ? "; Secure" : "");
    kb_resp_cookie(resp, cookie);
}

bool kb_req_form_token_ok(const struct kb_req *req, const char *field)
{
    const char *c = kb_req_cookie(req, FORM_COOKIE);
    return hex_token(c) && hex_token(field) && sodium_memcmp(c, field, KB_HTTP_FORM_TOKEN) == 0;
}

bool kb_http_https(const struct kb_req *req)
{
    return req->cfg->base_url && strncmp(req->cfg->base_url, "https:", 6) == 0;
}

/* ---- limits per address ------------------------------------------------------------- */

/* Rates of anonymous writes per address: feedback answers (10 at once, then 1 a minute) and
 * logged searches (120 at once, then 1 a second: a person typing, not a script). */
static const struct {
    double rate, burst;
} limit_of[] = {
    [KB_LIMIT_FEEDBACK] = {1.0 / 60.0, 10},
    [KB_LIMIT_SEARCH_LOG] = {1.0, 120},
};

static struct {
    pthread_mutex_t mu;
    struct kb_rate_addrs *addrs;
    int64_t swept_ms;
} limits = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* The caller's address as text into addr ("" when unknown). */
static void client_addr(const struct kb_req *req, char *addr, size_t n)
{
    addr[0] = 0;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, addr, (socklen_t)n);
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, addr, (socklen_t)n);
}

bool kb_req_loopback(const struct kb_req *req)
{
    char addr[64];
    client_addr(req, addr, sizeof addr);
    return strncmp(addr, "127.", 4) == 0 || strcmp(addr, "::1") == 0 ||
           strncmp(addr, "::ffff:127.", 11) == 0;
}

bool kb_http_allow(struct kb_req *req, enum kb_http_limit which)
{
    char addr[64];
    client_addr(req, addr, sizeof addr);
    int64_t now = now_ms();
    bool ok = true;
    pthread_mutex_lock(&limits.mu);
    if (limits.addrs) {
        if (now - limits.swept_ms > 60000) {
            /* An address unused for an hour has every bucket full again. */
            kb_rate_addrs_sweep(limits.addrs, 3600000, now);
            limits.swept_ms = now;
        }
        struct kb_rate_addr *a = kb_rate_addrs_get(limits.addrs, addr, now);
        ok = a && kb_rate_take(&a->b[which], limit_of[which].rate, limit_of[which].burst, now);
    }
    pthread_mutex_unlock(&limits.mu);
    return ok;
}

void kb_resp_json_error(struct kb_resp *resp, unsigned status, const char *code,
                        const char *message)
{
    json_t *o = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message);
    kb_resp_json(resp, o);
    resp->status = status;
}

/* json_dump_callback sink: straight into the response body, no intermediate string. */
static int dump_to_buf(const char *buffer, size_t size, void *data)
{
    return kb_buf_append(data, buffer, size) == KB_OK ? 0 : -1;
}

void kb_resp_json(struct kb_resp *resp, void *o)
{
    json_t *j = o;
    kb_buf_clear(&resp->body);
    int failed = !j || json_dump_callback(j, dump_to_buf, &resp->body, KB_API_JSON_FLAGS) != 0;
    json_decref(j);
    resp->ctype = "application/json; charset=utf-8";
    if (failed) {
        kb_buf_clear(&resp->body);
        KB_IGNORE(kb_buf_puts(&resp->body, "{\"error\":{\"code\":\"internal\","
                                       "\"message\":\"out of memory\"}}"));
        resp->status = 500;
    } else {
        resp->status = 200;
    }
}

void kb_resp_cookie(struct kb_resp *resp, const char *cookie)
{
    for (size_t i = 0; i < 2; i++)
        if (!resp->set_cookie[i][0]) {
            snprintf(resp->set_cookie[i], sizeof resp->set_cookie[i], "%s", cookie);
            return;
        }
}

void kb_resp_redirect(struct kb_resp *resp, const char *location)
{
    free(resp->location);
    resp->location = strdup(location);
    resp->status = 303;
    resp->ctype = "text/plain; charset=utf-8";
    kb_buf_clear(&resp->body);
}

/* ---- the chat's address ------------------------------------------------------------- */

/* True when s (n bytes) is a host name or address a URL and a header may carry as is. */
static bool host_ok(const char *s, size_t n)
{
    if (n == 0 || n > 253)
        return false;
    if (s[0] == '[') { /* an IPv6 literal */
        for (size_t i = 1; i + 1 < n; i++)
            if (!isxdigit((unsigned char)s[i]) && s[i] != ':' && s[i] != '.')
                return false;
        return s[n - 1] == ']';
    }
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '-')
            return false;
    return true;
}

/* The chat's URL for a page, and the origin the page may connect to: --chat-url when given,
 * else ws://HOST:CHAT_PORT/chat with the host the browser asked for (Host without its port),
 * so that http://localhost:8080 gives ws://localhost:8081/chat. */
static void chat_address(struct MHD_Connection *c, struct kb_resp *resp)
{
    const struct kb_http_config *cfg = server_cfg;
    if (cfg->chat_url && *cfg->chat_url) {
        snprintf(resp->chat_url, sizeof resp->chat_url, "%s", cfg->chat_url);
        const char *p = strstr(cfg->chat_url, "://");
        size_t n = p ? (size_t)(strchr(p + 3, '/') ? strchr(p + 3, '/') - cfg->chat_url
                                                    : (ptrdiff_t)strlen(cfg->chat_url))
                     : 0;
        snprintf(resp->chat_origin, sizeof resp->chat_origin, "%.*s", (int)n, cfg->chat_url);
        return;
    }
    const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
    size_t n = 0;
    if (host) {
        const char *end = host[0] == '[' ? strchr(host, ']') : strchr(host, ':');
        n = end ? (size_t)(end - host) + (host[0] == '[') : strlen(host);
    }
    if (!host || !host_ok(host, n)) {
        host = strcmp(cfg->bind, "0.0.0.0") == 0 ? "localhost" : cfg->bind;
        n = strlen(host);
    }
    snprintf(resp->chat_origin, sizeof resp->chat_origin, "ws://%.*s:%d", (int)n, host,
             cfg->chat_port);
    snprintf(resp->chat_url, sizeof resp->chat_url, "%s/chat", resp->chat_origin);
}

/* ---- static files -------------------------------------------------------------------- */

static const char *mime_for(const char *name)
{
    static const char *const types[][2] = {
        {".css", "text/css; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".json", "application/json; charset=utf-8"},
        {".txt", "text/plain; charset=utf-8"},
        {".woff2", "font/woff2"},
    };
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
        if (strcmp(dot, types[i][0]) == 0)
            return types[i][1];
    return "application/octet-stream";
}

static void serve_static(struct kb_req *req, struct kb_resp *resp, const char *name)
{
    /* Only plain names, in static/ or one folder below it (the console's modules,
     * static/agent/): no '..', no hidden files or folders, no empty segment. */
    size_t n = strlen(name), slashes = 0;
    int ok = n > 0 && n < 100 && name[0] != '.';
    for (size_t i = 0; ok && i < n; i++) {
        ok = (name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
             (name[i] >= '0' && name[i] <= '9') || name[i] == '-' || name[i] == '_' ||
             name[i] == '.' || name[i] == '/';
        if (name[i] == '/')
            ok = ok && ++slashes == 1 && i + 1 < n && name[i + 1] != '.';
    }
    if (!ok || strstr(name, "..")) {
        kb_page_not_found(req, resp);
        return;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/static/%s", req->cfg->web_dir, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size > STATIC_MAX) {
        if (fd >= 0)
            close(fd);
        kb_page_not_found(req, resp);
        return;
    }
    kb_buf_clear(&resp->body);
    char chunk[65536];
    ssize_t k;
    enum kb_err err = KB_OK;
    while (!err && (k = read(fd, chunk, sizeof chunk)) > 0)
        err = kb_buf_append(&resp->body, chunk, (size_t)k);
    close(fd);
    resp->status = err ? 500 : 200;
    resp->ctype = mime_for(name);
    resp->cache = "public, max-age=3600";
}

/* ---- MHD glue ------------------------------------------------------------------------ */

struct conn_ctx {
    struct kb_buf body;
    int too_big;
    struct timespec t0;
};

static void request_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    struct conn_ctx *ctx = *con_cls;
    if (ctx) {
        kb_buf_release(&ctx->body);
        free(ctx);
        *con_cls = NULL;
    }
}

static enum MHD_Result send_resp(struct MHD_Connection *c, struct kb_resp *resp)
{
    size_t len = resp->body.len;
    char *data = kb_buf_detach(&resp->body);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, data ? data : (char *)"", data ? MHD_RESPMEM_MUST_FREE
                                                                            : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(data);
        return MHD_NO;
    }
    for (size_t i = 0; i < sizeof security_headers / sizeof security_headers[0]; i++)
        MHD_add_response_header(r, security_headers[i][0], security_headers[i][1]);
    char csp[sizeof CSP_BEFORE + sizeof CSP_AFTER + sizeof resp->chat_origin];
    snprintf(csp, sizeof csp, "%s%s%s", CSP_BEFORE, resp->chat_origin, CSP_AFTER);
    MHD_add_response_header(r, "Content-Security-Policy", csp);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            resp->ctype ? resp->ctype : "text/plain; charset=utf-8");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, resp->cache ? resp->cache
                                                                          : "no-store");
    if (resp->location)
        MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, resp->location);
    if (resp->retry_after > 0) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", resp->retry_after);
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    for (size_t i = 0; i < 2; i++)
        if (resp->set_cookie[i][0])
            MHD_add_response_header(r, MHD_HTTP_HEADER_SET_COOKIE, resp->set_cookie[i]);
    if (resp->allow)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, resp->allow);
    enum MHD_Result ret = MHD_queue_response(c, resp->status, r);
    MHD_destroy_response(r);
    return ret;
}

/* True when path matches a route's pattern: the exact path; a prefix when the pattern ends
 * with '/' (and the path goes on after it); '*' stands for one non-empty segment (no '/'). */
static bool route_match(const char *pat, const char *path)
{
    size_t n = strlen(pat);
    bool prefix = n > 1 && pat[n - 1] == '/';
    while (*pat) {
        if (*pat == '*') {
            if (!*path || *path == '/')
                return false;
            while (*path && *path != '/')
                path++;
            pat++;
        } else if (*pat++ != *path++) {
            return false;
        }
    }
    return prefix ? *path != 0 : *path == 0;
}

static const struct kb_route *find_route(const char *method, const char *path, int *method_ok)
{
    *method_ok = 1;
    const struct kb_route *path_match = NULL;
    for (size_t i = 0; i < kb_nroutes; i++) {
        const struct kb_route *r = &kb_routes[i];
        if (!route_match(r->path, path))
            continue;
        path_match = r;
        if (strcmp(method, r->method) == 0 ||
            (strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0))
            return r;
    }
    if (path_match)
        *method_ok = 0;
    return NULL;
}

static int path_is_api(const char *path)
{
    return strncmp(path, "/api/", 5) == 0 || strcmp(path, "/healthz") == 0 ||
           strcmp(path, "/metrics") == 0;
}

/* Fill req->values from the query string per the route's declarations. Returns 0, or -1
 * with resp filled with a 400. */
static int validate_params(struct kb_req *req, struct kb_resp *resp, int api)
{
    for (size_t i = 0; req->params[i].name && i < KB_REQ_MAX_PARAMS; i++) {
        const char *v =
            MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, req->params[i].name);
        req->values[i] = v;
        if (!v)
            continue;
        size_t n = strlen(v);
        const char *why = NULL;
        if (n > req->params[i].max)
            why = "is too long";
        else if (!kb_text_valid_utf8(v, n))
            why = "is not valid UTF-8";
        if (why) {
            char msg[160];
            snprintf(msg, sizeof msg, "parameter '%s' %s (at most %zu bytes of UTF-8 text)",
                     req->params[i].name, why, req->params[i].max);
            if (api)
                kb_resp_json_error(resp, 400, "invalid_parameter", msg);
            else
                kb_page_error(resp, 400, NULL);
            return -1;
        }
    }
    return 0;
}

/* Who is calling, and so what they may see: the scope is decided here, once, from the role
 * (anonymous: public and published; agents: internal too; editors and up: drafts and
 * articles in review too), never from a parameter. */
static enum kb_err caller_of(struct kb_req *req)
{
    enum kb_err err = kb_auth_caller(req->w->st, req->cfg->writer,
                                     kb_req_cookie(req, KB_HTTP_SESSION_COOKIE),
                                     kb_req_header(req, "Authorization"), req->addr,
                                     (int64_t)time(NULL), &req->caller);
    req->scope = kb_auth_scope(req->caller.role);
    req->search_scope = req->caller.role >= KB_ROLE_EDITOR  ? SEARCH_SCOPE_ALL
                        : req->caller.role >= KB_ROLE_AGENT ? SEARCH_SCOPE_INTERNAL
                                                            : SEARCH_SCOPE_PUBLIC;
    return err;
}

/* The route's role and, for a signed-in browser's state-changing API call, its CSRF token.
 * False with resp filled when refused. */
static bool allowed(struct kb_req *req, const struct kb_route *rt, struct kb_resp *resp)
{
    if (req->caller.role < rt->role) {
        if (req->caller.role == KB_ROLE_NONE && rt->api) {
            kb_resp_json_error(resp, 401, "unauthenticated", "sign in, or send an API token");
        } else if (req->caller.role == KB_ROLE_NONE) {
            struct kb_buf loc;
            kb_buf_init(&loc, 1200);
            KB_IGNORE(kb_buf_puts(&loc, "/login?next="));
            KB_IGNORE(kb_buf_put_urlenc(&loc, req->path));
            kb_resp_redirect(resp, loc.data ? loc.data : "/login");
            kb_buf_release(&loc);
        } else if (rt->api) {
            kb_resp_json_error(resp, 403, "forbidden", "your role does not allow this");
        } else {
            kb_page_error(resp, 403, NULL);
        }
        return false;
    }
    bool changes = strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0;
    if (changes && rt->api && req->caller.role != KB_ROLE_NONE && !req->caller.by_token &&
        !kb_auth_csrf_ok(&req->caller, kb_req_header(req, "X-CSRF-Token"))) {
        kb_resp_json_error(resp, 403, "csrf", "missing or wrong X-CSRF-Token header");
        return false;
    }
    return true;
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *c, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **con_cls)
{
    (void)cls;
    (void)version;
    struct conn_ctx *ctx = *con_cls;
    if (!ctx) {
        ctx = calloc(1, sizeof *ctx);
        if (!ctx)
            return MHD_NO;
        kb_buf_init(&ctx->body, KB_HTTP_MAX_BODY);
        clock_gettime(CLOCK_MONOTONIC, &ctx->t0);
        *con_cls = ctx;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!ctx->too_big && kb_buf_append(&ctx->body, upload_data, *upload_data_size))
            ctx->too_big = 1;
        *upload_data_size = 0;
        return MHD_YES;
    }

    struct kb_resp resp = {.status = 200};
    kb_buf_init(&resp.body, KB_HTTP_MAX_RESPONSE);
    chat_address(c, &resp);
    struct kb_req req = {
        .conn = c,
        .method = method,
        .path = url,
        .body = ctx->body.data ? ctx->body.data : "",
        .body_len = ctx->body.len,
        .cfg = server_cfg,
        .params = no_params,
    };
    req.content_type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    if (!req.content_type)
        req.content_type = "";
    int api = path_is_api(url);
    enum kb_metric_route metric = api ? KB_ROUTE_API_OTHER : KB_ROUTE_OTHER;
    int method_ok = 1;
    const struct kb_route *rt = NULL;

    if (strlen(url) > KB_HTTP_MAX_URL) {
        if (api)
            kb_resp_json_error(&resp, 414, "uri_too_long", "request target too long");
        else
            kb_page_error(&resp, 414, NULL);
    } else if (ctx->too_big) {
        kb_resp_json_error(&resp, 413, "body_too_large", "request body too large");
    } else if (strncmp(url, "/static/", 8) == 0 &&
               (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)) {
        metric = KB_ROUTE_STATIC;
        serve_static(&req, &resp, url + 8);
    } else if (!(rt = find_route(method, url, &method_ok))) {
        if (!method_ok) {
            resp.allow = (char *)"GET, HEAD, POST, PATCH, DELETE";
            if (api)
                kb_resp_json_error(&resp, 405, "method_not_allowed", "method not allowed");
            else
                kb_page_error(&resp, 405, NULL);
        } else if (api) {
            kb_api_not_found(&req, &resp);
        } else {
            kb_page_not_found(&req, &resp);
        }
    } else {
        metric = rt->metric;
        req.params = rt->params;
        size_t n = strlen(rt->path);
        const char *star = strchr(rt->path, '*');
        req.rest = star ? url + (star - rt->path) : rt->path[n - 1] == '/' ? url + n : "";
        req.w = worker_get();
        client_addr(&req, req.addr, sizeof req.addr);
        if (!req.w || caller_of(&req) != KB_OK) {
            if (rt->api)
                kb_resp_json_error(&resp, 503, "unavailable", "database unavailable");
            else
                kb_page_error(&resp, 503, NULL);
        } else if (allowed(&req, rt, &resp) && validate_params(&req, &resp, rt->api) == 0) {
            rt->fn(&req, &resp);
        }
    }
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    kb_metrics_request(metric, resp.status,
                       (double)(t1.tv_sec - ctx->t0.tv_sec) +
                           (double)(t1.tv_nsec - ctx->t0.tv_nsec) / 1e9);
    enum MHD_Result ret = send_resp(c, &resp);
    kb_buf_release(&resp.body);
    free(resp.location);
    return ret;
}

/* ---- lifecycle ----------------------------------------------------------------------- */

static void log_mhd(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = 0;
    kb_log(KB_LOG_DEBUG, "http: %s", msg);
}

static struct MHD_Daemon *daemon_;
static int key_made, log_started;

enum kb_err kb_http_start(const struct kb_http_config *cfg, int *port_out)
{
    server_cfg = cfg;
    enum kb_err err = KB_OK;

    /* Repair: apply index changes a crash may have left between the two commits. */
    struct kb_store *st = NULL;
    err = kb_store_open(cfg->db_path, false, &st);
    if (err) {
        kb_log(KB_LOG_ERROR, "cannot open database %s", cfg->db_path);
        return err;
    }
    char *idx = kb_indexer_dir_for(cfg->db_path);
    size_t replayed = 0;
    err = idx ? kb_indexer_run(st, idx, false, &replayed) : KB_ENOMEM;
    if (!err) {
        /* Make sure a reader can open the index even for an empty database. */
        struct search_index *w = NULL;
        err = search_index_open(idx, true, &w);
        if (!err)
            err = search_index_commit(w);
        search_index_free(w);
    }
    free(idx);
    kb_store_free(st);
    if (err) {
        kb_log(KB_LOG_ERROR, "cannot prepare the search index: %s", kb_strerror(err));
        return err;
    }
    if (replayed)
        kb_log(KB_LOG_INFO, "applied %zu pending index changes", replayed);
    if (kb_theme_load(cfg->web_dir) != KB_OK) {
        kb_log(KB_LOG_ERROR, "cannot load the theme in %s (templates/, i18n/; use --web DIR)",
               cfg->web_dir);
        return KB_ENOTFOUND;
    }
    err = KB_EIO;
    if (pthread_key_create(&worker_key, worker_free) != 0)
        goto out;
    key_made = 1;
    char *index_dir = kb_indexer_dir_for(cfg->db_path);
    err = index_dir ? search_fresh_start(index_dir, REFRESH_MS, &readers) : KB_ENOMEM;
    free(index_dir);
    if (err)
        goto out;
    err = KB_EIO;
    if (kb_usage_start(cfg->writer, cfg->search_log_days) != KB_OK ||
        kb_rate_addrs_new(&limits.addrs) != KB_OK)
        goto out;
    log_started = 1;

    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cfg->port)};
    if (inet_pton(AF_INET, cfg->bind, &addr.sin_addr) != 1) {
        kb_log(KB_LOG_ERROR, "--bind must be an IPv4 address (got %s)", cfg->bind);
        err = KB_EINVAL;
        goto out;
    }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned threads = cfg->threads > 0 ? (unsigned)cfg->threads : ncpu > 0 ? (unsigned)ncpu : 2;
    signal(SIGPIPE, SIG_IGN);
    daemon_ = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG,
                         0, NULL, NULL, access_handler, NULL,
                         MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                         MHD_OPTION_THREAD_POOL_SIZE, threads,
                         MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)SERVER_MEMORY_LIMIT,
                         MHD_OPTION_CONNECTION_LIMIT, (unsigned)SERVER_CONNECTIONS,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)SERVER_TIMEOUT,
                         MHD_OPTION_NOTIFY_COMPLETED, request_completed, NULL,
                         MHD_OPTION_EXTERNAL_LOGGER, log_mhd, NULL,
                         MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
                         MHD_OPTION_END);
    if (!daemon_) {
        kb_log(KB_LOG_ERROR, "cannot listen on %s:%d: %s", cfg->bind, cfg->port,
               strerror(errno));
        goto out;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
    *port_out = info ? (int)info->port : cfg->port;
    kb_log(KB_LOG_INFO, "serving %s on http://%s:%d with %u threads", cfg->db_path, cfg->bind,
           *port_out, threads);
    return KB_OK;
out:
    kb_http_stop();
    return err;
}

void kb_http_stop(void)
{
    if (daemon_)
        MHD_stop_daemon(daemon_);
    daemon_ = NULL;
    search_fresh_stop(readers); /* after the pool threads freed their slots */
    readers = NULL;
    if (log_started)
        kb_usage_stop();
    kb_rate_addrs_free(limits.addrs);
    limits.addrs = NULL;
    log_started = 0;
    if (key_made) {
        /* Pool threads ran the key destructor as they exited; the main thread has none. */
        pthread_key_delete(worker_key);
    }
    key_made = 0;
    kb_theme_free();
}
