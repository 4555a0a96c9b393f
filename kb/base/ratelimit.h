/* kb/base/ratelimit.h: token buckets, and a table of client addresses with buckets of their
 * own (the chat's connections and new conversations per address, the help centre's feedback
 * and logged searches per address). Not thread-safe: each user locks it as it needs. */
#ifndef KB_BASE_RATELIMIT_H
#define KB_BASE_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kb/base/err.h"

/* A bucket refills `rate` tokens a second up to `burst`; taking one fails when empty. */
struct kb_rate_bucket {
    double tokens;
    int64_t last_ms; /* 0: never used (full) */
};
bool kb_rate_take(struct kb_rate_bucket *b, double rate, double burst, int64_t now_ms);

#define KB_RATE_BUCKETS 4

/* One client address: what its users count. */
struct kb_rate_addr {
    char addr[48];
    unsigned conns;                            /* connections open (the chat) */
    struct kb_rate_bucket b[KB_RATE_BUCKETS];  /* each user's own indexes */
    int64_t used_ms;                           /* last kb_rate_addrs_get */
};

struct kb_rate_addrs; /* opaque: a hash table of addresses */

enum kb_err kb_rate_addrs_new(struct kb_rate_addrs **out) KB_MUST_CHECK;
void kb_rate_addrs_free(struct kb_rate_addrs *t); /* no-op on NULL */
/* The entry of addr (created empty when missing), marked used at now_ms; NULL when out of
 * memory. Borrowed: valid until kb_rate_addrs_sweep. */
struct kb_rate_addr *kb_rate_addrs_get(struct kb_rate_addrs *t, const char *addr, int64_t now_ms);
/* Forget addresses without connections unused for idle_ms (their buckets are full again for
 * any rate that refills within that time): memory stays bounded by recent clients. */
void kb_rate_addrs_sweep(struct kb_rate_addrs *t, int64_t idle_ms, int64_t now_ms);
size_t kb_rate_addrs_count(const struct kb_rate_addrs *t);

#endif
