/* ws.c: websocket client: libcurl connection, our upgrade, wslay framing. */
#include "ws.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <wslay/wslay.h>

#include "buf.h"
#include "loop.h"
#include "mux.h"
#include "tlstrust.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_MAX_HEAD (16 * 1024)   /* the 101 answer's head */
#define WS_MAX_HEADERS 64
#define WS_SNIPPET 200            /* body bytes quoted from a refusal */
/* Outgoing frames collect here and leave in few large TLS writes: one
 * write per frame header and per 1 KiB payload would cost a TLS record
 * and a system call each. Past WS_OUT_FLUSH bytes send_cb writes out
 * before taking more, so the buffer stays under WS_OUT_MAX. */
#define WS_OUT_FLUSH (64 * 1024)
#define WS_OUT_MAX (WS_OUT_FLUSH + 64 * 1024)
/* Data frames we frame ourselves (frame_direct) may fill w->out up to
 * this; past it they queue in wslay until the socket takes more. */
#define WS_OUT_DIRECT_MAX (512 * 1024)
/* Decrypted input is read in large pieces and handed to wslay from here
 * (wslay asks for at most 4 KiB per call). */
#define WS_IN_CHUNK (64 * 1024)
/* Mask keys come from a pool refilled at once: RAND_bytes per frame costs
 * a system call (OpenSSL's fork check). */
#define WS_MASK_POOL 1024

struct ws {
	CURL *curl;
	struct mux *mux;  /* curl lives in it (an early connection); NULL: its own */
	int fd;
	wslay_event_context_ptr ctx;
	struct ws_opts o;
	struct buf pre;   /* bytes that followed the 101 head, fed to wslay first */
	struct buf msg;   /* the message being reassembled (storage reused) */
	struct buf out;   /* framed bytes waiting for the socket */
	struct buf in;    /* bytes read from the socket, not yet given to wslay */
	uint8_t mask[WS_MASK_POOL]; /* random bytes for frame masks */
	size_t mask_off;            /* used bytes of mask */
	int msg_op;       /* its opcode */
	int frame_ctrl;   /* the frame being received is a control frame */
	int frame_fin;
	int too_big;      /* a message above max_msg arrived */
	int closing;      /* ws_close() was called */
	int eof;          /* the peer closed the TCP/TLS stream */
	size_t rd_limit;  /* ws_set_read_budget; 0: read until EAGAIN */
	size_t rd_budget; /* socket bytes this ws_on_readable may still read */
	int more;         /* stopped at the budget: more may be waiting */
	int blocked;      /* recv_cb said "would block" (no bytes, or budget) */
	unsigned long recv_calls;
	int net_err;      /* a read or write failed */
	char net_msg[CURL_ERROR_SIZE + 64];
	char errbuf[CURL_ERROR_SIZE];
	struct ws_stats st;
};

/* A connection opened before its URL was known (ws_pre_start). */
struct ws_pre {
	struct ws *w;          /* its curl handle (in the mux) and errbuf */
	struct mux *mux;
	int tls;
	char *host, *port;     /* as parse_url gives them; port may be NULL */
	char *ca_file;         /* NULL: the default store */
	uint64_t deadline;     /* libcurl gives up on the connect by then */
	const struct logger *lg;
};

/* A parsed URL, as far as the upgrade needs it. */
struct target {
	int tls;
	char *host;     /* as curl gives it: IPv6 in brackets */
	char *port;     /* NULL when the URL has none */
	char *path;
	char *query;    /* NULL when none */
	char *curl_url; /* the same with http(s):// for libcurl */
};

static void
target_free(struct target *t)
{
	curl_free(t->host);
	curl_free(t->port);
	curl_free(t->path);
	curl_free(t->query);
	curl_free(t->curl_url);
}

/* Returns nonzero if host (a URL host part) is a loopback name or address. */
static int
is_loopback(const char *host)
{
	char tmp[64];
	struct in_addr a4;
	struct in6_addr a6;
	size_t n = strlen(host);

	if (strcasecmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (n >= 2 && n < sizeof(tmp) && host[0] == '[' && host[n - 1] == ']') {
		memcpy(tmp, host + 1, n - 2);
		tmp[n - 2] = '\0';
		if (inet_pton(AF_INET6, tmp, &a6) == 1)
			return IN6_IS_ADDR_LOOPBACK(&a6);
	}
	return 0;
}

/* Splits url with libcurl's URL parser; returns 0 or E_CONFIG/E_NOMEM. */
static int
parse_url(const char *url, struct target *t, struct err *e)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *user = NULL;
	int rc = 0;

	memset(t, 0, sizeof(*t));
	if (u == NULL)
		return err_set(e, E_NOMEM, "websocket: out of memory");
	if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &t->host, 0) != CURLUE_OK) {
		rc = err_set(e, E_CONFIG, "websocket: malformed url");
		goto out;
	}
	if (strcasecmp(scheme, "wss") == 0) {
		t->tls = 1;
	} else if (strcasecmp(scheme, "ws") != 0) {
		rc = err_set(e, E_CONFIG, "websocket: unsupported url scheme %.16s", scheme);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK) {
		rc = err_set(e, E_CONFIG, "websocket: user names in the url are not supported");
		goto out;
	}
	/* Plain ws:// would expose the stream to the network: tests only. */
	if (!t->tls && !is_loopback(t->host)) {
		rc = err_set(e, E_CONFIG, "websocket: ws:// is allowed only to a loopback host, "
			     "use wss://");
		goto out;
	}
	curl_url_get(u, CURLUPART_PORT, &t->port, 0);
	curl_url_get(u, CURLUPART_QUERY, &t->query, 0);
	if (curl_url_get(u, CURLUPART_PATH, &t->path, 0) != CURLUE_OK ||
	    curl_url_set(u, CURLUPART_SCHEME, t->tls ? "https" : "http", 0) != CURLUE_OK ||
	    curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_URL, &t->curl_url, 0) != CURLUE_OK)
		rc = err_set(e, E_NOMEM, "websocket: out of memory");
out:
	curl_free(scheme);
	curl_free(user);
	curl_url_cleanup(u);
	if (rc != 0)
		target_free(t);
	return rc;
}

/* Waits for events on w->fd until deadline; 0 or E_TIMEOUT/E_NET. */
static int
wait_fd(struct ws *w, short events, uint64_t deadline, struct err *e)
{
	struct pollfd p = { .fd = w->fd, .events = events };

	for (;;) {
		uint64_t now = loop_now_ms();
		int r;

		if (now >= deadline)
			return err_set(e, E_TIMEOUT, "websocket: upgrade timed out after %d ms",
				       w->o.handshake_timeout_ms);
		r = poll(&p, 1, (int)(deadline - now));
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return err_set(e, E_NET, "websocket: poll: %s", strerror(errno));
	}
}

static const char *
curl_msg(const struct ws *w, CURLcode c)
{
	return w->errbuf[0] ? w->errbuf : curl_easy_strerror(c);
}

/* Sends all of data before deadline (handshake only); 0 or E_*. */
static int
send_all(struct ws *w, const char *data, size_t len, uint64_t deadline, struct err *e)
{
	while (len > 0) {
		size_t n = 0;
		CURLcode c = curl_easy_send(w->curl, data, len, &n);
		int rc;

		if (c == CURLE_OK && n > 0) {
			data += n;
			len -= n;
		} else if (c == CURLE_OK || c == CURLE_AGAIN) {
			if ((rc = wait_fd(w, POLLOUT, deadline, e)) != 0)
				return rc;
		} else {
			return err_set(e, E_NET, "websocket: send: %s", curl_msg(w, c));
		}
	}
	return 0;
}

/* Reads more handshake bytes into w->pre before deadline: returns the
 * count, 0 at end of stream, or E_TIMEOUT/E_NET/E_PROTO/E_NOMEM. */
static long
recv_more(struct ws *w, uint64_t deadline, struct err *e)
{
	for (;;) {
		size_t before = buf_len(&w->pre), n = 0;
		uint8_t *p;
		CURLcode c;
		int rc;

		rc = buf_reserve(&w->pre, 4096, &p);
		if (rc == E_FULL)
			return err_set(e, E_PROTO, "websocket: upgrade answer too large");
		if (rc != 0)
			return err_set(e, E_NOMEM, "websocket: out of memory");
		c = curl_easy_recv(w->curl, p, 4096, &n);
		buf_truncate(&w->pre, before + (c == CURLE_OK ? n : 0));
		if (c == CURLE_OK)
			return (long)n;
		if (c != CURLE_AGAIN)
			return err_set(e, E_NET, "websocket: receive: %s", curl_msg(w, c));
		if ((rc = wait_fd(w, POLLIN, deadline, e)) != 0)
			return rc;
	}
}

/* Copies up to max bytes of s into out as one printable line. */
static void
sanitize(char *out, size_t outsz, const uint8_t *s, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 1 < outsz; i++) {
		char ch = (s[i] >= 0x20 && s[i] < 0x7f) ? (char)s[i] : ' ';

		if (ch == ' ' && (o == 0 || out[o - 1] == ' '))
			continue;
		out[o++] = ch;
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
}

/* Answer headers, split in place in a copy of the head. */
struct head {
	char *status_line;
	int status;
	const char *name[WS_MAX_HEADERS];
	const char *value[WS_MAX_HEADERS];
	size_t n;
};

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

/* libcurl does not parse answers on a CONNECT_ONLY connection, so this
 * small HTTP/1.1 head parser is ours. Returns 0 or E_PROTO. */
static int
parse_head(char *text, struct head *h, struct err *e)
{
	char *line = text, *next;
	char sl[128];

	memset(h, 0, sizeof(*h));
	next = strstr(line, "\r\n");
	if (next != NULL) {
		*next = '\0';
		next += 2;
	}
	h->status_line = line;
	if (strncmp(line, "HTTP/1.", 7) != 0 || line[7] == '\0' || line[8] != ' ' ||
	    line[9] < '1' || line[9] > '5' || line[10] < '0' || line[10] > '9' ||
	    line[11] < '0' || line[11] > '9' || (line[12] != ' ' && line[12] != '\0')) {
		sanitize(sl, sizeof(sl), (const uint8_t *)line, strlen(line));
		return err_set(e, E_PROTO, "websocket: not an http answer: %s", sl);
	}
	h->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
	for (line = next; line != NULL && *line != '\0'; line = next) {
		char *colon;

		next = strstr(line, "\r\n");
		if (next != NULL) {
			*next = '\0';
			next += 2;
		}
		colon = strchr(line, ':');
		if (colon == NULL || h->n == WS_MAX_HEADERS)
			continue; /* not needed to judge the answer */
		*colon = '\0';
		h->name[h->n] = trim(line);
		h->value[h->n] = trim(colon + 1);
		h->n++;
	}
	return 0;
}

static const char *
head_get(const struct head *h, const char *name)
{
	for (size_t i = 0; i < h->n; i++)
		if (strcasecmp(h->name[i], name) == 0)
			return h->value[i];
	return NULL;
}

/* Returns nonzero if the comma-separated value lists token (any case). */
static int
has_token(const char *value, const char *token)
{
	size_t n = strlen(token);

	for (const char *p = value; p != NULL && *p != '\0'; p = strchr(p, ',')) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (strncasecmp(p, token, n) == 0) {
			const char *q = p + n;

			while (*q == ' ' || *q == '\t')
				q++;
			if (*q == ',' || *q == '\0')
				return 1;
		}
	}
	return 0;
}

/* Builds the error for a non-101 answer: status line, and for 4xx/5xx the
 * start of the body (what AWS puts its reason in). Returns E_PROTO. */
static int
refused(struct ws *w, const struct head *h, uint64_t deadline, struct err *e)
{
	char sl[128], body[WS_SNIPPET + 1];
	const char *cl = head_get(h, "Content-Length");
	size_t want = 0;

	sanitize(sl, sizeof(sl), (const uint8_t *)h->status_line, strlen(h->status_line));
	if (h->status < 400)
		return err_set(e, E_PROTO, "websocket: upgrade refused: %s", sl);
	if (cl != NULL) {
		unsigned long long n = strtoull(cl, NULL, 10);

		want = n < WS_SNIPPET ? (size_t)n : WS_SNIPPET;
	}
	/* Best effort: whatever arrives before the deadline. */
	while (buf_len(&w->pre) < want && recv_more(w, deadline, NULL) > 0)
		;
	sanitize(body, sizeof(body), buf_ptr(&w->pre),
		 buf_len(&w->pre) < WS_SNIPPET ? buf_len(&w->pre) : WS_SNIPPET);
	if (body[0] == '\0')
		return err_set(e, E_PROTO, "websocket: upgrade refused: %s", sl);
	return err_set(e, E_PROTO, "websocket: upgrade refused: %s: %s", sl, body);
}

/* Runs the HTTP upgrade on the connected handle; 0 or E_*. */
static int
upgrade(struct ws *w, const struct target *t, uint64_t deadline, struct err *e)
{
	unsigned char raw[16], md[EVP_MAX_MD_SIZE];
	char key[32], expect[64], kg[80];
	unsigned int mdlen;
	struct buf req;
	struct head h;
	const char *hend, *v;
	char *text;
	size_t head_len;
	long r;
	int rc;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return err_set(e, E_NOMEM, "websocket: no random bytes for the key");
	EVP_EncodeBlock((unsigned char *)key, raw, sizeof(raw));
	snprintf(kg, sizeof(kg), "%s%s", key, WS_GUID);
	if (!EVP_Digest(kg, strlen(kg), md, &mdlen, EVP_sha1(), NULL))
		return err_set(e, E_NOMEM, "websocket: sha1 failed");
	EVP_EncodeBlock((unsigned char *)expect, md, (int)mdlen);

	buf_init(&req, 0);
	rc = buf_putf(&req, "GET %s%s%s HTTP/1.1\r\nHost: %s%s%s\r\n"
		      "Upgrade: websocket\r\nConnection: Upgrade\r\n"
		      "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
		      t->path, t->query ? "?" : "", t->query ? t->query : "",
		      t->host, t->port ? ":" : "", t->port ? t->port : "", key);
	if (rc == 0)
		rc = send_all(w, (const char *)buf_ptr(&req), buf_len(&req), deadline, e);
	else
		rc = err_set(e, E_NOMEM, "websocket: out of memory");
	buf_free(&req);
	if (rc != 0)
		return rc;

	for (;;) {
		/* An empty buf has no storage yet: memmem may not see NULL. */
		hend = buf_len(&w->pre) == 0 ? NULL :
		       memmem(buf_ptr(&w->pre), buf_len(&w->pre), "\r\n\r\n", 4);
		if (hend != NULL)
			break;
		r = recv_more(w, deadline, e);
		if (r < 0)
			return (int)r;
		if (r == 0)
			return err_set(e, E_NET, "websocket: connection closed during the upgrade");
	}
	head_len = (size_t)(hend - (const char *)buf_ptr(&w->pre));
	text = malloc(head_len + 1);
	if (text == NULL)
		return err_set(e, E_NOMEM, "websocket: out of memory");
	buf_get(&w->pre, text, head_len);
	buf_consume(&w->pre, 4);
	text[head_len] = '\0';
	rc = parse_head(text, &h, e);
	if (rc == 0 && h.status != 101)
		rc = refused(w, &h, deadline, e);
	if (rc == 0 && ((v = head_get(&h, "Upgrade")) == NULL || !has_token(v, "websocket") ||
			(v = head_get(&h, "Connection")) == NULL || !has_token(v, "upgrade")))
		rc = err_set(e, E_PROTO, "websocket: 101 answer without upgrade headers");
	if (rc == 0 && ((v = head_get(&h, "Sec-WebSocket-Accept")) == NULL || strcmp(v, expect) != 0))
		rc = err_set(e, E_PROTO, "websocket: wrong Sec-WebSocket-Accept in the answer");
	/* We asked for no extension and no subprotocol: the server may not pick one. */
	if (rc == 0 && (head_get(&h, "Sec-WebSocket-Extensions") != NULL ||
			head_get(&h, "Sec-WebSocket-Protocol") != NULL))
		rc = err_set(e, E_PROTO, "websocket: server chose an extension or subprotocol");
	free(text);
	return rc;
}

/* ---- wslay callbacks: the only places that touch the connection ---- */

static ssize_t
recv_cb(wslay_event_context_ptr ctx, uint8_t *data, size_t len, int flags, void *arg)
{
	struct ws *w = arg;
	size_t n = 0;
	CURLcode c;

	(void)flags;
	w->recv_calls++;
	if (w->too_big) {
		/* Stop reading a message we will not take. */
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	if (buf_len(&w->pre) > 0) {
		n = len < buf_len(&w->pre) ? len : buf_len(&w->pre);
		buf_get(&w->pre, data, n);
		w->st.bytes_in += n;
		return (ssize_t)n;
	}
	if (buf_len(&w->in) == 0) {
		uint8_t *p;

		if (w->rd_budget == 0) {
			/* TLS may hold decrypted bytes poll cannot see: say so. */
			w->more = 1;
			w->blocked = 1;
			wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
			return -1;
		}
		buf_reset(&w->in);
		if (buf_reserve(&w->in, WS_IN_CHUNK, &p) != 0) {
			/* No memory for the big buffer: read into wslay's. */
			c = curl_easy_recv(w->curl, data, len, &n);
			if (c == CURLE_OK && n > 0) {
				w->st.bytes_in += n;
				return (ssize_t)n;
			}
		} else {
			c = curl_easy_recv(w->curl, p, WS_IN_CHUNK, &n);
			buf_truncate(&w->in, c == CURLE_OK ? n : 0);
			if (c == CURLE_OK) {
				w->st.bytes_in += n;
				w->rd_budget -= n < w->rd_budget ? n : w->rd_budget;
			}
		}
	} else {
		c = CURLE_OK;
	}
	if (buf_len(&w->in) > 0) {
		n = len < buf_len(&w->in) ? len : buf_len(&w->in);
		buf_get(&w->in, data, n);
		return (ssize_t)n;
	}
	if (c == CURLE_AGAIN) {
		w->blocked = 1;
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	if (c == CURLE_OK)
		w->eof = 1;
	else {
		w->net_err = 1;
		snprintf(w->net_msg, sizeof(w->net_msg), "receive: %s", curl_msg(w, c));
	}
	wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
	return -1;
}

/* Writes w->out to the connection until it is empty or the socket would
 * block; 0, or -1 after a failure (w->net_err, w->net_msg set). */
static int
flush_out(struct ws *w)
{
	while (buf_len(&w->out) > 0 && !w->net_err) {
		size_t n = 0;
		CURLcode c = curl_easy_send(w->curl, buf_ptr(&w->out), buf_len(&w->out), &n);

		if (c == CURLE_OK && n > 0) {
			w->st.bytes_out += n;
			buf_consume(&w->out, n);
		} else if (c == CURLE_OK || c == CURLE_AGAIN) {
			break;
		} else {
			w->net_err = 1;
			snprintf(w->net_msg, sizeof(w->net_msg), "send: %s", curl_msg(w, c));
		}
	}
	if (buf_len(&w->out) == 0)
		buf_reset(&w->out); /* start again at the front of the storage */
	return w->net_err ? -1 : 0;
}

/*
 * Every byte we send goes through here, one call per frame header and
 * per payload chunk: it only appends to w->out; flush_out() writes the
 * batch when the caller's loop finds the socket writable (ws_want_write)
 * or when the batch is large.
 */
static ssize_t
send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *arg)
{
	struct ws *w = arg;
	size_t room;

	(void)flags;
	if (buf_len(&w->out) >= WS_OUT_FLUSH && flush_out(w) != 0) {
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
		return -1;
	}
	room = buf_len(&w->out) < WS_OUT_MAX ? WS_OUT_MAX - buf_len(&w->out) : 0;
	if (room == 0) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	if (len > room)
		len = room;
	if (buf_put(&w->out, data, len) != 0) {
		w->net_err = 1;
		snprintf(w->net_msg, sizeof(w->net_msg), "send: out of memory");
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
		return -1;
	}
	return (ssize_t)len;
}

static int
genmask_cb(wslay_event_context_ptr ctx, uint8_t *data, size_t len, void *arg)
{
	struct ws *w = arg;

	(void)ctx;
	if (len > sizeof(w->mask))
		return RAND_bytes(data, (int)len) == 1 ? 0 : -1;
	if (w->mask_off + len > sizeof(w->mask)) {
		if (RAND_bytes(w->mask, (int)sizeof(w->mask)) != 1)
			return -1;
		w->mask_off = 0;
	}
	memcpy(data, w->mask + w->mask_off, len);
	w->mask_off += len;
	return 0;
}

/* Data frames are reassembled here into w->msg (no per-frame allocation);
 * wslay buffers only control frames (no_buffering mode). */
static void
frame_start_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_frame_recv_start_arg *a,
	       void *arg)
{
	struct ws *w = arg;

	w->st.frames_in++;
	w->frame_ctrl = (a->opcode & 0x8) != 0;
	if (w->frame_ctrl || w->too_big)
		return;
	w->frame_fin = a->fin;
	if (a->opcode != WSLAY_CONTINUATION_FRAME) {
		w->msg_op = a->opcode;
		buf_reset(&w->msg);
	}
	if (a->payload_length > w->o.max_msg - buf_len(&w->msg)) {
		w->too_big = 1;
		wslay_event_queue_close(ctx, 1009, (const uint8_t *)"message too big", 15);
	}
}

static void
frame_chunk_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_frame_recv_chunk_arg *a,
	       void *arg)
{
	struct ws *w = arg;

	if (w->frame_ctrl || w->too_big)
		return;
	if (buf_put(&w->msg, a->data, a->data_length) != 0) {
		/* Only an allocation failure gets here (the size was checked). */
		w->too_big = 1;
		wslay_event_queue_close(ctx, 1011, NULL, 0);
	}
}

static void
frame_end_cb(wslay_event_context_ptr ctx, void *arg)
{
	struct ws *w = arg;

	(void)ctx;
	if (w->frame_ctrl || w->too_big || !w->frame_fin)
		return;
	w->st.msgs_in++;
	if (w->o.on_message != NULL)
		w->o.on_message(w->o.arg, w->msg_op, buf_ptr(&w->msg), buf_len(&w->msg));
	buf_reset(&w->msg);
}

static void
msg_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *a, void *arg)
{
	struct ws *w = arg;

	(void)ctx;
	if (a->opcode == WSLAY_PONG) {
		w->st.pongs_in++;
	} else if (a->opcode == WSLAY_CONNECTION_CLOSE) {
		log_debug(w->o.lg, "websocket: close frame received (code %u)",
			  (unsigned)(a->status_code ? a->status_code : WS_CLOSE_NO_STATUS));
		if (w->o.on_close != NULL)
			w->o.on_close(w->o.arg, a->status_code ? a->status_code : WS_CLOSE_NO_STATUS,
				      a->msg_length > 2 ? (const char *)a->msg + 2 : "",
				      a->msg_length > 2 ? a->msg_length - 2 : 0);
	}
	/* Text and binary messages arrive through the frame callbacks. */
}

/* ---- public ---- */

/* Takes opts (defaults filled in) and sizes the buffers; no allocation. */
static void
ws_set_opts(struct ws *w, const struct ws_opts *opts)
{
	w->o = *opts;
	if (w->o.connect_timeout_ms <= 0)
		w->o.connect_timeout_ms = WS_DEFAULT_TIMEOUT_MS;
	if (w->o.handshake_timeout_ms <= 0)
		w->o.handshake_timeout_ms = WS_DEFAULT_TIMEOUT_MS;
	if (w->o.max_msg == 0)
		w->o.max_msg = WS_DEFAULT_MAX_MSG;
	buf_init(&w->pre, WS_MAX_HEAD + 4096);
	buf_init(&w->msg, w->o.max_msg);
	buf_init(&w->out, WS_OUT_DIRECT_MAX);
	w->mask_off = sizeof(w->mask); /* empty: filled on first use */
	buf_init(&w->in, WS_IN_CHUNK);
}

static struct ws *
ws_alloc(const struct ws_opts *opts)
{
	struct ws *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return NULL;
	w->fd = -1;
	ws_set_opts(w, opts);
	return w;
}

static void
log_target(const struct ws *w, const struct target *t, const char *how)
{
	/* The query can be long and is not needed to follow progress. */
	log_verbose(w->o.lg, "websocket: %s %s://%s%s%s%s", how, t->tls ? "wss" : "ws",
		    t->host, t->port ? ":" : "", t->port ? t->port : "", t->path);
	{
		/* A presigned query (EC2 Instance Connect) carries a signature and
		 * maybe a session token: only the part before them is logged. */
		const char *q = t->query ? t->query : "(none)", *amz = strstr(q, "X-Amz-");
		log_debug(w->o.lg, "websocket: query %.*s%s", (int)(amz ? (size_t)(amz - q) : strlen(q)),
			  q, amz ? "X-Amz-... (signature elided)" : "");
	}
}

/*
 * Tunes the TLS context before the handshake (a CONNECT_ONLY handle has no
 * connection left for CURLINFO_TLS_SSL_PTR to show once connected):
 * - moving write buffer: a write retried after CURLE_AGAIN may come from
 *   another address once the output buffer has been compacted;
 * - read-ahead: a run of records per recv(2) instead of two calls for
 *   each record. Bytes then wait inside TLS where poll cannot see them:
 *   ws_on_readable reads until EAGAIN or says so (ws_read_pending).
 */
static CURLcode
ssl_ctx_cb(CURL *curl, void *ssl_ctx, void *arg)
{
	(void)curl;
	(void)arg;
	SSL_CTX_set_mode((SSL_CTX *)ssl_ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_read_ahead((SSL_CTX *)ssl_ctx, 1);
	return CURLE_OK;
}

/* Nonzero if libcurl's TLS backend is OpenSSL (ssl_ctx_cb gets an SSL_CTX). */
static int
curl_uses_openssl(void)
{
	const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);

	return v != NULL && v->ssl_version != NULL && strncmp(v->ssl_version, "OpenSSL/", 8) == 0;
}

/* Creates w->curl for a CONNECT_ONLY connect to t; 0 or E_NOMEM. */
static int
easy_setup(struct ws *w, const struct target *t, struct err *e)
{
	w->curl = curl_easy_init();
	if (w->curl == NULL)
		return err_set(e, E_NOMEM, "websocket: cannot create a curl handle");
	curl_easy_setopt(w->curl, CURLOPT_URL, t->curl_url);
	curl_easy_setopt(w->curl, CURLOPT_CONNECT_ONLY, 1L);
	curl_easy_setopt(w->curl, CURLOPT_ERRORBUFFER, w->errbuf);
	curl_easy_setopt(w->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(w->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)w->o.connect_timeout_ms);
	/*
	 * No Nagle: a keystroke's message must not wait for the ack of the
	 * previous one (curl's default since 7.50.2, stated here as it is the
	 * data path's). Socket buffer sizes stay unset on purpose: a fixed
	 * SO_SNDBUF/SO_RCVBUF turns off the kernel's autotuning, which grows
	 * them to the path's bandwidth-delay product as a transfer needs.
	 */
	curl_easy_setopt(w->curl, CURLOPT_TCP_NODELAY, 1L);
	tlstrust_setopt(w->curl, w->o.ca_file);
	/* ALPN must not pick h2: the upgrade below is HTTP/1.1. */
	curl_easy_setopt(w->curl, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	if (t->tls && curl_uses_openssl())
		curl_easy_setopt(w->curl, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb);
	/* A proxy would only tunnel https; ws:// is loopback-only anyway. */
	if (!t->tls)
		curl_easy_setopt(w->curl, CURLOPT_NOPROXY, "*");
	return 0;
}

/* On the connected handle: takes the socket, runs the upgrade and sets
 * up wslay. Returns 0 or E_* (E_NET: the connection is unusable). */
static int
ws_finish(struct ws *w, const struct target *t, struct err *e)
{
	static const struct wslay_event_callbacks cbs = {
		.recv_callback = recv_cb,
		.send_callback = send_cb,
		.genmask_callback = genmask_cb,
		.on_frame_recv_start_callback = frame_start_cb,
		.on_frame_recv_chunk_callback = frame_chunk_cb,
		.on_frame_recv_end_callback = frame_end_cb,
		.on_msg_recv_callback = msg_cb,
	};
	curl_socket_t sock = CURL_SOCKET_BAD;
	int rc;

	if (curl_easy_getinfo(w->curl, CURLINFO_ACTIVESOCKET, &sock) != CURLE_OK ||
	    sock == CURL_SOCKET_BAD)
		return err_set(e, E_NET, "websocket: connect to %s: no socket", t->host);
	w->fd = (int)sock;

	rc = upgrade(w, t, loop_now_ms() + (uint64_t)w->o.handshake_timeout_ms, e);
	if (rc != 0)
		return rc;
	if (wslay_event_context_client_init(&w->ctx, &cbs, w) != 0)
		return err_set(e, E_NOMEM, "websocket: out of memory");
	/* Size limits are checked per message in frame_start_cb, so wslay's
	 * own (per frame in this mode) limit stays at its default. */
	wslay_event_config_set_no_buffering(w->ctx, 1);
	log_debug(w->o.lg, "websocket: connected to %s", t->host);
	return 0;
}

int
ws_connect(struct ws **out, const char *url, const struct ws_opts *opts, struct err *e)
{
	struct target t;
	struct ws *w;
	CURLcode c;
	int rc;

	*out = NULL;
	if ((rc = parse_url(url, &t, e)) != 0)
		return rc;
	if ((w = ws_alloc(opts)) == NULL) {
		target_free(&t);
		return err_set(e, E_NOMEM, "websocket: out of memory");
	}
	log_target(w, &t, "connecting to");
	if ((rc = easy_setup(w, &t, e)) != 0)
		goto fail;
	c = curl_easy_perform(w->curl);
	if (c != CURLE_OK) {
		rc = err_set(e, c == CURLE_OPERATION_TIMEDOUT ? E_TIMEOUT : E_NET,
			     "websocket: connect to %s: %s", t.host, curl_msg(w, c));
		goto fail;
	}
	if ((rc = ws_finish(w, &t, e)) != 0)
		goto fail;
	target_free(&t);
	*out = w;
	return 0;
fail:
	target_free(&t);
	ws_free(w);
	return rc;
}

int
ws_pre_start(struct ws_pre **out, struct mux *m, const char *url, const struct ws_opts *opts,
	     struct err *e)
{
	struct ws_pre *p;
	struct target t;
	int rc;

	*out = NULL;
	if ((rc = parse_url(url, &t, e)) != 0)
		return rc;
	if ((p = calloc(1, sizeof(*p))) == NULL || (p->w = ws_alloc(opts)) == NULL) {
		free(p);
		target_free(&t);
		return err_set(e, E_NOMEM, "websocket: out of memory");
	}
	p->mux = m;
	p->tls = t.tls;
	p->lg = p->w->o.lg;
	p->deadline = loop_now_ms() + (uint64_t)p->w->o.connect_timeout_ms;
	if ((p->host = strdup(t.host)) == NULL || (t.port != NULL && (p->port = strdup(t.port)) == NULL) ||
	    (opts->ca_file != NULL && opts->ca_file[0] != '\0' &&
	     (p->ca_file = strdup(opts->ca_file)) == NULL)) {
		rc = err_set(e, E_NOMEM, "websocket: out of memory");
		goto fail;
	}
	/* It starts with the next drive of the mux, behind the API call the
	 * caller is about to make: the call is what the connect waits for. */
	if ((rc = easy_setup(p->w, &t, e)) != 0 || (rc = mux_add_deferred(m, p->w->curl, e)) != 0)
		goto fail;
	p->w->mux = m;
	log_debug(p->lg, "websocket: connecting early to %s://%s%s%s", t.tls ? "wss" : "ws", t.host,
		  t.port ? ":" : "", t.port ? t.port : "");
	target_free(&t);
	*out = p;
	return 0;
fail:
	target_free(&t);
	ws_pre_free(p);
	return rc;
}

void
ws_pre_free(struct ws_pre *p)
{
	if (p == NULL)
		return;
	ws_free(p->w);
	free(p->host);
	free(p->port);
	free(p->ca_file);
	free(p);
}

/* Returns nonzero if both name the same scheme, host and port (a
 * missing port is the scheme's default). */
static int
same_origin(int tls_a, const char *host_a, const char *port_a, const struct target *b)
{
	const char *pa = port_a != NULL ? port_a : tls_a ? "443" : "80";
	const char *pb = b->port != NULL ? b->port : b->tls ? "443" : "80";

	return tls_a == b->tls && strcasecmp(host_a, b->host) == 0 && strcmp(pa, pb) == 0;
}

int
ws_same_origin(const char *a, const char *b)
{
	struct target ta, tb;
	int same;

	if (parse_url(a, &ta, NULL) != 0)
		return 0;
	if (parse_url(b, &tb, NULL) != 0) {
		target_free(&ta);
		return 0;
	}
	same = same_origin(ta.tls, ta.host, ta.port, &tb);
	target_free(&ta);
	target_free(&tb);
	return same;
}

int
ws_connect_pre(struct ws **out, struct ws_pre *p, const char *url, const struct ws_opts *opts,
	       struct err *e)
{
	const char *why = NULL, *ca = opts->ca_file != NULL && opts->ca_file[0] != '\0' ?
				      opts->ca_file : NULL;
	struct target t;
	struct ws *w;
	CURLcode cc = CURLE_OK;
	int rc;

	*out = NULL;
	if (p == NULL)
		return ws_connect(out, url, opts, e);
	if ((rc = parse_url(url, &t, e)) != 0) {
		ws_pre_free(p);
		return rc;
	}
	if (!same_origin(p->tls, p->host, p->port, &t) || (ca == NULL) != (p->ca_file == NULL) ||
	    (ca != NULL && strcmp(ca, p->ca_file) != 0))
		why = "it went elsewhere";
	else if ((rc = mux_wait(p->mux, p->w->curl, p->deadline + 1000, &cc)) != 1)
		why = rc == 0 ? "timed out" : "curl multi interface failed";
	else if (cc != CURLE_OK)
		why = curl_msg(p->w, cc);
	if (why != NULL) {
		/* Never an error by itself: the normal connect says what is wrong. */
		log_debug(p->lg, "websocket: early connection to %s not used (%s)", p->host, why);
		target_free(&t);
		ws_pre_free(p);
		return ws_connect(out, url, opts, e);
	}
	w = p->w;
	p->w = NULL;
	ws_pre_free(p);
	/* The buffers are still empty: the caller's options replace the early ones. */
	ws_set_opts(w, opts);
	log_target(w, &t, "connecting to");
	log_debug(w->o.lg, "websocket: on the early connection to %s", t.host);
	rc = ws_finish(w, &t, e);
	target_free(&t);
	if (rc == E_NET) {
		/* The early connection went stale (closed while the API call ran). */
		log_debug(w->o.lg, "websocket: early connection unusable (%s); connecting anew",
			  e != NULL ? e->msg : "network error");
		ws_free(w);
		return ws_connect(out, url, opts, e);
	}
	if (rc != 0) {
		ws_free(w);
		return rc;
	}
	*out = w;
	return 0;
}

void
ws_free(struct ws *w)
{
	if (w == NULL)
		return;
	if (w->ctx != NULL)
		wslay_event_context_free(w->ctx);
	/* Removing a CONNECT_ONLY handle from its multi closes its connection. */
	if (w->curl != NULL && w->mux != NULL)
		mux_remove(w->mux, w->curl);
	if (w->curl != NULL)
		curl_easy_cleanup(w->curl);
	buf_free(&w->pre);
	buf_free(&w->msg);
	buf_free(&w->out);
	buf_free(&w->in);
	free(w);
}

int
ws_fd(const struct ws *w)
{
	return w->fd;
}

int
ws_want_read(const struct ws *w)
{
	return w->ctx != NULL && !w->eof && !w->net_err && !w->too_big &&
	       wslay_event_want_read(w->ctx);
}

int
ws_want_write(const struct ws *w)
{
	/* A failed write outside ws_on_writable (ws_send_* flush as they
	 * frame) is reported by the next ws_on_writable: ask for it. */
	return w->ctx != NULL &&
	       (w->net_err || buf_len(&w->out) > 0 || wslay_event_want_write(w->ctx));
}

/* Sends what can go out now (close replies, pongs) without reporting. */
static void
flush_quiet(struct ws *w)
{
	if (!w->net_err && wslay_event_want_write(w->ctx))
		wslay_event_send(w->ctx);
	if (!w->net_err)
		flush_out(w);
}

int
ws_on_readable(struct ws *w, struct err *e)
{
	int r;

	if (w->ctx == NULL)
		return err_set(e, E_INVAL, "websocket: not connected");
	w->rd_budget = w->rd_limit != 0 ? w->rd_limit : SIZE_MAX;
	w->more = 0;
	/*
	 * wslay returns when a frame header arrives in pieces, even with more
	 * bytes at hand (in w->in, or read ahead inside TLS where poll cannot
	 * see them): go on until a read would block, the budget is spent or
	 * wslay stops asking.
	 */
	for (;;) {
		unsigned long calls = w->recv_calls;

		w->blocked = 0;
		r = wslay_event_recv(w->ctx);
		if (r != 0 || w->too_big || w->net_err || w->eof || w->blocked ||
		    w->recv_calls == calls || !wslay_event_want_read(w->ctx) ||
		    wslay_event_get_close_received(w->ctx))
			break;
	}
	if (w->too_big) {
		flush_quiet(w);
		return err_set(e, E_RANGE, "websocket: message larger than %zu bytes", w->o.max_msg);
	}
	if (w->net_err)
		return err_set(e, E_NET, "websocket: %s", w->net_msg);
	if (w->eof) {
		if (wslay_event_get_close_received(w->ctx) || wslay_event_get_close_sent(w->ctx))
			return err_set(e, E_CLOSED, "websocket: connection closed");
		return err_set(e, E_NET, "websocket: connection closed by the server "
			       "without a close frame");
	}
	if (r != 0)
		return err_set(e, E_NOMEM, "websocket: out of memory");
	if (wslay_event_get_close_received(w->ctx)) {
		flush_quiet(w);
		return err_set(e, E_CLOSED, "websocket: closed by the server (code %u)",
			       (unsigned)wslay_event_get_status_code_received(w->ctx));
	}
	if (!wslay_event_want_read(w->ctx) && !w->closing) {
		/* wslay refused a frame and queued a close with the reason. */
		flush_quiet(w);
		unsigned sc = wslay_event_get_status_code_sent(w->ctx);
		return err_set(e, E_PROTO, "websocket: the server broke the protocol (%s, close %u)",
			       sc == 1007 ? "a text frame that is not UTF-8" : "a malformed frame", sc);
	}
	return 0;
}

int
ws_on_writable(struct ws *w, struct err *e)
{
	if (w->ctx == NULL)
		return err_set(e, E_INVAL, "websocket: not connected");
	/* Older bytes first, then frame what is queued, then write that too. */
	if (flush_out(w) != 0 || wslay_event_send(w->ctx) != 0 || flush_out(w) != 0) {
		if (w->net_err)
			return err_set(e, E_NET, "websocket: %s", w->net_msg);
		return err_set(e, E_NET, "websocket: send failed");
	}
	if (buf_len(&w->out) > 0)
		return 0; /* the close frame may still be in w->out */
	if (wslay_event_get_close_sent(w->ctx) && wslay_event_get_close_received(w->ctx))
		return err_set(e, E_CLOSED, "websocket: connection closed");
	return 0;
}

/* Maps a wslay queueing result; 0, E_CLOSED, E_INVAL or E_NOMEM. */
static int
queued(int r, struct err *e)
{
	switch (r) {
	case 0:
		return 0;
	case WSLAY_ERR_NO_MORE_MSG:
		return err_set(e, E_CLOSED, "websocket: closing, cannot send");
	case WSLAY_ERR_INVALID_ARGUMENT:
		return err_set(e, E_INVAL, "websocket: invalid message");
	default:
		return err_set(e, E_NOMEM, "websocket: out of memory");
	}
}

void
ws_mask_copy(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t key[4])
{
	uint64_t k8, v;
	size_t i = 0;

	memcpy(&k8, key, 4);
	memcpy((uint8_t *)&k8 + 4, key, 4);
	for (; i + 8 <= n; i += 8) {
		memcpy(&v, src + i, 8);
		v ^= k8;
		memcpy(dst + i, &v, 8);
	}
	for (; i < n; i++)
		dst[i] = src[i] ^ key[i % 4];
}

/*
 * Frames one data message straight into w->out; 1 if done, 0 if it must
 * go through wslay, -1 if writing out failed (w->net_err). wslay copies
 * every message into an allocation of its own and masks it a byte at a
 * time, which made wslay the largest part of ssm-proxy's CPU when
 * uploading; here it costs one masked copy. Only while wslay has nothing
 * of its own under way (a control frame, a message sent in part), so
 * frames never interleave; wslay still does control frames and the close
 * handshake.
 */
static int
frame_direct(struct ws *w, uint8_t opcode, const uint8_t *data, size_t len)
{
	uint8_t hdr[14], *p;
	size_t hl = 0;

	if (!wslay_event_get_write_enabled(w->ctx) || wslay_event_want_write(w->ctx) ||
	    wslay_event_get_close_sent(w->ctx) || wslay_event_get_close_received(w->ctx) ||
	    w->closing)
		return 0;
	if (buf_len(&w->out) >= WS_OUT_FLUSH && flush_out(w) != 0)
		return -1; /* w->net_err: the connection is unusable */
	if (len > WS_OUT_DIRECT_MAX || buf_len(&w->out) > WS_OUT_DIRECT_MAX - len)
		return 0;
	hdr[hl++] = (uint8_t)(0x80 | opcode); /* FIN: one frame per message */
	if (len < 126) {
		hdr[hl++] = (uint8_t)(0x80 | len);
	} else if (len <= 0xffff) {
		hdr[hl++] = 0x80 | 126;
		hdr[hl++] = (uint8_t)(len >> 8);
		hdr[hl++] = (uint8_t)len;
	} else {
		hdr[hl++] = 0x80 | 127;
		for (int sh = 56; sh >= 0; sh -= 8)
			hdr[hl++] = (uint8_t)((uint64_t)len >> sh);
	}
	if (genmask_cb(w->ctx, hdr + hl, 4, w) != 0)
		return 0;
	hl += 4;
	if (buf_reserve(&w->out, hl + len, &p) != 0)
		return 0;
	memcpy(p, hdr, hl);
	ws_mask_copy(p + hl, data, len, hdr + hl - 4);
	w->st.frames_direct++;
	return 1;
}

static int
send_msg(struct ws *w, uint8_t opcode, const void *data, size_t len, struct err *e)
{
	struct wslay_event_msg m = { .opcode = opcode, .msg = data, .msg_length = len };
	int rc;

	if (w->ctx == NULL)
		return err_set(e, E_INVAL, "websocket: not connected");
	if (w->net_err || w->eof)
		return err_set(e, E_CLOSED, "websocket: connection is gone");
	if (opcode == WSLAY_TEXT_FRAME || opcode == WSLAY_BINARY_FRAME)
		rc = frame_direct(w, opcode, data, len);
	else
		rc = 0;
	if (rc < 0)
		return err_set(e, E_NET, "websocket: %s", w->net_msg);
	rc = rc > 0 ? 0 : queued(wslay_event_queue_msg(w->ctx, &m), e);
	if (rc == 0 && (opcode == WSLAY_TEXT_FRAME || opcode == WSLAY_BINARY_FRAME))
		w->st.msgs_out++;
	return rc;
}

int
ws_send_binary(struct ws *w, const void *data, size_t len, struct err *e)
{
	return send_msg(w, WSLAY_BINARY_FRAME, data, len, e);
}

int
ws_send_text(struct ws *w, const void *data, size_t len, struct err *e)
{
	return send_msg(w, WSLAY_TEXT_FRAME, data, len, e);
}

void
ws_set_read_budget(struct ws *w, size_t bytes)
{
	if (w != NULL)
		w->rd_limit = bytes;
}

int
ws_read_pending(const struct ws *w)
{
	return w != NULL && w->more && !w->eof && !w->net_err;
}

size_t
ws_pending_out_bytes(const struct ws *w)
{
	return w->ctx != NULL ? wslay_event_get_queued_msg_length(w->ctx) + buf_len(&w->out) : 0;
}

int
ws_ping(struct ws *w, struct err *e)
{
	int rc = send_msg(w, WSLAY_PING, "ssm-proxy", 9, e);

	if (rc == 0)
		w->st.pings_out++;
	return rc;
}

int
ws_close(struct ws *w, uint16_t code, struct err *e)
{
	if (w->ctx == NULL)
		return err_set(e, E_INVAL, "websocket: not connected");
	w->closing = 1;
	return queued(wslay_event_queue_close(w->ctx, code, NULL, 0), e);
}

const struct ws_stats *
ws_stats(const struct ws *w)
{
	return &w->st;
}
