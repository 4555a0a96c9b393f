/* kb/http/mustache.c: the Mustache engine (see mustache.h for the language and the API).
 *
 * A template is parsed once, when it is added, into an op list; rendering walks that list and
 * never looks at template text again. Parsing takes four passes over the text:
 *
 *   tokenize()    text -> tokens. A text token never spans a line end: it stops after "\n"
 *                 (its `eol` is 1, or 2 for "\r\n"), and `ws` says it holds nothing but
 *                 spaces and tabs before that. Tags carry their sigil as `kind` ('v' for a
 *                 plain variable) and their trimmed name. Set-delimiter tags take effect here.
 *   match_tags()  pairs every opening tag (# ^ < $) with its closing tag (`match`, both ways),
 *                 bounds the nesting (KB_MUSTACHE_MAX_DEPTH) and marks argument blocks: a $
 *                 block directly inside a < parent.
 *   whitespace()  the specification's standalone rules, decided on the token list: it marks
 *                 the text tokens a standalone tag removes (`drop`), the indentation of
 *                 partials, parents and blocks, and the intrinsic indentation each block
 *                 strips from the start of its content's lines (`head`).
 *   build()       tokens -> op list, merging adjacent text.
 *
 * Whitespace rules (specs/whitespace.md of the specification, and its ~inheritance tests):
 *   - A tag of kind ! = # ^ > and the closing tag of a section is standalone when only
 *     spaces and tabs share its line (the line may start at the beginning of the template
 *     and end at its end); its line is then removed: the leading blanks, the trailing blanks
 *     and the line end. A standalone partial's leading blanks become its indentation.
 *     Interpolation tags are never standalone.
 *   - A parent is a standalone element when its opening tag's left side and its closing
 *     tag's right side are clear, even on one line ("  {{<p}}{{/p}}\n"): the opening tag's
 *     leading blanks become the parent's indentation, the closing tag's trailing blanks and
 *     line end go. Otherwise each of its tags that is standalone by itself removes its line.
 *   - An argument block's opening tag needs only its right side clear: the line end after it
 *     belongs to the tag, not to the content. Its closing tag needs only its left side clear:
 *     blanks before it on its line are not content.
 *   - A parameter block (any other $ block) is a standalone element when its opening tag's
 *     left side and its closing tag's right side are clear, even on one line
 *     ("  {{$b}}{{/b}}\n"). Each of its two tags that is standalone by itself removes its
 *     line. A standalone element's argument (or default) is rendered as a block of lines at
 *     the element's indentation: the opening tag's leading blanks, or, when the opening tag
 *     ends its line, the block's intrinsic indentation. When the two tags share a line the
 *     line end after the closing tag stays (it ends the block's last line).
 *   - Intrinsic indentation: an argument block, or a standalone parameter block, whose
 *     opening tag ends its line strips the leading blanks of its next line from the start of
 *     every line of its content; nested blocks strip in turn, relative to the enclosing one.
 *
 * Op list: struct tmpl.node, one array per template in document order. A node with a body
 * (section, inverted section, parent, block) is followed by its body; `end` is the index just
 * after the body, so a walk skips a body by jumping to `end`. A parent's body holds only its
 * argument blocks (the rest of what is written inside a parent is ignored). Names and text
 * point into the template's own copy of its source (struct tmpl.src).
 *
 * Rendering (struct render, one per kb_mustache_render call, on the caller's stack; the set
 * is only read, so concurrent renders need no lock):
 *   - the context stack: the data, then one entry per section being rendered;
 *   - block frames (struct frame, on the C stack): each parent being rendered pushes one
 *     naming its argument blocks. A $ block takes the argument of the outermost frame that
 *     has one (top-level substitutions win), rendered with that frame as its environment, in
 *     the current context; else its default content;
 *   - indentation: ind[ibase, ilen) is the current indentation. Every line end of template
 *     text sets `pending`; the next output byte is then preceded by the indentation that was
 *     current at that line end. Entering a standalone partial, parent or block site appends
 *     its indentation and sets pending; leaving it restores the indentation (and a pending
 *     line start becomes the outer template's). An inline partial or parent starts with an
 *     empty indentation (its lines are not the caller's lines); an inline block keeps the
 *     current one. Interpolated values never set pending: their newlines are not template
 *     lines, as the specification's partial tests require.
 * Every render is bounded: nesting (depth), output bytes, indentation bytes and steps (nodes
 * visited and section iterations, which stops templates that loop without writing). */
#include "kb/http/mustache.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kb/base/text.h"

#define DELIM_MAX 16         /* a delimiter set by {{=a b=}} has fewer bytes than this */
#define NONE UINT32_MAX      /* no token */
#define T_TEXT 0             /* token kind of text; tags use their sigil */
#define LOAD_PATH_MAX 4096

enum op { OP_TEXT, OP_ETAG, OP_UTAG, OP_SECTION, OP_INVERTED, OP_PARTIAL, OP_PARENT, OP_BLOCK };

struct node {
    uint32_t off, len; /* OP_TEXT: the bytes; other ops: the name (both in tmpl.src) */
    uint32_t ind, nind; /* standalone partial, parent, block: indentation bytes in tmpl.src */
    uint32_t end;       /* ops with a body: index of the node after the body; else this + 1 */
    uint8_t op;         /* enum op */
    uint8_t standalone; /* partial, parent, block: rendered as lines at indentation `ind` */
};

struct tmpl {
    char *name;
    size_t nname;
    char *src; /* the template text, NUL-terminated */
    struct node *node;
    uint32_t nnode;
};

struct kb_mustache {
    struct tmpl **t; /* sorted by name (bytes, then length) */
    size_t n, cap;
    char err[512];
};

/* ---- names and the set ---- */

static int name_cmp(const char *a, size_t na, const char *b, size_t nb)
{
    int c = memcmp(a, b, na < nb ? na : nb);
    if (c)
        return c;
    return na < nb ? -1 : na > nb;
}

/* Index of the first template whose name is not below (name, n); *found when it is equal. */
static size_t set_search(const struct kb_mustache *m, const char *name, size_t n, bool *found)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (name_cmp(m->t[mid]->name, m->t[mid]->nname, name, n) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < m->n && name_cmp(m->t[lo]->name, m->t[lo]->nname, name, n) == 0;
    return lo;
}

static const struct tmpl *set_find(const struct kb_mustache *m, const char *name, size_t n)
{
    bool found;
    size_t i = set_search(m, name, n, &found);
    return found ? m->t[i] : NULL;
}

static void tmpl_free(struct tmpl *t)
{
    if (!t)
        return;
    free(t->name);
    free(t->src);
    free(t->node);
    free(t);
}

/* Insert t, or replace the template of the same name; takes ownership of t on success. */
static enum kb_err set_insert(struct kb_mustache *m, struct tmpl *t)
{
    bool found;
    size_t i = set_search(m, t->name, t->nname, &found);
    if (found) {
        tmpl_free(m->t[i]);
        m->t[i] = t;
        return KB_OK;
    }
    if (m->n >= KB_MUSTACHE_MAX_TEMPLATES)
        return KB_ETOOBIG;
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        struct tmpl **p = realloc(m->t, cap * sizeof *p);
        if (!p)
            return KB_ENOMEM;
        m->t = p;
        m->cap = cap;
    }
    memmove(m->t + i + 1, m->t + i, (m->n - i) * sizeof *m->t);
    m->t[i] = t;
    m->n++;
    return KB_OK;
}

enum kb_err kb_mustache_new(struct kb_mustache **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? KB_OK : KB_ENOMEM;
}

void kb_mustache_free(struct kb_mustache *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        tmpl_free(m->t[i]);
    free(m->t);
    free(m);
}

const char *kb_mustache_error(const struct kb_mustache *m)
{
    return m->err;
}

/* ---- parsing ---- */

struct tok {
    uint32_t start, end; /* the bytes of src the token covers (a tag: delimiters included) */
    uint32_t name, nname; /* tag: its trimmed name */
    uint32_t head;        /* text: bytes of intrinsic indentation skipped at its start */
    uint32_t match;       /* opening tag: its closing tag; closing tag: its opening tag */
    uint32_t ind, nind;   /* partial, parent, block: indentation bytes */
    char kind;            /* T_TEXT or the tag's sigil ('v' for a variable) */
    uint8_t eol;          /* text: bytes of the line end that ends it (0, 1 or 2) */
    uint8_t ws;           /* text: only spaces and tabs before the line end */
    uint8_t drop;         /* text: removed by a standalone tag */
    uint8_t standalone;   /* partial, parent, block: see struct node */
    uint8_t arg;          /* block: an argument block (directly inside a parent) */
};

struct parser {
    struct kb_mustache *m; /* receives the error message */
    const char *name;      /* of the template, for messages */
    const char *src;
    uint32_t n;
    struct tok *tok;
    uint32_t ntok, cap;
    struct node *node; /* capacity ntok: a token makes at most one node */
    uint32_t nnode;
};

struct strip {
    uint32_t off, len; /* intrinsic indentation: bytes of src */
};

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static enum kb_err parse_error(struct parser *ps, enum kb_err err, uint32_t at, const char *what,
                               const struct tok *tag)
{
    unsigned line = 1;
    for (uint32_t i = 0; i < at && i < ps->n; i++)
        line += ps->src[i] == '\n';
    if (tag)
        snprintf(ps->m->err, sizeof ps->m->err, "%s:%u: %s '%.*s'", ps->name, line, what,
                 (int)tag->nname, ps->src + tag->name);
    else
        snprintf(ps->m->err, sizeof ps->m->err, "%s:%u: %s", ps->name, line, what);
    return err;
}

static enum kb_err push_tok(struct parser *ps, const struct tok *t)
{
    if (ps->ntok == ps->cap) {
        uint32_t cap = ps->cap ? ps->cap * 2 : 64;
        struct tok *p = realloc(ps->tok, (size_t)cap * sizeof *p);
        if (!p)
            return KB_ENOMEM;
        ps->tok = p;
        ps->cap = cap;
    }
    ps->tok[ps->ntok++] = *t;
    return KB_OK;
}

/* Text [a, b) as tokens, one per line piece. */
static enum kb_err add_text(struct parser *ps, uint32_t a, uint32_t b)
{
    while (a < b) {
        const char *nl = memchr(ps->src + a, '\n', b - a);
        struct tok t = {.start = a, .end = nl ? (uint32_t)(nl - ps->src) + 1 : b, .ws = 1};
        if (nl)
            t.eol = t.end - a >= 2 && ps->src[t.end - 2] == '\r' ? 2 : 1;
        for (uint32_t k = a; k < t.end - t.eol; k++) {
            if (!is_blank(ps->src[k])) {
                t.ws = 0;
                break;
            }
        }
        enum kb_err err = push_tok(ps, &t);
        if (err)
            return err;
        a = t.end;
    }
    return KB_OK;
}

/* The name of tag t: [s, e) trimmed, non-empty, without inner spaces, bounded. */
static enum kb_err tag_name(struct parser *ps, struct tok *t, uint32_t s, uint32_t e)
{
    while (s < e && is_space(ps->src[s]))
        s++;
    while (e > s && is_space(ps->src[e - 1]))
        e--;
    if (s == e)
        return parse_error(ps, KB_EPARSE, t->start, "empty tag", NULL);
    for (uint32_t k = s; k < e; k++)
        if (is_space(ps->src[k]))
            return parse_error(ps, KB_EPARSE, t->start, "space inside a tag name", NULL);
    if (e - s > KB_MUSTACHE_MAX_NAME)
        return parse_error(ps, KB_EPARSE, t->start, "tag name too long", NULL);
    t->name = s;
    t->nname = e - s;
    return KB_OK;
}

/* {{=open close=}}: [s, e) holds "open close" with optional spaces around. */
static enum kb_err set_delims(struct parser *ps, uint32_t at, uint32_t s, uint32_t e,
                              char *otag, size_t *olen, char *ctag, size_t *clen)
{
    const char *p = ps->src;
    while (s < e && is_space(p[s]))
        s++;
    while (e > s && is_space(p[e - 1]))
        e--;
    uint32_t a = s;
    while (s < e && !is_space(p[s]))
        s++;
    uint32_t alen = s - a;
    while (s < e && is_space(p[s]))
        s++;
    uint32_t b = s, blen = e - s;
    if (!alen || !blen || alen >= DELIM_MAX || blen >= DELIM_MAX || memchr(p + a, '=', alen) ||
        memchr(p + b, '=', blen))
        return parse_error(ps, KB_EPARSE, at, "bad set-delimiter tag", NULL);
    for (uint32_t k = b; k < e; k++)
        if (is_space(p[k]))
            return parse_error(ps, KB_EPARSE, at, "bad set-delimiter tag", NULL);
    memcpy(otag, p + a, alen);
    *olen = alen;
    memcpy(ctag, p + b, blen);
    *clen = blen;
    return KB_OK;
}

static enum kb_err tokenize(struct parser *ps)
{
    const char *src = ps->src;
    char otag[DELIM_MAX] = "{{", ctag[DELIM_MAX] = "}}", close[DELIM_MAX + 1];
    size_t olen = 2, clen = 2;
    uint32_t p = 0;
    enum kb_err err = KB_OK;
    while (!err && p < ps->n) {
        const char *q = memmem(src + p, ps->n - p, otag, olen);
        uint32_t at = q ? (uint32_t)(q - src) : ps->n;
        err = add_text(ps, p, at);
        if (err || !q)
            break;
        uint32_t s = at + (uint32_t)olen;
        while (s < ps->n && is_space(src[s]))
            s++;
        struct tok t = {.start = at, .kind = 'v', .match = NONE};
        if (s < ps->n && src[s] && strchr("#^/!=><$&{", src[s]))
            t.kind = src[s++];
        const char *end;
        size_t endlen = clen;
        if (t.kind == '{' || t.kind == '=') { /* closed by "}" or "=" then the delimiter */
            close[0] = t.kind == '{' ? '}' : '=';
            memcpy(close + 1, ctag, clen);
            endlen = clen + 1;
            end = memmem(src + s, ps->n - s, close, endlen);
        } else {
            end = memmem(src + s, ps->n - s, ctag, clen);
        }
        if (!end) {
            err = parse_error(ps, KB_EPARSE, at, "unclosed tag", NULL);
            break;
        }
        uint32_t e = (uint32_t)(end - src);
        t.end = e + (uint32_t)endlen;
        if (t.kind == '=')
            err = set_delims(ps, at, s, e, otag, &olen, ctag, &clen);
        else if (t.kind != '!')
            err = tag_name(ps, &t, s, e);
        if (!err)
            err = push_tok(ps, &t);
        p = t.end;
    }
    return err;
}

static bool is_open(char kind)
{
    return kind == '#' || kind == '^' || kind == '<' || kind == '$';
}

static enum kb_err match_tags(struct parser *ps)
{
    uint32_t stack[KB_MUSTACHE_MAX_DEPTH];
    size_t depth = 0;
    for (uint32_t i = 0; i < ps->ntok; i++) {
        struct tok *t = &ps->tok[i];
        if (is_open(t->kind)) {
            if (depth == KB_MUSTACHE_MAX_DEPTH)
                return parse_error(ps, KB_EDEPTH, t->start, "sections nested too deep at", t);
            t->arg = t->kind == '$' && depth && ps->tok[stack[depth - 1]].kind == '<';
            stack[depth++] = i;
        } else if (t->kind == '/') {
            if (!depth)
                return parse_error(ps, KB_EPARSE, t->start, "closing tag without opening tag",
                                   t);
            struct tok *o = &ps->tok[stack[depth - 1]];
            if (o->nname != t->nname || memcmp(ps->src + o->name, ps->src + t->name, t->nname)) {
                parse_error(ps, KB_EPARSE, t->start, "closing tag", t);
                size_t k = strlen(ps->m->err);
                snprintf(ps->m->err + k, sizeof ps->m->err - k, " does not match '%.*s'",
                         (int)o->nname, ps->src + o->name);
                return KB_EPARSE;
            }
            o->match = i;
            t->match = stack[--depth];
        }
    }
    if (depth) {
        const struct tok *o = &ps->tok[stack[depth - 1]];
        return parse_error(ps, KB_EPARSE, o->start, "unclosed section", o);
    }
    return KB_OK;
}

static bool eol_text(const struct parser *ps, uint32_t i)
{
    return ps->tok[i].kind == T_TEXT && ps->tok[i].eol;
}

/* True when only blanks precede tag i on its line; *ws is then the blank token or NONE. */
static bool left_clear(const struct parser *ps, uint32_t i, uint32_t *ws)
{
    *ws = NONE;
    if (i == 0 || eol_text(ps, i - 1))
        return true;
    const struct tok *t = &ps->tok[i - 1];
    if (t->kind != T_TEXT || !t->ws)
        return false;
    if (i - 1 == 0 || eol_text(ps, i - 2)) {
        *ws = i - 1;
        return true;
    }
    return false;
}

/* True when only blanks follow tag i on its line (then a line end or the end of the
 * template); *ws is then the blank token (line end included) or NONE. */
static bool right_clear(const struct parser *ps, uint32_t i, uint32_t *ws)
{
    *ws = NONE;
    if (i + 1 == ps->ntok)
        return true;
    const struct tok *t = &ps->tok[i + 1];
    if (t->kind != T_TEXT || !t->ws)
        return false;
    if (t->eol || i + 2 == ps->ntok) {
        *ws = i + 1;
        return true;
    }
    return false;
}

static void drop(struct parser *ps, uint32_t i)
{
    if (i != NONE)
        ps->tok[i].drop = 1;
}

/* Tag t takes the blanks of token ws (after its stripped head) as indentation. */
static void take_indent(struct parser *ps, struct tok *t, uint32_t ws)
{
    if (ws == NONE)
        return;
    const struct tok *w = &ps->tok[ws];
    t->ind = w->start + w->head;
    t->nind = w->end - t->ind;
}

/* Bytes of intrinsic indentation at the start of text token t: each enclosing block's in
 * turn, outermost first, each skipped only where it occurs. */
static uint32_t strip_head(const struct parser *ps, const struct strip *st, size_t nst,
                           const struct tok *t)
{
    uint32_t p = t->start, lim = t->end - t->eol;
    for (size_t k = 0; k < nst; k++)
        if (st[k].len && lim - p >= st[k].len &&
            !memcmp(ps->src + p, ps->src + st[k].off, st[k].len))
            p += st[k].len;
    return p - t->start;
}

/* Intrinsic indentation of a block whose opening tag ends its line with blank token ws: the
 * leading blanks of the next line, after the enclosing blocks' own. */
static struct strip intrinsic(const struct parser *ps, uint32_t ws, const struct strip *st,
                              size_t nst)
{
    struct strip in = {0, 0};
    if (ws == NONE || ws + 1 >= ps->ntok || ps->tok[ws + 1].kind != T_TEXT)
        return in;
    const struct tok *t = &ps->tok[ws + 1];
    uint32_t p = t->start + strip_head(ps, st, nst, t);
    in.off = p;
    while (p < t->end - t->eol && is_blank(ps->src[p]))
        p++;
    in.len = p - in.off;
    return in;
}

/* The standalone rules (see the top of the file). Needs match_tags() first. */
static void whitespace(struct parser *ps)
{
    struct strip st[KB_MUSTACHE_MAX_DEPTH]; /* intrinsic indentation of the enclosing blocks */
    size_t nst = 0;
    for (uint32_t i = 0; i < ps->ntok; i++) {
        struct tok *t = &ps->tok[i];
        uint32_t lw, rw, rw2;
        bool lc, rc;
        switch (t->kind) {
        case T_TEXT:
            if (nst && (t->start == 0 || ps->src[t->start - 1] == '\n'))
                t->head = strip_head(ps, st, nst, t);
            break;
        case '!':
        case '=':
        case '#':
        case '^':
        case '>':
            if (left_clear(ps, i, &lw) && right_clear(ps, i, &rw)) {
                if (t->kind == '>') {
                    t->standalone = 1;
                    take_indent(ps, t, lw);
                }
                drop(ps, lw);
                drop(ps, rw);
            }
            break;
        case '<':
            lc = left_clear(ps, i, &lw);
            if (lc && right_clear(ps, t->match, &rw2)) { /* a standalone element */
                t->standalone = 1;
                take_indent(ps, t, lw);
            }
            if (lc && (t->standalone || right_clear(ps, i, &rw)))
                drop(ps, lw);
            break;
        case '$': {
            struct strip in = {0, 0};
            lc = left_clear(ps, i, &lw);
            rc = right_clear(ps, i, &rw);
            if (t->arg) {
                if (rc) {
                    drop(ps, rw);
                    in = intrinsic(ps, rw, st, nst);
                }
            } else {
                if (lc && rc) {
                    drop(ps, lw);
                    drop(ps, rw);
                }
                if (lc && right_clear(ps, t->match, &rw2)) {
                    t->standalone = 1;
                    if (rc) {
                        in = intrinsic(ps, rw, st, nst);
                        t->ind = in.off;
                        t->nind = in.len;
                    } else {
                        take_indent(ps, t, lw);
                        drop(ps, lw);
                    }
                }
            }
            st[nst++] = in; /* nst < KB_MUSTACHE_MAX_DEPTH: match_tags() bounded nesting */
            break;
        }
        case '/': {
            const struct tok *o = &ps->tok[t->match];
            lc = left_clear(ps, i, &lw);
            rc = right_clear(ps, i, &rw);
            if (o->kind == '<') {
                if (rc && (o->standalone || lc))
                    drop(ps, rw);
            } else if (o->kind == '$' && o->arg) {
                if (lc)
                    drop(ps, lw);
            } else if (lc && rc) {
                drop(ps, lw);
                drop(ps, rw);
            }
            if (o->kind == '$')
                nst--;
            break;
        }
        default: /* interpolation: never standalone */
            break;
        }
    }
}

static uint32_t add_node(struct parser *ps, enum op op, const struct tok *t)
{
    uint32_t i = ps->nnode++;
    ps->node[i] = (struct node){.off = t->name, .len = t->nname, .ind = t->ind,
                                .nind = t->nind, .end = i + 1, .op = (uint8_t)op,
                                .standalone = t->standalone};
    return i;
}

/* Tokens [a, b) -> nodes. Recursion is bounded by match_tags(). */
static void build(struct parser *ps, uint32_t a, uint32_t b)
{
    for (uint32_t i = a; i < b; i++) {
        const struct tok *t = &ps->tok[i];
        uint32_t k;
        switch (t->kind) {
        case T_TEXT: {
            uint32_t off = t->start + t->head, len = t->end - off;
            if (t->drop || !len)
                break;
            struct node *last = ps->nnode ? &ps->node[ps->nnode - 1] : NULL;
            if (last && last->op == OP_TEXT && last->off + last->len == off) {
                last->len += len; /* contiguous in the source: nothing lies between */
            } else {
                k = ps->nnode++;
                ps->node[k] = (struct node){.off = off, .len = len, .end = k + 1, .op = OP_TEXT};
            }
            break;
        }
        case 'v':
            add_node(ps, OP_ETAG, t);
            break;
        case '&':
        case '{':
            add_node(ps, OP_UTAG, t);
            break;
        case '>':
            add_node(ps, OP_PARTIAL, t);
            break;
        case '#':
        case '^':
        case '$':
            k = add_node(ps, t->kind == '#' ? OP_SECTION : t->kind == '^' ? OP_INVERTED : OP_BLOCK,
                         t);
            build(ps, i + 1, t->match);
            ps->node[k].end = ps->nnode;
            i = t->match;
            break;
        case '<':
            k = add_node(ps, OP_PARENT, t);
            for (uint32_t j = i + 1; j < t->match; j++) {
                const struct tok *c = &ps->tok[j];
                if (c->kind == '$') { /* an argument; anything else here is ignored */
                    uint32_t cb = add_node(ps, OP_BLOCK, c);
                    build(ps, j + 1, c->match);
                    ps->node[cb].end = ps->nnode;
                }
                if (is_open(c->kind))
                    j = c->match;
            }
            ps->node[k].end = ps->nnode;
            i = t->match;
            break;
        default: /* comments, set delimiters; closing tags end the ranges */
            break;
        }
    }
}

enum kb_err kb_mustache_add(struct kb_mustache *m, const char *name, const char *text, size_t n)
{
    struct parser ps = {.m = m, .name = name};
    struct tmpl *t = NULL;
    enum kb_err err = KB_OK;
    size_t nname = name ? strlen(name) : 0;
    m->err[0] = 0;
    if (!nname || nname > KB_MUSTACHE_MAX_NAME) {
        snprintf(m->err, sizeof m->err, "template name empty or over %d bytes",
                 KB_MUSTACHE_MAX_NAME);
        err = KB_EINVAL;
        goto out;
    }
    if (n > KB_MUSTACHE_MAX_TEMPLATE) {
        snprintf(m->err, sizeof m->err, "%s: template over %d bytes", name,
                 KB_MUSTACHE_MAX_TEMPLATE);
        err = KB_ETOOBIG;
        goto out;
    }
    size_t valid = kb_text_utf8_prefix(text, n);
    if (valid != n) {
        size_t line = 1;
        for (size_t k = 0; k < valid; k++)
            line += text[k] == '\n';
        snprintf(m->err, sizeof m->err, "%s:%zu: invalid utf-8 or NUL", name, line);
        err = KB_EUTF8;
        goto out;
    }
    t = calloc(1, sizeof *t);
    if (t) {
        t->name = malloc(nname + 1);
        t->src = malloc(n + 1);
    }
    if (!t || !t->name || !t->src) {
        err = KB_ENOMEM;
        goto out;
    }
    memcpy(t->name, name, nname + 1);
    t->nname = nname;
    if (n)
        memcpy(t->src, text, n);
    t->src[n] = 0;

    ps.src = t->src;
    ps.n = (uint32_t)n;
    err = tokenize(&ps);
    if (!err)
        err = match_tags(&ps);
    if (err)
        goto out;
    whitespace(&ps);
    ps.node = malloc(((size_t)ps.ntok + 1) * sizeof *ps.node);
    if (!ps.node) {
        err = KB_ENOMEM;
        goto out;
    }
    build(&ps, 0, ps.ntok);
    t->node = ps.node;
    t->nnode = ps.nnode;
    ps.node = NULL;
    err = set_insert(m, t);
    if (err == KB_ETOOBIG)
        snprintf(m->err, sizeof m->err, "%s: set full (%d templates)", name,
                 KB_MUSTACHE_MAX_TEMPLATES);
    if (!err)
        t = NULL; /* owned by m */
out:
    if (err == KB_ENOMEM)
        snprintf(m->err, sizeof m->err, "%s: out of memory", name);
    free(ps.tok);
    free(ps.node);
    tmpl_free(t);
    return err;
}

enum kb_err kb_mustache_load_dir(struct kb_mustache *m, const char *dir)
{
    static const char ext[] = ".mustache";
    const size_t next = sizeof ext - 1;
    struct kb_buf path, text;
    kb_buf_init(&path, LOAD_PATH_MAX);
    kb_buf_init(&text, KB_MUSTACHE_MAX_TEMPLATE);
    enum kb_err err = KB_OK;
    m->err[0] = 0;
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(m->err, sizeof m->err, "%s: cannot open directory", dir);
        err = KB_ENOTFOUND;
        goto out;
    }
    for (;;) {
        const struct dirent *e = readdir(d);
        if (!e)
            break;
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len <= next || strcmp(e->d_name + len - next, ext))
            continue;
        kb_buf_clear(&path);
        err = kb_buf_printf(&path, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (!err && (stat(path.data, &sb) || !S_ISREG(sb.st_mode)))
            continue;
        if (!err) {
            kb_buf_clear(&text);
            err = kb_buf_append_file(&text, path.data);
        }
        if (err) {
            snprintf(m->err, sizeof m->err, "%s/%s: %s", dir, e->d_name, kb_strerror(err));
            if (err == KB_ENOTFOUND)
                err = KB_EIO; /* listed but unreadable */
            goto out;
        }
        char stem[KB_MUSTACHE_MAX_NAME + 1];
        if (len - next > KB_MUSTACHE_MAX_NAME) {
            snprintf(m->err, sizeof m->err, "%s/%s: file name too long", dir, e->d_name);
            err = KB_EINVAL;
            goto out;
        }
        memcpy(stem, e->d_name, len - next);
        stem[len - next] = 0;
        err = kb_mustache_add(m, stem, text.data ? text.data : "", text.len);
        if (err)
            goto out;
    }
out:
    if (d)
        closedir(d);
    kb_buf_release(&path);
    kb_buf_release(&text);
    return err;
}

/* ---- rendering ---- */

struct frame { /* the argument blocks of a parent being rendered */
    const struct tmpl *t;
    uint32_t a, b; /* t->node[a, b): the parent's body, its argument blocks */
    const struct frame *outer;
};

struct render {
    const struct kb_mustache *m;
    struct kb_buf *out;
    size_t start; /* out->len before the render */
    size_t steps;
    unsigned depth;
    const json_t *ctx[KB_MUSTACHE_MAX_DEPTH + 1]; /* the context stack, top last */
    unsigned nctx;
    char ind[KB_MUSTACHE_MAX_INDENT];
    size_t ibase, ilen; /* current indentation: ind[ibase, ilen) */
    bool pending;       /* a template line ended: indent before the next output byte */
    size_t pbase, plen; /* ... with ind[pbase, pbase + plen) */
};

static void set_pending(struct render *r)
{
    r->pending = true;
    r->pbase = r->ibase;
    r->plen = r->ilen - r->ibase;
}

/* Before appending output: the pending indentation. */
static enum kb_err flush(struct render *r)
{
    if (!r->pending)
        return KB_OK;
    r->pending = false;
    return kb_buf_append(r->out, r->ind + r->pbase, r->plen);
}

static enum kb_err check_size(const struct render *r)
{
    return r->out->len - r->start > KB_MUSTACHE_MAX_OUTPUT ? KB_ETOOBIG : KB_OK;
}

static enum kb_err put(struct render *r, const char *p, size_t n, bool escape)
{
    if (!n)
        return KB_OK;
    enum kb_err err = flush(r);
    if (!err)
        err = escape ? kb_buf_put_html_n(r->out, p, n) : kb_buf_append(r->out, p, n);
    return err ? err : check_size(r);
}

/* Template text: each line end makes the next line start indented. */
static enum kb_err put_text(struct render *r, const char *p, size_t n)
{
    enum kb_err err = KB_OK;
    while (!err && n) {
        const char *nl = memchr(p, '\n', n);
        size_t k = nl ? (size_t)(nl - p) + 1 : n;
        err = put(r, p, k, false);
        if (nl)
            set_pending(r);
        p += k;
        n -= k;
    }
    return err;
}

/* A string value: invalid UTF-8 and NUL become U+FFFD. */
static enum kb_err put_string(struct render *r, const char *s, size_t n, bool escape)
{
    enum kb_err err = KB_OK;
    while (!err && n) {
        size_t k = kb_text_utf8_prefix(s, n);
        err = put(r, s, k, escape);
        if (err || k == n)
            break;
        err = put(r, "\xEF\xBF\xBD", 3, false);
        s += k + 1;
        n -= k + 1;
    }
    return err;
}

static enum kb_err put_value(struct render *r, const json_t *v, bool escape)
{
    char b[40];
    int k = 0;
    if (!v)
        return KB_OK;
    switch (json_typeof(v)) {
    case JSON_STRING:
        return put_string(r, json_string_value(v), json_string_length(v), escape);
    case JSON_INTEGER:
        k = snprintf(b, sizeof b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL: { /* the shortest form that reads back as the same double */
        double d = json_real_value(v);
        for (int prec = 1; prec <= 17; prec++) {
            k = snprintf(b, sizeof b, "%.*g", prec, d);
            if (strtod(b, NULL) == d)
                break;
        }
        break;
    }
    case JSON_TRUE:
        return put(r, "true", 4, false);
    case JSON_FALSE:
        return put(r, "false", 5, false);
    default: /* null, objects, lists */
        return KB_OK;
    }
    return k > 0 && (size_t)k < sizeof b ? put(r, b, (size_t)k, false) : KB_EINTERNAL;
}

/* The specification's `!!data`, for JSON. */
static bool truthy(const json_t *v)
{
    if (!v)
        return false;
    switch (json_typeof(v)) {
    case JSON_NULL:
    case JSON_FALSE:
        return false;
    case JSON_ARRAY:
        return json_array_size(v) > 0;
    case JSON_STRING:
        return json_string_length(v) > 0;
    case JSON_INTEGER:
        return json_integer_value(v) != 0;
    case JSON_REAL:
        return json_real_value(v) != 0.0;
    default:
        return true;
    }
}

/* Name resolution: "." is the top of the context stack; else the first part of a dotted
 * name is looked up from the top of the stack down (objects only), the other parts each in
 * the previous result alone. NULL when any part is missing. */
static const json_t *lookup(const struct render *r, const char *name, size_t n)
{
    if (n == 1 && name[0] == '.')
        return r->ctx[r->nctx - 1];
    const char *dot = memchr(name, '.', n);
    size_t k = dot ? (size_t)(dot - name) : n;
    const json_t *v = NULL;
    for (unsigned i = r->nctx; i > 0 && !v; i--)
        if (json_is_object(r->ctx[i - 1]))
            v = json_object_getn(r->ctx[i - 1], name, k);
    while (v && dot) {
        n -= k + 1;
        name = dot + 1;
        dot = memchr(name, '.', n);
        k = dot ? (size_t)(dot - name) : n;
        v = json_is_object(v) ? json_object_getn(v, name, k) : NULL;
    }
    return v;
}

static enum kb_err render_range(struct render *r, const struct tmpl *t, uint32_t a, uint32_t b,
                                const struct frame *env);

/* A section's body once, with v (if any) pushed on the context stack. */
static enum kb_err nest(struct render *r, const struct tmpl *t, uint32_t a, uint32_t b,
                        const struct frame *env, const json_t *v)
{
    if (r->depth >= KB_MUSTACHE_MAX_DEPTH)
        return KB_EDEPTH;
    if (++r->steps > KB_MUSTACHE_MAX_STEPS)
        return KB_ETOOBIG;
    r->depth++;
    if (v)
        r->ctx[r->nctx++] = v; /* nctx <= depth + 1 */
    enum kb_err err = render_range(r, t, a, b, env);
    if (v)
        r->nctx--;
    r->depth--;
    return err;
}

static enum kb_err section(struct render *r, const struct tmpl *t, uint32_t i,
                           const struct frame *env)
{
    const struct node *nd = &t->node[i];
    const json_t *v = lookup(r, t->src + nd->off, nd->len);
    enum kb_err err = KB_OK;
    if (nd->op == OP_INVERTED)
        return truthy(v) ? KB_OK : nest(r, t, i + 1, nd->end, env, NULL);
    if (!truthy(v))
        return KB_OK;
    if (!json_is_array(v))
        return nest(r, t, i + 1, nd->end, env, v);
    for (size_t k = 0; !err && k < json_array_size(v); k++)
        err = nest(r, t, i + 1, nd->end, env, json_array_get(v, k));
    return err;
}

/* Nodes [a, b) of t as a unit of lines: a partial, a parent, or a block's content, called
 * from node `site` of template st. A standalone site indents every line by its indentation;
 * an inline one starts from no indentation (keep false: another template's lines) or keeps
 * the current one (keep true: a block's lines). */
static enum kb_err expand(struct render *r, const struct tmpl *t, uint32_t a, uint32_t b,
                          const struct frame *env, const struct tmpl *st,
                          const struct node *site, bool keep)
{
    size_t ibase = r->ibase, ilen = r->ilen;
    enum kb_err err = KB_OK;
    if (r->depth >= KB_MUSTACHE_MAX_DEPTH)
        return KB_EDEPTH;
    r->depth++;
    if (site->standalone) {
        if (site->nind > sizeof r->ind - r->ilen) {
            err = KB_ETOOBIG;
            goto out;
        }
        memcpy(r->ind + r->ilen, st->src + site->ind, site->nind);
        r->ilen += site->nind;
        set_pending(r);
    } else if (!keep) {
        r->ibase = r->ilen;
    }
    err = render_range(r, t, a, b, env);
    r->ibase = ibase;
    r->ilen = ilen;
    if (site->standalone && r->pending)
        set_pending(r); /* the next line is the caller's */
out:
    r->depth--;
    return err;
}

/* A $ block: the argument of the outermost parent frame that has one, else its default. */
static enum kb_err block(struct render *r, const struct tmpl *t, uint32_t i,
                         const struct frame *env)
{
    const struct node *nd = &t->node[i];
    const struct frame *found = NULL;
    uint32_t fk = 0;
    for (const struct frame *f = env; f; f = f->outer) {
        for (uint32_t k = f->a; k < f->b; k = f->t->node[k].end) {
            const struct node *c = &f->t->node[k];
            if (!name_cmp(f->t->src + c->off, c->len, t->src + nd->off, nd->len)) {
                found = f;
                fk = k;
                break;
            }
        }
    }
    if (found)
        return expand(r, found->t, fk + 1, found->t->node[fk].end, found, t, nd, true);
    return expand(r, t, i + 1, nd->end, env, t, nd, true);
}

static enum kb_err render_range(struct render *r, const struct tmpl *t, uint32_t a, uint32_t b,
                                const struct frame *env)
{
    enum kb_err err = KB_OK;
    uint32_t i = a;
    while (!err && i < b) {
        const struct node *nd = &t->node[i];
        const char *s = t->src + nd->off;
        const struct tmpl *p;
        if (++r->steps > KB_MUSTACHE_MAX_STEPS)
            return KB_ETOOBIG;
        switch (nd->op) {
        case OP_TEXT:
            err = put_text(r, s, nd->len);
            break;
        case OP_ETAG:
        case OP_UTAG:
            err = put_value(r, lookup(r, s, nd->len), nd->op == OP_ETAG);
            break;
        case OP_SECTION:
        case OP_INVERTED:
            err = section(r, t, i, env);
            break;
        case OP_PARTIAL:
            p = set_find(r->m, s, nd->len);
            if (p)
                err = expand(r, p, 0, p->nnode, env, t, nd, false);
            break;
        case OP_PARENT:
            p = set_find(r->m, s, nd->len);
            if (p) {
                const struct frame f = {t, i + 1, nd->end, env};
                err = expand(r, p, 0, p->nnode, &f, t, nd, false);
            }
            break;
        case OP_BLOCK:
            err = block(r, t, i, env);
            break;
        default:
            err = KB_EINTERNAL;
            break;
        }
        i = nd->end;
    }
    return err;
}

enum kb_err kb_mustache_render(const struct kb_mustache *m, const char *name, const json_t *data,
                               struct kb_buf *out)
{
    const struct tmpl *t = set_find(m, name, strlen(name));
    if (!t)
        return KB_ENOTFOUND;
    struct render r = {.m = m, .out = out, .start = out->len, .nctx = 1};
    r.ctx[0] = data;
    enum kb_err err = render_range(&r, t, 0, t->nnode, NULL);
    if (err) { /* all or nothing: the caller's buffer as it was */
        out->len = r.start;
        if (out->data)
            out->data[out->len] = 0;
    }
    return err;
}
