/*
 * datachannel.c: the data-channel state machine (protocol reference,
 * sections 3 and 5).
 *
 * Outgoing stream messages live in a ring of fixed-size slots allocated in
 * dc_new (one per window position), so sending never allocates. Their
 * sequence numbers are consecutive from the ring head, which makes an ack a
 * constant-time lookup. Out-of-order input sits in a second ring indexed by
 * seq % capacity; only seq in (expected, expected + capacity) is kept.
 *
 * Nothing here recurses on peer input: buffered input is drained by a loop,
 * and every loop is bounded by a ring size.
 */
#include "datachannel.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/rand.h>

#include "handshake.h"

/* A stored outgoing frame: header plus one full stream chunk. */
#define DC_OUT_FRAME_MAX (AGENTMSG_HEADER_SIZE + AGENTMSG_STREAM_CHUNK)
#define DC_OUT_RING_MIN 64 /* first ring: 64 slots, about 78 KiB */
#define DC_OUT_RING_STEP 128 /* then 128 more at a time, about 150 KiB */
#define DC_PACE_SAMPLES 4
/* A round trip measured on a message sent with at most this many unacked
 * (itself included) waited in no queue of ours: only such samples give the
 * least RTT, or the window's own queueing would feed back into it. */
#define DC_PACE_CLEAN 4
#define DC_PACE_INTERVAL_MIN_MS 50 /* acks come in bursts: average them */
#define DC_PACE_RTT_TTL_MS 10000 /* a least RTT older than this is forgotten */
/*
 * The window is DC_PACE_GAIN round trips' worth of the delivery rate. Once
 * the sampling interval is the round trip itself (DC_PACE_INTERVAL_MIN_MS or
 * more), a rate sample shows the window of one interval before, so with that
 * gain the window would double only every other round trip at the start of
 * a transfer (at 100 ms each way it took five round trips, not three, to
 * reach ssh's own 2 MiB channel window). Until the rate stops growing by a
 * quarter for DC_PACE_STARTUP_ROUNDS intervals the gain on such a path is
 * DC_PACE_STARTUP_GAIN, which doubles the window every round trip, as TCP
 * slow start does. On shorter paths the interval spans several round trips,
 * the lag is small, and a larger gain would only queue more.
 */
#define DC_PACE_GAIN 2
#define DC_PACE_STARTUP_GAIN 4
#define DC_PACE_STARTUP_ROUNDS 3
/* How often dc_tick retries input that deliver refused after it was acked. */
#define DC_INPUT_RETRY_MS 100
/* Random bytes fetched at once for message ids: one RAND_bytes call per
 * message costs a system call (OpenSSL's fork check), which dominated the
 * per-message cost; 4 KiB serves 256 ids. */
#define DC_RAND_POOL 4096
/*
 * Client: the agent dials the target only after HandshakeComplete and drops
 * (does not ack) stream data that arrives before the dial completed. Input
 * sent right after the handshake (ssh's banner) would then wait a whole RTO
 * (>= 300 ms) on every connect. Until the first stream message after the
 * handshake is acked, the oldest message is therefore resent after a short
 * timer instead: twice the handshake's round trip plus this, doubling with
 * each try up to the normal RTO. Ports whose server speaks second lose
 * nothing (their data is only resent sooner; the agent drops duplicates).
 */
#define DC_EARLY_RTO_MS 10
/* RFC 6298 clock granularity term (section 3.10 ClockGranularity). */
#define DC_CLOCK_GRANULARITY_US 10000

/* Outcome of processing one in-sequence message (besides E_* < 0). */
enum { P_DONE = 0, P_NOT_READY = 1 };

struct out_slot {
	int64_t seq;
	uint64_t first_sent, last_sent; /* ms, caller's monotonic clock */
	uint32_t tx;                    /* transmissions; 0 = queued while paused */
	uint8_t acked;
	uint8_t clean;                  /* first sent with next to nothing ahead */
	uint8_t id[16];
	uint32_t len;
	uint8_t *frame;                 /* DC_OUT_FRAME_MAX bytes in one of out_blocks */
};

struct in_slot {
	int64_t seq;                    /* valid if used */
	uint8_t used;                   /* zeroed memory is a free slot: no init pass */
	enum agentmsg_kind kind;
	char type[AGENTMSG_TYPE_SIZE + 1];
	uint32_t payload_type;
	uint32_t payload_len;
	uint32_t schema_version;
	uint32_t header_len;
	uint64_t flags;
	uint8_t id[16];
	size_t size;
	uint8_t *data;                  /* size bytes, freed once processed */
};

struct dc {
	enum dc_role role;
	char client_version[DC_VERSION_MAX];
	char agent_version[DC_VERSION_MAX];
	char session_type[HS_NAME_MAX];
	char *properties_json;
	char *extra_actions;
	char *target_id;
	struct dc_callbacks cb;
	const struct logger *log;

	enum dc_state state;
	struct err err;
	struct dc_stats st;
	int in_call;

	/* Outgoing ring: out_cap slots now, grown in steps up to out_max (the
	 * window), so memory follows what is really in flight. The frames live
	 * in blocks, one per growth, that never move. */
	struct out_slot *out;
	uint8_t **out_blocks;
	size_t out_nblocks;
	size_t out_cap, out_max, out_head, out_count;
	size_t out_acked;               /* acked slots behind an unacked head */
	int64_t next_seq;
	int paused;
	int want_room;

	/* Window from the path (cfg.pace): acks counted per interval give the
	 * delivery rate (msgs/s, the best of DC_PACE_SAMPLES intervals). */
	int pace;
	int trust_digests;
	size_t pace_win;
	uint64_t bw_t0, bw_acked;
	uint64_t bw[DC_PACE_SAMPLES];
	size_t bw_i;
	int pace_startup;               /* the rate still grows: DC_PACE_STARTUP_GAIN */
	int bw_limited;                 /* the window held data back this interval */
	uint64_t startup_bw;            /* best rate so far in startup */
	unsigned startup_flat;          /* intervals since it grew by a quarter */
	int64_t min_rtt_ms;             /* -1: no sample yet */
	uint64_t min_rtt_at;

	/* Retransmission timer, microseconds. */
	int64_t srtt_us, rttvar_us, rto_us, rto_min_us, rto_max_us;
	int64_t last_rtt_us;            /* the latest sample, -1: none yet */
	int early;                      /* client: short timer, see DC_EARLY_RTO_MS */
	uint64_t early_rto_ms;
	int64_t early_seq;              /* first seq sent after the handshake */

	/* Incoming side. */
	struct in_slot *in;             /* NULL until a message arrives out of order */
	size_t in_cap;
	size_t in_held;                 /* slots whose data is allocated */
	int64_t expected;
	int input_blocked;

	/* Handshake. */
	uint64_t start_ms;
	uint32_t hs_timeout_ms;
	int hs_responded;               /* client: HandshakeResponse queued */
	struct hs_request req;          /* agent: what we asked for */
	char peer_version[DC_VERSION_MAX];

	struct agentmsg_hasher *hasher; /* SHA-256 fetched once */
	struct buf frame;               /* scratch: one encoded frame */
	struct buf pay;                 /* scratch: one payload */
	uint8_t rnd[DC_RAND_POOL];      /* random bytes for message ids */
	size_t rnd_off;                 /* used bytes of rnd */
	uint64_t clock_now;             /* the caller's ms clock at clock_wall's reading */
	uint64_t clock_wall;            /* wall-clock ms for CreatedDate; 0: not read yet */
};

static const char *
role_name(const struct dc *dc)
{
	return dc->role == DC_CLIENT ? "client" : "agent";
}

static int
terminal(const struct dc *dc)
{
	return dc->state == DC_ST_CLOSED || dc->state == DC_ST_FAILED;
}

static int
terminal_code(const struct dc *dc)
{
	if (dc->state == DC_ST_FAILED)
		return dc->err.code ? dc->err.code : E_PROTO;
	return E_CLOSED;
}

static void
emit(struct dc *dc, enum dc_event_type type, int code, uint32_t flag, const char *text,
     const char *sid)
{
	struct dc_event ev = {
		.type = type, .code = code, .flag = flag,
		.text = text ? text : "", .session_id = sid ? sid : "",
	};

	if (dc->cb.event != NULL)
		dc->cb.event(dc->cb.arg, &ev);
}

/* Ends the session with a reason; returns code. */
static int fail(struct dc *dc, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int
fail(struct dc *dc, int code, const char *fmt, ...)
{
	va_list ap;

	if (terminal(dc))
		return terminal_code(dc);
	dc->state = DC_ST_FAILED;
	dc->err.code = code;
	va_start(ap, fmt);
	vsnprintf(dc->err.msg, sizeof(dc->err.msg), fmt, ap);
	va_end(ap);
	log_debug(dc->log, "data channel (%s) failed: %s", role_name(dc), dc->err.msg);
	emit(dc, DC_EV_FAILED, code, 0, dc->err.msg, NULL);
	return code;
}

/* Counts a protocol violation by the client (agent role only). */
static void violation(struct dc *dc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void
violation(struct dc *dc, const char *fmt, ...)
{
	char line[ERR_MSG_MAX];
	va_list ap;

	if (dc->role != DC_AGENT)
		return;
	dc->st.violations++;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_notice(dc->log, "client protocol violation: %s", line);
}

/* ---------------------------------------------------------------- output */

static int
send_raw(struct dc *dc, const uint8_t *frame, size_t len)
{
	int r = dc->cb.send_frame ? dc->cb.send_frame(dc->cb.arg, frame, len) : E_IO;

	dc->st.frames_out++;
	/* A lost frame is recovered by retransmission; only worth a note. */
	if (r != 0)
		log_debug(dc->log, "frame of %zu bytes not sent: %s", len, err_str(r));
	return r;
}

static void
transmit(struct dc *dc, struct out_slot *s, uint64_t now)
{
	if (s->tx > 0)
		dc->st.retransmits++;
	if (s->tx == 0) {
		s->first_sent = now;
		s->clean = dc->out_count - dc->out_acked <= DC_PACE_CLEAN;
	}
	if (s->tx < UINT32_MAX)
		s->tx++;
	s->last_sent = now;
	log_trace(dc->log, "send seq %" PRId64 " (%" PRIu32 " bytes, try %" PRIu32 ")", s->seq,
	    s->len, s->tx);
	send_raw(dc, s->frame, s->len);
}

/* A version 4 UUID (as uuid_v4) from the pool; returns 0 or E_IO. */
static int
new_id(struct dc *dc, uint8_t id[16])
{
	if (dc->rnd_off + 16 > sizeof(dc->rnd)) {
		if (RAND_bytes(dc->rnd, (int)sizeof(dc->rnd)) != 1)
			return E_IO;
		dc->rnd_off = 0;
	}
	memcpy(id, dc->rnd + dc->rnd_off, 16);
	dc->rnd_off += 16;
	id[6] = (uint8_t)((id[6] & 0x0f) | 0x40); /* version 4 */
	id[8] = (uint8_t)((id[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	return 0;
}

/*
 * Reads the wall clock for CreatedDate once per tick of the caller's ms
 * clock, not for every message: at a few hundred thousand messages a
 * second the reads showed in the profile, and the field has ms resolution.
 */
static void
clock_at(struct dc *dc, uint64_t now)
{
	if (dc->clock_wall != 0 && now == dc->clock_now)
		return;
	dc->clock_now = now;
	dc->clock_wall = agentmsg_now_ms();
}

/* Encodes m into out (emptied first); returns 0 or E_* (logged). */
static int
encode_to(struct dc *dc, struct agentmsg *m, struct buf *out)
{
	struct err e = { 0 };
	int r;

	m->created_ms = dc->clock_wall; /* 0 (no entry point read it): encode reads it */
	buf_reset(out);
	if ((r = new_id(dc, m->id)) != 0) {
		log_error(dc->log, "cannot generate a message id: %s", err_str(r));
		return r;
	}
	if ((r = agentmsg_encode_h(out, m, dc->hasher, &e)) != 0)
		log_error(dc->log, "%s", e.msg);
	return r;
}

/* Encodes m into dc->frame; returns 0 or E_* (logged). */
static int
encode(struct dc *dc, struct agentmsg *m)
{
	return encode_to(dc, m, &dc->frame);
}

/*
 * Grows the outgoing ring by a step (up to the window), keeping the queued
 * frames in order from slot 0. Few messages are in flight on a fast path, so
 * the ring (DC_OUT_FRAME_MAX bytes a slot) starts small and grows in steps
 * rather than doubling: a ring cycles through all its slots, so every slot
 * ends up resident. Frames stay in place; only the slot records move.
 * E_FULL at the window.
 */
static int
out_grow(struct dc *dc)
{
	size_t ncap = dc->out_cap == 0 ? DC_OUT_RING_MIN : dc->out_cap + DC_OUT_RING_STEP;
	size_t nnew, j;
	struct out_slot *ns;
	uint8_t **nb, *blk;

	if (dc->out_cap >= dc->out_max)
		return E_FULL;
	if (ncap > dc->out_max)
		ncap = dc->out_max;
	nnew = ncap - dc->out_cap;
	if ((nb = realloc(dc->out_blocks, (dc->out_nblocks + 1) * sizeof(*nb))) == NULL)
		return E_NOMEM;
	dc->out_blocks = nb;
	ns = calloc(ncap, sizeof(*ns));
	blk = malloc(nnew * DC_OUT_FRAME_MAX);
	if (ns == NULL || blk == NULL) {
		free(ns);
		free(blk);
		return E_NOMEM;
	}
	dc->out_blocks[dc->out_nblocks++] = blk;
	/* Queued slots first, in order; then the free ones, then the new. */
	for (j = 0; j < dc->out_cap; j++)
		ns[j] = dc->out[(dc->out_head + j) % dc->out_cap];
	for (size_t i = 0; i < nnew; i++)
		ns[j + i].frame = blk + i * DC_OUT_FRAME_MAX;
	free(dc->out);
	dc->out = ns;
	dc->out_cap = ncap;
	dc->out_head = 0;
	return 0;
}

/* Stream data may fill the ring up to this; flags and the handshake use
 * the whole window. */
static size_t
send_limit(const struct dc *dc)
{
	return dc->pace && dc->pace_win < dc->out_max ? dc->pace_win : dc->out_max;
}

/* Queues one stream message in sequence and sends it unless paused; p may
 * point into dc->pay or dc->frame (only the slot is written). E_FULL,
 * E_RANGE if the frame exceeds a slot, or an encoding error. */
static int
queue_msg(struct dc *dc, uint32_t pt, const uint8_t *p, size_t n, uint64_t flags, uint64_t now)
{
	struct agentmsg m = { 0 };
	struct out_slot *s;
	struct buf fb;
	int r;

	if (AGENTMSG_HEADER_SIZE + n > DC_OUT_FRAME_MAX) {
		log_error(dc->log, "message of %zu bytes does not fit a %d-byte slot",
		    AGENTMSG_HEADER_SIZE + n, DC_OUT_FRAME_MAX);
		return E_RANGE;
	}
	if (dc->out_count == dc->out_cap && (r = out_grow(dc)) != 0)
		return r;
	m.kind = dc->role == DC_CLIENT ? AMK_INPUT : AMK_OUTPUT;
	m.seq = dc->next_seq;
	m.flags = flags;
	m.payload_type = pt;
	m.payload = p;
	m.payload_size = n;
	/* Straight into the free slot: the frame is written once, never copied. */
	s = &dc->out[(dc->out_head + dc->out_count) % dc->out_cap];
	buf_fixed(&fb, s->frame, DC_OUT_FRAME_MAX);
	if ((r = encode_to(dc, &m, &fb)) != 0)
		return r;
	s->len = (uint32_t)buf_len(&fb);
	s->seq = dc->next_seq++;
	s->tx = 0;
	s->acked = 0;
	s->first_sent = s->last_sent = 0;
	memcpy(s->id, m.id, sizeof(s->id));
	dc->out_count++;
	if (dc->out_count > dc->st.peak_in_flight)
		dc->st.peak_in_flight = dc->out_count;
	dc->st.msgs_out++;
	if (!dc->paused)
		transmit(dc, s, now);
	return 0;
}

static int
send_ack(struct dc *dc, const struct agentmsg *rx)
{
	struct agentmsg m = { 0 };
	int r;

	buf_reset(&dc->pay);
	if ((r = agentmsg_ack_payload(&dc->pay, rx->type, rx->id, rx->seq)) != 0) {
		log_debug(dc->log, "cannot build the ack of seq %" PRId64 ": %s", rx->seq, err_str(r));
		return r;
	}
	m.kind = AMK_ACK;
	m.flags = AGENTMSG_FLAGS_ACK;
	m.payload_type = PT_NONE;
	m.payload = buf_ptr(&dc->pay);
	m.payload_size = buf_len(&dc->pay);
	if ((r = encode(dc, &m)) != 0)
		return r;
	dc->st.acks_out++;
	log_trace(dc->log, "ack %s seq %" PRId64, rx->type, rx->seq);
	return send_raw(dc, buf_ptr(&dc->frame), buf_len(&dc->frame));
}

/* Sends what was queued while paused, in order, and reports the resume. */
static void
resume(struct dc *dc, uint64_t now, const char *why)
{
	if (!dc->paused)
		return;
	dc->paused = 0;
	log_debug(dc->log, "publication resumed (%s)", why);
	for (size_t i = 0; i < dc->out_count; i++) {
		struct out_slot *s = &dc->out[(dc->out_head + i) % dc->out_cap];

		if (s->tx == 0 && !s->acked)
			transmit(dc, s, now);
	}
	emit(dc, DC_EV_RESUMED, 0, 0, why, NULL);
}

/* ------------------------------------------------------------------ acks */

/*
 * RFC 6298 estimator with the constants of section 3.10, plus a floor.
 * Why a floor: during a bulk transfer thousands of messages are queued
 * ahead of the one being timed, so its ack comes back after the whole queue
 * drained (a full 5000-message window takes ~100 ms at 50 MB/s), not after
 * one round trip. An estimate learnt from fast acks on an idle link (a few
 * ms) would then fire on every queued message. 300 ms covers a 100 ms round
 * trip plus a full window of queueing with margin, and a lost frame (rare
 * on a websocket over TCP) still costs well under a second.
 */
static void
rtt_sample(struct dc *dc, uint64_t sent, uint64_t now, int clean)
{
	int64_t s, d, rto;

	if (now < sent)
		return;
	s = (int64_t)((now - sent) > 3600000 ? 3600000 : (now - sent)) * 1000;
	dc->last_rtt_us = s;
	if (clean && (dc->min_rtt_ms < 0 || s / 1000 <= dc->min_rtt_ms ||
	    now - dc->min_rtt_at > DC_PACE_RTT_TTL_MS)) {
		dc->min_rtt_ms = s / 1000;
		dc->min_rtt_at = now;
	}
	d = dc->srtt_us > s ? dc->srtt_us - s : s - dc->srtt_us;
	dc->rttvar_us = (3 * dc->rttvar_us + d) / 4; /* uses the old RTT */
	dc->srtt_us = (7 * dc->srtt_us + s) / 8;
	rto = dc->srtt_us + (4 * dc->rttvar_us > DC_CLOCK_GRANULARITY_US ?
	    4 * dc->rttvar_us : DC_CLOCK_GRANULARITY_US);
	if (rto < dc->rto_min_us)
		rto = dc->rto_min_us;
	if (rto > dc->rto_max_us)
		rto = dc->rto_max_us;
	dc->rto_us = rto;
}

/*
 * Counts one newly acked message and, once per interval (at least the least
 * round trip), turns the count into a rate sample and the window from the
 * best recent rate: twice (in startup four times) the messages delivered in
 * a round trip plus slack. In startup, while the window limits sending, it
 * doubles each round trip (see DC_PACE_STARTUP_GAIN).
 */
static void
pace_on_ack(struct dc *dc, uint64_t now)
{
	uint64_t iv, best = 0, rtt, w, sample, gain;

	if (!dc->pace)
		return;
	dc->bw_acked++;
	iv = dc->min_rtt_ms > DC_PACE_INTERVAL_MIN_MS ? (uint64_t)dc->min_rtt_ms :
	    DC_PACE_INTERVAL_MIN_MS;
	if (dc->bw_t0 == 0 || now < dc->bw_t0) {
		dc->bw_t0 = now;
		dc->bw_acked = 0;
		return;
	}
	if (now - dc->bw_t0 < iv)
		return;
	sample = dc->bw_acked * 1000 / (now - dc->bw_t0);
	dc->bw[dc->bw_i++ % DC_PACE_SAMPLES] = sample;
	dc->bw_t0 = now;
	dc->bw_acked = 0;
	for (size_t i = 0; i < DC_PACE_SAMPLES; i++)
		if (dc->bw[i] > best)
			best = dc->bw[i];
	/* Only an interval the window held back says the path is full: one
	 * where the sender had less to send (a handshake, typing) says nothing. */
	if (dc->pace_startup && dc->bw_limited) {
		if (sample * 4 >= dc->startup_bw * 5) {
			dc->startup_bw = sample;
			dc->startup_flat = 0;
		} else if (++dc->startup_flat >= DC_PACE_STARTUP_ROUNDS) {
			dc->pace_startup = 0;
			log_trace(dc->log, "pacing: startup over at %" PRIu64 " msgs/s", best);
		}
	}
	dc->bw_limited = 0;
	rtt = (dc->min_rtt_ms > 0 ? (uint64_t)dc->min_rtt_ms : 0) + DC_PACE_SLACK_MS;
	gain = dc->pace_startup && dc->min_rtt_ms >= DC_PACE_INTERVAL_MIN_MS ?
	    DC_PACE_STARTUP_GAIN : DC_PACE_GAIN;
	w = gain * best * rtt / 1000;
	if (w <= DC_PACE_MIN && !dc->pace_startup) {
		/* Quiet since: the next transfer opens the window as the first did. */
		dc->pace_startup = 1;
		dc->startup_bw = 0;
		dc->startup_flat = 0;
	}
	w = w < DC_PACE_MIN ? DC_PACE_MIN : w > dc->out_max ? dc->out_max : w;
	if (w != dc->pace_win)
		log_trace(dc->log, "window %" PRIu64 " (%" PRIu64 " msgs/s, least RTT %" PRId64 " ms)",
		    w, best, dc->min_rtt_ms);
	dc->pace_win = (size_t)w;
	dc->st.pace_window = w;
}

static uint64_t
rto_ms(const struct dc *dc)
{
	return (uint64_t)(dc->rto_us + 999) / 1000;
}

/* The retransmission timeout of ring head s (see DC_EARLY_RTO_MS). */
static uint64_t
head_rto_ms(const struct dc *dc, const struct out_slot *s)
{
	uint64_t rto = rto_ms(dc), early;

	if (!dc->early || s->tx == 0 || s->seq < dc->early_seq)
		return rto;
	early = dc->early_rto_ms << (s->tx - 1 < 8 ? s->tx - 1 : 8);
	return early < rto ? early : rto;
}

/* Agent role: checks the ack JSON beyond the sequence number. */
static void
check_ack_fields(struct dc *dc, const struct agentmsg *m, const struct out_slot *s)
{
	const cJSON *t, *id;
	uint8_t got[16];
	cJSON *root;

	if (m->seq != 0 || m->flags != AGENTMSG_FLAGS_ACK)
		violation(dc, "ack header has seq %" PRId64 " flags %" PRIu64 " (want 0 and 3)",
		    m->seq, m->flags);
	/* The form agentmsg_ack_payload writes is right without a JSON parse,
	 * which would cost the test agent more than the rest of the ack. */
	buf_reset(&dc->pay);
	if (s != NULL && agentmsg_ack_payload(&dc->pay, AM_OUTPUT, s->id, s->seq) == 0 &&
	    buf_len(&dc->pay) == m->payload_size &&
	    memcmp(buf_ptr(&dc->pay), m->payload, m->payload_size) == 0)
		return;
	if ((root = hs_json_object(m->payload, m->payload_size, "acknowledge", NULL)) == NULL)
		return; /* already refused by agentmsg_ack_parse */
	t = cJSON_GetObjectItem(root, "AcknowledgedMessageType");
	if (!cJSON_IsString(t) || strcmp(t->valuestring, AM_OUTPUT) != 0)
		violation(dc, "ack does not name %s as the acknowledged type", AM_OUTPUT);
	id = cJSON_GetObjectItem(root, "AcknowledgedMessageId");
	if (s != NULL && (!cJSON_IsString(id) || uuid_parse(id->valuestring, got) != 0 ||
	    memcmp(got, s->id, sizeof(got)) != 0))
		violation(dc, "ack of seq %" PRId64 " names another message id", s->seq);
	cJSON_Delete(root);
}

static void
on_ack(struct dc *dc, const struct agentmsg *m, uint64_t now)
{
	struct out_slot *s = NULL;
	struct err e = { 0 };
	int64_t seq, base;

	dc->st.acks_in++;
	if (agentmsg_ack_parse(m->payload, m->payload_size, &seq, &e) != 0) {
		log_debug(dc->log, "ignoring an ack: %s", e.msg);
		violation(dc, "%s", e.msg);
		return;
	}
	base = dc->out_count ? dc->out[dc->out_head].seq : dc->next_seq;
	if (seq >= base && seq < dc->next_seq)
		s = &dc->out[(dc->out_head + (size_t)(seq - base)) % dc->out_cap];
	if (dc->role == DC_AGENT)
		check_ack_fields(dc, m, s);
	/* As the agent: an ack means the other side is publishing again. */
	resume(dc, now, "ack received");
	if (seq >= dc->next_seq) {
		log_debug(dc->log, "ignoring an ack for seq %" PRId64 ", never sent", seq);
		violation(dc, "ack for seq %" PRId64 ", never sent", seq);
		return;
	}
	if (s == NULL || s->acked) {
		log_trace(dc->log, "ack for seq %" PRId64 " again", seq);
		return;
	}
	if (s->tx == 0) {
		violation(dc, "ack for seq %" PRId64 " before it was sent", seq);
		return;
	}
	s->acked = 1;
	dc->out_acked++;
	pace_on_ack(dc, now);
	if (dc->early && s->seq >= dc->early_seq)
		dc->early = 0; /* the agent takes stream data now */
	log_trace(dc->log, "acked seq %" PRId64, seq);
	if (s->tx == 1) /* Karn: a resent message's ack is ambiguous */
		rtt_sample(dc, s->first_sent, now, s->clean);
	while (dc->out_count > 0 && dc->out[dc->out_head].acked) {
		dc->out_head = (dc->out_head + 1) % dc->out_cap;
		dc->out_count--;
		dc->out_acked--;
	}
	if (dc->want_room && dc_window_room(dc) > 0) {
		dc->want_room = 0;
		emit(dc, DC_EV_WINDOW_OPEN, 0, 0, NULL, NULL);
	}
}

/* ------------------------------------------------------------- handshake */

static int
client_on_hs_request(struct dc *dc, const struct agentmsg *m, uint64_t now)
{
	struct hs_result res[HS_MAX_ACTIONS];
	char errs[HS_MAX_ACTIONS][HS_TEXT_MAX];
	char reason[ERR_MSG_MAX] = "";
	struct hs_request req;
	struct err e = { 0 };
	int r;

	if (dc->hs_responded) {
		log_debug(dc->log, "ignoring a repeated handshake request");
		return 0;
	}
	if (hs_request_parse(m->payload, m->payload_size, &req, &e) != 0)
		return fail(dc, E_PROTO, "%s", e.msg);
	hs_copy_text(dc->peer_version, sizeof(dc->peer_version), req.agent_version);
	log_verbose(dc->log, "agent version %s", dc->peer_version[0] ? dc->peer_version : "unknown");
	for (size_t i = 0; i < req.n_actions; i++) {
		const struct hs_req_action *a = &req.actions[i];

		res[i].type = a->type;
		res[i].error = errs[i];
		errs[i][0] = '\0';
		switch (a->kind) {
		case HSA_SESSION_TYPE:
			if (strcmp(a->session_type, "Port") == 0) {
				res[i].status = HS_SUCCESS;
				break;
			}
			res[i].status = HS_FAILED;
			snprintf(errs[i], sizeof(errs[i]), "session type %s is not supported, "
			    "only Port", a->session_type);
			if (!reason[0])
				snprintf(reason, sizeof(reason), "the agent offered a session of type "
				    "\"%s\", but only Port sessions are supported", a->session_type);
			break;
		case HSA_KMS:
			res[i].status = HS_FAILED;
			snprintf(errs[i], sizeof(errs[i]), "KMS encryption is not used by Port sessions");
			if (!reason[0])
				snprintf(reason, sizeof(reason), "the agent requested KMS encryption, "
				    "which port sessions never use");
			break;
		default:
			/* The agent decides; it cancels unless the action was optional. */
			res[i].status = HS_UNSUPPORTED;
			snprintf(errs[i], sizeof(errs[i]), "unsupported action type %s", a->type);
			log_verbose(dc->log, "agent requested unsupported action %s", a->type);
			break;
		}
	}
	buf_reset(&dc->pay);
	if ((r = hs_response_build(&dc->pay, dc->client_version, res, req.n_actions, &e)) != 0)
		return fail(dc, r, "%s", e.msg);
	if ((r = queue_msg(dc, PT_HANDSHAKE_RESPONSE, buf_ptr(&dc->pay), buf_len(&dc->pay), 0,
	    now)) != 0)
		return fail(dc, r, "cannot send the handshake response: %s", err_str(r));
	dc->hs_responded = 1;
	if (reason[0])
		return fail(dc, E_PROTO, "%s", reason);
	return 0;
}

static int
client_on_hs_complete(struct dc *dc, const struct agentmsg *m)
{
	char msg[HS_TEXT_MAX];
	struct err e = { 0 };
	int64_t ns;

	if (dc->state == DC_ST_OPEN) {
		log_debug(dc->log, "ignoring a repeated handshake complete");
		return 0;
	}
	if (!dc->hs_responded)
		return fail(dc, E_PROTO, "the agent completed the handshake before requesting it");
	/* Lenient: the message only carries information. */
	if (hs_complete_parse(m->payload, m->payload_size, &ns, msg, sizeof(msg), &e) != 0) {
		log_debug(dc->log, "%s", e.msg);
		msg[0] = '\0';
		ns = 0;
	}
	dc->state = DC_ST_OPEN;
	dc->early = 1;
	dc->early_seq = dc->next_seq;
	dc->early_rto_ms = DC_EARLY_RTO_MS +
	    (dc->last_rtt_us > 0 ? 2 * (uint64_t)dc->last_rtt_us / 1000 : 0);
	log_verbose(dc->log, "handshake complete in %" PRId64 " ms%s%s", ns / 1000000,
	    msg[0] ? ", agent says: " : "", msg);
	emit(dc, DC_EV_HANDSHAKE_COMPLETE, 0, 0, msg, NULL);
	return 0;
}

static int
agent_on_hs_response(struct dc *dc, const struct agentmsg *m, uint64_t now)
{
	struct hs_response resp;
	struct err e = { 0 };
	uint64_t took;
	int r;

	if (dc->state != DC_ST_HANDSHAKE) {
		violation(dc, "handshake response outside the handshake");
		return 0;
	}
	if (hs_response_parse(m->payload, m->payload_size, &resp, &e) != 0) {
		violation(dc, "%s", e.msg);
		return fail(dc, E_PROTO, "%s", e.msg);
	}
	hs_copy_text(dc->peer_version, sizeof(dc->peer_version), resp.client_version);
	if (resp.n_actions != dc->req.n_actions) {
		violation(dc, "handshake response answers %zu of %zu actions", resp.n_actions,
		    dc->req.n_actions);
		return fail(dc, E_PROTO, "the client answered %zu of %zu requested actions",
		    resp.n_actions, dc->req.n_actions);
	}
	for (size_t i = 0; i < resp.n_actions; i++) {
		if (strcmp(resp.actions[i].type, dc->req.actions[i].type) != 0) {
			violation(dc, "handshake response action %zu is %s, requested %s", i,
			    resp.actions[i].type, dc->req.actions[i].type);
			return fail(dc, E_PROTO, "the client answered action %s with %s",
			    dc->req.actions[i].type, resp.actions[i].type);
		}
		if (resp.actions[i].status != HS_SUCCESS)
			return fail(dc, E_PROTO, "the client refused action %s (status %d): %s",
			    resp.actions[i].type, resp.actions[i].status,
			    resp.actions[i].error[0] ? resp.actions[i].error : "no reason given");
	}
	/* Bounded so the nanoseconds cannot overflow whatever clock is passed in. */
	took = now > dc->start_ms ? now - dc->start_ms : 0;
	if (took > 86400000)
		took = 86400000;
	buf_reset(&dc->pay);
	if ((r = hs_complete_build(&dc->pay, (int64_t)took * 1000000, "", &e)) != 0)
		return fail(dc, r, "%s", e.msg);
	if ((r = queue_msg(dc, PT_HANDSHAKE_COMPLETE, buf_ptr(&dc->pay), buf_len(&dc->pay), 0,
	    now)) != 0)
		return fail(dc, r, "cannot send handshake complete: %s", err_str(r));
	dc->state = DC_ST_OPEN;
	log_verbose(dc->log, "handshake complete, client version %s",
	    dc->peer_version[0] ? dc->peer_version : "unknown");
	emit(dc, DC_EV_DIAL_TARGET, 0, 0, NULL, NULL);
	return 0;
}

/* ---------------------------------------------------------------- input */

static void
in_free(struct dc *dc, int64_t seq)
{
	struct in_slot *s;

	if (dc->in == NULL)
		return;
	s = &dc->in[(uint64_t)seq % dc->in_cap];
	if (s->used && s->seq == seq)
		s->used = 0;
}

static int
on_flag(struct dc *dc, const struct agentmsg *m)
{
	uint32_t v;
	struct buf b;

	buf_view(&b, m->payload, m->payload_size);
	if (m->payload_size != 4 || buf_get_u32(&b, &v) != 0) {
		log_debug(dc->log, "ignoring a flag message of %zu bytes", m->payload_size);
		violation(dc, "flag message of %zu bytes (want 4)", m->payload_size);
		return 0;
	}
	log_verbose(dc->log, "flag %" PRIu32 " received", v);
	if (dc->role == DC_AGENT && v != FLAG_DISCONNECT_TO_PORT && v != FLAG_TERMINATE_SESSION)
		violation(dc, "unknown flag value %" PRIu32, v);
	emit(dc, DC_EV_FLAG, 0, v, NULL, NULL);
	return 0;
}

/*
 * Processes the message at seq == expected (received now or buffered and
 * already acked). Returns P_DONE (acked and consumed), P_NOT_READY (neither)
 * or a negative code when the session ended.
 */
static int
process(struct dc *dc, const struct agentmsg *m, int acked, uint64_t now)
{
	uint32_t pt = m->payload_type;
	int r;

	if (pt == PT_OUTPUT) {
		if (dc->state != DC_ST_OPEN && dc->role == DC_CLIENT) {
			/* As the official client: not acked, so the agent resends it. */
			log_debug(dc->log, "stream data seq %" PRId64 " before the handshake completed",
			    m->seq);
			dc->st.not_ready++;
			return P_NOT_READY;
		}
		if (dc->state != DC_ST_OPEN) {
			/* As the agent: acked and dropped. */
			violation(dc, "stream data seq %" PRId64 " before the handshake completed",
			    m->seq);
		} else if (m->payload_size == 0) {
			violation(dc, "empty stream data seq %" PRId64, m->seq);
		} else {
			r = dc->cb.deliver ? dc->cb.deliver(dc->cb.arg, m->payload, m->payload_size) : 0;
			if (r == E_AGAIN) {
				dc->st.not_ready++;
				return P_NOT_READY;
			}
			if (r < 0)
				return fail(dc, r, "cannot deliver stream data: %s", err_str(r));
			dc->st.bytes_in += m->payload_size;
		}
	}
	/* Everything but stream data is acked before it is handled. */
	if (!acked)
		send_ack(dc, m);
	in_free(dc, m->seq);
	dc->expected++;
	dc->st.msgs_in++;

	switch (pt) {
	case PT_OUTPUT:
		return P_DONE;
	case PT_HANDSHAKE_REQUEST:
		if (dc->role == DC_CLIENT)
			return (r = client_on_hs_request(dc, m, now)) < 0 ? r : P_DONE;
		break;
	case PT_HANDSHAKE_COMPLETE:
		if (dc->role == DC_CLIENT)
			return (r = client_on_hs_complete(dc, m)) < 0 ? r : P_DONE;
		break;
	case PT_HANDSHAKE_RESPONSE:
		if (dc->role == DC_AGENT)
			return (r = agent_on_hs_response(dc, m, now)) < 0 ? r : P_DONE;
		break;
	case PT_FLAG:
		if (dc->role == DC_AGENT && dc->state != DC_ST_OPEN)
			violation(dc, "flag before the handshake completed");
		return on_flag(dc, m);
	default:
		break;
	}
	dc->st.ignored++;
	log_debug(dc->log, "ignoring %s seq %" PRId64 " of payload type %" PRIu32, m->type, m->seq, pt);
	violation(dc, "%s seq %" PRId64 " has payload type %" PRIu32 ", unexpected from a client",
	    m->type, m->seq, pt);
	return P_DONE;
}

/* Rebuilds a message view of a buffered slot. */
static void
in_view(const struct in_slot *s, struct agentmsg *m)
{
	memset(m, 0, sizeof(*m));
	m->kind = s->kind;
	memcpy(m->type, s->type, sizeof(m->type));
	m->seq = s->seq;
	m->flags = s->flags;
	m->payload_type = s->payload_type;
	m->payload_len = s->payload_len;
	m->schema_version = s->schema_version;
	m->header_len = s->header_len;
	memcpy(m->id, s->id, sizeof(m->id));
	m->payload = s->data;
	m->payload_size = s->size;
}

/* Processes buffered messages that have become in-sequence, in order. */
static int
drain(struct dc *dc, uint64_t now)
{
	struct agentmsg m;
	int r;

	dc->input_blocked = 0;
	while (!terminal(dc) && dc->in != NULL) {
		struct in_slot *s = &dc->in[(uint64_t)dc->expected % dc->in_cap];

		if (!s->used || s->seq != dc->expected)
			break;
		in_view(s, &m);
		r = process(dc, &m, 1, now);
		if (!s->used && s->data != NULL) {
			/* Out-of-order storage is rare: give it back once used. */
			free(s->data);
			s->data = NULL;
			dc->in_held--;
		}
		if (r < 0)
			return r;
		if (r == P_NOT_READY) {
			/* Already acked: the peer will not resend it, so retry here. */
			dc->input_blocked = 1;
			break;
		}
	}
	return terminal(dc) ? terminal_code(dc) : 0;
}

/* Keeps a message with seq > expected if it fits; returns 1 if kept. */
static int
in_store(struct dc *dc, const struct agentmsg *m)
{
	struct in_slot *s;

	if ((uint64_t)(m->seq - dc->expected) >= dc->in_cap || m->payload_size > DC_INBUF_PAYLOAD_MAX)
		return 0;
	/* Most sessions never see a message out of order: allocate on the first. */
	if (dc->in == NULL && (dc->in = calloc(dc->in_cap, sizeof(*dc->in))) == NULL)
		return 0;
	s = &dc->in[(uint64_t)m->seq % dc->in_cap];
	if (s->data != NULL) {
		free(s->data);
		dc->in_held--;
	}
	if ((s->data = malloc(m->payload_size > 0 ? m->payload_size : 1)) == NULL)
		return 0;
	dc->in_held++;
	s->used = 1;
	s->seq = m->seq;
	s->kind = m->kind;
	memcpy(s->type, m->type, sizeof(s->type));
	s->payload_type = m->payload_type;
	s->payload_len = m->payload_len;
	s->schema_version = m->schema_version;
	s->header_len = m->header_len;
	s->flags = m->flags;
	memcpy(s->id, m->id, sizeof(s->id));
	s->size = m->payload_size;
	if (m->payload_size > 0)
		memcpy(s->data, m->payload, m->payload_size);
	return 1;
}

static int
on_stream(struct dc *dc, const struct agentmsg *m, uint64_t now)
{
	int r;

	if (m->seq < 0) {
		log_debug(dc->log, "ignoring %s with negative seq %" PRId64, m->type, m->seq);
		violation(dc, "negative seq %" PRId64, m->seq);
		return 0;
	}
	if (dc->role == DC_AGENT) {
		if (m->header_len != AGENTMSG_HL)
			violation(dc, "header length %" PRIu32 " (want %d)", m->header_len, AGENTMSG_HL);
		if (m->schema_version != AGENTMSG_SCHEMA)
			violation(dc, "schema version %" PRIu32, m->schema_version);
		if (m->payload_len != m->payload_size)
			violation(dc, "payload length field %" PRIu32 " but %zu bytes", m->payload_len,
			    m->payload_size);
	}
	resume(dc, now, "stream data received");
	if (m->seq < dc->expected) {
		dc->st.duplicates++;
		log_trace(dc->log, "duplicate seq %" PRId64 " (expected %" PRId64 ")", m->seq,
		    dc->expected);
		send_ack(dc, m);
		return 0;
	}
	if (m->seq > dc->expected) {
		struct in_slot *s = dc->in ? &dc->in[(uint64_t)m->seq % dc->in_cap] : NULL;

		if (s != NULL && (uint64_t)(m->seq - dc->expected) < dc->in_cap && s->used &&
		    s->seq == m->seq) {
			dc->st.duplicates++;
			send_ack(dc, m);
			return 0;
		}
		if (!in_store(dc, m)) {
			/* Silently, as both official peers: it will be resent. */
			dc->st.ooo_dropped++;
			log_trace(dc->log, "dropped seq %" PRId64 " (expected %" PRId64 ")", m->seq,
			    dc->expected);
			return 0;
		}
		dc->st.out_of_order++;
		send_ack(dc, m);
		return 0;
	}
	if ((r = process(dc, m, 0, now)) < 0)
		return r;
	if (r == P_NOT_READY)
		return 0;
	return drain(dc, now);
}

/* channel_closed from the gateway: parsed leniently, never acked. */
static int
on_channel_closed(struct dc *dc, const struct agentmsg *m)
{
	char output[DC_TEXT_MAX] = "", sid[HS_TEXT_MAX] = "";
	const cJSON *it;
	cJSON *root;

	if ((root = hs_json_object(m->payload, m->payload_size, "channel_closed", NULL)) != NULL) {
		if (cJSON_IsString(it = cJSON_GetObjectItem(root, "Output")))
			hs_copy_text(output, sizeof(output), it->valuestring);
		if (cJSON_IsString(it = cJSON_GetObjectItem(root, "SessionId")))
			hs_copy_text(sid, sizeof(sid), it->valuestring);
		cJSON_Delete(root);
	} else {
		log_debug(dc->log, "channel_closed payload is not json");
	}
	dc->state = DC_ST_CLOSED;
	log_verbose(dc->log, "channel closed by the gateway%s%s", output[0] ? ": " : "", output);
	emit(dc, DC_EV_CHANNEL_CLOSED, 0, 0, output, sid);
	return E_CLOSED;
}

/* ------------------------------------------------------------------- API */

static char *
dup_or(const char *s, const char *def)
{
	return strdup(s ? s : def);
}

int
dc_new(struct dc **out, const struct dc_config *cfg, const struct dc_callbacks *cb, struct err *e)
{
	struct dc *dc;
	size_t win, inb;
	uint32_t rto0, rmin, rmax;

	*out = NULL;
	if (cfg == NULL || cb == NULL || cb->send_frame == NULL)
		return err_set(e, E_CONFIG, "data channel: no configuration or send callback");
	if (cfg->role != DC_CLIENT && cfg->role != DC_AGENT)
		return err_set(e, E_CONFIG, "data channel: unknown role %d", (int)cfg->role);
	if ((dc = calloc(1, sizeof(*dc))) == NULL)
		return err_set(e, E_NOMEM, "data channel: out of memory");
	dc->role = cfg->role;
	dc->cb = *cb;
	dc->log = cfg->log;
	buf_init(&dc->frame, 0);
	buf_init(&dc->pay, 0);
	dc->rnd_off = sizeof(dc->rnd); /* empty: filled on first use */
	if (hs_copy_text(dc->client_version, sizeof(dc->client_version),
	    cfg->client_version ? cfg->client_version : DC_CLIENT_VERSION_DEFAULT) ||
	    hs_copy_text(dc->agent_version, sizeof(dc->agent_version),
	    cfg->agent_version ? cfg->agent_version : DC_AGENT_VERSION_DEFAULT) ||
	    hs_copy_text(dc->session_type, sizeof(dc->session_type),
	    cfg->session_type ? cfg->session_type : "Port")) {
		dc_free(dc);
		return err_set(e, E_CONFIG, "data channel: version or session type too long");
	}

	win = cfg->window ? cfg->window : DC_WINDOW_DEFAULT;
	win = win < DC_WINDOW_MIN ? DC_WINDOW_MIN : win > DC_WINDOW_MAX ? DC_WINDOW_MAX : win;
	inb = cfg->inbuf ? cfg->inbuf : DC_INBUF_DEFAULT;
	inb = inb > DC_INBUF_MAX ? DC_INBUF_MAX : inb;
	rto0 = cfg->rto_initial_ms ? cfg->rto_initial_ms : DC_RTO_INITIAL_MS;
	rmin = cfg->rto_min_ms ? cfg->rto_min_ms : DC_RTO_MIN_MS;
	rmax = cfg->rto_max_ms ? cfg->rto_max_ms : DC_RTO_MAX_MS;
	if (rmin > rmax)
		rmin = rmax;
	dc->rto_min_us = (int64_t)rmin * 1000;
	dc->rto_max_us = (int64_t)rmax * 1000;
	dc->srtt_us = 100000; /* section 3.10: RTT 100 ms, RTTVAR 0 */
	dc->last_rtt_us = -1;
	dc->rto_us = (int64_t)rto0 * 1000;
	if (dc->rto_us < dc->rto_min_us)
		dc->rto_us = dc->rto_min_us;
	if (dc->rto_us > dc->rto_max_us)
		dc->rto_us = dc->rto_max_us;
	dc->hs_timeout_ms = cfg->handshake_timeout_ms ? cfg->handshake_timeout_ms :
	    DC_HANDSHAKE_TIMEOUT_MS;

	dc->out_max = win;
	dc->in_cap = inb;
	dc->pace = cfg->pace && cfg->role == DC_CLIENT;
	dc->trust_digests = cfg->trust_digests && cfg->role == DC_AGENT;
	dc->pace_win = DC_PACE_MIN;
	dc->pace_startup = 1;
	dc->st.pace_window = dc->pace ? (win < DC_PACE_MIN ? win : DC_PACE_MIN) : win;
	dc->min_rtt_ms = -1;
	dc->properties_json = dup_or(cfg->properties_json, "{\"portNumber\":\"22\"}");
	dc->extra_actions = dup_or(cfg->extra_actions_json, "");
	dc->target_id = dup_or(cfg->target_id, "");
	if (out_grow(dc) != 0 || agentmsg_hasher_new(&dc->hasher) != 0 ||
	    dc->properties_json == NULL ||
	    dc->extra_actions == NULL || dc->target_id == NULL) {
		dc_free(dc);
		return err_set(e, E_NOMEM, "data channel: out of memory for a window of %zu", win);
	}
	dc->state = DC_ST_NEW;
	*out = dc;
	return 0;
}

void
dc_free(struct dc *dc)
{
	if (dc == NULL)
		return;
	/* Walking every slot would fault in pages never used: stop once all are freed. */
	for (size_t i = 0; dc->in != NULL && dc->in_held > 0 && i < dc->in_cap; i++)
		if (dc->in[i].data != NULL) {
			free(dc->in[i].data);
			dc->in_held--;
		}
	free(dc->in);
	free(dc->out);
	for (size_t i = 0; i < dc->out_nblocks; i++)
		free(dc->out_blocks[i]);
	free(dc->out_blocks);
	free(dc->properties_json);
	free(dc->extra_actions);
	free(dc->target_id);
	agentmsg_hasher_free(dc->hasher);
	buf_free(&dc->frame);
	buf_free(&dc->pay);
	free(dc);
}

#define ENTER(dc, bad) do {                                              \
		if ((dc) == NULL || (dc)->in_call)                       \
			return (bad);                                    \
		(dc)->in_call = 1;                                       \
	} while (0)
#define LEAVE(dc, v) do { (dc)->in_call = 0; return (v); } while (0)

int
dc_start(struct dc *dc, uint64_t now)
{
	struct err e = { 0 };
	int r;

	ENTER(dc, E_INVAL);
	clock_at(dc, now);
	if (dc->state != DC_ST_NEW)
		LEAVE(dc, terminal(dc) ? terminal_code(dc) : E_INVAL);
	dc->start_ms = now;
	dc->state = DC_ST_HANDSHAKE;
	if (dc->role == DC_CLIENT)
		LEAVE(dc, 0);

	buf_reset(&dc->pay);
	if ((r = hs_request_build(&dc->pay, dc->agent_version, dc->session_type, dc->properties_json,
	    dc->extra_actions, &e)) != 0 ||
	    (r = hs_request_parse(buf_ptr(&dc->pay), buf_len(&dc->pay), &dc->req, &e)) != 0)
		LEAVE(dc, fail(dc, r == E_PROTO ? E_CONFIG : r, "%s", e.msg));
	if ((r = queue_msg(dc, PT_HANDSHAKE_REQUEST, buf_ptr(&dc->pay), buf_len(&dc->pay),
	    AGENTMSG_FLAG_SYN, now)) != 0)
		LEAVE(dc, fail(dc, r == E_RANGE ? E_CONFIG : r, "cannot send the handshake request: %s",
		    r == E_RANGE ? "session properties too large" : err_str(r)));
	log_debug(dc->log, "handshake request sent");
	LEAVE(dc, 0);
}

int
dc_receive(struct dc *dc, const uint8_t *frame, size_t len, uint64_t now)
{
	struct agentmsg m;
	struct err e = { 0 };
	int r = 0;

	ENTER(dc, E_INVAL);
	clock_at(dc, now);
	if (terminal(dc))
		LEAVE(dc, terminal_code(dc));
	dc->st.frames_in++;
	if (agentmsg_decode_fields(&m, frame, len, &e) != 0 ||
	    (!dc->trust_digests && agentmsg_check_digest(&m, dc->hasher, &e) != 0)) {
		dc->st.decode_errors++;
		/* As the official client: logged and dropped, no ack. */
		log_debug(dc->log, "dropping a frame: %s", e.msg);
		violation(dc, "%s", e.msg);
		LEAVE(dc, 0);
	}
	log_trace(dc->log, "recv %s seq %" PRId64 " type %" PRIu32 " (%zu bytes)", m.type, m.seq,
	    m.payload_type, m.payload_size);
	switch (m.kind) {
	case AMK_INPUT:
	case AMK_OUTPUT:
		if (m.kind != (dc->role == DC_CLIENT ? AMK_OUTPUT : AMK_INPUT)) {
			dc->st.ignored++;
			log_debug(dc->log, "ignoring %s sent the wrong way", m.type);
			violation(dc, "the client sent %s", m.type);
			break;
		}
		if (dc->state == DC_ST_NEW && dc->role == DC_CLIENT) {
			/* The client has nothing to send first: start on the first message. */
			dc->state = DC_ST_HANDSHAKE;
			dc->start_ms = now;
		}
		if (dc->state == DC_ST_NEW) {
			dc->st.ignored++;
			log_debug(dc->log, "ignoring %s before the session started", m.type);
			violation(dc, "%s before the session started", m.type);
			break;
		}
		r = on_stream(dc, &m, now);
		break;
	case AMK_ACK:
		on_ack(dc, &m, now);
		break;
	case AMK_CHANNEL_CLOSED:
		if (dc->role == DC_CLIENT) {
			r = on_channel_closed(dc, &m);
			break;
		}
		dc->st.ignored++;
		violation(dc, "the client sent channel_closed");
		break;
	case AMK_PAUSE_PUB:
		if (!dc->paused) {
			dc->paused = 1;
			log_debug(dc->log, "publication paused by the gateway");
			emit(dc, DC_EV_PAUSED, 0, 0, NULL, NULL);
		}
		break;
	case AMK_START_PUB:
		resume(dc, now, "start_publication");
		break;
	case AMK_SESSION_STATE:
	default:
		dc->st.ignored++;
		log_debug(dc->log, "ignoring %s", m.type);
		violation(dc, "the client sent %s", m.type);
		break;
	}
	if (r == 0 && terminal(dc))
		r = terminal_code(dc);
	LEAVE(dc, r);
}

ssize_t
dc_send(struct dc *dc, const uint8_t *data, size_t len, uint64_t now)
{
	size_t taken = 0;
	int r = 0;

	ENTER(dc, E_INVAL);
	clock_at(dc, now);
	if (terminal(dc))
		LEAVE(dc, terminal_code(dc));
	if (data == NULL && len > 0)
		LEAVE(dc, E_INVAL);
	if (dc->state != DC_ST_OPEN || len == 0)
		LEAVE(dc, 0);
	while (taken < len && dc->out_count < send_limit(dc)) {
		size_t n = len - taken > AGENTMSG_STREAM_CHUNK ? AGENTMSG_STREAM_CHUNK : len - taken;

		if ((r = queue_msg(dc, PT_OUTPUT, data + taken, n, 0, now)) != 0)
			break;
		taken += n;
		dc->st.bytes_out += n;
	}
	if (taken < len)
		dc->want_room = 1;
	/* Held back, or filled to the brim (a caller that reads only what
	 * dc_window_room allows never offers more than fits). */
	if (taken < len || dc->out_count >= send_limit(dc))
		dc->bw_limited = 1;
	if (taken == 0 && r < 0)
		LEAVE(dc, r);
	LEAVE(dc, (ssize_t)taken);
}

int
dc_send_flag(struct dc *dc, uint32_t flag, uint64_t now)
{
	uint8_t p[4];
	int r;

	ENTER(dc, E_INVAL);
	clock_at(dc, now);
	if (terminal(dc))
		LEAVE(dc, terminal_code(dc));
	if (dc->state != DC_ST_OPEN)
		LEAVE(dc, E_AGAIN);
	poke_u32(p, flag);
	r = queue_msg(dc, PT_FLAG, p, sizeof(p), 0, now);
	if (r == 0)
		log_verbose(dc->log, "flag %" PRIu32 " sent", flag);
	LEAVE(dc, r);
}

int
dc_send_channel_closed(struct dc *dc, const char *session_id, const char *output, uint64_t now)
{
	char ids[UUID_STR_LEN + 1], created[32];
	struct agentmsg m = { 0 };
	cJSON *root;
	char *s;
	int r;

	(void)now;
	ENTER(dc, E_INVAL);
	if (dc->role != DC_AGENT)
		LEAVE(dc, E_INVAL);
	if (terminal(dc))
		LEAVE(dc, terminal_code(dc));
	if ((r = uuid_v4(m.id)) != 0)
		LEAVE(dc, r);
	uuid_format(m.id, ids);
	/* The gateway writes CreatedDate as a string (section 3.14). */
	snprintf(created, sizeof(created), "%" PRIu64, agentmsg_now_ms());
	if ((root = cJSON_CreateObject()) == NULL ||
	    cJSON_AddStringToObject(root, "MessageId", ids) == NULL ||
	    cJSON_AddStringToObject(root, "CreatedDate", created) == NULL ||
	    cJSON_AddStringToObject(root, "DestinationId", dc->target_id) == NULL ||
	    cJSON_AddStringToObject(root, "SessionId", session_id ? session_id : "") == NULL ||
	    cJSON_AddStringToObject(root, "MessageType", AM_CHANNEL_CLOSED) == NULL ||
	    cJSON_AddNumberToObject(root, "SchemaVersion", 1) == NULL ||
	    cJSON_AddStringToObject(root, "Output", output ? output : "") == NULL ||
	    (s = cJSON_PrintUnformatted(root)) == NULL) {
		cJSON_Delete(root);
		LEAVE(dc, E_NOMEM);
	}
	cJSON_Delete(root);
	m.kind = AMK_CHANNEL_CLOSED;
	m.payload_type = PT_NONE;
	m.payload = (const uint8_t *)s;
	m.payload_size = strlen(s);
	buf_reset(&dc->frame);
	{
		struct err e = { 0 };

		r = agentmsg_encode_h(&dc->frame, &m, dc->hasher, &e);
		if (r != 0)
			log_error(dc->log, "%s", e.msg);
	}
	cJSON_free(s);
	if (r != 0)
		LEAVE(dc, r);
	send_raw(dc, buf_ptr(&dc->frame), buf_len(&dc->frame));
	dc->state = DC_ST_CLOSED;
	log_verbose(dc->log, "channel_closed sent");
	emit(dc, DC_EV_CHANNEL_CLOSED, 0, 0, output, session_id);
	LEAVE(dc, 0);
}

uint64_t
dc_tick(struct dc *dc, uint64_t now)
{
	uint64_t next = DC_NO_DEADLINE;

	ENTER(dc, DC_NO_DEADLINE);
	clock_at(dc, now);
	if (terminal(dc) || dc->state == DC_ST_NEW)
		LEAVE(dc, DC_NO_DEADLINE);
	if (dc->state == DC_ST_HANDSHAKE && dc->hs_timeout_ms != DC_TIMEOUT_NONE) {
		uint64_t t = dc->start_ms + dc->hs_timeout_ms;

		if (now >= t) {
			/* Say what arrived instead, so the user can tell a silent
			 * agent from a broken path. */
			if (dc->st.decode_errors > 0)
				fail(dc, E_TIMEOUT, "the handshake did not complete within %" PRIu32
				    " ms: %" PRIu64 " frames from the service were not valid "
				    "AgentMessages", dc->hs_timeout_ms, dc->st.decode_errors);
			else if (dc->st.frames_in == 0)
				fail(dc, E_TIMEOUT, "the handshake did not complete within %" PRIu32
				    " ms: the agent sent nothing", dc->hs_timeout_ms);
			else
				fail(dc, E_TIMEOUT, "the handshake did not complete within %"
				    PRIu32 " ms", dc->hs_timeout_ms);
			LEAVE(dc, DC_NO_DEADLINE);
		}
		next = t;
	}
	if (dc->input_blocked) {
		if (drain(dc, now) < 0)
			LEAVE(dc, DC_NO_DEADLINE);
		if (dc->input_blocked && now + DC_INPUT_RETRY_MS < next)
			next = now + DC_INPUT_RETRY_MS;
	}
	/* Only the oldest message is timed, as both official peers do. */
	if (!dc->paused && dc->out_count > 0) {
		struct out_slot *s = &dc->out[dc->out_head];
		uint64_t due = s->last_sent + head_rto_ms(dc, s);

		if (s->tx == 0 || now >= due) {
			transmit(dc, s, now);
			due = now + head_rto_ms(dc, s);
		}
		if (due < next)
			next = due;
	}
	LEAVE(dc, next);
}

int
dc_resend_all(struct dc *dc, uint64_t now)
{
	ENTER(dc, E_INVAL);
	clock_at(dc, now);
	if (terminal(dc))
		LEAVE(dc, terminal_code(dc));
	/* A new connection starts publishing; the gateway pauses it again if needed. */
	if (dc->paused) {
		dc->paused = 0;
		emit(dc, DC_EV_RESUMED, 0, 0, "resend all", NULL);
	}
	for (size_t i = 0; i < dc->out_count; i++) {
		struct out_slot *s = &dc->out[(dc->out_head + i) % dc->out_cap];

		if (!s->acked)
			transmit(dc, s, now);
	}
	LEAVE(dc, 0);
}

int
dc_input_ready(struct dc *dc, uint64_t now)
{
	int r = 0;

	ENTER(dc, E_INVAL);
	clock_at(dc, now);
	if (terminal(dc))
		LEAVE(dc, terminal_code(dc));
	if (dc->input_blocked)
		r = drain(dc, now);
	LEAVE(dc, r);
}

size_t
dc_window_room(const struct dc *dc)
{
	if (dc == NULL || dc->state != DC_ST_OPEN)
		return 0;
	return dc->out_count < send_limit(dc) ? send_limit(dc) - dc->out_count : 0;
}

size_t
dc_unacked(const struct dc *dc)
{
	return dc ? dc->out_count - dc->out_acked : 0;
}

int
dc_paused(const struct dc *dc)
{
	return dc != NULL && dc->paused;
}

enum dc_state
dc_state(const struct dc *dc)
{
	return dc ? dc->state : DC_ST_FAILED;
}

const struct err *
dc_error(const struct dc *dc)
{
	static const struct err none = { E_INVAL, "no data channel" };

	return dc ? &dc->err : &none;
}

const struct dc_stats *
dc_stats(const struct dc *dc)
{
	static const struct dc_stats zero;

	return dc ? &dc->st : &zero;
}

uint64_t
dc_violations(const struct dc *dc)
{
	return dc ? dc->st.violations : 0;
}

const char *
dc_peer_version(const struct dc *dc)
{
	return dc ? dc->peer_version : "";
}

int
dc_agent_supports_terminate(const struct dc *dc)
{
	return dc != NULL && dc->role == DC_CLIENT &&
	    dc_version_greater(dc->peer_version, DC_TERMINATE_FLAG_MIN_AGENT);
}

/* Splits a version into at most 8 numbers; returns the count or -1. */
static int
version_split(const char *s, uint64_t v[8])
{
	int n = 0;

	if (s == NULL || *s == '\0')
		return -1;
	for (;;) {
		uint64_t x = 0;
		int digits = 0;

		while (*s >= '0' && *s <= '9') {
			if (++digits > 18)
				return -1;
			x = x * 10 + (uint64_t)(*s++ - '0');
		}
		if (digits == 0 || n == 8)
			return -1;
		v[n++] = x;
		if (*s == '\0')
			return n;
		if (*s++ != '.')
			return -1;
	}
}

int
dc_version_greater(const char *a, const char *b)
{
	uint64_t va[8], vb[8];
	int na = version_split(a, va), nb = version_split(b, vb);

	if (na < 0 || nb < 0 || na != nb)
		return 0;
	for (int i = 0; i < na; i++)
		if (va[i] != vb[i])
			return va[i] > vb[i];
	return 0;
}

/* ------------------------------------------------------- OpenDataChannel */

int
dc_open_build(struct buf *out, const char *token, const uint8_t client_id[16],
	      const char *client_version, struct err *e)
{
	char rid[UUID_STR_LEN + 1], cid[UUID_STR_LEN + 1];
	uint8_t id[16];
	cJSON *root;
	char *s;
	int r;

	if (out == NULL || token == NULL || token[0] == '\0')
		return err_set(e, E_INVAL, "open data channel: no token");
	if ((r = uuid_v4(id)) != 0)
		return err_set(e, r, "open data channel: cannot generate a request id");
	uuid_format(id, rid);
	if ((root = cJSON_CreateObject()) == NULL ||
	    cJSON_AddStringToObject(root, "MessageSchemaVersion", "1.0") == NULL ||
	    cJSON_AddStringToObject(root, "RequestId", rid) == NULL ||
	    cJSON_AddStringToObject(root, "TokenValue", token) == NULL)
		goto nomem;
	if (client_id != NULL) {
		uuid_format(client_id, cid);
		if (cJSON_AddStringToObject(root, "ClientId", cid) == NULL)
			goto nomem;
	}
	if (client_version != NULL && cJSON_AddStringToObject(root, "ClientVersion", client_version) == NULL)
		goto nomem;
	if ((s = cJSON_PrintUnformatted(root)) == NULL)
		goto nomem;
	cJSON_Delete(root);
	r = buf_put(out, s, strlen(s));
	/* The text holds the token: wipe it before giving the memory back. */
	memset(s, 0, strlen(s));
	cJSON_free(s);
	if (r != 0)
		return err_set(e, r, "open data channel: no room for the request");
	return 0;
nomem:
	cJSON_Delete(root);
	return err_set(e, E_NOMEM, "open data channel: out of memory");
}

/* Copies an optional string member; -1 if present but not a string or too long. */
static int
open_str(const cJSON *root, const char *key, char *dst, size_t dsz)
{
	const cJSON *it = cJSON_GetObjectItem(root, key);

	dst[0] = '\0';
	if (it == NULL)
		return 0;
	if (!cJSON_IsString(it) || strlen(it->valuestring) >= dsz)
		return -1;
	hs_copy_text(dst, dsz, it->valuestring);
	return 0;
}

int
dc_open_parse(const uint8_t *data, size_t len, struct dc_open *o, struct err *e)
{
	static const char what[] = "open data channel";
	const cJSON *tok;
	uint8_t id[16];
	cJSON *root;
	int rc = 0;

	memset(o, 0, sizeof(*o));
	if ((root = hs_json_object(data, len, what, e)) == NULL)
		return E_PROTO;
	if (open_str(root, "MessageSchemaVersion", o->schema_version, sizeof(o->schema_version)) ||
	    o->schema_version[0] == '\0')
		rc = err_set(e, E_PROTO, "%s: no MessageSchemaVersion", what);
	else if (open_str(root, "RequestId", o->request_id, sizeof(o->request_id)) ||
	    uuid_parse(o->request_id, id) != 0)
		rc = err_set(e, E_PROTO, "%s: RequestId is not a uuid", what);
	else if (open_str(root, "ClientId", o->client_id, sizeof(o->client_id)) ||
	    (o->client_id[0] != '\0' && uuid_parse(o->client_id, id) != 0))
		rc = err_set(e, E_PROTO, "%s: ClientId is not a uuid", what);
	else if (open_str(root, "ClientVersion", o->client_version, sizeof(o->client_version)))
		rc = err_set(e, E_PROTO, "%s: ClientVersion is not a short string", what);
	if (rc == 0) {
		tok = cJSON_GetObjectItem(root, "TokenValue");
		if (!cJSON_IsString(tok) || tok->valuestring[0] == '\0')
			rc = err_set(e, E_PROTO, "%s: no TokenValue", what);
		else if ((o->token = strdup(tok->valuestring)) == NULL)
			rc = err_set(e, E_NOMEM, "%s: out of memory", what);
	}
	if (cJSON_IsString(tok = cJSON_GetObjectItem(root, "TokenValue")))
		memset(tok->valuestring, 0, strlen(tok->valuestring));
	cJSON_Delete(root);
	return rc;
}

void
dc_open_free(struct dc_open *o)
{
	if (o == NULL)
		return;
	if (o->token != NULL) {
		memset(o->token, 0, strlen(o->token));
		free(o->token);
	}
	memset(o, 0, sizeof(*o));
}
