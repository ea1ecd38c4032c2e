/*
 * ws.h: websocket client (RFC 6455) over a libcurl-made connection.
 *
 * libcurl opens the TCP/TLS connection (CONNECT_ONLY), so proxies
 * (HTTPS_PROXY/NO_PROXY), the CA bundle and certificate and host-name
 * verification (always on) behave as for the API calls. The HTTP upgrade
 * is ours and blocks until its deadline; after ws_connect() returns,
 * everything is non-blocking and driven by the caller's event loop:
 * watch ws_fd() for reading while ws_want_read() and for writing while
 * ws_want_write(), and call ws_on_readable() / ws_on_writable().
 * Framing is wslay's. wss:// always; ws:// only to a loopback host.
 *
 * The program calls curl_global_init() once before the first ws_connect,
 * and ignores SIGPIPE.
 */
#ifndef SSMP_WS_H
#define SSMP_WS_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "log.h"

#define WS_DEFAULT_MAX_MSG ((size_t)1024 * 1024)
#define WS_DEFAULT_TIMEOUT_MS 15000

/* Message opcodes given to on_message. */
#define WS_OP_TEXT 0x1
#define WS_OP_BINARY 0x2

/* Close codes (RFC 6455, 7.4.1) callers commonly use. */
#define WS_CLOSE_NORMAL 1000
#define WS_CLOSE_GOING_AWAY 1001
#define WS_CLOSE_NO_STATUS 1005 /* reported when the peer's close had no code */

struct ws_opts {
	const char *ca_file;      /* CA bundle (AWS_CA_BUNDLE); NULL: system default */
	int connect_timeout_ms;   /* TCP + proxy + TLS; 0: WS_DEFAULT_TIMEOUT_MS */
	int handshake_timeout_ms; /* HTTP upgrade; 0: WS_DEFAULT_TIMEOUT_MS */
	size_t max_msg;           /* largest message accepted; 0: WS_DEFAULT_MAX_MSG */
	const struct logger *lg;  /* may be NULL */
	/* A complete (reassembled) text or binary message; data is valid only
	 * during the call. May queue sends or ws_close(); must not ws_free(). */
	void (*on_message)(void *arg, int opcode, const uint8_t *data, size_t len);
	/* The peer's close frame: code (WS_CLOSE_NO_STATUS if none) and reason. */
	void (*on_close)(void *arg, uint16_t code, const char *reason, size_t len);
	void *arg;
};

struct ws_stats {
	uint64_t bytes_in, bytes_out;   /* websocket bytes, headers included */
	uint64_t frames_in;             /* every frame received, control ones too */
	uint64_t msgs_in, msgs_out;     /* text/binary messages */
	uint64_t pings_out, pongs_in;
	uint64_t frames_direct;         /* data frames framed without wslay */
};

struct ws;
struct ws_pre;
struct mux;

/*
 * Connects to url (wss://host[:port]/path?query, or ws:// to 127.0.0.0/8,
 * ::1 or localhost) and completes the upgrade. opts is copied. Frames that
 * came with the 101 answer are buffered: call ws_on_readable() once before
 * waiting on ws_fd(). Returns 0, E_CONFIG (bad or refused URL, before any
 * network traffic), E_NET (connection, TLS or certificate failure),
 * E_TIMEOUT, E_PROTO (non-101 answer, bad Sec-WebSocket-Accept) or E_NOMEM.
 */
int ws_connect(struct ws **out, const char *url, const struct ws_opts *opts, struct err *e);

/*
 * Early connect, to hide TCP+TLS behind the API call that yields the URL:
 * ws_pre_start opens a CONNECT_ONLY connection to url's scheme, host and
 * port inside m (non-blocking; path and query do not matter; opts'
 * ca_file, connect_timeout_ms and lg are used) and returns at once. Later
 * transfers driven through m (awsapi_set_mux) move it along. Returns 0,
 * E_CONFIG (bad or refused URL), E_FULL, E_IO or E_NOMEM; on failure
 * nothing is left in m.
 */
int ws_pre_start(struct ws_pre **out, struct mux *m, const char *url, const struct ws_opts *opts,
                 struct err *e);
/*
 * As ws_connect, on p's connection when url has p's scheme, host and port
 * (and opts the same CA bundle): waits for p's connect (its connect
 * timeout), then upgrades. When url goes elsewhere, or p's connect failed
 * or went stale, falls back to ws_connect (logged at debug level only).
 * Consumes p (NULL: plain ws_connect). The websocket keeps its handle in
 * p's mux: free it (ws_free) before the mux. Returns as ws_connect.
 */
int ws_connect_pre(struct ws **out, struct ws_pre *p, const char *url, const struct ws_opts *opts,
                   struct err *e);
/* Closes and frees an unused early connection; NULL is fine. */
void ws_pre_free(struct ws_pre *p);
/* Returns nonzero if URLs a and b (ws:// or wss://) name the same scheme,
 * host and port (a missing port counts as the scheme's default). */
int ws_same_origin(const char *a, const char *b);

/* Closes the connection without a close frame and frees w; NULL is fine. */
void ws_free(struct ws *w);

/* Returns the socket to poll. */
int ws_fd(const struct ws *w);
/* Returns nonzero while the websocket wants to read. */
int ws_want_read(const struct ws *w);
/* Returns nonzero while frames are queued for sending. */
int ws_want_write(const struct ws *w);
/*
 * Reads until the socket (and TLS) has nothing more, delivering messages.
 * Returns 0; E_CLOSED once the peer's close frame arrived (after trying to
 * send the reply) or the connection ended after our close; E_NET when the
 * connection broke without a close frame; E_RANGE for a message above
 * max_msg; E_PROTO when the peer broke the protocol.
 */
int ws_on_readable(struct ws *w, struct err *e);
/* Sends queued frames until the socket would block; 0, E_CLOSED or E_NET. */
int ws_on_writable(struct ws *w, struct err *e);

/* Queues a binary message (copied); 0, E_CLOSED (closing or gone), E_INVAL
 * or E_NOMEM. */
int ws_send_binary(struct ws *w, const void *data, size_t len, struct err *e);
/* Queues a text message (copied, must be UTF-8); as ws_send_binary. */
int ws_send_text(struct ws *w, const void *data, size_t len, struct err *e);
/* Returns the bytes queued but not yet sent, payload and the headers of
 * frames already built (for backpressure). */
size_t ws_pending_out_bytes(const struct ws *w);
/*
 * Lets one ws_on_readable take at most about this many socket bytes (0,
 * the default: until the socket has no more), so the caller can apply
 * backpressure between bursts instead of after the whole socket buffer,
 * which the kernel grows to megabytes. A caller that sets it must call
 * ws_on_readable again, without waiting for poll, while ws_read_pending
 * says so: the rest may already sit inside TLS where poll cannot see it.
 */
void ws_set_read_budget(struct ws *w, size_t bytes);
int ws_read_pending(const struct ws *w);
/* Queues a ping (the pong is counted in stats); as ws_send_binary. */
int ws_ping(struct ws *w, struct err *e);
/* Queues a close frame with code (no reason); as ws_send_binary. */
int ws_close(struct ws *w, uint16_t code, struct err *e);
/* Returns the counters of this connection. */
const struct ws_stats *ws_stats(const struct ws *w);
/*
 * Copies n bytes from src to dst XORed with the 4-byte frame mask key, 8
 * at a time (masking and unmasking are the same operation).
 */
void ws_mask_copy(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t key[4]);

#endif
