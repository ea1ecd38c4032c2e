/*
 * loop.h: a tiny single-threaded event loop on poll(2).
 *
 * File descriptors are registered with a read/write mask and a callback;
 * one-shot timers fire at an absolute monotonic time (loop_now_ms()); a
 * before-sleep hook runs before every wait (the place to flush batched
 * writes). Callbacks may add, modify or delete descriptors and timers,
 * including their own, and may call loop_stop(). The loop never spins: it
 * sleeps until a descriptor is ready or the nearest timer is due.
 */
#ifndef SSMP_LOOP_H
#define SSMP_LOOP_H

#include <stdint.h>

#include "err.h"

#define LOOP_READ 0x1
#define LOOP_WRITE 0x2
#define LOOP_ERROR 0x4 /* given to callbacks only: POLLERR/POLLHUP/POLLNVAL */

struct loop;

/* fd is ready; mask holds LOOP_READ/LOOP_WRITE (and LOOP_ERROR), only bits
 * still registered. On error or hang-up the registered bits are set so the
 * callback's own read or write sees the failure. */
typedef void loop_fd_fn(struct loop *l, int fd, int mask, void *arg);
/* Timer id is due (it is already removed: re-add to repeat). */
typedef void loop_timer_fn(struct loop *l, uint64_t id, void *arg);
/* Runs before each wait. */
typedef void loop_hook_fn(struct loop *l, void *arg);

/* Returns the CLOCK_MONOTONIC time in milliseconds. */
uint64_t loop_now_ms(void);

/* Creates an empty loop in *out; returns 0 or E_NOMEM. */
int loop_new(struct loop **out);
/* Frees the loop (not the descriptors); NULL is fine. Not from a callback. */
void loop_free(struct loop *l);

/* Watches fd for mask (0 allowed: registered but idle); returns 0,
 * E_INVAL (bad fd or already registered) or E_NOMEM. */
int loop_add_fd(struct loop *l, int fd, int mask, loop_fd_fn *fn, void *arg);
/* Changes the mask of a registered fd; returns 0 or E_NOTFOUND. */
int loop_mod_fd(struct loop *l, int fd, int mask);
/* Returns the mask of a registered fd, or E_NOTFOUND. */
int loop_get_fd(const struct loop *l, int fd);
/* Stops watching fd (it is not closed); returns 0 or E_NOTFOUND. */
int loop_del_fd(struct loop *l, int fd);

/* Adds a one-shot timer due at when_ms (loop_now_ms() clock); stores its
 * id (never 0) in *id if id is non-NULL. Returns 0 or E_NOMEM. Timers due
 * at the same time fire in the order they were added. */
int loop_add_timer(struct loop *l, uint64_t when_ms, loop_timer_fn *fn, void *arg,
		   uint64_t *id);
/* Cancels a pending timer; returns 0 or E_NOTFOUND (fired or unknown). */
int loop_cancel_timer(struct loop *l, uint64_t id);

/* Sets (or clears, fn NULL) the hook run before each wait. */
void loop_set_before_sleep(struct loop *l, loop_hook_fn *fn, void *arg);

/* Runs until loop_stop(); returns 0, or E_IO if poll fails, or E_INVAL if
 * nothing is left to wait for (no watched fd, no timer). */
int loop_run(struct loop *l, struct err *e);
/* Makes loop_run return after the current callback. */
void loop_stop(struct loop *l);

#endif
