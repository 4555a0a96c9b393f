/* bot/reply.c: fetching a reply (WD "REPLY FETCHING") and expanding its tags.
 *
 * Tags are expanded from the most embedded outward, so that <set a=<get b>> copies a
 * variable, in one left-to-right pass; text that comes from the user (stars, history, macro
 * results) is appended as is and never expanded again, so a message cannot inject tags.
 * The begin block's reply runs in the WD's order: its {topic} and <set> first, then the real
 * reply is fetched, then the remaining tags run with {ok} standing for that reply. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot/brain.h"
#include "kb/base/text.h"

#define TAG_MAX 4096
#define MACRO_ARGS 32
#define BOT_MAX_CALLS 1000 /* replies fetched (redirects included) for one message */
/* Bytes of message text normalised for one message, redirects included: a thousand
 * redirects of a long text would otherwise normalise gigabytes. */
#define BOT_MAX_MESSAGE_TEXT (4u << 20)

struct caps {
    const struct bot_match *star;    /* the trigger's wildcards */
    const struct bot_match *botstar; /* the %previous wildcards */
};

struct rctx {
    struct bot_brain *b;
    struct bot_user *u;
    int depth, limit;
    unsigned calls; /* replies fetched for this message: conditions that redirect can branch */
    unsigned long steps; /* matcher steps left for this message */
    size_t text_left;    /* bytes of (redirected) messages that may still be normalised */
    /* The bot's last reply, normalised once per message for %previous (NULL until needed):
     * redirects may look for a trigger hundreds of times. */
    char *last;
    struct bot_key last_key;
    bool have_last;
    const char *ok; /* the real reply, while the begin block's reply is expanded */
    void *host;     /* bot_reply_ctx's ctx, for macros (borrowed) */
};

/* Bot variables copied for one macro call (bot_call_botvar): a <bot name=value> tag in
 * another thread's reply frees the brain's string, so the macro reads its own copy, freed
 * when it returns. Bounded: a macro asking again and again costs no more memory. */
struct call_copies {
    char *s[BOT_CALL_MAX_COPIES];
    size_t n;
};

struct bot_call {
    struct rctx *c;
    struct call_copies *copies; /* run_macro's; reached through a const call */
};

static enum kb_err reply_for(struct rctx *c, const char *msg, struct kb_buf *out);
static enum kb_err expand(struct rctx *c, const char *tpl, const struct caps *k,
                          struct kb_buf *out);

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = 0;
    return s;
}

static enum kb_err put_cap(struct kb_buf *out, const struct bot_match *m, long n)
{
    if (m && n >= 1 && n <= m->nstar)
        return kb_buf_append(out, m->star[n - 1], m->starlen[n - 1]);
    return kb_buf_puts(out, "undefined");
}

/* Sets a user variable; "topic" moves the user too. */
static enum kb_err user_set(struct bot_user *u, const char *name, const char *v)
{
    if (strcmp(name, "topic") == 0) {
        char *t = strdup(*v ? v : "random");
        if (!t)
            return KB_ENOMEM;
        free(u->topic);
        u->topic = t;
        return KB_OK;
    }
    return bot_kvs_set(&u->vars, name, v);
}

/* Applies a string tag (formal, sentence, uppercase, lowercase, person) to out[start..]. */
static enum kb_err apply_fmt(struct rctx *c, const char *tag, struct kb_buf *out, size_t start)
{
    char *seg = strndup(out->data ? out->data + start : "", out->len - start);
    if (!seg)
        return KB_ENOMEM;
    char *r = NULL;
    enum kb_err e = KB_OK;
    if (strcmp(tag, "person") == 0) {
        struct kb_buf p;
        kb_buf_init(&p, BOT_OUT_MAX);
        e = bot_subst(&c->b->person, seg, &p);
        r = e ? NULL : kb_buf_detach(&p);
        kb_buf_release(&p);
    } else {
        enum kb_case m = tag[0] == 'u' ? KB_CASE_UPPER : tag[0] == 'l' ? KB_CASE_LOWER
                         : tag[0] == 'f' ? KB_CASE_TITLE : KB_CASE_SENTENCE;
        r = kb_text_case(seg, m);
    }
    free(seg);
    if (!r)
        return e ? e : KB_ENOMEM;
    out->len = start;
    if (out->data)
        out->data[start] = 0;
    e = kb_buf_puts(out, r);
    free(r);
    return e;
}

static bool is_fmt(const char *t)
{
    return !strcmp(t, "formal") || !strcmp(t, "uppercase") || !strcmp(t, "lowercase") ||
           !strcmp(t, "sentence") || !strcmp(t, "person");
}

void *bot_call_context(const struct bot_call *k)
{
    return k->c->host;
}

const char *bot_call_user(const struct bot_call *k)
{
    return k->c->u->name;
}

const char *bot_call_get(const struct bot_call *k, const char *name)
{
    if (strcmp(name, "topic") == 0)
        return k->c->u->topic;
    return bot_kvs_get(&k->c->u->vars, name);
}

enum kb_err bot_call_set(struct bot_call *k, const char *name, const char *value)
{
    return user_set(k->c->u, name, value ? value : "");
}

const char *bot_call_botvar(const struct bot_call *k, const char *name)
{
    struct call_copies *cp = k->copies;
    const char *r = NULL;
    /* read and copied under the read lock: <bot> tags replace values under the write lock */
    pthread_rwlock_rdlock(&k->c->b->vars_lock);
    const char *v = bot_kvs_get(&k->c->b->bot, name);
    for (size_t i = 0; v && i < cp->n && !r; i++)
        if (strcmp(cp->s[i], v) == 0)
            r = cp->s[i];
    if (v && !r && cp->n < BOT_CALL_MAX_COPIES) {
        cp->s[cp->n] = strdup(v);
        r = cp->s[cp->n];
        if (r)
            cp->n++;
    }
    pthread_rwlock_unlock(&k->c->b->vars_lock);
    return r;
}

/* <call>name args</call>: the arguments were expanded already. Words split on spaces,
 * "double quotes" keep several words together. */
static enum kb_err run_macro(struct rctx *c, char *text, struct kb_buf *out)
{
    const char *argv[MACRO_ARGS];
    size_t argc = 0;
    char *p = trim(text);
    char *name = p;
    while (*p && *p != ' ')
        p++;
    if (*p)
        *p++ = 0;
    while (*p && argc < MACRO_ARGS) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        if (*p == '"') {
            argv[argc++] = ++p;
            while (*p && *p != '"')
                p++;
        } else {
            argv[argc++] = p;
            while (*p && *p != ' ')
                p++;
        }
        if (*p)
            *p++ = 0;
    }
    const struct bot_macro *m = bot_macro_find(c->b, name);
    if (!m)
        return kb_buf_puts(out, "[ERR: Object Not Found]");
    struct call_copies copies = {.n = 0};
    struct bot_call call = {c, &copies};
    char *r = NULL;
    enum kb_err e = m->fn(m->ctx, &call, argc, argv, &r);
    for (size_t i = 0; i < copies.n; i++)
        free(copies.s[i]);
    if (e == KB_ENOMEM) {
        free(r);
        return e;
    }
    e = e ? kb_buf_puts(out, "[ERR: Macro Failure]") : kb_buf_puts(out, r ? r : "");
    free(r);
    return e;
}

/* {random}a|b{/random} (pipes, or spaces when there are none): one part, expanded. */
static enum kb_err random_part(struct rctx *c, const char *inner, size_t n, const struct caps *k,
                               struct kb_buf *out)
{
    char *s = strndup(inner, n);
    if (!s)
        return KB_ENOMEM;
    char sep = strchr(s, '|') ? '|' : ' ';
    size_t parts = 1;
    for (char *q = s; *q; q++)
        parts += *q == sep;
    size_t pick = (size_t)rand() % parts, i = 0;
    char *start = s;
    enum kb_err e = KB_OK;
    for (char *q = s;; q++)
        if (*q == sep || !*q) {
            if (i++ == pick) {
                *q = 0;
                e = expand(c, start, k, out);
                break;
            }
            start = q + 1;
        }
    free(s);
    return e;
}

/* Inline redirect: the reply to text, in place. */
static enum kb_err inline_redirect(struct rctx *c, const char *text, struct kb_buf *out)
{
    if (c->depth >= c->limit)
        return kb_buf_puts(out, "ERR: Deep Recursion Detected");
    c->depth++;
    enum kb_err e = reply_for(c, text, out);
    c->depth--;
    return e;
}

/* Math tags: <add name=n> <sub name=n> <mult name=n> <div name=n>. */
static enum kb_err math_tag(struct rctx *c, char *tag, struct kb_buf *out)
{
    char *eq = strchr(tag, '='), *sp = strchr(tag, ' ');
    if (!eq || !sp || sp > eq)
        return KB_OK;
    *eq = 0;
    const char *name = trim(sp + 1);
    const char *cv = bot_kvs_get(&c->u->vars, name);
    char *ea = NULL, *eb = NULL;
    long long cur = cv ? strtoll(cv, &ea, 10) : 0;
    long long by = strtoll(eq + 1, &eb, 10);
    if ((cv && *ea) || *eb || !eq[1])
        return kb_buf_printf(out, "[ERR: Math can't '%s' non-numeric value]",
                             tag[0] == 'a' ? "add" : tag[0] == 's' ? "sub"
                             : tag[0] == 'm' ? "mult" : "div");
    if (tag[0] == 'd' && by == 0)
        return kb_buf_puts(out, "[ERR: Can't Divide By Zero]");
    long long r;
    switch (tag[0]) {
    case 'a':
        r = (long long)((unsigned long long)cur + (unsigned long long)by);
        break;
    case 's':
        r = (long long)((unsigned long long)cur - (unsigned long long)by);
        break;
    case 'm':
        r = (long long)((unsigned long long)cur * (unsigned long long)by);
        break;
    default:
        r = (cur == -9223372036854775807LL - 1 && by == -1) ? cur : cur / by;
    }
    char num[32];
    snprintf(num, sizeof num, "%lld", r);
    return bot_kvs_set(&c->u->vars, name, num);
}

/* One <tag> whose inner tags were already expanded. */
static enum kb_err angle_tag(struct rctx *c, char *tag, size_t tl, const struct caps *k,
                             struct kb_buf *out)
{
    struct bot_brain *b = c->b;
    if (strncmp(tag, "star", 4) == 0 && (!tag[4] || isdigit((unsigned char)tag[4])))
        return put_cap(out, k->star, tag[4] ? strtol(tag + 4, NULL, 10) : 1);
    if (strncmp(tag, "botstar", 7) == 0 && (!tag[7] || isdigit((unsigned char)tag[7])))
        return put_cap(out, k->botstar, tag[7] ? strtol(tag + 7, NULL, 10) : 1);
    if ((strncmp(tag, "input", 5) == 0 || strncmp(tag, "reply", 5) == 0) &&
        (!tag[5] || isdigit((unsigned char)tag[5]))) {
        long n = tag[5] ? strtol(tag + 5, NULL, 10) : 1;
        char **h = tag[0] == 'i' ? c->u->in : c->u->out;
        return kb_buf_puts(out, n >= 1 && n <= BOT_HISTORY && h[n - 1] ? h[n - 1] : "undefined");
    }
    if (strcmp(tag, "id") == 0)
        return kb_buf_puts(out, c->u->name);
    if (strncmp(tag, "set ", 4) == 0) {
        char *eq = strchr(tag, '=');
        if (!eq)
            return KB_OK;
        *eq = 0;
        return user_set(c->u, trim(tag + 4), eq + 1);
    }
    if (!strncmp(tag, "add ", 4) || !strncmp(tag, "sub ", 4) || !strncmp(tag, "mult ", 5) ||
        !strncmp(tag, "div ", 4))
        return math_tag(c, tag, out);
    if (strncmp(tag, "bot ", 4) == 0 || strncmp(tag, "env ", 4) == 0) {
        struct bot_kvs *m = tag[0] == 'b' ? &b->bot : &b->global;
        char *eq = strchr(tag, '=');
        enum kb_err e;
        if (eq) {
            *eq = 0;
            pthread_rwlock_wrlock(&b->vars_lock);
            e = bot_kvs_set(m, trim(tag + 4), eq + 1);
        } else {
            pthread_rwlock_rdlock(&b->vars_lock);
            const char *v = bot_kvs_get(m, trim(tag + 4));
            e = kb_buf_puts(out, v ? v : "undefined");
        }
        pthread_rwlock_unlock(&b->vars_lock);
        return e;
    }
    if (strncmp(tag, "get ", 4) == 0) {
        const char *name = trim(tag + 4);
        const char *v = strcmp(name, "topic") == 0 ? c->u->topic : bot_kvs_get(&c->u->vars, name);
        return kb_buf_puts(out, v ? v : "undefined");
    }
    if (is_fmt(tag)) { /* <formal> is {formal}<star>{/formal} */
        size_t start = out->len;
        enum kb_err e = put_cap(out, k->star, 1);
        return e ? e : apply_fmt(c, tag, out, start);
    }
    if (strcmp(tag, "@") == 0) { /* <@> is {@<star>} */
        struct kb_buf s;
        kb_buf_init(&s, BOT_MAX_MESSAGE);
        enum kb_err e = put_cap(&s, k->star, 1);
        if (!e)
            e = inline_redirect(c, s.data ? s.data : "", out);
        kb_buf_release(&s);
        return e;
    }
    if (strncmp(tag, "topic=", 6) == 0)
        return user_set(c->u, "topic", trim(tag + 6));
    if (strcmp(tag, "noreply") == 0)
        return KB_OK;
    /* not a tag: the text stays as written ("a <b> c" in a reply) */
    enum kb_err e = kb_buf_putc(out, '<');
    if (!e)
        e = kb_buf_append(out, tag, tl);
    return e ? e : kb_buf_putc(out, '>');
}

/* Finds the "{/name}" closing the block opened just before p, nesting-aware. */
static const char *block_end(const char *p, const char *open, const char *close)
{
    int nest = 1;
    size_t lo = strlen(open), lc = strlen(close);
    for (; *p; p++) {
        if (strncmp(p, open, lo) == 0)
            nest++;
        else if (strncmp(p, close, lc) == 0 && --nest == 0)
            return p;
    }
    return NULL;
}

static enum kb_err expand(struct rctx *c, const char *tpl, const struct caps *k,
                          struct kb_buf *out)
{
    enum kb_err e = KB_OK;
    if (c->depth >= c->limit + 8) /* nested tags count too: bounded C stack */
        return kb_buf_puts(out, "ERR: Deep Recursion Detected");
    c->depth++;
    for (const char *p = tpl; *p && !e;) {
        if (*p == '\\' && p[1]) {
            char ch = p[1] == 'n' ? '\n' : p[1] == 's' ? ' ' : p[1];
            if (strchr("ns/#\\", p[1])) {
                e = kb_buf_putc(out, ch);
                p += 2;
                continue;
            }
        }
        if (*p == '{') {
            const char *end = strchr(p, '}');
            size_t tl = end ? (size_t)(end - p - 1) : 0;
            char tg[64];
            if (end && tl < sizeof tg) {
                memcpy(tg, p + 1, tl);
                tg[tl] = 0;
                if (strcmp(tg, "ok") == 0 && c->ok) {
                    e = kb_buf_puts(out, c->ok);
                    p = end + 1;
                    continue;
                }
                if (strcmp(tg, "random") == 0) {
                    const char *ce = block_end(end + 1, "{random}", "{/random}");
                    if (ce) {
                        e = random_part(c, end + 1, (size_t)(ce - end - 1), k, out);
                        p = ce + 9;
                        continue;
                    }
                }
                if (is_fmt(tg)) {
                    char open[72], close[72];
                    snprintf(open, sizeof open, "{%s}", tg);
                    snprintf(close, sizeof close, "{/%s}", tg);
                    const char *ce = block_end(end + 1, open, close);
                    if (ce) {
                        char *inner = strndup(end + 1, (size_t)(ce - end - 1));
                        if (!inner) {
                            e = KB_ENOMEM;
                            break;
                        }
                        size_t start = out->len;
                        e = expand(c, inner, k, out);
                        free(inner);
                        if (!e)
                            e = apply_fmt(c, tg, out, start);
                        p = ce + strlen(close);
                        continue;
                    }
                }
                if (strncmp(tg, "topic=", 6) == 0) {
                    /* {topic=<get next>}: the name may come from a tag */
                    struct kb_buf t;
                    kb_buf_init(&t, sizeof tg);
                    e = expand(c, trim(tg + 6), k, &t);
                    if (!e)
                        e = user_set(c->u, "topic", t.data ? trim(t.data) : "random");
                    kb_buf_release(&t);
                    p = end + 1;
                    continue;
                }
                if (strncmp(tg, "weight=", 7) == 0 || tg[0] == '!') {
                    p = end + 1; /* weights were read at load; {!...} is deprecated */
                    continue;
                }
            }
            if (p[1] == '@' && end) {
                /* {@text}: the text may hold tags; nested braces are not allowed in it */
                char *raw = strndup(p + 2, (size_t)(end - p - 2));
                struct kb_buf in;
                kb_buf_init(&in, BOT_MAX_MESSAGE);
                e = raw ? expand(c, trim(raw), k, &in) : KB_ENOMEM;
                free(raw);
                if (!e)
                    e = inline_redirect(c, in.data ? in.data : "", out);
                kb_buf_release(&in);
                p = end + 1;
                continue;
            }
        }
        if (strncmp(p, "<call>", 6) == 0) {
            const char *ce = block_end(p + 6, "<call>", "</call>");
            if (ce) {
                char *inner = strndup(p + 6, (size_t)(ce - p - 6));
                struct kb_buf args;
                kb_buf_init(&args, BOT_MAX_MESSAGE);
                e = inner ? expand(c, inner, k, &args) : KB_ENOMEM;
                free(inner);
                if (!e) {
                    char *a = kb_buf_detach(&args);
                    e = a ? run_macro(c, a, out) : KB_ENOMEM;
                    free(a);
                }
                kb_buf_release(&args);
                p = ce + 7;
                continue;
            }
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
            size_t tl = (size_t)(end - p - 1);
            if (!*end || tl == 0 || tl >= TAG_MAX || strchr(" \t", p[1])) {
                e = kb_buf_putc(out, *p++);
                continue;
            }
            char tag[TAG_MAX];
            memcpy(tag, p + 1, tl);
            tag[tl] = 0;
            if (strpbrk(tag, "<{")) {
                /* tags nest inside out: resolve the inner ones first */
                struct kb_buf in;
                kb_buf_init(&in, TAG_MAX - 1);
                e = expand(c, tag, k, &in);
                if (!e) {
                    tl = in.len;
                    memcpy(tag, in.data ? in.data : "", tl);
                    tag[tl] = 0;
                }
                kb_buf_release(&in);
                if (e == KB_ETOOBIG) {
                    e = KB_OK; /* an absurdly long tag value: leave the text alone */
                    p = end + 1;
                    continue;
                }
                if (e)
                    break;
            }
            e = angle_tag(c, tag, tl, k, out);
            p = end + 1;
            continue;
        }
        if (p[0] == '(' && p[1] == '@') {
            /* (@array) in a reply: one item at random */
            const char *end = strchr(p, ')');
            char nm[128];
            size_t nl = end ? (size_t)(end - p - 2) : 0;
            const char *v = NULL;
            if (end && nl < sizeof nm) {
                memcpy(nm, p + 2, nl);
                nm[nl] = 0;
                v = bot_kvs_get(&c->b->arrays, nm);
            }
            if (v) {
                e = random_part(c, v, strlen(v), k, out);
                p = end + 1;
                continue;
            }
        }
        e = kb_buf_putc(out, *p++);
    }
    c->depth--;
    return e;
}

/* Evaluates "left op right => reply"; true with *reply set when the comparison holds. */
static enum kb_err cond_eval(struct rctx *c, const char *cond, const struct caps *k, bool *ok,
                             const char **reply)
{
    static const char *const ops[] = {" == ", " eq ", " != ", " ne ", " <> ",
                                      " <= ", " >= ", " < ",  " > "};
    const char *arrow = strstr(cond, "=>");
    *ok = false;
    if (!arrow)
        return KB_OK;
    char *lhs = strndup(cond, (size_t)(arrow - cond));
    if (!lhs)
        return KB_ENOMEM;
    enum kb_err e = KB_OK;
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
        char *o = strstr(lhs, ops[i]);
        if (!o)
            continue;
        *o = 0;
        struct kb_buf a, bb;
        kb_buf_init(&a, BOT_MAX_MESSAGE);
        kb_buf_init(&bb, BOT_MAX_MESSAGE);
        e = expand(c, trim(lhs), k, &a);
        if (!e)
            e = expand(c, trim(o + strlen(ops[i])), k, &bb);
        const char *x = a.data ? a.data : "", *y = bb.data ? bb.data : "";
        char *ex, *ey;
        double dx = strtod(x, &ex), dy = strtod(y, &ey);
        bool num = *x && *y && !*ex && !*ey;
        int cmp = num ? (dx < dy ? -1 : dx > dy) : strcmp(x, y);
        const char *op = ops[i] + 1; /* past the leading space */
        if (!strncmp(op, "==", 2) || !strncmp(op, "eq", 2))
            *ok = cmp == 0;
        else if (!strncmp(op, "!=", 2) || !strncmp(op, "ne", 2) || !strncmp(op, "<>", 2))
            *ok = cmp != 0;
        else if (num && !strncmp(op, "<=", 2))
            *ok = cmp <= 0;
        else if (num && !strncmp(op, ">=", 2))
            *ok = cmp >= 0;
        else if (num && op[0] == '<')
            *ok = cmp < 0;
        else if (num && op[0] == '>')
            *ok = cmp > 0;
        kb_buf_release(&a);
        kb_buf_release(&bb);
        const char *r = arrow + 2;
        while (*r == ' ')
            r++;
        *reply = r;
        break;
    }
    free(lhs);
    return e;
}

/* A pattern with tags (<get x>, <bot x>, <input>, <reply> ...) has them replaced by their
 * values, normalised like messages, before matching. */
static enum kb_err pattern_for(struct rctx *c, const char *pat, char **out)
{
    *out = NULL;
    if (!strchr(pat, '<'))
        return KB_OK;
    struct kb_buf o;
    kb_buf_init(&o, BOT_MAX_MESSAGE);
    enum kb_err e = KB_OK;
    struct caps none = {0};
    for (const char *p = pat; *p && !e;) {
        const char *end = *p == '<' ? strchr(p, '>') : NULL;
        if (!end) {
            e = kb_buf_putc(&o, *p++);
            continue;
        }
        /* only tags that read a value: a redirect or a setter inside a trigger would make
         * matching recurse through every other trigger (exponential in the depth) */
        static const char *const ok[] = {"<get ", "<bot ", "<env ", "<input", "<reply", "<id>"};
        bool value = false;
        for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
            value |= strncmp(p, ok[i], strlen(ok[i])) == 0;
        if (!value || memchr(p + 1, '<', (size_t)(end - p - 1)) || memchr(p, '=', (size_t)(end - p))) {
            e = kb_buf_append(&o, p, (size_t)(end - p + 1));
            p = end + 1;
            continue;
        }
        char *tag = strndup(p, (size_t)(end - p + 1));
        struct kb_buf v;
        kb_buf_init(&v, BOT_MAX_MESSAGE);
        e = tag ? expand(c, tag, &none, &v) : KB_ENOMEM;
        char *n = e ? NULL : bot_normalise(c->b, v.data ? v.data : "");
        char *key = n ? bot_key_string(c->b, n) : NULL;
        if (!e && !key)
            e = KB_ENOMEM;
        if (!e)
            e = kb_buf_puts(&o, key);
        free(key);
        free(n);
        free(tag);
        kb_buf_release(&v);
        p = end + 1;
    }
    if (!e)
        *out = kb_buf_detach(&o);
    kb_buf_release(&o);
    return e ? e : (*out ? KB_OK : KB_ENOMEM);
}

/* Matches pat against the key of msg; on a hit the captures point into msg itself, so
 * that <star> keeps the accents the customer typed. */
static enum kb_err try_match(struct rctx *c, const char *pat, const char *msg,
                             const struct bot_key *key, struct bot_match *m, bool *hit)
{
    char *dyn = NULL;
    enum kb_err e = pattern_for(c, pat, &dyn);
    *hit = !e && bot_match(c->b, dyn ? dyn : pat, key->s, m, &c->steps);
    if (*hit)
        bot_key_captures(key, msg, m);
    free(dyn);
    return e;
}

/* The topic a user is in; an unknown one sends the user back to "random". */
static struct bot_topic *user_topic(struct rctx *c)
{
    struct bot_topic *tp = bot_topic_get(c->b, c->u->topic, false);
    if (!tp && strcmp(c->u->topic, "random") != 0) {
        KB_IGNORE(user_set(c->u, "topic", "random"));
        tp = bot_topic_get(c->b, "random", false);
    }
    return tp;
}

/* Finds the trigger for msg in the user's topic: %previous ones first (against the bot's
 * last reply), then the others. */
static enum kb_err find_trigger(struct rctx *c, struct bot_topic *tp, const char *norm,
                                const struct bot_key *key, const struct bot_trig **hit, struct bot_match *m,
                                struct bot_match *pm, char **lastp)
{
    enum kb_err e = KB_OK;
    *hit = NULL;
    memset(pm, 0, sizeof *pm);
    if (!tp)
        return KB_OK;
    if (tp->nsprev && c->u->out[0]) {
        if (!c->have_last) {
            /* the <botstar> captures point into it: freed with the message's context; only
             * the start of a very long reply is compared */
            const char *o = c->u->out[0];
            size_t n = kb_text_utf8_prefix(o, strnlen(o, BOT_MAX_MESSAGE));
            char *cut = strndup(o, n);
            c->last = cut ? bot_normalise(c->b, cut) : NULL;
            free(cut);
            if (!c->last || bot_key_make(c->b, c->last, &c->last_key)) {
                free(c->last);
                c->last = NULL;
                return KB_ENOMEM;
            }
            c->have_last = true;
        }
        *lastp = NULL;
        for (size_t i = 0; i < tp->nsprev && !*hit && !e; i++) {
            const struct bot_trig *t = tp->sprev[i];
            bool ok;
            e = try_match(c, t->prev, c->last, &c->last_key, pm, &ok);
            if (!e && ok)
                e = try_match(c, t->pat, norm, key, m, &ok);
            if (!e && ok)
                *hit = t;
        }
    }
    for (size_t i = 0; i < tp->nsorted && !*hit && !e; i++) {
        bool ok;
        e = try_match(c, tp->sorted[i]->pat, norm, key, m, &ok);
        if (!e && ok) {
            *hit = tp->sorted[i];
            memset(pm, 0, sizeof *pm);
        }
    }
    return e;
}

/* The raw reply text of a matched trigger (conditions, then weighted random); NULL when the
 * trigger has neither a true condition nor a reply. */
static enum kb_err choose(struct rctx *c, const struct bot_trig *t, const struct caps *k,
                          const char **text)
{
    *text = NULL;
    for (size_t i = 0; i < t->ncond; i++) {
        bool ok;
        const char *r = NULL;
        enum kb_err e = cond_eval(c, t->cond[i], k, &ok, &r);
        if (e)
            return e;
        if (ok) {
            *text = r;
            return KB_OK;
        }
    }
    if (!t->nrep)
        return KB_OK;
    unsigned pick = (unsigned)rand() % (t->wsum ? t->wsum : 1);
    for (size_t i = 0; i < t->nrep; i++) {
        if (pick < t->rep[i].weight) {
            *text = t->rep[i].text;
            return KB_OK;
        }
        pick -= t->rep[i].weight;
    }
    *text = t->rep[t->nrep - 1].text;
    return KB_OK;
}

static enum kb_err reply_for(struct rctx *c, const char *msg, struct kb_buf *out)
{
    size_t len = strlen(msg);
    if (++c->calls > BOT_MAX_CALLS || len > c->text_left)
        return kb_buf_puts(out, "ERR: Deep Recursion Detected");
    c->text_left -= len;
    char *norm = bot_normalise(c->b, msg);
    if (!norm)
        return KB_ENOMEM;
    struct bot_match m, pm;
    const struct bot_trig *hit = NULL;
    char *last = NULL;
    struct bot_key key;
    if (bot_key_make(c->b, norm, &key)) {
        free(norm);
        return KB_ENOMEM;
    }
    enum kb_err e = find_trigger(c, user_topic(c), norm, &key, &hit, &m, &pm, &last);
    struct caps k = {&m, &pm};
    if (e)
        goto out;
    if (!hit) {
        e = kb_buf_puts(out, "ERR: No Reply Matched");
        goto out;
    }
    if (hit->redirect) {
        struct kb_buf r;
        kb_buf_init(&r, BOT_MAX_MESSAGE);
        e = expand(c, hit->redirect, &k, &r);
        if (!e)
            e = inline_redirect(c, r.data ? r.data : "", out);
        kb_buf_release(&r);
        goto out;
    }
    const char *text;
    e = choose(c, hit, &k, &text);
    if (!e)
        e = text ? expand(c, text, &k, out) : kb_buf_puts(out, "ERR: No Reply Found");
out:
    bot_key_free(&key);
    free(last);
    free(norm);
    return e;
}

/* The begin block: "request" picks a reply whose {topic} and <set> tags run first; when it
 * holds {ok}, the real reply is fetched and the rest of the tags run around it. */
static enum kb_err begin_reply(struct rctx *c, struct bot_topic *begin, const char *msg,
                               struct kb_buf *out)
{
    struct bot_match m, pm;
    const struct bot_trig *hit = NULL;
    memset(&pm, 0, sizeof pm);
    enum kb_err e = KB_OK;
    for (size_t i = 0; i < begin->nsorted && !hit; i++)
        if (bot_match(c->b, begin->sorted[i]->pat, "request", &m, &c->steps))
            hit = begin->sorted[i];
    if (!hit)
        return reply_for(c, msg, out);
    struct caps k = {&m, &pm};
    const char *text = NULL;
    e = choose(c, hit, &k, &text);
    if (e || !text)
        return e ? e : reply_for(c, msg, out);
    /* first pass: {topic=...} and <set ...> only, removed from the text */
    struct kb_buf rest;
    kb_buf_init(&rest, BOT_OUT_MAX);
    for (const char *p = text; *p && !e;) {
        const char *end = NULL;
        if (strncmp(p, "{topic=", 7) == 0)
            end = strchr(p, '}');
        else if (strncmp(p, "<set ", 5) == 0) {
            int nest = 0;
            for (end = p; *end; end++) {
                nest += *end == '<';
                nest -= *end == '>';
                if (!nest)
                    break;
            }
            if (!*end)
                end = NULL;
        }
        if (end) {
            char *tag = strndup(p, (size_t)(end - p + 1));
            struct kb_buf sink;
            kb_buf_init(&sink, BOT_MAX_MESSAGE);
            e = tag ? expand(c, tag, &k, &sink) : KB_ENOMEM;
            kb_buf_release(&sink);
            free(tag);
            p = end + 1;
        } else
            e = kb_buf_putc(&rest, *p++);
    }
    char *real = NULL;
    if (!e && rest.data && strstr(rest.data, "{ok}")) {
        struct kb_buf r;
        kb_buf_init(&r, BOT_OUT_MAX);
        e = reply_for(c, msg, &r);
        real = e ? NULL : kb_buf_detach(&r);
        if (!e && !real)
            e = KB_ENOMEM;
        kb_buf_release(&r);
    }
    if (!e) {
        c->ok = real;
        e = expand(c, rest.data ? rest.data : "", &k, out);
        c->ok = NULL;
    }
    free(real);
    kb_buf_release(&rest);
    return e;
}

/* The whole reply runs under the user's lock (bot_user_acquire), and so does the export of
 * the state it leaves: a host that stores that state next to the reply never stores one
 * that another thread's reply for the same user has already moved on. */
enum kb_err bot_reply_ctx(struct bot_brain *b, const char *user, const char *message, void *ctx,
                          char **out, char **state)
{
    *out = NULL;
    if (state)
        *state = NULL;
    size_t len = strlen(message);
    if (len > BOT_MAX_MESSAGE)
        return KB_ETOOBIG;
    enum kb_err e = bot_brain_sort(b);
    if (e)
        return e;
    atomic_store(&b->serving, true); /* the macro table is frozen from here on */
    char *clean = kb_text_sanitize(message, len);
    if (!clean)
        return KB_ENOMEM;
    /* control characters are no text anyone typed */
    for (char *p = clean; *p; p++)
        if ((unsigned char)*p < 0x20)
            *p = ' ';
    struct bot_user *u = bot_user_acquire(b, user);
    if (!u) {
        free(clean);
        return KB_ENOMEM;
    }
    struct rctx c = {.b = b, .u = u, .limit = bot_depth_limit(b), .steps = BOT_MAX_MESSAGE_STEPS,
                     .text_left = BOT_MAX_MESSAGE_TEXT, .host = ctx};
    char *r = NULL, *keep = NULL, *js = NULL;
    struct kb_buf o;
    kb_buf_init(&o, BOT_OUT_MAX);
    struct bot_topic *begin = bot_topic_get(b, "__begin__", false);
    e = begin ? begin_reply(&c, begin, clean, &o) : reply_for(&c, clean, &o);
    if (e == KB_ETOOBIG) {
        /* a reply that outgrew its limit (a loop of {random} and redirects, say) */
        kb_buf_clear(&o);
        e = kb_buf_puts(&o, "ERR: Reply Too Long");
    }
    if (e)
        goto out;
    r = kb_buf_detach(&o);
    if (!r) {
        e = KB_ENOMEM;
        goto out;
    }
    const char *t = trim(r); /* trailing blanks cut, leading ones skipped: moved to the start */
    memmove(r, t, strlen(t) + 1);
    keep = strdup(r);
    if (!keep) {
        e = KB_ENOMEM;
        goto out;
    }
    bot_user_push_history(u, clean, keep);
    clean = NULL;
    if (state) {
        e = bot_user_state_json(u, &js);
        if (e)
            goto out;
    }
    *out = r;
    r = NULL;
    if (state)
        *state = js;
out:
    bot_user_release(b, u);
    if (c.have_last) {
        bot_key_free(&c.last_key);
        free(c.last);
    }
    kb_buf_release(&o);
    free(r);
    free(clean);
    return e;
}

enum kb_err bot_reply(struct bot_brain *b, const char *user, const char *message, char **out)
{
    return bot_reply_ctx(b, user, message, NULL, out, NULL);
}
