/*
 * err.h: the one error vocabulary of libcore.
 *
 * Functions return 0 on success or a negative E_* code. Those that can say
 * more also take a struct err *, filled with a one-line, lower-case message
 * naming what failed and why (no secrets). Only the program prints it.
 */
#ifndef SSMP_ERR_H
#define SSMP_ERR_H

#include <stddef.h>

enum {
	E_OK = 0,
	E_NOMEM = -1,     /* allocation failed */
	E_INVAL = -2,     /* bad argument or malformed input */
	E_SHORT = -3,     /* input truncated: a field runs past the end */
	E_RANGE = -4,     /* a value or size is out of its allowed range */
	E_DIGEST = -5,    /* payload digest mismatch */
	E_IO = -6,        /* local I/O error (file, pipe, socket syscall) */
	E_TIMEOUT = -7,   /* a deadline passed */
	E_PROTO = -8,     /* the peer broke the protocol */
	E_AUTH = -9,      /* credentials missing or rejected */
	E_AWS = -10,      /* an AWS API answered with an error */
	E_NET = -11,      /* network or TLS failure */
	E_CONFIG = -12,   /* bad configuration or option */
	E_NOTFOUND = -13, /* the thing looked for does not exist */
	E_AGAIN = -14,    /* try again later (would block, window full) */
	E_CLOSED = -15,   /* the peer closed the connection */
	E_FULL = -16,     /* a bounded buffer or window is full */
};

#define ERR_MSG_MAX 512

struct err {
	int code;
	char msg[ERR_MSG_MAX];
};

/* Returns a short static description of an E_* code. */
const char *err_str(int code);

/*
 * Records code and a printf-style message in e (which may be NULL) and
 * returns code, so callers can write: return err_set(e, E_INVAL, "...").
 */
int err_set(struct err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prepends "prefix: " to the message already in e; returns e->code. */
int err_prefix(struct err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Clears e (code 0, empty message). */
void err_clear(struct err *e);

#endif
