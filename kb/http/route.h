/* kb/http/route.h: what route handlers (api.c, pages.c) see of a request, and what they
 * fill in. Internal to kb/: the server owns both structures for the request's lifetime.
 *
 * Validation happens at the edge: every route declares the query parameters it accepts with
 * a byte limit; the server rejects over-long or non-UTF-8 values with 400 before the handler
 * runs, so kb_req_arg() only ever returns validated text. */
#ifndef KB_HTTP_ROUTE_H
#define KB_HTTP_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "kb/base/buf.h"
#include "kb/base/err.h"
#include "kb/http/server.h"
#include "kb/articles/article.h"
#include "kb/store/articles.h"
#include "kb/auth/auth.h"
#include "kb/http/metrics.h"
#include "kb/store/feedback.h"
#include "search/search.h"

#define KB_HTTP_MAX_BODY (16 * 1024)  /* request bodies (feedback) */
#define KB_HTTP_MAX_URL 4096          /* request target, query included */
#define KB_HTTP_SESSION_COOKIE "kb_session"
#define KB_HTTP_MAX_RESPONSE (8 * 1024 * 1024)

/* Per-thread resources: a SQLite connection and a Xapian reader, opened on first use (the
 * reader through kb_worker_index, which also hands it newer ones: server.c). */
struct kb_worker {
    struct kb_store *st;
    struct search_index *idx;
};

struct kb_param {
    const char *name;
    size_t max;  /* byte limit of the value */
};

#define KB_REQ_MAX_PARAMS 12

struct kb_req {
    void *conn;                    /* struct MHD_Connection */
    const char *method;
    const char *path;              /* decoded path, no query */
    const char *rest;              /* path after the route's prefix */
    const char *body;
    size_t body_len;
    const char *content_type;      /* request Content-Type or "" */
    const struct kb_http_config *cfg;
    struct kb_worker *w;
    const struct kb_param *params; /* what the route accepts */
    /* What the caller may see, decided once from its role (anonymous callers: public,
     * published) before the handler runs; handlers never take it from a parameter. */
    enum kb_store_scope scope;
    enum search_scope search_scope;
    struct kb_auth_caller caller;  /* who is calling (role KB_ROLE_NONE: anonymous) */
    char addr[64];                 /* the caller's address, for limits and the audit log */
    const char *values[KB_REQ_MAX_PARAMS];
};

struct kb_resp {
    unsigned status;
    const char *ctype;
    const char *cache;     /* Cache-Control value, NULL = no-store for dynamic content */
    char *location;        /* redirect target (owned), NULL when none */
    char *allow;           /* Allow header for 405 (static string) */
    char chat_url[320];    /* the chat's address for this page's widget (see server.c) */
    char chat_origin[300]; /* its origin: the only connect-src besides 'self' */
    char set_cookie[2][200]; /* Set-Cookie values, "" when none */
    int retry_after;         /* seconds for a Retry-After header (429), 0: none */
    struct kb_buf body;
};

/* The validated value of a declared query parameter, or NULL when absent or empty. */
const char *kb_req_arg(const struct kb_req *req, const char *name);
/* A declared integer parameter in [lo, hi]; def when absent. KB_EINVAL when malformed. */
enum kb_err kb_req_int(const struct kb_req *req, const char *name, long lo, long hi, long def,
                       long *out) KB_MUST_CHECK;
/* A request header (NULL when absent). */
const char *kb_req_header(const struct kb_req *req, const char *name);
/* True when the caller connects from the local machine (127.0.0.0/8, ::1). */
bool kb_req_loopback(const struct kb_req *req);
/* A request cookie (NULL when absent). Borrowed for the request. */
const char *kb_req_cookie(const struct kb_req *req, const char *name);

/* Per-address limits on anonymous writes (server.c): feedback answers, and searches that go
 * to the search log (a search over the limit is answered, not logged). */
enum kb_http_limit { KB_LIMIT_FEEDBACK, KB_LIMIT_SEARCH_LOG };
/* Take one token of the caller's address for `which`; false when over the limit. */
bool kb_http_allow(struct kb_req *req, enum kb_http_limit which);

/* JSON error body {"error":{"code","message"}} with that status. */
void kb_resp_json_error(struct kb_resp *resp, unsigned status, const char *code,
                        const char *message);
/* Serialise o (takes the reference) as the JSON body with status 200. */
void kb_resp_json(struct kb_resp *resp, void *json_t_o);
/* 303 See Other to a local path (copied). */
void kb_resp_redirect(struct kb_resp *resp, const char *location);

/* The search reader of this thread, fresh enough (reopened at most once a second). */
struct search_index *kb_worker_index(struct kb_worker *w, const char *db_path);

/* Route handlers. */
typedef void (*kb_handler)(struct kb_req *req, struct kb_resp *resp);

/* The route table (routes.c): every route declares its method, path, the query parameters it
 * accepts and the role it needs. The server checks the role before the handler runs (an
 * anonymous caller gets 401, or the login page; a caller without the role 403) and, for a
 * state-changing request of a signed-in browser, the CSRF token (X-CSRF-Token header for the
 * JSON API; pages' forms check their csrf field). */
struct kb_route {
    const char *method;  /* "GET" also answers HEAD */
    const char *path;    /* exact path, or prefix when it ends with '/'; '*' stands for one
                          * path segment (req->rest then starts there). The first route whose
                          * path and method match answers: specific paths come first */
    kb_handler fn;
    const struct kb_param *params;
    enum kb_metric_route metric;
    int api;             /* errors as JSON */
    enum kb_role role;   /* the least role it needs (KB_ROLE_NONE: anyone) */
};
extern const struct kb_route kb_routes[];
extern const size_t kb_nroutes;
/* The double-submit token of an anonymous form (feedback, login): the visitor's kb_csrf
 * cookie when it is well formed, else a new one set on resp. A form posted from another site
 * has no cookie (SameSite=Strict) and cannot read it: its token never matches. */
#define KB_HTTP_FORM_TOKEN 32
void kb_req_form_token(struct kb_req *req, struct kb_resp *resp, char out[KB_HTTP_FORM_TOKEN + 1]);
/* True when the help centre is served over https (--base-url): cookies get Secure. */
bool kb_http_https(const struct kb_req *req);
/* True when a form's token field equals the kb_csrf cookie (constant time). */
bool kb_req_form_token_ok(const struct kb_req *req, const char *field);

/* Pages (pages.c): the data every page's template gets (the layout's: language, wording,
 * language links, the signed-in user), and rendering a theme template as the response (data:
 * reference taken). */
json_t *kb_page_data(const struct kb_req *req, const struct kb_resp *resp, const char *lang,
                     const char *title);
void kb_page_render(struct kb_resp *resp, unsigned status, const char *name, json_t *data);

/* Set a cookie on the response (value copied, up to two per response). */
void kb_resp_cookie(struct kb_resp *resp, const char *cookie);

/* api.c */
void kb_api_search(struct kb_req *req, struct kb_resp *resp);
void kb_api_suggest(struct kb_req *req, struct kb_resp *resp);
void kb_api_article(struct kb_req *req, struct kb_resp *resp);
void kb_api_categories(struct kb_req *req, struct kb_resp *resp);
void kb_api_healthz(struct kb_req *req, struct kb_resp *resp);
void kb_api_metrics(struct kb_req *req, struct kb_resp *resp);
void kb_api_openapi(struct kb_req *req, struct kb_resp *resp);
void kb_api_not_found(struct kb_req *req, struct kb_resp *resp);

/* pages_chats.c: the agents' live chats */
void kb_page_chats(struct kb_req *req, struct kb_resp *resp);

/* api_cases.c: the agents' cases inbox, JSON (see the file for the contract) */
void kb_api_cases_list(struct kb_req *req, struct kb_resp *resp);
void kb_api_case(struct kb_req *req, struct kb_resp *resp);
void kb_api_article_cases(struct kb_req *req, struct kb_resp *resp);

/* What an agent changes on a case (the API and the console's forms share it); every pointer
 * borrowed for the call. */
struct kb_case_edit {
    const char *ref;
    const char *status;   /* move to this status; NULL: unchanged */
    bool assign;          /* change the assignee ... */
    const char *assignee; /* ... to this login, or to nobody when NULL */
    const char *note;     /* add this note; NULL: none */
    const char *slug;     /* link this article; NULL: none */
};
/* Apply e as the request's caller through the writer thread: one transaction holds the
 * changes, their history rows, their CRM events and the audit entry (case.update, case.note
 * or case.link), all or nothing; the delivery thread is woken after the commit. *changed:
 * whether anything changed (a move to the current status is none). Errors are those of
 * kb_crm_case_move, _assign, _note and _link (KB_ENOTFOUND: no such case; KB_EDENIED: the
 * state machine refuses; KB_EINVAL: unknown assignee or article, or a bad note; KB_ETOOBIG:
 * too many notes or links), or KB_EBUSY when the writer's queue is full. */
enum kb_err kb_http_case_edit(struct kb_req *req, const struct kb_case_edit *e,
                              bool *changed) KB_MUST_CHECK;
/* The caller as the history and the audit log name it: the login, or "token:NAME". */
void kb_http_actor(const struct kb_req *req, char *out, size_t n);

/* pages_cases.c: the agents' console for cases (server-rendered, works without JavaScript) */
void kb_page_cases(struct kb_req *req, struct kb_resp *resp);
void kb_page_case(struct kb_req *req, struct kb_resp *resp);
void kb_page_case_post(struct kb_req *req, struct kb_resp *resp);

/* api_agent.c: the agents' console's own API (see the file for the contract) */
void kb_api_agent_recent(struct kb_req *req, struct kb_resp *resp);
void kb_api_agent_pins(struct kb_req *req, struct kb_resp *resp);
void kb_api_agent_filters(struct kb_req *req, struct kb_resp *resp);
void kb_api_flag_add(struct kb_req *req, struct kb_resp *resp);
void kb_api_flags(struct kb_req *req, struct kb_resp *resp);
void kb_api_flag(struct kb_req *req, struct kb_resp *resp);
struct kb_flag;
/* A flag as the API shows it (new reference; NULL when out of memory). */
json_t *kb_http_flag_json(const struct kb_flag *f);
/* The id of a flag's path segment ("42"), 0 when it is not one. */
int64_t kb_http_flag_id(const char *s);
/* Move flag id to status ("open", "handled") as the request's caller, through the writer
 * with its audit entry (flag.open, flag.handled); *changed false when it was there already.
 * KB_ENOTFOUND: no such flag; KB_EBUSY: the writer's queue is full. */
enum kb_err kb_http_flag_set(struct kb_req *req, int64_t id, const char *status,
                             bool *changed) KB_MUST_CHECK;

/* pages_agent.c: the console's page shell (its data comes from the API) and the editors'
 * list of flags (server-rendered, works without JavaScript) */
void kb_page_agent(struct kb_req *req, struct kb_resp *resp);
void kb_page_flags(struct kb_req *req, struct kb_resp *resp);
void kb_page_flag_post(struct kb_req *req, struct kb_resp *resp);

/* auth_pages.c: signing in and out, pages and API */
void kb_page_login(struct kb_req *req, struct kb_resp *resp);
void kb_page_login_post(struct kb_req *req, struct kb_resp *resp);
void kb_page_logout(struct kb_req *req, struct kb_resp *resp);
void kb_api_session_create(struct kb_req *req, struct kb_resp *resp);
void kb_api_session_delete(struct kb_req *req, struct kb_resp *resp);

/* pages.c */
void kb_page_home(struct kb_req *req, struct kb_resp *resp);
void kb_page_category(struct kb_req *req, struct kb_resp *resp);
void kb_page_article(struct kb_req *req, struct kb_resp *resp);
void kb_page_feedback(struct kb_req *req, struct kb_resp *resp);
void kb_page_search(struct kb_req *req, struct kb_resp *resp);
void kb_page_sitemap(struct kb_req *req, struct kb_resp *resp);
void kb_page_robots(struct kb_req *req, struct kb_resp *resp);
void kb_page_not_found(struct kb_req *req, struct kb_resp *resp);
void kb_page_error(struct kb_resp *resp, unsigned status, const char *lang);

#endif
