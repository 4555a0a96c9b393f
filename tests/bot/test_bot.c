/* tests/bot/test_bot.c: behaviour the RSTS does not cover: French rules, state JSON round
 * trip, hostile input (1 MB, invalid UTF-8, redirect loops, garbage rule files), the WD's
 * trigger order, topic includes/inherits, object macros, diagnostics, weighted replies,
 * <botstar>, Unicode string tags, the begin block's tag order, threads, a reply with its
 * host context and the state it leaves, bot variables read by macros while other threads
 * change them, macros registered too late. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bot/cli.h"
#include "bot/rivescript.h"
#include "kb/base/buf.h"

/* Diagnostics collected as "file:line: E|W: message" lines. */
static void collect(void *ctx, enum bot_severity sev, const char *file, unsigned line,
                    const char *msg)
{
    KB_IGNORE(kb_buf_printf(ctx, "%s:%u: %c: %s\n", file, line,
                            sev == BOT_DIAG_ERROR ? 'E' : 'W', msg));
}

static struct bot_brain *load_diag(const char *src, unsigned flags, struct kb_buf *diag)
{
    struct bot_brain *b = NULL;
    assert_int_equal(bot_brain_new(flags, &b), KB_OK);
    bot_brain_set_diag(b, collect, diag);
    assert_int_equal(bot_brain_stream(b, src, "test.rive"), KB_OK);
    assert_int_equal(bot_brain_sort(b), KB_OK);
    return b;
}

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
    /* customers often type without accents: matching ignores them, stars keep them */
    expect(b, "ou est mon vehicule", "Au garage.");
    expect(b, "j'ai perdu ma clé et mon Téléphone", "Vous avez perdu ma clé et mon téléphone.");
    bot_brain_free(b);
    b = load("+ où est ma commande\n- En route.\n+ a [*] (x|y) b *\n- s1=<star1> s2=<star2>\n"
             "! sub l’entretien = l entretien\n+ je veux faire l entretien\n- Quel modèle ?\n"
             "+ ma ville est *\n- {formal}<star>{/formal}\n",
             BOT_UTF8);
    expect(b, "OU EST MA COMMANDE", "En route.");
    expect(b, "a hello x b world", "s1=x s2=world"); /* [*] does not capture (WD) */
    expect(b, "je veux faire l’entretien?", "Quel modèle ?");
    expect(b, "ma ville est saint-étienne", "Saint-Étienne");
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

    /* Thousands of triggers that backtrack hard on a long message: the matcher's budget per
     * message is spent after a few of them, and the catch-all still answers at once. */
    struct kb_buf rules;
    kb_buf_init(&rules, 1 << 20);
    for (int i = 0; i < 3000; i++)
        assert_int_equal(kb_buf_printf(&rules, "+ * * * * * * * * * * * * zz%d\n- no\n", i), KB_OK);
    assert_int_equal(kb_buf_puts(&rules, "+ *\n- fallback\n"), KB_OK);
    struct bot_brain *p = load(rules.data, 0);
    kb_buf_release(&rules);
    expect(p, "a b c d e f g h i j k l m n o p q r s t u v w x y z a b c d e f g", "fallback");
    bot_brain_free(p);
}

/* The WD's order: weight, then atomic > [optional] > _ > # > *, then only-_ , only-# , "*". */
static void test_sort_order(void **state)
{
    struct bot_brain *b = load("+ *\n- star\n+ _\n- under\n+ #\n- pound\n"
                               "+ hello *\n- wild\n+ hello _\n- alpha\n+ hello #\n- number\n"
                               "+ hello [big] world\n- option\n+ hello world\n- atomic\n"
                               "+ {weight=5} * bye\n- weighted\n"
                               "+ * you *\n- one word\n+ * love you *\n- two words\n", 0);
    expect(b, "hello world", "atomic");
    expect(b, "hello big world", "option");
    expect(b, "hello there", "alpha");
    expect(b, "hello 42", "number");
    expect(b, "hello there 42", "wild");
    expect(b, "42", "pound");
    expect(b, "word", "under");
    expect(b, "two words", "star");
    expect(b, "hello bye", "weighted");
    expect(b, "i love you so", "two words");
    expect(b, "i see you there", "one word");
    bot_brain_free(b);
}

/* Triggers from RiveScript's example brain (eliza.rive in rivescript-js, eg/brain). The WD
 * sorts triggers with wildcards "by the number of words that aren't wildcards": [*] is an
 * optional wildcard, no word, so "[*] you *" has one word and "you remember *" two. */
static void test_sort_optional_wildcards(void **state)
{
    struct bot_brain *b = load("+ *\n- star\n"
                               "+ [*] (sorry|apologize|apology) [*]\n- apology\n"
                               "+ i remember *\n- i remember\n"
                               "+ do you remember *\n- do you remember\n"
                               "+ you remember *\n- you remember\n"
                               "+ [*] if *\n- if\n"
                               "+ you are *\n- you are\n"
                               "+ i * you\n- i star you\n"
                               "+ you * me\n- you star me\n"
                               "+ [*] you *\n- optional you\n"
                               "+ [*] your *\n- your\n"
                               "+ [*] perhaps [*]\n- perhaps\n"
                               "+ [*]\n- optional star\n",
                               0);
    expect(b, "you remember blue sky", "you remember");
    expect(b, "do you remember blue sky", "do you remember");
    expect(b, "i remember being sorry", "i remember"); /* 2 words beat (sorry|...) */
    expect(b, "you are kind", "you are");
    expect(b, "well you know", "optional you");
    expect(b, "i really like you", "i star you");
    expect(b, "sorry", "apology");
    expect(b, "what if it rains", "if");
    expect(b, "perhaps", "perhaps");
    expect(b, "hello", "optional star"); /* [*] alone: with *, at the bottom, longer first */
    bot_brain_free(b);
    /* one word that is not a wildcard beats none, whatever the length */
    b = load("+ [*] say *\n- optional say\n+ i say *\n- i say\n", 0);
    expect(b, "i say hello", "i say");
    expect(b, "they say hello", "optional say");
    bot_brain_free(b);
}

/* The WD's own example of includes and inherits. */
static void test_topics(void **state)
{
    struct bot_brain *b = load("+ *\n- random star\n"
                               "+ go *\n- {topic=<star>}in <star>\n"
                               "> topic alpha\n+ alpha trigger\n- Alpha's response.\n< topic\n"
                               "> topic beta\n+ beta trigger\n- Beta's response.\n< topic\n"
                               "> topic abc includes alpha beta\n+ how are you\n- good\n"
                               "+ *\n- abc star\n< topic\n"
                               "> topic abd inherits alpha beta\n+ *\n- abd star\n< topic\n"
                               "> topic loop1 includes loop2\n+ one\n- 1\n< topic\n"
                               "> topic loop2 includes loop1\n+ two\n- 2\n< topic\n",
                               0);
    expect(b, "go abc", "in abc");
    expect(b, "alpha trigger", "Alpha's response.");
    expect(b, "beta trigger", "Beta's response.");
    expect(b, "how are you", "good");
    expect(b, "anything", "abc star");
    assert_int_equal(bot_uservar_set(b, "u", "topic", "abd"), KB_OK);
    expect(b, "alpha trigger", "abd star"); /* own triggers override inherited ones */
    assert_int_equal(bot_uservar_set(b, "u", "topic", "loop1"), KB_OK);
    expect(b, "two", "2"); /* include cycles end */
    expect(b, "one", "1");
    bot_brain_free(b);
}

static enum kb_err m_echo(void *ctx, struct bot_call *call, size_t argc, const char *const *argv,
                          char **out)
{
    struct kb_buf o;
    kb_buf_init(&o, 4096);
    (void)ctx;
    for (size_t i = 0; i < argc; i++)
        assert_int_equal(kb_buf_printf(&o, "[%s]", argv[i]), KB_OK);
    assert_int_equal(bot_call_set(call, "echoed", bot_call_user(call)), KB_OK);
    *out = kb_buf_detach(&o);
    return KB_OK;
}

static enum kb_err m_fail(void *ctx, struct bot_call *call, size_t argc, const char *const *argv,
                          char **out)
{
    (void)ctx, (void)call, (void)argc, (void)argv, (void)out;
    return KB_EIO;
}

static enum kb_err m_raw(void *ctx, struct bot_call *call, size_t argc, const char *const *argv,
                         char **out)
{
    (void)ctx, (void)call, (void)argc, (void)argv;
    *out = strdup("<id>{@who}");
    return *out ? KB_OK : KB_ENOMEM;
}

static void test_macros(void **state)
{
    struct kb_buf diag;
    kb_buf_init(&diag, 1 << 16);
    struct bot_brain *b = load_diag(
        "> object shout javascript\n  return args.join(' ').toUpperCase();\n< object\n"
        "+ echo *\n- <call>echo <star> \"two words\"</call>!\n"
        "+ shout *\n- <call>shout <star></call>\n"
        "+ fail\n- x<call>fail</call>y\n+ who\n- <get echoed>\n+ raw\n- <call>raw</call>\n",
        BOT_UTF8, &diag);
    assert_non_null(strstr(diag.data, "test.rive:1: W: object \"shout\" is written in javascript"));
    assert_int_equal(bot_macro_register(b, "echo", m_echo, NULL), KB_OK);
    assert_int_equal(bot_macro_register(b, "fail", m_fail, NULL), KB_OK);
    assert_int_equal(bot_macro_register(b, "raw", m_raw, NULL), KB_OK);
    /* messages lose < > ; a macro's text is never expanded again */
    expect(b, "echo où est <star>", "[où][est][star][two words]!");
    expect(b, "raw", "<id>{@who}");
    expect(b, "who", "u");
    expect(b, "shout hi", "[ERR: Object Not Found]");
    expect(b, "fail", "x[ERR: Macro Failure]y");
    bot_brain_free(b);
    kb_buf_release(&diag);
}

static void test_diagnostics(void **state)
{
    struct kb_buf diag;
    kb_buf_init(&diag, 1 << 16);
    struct bot_brain *b = load_diag("! version = 2.0\n"
                                    "- orphan reply\n"
                                    "+ hello (there\n"
                                    "- never loaded\n"
                                    "+ Où est mon véhicule ?\n"
                                    "- Au garage.\n"
                                    "+ hi\n- one\n"
                                    "+ hi\n- two\n"
                                    "+ {weight=9} good *\n- weighted\n"
                                    "+ good morning\n- shadowed\n"
                                    "* <get x> => nothing\n"
                                    "? what\n"
                                    "+ empty\n"
                                    "> topic open\n+ a\n- b\n",
                                    BOT_UTF8, &diag);
    const char *d = diag.data;
    assert_non_null(strstr(d, "test.rive:2: E: '-' line outside a trigger"));
    assert_non_null(strstr(d, "test.rive:3: E: trigger \"hello (there\": unbalanced brackets"));
    assert_null(strstr(d, "test.rive:4:")); /* the rejected trigger's reply is dropped quietly */
    assert_non_null(strstr(d, "test.rive:5: W: trigger \"Où est mon véhicule ?\" has capitals"));
    assert_non_null(strstr(d, "test.rive:9: W: duplicate trigger \"hi\""));
    assert_non_null(strstr(d, "test.rive:13: W: trigger \"good morning\" can never match"));
    assert_non_null(strstr(d, "test.rive:15: E: condition"));
    assert_non_null(strstr(d, "test.rive:16: E: unknown command '?'"));
    assert_non_null(strstr(d, "test.rive:17: W: trigger \"empty\" has no reply"));
    assert_non_null(strstr(d, "test.rive:18: W: topic \"open\" is not closed"));
    assert_int_equal(bot_brain_errors(b), 4);
    expect(b, "où est mon VÉHICULE", "Au garage."); /* corrected and loaded */
    expect(b, "good morning", "weighted");
    bot_brain_free(b);
    kb_buf_release(&diag);
}

/* A directory with a broken file and a binary one: both reported, the good file loads. */
static void test_load_dir(void **state)
{
    char dir[] = "/tmp/kb-bot-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[512];
    static const struct {
        const char *name, *text;
        size_t len;
    } files[] = {{"a.rive", "+ hello\n- Bonjour !\n", 20},
                 {"b.rive", "+ broken (\n- x\n+ ok\n- fine\n", 27},
                 {"c.rive", "\x7f" "ELF\0\0\x01", 7}};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i].name);
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(files[i].text, 1, files[i].len, f), files[i].len);
        fclose(f);
    }
    FILE *out = tmpfile();
    assert_non_null(out);
    unsigned warnings = 0;
    assert_int_equal(bot_check_dir(dir, true, out, &warnings), 2);
    struct bot_brain *b = NULL;
    assert_int_equal(bot_brain_new(BOT_UTF8, &b), KB_OK);
    bot_brain_set_diag(b, NULL, NULL);
    assert_int_equal(bot_brain_load_dir(b, dir), KB_OK);
    expect(b, "hello", "Bonjour !");
    expect(b, "ok", "fine");
    bot_brain_free(b);
    rewind(out);
    char text[2048] = {0};
    assert_true(fread(text, 1, sizeof text - 1, out) > 0);
    assert_non_null(strstr(text, "b.rive:1: error: trigger \"broken (\": unbalanced brackets"));
    assert_non_null(strstr(text, "c.rive: error: binary file"));
    fclose(out);
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i].name);
        unlink(path);
    }
    rmdir(dir);
}

static void test_reply_weight(void **state)
{
    struct bot_brain *b = load("+ hi\n- often{weight=1000}\n- rare\n", 0);
    int often = 0;
    for (int i = 0; i < 200; i++) {
        char *got = NULL;
        assert_int_equal(bot_reply(b, "u", "hi", &got), KB_OK);
        often += strcmp(got, "often") == 0;
        assert_true(strcmp(got, "often") == 0 || strcmp(got, "rare") == 0);
        free(got);
    }
    assert_true(often >= 190);
    bot_brain_free(b);
}

static void test_botstar_unicode(void **state)
{
    struct bot_brain *b = load("+ pose moi une question\n- Quelle est la couleur de ta voiture\n"
                               "+ *\n% quelle est la couleur de ta *\n- <star> ? Pour une <botstar> ?\n"
                               "+ je m appelle *\n- {uppercase}<star>{/uppercase}, ou <formal>, "
                               "{lowercase}ÉTÉ{/lowercase}, {sentence}<star>{/sentence}\n"
                               "! sub j'ai = j ai\n! sub m'appelle = m appelle\n"
                               "+ j ai un (@veh)\n- Un <star>.\n! array veh = Clio|Mégane|Scénic\n",
                               BOT_UTF8);
    expect(b, "pose-moi une question", "ERR: No Reply Matched");
    expect(b, "pose moi une question", "Quelle est la couleur de ta voiture");
    expect(b, "rouge", "rouge ? Pour une voiture ?");
    expect(b, "Je m'appelle éloïse durand", "ÉLOÏSE DURAND, ou Éloïse Durand, été, Éloïse durand");
    expect(b, "J'ai un Scénic", "Un scénic.");
    bot_brain_free(b);
}

/* WD: {topic} and <set> of the begin reply run first, the other tags around the reply. */
static void test_begin(void **state)
{
    struct bot_brain *b = load("> begin\n+ request\n"
                               "* <get name> == undefined => {topic=newuser}{ok}\n"
                               "* <get mood> == angry => {uppercase}{ok}{/uppercase}\n"
                               "- {ok}\n< begin\n"
                               "> topic newuser\n+ *\n- What is your name?\n"
                               "+ _\n% what is your name\n- <set name=<formal>>Hi <get name>.{topic=random}\n"
                               "< topic\n+ i am angry\n- <set mood=angry>sorry\n+ *\n- ok <get name>\n",
                               0);
    expect(b, "hello", "What is your name?");
    expect(b, "ada", "Hi Ada.");
    expect(b, "how are you", "ok Ada");
    expect(b, "i am angry", "sorry");
    expect(b, "hello", "OK ADA");
    bot_brain_free(b);
}

static void test_depth(void **state)
{
    struct bot_brain *b = load("! global depth = 3\n+ a *\n@ a <star> x\n+ *\n- end\n", 0);
    char *got = NULL;
    assert_int_equal(bot_reply(b, "u", "a b", &got), KB_OK);
    assert_string_equal(got, "ERR: Deep Recursion Detected");
    free(got);
    bot_brain_free(b);
}

struct worker {
    struct bot_brain *b;
    char user[16];
    bool ok;
};

static void *chat(void *arg)
{
    struct worker *w = arg;
    w->ok = true;
    for (int i = 0; i < 200; i++) {
        char *got = NULL;
        if (bot_reply(w->b, w->user, "count", &got) != KB_OK)
            w->ok = false;
        free(got);
    }
    return NULL;
}

/* Users chat in parallel on one brain; each user's messages still count in order. */
static void test_threads(void **state)
{
    struct bot_brain *b = load("+ count\n- <add n=1>n=<get n>\n", 0);
    pthread_t th[4];
    struct worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i].b = b;
        snprintf(w[i].user, sizeof w[i].user, "user%d", i % 2);
        assert_int_equal(pthread_create(&th[i], NULL, chat, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_true(w[i].ok);
    }
    for (int i = 0; i < 2; i++) {
        char user[16];
        snprintf(user, sizeof user, "user%d", i);
        char *n = bot_uservar_get(b, user, "n");
        assert_string_equal(n, "400");
        free(n);
    }
    assert_int_equal(bot_user_count(b), 2);
    assert_true(bot_user_bytes(b) > 0);
    bot_user_forget(b, "user0");
    assert_int_equal(bot_user_count(b), 1);
    bot_brain_free(b);
}

/* A host macro: the text of the context bot_reply_ctx was given, kept in a user variable. */
static enum kb_err m_ctx(void *ctx, struct bot_call *call, size_t argc, const char *const *argv,
                         char **out)
{
    (void)ctx, (void)argc, (void)argv;
    const char *host = bot_call_context(call);
    if (!host) {
        *out = strdup("no context");
        return *out ? KB_OK : KB_ENOMEM;
    }
    enum kb_err e = bot_call_set(call, "ticket", host);
    if (e)
        return e;
    struct kb_buf o;
    kb_buf_init(&o, 256);
    e = kb_buf_printf(&o, "ticket %s", host);
    *out = e ? NULL : kb_buf_detach(&o);
    kb_buf_release(&o);
    return e ? e : (*out ? KB_OK : KB_ENOMEM);
}

static const char *json_str(json_t *root, const char *obj, const char *key)
{
    json_t *o = obj ? json_object_get(root, obj) : root;
    return json_string_value(json_object_get(o, key));
}

static const char *json_first(json_t *root, const char *arr)
{
    return json_string_value(json_array_get(json_object_get(root, arr), 0));
}

/* The context reaches the macro; the state returned is the one the reply left: its <set>,
 * the macro's bot_call_set, the {topic} it moved to, the message and the reply. */
static void test_reply_ctx(void **state)
{
    struct bot_brain *b = load("+ open *\n- <set item=<star>>{topic=support}<call>ctx</call>\n"
                               "> topic support\n+ *\n- <call>ctx</call>\n< topic\n",
                               0);
    assert_int_equal(bot_macro_register(b, "ctx", m_ctx, NULL), KB_OK);
    char ticket[] = "T-42";
    char *out = NULL, *st = NULL, *exported = NULL;
    assert_int_equal(bot_reply_ctx(b, "u", "open blue car", ticket, &out, &st), KB_OK);
    assert_string_equal(out, "ticket T-42");
    assert_non_null(st);
    assert_int_equal(bot_user_export(b, "u", &exported), KB_OK);
    assert_string_equal(st, exported);
    json_error_t jerr;
    json_t *root = json_loads(st, 0, &jerr);
    assert_non_null(root);
    assert_string_equal(json_str(root, "vars", "item"), "blue car");
    assert_string_equal(json_str(root, "vars", "ticket"), "T-42");
    assert_string_equal(json_str(root, NULL, "topic"), "support");
    assert_string_equal(json_first(root, "input"), "open blue car");
    assert_string_equal(json_first(root, "reply"), "ticket T-42");
    json_decref(root);
    free(out);
    free(st);
    free(exported);
    /* bot_reply gives macros no context; a NULL state pointer asks for none */
    expect(b, "anything", "no context");
    assert_int_equal(bot_reply_ctx(b, "u", "again", NULL, &out, NULL), KB_OK);
    assert_string_equal(out, "no context");
    free(out);
    bot_brain_free(b);
}

static void *count_with_state(void *arg)
{
    struct worker *w = arg;
    w->ok = true;
    for (int i = 0; i < 100; i++) {
        char *got = NULL, *st = NULL;
        if (bot_reply_ctx(w->b, w->user, "count", NULL, &got, &st) != KB_OK) {
            w->ok = false;
            continue;
        }
        json_error_t jerr;
        json_t *root = json_loads(st, 0, &jerr);
        const char *n = root ? json_str(root, "vars", "n") : NULL;
        const char *last = root ? json_first(root, "reply") : NULL;
        /* the state is the one this reply left, not a later one */
        if (!n || !last || strcmp(n, got) != 0 || strcmp(last, got) != 0)
            w->ok = false;
        json_decref(root);
        free(got);
        free(st);
    }
    return NULL;
}

/* Four threads reply to one user: each reply and its state come as a pair. */
static void test_reply_ctx_threads(void **state)
{
    struct bot_brain *b = load("+ count\n- <add n=1><get n>\n", 0);
    pthread_t th[4];
    struct worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i].b = b;
        snprintf(w[i].user, sizeof w[i].user, "same");
        assert_int_equal(pthread_create(&th[i], NULL, count_with_state, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_true(w[i].ok);
    }
    char *n = bot_uservar_get(b, "same", "n");
    assert_string_equal(n, "400");
    free(n);
    bot_brain_free(b);
}

static const char *const langs[] = {"en", "fr", "a much longer value than the others"};

static bool known_lang(const char *v)
{
    for (size_t i = 0; i < sizeof langs / sizeof *langs; i++)
        if (strcmp(v, langs[i]) == 0)
            return true;
    return false;
}

/* Reads "lang" twice, lets the other thread run, then reads both texts whole: each must
 * still be one of the values the rules set. */
static enum kb_err m_readlang(void *ctx, struct bot_call *call, size_t argc,
                              const char *const *argv, char **out)
{
    (void)ctx, (void)argc, (void)argv;
    const char *a = bot_call_botvar(call, "lang");
    for (int i = 0; i < 20; i++)
        sched_yield();
    const char *b = bot_call_botvar(call, "lang");
    for (int i = 0; i < 20; i++)
        sched_yield();
    bool ok = a && b && known_lang(a) && known_lang(b) && !bot_call_botvar(call, "unset");
    *out = strdup(ok ? "ok" : "bad");
    return *out ? KB_OK : KB_ENOMEM;
}

struct flipper {
    struct bot_brain *b;
    bool ok;
};

static void *flip_lang(void *arg)
{
    struct flipper *f = arg;
    char msg[96];
    f->ok = true;
    for (int i = 0; i < 600; i++) {
        char *got = NULL;
        snprintf(msg, sizeof msg, "flip %s", langs[i % 3]);
        if (bot_reply(f->b, "flipper", msg, &got) != KB_OK || strcmp(got, "ok") != 0)
            f->ok = false;
        free(got);
    }
    return NULL;
}

/* bot_call_botvar hands out copies: a <bot lang=...> tag in another thread's reply frees
 * the brain's string while the macro still reads its own. */
static void test_botvar_threads(void **state)
{
    struct bot_brain *b = load("! var lang = en\n+ flip *\n- <bot lang=<star>>ok\n"
                               "+ read\n- <call>readlang</call>\n", 0);
    assert_int_equal(bot_macro_register(b, "readlang", m_readlang, NULL), KB_OK);
    struct flipper f = {.b = b};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, flip_lang, &f), 0);
    for (int i = 0; i < 300; i++)
        expect(b, "read", "ok");
    pthread_join(th, NULL);
    assert_true(f.ok);
    bot_brain_free(b);
}

/* One value copied once per call however often it is asked for; distinct values stop at
 * BOT_CALL_MAX_COPIES, past which the answer is NULL. */
static enum kb_err m_manyvars(void *ctx, struct bot_call *call, size_t argc,
                              const char *const *argv, char **out)
{
    (void)ctx, (void)argc, (void)argv;
    const char *first = bot_call_botvar(call, "v0");
    bool same = true;
    for (int i = 0; i < 1000; i++)
        same &= bot_call_botvar(call, "v0") == first;
    size_t got = 0;
    char name[16];
    for (int i = 0; i < BOT_CALL_MAX_COPIES + 6; i++) {
        snprintf(name, sizeof name, "v%d", i);
        const char *v = bot_call_botvar(call, name);
        char want[16];
        snprintf(want, sizeof want, "value %d", i);
        if (v && strcmp(v, want) == 0)
            got++;
    }
    struct kb_buf o;
    kb_buf_init(&o, 64);
    enum kb_err e = kb_buf_printf(&o, "%s %zu", same ? "same" : "differ", got);
    *out = e ? NULL : kb_buf_detach(&o);
    kb_buf_release(&o);
    return e ? e : (*out ? KB_OK : KB_ENOMEM);
}

static void test_botvar_copies(void **state)
{
    struct kb_buf rules;
    kb_buf_init(&rules, 1 << 16);
    for (int i = 0; i < BOT_CALL_MAX_COPIES + 6; i++)
        assert_int_equal(kb_buf_printf(&rules, "! var v%d = value %d\n", i, i), KB_OK);
    assert_int_equal(kb_buf_puts(&rules, "+ many\n- <call>many</call>\n"), KB_OK);
    struct bot_brain *b = load(rules.data, 0);
    kb_buf_release(&rules);
    assert_int_equal(bot_macro_register(b, "many", m_manyvars, NULL), KB_OK);
    char want[32];
    snprintf(want, sizeof want, "same %d", BOT_CALL_MAX_COPIES);
    expect(b, "many", want);
    expect(b, "many", want); /* the copies went with the first call */
    bot_brain_free(b);
}

/* Macros are registered before serving: after sorting still, once a reply ran never. */
static void test_macro_register_late(void **state)
{
    struct bot_brain *b = NULL;
    assert_int_equal(bot_brain_new(0, &b), KB_OK);
    assert_int_equal(bot_macro_register(b, "echo", m_echo, NULL), KB_OK);
    assert_int_equal(bot_brain_stream(b, "+ echo *\n- <call>echo <star></call>\n"
                                         "+ fail\n- <call>fail</call>\n", "t"), KB_OK);
    assert_int_equal(bot_brain_sort(b), KB_OK);
    assert_int_equal(bot_macro_register(b, "fail", m_fail, NULL), KB_OK);
    expect(b, "echo hi", "[hi]");
    assert_int_equal(bot_macro_register(b, "raw", m_raw, NULL), KB_EBUSY);
    assert_int_equal(bot_macro_register(b, "echo", m_raw, NULL), KB_EBUSY);
    expect(b, "echo hi", "[hi]"); /* the table did not change */
    expect(b, "fail", "[ERR: Macro Failure]");
    bot_brain_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sort_order),
        cmocka_unit_test(test_sort_optional_wildcards),
        cmocka_unit_test(test_topics),
        cmocka_unit_test(test_macros),
        cmocka_unit_test(test_macro_register_late),
        cmocka_unit_test(test_diagnostics),
        cmocka_unit_test(test_load_dir),
        cmocka_unit_test(test_reply_weight),
        cmocka_unit_test(test_botstar_unicode),
        cmocka_unit_test(test_begin),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_reply_ctx),
        cmocka_unit_test(test_reply_ctx_threads),
        cmocka_unit_test(test_botvar_threads),
        cmocka_unit_test(test_botvar_copies),
        cmocka_unit_test(test_french),
        cmocka_unit_test(test_state_roundtrip),
        cmocka_unit_test(test_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
