/* kb/cli/main.c: the `kb` command line: global options, then one subcommand.
 *
 *   kb [--db PATH] import DIR          import articles (and synonyms) from DIR
 *   kb check DIR                        report what import would reject, without writing
 *   kb [--db PATH] index [--rebuild]    apply pending index changes / rebuild the index
 *   kb [--db PATH] search [--lang L] [--category C] [--internal] [--limit N] [--json] QUERY
 *   kb [--db PATH] serve [--port N] [--bind ADDR] [--web DIR] [--threads N] [--base-url URL]
 *   kb bot --rules DIR [--user NAME] [--utf8]
 *
 * Every flag has an environment equivalent (KB_DB, KB_PORT, ...); flags win. Exit status:
 * 0 success, 1 failure, 2 usage error. */
#include <errno.h>
#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "bot/cli.h"
#include "kb/chat/host.h"
#include "kb/http/api.h"
#include "kb/base/buf.h"
#include "kb/articles/import.h"
#include "kb/articles/indexer.h"
#include "kb/base/log.h"
#include "kb/http/server.h"
#include "kb/store/articles.h"
#include "search/search.h"

#define KB_VERSION "0.1.0"

static const char *env_or(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v && *v ? v : def;
}

/* Parse a decimal integer in [lo, hi]; 0 on success. */
static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || !end || *end || end == s || v < lo || v > hi)
        return -1;
    *out = (long)v;
    return 0;
}

static void usage(FILE *f)
{
    fputs("usage: kb [--db PATH] [--verbose] COMMAND [ARGS]\n"
          "\n"
          "Knowledge base, search service and chatbot.\n"
          "\n"
          "commands:\n"
          "  import DIR     import every *.md under DIR (and DIR/synonyms/<lang>.txt)\n"
          "  check DIR      check articles (and RiveScript rules under DIR/bot) without writing\n"
          "  index          apply pending index changes; --rebuild rebuilds from the database\n"
          "  search QUERY   search from the terminal (--lang, --category, --internal, --json)\n"
          "  serve          serve the FAQ pages and the JSON API (--port, default 8080)\n"
          "  bot            chat with a RiveScript rules folder on the terminal (--rules DIR)\n"
          "  version        print the version\n"
          "\n"
          "global options:\n"
          "  --db PATH      database file (env KB_DB, default kb.db); the search index lives\n"
          "                 in PATH.index beside it\n"
          "  --verbose      log debug messages (env KB_LOG_LEVEL=debug)\n"
          "  -h, --help     this help; `kb COMMAND --help` for a command's options\n",
          f);
}

struct kb_ctx {
    const char *db;
};

static int open_store(struct kb_ctx *ctx, bool readonly, struct kb_store **st)
{
    enum kb_err err = kb_store_open(ctx->db, readonly, st);
    if (err) {
        fprintf(stderr, "kb: cannot open database %s: %s\n", ctx->db, kb_strerror(err));
        return 1;
    }
    return 0;
}

/* ---- import / check ------------------------------------------------------------------ */

/* kb check also validates chatbot rules: DIR/bot/<lang>/ folders, or DIR/bot itself. Returns
 * the number of errors. */
static int check_rules(const char *dir)
{
    char rules[4096];
    snprintf(rules, sizeof rules, "%s/bot", dir);
    DIR *d = opendir(rules);
    if (!d)
        return 0;
    int errors = 0, sub = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char path[4096 + 256];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", rules, e->d_name);
        if (e->d_name[0] != '.' && stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            errors += bot_check_dir(path, true, stderr, NULL);
            sub++;
        }
    }
    closedir(d);
    if (!sub)
        errors += bot_check_dir(rules, true, stderr, NULL);
    return errors;
}

static int cmd_import(struct kb_ctx *ctx, int argc, char **argv, bool check_only)
{
    static const struct option opts[] = {
        {"lang", required_argument, NULL, 'l'}, {"help", no_argument, NULL, 'h'}, {0}};
    const char *lang = env_or("KB_LANG", "fr");
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+l:h", opts, NULL)) != -1) {
        switch (c) {
        case 'l': lang = optarg; break;
        case 'h':
            printf("usage: kb [--db PATH] %s [--lang L] DIR\n"
                   "  --lang L   language of files whose front matter and path give none "
                   "(env KB_LANG, default fr)\n",
                   check_only ? "check" : "import");
            return 0;
        default: return 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "kb: %s takes one folder (see --help)\n", argv[0]);
        return 2;
    }
    const char *dir = argv[optind];
    struct kb_store *st = NULL;
    if (!check_only && open_store(ctx, false, &st))
        return 1;
    if (st && kb_store_durable(st)) {
        kb_store_free(st);
        return 1;
    }
    struct kb_import_report rep;
    char *idx = st ? kb_indexer_dir_for(ctx->db) : NULL;
    if (st && !idx) {
        kb_store_free(st);
        return 1;
    }
    /* Index while importing when the index can be had; else after, from the queue. */
    struct kb_indexer *live = NULL;
    if (idx && kb_indexer_begin(idx, &live) != KB_OK)
        live = NULL;
    struct kb_import_hook hook = {kb_indexer_planned, kb_indexer_stored, live};
    enum kb_err err = kb_import_dir(st, dir, lang, stderr, &rep, live ? &hook : NULL);
    int rc = err ? 1 : 0;
    if (err)
        kb_indexer_abort(live, st);
    if (!err && st) {
        size_t applied = 0;
        err = live ? kb_indexer_finish(live, st, rep.synonyms > 0, &applied)
                   : kb_indexer_run(st, idx, rep.synonyms > 0, &applied);
        if (err) {
            fprintf(stderr, "kb: articles are saved but indexing failed (%s); "
                            "`kb index` retries\n", kb_strerror(err));
            rc = 1;
        }
    }
    int bot_errors = 0;
    if (check_only)
        bot_errors = check_rules(dir);
    if (err && !rc)
        rc = 1;
    if (err)
        fprintf(stderr, "kb: %s failed: %s\n", argv[0], kb_strerror(err));
    if (check_only)
        printf("%zu files checked: %zu ok, %zu with errors, %zu warnings%s\n", rep.files,
               rep.files - rep.failed, rep.failed, rep.warnings,
               bot_errors ? "; bot rules have errors" : "");
    else
        printf("%zu files: %zu created, %zu updated, %zu unchanged, %zu archived, %zu failed "
               "(%.2f s)\n",
               rep.files, rep.created, rep.updated, rep.unchanged, rep.archived, rep.failed,
               rep.seconds);
    free(idx);
    kb_store_free(st);
    if (!rc && (rep.failed || bot_errors))
        rc = 1;
    return rc;
}

/* ---- index --------------------------------------------------------------------------- */

static int cmd_index(struct kb_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"rebuild", no_argument, NULL, 'r'}, {"help", no_argument, NULL, 'h'}, {0}};
    bool rebuild = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+rh", opts, NULL)) != -1) {
        switch (c) {
        case 'r': rebuild = true; break;
        case 'h':
            puts("usage: kb [--db PATH] index [--rebuild]\n"
                 "  apply pending changes to the search index; --rebuild rebuilds it from the "
                 "database");
            return 0;
        default: return 2;
        }
    }
    struct kb_store *st = NULL;
    if (open_store(ctx, false, &st))
        return 1;
    char *idx = kb_indexer_dir_for(ctx->db);
    size_t n = 0;
    enum kb_err err = !idx ? KB_ENOMEM
                           : rebuild ? kb_indexer_rebuild(st, idx, &n)
                                     : kb_indexer_run(st, idx, false, &n);
    free(idx);
    kb_store_free(st);
    if (err) {
        fprintf(stderr, "kb: index failed: %s\n", kb_strerror(err));
        return 1;
    }
    printf("%zu articles indexed\n", n);
    return 0;
}

/* ---- search -------------------------------------------------------------------------- */

static int cmd_search(struct kb_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {{"lang", required_argument, NULL, 'l'},
                                         {"category", required_argument, NULL, 'c'},
                                         {"limit", required_argument, NULL, 'n'},
                                         {"offset", required_argument, NULL, 'o'},
                                         {"internal", no_argument, NULL, 'i'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    struct search_query q = {.limit = 10};
    bool json = false;
    long v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+l:c:n:o:ijh", opts, NULL)) != -1) {
        switch (c) {
        case 'l': q.lang = optarg; break;
        case 'c': q.category = optarg; break;
        case 'n':
        case 'o':
            if (parse_int(optarg, c == 'n' ? 1 : 0, c == 'n' ? 100 : 10000, &v)) {
                fprintf(stderr, "kb: --%s must be a number (limit 1-100, offset 0-10000)\n",
                        c == 'n' ? "limit" : "offset");
                return 2;
            }
            *(c == 'n' ? &q.limit : &q.offset) = (size_t)v;
            break;
        case 'i': q.scope = SEARCH_SCOPE_INTERNAL; break;
        case 'j': json = true; break;
        case 'h':
            puts("usage: kb [--db PATH] search [--lang L] [--category C] [--limit N] "
                 "[--offset N] [--internal] [--json] QUERY...\n"
                 "  prints the ranking the API returns; --internal includes agents' articles");
            return 0;
        default: return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "kb: search needs a query (see --help)\n");
        return 2;
    }
    struct kb_buf text;
    kb_buf_init(&text, 100000);
    for (int i = optind; i < argc; i++) {
        if ((i > optind && kb_buf_putc(&text, ' ')) || kb_buf_puts(&text, argv[i])) {
            fprintf(stderr, "kb: query too long\n");
            kb_buf_release(&text);
            return 2;
        }
    }
    q.text = text.data;
    char *dir = kb_indexer_dir_for(ctx->db);
    struct search_index *idx = NULL;
    struct search_result *r = NULL;
    int rc = 1;
    enum kb_err err = dir ? search_index_open(dir, false, &idx) : KB_ENOMEM;
    if (err) {
        fprintf(stderr, "kb: cannot open the search index of %s: %s (kb import or kb index builds it)\n",
                ctx->db, kb_strerror(err));
        goto out;
    }
    err = search_run(idx, &q, &r);
    if (err) {
        fprintf(stderr, "kb: search failed: %s\n", kb_strerror(err));
        goto out;
    }
    if (json) {
        json_t *o = kb_http_search_json(r, 0);
        char *s = o ? json_dumps(o, KB_API_JSON_FLAGS) : NULL;
        if (s)
            puts(s);
        free(s);
        json_decref(o);
    } else {
        if (r->did_you_mean)
            printf("did you mean: %s\n", r->did_you_mean);
        printf("%zu results (%.2f ms)\n", r->total, r->took_ms);
        for (size_t i = 0; i < r->nhits; i++)
            printf("%2zu. %-40s %s [%s, %s] %.3f\n", q.offset + i + 1, r->hits[i].slug,
                   r->hits[i].title, r->hits[i].lang, r->hits[i].category, r->hits[i].score);
    }
    rc = 0;
out:
    search_result_free(r);
    search_index_free(idx);
    free(dir);
    kb_buf_release(&text);
    return rc;
}

/* ---- bot ----------------------------------------------------------------------------- */

static enum kb_err bot_setup(void *host, struct bot_brain *b)
{
    return host ? kb_chat_host_register(host, b) : KB_OK;
}

/* `kb bot`: the rules can search the knowledge base when the database exists. */
static int cmd_bot(struct kb_ctx *ctx, int argc, char **argv)
{
    struct kb_chat_host *host = NULL;
    if (access(ctx->db, R_OK) == 0) {
        enum kb_err err = kb_chat_host_open(ctx->db, &host);
        if (err) {
            fprintf(stderr, "kb: cannot open %s for the bot: %s (kb import or kb index builds it)\n",
                    ctx->db, kb_strerror(err));
            return 1;
        }
    } else
        fprintf(stderr, "kb: no database at %s: <call>kb_search</call> is not available\n",
                ctx->db);
    optind = 1;
    int rc = bot_cli_main(argc, argv, bot_setup, host);
    kb_chat_host_free(host);
    return rc;
}

/* ---- serve --------------------------------------------------------------------------- */

static int cmd_serve(struct kb_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {{"port", required_argument, NULL, 'p'},
                                         {"bind", required_argument, NULL, 'b'},
                                         {"web", required_argument, NULL, 'w'},
                                         {"threads", required_argument, NULL, 't'},
                                         {"base-url", required_argument, NULL, 'u'},
                                         {"lang", required_argument, NULL, 'l'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    struct kb_http_config cfg = {
        .db_path = ctx->db,
        .bind = env_or("KB_BIND", "127.0.0.1"),
        .web_dir = env_or("KB_WEB", KB_WEB_DIR),
        .base_url = env_or("KB_BASE_URL", NULL),
        .default_lang = env_or("KB_LANG", "fr"),
        .port = 8080,
        .threads = 0,
    };
    long v;
    if (getenv("KB_PORT") && parse_int(getenv("KB_PORT"), 0, 65535, &v) == 0)
        cfg.port = (int)v;
    if (getenv("KB_THREADS") && parse_int(getenv("KB_THREADS"), 1, 256, &v) == 0)
        cfg.threads = (int)v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+p:b:w:t:u:l:h", opts, NULL)) != -1) {
        switch (c) {
        case 'p':
            if (parse_int(optarg, 0, 65535, &v)) {
                fprintf(stderr, "kb: --port must be 0-65535\n");
                return 2;
            }
            cfg.port = (int)v;
            break;
        case 't':
            if (parse_int(optarg, 1, 256, &v)) {
                fprintf(stderr, "kb: --threads must be 1-256\n");
                return 2;
            }
            cfg.threads = (int)v;
            break;
        case 'b': cfg.bind = optarg; break;
        case 'w': cfg.web_dir = optarg; break;
        case 'u': cfg.base_url = optarg; break;
        case 'l': cfg.default_lang = optarg; break;
        case 'h':
            puts("usage: kb [--db PATH] serve [--port N] [--bind ADDR] [--web DIR] "
                 "[--threads N] [--base-url URL] [--lang L]\n"
                 "  --port N        HTTP port (env KB_PORT, default 8080; 0 picks a free one)\n"
                 "  --bind ADDR     address to listen on (env KB_BIND, default 127.0.0.1; "
                 "0.0.0.0 for all)\n"
                 "  --web DIR       templates and static files (env KB_WEB)\n"
                 "  --threads N     worker threads (env KB_THREADS, default: number of CPUs)\n"
                 "  --base-url URL  public address used in sitemap.xml (env KB_BASE_URL)\n"
                 "  --lang L        default page language (env KB_LANG, default fr)");
            return 0;
        default: return 2;
        }
    }
    return kb_http_run(&cfg) ? 1 : 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
                                         {"verbose", no_argument, NULL, 'v'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"version", no_argument, NULL, 'V'},
                                         {0}};
    struct kb_ctx ctx = {.db = env_or("KB_DB", "kb.db")};
    const char *lvl = getenv("KB_LOG_LEVEL");
    if (lvl && strcmp(lvl, "debug") == 0)
        kb_log_set_level(KB_LOG_DEBUG);
    int c;
    while ((c = getopt_long(argc, argv, "+d:vh", opts, NULL)) != -1) {
        switch (c) {
        case 'd': ctx.db = optarg; break;
        case 'v': kb_log_set_level(KB_LOG_DEBUG); break;
        case 'h': usage(stdout); return 0;
        case 'V': puts("kb " KB_VERSION); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    char **sub = argv + optind;
    int nsub = argc - optind;
    const char *cmd = sub[0];
    if (strcmp(cmd, "import") == 0)
        return cmd_import(&ctx, nsub, sub, false);
    if (strcmp(cmd, "check") == 0)
        return cmd_import(&ctx, nsub, sub, true);
    if (strcmp(cmd, "index") == 0)
        return cmd_index(&ctx, nsub, sub);
    if (strcmp(cmd, "search") == 0)
        return cmd_search(&ctx, nsub, sub);
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(&ctx, nsub, sub);
    if (strcmp(cmd, "bot") == 0)
        return cmd_bot(&ctx, nsub, sub);
    if (strcmp(cmd, "version") == 0) {
        puts("kb " KB_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "kb: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
