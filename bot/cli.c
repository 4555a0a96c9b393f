/* bot/cli.c: loading a rules directory, `kb bot` chat loop and `kb check` over rules.
 *
 * When stdin is not a terminal the chat prints exactly one line per input line and no
 * prompt (newlines inside a reply become spaces), so other tools can script it. */
#include "bot/cli.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bot/brain.h"
#include "kb/base/buf.h"

#define BOT_FILE_MAX (8u << 20)

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

enum kb_err bot_brain_load_dir(struct bot_brain *b, const char *dir)
{
    enum kb_err err = KB_OK;
    char **names = NULL;
    size_t n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return KB_ENOTFOUND;
    for (struct dirent *e = readdir(d); e; e = readdir(d)) {
        size_t l = strlen(e->d_name);
        if (l < 6 || strcmp(e->d_name + l - 5, ".rive") != 0)
            continue;
        char **nn = realloc(names, (n + 1) * sizeof *nn);
        if (!nn) {
            err = KB_ENOMEM;
            goto out;
        }
        names = nn;
        names[n] = strdup(e->d_name);
        if (!names[n]) {
            err = KB_ENOMEM;
            goto out;
        }
        n++;
    }
    if (n)
        qsort(names, n, sizeof *names, cmp_names);
    /* One unreadable or oversized file is reported and skipped: the others still load. */
    for (size_t i = 0; i < n && !err; i++) {
        struct kb_buf path, text;
        kb_buf_init(&path, 4096);
        kb_buf_init(&text, BOT_FILE_MAX);
        err = kb_buf_printf(&path, "%s/%s", dir, names[i]);
        enum kb_err fe = err ? KB_OK : kb_buf_append_file(&text, path.data);
        if (fe == KB_ENOMEM)
            err = fe;
        else if (fe)
            bot_diag_file(b, path.data, fe == KB_ETOOBIG ? "file larger than 8 MiB, skipped"
                                                          : "cannot read the file, skipped");
        else if (!err && memchr(text.data ? text.data : "", 0, text.len))
            bot_diag_file(b, path.data, "binary file (NUL bytes), skipped");
        else if (!err)
            err = bot_brain_stream(b, text.data ? text.data : "", path.data);
        kb_buf_release(&path);
        kb_buf_release(&text);
    }
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(d);
    return err;
}

static void diag_print(void *ctx, enum bot_severity sev, const char *file, unsigned line,
                       const char *msg)
{
    if (line)
        fprintf(ctx, "%s:%u: %s: %s\n", file, line, sev == BOT_DIAG_ERROR ? "error" : "warning",
                msg);
    else
        fprintf(ctx, "%s: %s: %s\n", file, sev == BOT_DIAG_ERROR ? "error" : "warning", msg);
}

void bot_diag_file(struct bot_brain *b, const char *path, const char *msg)
{
    bot_diag(b, BOT_DIAG_ERROR, path, 0, "%s", msg);
}

int bot_check_dir(const char *dir, bool utf8, FILE *out, unsigned *warnings)
{
    struct bot_brain *b = NULL;
    int errors = 0;
    enum kb_err e = bot_brain_new(utf8 ? BOT_UTF8 : 0, &b);
    if (!e) {
        bot_brain_set_diag(b, diag_print, out);
        e = bot_brain_load_dir(b, dir);
    }
    if (!e)
        e = bot_brain_sort(b);
    if (e) {
        fprintf(out, "%s: %s\n", dir, kb_strerror(e));
        errors++;
    }
    if (b) {
        errors += (int)bot_brain_errors(b);
        if (warnings)
            *warnings += bot_brain_warnings(b);
    }
    bot_brain_free(b);
    return errors;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: kb bot --rules DIR [--user NAME] [--utf8]\n"
               "  chat with the rules in DIR (*.rive); one reply line per input line\n");
}

int bot_cli_main(int argc, char **argv, bot_cli_setup_fn *setup, void *ctx)
{
    const char *rules = NULL, *user = "localuser";
    bool utf8 = false;
    int rc = 1;
    struct bot_brain *b = NULL;
    char *line = NULL;
    size_t cap = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--rules") == 0 && i + 1 < argc)
            rules = argv[++i];
        else if (strcmp(argv[i], "--user") == 0 && i + 1 < argc)
            user = argv[++i];
        else if (strcmp(argv[i], "--utf8") == 0)
            utf8 = true;
        else {
            usage(stderr);
            return 2;
        }
    }
    if (!rules) {
        usage(stderr);
        return 2;
    }
    enum kb_err e = bot_brain_new(utf8 ? BOT_UTF8 : 0, &b);
    if (!e)
        e = bot_brain_load_dir(b, rules);
    if (!e)
        e = bot_brain_sort(b);
    if (!e && setup)
        e = setup(ctx, b);
    if (e) {
        fprintf(stderr, "bot: %s: %s\n", rules, kb_strerror(e));
        goto out;
    }
    bool tty = isatty(0);
    for (;;) {
        if (tty) {
            fputs("you> ", stdout);
            fflush(stdout);
        }
        ssize_t n = getline(&line, &cap, stdin);
        if (n < 0)
            break;
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = 0;
        char *r = NULL;
        e = bot_reply(b, user, line, &r);
        if (e) {
            printf("[ERR: %s]\n", kb_strerror(e));
        } else {
            for (char *p = r; *p; p++)
                if (*p == '\n' || *p == '\r')
                    *p = ' ';
            printf(tty ? "bot> %s\n" : "%s\n", r);
        }
        fflush(stdout);
        free(r);
    }
    rc = 0;
out:
    free(line);
    bot_brain_free(b);
    return rc;
}
