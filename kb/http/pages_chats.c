/* kb/http/pages_chats.c: /agent/chats, the agents' live chats: the conversations that wait for
 * a person, in real time, and the ones the agent holds, where he talks to the customer, sends
 * article cards and opens cases.
 *
 *   GET /agent/chats?lang=fr|en        (role agent)                       chats.mustache
 *
 * The page is a shell: web/static/agent/chats.js (an ES module) opens the agents' channel on the chat's port
 * (ws://HOST:CHAT_PORT/agent, subprotocol kb-agent, documented in kb/chat/frames.c) with the
 * session's cookie, and draws what it says; article cards come from GET /api/v1/search with
 * the agent's session (internal articles are listed and marked: only the server decides what
 * reaches a customer, and it refuses them). A live channel needs JavaScript: without it the
 * page says so and links the cases inbox.
 *
 * Nothing a customer or an agent typed is on this page: chats.js inserts it as text. The
 * wording chats.js needs is the theme's (the chats_js_* keys of web/i18n/LANG.json), given to
 * it as one JSON attribute that the template escapes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kb/http/route.h"
#include "kb/http/theme.h"

/* The interface language: ?lang=fr|en, else the configured default (fr, en). */
static const char *ui_lang(const struct kb_req *req)
{
    const char *l = kb_req_arg(req, "lang");
    if (l && (strcmp(l, "fr") == 0 || strcmp(l, "en") == 0))
        return l;
    return req->cfg->default_lang && strcmp(req->cfg->default_lang, "en") == 0 ? "en" : "fr";
}

/* The agents' channel beside the chat: its URL with /chat replaced by /agent, else its
 * origin's /agent. */
static void agent_url(const struct kb_resp *resp, char *out, size_t n)
{
    size_t len = strlen(resp->chat_url);
    if (len > 5 && strcmp(resp->chat_url + len - 5, "/chat") == 0)
        snprintf(out, n, "%.*s/agent", (int)(len - 5), resp->chat_url);
    else
        snprintf(out, n, "%s/agent", resp->chat_origin);
}

void kb_page_chats(struct kb_req *req, struct kb_resp *resp)
{
    const char *lang = ui_lang(req);
    json_t *all = kb_theme_strings(lang);
    const char *title = json_string_value(json_object_get(all, "chats_title"));
    json_t *data = kb_page_data(req, resp, lang, title ? title : "Chats");
    if (data) {
        json_object_set_new(data, "noindex", json_true());
        json_object_set_new(data, "agent_page", json_true());
        /* An agents' page: the console's navigation, not the help centre's search box. */
        json_object_set_new(data, "console", json_true());
        json_object_set_new(data, "editor", json_boolean(req->caller.role >= KB_ROLE_EDITOR));
        char url[400];
        agent_url(resp, url, sizeof url);
        json_object_set_new(data, "agent_url", json_string(url));
        /* The wording of chats.js, as JSON in one attribute (escaped by the template). */
        json_t *js = json_object();
        const char *key;
        json_t *v;
        json_object_foreach(all, key, v)
        {
            if (strncmp(key, "chats_js_", 9) == 0)
                json_object_set(js, key + 9, v);
        }
        char *s = js ? json_dumps(js, JSON_COMPACT) : NULL;
        json_decref(js);
        json_object_set_new(data, "strings", json_string(s ? s : "{}"));
        free(s);
        static const char *const ui[] = {"fr", "en"};
        for (size_t i = 0; i < 2; i++) {
            char href[64];
            snprintf(href, sizeof href, "/agent/chats?lang=%s", ui[i]);
            json_array_append_new(json_object_get(data, "langs"),
                                  json_pack("{s:s, s:s, s:s, s:b}", "lang", ui[i], "name",
                                            kb_theme_lang_name(ui[i]), "href", href, "current",
                                            strcmp(ui[i], lang) == 0));
        }
    }
    kb_page_render(resp, 200, "chats", data);
}
