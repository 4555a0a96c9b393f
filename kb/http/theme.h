/* kb/http/theme.h: the help centre's theme: the Mustache templates of DIR/templates and the
 * interface wording of DIR/i18n/<lang>.json, DIR being web/ or a company's copy of it
 * (kb serve --web DIR): a company restyles and rewords its help centre without a rebuild. */
#ifndef KB_HTTP_THEME_H
#define KB_HTTP_THEME_H

#include <jansson.h>

#include "kb/base/err.h"
#include "kb/http/mustache.h"

/* Load web_dir's templates and wording (replacing what was loaded). The reason of a failure
 * is logged (file, line). Not thread-safe: before serving. */
enum kb_err kb_theme_load(const char *web_dir) KB_MUST_CHECK;
void kb_theme_free(void);
/* The templates; borrowed until kb_theme_free. */
const struct kb_mustache *kb_theme_templates(void);
/* The wording for a page language: its file, else English's (a language without its own
 * interface file). Borrowed until kb_theme_free; never NULL. */
json_t *kb_theme_strings(const char *lang);
/* The language's own name ("Français", "English", "Deutsch", ...) or the code itself. */
const char *kb_theme_lang_name(const char *lang);

#endif
