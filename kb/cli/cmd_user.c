/* kb/cli/cmd_user.c: accounts from the server's terminal.
 *
 *   kb user add LOGIN --role agent|editor|publisher|admin [--name N]
 *   kb user list
 *   kb user passwd LOGIN
 *   kb user disable LOGIN
 *   kb token add NAME --role agent|...      prints the token once (its hash is stored)
 *   kb audit [--since YYYY-MM-DD|SECONDS-AGO] [--limit N]
 *
 * Passwords are read from the terminal without echo (twice), or as one line on stdin when it
 * is not a terminal (scripts). */
#include "kb/cli/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "kb/auth/auth.h"
#include "kb/crm/crm.h"
#include "kb/store/accounts.h"
#include "kb/store/audit.h"

/* One line of stdin into buf (without its newline); echo off on a terminal. */
static bool read_line(const char *prompt, char *buf, size_t n)
{
    bool tty = isatty(STDIN_FILENO);
    struct termios old, quiet;
    if (tty) {
        fputs(prompt, stderr);
        fflush(stderr);
        tcgetattr(STDIN_FILENO, &old);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
    }
    bool ok = fgets(buf, (int)n, stdin) != NULL;
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSANOW, &old);
        fputc('\n', stderr);
    }
    if (ok)
        buf[strcspn(buf, "\r\n")] = 0;
    return ok;
}

/* The new password: twice on a terminal, once from a script. */
static bool read_password(char *pw, size_t n)
{
    if (!read_line("password: ", pw, n))
        return false;
    if (!isatty(STDIN_FILENO))
        return true;
    char again[KB_AUTH_PASSWORD_MAX + 2];
    bool same = read_line("again: ", again, sizeof again) && strcmp(pw, again) == 0;
    sodium_memzero(again, sizeof again);
    if (!same)
        fprintf(stderr, "kb: the passwords differ\n");
    return same;
}

static int report(enum kb_err err, const char *what, const char *who)
{
    if (err == KB_EEXISTS)
        fprintf(stderr, "kb: %s already exists\n", who);
    else if (err == KB_ENOTFOUND)
        fprintf(stderr, "kb: no user %s\n", who);
    else if (err == KB_EINVAL)
        fprintf(stderr, "kb: %s: a login is 1-64 of A-Z a-z 0-9 . _ @ -, a password %d-%d bytes\n",
                what, KB_AUTH_PASSWORD_MIN, KB_AUTH_PASSWORD_MAX);
    else if (err)
        fprintf(stderr, "kb: %s failed: %s\n", what, kb_strerror(err));
    return err ? 1 : 0;
}

static int user_add(struct kb_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {{"role", required_argument, NULL, 'r'},
                                         {"name", required_argument, NULL, 'n'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    const char *role_s = NULL, *name = "";
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "r:n:h", opts, NULL)) != -1) {
        switch (c) {
        case 'r': role_s = optarg; break;
        case 'n': name = optarg; break;
        case 'h':
            puts("usage: kb [--db PATH] user add LOGIN --role agent|editor|publisher|admin "
                 "[--name NAME]\n  the password is read from the terminal, or one line on stdin");
            return 0;
        default: return 2;
        }
    }
    enum kb_role role;
    if (optind != argc - 1 || !role_s || !kb_auth_role_parse(role_s, &role)) {
        fprintf(stderr, "kb: user add LOGIN --role agent|editor|publisher|admin [--name N]\n");
        return 2;
    }
    char pw[KB_AUTH_PASSWORD_MAX + 2];
    if (!read_password(pw, sizeof pw)) {
        fprintf(stderr, "kb: no password given\n");
        return 2;
    }
    struct kb_store *st = NULL;
    int rc = 1;
    if (!kb_cli_open_store(ctx, false, &st)) {
        rc = report(kb_auth_user_add(st, argv[optind], name, role, pw), "user add", argv[optind]);
        if (!rc)
            printf("user %s added (%s)\n", argv[optind], kb_auth_role_name(role));
    }
    sodium_memzero(pw, sizeof pw);
    kb_store_free(st);
    return rc;
}

static int user_list(struct kb_ctx *ctx)
{
    struct kb_store *st = NULL;
    if (kb_cli_open_store(ctx, false, &st))
        return 1;
    struct kb_user_row **rows = NULL;
    size_t n = 0;
    enum kb_err err = kb_store_users_list(st, &rows, &n);
    for (size_t i = 0; !err && i < n; i++)
        printf("%-24s %-10s %s%s\n", rows[i]->login, rows[i]->role, rows[i]->name,
               rows[i]->disabled ? " (disabled)" : "");
    kb_user_rows_free(rows, n);
    kb_store_free(st);
    return report(err, "user list", "");
}

static int user_one(struct kb_ctx *ctx, int argc, char **argv, bool disable)
{
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: kb [--db PATH] user %s LOGIN\n", disable ? "disable" : "passwd");
        return 2;
    }
    char pw[KB_AUTH_PASSWORD_MAX + 2] = "";
    if (!disable && !read_password(pw, sizeof pw)) {
        fprintf(stderr, "kb: no password given\n");
        return 2;
    }
    struct kb_store *st = NULL;
    int rc = 1;
    if (!kb_cli_open_store(ctx, false, &st)) {
        enum kb_err err = disable ? kb_auth_user_disable(st, argv[1])
                                  : kb_auth_user_passwd(st, argv[1], pw);
        rc = report(err, disable ? "user disable" : "user passwd", argv[1]);
        if (!rc)
            printf("user %s %s; their sessions ended\n", argv[1],
                   disable ? "disabled" : "has a new password");
    }
    sodium_memzero(pw, sizeof pw);
    kb_store_free(st);
    return rc;
}

int kb_cli_user(struct kb_ctx *ctx, int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : "";
    if (strcmp(sub, "add") == 0)
        return user_add(ctx, argc - 1, argv + 1);
    if (strcmp(sub, "list") == 0)
        return user_list(ctx);
    if (strcmp(sub, "passwd") == 0)
        return user_one(ctx, argc - 1, argv + 1, false);
    if (strcmp(sub, "disable") == 0)
        return user_one(ctx, argc - 1, argv + 1, true);
    FILE *f = strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 ? stdout : stderr;
    fputs("usage: kb [--db PATH] user add LOGIN --role agent|editor|publisher|admin [--name N]\n"
          "       kb [--db PATH] user list | passwd LOGIN | disable LOGIN\n",
          f);
    return f == stdout ? 0 : 2;
}

int kb_cli_token(struct kb_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"role", required_argument, NULL, 'r'}, {"help", no_argument, NULL, 'h'}, {0}};
    if (argc < 2 || strcmp(argv[1], "add") != 0) {
        fprintf(stderr, "usage: kb [--db PATH] token add NAME --role agent|editor|publisher|admin\n");
        return 2;
    }
    const char *role_s = NULL;
    int c;
    optind = 0;
    while ((c = getopt_long(argc - 1, argv + 1, "r:h", opts, NULL)) != -1) {
        switch (c) {
        case 'r': role_s = optarg; break;
        case 'h':
            puts("usage: kb [--db PATH] token add NAME --role ROLE\n"
                 "  prints a bearer token once, for an integration (telephony, the CRM)");
            return 0;
        default: return 2;
        }
    }
    enum kb_role role;
    if (optind != argc - 2 || !role_s || !kb_auth_role_parse(role_s, &role)) {
        fprintf(stderr, "usage: kb [--db PATH] token add NAME --role agent|editor|publisher|admin\n");
        return 2;
    }
    const char *name = argv[1 + optind];
    struct kb_store *st = NULL;
    if (kb_cli_open_store(ctx, false, &st))
        return 1;
    char token[KB_AUTH_SECRET_LEN + 8];
    enum kb_err err = kb_auth_token_add(st, name, role, token);
    kb_store_free(st);
    if (report(err, "token add", name))
        return 1;
    puts(token);
    fprintf(stderr, "kb: the token is shown once: keep it (Authorization: Bearer TOKEN)\n");
    sodium_memzero(token, sizeof token);
    return 0;
}

int kb_cli_audit(struct kb_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {{"since", required_argument, NULL, 's'},
                                         {"limit", required_argument, NULL, 'n'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    int64_t since = 0;
    long limit = 1000;
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "s:n:h", opts, NULL)) != -1) {
        switch (c) {
        case 's': {
            struct tm tm = {0};
            const char *end = strptime(optarg, "%Y-%m-%d", &tm);
            long v;
            if (end && !*end)
                since = (int64_t)timegm(&tm);
            else if (kb_cli_int(optarg, 0, 3650L * 86400, &v) == 0)
                since = (int64_t)time(NULL) - v;
            else {
                fprintf(stderr, "kb: --since takes YYYY-MM-DD or seconds ago\n");
                return 2;
            }
            break;
        }
        case 'n':
            if (kb_cli_int(optarg, 1, 1000000, &limit)) {
                fprintf(stderr, "kb: --limit must be 1-1000000\n");
                return 2;
            }
            break;
        case 'h':
            puts("usage: kb [--db PATH] audit [--since YYYY-MM-DD|SECONDS] [--limit N]\n"
                 "  logins and failures, who read or changed which case, token use");
            return 0;
        default: return 2;
        }
    }
    struct kb_store *st = NULL;
    if (kb_cli_open_store(ctx, false, &st))
        return 1;
    struct kb_audit_row *rows = NULL;
    size_t n = 0;
    enum kb_err err = kb_store_audit_list(st, since, (size_t)limit, &rows, &n);
    for (size_t i = 0; !err && i < n; i++) {
        char at[32];
        kb_crm_iso8601(rows[i].at, at, sizeof at);
        printf("%s %-20s %-16s %-20s %s%s%s\n", at, rows[i].actor, rows[i].action, rows[i].target,
               rows[i].address, *rows[i].detail ? " " : "", rows[i].detail);
    }
    kb_audit_rows_free(rows, n);
    kb_store_free(st);
    return report(err, "audit", "");
}
