/* kb/buf.h: growable byte buffer with a maximum size fixed at creation.
 *
 * The bytes are always NUL-terminated (data[len] == 0) so a buffer can be used as a C string.
 * Appending past `max` fails with KB_ETOOBIG and leaves the buffer unchanged. */
#ifndef KB_BUF_H
#define KB_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "kb/base/err.h"

struct kb_buf {
    char *data;  /* NULL until the first append; owned */
    size_t len;  /* bytes used, excluding the terminating NUL */
    size_t cap;  /* bytes allocated */
    size_t max;  /* hard limit on len */
};

/* Prepare an empty buffer that may grow up to max bytes. Allocates nothing. */
void kb_buf_init(struct kb_buf *b, size_t max);
/* Free the bytes and reset to empty; the limit stays. */
void kb_buf_release(struct kb_buf *b);
/* Forget the content, keep the allocation. */
void kb_buf_clear(struct kb_buf *b);
/* Hand the bytes to the caller (free() them); the buffer becomes empty. Never NULL on success:
 * an empty buffer yields an allocated "" (NULL only when out of memory). */
char *kb_buf_detach(struct kb_buf *b);

enum kb_err kb_buf_append(struct kb_buf *b, const void *p, size_t n) KB_MUST_CHECK;
enum kb_err kb_buf_puts(struct kb_buf *b, const char *s) KB_MUST_CHECK;
enum kb_err kb_buf_putc(struct kb_buf *b, char c) KB_MUST_CHECK;
enum kb_err kb_buf_printf(struct kb_buf *b, const char *fmt, ...) KB_MUST_CHECK
    __attribute__((format(printf, 2, 3)));
enum kb_err kb_buf_vprintf(struct kb_buf *b, const char *fmt, va_list ap) KB_MUST_CHECK;
/* Append s HTML-escaped (& < > " ' become entities), for text and attribute values alike. */
enum kb_err kb_buf_put_html(struct kb_buf *b, const char *s) KB_MUST_CHECK;
enum kb_err kb_buf_put_html_n(struct kb_buf *b, const char *s, size_t n) KB_MUST_CHECK;
/* Append the whole file at path (KB_ENOTFOUND when it cannot be opened, KB_ETOOBIG past the
 * buffer's limit, KB_EIO on a read error). */
enum kb_err kb_buf_append_file(struct kb_buf *b, const char *path) KB_MUST_CHECK;
/* Append s percent-encoded for a URL query component (RFC 3986 unreserved kept). */
enum kb_err kb_buf_put_urlenc(struct kb_buf *b, const char *s) KB_MUST_CHECK;

#endif
