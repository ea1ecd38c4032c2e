/*
 * test_preconnect.c: the early data-channel connect: where the StreamUrl
 * is predicted to point (awsapi_stream_origin), URL matching, and the
 * early connection used or silently replaced (ws_pre_start,
 * ws_connect_pre) against a one-connection websocket server.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
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

#include "awsapi.h"
#include "creds.h"
#include "loop.h"
#include "mux.h"
#include "testca.h"
#include "testnet.h"
#include "ws.h"
#include "wss.h"

#define GUARD_MS 20000 /* hang guard only: no test depends on timing */

/* ---- the prediction ---- */

static const char *const endpoint_vars[] = {
	"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SSM", "AWS_ENDPOINT_URL_SSMMESSAGES",
	"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT",
};

static void
clear_env(void)
{
	for (size_t i = 0; i < sizeof(endpoint_vars) / sizeof(endpoint_vars[0]); i++)
		unsetenv(endpoint_vars[i]);
}

/* Returns awsapi_stream_origin's answer for region and the override. */
static char *
origin(const char *region, const char *override)
{
	static char out[1200];
	struct creds c = { 0 };
	struct awsapi_opts o = { 0 };
	struct awsapi *api = NULL;
	struct err e = { 0, "" };

	c.access_key_id = "AKIDEXAMPLE";
	c.secret_access_key = "secret";
	o.region = region;
	o.creds = &c;
	o.ssmmessages_endpoint = override;
	assert_int_equal(awsapi_new(&api, &o, &e), 0);
	if (awsapi_stream_origin(api, out, sizeof(out), &e) != 0)
		snprintf(out, sizeof(out), "error: %s", e.msg);
	awsapi_free(api);
	return out;
}

static void
test_origin(void **state)
{
	(void)state;
	clear_env();
	/* The service's own: ssmmessages in the region's partition. */
	assert_string_equal(origin("us-east-1", NULL), "wss://ssmmessages.us-east-1.amazonaws.com/");
	assert_string_equal(origin("cn-north-1", NULL),
			    "wss://ssmmessages.cn-north-1.amazonaws.com.cn/");
	/* --ssmmessages-endpoint rewrites every StreamUrl: it wins. */
	setenv("AWS_ENDPOINT_URL_SSM", "https://ssm.example.test", 1);
	assert_string_equal(origin("eu-west-1", "https://vpce-1.ssmmessages.example.test:8443/x"),
			    "wss://vpce-1.ssmmessages.example.test:8443/");
	/* A configured SSM endpoint serves the data channel too (test regions). */
	assert_string_equal(origin("eu-west-1", NULL), "wss://ssm.example.test/");
	setenv("AWS_ENDPOINT_URL_SSM", "https://127.0.0.1:4443", 1);
	assert_string_equal(origin("eu-west-1", NULL), "wss://127.0.0.1:4443/");
	setenv("AWS_ENDPOINT_URL_SSMMESSAGES", "http://127.0.0.1:4566/", 1);
	assert_string_equal(origin("eu-west-1", NULL), "ws://127.0.0.1:4566/");
	clear_env();
	setenv("AWS_ENDPOINT_URL", "http://localhost:4566/", 1);
	assert_string_equal(origin("eu-west-1", NULL), "ws://localhost:4566/");
	setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true", 1);
	assert_string_equal(origin("eu-west-1", NULL), "wss://ssmmessages.eu-west-1.amazonaws.com/");
	clear_env();
	/* What the fake region names in StreamUrl matches the prediction. */
	setenv("AWS_ENDPOINT_URL_SSM", "https://127.0.0.1:4443", 1);
	assert_true(ws_same_origin(origin("us-east-1", NULL),
				   "wss://127.0.0.1:4443/v1/data-channel/s-1?role=publish_subscribe"));
	clear_env();
}

static void
test_same_origin(void **state)
{
	(void)state;
	assert_true(ws_same_origin("wss://h.example/", "wss://h.example:443/v1/x?y=1"));
	assert_true(ws_same_origin("wss://H.Example/", "wss://h.example/"));
	assert_true(ws_same_origin("ws://127.0.0.1/", "ws://127.0.0.1:80/a"));
	assert_false(ws_same_origin("wss://h.example/", "wss://h.example:8443/"));
	assert_false(ws_same_origin("wss://h.example/", "wss://g.example/"));
	assert_false(ws_same_origin("ws://127.0.0.1:80/", "wss://127.0.0.1:80/"));
	assert_false(ws_same_origin("wss://h.example/", "not a url"));
	assert_false(ws_same_origin("https://h.example/", "https://h.example/"));
}

/* ---- the early connection against a one-connection server ---- */

struct srv {
	pid_t pid;
	int port;
};

struct child {
	struct wss_conn *c;
};

static void
child_msg(void *arg, int opcode, const uint8_t *data, size_t len)
{
	struct child *ch = arg;

	wss_send(ch->c, opcode, data, len, NULL);
}

/* Accepts exactly one connection: a second connect would never be served. */
static int
child_main(int lfd, SSL_CTX *ctx)
{
	struct wss_callbacks cb = { .on_message = child_msg };
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	const struct wss_request *req;
	struct child ch = { 0 };
	char line[256];
	int fd;

	if (poll(&p, 1, GUARD_MS) != 1 || (fd = accept(lfd, NULL, NULL)) < 0)
		return 10;
	close(lfd);
	if (wss_conn_accept(&ch.c, fd, ctx, 5000, NULL, NULL) != 0)
		return 11;
	if (wss_read_request(ch.c, 5000, &req, NULL) != 0)
		return 12;
	snprintf(line, sizeof(line), "%s?%s", req->path, req->query);
	cb.arg = &ch;
	if (wss_upgrade(ch.c, &cb, 0, NULL) != 0 || wss_send_text(ch.c, line, NULL) != 0)
		return 13;
	wss_run(ch.c, GUARD_MS, NULL);
	wss_free(ch.c);
	return 0;
}

static void
srv_start(struct srv *s, SSL_CTX *ctx)
{
	int lfd = testnet_bind(1, &s->port);

	assert_true(lfd >= 0);
	s->pid = fork();
	assert_true(s->pid >= 0);
	if (s->pid == 0)
		_exit(child_main(lfd, ctx));
	close(lfd);
}

static int
srv_wait(struct srv *s)
{
	int st = 0;

	while (waitpid(s->pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Returns a loopback port nothing listens on (bound, then closed). */
static int
dead_port(void)
{
	int port = 0, fd = testnet_bind(0, &port);

	assert_true(fd >= 0);
	close(fd);
	return port;
}

struct cli {
	char msg[256];
	int nmsg;
};

static void
cli_msg(void *arg, int opcode, const uint8_t *data, size_t len)
{
	struct cli *c = arg;

	(void)opcode;
	snprintf(c->msg, sizeof(c->msg), "%.*s", (int)len, (const char *)data);
	c->nmsg++;
}

/* Drives w until want messages arrived in total. */
static void
cli_wait(struct ws *w, struct cli *c, int want)
{
	uint64_t deadline = loop_now_ms() + GUARD_MS;

	assert_int_equal(ws_on_readable(w, NULL), 0);
	while (c->nmsg < want) {
		struct pollfd p = { .fd = ws_fd(w), .events = POLLIN };

		assert_true(loop_now_ms() < deadline);
		if (ws_want_write(w))
			p.events |= POLLOUT;
		if (poll(&p, 1, 100) <= 0)
			continue;
		if (p.revents & POLLOUT)
			assert_int_equal(ws_on_writable(w, NULL), 0);
		if (p.revents & (POLLIN | POLLHUP | POLLERR))
			assert_int_equal(ws_on_readable(w, NULL), 0);
	}
}

struct fix {
	struct testca *ca;
	SSL_CTX *ctx;
	char dir[64], ca_pem[96];
};

static int
setup(void **state)
{
	static struct fix f;

	if (testca_new(&f.ca, NULL) != 0 ||
	    testca_fixture_setup(f.ca, "ssmp-pre", f.dir, sizeof(f.dir), f.ca_pem,
				 sizeof(f.ca_pem)) != 0 ||
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
	testca_fixture_teardown(f->dir, f->ca_pem);
	return 0;
}

static struct ws_opts
opts_for(struct cli *c, const char *ca_file)
{
	struct ws_opts o = {
		.ca_file = ca_file,
		.connect_timeout_ms = 5000,
		.handshake_timeout_ms = 5000,
		.on_message = cli_msg,
		.arg = c,
	};
	return o;
}

/*
 * Early connection to the right host, then the real URL: the server takes
 * one connection only, so the upgrade must have used the early one.
 */
static void
test_early_used(void **state)
{
	struct fix *f = *state;
	struct srv s;
	struct cli c = { "", 0 };
	struct ws_opts early = opts_for(NULL, f->ca_pem), o = opts_for(&c, f->ca_pem);
	struct mux *m = NULL;
	struct ws_pre *p = NULL;
	struct ws *w = NULL;
	struct err e = { 0, "" };
	char origin_url[128], url[128];

	srv_start(&s, f->ctx);
	assert_int_equal(mux_new(&m, &e), 0);
	snprintf(origin_url, sizeof(origin_url), "wss://127.0.0.1:%d/", s.port);
	assert_int_equal(ws_pre_start(&p, m, origin_url, &early, &e), 0);
	snprintf(url, sizeof(url), "wss://127.0.0.1:%d/v1/data-channel/s-1?role=x", s.port);
	assert_int_equal(ws_connect_pre(&w, p, url, &o, &e), 0);
	cli_wait(w, &c, 1);
	assert_string_equal(c.msg, "/v1/data-channel/s-1?role=x");
	assert_int_equal(ws_send_text(w, "again", 5, NULL), 0);
	cli_wait(w, &c, 2);
	assert_string_equal(c.msg, "again");
	assert_int_equal(ws_close(w, WS_CLOSE_NORMAL, NULL), 0);
	while (ws_want_write(w) && ws_on_writable(w, NULL) == 0)
		;
	ws_free(w);
	mux_free(m);
	assert_int_equal(srv_wait(&s), 0);
}

/* The early connection went elsewhere (and failed): a normal connect. */
static void
test_early_elsewhere(void **state)
{
	struct fix *f = *state;
	struct srv s;
	struct cli c = { "", 0 };
	struct ws_opts o = opts_for(&c, f->ca_pem);
	struct mux *m = NULL;
	struct ws_pre *p = NULL;
	struct ws *w = NULL;
	struct err e = { 0, "" };
	char url[128];

	srv_start(&s, f->ctx);
	assert_int_equal(mux_new(&m, &e), 0);
	snprintf(url, sizeof(url), "wss://127.0.0.1:%d/", dead_port());
	assert_int_equal(ws_pre_start(&p, m, url, &o, &e), 0);
	snprintf(url, sizeof(url), "wss://localhost:%d/x?y=1", s.port);
	assert_int_equal(ws_connect_pre(&w, p, url, &o, &e), 0);
	cli_wait(w, &c, 1);
	assert_string_equal(c.msg, "/x?y=1");
	ws_free(w);
	mux_free(m);
	assert_int_equal(srv_wait(&s), 0);
}

/* The early connect failed and the URL is the same: the normal connect's
 * own error is what the caller sees. Unused early connections free clean. */
static void
test_early_failed(void **state)
{
	struct fix *f = *state;
	struct cli c = { "", 0 };
	struct ws_opts o = opts_for(&c, f->ca_pem);
	struct mux *m = NULL;
	struct ws_pre *p = NULL;
	struct ws *w = NULL;
	struct err e = { 0, "" };
	char url[128];

	assert_int_equal(mux_new(&m, &e), 0);
	snprintf(url, sizeof(url), "wss://127.0.0.1:%d/", dead_port());
	assert_int_equal(ws_pre_start(&p, m, url, &o, &e), 0);
	assert_int_equal(ws_connect_pre(&w, p, url, &o, &e), E_NET);
	assert_null(w);
	assert_non_null(strstr(e.msg, "websocket: connect to 127.0.0.1"));
	/* Refused before any traffic, as ws_connect refuses it. */
	assert_int_equal(ws_pre_start(&p, m, "ws://example.com/", &o, &e), E_CONFIG);
	assert_null(p);
	assert_int_equal(ws_pre_start(&p, m, url, &o, &e), 0);
	ws_pre_free(p);
	/* No early connection at all: plain ws_connect. */
	assert_int_equal(ws_connect_pre(&w, NULL, url, &o, &e), E_NET);
	mux_free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_origin),
		cmocka_unit_test(test_same_origin),
		cmocka_unit_test(test_early_used),
		cmocka_unit_test(test_early_elsewhere),
		cmocka_unit_test(test_early_failed),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
