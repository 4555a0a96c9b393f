/* bot/brain.c: a brain's life cycle, small maps, topics, macros and diagnostics. */
#include "bot/brain.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "kb/base/text.h"

const char *bot_kvs_get(const struct bot_kvs *m, const char *k)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->a[i].k, k) == 0)
            return m->a[i].v;
    return NULL;
}

enum kb_err bot_kvs_set(struct bot_kvs *m, const char *k, const char *v)
{
    char *nv = strdup(v ? v : "");
    if (!nv)
        return KB_ENOMEM;
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->a[i].k, k) == 0) {
            free(m->a[i].v);
            m->a[i].v = nv;
            return KB_OK;
        }
    if (m->n == m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 8;
        struct bot_kv *na = realloc(m->a, nc * sizeof *na);
        if (!na) {
            free(nv);
            return KB_ENOMEM;
        }
        m->a = na;
        m->cap = nc;
    }
    char *nk = strdup(k);
    if (!nk) {
        free(nv);
        return KB_ENOMEM;
    }
    m->a[m->n].k = nk;
    m->a[m->n].v = nv;
    m->n++;
    return KB_OK;
}

void bot_kvs_del(struct bot_kvs *m, const char *k)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->a[i].k, k) == 0) {
            free(m->a[i].k);
            free(m->a[i].v);
            m->a[i] = m->a[--m->n];
            return;
        }
}

void bot_kvs_free(struct bot_kvs *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->a[i].k);
        free(m->a[i].v);
    }
    free(m->a);
    memset(m, 0, sizeof *m);
}

size_t bot_kvs_bytes(const struct bot_kvs *m)
{
    size_t n = m->cap * sizeof *m->a;
    for (size_t i = 0; i < m->n; i++)
        n += strlen(m->a[i].k) + strlen(m->a[i].v) + 2;
    return n;
}

static void diag_stderr(void *ctx, enum bot_severity sev, const char *file, unsigned line,
                        const char *msg)
{
    (void)ctx;
    fprintf(stderr, "%s:%u: %s: %s\n", file, line, sev == BOT_DIAG_ERROR ? "error" : "warning",
            msg);
}

enum kb_err bot_brain_new(unsigned flags, struct bot_brain **out)
{
    struct bot_brain *b = calloc(1, sizeof *b);
    *out = NULL;
    if (!b)
        return KB_ENOMEM;
    if (sodium_init() < 0) {
        free(b);
        return KB_EINTERNAL;
    }
    randombytes_buf(b->users_key, sizeof b->users_key);
    b->flags = flags;
    b->diag = diag_stderr;
    atomic_init(&b->serving, false);
    pthread_rwlock_init(&b->vars_lock, NULL);
    pthread_mutex_init(&b->sort_lock, NULL);
    pthread_mutex_init(&b->users_lock, NULL);
    *out = b;
    return KB_OK;
}

static void trig_free(struct bot_trig *t)
{
    free(t->pat);
    free(t->prev);
    free(t->redirect);
    for (size_t i = 0; i < t->nrep; i++)
        free(t->rep[i].text);
    free(t->rep);
    for (size_t i = 0; i < t->ncond; i++)
        free(t->cond[i]);
    free(t->cond);
    free(t);
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void bot_brain_free(struct bot_brain *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->ntopics; i++) {
        struct bot_topic *tp = b->topics[i];
        for (size_t j = 0; j < tp->n; j++)
            trig_free(tp->t[j]);
        free(tp->t);
        free(tp->sorted);
        free(tp->sprev);
        strv_free(tp->incl, tp->nincl);
        strv_free(tp->inh, tp->ninh);
        free(tp->name);
        free(tp);
    }
    free(b->topics);
    bot_kvs_free(&b->bot);
    bot_kvs_free(&b->global);
    bot_kvs_free(&b->sub);
    bot_kvs_free(&b->person);
    bot_kvs_free(&b->arrays);
    for (size_t i = 0; i < b->nmacros; i++)
        free(b->macros[i].name);
    free(b->macros);
    strv_free(b->files, b->nfiles);
    bot_users_free(b);
    pthread_rwlock_destroy(&b->vars_lock);
    pthread_mutex_destroy(&b->sort_lock);
    pthread_mutex_destroy(&b->users_lock);
    free(b);
}

void bot_brain_set_diag(struct bot_brain *b, bot_diag_fn *fn, void *ctx)
{
    b->diag = fn;
    b->diag_ctx = ctx;
}

unsigned bot_brain_errors(const struct bot_brain *b)
{
    return b->nerr;
}

unsigned bot_brain_warnings(const struct bot_brain *b)
{
    return b->nwarn;
}

void bot_diag(struct bot_brain *b, enum bot_severity sev, const char *file, unsigned line,
              const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (sev == BOT_DIAG_ERROR)
        b->nerr++;
    else
        b->nwarn++;
    if (b->diag)
        b->diag(b->diag_ctx, sev, file ? file : "stream", line, msg);
}

struct bot_topic *bot_topic_get(struct bot_brain *b, const char *name, bool create)
{
    for (size_t i = 0; i < b->ntopics; i++)
        if (strcmp(b->topics[i]->name, name) == 0)
            return b->topics[i];
    if (!create)
        return NULL;
    struct bot_topic **nt = realloc(b->topics, (b->ntopics + 1) * sizeof *nt);
    if (!nt)
        return NULL;
    b->topics = nt;
    struct bot_topic *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->name = strdup(name);
    if (!t->name) {
        free(t);
        return NULL;
    }
    nt[b->ntopics++] = t;
    return t;
}

const char *bot_intern_file(struct bot_brain *b, const char *name)
{
    if (!name)
        name = "stream";
    for (size_t i = 0; i < b->nfiles; i++)
        if (strcmp(b->files[i], name) == 0)
            return b->files[i];
    char **nf = realloc(b->files, (b->nfiles + 1) * sizeof *nf);
    if (!nf)
        return NULL;
    b->files = nf;
    nf[b->nfiles] = strdup(name);
    return nf[b->nfiles] ? nf[b->nfiles++] : NULL;
}

enum kb_err bot_macro_register(struct bot_brain *b, const char *name, bot_macro_fn *fn,
                               void *ctx)
{
    /* replies look macros up without a lock: a table that grows (realloc) or changes under
     * them would be read half-written; refusing makes the misuse visible instead */
    if (atomic_load(&b->serving))
        return KB_EBUSY;
    for (size_t i = 0; i < b->nmacros; i++)
        if (strcmp(b->macros[i].name, name) == 0) {
            b->macros[i].fn = fn;
            b->macros[i].ctx = ctx;
            return KB_OK;
        }
    struct bot_macro *nm = realloc(b->macros, (b->nmacros + 1) * sizeof *nm);
    if (!nm)
        return KB_ENOMEM;
    b->macros = nm;
    nm[b->nmacros].name = strdup(name);
    if (!nm[b->nmacros].name)
        return KB_ENOMEM;
    nm[b->nmacros].fn = fn;
    nm[b->nmacros].ctx = ctx;
    b->nmacros++;
    return KB_OK;
}

const struct bot_macro *bot_macro_find(const struct bot_brain *b, const char *name)
{
    for (size_t i = 0; i < b->nmacros; i++)
        if (strcmp(b->macros[i].name, name) == 0)
            return &b->macros[i];
    return NULL;
}

int bot_depth_limit(struct bot_brain *b)
{
    pthread_rwlock_rdlock(&b->vars_lock);
    const char *d = bot_kvs_get(&b->global, "depth");
    long n = d ? strtol(d, NULL, 10) : 0;
    pthread_rwlock_unlock(&b->vars_lock);
    /* an editor may lower or raise it, within reason: the C stack is the real limit */
    if (n <= 0)
        return BOT_MAX_DEPTH_DEFAULT;
    return n > 200 ? 200 : (int)n;
}

char *bot_fold(const struct bot_brain *b, const char *s)
{
    if (b->flags & BOT_UTF8)
        return kb_text_casefold(s);
    char *r = strdup(s);
    if (r)
        for (char *p = r; *p; p++)
            *p = (char)tolower((unsigned char)*p);
    return r;
}
