/* bridge.c: stdin/stdout <-> data channel <-> websocket, on one poll loop. */
#include "bridge.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "awsapi.h"
#include "buf.h"
#include "datachannel.h"
#include "loop.h"
#include "uuid.h"
#include "version.h"
#include "ws.h"

#define STDIN_CHUNK (64 * 1024)
/* Stop reading stdin while this much waits for the websocket's socket:
 * the ring keeps every unacked message anyway, so the copy queued for
 * sending need not grow to the whole window (memory). */
#define WS_BACKLOG_MAX (256 * 1024)
/* Socket bytes taken per websocket read, so stdout backpressure applies
 * between bursts (see ws_set_read_budget). */
#define WS_READ_BUDGET (256 * 1024)
/* Stop reading the websocket while this much waits for stdout: the
 * agent then stalls on TCP backpressure, so memory stays bounded. Eight
 * pipe buffers' worth keeps ssh fed; more would only be memory. */
#define STDOUT_HIGH_WATER (512 * 1024)
#define STDOUT_HARD_MAX (64 * 1024 * 1024)
/* After stdin EOF: how long to wait for the agent's acks. */
#define DRAIN_TIMEOUT_MS 5000
/* After a termination signal or once drained: how long to flush frames. */
#define FLUSH_TIMEOUT_MS 2000
/* Resume backoff: the first try is at once, then full jitter over a
 * doubling delay from this floor up to the cap. */
#define RESUME_BACKOFF_MIN_MS 250
#define RESUME_BACKOFF_MAX_MS 8000

enum phase {
	PH_RUN,      /* moving data */
	PH_DRAIN,    /* stdin done: waiting for acks of what we sent */
	PH_FLUSH,    /* sending the last frames, then stop */
	PH_OUTPUT,   /* channel closed: writing what is left for stdout */
	PH_DONE,
};

struct bridge {
	const struct bridge_opts *o;
	struct loop *loop;
	struct ws *ws;
	struct dc *dc;
	struct buf out;              /* bytes waiting for stdout */
	uint8_t *in;                 /* stdin bytes the window has not taken */
	size_t in_off, in_len;
	enum phase phase;
	int stdin_eof, stdout_gone;
	int terminate_api;           /* call TerminateSession at the end */
	uint64_t deadline;           /* phase deadline, 0: none */
	uint64_t timer_id, timer_at;
	int rc;
	struct err err;

	/* websocket (re)connection and resume */
	struct ws_opts wo;
	struct ws_pre *pre;          /* early connection for the next connect */
	uint8_t client_id[16];       /* one per process, as the official client */
	int down;                    /* websocket lost, resuming */
	uint64_t outage_since;       /* when it was lost */
	uint64_t retry_at;           /* next resume attempt */
	unsigned attempts;           /* resume attempts in this outage */
	unsigned resumes;            /* successful resumes in the session */
	uint16_t peer_close;         /* the last close code the service sent */
	char peer_close_why[160];    /* ... and its reason, printable */
	char down_why[ERR_MSG_MAX];  /* the last reason, for the final message */
	/* liveness: any received frame proves the path alive */
	uint64_t frames_seen;        /* ws_stats frames_in at last_rx */
	uint64_t last_rx;            /* when a frame last arrived (or we stopped reading) */
	uint64_t rx_now;             /* the clock for the frames of one websocket read */
	int reading;                 /* the websocket was polled for reading */
	int ping_sent;               /* a ping is out since last_rx */
	int resume_ms, keepalive_ms; /* effective options */
};

static void
fail(struct bridge *b, int code, const char *fmt, const char *detail)
{
	if (b->rc == 0) {
		b->rc = code;
		err_set(&b->err, code, fmt, detail);
	}
	b->phase = PH_DONE;
	loop_stop(b->loop);
}

/* --- data channel callbacks --- */

static int
dc_send_frame_cb(void *arg, const uint8_t *frame, size_t len)
{
	struct bridge *b = arg;

	if (b->ws == NULL)
		return E_CLOSED;
	return ws_send_binary(b->ws, frame, len, NULL);
}

static int
dc_deliver_cb(void *arg, const uint8_t *data, size_t len)
{
	struct bridge *b = arg;

	if (b->stdout_gone)
		return 0; /* nobody reads any more: drop, but keep the channel moving */
	/* Backstop only: socket reads stop at the high-water mark long before. */
	if (buf_len(&b->out) + len > STDOUT_HARD_MAX)
		return E_AGAIN;
	return buf_put(&b->out, data, len) == 0 ? 0 : E_AGAIN;
}

static void
dc_event_cb(void *arg, const struct dc_event *ev)
{
	struct bridge *b = arg;

	switch (ev->type) {
	case DC_EV_HANDSHAKE_COMPLETE:
		log_verbose(b->o->log, "handshake complete (agent %s)", dc_peer_version(b->dc));
		if (ev->text[0] != '\0')
			log_verbose(b->o->log, "agent says: %s", ev->text);
		break;
	case DC_EV_CHANNEL_CLOSED:
		/* Closed with a reason before the remote port sent a byte: the
		 * connection never happened (e.g. the target refused), a failure. */
		if (ev->text[0] != '\0' && dc_stats(b->dc)->bytes_in == 0 && !b->stdin_eof &&
		    !b->stdout_gone) {
			b->terminate_api = 0;
			fail(b, E_NET, "the service closed the session before the remote port "
			     "answered: %.300s", ev->text);
			break;
		}
		/* A reason given while ssh still talks (e.g. the target refused)
		 * tells the user why the connection ended; a bare close is the
		 * routine end of a session. */
		if (ev->text[0] != '\0' && !b->stdin_eof && !b->stdout_gone)
			log_notice(b->o->log, "the session was closed by the service: %.300s", ev->text);
		else if (ev->text[0] != '\0')
			log_verbose(b->o->log, "channel closed: %s", ev->text);
		else
			log_verbose(b->o->log, "channel closed by the service");
		b->terminate_api = 0; /* the service has ended the session already */
		b->phase = PH_OUTPUT;
		break;
	case DC_EV_FAILED:
		fail(b, ev->code ? ev->code : E_PROTO, "%s", ev->text);
		break;
	case DC_EV_PAUSED:
		log_debug(b->o->log, "publication paused by the service");
		break;
	case DC_EV_RESUMED:
		log_debug(b->o->log, "publication resumed");
		break;
	case DC_EV_FLAG:
		log_debug(b->o->log, "agent sent flag %u", (unsigned)ev->flag);
		if (ev->flag == FLAG_CONNECT_TO_PORT_ERROR)
			fail(b, E_NET, "%s", "the agent could not connect to the port on the instance "
			     "(ConnectToPortError)");
		break;
	case DC_EV_WINDOW_OPEN:
	case DC_EV_DIAL_TARGET:
		break;
	}
}

/* --- websocket callbacks --- */

static void
ws_message_cb(void *arg, int opcode, const uint8_t *data, size_t len)
{
	struct bridge *b = arg;

	/* The official client parses text frames as AgentMessages too. */
	(void)opcode;
	if (b->dc != NULL && b->phase != PH_DONE) {
		int r = dc_receive(b->dc, data, len, b->rx_now);
		if (r != 0 && r != E_CLOSED && b->rc == 0)
			fail(b, r, "%s", dc_error(b->dc)->msg[0] ? dc_error(b->dc)->msg : err_str(r));
	}
}

static void
ws_close_cb(void *arg, uint16_t code, const char *reason, size_t len)
{
	struct bridge *b = arg;

	log_debug(b->o->log, "websocket closed by peer (code %u%s%.*s)", (unsigned)code,
	          len ? ": " : "", (int)(len > 120 ? 120 : len), reason ? reason : "");
	b->peer_close = code;
	/* The reason is peer text: bounded and made printable before use. */
	snprintf(b->peer_close_why, sizeof(b->peer_close_why), "close code %u%s", (unsigned)code,
	         len ? ": " : "");
	for (size_t i = 0, n = strlen(b->peer_close_why); i < len && n + 1 < sizeof(b->peer_close_why);
	     i++, n++) {
		unsigned char ch = (unsigned char)reason[i];
		b->peer_close_why[n] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
		b->peer_close_why[n + 1] = '\0';
	}
}

/* --- the loop --- */

static int
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -1;
	return fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void
start_terminate(struct bridge *b, const char *why)
{
	uint64_t now = loop_now_ms();

	if (b->phase != PH_RUN)
		return;
	log_debug(b->o->log, "%s: finishing the session", why);
	b->phase = PH_DRAIN;
	b->deadline = now + DRAIN_TIMEOUT_MS;
}

/* Moves buffered stdin bytes into the data channel as the window allows. */
static void
push_input(struct bridge *b)
{
	while (b->in_len > 0) {
		ssize_t n = dc_send(b->dc, b->in + b->in_off, b->in_len, loop_now_ms());
		if (n < 0) {
			fail(b, (int)n, "%s", dc_error(b->dc)->msg[0] ? dc_error(b->dc)->msg : err_str((int)n));
			return;
		}
		if (n == 0)
			return;
		b->in_off += (size_t)n;
		b->in_len -= (size_t)n;
	}
	b->in_off = 0;
}

static void
on_stdin(struct loop *l, int fd, int mask, void *arg)
{
	struct bridge *b = arg;
	size_t room = dc_window_room(b->dc) * AGENTMSG_STREAM_CHUNK;
	ssize_t n;

	(void)l;
	(void)mask;
	if (b->in_len > 0 || room == 0)
		return;
	if (room > STDIN_CHUNK)
		room = STDIN_CHUNK;
	n = read(fd, b->in, room);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		log_debug(b->o->log, "stdin: %s", strerror(errno));
		n = 0;
	}
	if (n == 0) {
		b->stdin_eof = 1;
		start_terminate(b, "end of input");
		return;
	}
	b->in_off = 0;
	b->in_len = (size_t)n;
	push_input(b);
}

static void
on_stdout(struct loop *l, int fd, int mask, void *arg)
{
	struct bridge *b = arg;
	ssize_t n;

	(void)l;
	(void)mask;
	while (buf_len(&b->out) > 0) {
		n = write(fd, buf_ptr(&b->out), buf_len(&b->out));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			/* The reader went away (ssh exited): nothing more to deliver. */
			log_debug(b->o->log, "stdout: %s", strerror(errno));
			b->stdout_gone = 1;
			buf_reset(&b->out);
			start_terminate(b, "output closed");
			return;
		}
		buf_consume(&b->out, (size_t)n);
	}
}

/*
 * The websocket failed without channel_closed: forget it and start
 * resuming (before_sleep drives the attempts). The data channel keeps its
 * sequence state; its frames meanwhile count as lost on the wire.
 */
static void
lose_ws(struct bridge *b, const char *why)
{
	uint64_t now = loop_now_ms();

	if (b->ws != NULL) {
		if (loop_get_fd(b->loop, ws_fd(b->ws)) >= 0)
			loop_del_fd(b->loop, ws_fd(b->ws));
		ws_free(b->ws);
		b->ws = NULL;
	}
	snprintf(b->down_why, sizeof(b->down_why), "%s", why);
	if (b->phase == PH_FLUSH || b->stdout_gone) {
		/* Nothing left worth a new connection. */
		b->phase = PH_DONE;
		loop_stop(b->loop);
		return;
	}
	if (b->resume_ms < 0 || b->o->api == NULL) {
		fail(b, E_NET, "data channel connection lost: %s", why);
		return;
	}
	if (!b->down) {
		b->down = 1;
		b->outage_since = now;
		b->attempts = 0;
		b->retry_at = now;
		log_verbose(b->o->log, "data channel connection lost (%s); resuming the session", why);
	}
}

static void
on_ws(struct loop *l, int fd, int mask, void *arg)
{
	struct bridge *b = arg;
	struct err e = { 0, "" };
	int r = 0;

	(void)l;
	(void)fd;
	if (mask & LOOP_WRITE)
		r = ws_on_writable(b->ws, &e);
	if (r == 0 && (mask & (LOOP_READ | LOOP_ERROR))) {
		b->rx_now = loop_now_ms(); /* one clock read for the batch, not per message */
		r = ws_on_readable(b->ws, &e);
	}
	if (r == 0 || b->phase == PH_DONE)
		return;
	if (dc_state(b->dc) == DC_ST_CLOSED || b->phase == PH_OUTPUT) {
		b->phase = PH_OUTPUT; /* the service closed after channel_closed */
		loop_del_fd(b->loop, ws_fd(b->ws));
		return;
	}
	/* A gateway that breaks the websocket protocol, sends oversized
	 * messages or refuses our token (close 1008) would do it again on a
	 * resumed connection: that ends the session. */
	if (r == E_PROTO || r == E_RANGE || (r == E_CLOSED && b->peer_close == 1008)) {
		if (r == E_CLOSED)
			fail(b, E_AUTH, "the service refused the data channel (%s)",
			     b->peer_close_why[0] ? b->peer_close_why : "close code 1008");
		else
			fail(b, r, "data channel: %s", e.msg[0] ? e.msg : err_str(r));
		return;
	}
	/* A close frame (1001 going away included) or a broken connection. */
	lose_ws(b, e.msg[0] ? e.msg : err_str(r));
}

/* Connects a websocket to the stream URL and authenticates it with token
 * (OpenDataChannel with a new RequestId); sets b->ws. Returns 0 or E_*. */
static int
channel_connect(struct bridge *b, const char *token, struct err *e)
{
	struct buf open;
	struct ws *w = NULL;
	int r;

	buf_init(&open, 0);
	r = ws_connect_pre(&w, b->pre, b->o->stream_url, &b->wo, e);
	b->pre = NULL; /* consumed */
	if (r != 0) {
		err_prefix(e, "cannot open the data channel");
		return r;
	}
	if ((r = dc_open_build(&open, token, b->client_id, DC_CLIENT_VERSION_DEFAULT, e)) == 0)
		r = ws_send_text(w, buf_ptr(&open), buf_len(&open), e);
	/* The frame holds the token: wipe our copy. */
	if (buf_len(&open) > 0)
		memset((uint8_t *)buf_ptr(&open), 0, buf_len(&open));
	buf_free(&open);
	if (r != 0) {
		ws_free(w);
		return r;
	}
	b->ws = w;
	ws_set_read_budget(w, WS_READ_BUDGET);
	b->peer_close = 0; /* a close code belongs to its own connection */
	b->peer_close_why[0] = '\0';
	b->frames_seen = ws_stats(w)->frames_in;
	b->last_rx = loop_now_ms();
	b->ping_sent = 0;
	return 0;
}

/* Returns nonzero if a failed resume attempt is worth repeating. */
static int
resume_retryable(int code, const struct err *e)
{
	const char *p;
	char name[64];
	size_t n;

	if (code == E_NET || code == E_TIMEOUT || code == E_NOMEM)
		return 1;
	if (code != E_AWS || (p = strstr(e->msg, "failed: ")) == NULL)
		return 0;
	/* "ResumeSession failed: CODE: message" or "... failed: HTTP 503" */
	p += strlen("failed: ");
	if (strncmp(p, "HTTP 5", 6) == 0)
		return 1;
	n = strcspn(p, ": (");
	if (n == 0 || n >= sizeof(name))
		return 0;
	memcpy(name, p, n);
	name[n] = '\0';
	return awsapi_is_throttle(name) || strcmp(name, "InternalServerError") == 0 ||
	       strcmp(name, "InternalFailure") == 0 || strcmp(name, "ServiceUnavailable") == 0;
}

/* Returns a delay before the next resume attempt: full jitter, doubling. */
static uint64_t
resume_backoff(unsigned attempts)
{
	uint64_t d = RESUME_BACKOFF_MIN_MS;
	uint32_t rnd = 0;

	for (unsigned i = 1; i < attempts && d < RESUME_BACKOFF_MAX_MS; i++)
		d *= 2;
	if (d > RESUME_BACKOFF_MAX_MS)
		d = RESUME_BACKOFF_MAX_MS;
	if (RAND_bytes((unsigned char *)&rnd, sizeof(rnd)) != 1)
		rnd = (uint32_t)loop_now_ms();
	return d / 2 + rnd % (d / 2 + 1);
}

/*
 * One resume attempt: ResumeSession for a new token, a new websocket to
 * the original StreamUrl, then everything unacked again. It blocks, but
 * every step has its own deadline (API and websocket timeouts).
 */
static void
try_resume(struct bridge *b)
{
	struct ssm_session s;
	struct err e = { 0, "" };
	uint64_t now, limit;
	char msg[ERR_MSG_MAX + 256]; /* err_set keeps what fits */
	int r;

	b->attempts++;
	/* Hand ssh what we already have before blocking. */
	if (buf_len(&b->out) > 0 && !b->stdout_gone)
		on_stdout(b->loop, STDOUT_FILENO, LOOP_WRITE, b);
	/* The new connection goes to the original StreamUrl (below): open it
	 * while ResumeSession is in flight. A failure only costs the head start. */
	if (b->o->mux != NULL && ws_pre_start(&b->pre, b->o->mux, b->o->stream_url, &b->wo, &e) != 0) {
		log_debug(b->o->log, "no early data channel connection: %s", e.msg);
		err_clear(&e);
	}
	r = awsapi_resume_session(b->o->api, b->o->session_id, &s, &e);
	if (r != 0) {
		ws_pre_free(b->pre);
		b->pre = NULL;
	}
	if (r == 0) {
		/*
		 * The official client ignores the StreamUrl of ResumeSession and
		 * dials the original one (protocol notes, section 5); so do we.
		 */
		if (s.stream_url != NULL && strcmp(s.stream_url, b->o->stream_url) != 0)
			log_debug(b->o->log, "ResumeSession named another stream URL; keeping the first");
		r = channel_connect(b, s.token_value, &e);
		if (s.token_value != NULL)
			memset(s.token_value, 0, strlen(s.token_value));
		awsapi_session_free(&s);
		if (r == 0 && (r = loop_add_fd(b->loop, ws_fd(b->ws), LOOP_READ, on_ws, b)) != 0) {
			err_set(&e, r, "cannot watch the data channel");
			ws_free(b->ws);
			b->ws = NULL;
		}
	} else if (!resume_retryable(r, &e)) {
		snprintf(msg, sizeof(msg), "data channel connection lost (%.150s) and the session "
		         "cannot be resumed: %.300s", b->down_why, e.msg);
		fail(b, r, "%s", msg);
		return;
	}
	now = loop_now_ms();
	if (r == 0) {
		log_verbose(b->o->log, "data channel resumed after %llu ms (attempt %u), "
		            "%zu messages to send again",
		            (unsigned long long)(now - b->outage_since), b->attempts, dc_unacked(b->dc));
		b->down = 0;
		b->resumes++;
		if (b->phase == PH_DRAIN)
			b->deadline = now + DRAIN_TIMEOUT_MS;
		r = dc_resend_all(b->dc, now);
		if (r != 0 && r != E_CLOSED) {
			fail(b, r, "%s", dc_error(b->dc)->msg[0] ? dc_error(b->dc)->msg : err_str(r));
			return;
		}
		/* Frames that came with the upgrade answer are already buffered. */
		on_ws(b->loop, ws_fd(b->ws), LOOP_READ, b);
		return;
	}
	limit = b->outage_since + (uint64_t)b->resume_ms;
	if (now >= limit) {
		snprintf(msg, sizeof(msg), "data channel connection lost (%.150s) and not resumed "
		         "within %d s: %.300s", b->down_why, b->resume_ms / 1000, e.msg);
		fail(b, r, "%s", msg);
		return;
	}
	b->retry_at = now + resume_backoff(b->attempts);
	if (b->retry_at > limit)
		b->retry_at = limit;
	log_verbose(b->o->log, "resume attempt %u failed: %s; trying again in %llu ms", b->attempts,
	            e.msg, (unsigned long long)(b->retry_at - now));
}

static void
on_signal(struct loop *l, int fd, int mask, void *arg)
{
	struct bridge *b = arg;
	char c[16];

	(void)l;
	(void)mask;
	while (read(fd, c, sizeof(c)) > 0)
		;
	log_debug(b->o->log, "signal received");
	b->stdout_gone = 1; /* ssh sends SIGHUP as it exits: nobody reads now */
	start_terminate(b, "signal");
	if (b->phase == PH_DRAIN)
		b->deadline = loop_now_ms(); /* no point waiting for acks */
}

static void
on_timer(struct loop *l, uint64_t id, void *arg)
{
	struct bridge *b = arg;

	(void)l;
	(void)id;
	b->timer_id = 0;
	b->timer_at = 0;
}

/*
 * Liveness: any frame proves the path alive. After keepalive_ms of
 * silence a ping goes out (the gateway answers at once); after as long
 * again the path is dead (half-open TCP, e.g. after a laptop sleep) and
 * the session is resumed. Time spent not reading (stdout backpressure)
 * does not count. Returns nonzero if the websocket was given up.
 */
static int
check_liveness(struct bridge *b, uint64_t now)
{
	uint64_t seen = ws_stats(b->ws)->frames_in;
	struct err e = { 0, "" };

	if (seen != b->frames_seen || !b->reading) {
		b->frames_seen = seen;
		b->last_rx = now;
		b->ping_sent = 0;
		return 0;
	}
	if (now >= b->last_rx + 2 * (uint64_t)b->keepalive_ms) {
		char why[96];
		snprintf(why, sizeof(why), "no answer to a ping for %d s",
		         b->keepalive_ms / 1000 > 0 ? b->keepalive_ms / 1000 : 1);
		lose_ws(b, why);
		return 1;
	}
	if (!b->ping_sent && now >= b->last_rx + (uint64_t)b->keepalive_ms) {
		if (ws_ping(b->ws, &e) == 0)
			log_debug(b->o->log, "data channel silent for %d ms: ping", b->keepalive_ms);
		b->ping_sent = 1;
	}
	return 0;
}

/* Sets every interest mask and the timer from the state; runs before each wait. */
static void
before_sleep(struct loop *l, void *arg)
{
	struct bridge *b = arg;
	uint64_t now = loop_now_ms(), next;
	int in_mask = 0, ws_mask = 0;

	if (b->phase == PH_DONE)
		return;
	if (b->down && now >= b->retry_at) {
		try_resume(b);
		if (b->phase == PH_DONE)
			return;
		now = loop_now_ms();
	}
	if (b->ws != NULL && b->phase != PH_OUTPUT && check_liveness(b, now) != 0) {
		if (b->phase == PH_DONE)
			return;
		/* Given up: the first resume attempt is due at once. */
	}
	/* As Redis does for TLS: a read cut short by its budget goes on here,
	 * since poll cannot see bytes already inside TLS. */
	if (b->ws != NULL && ws_read_pending(b->ws) && buf_len(&b->out) < STDOUT_HIGH_WATER &&
	    (b->phase != PH_OUTPUT || loop_get_fd(l, ws_fd(b->ws)) >= 0)) {
		on_ws(l, ws_fd(b->ws), LOOP_READ, b);
		if (b->phase == PH_DONE)
			return;
		now = loop_now_ms();
	}
	next = dc_tick(b->dc, now);
	if (b->in_len > 0)
		push_input(b);
	if (b->phase == PH_DONE)
		return;

	switch (b->phase) {
	case PH_DRAIN:
		/* While resuming, unacked data still has a chance: the deadline
		 * starts again on the new connection. */
		if (dc_unacked(b->dc) == 0 || (!b->down && now >= b->deadline)) {
			if (dc_unacked(b->dc) != 0)
				log_verbose(b->o->log, "%zu messages still unacknowledged at exit",
				            dc_unacked(b->dc));
			if (dc_state(b->dc) == DC_ST_OPEN && dc_agent_supports_terminate(b->dc) &&
			    dc_send_flag(b->dc, FLAG_TERMINATE_SESSION, now) == 0)
				log_debug(b->o->log, "sent the TerminateSession flag");
			b->phase = PH_FLUSH;
			b->deadline = now + FLUSH_TIMEOUT_MS;
		}
		break;
	case PH_FLUSH:
		if (b->ws == NULL || !ws_want_write(b->ws) || now >= b->deadline) {
			b->phase = PH_DONE;
			loop_stop(l);
			return;
		}
		break;
	case PH_OUTPUT:
		if (buf_len(&b->out) == 0 || b->stdout_gone) {
			b->phase = PH_DONE;
			loop_stop(l);
			return;
		}
		break;
	default:
		break;
	}

	/* stdin: only when the handshake is done and the window has room. */
	if (b->phase == PH_RUN && !b->stdin_eof && b->in_len == 0 && dc_window_room(b->dc) > 0 &&
	    (b->ws == NULL || ws_pending_out_bytes(b->ws) < WS_BACKLOG_MAX))
		in_mask = LOOP_READ;
	if (!b->stdin_eof)
		loop_mod_fd(l, STDIN_FILENO, in_mask);
	loop_mod_fd(l, STDOUT_FILENO, buf_len(&b->out) > 0 && !b->stdout_gone ? LOOP_WRITE : 0);
	b->reading = 0;
	if (b->ws != NULL && (b->phase != PH_OUTPUT || loop_get_fd(l, ws_fd(b->ws)) >= 0)) {
		if (buf_len(&b->out) < STDOUT_HIGH_WATER && ws_want_read(b->ws))
			ws_mask |= LOOP_READ;
		if (ws_want_write(b->ws))
			ws_mask |= LOOP_WRITE;
		loop_mod_fd(l, ws_fd(b->ws), ws_mask);
		b->reading = (ws_mask & LOOP_READ) != 0;
		if (b->phase != PH_OUTPUT) {
			uint64_t live = b->last_rx + (uint64_t)b->keepalive_ms * (b->ping_sent ? 2 : 1);
			if (live < next)
				next = live;
		}
	}
	if (b->down && b->retry_at < next)
		next = b->retry_at;
	if (b->ws != NULL && b->reading && ws_read_pending(b->ws))
		next = now; /* no sleep: the rest of the read is due */

	if (b->deadline != 0 && (b->phase == PH_DRAIN || b->phase == PH_FLUSH) && b->deadline < next)
		next = b->deadline;
	if (next != b->timer_at) {
		if (b->timer_id != 0)
			loop_cancel_timer(l, b->timer_id);
		b->timer_id = 0;
		b->timer_at = 0;
		if (next != DC_NO_DEADLINE && loop_add_timer(l, next, on_timer, b, &b->timer_id) == 0)
			b->timer_at = next;
	}
}

int
bridge_run(const struct bridge_opts *o, struct err *e)
{
	struct bridge b;
	struct dc_config dcfg;
	struct dc_callbacks dcb;
	int r;

	memset(&b, 0, sizeof(b));
	b.o = o;
	b.pre = o->pre; /* ours from here on, whatever happens */
	b.terminate_api = 1;
	b.resume_ms = o->resume_timeout_ms == 0 ? BRIDGE_RESUME_DEFAULT_MS : o->resume_timeout_ms;
	b.keepalive_ms = o->keepalive_ms > 0 ? o->keepalive_ms : BRIDGE_KEEPALIVE_DEFAULT_MS;
	buf_init(&b.out, STDOUT_HARD_MAX + AGENTMSG_MAX_FRAME);
	if ((b.in = malloc(STDIN_CHUNK)) == NULL || loop_new(&b.loop) != 0) {
		r = err_set(e, E_NOMEM, "out of memory");
		goto out;
	}

	b.wo.ca_file = o->ca_file;
	b.wo.connect_timeout_ms = o->connect_timeout_ms;
	b.wo.handshake_timeout_ms = o->connect_timeout_ms;
	b.wo.lg = o->log;
	b.wo.on_message = ws_message_cb;
	b.wo.on_close = ws_close_cb;
	b.wo.arg = &b;
	b.rx_now = loop_now_ms();

	memset(&dcfg, 0, sizeof(dcfg));
	dcfg.role = DC_CLIENT;
	dcfg.client_version = DC_CLIENT_VERSION_DEFAULT;
	dcfg.window = o->window;
	dcfg.pace = 1;
	dcfg.log = o->log;
	memset(&dcb, 0, sizeof(dcb));
	dcb.send_frame = dc_send_frame_cb;
	dcb.deliver = dc_deliver_cb;
	dcb.event = dc_event_cb;
	dcb.arg = &b;
	if ((r = dc_new(&b.dc, &dcfg, &dcb, e)) != 0)
		goto out;

	log_debug(o->log, "opening the data channel");
	if ((r = uuid_v4(b.client_id)) != 0) {
		err_set(e, r, "no randomness for the client id");
		goto out;
	}
	if ((r = channel_connect(&b, o->token, e)) != 0)
		goto out;
	if ((r = dc_start(b.dc, loop_now_ms())) != 0) {
		err_set(e, r, "%s", dc_error(b.dc)->msg);
		goto out;
	}

	if (set_nonblock(STDIN_FILENO) != 0 || set_nonblock(STDOUT_FILENO) != 0) {
		r = err_set(e, E_IO, "cannot make stdin/stdout non-blocking: %s", strerror(errno));
		goto out;
	}
	if ((r = loop_add_fd(b.loop, STDIN_FILENO, 0, on_stdin, &b)) != 0 ||
	    (r = loop_add_fd(b.loop, STDOUT_FILENO, 0, on_stdout, &b)) != 0 ||
	    (r = loop_add_fd(b.loop, ws_fd(b.ws), LOOP_READ, on_ws, &b)) != 0 ||
	    (o->signal_fd >= 0 && (r = loop_add_fd(b.loop, o->signal_fd, LOOP_READ, on_signal, &b)) != 0)) {
		err_set(e, r, "cannot watch file descriptors");
		goto out;
	}
	loop_set_before_sleep(b.loop, before_sleep, &b);

	/* Frames that arrived with the upgrade answer are already buffered. */
	on_ws(b.loop, ws_fd(b.ws), LOOP_READ, &b);
	if (b.phase != PH_DONE && (r = loop_run(b.loop, e)) != 0)
		goto out;
	if (b.resumes > 0)
		log_verbose(o->log, "the data channel was resumed %u times", b.resumes);
	r = b.rc;
	if (r != 0) {
		err_set(e, r, "%s", b.err.msg);
	}

	{
		const struct dc_stats *st = dc_stats(b.dc);
		log_verbose(o->log,
		            "session %s: %llu bytes in, %llu bytes out, %llu retransmissions, "
		            "%llu duplicates, at most %llu messages in flight",
		            o->session_id, (unsigned long long)st->bytes_in,
		            (unsigned long long)st->bytes_out, (unsigned long long)st->retransmits,
		            (unsigned long long)st->duplicates,
		            (unsigned long long)st->peak_in_flight);
	}

out:
	if (b.terminate_api && o->api != NULL && o->session_id != NULL) {
		struct err te = { 0, "" };
		/* Ends the session on the service side even if the agent missed
		 * the flag; a failure here must not hide the session's own result. */
		if (awsapi_terminate_session(o->api, o->session_id, &te) != 0)
			log_verbose(o->log, "%s", te.msg);
		else
			log_debug(o->log, "session %s terminated", o->session_id);
	}
	ws_pre_free(b.pre);
	ws_free(b.ws);
	dc_free(b.dc);
	loop_free(b.loop);
	buf_free(&b.out);
	free(b.in);
	return r;
}
