/* kb/cli/cmd_case.c: kb case list|show|redeliver: cases and their delivery to the CRM, on the
 * server's terminal (cases hold personal data: no HTTP route shows them without an account).
 *
 *   kb case list [--status S] [--delivery pending|delivered|failed] [--limit N] [--json]
 *   kb case show REF [--json]      the case; the text form adds every delivery attempt
 *   kb case redeliver REF          its events due again now (failed ones from the start) */
#include "kb/cli/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "kb/crm/crm.h"
#include "kb/store/cases.h"
#include "kb/store/outbox.h"
#include "kb/store/store.h"

static const char *const statuses[] = {"new", "open", "pending", "solved", "closed", NULL};
static const char *const deliveries[] = {"pending", "delivered", "failed", NULL};

static bool one_of(const char *s, const char *const *set)
{
    for (size_t i = 0; set[i]; i++)
        if (strcmp(s, set[i]) == 0)
            return true;
    return false;
}

static void print_ms(int64_t ms)
{
    char t[32];
    kb_crm_iso8601(ms / 1000, t, sizeof t);
    fputs(t, stdout);
}

static int case_list(struct kb_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {{"status", required_argument, NULL, 's'},
                                         {"delivery", required_argument, NULL, 'd'},
                                         {"limit", required_argument, NULL, 'n'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    const char *status = NULL, *delivery = NULL;
    bool json = false;
    long limit = 100;
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "s:d:n:jh", opts, NULL)) != -1) {
        switch (c) {
        case 's': status = optarg; break;
        case 'd': delivery = optarg; break;
        case 'j': json = true; break;
        case 'n':
            if (kb_cli_int(optarg, 1, 100000, &limit)) {
                fprintf(stderr, "kb: --limit must be 1-100000\n");
                return 2;
            }
            break;
        case 'h':
            puts("usage: kb [--db PATH] case list [--status new|open|pending|solved|closed]\n"
                 "         [--delivery pending|delivered|failed] [--limit N] [--json]");
            return 0;
        default: return 2;
        }
    }
    if ((status && !one_of(status, statuses)) || (delivery && !one_of(delivery, deliveries))) {
        fprintf(stderr, "kb: --status is one of new, open, pending, solved, closed; --delivery "
                        "one of pending, delivered, failed\n");
        return 2;
    }
    struct kb_store *st = NULL;
    if (kb_cli_open_store(ctx, false, &st))
        return 1;
    struct kb_case_row **rows = NULL;
    size_t n = 0;
    enum kb_err err = kb_store_cases_list(st, status, delivery, (size_t)limit, 0, &rows, &n);
    int rc = 0;
    if (err) {
        fprintf(stderr, "kb: cannot list cases: %s\n", kb_strerror(err));
        rc = 1;
    } else if (json) {
        json_t *a = json_array();
        for (size_t i = 0; a && i < n; i++) {
            char at[32];
            kb_crm_iso8601(rows[i]->created_at, at, sizeof at);
            json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "ref",
                                               rows[i]->ref, "status", rows[i]->status, "subject",
                                               rows[i]->subject, "lang", rows[i]->lang,
                                               "created_at", at, "delivery", rows[i]->delivery));
        }
        json_t *o = a ? json_pack("{s:o}", "cases", a) : NULL;
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (s)
            puts(s);
        else
            rc = 1;
        free(s);
        json_decref(o);
    } else {
        for (size_t i = 0; i < n; i++) {
            char at[32];
            kb_crm_iso8601(rows[i]->created_at, at, sizeof at);
            printf("%-16s %-8s %-10s %s %s  %s\n", rows[i]->ref, rows[i]->status,
                   rows[i]->delivery, at, rows[i]->lang, rows[i]->subject);
        }
        printf("%zu cases\n", n);
    }
    kb_case_rows_free(rows, n);
    kb_store_free(st);
    return rc;
}

static void print_deliveries(struct kb_store *st, int64_t case_id)
{
    struct kb_outbox_row **evs = NULL;
    size_t n = 0;
    if (kb_store_outbox_for_case(st, case_id, &evs, &n) != KB_OK)
        return;
    printf("delivery:\n");
    for (size_t i = 0; i < n; i++) {
        printf("  %s %s: %s", evs[i]->type, evs[i]->event_id, evs[i]->state);
        if (!strcmp(evs[i]->state, "due")) {
            printf(", next attempt ");
            print_ms(evs[i]->next_at);
        }
        printf(" (%d attempt%s)\n", evs[i]->attempts, evs[i]->attempts == 1 ? "" : "s");
        struct kb_outbox_attempt *at = NULL;
        size_t na = 0;
        if (kb_store_outbox_attempts(st, evs[i]->event_id, &at, &na) != KB_OK)
            continue;
        for (size_t k = 0; k < na; k++) {
            printf("    #%d ", at[k].attempt);
            print_ms(at[k].started_at);
            if (!at[k].finished_at)
                printf(" interrupted (kb stopped during it)");
            else if (at[k].status >= 200 && at[k].status <= 299)
                printf(" HTTP %d: delivered", at[k].status);
            else
                printf(" %s", at[k].error ? at[k].error : "failed");
            printf(" -> %s\n", at[k].url);
        }
        kb_outbox_attempts_free(at, na);
    }
    kb_outbox_rows_free(evs, n);
}

static int case_show(struct kb_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {0}};
    bool json = false;
    int c;
    optind = 0; /* 0, not 1: glibc starts over, permuting (REF may come before --json) */
    while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
        switch (c) {
        case 'j': json = true; break;
        case 'h': puts("usage: kb [--db PATH] case show REF [--json]"); return 0;
        default: return 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "kb: case show takes one reference (KB-YYYY-NNNNNN)\n");
        return 2;
    }
    struct kb_store *st = NULL;
    if (kb_cli_open_store(ctx, false, &st))
        return 1;
    struct kb_case_row *r = NULL;
    enum kb_err err = kb_store_case_get(st, argv[optind], &r);
    json_t *o = err ? NULL : kb_crm_case_json(r);
    int rc = 0;
    if (err == KB_ENOTFOUND) {
        fprintf(stderr, "kb: no case %s\n", argv[optind]);
        rc = 1;
    } else if (err || !o) {
        fprintf(stderr, "kb: cannot read case %s: %s\n", argv[optind], kb_strerror(err));
        rc = 1;
    } else if (json) {
        char *s = json_dumps(o, JSON_COMPACT);
        if (s)
            puts(s);
        free(s);
    } else {
        char at[32];
        kb_crm_iso8601(r->created_at, at, sizeof at);
        printf("case %s (%s), opened %s, language %s\n", r->ref, r->status, at, r->lang);
        printf("subject: %s\n", r->subject);
        printf("contact: %s, %s, %s\n", r->name ? r->name : "-", r->email ? r->email : "-",
               r->phone ? r->phone : "-");
        if (r->consent_at) {
            kb_crm_iso8601(r->consent_at, at, sizeof at);
            printf("consent: %s, to \"%s\"\n", at, r->consent_text ? r->consent_text : "");
        }
        printf("conversation: %s\n", r->conversation_public_id);
        size_t i;
        json_t *m;
        printf("transcript:\n");
        json_array_foreach(json_object_get(o, "transcript"), i, m)
        {
            const char *from = json_string_value(json_object_get(m, "from"));
            const char *name = json_string_value(json_object_get(m, "name"));
            const char *login = json_string_value(json_object_get(m, "login"));
            long long seq = (long long)json_integer_value(json_object_get(m, "seq"));
            const char *text = json_string_value(json_object_get(m, "text"));
            if (from && strcmp(from, "agent") == 0) /* who said it: the agent by name */
                printf("  %3lld %-8s %s (%s): %s\n", seq, from, name ? name : "",
                       login ? login : "", text);
            else
                printf("  %3lld %-8s %s\n", seq, from, text);
        }
        printf("articles shown:\n");
        json_array_foreach(json_object_get(o, "articles"), i, m)
        {
            printf("  %s  %s\n", json_string_value(json_object_get(m, "url")),
                   json_string_value(json_object_get(m, "title")));
        }
        print_deliveries(st, r->id);
    }
    json_decref(o);
    kb_case_row_free(r);
    kb_store_free(st);
    return rc;
}

static int case_redeliver(struct kb_ctx *ctx, int argc, char **argv)
{
    if (argc != 2 || strcmp(argv[1], "--help") == 0) {
        puts("usage: kb [--db PATH] case redeliver REF\n"
             "  the case's events are due again now (a failed or refused one from its first\n"
             "  attempt); a CRM endpoint that answered 410 Gone is tried again");
        return argc == 2 ? 0 : 2;
    }
    struct kb_store *st = NULL;
    if (kb_cli_open_store(ctx, false, &st))
        return 1;
    struct kb_case_row *r = NULL;
    size_t n = 0, cleared = 0;
    enum kb_err err = kb_store_case_get(st, argv[1], &r);
    if (!err)
        err = kb_store_begin(st);
    if (!err) {
        err = kb_store_outbox_redeliver(st, r->id, (int64_t)time(NULL) * 1000, &n);
        if (!err)
            err = kb_store_endpoints_clear(st, &cleared);
        if (err)
            kb_store_rollback(st);
        else
            err = kb_store_commit(st);
    }
    int rc = 0;
    if (err == KB_ENOTFOUND) {
        fprintf(stderr, "kb: no case %s\n", argv[1]);
        rc = 1;
    } else if (err) {
        fprintf(stderr, "kb: cannot redeliver %s: %s\n", argv[1], kb_strerror(err));
        rc = 1;
    } else {
        printf("%zu event%s of %s due again%s\n", n, n == 1 ? "" : "s", r->ref,
               cleared ? " (the endpoint that answered 410 Gone is tried again)" : "");
    }
    kb_case_row_free(r);
    kb_store_free(st);
    return rc;
}

int kb_cli_case(struct kb_ctx *ctx, int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : "";
    if (strcmp(sub, "list") == 0)
        return case_list(ctx, argc - 1, argv + 1);
    if (strcmp(sub, "show") == 0)
        return case_show(ctx, argc - 1, argv + 1);
    if (strcmp(sub, "redeliver") == 0)
        return case_redeliver(ctx, argc - 1, argv + 1);
    FILE *f = strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 ? stdout : stderr;
    fputs("usage: kb [--db PATH] case list|show|redeliver ...\n"
          "  list [--status S] [--delivery pending|delivered|failed] [--json]\n"
          "  show REF [--json]\n"
          "  redeliver REF\n",
          f);
    return f == stdout ? 0 : 2;
}
