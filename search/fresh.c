/* search/fresh.c: search readers kept fresh by a thread of their own (see fresh.h). */
#include "search/fresh.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct search_fresh_slot {
    struct search_fresh *f;
    struct search_index *idx;   /* the owner's reader */
    struct search_index *fresh; /* a newer one for the owner to take, or NULL */
    struct search_index *stale; /* the one the owner gave up, for the refresher to free */
    struct search_fresh_slot *next;
};

struct search_fresh {
    pthread_mutex_t mu; /* the list and every slot's fresh and stale */
    pthread_cond_t cv;
    struct search_fresh_slot *list;
    pthread_t thread;
    bool stopping;
    unsigned refresh_ms;
    char *dir;
};

/* The refresher thread (see fresh.h). */
static void *fresh_main(void *arg)
{
    struct search_fresh *f = arg;
    pthread_setname_np(pthread_self(), "kb-index-fresh");
    struct search_index *probe = NULL;
    pthread_mutex_lock(&f->mu);
    while (!f->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += (long)f->refresh_ms * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        while (!f->stopping && pthread_cond_timedwait(&f->cv, &f->mu, &until) == 0)
            ;
        if (f->stopping)
            break;
        pthread_mutex_unlock(&f->mu);
        bool changed = false;
        if (!probe) {
            /* The first: the slots may have opened theirs before a change it cannot tell
             * (opened after it), so each gets one of the probe's revision. */
            if (search_index_open(f->dir, false, &probe) != KB_OK)
                probe = NULL;
            changed = probe != NULL;
        } else if (search_index_refresh(probe, &changed) != KB_OK) {
            changed = false;
        }
        /* The readers the owners gave up, and the slots of this round, listed after the
         * refresh: a slot added later opens its own reader, at the probe's revision or a
         * newer one; a slot freed meanwhile is skipped below (by identity). */
        pthread_mutex_lock(&f->mu);
        struct search_index *old[64];
        size_t nold = 0, nslots = 0;
        for (struct search_fresh_slot *s = f->list; s; s = s->next) {
            nslots++;
            if (s->stale && nold < sizeof old / sizeof *old) {
                old[nold++] = s->stale;
                s->stale = NULL;
            }
        }
        struct search_fresh_slot **round = changed && nslots ? calloc(nslots, sizeof *round) : NULL;
        size_t k = 0;
        for (struct search_fresh_slot *s = f->list; s && round; s = s->next)
            round[k++] = s;
        pthread_mutex_unlock(&f->mu);
        for (size_t i = 0; i < nold; i++)
            search_index_free(old[i]);
        /* A new reader for each slot of the round, opened outside the lock, then handed over
         * if the slot is still listed. Out of memory for the round list: the next change. */
        for (size_t i = 0; changed && round && i < k; i++) {
            struct search_index *fresh = NULL;
            if (search_index_open(f->dir, false, &fresh) != KB_OK) {
                /* The probe again next round, which hands every slot a reader then. */
                search_index_free(probe);
                probe = NULL;
                break;
            }
            pthread_mutex_lock(&f->mu);
            struct search_fresh_slot *s = f->list;
            while (s && s != round[i])
                s = s->next;
            struct search_index *unused = NULL;
            if (s) {
                unused = s->fresh; /* one its owner did not take yet: this one is newer */
                s->fresh = fresh;
            } else {
                unused = fresh;
            }
            pthread_mutex_unlock(&f->mu);
            search_index_free(unused);
        }
        free(round);
        pthread_mutex_lock(&f->mu);
    }
    pthread_mutex_unlock(&f->mu);
    search_index_free(probe);
    return NULL;
}

enum kb_err search_fresh_start(const char *dir, unsigned refresh_ms, struct search_fresh **out)
{
    *out = NULL;
    struct search_fresh *f = calloc(1, sizeof *f);
    if (!f || !(f->dir = strdup(dir))) {
        free(f);
        return KB_ENOMEM;
    }
    f->refresh_ms = refresh_ms ? refresh_ms : 1;
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    if (pthread_create(&f->thread, NULL, fresh_main, f) != 0) {
        pthread_mutex_destroy(&f->mu);
        pthread_cond_destroy(&f->cv);
        free(f->dir);
        free(f);
        return KB_ENOMEM;
    }
    *out = f;
    return KB_OK;
}

void search_fresh_stop(struct search_fresh *f)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->mu);
    f->stopping = true;
    pthread_cond_signal(&f->cv);
    pthread_mutex_unlock(&f->mu);
    pthread_join(f->thread, NULL);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
    free(f->dir);
    free(f);
}

struct search_fresh_slot *search_fresh_slot_new(struct search_fresh *f)
{
    struct search_fresh_slot *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->f = f;
    pthread_mutex_lock(&f->mu);
    s->next = f->list;
    f->list = s;
    pthread_mutex_unlock(&f->mu);
    return s;
}

void search_fresh_slot_free(struct search_fresh_slot *s)
{
    if (!s)
        return;
    struct search_fresh *f = s->f;
    pthread_mutex_lock(&f->mu);
    for (struct search_fresh_slot **pp = &f->list; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    pthread_mutex_unlock(&f->mu);
    search_index_free(s->idx);
    search_index_free(s->fresh);
    search_index_free(s->stale);
    free(s);
}

struct search_index *search_fresh_reader(struct search_fresh_slot *s)
{
    struct search_fresh *f = s->f;
    pthread_mutex_lock(&f->mu); /* uncontended but for the refresher's moments */
    if (s->fresh && !s->stale) {
        s->stale = s->idx;
        s->idx = s->fresh;
        s->fresh = NULL;
    }
    pthread_mutex_unlock(&f->mu);
    if (!s->idx && search_index_open(f->dir, false, &s->idx) != KB_OK)
        s->idx = NULL;
    return s->idx;
}
