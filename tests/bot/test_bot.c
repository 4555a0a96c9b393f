/* tests/bot/test_bot.c: behaviour the RSTS does not cover: French rules, state JSON round
 * trip, hostile input (1 MB, invalid UTF-8, redirect loops, garbage rule files). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bot/rivescript.h"

static struct bot_brain *load(const char *src, unsigned flags)
{
    struct bot_brain *b = NULL;
    assert_int_equal(bot_brain_new(flags, &b), KB_OK);
    assert_int_equal(bot_brain_stream(b, src, "test.rive"), KB_OK);
    assert_int_equal(bot_brain_sort(b), KB_OK);
    return b;
}

static void expect(struct bot_brain *b, const char *in, const char *want)
{
    char *got = NULL;
    assert_int_equal(bot_reply(b, "u", in, &got), KB_OK);
    assert_string_equal(got, want);
    free(got);
}

static void test_french(void **state)
{
    struct bot_brain *b = load("+ j'ai perdu *\n- Vous avez perdu <star>.\n\n"
                               "+ où est mon véhicule\n- Au garage.\n\n+ *\n- Pardon ?\n",
                               BOT_UTF8);
    expect(b, "J'ai perdu ma CLÉ", "Vous avez perdu ma clé.");
    expect(b, "OÙ est mon Véhicule ?", "Au garage.");
    expect(b, "bonjour", "Pardon ?");
    bot_brain_free(b);
}

static void test_state_roundtrip(void **state)
{
    struct bot_brain *b = load("+ my name is *\n- <set name=<formal>>ok\n"
                               "+ who am i\n- <get name>\n+ *\n- ?\n", 0);
    char *json = NULL;
    expect(b, "my name is ada lovelace", "ok");
    assert_int_equal(bot_user_export(b, "u", &json), KB_OK);
    struct bot_brain *b2 = load("+ who am i\n- <get name>\n", 0);
    assert_int_equal(bot_user_import(b2, "u", json), KB_OK);
    expect(b2, "who am i", "Ada Lovelace");
    assert_int_equal(bot_user_import(b2, "u", "{not json"), KB_EINVAL);
    free(json);
    bot_brain_free(b);
    bot_brain_free(b2);
}

static void test_hostile(void **state)
{
    struct bot_brain *b = load("+ a\n@ b\n+ b\n@ a\n+ c\n- {@c}\n+ *\n- x\n", BOT_UTF8);
    char *got = NULL;
    size_t n = 1u << 20;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, 'a', n);
    big[n] = 0;
    assert_int_equal(bot_reply(b, "u", big, &got), KB_ETOOBIG);
    free(big);
    assert_int_equal(bot_reply(b, "u", "a", &got), KB_OK);
    assert_non_null(strstr(got, "Deep Recursion"));
    free(got);
    assert_int_equal(bot_reply(b, "u", "c", &got), KB_OK);
    assert_non_null(strstr(got, "Deep Recursion"));
    free(got);
    expect(b, "\xff\xfe\xc3", "x");
    expect(b, "", "x");
    bot_brain_free(b);
    struct bot_brain *g = NULL;
    assert_int_equal(bot_brain_new(0, &g), KB_OK);
    assert_int_equal(bot_brain_stream(g, "\x01\x02+\n-\n^^^\n> topic\n< \xff(((", "g"), KB_OK);
    assert_int_equal(bot_brain_sort(g), KB_OK);
    got = NULL;
    assert_int_equal(bot_reply(g, "u", "anything", &got), KB_OK);
    free(got);
    bot_brain_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_french),
        cmocka_unit_test(test_state_roundtrip),
        cmocka_unit_test(test_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
