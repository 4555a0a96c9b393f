/* kb/err.c: descriptions of enum kb_err, table-driven. */
#include "kb/base/err.h"

static const char *const kb_err_text[KB_ERR_COUNT] = {
    [KB_OK] = "success",
    [KB_ENOMEM] = "out of memory",
    [KB_EINVAL] = "invalid argument",
    [KB_ETOOBIG] = "input too large",
    [KB_ENOTFOUND] = "not found",
    [KB_EIO] = "input/output error",
    [KB_EDB] = "database error",
    [KB_EINDEX] = "search index error",
    [KB_EPARSE] = "syntax error",
    [KB_EEXISTS] = "already exists",
    [KB_EDENIED] = "not allowed",
    [KB_EBUSY] = "resource busy",
    [KB_EDEPTH] = "nesting or recursion limit reached",
    [KB_EUTF8] = "invalid utf-8",
    [KB_EINTERNAL] = "internal error",
};

const char *kb_strerror(enum kb_err err)
{
    if ((unsigned)err >= KB_ERR_COUNT || !kb_err_text[err])
        return "unknown error";
    return kb_err_text[err];
}
