/* kb/store/rules.h: the chatbot's rules as last imported (content/bot/<lang>/NAME.rive), the
 * source `kb serve` loads its brains from. */
#ifndef KB_STORE_RULES_H
#define KB_STORE_RULES_H

#include <stdbool.h>
#include <stddef.h>

#include "kb/base/err.h"
#include "kb/store/store.h"

/* Store file `name` of language lang (all borrowed); *changed tells whether its text
 * differed from the stored one (or it is new). */
enum kb_err kb_store_rules_put(struct kb_store *st, const char *lang, const char *name,
                               const char *body, bool *changed) KB_MUST_CHECK;
/* Delete lang's files whose name is not among names (n borrowed strings): files that
 * disappeared from the folder. *removed receives how many. */
enum kb_err kb_store_rules_prune(struct kb_store *st, const char *lang, const char *const *names,
                                 size_t n, size_t *removed) KB_MUST_CHECK;
/* Call fn for every stored file, by language then name (strings borrowed for the call);
 * stops at the first error fn returns. */
enum kb_err kb_store_rules_each(struct kb_store *st,
                                enum kb_err (*fn)(void *ud, const char *lang, const char *name,
                                                  const char *body),
                                void *ud) KB_MUST_CHECK;
/* A hex digest of every (language, name, content) stored: it changes whenever the rules do,
 * so that a server notices an import. out holds 65 bytes. */
enum kb_err kb_store_rules_fingerprint(struct kb_store *st, char out[65]) KB_MUST_CHECK;

#endif
