/* tests/bench/cases/gen-cases.c: fill a kb database with N cases through kb's own API, as the
 * chat and the agents would have left them: kb_crm_case_create (the case, its "created"
 * history row, its case.created event), then for most cases kb_crm_case_assign and
 * kb_crm_case_move along the state machine (history rows and case.updated events), in
 * transactions of 1,000 cases. Transcripts of 8 messages (about 1.5 KB of JSON, like the
 * chat's), three suggested articles, names and emails from small lists (so that searches
 * find many or few cases), 80% French. Statuses end 4% new, 8% open, 8% pending, 10% solved,
 * 70% closed; every case but the new ones is assigned to one of 20 agents, and 5% to --me.
 *
 *   gen-cases --db PATH [--n 100000] [--me LOGIN] [--seed 42]
 *
 * --me must be a user already (kb user add): the benchmark logs in as that user. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sodium.h>

#include "kb/crm/crm.h"
#include "kb/store/accounts.h"
#include "kb/store/cases.h"
#include "kb/store/store.h"

#define BATCH 1000
#define AGENTS 20

static const char *const first[] = {"Jean", "Marie", "Pierre", "Sophie", "Luc", "Camille",
                                    "Nicolas", "Julie", "Thomas", "Emma", "Hugo", "Léa",
                                    "Antoine", "Chloé", "Paul", "Sarah"};
static const char *const last[] = {"Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard",
                                   "Petit", "Durand", "Leroy", "Moreau", "Simon", "Laurent",
                                   "Lefebvre", "Michel", "Garcia", "Dupont", "Lambert",
                                   "Fontaine", "Rousseau", "Vincent"};
static const char *const domains[] = {"example.fr", "example.org", "exemple.com", "mail.test"};
static const char *const subjects_fr[] = {
    "ma facture est fausse", "le véhicule fait un bruit au freinage",
    "rendez-vous pour la révision", "problème avec la garantie",
    "je n'ai pas reçu ma carte grise", "retard de livraison du véhicule",
    "question sur le contrat d'entretien", "remboursement d'un acompte"};
static const char *const subjects_en[] = {"wrong invoice", "noise when braking",
                                          "service appointment", "warranty claim",
                                          "registration papers missing", "late delivery"};

static uint32_t pick(uint32_t n)
{
    return randombytes_uniform(n);
}

static json_t *transcript(const char *name, const char *email, const char *subject, int64_t at)
{
    char ts[32];
    kb_crm_iso8601(at, ts, sizeof ts);
    char hello[128];
    snprintf(hello, sizeof hello, "Bonjour, je m'appelle %s", name);
    const char *lines[][2] = {
        {"customer", hello},
        {"bot", "Enchanté. Que puis-je faire pour vous ? Vous pouvez me poser votre question ou "
                "demander à parler à un conseiller."},
        {"customer", subject},
        {"bot", "Que couvre la garantie constructeur de mon véhicule ? — Tout véhicule neuf "
                "bénéficie d'une garantie constructeur qui prend en charge les pièces et la "
                "main-d'œuvre en cas de défaut de fabrication… (/a/garantie-constructeur)"},
        {"customer", "non, je voudrais parler à un conseiller"},
        {"bot", "Pour transmettre votre demande, j'enregistre vos coordonnées et notre "
                "conversation. Êtes-vous d'accord ?"},
        {"customer", "oui"},
        {"customer", email},
    };
    json_t *a = json_array();
    for (size_t i = 0; a && i < sizeof lines / sizeof lines[0]; i++)
        json_array_append_new(a, json_pack("{s:I, s:s, s:s, s:s}", "seq", (json_int_t)i + 1,
                                           "from", lines[i][0], "text", lines[i][1], "at", ts));
    return a;
}

static json_t *articles(void)
{
    return json_pack("[{s:s, s:s, s:s}, {s:s, s:s, s:s}, {s:s, s:s, s:s}]", "slug",
                     "garantie-constructeur", "title",
                     "Que couvre la garantie constructeur de mon véhicule ?", "url",
                     "/a/garantie-constructeur", "slug", "extension-garantie", "title",
                     "Puis-je prolonger la garantie de ma voiture ?", "url",
                     "/a/extension-garantie", "slug", "plan-entretien", "title",
                     "Quel est le plan d'entretien de mon véhicule ?", "url",
                     "/a/plan-entretien");
}

/* The statuses a case goes through to end in `end` (after new). */
static const char *const *path_to(const char *end)
{
    static const char *const to_open[] = {"open", NULL};
    static const char *const to_pending[] = {"open", "pending", NULL};
    static const char *const to_solved[] = {"open", "solved", NULL};
    static const char *const to_closed[] = {"open", "solved", "closed", NULL};
    static const char *const none[] = {NULL};
    return !strcmp(end, "open")      ? to_open
           : !strcmp(end, "pending") ? to_pending
           : !strcmp(end, "solved")  ? to_solved
           : !strcmp(end, "closed")  ? to_closed
                                     : none;
}

static const char *final_status(void)
{
    uint32_t r = pick(100);
    return r < 4 ? "new" : r < 12 ? "open" : r < 20 ? "pending" : r < 30 ? "solved" : "closed";
}

int main(int argc, char **argv)
{
    const char *db = NULL, *me = NULL;
    long n = 100000;
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
                                         {"n", required_argument, NULL, 'n'},
                                         {"me", required_argument, NULL, 'm'},
                                         {0}};
    int c;
    while ((c = getopt_long(argc, argv, "d:n:m:", opts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'm': me = optarg; break;
        case 'n': {
            char *end = NULL;
            errno = 0;
            n = strtol(optarg, &end, 10);
            if (errno || !end || *end || n < 1 || n > 10000000) {
                fprintf(stderr, "gen-cases: --n must be 1-10000000\n");
                return 2;
            }
            break;
        }
        default: return 2;
        }
    }
    if (!db) {
        fprintf(stderr, "usage: gen-cases --db PATH [--n N] [--me LOGIN]\n");
        return 2;
    }
    if (sodium_init() < 0)
        return 1;
    struct kb_store *st = NULL;
    if (kb_store_open(db, false, &st) != KB_OK)
        return 1;
    int rc = 1;
    char agents[AGENTS][16];
    if (kb_store_begin(st) != KB_OK)
        goto out;
    for (int i = 0; i < AGENTS; i++) {
        snprintf(agents[i], sizeof agents[i], "agent%02d", i + 1);
        enum kb_err err = kb_store_user_add(st, agents[i], agents[i], "agent", "!", 1, NULL);
        if (err && err != KB_EEXISTS)
            goto out;
    }
    if (kb_store_commit(st) != KB_OK)
        goto out;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int64_t start = (int64_t)time(NULL) - 365 * 86400;
    for (long i = 0; i < n; i++) {
        if (i % BATCH == 0 && kb_store_begin(st) != KB_OK)
            goto out;
        int64_t at = start + (int64_t)((double)i / (double)n * 365.0 * 86400.0);
        bool fr = pick(100) < 80;
        char name[64], email[96];
        const char *f = first[pick(sizeof first / sizeof first[0])];
        const char *l = last[pick(sizeof last / sizeof last[0])];
        snprintf(name, sizeof name, "%s %s", f, l);
        snprintf(email, sizeof email, "%c.%s%u@%s", f[0], l, (unsigned)pick(1000),
                 domains[pick(sizeof domains / sizeof domains[0])]);
        for (char *p = email; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p | 0x20);
        const char *subject = fr ? subjects_fr[pick(sizeof subjects_fr / sizeof subjects_fr[0])]
                                 : subjects_en[pick(sizeof subjects_en / sizeof subjects_en[0])];
        json_t *tr = transcript(name, email, subject, at), *arts = articles();
        char ref[KB_CRM_REF_MAX];
        int year = 0;
        int64_t number = 0;
        struct kb_crm_case_new cn = {.subject = subject, .lang = fr ? "fr" : "en", .name = name,
                                     .email = email, .consent_at = at,
                                     .consent_text = "Pour transmettre votre demande, "
                                                     "j'enregistre vos coordonnées. D'accord ?",
                                     .transcript = tr, .articles = arts};
        enum kb_err err = kb_crm_ref_next(st, ref, &year, &number);
        if (!err)
            err = kb_crm_case_create(st, ref, year, number, &cn, at);
        json_decref(tr);
        json_decref(arts);
        const char *end = final_status();
        bool done = false;
        if (!err && strcmp(end, "new") != 0) {
            const char *who = me && pick(100) < 5 ? me : agents[pick(AGENTS)];
            err = kb_crm_case_assign(st, ref, who, who, at + 60, &done);
            for (const char *const *s = path_to(end); !err && *s; s++)
                err = kb_crm_case_move(st, ref, *s, who, at + 120, &done);
        }
        if (err) {
            fprintf(stderr, "gen-cases: case %ld: %s\n", i, kb_strerror(err));
            goto out;
        }
        if ((i + 1) % BATCH == 0 || i + 1 == n) {
            if (kb_store_commit(st) != KB_OK)
                goto out;
            if ((i + 1) % 10000 == 0 || i + 1 == n)
                fprintf(stderr, "gen-cases: %ld cases\n", i + 1);
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fprintf(stderr, "gen-cases: %ld cases in %.1f s\n", n,
            (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    rc = 0;
out:
    if (rc)
        kb_store_rollback(st);
    kb_store_free(st);
    return rc;
}
