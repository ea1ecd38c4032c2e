/*
 * link.h: the framed unix-socket link between a gateway and a session agent.
 *
 * Each websocket connection of a session is served by a gateway process;
 * the session's agent (data channel + target socket) lives in one process
 * that outlives dropped websockets. They talk over a unix stream socket
 * carrying messages: u32 big-endian length (type byte + payload), u8 type,
 * payload. Non-blocking; the caller polls link->fd.
 *
 * The first websocket of a session is served in the agent's own process:
 * its link is a pair of in-process ends (link_pair) with the same message
 * format, where a flush hands the queued bytes to the peer's rx. That saves
 * the socket's copies and wake-ups on the path the benchmark measures.
 */
#ifndef SSMP_FAKE_LINK_H
#define SSMP_FAKE_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

enum link_type {
	LINK_FRAME = 1, /* one binary websocket message (an AgentMessage), either way */
	LINK_CLOSE = 2, /* agent -> gateway: close the websocket normally, then exit */
};

#define LINK_MAX_MSG (2 * 1024 * 1024) /* larger than any websocket message */
#define LINK_HIGH (256 * 1024)         /* stop producing above this much queued */

struct link {
	int fd;            /* -1 when not connected */
	struct buf rx;     /* bytes read, not yet taken */
	struct buf tx;     /* bytes queued, not yet written */
	int eof;           /* the peer closed its end */
	int inproc;        /* an in-process end (link_pair), open until link_close */
	struct link *peer; /* ... and its peer, NULL once that end closed */
};

/*
 * Makes l a link over connected socket fd (set non-blocking); fd -1 makes
 * an unconnected link that already queues messages. Returns 0 or E_IO.
 */
int link_init(struct link *l, int fd);
/* Connects an unconnected link to socket fd (set non-blocking); 0 or E_IO. */
int link_attach(struct link *l, int fd);
/*
 * Joins two links made by link_init(l, -1) as the ends of one in-process
 * link; bytes queued before are delivered on the first flush.
 */
void link_pair(struct link *a, struct link *b);
/* Closes the socket (or the in-process end: its peer sees EOF) and frees the buffers. */
void link_close(struct link *l);
/* Returns nonzero if l is connected. */
static inline int link_up(const struct link *l) { return l->fd >= 0 || l->inproc; }

/* Queues one message; returns 0, E_FULL (over max queued bytes) or E_NOMEM. */
int link_queue(struct link *l, enum link_type type, const void *data, size_t len,
	       size_t max_queued);
/* Returns the number of queued bytes not yet written. */
static inline size_t link_pending(const struct link *l) { return buf_len(&l->tx); }
/*
 * Writes queued bytes until the socket would block (in process: while the
 * peer holds less than LINK_HIGH unread); 0 or E_CLOSED.
 */
int link_flush(struct link *l);
/*
 * Reads what is available (at most LINK_HIGH bytes; in process the peer's
 * flush already delivered it); 0, or E_CLOSED at EOF/error.
 */
int link_read(struct link *l);
/*
 * Takes the next complete message: returns 1 with *type, *data (valid until
 * the next link call) and *len; 0 if none is complete; E_PROTO if the
 * stream is malformed.
 */
int link_next(struct link *l, int *type, const uint8_t **data, size_t *len);
/* Flushes within timeout_ms, blocking in poll; 0, E_TIMEOUT or E_CLOSED. */
int link_drain(struct link *l, int timeout_ms);

#endif
