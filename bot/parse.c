/* bot/parse.c: RiveScript text -> the brain's topics, triggers and definitions.
 *
 * The parser never gives up on a source: a faulty line (or a faulty trigger with its
 * replies) is reported with file and line and skipped, the rest loads, as editors expect
 * from `kb check`. Where the WD allows a correction (upper case or sentence punctuation in
 * a trigger), the parser corrects and warns. Only running out of memory fails. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot/brain.h"
#include "kb/base/text.h"

#define DEF_SEP '\x1f' /* joins the ^ lines of a definition (arrays split on it) */

struct pstate {
    struct bot_brain *b;
    const char *file;
    unsigned line;
    struct bot_topic *tp; /* current topic; NULL means "random" not yet created */
    char topic[128];
    const char *concat;
    struct bot_trig *cur;
    bool skipping; /* the current trigger was rejected: drop its reply lines quietly */
    char *object;  /* inside "> object NAME LANG" */
    unsigned open_line;
};

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\r')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = 0;
    return s;
}

static enum kb_err push_str(char ***arr, size_t *n, const char *s)
{
    char **na = realloc(*arr, (*n + 1) * sizeof *na);
    if (!na)
        return KB_ENOMEM;
    *arr = na;
    na[*n] = strdup(s);
    if (!na[*n])
        return KB_ENOMEM;
    (*n)++;
    return KB_OK;
}

/* Diagnostics at the line being parsed. */
#define perr(p, ...) bot_diag((p)->b, BOT_DIAG_ERROR, (p)->file, (p)->line, __VA_ARGS__)
#define pwarn(p, ...) bot_diag((p)->b, BOT_DIAG_WARNING, (p)->file, (p)->line, __VA_ARGS__)

/* "! type name = value". */
static enum kb_err parse_def(struct pstate *p, char *body)
{
    struct bot_brain *b = p->b;
    char *eq = strchr(body, '=');
    if (!eq) {
        perr(p, "definition without '=': \"! %s\"", body);
        return KB_OK;
    }
    *eq = 0;
    char *lhs = trim(body), *val = trim(eq + 1);
    char *sp = strpbrk(lhs, " \t");
    char *name = sp ? trim(sp + 1) : (char *)"";
    if (sp)
        *sp = 0;
    if (strcmp(lhs, "version") == 0) {
        if (strtod(val, NULL) >= 3.0)
            perr(p, "unsupported RiveScript version %s (this interpreter reads 2.x)", val);
        return KB_OK;
    }
    if (strcmp(lhs, "local") == 0) {
        /* "! local concat = none|space|newline": the rest of this source only */
        if (strcmp(name, "concat") == 0)
            p->concat = strcmp(val, "space") == 0 ? " " : strcmp(val, "newline") == 0 ? "\n" : "";
        else
            pwarn(p, "unknown local option \"%s\"", name);
        return KB_OK;
    }
    if (!*name) {
        perr(p, "definition \"! %s\" needs a name", lhs);
        return KB_OK;
    }
    bool undef = strcmp(val, "<undef>") == 0;
    if (strcmp(lhs, "array") != 0)
        for (char *q = val; *q; q++)
            if (*q == DEF_SEP)
                *q = ' ';
    struct bot_kvs *m = strcmp(lhs, "var") == 0      ? &b->bot
                        : strcmp(lhs, "global") == 0 ? &b->global
                        : strcmp(lhs, "sub") == 0    ? &b->sub
                        : strcmp(lhs, "person") == 0 ? &b->person
                        : strcmp(lhs, "array") == 0  ? &b->arrays
                                                     : NULL;
    if (!m) {
        perr(p, "unknown definition type \"%s\"", lhs);
        return KB_OK;
    }
    char *key = NULL;
    if (m == &b->sub || m == &b->person) {
        /* substitutions apply to folded messages: fold their keys the same way */
        key = bot_fold(b, name);
        if (!key)
            return KB_ENOMEM;
        name = key;
    }
    enum kb_err e = KB_OK;
    if (undef)
        bot_kvs_del(m, name);
    else if (m == &b->arrays) {
        /* Items are stored "a|b|c". Each ^ line splits on its own terms: pipes when it has
         * any, else spaces (the WD's rule for single- and multi-word items). */
        for (char *part = val; part;) {
            char *pe = strchr(part, DEF_SEP);
            if (pe)
                *pe = 0;
            bool pipes = strchr(part, '|') != NULL;
            for (char *q = part; *q; q++)
                if (*q == ' ' && !pipes)
                    *q = '|';
            if (pe)
                *pe = '|';
            part = pe ? pe + 1 : NULL;
        }
        char *folded = bot_fold(b, val);
        char *items = folded ? bot_key_string(b, folded) : NULL;
        e = items ? bot_kvs_set(m, name, items) : KB_ENOMEM;
        free(folded);
        free(items);
    } else
        e = bot_kvs_set(m, name, val);
    free(key);
    return e;
}

/* "> topic NAME [includes A B] [inherits C]", "> begin", "> object NAME LANG". */
static enum kb_err parse_label(struct pstate *p, char *body)
{
    char *save = NULL;
    char *kind = strtok_r(body, " \t", &save);
    char *name = strtok_r(NULL, " \t", &save);
    p->cur = NULL;
    p->skipping = false;
    if (!kind) {
        perr(p, "empty label%s", "");
        return KB_OK;
    }
    if (p->tp && strcmp(p->topic, "random") != 0)
        pwarn(p, "label opened inside topic \"%s\" that was not closed", p->topic);
    p->open_line = p->line;
    if (strcmp(kind, "begin") == 0) {
        snprintf(p->topic, sizeof p->topic, "__begin__");
    } else if (strcmp(kind, "topic") == 0) {
        if (!name) {
            perr(p, "topic without a name%s", "");
            snprintf(p->topic, sizeof p->topic, "random");
        } else {
            char *f = bot_fold(p->b, name);
            if (!f)
                return KB_ENOMEM;
            if (strcmp(f, name) != 0)
                pwarn(p, "topic names are lower case: \"%s\" is read in lower case", name);
            snprintf(p->topic, sizeof p->topic, "%s", f);
            free(f);
        }
    } else if (strcmp(kind, "object") == 0) {
        char *lang = strtok_r(NULL, " \t", &save);
        p->object = strdup(name ? name : "");
        if (!p->object)
            return KB_ENOMEM;
        if (!name || !lang)
            perr(p, "object without a name and a language: \"> object%s\"", "");
        else
            bot_diag(p->b, BOT_DIAG_WARNING, p->file, p->line,
                     "object \"%s\" is written in %s, which this interpreter does not run: "
                     "<call>%s</call> answers with a macro the host program registers, or "
                     "[ERR: Object Not Found]", name, lang, name);
        return KB_OK;
    } else {
        perr(p, "unknown label \"> %s\" (begin, topic or object)", kind);
        snprintf(p->topic, sizeof p->topic, "random");
    }
    p->tp = bot_topic_get(p->b, p->topic, true);
    if (!p->tp)
        return KB_ENOMEM;
    if (strcmp(kind, "topic") != 0)
        return KB_OK;
    char ***list = NULL;
    size_t *n = NULL;
    for (char *w = strtok_r(NULL, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
        if (strcmp(w, "includes") == 0) {
            list = &p->tp->incl;
            n = &p->tp->nincl;
        } else if (strcmp(w, "inherits") == 0) {
            list = &p->tp->inh;
            n = &p->tp->ninh;
        } else if (!list) {
            perr(p, "unexpected \"%s\" in topic label (expected includes or inherits)", w);
        } else {
            char *f = bot_fold(p->b, w);
            enum kb_err e = f ? push_str(list, n, f) : KB_ENOMEM;
            free(f);
            if (e)
                return e;
        }
    }
    return KB_OK;
}

/* Checks brackets of a trigger: every ( [ { < closed in order. */
static const char *unbalanced(const char *s)
{
    char stack[64];
    size_t n = 0;
    for (; *s; s++) {
        const char *o = strchr("([{<", *s), *c = strchr(")]}>", *s);
        if (*s && o) {
            if (n == sizeof stack)
                return "brackets nested too deep";
            stack[n++] = *s;
        } else if (*s && c) {
            char want = "([{<"[c - ")]}>"];
            if (!n || stack[n - 1] != want)
                return "unbalanced brackets";
            n--;
        }
    }
    return n ? "unbalanced brackets" : NULL;
}

/* Folds and checks trigger (or %previous) text; NULL with *bad set when it is rejected. */
static char *clean_pattern(struct pstate *p, char *text, bool *bad)
{
    *bad = false;
    const char *why = unbalanced(text);
    if (why) {
        bot_diag(p->b, BOT_DIAG_ERROR, p->file, p->line, "trigger \"%s\": %s", text, why);
        *bad = true;
        return NULL;
    }
    if (!(p->b->flags & BOT_UTF8)) {
        for (const char *q = text; *q; q++)
            if ((unsigned char)*q >= 0x80 || strchr("'\".,!?;:\\/", *q)) {
                perr(p, "trigger \"%s\": only letters a-z, digits, spaces and ( | ) [ ] * _ # @ "
                        "{ } < > = are allowed outside UTF-8 mode", text);
                *bad = true;
                return NULL;
            }
    }
    char *f = bot_fold(p->b, text);
    if (!f)
        return NULL;
    if (strcmp(f, text) != 0 && !strstr(text, "<"))
        pwarn(p, "trigger \"%s\" has capitals: triggers are matched in lower case", text);
    /* Messages lose sentence punctuation before matching, so a trigger keeping any could
     * never match: drop it, and say so. Tags (<get x>) are left alone. */
    bool punct = false;
    char *d = f;
    int angle = 0;
    for (char *q = f; *q; q++) {
        angle += *q == '<';
        angle -= *q == '>';
        if (!angle && strchr(".,!?;:", *q)) {
            punct = true;
            continue;
        }
        *d++ = *q;
    }
    *d = 0;
    if (punct)
        pwarn(p, "trigger \"%s\": punctuation removed (messages are matched without it)", text);
    /* triggers match accent-free keys of messages (see match.c) */
    char *key = bot_key_string(p->b, f);
    free(f);
    if (!key)
        return NULL;
    f = key;
    /* collapse the spaces left behind */
    d = f;
    for (char *q = f; *q; q++)
        if (*q != ' ' || (d > f && d[-1] != ' '))
            *d++ = *q;
    while (d > f && d[-1] == ' ')
        d--;
    *d = 0;
    return f;
}

/* {weight=N} anywhere in text: removed, N returned (def when absent or invalid). */
static long take_weight(struct pstate *p, char *text, long def)
{
    char *w = strstr(text, "{weight=");
    if (!w)
        return def;
    char *end = NULL;
    long n = strtol(w + 8, &end, 10);
    char *close = strchr(w, '}');
    if (!close || end != close || n <= 0) {
        pwarn(p, "invalid {weight}: \"%s\" (a whole number above zero)", w);
        n = def;
    }
    if (close)
        memmove(w, close + 1, strlen(close + 1) + 1);
    else
        *w = 0;
    return n;
}

static enum kb_err new_trigger(struct pstate *p, char *body)
{
    p->cur = NULL;
    p->skipping = true;
    if (!p->tp) {
        p->tp = bot_topic_get(p->b, p->topic, true);
        if (!p->tp)
            return KB_ENOMEM;
    }
    if (!*body) {
        perr(p, "empty trigger%s", "");
        return KB_OK;
    }
    long weight = take_weight(p, body, 0);
    bool bad;
    char *pat = clean_pattern(p, trim(body), &bad);
    if (!pat)
        return bad ? KB_OK : KB_ENOMEM;
    struct bot_topic *tp = p->tp;
    if (tp->n == tp->cap) {
        size_t nc = tp->cap ? tp->cap * 2 : 16;
        struct bot_trig **nt = realloc(tp->t, nc * sizeof *nt);
        if (!nt) {
            free(pat);
            return KB_ENOMEM;
        }
        tp->t = nt;
        tp->cap = nc;
    }
    struct bot_trig *t = calloc(1, sizeof *t);
    if (!t) {
        free(pat);
        return KB_ENOMEM;
    }
    t->pat = pat;
    t->weight = weight > 1000000 ? 1000000 : (int)weight;
    t->file = bot_intern_file(p->b, p->file);
    t->line = p->line;
    t->order = p->b->seq++;
    t->topic = tp;
    tp->t[tp->n++] = t;
    p->cur = t;
    p->skipping = false;
    p->b->sorted = false;
    return KB_OK;
}

static enum kb_err trigger_line(struct pstate *p, char cmd, char *body)
{
    struct bot_trig *t = p->cur;
    if (!t) {
        if (!p->skipping)
            bot_diag(p->b, BOT_DIAG_ERROR, p->file, p->line, "'%c' line outside a trigger", cmd);
        return KB_OK;
    }
    switch (cmd) {
    case '-': {
        long w = take_weight(p, body, 1);
        struct bot_rtext *nr = realloc(t->rep, (t->nrep + 1) * sizeof *nr);
        if (!nr)
            return KB_ENOMEM;
        t->rep = nr;
        nr[t->nrep].text = strdup(body);
        if (!nr[t->nrep].text)
            return KB_ENOMEM;
        nr[t->nrep].weight = w > 10000 ? 10000u : (unsigned)w;
        t->wsum += nr[t->nrep].weight;
        t->nrep++;
        return KB_OK;
    }
    case '*': {
        char *arrow = strstr(body, "=>");
        bool op = false;
        static const char *const ops[] = {" == ", " eq ", " != ", " ne ", " <> ",
                                          " < ",  " <= ", " > ",  " >= "};
        for (size_t i = 0; arrow && i < sizeof ops / sizeof *ops; i++) {
            const char *o = strstr(body, ops[i]);
            op |= o && o < arrow;
        }
        if (!arrow || !op) {
            perr(p, "condition \"%s\" is not \"value op value => reply\" (op: == eq != ne <> < "
                    "<= > >=)", body);
            return KB_OK;
        }
        return push_str(&t->cond, &t->ncond, body);
    }
    case '%': {
        if (t->prev)
            pwarn(p, "second %%previous for one trigger: the last one counts%s", "");
        bool bad;
        char *f = clean_pattern(p, body, &bad);
        if (!f)
            return bad ? KB_OK : KB_ENOMEM;
        free(t->prev);
        t->prev = f;
        return KB_OK;
    }
    case '@':
        if (t->redirect)
            pwarn(p, "second @redirect for one trigger: the last one counts%s", "");
        free(t->redirect);
        t->redirect = strdup(body);
        return t->redirect ? KB_OK : KB_ENOMEM;
    }
    return KB_OK;
}

/* Cuts an inline " // comment" (a "\//" stays text). */
static void strip_comment(char *s)
{
    for (char *c = strstr(s, "//"); c; c = strstr(c + 2, "//"))
        if (c > s && (c[-1] == ' ' || c[-1] == '\t') && c[-2] != '\\') {
            *c = 0;
            return;
        }
}

enum kb_err bot_brain_stream(struct bot_brain *b, const char *text, const char *name)
{
    enum kb_err err = KB_OK;
    struct pstate p = {.b = b, .file = name ? name : "stream", .concat = ""};
    snprintf(p.topic, sizeof p.topic, "random");
    size_t len = strlen(text);
    char *copy = malloc(len + 1);
    char **lines = NULL;
    size_t nl = 0;
    struct kb_buf logical;
    kb_buf_init(&logical, BOT_OUT_MAX);
    if (!copy)
        return KB_ENOMEM;
    memcpy(copy, text, len + 1);
    nl = 1;
    for (char *q = copy; *q; q++)
        nl += *q == '\n';
    lines = malloc(nl * sizeof *lines);
    if (!lines) {
        free(copy);
        return KB_ENOMEM;
    }
    nl = 0;
    for (char *q = copy, *start = copy;; q++)
        if (*q == '\n' || !*q) {
            bool end = !*q;
            *q = 0;
            lines[nl++] = start;
            start = q + 1;
            if (end)
                break;
        }
    bool comment = false;
    for (size_t i = 0; i < nl && !err; i++) {
        p.line = (unsigned)i + 1;
        char *l = trim(lines[i]);
        if (!kb_text_valid_utf8(l, strlen(l))) {
            perr(&p, "invalid UTF-8: line skipped%s", "");
            continue;
        }
        if (comment) {
            if (strstr(l, "*/"))
                comment = false;
            continue;
        }
        if (p.object) {
            if (strncmp(l, "< object", 8) == 0) {
                free(p.object);
                p.object = NULL;
            }
            continue;
        }
        if (!*l || strncmp(l, "//", 2) == 0)
            continue;
        if (strncmp(l, "/*", 2) == 0) {
            comment = strstr(l + 2, "*/") == NULL;
            continue;
        }
        char cmd = *l;
        if (!strchr("!><+-*%^@", cmd)) {
            char c[2] = {cmd, 0};
            if (cmd == '#')
                continue; /* RiveScript 1 comment, deprecated but harmless */
            perr(&p, "unknown command '%s' (a line starts with one of ! > < + - * %% ^ @ //)", c);
            continue;
        }
        if (cmd == '^') {
            perr(&p, "'^' continues nothing (it must follow a command line)%s", "");
            continue;
        }
        /* Gather the ^ lines that continue this command (blank lines may sit between). */
        kb_buf_clear(&logical);
        char *body0 = trim(l + 1);
        strip_comment(body0);
        if (kb_buf_puts(&logical, trim(body0))) {
            perr(&p, "line too long%s", "");
            continue;
        }
        unsigned first = p.line;
        size_t j = i + 1;
        for (; j < nl; j++) {
            char *n = trim(lines[j]);
            if (!*n)
                continue;
            if (*n != '^' || !kb_text_valid_utf8(n, strlen(n)))
                break;
            char *nb = trim(n + 1);
            strip_comment(nb);
            const char *sep = cmd == '!' ? "\x1f" : p.concat;
            if (kb_buf_puts(&logical, sep) || kb_buf_puts(&logical, trim(nb))) {
                perr(&p, "continued line too long%s", "");
                break;
            }
        }
        i = j - 1;
        p.line = first;
        char *body = logical.data ? logical.data : (char *)"";
        switch (cmd) {
        case '!':
            err = parse_def(&p, body);
            break;
        case '>':
            err = parse_label(&p, body);
            break;
        case '<':
            if (strcmp(p.topic, "random") == 0 && !p.object)
                pwarn(&p, "'<' closes nothing%s", "");
            snprintf(p.topic, sizeof p.topic, "random");
            p.tp = NULL;
            p.cur = NULL;
            p.skipping = false;
            break;
        case '+':
            err = new_trigger(&p, body);
            break;
        default:
            err = trigger_line(&p, cmd, body);
        }
    }
    if (!err && strcmp(p.topic, "random") != 0) {
        p.line = p.open_line;
        pwarn(&p, "topic \"%s\" is not closed by '<' before the end of the file", p.topic);
    }
    if (!err && comment)
        pwarn(&p, "/* comment not closed%s", "");
    free(p.object);
    kb_buf_release(&logical);
    free(lines);
    free(copy);
    b->sorted = false;
    return err;
}
