/*
 * test_datachannel.c: a client dc and an agent dc wired through in-memory
 * pipes with latency and faults, driven by a fake clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agentmsg.h"
#include "datachannel.h"
#include "handshake.h"

#define MIB (1024 * 1024)
#define CAPTURE_MAX 256

/* ------------------------------------------------------------ harness */

struct frame {
	struct frame *next;
	uint64_t due;
	size_t len;
	uint8_t data[];
};

struct pipe {
	struct frame *head, *tail, *held;
	uint32_t latency;        /* ms from send to arrival */
	uint32_t rate;           /* frames per ms at most (a bottleneck); 0: any */
	uint64_t slot;           /* the ms the next frame leaves in, with rate */
	uint32_t in_slot;        /* frames already leaving in that ms */
	unsigned drop, dup, reorder, ackloss; /* per mille, stream frames / acks */
	int blackhole;           /* drop everything (a broken connection) */
	uint64_t dropped, duplicated, reordered, acks_lost;
};

struct sim;

struct peer {
	struct sim *sim;
	struct dc *dc;
	struct pipe *out;
	const char *name;
	uint8_t *rx;
	size_t rxlen, rxcap;
	int accept_first;        /* then deliver takes this many messages, */
	int not_ready;           /* then answers E_AGAIN this many times */
	int ev[16];
	char text[DC_TEXT_MAX];
	char sid[256];
	uint32_t flag;
	int code;
	int rc;                  /* first negative dc_receive result */
	const uint8_t *src;
	size_t srclen, srcoff;
	size_t maxchunk;
	int fit;                 /* offer only what dc_window_room allows, as ssm-proxy does */
	/* The first frames sent, kept for inspection. */
	struct agentmsg cap[CAPTURE_MAX];
	uint8_t *capraw[CAPTURE_MAX];
	size_t caplen[CAPTURE_MAX];
	size_t ncap;
};

struct sim {
	uint64_t now;
	uint64_t rng;
	struct pipe c2a, a2c;
	struct peer c, a;
};

static struct logger test_log = { .level = LL_TRACE, .prefix = "dc-test" };

static const struct logger *
tlog(void)
{
	return getenv("SSMP_TEST_LOG") ? &test_log : NULL;
}

static uint64_t
rnd(struct sim *s)
{
	/* xorshift64*: deterministic, so failures reproduce. */
	s->rng ^= s->rng >> 12;
	s->rng ^= s->rng << 25;
	s->rng ^= s->rng >> 27;
	return s->rng * 2685821657736338717ULL;
}

static unsigned
rndn(struct sim *s, unsigned n)
{
	return (unsigned)(rnd(s) % n);
}

static void
push(struct pipe *p, const uint8_t *data, size_t len, uint64_t due)
{
	struct frame *f = malloc(sizeof(*f) + len);

	assert_non_null(f);
	f->next = NULL;
	f->due = due;
	f->len = len;
	memcpy(f->data, data, len);
	if (p->tail)
		p->tail->next = f;
	else
		p->head = f;
	p->tail = f;
}

static void
push_frame(struct pipe *p, struct frame *f)
{
	f->next = NULL;
	if (p->tail)
		p->tail->next = f;
	else
		p->head = f;
	p->tail = f;
}

static int
peer_send(void *arg, const uint8_t *frame, size_t len)
{
	struct peer *pe = arg;
	struct sim *s = pe->sim;
	struct pipe *p = pe->out;
	struct agentmsg m;
	uint64_t due = s->now + p->latency;
	int stream, ack;

	assert_int_equal(agentmsg_decode(&m, frame, len, NULL), 0);
	if (pe->ncap < CAPTURE_MAX) {
		uint8_t *copy = malloc(len);

		assert_non_null(copy);
		memcpy(copy, frame, len);
		pe->capraw[pe->ncap] = copy;
		pe->caplen[pe->ncap] = len;
		pe->cap[pe->ncap] = m;
		pe->cap[pe->ncap].payload = copy + (len - m.payload_size);
		pe->ncap++;
	}
	if (p->blackhole)
		return 0;
	if (p->rate) {
		/* Frames queue for the link: rate per ms leave, then the latency. */
		if (p->slot < s->now) {
			p->slot = s->now;
			p->in_slot = 0;
		}
		if (p->in_slot == p->rate) {
			p->slot++;
			p->in_slot = 0;
		}
		p->in_slot++;
		due = p->slot + p->latency;
	}
	stream = m.kind == AMK_INPUT || m.kind == AMK_OUTPUT;
	ack = m.kind == AMK_ACK;
	if (stream && p->drop && rndn(s, 1000) < p->drop) {
		p->dropped++;
		return 0;
	}
	if (ack && p->ackloss && rndn(s, 1000) < p->ackloss) {
		p->acks_lost++;
		return 0;
	}
	if (stream && p->reorder && p->held == NULL && rndn(s, 1000) < p->reorder) {
		/* Held back until the next frame has gone ahead of it. */
		struct frame *f = malloc(sizeof(*f) + len);

		assert_non_null(f);
		f->due = due;
		f->len = len;
		memcpy(f->data, frame, len);
		p->held = f;
		p->reordered++;
		return 0;
	}
	push(p, frame, len, due);
	if (stream && p->dup && rndn(s, 1000) < p->dup) {
		push(p, frame, len, due);
		p->duplicated++;
	}
	if (p->held != NULL) {
		push_frame(p, p->held);
		p->held = NULL;
	}
	return 0;
}

static int
peer_deliver(void *arg, const uint8_t *data, size_t len)
{
	struct peer *pe = arg;

	assert_true(len > 0 && len <= AGENTMSG_STREAM_CHUNK);
	if (pe->accept_first > 0)
		pe->accept_first--;
	else if (pe->not_ready > 0) {
		pe->not_ready--;
		return E_AGAIN;
	}
	if (pe->rxlen + len > pe->rxcap) {
		pe->rxcap = (pe->rxlen + len) * 2;
		pe->rx = realloc(pe->rx, pe->rxcap);
		assert_non_null(pe->rx);
	}
	memcpy(pe->rx + pe->rxlen, data, len);
	pe->rxlen += len;
	return 0;
}

static void
peer_event(void *arg, const struct dc_event *ev)
{
	struct peer *pe = arg;

	assert_true(ev->type > 0 && ev->type < 16);
	pe->ev[ev->type]++;
	snprintf(pe->text, sizeof(pe->text), "%s", ev->text);
	snprintf(pe->sid, sizeof(pe->sid), "%s", ev->session_id);
	if (ev->type == DC_EV_FLAG)
		pe->flag = ev->flag;
	if (ev->type == DC_EV_FAILED)
		pe->code = ev->code;
}

static void
sim_init(struct sim *s, struct dc_config *cc, struct dc_config *ac)
{
	struct dc_config c0 = { .role = DC_CLIENT }, a0 = { .role = DC_AGENT };
	struct dc_callbacks cb = { peer_send, peer_deliver, peer_event, NULL };
	struct err e = { 0 };

	memset(s, 0, sizeof(*s));
	s->now = 1000;
	s->rng = 0x9e3779b97f4a7c15ULL;
	if (cc == NULL)
		cc = &c0;
	if (ac == NULL)
		ac = &a0;
	cc->role = DC_CLIENT;
	ac->role = DC_AGENT;
	cc->log = ac->log = tlog();
	s->c.sim = s->a.sim = s;
	s->c.name = "client";
	s->a.name = "agent";
	s->c.out = &s->c2a;
	s->a.out = &s->a2c;
	s->c.maxchunk = s->a.maxchunk = 3000;
	cb.arg = &s->c;
	assert_int_equal(dc_new(&s->c.dc, cc, &cb, &e), 0);
	cb.arg = &s->a;
	assert_int_equal(dc_new(&s->a.dc, ac, &cb, &e), 0);
}

static void
pipe_free(struct pipe *p)
{
	while (p->head) {
		struct frame *f = p->head;

		p->head = f->next;
		free(f);
	}
	p->tail = NULL;
	free(p->held);
	p->held = NULL;
}

static void
peer_free(struct peer *pe)
{
	dc_free(pe->dc);
	free(pe->rx);
	for (size_t i = 0; i < pe->ncap; i++)
		free(pe->capraw[i]);
}

static void
sim_free(struct sim *s)
{
	pipe_free(&s->c2a);
	pipe_free(&s->a2c);
	peer_free(&s->c);
	peer_free(&s->a);
}

/* Delivers due frames of p to the peer dst; returns how many. */
static int
deliver_due(struct sim *s, struct pipe *p, struct peer *dst)
{
	int n = 0;

	if (p->head == NULL && p->held != NULL) {
		push_frame(p, p->held);
		p->held = NULL;
	}
	while (p->head && p->head->due <= s->now) {
		struct frame *f = p->head;
		int r;

		p->head = f->next;
		if (p->head == NULL)
			p->tail = NULL;
		r = dc_receive(dst->dc, f->data, f->len, s->now);
		if (r < 0 && dst->rc == 0)
			dst->rc = r;
		free(f);
		n++;
	}
	return n;
}

static int
feed(struct sim *s, struct peer *pe)
{
	int n = 0;

	while (pe->srcoff < pe->srclen) {
		size_t want = 1 + rndn(s, (unsigned)pe->maxchunk);
		ssize_t r;

		if (want > pe->srclen - pe->srcoff)
			want = pe->srclen - pe->srcoff;
		if (pe->fit && want > dc_window_room(pe->dc) * AGENTMSG_STREAM_CHUNK)
			want = dc_window_room(pe->dc) * AGENTMSG_STREAM_CHUNK;
		if (want == 0)
			break;
		r = dc_send(pe->dc, pe->src + pe->srcoff, want, s->now);
		if (r <= 0)
			break;
		pe->srcoff += (size_t)r;
		n++;
	}
	return n;
}

static uint64_t
umin(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

typedef int (*done_fn)(struct sim *s);

/* Runs the simulation until done(s) or nothing can happen any more. */
static int
run(struct sim *s, done_fn done, long max_iter)
{
	for (long i = 0; i < max_iter; i++) {
		int progress = 0;
		uint64_t next;

		progress += deliver_due(s, &s->c2a, &s->a);
		progress += deliver_due(s, &s->a2c, &s->c);
		progress += feed(s, &s->c);
		progress += feed(s, &s->a);
		next = umin(dc_tick(s->c.dc, s->now), dc_tick(s->a.dc, s->now));
		if (done != NULL && done(s))
			return 1;
		if (progress)
			continue;
		if (s->c2a.head)
			next = umin(next, s->c2a.head->due);
		if (s->a2c.head)
			next = umin(next, s->a2c.head->due);
		if (s->c2a.held || s->a2c.held)
			next = s->now;
		if (next == DC_NO_DEADLINE)
			return done != NULL ? done(s) : 1;
		s->now = next > s->now ? next : s->now + 1;
	}
	return 0;
}

static int
both_open(struct sim *s)
{
	return dc_state(s->c.dc) == DC_ST_OPEN && dc_state(s->a.dc) == DC_ST_OPEN &&
	    dc_unacked(s->c.dc) == 0 && dc_unacked(s->a.dc) == 0;
}

static int
transfer_done(struct sim *s)
{
	return s->c.srcoff == s->c.srclen && s->a.srcoff == s->a.srclen &&
	    s->a.rxlen == s->c.srclen && s->c.rxlen == s->a.srclen &&
	    dc_unacked(s->c.dc) == 0 && dc_unacked(s->a.dc) == 0;
}

static void
start(struct sim *s)
{
	assert_int_equal(dc_start(s->c.dc, s->now), 0);
	assert_int_equal(dc_start(s->a.dc, s->now), 0);
}

static void
handshake(struct sim *s)
{
	start(s);
	assert_true(run(s, both_open, 100000));
}

static uint8_t *
random_bytes(struct sim *s, size_t n)
{
	uint8_t *p = malloc(n);

	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rnd(s);
	return p;
}

/* Sends n random bytes each way and checks they arrive exactly once, in order. */
static void
transfer(struct sim *s, size_t n)
{
	uint8_t *cs = random_bytes(s, n), *as = random_bytes(s, n);

	s->c.src = cs;
	s->c.srclen = n;
	s->c.srcoff = 0;
	s->a.src = as;
	s->a.srclen = n;
	s->a.srcoff = 0;
	assert_true(run(s, transfer_done, 20000000));
	assert_int_equal(s->a.rxlen, n);
	assert_int_equal(s->c.rxlen, n);
	assert_memory_equal(s->a.rx, cs, n);
	assert_memory_equal(s->c.rx, as, n);
	s->c.src = s->a.src = NULL;
	s->c.srclen = s->a.srclen = s->c.srcoff = s->a.srcoff = 0;
	free(cs);
	free(as);
}

/* Finds the first captured frame of a peer with this kind and payload type. */
static const struct agentmsg *
find_cap(const struct peer *pe, enum agentmsg_kind kind, int pt)
{
	for (size_t i = 0; i < pe->ncap; i++)
		if (pe->cap[i].kind == kind && (pt < 0 || pe->cap[i].payload_type == (uint32_t)pt))
			return &pe->cap[i];
	return NULL;
}

/* Encodes one frame into b (reset first). */
static void
mk(struct buf *b, enum agentmsg_kind kind, const char *type, int64_t seq, uint64_t flags,
   uint32_t pt, const void *p, size_t n)
{
	struct agentmsg m = { 0 };

	buf_reset(b);
	m.kind = kind;
	if (type)
		snprintf(m.type, sizeof(m.type), "%s", type);
	m.seq = seq;
	m.flags = flags;
	m.payload_type = pt;
	m.payload = p;
	m.payload_size = n;
	assert_int_equal(uuid_v4(m.id), 0);
	assert_int_equal(agentmsg_encode(b, &m, NULL), 0);
}

/* ------------------------------------------------------------- tests */

static void
test_handshake(void **state)
{
	struct sim s;
	const struct agentmsg *m;
	struct hs_response resp;
	struct hs_request req;

	(void)state;
	sim_init(&s, NULL, NULL);
	assert_int_equal(dc_window_room(s.c.dc), 0);
	assert_int_equal(dc_send(s.c.dc, (const uint8_t *)"x", 1, s.now), 0);
	handshake(&s);

	assert_int_equal(s.c.ev[DC_EV_HANDSHAKE_COMPLETE], 1);
	assert_int_equal(s.a.ev[DC_EV_DIAL_TARGET], 1);
	assert_int_equal(s.c.ev[DC_EV_FAILED] + s.a.ev[DC_EV_FAILED], 0);
	assert_string_equal(dc_peer_version(s.c.dc), DC_AGENT_VERSION_DEFAULT);
	assert_string_equal(dc_peer_version(s.a.dc), DC_CLIENT_VERSION_DEFAULT);
	assert_true(dc_agent_supports_terminate(s.c.dc));
	assert_int_equal(dc_window_room(s.c.dc), DC_WINDOW_DEFAULT);

	/* Agent: HandshakeRequest at seq 0 with SYN, HandshakeComplete at seq 1. */
	assert_true(s.a.ncap >= 2);
	m = &s.a.cap[0];
	assert_int_equal(m->kind, AMK_OUTPUT);
	assert_int_equal(m->seq, 0);
	assert_int_equal(m->flags, AGENTMSG_FLAG_SYN);
	assert_int_equal(m->payload_type, PT_HANDSHAKE_REQUEST);
	assert_int_equal(hs_request_parse(m->payload, m->payload_size, &req, NULL), 0);
	assert_int_equal(req.n_actions, 1);
	assert_int_equal(req.actions[0].kind, HSA_SESSION_TYPE);
	assert_string_equal(req.actions[0].session_type, "Port");
	assert_non_null(strstr((const char *)m->payload, "\"Properties\":{\"portNumber\":\"22\"}"));
	m = find_cap(&s.a, AMK_OUTPUT, PT_HANDSHAKE_COMPLETE);
	assert_non_null(m);
	assert_int_equal(m->seq, 1);
	assert_int_equal(m->flags, 0);

	/* Client: ack of output seq 0 first, then the response at input seq 0. */
	m = &s.c.cap[0];
	assert_int_equal(m->kind, AMK_ACK);
	assert_int_equal(m->seq, 0);
	assert_int_equal(m->flags, AGENTMSG_FLAGS_ACK);
	assert_non_null(strstr((const char *)m->payload, "\"AcknowledgedMessageType\":\"output_stream_data\""));
	assert_non_null(strstr((const char *)m->payload, "\"AcknowledgedMessageSequenceNumber\":0,"));
	m = &s.c.cap[1];
	assert_int_equal(m->kind, AMK_INPUT);
	assert_int_equal(m->seq, 0);
	assert_int_equal(m->flags, 0);
	assert_int_equal(m->payload_type, PT_HANDSHAKE_RESPONSE);
	assert_int_equal(hs_response_parse(m->payload, m->payload_size, &resp, NULL), 0);
	assert_string_equal(resp.client_version, DC_CLIENT_VERSION_DEFAULT);
	assert_int_equal(resp.n_actions, 1);
	assert_string_equal(resp.actions[0].type, "SessionType");
	assert_int_equal(resp.actions[0].status, HS_SUCCESS);
	/* HandshakeComplete acked. */
	assert_int_equal(s.c.cap[2].kind, AMK_ACK);
	assert_non_null(strstr((const char *)s.c.cap[2].payload, "\"AcknowledgedMessageSequenceNumber\":1,"));

	assert_int_equal(dc_violations(s.a.dc), 0);
	assert_int_equal(dc_stats(s.c.dc)->retransmits + dc_stats(s.a.dc)->retransmits, 0);
	sim_free(&s);
}

static void
test_bulk(void **state)
{
	struct sim s;

	(void)state;
	sim_init(&s, NULL, NULL);
	s.c2a.latency = s.a2c.latency = 5;
	handshake(&s);
	transfer(&s, 4 * MIB);
	assert_int_equal(dc_violations(s.a.dc), 0);
	assert_int_equal(dc_stats(s.c.dc)->retransmits, 0);
	assert_int_equal(dc_stats(s.a.dc)->retransmits, 0);
	assert_int_equal(dc_stats(s.a.dc)->bytes_in, 4 * MIB);
	assert_true(dc_stats(s.c.dc)->msgs_out >= 4 * MIB / AGENTMSG_STREAM_CHUNK);
	sim_free(&s);
}

static void
test_drop(void **state)
{
	struct sim s;

	(void)state;
	sim_init(&s, NULL, NULL);
	s.c2a.latency = s.a2c.latency = 2;
	s.c2a.drop = s.a2c.drop = 10; /* 1% of stream frames, handshake included */
	start(&s);
	assert_true(run(&s, both_open, 1000000));
	transfer(&s, 4 * MIB);
	assert_true(s.c2a.dropped > 0 && s.a2c.dropped > 0);
	assert_true(dc_stats(s.c.dc)->retransmits > 0);
	assert_true(dc_stats(s.a.dc)->retransmits > 0);
	assert_true(dc_stats(s.a.dc)->out_of_order > 0);
	assert_int_equal(dc_violations(s.a.dc), 0);
	sim_free(&s);
}

static void
test_duplicate(void **state)
{
	struct sim s;

	(void)state;
	sim_init(&s, NULL, NULL);
	s.c2a.dup = s.a2c.dup = 50;
	handshake(&s);
	transfer(&s, 4 * MIB);
	assert_true(s.c2a.duplicated > 0 && s.a2c.duplicated > 0);
	assert_true(dc_stats(s.a.dc)->duplicates > 0);
	assert_true(dc_stats(s.c.dc)->duplicates > 0);
	/* Every duplicate was acked again. */
	assert_true(dc_stats(s.a.dc)->acks_out >= dc_stats(s.a.dc)->msgs_in + dc_stats(s.a.dc)->duplicates);
	assert_int_equal(dc_violations(s.a.dc), 0);
	sim_free(&s);
}

static void
test_reorder(void **state)
{
	struct sim s;

	(void)state;
	sim_init(&s, NULL, NULL);
	s.c2a.reorder = s.a2c.reorder = 50;
	handshake(&s);
	transfer(&s, 4 * MIB);
	assert_true(s.c2a.reordered > 0 && s.a2c.reordered > 0);
	assert_true(dc_stats(s.a.dc)->out_of_order > 0);
	assert_true(dc_stats(s.c.dc)->out_of_order > 0);
	assert_int_equal(dc_violations(s.a.dc), 0);
	sim_free(&s);
}

static void
test_ack_loss(void **state)
{
	struct sim s;

	(void)state;
	sim_init(&s, NULL, NULL);
	s.c2a.latency = s.a2c.latency = 3;
	s.c2a.ackloss = s.a2c.ackloss = 20;
	handshake(&s);
	transfer(&s, 4 * MIB);
	assert_true(s.c2a.acks_lost > 0 && s.a2c.acks_lost > 0);
	assert_true(dc_stats(s.c.dc)->retransmits > 0);
	assert_true(dc_stats(s.a.dc)->duplicates > 0);
	assert_int_equal(dc_violations(s.a.dc), 0);
	sim_free(&s);
}

static void
test_chaos(void **state)
{
	struct sim s;
	struct dc_config cc = { 0 }, ac = { 0 };

	(void)state;
	cc.window = ac.window = 64;
	cc.inbuf = ac.inbuf = 16; /* smaller than the window: some drops at the receiver */
	sim_init(&s, &cc, &ac);
	s.c2a.latency = 7;
	s.a2c.latency = 3;
	s.c2a.drop = s.a2c.drop = 20;
	s.c2a.dup = s.a2c.dup = 20;
	s.c2a.reorder = s.a2c.reorder = 20;
	s.c2a.ackloss = s.a2c.ackloss = 20;
	start(&s);
	assert_true(run(&s, both_open, 1000000));
	transfer(&s, 256 * 1024);
	assert_true(dc_stats(s.a.dc)->ooo_dropped + dc_stats(s.c.dc)->ooo_dropped > 0);
	assert_int_equal(dc_violations(s.a.dc), 0);
	sim_free(&s);
}

static void
test_not_ready(void **state)
{
	struct sim s;

	(void)state;
	sim_init(&s, NULL, NULL);
	s.c2a.latency = s.a2c.latency = 1;
	handshake(&s);
	s.a.not_ready = 5; /* the agent's dial has not completed yet */
	transfer(&s, 64 * 1024);
	assert_int_equal(s.a.not_ready, 0);
	assert_int_equal(dc_stats(s.a.dc)->not_ready, 5);
	assert_true(dc_stats(s.c.dc)->retransmits >= 1);
	assert_int_equal(dc_violations(s.a.dc), 0);
	sim_free(&s);
}

/* A buffered (already acked) message refused by deliver is retried by the dc. */
static void
test_not_ready_buffered(void **state)
{
	struct sim s;
	struct buf b;
	uint64_t acks;

	(void)state;
	sim_init(&s, NULL, NULL);
	handshake(&s);
	buf_init(&b, 0);
	/* The client's next input seq is 1: 2 arrives first and waits. */
	mk(&b, AMK_INPUT, NULL, 2, 0, PT_OUTPUT, "BB", 2);
	assert_int_equal(dc_receive(s.a.dc, buf_ptr(&b), buf_len(&b), s.now), 0);
	assert_int_equal(dc_stats(s.a.dc)->out_of_order, 1);
	assert_int_equal(s.a.rxlen, 0);
	mk(&b, AMK_INPUT, NULL, 1, 0, PT_OUTPUT, "A", 1);
	assert_int_equal(dc_receive(s.a.dc, buf_ptr(&b), buf_len(&b), s.now), 0);
	assert_int_equal(s.a.rxlen, 3);
	assert_memory_equal(s.a.rx, "ABB", 3);

	/* 3 is taken, the buffered 4 is refused: dc_input_ready retries it. */
	mk(&b, AMK_INPUT, NULL, 4, 0, PT_OUTPUT, "DD", 2);
	assert_int_equal(dc_receive(s.a.dc, buf_ptr(&b), buf_len(&b), s.now), 0);
	mk(&b, AMK_INPUT, NULL, 3, 0, PT_OUTPUT, "C", 1);
	s.a.accept_first = 1;
	s.a.not_ready = 2;
	acks = dc_stats(s.a.dc)->acks_out;
	assert_int_equal(dc_receive(s.a.dc, buf_ptr(&b), buf_len(&b), s.now), 0);
	assert_int_equal(s.a.rxlen, 4);
	assert_int_equal(dc_stats(s.a.dc)->acks_out, acks + 1); /* "C" only */
	/* The tick retries, is refused again and asks to be called back soon. */
	assert_true(dc_tick(s.a.dc, s.now) <= s.now + 100);
	assert_int_equal(s.a.rxlen, 4);
	dc_tick(s.a.dc, s.now + 100);
	assert_int_equal(s.a.rxlen, 6);
	assert_memory_equal(s.a.rx, "ABBCDD", 6);

	/* Same again, resumed by dc_input_ready. */
	mk(&b, AMK_INPUT, NULL, 6, 0, PT_OUTPUT, "FF", 2);
	assert_int_equal(dc_receive(s.a.dc, buf_ptr(&b), buf_len(&b), s.now), 0);
	mk(&b, AMK_INPUT, NULL, 5, 0, PT_OUTPUT, "E", 1);
	s.a.accept_first = 1;
	s.a.not_ready = 3;
	assert_int_equal(dc_receive(s.a.dc, buf_ptr(&b), buf_len(&b), s.now), 0);
	assert_int_equal(dc_input_ready(s.a.dc, s.now), 0);
	assert_int_equal(dc_input_ready(s.a.dc, s.now), 0);
	assert_int_equal(s.a.rxlen, 7);
	assert_int_equal(dc_input_ready(s.a.dc, s.now), 0);
	assert_int_equal(s.a.rxlen, 9);
	assert_memory_equal(s.a.rx, "ABBCDDEFF", 9);
	/* Not acked twice, nothing counted as a violation. */
	assert_int_equal(dc_stats(s.a.dc)->acks_out, acks + 3);
	assert_int_equal(dc_violations(s.a.dc), 0);
	buf_free(&b);
	sim_free(&s);
}

static void
test_pause(void **state)
{
	struct sim s;
	struct buf b;
	uint64_t frames, next;
	uint8_t data[5000];

	(void)state;
	sim_init(&s, NULL, NULL);
	handshake(&s);
	buf_init(&b, 0);
	memset(data, 'p', sizeof(data));
	/* The gateway's pause: may carry an incomplete header (no header
	 * length, no date, no digest). */
	mk(&b, AMK_PAUSE_PUB, NULL, 0, 0, 0, "", 0);
	{
		uint8_t f[AGENTMSG_HEADER_SIZE];

		memcpy(f, buf_ptr(&b), sizeof(f));
		memset(f, 0, 4);
		memset(f + 40, 0, 8);
		memset(f + 80, 0, 32);
		assert_int_equal(dc_receive(s.c.dc, f, sizeof(f), s.now), 0);
	}
	assert_true(dc_paused(s.c.dc));
	assert_int_equal(s.c.ev[DC_EV_PAUSED], 1);
	frames = dc_stats(s.c.dc)->frames_out;
	assert_int_equal(dc_send(s.c.dc, data, sizeof(data), s.now), sizeof(data));
	assert_int_equal(dc_stats(s.c.dc)->frames_out, frames); /* queued, not sent */
	assert_int_equal(dc_unacked(s.c.dc), 5);
	next = dc_tick(s.c.dc, s.now + 5000);
	assert_int_equal(dc_stats(s.c.dc)->frames_out, frames); /* no retransmission */
	assert_true(next == DC_NO_DEADLINE);
	mk(&b, AMK_START_PUB, NULL, 0, 0, 0, "", 0);
	assert_int_equal(dc_receive(s.c.dc, buf_ptr(&b), buf_len(&b), s.now), 0);
	assert_false(dc_paused(s.c.dc));
	assert_int_equal(s.c.ev[DC_EV_RESUMED], 1);
	assert_int_equal(dc_stats(s.c.dc)->frames_out, frames + 5);
	assert_true(run(&s, both_open, 100000));
	assert_int_equal(s.a.rxlen, sizeof(data));
	assert_memory_equal(s.a.rx, data, sizeof(data));

	/* Incoming stream data also ends a pause (as the agent does). */
	mk(&b, AMK_PAUSE_PUB, NULL, 0, 0, 0, "", 0);
	assert_int_equal(dc_receive(s.c.dc, buf_ptr(&b), buf_len(&b), s.now), 0);
	assert_true(dc_paused(s.c.dc));
	assert_int_equal(dc_send(s.c.dc, data, 10, s.now), 10);
	assert_int_equal(dc_send(s.a.dc, data, 10, s.now), 10);
	assert_true(run(&s, both_open, 100000));
	assert_false(dc_paused(s.c.dc));
	assert_int_equal(s.a.rxlen, sizeof(data) + 10);
	assert_int_equal(s.c.rxlen, 10);
	assert_int_equal(dc_stats(s.c.dc)->retransmits, 0);
	buf_free(&b);
	sim_free(&s);
}

static void
test_window(void **state)
{
	struct sim s;
	struct dc_config cc = { 0 };
	uint8_t data[100 * 1024];

	(void)state;
	cc.window = 8;
	sim_init(&s, &cc, NULL);
	s.c2a.latency = s.a2c.latency = 10;
	handshake(&s);
	memset(data, 'w', sizeof(data));
	assert_int_equal(dc_window_room(s.c.dc), 8);
	assert_int_equal(dc_send(s.c.dc, data, sizeof(data), s.now), 8 * AGENTMSG_STREAM_CHUNK);
	assert_int_equal(dc_window_room(s.c.dc), 0);
	assert_int_equal(dc_send(s.c.dc, data, sizeof(data), s.now), 0);
	assert_int_equal(dc_send_flag(s.c.dc, FLAG_TERMINATE_SESSION, s.now), E_FULL);
	assert_int_equal(s.c.ev[DC_EV_WINDOW_OPEN], 0);
	assert_true(run(&s, both_open, 100000));
	assert_int_equal(s.c.ev[DC_EV_WINDOW_OPEN], 1);
	assert_int_equal(dc_window_room(s.c.dc), 8);
	assert_int_equal(s.a.rxlen, 8 * AGENTMSG_STREAM_CHUNK);
	/* The rest goes through in window-sized pieces. */
	s.c.src = data;
	s.c.srclen = sizeof(data);
	s.c.srcoff = 8 * AGENTMSG_STREAM_CHUNK;
	assert_true(run(&s, transfer_done, 1000000));
	assert_memory_equal(s.a.rx, data, sizeof(data));
	assert_int_equal(dc_stats(s.c.dc)->retransmits, 0);
	sim_free(&s);
}

/* The outgoing ring starts small and grows while frames are in flight:
 * data sent across several growths, with losses, arrives whole and in order. */
static void
test_ring_growth(void **state)
{
	struct sim s;
	struct dc_config cc = { 0 };
	static uint8_t data[600 * 1024];

	(void)state;
	cc.window = 1000;
	sim_init(&s, &cc, NULL);
	s.c2a.latency = s.a2c.latency = 10;
	s.c2a.drop = 20;
	handshake(&s);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + i / 1024);
	assert_int_equal(dc_window_room(s.c.dc), 1000);
	assert_int_equal(dc_send(s.c.dc, data, sizeof(data), s.now), sizeof(data));
	assert_int_equal(dc_window_room(s.c.dc), 1000 - sizeof(data) / AGENTMSG_STREAM_CHUNK);
	s.c.src = data;
	s.c.srclen = sizeof(data);
	s.c.srcoff = sizeof(data);
	assert_true(run(&s, transfer_done, 1000000));
	assert_int_equal(s.a.rxlen, sizeof(data));
	assert_memory_equal(s.a.rx, data, sizeof(data));
	assert_int_equal(dc_stats(s.c.dc)->peak_in_flight, sizeof(data) / AGENTMSG_STREAM_CHUNK);
	assert_int_equal(dc_window_room(s.c.dc), 1000);
	assert_int_equal(dc_violations(s.a.dc), 0);
	sim_free(&s);
}

/*
 * The paced window: at the floor (256) while the round trip is under the
 * clock's granularity, and opening to about twice the messages per round
 * trip once the round trip is long (here 40 ms: the window doubles per
 * interval while it limits), never past the configured window.
 */
static void
test_pace_window(void **state)
{
	static uint8_t data[6 * 1024 * 1024];
	const uint32_t lat[] = { 0, 20 };

	(void)state;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 13 + i / 4096);
	for (size_t k = 0; k < sizeof(lat) / sizeof(lat[0]); k++) {
		struct sim s;
		struct dc_config cc = { 0 };
		const struct dc_stats *st;

		cc.window = 3000;
		cc.pace = 1;
		sim_init(&s, &cc, NULL);
		s.c2a.latency = s.a2c.latency = lat[k];
		handshake(&s);
		s.c.src = data;
		s.c.srclen = sizeof(data);
		assert_true(run(&s, transfer_done, 10000000));
		assert_int_equal(s.a.rxlen, sizeof(data));
		assert_memory_equal(s.a.rx, data, sizeof(data));
		st = dc_stats(s.c.dc);
		if (lat[k] == 0) {
			assert_int_equal(st->pace_window, DC_PACE_MIN);
			assert_true(st->peak_in_flight <= DC_PACE_MIN);
		} else {
			assert_true(st->pace_window > 4 * DC_PACE_MIN);
			assert_true(st->pace_window <= 3000);
			assert_true(st->peak_in_flight > 4 * DC_PACE_MIN);
		}
		sim_free(&s);
	}
}

/* A paced client with the given window over a path of latency ms each way. */
static void
paced_sim(struct sim *s, uint32_t window, uint32_t latency)
{
	struct dc_config cc = { 0 };

	cc.window = window;
	cc.pace = 1;
	sim_init(s, &cc, NULL);
	s->c2a.latency = s->a2c.latency = latency;
}

static int
window_2048(struct sim *s)
{
	return dc_stats(s->c.dc)->pace_window >= 2048;
}

/*
 * At 50 ms each way the window opens like TCP slow start, doubling every
 * round trip while it limits sending: from 256 to 2048 in about four round
 * trips (three doublings, and one for the first rate sample). Without the
 * startup gain a rate sample lags a round trip behind the window, which
 * then doubles every other round trip: six.
 */
static void
test_pace_startup(void **state)
{
	static uint8_t data[16 * 1024 * 1024];
	struct sim s;
	uint64_t t0;

	(void)state;
	memset(data, 's', sizeof(data));
	paced_sim(&s, 3000, 50);
	handshake(&s);
	t0 = s.now;
	s.c.src = data;
	s.c.srclen = sizeof(data);
	assert_true(run(&s, window_2048, 10000000));
	assert_true(s.now - t0 <= 5 * 100);
	assert_true(run(&s, transfer_done, 10000000));
	assert_int_equal(s.a.rxlen, sizeof(data));
	assert_int_equal(dc_stats(s.c.dc)->pace_window, 3000);
	sim_free(&s);
}

/*
 * Startup ends once the window, filled, gets no more through: over a 100 ms
 * round trip with a bottleneck of 20 messages per ms (2020 per round trip,
 * the window's gain of 4 would keep 8000 in flight, 6000 of them queued at
 * the bottleneck), the window settles at twice the path's messages per
 * round trip. The sender offers only what fits, as ssm-proxy does, so a
 * window filled to the brim must count as holding data back.
 */
static void
test_pace_startup_ends(void **state)
{
	static uint8_t data[40 * 1024 * 1024];
	struct sim s;
	uint32_t w;

	(void)state;
	memset(data, 'b', sizeof(data));
	paced_sim(&s, 20000, 50);
	s.c2a.rate = 20;
	handshake(&s);
	s.c.fit = 1;
	s.c.src = data;
	s.c.srclen = sizeof(data);
	assert_true(run(&s, transfer_done, 100000000));
	assert_int_equal(s.a.rxlen, sizeof(data));
	w = dc_stats(s.c.dc)->pace_window;
	assert_true(w >= 3 * 2020 / 2);
	assert_true(w <= 5 * 2020 / 2);
	sim_free(&s);
}

static void
test_kms(void **state)
{
	struct sim s;
	struct dc_config ac = { 0 };
	const struct agentmsg *m;
	struct hs_response resp;

	(void)state;
	ac.extra_actions_json = "{\"ActionType\":\"KMSEncryption\",\"ActionParameters\":"
	    "{\"KMSKeyId\":\"arn:aws:kms:us-east-1:111122223333:key/k\",\"Challenge\":\"AAAA\"}}";
	sim_init(&s, NULL, &ac);
	start(&s);
	run(&s, NULL, 100000);
	assert_int_equal(dc_state(s.c.dc), DC_ST_FAILED);
	assert_int_equal(s.c.ev[DC_EV_FAILED], 1);
	assert_int_equal(dc_error(s.c.dc)->code, E_PROTO);
	assert_string_equal(dc_error(s.c.dc)->msg,
	    "the agent requested KMS encryption, which port sessions never use");
	m = find_cap(&s.c, AMK_INPUT, PT_HANDSHAKE_RESPONSE);
	assert_non_null(m);
	assert_int_equal(hs_response_parse(m->payload, m->payload_size, &resp, NULL), 0);
	assert_int_equal(resp.n_actions, 2);
	assert_int_equal(resp.actions[0].status, HS_SUCCESS);
	assert_string_equal(resp.actions[1].type, "KMSEncryption");
	assert_int_equal(resp.actions[1].status, HS_FAILED);
	assert_true(resp.actions[1].error[0] != '\0');
	/* The agent cancels, as the real one does. */
	assert_int_equal(dc_state(s.a.dc), DC_ST_FAILED);
	assert_non_null(strstr(dc_error(s.a.dc)->msg, "refused action KMSEncryption (status 2)"));
	assert_int_equal(dc_violations(s.a.dc), 0);
	assert_true(dc_send(s.c.dc, (const uint8_t *)"x", 1, s.now) < 0);
	sim_free(&s);
}

static int
agent_failed(struct sim *s)
{
	return dc_state(s->a.dc) == DC_ST_FAILED;
}

static void
test_unknown_action(void **state)
{
	struct sim s;
	struct dc_config ac = { 0 };
	const struct agentmsg *m;
	struct hs_response resp;

	(void)state;
	ac.extra_actions_json = "{\"ActionType\":\"Teleport\",\"ActionParameters\":{}}";
	sim_init(&s, NULL, &ac);
	start(&s);
	assert_true(run(&s, agent_failed, 100000));
	m = find_cap(&s.c, AMK_INPUT, PT_HANDSHAKE_RESPONSE);
	assert_non_null(m);
	assert_int_equal(hs_response_parse(m->payload, m->payload_size, &resp, NULL), 0);
	assert_int_equal(resp.n_actions, 2);
	assert_int_equal(resp.actions[0].status, HS_SUCCESS);
	assert_string_equal(resp.actions[1].type, "Teleport");
	assert_int_equal(resp.actions[1].status, HS_UNSUPPORTED);
	/* The client leaves the decision to the agent, which cancels. */
	assert_int_equal(s.c.ev[DC_EV_FAILED], 0);
	assert_int_equal(dc_state(s.a.dc), DC_ST_FAILED);
	assert_non_null(strstr(dc_error(s.a.dc)->msg, "refused action Teleport (status 3)"));
	sim_free(&s);
}

static void
test_session_type(void **state)
{
	struct sim s;
	struct dc_config ac = { 0 };
	const struct agentmsg *m;
	struct hs_response resp;

	(void)state;
	ac.session_type = "InteractiveCommands";
	ac.properties_json = "{}";
	sim_init(&s, NULL, &ac);
	start(&s);
	run(&s, NULL, 100000);
	assert_int_equal(dc_state(s.c.dc), DC_ST_FAILED);
	assert_non_null(strstr(dc_error(s.c.dc)->msg, "\"InteractiveCommands\""));
	assert_non_null(strstr(dc_error(s.c.dc)->msg, "only Port sessions"));
	m = find_cap(&s.c, AMK_INPUT, PT_HANDSHAKE_RESPONSE);
	assert_non_null(m);
	assert_int_equal(hs_response_parse(m->payload, m->payload_size, &resp, NULL), 0);
	assert_int_equal(resp.actions[0].status, HS_FAILED);
	assert_int_equal(dc_state(s.a.dc), DC_ST_FAILED);
	sim_free(&s);
}

static void
test_handshake_timeout(void **state)
{
	struct sim s;

	(void)state;
	sim_init(&s, NULL, NULL);
	s.a2c.blackhole = 1;
	start(&s);
	run(&s, NULL, 100000);
	assert_int_equal(dc_state(s.a.dc), DC_ST_FAILED);
	assert_int_equal(dc_error(s.a.dc)->code, E_TIMEOUT);
	assert_int_equal(dc_state(s.c.dc), DC_ST_FAILED);
	assert_int_equal(dc_error(s.c.dc)->code, E_TIMEOUT);
	assert_true(dc_stats(s.a.dc)->retransmits > 0);
	sim_free(&s);
}

static void
test_channel_closed(void **state)
{
	struct sim s;
	struct dc_config ac = { 0 };
	struct buf b;
	const char *js = "{\"MessageId\":\"dd01e56b-ff48-483e-a508-b5f073f31b16\",\"CreatedDate\":"
	    "\"1503434274948\",\"DestinationId\":\"i-0123\",\"SessionId\":\"sessionId_01234567890abcedf\","
	    "\"MessageType\":\"channel_closed\",\"SchemaVersion\":1,\"Output\":\"payload\"}";
	uint64_t acks;

	(void)state;
	ac.target_id = "i-0123abc";
	sim_init(&s, NULL, &ac);
	handshake(&s);
	acks = dc_stats(s.c.dc)->acks_out;
	assert_int_equal(dc_send_channel_closed(s.a.dc, "sess-1", "session ended by the agent", s.now), 0);
	assert_int_equal(dc_state(s.a.dc), DC_ST_CLOSED);
	run(&s, NULL, 1000);
	assert_int_equal(s.c.ev[DC_EV_CHANNEL_CLOSED], 1);
	assert_string_equal(s.c.text, "session ended by the agent");
	assert_string_equal(s.c.sid, "sess-1");
	assert_int_equal(s.c.rc, E_CLOSED);
	assert_int_equal(dc_state(s.c.dc), DC_ST_CLOSED);
	assert_int_equal(dc_stats(s.c.dc)->acks_out, acks); /* never acked */
	assert_true(dc_send(s.c.dc, (const uint8_t *)"x", 1, s.now) == E_CLOSED);
	sim_free(&s);

	/* The gateway's form: NUL padded type, HeaderLength 112, no PayloadType. */
	sim_init(&s, NULL, NULL);
	handshake(&s);
	buf_init(&b, 0);
	mk(&b, AMK_CHANNEL_CLOSED, NULL, 0, 0, 0, js, strlen(js));
	{
		uint8_t *f = malloc(buf_len(&b));
		size_t n = buf_len(&b) - 4;

		assert_non_null(f);
		memcpy(f, buf_ptr(&b), 112);
		poke_u32(f, 112);
		memset(f + 4 + strlen(AM_CHANNEL_CLOSED), 0, 32 - strlen(AM_CHANNEL_CLOSED));
		memcpy(f + 112, buf_ptr(&b) + 116, buf_len(&b) - 116);
		assert_int_equal(dc_receive(s.c.dc, f, n, s.now), E_CLOSED);
		free(f);
	}
	assert_int_equal(s.c.ev[DC_EV_CHANNEL_CLOSED], 1);
	assert_string_equal(s.c.text, "payload");
	assert_string_equal(s.c.sid, "sessionId_01234567890abcedf");
	/* Garbage JSON still closes, with empty texts. */
	buf_free(&b);
	sim_free(&s);

	sim_init(&s, NULL, NULL);
	handshake(&s);
	buf_init(&b, 0);
	mk(&b, AMK_CHANNEL_CLOSED, NULL, 0, 0, 0, "{nope", 5);
	assert_int_equal(dc_receive(s.c.dc, buf_ptr(&b), buf_len(&b), s.now), E_CLOSED);
	assert_string_equal(s.c.text, "");
	buf_free(&b);
	sim_free(&s);
}

static void
test_flags(void **state)
{
	struct sim s;
	const struct agentmsg *m;
	struct buf b;
	uint8_t p[4];

	(void)state;
	sim_init(&s, NULL, NULL);
	handshake(&s);
	assert_int_equal(dc_send_flag(s.c.dc, FLAG_TERMINATE_SESSION, s.now), 0);
	run(&s, both_open, 1000);
	assert_int_equal(s.a.ev[DC_EV_FLAG], 1);
	assert_int_equal(s.a.flag, FLAG_TERMINATE_SESSION);
	assert_int_equal(s.a.rxlen, 0); /* never stream bytes */
	m = find_cap(&s.c, AMK_INPUT, PT_FLAG);
	assert_non_null(m);
	assert_int_equal(m->seq, 1); /* in sequence after the handshake response */
	assert_int_equal(m->payload_size, 4);
	assert_memory_equal(m->payload, "\0\0\0\2", 4);
	assert_int_equal(dc_send_flag(s.c.dc, FLAG_DISCONNECT_TO_PORT, s.now), 0);
	run(&s, both_open, 1000);
	assert_int_equal(s.a.flag, FLAG_DISCONNECT_TO_PORT);
	assert_int_equal(dc_violations(s.a.dc), 0);

	/* Agent to client: a flag raises an event on the client too. */
	buf_init(&b, 0);
	poke_u32(p, FLAG_CONNECT_TO_PORT_ERROR);
	mk(&b, AMK_OUTPUT, NULL, 2, 0, PT_FLAG, p, 4);
	assert_int_equal(dc_receive(s.c.dc, buf_ptr(&b), buf_len(&b), s.now), 0);
	assert_int_equal(s.c.flag, FLAG_CONNECT_TO_PORT_ERROR);
	assert_int_equal(s.c.rxlen, 0);
	buf_free(&b);
	sim_free(&s);

	/* Old agents do not know the TerminateSession flag. */
	{
		struct dc_config ac = { 0 };

		ac.agent_version = "2.3.722.0";
		sim_init(&s, NULL, &ac);
		handshake(&s);
		assert_false(dc_agent_supports_terminate(s.c.dc));
		sim_free(&s);
	}
}

static void
test_rto_floor(void **state)
{
	for (int floor = 0; floor < 2; floor++) {
		struct dc_config cc = { 0 };
		struct sim s;
		uint8_t data[100];

		(void)state;
		cc.rto_min_ms = floor ? 0 : 1; /* 0: the default floor */
		sim_init(&s, &cc, NULL);
		s.c2a.latency = s.a2c.latency = 1;
		handshake(&s);
		memset(data, 'r', sizeof(data));
		/* A fast link teaches the estimator a round trip of about 2 ms. */
		for (int i = 0; i < 50; i++) {
			assert_int_equal(dc_send(s.c.dc, data, sizeof(data), s.now), sizeof(data));
			assert_true(run(&s, both_open, 10000));
		}
		/* Then acks come back after 250 ms (a queue ahead of them). */
		s.c2a.latency = 125;
		s.a2c.latency = 125;
		for (int i = 0; i < 20; i++) {
			assert_int_equal(dc_send(s.c.dc, data, sizeof(data), s.now), sizeof(data));
			assert_true(run(&s, both_open, 100000));
		}
		assert_int_equal(s.a.rxlen, 70 * sizeof(data));
		if (floor)
			assert_int_equal(dc_stats(s.c.dc)->retransmits, 0);
		else
			assert_true(dc_stats(s.c.dc)->retransmits > 0);
		sim_free(&s);
	}
}

static void
test_resend_all(void **state)
{
	struct sim s;
	uint8_t data[10 * AGENTMSG_STREAM_CHUNK];
	size_t first;

	(void)state;
	sim_init(&s, NULL, NULL);
	s.c2a.latency = s.a2c.latency = 5;
	handshake(&s);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	/* The connection breaks: everything sent now is lost. */
	s.c2a.blackhole = 1;
	first = s.c.ncap;
	assert_int_equal(dc_send(s.c.dc, data, sizeof(data), s.now), sizeof(data));
	assert_int_equal(s.c.ncap, first + 10);
	assert_int_equal(dc_unacked(s.c.dc), 10);
	/* Reconnected: resend everything at once, byte for byte the same. */
	s.c2a.blackhole = 0;
	assert_int_equal(dc_resend_all(s.c.dc, s.now), 0);
	assert_int_equal(s.c.ncap, first + 20);
	assert_int_equal(dc_stats(s.c.dc)->retransmits, 10);
	for (size_t i = 0; i < 10; i++) {
		assert_int_equal(s.c.caplen[first + i], s.c.caplen[first + 10 + i]);
		assert_memory_equal(s.c.capraw[first + i], s.c.capraw[first + 10 + i], s.c.caplen[first + i]);
	}
	assert_true(run(&s, both_open, 100000));
	assert_int_equal(s.a.rxlen, sizeof(data));
	assert_memory_equal(s.a.rx, data, sizeof(data));
	assert_int_equal(dc_stats(s.c.dc)->retransmits, 10);
	assert_int_equal(dc_violations(s.a.dc), 0);
	sim_free(&s);
}

/* Frames a hostile peer could send; none may crash or stall the dc. */
static void
hostile(struct sim *s, struct peer *victim, enum agentmsg_kind stream_kind)
{
	struct buf b;
	static const char *acks[] = {
		"", "{", "[]", "null", "{\"AcknowledgedMessageSequenceNumber\":-1}",
		"{\"AcknowledgedMessageSequenceNumber\":1e300}",
		"{\"AcknowledgedMessageSequenceNumber\":\"3\"}",
		"{\"AcknowledgedMessageSequenceNumber\":9007199254740992}",
		"{\"AcknowledgedMessageSequenceNumber\":1.5}",
		"{\"AcknowledgedMessageSequenceNumber\":5} trailing",
		"{\"AcknowledgedMessageType\":\"output_stream_data\"}",
	};
	static const int64_t seqs[] = {
		-1, INT64_MIN, INT64_MAX, INT64_MAX - 1, 1000000, 5000, 4999, 100001,
	};
	struct dc *dc = victim->dc;

	buf_init(&b, 0);
	/* Random bytes of random lengths. */
	for (int i = 0; i < 2000; i++) {
		size_t n = rndn(s, 400);
		uint8_t *p = random_bytes(s, n ? n : 1);

		if (i % 3 == 0 && n >= 4)
			poke_u32(p, 116); /* a plausible header length */
		dc_receive(dc, p, n, s->now);
		free(p);
	}
	/* Truncated and bit-flipped real frames. */
	mk(&b, stream_kind, NULL, 1, 0, PT_OUTPUT, "hello", 5);
	for (size_t n = 0; n < buf_len(&b); n++)
		dc_receive(dc, buf_ptr(&b), n, s->now);
	for (size_t i = 0; i < buf_len(&b); i++) {
		uint8_t *p = malloc(buf_len(&b));

		assert_non_null(p);
		memcpy(p, buf_ptr(&b), buf_len(&b));
		p[i] ^= 0x5a;
		dc_receive(dc, p, buf_len(&b), s->now);
		free(p);
	}
	/* Acks with garbage JSON or impossible numbers. */
	for (size_t i = 0; i < sizeof(acks) / sizeof(acks[0]); i++) {
		mk(&b, AMK_ACK, NULL, 0, AGENTMSG_FLAGS_ACK, 0, acks[i], strlen(acks[i]));
		dc_receive(dc, buf_ptr(&b), buf_len(&b), s->now);
	}
	/* Acks for sequence numbers never sent. */
	for (size_t i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
		char js[200];

		if (seqs[i] < 0)
			continue;
		snprintf(js, sizeof(js), "{\"AcknowledgedMessageType\":\"output_stream_data\","
		    "\"AcknowledgedMessageId\":\"dd01e56b-ff48-483e-a508-b5f073f31b16\","
		    "\"AcknowledgedMessageSequenceNumber\":%lld,\"IsSequentialMessage\":true}",
		    (long long)(seqs[i] > 9007199254740992LL ? 9007199254740992LL : seqs[i]));
		mk(&b, AMK_ACK, NULL, 0, AGENTMSG_FLAGS_ACK, 0, js, strlen(js));
		dc_receive(dc, buf_ptr(&b), buf_len(&b), s->now);
	}
	/* Stream messages with huge, negative and far-ahead seqs. */
	for (size_t i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
		mk(&b, stream_kind, NULL, seqs[i], 0, PT_OUTPUT, "zz", 2);
		dc_receive(dc, buf_ptr(&b), buf_len(&b), s->now);
	}
	/* A flood of out-of-order messages: memory stays bounded by the ring. */
	for (int i = 0; i < 20000; i++) {
		int64_t seq = 100 + (int64_t)rndn(s, 200000);
		size_t n = 1 + rndn(s, 3000);
		uint8_t *p = random_bytes(s, n);

		mk(&b, stream_kind, NULL, seq, 0, PT_OUTPUT, p, n);
		dc_receive(dc, buf_ptr(&b), buf_len(&b), s->now);
		free(p);
	}
	/* Odd payload types, empty payloads, bad flags, wrong direction, unknown types. */
	for (uint32_t pt = 0; pt < 20; pt++) {
		if (pt == PT_OUTPUT || pt == PT_HANDSHAKE_REQUEST || pt == PT_HANDSHAKE_COMPLETE)
			continue;
		mk(&b, stream_kind, NULL, 100000 + pt, 0, pt, "{}", 2);
		dc_receive(dc, buf_ptr(&b), buf_len(&b), s->now);
	}
	mk(&b, stream_kind == AMK_INPUT ? AMK_OUTPUT : AMK_INPUT, NULL, 0, 0, PT_OUTPUT, "w", 1);
	dc_receive(dc, buf_ptr(&b), buf_len(&b), s->now);
	mk(&b, AMK_SESSION_STATE, NULL, 0, 3, 0, "{\"SessionState\":\"Connected\"}", 28);
	dc_receive(dc, buf_ptr(&b), buf_len(&b), s->now);
	mk(&b, AMK_UNKNOWN, "interactive_shell", 0, 0, 0, "x", 1);
	dc_receive(dc, buf_ptr(&b), buf_len(&b), s->now);
	{
		/* Digest mismatch. */
		uint8_t *p;

		mk(&b, stream_kind, NULL, 0, 0, PT_OUTPUT, "abc", 3);
		p = malloc(buf_len(&b));
		assert_non_null(p);
		memcpy(p, buf_ptr(&b), buf_len(&b));
		p[buf_len(&b) - 1] = 'x';
		dc_receive(dc, p, buf_len(&b), s->now);
		free(p);
	}
	buf_free(&b);
}

/*
 * A client message whose payload does not match its digest: the agent role
 * drops it and counts a violation, unless told to trust digests as the
 * real agent does; the client role always drops such output.
 */
static void
test_trust_digests(void **state)
{
	for (int trust = 0; trust <= 1; trust++) {
		struct dc_config ac = { 0 };
		struct buf b;
		struct sim s;
		uint8_t *p;

		(void)state;
		ac.trust_digests = trust;
		sim_init(&s, NULL, &ac);
		handshake(&s);
		buf_init(&b, 0);
		/* Next in sequence after HandshakeResponse (client seq 0). */
		mk(&b, AMK_INPUT, NULL, 1, 0, PT_OUTPUT, "abc", 3);
		p = malloc(buf_len(&b));
		assert_non_null(p);
		memcpy(p, buf_ptr(&b), buf_len(&b));
		p[buf_len(&b) - 1] = 'x';
		assert_int_equal(dc_receive(s.a.dc, p, buf_len(&b), s.now), 0);
		if (trust) {
			assert_int_equal(s.a.rxlen, 3);
			assert_memory_equal(s.a.rx, "abx", 3);
			assert_int_equal(dc_stats(s.a.dc)->decode_errors, 0);
			assert_int_equal(dc_violations(s.a.dc), 0);
		} else {
			assert_int_equal(s.a.rxlen, 0);
			assert_int_equal(dc_stats(s.a.dc)->decode_errors, 1);
			assert_int_equal(dc_violations(s.a.dc), 1);
		}
		/* The client role never trusts: the same mismatch on output,
		 * next after HandshakeRequest and HandshakeComplete. */
		mk(&b, AMK_OUTPUT, NULL, 2, 0, PT_OUTPUT, "abc", 3);
		memcpy(p, buf_ptr(&b), buf_len(&b));
		p[buf_len(&b) - 1] = 'x';
		assert_int_equal(dc_receive(s.c.dc, p, buf_len(&b), s.now), 0);
		assert_int_equal(s.c.rxlen, 0);
		assert_int_equal(dc_stats(s.c.dc)->decode_errors, 1);
		free(p);
		buf_free(&b);
		sim_free(&s);
	}
}

static void
test_hostile(void **state)
{
	struct sim s;
	struct dc_config cc = { 0 }, ac = { 0 };
	uint64_t v;

	(void)state;
	cc.inbuf = ac.inbuf = 1000;
	sim_init(&s, &cc, &ac);
	handshake(&s);
	hostile(&s, &s.a, AMK_INPUT);
	v = dc_violations(s.a.dc);
	assert_true(v > 2000);
	assert_true(dc_stats(s.a.dc)->decode_errors > 1000);
	assert_int_equal(dc_state(s.a.dc), DC_ST_OPEN);
	hostile(&s, &s.c, AMK_OUTPUT);
	assert_int_equal(dc_state(s.c.dc), DC_ST_OPEN);
	assert_true(dc_stats(s.c.dc)->decode_errors > 1000);
	assert_int_equal(dc_violations(s.c.dc), 0); /* counted by the agent role only */
	sim_free(&s);

	/* Before the handshake: the dcs refuse to be confused. */
	sim_init(&s, NULL, NULL);
	hostile(&s, &s.a, AMK_INPUT);
	assert_true(dc_violations(s.a.dc) > 0);
	sim_free(&s);

	/* A session that saw only a little hostility still works end to end. */
	sim_init(&s, NULL, NULL);
	handshake(&s);
	{
		struct buf b;

		buf_init(&b, 0);
		mk(&b, AMK_ACK, NULL, 0, 3, 0, "{", 1);
		dc_receive(s.a.dc, buf_ptr(&b), buf_len(&b), s.now);
		dc_receive(s.c.dc, buf_ptr(&b), buf_len(&b), s.now);
		mk(&b, AMK_INPUT, NULL, -7, 0, PT_OUTPUT, "n", 1);
		dc_receive(s.a.dc, buf_ptr(&b), buf_len(&b), s.now);
		mk(&b, AMK_INPUT, NULL, INT64_MAX, 0, PT_OUTPUT, "h", 1);
		dc_receive(s.a.dc, buf_ptr(&b), buf_len(&b), s.now);
		buf_free(&b);
	}
	assert_int_equal(dc_violations(s.a.dc), 2);
	transfer(&s, 256 * 1024);
	assert_int_equal(dc_violations(s.a.dc), 2);
	sim_free(&s);
}

static void
test_agent_strict(void **state)
{
	struct sim s;
	struct buf b;
	char js[256];

	(void)state;
	sim_init(&s, NULL, NULL);
	buf_init(&b, 0);
	start(&s);
	/* Client data before the handshake completed: acked, dropped, counted. */
	mk(&b, AMK_INPUT, NULL, 0, 0, PT_OUTPUT, "early", 5);
	assert_int_equal(dc_receive(s.a.dc, buf_ptr(&b), buf_len(&b), s.now), 0);
	assert_int_equal(dc_violations(s.a.dc), 1);
	assert_int_equal(s.a.rxlen, 0);
	sim_free(&s);

	/* An ack naming the wrong type and id. */
	sim_init(&s, NULL, NULL);
	start(&s);
	snprintf(js, sizeof(js), "{\"AcknowledgedMessageType\":\"input_stream_data\","
	    "\"AcknowledgedMessageId\":\"dd01e56b-ff48-483e-a508-b5f073f31b16\","
	    "\"AcknowledgedMessageSequenceNumber\":0,\"IsSequentialMessage\":true}");
	mk(&b, AMK_ACK, NULL, 0, 3, 0, js, strlen(js));
	assert_int_equal(dc_receive(s.a.dc, buf_ptr(&b), buf_len(&b), s.now), 0);
	assert_int_equal(dc_violations(s.a.dc), 2);
	/* A bad handshake response fails the session. */
	mk(&b, AMK_INPUT, NULL, 0, 0, PT_HANDSHAKE_RESPONSE, "{\"x\":1}", 7);
	assert_true(dc_receive(s.a.dc, buf_ptr(&b), buf_len(&b), s.now) < 0);
	assert_int_equal(dc_state(s.a.dc), DC_ST_FAILED);
	assert_int_equal(dc_violations(s.a.dc), 3);
	buf_free(&b);
	sim_free(&s);

	/* The client: handshake complete before any request is a failure. */
	sim_init(&s, NULL, NULL);
	buf_init(&b, 0);
	mk(&b, AMK_OUTPUT, NULL, 0, 1, PT_HANDSHAKE_COMPLETE, "{}", 2);
	assert_int_equal(dc_receive(s.c.dc, buf_ptr(&b), buf_len(&b), s.now), E_PROTO);
	assert_int_equal(dc_state(s.c.dc), DC_ST_FAILED);
	buf_free(&b);
	sim_free(&s);
}

static void
test_versions(void **state)
{
	(void)state;
	assert_true(dc_version_greater("2.3.750.0", "2.3.722.0"));
	assert_true(dc_version_greater("10.0.0.1", "2.3.722.0"));
	assert_true(dc_version_greater("3.3.1142.0", "2.3.722.0"));
	assert_false(dc_version_greater("2.3.722.0", "2.3.722.0"));
	assert_false(dc_version_greater("2.3.700.0", "2.3.722.0"));
	assert_false(dc_version_greater("3.0", "2.3.722.0")); /* counts differ */
	assert_false(dc_version_greater("3.0.0.0.0", "2.3.722.0"));
	assert_false(dc_version_greater("", "1"));
	assert_false(dc_version_greater("a.b", "1.0"));
	assert_false(dc_version_greater("1..2", "1.0.1"));
	assert_false(dc_version_greater("99999999999999999999.0", "1.0"));
	assert_false(dc_version_greater(NULL, "1.0"));
	assert_true(dc_version_greater("1.2", "1.1"));
}

static void
test_open_data_channel(void **state)
{
	struct buf b;
	struct dc_open o;
	uint8_t cid[16];
	struct err e = { 0 };
	const char *bad[] = {
		"{\"MessageSchemaVersion\":\"1.0\",\"RequestId\":\"dd01e56b-ff48-483e-a508-b5f073f31b16\"}",
		"{\"MessageSchemaVersion\":\"1.0\",\"RequestId\":\"nope\",\"TokenValue\":\"t\"}",
		"{\"RequestId\":\"dd01e56b-ff48-483e-a508-b5f073f31b16\",\"TokenValue\":\"t\"}",
		"{\"MessageSchemaVersion\":\"1.0\",\"RequestId\":\"dd01e56b-ff48-483e-a508-b5f073f31b16\","
		"\"TokenValue\":\"t\",\"ClientId\":7}",
		"[1]", "", "{\"MessageSchemaVersion\":\"1.0\"",
	};

	(void)state;
	buf_init(&b, 0);
	assert_int_equal(uuid_v4(cid), 0);
	assert_int_equal(dc_open_build(&b, "TOKEN-abc", cid, "1.2.694.0", &e), 0);
	assert_int_equal(strncmp((const char *)buf_ptr(&b), "{\"MessageSchemaVersion\":\"1.0\",\"RequestId\":\"", 43), 0);
	assert_non_null(strstr(buf_cstr(&b), "\"TokenValue\":\"TOKEN-abc\",\"ClientId\":\""));
	assert_non_null(strstr(buf_cstr(&b), "\",\"ClientVersion\":\"1.2.694.0\"}"));
	assert_int_equal(dc_open_parse(buf_ptr(&b), buf_len(&b), &o, &e), 0);
	assert_string_equal(o.token, "TOKEN-abc");
	assert_string_equal(o.schema_version, "1.0");
	assert_string_equal(o.client_version, "1.2.694.0");
	{
		char cs[UUID_STR_LEN + 1];

		uuid_format(cid, cs);
		assert_string_equal(o.client_id, cs);
	}
	dc_open_free(&o);
	assert_null(o.token);
	/* ClientId and ClientVersion are optional (older clients). */
	buf_reset(&b);
	assert_int_equal(dc_open_build(&b, "T", NULL, NULL, &e), 0);
	assert_int_equal(dc_open_parse(buf_ptr(&b), buf_len(&b), &o, &e), 0);
	assert_string_equal(o.client_id, "");
	dc_open_free(&o);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(dc_open_parse((const uint8_t *)bad[i], strlen(bad[i]), &o, &e), E_PROTO);
		assert_null(o.token);
		dc_open_free(&o);
	}
	assert_int_equal(dc_open_build(&b, "", NULL, NULL, &e), E_INVAL);
	buf_free(&b);
}

static void
test_handshake_json(void **state)
{
	struct buf b;
	struct hs_request req;
	struct hs_response resp;
	struct hs_result res[2] = {
		{ "SessionType", HS_SUCCESS, "" },
		{ "KMSEncryption", HS_FAILED, "no" },
	};
	int64_t ns;
	char msg[64];
	const char *complete = "{\"HandshakeTimeToComplete\":1000000,\"CustomerMessage\":\"Handshake Complete\"}";
	const char *req30 = "{\"AgentVersion\":\"3.0\",\"RequestedClientActions\":[{\"ActionType\":"
	    "\"SessionType\",\"ActionParameters\":{\"SessionType\":\"Port\",\"Properties\":{\"portNumber\":\"22\"}}}]}";

	(void)state;
	buf_init(&b, 0);
	/* The official client's answer, byte for byte (section 3.3). */
	assert_int_equal(hs_response_build(&b, "1.2.0.0", res, 1, NULL), 0);
	assert_string_equal(buf_cstr(&b), "{\"ClientVersion\":\"1.2.0.0\",\"ProcessedClientActions\":"
	    "[{\"ActionType\":\"SessionType\",\"ActionStatus\":1,\"ActionResult\":null,\"Error\":\"\"}],"
	    "\"Errors\":null}");
	buf_reset(&b);
	assert_int_equal(hs_response_build(&b, "1.2.0.0", res, 2, NULL), 0);
	assert_int_equal(hs_response_parse(buf_ptr(&b), buf_len(&b), &resp, NULL), 0);
	assert_int_equal(resp.n_actions, 2);
	assert_int_equal(resp.actions[1].status, HS_FAILED);
	assert_string_equal(resp.actions[1].error, "no");
	assert_non_null(strstr(buf_cstr(&b), "\"Errors\":[\"no\"]"));

	assert_int_equal(hs_request_parse((const uint8_t *)req30, strlen(req30), &req, NULL), 0);
	assert_string_equal(req.agent_version, "3.0");
	assert_int_equal(req.actions[0].kind, HSA_SESSION_TYPE);
	buf_reset(&b);
	assert_int_equal(hs_request_build(&b, "3.3.1142.0", "Port", "{\"portNumber\":\"22\"}", NULL, NULL), 0);
	assert_string_equal(buf_cstr(&b), "{\"AgentVersion\":\"3.3.1142.0\",\"RequestedClientActions\":"
	    "[{\"ActionType\":\"SessionType\",\"ActionParameters\":{\"SessionType\":\"Port\","
	    "\"Properties\":{\"portNumber\":\"22\"}}}]}");
	buf_reset(&b);
	assert_int_equal(hs_request_build(&b, "1", "Port", "[", NULL, NULL), E_CONFIG);

	assert_int_equal(hs_complete_parse((const uint8_t *)complete, strlen(complete), &ns, msg,
	    sizeof(msg), NULL), 0);
	assert_int_equal(ns, 1000000);
	assert_string_equal(msg, "Handshake Complete");
	buf_reset(&b);
	assert_int_equal(hs_complete_build(&b, 123456789012345678LL, "", NULL), 0);
	assert_string_equal(buf_cstr(&b), "{\"HandshakeTimeToComplete\":123456789012345678,\"CustomerMessage\":\"\"}");
	/* Too many actions, non-objects, trailing junk. */
	{
		const char *bad[] = {
			"{\"RequestedClientActions\":[{\"ActionType\":\"a\"},{\"ActionType\":\"b\"},"
			"{\"ActionType\":\"c\"},{\"ActionType\":\"d\"},{\"ActionType\":\"e\"}]}",
			"{\"RequestedClientActions\":[1]}", "{\"RequestedClientActions\":{}}",
			"{\"RequestedClientActions\":[]} x", "{\"AgentVersion\":3,\"RequestedClientActions\":[]}",
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			assert_int_equal(hs_request_parse((const uint8_t *)bad[i], strlen(bad[i]), &req, NULL),
			    E_PROTO);
	}
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_open_data_channel),
		cmocka_unit_test(test_handshake_json),
		cmocka_unit_test(test_handshake),
		cmocka_unit_test(test_trust_digests),
		cmocka_unit_test(test_bulk),
		cmocka_unit_test(test_drop),
		cmocka_unit_test(test_duplicate),
		cmocka_unit_test(test_reorder),
		cmocka_unit_test(test_ack_loss),
		cmocka_unit_test(test_chaos),
		cmocka_unit_test(test_not_ready),
		cmocka_unit_test(test_not_ready_buffered),
		cmocka_unit_test(test_pause),
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_ring_growth),
		cmocka_unit_test(test_pace_window),
		cmocka_unit_test(test_pace_startup),
		cmocka_unit_test(test_pace_startup_ends),
		cmocka_unit_test(test_kms),
		cmocka_unit_test(test_unknown_action),
		cmocka_unit_test(test_session_type),
		cmocka_unit_test(test_handshake_timeout),
		cmocka_unit_test(test_channel_closed),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_rto_floor),
		cmocka_unit_test(test_resend_all),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_agent_strict),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
