/* kb/chat/rules.c: the bot's rules as content: imported into the database by `kb import`,
 * loaded from there by the chat, reloaded when an import changes them.
 *
 * One brain per language (the folder name under bot/), every file of the language streamed
 * into it in name order, sorted, with the host functions registered before any reply (the
 * engine's contract: the macro table is read without a lock). A reload builds a new set of
 * brains and swaps the pointer; turns in progress keep the set they acquired, and the old set
 * is freed by its last release. Conversations keep their bot state as JSON (conversation.c),
 * so nothing of a conversation lives only in a brain: the new brain imports it at the next
 * message, and no conversation is dropped. */
#include "kb/chat/chat_int.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bot/cli.h"
#include "bot/rivescript.h"
#include "kb/base/buf.h"
#include "kb/base/log.h"
#include "kb/store/rules.h"

#define RULES_FILE_MAX (8u << 20)
#define RULES_FILES_MAX 1000 /* files of one language */

static pthread_mutex_t rules_lock = PTHREAD_MUTEX_INITIALIZER;
static struct chat_brains *current;
static unsigned last_gen;

static void brains_free(struct chat_brains *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n; i++)
        bot_brain_free(b->brain[i]);
    free(b);
}

struct chat_brains *chat_brains_acquire(void)
{
    pthread_mutex_lock(&rules_lock);
    struct chat_brains *b = current;
    if (b)
        b->refs++;
    pthread_mutex_unlock(&rules_lock);
    return b;
}

void chat_brains_release(struct chat_brains *b)
{
    if (!b)
        return;
    pthread_mutex_lock(&rules_lock);
    bool last = --b->refs == 0;
    pthread_mutex_unlock(&rules_lock);
    if (last)
        brains_free(b);
}

struct bot_brain *chat_brains_find(const struct chat_brains *b, const char *lang)
{
    for (size_t i = 0; b && lang && i < b->n; i++)
        if (strcmp(b->lang[i], lang) == 0)
            return b->brain[i];
    return NULL;
}

/* Problems in stored rules were reported at import; a load only logs them. */
static void diag_log(void *ctx, enum bot_severity sev, const char *file, unsigned line,
                     const char *msg)
{
    (void)ctx;
    if (sev == BOT_DIAG_ERROR)
        kb_log(KB_LOG_WARN, "chat rules: %s:%u: %s", file, line, msg);
}

struct load {
    struct chat_brains *b;
    enum kb_err err;
};

static enum kb_err load_one(void *ud, const char *lang, const char *name, const char *body)
{
    struct load *l = ud;
    struct bot_brain *brain = chat_brains_find(l->b, lang);
    if (!brain) {
        if (l->b->n >= CHAT_LANGS_MAX || strlen(lang) > KB_CHAT_LANG_MAX)
            return KB_OK; /* more languages than a chat serves: the rest are ignored */
        enum kb_err err = bot_brain_new(BOT_UTF8, &brain);
        if (err)
            return err;
        bot_brain_set_diag(brain, diag_log, NULL);
        snprintf(l->b->lang[l->b->n], sizeof l->b->lang[0], "%s", lang);
        l->b->brain[l->b->n++] = brain;
    }
    char path[KB_CHAT_LANG_MAX + 300];
    snprintf(path, sizeof path, "bot/%s/%.256s", lang, name);
    return bot_brain_stream(brain, body, path);
}

enum kb_err chat_rules_refresh(struct kb_store *st, bool *changed)
{
    *changed = false;
    char fp[65];
    enum kb_err err = kb_store_rules_fingerprint(st, fp);
    if (err)
        return err;
    pthread_mutex_lock(&rules_lock);
    bool same = current ? strcmp(current->fingerprint, fp) == 0 : false;
    pthread_mutex_unlock(&rules_lock);
    if (same)
        return KB_OK;
    struct load l = {.b = calloc(1, sizeof *l.b)};
    if (!l.b)
        return KB_ENOMEM;
    err = kb_store_rules_each(st, load_one, &l);
    for (size_t i = 0; !err && i < l.b->n; i++) {
        err = bot_brain_sort(l.b->brain[i]);
        if (!err)
            err = chat_host_register(l.b->brain[i]);
    }
    if (err) {
        brains_free(l.b);
        return err;
    }
    memcpy(l.b->fingerprint, fp, sizeof fp);
    l.b->refs = 1;
    pthread_mutex_lock(&rules_lock);
    l.b->gen = ++last_gen;
    struct chat_brains *old = current;
    current = l.b;
    pthread_mutex_unlock(&rules_lock);
    chat_brains_release(old);
    *changed = true;
    kb_log(KB_LOG_INFO, "chat: rules loaded for %zu languages", l.b->n);
    return KB_OK;
}

void chat_rules_clear(void)
{
    pthread_mutex_lock(&rules_lock);
    struct chat_brains *old = current;
    current = NULL;
    pthread_mutex_unlock(&rules_lock);
    chat_brains_release(old);
}

/* ---- kb import ----------------------------------------------------------------------- */

struct file_diag {
    FILE *out;
    char **paths;   /* the streamed names, to attribute errors */
    unsigned *errors;
    size_t n;
    unsigned warnings;
};

static void diag_import(void *ctx, enum bot_severity sev, const char *file, unsigned line,
                        const char *msg)
{
    struct file_diag *d = ctx;
    if (line)
        fprintf(d->out, "%s:%u: %s: %s\n", file, line, sev == BOT_DIAG_ERROR ? "error" : "warning",
                msg);
    else
        fprintf(d->out, "%s: %s: %s\n", file, sev == BOT_DIAG_ERROR ? "error" : "warning", msg);
    if (sev != BOT_DIAG_ERROR) {
        d->warnings++;
        return;
    }
    for (size_t i = 0; i < d->n; i++)
        if (d->paths[i] && strcmp(d->paths[i], file) == 0)
            d->errors[i]++;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.rive names of folder dir, sorted (*names malloc'd, each freed by the caller). */
static enum kb_err list_rive(const char *dir, char ***names, size_t *n)
{
    *names = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return KB_ENOTFOUND;
    enum kb_err err = KB_OK;
    for (struct dirent *e = readdir(d); e; e = readdir(d)) {
        size_t l = strlen(e->d_name);
        if (l < 6 || e->d_name[0] == '.' || strcmp(e->d_name + l - 5, ".rive") != 0)
            continue;
        if (*n >= RULES_FILES_MAX) {
            err = KB_ETOOBIG;
            break;
        }
        char **p = realloc(*names, (*n + 1) * sizeof *p);
        if (!p || !(p[*n] = strdup(e->d_name))) {
            if (p)
                *names = p;
            err = KB_ENOMEM;
            break;
        }
        *names = p;
        (*n)++;
    }
    closedir(d);
    if (*n)
        qsort(*names, *n, sizeof **names, cmp_names);
    return err;
}

static enum kb_err import_lang(struct kb_store *st, const char *dir, const char *lang, FILE *out,
                               struct kb_chat_rules_report *rep)
{
    char **names = NULL;
    size_t n = 0;
    struct kb_buf *texts = NULL;
    struct bot_brain *b = NULL;
    struct file_diag d = {.out = out};
    enum kb_err err = list_rive(dir, &names, &n);
    if (err)
        goto out;
    texts = calloc(n ? n : 1, sizeof *texts);
    d.paths = calloc(n ? n : 1, sizeof *d.paths);
    d.errors = calloc(n ? n : 1, sizeof *d.errors);
    if (!texts || !d.paths || !d.errors) {
        err = KB_ENOMEM;
        goto out;
    }
    d.n = n;
    err = bot_brain_new(BOT_UTF8, &b);
    if (err)
        goto out;
    bot_brain_set_diag(b, diag_import, &d);
    for (size_t i = 0; i < n; i++) {
        struct kb_buf path;
        kb_buf_init(&path, 8192);
        kb_buf_init(&texts[i], RULES_FILE_MAX);
        err = kb_buf_printf(&path, "%s/%s", dir, names[i]);
        if (!err)
            d.paths[i] = kb_buf_detach(&path);
        kb_buf_release(&path);
        if (err || !d.paths[i]) {
            err = err ? err : KB_ENOMEM;
            goto out;
        }
        enum kb_err fe = kb_buf_append_file(&texts[i], d.paths[i]);
        if (fe == KB_ENOMEM) {
            err = fe;
            goto out;
        }
        const char *why = fe == KB_ETOOBIG ? "file larger than 8 MiB"
                          : fe                ? "cannot read the file"
                          : memchr(texts[i].data ? texts[i].data : "", 0, texts[i].len)
                              ? "binary file (NUL bytes)"
                              : NULL;
        if (why) {
            fprintf(out, "%s: error: %s\n", d.paths[i], why);
            d.errors[i]++;
            continue;
        }
        err = bot_brain_stream(b, texts[i].data ? texts[i].data : "", d.paths[i]);
        if (err)
            goto out;
    }
    err = bot_brain_sort(b); /* reports duplicate and unreachable triggers (warnings) */
    if (err)
        goto out;
    rep->warnings += d.warnings;
    for (size_t i = 0; i < n; i++) {
        rep->files++;
        if (d.errors[i]) {
            rep->failed++;
            fprintf(out, "%s: not imported: the previous version of these rules stays\n",
                    d.paths[i]);
            continue;
        }
        bool changed = false;
        err = kb_store_rules_put(st, lang, names[i], texts[i].data ? texts[i].data : "",
                                 &changed);
        if (err)
            goto out;
        if (changed)
            rep->stored++;
        else
            rep->unchanged++;
    }
    size_t removed = 0;
    err = kb_store_rules_prune(st, lang, (const char *const *)names, n, &removed);
    rep->removed += removed;
out:
    bot_brain_free(b);
    for (size_t i = 0; i < n; i++) {
        free(names[i]);
        if (texts)
            kb_buf_release(&texts[i]);
        if (d.paths)
            free(d.paths[i]);
    }
    free(names);
    free(texts);
    free(d.paths);
    free(d.errors);
    return err;
}

enum kb_err kb_chat_rules_import(struct kb_store *st, const char *dir, FILE *out,
                                 struct kb_chat_rules_report *rep)
{
    memset(rep, 0, sizeof *rep);
    char root[4096];
    snprintf(root, sizeof root, "%s/bot", dir);
    DIR *d = opendir(root);
    if (!d)
        return KB_OK; /* no rules in this content: nothing changes */
    enum kb_err err = KB_OK;
    for (struct dirent *e = readdir(d); e && !err; e = readdir(d)) {
        size_t l = strlen(e->d_name);
        if (e->d_name[0] == '.' || l < 2 || l > KB_CHAT_LANG_MAX)
            continue;
        bool ok = true;
        for (size_t i = 0; i < l; i++)
            ok = ok && ((e->d_name[i] >= 'a' && e->d_name[i] <= 'z') || e->d_name[i] == '-' ||
                        e->d_name[i] == '_');
        char sub[4096 + 64];
        struct stat sb;
        snprintf(sub, sizeof sub, "%s/%s", root, e->d_name);
        if (!ok || stat(sub, &sb) != 0 || !S_ISDIR(sb.st_mode))
            continue;
        err = import_lang(st, sub, e->d_name, out, rep);
    }
    closedir(d);
    return err;
}
