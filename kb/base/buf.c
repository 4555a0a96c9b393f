/* kb/buf.c: bounded growable buffer (see buf.h). */
#include "kb/base/buf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void kb_buf_init(struct kb_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void kb_buf_release(struct kb_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void kb_buf_clear(struct kb_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = 0;
}

char *kb_buf_detach(struct kb_buf *b)
{
    char *p = b->data;
    if (!p)
        p = calloc(1, 1);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}

/* Make room for n more bytes plus the NUL. */
static enum kb_err buf_reserve(struct kb_buf *b, size_t n)
{
    if (n > b->max || b->len > b->max - n)
        return KB_ETOOBIG;
    size_t need = b->len + n + 1;
    if (need <= b->cap)
        return KB_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return KB_ENOMEM;
    b->data = p;
    b->cap = cap;
    return KB_OK;
}

enum kb_err kb_buf_append(struct kb_buf *b, const void *p, size_t n)
{
    enum kb_err err = buf_reserve(b, n);
    if (err)
        return err;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
    return KB_OK;
}

enum kb_err kb_buf_puts(struct kb_buf *b, const char *s)
{
    return kb_buf_append(b, s, strlen(s));
}

enum kb_err kb_buf_putc(struct kb_buf *b, char c)
{
    return kb_buf_append(b, &c, 1);
}

enum kb_err kb_buf_vprintf(struct kb_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return KB_EINVAL;
    enum kb_err err = buf_reserve(b, (size_t)n);
    if (err)
        return err;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return KB_OK;
}

enum kb_err kb_buf_printf(struct kb_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    enum kb_err err = kb_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return err;
}

enum kb_err kb_buf_put_html_n(struct kb_buf *b, const char *s, size_t n)
{
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        const char *ent = NULL;
        switch (s[i]) {
        case '&': ent = "&amp;"; break;
        case '<': ent = "&lt;"; break;
        case '>': ent = "&gt;"; break;
        case '"': ent = "&quot;"; break;
        case '\'': ent = "&#39;"; break;
        default: continue;
        }
        enum kb_err err = kb_buf_append(b, s + run, i - run);
        if (!err)
            err = kb_buf_puts(b, ent);
        if (err)
            return err;
        run = i + 1;
    }
    return kb_buf_append(b, s + run, n - run);
}

enum kb_err kb_buf_put_html(struct kb_buf *b, const char *s)
{
    return kb_buf_put_html_n(b, s ? s : "", s ? strlen(s) : 0);
}

enum kb_err kb_buf_put_urlenc(struct kb_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        enum kb_err err;
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            err = kb_buf_putc(b, (char)*p);
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            err = kb_buf_append(b, e, 3);
        }
        if (err)
            return err;
    }
    return KB_OK;
}

enum kb_err kb_buf_append_file(struct kb_buf *b, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return KB_ENOTFOUND;
    char chunk[65536];
    enum kb_err err = KB_OK;
    size_t k;
    while (!err && (k = fread(chunk, 1, sizeof chunk, f)) > 0)
        err = kb_buf_append(b, chunk, k);
    if (!err && ferror(f))
        err = KB_EIO;
    fclose(f);
    return err;
}
