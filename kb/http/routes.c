/* kb/http/routes.c: the route table (see route.h). A route added here is reachable; the
 * security test (tests/integration/security.test.mjs) checks every route of `kb routes`
 * against every role and fails when a route has no entry there, and the OpenAPI test
 * (tests/integration/openapi.test.mjs) fails when an API route (or one of its parameters) is
 * missing from kb/http/openapi.json. */
#include "kb/http/route.h"

#include "kb/http/usage.h"

static const struct kb_param p_search[] = {{"q", 4096},   {"lang", 16},  {"category", 200},
                                           {"limit", 8},   {"offset", 8}, {"page", 8},
                                           {"verbatim", 1}, {NULL, 0}};
/* The search API (the console's too): the filters narrow the caller's scope; prefix=1 for
 * search as you type; verbatim=1 searches the words as typed (no typo correction). At most
 * KB_REQ_MAX_PARAMS. */
static const struct kb_param p_api_search[] = {{"q", 4096},    {"lang", 16},    {"category", 200},
                                               {"tag", 200},   {"audience", 8}, {"prefix", 1},
                                               {"limit", 8},   {"offset", 8},   {"verbatim", 1},
                                               {NULL, 0}};
static const struct kb_param p_agent[] = {{"q", 4096}, {"lang", 16}, {NULL, 0}};
static const struct kb_param p_flags[] = {{"status", 8}, {"limit", 8}, {"offset", 8}, {NULL, 0}};
static const struct kb_param p_flags_page[] = {{"status", 8}, {"page", 8}, {"lang", 16},
                                               {NULL, 0}};
static const struct kb_param p_suggest[] = {{"q", 500}, {"lang", 16}, {NULL, 0}};
static const struct kb_param p_lang[] = {{"lang", 16}, {NULL, 0}};
static const struct kb_param p_article[] = {{"lang", 16}, {"s", KB_USAGE_TOKEN_MAX}, {"thanks", 1},
                                            {NULL, 0}};
static const struct kb_param p_login[] = {{"next", 512}, {"lang", 16}, {NULL, 0}};
static const struct kb_param p_none[] = {{NULL, 0}};
static const struct kb_param p_cases[] = {{"status", 16}, {"assignee", 64}, {"lang", 16},
                                          {"q", 200},     {"limit", 8},     {"offset", 8},
                                          {NULL, 0}};
static const struct kb_param p_cases_page[] = {{"status", 16}, {"assignee", 16}, {"language", 16},
                                               {"q", 200},     {"page", 8},      {"lang", 16},
                                               {NULL, 0}};
static const struct kb_param p_case_page[] = {{"lang", 16}, {"done", 16}, {"error", 16},
                                              {NULL, 0}};

const struct kb_route kb_routes[] = {
    /* the help centre: anyone */
    {"GET", "/", kb_page_home, p_lang, KB_ROUTE_PAGE, 0, KB_ROLE_NONE},
    {"GET", "/search", kb_page_search, p_search, KB_ROUTE_PAGE, 0, KB_ROLE_NONE},
    {"GET", "/a/", kb_page_article, p_article, KB_ROUTE_PAGE, 0, KB_ROLE_NONE},
    {"POST", "/a/", kb_page_feedback, p_article, KB_ROUTE_PAGE, 0, KB_ROLE_NONE},
    {"GET", "/c/", kb_page_category, p_lang, KB_ROUTE_PAGE, 0, KB_ROLE_NONE},
    {"GET", "/sitemap.xml", kb_page_sitemap, p_none, KB_ROUTE_PAGE, 0, KB_ROLE_NONE},
    {"GET", "/robots.txt", kb_page_robots, p_none, KB_ROUTE_PAGE, 0, KB_ROLE_NONE},
    /* signing in and out */
    {"GET", "/login", kb_page_login, p_login, KB_ROUTE_PAGE, 0, KB_ROLE_NONE},
    {"POST", "/login", kb_page_login_post, p_login, KB_ROUTE_PAGE, 0, KB_ROLE_NONE},
    {"POST", "/logout", kb_page_logout, p_none, KB_ROUTE_PAGE, 0, KB_ROLE_NONE},
    /* the agents' console: cases (pages_cases.c; forms carry the session's CSRF token) */
    {"GET", "/agent/cases", kb_page_cases, p_cases_page, KB_ROUTE_PAGE, 0, KB_ROLE_AGENT},
    {"GET", "/agent/cases/", kb_page_case, p_case_page, KB_ROUTE_PAGE, 0, KB_ROLE_AGENT},
    {"POST", "/agent/cases/", kb_page_case_post, p_lang, KB_ROUTE_PAGE, 0, KB_ROLE_AGENT},
    /* the agents' console (pages_agent.c: the page shell; its data comes from the API) and
     * the editors' list of flags (works without JavaScript) */
    {"GET", "/agent", kb_page_agent, p_agent, KB_ROUTE_PAGE, 0, KB_ROLE_AGENT},
    {"GET", "/agent/flags", kb_page_flags, p_flags_page, KB_ROUTE_PAGE, 0, KB_ROLE_EDITOR},
    {"POST", "/agent/flags/", kb_page_flag_post, p_lang, KB_ROUTE_PAGE, 0, KB_ROLE_EDITOR},
    /* the agents' live chats (pages_chats.c; the page talks to the chat's /agent channel) */
    {"GET", "/agent/chats", kb_page_chats, p_lang, KB_ROUTE_PAGE, 0, KB_ROLE_AGENT},
    /* operations */
    {"GET", "/healthz", kb_api_healthz, p_none, KB_ROUTE_OTHER, 1, KB_ROLE_NONE},
    {"GET", "/metrics", kb_api_metrics, p_none, KB_ROUTE_OTHER, 1, KB_ROLE_NONE},
    {"GET", "/api/v1/healthz", kb_api_healthz, p_none, KB_ROUTE_OTHER, 1, KB_ROLE_NONE},
    {"GET", "/api/v1/metrics", kb_api_metrics, p_none, KB_ROUTE_OTHER, 1, KB_ROLE_NONE},
    /* the JSON API, described by the document it serves (kb/http/openapi.json) */
    {"GET", "/api/v1/openapi.json", kb_api_openapi, p_none, KB_ROUTE_API_OTHER, 1, KB_ROLE_NONE},
    {"POST", "/api/v1/session", kb_api_session_create, p_none, KB_ROUTE_API_OTHER, 1,
     KB_ROLE_NONE},
    {"DELETE", "/api/v1/session", kb_api_session_delete, p_none, KB_ROUTE_API_OTHER, 1,
     KB_ROLE_AGENT},
    {"GET", "/api/v1/search", kb_api_search, p_api_search, KB_ROUTE_API_SEARCH, 1,
     KB_ROLE_NONE},
    {"GET", "/api/v1/suggest", kb_api_suggest, p_suggest, KB_ROUTE_API_OTHER, 1, KB_ROLE_NONE},
    {"GET", "/api/v1/categories", kb_api_categories, p_lang, KB_ROUTE_API_OTHER, 1,
     KB_ROLE_NONE},
    {"GET", "/api/v1/articles/*/cases", kb_api_article_cases, p_none, KB_ROUTE_API_OTHER, 1,
     KB_ROLE_EDITOR},
    {"POST", "/api/v1/articles/*/flags", kb_api_flag_add, p_none, KB_ROUTE_API_OTHER, 1,
     KB_ROLE_AGENT},
    {"GET", "/api/v1/articles/", kb_api_article, p_lang, KB_ROUTE_API_OTHER, 1, KB_ROLE_NONE},
    {"POST", "/api/v1/articles/", kb_api_article, p_none, KB_ROUTE_API_OTHER, 1, KB_ROLE_NONE},
    /* the agents' cases inbox (api_cases.c) */
    {"GET", "/api/v1/cases", kb_api_cases_list, p_cases, KB_ROUTE_API_OTHER, 1, KB_ROLE_AGENT},
    {"GET", "/api/v1/cases/", kb_api_case, p_none, KB_ROUTE_API_OTHER, 1, KB_ROLE_AGENT},
    {"PATCH", "/api/v1/cases/", kb_api_case, p_none, KB_ROUTE_API_OTHER, 1, KB_ROLE_AGENT},
    {"POST", "/api/v1/cases/", kb_api_case, p_none, KB_ROUTE_API_OTHER, 1, KB_ROLE_AGENT},
    /* the agents' console (api_agent.c): each agent's desk, the filters, the flags */
    {"GET", "/api/v1/agent/recent", kb_api_agent_recent, p_none, KB_ROUTE_API_OTHER, 1,
     KB_ROLE_AGENT},
    {"POST", "/api/v1/agent/recent", kb_api_agent_recent, p_none, KB_ROUTE_API_OTHER, 1,
     KB_ROLE_AGENT},
    {"GET", "/api/v1/agent/pins", kb_api_agent_pins, p_none, KB_ROUTE_API_OTHER, 1,
     KB_ROLE_AGENT},
    {"POST", "/api/v1/agent/pins", kb_api_agent_pins, p_none, KB_ROUTE_API_OTHER, 1,
     KB_ROLE_AGENT},
    {"DELETE", "/api/v1/agent/pins/", kb_api_agent_pins, p_none, KB_ROUTE_API_OTHER, 1,
     KB_ROLE_AGENT},
    {"GET", "/api/v1/agent/filters", kb_api_agent_filters, p_lang, KB_ROUTE_API_OTHER, 1,
     KB_ROLE_AGENT},
    {"GET", "/api/v1/flags", kb_api_flags, p_flags, KB_ROUTE_API_OTHER, 1, KB_ROLE_EDITOR},
    {"PATCH", "/api/v1/flags/", kb_api_flag, p_none, KB_ROUTE_API_OTHER, 1, KB_ROLE_EDITOR},
};

const size_t kb_nroutes = sizeof kb_routes / sizeof kb_routes[0];
