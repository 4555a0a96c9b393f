/* kb/err.h: the one error enum shared by every library of kb (kb/, search/, bot/).
 *
 * Fallible functions return enum kb_err; KB_OK is zero so `if (err)` reads naturally.
 * kb_strerror() gives a short lowercase description, never NULL. */
#ifndef KB_ERR_H
#define KB_ERR_H

enum kb_err {
    KB_OK = 0,       /* success */
    KB_ENOMEM,       /* allocation failed */
    KB_EINVAL,       /* invalid argument or malformed input */
    KB_ETOOBIG,      /* input over a fixed size limit */
    KB_ENOTFOUND,    /* no such article, user, file, rule ... */
    KB_EIO,          /* read or write failed (file, socket) */
    KB_EDB,          /* SQLite reported an error */
    KB_EINDEX,       /* the search index (Xapian) reported an error */
    KB_EPARSE,       /* syntax error in a file (front matter, Markdown, RiveScript) */
    KB_EEXISTS,      /* already exists (slug taken, user exists) */
    KB_EDENIED,      /* not allowed (audience, authentication) */
    KB_EBUSY,        /* resource locked by another writer */
    KB_EDEPTH,       /* recursion or nesting limit reached */
    KB_EUTF8,        /* invalid UTF-8 */
    KB_EINTERNAL,    /* a bug: an invariant did not hold */
    KB_ERR_COUNT
};

/* Short lowercase description of err; a static string, never NULL. */
const char *kb_strerror(enum kb_err err);

#define KB_MUST_CHECK __attribute__((warn_unused_result))

/* Deliberately ignore a KB_MUST_CHECK result (GCC does not accept a (void) cast for that):
 * for best-effort work whose failure the caller has no better answer to, say why nearby. */
#define KB_IGNORE(expr)                                                                       \
    do {                                                                                      \
        if (expr) {                                                                           \
        }                                                                                     \
    } while (0)

#endif
