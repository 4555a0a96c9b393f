/* kb/chat/ratelimit.h: token buckets, and the table of client addresses the chat limits
 * (connections open and new conversations per address). Used by the websocket thread only:
 * no locking. */
#ifndef KB_CHAT_RATELIMIT_H
#define KB_CHAT_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kb/base/err.h"

/* A bucket refills `rate` tokens a second up to `burst`; taking one fails when empty. */
struct kb_chat_bucket {
    double tokens;
    int64_t last_ms; /* 0: never used (full) */
};
bool kb_chat_bucket_take(struct kb_chat_bucket *b, double rate, double burst, int64_t now_ms);

/* One client address. */
struct kb_chat_addr {
    char addr[48];
    unsigned conns;              /* connections open */
    struct kb_chat_bucket starts; /* new conversations */
};

struct kb_chat_addrs; /* opaque: a hash table of addresses with connections or recent use */

enum kb_err kb_chat_addrs_new(struct kb_chat_addrs **out) KB_MUST_CHECK;
void kb_chat_addrs_free(struct kb_chat_addrs *t); /* no-op on NULL */
/* The entry of addr (created empty when missing); NULL when out of memory. Borrowed: valid
 * until kb_chat_addrs_sweep. */
struct kb_chat_addr *kb_chat_addrs_get(struct kb_chat_addrs *t, const char *addr);
/* Forget addresses without connections whose buckets are full again (bounded memory). */
void kb_chat_addrs_sweep(struct kb_chat_addrs *t, double start_rate, double start_burst,
                         int64_t now_ms);
size_t kb_chat_addrs_count(const struct kb_chat_addrs *t);

#endif
