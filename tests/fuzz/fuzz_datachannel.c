/*
 * fuzz_datachannel.c: the data-channel state machine fed arbitrary message
 * sequences, with time injected by the input.
 *
 * The first byte picks the mode. Single mode: one dc (client or agent
 * role) receives raw frames or well-formed messages built from the input
 * (so the digest check does not hide the logic behind it) while the input
 * also sends data, flags and advances the clock. Pair mode: a client and
 * an agent talk to each other through two queues the input drops,
 * duplicates, swaps and delays; unless it corrupts frames, what either
 * side delivers must be a prefix of what the other sent.
 */
#include <inttypes.h>

#include "datachannel.h"
#include "fuzz.h"
#include "handshake.h"

#define QMAX 64               /* frames kept per direction */
#define SENT_MAX (64 * 1024)  /* stream bytes tracked per direction */

struct q {
	struct buf f[QMAX];
	size_t n;
};

struct side {
	struct dc *dc;
	struct q *outq;           /* frames this side sent */
	uint8_t *sent;            /* stream bytes dc_send took */
	size_t nsent;
	uint8_t *got;             /* stream bytes delivered to this side */
	size_t ngot;
	int refuse;               /* deliver answers E_AGAIN */
	int closed_seen;
};

static int
q_push(struct q *q, const uint8_t *p, size_t n)
{
	if (q->n == QMAX)
		return 0; /* lost on the wire */
	buf_init(&q->f[q->n], 0);
	if (buf_put(&q->f[q->n], p, n) != 0) {
		buf_free(&q->f[q->n]);
		return 0;
	}
	q->n++;
	return 0;
}

static void
q_drop(struct q *q, size_t i)
{
	if (i >= q->n)
		return;
	buf_free(&q->f[i]);
	memmove(&q->f[i], &q->f[i + 1], (q->n - i - 1) * sizeof(q->f[0]));
	q->n--;
}

static void
q_free(struct q *q)
{
	while (q->n > 0)
		q_drop(q, q->n - 1);
}

static int
cb_send(void *arg, const uint8_t *frame, size_t len)
{
	struct side *s = arg;

	FZ_ASSERT(len >= AGENTMSG_HEADER_SIZE && len <= AGENTMSG_MAX_FRAME);
	return q_push(s->outq, frame, len);
}

static int
cb_deliver(void *arg, const uint8_t *data, size_t len)
{
	struct side *s = arg;

	FZ_ASSERT(len > 0);
	if (s->refuse)
		return E_AGAIN;
	if (s->ngot + len <= SENT_MAX)
		memcpy(s->got + s->ngot, data, len);
	s->ngot += len;
	return 0;
}

static void
cb_event(void *arg, const struct dc_event *ev)
{
	struct side *s = arg;

	FZ_ASSERT(ev->text != NULL && ev->session_id != NULL);
	if (ev->type == DC_EV_CHANNEL_CLOSED)
		s->closed_seen = 1;
	if (ev->type == DC_EV_FAILED)
		FZ_ASSERT(ev->code < 0);
}

/* Per-side byte records: static, as fresh large allocations per input
 * would dominate the run time. */
static uint8_t mem_sent[2][SENT_MAX], mem_got[2][SENT_MAX];

static int
side_new(struct side *s, enum dc_role role, struct q *outq, uint8_t cfgbits)
{
	struct dc_config cfg;
	struct dc_callbacks cb;
	struct err e;

	memset(s, 0, sizeof(*s));
	s->outq = outq;
	s->sent = mem_sent[role == DC_AGENT];
	s->got = mem_got[role == DC_AGENT];
	memset(&cfg, 0, sizeof(cfg));
	cfg.role = role;
	cfg.window = 2 + (cfgbits & 7);
	cfg.inbuf = 1 + ((cfgbits >> 3) & 7);
	if (role == DC_AGENT && (cfgbits & 0x40))
		cfg.extra_actions_json = "{\"ActionType\":\"KMSEncryption\","
		                         "\"ActionParameters\":{\"KMSKeyId\":\"k\"}}";
	cfg.handshake_timeout_ms = (cfgbits & 0x80) ? DC_TIMEOUT_NONE : 0;
	memset(&cb, 0, sizeof(cb));
	cb.send_frame = cb_send;
	cb.deliver = cb_deliver;
	cb.event = cb_event;
	cb.arg = s;
	if (s->sent == NULL || s->got == NULL || dc_new(&s->dc, &cfg, &cb, &e) != 0)
		return -1;
	return 0;
}

static void
side_free(struct side *s)
{
	dc_free(s->dc);
}

static void
side_send(struct side *s, struct fz *f, uint64_t now)
{
	size_t want = fz_u16(f) % 4096, i;
	uint8_t tmp[4096];
	ssize_t n;

	/* Distinct bytes per position, so a misordering shows. */
	for (i = 0; i < want; i++)
		tmp[i] = (uint8_t)((s->nsent + i) * 131 + ((s->nsent + i) >> 8));
	n = dc_send(s->dc, tmp, want, now);
	FZ_ASSERT(n <= (ssize_t)want);
	if (n > 0) {
		if (s->nsent + (size_t)n <= SENT_MAX)
			memcpy(s->sent + s->nsent, tmp, (size_t)n);
		s->nsent += (size_t)n;
	}
}

/* Builds a well-formed message from the input and feeds it to dc. */
static void
feed_built(struct dc *dc, struct fz *f, uint64_t now)
{
	static const enum agentmsg_kind kinds[] = {
		AMK_INPUT, AMK_OUTPUT, AMK_ACK, AMK_CHANNEL_CLOSED,
		AMK_START_PUB, AMK_PAUSE_PUB, AMK_SESSION_STATE, AMK_OUTPUT,
	};
	struct agentmsg m;
	struct buf pay, out;
	struct err e;
	uint8_t sel = fz_u8(f);
	size_t n;
	const uint8_t *p;

	memset(&m, 0, sizeof(m));
	m.kind = kinds[sel & 7];
	m.seq = (int64_t)fz_u8(f) - (sel & 0x80 ? 0 : 2);
	m.flags = fz_u8(f) & 3;
	m.payload_type = fz_u8(f) % 13;
	m.created_ms = 1;
	for (int i = 0; i < 16; i++)
		m.id[i] = (uint8_t)(i + 1);
	buf_init(&pay, 0);
	buf_init(&out, 0);
	switch ((sel >> 3) & 7) {
	case 0: /* an ack for seq */
		agentmsg_ack_payload(&pay, sel & 0x40 ? AM_INPUT : AM_OUTPUT, m.id, m.seq < 0 ? 0 : m.seq);
		break;
	case 1: /* a handshake request, maybe with KMS */
		hs_request_build(&pay, "3.3.1142.0", sel & 0x40 ? "InteractiveCommands" : "Port",
		                 "{\"portNumber\":\"22\"}",
		                 sel & 0x80 ? "{\"ActionType\":\"KMSEncryption\",\"ActionParameters\":{}}"
		                            : NULL, &e);
		m.payload_type = PT_HANDSHAKE_REQUEST;
		break;
	case 2: /* a handshake complete */
		hs_complete_build(&pay, 1000, "hello", &e);
		m.payload_type = PT_HANDSHAKE_COMPLETE;
		break;
	case 3: { /* a handshake response */
		struct hs_result res = { "SessionType", HS_SUCCESS, "" };
		if (sel & 0x40)
			res.status = HS_FAILED;
		hs_response_build(&pay, "1.2.694.0", &res, 1, &e);
		m.payload_type = PT_HANDSHAKE_RESPONSE;
		break;
	}
	case 4: /* a flag */
		buf_put_u32(&pay, fz_u8(f) % 5);
		m.payload_type = PT_FLAG;
		break;
	default: /* payload bytes from the input */
		p = fz_bytes(f, fz_u16(f) % 2048, &n);
		buf_put(&pay, p, n);
		break;
	}
	/* buf_ptr of a never-filled buf is NULL + 0: keep NULL. */
	m.payload = buf_len(&pay) ? buf_ptr(&pay) : NULL;
	m.payload_size = buf_len(&pay);
	if (agentmsg_encode(&out, &m, &e) == 0)
		(void)dc_receive(dc, buf_ptr(&out), buf_len(&out), now);
	buf_free(&pay);
	buf_free(&out);
}

static void
single(struct fz *f, uint8_t mode)
{
	struct q outq = { .n = 0 };
	struct side s;
	uint64_t now = 1000;
	size_t n;
	const uint8_t *p;

	if (side_new(&s, (mode & 2) ? DC_AGENT : DC_CLIENT, &outq, fz_u8(f)) != 0)
		goto out;
	if (fz_u8(f) & 1)
		(void)dc_start(s.dc, now);
	for (int steps = 0; fz_left(f) > 0 && steps < 512; steps++) {
		switch (fz_u8(f) % 9) {
		case 0:
			p = fz_bytes(f, fz_u16(f), &n);
			(void)dc_receive(s.dc, p, n, now);
			break;
		case 1:
		case 2:
			feed_built(s.dc, f, now);
			break;
		case 3:
			side_send(&s, f, now);
			break;
		case 4:
			now += fz_u16(f);
			(void)dc_tick(s.dc, now);
			break;
		case 5:
			(void)dc_send_flag(s.dc, fz_u8(f) % 4, now);
			break;
		case 6:
			(void)dc_resend_all(s.dc, now);
			break;
		case 7:
			s.refuse = !s.refuse;
			(void)dc_input_ready(s.dc, now);
			break;
		case 8:
			if (mode & 2)
				(void)dc_send_channel_closed(s.dc, "sess-1", "bye", now);
			q_free(&outq);
			break;
		}
		FZ_ASSERT(dc_unacked(s.dc) <= 2 + 7);
		(void)dc_window_room(s.dc);
		(void)dc_peer_version(s.dc);
	}
out:
	side_free(&s);
	q_free(&outq);
}

static void
pair(struct fz *f)
{
	struct q to_agent = { .n = 0 }, to_client = { .n = 0 };
	struct side c, a;
	uint64_t now = 1000;
	int corrupted = 0;

	memset(&c, 0, sizeof(c));
	memset(&a, 0, sizeof(a));
	if (side_new(&c, DC_CLIENT, &to_agent, fz_u8(f) & 0x3f) != 0 ||
	    side_new(&a, DC_AGENT, &to_client, fz_u8(f)) != 0)
		goto out;
	(void)dc_start(c.dc, now);
	(void)dc_start(a.dc, now);
	for (int steps = 0; fz_left(f) > 0 && steps < 1024; steps++) {
		uint8_t op = fz_u8(f);
		struct side *from = (op & 0x80) ? &a : &c, *to = from == &a ? &c : &a;
		struct q *q = from->outq;
		size_t i = q->n ? fz_u8(f) % q->n : 0;

		switch (op & 0xf) {
		case 0: case 1: case 2: case 3: /* deliver the oldest frame */
			if (q->n > 0) {
				(void)dc_receive(to->dc, buf_ptr(&q->f[0]), buf_len(&q->f[0]), now);
				q_drop(q, 0);
			}
			break;
		case 4: /* deliver frame i, out of order */
			if (q->n > 0) {
				(void)dc_receive(to->dc, buf_ptr(&q->f[i]), buf_len(&q->f[i]), now);
				q_drop(q, i);
			}
			break;
		case 5: /* duplicate frame i */
			if (q->n > 0)
				(void)dc_receive(to->dc, buf_ptr(&q->f[i]), buf_len(&q->f[i]), now);
			break;
		case 6: /* lose frame i */
			q_drop(q, i);
			break;
		case 7: case 8:
			side_send(from, f, now);
			break;
		case 9: case 10:
			now += fz_u16(f) % 2000;
			(void)dc_tick(c.dc, now);
			(void)dc_tick(a.dc, now);
			break;
		case 11:
			from->refuse = !from->refuse;
			(void)dc_input_ready(from->dc, now);
			break;
		case 12:
			(void)dc_resend_all(from->dc, now);
			break;
		case 13: /* flip a bit of frame i */
			if (q->n > 0 && buf_len(&q->f[i]) > 0) {
				size_t at = fz_u16(f) % buf_len(&q->f[i]);
				q->f[i].d[q->f[i].off + at] ^= (uint8_t)(1u << (fz_u8(f) & 7));
				corrupted = 1;
			}
			break;
		case 14:
			(void)dc_send_flag(from->dc, fz_u8(f) % 4, now);
			break;
		case 15:
			if (op & 0x40)
				(void)dc_send_channel_closed(a.dc, "sess-1", "", now);
			break;
		}
	}
	/* Stream bytes arrive in order and intact, or not at all. A flipped
	 * bit in a header field the digest does not cover (sequence number)
	 * can legitimately misplace data, so only clean runs are checked. */
	if (!corrupted) {
		size_t n;
		n = a.ngot < SENT_MAX ? a.ngot : SENT_MAX;
		FZ_ASSERT(a.ngot <= c.nsent);
		FZ_ASSERT(memcmp(a.got, c.sent, n < c.nsent ? n : c.nsent) == 0);
		n = c.ngot < SENT_MAX ? c.ngot : SENT_MAX;
		FZ_ASSERT(c.ngot <= a.nsent);
		FZ_ASSERT(memcmp(c.got, a.sent, n < a.nsent ? n : a.nsent) == 0);
	}
out:
	side_free(&c);
	side_free(&a);
	q_free(&to_agent);
	q_free(&to_client);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	uint8_t mode = fz_u8(&f);

	if (mode & 1)
		pair(&f);
	else
		single(&f, mode);
	return 0;
}
