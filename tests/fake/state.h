/*
 * state.h: the fake region's state directory.
 *
 * Every connection is served by its own process, so whatever must be seen
 * across connections is kept in small files under one directory, updated
 * under flock(2). Tests read the same files:
 *   DIR/port         listening port (written last, atomically)
 *   DIR/ca.pem       CA certificate to trust (TLS mode)
 *   DIR/api.log      one line per API call: "<Op> <status> <detail>"
 *   DIR/violations   "<session> <count>" per ended data channel / agent
 *   DIR/stats        "<name> <value>" counters
 *   DIR/security-tokens  "<Op> <X-Amz-Security-Token>" per call carrying one
 *   DIR/faults/<name>    remaining budget of a counted fault
 *   DIR/sessions/<id>    one session's record (see session.h)
 */
#ifndef SSMP_FAKE_STATE_H
#define SSMP_FAKE_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define STATE_PATH_MAX 4096

/* Creates dir (if missing) and its subfolders, removes a stale port file; 0 or E_IO. */
int state_init(const char *dir, struct err *e);

/* Joins dir and name into out; 0 or E_RANGE if it does not fit. */
int state_path(char *out, size_t size, const char *dir, const char *name);

/* Replaces DIR/name with data via a temporary file and rename; 0 or E_IO. */
int state_write_file(const char *dir, const char *name, const void *data, size_t len,
		     struct err *e);

/* Reads DIR/name (at most size-1 bytes, NUL-terminated); 0, E_NOTFOUND or E_IO. */
int state_read_file(const char *dir, const char *name, char *out, size_t size,
		    struct err *e);

/* Appends one line (newline added) to DIR/name in a single write; 0 or E_IO. */
int state_append(const char *dir, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Opens and exclusively locks DIR/name (created if needed); fd >= 0 or E_IO. */
int state_lock(const char *dir, const char *name);
/* Releases a lock taken with state_lock; negative fd is ignored. */
void state_unlock(int fd);

/* Sets the budget of counted fault name to value; 0 or E_IO. */
int state_budget_set(const char *dir, const char *name, uint64_t value);
/* Takes one unit of budget name: 1 if taken, 0 if none left, E_IO. */
int state_budget_take(const char *dir, const char *name);

/* Adds delta to counter name in DIR/stats; 0 or E_IO. */
int state_stats_add(const char *dir, const char *name, int64_t delta);
/* Returns counter name from DIR/stats (0 if absent) in *value; 0 or E_IO. */
int state_stats_get(const char *dir, const char *name, int64_t *value);

#endif
