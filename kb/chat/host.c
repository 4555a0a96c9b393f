/* kb/chat/host.c: the host functions the rules <call> (see host.h). */
#include "kb/chat/host.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "bot/rivescript.h"
#include "kb/base/buf.h"
#include "kb/articles/article.h"
#include "kb/articles/indexer.h"
#include "kb/store/articles.h"
#include "search/search.h"

#define EXCERPT_MAX 280 /* bytes of article text in a chat answer */
#define QUERY_MAX 1000

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

/* The first sentences of text, cut at a sentence end (or a space) within EXCERPT_MAX. */
static enum kb_err put_excerpt(struct kb_buf *o, const char *text)
{
    while (*text == ' ' || *text == '\n')
        text++;
    size_t n = strlen(text), cut = 0;
    if (n <= EXCERPT_MAX)
        cut = n;
    else {
        for (size_t i = 0; i < EXCERPT_MAX; i++)
            if ((text[i] == '.' || text[i] == '!' || text[i] == '?') &&
                (text[i + 1] == ' ' || text[i + 1] == '\n') && i > 40)
                cut = i + 1;
        if (!cut)
            for (size_t i = EXCERPT_MAX; i > 0 && !cut; i--)
                if (text[i] == ' ')
                    cut = i;
    }
    struct kb_buf t;
    kb_buf_init(&t, EXCERPT_MAX + 8);
    enum kb_err e = kb_buf_append(&t, text, cut);
    if (!e && cut < n)
        e = kb_buf_puts(&t, "…");
    /* one line: the chat shows it as a paragraph */
    for (size_t i = 0; !e && i < t.len; i++)
        if (t.data[i] == '\n')
            t.data[i] = ' ';
    if (!e)
        e = kb_buf_puts(o, t.data ? t.data : "");
    kb_buf_release(&t);
    return e;
}

static const char *conv_lang(struct bot_call *call)
{
    const char *l = bot_call_get(call, "lang");
    if (!l || !*l)
        l = bot_call_botvar(call, "lang");
    return l && *l ? l : NULL;
}

static enum kb_err m_search(void *ctx, struct bot_call *call, size_t argc,
                            const char *const *argv, char **out)
{
    struct kb_chat_host *h = ctx;
    struct kb_buf q, o;
    kb_buf_init(&q, QUERY_MAX);
    kb_buf_init(&o, 4096);
    enum kb_err e = KB_OK;
    for (size_t i = 0; i < argc && !e; i++)
        e = (i && kb_buf_putc(&q, ' ')) ? KB_ETOOBIG : kb_buf_puts(&q, argv[i]);
    if (e == KB_ETOOBIG)
        e = KB_OK; /* a very long question: its first words are enough */
    struct search_query sq = {.text = q.data ? q.data : "", .lang = conv_lang(call), .limit = 1,
                              .scope = SEARCH_SCOPE_PUBLIC};
    struct search_result *r = NULL;
    struct kb_article_row *row = NULL;
    pthread_mutex_lock(&h->lock);
    if (!e && q.len)
        e = search_run(h->idx, &sq, &r);
    if (!e && r && r->nhits) {
        e = kb_store_get_id(h->st, r->hits[0].id, &row);
        if (!e)
            e = kb_article_render_row(row, KB_ARTICLE_TEXT);
        if (e == KB_ENOTFOUND) /* archived since the index was read: say nothing */
            e = KB_OK;
    }
    pthread_mutex_unlock(&h->lock);
    if (!e && row) {
        e = kb_buf_printf(&o, "%s — ", row->title);
        if (!e)
            e = put_excerpt(&o, row->text);
        if (!e)
            e = kb_buf_printf(&o, " (/a/%s)", row->slug);
    }
    if (!e)
        e = bot_call_set(call, "kb_found", row ? "yes" : "no");
    if (!e)
        e = bot_call_set(call, "kb_slug", row ? row->slug : "");
    if (!e)
        *out = kb_buf_detach(&o);
    kb_article_row_free(row);
    search_result_free(r);
    kb_buf_release(&q);
    kb_buf_release(&o);
    return e;
}

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

enum kb_err kb_chat_host_register(struct kb_chat_host *h, struct bot_brain *b)
{
    enum kb_err e = bot_macro_register(b, "kb_search", m_search, h);
    return e ? e : bot_macro_register(b, "set_lang", m_set_lang, h);
}
