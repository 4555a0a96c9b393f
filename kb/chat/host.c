/* kb/chat/host.c: the functions the rules <call> (a contract for rule writers).
 *
 *   <call>kb_search TEXT</call>
 *       the best public, published article for TEXT in the conversation's language (user
 *       variable lang, else the bot variable lang): "Title — first sentences (/a/slug)", or ""
 *       when nothing matches; sets kb_found (yes|no) and kb_slug. In the chat the best 3
 *       articles are also attached to the reply as cards (`articles`).
 *   <call>quick A|B|C</call>
 *       attaches quick replies to the reply; returns "".
 *   <call>contact TEXT</call>
 *       finds an email address or a phone number in the customer's last message as typed
 *       (RiveScript's normalisation strips the dots of an address from <star>, so TEXT is only
 *       a fallback), stores it in the user variable email or phone, and returns email, phone
 *       or invalid.
 *   <call>case_open SUBJECT</call>
 *       opens a case when the user variable consent is yes and email or phone is set: returns
 *       its reference (also in the user variable case_ref) and the customer gets the case
 *       frame; otherwise returns "" and sets case_error to consent or contact (server when
 *       the database failed; unavailable in `kb bot`, which has no conversation). When
 *       SUBJECT is the customer's message (<star>), the case keeps it as typed. The case holds name, email, phone, SUBJECT, the language, the
 *       whole transcript so far, the articles shown in the conversation, and when and to what
 *       text the customer consented (the bot's message the customer answered when consent
 *       became yes).
 *   <call>case_status REF</call>
 *       the status of a case in the conversation's language, only for a case opened in this
 *       conversation or whose email or phone is the conversation's own; otherwise unknown.
 *   <call>handoff_hours</call>
 *       open when a person can take over the conversation now (the chat's opening hours,
 *       --chat-hours, in the server's local time), closed otherwise and in `kb bot`. Rules
 *       offer to wait for a person when it is open, and a case when it is closed.
 *   <call>handoff</call>
 *       the customer waits for a person: when the hours are open, returns waiting and, once
 *       this reply is sent, the conversation waits for an agent (the customer gets the
 *       handoff frame, agents see it in /agent/chats; the bot stays silent until an agent
 *       has left or --chat-wait has passed without one). Returns closed otherwise (nothing
 *       changes). When the wait ends without an agent the bot is sent the input
 *       "kbevent wait expired": rules that call handoff answer it (the shipped ones offer a
 *       case).
 *   <call>set_lang L</call>
 *       sets the user variable lang (a language the search knows); "" on success, the
 *       unchanged language otherwise. In the chat, a language with rules also moves the
 *       conversation to its rules from the next message.
 *
 * A conversation may also set the user variable outcome (rule or article) for the analytics:
 * a case sets case, and a conversation that ends with none is abandoned. */
#include "kb/chat/host.h"

#include <ctype.h>
#include <strings.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "bot/rivescript.h"
#include "kb/articles/article.h"
#include "kb/articles/indexer.h"
#include "kb/base/buf.h"
#include "kb/base/log.h"
#include "kb/base/text.h"
#include "kb/chat/chat_int.h"
#include "kb/store/articles.h"
#include "kb/store/cases.h"
#include "kb/store/conversations.h"
#include "search/search.h"

#define EXCERPT_MAX 280 /* bytes of article text in a chat answer */
#define SUMMARY_MAX 200 /* bytes of an article card's summary */
#define QUERY_MAX 1000
#define SUBJECT_MAX 300
#define QUICK_MAX 8      /* quick replies on one reply */
#define QUICK_LEN 80     /* bytes of one */
#define CARDS 3          /* articles attached by kb_search */
#define TRANSCRIPT_MAX 2000

struct kb_chat_host {
    struct kb_store *st;
    struct search_index *idx;
    pthread_mutex_t lock; /* one store connection and one reader: one call at a time */
};

enum kb_err kb_chat_host_open(const char *db_path, struct kb_chat_host **out)
{
    *out = NULL;
    struct kb_chat_host *h = calloc(1, sizeof *h);
    if (!h)
        return KB_ENOMEM;
    pthread_mutex_init(&h->lock, NULL);
    char *dir = kb_indexer_dir_for(db_path);
    enum kb_err e = kb_store_open(db_path, true, &h->st);
    if (!e)
        e = dir ? search_index_open(dir, false, &h->idx) : KB_ENOMEM;
    free(dir);
    if (e) {
        kb_chat_host_free(h);
        return e;
    }
    *out = h;
    return KB_OK;
}

void kb_chat_host_free(struct kb_chat_host *h)
{
    if (!h)
        return;
    search_index_free(h->idx);
    kb_store_free(h->st);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

void chat_case_free(struct chat_case *c)
{
    if (!c)
        return;
    free(c->subject);
    free(c->name);
    free(c->email);
    free(c->phone);
    free(c->consent_text);
    json_decref(c->transcript);
    json_decref(c->articles);
    free(c);
}

/* ---- helpers ------------------------------------------------------------------------- */

/* The first sentences of text, cut at a sentence end (or a space) within max bytes, on one
 * line. */
static enum kb_err put_excerpt(struct kb_buf *o, const char *text, size_t max)
{
    while (*text == ' ' || *text == '\n')
        text++;
    size_t n = strlen(text), cut = 0;
    if (n <= max)
        cut = n;
    else {
        for (size_t i = 0; i < max; i++)
            if ((text[i] == '.' || text[i] == '!' || text[i] == '?') &&
                (text[i + 1] == ' ' || text[i + 1] == '\n') && i > 40)
                cut = i + 1;
        if (!cut)
            for (size_t i = max; i > 0 && !cut; i--)
                if (text[i] == ' ')
                    cut = i;
        if (!cut)
            cut = kb_text_utf8_prefix(text, max);
    }
    size_t start = o->len;
    enum kb_err e = kb_buf_append(o, text, cut);
    if (!e && cut < n)
        e = kb_buf_puts(o, "…");
    for (size_t i = start; !e && i < o->len; i++)
        if (o->data[i] == '\n')
            o->data[i] = ' ';
    return e;
}

/* The value of a user variable, NULL when unset or "undefined". */
static const char *var(struct bot_call *call, const char *name)
{
    const char *v = bot_call_get(call, name);
    return v && *v && strcmp(v, "undefined") != 0 ? v : NULL;
}

static const char *conv_lang(struct bot_call *call)
{
    const char *l = var(call, "lang");
    if (!l)
        l = bot_call_botvar(call, "lang");
    return l && *l ? l : NULL;
}

/* argv joined with spaces into b (cut at its limit: the first words are enough). */
static enum kb_err join_args(struct kb_buf *b, size_t argc, const char *const *argv)
{
    enum kb_err e = KB_OK;
    for (size_t i = 0; i < argc && !e; i++)
        e = (i && kb_buf_putc(b, ' ')) ? KB_ETOOBIG : kb_buf_puts(b, argv[i]);
    return e == KB_ETOOBIG ? KB_OK : e;
}

json_t *chat_card(const char *slug, const char *title, const char *text)
{
    struct kb_buf sum, url;
    kb_buf_init(&sum, SUMMARY_MAX + 8);
    kb_buf_init(&url, 200);
    enum kb_err e = put_excerpt(&sum, text, SUMMARY_MAX);
    if (!e)
        e = kb_buf_printf(&url, "/a/%s", slug);
    json_t *card = e ? NULL
                     : json_pack("{s:s, s:s, s:s, s:s}", "slug", slug, "title", title, "url",
                                 url.data, "summary", sum.data ? sum.data : "");
    kb_buf_release(&sum);
    kb_buf_release(&url);
    return card;
}

/* ---- kb_search ----------------------------------------------------------------------- */

/* The answer and the cards come from the search reader alone: the hits' titles and the
 * start of their plain text (search_query.lead), no snippet, no facet, no article read from
 * the database. Reading each hit's source and rendering all its Markdown to cut 280 bytes from
 * it cost three renders per question; on a base of long articles (5,000 service-public ones
 * beside the shipped content) that made a question four times a rule line's CPU and the chat
 * fell behind at 1,000 messages a second (tests/bench/chat/README.md). The reader is the
 * snapshot the search ran on: an article archived since shows until the next refresh, as on
 * the search page. */
static enum kb_err m_search(void *ctx, struct bot_call *call, size_t argc,
                            const char *const *argv, char **out)
{
    struct chat_turn *t = bot_call_context(call);
    struct kb_chat_host *h = ctx;
    struct search_index *idx = t ? t->idx : h ? h->idx : NULL;
    struct kb_buf q, o;
    kb_buf_init(&q, QUERY_MAX);
    kb_buf_init(&o, 4096);
    enum kb_err e = join_args(&q, argc, argv);
    struct search_query sq = {.text = q.data ? q.data : "", .lang = conv_lang(call),
                              .limit = t ? CARDS : 1, .scope = SEARCH_SCOPE_PUBLIC,
                              .lead = EXCERPT_MAX + 1};
    struct search_result *r = NULL;
    if (!t && h)
        pthread_mutex_lock(&h->lock);
    if (!e && q.len && idx)
        e = search_run(idx, &sq, &r);
    if (!t && h)
        pthread_mutex_unlock(&h->lock);
    const struct search_hit *best = !e && r && r->nhits ? &r->hits[0] : NULL;
    for (size_t i = 0; !e && t && r && i < r->nhits; i++) {
        const struct search_hit *hit = &r->hits[i];
        if (json_array_append_new(t->articles, chat_card(hit->slug, hit->title,
                                                         hit->lead ? hit->lead : "")))
            e = KB_ENOMEM;
    }
    if (t)
        t->searched = true;
    if (!e && best) {
        e = kb_buf_printf(&o, "%s — ", best->title);
        if (!e)
            e = put_excerpt(&o, best->lead ? best->lead : "", EXCERPT_MAX);
        if (!e)
            e = kb_buf_printf(&o, " (/a/%s)", best->slug);
    }
    if (!e)
        e = bot_call_set(call, "kb_found", best ? "yes" : "no");
    if (!e)
        e = bot_call_set(call, "kb_slug", best ? best->slug : "");
    if (!e)
        *out = kb_buf_detach(&o);
    search_result_free(r);
    kb_buf_release(&q);
    kb_buf_release(&o);
    return e;
}

/* ---- quick --------------------------------------------------------------------------- */

static enum kb_err m_quick(void *ctx, struct bot_call *call, size_t argc,
                           const char *const *argv, char **out)
{
    (void)ctx;
    *out = NULL;
    struct chat_turn *t = bot_call_context(call);
    if (!t)
        return KB_OK;
    struct kb_buf all;
    kb_buf_init(&all, QUICK_MAX * (QUICK_LEN + 1));
    enum kb_err e = join_args(&all, argc, argv);
    const char *p = all.data ? all.data : "";
    while (!e && *p) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        while (n && p[0] == ' ') {
            p++;
            n--;
        }
        while (n && p[n - 1] == ' ')
            n--;
        if (n && json_array_size(t->quick) < QUICK_MAX) {
            char *label = strndup(p, kb_text_utf8_prefix(p, n < QUICK_LEN ? n : QUICK_LEN));
            if (!label || json_array_append_new(t->quick, json_string(label)))
                e = KB_ENOMEM;
            free(label);
        }
        p += bar ? (size_t)(bar - p) + 1 : strlen(p);
    }
    kb_buf_release(&all);
    return e;
}

/* ---- contact ------------------------------------------------------------------------- */

static bool email_char(char c, bool domain)
{
    return isalnum((unsigned char)c) || c == '.' || c == '-' ||
           (!domain && (c == '_' || c == '+' || c == '%'));
}

/* The first email address in s (malloc'd), NULL when none: local@domain.tld. */
static char *find_email(const char *s)
{
    for (const char *at = strchr(s, '@'); at; at = strchr(at + 1, '@')) {
        const char *b = at, *e = at + 1;
        while (b > s && email_char(b[-1], false))
            b--;
        while (*e && email_char(*e, true))
            e++;
        while (e > at + 1 && (e[-1] == '.' || e[-1] == '-'))
            e--; /* a sentence's full stop */
        while (b < at && b[0] == '.')
            b++;
        const char *dot = memchr(at + 1, '.', (size_t)(e - at - 1));
        const char *last = dot;
        for (const char *q = at + 1; q < e; q++)
            if (*q == '.')
                last = q;
        if (b == at || !dot || dot == at + 1 || e - last < 3 || e - b > 254)
            continue;
        bool alpha_tld = true;
        for (const char *q = last + 1; q < e; q++)
            alpha_tld = alpha_tld && isalpha((unsigned char)*q);
        if (alpha_tld)
            return strndup(b, (size_t)(e - b));
    }
    return NULL;
}

/* The first phone number in s (malloc'd, as typed, trimmed): a run of digits, spaces, dots,
 * dashes, parentheses and a leading +, holding 8 to 15 digits. */
static char *find_phone(const char *s)
{
    for (const char *p = s; *p; p++) {
        if (!(isdigit((unsigned char)*p) || *p == '+' || *p == '('))
            continue;
        if (p > s && (isalnum((unsigned char)p[-1]) || p[-1] == '@'))
            continue;
        const char *e = p;
        int digits = 0;
        while (*e && (isdigit((unsigned char)*e) || *e == ' ' || *e == '.' || *e == '-' ||
                      *e == '(' || *e == ')' || (*e == '+' && e == p))) {
            digits += isdigit((unsigned char)*e) != 0;
            e++;
        }
        while (e > p && !isdigit((unsigned char)e[-1]) && e[-1] != ')')
            e--;
        if (digits >= 8 && digits <= 15 && !(*e && isalpha((unsigned char)*e)))
            return strndup(p, (size_t)(e - p));
        p = e > p ? e - 1 : p;
    }
    return NULL;
}

static enum kb_err m_contact(void *ctx, struct bot_call *call, size_t argc,
                             const char *const *argv, char **out)
{
    (void)ctx;
    struct chat_turn *t = bot_call_context(call);
    struct kb_buf arg;
    kb_buf_init(&arg, 1000);
    enum kb_err e = join_args(&arg, argc, argv);
    const char *sources[] = {t ? t->raw : NULL, arg.data};
    const char *kind = "invalid";
    for (size_t i = 0; !e && i < 2 && strcmp(kind, "invalid") == 0; i++) {
        if (!sources[i])
            continue;
        char *v = find_email(sources[i]);
        if (v) {
            kind = "email";
            e = bot_call_set(call, "email", v);
        } else if ((v = find_phone(sources[i]))) {
            kind = "phone";
            e = bot_call_set(call, "phone", v);
        }
        free(v);
    }
    kb_buf_release(&arg);
    if (!e && !(*out = strdup(kind)))
        e = KB_ENOMEM;
    return e;
}

/* ---- case_open ----------------------------------------------------------------------- */

/* Letters and digits of s, folded (case, accents): what RiveScript's normalisation keeps. */
static char *letters(const char *s)
{
    char *f = kb_text_fold(s);
    if (!f)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; f[i]; i++)
        if (isalnum((unsigned char)f[i]) || (unsigned char)f[i] >= 0x80)
            f[k++] = f[i];
    f[k] = 0;
    return f;
}

/* The subject as the customer typed it when SUBJECT is their message (<star> of a catch-all:
 * lowercased, punctuation and apostrophes gone), else SUBJECT itself. Owned by the caller. */
static char *subject_text(const char *raw, const char *arg)
{
    char *a = letters(arg), *r = raw ? letters(raw) : NULL;
    bool same = a && r && *a && strcmp(a, r) == 0;
    free(a);
    free(r);
    return strdup(same ? raw : arg);
}

static char *dup_opt(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Add the articles of a message's extra JSON ({"articles":[...]}) to list, once per slug. */
static enum kb_err add_articles(json_t *list, const json_t *arts)
{
    size_t i, j;
    json_t *a, *b;
    json_array_foreach(arts, i, a)
    {
        const char *slug = json_string_value(json_object_get(a, "slug"));
        if (!slug)
            continue;
        bool seen = false;
        json_array_foreach(list, j, b)
        {
            seen = seen || strcmp(json_string_value(json_object_get(b, "slug")), slug) == 0;
        }
        if (seen)
            continue;
        json_t *card = json_pack("{s:s, s:O, s:O}", "slug", slug, "title",
                                 json_object_get(a, "title"), "url", json_object_get(a, "url"));
        if (!card || json_array_append_new(list, card))
            return KB_ENOMEM;
    }
    return KB_OK;
}

enum kb_err chat_transcript(struct kb_store *st, int64_t conv_id, json_t **transcript,
                            json_t **articles)
{
    struct kb_message_row *rows = NULL;
    size_t n = 0;
    *transcript = json_array();
    *articles = json_array();
    if (!*transcript || !*articles)
        return KB_ENOMEM;
    enum kb_err e = kb_store_messages_after(st, conv_id, 0, TRANSCRIPT_MAX, &rows, &n);
    for (size_t i = 0; !e && i < n; i++) {
        char at[32];
        kb_crm_iso8601(rows[i].at, at, sizeof at);
        json_t *m = json_pack("{s:I, s:s, s:s, s:s}", "seq", (json_int_t)rows[i].seq, "from",
                              rows[i].sender, "text", rows[i].text, "at", at);
        json_t *extra = rows[i].extra ? json_loads(rows[i].extra, 0, NULL) : NULL;
        /* Who said it: an agent's message names the agent (display name and login). */
        if (m && strcmp(rows[i].sender, "agent") == 0)
            for (const char *const *k = (const char *const[]){"name", "login", NULL}; *k; k++) {
                const char *v = json_string_value(json_object_get(extra, *k));
                json_object_set_new(m, *k, json_string(v ? v : ""));
            }
        if (!m || json_array_append_new(*transcript, m))
            e = KB_ENOMEM;
        if (!e && extra)
            e = add_articles(*articles, json_object_get(extra, "articles"));
        json_decref(extra);
    }
    kb_message_rows_free(rows, n);
    return e;
}

/* The transcript so far (stored messages and this turn's customer message) and the articles
 * shown in the conversation. */
static enum kb_err gather(struct chat_turn *t, json_t **transcript, json_t **articles)
{
    enum kb_err e = chat_transcript(t->st, chat_conv_id(t->conv), transcript, articles);
    if (!e) {
        char at[32];
        kb_crm_iso8601(t->now, at, sizeof at);
        json_t *m = json_pack("{s:I, s:s, s:s, s:s}", "seq", (json_int_t)t->customer_seq, "from",
                              "customer", "text", t->raw, "at", at);
        if (!m || json_array_append_new(*transcript, m))
            e = KB_ENOMEM;
    }
    if (!e)
        e = add_articles(*articles, t->articles);
    return e;
}

static enum kb_err m_case_open(void *ctx, struct bot_call *call, size_t argc,
                               const char *const *argv, char **out)
{
    (void)ctx;
    *out = NULL;
    struct chat_turn *t = bot_call_context(call);
    if (!t)
        return bot_call_set(call, "case_error", "unavailable");
    if (t->opened) { /* one case per message: a second call gives the same reference */
        *out = strdup(t->opened->ref);
        return *out ? KB_OK : KB_ENOMEM;
    }
    const char *consent = var(call, "consent");
    const char *email = var(call, "email"), *phone = var(call, "phone");
    if (!consent || strcmp(consent, "yes") != 0)
        return bot_call_set(call, "case_error", "consent");
    if (!email && !phone)
        return bot_call_set(call, "case_error", "contact");
    chat_conv_consent(t->conv, consent, t->now);
    struct chat_case *c = calloc(1, sizeof *c);
    struct kb_buf subject;
    kb_buf_init(&subject, SUBJECT_MAX);
    enum kb_err e = c ? join_args(&subject, argc, argv) : KB_ENOMEM;
    if (!e)
        e = gather(t, &c->transcript, &c->articles);
    if (!e)
        e = kb_crm_ref_next(t->st, c->ref, &c->year, &c->number);
    if (!e) {
        c->subject = subject.len ? subject_text(t->raw, subject.data) : strdup("-");
        c->name = dup_opt(var(call, "name"));
        c->email = dup_opt(email);
        c->phone = dup_opt(phone);
        c->consent_text = dup_opt(chat_conv_consent_text(t->conv));
        if (!c->subject || (var(call, "name") && !c->name) || (email && !c->email) ||
            (phone && !c->phone) || (chat_conv_consent_text(t->conv) && !c->consent_text))
            e = KB_ENOMEM;
    }
    kb_buf_release(&subject);
    if (e) {
        chat_case_free(c);
        if (e == KB_ENOMEM)
            return e;
        kb_log(KB_LOG_ERROR, "chat: cannot open a case: %s", kb_strerror(e));
        t->server_error = true;
        return bot_call_set(call, "case_error", "server");
    }
    c->data = (struct kb_crm_case_new){
        .subject = c->subject, .lang = chat_conv_lang(t->conv), .name = c->name,
        .email = c->email, .phone = c->phone, .consent_at = chat_conv_consent_at(t->conv),
        .consent_text = c->consent_text, .conversation_id = chat_conv_id(t->conv),
        .transcript = c->transcript, .articles = c->articles};
    t->opened = c;
    e = bot_call_set(call, "case_ref", c->ref);
    if (!e)
        e = bot_call_set(call, "case_error", "");
    if (!e && !(*out = strdup(c->ref)))
        e = KB_ENOMEM;
    return e;
}

/* ---- case_status --------------------------------------------------------------------- */

/* Phone numbers compare on their digits ("06 12.34" is "061234"). */
static bool same_phone(const char *a, const char *b)
{
    while (*a || *b) {
        while (*a && !isdigit((unsigned char)*a))
            a++;
        while (*b && !isdigit((unsigned char)*b))
            b++;
        if (*a != *b)
            return false;
        if (*a) {
            a++;
            b++;
        }
    }
    return true;
}

static enum kb_err m_case_status(void *ctx, struct bot_call *call, size_t argc,
                                 const char *const *argv, char **out)
{
    (void)ctx;
    struct chat_turn *t = bot_call_context(call);
    const char *label = "unknown";
    struct kb_case_row *row = NULL;
    char ref[KB_CRM_REF_MAX] = "";
    if (argc >= 1 && strlen(argv[0]) < sizeof ref) {
        for (size_t i = 0; argv[0][i]; i++)
            ref[i] = (char)toupper((unsigned char)argv[0][i]);
        ref[strlen(argv[0])] = 0;
    }
    if (t && kb_crm_ref_valid(ref) && kb_store_case_get(t->st, ref, &row) == KB_OK) {
        const char *email = var(call, "email"), *phone = var(call, "phone");
        bool mine = row->conversation_id == chat_conv_id(t->conv) ||
                    (email && row->email && strcasecmp(email, row->email) == 0) ||
                    (phone && row->phone && same_phone(phone, row->phone));
        if (mine)
            label = kb_crm_status_label(row->status, chat_conv_lang(t->conv));
    }
    kb_case_row_free(row);
    *out = strdup(label);
    return *out ? KB_OK : KB_ENOMEM;
}

/* ---- handoff_hours, handoff ----------------------------------------------------------- */

static enum kb_err m_handoff_hours(void *ctx, struct bot_call *call, size_t argc,
                                   const char *const *argv, char **out)
{
    (void)ctx, (void)argc, (void)argv;
    struct chat_turn *t = bot_call_context(call);
    *out = strdup(t && chat_engine_hours_open(t->now) ? "open" : "closed");
    return *out ? KB_OK : KB_ENOMEM;
}

static enum kb_err m_handoff(void *ctx, struct bot_call *call, size_t argc,
                             const char *const *argv, char **out)
{
    (void)ctx, (void)argc, (void)argv;
    struct chat_turn *t = bot_call_context(call);
    bool open = t && chat_engine_hours_open(t->now);
    if (open)
        t->handoff = true; /* the turn's write moves the conversation to waiting */
    *out = strdup(open ? "waiting" : "closed");
    return *out ? KB_OK : KB_ENOMEM;
}

/* ---- set_lang ------------------------------------------------------------------------ */

static enum kb_err m_set_lang(void *ctx, struct bot_call *call, size_t argc,
                              const char *const *argv, char **out)
{
    (void)ctx;
    if (argc == 1 && strlen(argv[0]) <= 12 && search_lang_supported(argv[0])) {
        *out = NULL;
        return bot_call_set(call, "lang", argv[0]);
    }
    const char *l = conv_lang(call);
    *out = strdup(l ? l : "");
    return *out ? KB_OK : KB_ENOMEM;
}

/* ---- registration -------------------------------------------------------------------- */

static enum kb_err register_all(struct bot_brain *b, void *ctx)
{
    static const struct {
        const char *name;
        bot_macro_fn *fn;
    } fns[] = {{"kb_search", m_search}, {"quick", m_quick},           {"contact", m_contact},
               {"case_open", m_case_open}, {"case_status", m_case_status}, {"set_lang", m_set_lang},
               {"handoff_hours", m_handoff_hours}, {"handoff", m_handoff}};
    enum kb_err e = KB_OK;
    for (size_t i = 0; i < sizeof fns / sizeof fns[0] && !e; i++)
        e = bot_macro_register(b, fns[i].name, fns[i].fn, ctx);
    return e;
}

enum kb_err kb_chat_host_register(struct kb_chat_host *h, struct bot_brain *b)
{
    return register_all(b, h);
}

enum kb_err chat_host_register(struct bot_brain *b)
{
    return register_all(b, NULL);
}
