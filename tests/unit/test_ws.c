/*
 * test_ws.c: the websocket client against the test websocket server.
 *
 * Each test forks a one-connection server on 127.0.0.1 (port chosen by the
 * kernel) and drives the client from the event loop in this process.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "loop.h"
#include "testca.h"
#include "testnet.h"
#include "ws.h"
#include "wss.h"

#define GUARD_MS 20000 /* hang guard only: no test depends on timing */
#define MIB (1024 * 1024)

/* ---- the server child ---- */

enum mode {
	M_ECHO,       /* echo, plus commands "cmd:..." */
	M_BAD_ACCEPT, /* 101 with a wrong Sec-WebSocket-Accept */
	M_REFUSE,     /* 403 with a JSON body */
	M_SILENT,     /* accepts, never answers */
	M_EAGER,      /* 101 and a first frame in the same write */
};

struct srv {
	pid_t pid;
	int port;
};

struct child {
	struct wss_conn *c;
	const struct wss_request *req;
	int drop;
};

static void
fill_pattern(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 7 + 3);
}

static void
child_cmd(struct child *ch, const char *cmd)
{
	char out[512];
	unsigned long n;
	unsigned code;
	int off = 0;

	if (strcmp(cmd, "hello") == 0) {
		snprintf(out, sizeof(out), "path=%s query=%s hdrs=%zu host=%s", ch->req->path,
			 ch->req->query, ch->req->nheaders, wss_header(ch->req, "Host"));
		wss_send_text(ch->c, out, NULL);
	} else if (sscanf(cmd, "close %u %n", &code, &off) == 1) {
		wss_close(ch->c, (uint16_t)code, cmd + off, NULL);
	} else if (strcmp(cmd, "ping") == 0) {
		wss_ping(ch->c, "hi", 2, NULL);
		wss_send_text(ch->c, "pinged", NULL);
	} else if (strcmp(cmd, "pongs") == 0) {
		snprintf(out, sizeof(out), "pongs=%u", wss_pongs(ch->c));
		wss_send_text(ch->c, out, NULL);
	} else if (sscanf(cmd, "frag %lu", &n) == 1 || sscanf(cmd, "big %lu", &n) == 1) {
		uint8_t *p = malloc(n);

		fill_pattern(p, n);
		if (cmd[0] == 'f')
			wss_send_fragmented(ch->c, WSS_OP_BINARY, p, n, 1000, NULL);
		else
			wss_send_binary(ch->c, p, n, NULL);
		free(p);
	} else if (strcmp(cmd, "badutf8") == 0) {
		wss_send(ch->c, WSS_OP_TEXT, "\xff\xfe", 2, NULL);
	} else if (strcmp(cmd, "drop") == 0) {
		ch->drop = 1;
	}
}

static void
child_msg(void *arg, int opcode, const uint8_t *data, size_t len)
{
	struct child *ch = arg;

	if (opcode == WSS_OP_TEXT && len > 4 && memcmp(data, "cmd:", 4) == 0) {
		char cmd[256];

		snprintf(cmd, sizeof(cmd), "%.*s", (int)(len - 4), (const char *)data + 4);
		child_cmd(ch, cmd);
		return;
	}
	wss_send(ch->c, opcode, data, len, NULL);
}

/* Computes the Sec-WebSocket-Accept for key, as the server must. */
static void
accept_of(const char *key, char out[64])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n;
	char kg[128];

	snprintf(kg, sizeof(kg), "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
	EVP_Digest(kg, strlen(kg), md, &n, EVP_sha1(), NULL);
	EVP_EncodeBlock((unsigned char *)out, md, (int)n);
}

static int
child_main(int lfd, enum mode mode, SSL_CTX *ctx)
{
	struct wss_callbacks cb = { .on_message = child_msg };
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	struct child ch = { 0 };
	char resp[512], acc[64];
	uint64_t deadline = loop_now_ms() + GUARD_MS;
	int fd;

	if (poll(&p, 1, GUARD_MS) != 1 || (fd = accept(lfd, NULL, NULL)) < 0)
		return 10;
	close(lfd);
	if (mode == M_SILENT) {
		char b[256];

		/* Read (and ignore) until the client gives up. */
		while (read(fd, b, sizeof(b)) > 0)
			;
		close(fd);
		return 0;
	}
	if (wss_conn_accept(&ch.c, fd, ctx, 5000, NULL, NULL) != 0)
		return 11;
	if (wss_read_request(ch.c, 5000, &ch.req, NULL) != 0)
		return 12;
	switch (mode) {
	case M_BAD_ACCEPT:
		snprintf(resp, sizeof(resp), "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
			 "Connection: Upgrade\r\nSec-WebSocket-Accept: "
			 "dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
		wss_write_raw(ch.c, resp, strlen(resp), 5000, NULL);
		break;
	case M_REFUSE: {
		static const char body[] = "{\"message\":\"token\n\texpired\x01\"}";

		wss_write_response(ch.c, 403, NULL, "application/json", NULL, body,
				   sizeof(body) - 1, 0, NULL);
		break;
	}
	case M_EAGER:
		accept_of(wss_header(ch.req, "Sec-WebSocket-Key"), acc);
		snprintf(resp, sizeof(resp), "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
			 "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n"
			 "\x81\x05" "early", acc);
		wss_write_raw(ch.c, resp, strlen(resp), 5000, NULL);
		/* Wait for the client to hang up. */
		while (wss_read_request(ch.c, 5000, &ch.req, NULL) == 0)
			;
		break;
	default:
		cb.arg = &ch;
		/* /small: a server that takes messages of at most 4 KiB. */
		if (wss_upgrade(ch.c, &cb, strcmp(ch.req->path, "/small") == 0 ? 4096 : 0,
				NULL) != 0)
			return 13;
		while (wss_is_open(ch.c) && !ch.drop) {
			struct pollfd q = { .fd = wss_fd(ch.c) };
			uint64_t now = loop_now_ms();
			int rc = 0;

			if (now >= deadline)
				return 14;
			q.events = (short)((wss_want_read(ch.c) ? POLLIN : 0) |
					   (wss_want_write(ch.c) ? POLLOUT : 0));
			if (poll(&q, 1, (int)(deadline - now)) <= 0)
				continue;
			if (q.revents & (POLLIN | POLLHUP | POLLERR))
				rc = wss_on_readable(ch.c, NULL);
			if (rc == 0 && (q.revents & POLLOUT))
				rc = wss_on_writable(ch.c, NULL);
			if (rc == E_CLOSED)
				break;
			if (rc != 0)
				return 15;
		}
		if (ch.drop) {
			wss_drop(ch.c);
			return 0;
		}
		break;
	}
	wss_free(ch.c);
	return 0;
}

static void
srv_start(struct srv *s, enum mode mode, SSL_CTX *ctx)
{
	int lfd = testnet_bind(1, &s->port);

	assert_true(lfd >= 0);
	s->pid = fork();
	assert_true(s->pid >= 0);
	if (s->pid == 0)
		_exit(child_main(lfd, mode, ctx));
	close(lfd);
}

/* Returns the child's exit status (-1 if it did not exit normally). */
static int
srv_wait(struct srv *s)
{
	int st = 0;

	while (waitpid(s->pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---- the client side ---- */

struct cli {
	struct loop *l;
	struct ws *w;
	int rc;            /* first non-zero result of on_readable/on_writable */
	struct err err;
	int nmsg, target;  /* messages received, stop when reached */
	int op;
	uint8_t *data;     /* last message */
	size_t len;
	uint16_t close_code;
	char close_reason[128];
	int guard_hit;
};

static void
cli_msg(void *arg, int opcode, const uint8_t *data, size_t len)
{
	struct cli *c = arg;

	free(c->data);
	c->data = malloc(len + 1);
	memcpy(c->data, data, len);
	c->data[len] = '\0';
	c->len = len;
	c->op = opcode;
	if (++c->nmsg == c->target)
		loop_stop(c->l);
}

static void
cli_close(void *arg, uint16_t code, const char *reason, size_t len)
{
	struct cli *c = arg;

	c->close_code = code;
	snprintf(c->close_reason, sizeof(c->close_reason), "%.*s", (int)len, reason);
}

static void
cli_io(struct loop *l, int fd, int mask, void *arg)
{
	struct cli *c = arg;
	int rc = 0;

	(void)fd;
	if (mask & LOOP_READ)
		rc = ws_on_readable(c->w, &c->err);
	if (rc == 0 && (mask & LOOP_WRITE))
		rc = ws_on_writable(c->w, &c->err);
	if (rc != 0) {
		c->rc = rc;
		loop_stop(l);
	}
}

static void
cli_hook(struct loop *l, void *arg)
{
	struct cli *c = arg;
	int m = (ws_want_read(c->w) ? LOOP_READ : 0) | (ws_want_write(c->w) ? LOOP_WRITE : 0);

	loop_mod_fd(l, ws_fd(c->w), m);
	if (m == 0)
		loop_stop(l);
}

static void
guard(struct loop *l, uint64_t id, void *arg)
{
	struct cli *c = arg;

	(void)id;
	c->guard_hit = 1;
	loop_stop(l);
}

static struct ws_opts
opts_for(struct cli *c, const char *ca_file)
{
	struct ws_opts o = {
		.ca_file = ca_file,
		.connect_timeout_ms = 5000,
		.handshake_timeout_ms = 5000,
		.on_message = cli_msg,
		.on_close = cli_close,
		.arg = c,
	};
	return o;
}

/* Connects and registers with a fresh loop; returns ws_connect's result. */
static int
cli_open(struct cli *c, const char *url, const struct ws_opts *o)
{
	int rc;

	memset(c, 0, sizeof(*c));
	err_clear(&c->err);
	rc = ws_connect(&c->w, url, o, &c->err);
	if (rc != 0)
		return rc;
	assert_int_equal(loop_new(&c->l), 0);
	assert_int_equal(loop_add_fd(c->l, ws_fd(c->w), LOOP_READ, cli_io, c), 0);
	loop_set_before_sleep(c->l, cli_hook, c);
	/* Frames may have come with the 101 answer. */
	c->rc = ws_on_readable(c->w, &c->err);
	return 0;
}

/* Runs until target messages in total arrived or the session ended. */
static void
cli_run(struct cli *c, int target)
{
	uint64_t id;

	c->target = target;
	if ((target >= 0 && c->nmsg >= target) || c->rc != 0)
		return;
	assert_int_equal(loop_add_timer(c->l, loop_now_ms() + GUARD_MS, guard, c, &id), 0);
	assert_int_equal(loop_run(c->l, NULL), 0);
	loop_cancel_timer(c->l, id);
	assert_false(c->guard_hit);
}

static void
cli_text(struct cli *c, const char *s)
{
	assert_int_equal(ws_send_text(c->w, s, strlen(s), NULL), 0);
}

static void
cli_free(struct cli *c)
{
	ws_free(c->w);
	loop_free(c->l);
	free(c->data);
	c->w = NULL;
	c->l = NULL;
	c->data = NULL;
}

/* Closes with 1000 and expects the server's answer. */
static void
cli_close_normally(struct cli *c)
{
	assert_int_equal(ws_close(c->w, WS_CLOSE_NORMAL, NULL), 0);
	assert_int_equal(ws_send_text(c->w, "late", 4, NULL), E_CLOSED);
	cli_run(c, -1);
	assert_int_equal(c->rc, E_CLOSED);
	assert_int_equal(c->close_code, WS_CLOSE_NORMAL);
}

/* ---- fixtures: one test CA for the whole file ---- */

struct fix {
	struct testca *ca, *other;
	SSL_CTX *ctx;
	char dir[64], ca_pem[96], other_pem[96];
};

static int
setup(void **state)
{
	static struct fix f;

	/* Tests talk to 127.0.0.1 directly, whatever the environment says. */
	if (testca_new(&f.ca, NULL) != 0 || testca_new(&f.other, NULL) != 0 ||
	    testca_fixture_setup(f.ca, "ssmp-ws", f.dir, sizeof(f.dir), f.ca_pem,
				 sizeof(f.ca_pem)) != 0)
		return -1;
	snprintf(f.other_pem, sizeof(f.other_pem), "%s/other.pem", f.dir);
	if (testca_write_ca_pem(f.other, f.other_pem, NULL) != 0 ||
	    (f.ctx = testca_server_ctx(f.ca, NULL)) == NULL)
		return -1;
	*state = &f;
	return 0;
}

static int
teardown(void **state)
{
	struct fix *f = *state;

	SSL_CTX_free(f->ctx);
	testca_free(f->ca);
	testca_free(f->other);
	unlink(f->other_pem);
	testca_fixture_teardown(f->dir, f->ca_pem);
	return 0;
}

/* ---- tests ---- */

static void
test_plain_echo(void **state)
{
	struct srv s;
	struct cli c;
	struct ws_opts o = opts_for(&c, NULL);
	char url[128];
	uint8_t bin[1000];
	const struct ws_stats *st;

	(void)state;
	srv_start(&s, M_ECHO, NULL);
	snprintf(url, sizeof(url), "ws://127.0.0.1:%d/v1/data-channel/s-1?role=publish_subscribe&a=b",
		 s.port);
	assert_int_equal(cli_open(&c, url, &o), 0);

	cli_text(&c, "cmd:hello");
	cli_run(&c, 1);
	assert_int_equal(c.rc, 0);
	assert_int_equal(c.op, WS_OP_TEXT);
	snprintf(url, sizeof(url), "path=/v1/data-channel/s-1 query=role=publish_subscribe&a=b "
		 "hdrs=5 host=127.0.0.1:%d", s.port);
	assert_string_equal(c.data, url);

	cli_text(&c, "hello");
	cli_run(&c, 2);
	assert_int_equal(c.op, WS_OP_TEXT);
	assert_int_equal(c.len, 5);
	assert_memory_equal(c.data, "hello", 5);

	fill_pattern(bin, sizeof(bin));
	assert_int_equal(ws_send_binary(c.w, bin, sizeof(bin), NULL), 0);
	/* Framed at once: 2 + 2 header bytes and the 4-byte mask key. */
	assert_int_equal(ws_pending_out_bytes(c.w), sizeof(bin) + 8);
	assert_int_equal(ws_stats(c.w)->frames_direct, 3); /* the two texts too */
	assert_true(ws_want_write(c.w));
	cli_run(&c, 3);
	assert_int_equal(ws_pending_out_bytes(c.w), 0);
	assert_int_equal(c.op, WS_OP_BINARY);
	assert_int_equal(c.len, sizeof(bin));
	assert_memory_equal(c.data, bin, sizeof(bin));

	/* An empty message is a message too. */
	assert_int_equal(ws_send_binary(c.w, "", 0, NULL), 0);
	cli_run(&c, 4);
	assert_int_equal(c.len, 0);

	st = ws_stats(c.w);
	assert_int_equal(st->msgs_out, 4);
	assert_int_equal(st->msgs_in, 4);
	assert_int_equal(st->frames_in, 4);
	assert_true(st->bytes_out > 1000 + 4 * 6);
	assert_true(st->bytes_in > 1000 + 4 * 2);

	cli_close_normally(&c);
	cli_free(&c);
	assert_int_equal(srv_wait(&s), 0);
}

static void
test_plain_localhost(void **state)
{
	struct srv s;
	struct cli c;
	struct ws_opts o = opts_for(&c, NULL);
	char url[128];

	(void)state;
	srv_start(&s, M_ECHO, NULL);
	snprintf(url, sizeof(url), "ws://localhost:%d/x", s.port);
	assert_int_equal(cli_open(&c, url, &o), 0);
	cli_text(&c, "cmd:hello");
	cli_run(&c, 1);
	snprintf(url, sizeof(url), "path=/x query= hdrs=5 host=localhost:%d", s.port);
	assert_string_equal(c.data, url);
	cli_close_normally(&c);
	cli_free(&c);
	assert_int_equal(srv_wait(&s), 0);
}

static void
test_tls_echo(void **state)
{
	struct fix *f = *state;
	static const char *hosts[] = { "127.0.0.1", "localhost" };

	for (size_t i = 0; i < 2; i++) {
		struct srv s;
		struct cli c;
		struct ws_opts o = opts_for(&c, f->ca_pem);
		char url[128];

		srv_start(&s, M_ECHO, f->ctx);
		snprintf(url, sizeof(url), "wss://%s:%d/echo?x=1", hosts[i], s.port);
		assert_int_equal(cli_open(&c, url, &o), 0);
		cli_text(&c, "over tls");
		cli_run(&c, 1);
		assert_int_equal(c.rc, 0);
		assert_string_equal(c.data, "over tls");
		cli_close_normally(&c);
		cli_free(&c);
		assert_int_equal(srv_wait(&s), 0);
	}
}

static void
test_tls_wrong_ca(void **state)
{
	struct fix *f = *state;
	struct srv s;
	struct cli c;
	struct ws_opts o = opts_for(&c, f->other_pem);
	char url[128];

	srv_start(&s, M_ECHO, f->ctx);
	snprintf(url, sizeof(url), "wss://127.0.0.1:%d/echo", s.port);
	assert_int_equal(cli_open(&c, url, &o), E_NET);
	assert_non_null(strstr(c.err.msg, "certificate"));
	assert_null(c.w);
	srv_wait(&s); /* its handshake failed too */
}

static void
test_big_message_tls(void **state)
{
	struct fix *f = *state;
	struct srv s;
	struct cli c;
	struct ws_opts o = opts_for(&c, f->ca_pem);
	char url[128];
	uint8_t *big = malloc(MIB);

	fill_pattern(big, MIB);
	srv_start(&s, M_ECHO, f->ctx);
	snprintf(url, sizeof(url), "wss://127.0.0.1:%d/big", s.port);
	assert_int_equal(cli_open(&c, url, &o), 0);
	/* Exactly the default limit, both ways. */
	assert_int_equal(ws_send_binary(c.w, big, MIB, NULL), 0);
	cli_run(&c, 1);
	assert_int_equal(c.rc, 0);
	assert_int_equal(c.len, MIB);
	assert_memory_equal(c.data, big, MIB);
	/* And one built from 1000-byte fragments. */
	cli_text(&c, "cmd:frag 1048576");
	cli_run(&c, 2);
	assert_int_equal(c.len, MIB);
	assert_memory_equal(c.data, big, MIB);
	/* Too big to frame at once, MIB goes through wslay; what follows while
	 * wslay still holds part of it must queue behind it, not overtake. */
	assert_int_equal(ws_send_binary(c.w, big, MIB, NULL), 0);
	assert_int_equal(ws_send_binary(c.w, big + 1, 5, NULL), 0);
	assert_int_equal(ws_stats(c.w)->frames_direct, 1); /* the cmd:frag text */
	cli_run(&c, 4);
	assert_int_equal(c.len, 5);
	assert_memory_equal(c.data, big + 1, 5);
	/* 70000 bytes take a 64-bit length, framed directly. */
	assert_int_equal(ws_send_binary(c.w, big + 3, 70000, NULL), 0);
	assert_int_equal(ws_stats(c.w)->frames_direct, 2);
	cli_run(&c, 5);
	assert_int_equal(c.len, 70000);
	assert_memory_equal(c.data, big + 3, 70000);
	cli_close_normally(&c);
	cli_free(&c);
	free(big);
	assert_int_equal(srv_wait(&s), 0);
}

static void
test_fragmented(void **state)
{
	struct srv s;
	struct cli c;
	struct ws_opts o = opts_for(&c, NULL);
	char url[128];
	uint8_t want[10000];
	uint64_t frames;

	(void)state;
	fill_pattern(want, sizeof(want));
	srv_start(&s, M_ECHO, NULL);
	snprintf(url, sizeof(url), "ws://127.0.0.1:%d/frag", s.port);
	assert_int_equal(cli_open(&c, url, &o), 0);
	frames = ws_stats(c.w)->frames_in;
	cli_text(&c, "cmd:frag 10000");
	cli_run(&c, 1);
	assert_int_equal(c.rc, 0);
	assert_int_equal(c.op, WS_OP_BINARY);
	assert_int_equal(c.len, sizeof(want));
	assert_memory_equal(c.data, want, sizeof(want));
	assert_int_equal(ws_stats(c.w)->frames_in - frames, 10);
	assert_int_equal(ws_stats(c.w)->msgs_in, 1);
	cli_close_normally(&c);
	cli_free(&c);
	assert_int_equal(srv_wait(&s), 0);
}

static void
test_too_big(void **state)
{
	static const char *cmds[] = { "cmd:big 4097", "cmd:frag 5000" };

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		struct srv s;
		struct cli c;
		struct ws_opts o = opts_for(&c, NULL);
		char url[128];

		o.max_msg = 4096;
		srv_start(&s, M_ECHO, NULL);
		snprintf(url, sizeof(url), "ws://127.0.0.1:%d/big", s.port);
		assert_int_equal(cli_open(&c, url, &o), 0);
		cli_text(&c, "cmd:big 4096");
		cli_run(&c, 1);
		assert_int_equal(c.len, 4096);
		cli_text(&c, cmds[i]);
		cli_run(&c, 2);
		assert_int_equal(c.rc, E_RANGE);
		assert_int_equal(c.nmsg, 1);
		assert_non_null(strstr(c.err.msg, "larger than 4096"));
		assert_false(ws_want_read(c.w));
		cli_free(&c);
		srv_wait(&s);
	}
}

static void
test_ping_pong(void **state)
{
	struct srv s;
	struct cli c;
	struct ws_opts o = opts_for(&c, NULL);
	char url[128];

	(void)state;
	srv_start(&s, M_ECHO, NULL);
	snprintf(url, sizeof(url), "ws://127.0.0.1:%d/ping", s.port);
	assert_int_equal(cli_open(&c, url, &o), 0);

	/* Our ping: the pong (control frames go first) precedes the reply. */
	assert_int_equal(ws_ping(c.w, NULL), 0);
	cli_text(&c, "cmd:pongs");
	cli_run(&c, 1);
	assert_string_equal(c.data, "pongs=0");
	assert_int_equal(ws_stats(c.w)->pings_out, 1);
	assert_int_equal(ws_stats(c.w)->pongs_in, 1);

	/* The server's ping is answered by the client on its own. */
	cli_text(&c, "cmd:ping");
	cli_run(&c, 2);
	assert_string_equal(c.data, "pinged");
	cli_text(&c, "cmd:pongs");
	cli_run(&c, 3);
	assert_string_equal(c.data, "pongs=1");
	assert_int_equal(ws_stats(c.w)->msgs_in, 3);
	cli_close_normally(&c);
	cli_free(&c);
	assert_int_equal(srv_wait(&s), 0);
}

static void
test_server_close_code(void **state)
{
	struct srv s;
	struct cli c;
	struct ws_opts o = opts_for(&c, NULL);
	char url[128];

	(void)state;
	srv_start(&s, M_ECHO, NULL);
	snprintf(url, sizeof(url), "ws://127.0.0.1:%d/close", s.port);
	assert_int_equal(cli_open(&c, url, &o), 0);
	cli_text(&c, "cmd:close 4001 going away");
	cli_run(&c, -1);
	assert_int_equal(c.rc, E_CLOSED);
	assert_int_equal(c.close_code, 4001);
	assert_string_equal(c.close_reason, "going away");
	assert_non_null(strstr(c.err.msg, "4001"));
	assert_false(ws_want_read(c.w));
	assert_int_equal(ws_send_binary(c.w, "x", 1, NULL), E_CLOSED);
	cli_free(&c);
	/* The close reply reached the server: it ended its session cleanly. */
	assert_int_equal(srv_wait(&s), 0);
}

/*
 * The server takes whole data frames itself and leaves the rest to wslay:
 * a ping and a close between data messages, and a message over its limit,
 * which it refuses with 1009 as wslay would.
 */
static void
test_server_frame_paths(void **state)
{
	static uint8_t big[5000];
	struct srv s;
	struct cli c;
	struct ws_opts o = opts_for(&c, NULL);
	char url[128];

	(void)state;
	srv_start(&s, M_ECHO, NULL);
	snprintf(url, sizeof(url), "ws://127.0.0.1:%d/small", s.port);
	assert_int_equal(cli_open(&c, url, &o), 0);
	cli_text(&c, "one");
	assert_int_equal(ws_ping(c.w, NULL), 0);
	cli_text(&c, "two");
	cli_run(&c, 2);
	assert_string_equal(c.data, "two");
	assert_int_equal(ws_stats(c.w)->pongs_in, 1);
	fill_pattern(big, sizeof(big));
	assert_int_equal(ws_send_binary(c.w, big, sizeof(big), NULL), 0);
	cli_run(&c, -1);
	assert_int_equal(c.rc, E_CLOSED);
	assert_int_equal(c.close_code, 1009);
	assert_int_equal(c.nmsg, 2);
	cli_free(&c);
	assert_int_equal(srv_wait(&s), 0);
}

static void
test_server_drop(void **state)
{
	struct srv s;
	struct cli c;
	struct ws_opts o = opts_for(&c, NULL);
	char url[128];

	(void)state;
	srv_start(&s, M_ECHO, NULL);
	snprintf(url, sizeof(url), "ws://127.0.0.1:%d/drop", s.port);
	assert_int_equal(cli_open(&c, url, &o), 0);
	cli_text(&c, "cmd:drop");
	cli_run(&c, -1);
	assert_int_equal(c.rc, E_NET);
	assert_int_equal(c.close_code, 0);
	cli_free(&c);
	assert_int_equal(srv_wait(&s), 0);
}

/*
 * The server goes away while we frame data without reading: the failed
 * write inside ws_send_binary must be reported, and the connection must
 * still ask to be written to so the caller's next ws_on_writable says so
 * (a loop that polls for nothing would wait forever).
 */
static void
test_drop_while_sending(void **state)
{
	struct srv s;
	struct cli c;
	struct ws_opts o = opts_for(&c, NULL);
	char url[128];
	uint8_t msg[1024];
	struct err e = { 0, "" };
	int rc = 0;

	(void)state;
	memset(msg, 'x', sizeof(msg));
	srv_start(&s, M_ECHO, NULL);
	snprintf(url, sizeof(url), "ws://127.0.0.1:%d/drop", s.port);
	assert_int_equal(cli_open(&c, url, &o), 0);
	cli_text(&c, "cmd:drop");
	assert_int_equal(ws_on_writable(c.w, NULL), 0);
	assert_int_equal(srv_wait(&s), 0); /* the server has closed */
	for (int i = 0; i < 100000 && rc == 0; i++)
		rc = ws_send_binary(c.w, msg, sizeof(msg), &e);
	assert_int_equal(rc, E_NET);
	assert_true(ws_want_write(c.w));
	assert_int_equal(ws_on_writable(c.w, NULL), E_NET);
	cli_free(&c);
}

static void
test_bad_utf8(void **state)
{
	struct srv s;
	struct cli c;
	struct ws_opts o = opts_for(&c, NULL);
	char url[128];

	(void)state;
	srv_start(&s, M_ECHO, NULL);
	snprintf(url, sizeof(url), "ws://127.0.0.1:%d/utf8", s.port);
	assert_int_equal(cli_open(&c, url, &o), 0);
	cli_text(&c, "cmd:badutf8");
	cli_run(&c, -1);
	assert_int_equal(c.rc, E_PROTO);
	assert_int_equal(c.nmsg, 0);
	assert_non_null(strstr(c.err.msg, "1007"));
	cli_free(&c);
	srv_wait(&s);
}

static void
test_frame_with_101(void **state)
{
	struct srv s;
	struct cli c;
	struct ws_opts o = opts_for(&c, NULL);
	char url[128];

	(void)state;
	srv_start(&s, M_EAGER, NULL);
	snprintf(url, sizeof(url), "ws://127.0.0.1:%d/eager", s.port);
	assert_int_equal(cli_open(&c, url, &o), 0);
	cli_run(&c, 1);
	assert_int_equal(c.nmsg, 1);
	assert_string_equal(c.data, "early");
	cli_free(&c);
	srv_wait(&s);
}

static void
test_bad_accept(void **state)
{
	struct srv s;
	struct cli c;
	struct ws_opts o = opts_for(&c, NULL);
	char url[128];

	(void)state;
	srv_start(&s, M_BAD_ACCEPT, NULL);
	snprintf(url, sizeof(url), "ws://127.0.0.1:%d/x", s.port);
	assert_int_equal(cli_open(&c, url, &o), E_PROTO);
	assert_non_null(strstr(c.err.msg, "Sec-WebSocket-Accept"));
	assert_null(c.w);
	assert_int_equal(srv_wait(&s), 0);
}

static void
test_refused(void **state)
{
	struct fix *f = *state;
	struct srv s;
	struct cli c;
	struct ws_opts o = opts_for(&c, f->ca_pem);
	char url[128];

	srv_start(&s, M_REFUSE, f->ctx);
	snprintf(url, sizeof(url), "wss://127.0.0.1:%d/x", s.port);
	assert_int_equal(cli_open(&c, url, &o), E_PROTO);
	assert_non_null(strstr(c.err.msg, "HTTP/1.1 403 Forbidden"));
	/* The body is quoted on one line, control bytes blanked. */
	assert_non_null(strstr(c.err.msg, "{\"message\":\"token expired \"}"));
	assert_null(strchr(c.err.msg, '\n'));
	assert_int_equal(srv_wait(&s), 0);
}

static void
test_url_checks(void **state)
{
	static const struct {
		const char *url;
		const char *msg;
	} bad[] = {
		{ "ws://example.com/x", "loopback" },
		{ "ws://10.1.2.3:8080/x", "loopback" },
		{ "ws://[2001:db8::1]/x", "loopback" },
		{ "http://127.0.0.1/x", "scheme" },
		{ "wss://", "malformed" },
		{ "not a url", "malformed" },
		{ "wss://user@127.0.0.1/x", "user" },
	};
	struct cli c;
	struct ws_opts o = opts_for(&c, NULL);
	struct ws *w = (struct ws *)&c;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct err e;

		err_clear(&e);
		assert_int_equal(ws_connect(&w, bad[i].url, &o, &e), E_CONFIG);
		assert_null(w);
		assert_non_null(strstr(e.msg, bad[i].msg));
	}
	ws_free(NULL);
}

static void
test_upgrade_deadline(void **state)
{
	struct srv s;
	struct cli c;
	struct ws_opts o = opts_for(&c, NULL);
	char url[128];

	(void)state;
	o.handshake_timeout_ms = 300;
	srv_start(&s, M_SILENT, NULL);
	snprintf(url, sizeof(url), "ws://127.0.0.1:%d/silent", s.port);
	assert_int_equal(cli_open(&c, url, &o), E_TIMEOUT);
	assert_non_null(strstr(c.err.msg, "upgrade timed out"));
	assert_int_equal(srv_wait(&s), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_checks),
		cmocka_unit_test(test_plain_echo),
		cmocka_unit_test(test_plain_localhost),
		cmocka_unit_test(test_tls_echo),
		cmocka_unit_test(test_tls_wrong_ca),
		cmocka_unit_test(test_big_message_tls),
		cmocka_unit_test(test_fragmented),
		cmocka_unit_test(test_too_big),
		cmocka_unit_test(test_server_frame_paths),
		cmocka_unit_test(test_ping_pong),
		cmocka_unit_test(test_server_close_code),
		cmocka_unit_test(test_server_drop),
		cmocka_unit_test(test_drop_while_sending),
		cmocka_unit_test(test_bad_utf8),
		cmocka_unit_test(test_frame_with_101),
		cmocka_unit_test(test_bad_accept),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_upgrade_deadline),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
