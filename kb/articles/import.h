/* kb/articles/import.h: import a folder of article files into the store (kb import), or only check
 * them (kb check). Each file is parsed on its own: a malformed file is reported as
 * "path:line: reason" and never stops the others. */
#ifndef KB_IMPORT_H
#define KB_IMPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "kb/base/err.h"
#include "kb/articles/article.h"
#include "kb/store/articles.h"

struct kb_import_report {
    size_t files;      /* *.md files found */
    size_t created, updated, unchanged, archived;
    size_t failed;     /* files reported as errors */
    size_t warnings;
    size_t synonyms;   /* synonym files whose content changed */
    double seconds;
};

/* Lets kb import index articles while it still parses the next files. planned (may be
 * NULL) is called once with the number of files found, before any is read; stored for each
 * article kb_import_dir wrote (created or updated) with what the store did, inside the
 * import's transaction. An error of either stops the import (it rolls back). */
struct kb_import_hook {
    enum kb_err (*planned)(void *ud, size_t files);
    enum kb_err (*stored)(void *ud, const struct kb_article *a, const struct kb_put_info *put);
    void *ud;
};

/* Import every *.md under dir (recursively) and dir/synonyms/<lang>.txt. With st NULL, only
 * check (nothing is written). Errors and warnings go to `out`, one line each. Articles that
 * an earlier import took from under dir and whose file disappeared are archived.
 * default_lang is used when neither the front matter nor the path gives a language. */
enum kb_err kb_import_dir(struct kb_store *st, const char *dir, const char *default_lang,
                          FILE *out, struct kb_import_report *rep,
                          const struct kb_import_hook *hook) KB_MUST_CHECK;

#endif
