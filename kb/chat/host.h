/* kb/chat/host.h: the object macros kb gives to the bot's rules.
 *
 *   <call>kb_search WORDS...</call>  the best public article for the words, in the
 *       conversation's language (user variable `lang`, else the bot variable `lang`):
 *       "Title: first sentences (/a/slug)", or "" when nothing matches. Sets the user
 *       variables kb_found (yes|no) and kb_slug.
 *   <call>set_lang fr|en|...</call>  sets the user variable `lang` (a language the search
 *       knows); "" on success, the unchanged language otherwise.
 *
 * "open a case" and "case status" belong to the CRM layer and are registered there. */
#ifndef KB_CHAT_HOST_H
#define KB_CHAT_HOST_H

#include "kb/base/err.h"

struct bot_brain;
struct kb_chat_host; /* opaque: a read-only store and search reader */

/* Opens the database at db_path (read-only) and its index; *out freed by the caller. */
enum kb_err kb_chat_host_open(const char *db_path, struct kb_chat_host **out) KB_MUST_CHECK;
void kb_chat_host_free(struct kb_chat_host *h); /* no-op on NULL */
/* Registers the macros on b; h must outlive b's replies. Calls into h are serialised. */
enum kb_err kb_chat_host_register(struct kb_chat_host *h, struct bot_brain *b) KB_MUST_CHECK;

#endif
