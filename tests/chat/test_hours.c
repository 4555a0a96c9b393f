/* tests/chat: the opening hours of the live takeover (kb serve --chat-hours, kb/chat/hours.c):
 * the format, its refusals with a reason, and whether a moment is open, in UTC and in a zone
 * with daylight saving time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "kb/chat/chat.h"

/* 2024-01-01 was a Monday: the unix time of that Monday + day days at hh:mm UTC. */
static time_t at(int day, int hh, int mm)
{
    return (time_t)1704067200 + (time_t)day * 86400 + hh * 3600 + mm * 60;
}

static int utc(void **state)
{
    (void)state;
    setenv("TZ", "UTC", 1);
    tzset();
    return 0;
}

static void parses_days_ranges_and_items(void **state)
{
    (void)state;
    struct kb_chat_hours h;
    const char *why = NULL;
    assert_int_equal(kb_chat_hours_parse("mon-fri 09:00-18:00, sat 10:00-12:30", &h, &why), KB_OK);
    assert_true(h.set);
    assert_int_equal(h.n[1], 1); /* Monday */
    assert_int_equal(h.from[1][0], 540);
    assert_int_equal(h.to[1][0], 1080);
    assert_int_equal(h.n[6], 1); /* Saturday */
    assert_int_equal(h.to[6][0], 750);
    assert_int_equal(h.n[0], 0); /* Sunday: closed */
    assert_true(kb_chat_hours_open(&h, at(0, 9, 0)));    /* Monday 09:00 */
    assert_true(kb_chat_hours_open(&h, at(4, 17, 59)));  /* Friday 17:59 */
    assert_false(kb_chat_hours_open(&h, at(4, 18, 0)));  /* Friday 18:00: the end is out */
    assert_false(kb_chat_hours_open(&h, at(0, 8, 59)));
    assert_true(kb_chat_hours_open(&h, at(5, 12, 29)));  /* Saturday */
    assert_false(kb_chat_hours_open(&h, at(5, 12, 30)));
    assert_false(kb_chat_hours_open(&h, at(6, 11, 0)));  /* Sunday */
    /* Two ranges a day, any case, a span that wraps around the week, items that add up. */
    assert_int_equal(kb_chat_hours_parse("MON-Fri 08:30-12:00 13:30-18:00,sat-mon 10:00-11:00",
                                         &h, &why), KB_OK);
    assert_int_equal(h.n[1], 3);
    assert_true(kb_chat_hours_open(&h, at(1, 8, 30)));
    assert_false(kb_chat_hours_open(&h, at(1, 12, 45)));
    assert_true(kb_chat_hours_open(&h, at(6, 10, 30)));  /* Sunday, in sat-mon */
    assert_true(kb_chat_hours_open(&h, at(0, 10, 30)));  /* Monday, in both */
    assert_false(kb_chat_hours_open(&h, at(3, 19, 0))); /* Thursday 19:00 */
    assert_int_equal(kb_chat_hours_parse("daily 00:00-24:00", &h, &why), KB_OK);
    for (int d = 0; d < 7; d++) {
        assert_true(kb_chat_hours_open(&h, at(d, 0, 0)));
        assert_true(kb_chat_hours_open(&h, at(d, 23, 59)));
    }
}

static void no_hours_is_never_open(void **state)
{
    (void)state;
    struct kb_chat_hours h;
    const char *why = NULL;
    for (const char *const *s = (const char *const[]){"", "  ", "none", "NONE ", NULL}; *s; s++) {
        assert_int_equal(kb_chat_hours_parse(*s, &h, &why), KB_OK);
        assert_false(h.set);
        assert_false(kb_chat_hours_open(&h, at(0, 10, 0)));
    }
    assert_int_equal(kb_chat_hours_parse(NULL, &h, &why), KB_OK);
    assert_false(kb_chat_hours_open(&h, at(0, 10, 0)));
    assert_false(kb_chat_hours_open(NULL, at(0, 10, 0)));
}

static void refuses_malformed_hours_with_a_reason(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "monday 09:00-18:00", "mon", "mon 9-18", "mon 09:00", "mon 09:00-", "mon 18:00-09:00",
        "mon 09:00-09:00", "mon 09:60-10:00", "mon 24:01-24:30", "mon 25:00-26:00",
        "mon-xyz 09:00-10:00", "mon 09:00-10:00;", "mon 09:00-10:00 sat 10:00-11:00",
        "mon 09:00-10:00,", "mon 1:00-2:00 3:00-4:00 5:00-6:00 7:00-8:00 9:00-10:00",
        "mon 09:000-10:00", "09:00-18:00", "none please",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct kb_chat_hours h;
        const char *why = NULL;
        if (kb_chat_hours_parse(bad[i], &h, &why) != KB_EINVAL)
            fail_msg("accepted: %s", bad[i]);
        assert_non_null(why);
    }
}

/* Local time: in Paris's zone the hours follow daylight saving time. The zone as a POSIX TZ
 * rule (what Europe/Paris says since 1996), so that no time zone database is needed. */
static void hours_are_the_servers_local_time(void **state)
{
    (void)state;
    struct kb_chat_hours h;
    const char *why = NULL;
    assert_int_equal(kb_chat_hours_parse("mon-fri 09:00-18:00", &h, &why), KB_OK);
    setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", 1);
    tzset();
    /* Monday 2024-01-01 08:30 UTC is 09:30 in Paris (UTC+1): open. */
    assert_true(kb_chat_hours_open(&h, at(0, 8, 30)));
    assert_false(kb_chat_hours_open(&h, at(0, 17, 30))); /* 18:30 in Paris */
    /* Monday 2024-07-01 07:30 UTC is 09:30 in Paris (UTC+2): open; 16:30 UTC is 18:30. */
    time_t july = (time_t)1719792000; /* 2024-07-01 00:00 UTC, a Monday */
    assert_true(kb_chat_hours_open(&h, july + 7 * 3600 + 30 * 60));
    assert_false(kb_chat_hours_open(&h, july + 16 * 3600 + 30 * 60));
    setenv("TZ", "UTC", 1);
    tzset();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(parses_days_ranges_and_items, utc),
        cmocka_unit_test_setup(no_hours_is_never_open, utc),
        cmocka_unit_test_setup(refuses_malformed_hours_with_a_reason, utc),
        cmocka_unit_test(hours_are_the_servers_local_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
