/* kb/cli/cmd_import.c: kb import DIR and kb check DIR. */
#include "kb/cli/cli.h"

#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bot/cli.h"
#include "kb/articles/import.h"
#include "kb/chat/chat.h"
#include "kb/articles/indexer.h"
#include "kb/store/store.h"

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

int kb_cli_import(struct kb_ctx *ctx, int argc, char **argv, bool check_only)
{
    static const struct option opts[] = {{"lang", required_argument, NULL, 'l'},
                                         {"nice", required_argument, NULL, 'n'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    const char *lang = kb_cli_env("KB_LANG", "fr");
    const char *nice_value = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+l:n:h", opts, NULL)) != -1) {
        switch (c) {
        case 'l': lang = optarg; break;
        case 'n': nice_value = optarg; break;
        case 'h':
            printf("usage: kb [--db PATH] %s [--lang L] [--nice N] DIR\n"
                   "  --lang L   language of files whose front matter and path give none "
                   "(env KB_LANG, default fr)\n"
                   "  --nice N   CPU priority lowered by N, 0-19, or idle (env KB_NICE, default 10): "
                   "a running\n"
                   "             kb serve is served first\n",
                   check_only ? "check" : "import");
            return 0;
        default: return 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "kb: %s takes one folder (see --help)\n", argv[0]);
        return 2;
    }
    /* An import is a batch beside a server that answers people: it yields the processors to
     * it (nice 10 unless told, inherited by the indexing threads started below). Alone on a
     * machine it runs as fast; beside `kb serve` on two cores, chat replies waited seconds
     * behind its parsing and indexing without it (tests/bench/chat/README.md). */
    if (!check_only && kb_cli_nice(nice_value) != 0)
        return 2;
    const char *dir = argv[optind];
    struct kb_store *st = NULL;
    if (!check_only && kb_cli_open_store(ctx, false, &st))
        return 1;
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
    /* The bot's rules: stored in their own short transaction, each language checked whole. */
    struct kb_chat_rules_report rules = {0};
    if (st && !err) {
        enum kb_err rerr = kb_store_begin(st);
        if (!rerr)
            rerr = kb_chat_rules_import(st, dir, stderr, &rules);
        if (rerr) {
            kb_store_rollback(st);
            fprintf(stderr, "kb: the chatbot's rules were not imported: %s\n", kb_strerror(rerr));
            rc = 1;
        } else if ((rerr = kb_store_commit(st))) {
            fprintf(stderr, "kb: the chatbot's rules were not imported: %s\n", kb_strerror(rerr));
            rc = 1;
        }
        bot_errors = (int)rules.failed;
    }
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
    if (st && rules.files + rules.removed)
        printf("%zu rule files: %zu stored, %zu unchanged, %zu failed, %zu removed\n",
               rules.files, rules.stored, rules.unchanged, rules.failed, rules.removed);
    free(idx);
    kb_store_free(st);
    if (!rc && (rep.failed || bot_errors))
        rc = 1;
    return rc;
}

