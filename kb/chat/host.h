/* kb/chat/host.h: the functions the bot's rules <call> (a contract for rule writers; host.c
 * documents each). In the chat, every call reaches the conversation it is made for (its
 * language, its articles, its case); `kb bot` on the terminal has no conversation, and this
 * header gives it a host of its own: a read-only store and search reader. */
#ifndef KB_CHAT_HOST_H
#define KB_CHAT_HOST_H

#include "kb/base/err.h"

struct bot_brain;
struct kb_chat_host; /* opaque: a read-only store and search reader */

/* Opens the database at db_path (read-only) and its index; *out freed by the caller. */
enum kb_err kb_chat_host_open(const char *db_path, struct kb_chat_host **out) KB_MUST_CHECK;
void kb_chat_host_free(struct kb_chat_host *h); /* no-op on NULL */
/* Registers the functions on b, before its first reply; h (NULL: no database, kb_search
 * finds nothing) must outlive b's replies. Calls into h are serialised. Without a conversation, quick does nothing, case_open answers ""
 * with case_error=unavailable and case_status answers unknown. */
enum kb_err kb_chat_host_register(struct kb_chat_host *h, struct bot_brain *b) KB_MUST_CHECK;

#endif
