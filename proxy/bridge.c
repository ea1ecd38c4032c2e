/* bridge.c: stdin/stdout <-> data channel <-> websocket, on one poll loop. */
#include "bridge.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "awsapi.h"
#include "buf.h"
#include "datachannel.h"
#include "loop.h"
#include "uuid.h"
#include "version.h"
#include "ws.h"

#define STDIN_CHUNK (64 * 1024)
/* Stop reading the websocket while this much waits for stdout: the
 * agent then stalls on TCP backpressure, so memory stays bounded. */
#define STDOUT_HIGH_WATER (4 * 1024 * 1024)
#define STDOUT_HARD_MAX (64 * 1024 * 1024)
/* After stdin EOF: how long to wait for the agent's acks. */
#define DRAIN_TIMEOUT_MS 5000
/* After a termination signal or once drained: how long to flush frames. */
#define FLUSH_TIMEOUT_MS 2000

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
		if (ev->text[0] != '\0')
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
		int r = dc_receive(b->dc, data, len, loop_now_ms());
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
	if (r == 0 && (mask & (LOOP_READ | LOOP_ERROR)))
		r = ws_on_readable(b->ws, &e);
	if (r == 0 || b->phase == PH_DONE)
		return;
	if (dc_state(b->dc) == DC_ST_CLOSED || b->phase == PH_OUTPUT) {
		b->phase = PH_OUTPUT; /* the service closed after channel_closed */
		loop_del_fd(b->loop, ws_fd(b->ws));
		return;
	}
	if (b->phase == PH_FLUSH || b->stdout_gone) {
		b->phase = PH_DONE;
		loop_stop(b->loop);
		return;
	}
	fail(b, r == E_CLOSED ? E_CLOSED : E_NET, "data channel connection lost: %s",
	     e.msg[0] ? e.msg : err_str(r));
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

/* Sets every interest mask and the timer from the state; runs before each wait. */
static void
before_sleep(struct loop *l, void *arg)
{
	struct bridge *b = arg;
	uint64_t now = loop_now_ms(), next;
	int in_mask = 0, ws_mask = 0;

	if (b->phase == PH_DONE)
		return;
	next = dc_tick(b->dc, now);
	if (b->in_len > 0)
		push_input(b);
	if (b->phase == PH_DONE)
		return;

	switch (b->phase) {
	case PH_DRAIN:
		if (dc_unacked(b->dc) == 0 || now >= b->deadline) {
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
		if (!ws_want_write(b->ws) || now >= b->deadline) {
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
	if (b->phase == PH_RUN && !b->stdin_eof && b->in_len == 0 && dc_window_room(b->dc) > 0)
		in_mask = LOOP_READ;
	if (!b->stdin_eof)
		loop_mod_fd(l, STDIN_FILENO, in_mask);
	loop_mod_fd(l, STDOUT_FILENO, buf_len(&b->out) > 0 && !b->stdout_gone ? LOOP_WRITE : 0);
	if (b->phase != PH_OUTPUT || loop_get_fd(l, ws_fd(b->ws)) >= 0) {
		if (buf_len(&b->out) < STDOUT_HIGH_WATER && ws_want_read(b->ws))
			ws_mask |= LOOP_READ;
		if (ws_want_write(b->ws))
			ws_mask |= LOOP_WRITE;
		loop_mod_fd(l, ws_fd(b->ws), ws_mask);
	}

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
	struct ws_opts wo;
	struct dc_config dcfg;
	struct dc_callbacks dcb;
	struct buf open;
	uint8_t client_id[16];
	int r;

	memset(&b, 0, sizeof(b));
	b.o = o;
	b.terminate_api = 1;
	buf_init(&b.out, STDOUT_HARD_MAX + AGENTMSG_MAX_FRAME);
	buf_init(&open, 0);
	if ((b.in = malloc(STDIN_CHUNK)) == NULL || loop_new(&b.loop) != 0) {
		r = err_set(e, E_NOMEM, "out of memory");
		goto out;
	}

	memset(&wo, 0, sizeof(wo));
	wo.ca_file = o->ca_file;
	wo.connect_timeout_ms = o->connect_timeout_ms;
	wo.handshake_timeout_ms = o->connect_timeout_ms;
	wo.lg = o->log;
	wo.on_message = ws_message_cb;
	wo.on_close = ws_close_cb;
	wo.arg = &b;

	memset(&dcfg, 0, sizeof(dcfg));
	dcfg.role = DC_CLIENT;
	dcfg.client_version = DC_CLIENT_VERSION_DEFAULT;
	dcfg.window = o->window;
	dcfg.log = o->log;
	memset(&dcb, 0, sizeof(dcb));
	dcb.send_frame = dc_send_frame_cb;
	dcb.deliver = dc_deliver_cb;
	dcb.event = dc_event_cb;
	dcb.arg = &b;
	if ((r = dc_new(&b.dc, &dcfg, &dcb, e)) != 0)
		goto out;

	log_debug(o->log, "opening the data channel");
	if ((r = ws_connect(&b.ws, o->stream_url, &wo, e)) != 0) {
		err_prefix(e, "cannot open the data channel");
		goto out;
	}
	if ((r = uuid_v4(client_id)) != 0 ||
	    (r = dc_open_build(&open, o->token, client_id, DC_CLIENT_VERSION_DEFAULT, e)) != 0 ||
	    (r = ws_send_text(b.ws, buf_ptr(&open), buf_len(&open), e)) != 0)
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
	r = b.rc;
	if (r != 0) {
		err_set(e, r, "%s", b.err.msg);
	}

	{
		const struct dc_stats *st = dc_stats(b.dc);
		log_verbose(o->log,
		            "session %s: %llu bytes in, %llu bytes out, %llu retransmissions, "
		            "%llu duplicates",
		            o->session_id, (unsigned long long)st->bytes_in,
		            (unsigned long long)st->bytes_out, (unsigned long long)st->retransmits,
		            (unsigned long long)st->duplicates);
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
	ws_free(b.ws);
	dc_free(b.dc);
	loop_free(b.loop);
	buf_free(&b.out);
	buf_free(&open);
	free(b.in);
	return r;
}
