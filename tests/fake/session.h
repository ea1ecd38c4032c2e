/*
 * session.h: the fake region's session registry.
 *
 * A session is a file DIR/sessions/<id> of "key value" lines (target,
 * port, generation, state), changed only under DIR/sessions/<id>.lock.
 * Stream tokens are not stored: a token is the hex HMAC-SHA256 under the
 * server's random secret of "<id>:<generation>"; ResumeSession bumps the
 * generation, which retires the previous token.
 */
#ifndef SSMP_FAKE_SESSION_H
#define SSMP_FAKE_SESSION_H

#include <stdint.h>

#include "err.h"
#include "region.h"

#define SESSION_ID_MAX 96
#define SESSION_TARGET_MAX 32
#define SESSION_TOKEN_LEN 64 /* hex characters */
#define SESSION_ID_PREFIX "fakeuser"

enum session_state {
	SESSION_ACTIVE = 0,     /* started, data channel may be open */
	SESSION_TERMINATED = 1, /* TerminateSession was called */
	SESSION_ENDED = 2,      /* the agent finished (target closed etc.) */
};

struct session {
	char id[SESSION_ID_MAX];
	char target[SESSION_TARGET_MAX];
	uint16_t port;          /* portNumber given to StartSession */
	unsigned generation;    /* bumped by ResumeSession */
	enum session_state state;
};

/* Returns nonzero if id is a well-formed session id (safe as a file name). */
int session_id_valid(const char *id);
/* Fills out with a new "<prefix>-<17 hex>" id; returns 0 or E_IO (RNG). */
int session_new_id(char out[SESSION_ID_MAX]);

/* Locks session id for a read-modify-write; fd >= 0 or E_IO/E_INVAL. */
int session_lock(const struct region *r, const char *id);
/* Releases session_lock's fd (negative ignored). */
void session_unlock(int fd);

/* Reads session id into s; returns 0, E_NOTFOUND, E_INVAL or E_IO. */
int session_load(const struct region *r, const char *id, struct session *s, struct err *e);
/* Writes s atomically (create or replace); returns 0 or E_IO. */
int session_store(const struct region *r, const struct session *s, struct err *e);

/* Writes the stream token of (id, generation) as 64 hex chars + NUL. */
void session_token(const struct region *r, const char *id, unsigned generation,
		   char out[SESSION_TOKEN_LEN + 1]);
/* Returns nonzero if token is the current token of s (constant time). */
int session_token_ok(const struct region *r, const struct session *s, const char *token);

/* Returns the name of a state ("active", "terminated", "ended"). */
const char *session_state_name(enum session_state st);

#endif
