/* kb/text.c: Unicode helpers (see text.h). utf8proc does the Unicode work; we only choose
 * the option sets and handle ownership. */
#include "kb/base/text.h"

#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <utf8proc.h>

size_t kb_text_utf8_prefix(const char *s, size_t n)
{
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    size_t i = 0;
    while (i < n) {
        /* ASCII (but NUL) needs no decoding: most text of a page or a response is ASCII */
        if (p[i] - 1u < 0x7fu) {
            i++;
            continue;
        }
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate(p + i, (utf8proc_ssize_t)(n - i), &cp);
        if (k <= 0 || cp == 0)
            break;
        i += (size_t)k;
    }
    return i;
}

bool kb_text_valid_utf8(const char *s, size_t n)
{
    return kb_text_utf8_prefix(s, n) == n;
}

static char *text_map(const char *s, utf8proc_option_t opts)
{
    utf8proc_uint8_t *out = NULL;
    utf8proc_ssize_t n =
        utf8proc_map((const utf8proc_uint8_t *)s, 0, &out, opts | UTF8PROC_NULLTERM);
    if (n < 0)
        return NULL;
    return (char *)out;
}

char *kb_text_nfc(const char *s)
{
    return text_map(s, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
}

char *kb_text_casefold(const char *s)
{
    return text_map(s, UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_CASEFOLD);
}

char *kb_text_fold(const char *s)
{
    char *f = text_map(s, UTF8PROC_STABLE | UTF8PROC_COMPAT | UTF8PROC_COMPOSE |
                              UTF8PROC_CASEFOLD | UTF8PROC_STRIPMARK);
    if (!f)
        return NULL;
    /* French writes œ and æ as letters of their own (no Unicode decomposition turns them
     * into "oe" and "ae"), while keyboards type "oeuvre": an article's "main-d'œuvre" was
     * not found by "main d'oeuvre". Case folding already made Œ and Æ lower case, and each
     * takes two bytes in UTF-8, as its two letters do: replaced in place. */
    for (char *p = f; (p = strpbrk(p, "\xc5\xc3")) != NULL; p++) {
        if (p[0] == '\xc5' && p[1] == '\x93') {
            p[0] = 'o';
            p[1] = 'e';
        } else if (p[0] == '\xc3' && p[1] == '\xa6') {
            p[0] = 'a';
            p[1] = 'e';
        }
    }
    return f;
}

char *kb_text_upper(const char *s)
{
    char *nfc = kb_text_nfc(s);
    if (!nfc)
        return NULL;
    size_t n = strlen(nfc);
    /* An upper-case code point takes at most 4 bytes; ß-like expansions are not applied by
     * the simple mapping, so 4 bytes per input byte is a safe bound. */
    char *out = malloc(n * 4 + 1);
    if (!out) {
        free(nfc);
        return NULL;
    }
    size_t o = 0, i = 0;
    while (i < n) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k =
            utf8proc_iterate((const utf8proc_uint8_t *)nfc + i, (utf8proc_ssize_t)(n - i), &cp);
        if (k <= 0)
            break;
        i += (size_t)k;
        o += (size_t)utf8proc_encode_char(utf8proc_toupper(cp), (utf8proc_uint8_t *)out + o);
    }
    out[o] = 0;
    free(nfc);
    return out;
}

char *kb_text_case(const char *s, enum kb_case mode)
{
    char *nfc = kb_text_nfc(s);
    if (!nfc)
        return NULL;
    size_t n = strlen(nfc);
    char *out = malloc(n * 4 + 1); /* simple mappings: at most 4 bytes per code point */
    if (!out) {
        free(nfc);
        return NULL;
    }
    size_t o = 0, i = 0;
    bool start = true, first = true;
    while (i < n) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k =
            utf8proc_iterate((const utf8proc_uint8_t *)nfc + i, (utf8proc_ssize_t)(n - i), &cp);
        if (k <= 0)
            break;
        i += (size_t)k;
        utf8proc_int32_t m;
        switch (mode) {
        case KB_CASE_UPPER:
            m = utf8proc_toupper(cp);
            break;
        case KB_CASE_TITLE:
            m = start ? utf8proc_totitle(cp) : utf8proc_tolower(cp);
            break;
        case KB_CASE_SENTENCE:
            m = first ? utf8proc_totitle(cp) : utf8proc_tolower(cp);
            break;
        default:
            m = utf8proc_tolower(cp);
        }
        /* a word starts after anything but a letter, a digit or an apostrophe
         * ("saint-étienne" -> "Saint-Étienne", "aujourd'hui" -> "Aujourd'hui") */
        utf8proc_category_t cat = utf8proc_category(cp);
        start = !(cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) &&
                cat != UTF8PROC_CATEGORY_ND && cp != '\'' && cp != 0x2019 &&
                !(cat >= UTF8PROC_CATEGORY_MN && cat <= UTF8PROC_CATEGORY_ME);
        first = false;
        o += (size_t)utf8proc_encode_char(m, (utf8proc_uint8_t *)out + o);
    }
    out[o] = 0;
    free(nfc);
    return out;
}

char *kb_text_sanitize(const char *s, size_t n)
{
    char *out = malloc(n * 3 + 1);
    if (!out)
        return NULL;
    size_t o = 0, i = 0;
    while (i < n) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i,
                                              (utf8proc_ssize_t)(n - i), &cp);
        if (k <= 0 || cp == 0) {
            memcpy(out + o, "\xEF\xBF\xBD", 3); /* U+FFFD */
            o += 3;
            i += 1;
            continue;
        }
        memcpy(out + o, s + i, (size_t)k);
        o += (size_t)k;
        i += (size_t)k;
    }
    out[o] = 0;
    return out;
}

char *kb_text_slugify(const char *s)
{
    char *f = kb_text_fold(s);
    if (!f)
        return NULL;
    size_t o = 0;
    int dash = 0;
    for (size_t i = 0; f[i] && o < 80; i++) {
        unsigned char c = (unsigned char)f[i];
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
            if (dash && o > 0)
                f[o++] = '-';
            dash = 0;
            if (o < 80)
                f[o++] = (char)c;
        } else {
            dash = 1;
        }
    }
    f[o] = 0;
    return f;
}
