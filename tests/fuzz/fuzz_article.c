/* tests/fuzz/fuzz_article.c: libFuzzer target over the article parser (front matter with
 * libyaml, Markdown with cmark-gfm, our validation and plain-text extraction). Files come
 * from editors and the future web editor: any bytes must give an article or an error. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kb/articles/article.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kb_article *a = NULL;
    struct kb_article_error err;
    struct kb_article_defaults def = {"fuzz", "fr", "fuzz"};
    if (kb_article_parse((const char *)data, size, &def, &a, &err) == KB_OK) {
        /* Invariants a page relies on: no raw HTML, no script URL in a link or an image
         * ("javascript:" as words of the text is harmless). */
        if (strcasestr(a->html, "<script") || strcasestr(a->html, "=\"javascript:") ||
            strcasestr(a->html, "=\"vbscript:") || strcasestr(a->html, "=\"data:text/html"))
            __builtin_trap();
        kb_article_free(a);
    }
    return 0;
}
