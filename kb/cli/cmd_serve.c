/* kb/cli/cmd_serve.c: kb serve: the help centre and the JSON API (kb/http), the chat
 * (kb/chat) and the delivery of case events to the CRM (kb/crm), around one writer thread
 * (kb/store/writer.h). Prints "chat on ws://ADDR:PORT/chat" then "listening on
 * http://ADDR:PORT" once both listen; SIGINT or SIGTERM stops everything cleanly. */
#include "kb/cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "kb/base/buf.h"
#include "kb/base/log.h"
#include "kb/chat/chat.h"
#include "kb/crm/crm.h"
#include "kb/auth/auth.h"
#include "kb/http/route.h"
#include "kb/http/server.h"
#include "kb/store/writer.h"

#define WRITER_QUEUE 100000

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

/* A duration: N seconds, or N followed by s, m or h. -1 when malformed. */
static long parse_duration(const char *s)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || v < 1 || v > 7 * 86400)
        return -1;
    long mult = !*end || strcmp(end, "s") == 0 ? 1 : strcmp(end, "m") == 0 ? 60
                : strcmp(end, "h") == 0        ? 3600
                                               : -1;
    return mult < 0 || v * mult > 7 * 86400 ? -1 : (long)(v * mult);
}

/* The secret from a file (its first line). NULL when it cannot be read. */
static char *read_secret(const char *path)
{
    struct kb_buf b;
    kb_buf_init(&b, 4096);
    if (kb_buf_append_file(&b, path) != KB_OK) {
        kb_buf_release(&b);
        return NULL;
    }
    char *s = kb_buf_detach(&b);
    if (s)
        s[strcspn(s, "\r\n")] = 0;
    return s;
}

static void usage(void)
{
    puts("usage: kb [--db PATH] serve [options]\n"
         "  --port N          HTTP port (env KB_PORT, default 8080; 0 picks a free one)\n"
         "  --bind ADDR       address to listen on (env KB_BIND, default 127.0.0.1; 0.0.0.0 for "
         "all)\n"
         "  --web DIR         the theme: templates/, i18n/ and static/ (env KB_WEB); copy web/\n"
         "                    and edit it to restyle and reword the help centre\n"
         "  --threads N       HTTP worker threads (env KB_THREADS, default: number of CPUs)\n"
         "  --base-url URL    public address used in sitemap.xml (env KB_BASE_URL)\n"
         "  --lang L          default page and chat language (env KB_LANG, default fr)\n"
         "  --search-log-days N  the search log's retention (env KB_SEARCH_LOG_DAYS, default 90)\n"
         "chat (websocket ws://ADDR:PORT/chat):\n"
         "  --chat-port N     its port (env KB_CHAT_PORT, default 8081; 0 picks a free one)\n"
         "  --chat-url URL    its public address given to the pages' widget (env KB_CHAT_URL;\n"
         "                    default ws://HOST:PORT/chat with the host the browser used)\n"
         "  --chat-idle T     a conversation idle that long ends (env KB_CHAT_IDLE; seconds, or\n"
         "                    30m, 1h; default 30m)\n"
         "  --chat-ping T     a silent connection is pinged after T, dropped when T more pass\n"
         "                    without an answer (env KB_CHAT_PING; seconds, or 1m; default 30)\n"
         "  --chat-workers N  threads running the bot (env KB_CHAT_WORKERS; default: CPUs)\n"
         "  --chat-rate R     messages a second per conversation (env KB_CHAT_RATE, default 5)\n"
         "  --chat-burst N    ... in bursts of N (env KB_CHAT_BURST, default 20)\n"
         "  --chat-conn-max N connections per address (env KB_CHAT_CONN_MAX, default 50)\n"
         "  --chat-new-max N  new conversations a minute per address (env KB_CHAT_NEW_MAX, "
         "default 30)\n"
         "live takeover (agents answer in /agent/chats; their channel is ws://ADDR:PORT/agent):\n"
         "  --chat-hours H    when a customer who asks for a person is offered to wait for one\n"
         "                    (env KB_CHAT_HOURS; server's local time, TZ honoured), e.g.\n"
         "                    \"mon-fri 09:00-18:00, sat 10:00-12:30\": items DAYS RANGE...\n"
         "                    separated by ',', DAYS mon..sun, a span mon-fri or daily, RANGE\n"
         "                    HH:MM-HH:MM (up to 24:00); default none: the bot offers a case\n"
         "  --chat-wait T     how long a customer waits before the bot offers a case instead\n"
         "                    (env KB_CHAT_WAIT; 1s to 24h, e.g. 90s or 3m; default 3m); an\n"
         "                    agent without an open channel that long loses the conversations\n"
         "                    he holds\n"
         "cases (delivered to the company's CRM as Standard Webhooks):\n"
         "  --crm-url URL          the CRM's webhook (env KB_CRM_URL); without it cases wait\n"
         "  --crm-secret whsec_... the signing secret (env KB_CRM_SECRET)\n"
         "  --crm-secret-file F    ... read from a file instead\n"
         "  (env KB_CRM_RETRY_SCALE multiplies the retry schedule, for tests)");
}

int kb_cli_serve(struct kb_ctx *ctx, int argc, char **argv)
{
    enum {
        O_CHAT_PORT = 256, O_CHAT_URL, O_CHAT_IDLE, O_CHAT_WORKERS, O_CHAT_RATE, O_CHAT_BURST,
        O_CHAT_CONN, O_CHAT_NEW, O_CRM_URL, O_CRM_SECRET, O_CRM_SECRET_FILE, O_LOG_DAYS,
        O_CHAT_PING, O_CHAT_HOURS, O_CHAT_WAIT
    };
    static const struct option opts[] = {{"port", required_argument, NULL, 'p'},
                                         {"bind", required_argument, NULL, 'b'},
                                         {"web", required_argument, NULL, 'w'},
                                         {"threads", required_argument, NULL, 't'},
                                         {"base-url", required_argument, NULL, 'u'},
                                         {"lang", required_argument, NULL, 'l'},
                                         {"chat-port", required_argument, NULL, O_CHAT_PORT},
                                         {"chat-url", required_argument, NULL, O_CHAT_URL},
                                         {"chat-idle", required_argument, NULL, O_CHAT_IDLE},
                                         {"chat-ping", required_argument, NULL, O_CHAT_PING},
                                         {"chat-workers", required_argument, NULL, O_CHAT_WORKERS},
                                         {"chat-rate", required_argument, NULL, O_CHAT_RATE},
                                         {"chat-burst", required_argument, NULL, O_CHAT_BURST},
                                         {"chat-conn-max", required_argument, NULL, O_CHAT_CONN},
                                         {"chat-new-max", required_argument, NULL, O_CHAT_NEW},
                                         {"crm-url", required_argument, NULL, O_CRM_URL},
                                         {"crm-secret", required_argument, NULL, O_CRM_SECRET},
                                         {"crm-secret-file", required_argument, NULL,
                                          O_CRM_SECRET_FILE},
                                         {"search-log-days", required_argument, NULL, O_LOG_DAYS},
                                         {"chat-hours", required_argument, NULL, O_CHAT_HOURS},
                                         {"chat-wait", required_argument, NULL, O_CHAT_WAIT},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    struct kb_http_config cfg = {
        .db_path = ctx->db,
        .bind = kb_cli_env("KB_BIND", "127.0.0.1"),
        .web_dir = kb_cli_env("KB_WEB", KB_WEB_DIR),
        .base_url = kb_cli_env("KB_BASE_URL", NULL),
        .default_lang = kb_cli_env("KB_LANG", "fr"),
        .chat_url = kb_cli_env("KB_CHAT_URL", NULL),
        .port = 8080,
        .threads = 0,
    };
    struct kb_chat_config chat = {
        .db_path = ctx->db, .port = 8081, .idle_secs = 1800, .ping_secs = 30, .msg_rate = 5,
        .msg_burst = 20, .conn_max = 50, .starts_per_min = 30, .wait_secs = 180};
    const char *hours = kb_cli_env("KB_CHAT_HOURS", NULL);
    struct kb_crm_config crm = {
        .db_path = ctx->db,
        .url = kb_cli_env("KB_CRM_URL", NULL),
        .secret = kb_cli_env("KB_CRM_SECRET", NULL),
        .retry_scale = 1.0,
    };
    char *secret_file = NULL;
    long v = 0;
    /* The environment first, flags override it. */
    const struct {
        const char *env;
        int opt;
    } envs[] = {{"KB_PORT", 'p'},          {"KB_THREADS", 't'},         {"KB_CHAT_PORT", O_CHAT_PORT},
                {"KB_CHAT_IDLE", O_CHAT_IDLE}, {"KB_CHAT_WORKERS", O_CHAT_WORKERS},
                {"KB_CHAT_RATE", O_CHAT_RATE}, {"KB_CHAT_BURST", O_CHAT_BURST},
                {"KB_CHAT_CONN_MAX", O_CHAT_CONN}, {"KB_CHAT_NEW_MAX", O_CHAT_NEW},
                {"KB_SEARCH_LOG_DAYS", O_LOG_DAYS}, {"KB_CHAT_PING", O_CHAT_PING},
                {"KB_CHAT_WAIT", O_CHAT_WAIT}};
    const char *vals[sizeof envs / sizeof envs[0] + 64] = {0};
    int keys[sizeof envs / sizeof envs[0] + 64] = {0};
    size_t nvals = 0;
    for (size_t i = 0; i < sizeof envs / sizeof envs[0]; i++)
        if (getenv(envs[i].env) && *getenv(envs[i].env)) {
            keys[nvals] = envs[i].opt;
            vals[nvals++] = getenv(envs[i].env);
        }
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+p:b:w:t:u:l:h", opts, NULL)) != -1) {
        switch (c) {
        case 'b': cfg.bind = optarg; break;
        case 'w': cfg.web_dir = optarg; break;
        case 'u': cfg.base_url = optarg; break;
        case 'l': cfg.default_lang = optarg; break;
        case O_CHAT_URL: cfg.chat_url = optarg; break;
        case O_CRM_URL: crm.url = optarg; break;
        case O_CRM_SECRET: crm.secret = optarg; break;
        case O_CRM_SECRET_FILE: secret_file = optarg; break;
        case O_CHAT_HOURS: hours = optarg; break;
        case 'h': usage(); return 0;
        case '?': return 2;
        default:
            if (nvals < sizeof vals / sizeof vals[0]) {
                keys[nvals] = c;
                vals[nvals++] = optarg;
            }
        }
    }
    for (size_t i = 0; i < nvals; i++) {
        const char *s = vals[i];
        int bad = 0;
        switch (keys[i]) {
        case 'p': bad = kb_cli_int(s, 0, 65535, &v); cfg.port = (int)v; break;
        case 't': bad = kb_cli_int(s, 1, 256, &v); cfg.threads = (int)v; break;
        case O_CHAT_PORT: bad = kb_cli_int(s, 0, 65535, &v); chat.port = (int)v; break;
        case O_CHAT_WORKERS: bad = kb_cli_int(s, 1, 64, &v); chat.workers = (unsigned)v; break;
        case O_CHAT_RATE: bad = kb_cli_int(s, 1, 100000, &v); chat.msg_rate = (double)v; break;
        case O_CHAT_BURST: bad = kb_cli_int(s, 1, 100000, &v); chat.msg_burst = (double)v; break;
        case O_CHAT_CONN: bad = kb_cli_int(s, 1, 1000000, &v); chat.conn_max = (unsigned)v; break;
        case O_CHAT_NEW: bad = kb_cli_int(s, 1, 1000000, &v); chat.starts_per_min = (double)v; break;
        case O_LOG_DAYS: bad = kb_cli_int(s, 1, 36500, &v); cfg.search_log_days = (int)v; break;
        case O_CHAT_IDLE:
            v = parse_duration(s);
            bad = v < 0;
            chat.idle_secs = (int)v;
            break;
        case O_CHAT_PING:
            v = parse_duration(s);
            bad = v < 1 || v > 3600;
            chat.ping_secs = (int)v;
            break;
        case O_CHAT_WAIT:
            v = parse_duration(s);
            bad = v < 1 || v > 86400;
            chat.wait_secs = (int)v;
            break;
        default: break;
        }
        if (bad) {
            fprintf(stderr, "kb: bad value '%s' for %s (see kb serve --help)\n", s,
                    keys[i] == 'p' ? "the port" : "a chat or server option");
            return 2;
        }
    }
    const char *why = NULL;
    if (kb_chat_hours_parse(hours, &chat.hours, &why) != KB_OK) {
        fprintf(stderr, "kb: bad --chat-hours '%s': %s (see kb serve --help)\n", hours, why);
        return 2;
    }
    if (secret_file && !(crm.secret = read_secret(secret_file))) {
        fprintf(stderr, "kb: cannot read --crm-secret-file %s\n", secret_file);
        return 2;
    }
    const char *scale = getenv("KB_CRM_RETRY_SCALE");
    if (scale && *scale) {
        char *end = NULL;
        double d = strtod(scale, &end);
        if (end == scale || *end || !(d > 0) || d > 1000) {
            fprintf(stderr, "kb: KB_CRM_RETRY_SCALE must be a number above 0\n");
            return 2;
        }
        crm.retry_scale = d;
    }
    chat.bind = cfg.bind;
    chat.default_lang = cfg.default_lang;

    int rc = 1, http_port = 0, chat_port = 0;
    bool delivery = false, chat_on = false, http_on = false;
    struct kb_store_writer *writer = NULL;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (kb_store_writer_start(ctx->db, WRITER_QUEUE, &writer) != KB_OK) {
        fprintf(stderr, "kb: cannot open database %s\n", ctx->db);
        goto out;
    }
    if (kb_crm_delivery_start(&crm) != KB_OK)
        goto out;
    delivery = true;
    chat.writer = writer;
    cfg.writer = writer;
    if (kb_chat_start(&chat, &chat_port) != KB_OK)
        goto out;
    chat_on = true;
    cfg.chat_port = chat_port;
    if (kb_http_start(&cfg, &http_port) != KB_OK)
        goto out;
    http_on = true;
    /* The agents' channel accepts pages of the help centre only (its Origin). */
    kb_chat_set_site(cfg.base_url, http_port);
    printf("chat on ws://%s:%d/chat\n", cfg.bind, chat_port);
    printf("listening on http://%s:%d\n", cfg.bind, http_port);
    fflush(stdout);
    while (!stop_flag)
        pause();
    kb_log(KB_LOG_INFO, "shutting down");
    rc = 0;
out:
    if (http_on)
        kb_http_stop();
    if (chat_on)
        kb_chat_stop();
    if (delivery)
        kb_crm_delivery_stop();
    kb_store_writer_stop(writer);
    curl_global_cleanup();
    if (secret_file)
        free((char *)crm.secret);
    return rc;
}

/* kb routes [--json]: the HTTP routes and the role each needs (for audits and the security
 * test, which checks every route against every role); --json adds the query parameters each
 * declares ({"name","max"}: the byte limit), which the OpenAPI test compares with the
 * document served at /api/v1/openapi.json. */
int kb_cli_routes(struct kb_ctx *ctx, int argc, char **argv)
{
    (void)ctx;
    bool json = argc > 1 && strcmp(argv[1], "--json") == 0;
    if (argc > 1 && !json) {
        puts("usage: kb routes [--json]\n  the HTTP routes, with the method and the role each needs");
        return strcmp(argv[1], "--help") == 0 ? 0 : 2;
    }
    json_t *list = json_array();
    for (size_t i = 0; list && i < kb_nroutes; i++) {
        const struct kb_route *r = &kb_routes[i];
        const char *role = *kb_auth_role_name(r->role) ? kb_auth_role_name(r->role) : "anyone";
        if (json) {
            /* The query parameters it declares, with their byte limits: the OpenAPI test
             * holds the document's parameters to them. */
            json_t *params = json_array();
            for (size_t k = 0; params && r->params[k].name; k++)
                json_array_append_new(params, json_pack("{s:s, s:I}", "name", r->params[k].name,
                                                        "max", (json_int_t)r->params[k].max));
            json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:b, s:o*}", "method",
                                                  r->method, "path", r->path, "role", role,
                                                  "api", r->api, "params", params));
        } else
            printf("%-7s %-28s %s\n", r->method, r->path, role);
    }
    json_t *o = json ? json_pack("{s:o}", "routes", list) : NULL;
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (s)
        puts(s);
    free(s);
    if (o)
        json_decref(o);
    else
        json_decref(list);
    return 0;
}
