/* kb/text.h: Unicode text helpers over utf8proc, shared by kb/, search/ and bot/.
 *
 * Every function that returns char * returns a fresh NUL-terminated UTF-8 string the caller
 * frees with free(), or NULL when the input is not valid UTF-8 or memory ran out. */
#ifndef KB_TEXT_H
#define KB_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* True when the n bytes at s are valid UTF-8 (no NUL inside). */
bool kb_text_valid_utf8(const char *s, size_t n);
/* Length of the longest valid UTF-8 prefix of the n bytes at s (stops at a NUL). */
size_t kb_text_utf8_prefix(const char *s, size_t n);
/* NFC normalisation (editors paste decomposed accents from some tools). */
char *kb_text_nfc(const char *s);
/* Unicode case folding, accents kept ("Où" -> "où"). NFC result. */
char *kb_text_casefold(const char *s);
/* Search key: case folded, accents and other combining marks removed, compatibility forms
 * unified ("Véhicule" -> "vehicule", "ﬁ" -> "fi"), œ and æ written "oe" and "ae". */
char *kb_text_fold(const char *s);
/* Upper-case (simple mapping per code point), NFC. */
char *kb_text_upper(const char *s);
/* Case mapping per code point (simple mappings, NFC): KB_CASE_UPPER, KB_CASE_LOWER,
 * KB_CASE_TITLE (first letter of each word in title case, the rest lower), KB_CASE_SENTENCE
 * (first letter of the text upper, the rest lower). A word starts after anything but a
 * letter, digit or apostrophe. */
enum kb_case { KB_CASE_UPPER, KB_CASE_LOWER, KB_CASE_TITLE, KB_CASE_SENTENCE };
char *kb_text_case(const char *s, enum kb_case mode);
/* Copy of s with invalid UTF-8 sequences replaced by U+FFFD; never NULL unless out of memory. */
char *kb_text_sanitize(const char *s, size_t n);
/* URL slug from a title: folded, [a-z0-9] runs joined by '-', at most 80 bytes. */
char *kb_text_slugify(const char *s);

#endif
