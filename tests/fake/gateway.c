/* gateway.c: the fake MGS side of one data-channel websocket. */
#include "gateway.h"
#include "agent.h"
#include "agentmsg.h"
#include "datachannel.h"
#include "link.h"
#include "loop.h"
#include "mgsmsg.h"
#include "session.h"
#include "state.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define CLOSE_WAIT_MS 2000 /* for the client's close reply */
#define DROP_FLUSH_MS 1000 /* to send what the agent queued before it left */
#define BLACKHOLE_MS 30000 /* --drop-mode blackhole: silence, then the RST */

struct gateway {
	const struct region *r;
	struct wss_conn *c;
	char id[SESSION_ID_MAX];
	struct link link;
	int opened;          /* a valid OpenDataChannel arrived */
	int open_pending;    /* ... and has not been checked yet */
	char *token;         /* from OpenDataChannel; secret, never logged */
	int reject;          /* close the websocket with 1008 */
	const char *reject_why;
	int close_pending;   /* close once every queued frame is out */
	uint16_t close_code;
	const char *close_why;
	int closing;         /* close frame queued */
	uint64_t close_deadline;
	int drop;            /* cut the websocket now */
	int drop_soon;       /* cut it once queued frames are out (agent gone) */
	uint64_t drop_deadline;
	uint64_t blackhole_until; /* nonzero: the path is silent until then */
	uint64_t open_deadline;   /* for OpenDataChannel */
	int client_gone;
	int ws_over;              /* the websocket ended (close done, hang-up, error) */
	unsigned violations;
	uint64_t frames_in, frames_out;
	unsigned hostile_state; /* hostile_frame's memory */
};

int
gateway_match(const struct wss_request *req)
{
	return strncmp(req->path, GATEWAY_PATH_PREFIX, strlen(GATEWAY_PATH_PREFIX)) == 0;
}

size_t
gateway_agent_addr(const struct region *r, const char *id, char *out, size_t size)
{
	/* Abstract namespace: no path length limit, nothing left on disk. */
	int n = snprintf(out, size, "%cfakeregion-%s-%s", 0, r->instance, id);

	return n < 0 ? 0 : (size_t)n >= size ? size - 1 : (size_t)n;
}

static void
violation(struct gateway *g, const char *fmt, const char *what)
{
	g->violations++;
	log_notice(g->r->lg, "gateway %s: protocol violation: %s%s", g->id, fmt, what ? what : "");
}

/* Checks one binary frame from the client and queues it for the agent. */
static void
client_frame(struct gateway *g, const uint8_t *data, size_t len)
{
	struct agentmsg m;
	struct err e;

	/* The agent's data channel checks the digest. */
	err_clear(&e);
	if (agentmsg_decode_fields(&m, data, len, &e) != 0) {
		violation(g, "undecodable frame: ", e.msg);
		return;
	}
	if (m.kind != AMK_INPUT && m.kind != AMK_ACK) {
		violation(g, "client sent a message of type ", m.type);
		return;
	}
	g->frames_in++;
	if (link_queue(&g->link, LINK_FRAME, data, len, 0) < 0)
		log_error(g->r->lg, "gateway %s: cannot queue a frame for the agent", g->id);
}

static void
on_message(void *arg, int opcode, const uint8_t *data, size_t len)
{
	struct gateway *g = arg;
	struct dc_open o;
	struct err e;

	if (g->reject || g->drop || g->drop_soon)
		return;
	if (!g->opened) {
		if (opcode != WSS_OP_TEXT) {
			violation(g, "binary frame before OpenDataChannel", NULL);
			g->reject = 1;
			g->reject_why = "OpenDataChannel expected";
			return;
		}
		err_clear(&e);
		memset(&o, 0, sizeof(o));
		if (dc_open_parse(data, len, &o, &e) < 0) {
			violation(g, "bad OpenDataChannel: ", e.msg);
			g->reject = 1;
			g->reject_why = "malformed OpenDataChannel";
			dc_open_free(&o);
			return;
		}
		g->token = strdup(o.token ? o.token : "");
		dc_open_free(&o);
		g->opened = 1;
		g->open_pending = 1;
		return;
	}
	if (opcode != WSS_OP_BINARY) {
		violation(g, "text frame after OpenDataChannel", NULL);
		return;
	}
	client_frame(g, data, len);
}

static void
on_close(void *arg, uint16_t code, const uint8_t *reason, size_t len)
{
	struct gateway *g = arg;

	(void)reason;
	(void)len;
	log_verbose(g->r->lg, "gateway %s: client closed the websocket (%u)", g->id, code);
	g->client_gone = 1;
}

/* Sends a frame from the agent to the client after checking it. */
static void
agent_frame(struct gateway *g, const uint8_t *data, size_t len)
{
	struct err e;

	/* The official client cannot parse shorter frames or empty payloads. */
	if (len <= AGENTMSG_HEADER_SIZE) {
		log_error(g->r->lg, "gateway %s: refusing to send a %zu-byte frame", g->id, len);
		state_stats_add(g->r->state_dir, "gateway_refused_frames", 1);
		return;
	}
	if (hostile_frame(g->r, g->c, data, len, &g->hostile_state)) {
		g->frames_out++;
		return;
	}
	err_clear(&e);
	if (wss_send_binary(g->c, data, len, &e) < 0)
		log_verbose(g->r->lg, "gateway %s: %s", g->id, e.msg);
	else
		g->frames_out++;
}

/* Sends channel_closed as the gateway does for a session that is over. */
static void
send_channel_closed(struct gateway *g, const struct session *s, const char *output)
{
	struct buf out;

	buf_init(&out, 0);
	if (mgsmsg_channel_closed(&out, s->target, s->id, output) == 0)
		agent_frame(g, buf_ptr(&out), buf_len(&out));
	buf_free(&out);
}

/*
 * Closes the websocket once the frames queued before are out: wslay sends
 * control frames ahead of queued messages, and nothing after a close.
 */
static void
start_close(struct gateway *g, uint16_t code, const char *reason)
{
	if (g->closing || g->close_pending)
		return;
	g->close_pending = 1;
	g->close_code = code;
	g->close_why = reason;
	g->close_deadline = loop_now_ms() + CLOSE_WAIT_MS;
}

static void
close_when_flushed(struct gateway *g)
{
	if (!g->close_pending || wss_want_write(g->c))
		return;
	g->close_pending = 0;
	g->closing = 1;
	g->close_deadline = loop_now_ms() + CLOSE_WAIT_MS;
	wss_close(g->c, g->close_code, g->close_why, NULL);
}

/*
 * Becomes the session's agent: this process runs the agent's loop, which
 * goes on serving this websocket through an in-process link. The agent
 * outlives the websocket (later ones reach it through lfd). Never returns.
 */
static void
become_agent(struct gateway *g, const struct session *s, int lfd)
{
	struct err e;
	int rc;

	err_clear(&e);
	rc = agent_run(g->r, s, lfd, g, &e);
	if (rc < 0)
		log_error(g->r->lg, "agent %s: %s", s->id, e.msg);
	exit(rc < 0 ? 1 : 0);
}

/*
 * Checks the OpenDataChannel token and connects the link to the session's
 * agent, starting the agent if there is none yet.
 */
static void
open_channel(struct gateway *g)
{
	char addr[128];
	struct sockaddr_un sa;
	socklen_t salen;
	struct session s;
	struct err e;
	size_t alen;
	int lk, fd, rc;

	g->open_pending = 0;
	err_clear(&e);
	lk = session_lock(g->r, g->id);
	rc = lk < 0 ? lk : session_load(g->r, g->id, &s, &e);
	if (rc < 0 || !session_token_ok(g->r, &s, g->token) ||
	    hostile_on(g->r, HOSTILE_WRONG_TOKEN)) {
		session_unlock(lk);
		log_notice(g->r->lg, "gateway %s: OpenDataChannel refused: %s", g->id,
			   rc < 0 ? "unknown session" : "invalid token");
		state_stats_add(g->r->state_dir, "open_rejected", 1);
		g->reject = 1;
		g->reject_why = "invalid token";
		return;
	}
	if (s.state != SESSION_ACTIVE) {
		session_unlock(lk);
		log_verbose(g->r->lg, "gateway %s: session is %s", g->id, session_state_name(s.state));
		send_channel_closed(g, &s, "");
		start_close(g, 1000, NULL);
		return;
	}
	alen = gateway_agent_addr(g->r, g->id, addr, sizeof(addr));
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, addr, alen);
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + alen);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		session_unlock(lk);
		g->drop = 1;
		return;
	}
	if (connect(fd, (struct sockaddr *)&sa, salen) == 0) {
		session_unlock(lk);
		log_verbose(g->r->lg, "gateway %s: reconnected to the session's agent", g->id);
		state_stats_add(g->r->state_dir, "data_channels", 1);
		link_attach(&g->link, fd);
		return;
	}
	/* No agent yet: this connection starts it. */
	if (bind(fd, (struct sockaddr *)&sa, salen) < 0 || listen(fd, 8) < 0) {
		log_error(g->r->lg, "gateway %s: cannot listen for the agent: %s", g->id,
			  strerror(errno));
		close(fd);
		session_unlock(lk);
		g->drop = 1;
		return;
	}
	session_unlock(lk);
	state_stats_add(g->r->state_dir, "data_channels", 1);
	become_agent(g, &s, fd);
}

/* Takes every complete message the agent sent, and notices the agent leaving. */
static void
from_agent(struct gateway *g)
{
	const uint8_t *data;
	size_t len;
	int type, rc, lr = link_read(&g->link);

	while ((rc = link_next(&g->link, &type, &data, &len)) == 1) {
		if (type == LINK_FRAME && !g->closing && !g->close_pending)
			agent_frame(g, data, len);
		else if (type == LINK_CLOSE)
			start_close(g, 1000, NULL);
	}
	if (rc < 0) {
		log_error(g->r->lg, "gateway %s: malformed link data", g->id);
		g->drop = 1;
	}
	if (lr == 0)
		return;
	/*
	 * The agent went away without LINK_CLOSE: cut the websocket abruptly
	 * once what it sent before is out.
	 */
	if (!g->closing && !g->close_pending) {
		if (g->r->f.drop_mode == REGION_DROP_CLOSE1001) {
			start_close(g, 1001, "going away");
		} else if (g->r->f.drop_mode == REGION_DROP_BLACKHOLE) {
			g->blackhole_until = loop_now_ms() + BLACKHOLE_MS;
		} else {
			g->drop_soon = 1;
			g->drop_deadline = loop_now_ms() + DROP_FLUSH_MS;
		}
	}
	link_close(&g->link);
}

/* Validates the request line; answers an HTTP error and returns nonzero if bad. */
static int
check_request(struct gateway *g, const struct wss_request *req)
{
	const char *id = req->path + strlen(GATEWAY_PATH_PREFIX);

	if (!session_id_valid(id) || strlen(id) >= sizeof(g->id)) {
		wss_write_response(g->c, 404, NULL, "text/plain", NULL, "no such session\n", 16, 0,
				   NULL);
		return 1;
	}
	snprintf(g->id, sizeof(g->id), "%s", id);
	if (strcmp(req->query, "role=publish_subscribe") != 0) {
		violation(g, "data channel query is not role=publish_subscribe: ", req->query);
		wss_write_response(g->c, 400, NULL, "text/plain", NULL, "bad role\n", 9, 0, NULL);
		return 1;
	}
	return 0;
}

/* Lowers a poll timeout (-1: none yet) to t ms. */
static void
lower_timeout(int *timeout_ms, int t)
{
	if (*timeout_ms < 0 || t < *timeout_ms)
		*timeout_ms = t;
}

int
gateway_prepare(struct gateway *g, struct pollfd *p, int *timeout_ms)
{
	uint64_t now;

	p->fd = -1;
	p->events = 0;
	p->revents = 0;
	if (g->ws_over)
		return 1;
	if (g->link.inproc)
		from_agent(g); /* the agent's flush already put its frames in rx */
	if (g->blackhole_until != 0) {
		/* A dead path: nothing read, written or answered (no pongs). */
		now = loop_now_ms();
		if (now >= g->blackhole_until) {
			g->drop = 1;
			return 1;
		}
		lower_timeout(timeout_ms, g->blackhole_until - now < 1000 ?
			      (int)(g->blackhole_until - now) : 1000);
		return 0;
	}
	if (g->open_pending)
		open_channel(g);
	if (g->reject) {
		start_close(g, 1008, g->reject_why);
		g->reject = 0;
	}
	if (!g->drop && link_up(&g->link) && link_flush(&g->link) < 0)
		g->drop = 1;
	close_when_flushed(g);
	if (g->drop_soon && (!wss_want_write(g->c) || loop_now_ms() >= g->drop_deadline))
		g->drop = 1;
	if (g->drop)
		return 1;
	now = loop_now_ms();
	if (!g->opened && now >= g->open_deadline) {
		log_notice(g->r->lg, "gateway %s: no OpenDataChannel in time", g->id);
		return 1;
	}
	if ((g->closing || g->close_pending) && (now >= g->close_deadline || !wss_is_open(g->c)))
		return 1;
	if (g->client_gone && !g->closing)
		return 1;
	p->fd = wss_fd(g->c);
	/* Backpressure: a full link stops us reading the websocket. */
	if (wss_want_read(g->c) && link_pending(&g->link) < LINK_HIGH)
		p->events |= POLLIN;
	if (wss_want_write(g->c))
		p->events |= POLLOUT;
	lower_timeout(timeout_ms, g->closing || g->close_pending ? 100 : 1000);
	return 0;
}

void
gateway_handle(struct gateway *g, short revents)
{
	struct err e;

	err_clear(&e);
	/* Any websocket end (close handshake done, hang-up, error) ends us. */
	if ((revents & (POLLOUT | POLLERR | POLLHUP)) && wss_on_writable(g->c, &e) < 0)
		g->ws_over = 1;
	else if ((revents & (POLLIN | POLLERR | POLLHUP)) && wss_on_readable(g->c, &e) < 0)
		g->ws_over = 1;
	/* In process, hand the client's frames to the agent before it polls. */
	if (g->link.inproc && !g->drop && link_flush(&g->link) < 0)
		g->drop = 1;
}

void
gateway_pair(struct gateway *g, struct link *agent_end)
{
	link_pair(&g->link, agent_end);
}

void
gateway_end(struct gateway *g)
{
	if (g->drop) {
		log_verbose(g->r->lg, "gateway %s: dropping the websocket", g->id);
		wss_drop(g->c);
	} else {
		wss_free(g->c);
	}
	g->c = NULL;
	link_close(&g->link);
	free(g->token);
	g->token = NULL;
	log_verbose(g->r->lg, "gateway %s: websocket ended (%" PRIu64 " frames in, %" PRIu64 " out, "
		    "%u violations)", g->id, g->frames_in, g->frames_out, g->violations);
	state_append(g->r->state_dir, "violations", "%s %u", g->id, g->violations);
}

/* Serves the websocket in this process until it ends; a later websocket of a session. */
static int
relay(struct gateway *g, struct err *e)
{
	g->open_deadline = loop_now_ms() + GATEWAY_OPEN_TIMEOUT_MS;
	/* Bytes that came with the upgrade request are handled at once. */
	if (wss_on_readable(g->c, e) < 0)
		return 0;
	for (;;) {
		struct pollfd p[2];
		int n = 1, timeout = -1;

		if (gateway_prepare(g, &p[0], &timeout))
			break;
		if (link_up(&g->link) && !g->link.inproc && g->blackhole_until == 0) {
			p[1].fd = g->link.fd;
			p[1].events = POLLIN | (link_pending(&g->link) ? POLLOUT : 0);
			p[1].revents = 0;
			n = 2;
		}
		if (poll(p, (nfds_t)n, timeout) < 0) {
			if (errno == EINTR)
				continue;
			return err_set(e, E_IO, "poll: %s", strerror(errno));
		}
		gateway_handle(g, p[0].revents);
		if (g->ws_over)
			break;
		if (n == 2 && (p[1].revents & (POLLIN | POLLERR | POLLHUP)))
			from_agent(g);
	}
	return 0;
}

int
gateway_serve(const struct region *r, struct wss_conn *c, const struct wss_request *req,
	      struct err *e)
{
	struct wss_callbacks cb = { .on_message = on_message, .on_close = on_close };
	struct gateway g;
	int rc;

	memset(&g, 0, sizeof(g));
	g.r = r;
	g.c = c;
	snprintf(g.id, sizeof(g.id), "%s", "-");
	link_init(&g.link, -1);
	cb.arg = &g;
	if (check_request(&g, req)) {
		wss_free(c);
		link_close(&g.link);
		if (g.violations)
			state_append(r->state_dir, "violations", "%s %u", g.id, g.violations);
		return 0;
	}
	if (hostile_upgrade(r, c)) { /* --hostile: no websocket at all */
		wss_free(c);
		link_close(&g.link);
		return 0;
	}
	rc = wss_upgrade(c, &cb, 0, e);
	if (rc < 0) {
		violation(&g, "bad websocket upgrade: ", e->msg);
		wss_free(c);
		link_close(&g.link);
		state_append(r->state_dir, "violations", "%s %u", g.id, g.violations);
		return rc;
	}
	log_verbose(r->lg, "gateway %s: websocket open", g.id);
	rc = relay(&g, e);
	gateway_end(&g);
	return rc;
}
