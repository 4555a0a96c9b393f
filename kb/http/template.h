/* kb/http/template.h: minimal HTML templates: literal text with {{name}} slots. A slot's value is
 * inserted as given: callers pass text they already escaped (kb_buf_put_html) or HTML they
 * built, never raw user input. Unknown names render as nothing. */
#ifndef KB_TEMPLATE_H
#define KB_TEMPLATE_H

#include "kb/base/buf.h"
#include "kb/base/err.h"

struct kb_template; /* opaque: the parsed file */

/* Read and parse the file at path. *out owned by the caller (kb_template_free). */
enum kb_err kb_template_load(const char *path, struct kb_template **out) KB_MUST_CHECK;
void kb_template_free(struct kb_template *t); /* no-op on NULL */

/* A slot value: name -> pre-escaped value. */
struct kb_slot {
    const char *name;
    const char *value;
};

/* Render t into out with the slots (array ending with {NULL, NULL}). */
enum kb_err kb_template_render(const struct kb_template *t, const struct kb_slot *slots,
                               struct kb_buf *out) KB_MUST_CHECK;

#endif
