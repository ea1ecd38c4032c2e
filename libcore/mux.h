/*
 * mux.h: one libcurl multi handle shared by transfers that should make
 * progress together in one thread: an API call (awsapi) and the data
 * channel's TCP+TLS connect (ws) opened while that call is in flight.
 *
 * Whoever waits drives every transfer in it. Results of transfers that
 * end meanwhile are kept per handle, so a waiter never loses another's.
 * A CONNECT_ONLY handle must stay in the mux until it is freed: its
 * connection lives in the multi's connection cache.
 */
#ifndef SSMP_MUX_H
#define SSMP_MUX_H

#include <stdint.h>

#include <curl/curl.h>

#include "err.h"

#define MUX_MAX_HANDLES 8

struct mux;

/* Creates an empty mux; returns 0 or E_NOMEM. */
int mux_new(struct mux **out, struct err *e);
/* Frees m (NULL is fine); every handle must have been removed. */
void mux_free(struct mux *m);

/* Adds a configured easy handle (its transfer starts on the next drive);
 * returns 0, E_FULL (MUX_MAX_HANDLES) or E_NOMEM. */
int mux_add(struct mux *m, CURL *h, struct err *e);
/*
 * As mux_add, but h joins libcurl only when the mux is next driven, after
 * the handles added before then: for a head start that must not go ahead
 * of the transfer being waited for (on loopback a TCP connect completes
 * at once, and the TLS set-up that follows would run first).
 */
int mux_add_deferred(struct mux *m, CURL *h, struct err *e);
/* Removes h (NULL or not added is fine) and forgets its result. */
void mux_remove(struct mux *m, CURL *h);

/*
 * Drives every transfer of m until h's is done or deadline (loop_now_ms
 * clock) passes. Returns 1 with *rc set when h is done, 0 at the
 * deadline, or E_IO when libcurl's multi interface fails.
 */
int mux_wait(struct mux *m, CURL *h, uint64_t deadline, CURLcode *rc);

/* Runs what can run now without waiting; returns 1 with *rc set if h
 * is done, else 0 (E_IO as mux_wait). */
int mux_poll(struct mux *m, CURL *h, CURLcode *rc);

#endif
