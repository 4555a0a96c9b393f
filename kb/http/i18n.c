/* kb/http/i18n.c: page strings in French and English (see i18n.h). Placeholders: %s and %zu
 * where the page formats a number or the query; kept in the same order in both languages. */
#include "kb/http/i18n.h"

#include <string.h>

static const char *const fr[M_COUNT] = {
    [M_SITE] = "Aide et questions fréquentes",
    [M_TAGLINE] = "Comment pouvons-nous vous aider ?",
    [M_SEARCH] = "Rechercher",
    [M_SEARCH_LABEL] = "Rechercher dans l'aide",
    [M_PLACEHOLDER] = "Posez votre question, par exemple : rendez-vous pour l'entretien",
    [M_CATEGORIES] = "Thèmes",
    [M_MOST_VIEWED] = "Questions les plus consultées",
    [M_HOME] = "Accueil",
    [M_RESULTS_FOR] = "Résultats pour « %s »",
    [M_NO_RESULTS] = "Aucun article ne correspond à votre recherche.",
    [M_NO_RESULTS_HINT] = "Essayez avec d'autres mots, moins de mots, ou parcourez les thèmes.",
    [M_DID_YOU_MEAN] = "Vouliez-vous dire",
    [M_PREV] = "Page précédente",
    [M_NEXT] = "Page suivante",
    [M_HELPFUL] = "Cet article vous a-t-il aidé ?",
    [M_YES] = "Oui",
    [M_NO] = "Non",
    [M_THANKS] = "Merci pour votre avis !",
    [M_RELATED] = "Articles liés",
    [M_OTHER_LANGS] = "Autres langues",
    [M_NOT_FOUND] = "Page introuvable",
    [M_NOT_FOUND_TEXT] = "Cette page n'existe pas ou n'est plus publiée.",
    [M_BAD_REQUEST] = "Requête invalide",
    [M_ERROR] = "Erreur",
    [M_ERROR_TEXT] = "Le service est momentanément indisponible. Réessayez dans un instant.",
    [M_N_RESULTS] = "%zu résultats",
    [M_ONE_RESULT] = "1 résultat",
    [M_FILTER] = "Filtrer par thème",
    [M_ALL] = "Tous les thèmes",
    [M_PAGE_OF] = "Page %zu sur %zu",
    [M_UPDATED] = "Mis à jour le",
    [M_SKIP] = "Aller au contenu",
    [M_ARTICLES] = "articles",
    [M_ONE_ARTICLE] = "article",
    [M_EMPTY_CATEGORY] = "Aucun article dans ce thème pour le moment.",
    [M_BREADCRUMB] = "Fil d'Ariane",
    [M_PAGINATION] = "Pagination",
    [M_SUGGESTIONS] = "Suggestions",
    [M_CONTACT] = "Besoin d'aide ? Contactez-nous",
    [M_FOOTER] = "Service relation clients",
};

static const char *const en[M_COUNT] = {
    [M_SITE] = "Help centre and FAQ",
    [M_TAGLINE] = "How can we help you?",
    [M_SEARCH] = "Search",
    [M_SEARCH_LABEL] = "Search the help centre",
    [M_PLACEHOLDER] = "Ask your question, for example: book a service",
    [M_CATEGORIES] = "Topics",
    [M_MOST_VIEWED] = "Most viewed questions",
    [M_HOME] = "Home",
    [M_RESULTS_FOR] = "Results for “%s”",
    [M_NO_RESULTS] = "No article matches your search.",
    [M_NO_RESULTS_HINT] = "Try other words, fewer words, or browse the topics.",
    [M_DID_YOU_MEAN] = "Did you mean",
    [M_PREV] = "Previous page",
    [M_NEXT] = "Next page",
    [M_HELPFUL] = "Was this article helpful?",
    [M_YES] = "Yes",
    [M_NO] = "No",
    [M_THANKS] = "Thank you for your feedback!",
    [M_RELATED] = "Related articles",
    [M_OTHER_LANGS] = "Other languages",
    [M_NOT_FOUND] = "Page not found",
    [M_NOT_FOUND_TEXT] = "This page does not exist or is no longer published.",
    [M_BAD_REQUEST] = "Bad request",
    [M_ERROR] = "Error",
    [M_ERROR_TEXT] = "The service is temporarily unavailable. Please try again shortly.",
    [M_N_RESULTS] = "%zu results",
    [M_ONE_RESULT] = "1 result",
    [M_FILTER] = "Filter by topic",
    [M_ALL] = "All topics",
    [M_PAGE_OF] = "Page %zu of %zu",
    [M_UPDATED] = "Updated on",
    [M_SKIP] = "Skip to content",
    [M_ARTICLES] = "articles",
    [M_ONE_ARTICLE] = "article",
    [M_EMPTY_CATEGORY] = "No article in this topic yet.",
    [M_BREADCRUMB] = "Breadcrumb",
    [M_PAGINATION] = "Pagination",
    [M_SUGGESTIONS] = "Suggestions",
    [M_CONTACT] = "Need help? Contact us",
    [M_FOOTER] = "Customer relations",
};

const char *kb_i18n_lang(const char *lang)
{
    return lang && strcmp(lang, "fr") == 0 ? "fr" : "en";
}

const char *kb_i18n(const char *lang, enum kb_msg m)
{
    if ((unsigned)m >= M_COUNT)
        return "";
    const char *s = (strcmp(kb_i18n_lang(lang), "fr") == 0 ? fr : en)[m];
    return s ? s : en[m] ? en[m] : "";
}

const char *kb_i18n_lang_name(const char *lang)
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
