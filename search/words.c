/* search/words.c: word splitting and stop words, shared by indexing, querying and snippets so
 * that the three always agree on what a word is. */
#include "search/internal.h"

#include <pthread.h>
#include <string.h>

#include <utf8proc.h>

static bool is_word_cp(utf8proc_int32_t cp)
{
    if (cp < 0x80)
        return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9');
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
        return true;
    default:
        return false;
    }
}

/* is_word_cp() of every code point written in one or two UTF-8 bytes (below U+0800: Latin,
 * Greek, Cyrillic, Hebrew, Arabic...), filled once. Every search splits the text of its
 * snippets, and decoding plus utf8proc_category() per character was most of that time. */
static bool short_word[0x800];
/* Per byte: 0 an ASCII separator, 1 an ASCII word character, 2 the start of anything else. */
static unsigned char byte_class[256];
static pthread_once_t short_once = PTHREAD_ONCE_INIT;

static void short_init(void)
{
    for (utf8proc_int32_t cp = 0; cp < 0x800; cp++)
        short_word[cp] = is_word_cp(cp);
    for (int c = 0; c < 256; c++)
        byte_class[c] = c >= 0x80 ? 2 : short_word[c];
}

/* Whether the character at p[i] (i < n) is a word character; *k receives its length. Invalid
 * UTF-8 bytes are one-byte separators. */
static bool word_char_at(const unsigned char *p, size_t i, size_t n, size_t *k)
{
    unsigned c = p[i];
    if (c < 0x80) {
        *k = 1;
        return short_word[c];
    }
    if (c >= 0xc2 && c <= 0xdf && i + 1 < n && (p[i + 1] & 0xc0) == 0x80) {
        /* A valid two-byte sequence, exactly as utf8proc_iterate() decodes it. */
        *k = 2;
        return short_word[(c & 0x1f) << 6 | (p[i + 1] & 0x3f)];
    }
    utf8proc_int32_t cp;
    utf8proc_ssize_t r = utf8proc_iterate(p + i, (utf8proc_ssize_t)(n - i), &cp);
    if (r <= 0) {
        *k = 1;
        return false;
    }
    *k = (size_t)r;
    return is_word_cp(cp);
}

/* Bytes classified per pass of search_words (bounds the stack array of boundaries). */
#define WORDS_CHUNK 1024

size_t search_words(const char *text, size_t n, struct search_span *out, size_t max)
{
    pthread_once(&short_once, short_init);
    const unsigned char *p = (const unsigned char *)text;
    size_t bound[WORDS_CHUNK];
    size_t i = 0, count = 0, start = 0;
    unsigned prev = 0;
    while (i < n) {
        /* First the offsets where the text turns from separators to a word or back, with no
         * branch but the (rare, predictable) one for non-ASCII characters: branching on
         * each word boundary mispredicted on nearly every word of real text, and that was
         * most of the splitting time. */
        size_t nb = 0, stop = n - i > WORDS_CHUNK ? i + WORDS_CHUNK : n;
        unsigned was = prev;
        while (i < stop) {
            unsigned w;
            size_t k = 1;
            if (p[i] < 0x80)
                w = byte_class[p[i]];
            else
                w = word_char_at(p, i, n, &k);
            bound[nb] = i;
            nb += w ^ prev;
            prev = w;
            i += k;
        }
        /* Then the words: boundaries alternate between a start and an end. */
        for (size_t j = 0; j < nb; j++) {
            if (was) {
                if (count < max)
                    out[count] = (struct search_span){start, bound[j] - start};
                count++;
            } else {
                start = bound[j];
            }
            was = !was;
        }
    }
    if (prev) {
        if (count < max)
            out[count] = (struct search_span){start, n - start};
        count++;
    }
    return count;
}

/* Sorted lists, folded (no accents), so bsearch works. */
static const char *const stop_fr[] = {
    "a", "afin", "ai", "as", "au", "aussi", "aux", "avec", "avoir", "ca", "ce", "ceci", "cela",
    "celle", "celui", "ces", "cet", "cette", "ceux", "combien", "comment", "d", "dans", "de",
    "deja", "des", "dois", "doit", "dont", "du", "elle", "en", "es", "est", "et", "etc", "ete",
    "etes", "etre", "faut", "il", "ils", "j", "je", "l", "la", "le", "les", "leur", "leurs",
    "lorsque", "lui", "m", "ma", "mais", "me", "mes", "moi", "mon", "n", "ne", "nos", "notre",
    "nous", "on", "ou", "par", "pas", "peut", "peux", "plus", "pour", "pourquoi", "puis", "qu",
    "quand", "que", "quel", "quelle", "quelles", "quels", "qui", "quoi", "s", "sa", "se", "ses",
    "sommes", "son", "sont", "suis", "sur", "t", "ta", "te", "tes", "ton", "tres", "tu", "un",
    "une", "vos", "votre", "vous", "y",
};

static const char *const stop_en[] = {
    "a", "about", "am", "an", "and", "any", "are", "as", "at", "be", "been", "being", "by", "can",
    "could", "did", "do", "does", "for", "from", "had", "has", "have", "he", "her", "him", "his",
    "how", "i", "if", "in", "is", "it", "its", "many", "me", "much", "must", "my", "of", "on", "or",
    "our", "s", "she", "should", "so", "some", "than", "that", "the", "their", "them", "then",
    "there", "these", "they", "this", "those", "to", "us", "was", "we", "were", "what", "when",
    "where", "which", "who", "why", "will", "with", "would", "you", "your",
};

/* Words of 4 letters and more too common in the language to be anyone's typo, though
 * articles rarely have them (informal questions do): the forms of the commonest verbs
 * (être, avoir, aller, faire, pouvoir, vouloir, devoir, savoir, falloir, venir, dire, voir,
 * prendre, mettre), and frequent adverbs, prepositions and pronouns. Not stop words: they
 * are searched; only never corrected ("je veux" is no typo of "je deux"). */
static const char *const common_fr[] = {
    "aient", "aies", "aille", "aillent", "ailles", "allaient", "allais", "allait", "allant",
    "alle", "allee", "allees", "aller", "alles", "allez", "alliez", "allions", "allons", "alors",
    "apres", "aucun", "aucune", "aujourd", "aupres", "aura", "aurai", "auraient", "aurais",
    "aurait", "auras", "aurez", "auriez", "aurions", "aurons", "auront", "autre", "autres",
    "avaient", "avais", "avait", "avant", "avez", "aviez", "avions", "avons", "ayant", "ayez",
    "ayons", "beaucoup", "bien", "celles", "certain", "certaine", "certaines", "certains", "cette",
    "ceux", "chaque", "chez", "comme", "contre", "demain", "depuis", "dessous", "dessus",
    "devaient", "devais", "devait", "devez", "deviez", "devions", "devoir", "devons", "devra",
    "devrai", "devraient", "devrais", "devrait", "devras", "devrez", "devriez", "devrions",
    "devrons", "devront", "dira", "dirai", "diraient", "dirais", "dirait", "diras", "direz",
    "diriez", "dirions", "dirons", "diront", "disaient", "disais", "disait", "dise", "disent",
    "dises", "disiez", "disions", "disons", "dite", "dites", "dits", "dois", "doit", "doive",
    "doivent", "doives", "donc", "dues", "encore", "entre", "etaient", "etais", "etait", "etant",
    "etes", "etiez", "etions", "eues", "faille", "faire", "fais", "faisaient", "faisais",
    "faisait", "faisant", "faisiez", "faisions", "faisons", "fait", "faite", "faites", "faits",
    "fallait", "fallu", "fasse", "fassent", "fasses", "fassiez", "fassions", "faudra", "faudrait",
    "faut", "fera", "ferai", "feraient", "ferais", "ferait", "feras", "ferez", "feriez", "ferions",
    "ferons", "feront", "font", "hier", "irai", "iraient", "irais", "irait", "iras", "irez",
    "iriez", "irions", "irons", "iront", "jamais", "laquelle", "lequel", "lesquelles", "lesquels",
    "maintenant", "malgre", "meme", "memes", "mets", "mettais", "mettait", "mette", "mettent",
    "mettez", "mettons", "mettra", "mettrai", "mettrais", "mettrait", "mieux", "mise", "mises",
    "moins", "parce", "parmi", "pendant", "peut", "peuvent", "peux", "plusieurs", "pourra",
    "pourrai", "pourraient", "pourrais", "pourrait", "pourras", "pourrez", "pourriez", "pourrions",
    "pourrons", "pourront", "pouvaient", "pouvais", "pouvait", "pouvant", "pouvez", "pouviez",
    "pouvions", "pouvoir", "pouvons", "prenais", "prenait", "prend", "prendra", "prendrai",
    "prendrais", "prendrait", "prends", "prenez", "prenne", "prennent", "prennes", "prenons",
    "pris", "prise", "prises", "puisse", "puissent", "puisses", "puissiez", "puissions", "quelqu",
    "quelque", "quelques", "quoi", "rien", "sachant", "sache", "sachent", "saches", "sachiez",
    "sachions", "sais", "sait", "sans", "saura", "saurai", "sauraient", "saurais", "saurait",
    "sauras", "saurez", "sauriez", "saurions", "saurons", "sauront", "savaient", "savais",
    "savait", "savent", "savez", "saviez", "savions", "savoir", "savons", "selon", "sera", "serai",
    "seraient", "serais", "serait", "seras", "serez", "seriez", "serions", "serons", "seront",
    "soient", "sois", "soit", "sommes", "sont", "sous", "soyez", "soyons", "suis", "tant",
    "tellement", "toujours", "tous", "tout", "toute", "toutes", "trop", "vais", "venaient",
    "venais", "venait", "venant", "venez", "veniez", "venions", "venir", "venons", "venu", "venue",
    "venues", "venus", "verra", "verrai", "verrais", "verrait", "vers", "veuille", "veuillent",
    "veuilles", "veuillez", "veulent", "veut", "veux", "viendra", "viendrai", "viendraient",
    "viendrais", "viendrait", "viendras", "viendrez", "viendriez", "viendrions", "viendrons",
    "viendront", "vienne", "viennent", "viennes", "viens", "vient", "voici", "voie", "voient",
    "voila", "vois", "voit", "vont", "voudra", "voudrai", "voudraient", "voudrais", "voudrait",
    "voudras", "voudrez", "voudriez", "voudrions", "voudrons", "voudront", "voulaient", "voulais",
    "voulait", "voulant", "voulez", "vouliez", "voulions", "vouloir", "voulons", "voulu", "voyais",
    "voyait", "voyez", "voyons", "vraiment", "vues",
};

static const char *const common_en[] = {
    "after", "again", "also", "always", "arent", "because", "been", "before", "came", "cannot",
    "cant", "come", "comes", "couldnt", "didnt", "doesnt", "doing", "done", "dont", "even", "gave",
    "give", "given", "gives", "goes", "going", "gone", "having", "hello", "here", "into", "isnt",
    "just", "knew", "know", "known", "knows", "made", "make", "makes", "might", "mine", "need",
    "needed", "needs", "never", "only", "onto", "over", "please", "said", "says", "shall",
    "shouldnt", "still", "take", "taken", "takes", "tell", "thanks", "theirs", "think", "thought",
    "told", "took", "under", "very", "want", "wanted", "wants", "wasnt", "went", "werent", "while",
    "without", "wont", "wouldnt", "yours",
};

static int cmp_word(const void *key, const void *item)
{
    return strcmp((const char *)key, *(const char *const *)item);
}

bool search_is_stopword(const char *lang, const char *w, size_t n)
{
    char buf[16];
    if (!lang || n == 0 || n >= sizeof buf)
        return false;
    memcpy(buf, w, n);
    buf[n] = 0;
    const char *const *list;
    size_t count;
    if (strcmp(lang, "fr") == 0) {
        list = stop_fr;
        count = sizeof stop_fr / sizeof stop_fr[0];
    } else if (strcmp(lang, "en") == 0) {
        list = stop_en;
        count = sizeof stop_en / sizeof stop_en[0];
    } else {
        return false;
    }
    return bsearch(buf, list, count, sizeof *list, cmp_word) != NULL;
}

bool search_is_common_word(const char *lang, const char *w, size_t n)
{
    char buf[16];
    if (search_is_stopword(lang, w, n))
        return true;
    if (!lang || n == 0 || n >= sizeof buf)
        return false;
    memcpy(buf, w, n);
    buf[n] = 0;
    const char *const *list;
    size_t count;
    if (strcmp(lang, "fr") == 0) {
        list = common_fr;
        count = sizeof common_fr / sizeof common_fr[0];
    } else if (strcmp(lang, "en") == 0) {
        list = common_en;
        count = sizeof common_en / sizeof common_en[0];
    } else {
        return false;
    }
    return bsearch(buf, list, count, sizeof *list, cmp_word) != NULL;
}

void search_lang_words(const char *lang, const char *const **stop, size_t *nstop,
                       const char *const **common, size_t *ncommon)
{
    *stop = *common = NULL;
    *nstop = *ncommon = 0;
    if (lang && strcmp(lang, "fr") == 0) {
        *stop = stop_fr;
        *nstop = sizeof stop_fr / sizeof stop_fr[0];
        *common = common_fr;
        *ncommon = sizeof common_fr / sizeof common_fr[0];
    } else if (lang && strcmp(lang, "en") == 0) {
        *stop = stop_en;
        *nstop = sizeof stop_en / sizeof stop_en[0];
        *common = common_en;
        *ncommon = sizeof common_en / sizeof common_en[0];
    }
}
