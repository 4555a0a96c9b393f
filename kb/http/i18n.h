/* kb/http/i18n.h: user-interface strings of the pages, in French and English (other page
 * languages fall back to English). Strings are plain text: escape them for HTML. */
#ifndef KB_I18N_H
#define KB_I18N_H

enum kb_msg {
    M_SITE, M_TAGLINE, M_SEARCH, M_SEARCH_LABEL, M_PLACEHOLDER, M_CATEGORIES, M_MOST_VIEWED,
    M_HOME, M_RESULTS_FOR, M_NO_RESULTS, M_NO_RESULTS_HINT, M_DID_YOU_MEAN, M_PREV, M_NEXT,
    M_HELPFUL, M_YES, M_NO, M_THANKS, M_RELATED, M_OTHER_LANGS, M_NOT_FOUND, M_NOT_FOUND_TEXT,
    M_BAD_REQUEST, M_ERROR, M_ERROR_TEXT, M_N_RESULTS, M_ONE_RESULT, M_FILTER, M_ALL,
    M_PAGE_OF, M_UPDATED, M_SKIP, M_ARTICLES, M_ONE_ARTICLE, M_EMPTY_CATEGORY, M_BREADCRUMB, M_PAGINATION,
    M_SUGGESTIONS, M_CONTACT, M_FOOTER, M_COUNT
};

/* The string for a page language ("fr", "en", ...); never NULL. */
const char *kb_i18n(const char *lang, enum kb_msg m);
/* The UI language used for lang: "fr" or "en". */
const char *kb_i18n_lang(const char *lang);
/* The language's own name ("Français", "English", "Deutsch", ...) or the code itself. */
const char *kb_i18n_lang_name(const char *lang);

#endif
