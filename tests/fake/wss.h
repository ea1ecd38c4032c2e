/*
 * wss.h: the server side of HTTP/1.1 and websocket connections, for tests.
 *
 * One object per accepted connection (the fake region forks a child per
 * connection). The connection first speaks HTTP: wss_read_request() reads
 * one request, the caller routes on its path and either answers with
 * wss_write_response() (keep-alive allowed: read the next request) or calls
 * wss_upgrade() to answer 101 and switch to websocket framing (wslay server
 * context). From then on the connection is non-blocking and pollable:
 * wss_fd(), wss_want_read()/wss_want_write(), wss_on_readable() and
 * wss_on_writable(), or the blocking helper wss_run().
 *
 * The HTTP phase blocks with a deadline per call (a test server serves one
 * client per process). Fault injection: wss_write_raw() sends arbitrary
 * bytes (bad handshakes), wss_drop() cuts the connection without any close
 * frame or TLS close_notify.
 *
 * Frames are collected in an output buffer and written in large chunks at
 * the end of wss_on_readable()/wss_on_writable(); wss_want_write() stays
 * true while buffered bytes wait for the socket. TLS read-ahead is on:
 * every read goes on until the socket would block.
 *
 * TLS writes go through write(2): the process must ignore SIGPIPE.
 */
#ifndef SSMP_WSS_H
#define SSMP_WSS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "err.h"
#include "log.h"

#define WSS_MAX_HEAD (64 * 1024)         /* request line + headers */
#define WSS_MAX_HEADERS 64
#define WSS_MAX_BODY (8 * 1024 * 1024)   /* request body (Content-Length) */
#define WSS_DEFAULT_MAX_MSG (1024 * 1024) /* largest websocket message */

/* websocket opcodes given to on_message and wss_send() */
#define WSS_OP_TEXT 0x1
#define WSS_OP_BINARY 0x2

struct wss_header {
	const char *name;  /* as sent */
	const char *value; /* leading/trailing blanks removed */
};

/* One parsed request; owned by the connection, valid until the next read. */
struct wss_request {
	const char *method;  /* "GET", "POST", ... */
	const char *target;  /* request target as sent: path?query */
	const char *path;    /* up to '?', not decoded */
	const char *query;   /* after '?', not decoded; "" if none */
	const struct wss_header *headers;
	size_t nheaders;
	const uint8_t *body; /* NUL-terminated for convenience; NULL if none */
	size_t body_len;
	int keep_alive;      /* HTTP/1.1 without "Connection: close" */
};

struct wss_callbacks {
	/* A complete message (reassembled from fragments). */
	void (*on_message)(void *arg, int opcode, const uint8_t *data, size_t len);
	/* The peer's close frame (code 1005 if it carried none). */
	void (*on_close)(void *arg, uint16_t code, const uint8_t *reason, size_t len);
	void *arg;
};

struct wss_conn;

/*
 * Wraps connected socket fd (made non-blocking); ssl is NULL (plain) or an
 * SSL* already set on fd and past its handshake. On success c owns both;
 * on error the caller keeps them. Returns 0, E_IO or E_NOMEM.
 */
int wss_conn_new(struct wss_conn **out, int fd, SSL *ssl, const struct logger *lg,
		 struct err *e);
/*
 * Like wss_conn_new, but with ctx non-NULL first runs the TLS server
 * handshake on fd within timeout_ms. Takes ownership of fd (closed on
 * error). Returns 0, E_TIMEOUT, E_NET or E_NOMEM.
 */
int wss_conn_accept(struct wss_conn **out, int fd, SSL_CTX *ctx, int timeout_ms,
		    const struct logger *lg, struct err *e);
/* Closes the connection (TLS close_notify if possible) and frees c; NULL ok. */
void wss_free(struct wss_conn *c);
/* Closes the socket at once (RST, no close frame, no close_notify), frees c. */
void wss_drop(struct wss_conn *c);

/*
 * Reads one HTTP request (head and Content-Length body) within timeout_ms;
 * answers "Expect: 100-continue" by itself. *req stays valid until the next
 * call or wss_free. Returns 0, E_CLOSED (peer closed before a new request),
 * E_TIMEOUT, E_PROTO (malformed), E_RANGE (too large) or E_NET.
 */
int wss_read_request(struct wss_conn *c, int timeout_ms, const struct wss_request **req,
		     struct err *e);
/* Returns the value of the first header named name (any case), or NULL. */
const char *wss_header(const struct wss_request *req, const char *name);
/*
 * Writes an HTTP/1.1 response with Content-Length; extra_headers is NULL or
 * complete "Name: value\r\n" lines; content_type may be NULL. Adds
 * "Connection: close" unless keep_alive. Returns 0, E_TIMEOUT or E_NET.
 */
int wss_write_response(struct wss_conn *c, int status, const char *reason,
		       const char *content_type, const char *extra_headers,
		       const void *body, size_t len, int keep_alive, struct err *e);
/* Writes raw bytes (fault injection) within timeout_ms; 0, E_TIMEOUT, E_NET. */
int wss_write_raw(struct wss_conn *c, const void *data, size_t len, int timeout_ms,
		  struct err *e);

/*
 * Checks that the last request is a websocket upgrade (GET, Upgrade,
 * Connection, Sec-WebSocket-Key, version 13), answers 101 with the right
 * Sec-WebSocket-Accept and switches to websocket framing; the socket
 * becomes non-blocking. max_msg 0 means WSS_DEFAULT_MAX_MSG; a larger
 * message closes the session with 1009. On a bad request answers 400 and
 * returns E_PROTO. Returns 0, E_PROTO, E_NET or E_NOMEM.
 */
int wss_upgrade(struct wss_conn *c, const struct wss_callbacks *cb, size_t max_msg,
		struct err *e);

/* Returns the socket to poll. */
int wss_fd(const struct wss_conn *c);
/* Returns nonzero if the websocket wants to read. */
int wss_want_read(const struct wss_conn *c);
/* Returns nonzero if the websocket has frames to write. */
int wss_want_write(const struct wss_conn *c);
/*
 * Reads and handles everything available, calling the callbacks. Returns
 * 0, E_CLOSED once the session is over (close handshake done or the peer
 * hung up), E_PROTO or E_NET.
 */
int wss_on_readable(struct wss_conn *c, struct err *e);
/* Writes queued frames until the socket would block; 0, E_CLOSED or E_NET. */
int wss_on_writable(struct wss_conn *c, struct err *e);
/* Returns nonzero while the session is open (neither side has finished). */
int wss_is_open(const struct wss_conn *c);

/* Queues a message (copied); returns 0, E_CLOSED (closing), E_INVAL or E_NOMEM. */
int wss_send(struct wss_conn *c, int opcode, const void *data, size_t len, struct err *e);
/* Queues a binary message; as wss_send. */
int wss_send_binary(struct wss_conn *c, const void *data, size_t len, struct err *e);
/* Queues a text message (a C string, sent without its NUL); as wss_send. */
int wss_send_text(struct wss_conn *c, const char *text, struct err *e);
/* Queues a message split into frames of at most frag bytes; as wss_send. */
int wss_send_fragmented(struct wss_conn *c, int opcode, const void *data, size_t len,
			size_t frag, struct err *e);
/* Queues a ping with up to 125 bytes of payload; as wss_send. */
int wss_ping(struct wss_conn *c, const void *data, size_t len, struct err *e);
/* Queues a close frame (code, reason may be NULL); as wss_send. */
int wss_close(struct wss_conn *c, uint16_t code, const char *reason, struct err *e);
/* Returns the number of pongs received so far. */
unsigned wss_pongs(const struct wss_conn *c);

/*
 * Polls and drives the websocket until the session is over or timeout_ms
 * passes (-1: no limit). Returns 0 when it ended with a close handshake or
 * peer hang-up, E_TIMEOUT, E_PROTO or E_NET.
 */
int wss_run(struct wss_conn *c, int timeout_ms, struct err *e);

#endif
