/* kb/chat/hours.c: the opening hours of the live takeover (kb serve --chat-hours, env
 * KB_CHAT_HOURS): when a customer who asks for a person is offered to wait for one.
 *
 * Format (a contract: the README and `kb serve --help` show it):
 *
 *   hours := item ("," item)*          or "" / "none": no opening hours
 *   item  := days range (" " range)*
 *   days  := day | day "-" day | "daily"  (a span may wrap: "sat-mon" is sat, sun, mon)
 *   day   := mon | tue | wed | thu | fri | sat | sun  (any case)
 *   range := HH:MM "-" HH:MM             (00:00 to 24:00, start before end)
 *
 *   "mon-fri 09:00-18:00, sat 10:00-12:30"
 *   "mon-fri 08:30-12:00 13:30-18:00"
 *   "daily 00:00-24:00"                  (always open)
 *
 * Times are the server's local time (the TZ environment variable is honoured, through
 * localtime_r), so opening hours follow daylight saving time. A day names at most
 * KB_CHAT_HOURS_RANGES ranges, items naming the same day add up. Pure functions: the unit
 * tests (tests/chat/test_hours.c) reach them directly. */
#include "kb/chat/chat.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

static const char *const day_names[7] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

static const char *skip_space(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* A day name at p: its struct tm number (0 = Sunday), -1 when none; *end after it. */
static int parse_day(const char *p, const char **end)
{
    for (int d = 0; d < 7; d++)
        if (strncasecmp(p, day_names[d], 3) == 0 && !isalpha((unsigned char)p[3])) {
            *end = p + 3;
            return d;
        }
    return -1;
}

/* HH:MM at p as minutes (0 to 1440), -1 when malformed; *end after it. */
static int parse_time(const char *p, const char **end)
{
    if (!isdigit((unsigned char)p[0]))
        return -1;
    int h = p[0] - '0', i = 1;
    if (isdigit((unsigned char)p[1])) {
        h = h * 10 + (p[1] - '0');
        i = 2;
    }
    if (p[i] != ':' || !isdigit((unsigned char)p[i + 1]) || !isdigit((unsigned char)p[i + 2]) ||
        isdigit((unsigned char)p[i + 3]))
        return -1;
    int m = (p[i + 1] - '0') * 10 + (p[i + 2] - '0');
    if (h > 24 || m > 59 || (h == 24 && m != 0))
        return -1;
    *end = p + i + 3;
    return h * 60 + m;
}

enum kb_err kb_chat_hours_parse(const char *spec, struct kb_chat_hours *out, const char **why)
{
    memset(out, 0, sizeof *out);
    *why = NULL;
    const char *p = skip_space(spec ? spec : "");
    if (!*p || (strncasecmp(p, "none", 4) == 0 && !*skip_space(p + 4)))
        return KB_OK;
    if (strlen(p) > 1000) {
        *why = "the opening hours are too long";
        return KB_EINVAL;
    }
    for (;;) {
        bool days[7] = {false};
        const char *e = p;
        if (strncasecmp(p, "daily", 5) == 0 && !isalpha((unsigned char)p[5])) {
            for (int d = 0; d < 7; d++)
                days[d] = true;
            e = p + 5;
        } else {
            int a = parse_day(p, &e);
            if (a < 0) {
                *why = "expected a day (mon, tue, wed, thu, fri, sat, sun) or daily";
                return KB_EINVAL;
            }
            int b = a;
            if (*e == '-') {
                b = parse_day(e + 1, &e);
                if (b < 0) {
                    *why = "expected a day after '-' (mon-fri)";
                    return KB_EINVAL;
                }
            }
            for (int d = a;; d = (d + 1) % 7) {
                days[d] = true;
                if (d == b)
                    break;
            }
        }
        p = skip_space(e);
        int ranges = 0;
        while (isdigit((unsigned char)*p)) {
            int from = parse_time(p, &e), to = -1;
            if (from >= 0 && *e == '-')
                to = parse_time(e + 1, &e);
            if (from < 0 || to < 0) {
                *why = "expected a range of hours HH:MM-HH:MM (00:00 to 24:00)";
                return KB_EINVAL;
            }
            if (from >= to) {
                *why = "a range of hours must start before it ends";
                return KB_EINVAL;
            }
            for (int d = 0; d < 7; d++) {
                if (!days[d])
                    continue;
                if (out->n[d] >= KB_CHAT_HOURS_RANGES) {
                    *why = "too many ranges of hours for one day (at most 4)";
                    return KB_EINVAL;
                }
                out->from[d][out->n[d]] = (short)from;
                out->to[d][out->n[d]] = (short)to;
                out->n[d]++;
            }
            ranges++;
            p = skip_space(e);
        }
        if (!ranges) {
            *why = "expected a range of hours HH:MM-HH:MM after the days";
            return KB_EINVAL;
        }
        if (!*p)
            break;
        if (*p != ',') {
            *why = "expected ',' between items (mon-fri 09:00-18:00, sat 10:00-12:30)";
            return KB_EINVAL;
        }
        p = skip_space(p + 1);
    }
    out->set = true;
    return KB_OK;
}

bool kb_chat_hours_open(const struct kb_chat_hours *h, time_t t)
{
    if (!h || !h->set)
        return false;
    struct tm tm;
    if (!localtime_r(&t, &tm) || tm.tm_wday < 0 || tm.tm_wday > 6)
        return false;
    int m = tm.tm_hour * 60 + tm.tm_min;
    for (int i = 0; i < h->n[tm.tm_wday]; i++)
        if (m >= h->from[tm.tm_wday][i] && m < h->to[tm.tm_wday][i])
            return true;
    return false;
}
