/* agent.c: the fake agent of one session (data channel + target socket). */
#include "agent.h"
#include "agentmsg.h"
#include "datachannel.h"
#include "gateway.h"
#include "link.h"
#include "loop.h"
#include "mgsmsg.h"
#include "state.h"

#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>


#define READ_MAX (64 * 1024)       /* target bytes per read without --pace */
#define PACE_CATCHUP_US 3000
#define LINK_TX_MAX (8 * 1024 * 1024) /* frames queued for a slow gateway */
#define STATE_CHECK_MS 100         /* how often the session record is read */
#define HELD_MAX_MS 20             /* --reorder: longest a frame is held back */

enum tstate { T_NONE = 0, T_CONNECTING, T_OPEN, T_CLOSED };

struct agent {
	const struct region *r;
	struct session s;
	struct dc *dc;
	int lfd;                  /* accepts later gateways */
	struct link link;         /* the current gateway, if any */
	struct gateway *gw;       /* the first websocket's, served in our loop until it ends */
	uint64_t orphan_since;    /* when the last link went away; 0 with a link */
	uint64_t link_bytes;      /* output payload bytes (resends too) on this link */
	int drop_checked;         /* --drop-after already decided for this link */
	int drop_pending;

	int tfd;
	enum tstate ts;
	struct buf tbuf;          /* client bytes for the target */
	struct buf obuf;          /* target bytes dc_send has not taken yet */
	int target_eof;
	int input_refused;        /* deliver answered E_AGAIN */
	uint64_t pace_next_us;          /* --pace: when the next read is due */

	/* set by dc callbacks, acted upon in the loop */
	int want_dial;
	int flag_end;
	int failed;
	int closed_sent;

	/* ending */
	int draining;             /* target EOF: waiting for acks */
	uint64_t drain_deadline;
	int finished;
	const char *end_reason;

	/* faults */
	uint64_t out_msgs, acks_seen;
	struct buf held;          /* --reorder: frame sent after the next one */
	uint64_t held_since;
	int pause_state;          /* 0 not yet, 1 paused, 2 done */
	int pause_pending;
	uint64_t pause_until;

	uint64_t next_state_check;
	uint64_t reconnects, drops, dropped_in_pause;
	uint64_t duplicated, reordered, acks_withheld, pauses;
};

/* ---- sending ---- */

/* Queues a frame for the gateway; a frame without a gateway is lost. */
static int
link_send(struct agent *a, const uint8_t *frame, size_t len)
{
	if (!link_up(&a->link))
		return E_CLOSED;
	return link_queue(&a->link, LINK_FRAME, frame, len, LINK_TX_MAX);
}

/* Sends a gateway-made control message (pause/start_publication). */
static void
send_control(struct agent *a, enum agentmsg_kind kind)
{
	struct buf out;

	buf_init(&out, 0);
	if (mgsmsg_publication(&out, kind, a->s.id) == 0)
		link_send(a, buf_ptr(&out), buf_len(&out));
	buf_free(&out);
}

/* dc callback: one frame to the client, through the fault switches. */
static int
cb_send_frame(void *arg, const uint8_t *frame, size_t len)
{
	struct agent *a = arg;
	const struct region_faults *f = &a->r->f;
	struct agentmsg m;
	int rc;

	/* Our data channel just encoded it: no need to check its digest. */
	if (agentmsg_decode_fields(&m, frame, len, NULL) != 0)
		return link_send(a, frame, len);
	if (m.kind == AMK_ACK && f->withhold_ack > 0) {
		if (++a->acks_seen % f->withhold_ack == 0) {
			a->acks_withheld++;
			return 0; /* lost on the wire: the client must send again */
		}
	}
	if (m.kind != AMK_OUTPUT || m.payload_type != PT_OUTPUT)
		return link_send(a, frame, len);
	if (a->pause_state == 1)
		return 0; /* publication paused: the client cannot get it now */
	a->out_msgs++;
	if (f->pause_ms > 0 && a->pause_state == 0 && a->out_msgs >= AGENT_PAUSE_AFTER_MSGS)
		a->pause_pending = 1;
	if (link_up(&a->link)) {
		a->link_bytes += m.payload_size;
		if (f->drop_after > 0 && !a->drop_checked && a->link_bytes >= f->drop_after)
			a->drop_pending = 1;
	}
	if (f->reorder > 0 && a->out_msgs % f->reorder == 0 && buf_len(&a->held) == 0) {
		buf_put(&a->held, frame, len);
		a->held_since = loop_now_ms();
		a->reordered++;
		return 0;
	}
	rc = link_send(a, frame, len);
	if (rc == 0 && f->duplicate > 0 && a->out_msgs % f->duplicate == 0 &&
	    link_send(a, frame, len) == 0)
		a->duplicated++;
	if (buf_len(&a->held) > 0) {
		link_send(a, buf_ptr(&a->held), buf_len(&a->held));
		buf_reset(&a->held);
	}
	return rc;
}

/* dc callback: in-order client bytes for the target. */
static int
cb_deliver(void *arg, const uint8_t *data, size_t len)
{
	struct agent *a = arg;

	/*
	 * Like the real agent: nothing is taken before the target is connected.
	 * Once it is, the real agent writes each message to the target socket
	 * with a blocking write and so refuses nothing: a slow target only
	 * stalls it (link_frames stops taking frames). Input piles up past
	 * AGENT_TARGET_BUF only while our own window is full (at most the
	 * client's window of messages); the hard cap is a backstop.
	 */
	if (a->ts != T_OPEN || buf_len(&a->tbuf) + len > AGENT_TARGET_HARD) {
		a->input_refused = 1;
		return E_AGAIN;
	}
	if (a->r->f.drop_input && link_up(&a->link)) {
		a->link_bytes += len;
		if (a->r->f.drop_after > 0 && !a->drop_checked && a->link_bytes >= a->r->f.drop_after)
			a->drop_pending = 1;
	}
	return buf_put(&a->tbuf, data, len);
}

static void
cb_event(void *arg, const struct dc_event *ev)
{
	struct agent *a = arg;

	switch (ev->type) {
	case DC_EV_DIAL_TARGET:
		a->want_dial = 1;
		break;
	case DC_EV_FLAG:
		log_verbose(a->r->lg, "agent %s: flag %u from the client", a->s.id, ev->flag);
		if (ev->flag == FLAG_TERMINATE_SESSION || ev->flag == FLAG_DISCONNECT_TO_PORT)
			a->flag_end = 1;
		break;
	case DC_EV_FAILED:
		log_notice(a->r->lg, "agent %s: session failed: %s", a->s.id, ev->text);
		a->failed = 1;
		break;
	case DC_EV_CHANNEL_CLOSED:
		a->closed_sent = 1;
		break;
	default:
		break;
	}
}

/* ---- target ---- */

static void
target_close(struct agent *a)
{
	if (a->tfd >= 0)
		close(a->tfd);
	a->tfd = -1;
	a->ts = T_CLOSED;
}

/* Starts a non-blocking connect to the target; returns 0 or E_NET. */
static int
target_dial(struct agent *a)
{
	struct addrinfo hints, *res = NULL;
	char port[8];
	int fd, rc;

	if (a->r->f.refuse_target)
		return E_NET;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof(port), "%u", (unsigned)a->r->target_port);
	if (getaddrinfo(a->r->target_host, port, &hints, &res) != 0 || res == NULL)
		return E_NET;
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		freeaddrinfo(res);
		return E_NET;
	}
	/* As the real agent (Go) does: no Nagle towards the target. */
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	rc = connect(fd, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	if (rc < 0 && errno != EINPROGRESS) {
		close(fd);
		return E_NET;
	}
	a->tfd = fd;
	a->ts = rc == 0 ? T_OPEN : T_CONNECTING;
	return 0;
}

/* Writes queued client bytes to the target; E_CLOSED if it went away. */
static int
target_write(struct agent *a)
{
	while (buf_len(&a->tbuf) > 0) {
		ssize_t w = send(a->tfd, buf_ptr(&a->tbuf), buf_len(&a->tbuf), MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (w <= 0)
			return E_CLOSED;
		buf_consume(&a->tbuf, (size_t)w);
	}
	return 0;
}

/* Offers buffered target bytes to the data channel. */
static int
push_output(struct agent *a, uint64_t now)
{
	while (buf_len(&a->obuf) > 0) {
		ssize_t n = dc_send(a->dc, buf_ptr(&a->obuf), buf_len(&a->obuf), now);
		if (n < 0)
			return (int)n;
		if (n == 0)
			return 0;
		buf_consume(&a->obuf, (size_t)n);
	}
	return 0;
}

static uint64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* --pace: reads are due on a fixed 1 ms grid, not 1 ms after the last one,
 * so the cap is exactly 1024 bytes a millisecond, whatever poll's
 * oversleeping (bench/run measures the client against that cap). */
static int
pace_due(const struct agent *a, uint64_t now)
{
	(void)now;
	return !a->r->f.pace || mono_us() >= a->pace_next_us;
}

static int
can_read_target(const struct agent *a, uint64_t now)
{
	return a->ts == T_OPEN && !a->target_eof && !a->draining && !a->finished &&
	       buf_len(&a->obuf) == 0 && a->pause_state != 1 && pace_due(a, now) &&
	       !a->drop_pending && /* the drop comes right after BYTES */
	       dc_window_room(a->dc) > 0;
}

/* Reads what the target sent and hands it to the data channel. */
static void
target_read(struct agent *a, uint64_t now)
{
	uint8_t tmp[READ_MAX];
	size_t room = dc_window_room(a->dc) * AGENTMSG_STREAM_CHUNK, want;
	ssize_t r;

	want = a->r->f.pace ? AGENTMSG_STREAM_CHUNK : sizeof(tmp);
	if (want > room)
		want = room;
	r = recv(a->tfd, tmp, want, 0);
	if (r < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (r <= 0) {
		log_verbose(a->r->lg, "agent %s: target %s", a->s.id,
			    r == 0 ? "closed" : strerror(errno));
		a->target_eof = 1;
		return;
	}
	buf_put(&a->obuf, tmp, (size_t)r);
	if (a->r->f.pace) {
		/* The real agent sleeps 1 ms per read; catch up on late wakeups,
		 * but an idle spell earns no burst beyond PACE_CATCHUP_US. */
		uint64_t t = mono_us();

		if (a->pace_next_us + PACE_CATCHUP_US < t)
			a->pace_next_us = t - PACE_CATCHUP_US;
		a->pace_next_us += 1000;
	}
	push_output(a, now);
}

/* ---- links ---- */

static void
link_lost(struct agent *a, uint64_t now, int abrupt)
{
	if (!link_up(&a->link))
		return;
	log_verbose(a->r->lg, "agent %s: gateway link %s", a->s.id,
		    abrupt ? "dropped" : "lost");
	link_close(&a->link);
	a->orphan_since = now ? now : 1;
}

static void
accept_link(struct agent *a, uint64_t now)
{
	int fd = accept4(a->lfd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return;
	if (link_up(&a->link))
		link_lost(a, now, 1); /* the newest websocket wins */
	link_init(&a->link, fd);
	a->orphan_since = 0;
	a->link_bytes = 0;
	a->drop_checked = 0;
	a->reconnects++;
	log_verbose(a->r->lg, "agent %s: client reconnected", a->s.id);
	/* Whatever went out on the old websocket may be lost: send it again. */
	if (dc_state(a->dc) == DC_ST_HANDSHAKE || dc_state(a->dc) == DC_ST_OPEN)
		dc_resend_all(a->dc, now);
}

/*
 * The real agent handles a session's messages one at a time, and its write
 * to a slow target blocks the ones behind: frames wait in the link while
 * the target buffer is full. Not while our own window is full, though: the
 * acks we wait for may be behind them, and a target that only reads once
 * it can write would never drain the buffer.
 */
static int
target_stalled(const struct agent *a)
{
	return a->ts == T_OPEN && buf_len(&a->tbuf) >= AGENT_TARGET_BUF &&
	    dc_window_room(a->dc) > 0;
}

/* Handles the complete frames the gateway relayed, while the target takes input. */
static void
link_frames(struct agent *a, uint64_t now)
{
	const uint8_t *data;
	size_t len;
	int type, rc;

	while (link_up(&a->link) && !target_stalled(a) &&
	       (rc = link_next(&a->link, &type, &data, &len)) == 1) {
		if (type != LINK_FRAME)
			continue;
		if (a->pause_state == 1) {
			struct agentmsg m;
			/* Nobody is publishing: client input is lost until start_publication. */
			if (agentmsg_decode(&m, data, len, NULL) == 0 && m.kind == AMK_INPUT) {
				a->dropped_in_pause++;
				continue;
			}
		}
		if (dc_receive(a->dc, data, len, now) < 0)
			break;
	}
}

/* ---- ending ---- */

/*
 * Waits (bounded) until a gateway process closed its end of the link, so
 * the session is marked ended only once the client got channel_closed and
 * the close frame.
 */
static void
wait_gateway(struct agent *a)
{
	uint64_t deadline = loop_now_ms() + AGENT_CLOSE_WAIT_MS;

	while (link_up(&a->link) && !a->link.eof) {
		struct pollfd p = { .fd = a->link.fd, .events = POLLIN };
		uint64_t now = loop_now_ms();
		const uint8_t *data;
		size_t len;
		int type;

		if (now >= deadline)
			break;
		if (poll(&p, 1, (int)(deadline - now)) < 0 && errno != EINTR)
			break;
		if (link_read(&a->link) < 0)
			break;
		while (link_next(&a->link, &type, &data, &len) == 1)
			; /* the client's last acks are of no use now */
	}
}

/*
 * Serves the in-process gateway alone (bounded) until it closed its
 * websocket: channel_closed and the close frame reach the client first.
 */
static void
close_first_gateway(struct agent *a)
{
	uint64_t deadline = loop_now_ms() + AGENT_CLOSE_WAIT_MS;

	while (a->gw != NULL) {
		uint64_t now = loop_now_ms();
		struct pollfd p;
		int timeout = -1;

		if (now >= deadline)
			break;
		if (a->link.inproc && link_flush(&a->link) < 0)
			link_close(&a->link);
		buf_reset(&a->link.rx); /* the client's last acks are of no use now */
		if (gateway_prepare(a->gw, &p, &timeout)) {
			gateway_end(a->gw);
			a->gw = NULL;
			break;
		}
		if (timeout < 0 || (uint64_t)timeout > deadline - now)
			timeout = (int)(deadline - now);
		if (poll(&p, 1, timeout) < 0 && errno != EINTR)
			break;
		gateway_handle(a->gw, p.revents);
	}
}

/* Sends channel_closed (if a gateway is there) and ends the session. */
static void
finish(struct agent *a, const char *reason, const char *output, uint64_t now)
{
	if (a->finished)
		return;
	a->finished = 1;
	a->end_reason = reason;
	log_verbose(a->r->lg, "agent %s: ending: %s", a->s.id, reason);
	target_close(a);
	if (link_up(&a->link)) {
		if (!a->closed_sent &&
		    dc_send_channel_closed(a->dc, a->s.id, output ? output : "", now) < 0) {
			/* A failed data channel sends nothing: the gateway tells the client. */
			struct buf out;

			buf_init(&out, 0);
			if (mgsmsg_channel_closed(&out, a->s.target, a->s.id, output) == 0)
				link_send(a, buf_ptr(&out), buf_len(&out));
			buf_free(&out);
		}
		link_queue(&a->link, LINK_CLOSE, NULL, 0, 0);
		if (a->link.inproc)
			close_first_gateway(a);
		else if (link_drain(&a->link, AGENT_CLOSE_WAIT_MS) == 0)
			wait_gateway(a);
	}
}

/* Marks the session ended (unless TerminateSession already did). */
static void
record_end(struct agent *a)
{
	struct session s;
	int lk = session_lock(a->r, a->s.id);

	if (lk >= 0 && session_load(a->r, a->s.id, &s, NULL) == 0 && s.state == SESSION_ACTIVE) {
		s.state = SESSION_ENDED;
		session_store(a->r, &s, NULL);
	}
	/* Closing the listener under the lock: a gateway sees either us or "ended". */
	if (a->lfd >= 0)
		close(a->lfd);
	a->lfd = -1;
	session_unlock(lk);
}

/* Re-reads the session record: TerminateSession ends the channel. */
static void
check_record(struct agent *a, uint64_t now)
{
	struct session s;

	if (now < a->next_state_check)
		return;
	a->next_state_check = now + STATE_CHECK_MS;
	if (session_load(a->r, a->s.id, &s, NULL) == 0 && s.state == SESSION_TERMINATED)
		finish(a, "terminated by TerminateSession", "", now);
}

static void
write_stats(struct agent *a)
{
	const struct dc_stats *st = dc_stats(a->dc);
	const char *dir = a->r->state_dir;

	state_stats_add(dir, "agent_sessions", 1);
	state_stats_add(dir, "agent_bytes_in", (int64_t)st->bytes_in);
	state_stats_add(dir, "agent_bytes_out", (int64_t)st->bytes_out);
	state_stats_add(dir, "agent_retransmits", (int64_t)st->retransmits);
	state_stats_add(dir, "agent_duplicates_in", (int64_t)st->duplicates);
	state_stats_add(dir, "agent_reconnects", (int64_t)a->reconnects);
	state_stats_add(dir, "agent_violations", (int64_t)dc_violations(a->dc));
	state_stats_add(dir, "fault_drops", (int64_t)a->drops);
	state_stats_add(dir, "fault_duplicated", (int64_t)a->duplicated);
	state_stats_add(dir, "fault_reordered", (int64_t)a->reordered);
	state_stats_add(dir, "fault_acks_withheld", (int64_t)a->acks_withheld);
	state_stats_add(dir, "fault_pauses", (int64_t)a->pauses);
	state_stats_add(dir, "fault_input_dropped_in_pause", (int64_t)a->dropped_in_pause);
	state_append(dir, "violations", "%s %" PRIu64, a->s.id, dc_violations(a->dc));
	log_notice(a->r->lg, "agent %s: ended (%s): %" PRIu64 " bytes in, %" PRIu64 " out, %" PRIu64
		   " retransmits, %" PRIu64 " reconnects, %" PRIu64 " violations", a->s.id,
		   a->end_reason ? a->end_reason : "-", st->bytes_in, st->bytes_out,
		   st->retransmits, a->reconnects, dc_violations(a->dc));
}

/* ---- the loop ---- */

/* Acts on what callbacks and timers asked for; returns nonzero when over. */
static int
housekeeping(struct agent *a, uint64_t now)
{
	const struct region_faults *f = &a->r->f;

	if (a->want_dial) {
		a->want_dial = 0;
		if (target_dial(a) < 0) {
			char out[384];
			snprintf(out, sizeof(out), "Unable to connect to specified port: dial tcp "
				 "%s:%u: connect: connection refused", a->r->target_host,
				 (unsigned)a->r->target_port);
			state_stats_add(a->r->state_dir, "target_refused", 1);
			finish(a, "target refused", out, now);
			return 1;
		}
		if (a->ts == T_OPEN)
			dc_input_ready(a->dc, now);
	}
	if (a->failed) {
		finish(a, "data channel failed", "", now);
		return 1;
	}
	if (a->flag_end) {
		finish(a, "client flag", "", now);
		return 1;
	}
	check_record(a, now);
	if (a->finished)
		return 1;
	if (f->close_after > 0) {
		const struct dc_stats *st = dc_stats(a->dc);
		if (st->bytes_in + st->bytes_out >= f->close_after) {
			log_notice(a->r->lg, "agent %s: fault: closing the channel after %" PRIu64
				   " bytes", a->s.id, st->bytes_in + st->bytes_out);
			state_stats_add(a->r->state_dir, "fault_closed", 1);
			finish(a, "fault: close-after", "Session terminated by the fake region "
			       "(--close-after)", now);
			return 1;
		}
	}
	/*
	 * --drop-after: once those bytes reached the gateway, so every
	 * websocket carries at least BYTES and the transfer progresses.
	 */
	if (a->drop_pending && (!link_up(&a->link) || link_pending(&a->link) == 0)) {
		a->drop_pending = 0;
		a->drop_checked = 1;
		if (f->drop_count > 0 && link_up(&a->link) &&
		    state_budget_take(a->r->state_dir, "drop") == 1) {
			log_notice(a->r->lg, "agent %s: fault: dropping the websocket after %" PRIu64
				   " bytes", a->s.id, a->link_bytes);
			a->drops++;
			link_lost(a, now, 1);
		}
	}
	if (a->pause_pending) {
		a->pause_pending = 0;
		a->pause_state = 2;
		if (link_up(&a->link) && state_budget_take(a->r->state_dir, "pause") == 1) {
			log_notice(a->r->lg, "agent %s: fault: pausing publication for %d ms", a->s.id,
				   f->pause_ms);
			send_control(a, AMK_PAUSE_PUB);
			a->pause_state = 1;
			a->pauses++;
			a->pause_until = now + (uint64_t)f->pause_ms;
		}
	}
	if (a->pause_state == 1 && now >= a->pause_until) {
		a->pause_state = 2;
		send_control(a, AMK_START_PUB);
		dc_resend_all(a->dc, now);
	}
	if (buf_len(&a->held) > 0 && now >= a->held_since + HELD_MAX_MS) {
		link_send(a, buf_ptr(&a->held), buf_len(&a->held));
		buf_reset(&a->held);
	}
	if (buf_len(&a->obuf) > 0 && push_output(a, now) < 0)
		return 1;
	if (a->input_refused && a->ts == T_OPEN && buf_len(&a->tbuf) < AGENT_TARGET_BUF / 2) {
		a->input_refused = 0;
		dc_input_ready(a->dc, now);
	}
	if (a->target_eof && !a->draining && buf_len(&a->obuf) == 0) {
		a->draining = 1;
		a->drain_deadline = now + AGENT_DRAIN_MS;
	}
	if (a->draining && (dc_unacked(a->dc) == 0 || now >= a->drain_deadline)) {
		finish(a, "target closed", "", now);
		return 1;
	}
	if (!link_up(&a->link) && a->orphan_since && now - a->orphan_since >= AGENT_ORPHAN_MS) {
		a->end_reason = "no client";
		a->finished = 1;
		return 1;
	}
	if (dc_state(a->dc) == DC_ST_CLOSED || dc_state(a->dc) == DC_ST_FAILED) {
		finish(a, "data channel over", "", now);
		return 1;
	}
	return 0;
}

static int
loop(struct agent *a)
{
	for (;;) {
		struct pollfd p[4];
		int np = 0, il = -1, it = -1, ig = -1, timeout;
		uint64_t now = loop_now_ms(), next;

		if (housekeeping(a, now))
			return 0;
		/* Frames left in the link while the target buffer was full (in process: all). */
		if (link_up(&a->link) && buf_len(&a->link.rx) > 0 && !target_stalled(a))
			link_frames(a, now);
		if (a->link.inproc && link_read(&a->link) < 0)
			link_lost(a, now, 0); /* the in-process gateway ended */
		if (link_up(&a->link) && link_flush(&a->link) < 0)
			link_lost(a, now, 0);
		next = dc_tick(a->dc, now);
		if (a->pause_state == 1 && a->pause_until < next)
			next = a->pause_until;
		if (a->draining && a->drain_deadline < next)
			next = a->drain_deadline;
		if (buf_len(&a->held) > 0 && a->held_since + HELD_MAX_MS < next)
			next = a->held_since + HELD_MAX_MS;
		if (a->r->f.pace && a->pace_next_us / 1000 + 1 > now &&
		    a->pace_next_us / 1000 + 1 < next)
			next = a->pace_next_us / 1000 + 1; /* poll's ms: a catch-up covers the rest */
		if (now + STATE_CHECK_MS < next)
			next = now + STATE_CHECK_MS;
		timeout = next <= now ? 0 : (int)(next - now);

		p[np].fd = a->lfd;
		p[np].events = POLLIN;
		np++;
		if (link_up(&a->link) && !a->link.inproc) {
			il = np;
			p[np].fd = a->link.fd;
			p[np].events = link_pending(&a->link) ? POLLOUT : 0;
			/*
			 * A slow target stops us reading the gateway, unless we wait
			 * for acks ourselves (reading on avoids a deadlock with a
			 * target that only reads once it can write).
			 */
			if (buf_len(&a->tbuf) < AGENT_TARGET_BUF / 2 || dc_window_room(a->dc) == 0)
				p[np].events |= POLLIN;
			np++;
		}
		if (a->ts == T_CONNECTING || a->ts == T_OPEN) {
			it = np;
			p[np].fd = a->tfd;
			p[np].events = 0;
			if (a->ts == T_CONNECTING || buf_len(&a->tbuf) > 0)
				p[np].events |= POLLOUT;
			if (can_read_target(a, now))
				p[np].events |= POLLIN;
			np++;
		}
		if (a->gw != NULL) {
			if (gateway_prepare(a->gw, &p[np], &timeout)) {
				gateway_end(a->gw);
				a->gw = NULL;
				continue; /* the link's end shows at the top */
			}
			ig = np++;
			/* It handed us frames, or has room for ours again: no sleep. */
			if (a->link.inproc && (link_pending(&a->link) > 0 ||
					       (buf_len(&a->link.rx) > 0 && !target_stalled(a))))
				timeout = 0;
		}
		for (int i = 0; i < np; i++) {
			p[i].revents = 0;
			if (p[i].events == 0)
				p[i].fd = -1; /* idle: a hang-up must not wake us in a loop */
		}
		if (poll(p, (nfds_t)np, timeout) < 0 && errno != EINTR)
			return E_IO;
		now = loop_now_ms();
		if (p[0].revents & POLLIN)
			accept_link(a, now);
		if (ig >= 0 && a->gw != NULL) {
			gateway_handle(a->gw, p[ig].revents);
			if (a->link.inproc)
				link_frames(a, now);
		}
		if (il >= 0 && link_up(&a->link) && p[il].fd >= 0) {
			if (p[il].revents & (POLLIN | POLLERR | POLLHUP)) {
				int lr = link_read(&a->link);
				link_frames(a, now);
				if (lr < 0)
					link_lost(a, now, 0);
			}
			if (link_up(&a->link) && (p[il].revents & POLLOUT) &&
			    link_flush(&a->link) < 0)
				link_lost(a, now, 0);
		}
		if (it >= 0 && p[it].fd >= 0 && a->tfd == p[it].fd) {
			if (a->ts == T_CONNECTING && (p[it].revents & (POLLOUT | POLLERR | POLLHUP))) {
				int err = 0;
				socklen_t len = sizeof(err);
				getsockopt(a->tfd, SOL_SOCKET, SO_ERROR, &err, &len);
				if (err != 0) {
					char out[384];
					snprintf(out, sizeof(out), "Unable to connect to specified port: "
						 "dial tcp %s:%u: connect: %s", a->r->target_host,
						 (unsigned)a->r->target_port, strerror(err));
					state_stats_add(a->r->state_dir, "target_refused", 1);
					finish(a, "target refused", out, now);
					return 0;
				}
				a->ts = T_OPEN;
				log_verbose(a->r->lg, "agent %s: target connected", a->s.id);
				dc_input_ready(a->dc, now);
			} else if (a->ts == T_OPEN) {
				if ((p[it].revents & POLLOUT) && target_write(a) < 0) {
					log_verbose(a->r->lg, "agent %s: target write failed", a->s.id);
					a->target_eof = 1;
					buf_reset(&a->tbuf);
				}
				if ((p[it].revents & (POLLIN | POLLHUP | POLLERR)) &&
				    can_read_target(a, now))
					target_read(a, now);
			}
		}
	}
}

int
agent_run(const struct region *r, const struct session *s, int listen_fd,
	  struct gateway *first, struct err *e)
{
	struct dc_callbacks cb = { .send_frame = cb_send_frame, .deliver = cb_deliver,
				   .event = cb_event };
	struct dc_config cfg;
	char props[64];
	struct agent a;
	int rc;

	memset(&a, 0, sizeof(a));
	a.r = r;
	a.s = *s;
	a.lfd = listen_fd;
	a.tfd = -1;
	buf_init(&a.tbuf, AGENT_TARGET_HARD);
	buf_init(&a.obuf, 0);
	buf_init(&a.held, 0);
	link_init(&a.link, -1);
	a.gw = first;
	gateway_pair(first, &a.link);
	cb.arg = &a;
	snprintf(props, sizeof(props), "{\"portNumber\":\"%u\"}", (unsigned)s->port);
	memset(&cfg, 0, sizeof(cfg));
	cfg.role = DC_AGENT;
	cfg.agent_version = REGION_AGENT_VERSION;
	cfg.session_type = "Port";
	cfg.properties_json = props;
	cfg.target_id = s->target;
	cfg.extra_actions_json = hostile_extra_actions(r);
	cfg.trust_digests = r->f.trust_digests;
	cfg.log = r->lg;
	rc = dc_new(&a.dc, &cfg, &cb, e);
	if (rc == 0) {
		log_verbose(r->lg, "agent %s: started for %s port %u", s->id, s->target,
			    (unsigned)s->port);
		/* --hostile no-handshake: an agent that never speaks first. */
		rc = hostile_on(r, HOSTILE_NO_HANDSHAKE) ? 0 : dc_start(a.dc, loop_now_ms());
		if (rc == 0)
			rc = loop(&a);
		else
			err_set(e, rc, "cannot start the data channel");
		write_stats(&a);
	}
	record_end(&a);
	target_close(&a);
	link_close(&a.link);
	buf_free(&a.tbuf);
	buf_free(&a.obuf);
	buf_free(&a.held);
	dc_free(a.dc);
	/* A gateway still cutting its websocket (--drop-mode) ends with this process. */
	return rc;
}
