/* kb/http/mustache.h: Mustache templates filled from jansson data: the pages' markup lives in
 * the .mustache files of web/templates, the handlers build a json_t and render it.
 *
 * The language is the Mustache specification's (github.com/mustache/spec): interpolation
 * ({{x}} HTML-escaped; {{{x}}} and {{&x}} as they are), dotted names, the implicit iterator
 * {{.}}, sections, inverted sections, comments, partials with standalone indentation, set
 * delimiters, and the optional inheritance module ({{<parent}} with {{$block}} arguments).
 * Lambdas and dynamic names are not supported (the data are JSON: no code to call).
 *
 * Truth of a section's value, as the specification's `!!data`: false, null, a missing name,
 * 0, 0.0, "" and [] are false; a non-empty list repeats the section once per item; anything
 * else (true, other numbers and strings, objects, even {}) renders it once on top of the
 * context stack. Values print as: strings as they are (invalid UTF-8 and NUL replaced by
 * U+FFFD), integers in decimal, reals in their shortest round-trip form ("1.21"), true and
 * false as words, null, objects and lists as nothing.
 *
 * Threads: a set is built (kb_mustache_new, _add, _load_dir) by one thread; after that any
 * number of threads may call kb_mustache_render on it at once (it only reads the set). */
#ifndef KB_MUSTACHE_H
#define KB_MUSTACHE_H

#include <stddef.h>

#include <jansson.h>

#include "kb/base/buf.h"
#include "kb/base/err.h"

#define KB_MUSTACHE_MAX_TEMPLATE (1024 * 1024)    /* bytes of one template's text */
#define KB_MUSTACHE_MAX_TEMPLATES 1024            /* templates in one set */
#define KB_MUSTACHE_MAX_NAME 255                  /* bytes of a template name or a tag's name */
#define KB_MUSTACHE_MAX_DEPTH 100                 /* nesting: see below */
#define KB_MUSTACHE_MAX_INDENT 1024               /* bytes of accumulated partial indentation */
#define KB_MUSTACHE_MAX_OUTPUT (16 * 1024 * 1024) /* bytes one render may append */
#define KB_MUSTACHE_MAX_STEPS (10 * 1000 * 1000)  /* template nodes one render may visit */
/* KB_MUSTACHE_MAX_DEPTH bounds both the nesting of sections, parents and blocks inside one
 * template (deeper fails to parse with KB_EDEPTH) and, while rendering, the nesting of
 * sections, partials, parents and blocks across templates (a partial that includes itself
 * stops there with KB_EDEPTH). */

struct kb_mustache; /* opaque: a set of named, parsed templates (a template is also a partial) */

/* A new empty set. *out is owned by the caller (kb_mustache_free). */
enum kb_err kb_mustache_new(struct kb_mustache **out) KB_MUST_CHECK;
/* Free the set and every template in it; no-op on NULL. */
void kb_mustache_free(struct kb_mustache *m);

/* Parse the n bytes at text and add them to m as template `name`, replacing a template of that
 * name. text and name are copied (borrowed for the call). Errors: KB_EPARSE (syntax),
 * KB_EDEPTH (nesting over KB_MUSTACHE_MAX_DEPTH), KB_ETOOBIG (text over
 * KB_MUSTACHE_MAX_TEMPLATE, or the set is full), KB_EUTF8 (text is not UTF-8 or holds a NUL),
 * KB_EINVAL (empty or over-long name), KB_ENOMEM. On error m is unchanged and
 * kb_mustache_error() says what and where. */
enum kb_err kb_mustache_add(struct kb_mustache *m, const char *name, const char *text,
                            size_t n) KB_MUST_CHECK;

/* Add every regular file of directory dir whose name ends in ".mustache" (hidden files
 * skipped, no recursion), each named by its file name without the extension
 * ("layout.mustache" -> "layout"). Stops at the first failure: KB_ENOTFOUND when dir cannot
 * be opened, KB_EIO on a read error, else as kb_mustache_add; templates added before the
 * failure stay in m. */
enum kb_err kb_mustache_load_dir(struct kb_mustache *m, const char *dir) KB_MUST_CHECK;

/* What the last failed kb_mustache_add or kb_mustache_load_dir reported on m, as
 * "name:line: message", or "" when it succeeded. Owned by m; valid until the next call that
 * changes m. */
const char *kb_mustache_error(const struct kb_mustache *m);

/* Render template `name` of m with data (borrowed; NULL renders as an empty context) and
 * append the result to out. A missing partial or parent renders as nothing. Errors:
 * KB_ENOTFOUND (no template `name`), KB_EDEPTH (nesting over KB_MUSTACHE_MAX_DEPTH),
 * KB_ETOOBIG (output over KB_MUSTACHE_MAX_OUTPUT or out's own limit, indentation over
 * KB_MUSTACHE_MAX_INDENT, more than KB_MUSTACHE_MAX_STEPS nodes visited), KB_ENOMEM. On error
 * out is left as it was before the call. Thread-safe against other renders of m. */
enum kb_err kb_mustache_render(const struct kb_mustache *m, const char *name, const json_t *data,
                               struct kb_buf *out) KB_MUST_CHECK;

#endif
