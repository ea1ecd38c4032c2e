/* wss.c: test-side HTTP/1.1 server connection that can become a websocket. */
#include "wss.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <wslay/wslay.h>

#include "buf.h"
#include "loop.h"
#include "ws.h"

#define WSS_IO_TIMEOUT_MS 10000 /* for writes that have no deadline of their own */
#define WSS_CHUNK (64 * 1024)   /* socket reads, and output written once this large */
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* Results of one non-blocking read or write besides a byte count. */
enum { IO_EOF = 0, IO_WANT_READ = -1, IO_WANT_WRITE = -2, IO_ERR = -3 };

/* Bytes of one wss_send_fragmented() message, read back by wslay. */
struct frag_src {
	struct frag_src *next;
	size_t len, off, frag;
	uint8_t data[];
};

struct wss_conn {
	int fd;
	SSL *ssl;
	const struct logger *lg;
	struct buf in; /* read from the socket, not yet consumed */
	struct buf out; /* websocket frames given to the socket, not yet written */
	char io_msg[160];

	/* the last request */
	char *head;   /* copy of the request head, split in place */
	char *target; /* copy of the target, split into path and query */
	uint8_t *body;
	struct wss_header hdrs[WSS_MAX_HEADERS];
	struct wss_request req;
	int have_req;

	/* websocket phase */
	wslay_event_context_ptr ws;
	struct wss_callbacks cb;
	size_t max_msg;      /* largest message taken */
	size_t wslay_avail;  /* bytes of in that wslay may read: one whole frame */
	int wslay_frag;      /* wslay holds part of a fragmented message */
	struct buf msg;      /* an unmasked message taken without wslay */
	struct frag_src *frags;
	int eof;
	int io_error;
	unsigned pongs;
};

/* ---- socket and TLS I/O ---- */

static void
set_io_msg(struct wss_conn *c, const char *what)
{
	unsigned long e = ERR_get_error();

	if (e != 0)
		snprintf(c->io_msg, sizeof(c->io_msg), "%s: %s", what, ERR_reason_error_string(e));
	else
		snprintf(c->io_msg, sizeof(c->io_msg), "%s: %s", what,
			 errno ? strerror(errno) : "connection lost");
	ERR_clear_error();
}

/* Maps an SSL failure to an IO_* result. */
static long
ssl_result(struct wss_conn *c, int ret, const char *what)
{
	switch (SSL_get_error(c->ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		return IO_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return IO_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		return IO_EOF;
	default:
		set_io_msg(c, what);
		return IO_ERR;
	}
}

/* Reads up to n bytes: returns a count, IO_EOF, IO_WANT_* or IO_ERR. */
static long
conn_read(struct wss_conn *c, void *p, size_t n)
{
	if (c->ssl != NULL) {
		size_t got;
		int r;

		ERR_clear_error();
		errno = 0;
		r = SSL_read_ex(c->ssl, p, n, &got);
		return r == 1 ? (long)got : ssl_result(c, r, "tls read");
	}
	for (;;) {
		ssize_t r = recv(c->fd, p, n, 0);

		if (r >= 0)
			return (long)r;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return IO_WANT_READ;
		set_io_msg(c, "read");
		return IO_ERR;
	}
}

/* Writes up to n bytes: returns a count, IO_WANT_* or IO_ERR. */
static long
conn_write(struct wss_conn *c, const void *p, size_t n)
{
	if (c->ssl != NULL) {
		size_t put;
		int r;

		ERR_clear_error();
		errno = 0;
		r = SSL_write_ex(c->ssl, p, n, &put);
		if (r == 1)
			return (long)put;
		r = (int)ssl_result(c, r, "tls write");
		return r == IO_EOF ? IO_ERR : r;
	}
	for (;;) {
		ssize_t r = send(c->fd, p, n, MSG_NOSIGNAL);

		if (r >= 0)
			return (long)r;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return IO_WANT_WRITE;
		set_io_msg(c, "write");
		return IO_ERR;
	}
}

static uint64_t
deadline_of(int timeout_ms)
{
	return timeout_ms < 0 ? UINT64_MAX : loop_now_ms() + (uint64_t)timeout_ms;
}

/* Waits until the socket is ready for want (IO_WANT_*); 0 or E_TIMEOUT/E_NET. */
static int
wait_io(struct wss_conn *c, long want, uint64_t deadline, struct err *e)
{
	struct pollfd p = { .fd = c->fd, .events = want == IO_WANT_WRITE ? POLLOUT : POLLIN };

	for (;;) {
		uint64_t now = loop_now_ms();
		int ms = deadline == UINT64_MAX ? -1 : now >= deadline ? 0 :
			 deadline - now > 60000 ? 60000 : (int)(deadline - now);
		int r;

		if (ms == 0)
			return err_set(e, E_TIMEOUT, "wss: timed out");
		r = poll(&p, 1, ms);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return err_set(e, E_NET, "wss: poll: %s", strerror(errno));
	}
}

/* Writes all of b before deadline; 0, E_TIMEOUT or E_NET. */
static int
drain(struct wss_conn *c, struct buf *b, uint64_t deadline, struct err *e)
{
	while (buf_len(b) > 0) {
		long r = conn_write(c, buf_ptr(b), buf_len(b));

		if (r > 0) {
			buf_consume(b, (size_t)r);
		} else if (r == IO_WANT_READ || r == IO_WANT_WRITE) {
			int rc = wait_io(c, r, deadline, e);

			if (rc != 0)
				return rc;
		} else {
			return err_set(e, E_NET, "wss: %s", c->io_msg);
		}
	}
	return 0;
}

/* Writes all of data (after any buffered frames) before deadline; 0, E_TIMEOUT or E_NET. */
static int
write_all(struct wss_conn *c, const void *data, size_t len, uint64_t deadline, struct err *e)
{
	struct buf b;
	int rc;

	/* An interrupted SSL_write must be retried with the same bytes first. */
	if ((rc = drain(c, &c->out, deadline, e)) != 0)
		return rc;
	buf_view(&b, data, len);
	return drain(c, &b, deadline, e);
}

/* Writes buffered frames until done or the socket would block: 0, IO_WANT_*, IO_ERR. */
static long
out_flush(struct wss_conn *c)
{
	while (buf_len(&c->out) > 0) {
		long r = conn_write(c, buf_ptr(&c->out), buf_len(&c->out));

		if (r <= 0) {
			if (r == IO_ERR)
				c->io_error = 1;
			return r;
		}
		buf_consume(&c->out, (size_t)r);
	}
	return 0;
}

/* Reads more bytes into c->in before deadline: returns the count, 0 at
 * end of stream, or E_TIMEOUT/E_NET/E_NOMEM. */
static long
fill(struct wss_conn *c, uint64_t deadline, struct err *e)
{
	for (;;) {
		size_t before = buf_len(&c->in);
		uint8_t *p;
		long r;

		if (buf_reserve(&c->in, WSS_CHUNK, &p) != 0)
			return err_set(e, E_NOMEM, "wss: out of memory");
		r = conn_read(c, p, WSS_CHUNK);
		buf_truncate(&c->in, before + (r > 0 ? (size_t)r : 0));
		if (r >= 0)
			return r;
		if (r == IO_ERR)
			return err_set(e, E_NET, "wss: %s", c->io_msg);
		if ((r = wait_io(c, r, deadline, e)) != 0)
			return r;
	}
}

static int
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -1 : 0;
}

/* ---- connection ---- */

int
wss_conn_new(struct wss_conn **out, int fd, SSL *ssl, const struct logger *lg, struct err *e)
{
	struct wss_conn *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (c == NULL)
		return err_set(e, E_NOMEM, "wss: out of memory");
	c->fd = fd;
	c->ssl = ssl;
	c->lg = lg;
	buf_init(&c->in, WSS_MAX_HEAD + WSS_MAX_BODY + WSS_CHUNK);
	buf_init(&c->out, 0);
	buf_init(&c->msg, 0);
	if (set_nonblock(fd) != 0) {
		free(c);
		return err_set(e, E_IO, "wss: fcntl: %s", strerror(errno));
	}
	if (ssl != NULL) {
		/* A client that just closes its socket ends the test, not an error. */
		SSL_set_options(ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
		/*
		 * Read-ahead: one read(2) takes several records, not a header and
		 * then a body. Safe because every reader here goes on until
		 * WANT_READ (or checks SSL_has_pending) before it polls. c->out
		 * grows (and may move) while an SSL_write waits for the socket.
		 */
		SSL_set_read_ahead(ssl, 1);
		SSL_set_mode(ssl, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	}
	*out = c;
	return 0;
}

int
wss_conn_accept(struct wss_conn **out, int fd, SSL_CTX *ctx, int timeout_ms,
		const struct logger *lg, struct err *e)
{
	uint64_t deadline = deadline_of(timeout_ms);
	struct wss_conn *c;
	SSL *ssl;
	int rc;

	*out = NULL;
	if (ctx == NULL) {
		if ((rc = wss_conn_new(out, fd, NULL, lg, e)) != 0)
			close(fd);
		return rc;
	}
	ssl = SSL_new(ctx);
	if (ssl == NULL || !SSL_set_fd(ssl, fd)) {
		SSL_free(ssl);
		close(fd);
		return err_set(e, E_NOMEM, "wss: cannot create tls session");
	}
	/* Room for several records per read(2) with read-ahead. */
	SSL_set_default_read_buffer_len(ssl, WSS_CHUNK);
	if ((rc = wss_conn_new(&c, fd, ssl, lg, e)) != 0) {
		SSL_free(ssl);
		close(fd);
		return rc;
	}
	for (;;) {
		long r;

		ERR_clear_error();
		errno = 0;
		r = SSL_accept(ssl);
		if (r == 1)
			break;
		r = ssl_result(c, (int)r, "tls handshake");
		if (r == IO_EOF || r == IO_ERR) {
			rc = err_set(e, E_NET, "wss: %s", r == IO_EOF ? "tls handshake: peer closed"
							      : c->io_msg);
		} else {
			rc = wait_io(c, r, deadline, e);
		}
		if (rc != 0) {
			wss_drop(c);
			return rc;
		}
	}
	log_debug(lg, "wss: tls handshake done (%s)", SSL_get_version(ssl));
	*out = c;
	return 0;
}

static void
free_request(struct wss_conn *c)
{
	free(c->head);
	free(c->target);
	free(c->body);
	c->head = c->target = NULL;
	c->body = NULL;
	c->have_req = 0;
}

static void
free_conn(struct wss_conn *c)
{
	struct frag_src *f, *next;

	if (c->ws != NULL)
		wslay_event_context_free(c->ws);
	for (f = c->frags; f != NULL; f = next) {
		next = f->next;
		free(f);
	}
	free_request(c);
	buf_free(&c->in);
	buf_free(&c->msg);
	buf_free(&c->out);
	SSL_free(c->ssl);
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

void
wss_free(struct wss_conn *c)
{
	if (c == NULL)
		return;
	/* Best effort, as the close_notify: frames wslay already handed over. */
	if (!c->io_error)
		out_flush(c);
	if (c->ssl != NULL && !c->io_error && !c->eof) {
		ERR_clear_error();
		SSL_shutdown(c->ssl); /* best effort: one close_notify, no waiting */
		ERR_clear_error();
	}
	free_conn(c);
}

void
wss_drop(struct wss_conn *c)
{
	struct linger lin = { .l_onoff = 1, .l_linger = 0 };

	if (c == NULL)
		return;
	/* Linger 0 makes close() send RST: the client sees a broken connection. */
	setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lin, sizeof(lin));
	free_conn(c);
}

/* ---- HTTP ---- */

/* Removes blanks at both ends of s in place; returns s advanced. */
static char *
trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	return s;
}

/* Returns nonzero if the comma-separated list value holds token (any case). */
static int
has_token(const char *value, const char *token)
{
	size_t n = strlen(token);
	const char *p = value;

	while (p != NULL && *p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (strncasecmp(p, token, n) == 0) {
			const char *q = p + n;

			while (*q == ' ' || *q == '\t')
				q++;
			if (*q == ',' || *q == '\0')
				return 1;
		}
		p = strchr(p, ',');
	}
	return 0;
}

const char *
wss_header(const struct wss_request *req, const char *name)
{
	for (size_t i = 0; i < req->nheaders; i++)
		if (strcasecmp(req->headers[i].name, name) == 0)
			return req->headers[i].value;
	return NULL;
}

/* Splits the request head (NUL-terminated, without the blank line) in
 * place; returns 0 or E_PROTO/E_RANGE/E_NOMEM. */
static int
parse_head(struct wss_conn *c, char *head, struct err *e)
{
	struct wss_request *r = &c->req;
	char *line = head, *next, *sp1, *sp2, *q;
	const char *v;

	next = strstr(line, "\r\n");
	if (next != NULL) {
		*next = '\0';
		next += 2;
	}
	sp1 = strchr(line, ' ');
	sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (sp1 == NULL || sp2 == NULL || sp1 == line || sp2 == sp1 + 1)
		return err_set(e, E_PROTO, "wss: malformed request line");
	*sp1 = *sp2 = '\0';
	if (strcmp(sp2 + 1, "HTTP/1.1") != 0 && strcmp(sp2 + 1, "HTTP/1.0") != 0)
		return err_set(e, E_PROTO, "wss: unsupported http version");
	r->method = line;
	r->target = sp1 + 1;
	if ((c->target = strdup(r->target)) == NULL)
		return err_set(e, E_NOMEM, "wss: out of memory");
	r->path = c->target;
	q = strchr(c->target, '?');
	if (q != NULL)
		*q++ = '\0';
	r->query = q != NULL ? q : "";
	r->nheaders = 0;
	for (line = next; line != NULL && *line != '\0'; line = next) {
		char *colon;

		next = strstr(line, "\r\n");
		if (next != NULL) {
			*next = '\0';
			next += 2;
		}
		if (*line == ' ' || *line == '\t')
			return err_set(e, E_PROTO, "wss: folded header lines are not supported");
		colon = strchr(line, ':');
		if (colon == NULL || colon == line || strcspn(line, " \t") < (size_t)(colon - line))
			return err_set(e, E_PROTO, "wss: malformed header line");
		if (r->nheaders == WSS_MAX_HEADERS)
			return err_set(e, E_RANGE, "wss: too many headers");
		*colon = '\0';
		c->hdrs[r->nheaders].name = line;
		c->hdrs[r->nheaders].value = trim(colon + 1);
		r->nheaders++;
	}
	r->headers = c->hdrs;
	v = wss_header(r, "Connection");
	if (strcmp(sp2 + 1, "HTTP/1.1") == 0)
		r->keep_alive = v == NULL || !has_token(v, "close");
	else
		r->keep_alive = v != NULL && has_token(v, "keep-alive");
	return 0;
}

int
wss_read_request(struct wss_conn *c, int timeout_ms, const struct wss_request **req,
		 struct err *e)
{
	uint64_t deadline = deadline_of(timeout_ms);
	const char *cl, *hend;
	size_t head_len, body_len = 0;
	long r;
	int rc;

	*req = NULL;
	free_request(c);
	memset(&c->req, 0, sizeof(c->req));
	if (c->ws != NULL)
		return err_set(e, E_INVAL, "wss: connection is a websocket");
	for (;;) {
		/* Blank lines before a request are allowed (RFC 9112, 2.2). */
		while (buf_len(&c->in) >= 2 && memcmp(buf_ptr(&c->in), "\r\n", 2) == 0)
			buf_consume(&c->in, 2);
		hend = buf_len(&c->in) == 0 ? NULL :
		       memmem(buf_ptr(&c->in), buf_len(&c->in), "\r\n\r\n", 4);
		if (hend != NULL)
			break;
		if (buf_len(&c->in) >= WSS_MAX_HEAD)
			return err_set(e, E_RANGE, "wss: request head too large");
		r = fill(c, deadline, e);
		if (r < 0)
			return (int)r;
		if (r == 0)
			return buf_len(&c->in) == 0 ? err_set(e, E_CLOSED, "wss: peer closed")
						    : err_set(e, E_PROTO, "wss: truncated request");
	}
	head_len = (size_t)(hend - (const char *)buf_ptr(&c->in));
	if (head_len + 4 > WSS_MAX_HEAD)
		return err_set(e, E_RANGE, "wss: request head too large");
	c->head = malloc(head_len + 1);
	if (c->head == NULL)
		return err_set(e, E_NOMEM, "wss: out of memory");
	buf_get(&c->in, c->head, head_len);
	buf_consume(&c->in, 4);
	c->head[head_len] = '\0';
	if ((rc = parse_head(c, c->head, e)) != 0)
		return rc;
	log_debug(c->lg, "wss: %s %s", c->req.method, c->req.path);

	if (wss_header(&c->req, "Transfer-Encoding") != NULL)
		return err_set(e, E_PROTO, "wss: chunked request bodies are not supported");
	cl = wss_header(&c->req, "Content-Length");
	if (cl != NULL) {
		char *end;
		unsigned long long n;

		errno = 0;
		n = strtoull(cl, &end, 10);
		if (*cl < '0' || *cl > '9' || *end != '\0' || errno != 0)
			return err_set(e, E_PROTO, "wss: bad content-length");
		if (n > WSS_MAX_BODY)
			return err_set(e, E_RANGE, "wss: request body too large");
		body_len = (size_t)n;
	}
	if (body_len > buf_len(&c->in)) {
		const char *ex = wss_header(&c->req, "Expect");

		if (ex != NULL && strcasecmp(ex, "100-continue") == 0) {
			static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

			if ((rc = write_all(c, cont, sizeof(cont) - 1, deadline, e)) != 0)
				return rc;
		}
	}
	while (buf_len(&c->in) < body_len) {
		r = fill(c, deadline, e);
		if (r < 0)
			return (int)r;
		if (r == 0)
			return err_set(e, E_PROTO, "wss: truncated request body");
	}
	if (cl != NULL) {
		c->body = malloc(body_len + 1);
		if (c->body == NULL)
			return err_set(e, E_NOMEM, "wss: out of memory");
		buf_get(&c->in, c->body, body_len);
		c->body[body_len] = '\0';
	}
	c->req.body = c->body;
	c->req.body_len = body_len;
	c->have_req = 1;
	*req = &c->req;
	return 0;
}

static const char *
reason_of(int status)
{
	switch (status) {
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Status";
	}
}

int
wss_write_response(struct wss_conn *c, int status, const char *reason, const char *content_type,
		   const char *extra_headers, const void *body, size_t len, int keep_alive,
		   struct err *e)
{
	struct buf b;
	int rc;

	buf_init(&b, 0);
	rc = buf_putf(&b, "HTTP/1.1 %d %s\r\n", status, reason ? reason : reason_of(status));
	if (rc == 0 && content_type != NULL)
		rc = buf_putf(&b, "Content-Type: %s\r\n", content_type);
	if (rc == 0 && extra_headers != NULL)
		rc = buf_putf(&b, "%s", extra_headers);
	if (rc == 0)
		rc = buf_putf(&b, "Content-Length: %zu\r\n%s\r\n", len,
			      keep_alive ? "" : "Connection: close\r\n");
	if (rc == 0 && len > 0)
		rc = buf_put(&b, body, len);
	if (rc != 0) {
		buf_free(&b);
		return err_set(e, E_NOMEM, "wss: out of memory");
	}
	rc = write_all(c, buf_ptr(&b), buf_len(&b), deadline_of(WSS_IO_TIMEOUT_MS), e);
	buf_free(&b);
	return rc;
}

int
wss_write_raw(struct wss_conn *c, const void *data, size_t len, int timeout_ms, struct err *e)
{
	return write_all(c, data, len, deadline_of(timeout_ms), e);
}

/* ---- websocket ---- */

/* Gives wslay the frame take_frames() handed it, and nothing beyond. */
static ssize_t
ws_recv_cb(wslay_event_context_ptr ctx, uint8_t *data, size_t len, int flags, void *arg)
{
	struct wss_conn *c = arg;
	size_t n = len < c->wslay_avail ? len : c->wslay_avail;

	(void)flags;
	if (n == 0 || buf_get(&c->in, data, n) != 0) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	c->wslay_avail -= n;
	return (ssize_t)n;
}

/*
 * Reads one chunk into c->in (which also holds bytes that came right
 * behind the upgrade request). Returns the count, or IO_* with c->eof or
 * c->io_error set as it applies.
 */
static long
read_chunk(struct wss_conn *c)
{
	size_t had = buf_len(&c->in);
	uint8_t *p;
	long r;

	if (buf_reserve(&c->in, WSS_CHUNK, &p) != 0) {
		snprintf(c->io_msg, sizeof(c->io_msg), "read: out of memory");
		c->io_error = 1;
		return IO_ERR;
	}
	r = conn_read(c, p, WSS_CHUNK);
	buf_truncate(&c->in, had + (r > 0 ? (size_t)r : 0));
	if (r == IO_EOF)
		c->eof = 1;
	else if (r == IO_ERR)
		c->io_error = 1;
	return r;
}

/*
 * Takes the whole frames in c->in. A masked data message in one frame is
 * unmasked and delivered here: wslay unmasks a byte at a time and copies
 * every message into an allocation of its own, which made it the largest
 * part of the fake gateway's CPU in a bulk upload, and the gateway then
 * competes with the client it serves for the same cores. A frame over the
 * message limit is refused here, with wslay's close code. Every other
 * frame (control frames, fragments, anything malformed) goes to wslay
 * whole and alone, so its parser always stops at a frame boundary.
 */
static void
take_frames(struct wss_conn *c)
{
	while (!c->io_error && wslay_event_get_read_enabled(c->ws)) {
		const uint8_t *key = NULL, *payload;
		uint8_t b0, b1, op, x[2], *dst;
		uint64_t plen;
		struct buf b;
		size_t hl;

		buf_view(&b, buf_ptr(&c->in), buf_len(&c->in));
		if (buf_get_u8(&b, &b0) != 0 || buf_get_u8(&b, &b1) != 0)
			return;
		plen = b1 & 0x7f;
		if (plen == 126) {
			if (buf_get(&b, x, 2) != 0)
				return;
			plen = (uint64_t)x[0] << 8 | x[1];
		} else if (plen == 127 && buf_get_u64(&b, &plen) != 0) {
			return;
		}
		if ((b1 & 0x80) && buf_get_direct(&b, 4, &key) != 0)
			return;
		hl = buf_len(&c->in) - buf_len(&b);
		op = b0 & 0x0f;
		if (plen > c->max_msg) {
			/* As wslay answers a message over its limit. */
			wslay_event_queue_close(c->ws, 1009, NULL, 0);
			wslay_event_shutdown_read(c->ws);
			return;
		} else if (buf_get_direct(&b, (size_t)plen, &payload) != 0) {
			return; /* the rest is still to come */
		} else if ((b0 & 0xf0) == 0x80 && (op == WSS_OP_TEXT || op == WSS_OP_BINARY) &&
			   key != NULL && !c->wslay_frag) {
			buf_reset(&c->msg);
			if (buf_reserve(&c->msg, (size_t)plen, &dst) != 0) {
				snprintf(c->io_msg, sizeof(c->io_msg), "read: out of memory");
				c->io_error = 1;
				return;
			}
			ws_mask_copy(dst, payload, (size_t)plen, key);
			buf_consume(&c->in, hl + (size_t)plen);
			if (c->cb.on_message != NULL)
				c->cb.on_message(c->cb.arg, op, dst, (size_t)plen);
			continue;
		} else {
			c->wslay_avail = hl + (size_t)plen;
		}
		if (op == WSS_OP_TEXT || op == WSS_OP_BINARY || op == 0)
			c->wslay_frag = !(b0 & 0x80);
		wslay_event_recv(c->ws);
		c->wslay_avail = 0;
	}
}

static ssize_t
ws_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *arg)
{
	struct wss_conn *c = arg;
	long r = 0;

	(void)flags;
	/*
	 * wslay hands over each frame header and payload separately: collect
	 * them in c->out, so a burst of frames leaves as a few large TLS
	 * records. Whoever calls wslay_event_send() flushes c->out afterwards.
	 */
	if (buf_len(&c->out) >= WSS_CHUNK)
		r = out_flush(c); /* 0 only once c->out is empty */
	if (r == 0) {
		if (len > WSS_CHUNK - buf_len(&c->out))
			len = WSS_CHUNK - buf_len(&c->out);
		if (buf_put(&c->out, data, len) == 0)
			return (ssize_t)len;
		snprintf(c->io_msg, sizeof(c->io_msg), "write: out of memory");
		r = IO_ERR;
	}
	if (r == IO_WANT_READ || r == IO_WANT_WRITE) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
	} else {
		c->io_error = 1;
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
	}
	return -1;
}

static void
ws_msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *a, void *arg)
{
	struct wss_conn *c = arg;

	(void)ctx;
	switch (a->opcode) {
	case WSLAY_PONG:
		c->pongs++;
		break;
	case WSLAY_CONNECTION_CLOSE:
		if (c->cb.on_close != NULL)
			c->cb.on_close(c->cb.arg, a->status_code ? a->status_code : 1005,
				       a->msg_length > 2 ? a->msg + 2 : NULL,
				       a->msg_length > 2 ? a->msg_length - 2 : 0);
		break;
	case WSLAY_TEXT_FRAME:
	case WSLAY_BINARY_FRAME:
		if (c->cb.on_message != NULL)
			c->cb.on_message(c->cb.arg, a->opcode, a->msg, a->msg_length);
		break;
	default:
		break; /* pings are answered by wslay */
	}
}

int
wss_upgrade(struct wss_conn *c, const struct wss_callbacks *cb, size_t max_msg, struct err *e)
{
	static const struct wslay_event_callbacks wcb = {
		.recv_callback = ws_recv_cb,
		.send_callback = ws_send_cb,
		.on_msg_recv_callback = ws_msg_cb,
	};
	const struct wss_request *r = &c->req;
	const char *up, *conn, *ver, *key;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	char accept[64], resp[256], kg[128];
	int rc;

	if (!c->have_req || c->ws != NULL)
		return err_set(e, E_INVAL, "wss: no request to upgrade");
	up = wss_header(r, "Upgrade");
	conn = wss_header(r, "Connection");
	ver = wss_header(r, "Sec-WebSocket-Version");
	key = wss_header(r, "Sec-WebSocket-Key");
	if (strcmp(r->method, "GET") != 0 || up == NULL || !has_token(up, "websocket") ||
	    conn == NULL || !has_token(conn, "upgrade") || ver == NULL || strcmp(ver, "13") != 0 ||
	    key == NULL || strlen(key) != 24 || strcmp(key + 22, "==") != 0) {
		wss_write_response(c, 400, NULL, "text/plain", NULL, "bad upgrade\n", 12, 0, NULL);
		return err_set(e, E_PROTO, "wss: not a valid websocket upgrade request");
	}
	snprintf(kg, sizeof(kg), "%s%s", key, WS_GUID);
	if (!EVP_Digest(kg, strlen(kg), md, &mdlen, EVP_sha1(), NULL))
		return err_set(e, E_NOMEM, "wss: sha1 failed");
	EVP_EncodeBlock((unsigned char *)accept, md, (int)mdlen);
	snprintf(resp, sizeof(resp),
		 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
		 "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", accept);
	if ((rc = write_all(c, resp, strlen(resp), deadline_of(WSS_IO_TIMEOUT_MS), e)) != 0)
		return rc;
	if (wslay_event_context_server_init(&c->ws, &wcb, c) != 0)
		return err_set(e, E_NOMEM, "wss: out of memory");
	c->max_msg = max_msg ? max_msg : WSS_DEFAULT_MAX_MSG;
	wslay_event_config_set_max_recv_msg_length(c->ws, c->max_msg);
	if (cb != NULL)
		c->cb = *cb;
	return 0;
}

int
wss_fd(const struct wss_conn *c)
{
	return c->fd;
}

int
wss_want_read(const struct wss_conn *c)
{
	return c->ws != NULL && !c->eof && !c->io_error && wslay_event_want_read(c->ws);
}

int
wss_want_write(const struct wss_conn *c)
{
	return c->ws != NULL && !c->io_error &&
	       (buf_len(&c->out) > 0 || wslay_event_want_write(c->ws));
}

int
wss_is_open(const struct wss_conn *c)
{
	return wss_want_read(c) || wss_want_write(c);
}

int
wss_on_writable(struct wss_conn *c, struct err *e)
{
	if (c->ws == NULL)
		return err_set(e, E_INVAL, "wss: not a websocket");
	if (wslay_event_send(c->ws) != 0 || out_flush(c) == IO_ERR)
		return err_set(e, E_NET, "wss: %s", c->io_msg[0] ? c->io_msg : "send failed");
	return wss_is_open(c) ? 0 : err_set(e, E_CLOSED, "wss: session over");
}

int
wss_on_readable(struct wss_conn *c, struct err *e)
{
	if (c->ws == NULL)
		return err_set(e, E_INVAL, "wss: not a websocket");
	/* Until TLS has nothing left, so no bytes stay unseen in its read-ahead. */
	while (read_chunk(c) > 0 && wslay_event_get_read_enabled(c->ws))
		take_frames(c);
	take_frames(c);
	if (c->io_error)
		return err_set(e, E_NET, "wss: %s", c->io_msg);
	if (c->eof)
		return err_set(e, E_CLOSED, "wss: peer hung up");
	/* Answers (pong, close reply) go out now rather than after a poll. */
	if (wslay_event_want_write(c->ws) && wslay_event_send(c->ws) != 0 && c->io_error)
		return err_set(e, E_NET, "wss: %s", c->io_msg);
	if (out_flush(c) == IO_ERR)
		return err_set(e, E_NET, "wss: %s", c->io_msg);
	return wss_is_open(c) ? 0 : err_set(e, E_CLOSED, "wss: session over");
}

/* Maps a wslay queueing result; 0, E_CLOSED, E_INVAL or E_NOMEM. */
static int
queued(int r, struct err *e)
{
	switch (r) {
	case 0:
		return 0;
	case WSLAY_ERR_NO_MORE_MSG:
		return err_set(e, E_CLOSED, "wss: websocket is closing");
	case WSLAY_ERR_INVALID_ARGUMENT:
		return err_set(e, E_INVAL, "wss: invalid message");
	default:
		return err_set(e, E_NOMEM, "wss: out of memory");
	}
}

int
wss_send(struct wss_conn *c, int opcode, const void *data, size_t len, struct err *e)
{
	struct wslay_event_msg m = { .opcode = (uint8_t)opcode, .msg = data, .msg_length = len };

	if (c->ws == NULL)
		return err_set(e, E_INVAL, "wss: not a websocket");
	return queued(wslay_event_queue_msg(c->ws, &m), e);
}

int
wss_send_binary(struct wss_conn *c, const void *data, size_t len, struct err *e)
{
	return wss_send(c, WSS_OP_BINARY, data, len, e);
}

int
wss_send_text(struct wss_conn *c, const char *text, struct err *e)
{
	return wss_send(c, WSS_OP_TEXT, text, strlen(text), e);
}

static ssize_t
frag_read_cb(wslay_event_context_ptr ctx, uint8_t *data, size_t len,
	     const union wslay_event_msg_source *source, int *eof, void *arg)
{
	struct frag_src *f = source->data;
	size_t n = f->len - f->off;

	(void)ctx;
	(void)arg;
	if (n > f->frag)
		n = f->frag;
	if (n > len)
		n = len;
	memcpy(data, f->data + f->off, n);
	f->off += n;
	*eof = f->off == f->len;
	return (ssize_t)n;
}

int
wss_send_fragmented(struct wss_conn *c, int opcode, const void *data, size_t len, size_t frag,
		    struct err *e)
{
	struct wslay_event_fragmented_msg m = { .opcode = (uint8_t)opcode,
						.read_callback = frag_read_cb };
	struct frag_src *f;
	int rc;

	if (c->ws == NULL || frag == 0)
		return err_set(e, E_INVAL, "wss: bad fragmented send");
	f = malloc(sizeof(*f) + len);
	if (f == NULL)
		return err_set(e, E_NOMEM, "wss: out of memory");
	f->len = len;
	f->off = 0;
	f->frag = frag;
	memcpy(f->data, data, len);
	m.source.data = f;
	rc = queued(wslay_event_queue_fragmented_msg(c->ws, &m), e);
	if (rc != 0) {
		free(f);
		return rc;
	}
	/* wslay has no release hook for sources: keep them until wss_free. */
	f->next = c->frags;
	c->frags = f;
	return 0;
}

int
wss_ping(struct wss_conn *c, const void *data, size_t len, struct err *e)
{
	return wss_send(c, WSLAY_PING, data, len, e);
}

int
wss_close(struct wss_conn *c, uint16_t code, const char *reason, struct err *e)
{
	if (c->ws == NULL)
		return err_set(e, E_INVAL, "wss: not a websocket");
	return queued(wslay_event_queue_close(c->ws, code, (const uint8_t *)reason,
					      reason ? strlen(reason) : 0), e);
}

unsigned
wss_pongs(const struct wss_conn *c)
{
	return c->pongs;
}

int
wss_run(struct wss_conn *c, int timeout_ms, struct err *e)
{
	uint64_t deadline = deadline_of(timeout_ms);
	int rc = 0;

	if (c->ws == NULL)
		return err_set(e, E_INVAL, "wss: not a websocket");
	/* Bytes already read (c->in, or by TLS read-ahead) raise no POLLIN. */
	if (buf_len(&c->in) > 0 || (c->ssl != NULL && SSL_has_pending(c->ssl)))
		rc = wss_on_readable(c, e);
	while (rc == 0 && wss_is_open(c)) {
		struct pollfd p = { .fd = c->fd };
		uint64_t now = loop_now_ms();
		int ms = deadline == UINT64_MAX ? -1 : now >= deadline ? 0 :
			 deadline - now > 60000 ? 60000 : (int)(deadline - now);
		int n;

		if (ms == 0)
			return err_set(e, E_TIMEOUT, "wss: timed out");
		p.events = (short)((wss_want_read(c) ? POLLIN : 0) | (wss_want_write(c) ? POLLOUT : 0));
		n = poll(&p, 1, ms);
		if (n < 0 && errno != EINTR)
			return err_set(e, E_NET, "wss: poll: %s", strerror(errno));
		if (n <= 0)
			continue;
		if (p.revents & (POLLIN | POLLERR | POLLHUP))
			rc = wss_on_readable(c, e);
		if (rc == 0 && (p.revents & POLLOUT))
			rc = wss_on_writable(c, e);
	}
	return rc == E_CLOSED ? 0 : rc;
}
