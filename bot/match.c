/* bot/match.c: message normalisation and the trigger matcher.
 *
 * A message is folded, passed through the `! sub` substitutions and stripped of sentence
 * punctuation; triggers are folded at load time. The matcher backtracks over the trigger
 * text directly (wildcards * # _, (alternatives) and (@arrays) that capture, [optionals]
 * and bare @arrays that do not), with a step budget so that no trigger and message pair
 * can cost more than a bounded amount of work. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <utf8proc.h>

#include "bot/brain.h"

/* Wildcards of an [optional], rewritten so that they match without capturing. */
#define NOCAP_ANY '\x02'
#define NOCAP_NUM '\x03'
#define NOCAP_ALPHA '\x04'

/* Backtracking matcher over pattern p and message s; captures into st. */

static bool match_at(struct bot_match *m, const char *p, const char *s, const char *s0);

static bool try_alt(struct bot_match *m, const char *alts, size_t altlen, const char *rest,
                    const char *s, const char *s0, bool optional)
{
    const char *a = alts, *end = alts + altlen;
    char buf[512];
    /* rest is the same for every alternative; one that cannot fit is never tried */
    size_t rl = strnlen(rest, sizeof buf);
    while (a <= end && rl < sizeof buf) {
        const char *bar = memchr(a, '|', (size_t)(end - a));
        if (!bar)
            bar = end;
        size_t al = (size_t)(bar - a);
        while (al && a[0] == ' ') {
            a++;
            al--;
        }
        while (al && a[al - 1] == ' ')
            al--;
        if (al + rl + 1 <= sizeof buf) {
            memcpy(buf, a, al);
            /* wildcards inside [optionals] match but do not capture (WD): mark them */
            for (size_t i = 0; optional && i < al; i++)
                buf[i] = buf[i] == '*' ? NOCAP_ANY : buf[i] == '#' ? NOCAP_NUM
                         : buf[i] == '_' ? NOCAP_ALPHA : buf[i];
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

static bool match_at(struct bot_match *m, const char *p, const char *s, const char *s0)
{
    if (++m->steps > m->limit)
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
    if (*p == NOCAP_ANY || *p == NOCAP_NUM || *p == NOCAP_ALPHA) {
        char kind = *p == NOCAP_ANY ? '*' : *p == NOCAP_NUM ? '#' : '_';
        const char *se = s + strlen(s);
        for (const char *e = s + 1; e <= se; e++) {
            char c = e[-1];
            if (kind == '#' && !isdigit((unsigned char)c))
                break;
            if (kind == '_' && (c == ' ' || isdigit((unsigned char)c)))
                break;
            if (match_at(m, p + 1, e, s0))
                return true;
        }
        return false;
    }
    if (*p == '*' || *p == '#' || *p == '_') {
        char kind = *p;
        int idx = m->nstar;
        if (idx >= BOT_MAX_STARS)
            return false;
        m->nstar++;
        const char *se = s + strlen(s);
        for (const char *e = s + 1; e <= se; e++) {
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
                        v = bot_kvs_get(&m->b->arrays, nm);
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
        const char *v = bot_kvs_get(&m->b->arrays, nm);
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

bool bot_match(const struct bot_brain *b, const char *pat, const char *msg, struct bot_match *m,
               unsigned long *budget)
{
    memset(m, 0, sizeof *m);
    m->b = b;
    m->limit = budget && *budget < BOT_MAX_STEPS ? (unsigned)*budget : BOT_MAX_STEPS;
    if (strcmp(pat, "*") == 0) {
        /* the catch-all also takes an empty message (all punctuation, say) */
        m->star[0] = msg;
        m->starlen[0] = strlen(msg);
        m->nstar = 1;
        return true;
    }
    bool hit = match_at(m, pat, msg, msg);
    if (budget)
        *budget -= m->steps < *budget ? m->steps : *budget;
    return hit;
}

/* Replaces whole-word phrases of text found in map (longest key first) into out. */
enum kb_err bot_subst(const struct bot_kvs *map, const char *text, struct kb_buf *out)
{
    enum kb_err e = KB_OK;
    const char *p = text;
    /* a phrase is whole when spaces, sentence punctuation or the text's ends surround it:
     * "l’entretien?" still meets the substitution of "l’entretien" */
#define EDGE(c) ((c) == 0 || (c) == ' ' || strchr(".,!?;:", (c)))
    while (*p && !e) {
        bool wordstart = p == text || EDGE(p[-1]);
        size_t best = 0;
        const char *rep = NULL;
        for (size_t i = 0; wordstart && map && i < map->n; i++) {
            size_t kl = strlen(map->a[i].k);
            if (kl > best && strncmp(p, map->a[i].k, kl) == 0 && EDGE(p[kl])) {
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
char *bot_normalise(const struct bot_brain *b, const char *in)
{
    char *f = bot_fold(b, in);
    if (!f)
        return NULL;
    struct kb_buf o;
    kb_buf_init(&o, BOT_MAX_MESSAGE * 2);
    /* phrase substitution on the folded text, then strip punctuation */
    for (char *q = f; *q; q++)
        if (*q == '\t' || *q == '\n' || *q == '\r')
            *q = ' ';
    KB_IGNORE(bot_subst(&b->sub, f, &o));
    free(f);
    char *t = kb_buf_detach(&o);
    if (!t)
        return strdup("");
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


/* Matching key: combining marks removed (NFD + strip), so that "vehicule" meets a trigger
 * written "véhicule" and the other way round. map[i] is the offset in src of the code point
 * that key byte i came from; map[len] is strlen(src). ASCII mode keeps the text as is. */
enum kb_err bot_key_make(const struct bot_brain *b, const char *src, struct bot_key *k)
{
    size_t n = strlen(src);
    memset(k, 0, sizeof *k);
    k->s = malloc(n * 4 + 1);
    k->map = malloc((n * 4 + 1) * sizeof *k->map);
    if (!k->s || !k->map) {
        bot_key_free(k);
        return KB_ENOMEM;
    }
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        utf8proc_int32_t cp, dec[8];
        utf8proc_ssize_t len = (b->flags & BOT_UTF8)
            ? utf8proc_iterate((const utf8proc_uint8_t *)src + i, (utf8proc_ssize_t)(n - i), &cp)
            : -1;
        utf8proc_ssize_t nd = len > 0 ? utf8proc_decompose_char(cp, dec, 8,
                                            UTF8PROC_DECOMPOSE | UTF8PROC_STRIPMARK, NULL)
                                      : -1;
        if (len <= 0 || nd < 0 || nd > 8) { /* ASCII mode, or a byte utf8proc refuses */
            k->map[o] = i;
            k->s[o++] = src[i++];
            continue;
        }
        for (utf8proc_ssize_t j = 0; j < nd; j++) {
            utf8proc_uint8_t enc[4];
            utf8proc_ssize_t el = utf8proc_encode_char(dec[j], enc);
            for (utf8proc_ssize_t x = 0; x < el && o < n * 4; x++) {
                k->map[o] = i;
                k->s[o++] = (char)enc[x];
            }
        }
        i += (size_t)len;
    }
    k->s[o] = 0;
    k->map[o] = n;
    k->len = o;
    return KB_OK;
}

void bot_key_free(struct bot_key *k)
{
    free(k->s);
    free(k->map);
    k->s = NULL;
    k->map = NULL;
}

void bot_key_captures(const struct bot_key *k, const char *src, struct bot_match *m)
{
    for (int i = 0; i < m->nstar; i++) {
        size_t a = (size_t)(m->star[i] - k->s), z = a + m->starlen[i];
        m->star[i] = src + k->map[a];
        /* the end: where the code point after the capture starts in src */
        m->starlen[i] = k->map[z] - k->map[a];
    }
}

char *bot_key_string(const struct bot_brain *b, const char *src)
{
    struct bot_key k;
    if (bot_key_make(b, src, &k))
        return NULL;
    free(k.map);
    return k.s;
}
