/* bot/user.c: per-user state (variables, topic, the last 9 inputs and replies).
 *
 * Users live in a hash table guarded by one mutex; each user has its own mutex, held for a
 * whole reply, so that two users chat in parallel while one user's messages run in order.
 * A reference count keeps a user alive while a reply holds it, even if it is forgotten. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "bot/brain.h"

/* SipHash (libsodium's crypto_shorthash) under a key drawn per brain: user ids may come
 * from the outside (a chat session, a CRM contact), and a keyed hash keeps anyone from
 * choosing ids that all land in one bucket. */
_Static_assert(sizeof(((struct bot_brain *)0)->users_key) == crypto_shorthash_KEYBYTES,
               "users_key is a crypto_shorthash key");

static uint32_t id_hash(const struct bot_brain *b, const char *s)
{
    unsigned char out[crypto_shorthash_BYTES];
    crypto_shorthash(out, (const unsigned char *)s, strlen(s), b->users_key);
    uint32_t h;
    memcpy(&h, out, sizeof h);
    return h;
}

static void user_free(struct bot_user *u)
{
    free(u->name);
    free(u->topic);
    bot_kvs_free(&u->vars);
    for (int i = 0; i < BOT_HISTORY; i++) {
        free(u->in[i]);
        free(u->out[i]);
    }
    pthread_mutex_destroy(&u->lock);
    free(u);
}

static bool grow(struct bot_brain *b)
{
    size_t n = b->nub ? b->nub * 2 : 64;
    struct bot_user **nb = calloc(n, sizeof *nb);
    if (!nb)
        return false;
    for (size_t i = 0; i < b->nub; i++)
        for (struct bot_user *u = b->ub[i], *next; u; u = next) {
            next = u->next;
            u->next = nb[u->hash & (n - 1)];
            nb[u->hash & (n - 1)] = u;
        }
    free(b->ub);
    b->ub = nb;
    b->nub = n;
    return true;
}

/* Under the table lock: the user named name, created when absent (NULL: out of memory). */
static struct bot_user *find(struct bot_brain *b, const char *name, bool create)
{
    uint32_t h = id_hash(b, name);
    if (b->nub)
        for (struct bot_user *u = b->ub[h & (b->nub - 1)]; u; u = u->next)
            if (u->hash == h && strcmp(u->name, name) == 0)
                return u;
    if (!create)
        return NULL;
    if ((b->nusers + 1 > b->nub * 2) && !grow(b))
        return NULL;
    struct bot_user *u = calloc(1, sizeof *u);
    if (!u)
        return NULL;
    u->name = strdup(name);
    u->topic = strdup("random");
    if (!u->name || !u->topic) {
        free(u->name);
        free(u->topic);
        free(u);
        return NULL;
    }
    pthread_mutex_init(&u->lock, NULL);
    u->hash = h;
    u->next = b->ub[h & (b->nub - 1)];
    b->ub[h & (b->nub - 1)] = u;
    b->nusers++;
    return u;
}

struct bot_user *bot_user_acquire(struct bot_brain *b, const char *name)
{
    pthread_mutex_lock(&b->users_lock);
    struct bot_user *u = find(b, name, true);
    if (u)
        u->refs++;
    pthread_mutex_unlock(&b->users_lock);
    if (u)
        pthread_mutex_lock(&u->lock);
    return u;
}

void bot_user_release(struct bot_brain *b, struct bot_user *u)
{
    pthread_mutex_unlock(&u->lock);
    pthread_mutex_lock(&b->users_lock);
    bool gone = --u->refs == 0 && u->forgotten;
    pthread_mutex_unlock(&b->users_lock);
    if (gone)
        user_free(u);
}

void bot_user_forget(struct bot_brain *b, const char *name)
{
    pthread_mutex_lock(&b->users_lock);
    struct bot_user *u = find(b, name, false);
    bool now = false;
    if (u) {
        struct bot_user **pp = &b->ub[u->hash & (b->nub - 1)];
        while (*pp != u)
            pp = &(*pp)->next;
        *pp = u->next;
        b->nusers--;
        u->forgotten = true;
        now = u->refs == 0;
    }
    pthread_mutex_unlock(&b->users_lock);
    if (now)
        user_free(u);
}

void bot_users_free(struct bot_brain *b)
{
    for (size_t i = 0; i < b->nub; i++)
        for (struct bot_user *u = b->ub[i], *next; u; u = next) {
            next = u->next;
            user_free(u);
        }
    free(b->ub);
    b->ub = NULL;
    b->nub = b->nusers = 0;
}

size_t bot_user_count(struct bot_brain *b)
{
    pthread_mutex_lock(&b->users_lock);
    size_t n = b->nusers;
    pthread_mutex_unlock(&b->users_lock);
    return n;
}

size_t bot_user_bytes(struct bot_brain *b)
{
    size_t n = 0;
    pthread_mutex_lock(&b->users_lock);
    for (size_t i = 0; i < b->nub; i++)
        for (struct bot_user *u = b->ub[i]; u; u = u->next) {
            n += sizeof *u + strlen(u->name) + 1 + strlen(u->topic) + 1;
            n += bot_kvs_bytes(&u->vars);
            for (int j = 0; j < BOT_HISTORY; j++)
                n += (u->in[j] ? strlen(u->in[j]) + 1 : 0) + (u->out[j] ? strlen(u->out[j]) + 1 : 0);
        }
    n += b->nub * sizeof *b->ub;
    pthread_mutex_unlock(&b->users_lock);
    return n;
}

void bot_user_push_history(struct bot_user *u, char *in, char *out)
{
    free(u->in[BOT_HISTORY - 1]);
    free(u->out[BOT_HISTORY - 1]);
    memmove(u->in + 1, u->in, (BOT_HISTORY - 1) * sizeof *u->in);
    memmove(u->out + 1, u->out, (BOT_HISTORY - 1) * sizeof *u->out);
    u->in[0] = in;
    u->out[0] = out;
}

enum kb_err bot_uservar_set(struct bot_brain *b, const char *user, const char *name,
                            const char *value)
{
    struct bot_user *u = bot_user_acquire(b, user);
    if (!u)
        return KB_ENOMEM;
    enum kb_err e;
    if (strcmp(name, "topic") == 0) {
        char *t = strdup(value && *value ? value : "random");
        e = t ? KB_OK : KB_ENOMEM;
        if (t) {
            free(u->topic);
            u->topic = t;
        }
    } else
        e = bot_kvs_set(&u->vars, name, value ? value : "");
    bot_user_release(b, u);
    return e;
}

char *bot_uservar_get(struct bot_brain *b, const char *user, const char *name)
{
    struct bot_user *u = bot_user_acquire(b, user);
    if (!u)
        return NULL;
    const char *v = strcmp(name, "topic") == 0 ? u->topic : bot_kvs_get(&u->vars, name);
    char *r = strdup(v ? v : "undefined");
    bot_user_release(b, u);
    return r;
}

/* JSON state: {"vars":{name:value},"topic":"t","input":[9, newest first],"reply":[...]};
 * nulls stand for empty history slots. The caller holds u's lock (a reply, or
 * bot_user_export), so the state read is the one a reply left, whole. */
enum kb_err bot_user_state_json(const struct bot_user *u, char **json)
{
    enum kb_err e = KB_ENOMEM;
    *json = NULL;
    json_t *root = json_object(), *vars = json_object();
    json_t *in = json_array(), *outs = json_array();
    if (!root || !vars || !in || !outs)
        goto out;
    for (size_t i = 0; i < u->vars.n; i++)
        if (json_object_set_new(vars, u->vars.a[i].k, json_string(u->vars.a[i].v)))
            goto out;
    for (int i = 0; i < BOT_HISTORY; i++)
        if (json_array_append_new(in, u->in[i] ? json_string(u->in[i]) : json_null()) ||
            json_array_append_new(outs, u->out[i] ? json_string(u->out[i]) : json_null()))
            goto out;
    if (json_object_set(root, "vars", vars) || json_object_set(root, "input", in) ||
        json_object_set(root, "reply", outs) ||
        json_object_set_new(root, "topic", json_string(u->topic)))
        goto out;
    *json = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
    e = *json ? KB_OK : KB_ENOMEM;
out:
    json_decref(vars);
    json_decref(in);
    json_decref(outs);
    json_decref(root);
    return e;
}

enum kb_err bot_user_export(struct bot_brain *b, const char *user, char **json)
{
    *json = NULL;
    struct bot_user *u = bot_user_acquire(b, user);
    if (!u)
        return KB_ENOMEM;
    enum kb_err e = bot_user_state_json(u, json);
    bot_user_release(b, u);
    return e;
}

enum kb_err bot_user_import(struct bot_brain *b, const char *user, const char *json)
{
    json_error_t jerr;
    json_t *root = json_loads(json, 0, &jerr);
    json_t *vars = json_object_get(root, "vars"), *topic = json_object_get(root, "topic");
    json_t *in = json_object_get(root, "input"), *outs = json_object_get(root, "reply");
    if (!root || !json_is_object(root) || (vars && !json_is_object(vars)) ||
        (topic && !json_is_string(topic)) || (in && !json_is_array(in)) ||
        (outs && !json_is_array(outs))) {
        json_decref(root);
        return KB_EINVAL;
    }
    struct bot_user *u = bot_user_acquire(b, user);
    if (!u) {
        json_decref(root);
        return KB_ENOMEM;
    }
    enum kb_err e = KB_OK;
    const char *k;
    json_t *v;
    bot_kvs_free(&u->vars);
    json_object_foreach(vars, k, v)
    {
        if (json_is_string(v) && (e = bot_kvs_set(&u->vars, k, json_string_value(v))))
            goto out;
    }
    if (topic) {
        char *t = strdup(json_string_value(topic));
        if (!t) {
            e = KB_ENOMEM;
            goto out;
        }
        free(u->topic);
        u->topic = t;
    }
    for (int i = 0; i < BOT_HISTORY; i++) {
        json_t *a = json_array_get(in, (size_t)i), *r = json_array_get(outs, (size_t)i);
        free(u->in[i]);
        free(u->out[i]);
        u->in[i] = json_is_string(a) ? strdup(json_string_value(a)) : NULL;
        u->out[i] = json_is_string(r) ? strdup(json_string_value(r)) : NULL;
    }
out:
    bot_user_release(b, u);
    json_decref(root);
    return e;
}
