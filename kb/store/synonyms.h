/* kb/store/synonyms.h: synonym files as last imported (the index is rebuilt from them). */
#ifndef KB_STORE_SYNONYMS_H
#define KB_STORE_SYNONYMS_H

#include <stdbool.h>

#include "kb/base/err.h"
#include "kb/store/store.h"

/* Store the text of lang's file; *changed tells whether the stored text differed. */
enum kb_err kb_store_synonyms_put(struct kb_store *st, const char *lang, const char *body,
                                  bool *changed) KB_MUST_CHECK;
/* Call fn for each stored synonyms text (both strings borrowed for the call); stops at the
 * first error fn returns. */
enum kb_err kb_store_synonyms_each(struct kb_store *st,
                                   enum kb_err (*fn)(void *ud, const char *lang,
                                                     const char *body),
                                   void *ud) KB_MUST_CHECK;

#endif
