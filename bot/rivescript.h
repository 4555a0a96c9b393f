/* bot/rivescript.h: public API of the RiveScript rule engine (core subset, see report).
 *
 * A brain is built by streaming sources, then sorted once; after bot_brain_sort() the rules
 * are read-only. Per-user state sits behind an internal mutex, so bot_reply() may be called
 * from several threads on one sorted brain. */
#ifndef BOT_RIVESCRIPT_H
#define BOT_RIVESCRIPT_H

#include "kb/err.h"

#define BOT_UTF8 1u /* keep non-ASCII letters in messages, fold case with utf8proc */

struct bot_brain;

/* New empty brain in *out; caller frees with bot_brain_free(). */
enum kb_err bot_brain_new(unsigned flags, struct bot_brain **out) KB_MUST_CHECK;
/* Frees b and everything it owns; NULL is a no-op. */
void bot_brain_free(struct bot_brain *b);
/* Parses RiveScript text (borrowed) named name (borrowed, for messages) into b. */
enum kb_err bot_brain_stream(struct bot_brain *b, const char *text, const char *name) KB_MUST_CHECK;
/* Sorts triggers; call once after loading and before bot_reply(). */
enum kb_err bot_brain_sort(struct bot_brain *b) KB_MUST_CHECK;
/* Reply for user to message (both borrowed); *out is malloc'd, caller frees. */
enum kb_err bot_reply(struct bot_brain *b, const char *user, const char *message,
                      char **out) KB_MUST_CHECK;
/* Sets user variable name (all borrowed) for user; "topic" also moves the user. */
enum kb_err bot_uservar_set(struct bot_brain *b, const char *user, const char *name,
                            const char *value) KB_MUST_CHECK;
/* Value of a user variable, malloc'd ("undefined" when unset), caller frees; NULL if OOM. */
char *bot_uservar_get(struct bot_brain *b, const char *user, const char *name);
/* Per-user state as JSON in *json (malloc'd, caller frees): vars, topic, history. */
enum kb_err bot_user_export(struct bot_brain *b, const char *user, char **json) KB_MUST_CHECK;
/* Restores state exported by bot_user_export (json borrowed); KB_EINVAL on bad JSON. */
enum kb_err bot_user_import(struct bot_brain *b, const char *user, const char *json) KB_MUST_CHECK;

#endif
