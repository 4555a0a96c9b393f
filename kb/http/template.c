/* kb/http/template.c: {{slot}} templates (see template.h). The file is split once at load time into
 * alternating literal and slot segments, so rendering is a walk with no parsing. */
#include "kb/http/template.h"

#include <stdlib.h>
#include <string.h>

#define TEMPLATE_MAX_BYTES (256 * 1024)
#define TEMPLATE_MAX_NAME 32

struct segment {
    const char *text; /* into kb_template.src */
    size_t len;
    int slot;         /* text/len name a slot */
};

struct kb_template {
    char *src;
    struct segment *seg;
    size_t nseg;
};

void kb_template_free(struct kb_template *t)
{
    if (!t)
        return;
    free(t->src);
    free(t->seg);
    free(t);
}

static enum kb_err add_segment(struct kb_template *t, const char *p, size_t n, int slot)
{
    struct segment *s = realloc(t->seg, (t->nseg + 1) * sizeof *s);
    if (!s)
        return KB_ENOMEM;
    t->seg = s;
    t->seg[t->nseg++] = (struct segment){p, n, slot};
    return KB_OK;
}

enum kb_err kb_template_load(const char *path, struct kb_template **out)
{
    *out = NULL;
    struct kb_buf b;
    kb_buf_init(&b, TEMPLATE_MAX_BYTES);
    enum kb_err err = kb_buf_append_file(&b, path);
    struct kb_template *t = calloc(1, sizeof *t);
    if (err || !t) {
        kb_buf_release(&b);
        free(t);
        return err ? err : KB_ENOMEM;
    }
    t->src = kb_buf_detach(&b);
    const char *p = t->src;
    while (!err && p && *p) {
        const char *open = strstr(p, "{{");
        const char *close = open ? strstr(open + 2, "}}") : NULL;
        if (!open || !close || close - open - 2 > TEMPLATE_MAX_NAME) {
            /* No (well-formed) slot left: the rest is literal. */
            const char *lit_end = open && !close ? p + strlen(p) : open ? open + 2 : p + strlen(p);
            err = add_segment(t, p, (size_t)(lit_end - p), 0);
            p = lit_end;
            continue;
        }
        if (open > p)
            err = add_segment(t, p, (size_t)(open - p), 0);
        if (!err)
            err = add_segment(t, open + 2, (size_t)(close - open - 2), 1);
        p = close + 2;
    }
    if (err) {
        kb_template_free(t);
        return err;
    }
    *out = t;
    return KB_OK;
}

enum kb_err kb_template_render(const struct kb_template *t, const struct kb_slot *slots,
                               struct kb_buf *out)
{
    enum kb_err err = KB_OK;
    for (size_t i = 0; i < t->nseg && !err; i++) {
        const struct segment *s = &t->seg[i];
        if (!s->slot) {
            err = kb_buf_append(out, s->text, s->len);
            continue;
        }
        for (const struct kb_slot *v = slots; v->name; v++) {
            if (strlen(v->name) == s->len && memcmp(v->name, s->text, s->len) == 0) {
                err = kb_buf_puts(out, v->value ? v->value : "");
                break;
            }
        }
    }
    return err;
}
