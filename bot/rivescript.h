/* bot/rivescript.h: public API of the RiveScript rule engine (Working Draft 2.0).
 *
 * A brain is built by streaming sources (or loading a directory, see bot/cli.h), then
 * sorted; bot_reply() sorts on demand when sources were added since. After sorting, the
 * rules are read-only: bot_reply() may be called from several threads at once on one brain
 * (each user's state has its own lock; bot and global variables changed by tags are
 * guarded separately).
 *
 * Problems in rules go to a diagnostics callback with file and line (stderr by default):
 * errors skip the faulty line or block and loading goes on; warnings (duplicate or
 * unreachable triggers, unsupported object languages ...) change nothing.
 *
 * Object macros: `<call>name args...</call>` in a reply runs a function the host program
 * registered with bot_macro_register(); an unknown name gives "[ERR: Object Not Found]".
 * Register every macro before serving: replies read the macro table without a lock, so
 * from the first reply on bot_macro_register() refuses with KB_EBUSY. */
#ifndef BOT_RIVESCRIPT_H
#define BOT_RIVESCRIPT_H

#include <stddef.h>

#include "kb/base/err.h"

#define BOT_UTF8 1u /* keep non-ASCII letters in messages, fold case with utf8proc */

/* Limits: inputs and replies are capped so that no message or rule can make a reply cost
 * unbounded time or memory. */
#define BOT_MAX_MESSAGE (64u << 10) /* bytes of a user message (KB_ETOOBIG above) */
#define BOT_MAX_DEPTH_DEFAULT 50    /* redirects and {@} nesting; `! global depth` changes it */
#define BOT_CALL_MAX_COPIES 64      /* distinct bot_call_botvar() values in one macro call */

struct bot_brain;
struct bot_call;

enum bot_severity { BOT_DIAG_ERROR, BOT_DIAG_WARNING };

/* Receives one problem found in rules; file and msg are borrowed for the call. */
typedef void bot_diag_fn(void *ctx, enum bot_severity sev, const char *file, unsigned line,
                         const char *msg);

/* A host function behind <call>name ...</call>. argv holds the arguments (split on spaces,
 * "double quotes" group words), all borrowed. On success *out is a malloc'd text that
 * replaces the tag (NULL means empty). An error return shows "[ERR: Macro Failure]". The
 * call handle gives access to the calling user's variables while the user is locked. */
typedef enum kb_err bot_macro_fn(void *ctx, struct bot_call *call, size_t argc,
                                 const char *const *argv, char **out);

/* New empty brain in *out; caller frees with bot_brain_free(). */
enum kb_err bot_brain_new(unsigned flags, struct bot_brain **out) KB_MUST_CHECK;
/* Frees b and everything it owns; NULL is a no-op. */
void bot_brain_free(struct bot_brain *b);
/* Where diagnostics go (fn NULL: silence). Set before streaming. */
void bot_brain_set_diag(struct bot_brain *b, bot_diag_fn *fn, void *ctx);
/* Errors and warnings reported so far (parse and sort). */
unsigned bot_brain_errors(const struct bot_brain *b);
unsigned bot_brain_warnings(const struct bot_brain *b);
/* Parses RiveScript text (borrowed) named name (borrowed, for messages) into b. Syntax
 * errors are reported and skipped; only running out of memory fails. */
enum kb_err bot_brain_stream(struct bot_brain *b, const char *text, const char *name) KB_MUST_CHECK;
/* Sorts triggers per the WD (weight, topic inheritance, atomic > optionals > _ > # > *),
 * then reports duplicate and unreachable triggers. */
enum kb_err bot_brain_sort(struct bot_brain *b) KB_MUST_CHECK;
/* Registers (or replaces) macro name (borrowed, copied); fn and ctx are borrowed for the
 * brain's life. Not thread-safe against bot_reply(): replies read the macro table without a
 * lock, so every macro is registered before the brain serves (after sorting is fine). Once
 * the brain has replied (bot_reply or bot_reply_ctx, sorted and under way) it returns
 * KB_EBUSY and changes nothing, so that registering late is caught rather than racing. */
enum kb_err bot_macro_register(struct bot_brain *b, const char *name, bot_macro_fn *fn,
                               void *ctx) KB_MUST_CHECK;

/* Reply for user to message (both borrowed); *out is malloc'd, caller frees. Same as
 * bot_reply_ctx(b, user, message, NULL, out, NULL). */
enum kb_err bot_reply(struct bot_brain *b, const char *user, const char *message,
                      char **out) KB_MUST_CHECK;
/* Reply for user to message (both borrowed), like bot_reply, and in the same hold of the
 * user's lock: ctx is what macros of this reply get from bot_call_context() (borrowed, may be
 * NULL); when state is not NULL, *state receives the user's state after the reply as
 * bot_user_export would give it (malloc'd, caller frees). *out malloc'd, caller frees.
 * A host that saves each reply with the state it leaves (a chat server, several workers)
 * gets the pair another thread's reply for the same user cannot come between. On error
 * *out and *state are NULL; tags that ran before the failure may have changed the state. */
enum kb_err bot_reply_ctx(struct bot_brain *b, const char *user, const char *message,
                          void *ctx, char **out, char **state) KB_MUST_CHECK;

/* Inside a macro: the ctx given to bot_reply_ctx (NULL from bot_reply). */
void *bot_call_context(const struct bot_call *c);
/* Inside a macro: the user's id, a user variable (borrowed until the macro returns; NULL
 * when unset) and setting one. */
const char *bot_call_user(const struct bot_call *c);
const char *bot_call_get(const struct bot_call *c, const char *name);
enum kb_err bot_call_set(struct bot_call *c, const char *name, const char *value) KB_MUST_CHECK;
/* Inside a macro: the value of bot variable name (`! var`, or set by a <bot name=value> tag),
 * NULL when unset or out of memory. The text is a copy owned by the call and freed when the
 * macro returns; until then it stays valid, even when another thread's reply changes the
 * variable meanwhile (each call reads the value of that moment). Copies of equal text are
 * shared, so asking again costs nothing; past BOT_CALL_MAX_COPIES distinct values in one
 * macro call the answer is NULL. */
const char *bot_call_botvar(const struct bot_call *c, const char *name);

/* Sets user variable name (all borrowed) for user; "topic" also moves the user. */
enum kb_err bot_uservar_set(struct bot_brain *b, const char *user, const char *name,
                            const char *value) KB_MUST_CHECK;
/* Value of a user variable, malloc'd ("undefined" when unset), caller frees; NULL if OOM. */
char *bot_uservar_get(struct bot_brain *b, const char *user, const char *name);
/* Per-user state as JSON in *json (malloc'd, caller frees): vars, topic, history. */
enum kb_err bot_user_export(struct bot_brain *b, const char *user, char **json) KB_MUST_CHECK;
/* Restores state exported by bot_user_export (json borrowed); KB_EINVAL on bad JSON. */
enum kb_err bot_user_import(struct bot_brain *b, const char *user, const char *json) KB_MUST_CHECK;
/* Forgets a user's state (a finished conversation); no-op when unknown. */
void bot_user_forget(struct bot_brain *b, const char *user);
/* Number of users with state in memory, and the bytes their state takes (approximate:
 * the allocations of variables, history and the user record). */
size_t bot_user_count(struct bot_brain *b);
size_t bot_user_bytes(struct bot_brain *b);

#endif
