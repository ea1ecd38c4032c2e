/* link.c: length-prefixed messages over a unix stream socket, or in process. */
#include "link.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define READ_CHUNK (64 * 1024)

int
link_attach(struct link *l, int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return E_IO;
	l->fd = fd;
	return 0;
}

int
link_init(struct link *l, int fd)
{
	memset(l, 0, sizeof(*l));
	l->fd = -1;
	buf_init(&l->rx, LINK_MAX_MSG + 4 + LINK_HIGH + READ_CHUNK);
	buf_init(&l->tx, 0);
	return fd < 0 ? 0 : link_attach(l, fd);
}

void
link_pair(struct link *a, struct link *b)
{
	a->inproc = b->inproc = 1;
	a->peer = b;
	b->peer = a;
}

void
link_close(struct link *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	if (l->peer != NULL) {
		l->peer->eof = 1;
		l->peer->peer = NULL;
	}
	l->peer = NULL;
	l->inproc = 0;
	buf_free(&l->rx);
	buf_free(&l->tx);
	l->eof = 0;
}

int
link_queue(struct link *l, enum link_type type, const void *data, size_t len,
	   size_t max_queued)
{
	int rc;

	if (len + 1 > LINK_MAX_MSG)
		return E_RANGE;
	if (max_queued != 0 && link_pending(l) + len + 5 > max_queued)
		return E_FULL;
	if ((rc = buf_ensure(&l->tx, len + 5)) < 0)
		return rc;
	buf_put_u32(&l->tx, (uint32_t)(len + 1));
	buf_put_u8(&l->tx, (uint8_t)type);
	return buf_put(&l->tx, data, len);
}

/* In process: moves queued bytes into the peer's rx while it has room. */
static int
flush_inproc(struct link *l)
{
	size_t n;
	int rc;

	if (link_pending(l) == 0)
		return 0;
	if (l->peer == NULL)
		return E_CLOSED;
	if (buf_len(&l->peer->rx) >= LINK_HIGH)
		return 0; /* backpressure, as a full socket buffer */
	/* Enough to complete any message the reader holds part of; rx's bound allows it. */
	n = link_pending(l) < LINK_MAX_MSG + 4 ? link_pending(l) : LINK_MAX_MSG + 4;
	if ((rc = buf_put(&l->peer->rx, buf_ptr(&l->tx), n)) < 0)
		return rc;
	buf_consume(&l->tx, n);
	return 0;
}

int
link_flush(struct link *l)
{
	if (l->inproc)
		return flush_inproc(l);
	while (l->fd >= 0 && link_pending(l) > 0) {
		ssize_t w = send(l->fd, buf_ptr(&l->tx), link_pending(l), MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (w <= 0)
			return E_CLOSED;
		buf_consume(&l->tx, (size_t)w);
	}
	return l->fd >= 0 ? 0 : E_CLOSED;
}

int
link_read(struct link *l)
{
	size_t total = 0;

	if (l->inproc)
		return l->eof ? E_CLOSED : 0;
	while (l->fd >= 0 && total < LINK_HIGH) {
		uint8_t *p;
		ssize_t r;

		if (buf_reserve(&l->rx, READ_CHUNK, &p) < 0)
			return 0; /* full: the caller must take messages first */
		r = recv(l->fd, p, READ_CHUNK, 0);
		buf_truncate(&l->rx, buf_len(&l->rx) - READ_CHUNK + (r > 0 ? (size_t)r : 0));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (r <= 0) {
			l->eof = 1;
			return E_CLOSED;
		}
		total += (size_t)r;
	}
	return 0;
}

int
link_next(struct link *l, int *type, const uint8_t **data, size_t *len)
{
	uint32_t n;
	uint8_t t;

	if (buf_peek_u32(&l->rx, 0, &n) < 0)
		return 0;
	if (n < 1 || n > LINK_MAX_MSG)
		return E_PROTO;
	if (buf_len(&l->rx) - 4 < n)
		return 0;
	buf_consume(&l->rx, 4);
	buf_get_u8(&l->rx, &t);
	*type = t;
	*len = n - 1;
	return buf_get_direct(&l->rx, n - 1, data) == 0 ? 1 : E_PROTO;
}

int
link_drain(struct link *l, int timeout_ms)
{
	struct timespec t0, t1;

	if (l->inproc)
		return E_PROTO; /* the peer runs in the caller's loop: it must drive both ends */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		int rc = link_flush(l);
		long spent;
		struct pollfd p;

		if (rc < 0 || link_pending(l) == 0)
			return rc;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		spent = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
		if (spent >= timeout_ms)
			return E_TIMEOUT;
		p.fd = l->fd;
		p.events = POLLOUT;
		p.revents = 0;
		poll(&p, 1, (int)(timeout_ms - spent));
	}
}
