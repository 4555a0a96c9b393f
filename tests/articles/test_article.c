/* tests/kb/test_article.c: parsing and safe rendering of article files, as an editor would
 * see them: what is accepted, what error (line and reason) a mistake gives, what HTML a
 * reader gets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kb/articles/article.h"
#include "kb/base/buf.h"
#include "kb/base/text.h"

static struct kb_article *parse_ok(const char *src)
{
    struct kb_article *a = NULL;
    struct kb_article_error err;
    struct kb_article_defaults def = {"file-name", "fr", "apres-vente"};
    enum kb_err rc = kb_article_parse(src, strlen(src), &def, &a, &err);
    if (rc)
        fail_msg("parse failed: line %d: %s", err.line, err.reason);
    return a;
}

/* The page's HTML of a parsed article: its body rendered as kb_store_get_slug renders it. */
static char *html_of(const struct kb_article *a)
{
    char *html = NULL;
    assert_int_equal(kb_markdown_render(a->body_md, strlen(a->body_md), &html, NULL), KB_OK);
    assert_non_null(html);
    return html;
}

static struct kb_article_error parse_err(const char *src, enum kb_err expect)
{
    struct kb_article *a = NULL;
    struct kb_article_error err;
    struct kb_article_defaults def = {"file-name", "fr", NULL};
    assert_int_equal(kb_article_parse(src, strlen(src), &def, &a, &err), expect);
    assert_null(a);
    return err;
}

static void full_front_matter(void **state)
{
    (void)state;
    struct kb_article *a = parse_ok(
        "---\n"
        "title: \"Comment prendre rendez-vous pour l'entretien ?\"\n"
        "slug: rendez-vous-entretien\n"
        "lang: fr\n"
        "category: Après-vente\n"
        "tags: [entretien, atelier]\n"
        "audience: internal\n"
        "status: review\n"
        "questions:\n"
        "  - \"Je veux faire réviser ma voiture\"\n"
        "  - Où faire l'entretien ?\n"
        "translation_of: maintenance-booking\n"
        "---\n"
        "Prenez rendez-vous **en ligne**.\n");
    char *html = html_of(a);
    assert_string_equal(a->title, "Comment prendre rendez-vous pour l'entretien ?");
    assert_string_equal(a->slug, "rendez-vous-entretien");
    assert_string_equal(a->lang, "fr");
    assert_string_equal(a->category, "Après-vente");
    assert_int_equal(a->ntags, 2);
    assert_string_equal(a->tags[1], "atelier");
    assert_string_equal(a->audience, "internal");
    assert_string_equal(a->status, "review");
    assert_int_equal(a->nquestions, 2);
    assert_string_equal(a->questions[1], "Où faire l'entretien ?");
    assert_string_equal(a->translation_of, "maintenance-booking");
    assert_non_null(strstr(html, "<strong>en ligne</strong>"));
    assert_non_null(strstr(a->text, "Prenez rendez-vous en ligne."));
    assert_int_equal(a->nwarnings, 0);
    free(html);
    kb_article_free(a);
}

static void defaults_from_path(void **state)
{
    (void)state;
    struct kb_article *a = parse_ok("---\ntitle: Horaires\n---\nDu lundi au vendredi.\n");
    assert_string_equal(a->slug, "file-name");
    assert_string_equal(a->lang, "fr");
    assert_string_equal(a->category, "apres-vente");
    assert_string_equal(a->audience, "public");
    assert_string_equal(a->status, "published");
    assert_null(a->translation_of);
    kb_article_free(a);
}

static void unknown_keys_kept_and_reported(void **state)
{
    (void)state;
    struct kb_article *a =
        parse_ok("---\ntitle: T\nowner: marie\nreviewers: [a, b]\n---\nBody\n");
    assert_int_equal(a->nwarnings, 2);
    assert_non_null(strstr(a->warnings[0], "line 3"));
    assert_non_null(strstr(a->warnings[0], "owner"));
    assert_string_equal(a->extra, "{\"owner\":\"marie\",\"reviewers\":[\"a\",\"b\"]}");
    kb_article_free(a);
}

static void errors_have_line_and_reason(void **state)
{
    (void)state;
    struct kb_article_error e;
    e = parse_err("no front matter here\n", KB_EPARSE);
    assert_non_null(strstr(e.reason, "front matter"));
    e = parse_err("---\ntitle: T\nnever closed\n", KB_EPARSE);
    assert_int_equal(e.line, 1);
    e = parse_err("---\ntitle: T\ntags: [a, b\nlang: fr\n---\nx\n", KB_EPARSE);
    assert_true(e.line >= 3 && e.line <= 5);
    e = parse_err("---\nslug: x\n---\nbody\n", KB_EPARSE);
    assert_non_null(strstr(e.reason, "title"));
    e = parse_err("---\ntitle: T\naudience: everyone\n---\n", KB_EPARSE);
    assert_non_null(strstr(e.reason, "audience"));
    e = parse_err("---\ntitle: T\nstatus: live\n---\n", KB_EPARSE);
    assert_non_null(strstr(e.reason, "status"));
    e = parse_err("---\ntitle: T\nslug: Not A Slug\n---\n", KB_EPARSE);
    assert_non_null(strstr(e.reason, "slug"));
    e = parse_err("---\ntitle: T\ntitle: U\n---\n", KB_EPARSE);
    assert_int_equal(e.line, 3);
    assert_non_null(strstr(e.reason, "twice"));
    e = parse_err("---\ntitle: [a, b]\n---\n", KB_EPARSE);
    assert_int_equal(e.line, 2);
    e = parse_err("---\n- just\n- a list\n---\n", KB_EPARSE);
    assert_non_null(strstr(e.reason, "mapping"));
}

static void invalid_utf8_and_size(void **state)
{
    (void)state;
    struct kb_article_error e = parse_err("---\ntitle: T\n---\nline\nbad \xff here\n", KB_EUTF8);
    assert_int_equal(e.line, 5);
    size_t n = KB_ARTICLE_MAX_BYTES + 10;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, 'a', n);
    big[n] = 0;
    struct kb_article *a = NULL;
    assert_int_equal(kb_article_parse(big, n, NULL, &a, &e), KB_ETOOBIG);
    free(big);
}

static void markdown_is_rendered_safely(void **state)
{
    (void)state;
    struct kb_article *a = parse_ok(
        "---\ntitle: T\n---\n"
        "<script>alert(1)</script>\n\n"
        "Text <img src=x onerror=alert(1)> more.\n\n"
        "[click](javascript:alert(1)) and [ok](https://example.org/a?b=1&c=2)\n\n"
        "<iframe src=\"https://evil\"></iframe>\n");
    char *html = html_of(a);
    assert_null(strstr(html, "<script"));
    assert_null(strstr(html, "onerror"));
    assert_null(strstr(html, "javascript:"));
    assert_null(strstr(html, "<iframe"));
    assert_non_null(strstr(html, "href=\"https://example.org/a?b=1&amp;c=2\""));
    free(html);
    kb_article_free(a);
}

static void gfm_tables_and_strikethrough(void **state)
{
    (void)state;
    struct kb_article *a = parse_ok("---\ntitle: T\n---\n"
                                    "| Entretien | Kilométrage |\n"
                                    "|---|---|\n"
                                    "| Révision | 15 000 km |\n\n"
                                    "~~ancien tarif~~ https://www.example.org\n");
    char *html = html_of(a);
    assert_non_null(strstr(html, "<table>"));
    assert_non_null(strstr(html, "<th>Entretien</th>"));
    assert_non_null(strstr(html, "<td>15 000 km</td>"));
    assert_non_null(strstr(html, "<del>ancien tarif</del>"));
    assert_non_null(strstr(html, "<a href=\"https://www.example.org\">"));
    /* Table cells reach the plain text, so a search finds them. */
    assert_non_null(strstr(a->text, "15 000 km"));
    free(html);
    kb_article_free(a);
}

static void text_folding(void **state)
{
    (void)state;
    char *f = kb_text_fold("Véhicule ÉLECTRIQUE Où ﬁn");
    assert_string_equal(f, "vehicule electrique ou fin");
    free(f);
    f = kb_text_fold("Main-d'Œuvre, sœur, Ægide, cæcum");
    assert_string_equal(f, "main-d'oeuvre, soeur, aegide, caecum");
    free(f);
    char *s = kb_text_slugify("Après-vente & Garantie !");
    assert_string_equal(s, "apres-vente-garantie");
    free(s);
    assert_true(kb_text_valid_utf8("été", strlen("été")));
    assert_false(kb_text_valid_utf8("\xc3(", 2));
    char *z = kb_text_sanitize("a\xffz", 3);
    assert_string_equal(z, "a\xEF\xBF\xBDz");
    free(z);
}

static void buffer_limits(void **state)
{
    (void)state;
    struct kb_buf b;
    kb_buf_init(&b, 8);
    assert_int_equal(kb_buf_puts(&b, "12345678"), KB_OK);
    assert_int_equal(kb_buf_puts(&b, "9"), KB_ETOOBIG);
    assert_string_equal(b.data, "12345678");
    kb_buf_release(&b);
    kb_buf_init(&b, 100);
    assert_int_equal(kb_buf_put_html(&b, "<a href=\"x\">'&'</a>"), KB_OK);
    assert_string_equal(b.data, "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    kb_buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_front_matter),
        cmocka_unit_test(defaults_from_path),
        cmocka_unit_test(unknown_keys_kept_and_reported),
        cmocka_unit_test(errors_have_line_and_reason),
        cmocka_unit_test(invalid_utf8_and_size),
        cmocka_unit_test(markdown_is_rendered_safely),
        cmocka_unit_test(gfm_tables_and_strikethrough),
        cmocka_unit_test(text_folding),
        cmocka_unit_test(buffer_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
