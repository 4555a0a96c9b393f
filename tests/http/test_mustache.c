/* tests/http/test_mustache.c: the Mustache engine (kb/http/mustache.c) held to the Mustache
 * specification's own test files, read as shipped from the folder given as argument
 * (../shared/data/mustache-spec), then to its limits and its edges.
 *
 * Output is TAP: one line per test, "ok - interpolation.json: Basic Interpolation" or
 * "not ok - ..." followed by the template, the data, what was rendered and what was expected
 * (escaped on "#" lines); a "#" summary per file; exit status 1 on any failure.
 *
 * Not run, by design: ~lambdas.json (lambdas need code in the data, and the data are JSON)
 * and ~dynamic-names.json ({{>*name}} is an optional extension beyond the core modules and
 * inheritance, which kb's templates do not use). Every other file of the folder runs.
 *
 * Usage: test_mustache SPEC_DIR */
#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "kb/base/buf.h"
#include "kb/http/mustache.h"

#define OUT_MAX (1024 * 1024)
#define MAIN "spec test" /* holds a space: no partial tag can name it */

static const struct {
    const char *file, *why;
} skipped[] = {
    {"~lambdas.json", "lambdas need code in the data; kb's data are JSON"},
    {"~dynamic-names.json",
     "dynamic names ({{>*name}}) are an optional extension beyond the core and inheritance"},
};

static int ntests, nfailed;

static void report(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(bool ok, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%s - ", ok ? "ok" : "not ok");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    ntests++;
    nfailed += !ok;
}

/* s on one "#" line, escaped as a C string. */
static void show(const char *label, const char *s, size_t n)
{
    printf("#   %-9s \"", label);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n')
            printf("\\n");
        else if (c == '\r')
            printf("\\r");
        else if (c == '\t')
            printf("\\t");
        else if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            printf("\\x%02x", c);
        else
            putchar(c);
    }
    printf("\"\n");
}

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* One test of a spec file: true when it passed. */
static bool run_spec_test(const char *file, const json_t *test)
{
    const char *name = str(test, "name");
    const json_t *tmpl = json_object_get(test, "template");
    const json_t *expected = json_object_get(test, "expected");
    const json_t *partials = json_object_get(test, "partials");
    struct kb_mustache *m = NULL;
    struct kb_buf out;
    kb_buf_init(&out, OUT_MAX);
    enum kb_err err = KB_EINVAL;
    const char *where = "test file";
    if (!json_is_string(tmpl) || !json_is_string(expected))
        goto out;
    where = "kb_mustache_new";
    err = kb_mustache_new(&m);
    const char *pname;
    json_t *ptext;
    json_object_foreach((json_t *)partials, pname, ptext) {
        if (err)
            break;
        where = "partial";
        err = kb_mustache_add(m, pname, json_string_value(ptext), json_string_length(ptext));
    }
    if (!err) {
        where = "template";
        err = kb_mustache_add(m, MAIN, json_string_value(tmpl), json_string_length(tmpl));
    }
    if (!err) {
        where = "render";
        err = kb_mustache_render(m, MAIN, json_object_get(test, "data"), &out);
    }
out:;
    bool ok = !err && out.len == json_string_length(expected) &&
              !memcmp(out.data ? out.data : "", json_string_value(expected), out.len);
    report(ok, "%s: %s", file, name);
    if (!ok) {
        printf("#   %s\n", str(test, "desc"));
        if (err)
            printf("#   %s failed: %s %s\n", where, kb_strerror(err),
                   m ? kb_mustache_error(m) : "");
        if (json_is_string(tmpl))
            show("template:", json_string_value(tmpl), json_string_length(tmpl));
        char *data = json_dumps(json_object_get(test, "data"), JSON_ENCODE_ANY | JSON_COMPACT);
        printf("#   data:     %s\n", data ? data : "?");
        free(data);
        show("got:", out.data ? out.data : "", out.len);
        if (json_is_string(expected))
            show("expected:", json_string_value(expected), json_string_length(expected));
    }
    kb_buf_release(&out);
    kb_mustache_free(m);
    return ok;
}

static int json_file(const struct dirent *e)
{
    size_t n = strlen(e->d_name);
    return n > 5 && !strcmp(e->d_name + n - 5, ".json");
}

static void run_spec(const char *dir)
{
    struct dirent **names = NULL;
    int n = scandir(dir, &names, json_file, alphasort);
    if (n < 0) {
        printf("Bail out! cannot read the spec folder %s\n", dir);
        exit(1);
    }
    if (n == 0) {
        printf("Bail out! no spec file in %s\n", dir);
        exit(1);
    }
    for (size_t k = 0; k < sizeof skipped / sizeof *skipped; k++) {
        bool present = false;
        for (int i = 0; i < n; i++)
            present |= !strcmp(names[i]->d_name, skipped[k].file);
        if (!present)
            printf("# %s: not in the folder (would be skipped: %s)\n", skipped[k].file,
                   skipped[k].why);
    }
    for (int i = 0; i < n; i++) {
        const char *file = names[i]->d_name;
        const char *why = NULL;
        for (size_t k = 0; k < sizeof skipped / sizeof *skipped; k++)
            if (!strcmp(file, skipped[k].file))
                why = skipped[k].why;
        if (why) {
            printf("ok - %s # SKIP %s\n", file, why);
            ntests++;
            continue;
        }
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, file);
        json_error_t jerr;
        json_t *spec = json_load_file(path, 0, &jerr);
        const json_t *tests = json_object_get(spec, "tests");
        if (!json_is_array(tests)) {
            report(false, "%s: readable spec file (%s)", file, jerr.text);
        } else {
            size_t passed = 0, k;
            const json_t *test;
            json_array_foreach(tests, k, test) passed += run_spec_test(file, test);
            printf("# %s: %zu of %zu passed\n", file, passed, json_array_size(tests));
        }
        json_decref(spec);
    }
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* ---- limits and edges ---- */

/* Render text (as template "t", with the partials given as name, text pairs ending with
 * NULL) with data parsed from json; the rendered text in *got (caller frees). */
static enum kb_err render(const char *text, const char *json, size_t out_max, char **got, ...)
{
    struct kb_mustache *m = NULL;
    struct kb_buf out;
    kb_buf_init(&out, out_max);
    json_t *data = json ? json_loads(json, JSON_DECODE_ANY, NULL) : NULL;
    enum kb_err err = kb_mustache_new(&m);
    va_list ap;
    va_start(ap, got);
    for (;;) {
        const char *pname = va_arg(ap, const char *);
        if (!pname || err)
            break;
        const char *ptext = va_arg(ap, const char *);
        err = kb_mustache_add(m, pname, ptext, strlen(ptext));
    }
    va_end(ap);
    if (!err)
        err = kb_mustache_add(m, "t", text, strlen(text));
    if (!err)
        err = kb_mustache_render(m, "t", data, &out);
    *got = kb_buf_detach(&out);
    json_decref(data);
    kb_mustache_free(m);
    return err;
}

static void nested_sections(void)
{
    const int n = 10000;
    struct kb_buf b;
    kb_buf_init(&b, 1024 * 1024);
    enum kb_err err = KB_OK;
    for (int i = 0; i < n && !err; i++)
        err = kb_buf_puts(&b, "{{#a}}");
    for (int i = 0; i < n && !err; i++)
        err = kb_buf_puts(&b, "{{/a}}");
    struct kb_mustache *m = NULL;
    if (!err)
        err = kb_mustache_new(&m);
    if (!err)
        err = kb_mustache_add(m, "deep", b.data, b.len);
    report(err == KB_EDEPTH && strstr(kb_mustache_error(m), "deep:1:"),
           "limits: 10,000 nested sections fail to parse with KB_EDEPTH (%s: %s)",
           kb_strerror(err), m ? kb_mustache_error(m) : "");
    /* just under the limit parses and renders */
    kb_buf_clear(&b);
    err = KB_OK;
    for (int i = 0; i < KB_MUSTACHE_MAX_DEPTH - 1 && !err; i++)
        err = kb_buf_puts(&b, "{{#a}}");
    if (!err)
        err = kb_buf_puts(&b, "x");
    for (int i = 0; i < KB_MUSTACHE_MAX_DEPTH - 1 && !err; i++)
        err = kb_buf_puts(&b, "{{/a}}");
    char *got = NULL;
    if (!err)
        err = render(b.data, "{\"a\":true}", OUT_MAX, &got, NULL);
    report(!err && !strcmp(got, "x"), "limits: %d nested sections render (%s)",
           KB_MUSTACHE_MAX_DEPTH - 1, kb_strerror(err));
    free(got);
    kb_buf_release(&b);
    kb_mustache_free(m);
}

static void recursive_partials(void)
{
    char *got = NULL;
    enum kb_err err = render("a{{>loop}}", "{}", OUT_MAX, &got, "loop", "x{{>loop}}", NULL);
    report(err == KB_EDEPTH && !strcmp(got, ""),
           "limits: a partial that includes itself stops with KB_EDEPTH, output untouched (%s)",
           kb_strerror(err));
    free(got);
    err = render("{{>a}}", "{}", OUT_MAX, &got, "a", "  {{>b}}\n", "b", "  {{>a}}\n", NULL);
    report(err == KB_EDEPTH, "limits: two standalone partials including each other stop (%s)",
           kb_strerror(err));
    free(got);
    err = render("{{<p}}{{/p}}", "{}", OUT_MAX, &got, "p", "{{<p}}{{$b}}x{{/b}}{{/p}}", NULL);
    report(err == KB_EDEPTH, "limits: a parent that inherits from itself stops (%s)",
           kb_strerror(err));
    free(got);
    /* recursion that ends with the data is fine (a leaf needs its own empty "kids": else
     * the name resolves in the context stack, on its parent's list, and never ends) */
    err = render("{{>node}}",
                 "{\"n\":\"1\",\"kids\":[{\"n\":\"2\",\"kids\":[{\"n\":\"3\",\"kids\":[]}]}]}",
                 OUT_MAX, &got, "node", "{{n}}({{#kids}}{{>node}}{{/kids}})", NULL);
    report(!err && !strcmp(got, "1(2(3()))"), "limits: a tree renders through a recursive "
                                              "partial (%s: %s)", kb_strerror(err), got);
    free(got);
}

static void output_limits(void)
{
    char *got = NULL;
    struct kb_buf out;
    kb_buf_init(&out, 100);
    struct kb_mustache *m = NULL;
    json_t *data = json_pack("{s:[iiiiiiiiii]}", "l", 1, 2, 3, 4, 5, 6, 7, 8, 9, 10);
    enum kb_err err = kb_mustache_new(&m);
    static const char t[] = "{{#l}}0123456789-{{/l}}";
    if (!err)
        err = kb_mustache_add(m, "t", t, sizeof t - 1);
    if (!err)
        err = kb_buf_puts(&out, "kept");
    if (!err)
        err = kb_mustache_render(m, "t", data, &out);
    report(err == KB_ETOOBIG && out.len == 4 && !strcmp(out.data, "kept"),
           "limits: output over the buffer's limit gives KB_ETOOBIG, buffer as before (%s)",
           kb_strerror(err));
    kb_buf_release(&out);
    kb_mustache_free(m);
    json_decref(data);

    /* 100^3 lines of 1,000 bytes: over KB_MUSTACHE_MAX_OUTPUT long before the end */
    char *line = malloc(1002);
    memset(line, 'x', 1000);
    line[1000] = '\n';
    line[1001] = 0;
    char *tmpl = malloc(1100);
    snprintf(tmpl, 1100, "{{#l}}{{#l}}{{#l}}%s{{/l}}{{/l}}{{/l}}", line);
    struct kb_buf list;
    kb_buf_init(&list, 4096);
    err = kb_buf_puts(&list, "{\"l\":[0");
    for (int i = 1; i < 100 && !err; i++)
        err = kb_buf_printf(&list, ",%d", i);
    if (!err)
        err = kb_buf_puts(&list, "]}");
    if (!err)
        err = render(tmpl, list.data, SIZE_MAX, &got, NULL);
    report(err == KB_ETOOBIG, "limits: output over KB_MUSTACHE_MAX_OUTPUT (%d bytes) gives "
                              "KB_ETOOBIG (%s)", KB_MUSTACHE_MAX_OUTPUT, kb_strerror(err));
    free(got);

    /* 100^4 iterations that write nothing: stopped by the step limit */
    err = render("{{#l}}{{#l}}{{#l}}{{#l}}{{/l}}{{/l}}{{/l}}{{/l}}", list.data, OUT_MAX, &got,
                 NULL);
    report(err == KB_ETOOBIG, "limits: sections that loop without writing stop after %d "
                              "steps (%s)", KB_MUSTACHE_MAX_STEPS, kb_strerror(err));
    free(got);
    kb_buf_release(&list);
    free(line);
    free(tmpl);
}

static void input_limits(void)
{
    struct kb_mustache *m = NULL;
    enum kb_err err = kb_mustache_new(&m);
    size_t n = KB_MUSTACHE_MAX_TEMPLATE + 1;
    char *big = malloc(n);
    memset(big, 'a', n);
    if (!err)
        err = kb_mustache_add(m, "big", big, n);
    report(err == KB_ETOOBIG, "limits: a template over %d bytes is refused (%s)",
           KB_MUSTACHE_MAX_TEMPLATE, kb_strerror(err));
    err = kb_mustache_add(m, "big", big, n - 1);
    report(!err, "limits: a template of %d bytes is accepted (%s)", KB_MUSTACHE_MAX_TEMPLATE,
           kb_strerror(err));
    free(big);
    static const char bad[] = "caf\xe9 {{x}}";
    err = kb_mustache_add(m, "bad", bad, sizeof bad - 1);
    report(err == KB_EUTF8, "limits: a template that is not UTF-8 is refused (%s: %s)",
           kb_strerror(err), kb_mustache_error(m));
    static const char nul[] = "a\0b";
    err = kb_mustache_add(m, "nul", nul, sizeof nul - 1);
    report(err == KB_EUTF8, "limits: a template holding a NUL is refused (%s)",
           kb_strerror(err));
    char name[KB_MUSTACHE_MAX_NAME + 2];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = 0;
    err = kb_mustache_add(m, name, "x", 1);
    report(err == KB_EINVAL, "limits: a template name over %d bytes is refused (%s)",
           KB_MUSTACHE_MAX_NAME, kb_strerror(err));
    kb_mustache_free(m);
}

static void utf8_data(void)
{
    char *got = NULL;
    json_t *data = json_object();
    json_object_set_new(data, "x", json_stringn_nocheck("a\xff<b\xc3", 5));
    json_object_set_new(data, "z", json_stringn_nocheck("n\0l", 3));
    struct kb_mustache *m = NULL;
    struct kb_buf out;
    kb_buf_init(&out, OUT_MAX);
    enum kb_err err = kb_mustache_new(&m);
    static const char t[] = "{{x}}|{{{x}}}|{{z}}|{{#x}}{{.}}{{/x}}";
    if (!err)
        err = kb_mustache_add(m, "t", t, sizeof t - 1);
    if (!err)
        err = kb_mustache_render(m, "t", data, &out);
    static const char want[] = "a\xef\xbf\xbd&lt;b\xef\xbf\xbd|a\xef\xbf\xbd<b\xef\xbf\xbd|"
                               "n\xef\xbf\xbdl|a\xef\xbf\xbd&lt;b\xef\xbf\xbd";
    bool ok = !err && out.len == sizeof want - 1 && !memcmp(out.data, want, out.len);
    report(ok, "data: invalid UTF-8 and NUL in strings render as U+FFFD (%s)",
           kb_strerror(err));
    if (!ok)
        show("got:", out.data ? out.data : "", out.len);
    kb_buf_release(&out);
    kb_mustache_free(m);
    json_decref(data);
    (void)got;
}

static void expect(const char *what, const char *text, const char *json, const char *want)
{
    char *got = NULL;
    enum kb_err err = render(text, json, OUT_MAX, &got, NULL);
    bool ok = !err && !strcmp(got, want);
    report(ok, "%s (%s)", what, kb_strerror(err));
    if (!ok) {
        show("got:", got, strlen(got));
        show("expected:", want, strlen(want));
    }
    free(got);
}

static void edges(void)
{
    expect("escaping: ' is escaped too (&#39;), for attribute values", "<a title='{{x}}'>",
           "{\"x\":\"it's <b> & \\\"q\\\"\"}",
           "<a title='it&#39;s &lt;b&gt; &amp; &quot;q&quot;'>");
    expect("truth: 0, 0.0, \"\", [], null, false and a missing name are false",
           "{{#a}}a{{/a}}{{#b}}b{{/b}}{{#c}}c{{/c}}{{#d}}d{{/d}}{{#e}}e{{/e}}{{#f}}f{{/f}}"
           "{{#g}}g{{/g}}|{{^a}}A{{/a}}{{^c}}C{{/c}}{{^g}}G{{/g}}",
           "{\"a\":0,\"b\":0.0,\"c\":\"\",\"d\":[],\"e\":null,\"f\":false}", "|ACG");
    expect("truth: 1, \"0\", {} and true are true",
           "{{#a}}a{{/a}}{{#b}}b{{/b}}{{#c}}c{{/c}}{{#d}}d{{/d}}",
           "{\"a\":1,\"b\":\"0\",\"c\":{},\"d\":true}", "abcd");
    expect("values: reals print in their shortest form, lists and objects as nothing",
           "{{a}} {{b}} {{c}} {{d}} {{e}}|{{f}}{{g}}|",
           "{\"a\":0.1,\"b\":1e300,\"c\":-2.5,\"d\":3.0,\"e\":false,\"f\":[1],\"g\":{}}",
           "0.1 1e+300 -2.5 3 false||");
}

static void layout(void)
{
    char *got = NULL;
    enum kb_err err =
        render("{{<layout}}\n{{$title}}{{name}}{{/title}}\n{{$main}}\n    <p>{{text}}</p>\n"
               "{{/main}}\n{{/layout}}\n",
               "{\"name\":\"A & B\",\"text\":\"<hi>\"}", OUT_MAX, &got, "layout",
               "<html>\n<title>{{$title}}kb{{/title}}</title>\n<body>\n  <main>\n"
               "    {{$main}}\n    {{/main}}\n  </main>\n</body>\n</html>\n",
               NULL);
    const char *want = "<html>\n<title>A &amp; B</title>\n<body>\n  <main>\n"
                       "    <p>&lt;hi&gt;</p>\n  </main>\n</body>\n</html>\n";
    bool ok = !err && !strcmp(got, want);
    report(ok, "layout: a page inherits a layout, its block re-indented (%s)", kb_strerror(err));
    if (!ok) {
        show("got:", got, strlen(got));
        show("expected:", want, strlen(want));
    }
    free(got);
}

static void parse_errors(void)
{
    static const struct {
        const char *text, *what;
        enum kb_err err;
    } cases[] = {
        {"a\n{{#list}}\n{{x}}", "t:2: unclosed section 'list'", KB_EPARSE},
        {"{{#a}}\n{{/b}}", "t:2: closing tag 'b' does not match 'a'", KB_EPARSE},
        {"{{/a}}", "t:1: closing tag without opening tag 'a'", KB_EPARSE},
        {"x\n\n{{name", "t:3: unclosed tag", KB_EPARSE},
        {"{{}}", "t:1: empty tag", KB_EPARSE},
        {"{{a b}}", "t:1: space inside a tag name", KB_EPARSE},
        {"{{=<% =}}", "t:1: bad set-delimiter tag", KB_EPARSE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct kb_mustache *m = NULL;
        enum kb_err err = kb_mustache_new(&m);
        if (!err)
            err = kb_mustache_add(m, "t", cases[i].text, strlen(cases[i].text));
        report(err == cases[i].err && !strcmp(kb_mustache_error(m), cases[i].what),
               "parse errors: \"%s\" (%s)", cases[i].what, m ? kb_mustache_error(m) : "");
        kb_mustache_free(m);
    }
}

static void load_dir(void)
{
    char dir[] = "/tmp/kb-test-mustache-XXXXXX";
    bool ok = mkdtemp(dir) != NULL;
    static const char *const files[][2] = {
        {"page.mustache", "{{<layout}}{{$body}}hi {{who}}{{/body}}{{/layout}}\n"},
        {"layout.mustache", "[{{$body}}{{/body}}]\n"},
        {"notes.txt", "not a template {{"},
        {".hidden.mustache", "{{#broken}"},
    };
    char path[PATH_MAX];
    for (size_t i = 0; ok && i < sizeof files / sizeof *files; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i][0]);
        FILE *f = fopen(path, "w");
        ok = f && fputs(files[i][1], f) >= 0;
        if (f)
            ok &= fclose(f) == 0;
    }
    struct kb_mustache *m = NULL;
    struct kb_buf out;
    kb_buf_init(&out, OUT_MAX);
    json_t *data = json_pack("{s:s}", "who", "you");
    enum kb_err err = ok ? kb_mustache_new(&m) : KB_EIO;
    if (!err)
        err = kb_mustache_load_dir(m, dir);
    if (!err)
        err = kb_mustache_render(m, "page", data, &out);
    ok = !err && !strcmp(out.data, "[hi you]\n");
    report(ok, "load_dir: every .mustache file, named without extension (%s %s)",
           kb_strerror(err), m ? kb_mustache_error(m) : "");
    err = kb_mustache_render(m, "notes", data, &out);
    report(err == KB_ENOTFOUND, "load_dir: other files are not templates (%s)",
           kb_strerror(err));
    err = kb_mustache_load_dir(m, "/nonexistent/kb-mustache");
    report(err == KB_ENOTFOUND, "load_dir: a missing folder gives KB_ENOTFOUND (%s)",
           kb_strerror(err));
    /* replacing a template */
    kb_buf_clear(&out);
    err = kb_mustache_add(m, "layout", "<{{$body}}{{/body}}>", 20);
    if (!err)
        err = kb_mustache_render(m, "page", data, &out);
    report(!err && !strcmp(out.data, "<hi you>"), "add: a template of the same name replaces "
                                                  "it (%s)", kb_strerror(err));
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i][0]);
        unlink(path);
    }
    rmdir(dir);
    json_decref(data);
    kb_buf_release(&out);
    kb_mustache_free(m);
}

struct shared {
    const struct kb_mustache *m;
    const json_t *data;
    const char *want;
    int failures;
};

static void *render_many(void *arg)
{
    struct shared *s = arg;
    struct kb_buf out;
    kb_buf_init(&out, OUT_MAX);
    for (int i = 0; i < 2000; i++) {
        kb_buf_clear(&out);
        if (kb_mustache_render(s->m, "page", s->data, &out) || strcmp(out.data, s->want))
            __atomic_add_fetch(&s->failures, 1, __ATOMIC_RELAXED);
    }
    kb_buf_release(&out);
    return NULL;
}

static void threads(void)
{
    struct kb_mustache *m = NULL;
    enum kb_err err = kb_mustache_new(&m);
    static const char layout[] = "<ul>\n  {{$items}}\n  {{/items}}\n</ul>\n";
    static const char page[] = "{{<layout}}{{$items}}\n{{#items}}\n<li>{{name}}</li>\n"
                               "{{/items}}\n{{/items}}{{/layout}}";
    if (!err)
        err = kb_mustache_add(m, "layout", layout, sizeof layout - 1);
    if (!err)
        err = kb_mustache_add(m, "page", page, sizeof page - 1);
    json_t *data = json_pack("{s:[{s:s},{s:s}]}", "items", "name", "a<", "name", "b");
    struct shared s = {m, data, "<ul>\n  <li>a&lt;</li>\n  <li>b</li>\n</ul>\n", 0};
    pthread_t th[8];
    int started = 0;
    for (int i = 0; !err && i < 8; i++)
        started += pthread_create(&th[i], NULL, render_many, &s) == 0;
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    report(!err && started == 8 && s.failures == 0,
           "threads: 8 threads render one set at once (%d failures, %s)", s.failures,
           kb_strerror(err));
    json_decref(data);
    kb_mustache_free(m);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s SPEC_DIR\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    run_spec(argv[1]);
    nested_sections();
    recursive_partials();
    output_limits();
    input_limits();
    utf8_data();
    edges();
    layout();
    parse_errors();
    load_dir();
    threads();
    printf("1..%d\n", ntests);
    if (nfailed)
        printf("# %d of %d failed\n", nfailed, ntests);
    return nfailed ? 1 : 0;
}
