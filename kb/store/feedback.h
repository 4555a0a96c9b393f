/* kb/store/feedback.h: "was this helpful?" answers (table feedback, counters on articles). */
#ifndef KB_STORE_FEEDBACK_H
#define KB_STORE_FEEDBACK_H

#include <stdbool.h>
#include <stdint.h>

#include "kb/base/err.h"
#include "kb/store/store.h"

/* Record an answer for article id, in the caller's transaction (the serving writer thread's);
 * comment may be NULL. */
enum kb_err kb_store_feedback(struct kb_store *st, int64_t id, bool helpful, const char *comment) KB_MUST_CHECK;

#endif
