/* kb/log.c: the event log on stderr (see log.h). Thread-safe: one write(2) per line. */
#include "kb/base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <stdlib.h>
#include <unistd.h>

#include <jansson.h>

#include "kb/base/buf.h"

static enum kb_log_level log_min = KB_LOG_INFO;
static int log_json = -1;

void kb_log_set_level(enum kb_log_level level)
{
    log_min = level;
}

void kb_log_set_json(int json)
{
    log_json = json;
}

static const char *const level_name[] = {"debug", "info", "warn", "error"};

void kb_log(enum kb_log_level level, const char *fmt, ...)
{
    if (level < log_min)
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    int json = log_json;
    if (json < 0)
        json = !isatty(STDERR_FILENO);
    struct kb_buf b;
    kb_buf_init(&b, 8192);
    if (json) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        char when[32];
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
        char stamp[48];
        snprintf(stamp, sizeof stamp, "%s.%03ldZ", when, ts.tv_nsec / 1000000);
        json_t *o = json_pack("{s:s, s:s, s:s}", "ts", stamp, "level", level_name[level],
                              "msg", msg);
        char *line = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
        json_decref(o);
        if (line) {
            KB_IGNORE(kb_buf_puts(&b, line));
            KB_IGNORE(kb_buf_putc(&b, '\n'));
            free(line);
        }
    } else {
        KB_IGNORE(kb_buf_printf(&b, "%-5s %s\n", level_name[level], msg));
    }
    if (b.data) {
        ssize_t w = write(STDERR_FILENO, b.data, b.len);
        (void)w;
    }
    kb_buf_release(&b);
}
