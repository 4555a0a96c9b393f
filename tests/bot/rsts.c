/* tests/bot/rsts.c: runs the RiveScript Test Suite YAML files (as shipped) against bot/.
 *
 * Each top-level key is a test; its `tests` list holds source / input+reply / set / assert
 * actions. Prints "ok NAME" or "FAIL NAME: why" per test; exits 1 if any test failed. */
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "bot/rivescript.h"

static yaml_node_t *map_get(yaml_document_t *d, yaml_node_t *m, const char *key)
{
    if (!m || m->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(d, p->key);
        if (k && k->type == YAML_SCALAR_NODE && strcmp((char *)k->data.scalar.value, key) == 0)
            return yaml_document_get_node(d, p->value);
    }
    return NULL;
}

static const char *scalar(yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* Equal after trimming: YAML block scalars keep a final newline the bot never sends. */
static bool same(const char *a, const char *b)
{
    while (*a == ' ' || *a == '\n')
        a++;
    while (*b == ' ' || *b == '\n')
        b++;
    size_t la = strlen(a), lb = strlen(b);
    while (la && (a[la - 1] == ' ' || a[la - 1] == '\n'))
        la--;
    while (lb && (b[lb - 1] == ' ' || b[lb - 1] == '\n'))
        lb--;
    return la == lb && memcmp(a, b, la) == 0;
}

static bool reply_ok(yaml_document_t *d, yaml_node_t *want, const char *got)
{
    if (scalar(want))
        return same(scalar(want), got);
    if (want && want->type == YAML_SEQUENCE_NODE)
        for (yaml_node_item_t *i = want->data.sequence.items.start;
             i < want->data.sequence.items.top; i++) {
            const char *s = scalar(yaml_document_get_node(d, *i));
            if (s && same(s, got))
                return true;
        }
    return false;
}

/* Runs one test; returns true when every action passed. */
static bool run_test(yaml_document_t *d, const char *name, yaml_node_t *spec)
{
    struct bot_brain *b = NULL;
    bool ok = true, sorted = false;
    const char *user = scalar(map_get(d, spec, "username"));
    const char *utf8 = scalar(map_get(d, spec, "utf8"));
    yaml_node_t *steps = map_get(d, spec, "tests");
    if (!user)
        user = "localuser";
    if (bot_brain_new(utf8 && strcmp(utf8, "true") == 0 ? BOT_UTF8 : 0, &b)) {
        printf("FAIL %s: out of memory\n", name);
        return false;
    }
    if (!steps || steps->type != YAML_SEQUENCE_NODE) {
        printf("FAIL %s: no tests list\n", name);
        ok = false;
        goto out;
    }
    for (yaml_node_item_t *i = steps->data.sequence.items.start;
         ok && i < steps->data.sequence.items.top; i++) {
        yaml_node_t *step = yaml_document_get_node(d, *i);
        const char *src = scalar(map_get(d, step, "source"));
        const char *in = scalar(map_get(d, step, "input"));
        if (src) {
            if (bot_brain_stream(b, src, name)) {
                printf("FAIL %s: stream error\n", name);
                ok = false;
            }
            sorted = false;
        } else if (in) {
            char *got = NULL;
            if (!sorted) {
                if (bot_brain_sort(b)) {
                    ok = false;
                    break;
                }
                sorted = true;
            }
            if (bot_reply(b, user, in, &got)) {
                printf("FAIL %s: reply error for \"%s\"\n", name, in);
                ok = false;
            } else if (!reply_ok(d, map_get(d, step, "reply"), got)) {
                printf("FAIL %s: input \"%s\" got \"%s\"\n", name, in, got);
                ok = false;
            }
            free(got);
        } else if (map_get(d, step, "set") || map_get(d, step, "assert")) {
            yaml_node_t *m = map_get(d, step, "set");
            bool set = m != NULL;
            if (!m)
                m = map_get(d, step, "assert");
            for (yaml_node_pair_t *p = m && m->type == YAML_MAPPING_NODE
                                           ? m->data.mapping.pairs.start : NULL;
                 p && p < m->data.mapping.pairs.top; p++) {
                const char *k = scalar(yaml_document_get_node(d, p->key));
                const char *v = scalar(yaml_document_get_node(d, p->value));
                if (!k || !v)
                    continue;
                if (set) {
                    if (bot_uservar_set(b, user, k, v))
                        ok = false;
                } else {
                    char *got = bot_uservar_get(b, user, k);
                    if (!got || strcmp(got, v) != 0) {
                        printf("FAIL %s: assert %s=%s got %s\n", name, k, v, got ? got : "?");
                        ok = false;
                    }
                    free(got);
                }
            }
        } else {
            printf("FAIL %s: unsupported action\n", name);
            ok = false;
        }
    }
out:
    if (ok)
        printf("ok %s\n", name);
    bot_brain_free(b);
    return ok;
}

static int run_file(const char *path, int *pass, int *total)
{
    FILE *f = fopen(path, "rb");
    yaml_parser_t p;
    yaml_document_t d;
    int rc = 0;
    if (!f)
        return 1;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_file(&p, f);
    if (!yaml_parser_load(&p, &d)) {
        printf("FAIL %s: yaml error\n", path);
        rc = 1;
        goto out_parser;
    }
    yaml_node_t *root = yaml_document_get_root_node(&d);
    if (root && root->type == YAML_MAPPING_NODE)
        for (yaml_node_pair_t *pr = root->data.mapping.pairs.start;
             pr < root->data.mapping.pairs.top; pr++) {
            const char *name = scalar(yaml_document_get_node(&d, pr->key));
            (*total)++;
            if (run_test(&d, name ? name : "?", yaml_document_get_node(&d, pr->value)))
                (*pass)++;
        }
    yaml_document_delete(&d);
out_parser:
    yaml_parser_delete(&p);
    fclose(f);
    return rc;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: rsts DIR\n");
        return 2;
    }
    DIR *dir = opendir(argv[1]);
    if (!dir) {
        perror(argv[1]);
        return 2;
    }
    char *names[64];
    size_t n = 0;
    for (struct dirent *e = readdir(dir); e && n < 64; e = readdir(dir)) {
        size_t l = strlen(e->d_name);
        if (l > 4 && strcmp(e->d_name + l - 4, ".yml") == 0 && strcmp(e->d_name, "test-spec.yml"))
            names[n++] = strdup(e->d_name);
    }
    closedir(dir);
    qsort(names, n, sizeof *names, cmp_names);
    int pass = 0, total = 0, rc = 0;
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", argv[1], names[i]);
        rc |= run_file(path, &pass, &total);
        free(names[i]);
    }
    printf("%d/%d tests passed\n", pass, total);
    return rc || pass != total;
}
