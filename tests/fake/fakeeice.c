/* fakeeice.c: the fake EC2 Instance Connect Endpoint tunnel (presigned websocket to TCP). */
#include "fakeeic.h"
#include "buf.h"
#include "loop.h"
#include "sigv4.h"
#include "state.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#define EICE_SERVICE "ec2-instance-connect"
#define TARGET_HIGH (1024 * 1024) /* stop reading the websocket above this */
#define CLOSE_WAIT_MS 2000

int
fakeeice_match(const struct wss_request *req)
{
	return strcmp(req->path, FAKEEIC_TUNNEL_PATH) == 0;
}

/* Answers an HTTP error before the upgrade and logs it. */
static int
refuse(const struct region *r, struct wss_conn *c, int status, const char *why)
{
	char body[512];
	int n = snprintf(body, sizeof(body), "%s\n", why);

	state_append(r->state_dir, "api.log", "OpenTunnel %d %s", status, why);
	log_verbose(r->lg, "eice: %d %s", status, why);
	wss_write_response(c, status, status == 403 ? "Forbidden" : "Bad Request", "text/plain",
			   NULL, body, (size_t)n, 0, NULL);
	wss_free(c);
	return 0;
}

/* Keeps the request's own parameters (raw) and drops the X-Amz-* ones. */
static void
own_params(const char *q, char *out, size_t outlen)
{
	size_t o = 0, i = 0, qlen = strlen(q);

	out[0] = '\0';
	while (i < qlen) {
		size_t end = i + strcspn(q + i, "&");
		if (strncmp(q + i, "X-Amz-", 6) != 0 && end > i && o + (end - i) + 2 < outlen) {
			if (o > 0)
				out[o++] = '&';
			memcpy(out + o, q + i, end - i);
			o += end - i;
			out[o] = '\0';
		}
		i = end + 1;
	}
}

/*
 * Checks the SigV4 query signature of req as the service does. Returns
 * NULL if it is good, else the reason.
 */
static const char *
check_presigned(const struct region *r, const struct wss_request *req)
{
	const char *q = req->query, *host = wss_header(req, "Host");
	size_t ql = strlen(q);
	char alg[32], cred[256], date[32], expires[16], signed_h[64], sig[80], token[4096];
	char rest[2048], scope[256];
	struct sigv4_header h;
	struct sigv4_request rq;
	struct sigv4_params sp;
	struct sigv4_result res;
	struct err e;
	time_t when, now = time(NULL);
	unsigned long exp;
	int have_token, ok;

	if (host == NULL)
		return "no Host header";
	if (!fakeeic_param(q, ql, "X-Amz-Algorithm", alg, sizeof(alg)) ||
	    !fakeeic_param(q, ql, "X-Amz-Credential", cred, sizeof(cred)) ||
	    !fakeeic_param(q, ql, "X-Amz-Date", date, sizeof(date)) ||
	    !fakeeic_param(q, ql, "X-Amz-Expires", expires, sizeof(expires)) ||
	    !fakeeic_param(q, ql, "X-Amz-SignedHeaders", signed_h, sizeof(signed_h)) ||
	    !fakeeic_param(q, ql, "X-Amz-Signature", sig, sizeof(sig)))
		return "missing presign parameters";
	have_token = fakeeic_param(q, ql, "X-Amz-Security-Token", token, sizeof(token));
	if (strcmp(alg, SIGV4_ALGORITHM) != 0)
		return "unsupported algorithm";
	if (strcmp(signed_h, "host") != 0)
		return "signed headers must be host";
	if (sigv4_parse_amz_date(date, &when) < 0)
		return "bad X-Amz-Date";
	exp = strtoul(expires, NULL, 10);
	if (exp == 0 || exp > 60)
		return "X-Amz-Expires must be 1..60";
	if (now > when + (time_t)exp || when > now + SIGV4_MAX_SKEW)
		return "presigned URL expired";
	snprintf(scope, sizeof(scope), "%s/%.8s/%s/%s/aws4_request", r->access_key, date, r->region,
		 EICE_SERVICE);
	if (strcmp(cred, scope) != 0)
		return "credential scope mismatch";
	own_params(q, rest, sizeof(rest));
	h.name = "Host";
	h.value = host;
	memset(&rq, 0, sizeof(rq));
	rq.method = "GET";
	rq.path = req->path;
	rq.query = rest;
	rq.headers = &h;
	rq.nheaders = 1;
	memset(&sp, 0, sizeof(sp));
	sp.access_key = r->access_key;
	sp.secret_key = r->secret_key;
	sp.session_token = have_token ? token : NULL;
	sp.region = r->region;
	sp.service = EICE_SERVICE;
	sp.when = when;
	sp.normalize_path = 1;
	sp.expires = (unsigned)exp;
	err_clear(&e);
	if (sigv4_presign(&rq, &sp, &res, &e) < 0)
		return "cannot recompute the signature";
	ok = strlen(sig) == SIGV4_SIG_HEX_LEN &&
	     CRYPTO_memcmp(sig, res.signature, SIGV4_SIG_HEX_LEN) == 0;
	sigv4_result_free(&res);
	return ok ? NULL : "signature does not match";
}

/* Checks the tunnel parameters against the inventory; NULL if fine. */
static const char *
check_params(const struct wss_request *req, char *eid, size_t eidlen)
{
	const char *q = req->query;
	size_t ql = strlen(q);
	char ip[64], port[16], dur[16];

	if (!fakeeic_param(q, ql, "instanceConnectEndpointId", eid, eidlen) ||
	    !fakeeic_param(q, ql, "remotePort", port, sizeof(port)) ||
	    !fakeeic_param(q, ql, "privateIpAddress", ip, sizeof(ip)))
		return "instanceConnectEndpointId, remotePort and privateIpAddress are required";
	/* Only the usable endpoints in the instance's VPC reach it. */
	if (strcmp(eid, "eice-0eic0000000000001") != 0 && strcmp(eid, "eice-0eic0000000000002") != 0)
		return "endpoint cannot reach that address";
	if (strcmp(ip, FAKEEIC_IP) != 0)
		return "no such private address in the endpoint's VPC";
	if (strtoul(port, NULL, 10) == 0 || strtoul(port, NULL, 10) > 65535)
		return "bad remotePort";
	if (fakeeic_param(q, ql, "maxTunnelDuration", dur, sizeof(dur)) &&
	    (strtoul(dur, NULL, 10) == 0 || strtoul(dur, NULL, 10) > 3600))
		return "maxTunnelDuration must be 1..3600";
	return NULL;
}

struct tun {
	const struct region *r;
	struct wss_conn *c;
	int tfd;
	struct buf tbuf;        /* client bytes for the target */
	int target_eof;         /* the target finished sending */
	int client_closed;
	unsigned violations;
	uint64_t in, out;
};

static void
on_message(void *arg, int opcode, const uint8_t *data, size_t len)
{
	struct tun *t = arg;

	if (opcode != WSS_OP_BINARY || len > FAKEEIC_MAX_FRAME) {
		t->violations++;
		log_notice(t->r->lg, "eice: client sent a %s frame of %zu bytes",
			   opcode == WSS_OP_BINARY ? "binary" : "text", len);
		if (opcode != WSS_OP_BINARY)
			return;
	}
	t->in += len;
	if (buf_put(&t->tbuf, data, len) < 0)
		t->violations++;
}

static void
on_close(void *arg, uint16_t code, const uint8_t *reason, size_t len)
{
	struct tun *t = arg;

	(void)reason;
	(void)len;
	log_verbose(t->r->lg, "eice: client closed the tunnel (%u)", code);
	t->client_closed = 1;
}

static int
target_connect(const struct region *r)
{
	struct addrinfo hints, *res = NULL;
	char port[8];
	int fd;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof(port), "%u", (unsigned)r->target_port);
	if (getaddrinfo(r->target_host, port, &hints, &res) != 0 || res == NULL)
		return -1;
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

static void
relay(struct tun *t)
{
	uint8_t chunk[FAKEEIC_MAX_FRAME];
	struct err e;
	uint64_t close_deadline = 0;

	err_clear(&e);
	if (wss_on_readable(t->c, &e) < 0)
		return;
	for (;;) {
		struct pollfd p[2];
		nfds_t n = 1;

		if (t->client_closed && buf_len(&t->tbuf) == 0)
			break;
		if (close_deadline && loop_now_ms() >= close_deadline)
			break;
		p[0].fd = wss_fd(t->c);
		p[0].events = 0;
		p[0].revents = 0;
		if (wss_want_read(t->c) && buf_len(&t->tbuf) < TARGET_HIGH)
			p[0].events |= POLLIN;
		if (wss_want_write(t->c))
			p[0].events |= POLLOUT;
		if (t->tfd >= 0) {
			p[1].fd = t->tfd;
			p[1].events = 0;
			p[1].revents = 0;
			/* Backpressure: read the target only when the websocket has drained. */
			if (!t->target_eof && !wss_want_write(t->c))
				p[1].events |= POLLIN;
			if (buf_len(&t->tbuf) > 0)
				p[1].events |= POLLOUT;
			n = 2;
		}
		if (poll(p, n, 200) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if ((p[0].revents & (POLLOUT | POLLERR | POLLHUP)) && wss_on_writable(t->c, &e) < 0)
			break;
		if ((p[0].revents & (POLLIN | POLLERR | POLLHUP)) && wss_on_readable(t->c, &e) < 0)
			break;
		if (n == 2 && (p[1].revents & POLLOUT)) {
			ssize_t w = write(t->tfd, buf_ptr(&t->tbuf), buf_len(&t->tbuf));
			if (w > 0)
				buf_consume(&t->tbuf, (size_t)w);
			else if (w < 0 && errno != EINTR && errno != EAGAIN)
				break;
		}
		if (n == 2 && (p[1].revents & (POLLIN | POLLHUP | POLLERR)) && !t->target_eof) {
			ssize_t rd = read(t->tfd, chunk, sizeof(chunk));
			if (rd > 0) {
				t->out += (uint64_t)rd;
				wss_send_binary(t->c, chunk, (size_t)rd, NULL);
			} else if (rd == 0 || (errno != EINTR && errno != EAGAIN)) {
				/* The target is done: close the tunnel normally. */
				t->target_eof = 1;
				wss_close(t->c, 1000, NULL, NULL);
				close_deadline = loop_now_ms() + CLOSE_WAIT_MS;
			}
		}
		if (t->client_closed && t->tfd >= 0 && buf_len(&t->tbuf) == 0)
			shutdown(t->tfd, SHUT_WR);
	}
	/* Whatever the client sent last still goes to the target. */
	while (t->tfd >= 0 && buf_len(&t->tbuf) > 0) {
		ssize_t w = write(t->tfd, buf_ptr(&t->tbuf), buf_len(&t->tbuf));
		if (w <= 0)
			break;
		buf_consume(&t->tbuf, (size_t)w);
	}
}

int
fakeeice_serve(const struct region *r, struct wss_conn *c, const struct wss_request *req,
	       struct err *e)
{
	struct wss_callbacks cb = { .on_message = on_message, .on_close = on_close };
	struct tun t;
	char eid[64];
	const char *why;
	int rc;

	if (strcmp(req->method, "GET") != 0)
		return refuse(r, c, 400, "openTunnel takes GET");
	if ((why = check_presigned(r, req)) != NULL)
		return refuse(r, c, 403, why);
	if (fakeeic_denied(r, "OpenTunnel"))
		return refuse(r, c, 403, "not authorized to perform ec2-instance-connect:OpenTunnel");
	if ((why = check_params(req, eid, sizeof(eid))) != NULL)
		return refuse(r, c, 400, why);
	memset(&t, 0, sizeof(t));
	t.r = r;
	t.c = c;
	t.tfd = -1;
	buf_init(&t.tbuf, 0);
	cb.arg = &t;
	if ((rc = wss_upgrade(c, &cb, FAKEEIC_MAX_FRAME + 1024, e)) < 0) {
		state_append(r->state_dir, "api.log", "OpenTunnel 400 bad upgrade");
		wss_free(c);
		buf_free(&t.tbuf);
		return rc;
	}
	if ((t.tfd = target_connect(r)) < 0) {
		state_append(r->state_dir, "api.log", "OpenTunnel 101 %s target refused", eid);
		wss_close(c, 1011, "connection to the instance failed", NULL);
		wss_run(c, CLOSE_WAIT_MS, NULL);
		wss_free(c);
		buf_free(&t.tbuf);
		return 0;
	}
	/* Relayed bytes go out at once, as the real endpoint's do (no Nagle delays). */
	{
		int one = 1;
		setsockopt(t.tfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		setsockopt(wss_fd(c), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	state_append(r->state_dir, "api.log", "OpenTunnel 101 %s", eid);
	state_stats_add(r->state_dir, "eice_tunnels", 1);
	relay(&t);
	log_verbose(r->lg, "eice: tunnel via %s ended (%llu bytes in, %llu out)", eid,
		    (unsigned long long)t.in, (unsigned long long)t.out);
	if (t.violations)
		state_stats_add(r->state_dir, "eice_violations", t.violations);
	close(t.tfd);
	wss_free(c);
	buf_free(&t.tbuf);
	return 0;
}
