/* bot/rivescript.c: RiveScript core: parser, trigger sort, backtracking matcher, replies.
 *
 * Core subset of the Working Draft: + - * % ^ @ ! (var, global, sub, person, array),
 * > topic / begin / object (objects skipped), triggers with * # _ (a|b) [opt] @array,
 * conditions, {weight} ignored for sort only, <star>, <set>/<get>, <bot>, <input>/<reply>,
 * {@}, string tags, {random}, topics. Matching works on the normalised message (case folded,
 * punctuation stripped, substitutions applied). Limits: 64 KiB messages, depth 50. */
#include "bot/rivescript.h"

#include <ctype.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kb/buf.h"
#include "kb/text.h"

#define BOT_MAX_MSG 65536
#define BOT_MAX_DEPTH 50
#define BOT_MAX_STARS 16
#define BOT_OUT_MAX (1u << 20)

struct kv {
    char *k, *v;
};
struct kvs {
    struct kv *a;
    size_t n, cap;
};

struct trig {
    char *pat;
    char *prev;
    char *redirect;
    char **replies;
    size_t nrep;
    char **conds;
    size_t ncond;
    int weight;
    size_t order;
};

struct topic {
    char *name;
    struct trig *t;
    size_t n, cap;
};

struct user {
    char *name;
    struct kvs vars;
    char *topic;
    char *in[9], *out[9];
    struct user *next;
};

struct bot_brain {
    unsigned flags;
    struct kvs bot, global, sub, person, arrays;
    struct topic *topics;
    size_t ntopics;
    struct user *users;
    pthread_mutex_t lock;
    size_t seq;
};

static char *xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

static char *xstrndup(const char *s, size_t n)
{
    return strndup(s, n);
}

static const char *kvs_get(const struct kvs *m, const char *k)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->a[i].k, k) == 0)
            return m->a[i].v;
    return NULL;
}

static enum kb_err kvs_set(struct kvs *m, const char *k, const char *v)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->a[i].k, k) == 0) {
            char *nv = xstrdup(v);
            if (!nv)
                return KB_ENOMEM;
            free(m->a[i].v);
            m->a[i].v = nv;
            return KB_OK;
        }
    if (m->n == m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 8;
        struct kv *na = realloc(m->a, nc * sizeof *na);
        if (!na)
            return KB_ENOMEM;
        m->a = na;
        m->cap = nc;
    }
    m->a[m->n].k = xstrdup(k);
    m->a[m->n].v = xstrdup(v);
    if (!m->a[m->n].k || !m->a[m->n].v) {
        free(m->a[m->n].k);
        free(m->a[m->n].v);
        return KB_ENOMEM;
    }
    m->n++;
    return KB_OK;
}

static void kvs_free(struct kvs *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->a[i].k);
        free(m->a[i].v);
    }
    free(m->a);
}

enum kb_err bot_brain_new(unsigned flags, struct bot_brain **out)
{
    struct bot_brain *b = calloc(1, sizeof *b);
    if (!b)
        return KB_ENOMEM;
    b->flags = flags;
    pthread_mutex_init(&b->lock, NULL);
    *out = b;
    return KB_OK;
}

static void trig_free(struct trig *t)
{
    free(t->pat);
    free(t->prev);
    free(t->redirect);
    for (size_t i = 0; i < t->nrep; i++)
        free(t->replies[i]);
    free(t->replies);
    for (size_t i = 0; i < t->ncond; i++)
        free(t->conds[i]);
    free(t->conds);
}

void bot_brain_free(struct bot_brain *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->ntopics; i++) {
        for (size_t j = 0; j < b->topics[i].n; j++)
            trig_free(&b->topics[i].t[j]);
        free(b->topics[i].t);
        free(b->topics[i].name);
    }
    free(b->topics);
    kvs_free(&b->bot);
    kvs_free(&b->global);
    kvs_free(&b->sub);
    kvs_free(&b->person);
    kvs_free(&b->arrays);
    struct user *u = b->users;
    while (u) {
        struct user *n = u->next;
        free(u->name);
        free(u->topic);
        kvs_free(&u->vars);
        for (int i = 0; i < 9; i++) {
            free(u->in[i]);
            free(u->out[i]);
        }
        free(u);
        u = n;
    }
    pthread_mutex_destroy(&b->lock);
    free(b);
}

static struct topic *topic_get(struct bot_brain *b, const char *name, bool create)
{
    for (size_t i = 0; i < b->ntopics; i++)
        if (strcmp(b->topics[i].name, name) == 0)
            return &b->topics[i];
    if (!create)
        return NULL;
    struct topic *nt = realloc(b->topics, (b->ntopics + 1) * sizeof *nt);
    if (!nt)
        return NULL;
    b->topics = nt;
    struct topic *t = &nt[b->ntopics];
    memset(t, 0, sizeof *t);
    t->name = xstrdup(name);
    if (!t->name)
        return NULL;
    b->ntopics++;
    return t;
}

static enum kb_err push_str(char ***arr, size_t *n, const char *s)
{
    char **na = realloc(*arr, (*n + 1) * sizeof *na);
    if (!na)
        return KB_ENOMEM;
    *arr = na;
    na[*n] = xstrdup(s);
    if (!na[*n])
        return KB_ENOMEM;
    (*n)++;
    return KB_OK;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\r')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = 0;
    return s;
}

/* Lower-case the pattern: ASCII always, Unicode folding in UTF-8 mode. */
static char *fold(const struct bot_brain *b, const char *s)
{
    if (b->flags & BOT_UTF8)
        return kb_text_casefold(s);
    char *r = xstrdup(s);
    if (r)
        for (char *p = r; *p; p++)
            *p = (char)tolower((unsigned char)*p);
    return r;
}

/* Parses one "! type name = value" definition line. */
static enum kb_err parse_def(struct bot_brain *b, char *body)
{
    char *eq = strchr(body, '=');
    if (!eq)
        return KB_EPARSE;
    *eq = 0;
    char *lhs = trim(body), *val = trim(eq + 1);
    char *sp = strpbrk(lhs, " \t");
    if (!sp)
        return KB_EPARSE;
    *sp = 0;
    char *name = trim(sp + 1);
    if (strcmp(val, "<undef>") == 0)
        val = (char *)"";
    if (strcmp(lhs, "array") != 0)
        for (char *p = val; *p; p++)
            if (*p == '\x1f')
                *p = ' ';
    if (strcmp(lhs, "var") == 0)
        return kvs_set(&b->bot, name, val);
    if (strcmp(lhs, "global") == 0)
        return kvs_set(&b->global, name, val);
    if (strcmp(lhs, "sub") == 0 || strcmp(lhs, "person") == 0) {
        char *k = fold(b, name);
        if (!k)
            return KB_ENOMEM;
        enum kb_err e = kvs_set(lhs[0] == 's' ? &b->sub : &b->person, k, val);
        free(k);
        return e;
    }
    if (strcmp(lhs, "array") == 0) {
        /* Stored as "a|b|c": pipes when present, else spaces separate items. */
        /* parts joined by continuation lines (\x1f) split on their own terms */
        char *v = xstrdup(val);
        if (!v)
            return KB_ENOMEM;
        for (char *part = v; part;) {
            char *pe = strchr(part, '\x1f');
            if (pe)
                *pe = 0;
            bool pipes = strchr(part, '|') != NULL;
            for (char *p = part; *p; p++)
                if (*p == ' ' && !pipes)
                    *p = '|';
            if (pe)
                *pe = '|';
            part = pe ? pe + 1 : NULL;
        }
        enum kb_err e = kvs_set(&b->arrays, name, v);
        free(v);
        return e;
    }
    return KB_OK; /* version and unknown types are ignored */
}

enum kb_err bot_brain_stream(struct bot_brain *b, const char *text, const char *name)
{
    enum kb_err err = KB_OK;
    char *copy = xstrdup(text);
    char topic[256] = "random";
    bool in_object = false;
    struct trig *cur = NULL;
    struct topic *tp = NULL;
    char last = 0;
    const char *concat = "";
    struct kb_buf def;
    kb_buf_init(&def, BOT_MAX_MSG);
    if (!copy)
        return KB_ENOMEM;
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *l = trim(line);
        if (in_object) {
            if (strncmp(l, "< object", 8) == 0)
                in_object = false;
            continue;
        }
        if (!*l || strncmp(l, "//", 2) == 0 || *l == '#')
            continue;
        char cmd = *l;
        char *body = trim(l + 1);
        char *cm = strstr(body, " //");
        if (cm)
            *cm = 0;
        body = trim(body);
        if (cmd == '^' && last == '!' && def.len) {
            if (kb_buf_putc(&def, '\x1f') || kb_buf_puts(&def, body)) {
                err = KB_ETOOBIG;
                goto out;
            }
            continue;
        }
        if (def.len) {
            /* a definition ends at the first line that does not continue it */
            if (parse_def(b, def.data) == KB_ENOMEM) {
                err = KB_ENOMEM;
                goto out;
            }
            kb_buf_clear(&def);
        }
        if (cmd == '^' && cur && ((last == '-' && cur->nrep) || (last == '*' && cur->ncond))) {
            char **r = last == '-' ? &cur->replies[cur->nrep - 1] : &cur->conds[cur->ncond - 1];
            size_t n1 = strlen(*r), n2 = strlen(body), ns = strlen(concat);
            char *nr = realloc(*r, n1 + ns + n2 + 1);
            if (!nr) {
                err = KB_ENOMEM;
                goto out;
            }
            memcpy(nr + n1, concat, ns);
            memcpy(nr + n1 + ns, body, n2 + 1);
            *r = nr;
            continue;
        }
        if (cmd == '!' && strncmp(body, "local", 5) == 0) {
            /* "! local concat = none|space|newline" holds for the rest of this source */
            const char *v = strchr(body, '=');
            v = v ? v + 1 : "";
            while (*v == ' ')
                v++;
            concat = strcmp(v, "space") == 0 ? " " : strcmp(v, "newline") == 0 ? "\n" : "";
            continue;
        }
        switch (cmd) {
        case '!':
            if (kb_buf_puts(&def, body)) {
                err = KB_ETOOBIG;
                goto out;
            }
            break;
        case '>': {
            char *sp = strpbrk(body, " \t");
            char *arg = sp ? trim(sp + 1) : (char *)"";
            if (sp)
                *sp = 0;
            if (strcmp(body, "object") == 0)
                in_object = true;
            else if (strcmp(body, "begin") == 0)
                snprintf(topic, sizeof topic, "__begin__");
            else if (strcmp(body, "topic") == 0) {
                char *e = strpbrk(arg, " \t");
                if (e)
                    *e = 0;
                snprintf(topic, sizeof topic, "%s", arg);
            }
            cur = NULL;
            break;
        }
        case '<':
            snprintf(topic, sizeof topic, "random");
            cur = NULL;
            break;
        case '+': {
            tp = topic_get(b, topic, true);
            if (!tp) {
                err = KB_ENOMEM;
                goto out;
            }
            if (tp->n == tp->cap) {
                size_t nc = tp->cap ? tp->cap * 2 : 16;
                struct trig *nt = realloc(tp->t, nc * sizeof *nt);
                if (!nt) {
                    err = KB_ENOMEM;
                    goto out;
                }
                tp->t = nt;
                tp->cap = nc;
            }
            cur = &tp->t[tp->n++];
            memset(cur, 0, sizeof *cur);
            cur->order = b->seq++;
            char *w = strstr(body, "{weight=");
            if (w) {
                char *we = strchr(w, '}');
                cur->weight = (int)strtol(w + 8, NULL, 10);
                if (we)
                    memmove(w, we + 1, strlen(we + 1) + 1);
                else
                    *w = 0;
                body = trim(body);
            }
            cur->pat = fold(b, body);
            if (!cur->pat) {
                err = KB_ENOMEM;
                goto out;
            }
            break;
        }
        case '-':
        case '*':
        case '%':
        case '@':
            if (!cur) {
                fprintf(stderr, "%s: '%c' outside a trigger\n", name ? name : "stream", cmd);
                break;
            }
            if (cmd == '-')
                err = push_str(&cur->replies, &cur->nrep, body);
            else if (cmd == '*')
                err = push_str(&cur->conds, &cur->ncond, body);
            else if (cmd == '%') {
                free(cur->prev);
                cur->prev = fold(b, body);
            } else {
                free(cur->redirect);
                cur->redirect = xstrdup(body);
            }
            if (err)
                goto out;
            break;
        default:
            break;
        }
        last = cmd;
    }
    if (def.len && parse_def(b, def.data) == KB_ENOMEM)
        err = KB_ENOMEM;
out:
    kb_buf_release(&def);
    free(copy);
    return err;
}

/* Sort key: more words first, fewer wildcards, longer first; stable on load order. */
static int trig_score(const struct trig *t)
{
    int words = 0, wild = 0;
    bool inw = false;
    for (const char *p = t->pat; *p; p++) {
        if (*p == '*' || *p == '#' || *p == '_')
            wild++;
        else if (*p != ' ' && !inw)
            words++;
        inw = *p != ' ';
    }
    if (strcmp(t->pat, "*") == 0)
        return t->weight * 100000 - 90000;
    return t->weight * 100000 + (wild ? 0 : 50000) + words * 100 - wild;
}

static int trig_cmp(const void *a, const void *b)
{
    const struct trig *x = a, *y = b;
    int sx = trig_score(x), sy = trig_score(y);
    if (sx != sy)
        return sy - sx;
    size_t lx = strlen(x->pat), ly = strlen(y->pat);
    if (lx != ly)
        return ly > lx ? 1 : -1;
    return x->order < y->order ? -1 : 1;
}

enum kb_err bot_brain_sort(struct bot_brain *b)
{
    for (size_t i = 0; i < b->ntopics; i++)
        qsort(b->topics[i].t, b->topics[i].n, sizeof(struct trig), trig_cmp);
    return KB_OK;
}

/* Backtracking matcher over pattern p and message s; captures into st. */
struct mstate {
    const struct bot_brain *b;
    const char *star[BOT_MAX_STARS];
    size_t starlen[BOT_MAX_STARS];
    int nstar;
    unsigned steps;
};

static bool match_at(struct mstate *m, const char *p, const char *s, const char *s0);

static bool try_alt(struct mstate *m, const char *alts, size_t altlen, const char *rest,
                    const char *s, const char *s0, bool optional)
{
    const char *a = alts, *end = alts + altlen;
    while (a <= end) {
        const char *bar = memchr(a, '|', (size_t)(end - a));
        if (!bar)
            bar = end;
        char buf[512];
        size_t al = (size_t)(bar - a);
        while (al && a[0] == ' ') {
            a++;
            al--;
        }
        while (al && a[al - 1] == ' ')
            al--;
        size_t rl = strlen(rest);
        if (al + rl + 1 <= sizeof buf) {
            memcpy(buf, a, al);
            memcpy(buf + al, rest, rl + 1);
            if (match_at(m, buf, s, s0))
                return true;
        }
        a = bar + 1;
    }
    if (optional)
        return match_at(m, rest, s, s0);
    return false;
}

static bool match_at(struct mstate *m, const char *p, const char *s, const char *s0)
{
    if (++m->steps > 200000)
        return false;
    if (!*p)
        return !*s;
    if (*p == ' ') {
        while (*p == ' ')
            p++;
        if (*s == ' ')
            return match_at(m, p, s + 1, s0);
        /* a skipped optional or the message edge lets a space match nothing */
        if (s == s0 || !*s || s[-1] == ' ')
            return match_at(m, p, s, s0);
        return false;
    }
    if (*p == '*' || *p == '#' || *p == '_') {
        char kind = *p;
        int idx = m->nstar;
        if (idx >= BOT_MAX_STARS)
            return false;
        m->nstar++;
        for (const char *e = s + 1; e <= s + strlen(s); e++) {
            char c = e[-1];
            if (kind == '#' && !isdigit((unsigned char)c))
                break;
            if (kind == '_' && (c == ' ' || isdigit((unsigned char)c)))
                break;
            m->star[idx] = s;
            m->starlen[idx] = (size_t)(e - s);
            if (match_at(m, p + 1, e, s0))
                return true;
        }
        m->nstar = idx;
        return false;
    }
    if (*p == '(' || *p == '[') {
        char close = *p == '(' ? ')' : ']';
        const char *e = strchr(p, close);
        if (!e)
            return false;
        int idx = m->nstar;
        if (close == ')' && idx < BOT_MAX_STARS) {
            /* alternatives capture like a star: record the span they match */
            const char *a = p + 1;
            while (a <= e) {
                const char *bar = memchr(a, '|', (size_t)(e - a));
                if (!bar)
                    bar = e;
                size_t al = (size_t)(bar - a);
                if (al > 1 && a[0] == '@') {
                    /* (@array) alternatives: the array's items, captured */
                    char nm[128];
                    const char *v = NULL;
                    if (al - 1 < sizeof nm) {
                        memcpy(nm, a + 1, al - 1);
                        nm[al - 1] = 0;
                        v = kvs_get(&m->b->arrays, nm);
                    }
                    for (const char *it = v; it && *it;) {
                        const char *ib = strchr(it, '|');
                        size_t il = ib ? (size_t)(ib - it) : strlen(it);
                        if (il && strncasecmp(s, it, il) == 0) {
                            m->star[idx] = s;
                            m->starlen[idx] = il;
                            m->nstar = idx + 1;
                            if (match_at(m, e + 1, s + il, s0))
                                return true;
                            m->nstar = idx;
                        }
                        it = ib ? ib + 1 : NULL;
                    }
                } else if (al <= strlen(s) && strncmp(s, a, al) == 0) {
                    m->star[idx] = s;
                    m->starlen[idx] = al;
                    m->nstar = idx + 1;
                    if (match_at(m, e + 1, s + al, s0))
                        return true;
                    m->nstar = idx;
                }
                a = bar + 1;
            }
            return false;
        }
        return try_alt(m, p + 1, (size_t)(e - p - 1), e + 1, s, s0, true);
    }
    if (*p == '@') {
        const char *e = p + 1;
        while (*e && (isalnum((unsigned char)*e) || *e == '_'))
            e++;
        char nm[128];
        size_t nl = (size_t)(e - p - 1);
        if (nl >= sizeof nm)
            return false;
        memcpy(nm, p + 1, nl);
        nm[nl] = 0;
        const char *v = kvs_get(&m->b->arrays, nm);
        if (!v)
            return false;
        int idx = m->nstar;
        const char *a = v, *end = v + strlen(v);
        while (a <= end) {
            const char *bar = memchr(a, '|', (size_t)(end - a));
            if (!bar)
                bar = end;
            size_t al = (size_t)(bar - a);
            /* a bare @array does not capture; (@array) does */
            if (al && strncasecmp(s, a, al) == 0) {
                if (match_at(m, e, s + al, s0))
                    return true;
                m->nstar = idx;
            }
            a = bar + 1;
        }
        return false;
    }
    if (*p == *s)
        return match_at(m, p + 1, s + 1, s0);
    return false;
}

static bool trig_match(const struct bot_brain *b, const char *pat, const char *msg,
                       struct mstate *m)
{
    memset(m, 0, sizeof *m);
    m->b = b;
    if (strcmp(pat, "*") == 0) {
        /* the catch-all also takes an empty message (all punctuation, say) */
        m->star[0] = msg;
        m->starlen[0] = strlen(msg);
        m->nstar = 1;
        return true;
    }
    return match_at(m, pat, msg, msg);
}

/* Replaces whole-word phrases of text found in map (longest key first) into out. */
static enum kb_err subst(const struct kvs *map, const char *text, struct kb_buf *out)
{
    enum kb_err e = KB_OK;
    const char *p = text;
    while (*p && !e) {
        bool wordstart = p == text || p[-1] == ' ';
        size_t best = 0;
        const char *rep = NULL;
        for (size_t i = 0; wordstart && map && i < map->n; i++) {
            size_t kl = strlen(map->a[i].k);
            if (kl > best && strncmp(p, map->a[i].k, kl) == 0 && (p[kl] == 0 || p[kl] == ' ')) {
                best = kl;
                rep = map->a[i].v;
            }
        }
        if (rep) {
            e = kb_buf_puts(out, rep);
            p += best;
        } else
            e = kb_buf_putc(out, *p++);
    }
    return e;
}

/* Normalise a message: fold case, keep letters/digits/spaces, apply substitutions. */
static char *normalise(const struct bot_brain *b, const char *in, const struct kvs *subs)
{
    char *f = fold(b, in);
    if (!f)
        return NULL;
    struct kb_buf o;
    kb_buf_init(&o, BOT_MAX_MSG * 2);
    /* phrase substitution on the folded text, then strip punctuation */
    for (char *q = f; *q; q++)
        if (*q == '\t')
            *q = ' ';
    KB_IGNORE(subst(subs, f, &o));
    free(f);
    char *t = kb_buf_detach(&o);
    if (!t)
        return xstrdup("");
    char *d = t;
    for (char *p = t; *p; p++) {
        unsigned char c = (unsigned char)*p;
        /* UTF-8 mode keeps everything but sentence punctuation (so "j'ai" stays one
         * word, as in the reference interpreters); ASCII mode keeps [a-z0-9 ] only */
        if (b->flags & BOT_UTF8) {
            if (!strchr(".,!?;:<>", c))
                *d++ = (char)c;
        } else if (isalnum(c) || c == ' ')
            *d++ = (char)c;
    }
    *d = 0;
    /* collapse spaces */
    d = t;
    bool sp = true;
    for (char *p = t; *p; p++) {
        if (*p == ' ') {
            if (sp)
                continue;
            sp = true;
        } else
            sp = false;
        *d++ = *p;
    }
    while (d > t && d[-1] == ' ')
        d--;
    *d = 0;
    return t;
}

static struct user *user_get(struct bot_brain *b, const char *name)
{
    for (struct user *u = b->users; u; u = u->next)
        if (strcmp(u->name, name) == 0)
            return u;
    struct user *u = calloc(1, sizeof *u);
    if (!u)
        return NULL;
    u->name = xstrdup(name);
    u->topic = xstrdup("random");
    if (!u->name || !u->topic) {
        free(u->name);
        free(u->topic);
        free(u);
        return NULL;
    }
    u->next = b->users;
    b->users = u;
    return u;
}

struct rctx {
    struct bot_brain *b;
    struct user *u;
    int depth;
};

static enum kb_err reply_for(struct rctx *c, const char *msg, struct kb_buf *out);

/* Applies a string tag (formal, uppercase, lowercase, sentence, person) to out[start..]. */
static enum kb_err apply_fmt(struct rctx *c, const char *tag, struct kb_buf *out, size_t start)
{
    if (strcmp(tag, "person") == 0) {
        char *seg = xstrndup(out->data ? out->data + start : "", out->len - start);
        char *f = seg ? fold(c->b, seg) : NULL;
        enum kb_err e = f ? KB_OK : KB_ENOMEM;
        if (!e) {
            out->len = start;
            if (out->data) /* NULL when nothing was appended yet */
                out->data[start] = 0;
            e = subst(&c->b->person, f, out);
        }
        free(seg);
        free(f);
        return e;
    }
    for (size_t i = start; i < out->len; i++) {
        char ch = out->data[i];
        bool wordstart = i == start || out->data[i - 1] == ' ';
        if (tag[0] == 'u' || (tag[0] == 'f' && wordstart) || (tag[0] == 's' && i == start))
            out->data[i] = (char)toupper((unsigned char)ch);
        else if (tag[0] == 'l' || tag[0] == 'f' || tag[0] == 's')
            out->data[i] = (char)tolower((unsigned char)ch);
    }
    return KB_OK;
}

static bool is_fmt(const char *t)
{
    return !strcmp(t, "formal") || !strcmp(t, "uppercase") || !strcmp(t, "lowercase") ||
           !strcmp(t, "sentence") || !strcmp(t, "person");
}

/* Expands tags in tpl into out with captures from m. */
static enum kb_err expand(struct rctx *c, const char *tpl, const struct mstate *m,
                          struct kb_buf *out)
{
    enum kb_err e = KB_OK;
    for (const char *p = tpl; *p && !e;) {
        if (strncmp(p, "{random}", 8) == 0) {
            const char *end = strstr(p, "{/random}");
            if (!end)
                return kb_buf_puts(out, p);
            char *inner = xstrndup(p + 8, (size_t)(end - p - 8));
            if (!inner)
                return KB_ENOMEM;
            char sep = strchr(inner, '|') ? '|' : ' ';
            size_t n = 1;
            for (char *q = inner; *q; q++)
                n += *q == sep;
            size_t pick = (size_t)rand() % n, i = 0;
            char *s0 = inner;
            for (char *q = inner;; q++) {
                if (*q == sep || !*q) {
                    if (i == pick) {
                        char keep = *q;
                        *q = 0;
                        e = expand(c, s0, m, out);
                        *q = keep;
                        break;
                    }
                    i++;
                    s0 = q + 1;
                    if (!*q)
                        break;
                }
            }
            free(inner);
            p = end + 9;
            continue;
        }
        if (*p == '{' && p[1] != '@') {
            const char *end = strchr(p, '}');
            char tg[64];
            size_t tl = end ? (size_t)(end - p - 1) : 0;
            if (end && tl < sizeof tg) {
                memcpy(tg, p + 1, tl);
                tg[tl] = 0;
                if (strncmp(tg, "topic=", 6) == 0) {
                    char *nt = xstrdup(trim(tg + 6));
                    if (!nt)
                        return KB_ENOMEM;
                    free(c->u->topic);
                    c->u->topic = nt;
                    p = end + 1;
                    continue;
                }
                if (strncmp(tg, "weight=", 7) == 0) {
                    p = end + 1;
                    continue;
                }
                if (is_fmt(tg)) {
                    char close[72];
                    snprintf(close, sizeof close, "{/%s}", tg);
                    const char *ce = strstr(end, close);
                    if (ce) {
                        char *inner = xstrndup(end + 1, (size_t)(ce - end - 1));
                        if (!inner)
                            return KB_ENOMEM;
                        size_t start = out->len;
                        e = expand(c, inner, m, out);
                        free(inner);
                        if (!e)
                            e = apply_fmt(c, tg, out, start);
                        p = ce + strlen(close);
                        continue;
                    }
                }
            }
        }
        if (strncmp(p, "{@", 2) == 0 || strncmp(p, "<@>", 3) == 0) {
            const char *end = p[0] == '{' ? strchr(p, '}') : p + 2;
            if (!end)
                return kb_buf_puts(out, p);
            struct kb_buf inner;
            kb_buf_init(&inner, BOT_MAX_MSG);
            if (p[0] == '{') {
                char *raw = xstrndup(p + 2, (size_t)(end - p - 2));
                if (!raw)
                    return KB_ENOMEM;
                e = expand(c, trim(raw), m, &inner);
                free(raw);
            } else if (m->nstar)
                e = kb_buf_append(&inner, m->star[0], m->starlen[0]);
            if (!e && c->depth < BOT_MAX_DEPTH) {
                c->depth++;
                e = reply_for(c, inner.data ? inner.data : "", out);
                c->depth--;
            } else if (!e)
                e = kb_buf_puts(out, "ERR: Deep Recursion Detected");
            kb_buf_release(&inner);
            p = end + 1;
            continue;
        }
        if (*p == '<') {
            const char *end = p + 1;
            int nest = 1;
            for (; *end; end++) {
                nest += *end == '<';
                nest -= *end == '>';
                if (!nest)
                    break;
            }
            if (!*end || end == p + 1) {
                e = kb_buf_putc(out, *p++);
                continue;
            }
            char tag[4096];
            size_t tl = (size_t)(end - p - 1);
            if (tl >= sizeof tag || c->depth >= BOT_MAX_DEPTH) {
                e = kb_buf_putc(out, *p++);
                continue;
            }
            memcpy(tag, p + 1, tl);
            tag[tl] = 0;
            if (strchr(tag, '<') || strchr(tag, '{')) {
                /* tags nest inside out: resolve the inner ones first */
                struct kb_buf in;
                kb_buf_init(&in, sizeof tag - 1);
                c->depth++;
                e = expand(c, tag, m, &in);
                c->depth--;
                if (!e) {
                    tl = in.len;
                    memcpy(tag, in.data ? in.data : "", tl);
                    tag[tl] = 0;
                }
                kb_buf_release(&in);
                if (e)
                    return e;
            }
            if (strncmp(tag, "star", 4) == 0 && (tag[4] == 0 || isdigit((unsigned char)tag[4]))) {
                long n = tag[4] ? strtol(tag + 4, NULL, 10) : 1;
                if (n >= 1 && n <= m->nstar)
                    e = kb_buf_append(out, m->star[n - 1], m->starlen[n - 1]);
                else
                    e = kb_buf_puts(out, "undefined");
            } else if (strncmp(tag, "set ", 4) == 0) {
                char *eq = strchr(tag, '=');
                if (eq) {
                    *eq = 0;
                    struct kb_buf v;
                    kb_buf_init(&v, BOT_MAX_MSG);
                    e = expand(c, eq + 1, m, &v);
                    if (!e)
                        e = kvs_set(&c->u->vars, trim(tag + 4), v.data ? v.data : "");
                    kb_buf_release(&v);
                }
            } else if (strncmp(tag, "add ", 4) == 0 || strncmp(tag, "sub ", 4) == 0 ||
                       strncmp(tag, "mult ", 5) == 0 || strncmp(tag, "div ", 4) == 0) {
                char *eq = strchr(tag, '=');
                char *sp = strchr(tag, ' ');
                if (eq) {
                    *eq = 0;
                    const char *name = trim(sp + 1);
                    const char *cv = kvs_get(&c->u->vars, name);
                    char *ea, *eb;
                    long long cur = cv ? strtoll(cv, &ea, 10) : 0;
                    long long by = strtoll(eq + 1, &eb, 10);
                    if ((cv && *ea) || *eb || !eq[1])
                        e = kb_buf_puts(out, "[ERR: Math can't 'add' non-numeric value]");
                    else if (tag[0] == 'd' && by == 0)
                        e = kb_buf_puts(out, "[ERR: Can't Divide By Zero]");
                    else {
                        char num[32];
                        long long r = tag[0] == 'a' ? cur + by : tag[0] == 's' ? cur - by
                                      : tag[0] == 'm' ? cur * by : cur / by;
                        snprintf(num, sizeof num, "%lld", r);
                        e = kvs_set(&c->u->vars, name, num);
                    }
                }
            } else if ((strncmp(tag, "bot ", 4) == 0 || strncmp(tag, "env ", 4) == 0) &&
                       strchr(tag, '=')) {
                char *eq = strchr(tag, '=');
                *eq = 0;
                e = kvs_set(tag[0] == 'b' ? &c->b->bot : &c->b->global, trim(tag + 4), eq + 1);
            } else if (strncmp(tag, "get ", 4) == 0 || strncmp(tag, "bot ", 4) == 0 ||
                       strncmp(tag, "env ", 4) == 0) {
                const struct kvs *src = tag[0] == 'g' ? &c->u->vars
                                        : tag[0] == 'b' ? &c->b->bot
                                                        : &c->b->global;
                const char *v = kvs_get(src, trim(tag + 4));
                e = kb_buf_puts(out, v ? v : "undefined");
            } else if (strcmp(tag, "input") == 0 || strncmp(tag, "input", 5) == 0 ||
                       strncmp(tag, "reply", 5) == 0) {
                long n = tag[5] ? strtol(tag + 5, NULL, 10) : 1;
                char **h = tag[0] == 'i' ? c->u->in : c->u->out;
                if (n >= 1 && n <= 9)
                    e = kb_buf_puts(out, h[n - 1] ? h[n - 1] : "undefined");
            } else if (strcmp(tag, "id") == 0) {
                e = kb_buf_puts(out, c->u->name);
            } else if (is_fmt(tag)) {
                /* shorthand for the first star through the string tag */
                size_t start = out->len;
                if (m->nstar)
                    e = kb_buf_append(out, m->star[0], m->starlen[0]);
                if (!e)
                    e = apply_fmt(c, tag, out, start);
            } else if (strncmp(tag, "topic=", 6) == 0) {
                char *nt = xstrdup(tag + 6);
                if (!nt)
                    return KB_ENOMEM;
                free(c->u->topic);
                c->u->topic = nt;
            } else if (strcmp(tag, "noreply") == 0) {
                /* nothing */
            } else {
                e = kb_buf_putc(out, '<');
                if (!e)
                    e = kb_buf_append(out, tag, tl);
                if (!e)
                    e = kb_buf_putc(out, '>');
            }
            p = end + 1;
            continue;
        }
        if (p[0] == '(' && p[1] == '@') {
            const char *end = strchr(p, ')');
            char nm[128];
            size_t nl = end ? (size_t)(end - p - 2) : 0;
            const char *v = NULL;
            if (end && nl < sizeof nm) {
                memcpy(nm, p + 2, nl);
                nm[nl] = 0;
                v = kvs_get(&c->b->arrays, nm);
            }
            if (v) {
                size_t n = 1, pick, i = 0;
                for (const char *q = v; *q; q++)
                    n += *q == '|';
                pick = (size_t)rand() % n;
                const char *a = v;
                while (i < pick) {
                    a = strchr(a, '|') + 1;
                    i++;
                }
                const char *bar = strchr(a, '|');
                char *item = xstrndup(a, bar ? (size_t)(bar - a) : strlen(a));
                if (!item)
                    return KB_ENOMEM;
                /* items may hold tags of their own */
                if (c->depth < BOT_MAX_DEPTH) {
                    c->depth++;
                    e = expand(c, item, m, out);
                    c->depth--;
                }
                free(item);
                p = end + 1;
                continue;
            }
        }
        if (*p == '\\' && p[1] == 'n') {
            e = kb_buf_putc(out, '\n');
            p += 2;
            continue;
        }
        if (*p == '\\' && p[1] == 's') {
            e = kb_buf_putc(out, ' ');
            p += 2;
            continue;
        }
        e = kb_buf_putc(out, *p++);
    }
    return e;
}

/* Evaluates "left op right => reply"; returns reply start or NULL. */
static const char *cond_eval(struct rctx *c, const char *cond, const struct mstate *m, bool *ok)
{
    static const char *const ops[] = {"==", "!=", "<>", "<=", ">=", "eq", "ne", "<", ">"};
    const char *arrow = strstr(cond, "=>");
    *ok = false;
    if (!arrow)
        return NULL;
    char lhs[1024];
    size_t ll = (size_t)(arrow - cond);
    if (ll >= sizeof lhs)
        return NULL;
    memcpy(lhs, cond, ll);
    lhs[ll] = 0;
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
        char pat[8];
        snprintf(pat, sizeof pat, " %s ", ops[i]);
        char *o = strstr(lhs, pat);
        if (!o)
            continue;
        *o = 0;
        struct kb_buf a, bb;
        kb_buf_init(&a, BOT_MAX_MSG);
        kb_buf_init(&bb, BOT_MAX_MSG);
        KB_IGNORE(expand(c, trim(lhs), m, &a));
        KB_IGNORE(expand(c, trim(o + strlen(pat)), m, &bb));
        const char *x = a.data ? a.data : "", *y = bb.data ? bb.data : "";
        char *ex, *ey;
        double dx = strtod(x, &ex), dy = strtod(y, &ey);
        bool num = *x && *y && !*ex && !*ey;
        int cmp = num ? (dx < dy ? -1 : dx > dy) : strcmp(x, y);
        const char *op = ops[i];
        if (!strcmp(op, "==") || !strcmp(op, "eq"))
            *ok = cmp == 0;
        else if (!strcmp(op, "!=") || !strcmp(op, "ne") || !strcmp(op, "<>"))
            *ok = cmp != 0;
        else if (num && !strcmp(op, "<="))
            *ok = cmp <= 0;
        else if (num && !strcmp(op, ">="))
            *ok = cmp >= 0;
        else if (num && !strcmp(op, "<"))
            *ok = cmp < 0;
        else if (num && !strcmp(op, ">"))
            *ok = cmp > 0;
        kb_buf_release(&a);
        kb_buf_release(&bb);
        const char *r = arrow + 2;
        while (*r == ' ')
            r++;
        return r;
    }
    return NULL;
}

static enum kb_err reply_for(struct rctx *c, const char *msg, struct kb_buf *out)
{
    struct bot_brain *b = c->b;
    char *norm = normalise(b, msg, &b->sub);
    if (!norm)
        return KB_ENOMEM;
    struct topic *tp = topic_get(b, c->u->topic, false);
    if (!tp)
        tp = topic_get(b, "random", false);
    struct mstate m;
    enum kb_err e = KB_OK;
    const struct trig *hit = NULL;
    char *lastout = c->u->out[0] ? normalise(b, c->u->out[0], &b->sub) : NULL;
    for (int pass = 0; tp && pass < 2 && !hit; pass++)
        for (size_t i = 0; i < tp->n && !hit; i++) {
            const struct trig *t = &tp->t[i];
            if ((pass == 0) != (t->prev != NULL))
                continue;
            if (t->prev) {
                struct mstate pm;
                if (!lastout || !trig_match(b, t->prev, lastout, &pm))
                    continue;
            }
            if (trig_match(b, t->pat, norm, &m))
                hit = t;
        }
    if (!hit) {
        e = kb_buf_puts(out, "ERR: No Reply Matched");
        goto out;
    }
    if (hit->redirect) {
        struct kb_buf r;
        kb_buf_init(&r, BOT_MAX_MSG);
        e = expand(c, hit->redirect, &m, &r);
        if (!e && c->depth < BOT_MAX_DEPTH) {
            c->depth++;
            e = reply_for(c, r.data ? r.data : "", out);
            c->depth--;
        } else if (!e)
            e = kb_buf_puts(out, "ERR: Deep Recursion Detected");
        kb_buf_release(&r);
        goto out;
    }
    for (size_t i = 0; i < hit->ncond; i++) {
        bool ok;
        const char *r = cond_eval(c, hit->conds[i], &m, &ok);
        if (r && ok) {
            e = expand(c, r, &m, out);
            goto out;
        }
    }
    if (!hit->nrep) {
        e = kb_buf_puts(out, "ERR: No Reply Found");
        goto out;
    }
    e = expand(c, hit->replies[(size_t)rand() % hit->nrep], &m, out);
out:
    free(lastout);
    free(norm);
    return e;
}

enum kb_err bot_reply(struct bot_brain *b, const char *user, const char *message, char **out)
{
    enum kb_err e = KB_OK;
    struct kb_buf o;
    *out = NULL;
    size_t len = strlen(message);
    if (len > BOT_MAX_MSG)
        return KB_ETOOBIG;
    char *clean = kb_text_sanitize(message, len);
    if (!clean)
        return KB_ENOMEM;
    kb_buf_init(&o, BOT_OUT_MAX);
    pthread_mutex_lock(&b->lock);
    struct user *u = user_get(b, user);
    if (!u) {
        e = KB_ENOMEM;
        goto out;
    }
    struct rctx c = {b, u, 0};
    struct topic *begin = topic_get(b, "__begin__", false);
    if (begin) {
        /* the begin block's "request" reply wraps the real one at {ok} */
        char *saved = u->topic;
        struct kb_buf br;
        kb_buf_init(&br, BOT_OUT_MAX);
        u->topic = xstrdup("__begin__");
        if (!u->topic) {
            u->topic = saved;
            e = KB_ENOMEM;
            goto out;
        }
        e = reply_for(&c, "request", &br);
        if (strcmp(u->topic, "__begin__") == 0) {
            free(u->topic);
            u->topic = saved;
        } else
            free(saved);
        const char *ok = br.data ? strstr(br.data, "{ok}") : NULL;
        if (!e && ok) {
            e = kb_buf_append(&o, br.data, (size_t)(ok - br.data));
            if (!e)
                e = reply_for(&c, clean, &o);
            if (!e)
                e = kb_buf_puts(&o, ok + 4);
        } else if (!e)
            e = kb_buf_puts(&o, br.data ? br.data : "");
        kb_buf_release(&br);
    } else
        e = reply_for(&c, clean, &o);
    if (e)
        goto out;
    char *r = kb_buf_detach(&o);
    if (!r)
        r = xstrdup("");
    if (!r) {
        e = KB_ENOMEM;
        goto out;
    }
    char *t = trim(r);
    memmove(r, t, strlen(t) + 1);
    free(u->in[8]);
    free(u->out[8]);
    memmove(u->in + 1, u->in, 8 * sizeof *u->in);
    memmove(u->out + 1, u->out, 8 * sizeof *u->out);
    u->in[0] = xstrdup(clean);
    u->out[0] = xstrdup(r);
    *out = r;
out:
    pthread_mutex_unlock(&b->lock);
    kb_buf_release(&o);
    free(clean);
    return e;
}

enum kb_err bot_uservar_set(struct bot_brain *b, const char *user, const char *name,
                            const char *value)
{
    enum kb_err e;
    pthread_mutex_lock(&b->lock);
    struct user *u = user_get(b, user);
    e = u ? kvs_set(&u->vars, name, value ? value : "") : KB_ENOMEM;
    if (!e && u && strcmp(name, "topic") == 0) {
        char *t = xstrdup(value ? value : "random");
        if (t) {
            free(u->topic);
            u->topic = t;
        }
    }
    pthread_mutex_unlock(&b->lock);
    return e;
}

char *bot_uservar_get(struct bot_brain *b, const char *user, const char *name)
{
    char *r = NULL;
    pthread_mutex_lock(&b->lock);
    struct user *u = user_get(b, user);
    if (u) {
        const char *v = strcmp(name, "topic") == 0 ? u->topic : kvs_get(&u->vars, name);
        r = xstrdup(v ? v : "undefined");
    }
    pthread_mutex_unlock(&b->lock);
    return r;
}

/* JSON state format: {"vars":{name:value},"topic":"t","input":[9 newest first],
 * "reply":[...]} ; nulls stand for empty history slots. */
enum kb_err bot_user_export(struct bot_brain *b, const char *user, char **json)
{
    enum kb_err e = KB_ENOMEM;
    json_t *root = json_object(), *vars = json_object();
    json_t *in = json_array(), *outs = json_array();
    *json = NULL;
    pthread_mutex_lock(&b->lock);
    struct user *u = user_get(b, user);
    if (!u || !root || !vars || !in || !outs)
        goto out;
    for (size_t i = 0; i < u->vars.n; i++)
        if (json_object_set_new(vars, u->vars.a[i].k, json_string(u->vars.a[i].v)))
            goto out;
    for (int i = 0; i < 9; i++) {
        if (json_array_append_new(in, u->in[i] ? json_string(u->in[i]) : json_null()) ||
            json_array_append_new(outs, u->out[i] ? json_string(u->out[i]) : json_null()))
            goto out;
    }
    if (json_object_set(root, "vars", vars) || json_object_set(root, "input", in) ||
        json_object_set(root, "reply", outs) ||
        json_object_set_new(root, "topic", json_string(u->topic)))
        goto out;
    *json = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
    e = *json ? KB_OK : KB_ENOMEM;
out:
    pthread_mutex_unlock(&b->lock);
    json_decref(vars);
    json_decref(in);
    json_decref(outs);
    json_decref(root);
    return e;
}

enum kb_err bot_user_import(struct bot_brain *b, const char *user, const char *json)
{
    enum kb_err e = KB_EINVAL;
    json_error_t jerr;
    json_t *root = json_loads(json, 0, &jerr);
    struct user *u = NULL;
    pthread_mutex_lock(&b->lock);
    if (!root || !json_is_object(root))
        goto out;
    json_t *vars = json_object_get(root, "vars"), *topic = json_object_get(root, "topic");
    json_t *in = json_object_get(root, "input"), *outs = json_object_get(root, "reply");
    if ((vars && !json_is_object(vars)) || (topic && !json_is_string(topic)))
        goto out;
    u = user_get(b, user);
    if (!u) {
        e = KB_ENOMEM;
        goto out;
    }
    const char *k;
    json_t *v;
    json_object_foreach(vars, k, v)
    {
        if (json_is_string(v) && kvs_set(&u->vars, k, json_string_value(v))) {
            e = KB_ENOMEM;
            goto out;
        }
    }
    if (topic) {
        char *t = xstrdup(json_string_value(topic));
        if (!t) {
            e = KB_ENOMEM;
            goto out;
        }
        free(u->topic);
        u->topic = t;
    }
    for (int i = 0; i < 9; i++) {
        json_t *a = json_array_get(in, (size_t)i), *r = json_array_get(outs, (size_t)i);
        free(u->in[i]);
        free(u->out[i]);
        u->in[i] = json_is_string(a) ? xstrdup(json_string_value(a)) : NULL;
        u->out[i] = json_is_string(r) ? xstrdup(json_string_value(r)) : NULL;
    }
    e = KB_OK;
out:
    pthread_mutex_unlock(&b->lock);
    json_decref(root);
    return e;
}
