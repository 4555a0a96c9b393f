/* kb/base/ratelimit.c: token buckets and the address table (see ratelimit.h).
 *
 * The table is open hashing with chains, keyed by a keyed hash of the address (SipHash with a
 * random key, so that a client cannot pick addresses that collide). An address stays while it
 * has connections or was used recently; the sweep drops the rest, so a scan from many
 * addresses costs memory only while it lasts. */
#include "kb/base/ratelimit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

bool kb_rate_take(struct kb_rate_bucket *b, double rate, double burst, int64_t now_ms)
{
    if (b->last_ms == 0) {
        b->tokens = burst;
    } else if (now_ms > b->last_ms) {
        b->tokens += rate * (double)(now_ms - b->last_ms) / 1000.0;
        if (b->tokens > burst)
            b->tokens = burst;
    }
    b->last_ms = now_ms;
    if (b->tokens < 1.0)
        return false;
    b->tokens -= 1.0;
    return true;
}

struct node {
    struct kb_rate_addr a;
    struct node *next;
};

struct kb_rate_addrs {
    struct node **b;
    size_t nb, n;
    unsigned char key[crypto_shorthash_KEYBYTES];
};

enum kb_err kb_rate_addrs_new(struct kb_rate_addrs **out)
{
    struct kb_rate_addrs *t = calloc(1, sizeof *t);
    if (!t)
        return KB_ENOMEM;
    t->nb = 1024;
    if (!(t->b = calloc(t->nb, sizeof *t->b))) {
        free(t);
        return KB_ENOMEM;
    }
    crypto_shorthash_keygen(t->key);
    *out = t;
    return KB_OK;
}

void kb_rate_addrs_free(struct kb_rate_addrs *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nb; i++)
        for (struct node *n = t->b[i], *next; n; n = next) {
            next = n->next;
            free(n);
        }
    free(t->b);
    free(t);
}

static size_t slot(const struct kb_rate_addrs *t, const char *addr)
{
    unsigned char h[crypto_shorthash_BYTES];
    crypto_shorthash(h, (const unsigned char *)addr, strlen(addr), t->key);
    uint64_t v;
    memcpy(&v, h, sizeof v);
    return (size_t)(v % t->nb);
}

static void grow(struct kb_rate_addrs *t)
{
    size_t nb = t->nb * 2;
    struct node **b = calloc(nb, sizeof *b);
    if (!b)
        return; /* longer chains, still correct */
    struct node **old = t->b;
    size_t onb = t->nb;
    t->b = b;
    t->nb = nb;
    for (size_t i = 0; i < onb; i++)
        for (struct node *n = old[i], *next; n; n = next) {
            next = n->next;
            size_t s = slot(t, n->a.addr);
            n->next = b[s];
            b[s] = n;
        }
    free(old);
}

struct kb_rate_addr *kb_rate_addrs_get(struct kb_rate_addrs *t, const char *addr, int64_t now_ms)
{
    size_t s = slot(t, addr);
    for (struct node *n = t->b[s]; n; n = n->next)
        if (strcmp(n->a.addr, addr) == 0) {
            n->a.used_ms = now_ms;
            return &n->a;
        }
    struct node *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    snprintf(n->a.addr, sizeof n->a.addr, "%s", addr);
    n->a.used_ms = now_ms;
    n->next = t->b[s];
    t->b[s] = n;
    if (++t->n > t->nb * 2)
        grow(t);
    return &n->a;
}

void kb_rate_addrs_sweep(struct kb_rate_addrs *t, int64_t idle_ms, int64_t now_ms)
{
    for (size_t i = 0; i < t->nb; i++) {
        struct node **pp = &t->b[i];
        while (*pp) {
            struct node *n = *pp;
            if (n->a.conns == 0 && now_ms - n->a.used_ms >= idle_ms) {
                *pp = n->next;
                free(n);
                t->n--;
            } else {
                pp = &n->next;
            }
        }
    }
}

size_t kb_rate_addrs_count(const struct kb_rate_addrs *t)
{
    return t->n;
}
