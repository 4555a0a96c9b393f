/* kb/http/auth_pages.c: signing in and out (kb/auth does the work).
 *
 *   GET  /login          the form (works without JavaScript), ?next=/local/path
 *   POST /login          login, password, next, csrf (the form's double-submit token):
 *                        303 to next with the session cookie; 401 with the form again;
 *                        429 when the login or the address failed too often lately
 *   POST /logout         csrf (the session's token): the session ends server side, 303 to /
 *   POST /api/v1/session {"login","password"}: 201 {"user":{"login","name","role"},
 *                        "csrf_token"} and the cookie; 401 on a wrong pair; 429 throttled
 *   DELETE /api/v1/session   204; the session is dead server side (X-CSRF-Token required)
 *
 * The session cookie: kb_session, HttpOnly, SameSite=Strict, Path=/, Secure when the help
 * centre's base URL is https. A new session id at every login. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <microhttpd.h>
#include <sodium.h>

#include "kb/base/log.h"
#include "kb/http/route.h"
#include "kb/http/theme.h"

#define FIELD_MAX 300

struct login_form {
    char login[KB_AUTH_LOGIN_MAX + 1];
    char password[KB_AUTH_PASSWORD_MAX + 1];
    char next[513];
    char csrf[KB_AUTH_SECRET_LEN + 1];
    bool too_long;
};

static void copy_field(char *dst, size_t cap, const char *data, uint64_t off, size_t size,
                       bool *too_long)
{
    if (off + size >= cap) {
        *too_long = true;
        return;
    }
    memcpy(dst + off, data, size);
    dst[off + size] = 0;
}

static enum MHD_Result login_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *filename, const char *content_type,
                                   const char *encoding, const char *data, uint64_t off,
                                   size_t size)
{
    (void)kind, (void)filename, (void)content_type, (void)encoding;
    struct login_form *f = cls;
    if (strcmp(key, "login") == 0)
        copy_field(f->login, sizeof f->login, data, off, size, &f->too_long);
    else if (strcmp(key, "password") == 0)
        copy_field(f->password, sizeof f->password, data, off, size, &f->too_long);
    else if (strcmp(key, "next") == 0)
        copy_field(f->next, sizeof f->next, data, off, size, &f->too_long);
    else if (strcmp(key, "csrf") == 0)
        copy_field(f->csrf, sizeof f->csrf, data, off, size, &f->too_long);
    return MHD_YES;
}

static void parse_form(struct kb_req *req, struct login_form *f)
{
    memset(f, 0, sizeof *f);
    if (strncmp(req->content_type, "application/x-www-form-urlencoded", 33) != 0)
        return;
    struct MHD_PostProcessor *pp = MHD_create_post_processor(req->conn, 4096, login_field, f);
    if (pp) {
        MHD_post_process(pp, req->body, req->body_len);
        MHD_destroy_post_processor(pp);
    }
}

/* A local path to go to after the login ("/agent" by default): never another site. */
static const char *safe_next(const char *next)
{
    if (!next || next[0] != '/' || next[1] == '/' || next[1] == '\\' || strlen(next) > 512)
        return "/agent";
    for (const char *p = next; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == '\\')
            return "/agent";
    return next;
}

static const char *lang_of(const struct kb_req *req)
{
    const char *l = kb_req_arg(req, "lang");
    if (l && (strcmp(l, "fr") == 0 || strcmp(l, "en") == 0))
        return l;
    return req->cfg->default_lang && strcmp(req->cfg->default_lang, "en") == 0 ? "en" : "fr";
}

static void session_cookie(struct kb_req *req, struct kb_resp *resp, const char *id, bool clear)
{
    char cookie[200];
    snprintf(cookie, sizeof cookie,
             KB_HTTP_SESSION_COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict%s%s", clear ? "" : id,
             kb_http_https(req) ? "; Secure" : "", clear ? "; Max-Age=0" : "");
    kb_resp_cookie(resp, cookie);
}

static void login_page(struct kb_req *req, struct kb_resp *resp, unsigned status,
                       const char *error_key, const char *login, const char *next, int wait)
{
    const char *lang = lang_of(req);
    char token[KB_HTTP_FORM_TOKEN + 1];
    kb_req_form_token(req, resp, token);
    json_t *t = kb_theme_strings(lang);
    const char *title = json_string_value(json_object_get(t, "login_title"));
    json_t *data = kb_page_data(req, resp, lang, title ? title : "Sign in");
    if (data) {
        json_object_set_new(data, "noindex", json_true());
        json_object_set_new(data, "csrf", json_string(token));
        json_object_set_new(data, "login", json_string(login ? login : ""));
        json_object_set_new(data, "next", json_string(safe_next(next)));
        if (error_key)
            json_object_set_new(data, "error", json_object_get(t, error_key)
                                                   ? json_incref(json_object_get(t, error_key))
                                                   : json_string(error_key));
        if (wait)
            json_object_set_new(data, "wait", json_integer(wait));
    }
    kb_page_render(resp, status, "login", data);
}

void kb_page_login(struct kb_req *req, struct kb_resp *resp)
{
    login_page(req, resp, 200, NULL, NULL, kb_req_arg(req, "next"), 0);
}

void kb_page_login_post(struct kb_req *req, struct kb_resp *resp)
{
    struct login_form f;
    parse_form(req, &f);
    if (!kb_req_form_token_ok(req, f.csrf)) {
        login_page(req, resp, 403, "form_expired", f.login, f.next, 0);
        goto out;
    }
    char sid[KB_AUTH_SECRET_LEN + 1];
    struct kb_auth_caller who;
    int wait = 0;
    enum kb_err err = f.too_long ? KB_EDENIED
                                 : kb_auth_login(req->w->st, req->cfg->writer, f.login,
                                                 f.password, req->addr, (int64_t)time(NULL), sid,
                                                 &who, &wait);
    if (err == KB_EBUSY) {
        resp->retry_after = wait;
        login_page(req, resp, 429, "login_throttled", f.login, f.next, wait);
    } else if (err == KB_EDENIED) {
        login_page(req, resp, 401, "login_failed", f.login, f.next, 0);
    } else if (err) {
        kb_page_error(resp, 503, lang_of(req));
    } else {
        session_cookie(req, resp, sid, false);
        kb_resp_redirect(resp, safe_next(f.next));
        sodium_memzero(sid, sizeof sid);
    }
out:
    sodium_memzero(f.password, sizeof f.password);
}

static enum MHD_Result csrf_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *filename, const char *content_type,
                                  const char *encoding, const char *data, uint64_t off,
                                  size_t size)
{
    (void)kind, (void)filename, (void)content_type, (void)encoding;
    bool too_long = false;
    if (strcmp(key, "csrf") == 0)
        copy_field(cls, KB_AUTH_SECRET_LEN + 1, data, off, size, &too_long);
    return MHD_YES;
}

void kb_page_logout(struct kb_req *req, struct kb_resp *resp)
{
    char csrf[KB_AUTH_SECRET_LEN + 1] = "";
    if (strncmp(req->content_type, "application/x-www-form-urlencoded", 33) == 0) {
        struct MHD_PostProcessor *pp = MHD_create_post_processor(req->conn, 1024, csrf_field, csrf);
        if (pp) {
            MHD_post_process(pp, req->body, req->body_len);
            MHD_destroy_post_processor(pp);
        }
    }
    if (req->caller.role && !req->caller.by_token && !kb_auth_csrf_ok(&req->caller, csrf)) {
        kb_page_error(resp, 403, lang_of(req));
        return;
    }
    if (kb_auth_logout(req->cfg->writer, &req->caller, req->addr, (int64_t)time(NULL)) != KB_OK) {
        kb_page_error(resp, 503, lang_of(req));
        return;
    }
    session_cookie(req, resp, "", true);
    kb_resp_redirect(resp, "/");
}

void kb_api_session_create(struct kb_req *req, struct kb_resp *resp)
{
    json_error_t jerr;
    json_t *in = strncmp(req->content_type, "application/json", 16) == 0
                     ? json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr)
                     : NULL;
    const char *login = json_string_value(json_object_get(in, "login"));
    const char *password = json_string_value(json_object_get(in, "password"));
    if (!json_is_object(in) || !login || !password) {
        json_decref(in);
        kb_resp_json_error(resp, 400, "invalid_body",
                           "expected application/json {\"login\": string, \"password\": string}");
        return;
    }
    char sid[KB_AUTH_SECRET_LEN + 1];
    struct kb_auth_caller who;
    int wait = 0;
    enum kb_err err = kb_auth_login(req->w->st, req->cfg->writer, login, password, req->addr,
                                    (int64_t)time(NULL), sid, &who, &wait);
    json_decref(in);
    if (err == KB_EBUSY) {
        resp->retry_after = wait;
        kb_resp_json_error(resp, 429, "throttled", "too many failed logins: wait and try again");
    } else if (err == KB_EDENIED) {
        kb_resp_json_error(resp, 401, "unauthenticated", "wrong login or password");
    } else if (err) {
        kb_resp_json_error(resp, 503, "unavailable", kb_strerror(err));
    } else {
        session_cookie(req, resp, sid, false);
        kb_resp_json(resp, json_pack("{s:{s:s, s:s, s:s}, s:s}", "user", "login", who.login,
                                     "name", who.name, "role", kb_auth_role_name(who.role),
                                     "csrf_token", who.csrf));
        resp->status = 201;
    }
    sodium_memzero(sid, sizeof sid);
}

void kb_api_session_delete(struct kb_req *req, struct kb_resp *resp)
{
    if (req->caller.by_token) {
        kb_resp_json_error(resp, 400, "not_a_session", "an API token has no session to end");
        return;
    }
    if (kb_auth_logout(req->cfg->writer, &req->caller, req->addr, (int64_t)time(NULL)) != KB_OK) {
        kb_resp_json_error(resp, 503, "unavailable", "the session could not be ended");
        return;
    }
    session_cookie(req, resp, "", true);
    kb_buf_clear(&resp->body);
    resp->status = 204;
    resp->ctype = "text/plain; charset=utf-8";
}
