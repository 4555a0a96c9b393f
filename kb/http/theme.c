/* kb/http/theme.c: templates and wording of the help centre (see theme.h). */
#include "kb/http/theme.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "kb/base/log.h"

#define THEME_LANGS 32

static struct kb_mustache *templates;
static json_t *strings[THEME_LANGS];
static char langs[THEME_LANGS][8];
static size_t nlangs;
static json_t *empty;

void kb_theme_free(void)
{
    kb_mustache_free(templates);
    templates = NULL;
    for (size_t i = 0; i < nlangs; i++)
        json_decref(strings[i]);
    nlangs = 0;
    json_decref(empty);
    empty = NULL;
}

/* Every DIR/i18n/<lang>.json: a JSON object of strings. */
static enum kb_err load_strings(const char *web_dir)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/i18n", web_dir);
    DIR *d = opendir(dir);
    if (!d) {
        kb_log(KB_LOG_ERROR, "cannot open %s (the theme's wording)", dir);
        return KB_ENOTFOUND;
    }
    enum kb_err err = KB_OK;
    for (struct dirent *e = readdir(d); e && !err; e = readdir(d)) {
        size_t n = strlen(e->d_name);
        if (n < 7 || n > 5 + 7 || e->d_name[0] == '.' || strcmp(e->d_name + n - 5, ".json") != 0)
            continue;
        if (nlangs == THEME_LANGS)
            break;
        char path[4096 + 300];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        json_error_t jerr;
        json_t *o = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
        if (!json_is_object(o)) {
            kb_log(KB_LOG_ERROR, "%s:%d: %s", path, jerr.line,
                   o ? "not a JSON object" : jerr.text);
            json_decref(o);
            err = KB_EPARSE;
            break;
        }
        snprintf(langs[nlangs], sizeof langs[0], "%.*s", (int)(n - 5), e->d_name);
        strings[nlangs++] = o;
    }
    closedir(d);
    return err;
}

enum kb_err kb_theme_load(const char *web_dir)
{
    kb_theme_free();
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/templates", web_dir);
    enum kb_err err = kb_mustache_new(&templates);
    if (!err && (err = kb_mustache_load_dir(templates, dir)))
        kb_log(KB_LOG_ERROR, "theme %s: %s", dir,
               err == KB_ENOTFOUND ? "cannot open the folder" : kb_mustache_error(templates));
    if (!err)
        err = load_strings(web_dir);
    if (!err && !(empty = json_object()))
        err = KB_ENOMEM;
    if (err)
        kb_theme_free();
    return err;
}

const struct kb_mustache *kb_theme_templates(void)
{
    return templates;
}

json_t *kb_theme_strings(const char *lang)
{
    for (size_t i = 0; lang && i < nlangs; i++)
        if (strcmp(langs[i], lang) == 0)
            return strings[i];
    for (size_t i = 0; i < nlangs; i++)
        if (strcmp(langs[i], "en") == 0)
            return strings[i];
    return empty;
}

const char *kb_theme_lang_name(const char *lang)
{
    static const char *const names[][2] = {
        {"fr", "Français"}, {"en", "English"},   {"de", "Deutsch"},   {"es", "Español"},
        {"it", "Italiano"}, {"pt", "Português"}, {"nl", "Nederlands"}, {"sv", "Svenska"},
        {"da", "Dansk"},    {"no", "Norsk"},     {"fi", "Suomi"},     {"ru", "Русский"},
        {"ro", "Română"},   {"hu", "Magyar"},    {"tr", "Türkçe"},    {"ar", "العربية"},
    };
    for (size_t i = 0; lang && i < sizeof names / sizeof names[0]; i++)
        if (strcmp(lang, names[i][0]) == 0)
            return names[i][1];
    return lang ? lang : "";
}
