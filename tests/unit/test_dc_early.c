/*
 * test_dc_early.c: input sent right after the handshake, which the agent
 * drops until its dial completes, is resent after a short timer (not a
 * whole RTO); once the agent takes stream data, the normal RTO applies.
 * Two data channels wired back to back in memory, on a simulated clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "datachannel.h"

struct side {
	struct buf q;        /* frames sent by the other side, [u32 len][frame] */
	struct dc *dc;       /* the channel that receives q */
	int refuse;          /* deliver answers E_AGAIN (target not dialled yet) */
	size_t got;
};

static int
enqueue(void *arg, const uint8_t *frame, size_t len)
{
	struct side *s = arg;

	return buf_put_u32(&s->q, (uint32_t)len) == 0 && buf_put(&s->q, frame, len) == 0 ? 0 : E_NOMEM;
}

static int
deliver(void *arg, const uint8_t *data, size_t len)
{
	struct side *s = arg;

	(void)data;
	if (s->refuse)
		return E_AGAIN;
	s->got += len;
	return 0;
}

/* Feeds every queued frame to s->dc. */
static void
pump(struct side *s, uint64_t now)
{
	while (buf_len(&s->q) > 0) {
		const uint8_t *p;
		uint32_t len;

		assert_int_equal(buf_get_u32(&s->q, &len), 0);
		assert_int_equal(buf_get_direct(&s->q, len, &p), 0);
		assert_true(dc_receive(s->dc, p, len, now) >= 0);
	}
	buf_reset(&s->q);
}

static void
test_early_resend(void **state)
{
	struct side to_agent, to_client;  /* named by who receives */
	struct dc_config cc, ac;
	struct dc_callbacks ccb, acb;
	struct dc *client, *agent;
	struct err e = { 0, "" };
	uint64_t now = 1000, next;
	const uint8_t banner[] = "SSH-2.0-OpenSSH_9.2\r\n";

	(void)state;
	memset(&to_agent, 0, sizeof(to_agent));
	memset(&to_client, 0, sizeof(to_client));
	buf_init(&to_agent.q, 0);
	buf_init(&to_client.q, 0);
	memset(&cc, 0, sizeof(cc));
	cc.role = DC_CLIENT;
	memset(&ac, 0, sizeof(ac));
	ac.role = DC_AGENT;
	memset(&ccb, 0, sizeof(ccb));
	ccb.send_frame = enqueue;
	ccb.deliver = deliver;
	acb = ccb;
	ccb.arg = &to_agent;   /* the client's frames go to the agent */
	acb.arg = &to_client;
	assert_int_equal(dc_new(&client, &cc, &ccb, &e), 0);
	assert_int_equal(dc_new(&agent, &ac, &acb, &e), 0);
	to_agent.dc = agent;
	to_client.dc = client;

	/* Handshake with a 2 ms round trip; the agent's deliver counts on
	 * to_client, and refuses until its "dial" completes. */
	to_client.refuse = 1;
	assert_int_equal(dc_start(client, now), 0);
	assert_int_equal(dc_start(agent, now), 0);
	for (int i = 0; i < 6 && dc_window_room(client) == 0; i++) {
		now += 1;
		pump(&to_client, now);
		now += 1;
		pump(&to_agent, now);
	}
	pump(&to_client, now);
	assert_true(dc_window_room(client) > 0);

	/* The banner goes out at once and is dropped by the agent. */
	assert_int_equal(dc_send(client, banner, sizeof(banner) - 1, now), (ssize_t)(sizeof(banner) - 1));
	pump(&to_agent, now);
	assert_int_equal(dc_unacked(client), 1);
	next = dc_tick(client, now);
	assert_true(next > now);
	/* Resent long before the 300 ms RTO floor. */
	assert_true(next - now < 50);
	to_client.refuse = 0;    /* the dial completed */
	now = next;
	assert_int_equal(dc_tick(client, now) > now, 1);
	assert_int_equal(dc_stats(client)->retransmits, 1);
	pump(&to_agent, now);
	pump(&to_client, now);
	assert_int_equal(dc_unacked(client), 0);
	assert_int_equal(to_client.got, sizeof(banner) - 1);

	/* From now on a lost message waits for the normal RTO. */
	to_client.refuse = 1;
	assert_int_equal(dc_send(client, banner, 4, now), 4);
	pump(&to_agent, now);
	next = dc_tick(client, now);
	assert_true(next - now >= DC_RTO_MIN_MS);

	dc_free(client);
	dc_free(agent);
	buf_free(&to_agent.q);
	buf_free(&to_client.q);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_early_resend),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
