/*
 * msgbench.c: micro-benchmark of the message path, no network.
 *
 * A client and an agent data channel are wired back to back through two
 * in-memory frame queues. The client sends stream bytes (encode + SHA-256
 * digest); the agent decodes and verifies each frame, delivers it and
 * answers an ack (ack JSON built and encoded); the client decodes the ack
 * and parses its JSON. One stream message through that whole path counts
 * as one message. Prints "msgs_per_s N" and "MBps N" on stdout.
 *
 * usage: msgbench [SECONDS]   (default 2; the ASan build passes less)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "datachannel.h"
#include "err.h"

/* Frames in flight in one direction, as [u32 length][frame] records. */
struct queue {
	struct buf b;
	struct dc *to;      /* the channel that receives them */
	uint64_t delivered; /* stream bytes the receiving side delivered */
};

static int
enqueue(void *arg, const uint8_t *frame, size_t len)
{
	struct queue *q = arg;

	if (buf_put_u32(&q->b, (uint32_t)len) != 0 || buf_put(&q->b, frame, len) != 0)
		return E_NOMEM;
	return 0;
}

static int
deliver(void *arg, const uint8_t *data, size_t len)
{
	struct queue *q = arg;

	(void)data;
	q->delivered += len;
	return 0;
}

/* Feeds every queued frame to q->to; returns the number fed or -1. */
static long
pump(struct queue *q, uint64_t now)
{
	long n = 0;

	while (buf_len(&q->b) > 0) {
		const uint8_t *p;
		uint32_t len;

		if (buf_get_u32(&q->b, &len) != 0 || buf_get_direct(&q->b, len, &p) != 0)
			return -1;
		if (dc_receive(q->to, p, len, now) < 0)
			return -1;
		n++;
	}
	buf_reset(&q->b);
	return n;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	static uint8_t chunk[64 * 1024];
	struct queue to_agent, to_client;
	struct dc_config cc, ac;
	struct dc_callbacks ccb, acb;
	struct dc *client = NULL, *agent = NULL;
	struct err e = { 0, "" };
	double secs = argc > 1 ? atof(argv[1]) : 2.0, t0, t;
	uint64_t msgs0, ms = 1;
	int rounds = 0;

	if (secs <= 0)
		secs = 2.0;
	memset(chunk, 'x', sizeof(chunk));
	buf_init(&to_agent.b, 0);
	buf_init(&to_client.b, 0);
	to_agent.delivered = to_client.delivered = 0;

	memset(&cc, 0, sizeof(cc));
	cc.role = DC_CLIENT;
	memset(&ac, 0, sizeof(ac));
	ac.role = DC_AGENT;
	memset(&ccb, 0, sizeof(ccb));
	ccb.send_frame = enqueue;
	ccb.deliver = deliver;
	ccb.arg = &to_agent;   /* client frames go to the agent */
	acb = ccb;
	acb.arg = &to_client;  /* agent frames (acks) go to the client */
	/* deliver counts into the queue given as arg: the agent's deliveries
	 * are therefore counted on to_client. */
	if (dc_new(&client, &cc, &ccb, &e) != 0 || dc_new(&agent, &ac, &acb, &e) != 0) {
		fprintf(stderr, "msgbench: %s\n", e.msg);
		return 1;
	}
	to_agent.to = agent;
	to_client.to = client;

	/* Handshake: request, response, complete, and their acks. */
	if (dc_start(client, ms) != 0 || dc_start(agent, ms) != 0) {
		fprintf(stderr, "msgbench: cannot start\n");
		return 1;
	}
	for (int i = 0; i < 10 && dc_window_room(client) == 0; i++)
		if (pump(&to_client, ms) < 0 || pump(&to_agent, ms) < 0) {
			fprintf(stderr, "msgbench: handshake failed\n");
			return 1;
		}
	if (dc_window_room(client) == 0) {
		fprintf(stderr, "msgbench: handshake did not complete\n");
		return 1;
	}

	msgs0 = dc_stats(client)->msgs_out;
	t0 = now_s();
	do {
		/* One 64 KiB read of stdin: 64 messages, their acks, 64 acks parsed. */
		for (int k = 0; k < 16; k++) {
			ms++;
			if (dc_send(client, chunk, sizeof(chunk), ms) <= 0 ||
			    pump(&to_agent, ms) < 0 || pump(&to_client, ms) < 0) {
				fprintf(stderr, "msgbench: transfer failed\n");
				return 1;
			}
		}
		rounds++;
		t = now_s();
	} while (t - t0 < secs);

	{
		uint64_t msgs = dc_stats(client)->msgs_out - msgs0;
		double el = t - t0;

		if (dc_unacked(client) != 0 || to_client.delivered != dc_stats(client)->bytes_out) {
			fprintf(stderr, "msgbench: %zu unacked, %llu of %llu bytes delivered\n",
			        dc_unacked(client), (unsigned long long)to_client.delivered,
			        (unsigned long long)dc_stats(client)->bytes_out);
			return 1;
		}
		printf("msgs_per_s %.0f\n", (double)msgs / el);
		printf("MBps %.1f\n", (double)msgs * AGENTMSG_STREAM_CHUNK / el / 1e6);
	}
	dc_free(client);
	dc_free(agent);
	buf_free(&to_agent.b);
	buf_free(&to_client.b);
	return 0;
}
