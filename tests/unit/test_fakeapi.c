/*
 * test_fakeapi.c: the fake region (fakeregion) as a client sees it.
 *
 * Starts fakeregion (path from $FAKEREGION, else next to this binary) with
 * a local TCP echo target, signs SSM calls with sigv4 and sends them with
 * libcurl, then opens data channels with the ws client and the client role
 * of the data channel, and moves 1 MiB through the echo target byte-exact,
 * also across websocket drops followed by ResumeSession.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "buf.h"
#include "datachannel.h"
#include "loop.h"
#include "sigv4.h"
#include "uuid.h"
#include "ws.h"

#define MIB (1024 * 1024)
#define AK "AKIDFAKEREGION"
#define SK "fakeregion/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define OFFLINE "i-0badc0de0badc0de0"
#define TARGET "i-0123456789abcdef0"
#define GUARD_MS 60000 /* a stuck exchange fails the test instead of hanging it */

struct server {
	pid_t pid;
	char dir[PATH_MAX];
	char ca[PATH_MAX + 8];
	unsigned port;
	int plain;
};

static pid_t echo_pid;
static unsigned echo_port;
static struct server main_srv;

/* ------------------------------------------------------------ processes */

static void
echo_conn(int fd)
{
	uint8_t b[65536];

	for (;;) {
		ssize_t r = read(fd, b, sizeof(b)), off = 0;
		if (r <= 0)
			break;
		while (off < r) {
			ssize_t w = write(fd, b + off, (size_t)(r - off));
			if (w <= 0)
				_exit(0);
			off += w;
		}
	}
	_exit(0);
}

/* A forked TCP echo server on 127.0.0.1 (one process per connection). */
static void
start_echo(void)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	pid_t parent = getpid();
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	echo_port = ntohs(sa.sin_port);
	echo_pid = fork();
	assert_true(echo_pid >= 0);
	if (echo_pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(0);
		signal(SIGCHLD, SIG_IGN); /* no zombies */
		for (;;) {
			int c = accept(fd, NULL, NULL);
			if (c < 0)
				continue;
			if (fork() == 0) {
				prctl(PR_SET_PDEATHSIG, SIGKILL);
				close(fd);
				echo_conn(c);
			}
			close(c);
		}
	}
	close(fd);
}

static void
fakeregion_path(char *out, size_t size)
{
	const char *env = getenv("FAKEREGION");
	char self[PATH_MAX];
	ssize_t n;

	if (env != NULL && *env != '\0') {
		snprintf(out, size, "%s", env);
		return;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	assert_true(n > 0);
	self[n] = '\0';
	*strrchr(self, '/') = '\0';
	assert_true(snprintf(out, size, "%s/fakeregion", self) < (int)size);
}

/* Starts fakeregion with extra arguments (NULL-terminated) and waits for DIR/port. */
static void
start_server(struct server *s, const char *const *extra)
{
	char exe[PATH_MAX], target[64], portfile[PATH_MAX + 8];
	const char *argv[32];
	int argc = 0;

	snprintf(s->dir, sizeof(s->dir), "/tmp/ssmp-fakeapi-XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	snprintf(s->ca, sizeof(s->ca), "%s/ca.pem", s->dir);
	snprintf(portfile, sizeof(portfile), "%s/port", s->dir);
	fakeregion_path(exe, sizeof(exe));
	snprintf(target, sizeof(target), "127.0.0.1:%u", echo_port);
	argv[argc++] = exe;
	argv[argc++] = "--state-dir";
	argv[argc++] = s->dir;
	argv[argc++] = "--target";
	argv[argc++] = target;
	/* SSMP_FAKE_LOG=-vv shows the server's log on stderr. */
	argv[argc++] = getenv("SSMP_FAKE_LOG") ? getenv("SSMP_FAKE_LOG") : "-q";
	for (; extra != NULL && *extra != NULL && argc < 30; extra++) {
		if (strcmp(*extra, "--plain") == 0)
			s->plain = 1;
		argv[argc++] = *extra;
	}
	argv[argc] = NULL;
	s->pid = fork();
	assert_true(s->pid >= 0);
	if (s->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		execv(exe, (char *const *)argv);
		fprintf(stderr, "cannot run %s: %s\n", exe, strerror(errno));
		_exit(127);
	}
	/* Wait (bounded) for the port file, written last and atomically. */
	for (int i = 0; i < 2000; i++) {
		FILE *f = fopen(portfile, "r");
		if (f != NULL) {
			int ok = fscanf(f, "%u", &s->port) == 1;
			fclose(f);
			if (ok)
				return;
		}
		if (waitpid(s->pid, NULL, WNOHANG) == s->pid)
			fail_msg("fakeregion exited early (%s)", exe);
		usleep(10 * 1000);
	}
	fail_msg("fakeregion did not write %s", portfile);
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* Stops the server (it must exit 0 on SIGTERM) and removes its state directory. */
static void
stop_server(struct server *s)
{
	int st = 0;

	if (s->pid <= 0)
		return;
	kill(s->pid, SIGTERM);
	waitpid(s->pid, &st, 0);
	s->pid = 0;
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	if (getenv("SSMP_KEEP_STATE") == NULL)
		nftw(s->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Reads DIR/name into a heap string ("" if missing). */
static char *
slurp(const struct server *s, const char *name)
{
	char path[PATH_MAX + 64];
	struct buf b;
	FILE *f;
	char tmp[4096];
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", s->dir, name);
	buf_init(&b, 0);
	if ((f = fopen(path, "r")) != NULL) {
		while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
			assert_int_equal(buf_put(&b, tmp, n), 0);
		fclose(f);
	}
	char *out = strdup(buf_cstr(&b) ? buf_cstr(&b) : "");
	buf_free(&b);
	return out;
}

/* Returns the number of lines of DIR/name containing needle. */
static int
count_lines(const struct server *s, const char *name, const char *needle)
{
	char *text = slurp(s, name), *save = NULL;
	int n = 0;

	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		if (strstr(l, needle) != NULL)
			n++;
	free(text);
	return n;
}

/* Waits (bounded) until DIR/name has at least n lines containing needle. */
static void
wait_lines(const struct server *s, const char *name, const char *needle, int n)
{
	for (int i = 0; i < 1000 && count_lines(s, name, needle) < n; i++)
		usleep(10 * 1000);
	assert_true(count_lines(s, name, needle) >= n);
}

/* Every "<session> <count>" line of DIR/violations must say 0. */
static void
assert_no_violations(const struct server *s)
{
	char *text = slurp(s, "violations"), *save = NULL;

	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		const char *sp = strrchr(l, ' ');
		assert_non_null(sp);
		if (strcmp(sp + 1, "0") != 0)
			fail_msg("violations: %s", l);
	}
	free(text);
}

/* ------------------------------------------------------------ API calls */

struct reply {
	long status;
	struct buf body;
	cJSON *json;
	char type[128]; /* __type after any '#' */
};

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct reply *r = arg;

	return buf_put(&r->body, p, size * n) == 0 ? size * n : 0;
}

static void
reply_free(struct reply *r)
{
	buf_free(&r->body);
	cJSON_Delete(r->json);
	memset(r, 0, sizeof(*r));
}

/* Calls AmazonSSM.<op> on s, signed with ak/sk (and token if not NULL). */
static void
call_as(const struct server *s, const char *op, const char *body, const char *ak,
	const char *sk, const char *token, struct reply *out)
{
	char host[64], url[96], target[96], line[SIGV4_MAX_AUTH_LEN + 64];
	struct sigv4_header hs[3];
	struct sigv4_request req;
	struct sigv4_params p;
	struct sigv4_result res;
	struct curl_slist *h = NULL;
	struct err e = { 0 };
	CURL *c;

	memset(out, 0, sizeof(*out));
	buf_init(&out->body, 0);
	snprintf(host, sizeof(host), "127.0.0.1:%u", s->port);
	snprintf(url, sizeof(url), "%s://%s/", s->plain ? "http" : "https", host);
	snprintf(target, sizeof(target), "AmazonSSM.%s", op);
	hs[0] = (struct sigv4_header){ "Host", host };
	hs[1] = (struct sigv4_header){ "Content-Type", "application/x-amz-json-1.1" };
	hs[2] = (struct sigv4_header){ "X-Amz-Target", target };
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.path = "/";
	req.headers = hs;
	req.nheaders = 3;
	req.body = body;
	req.body_len = strlen(body);
	memset(&p, 0, sizeof(p));
	p.access_key = ak;
	p.secret_key = sk;
	p.session_token = token;
	p.region = "us-east-1";
	p.service = "ssm";
	p.when = time(NULL);
	memset(&res, 0, sizeof(res));
	assert_int_equal(sigv4_sign_headers(&req, &p, &res, &e), 0);
	for (size_t i = 0; i < 3; i++) {
		snprintf(line, sizeof(line), "%s: %s", hs[i].name, hs[i].value);
		h = curl_slist_append(h, line);
	}
	for (size_t i = 0; i < res.nadded; i++) {
		snprintf(line, sizeof(line), "%s: %s", res.added[i].name, res.added[i].value);
		h = curl_slist_append(h, line);
	}
	h = curl_slist_append(h, "Expect:");
	c = curl_easy_init();
	assert_non_null(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CAINFO, s->ca);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	sigv4_result_free(&res);
	out->json = cJSON_ParseWithLength((const char *)buf_ptr(&out->body), buf_len(&out->body));
	assert_non_null(out->json);
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(out->json, "__type");
	if (cJSON_IsString(t)) {
		const char *hash = strrchr(t->valuestring, '#');
		snprintf(out->type, sizeof(out->type), "%s", hash ? hash + 1 : t->valuestring);
	}
}

static void
call(const struct server *s, const char *op, const char *body, struct reply *out)
{
	call_as(s, op, body, AK, SK, NULL, out);
}

static const char *
jstr(const struct reply *r, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->json, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void
expect_error(const struct server *s, const char *op, const char *body, long status,
	     const char *type)
{
	struct reply r;

	call(s, op, body, &r);
	if (r.status != status || strcmp(r.type, type) != 0)
		fail_msg("%s %s: got %ld %s, want %ld %s", op, body, r.status, r.type, status, type);
	reply_free(&r);
}

struct session_info {
	char id[128];
	char token[128];
	char url[256];
};

static void
start_session(const struct server *s, struct session_info *si)
{
	struct reply r;

	call(s, "StartSession",
	     "{\"Target\":\"" TARGET "\",\"DocumentName\":\"AWS-StartSSHSession\","
	     "\"Parameters\":{\"portNumber\":[\"22\"]}}", &r);
	assert_int_equal(r.status, 200);
	assert_non_null(jstr(&r, "SessionId"));
	assert_non_null(jstr(&r, "TokenValue"));
	assert_non_null(jstr(&r, "StreamUrl"));
	snprintf(si->id, sizeof(si->id), "%s", jstr(&r, "SessionId"));
	snprintf(si->token, sizeof(si->token), "%s", jstr(&r, "TokenValue"));
	snprintf(si->url, sizeof(si->url), "%s", jstr(&r, "StreamUrl"));
	reply_free(&r);
}

static void
resume_session(const struct server *s, struct session_info *si)
{
	char body[256];
	struct reply r;

	snprintf(body, sizeof(body), "{\"SessionId\":\"%s\"}", si->id);
	call(s, "ResumeSession", body, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(&r, "SessionId"), si->id);
	assert_string_equal(jstr(&r, "StreamUrl"), si->url);
	assert_non_null(jstr(&r, "TokenValue"));
	assert_string_not_equal(jstr(&r, "TokenValue"), si->token);
	snprintf(si->token, sizeof(si->token), "%s", jstr(&r, "TokenValue"));
	reply_free(&r);
}

/* ------------------------------------------------------------ API tests */

static void
test_throttle_then_success(void **state)
{
	struct session_info si;
	struct reply r;

	(void)state;
	/* The server runs with --throttle 1:429: the very first call is refused. */
	call(&main_srv, "StartSession",
	     "{\"Target\":\"" TARGET "\",\"DocumentName\":\"AWS-StartSSHSession\","
	     "\"Parameters\":{\"portNumber\":[\"22\"]}}", &r);
	assert_int_equal(r.status, 429);
	assert_string_equal(r.type, "ThrottlingException");
	reply_free(&r);
	start_session(&main_srv, &si);
	assert_true(strncmp(si.id, "fakeuser-", 9) == 0);
	assert_int_equal(strlen(si.id), 9 + 17);
	assert_int_equal(count_lines(&main_srv, "api.log", "StartSession 429"), 1);
	assert_int_equal(count_lines(&main_srv, "api.log", "StartSession 200 " TARGET), 1);
	char want[300];
	snprintf(want, sizeof(want), "wss://127.0.0.1:%u/v1/data-channel/%s?role=publish_subscribe",
		 main_srv.port, si.id);
	assert_string_equal(si.url, want);
}

static void
test_bad_signature(void **state)
{
	const char *body = "{\"SessionId\":\"fakeuser-0123456789abcdef0\"}";
	struct reply r;

	(void)state;
	call_as(&main_srv, "TerminateSession", body, AK, "not-the-secret", NULL, &r);
	assert_int_equal(r.status, 400);
	assert_string_equal(r.type, "InvalidSignatureException");
	assert_non_null(strstr(jstr(&r, "message"), "does not match the signature"));
	reply_free(&r);
	call_as(&main_srv, "TerminateSession", body, "AKIDSOMEONEELSE", SK, NULL, &r);
	assert_int_equal(r.status, 400);
	assert_string_equal(r.type, "UnrecognizedClientException");
	reply_free(&r);
	assert_true(count_lines(&main_srv, "api.log", "TerminateSession 400 InvalidSignatureException") >= 1);
}

static void
test_start_validation(void **state)
{
	(void)state;
	expect_error(&main_srv, "StartSession",
		     "{\"Target\":\"i-xyz\",\"DocumentName\":\"AWS-StartSSHSession\","
		     "\"Parameters\":{\"portNumber\":[\"22\"]}}", 400, "ValidationException");
	expect_error(&main_srv, "StartSession",
		     "{\"Target\":\"" TARGET "\",\"DocumentName\":\"AWS-StartShell\","
		     "\"Parameters\":{\"portNumber\":[\"22\"]}}", 400, "InvalidDocument");
	expect_error(&main_srv, "StartSession",
		     "{\"Target\":\"" TARGET "\",\"DocumentName\":\"AWS-StartSSHSession\","
		     "\"Parameters\":{\"portNumber\":[\"65536\"]}}", 400, "InvalidParameters");
	expect_error(&main_srv, "StartSession",
		     "{\"Target\":\"" TARGET "\",\"DocumentName\":\"AWS-StartSSHSession\","
		     "\"Parameters\":{\"portNumber\":\"22\"}}", 400, "InvalidParameters");
	expect_error(&main_srv, "StartSession", "{\"Target\":", 400, "SerializationException");
	expect_error(&main_srv, "StartSession",
		     "{\"Target\":\"" OFFLINE "\",\"DocumentName\":\"AWS-StartSSHSession\","
		     "\"Parameters\":{\"portNumber\":[\"22\"]}}", 400, "TargetNotConnected");
	expect_error(&main_srv, "StartWorkflow", "{}", 400, "UnknownOperationException");
	expect_error(&main_srv, "ResumeSession", "{\"SessionId\":\"fakeuser-00000000000000000\"}",
		     400, "DoesNotExistException");
}

static void
test_security_token_recorded(void **state)
{
	struct reply r;

	(void)state;
	call_as(&main_srv, "StartSession",
		"{\"Target\":\"" TARGET "\",\"DocumentName\":\"AWS-StartSSHSession\","
		"\"Parameters\":{\"portNumber\":[\"2222\"]}}", AK, SK, "FAKE/SESSION+TOKEN=", &r);
	assert_int_equal(r.status, 200);
	reply_free(&r);
	assert_int_equal(count_lines(&main_srv, "security-tokens", "StartSession FAKE/SESSION+TOKEN="), 1);
}

static void
test_resume_terminate(void **state)
{
	struct session_info si;
	char body[256], *rec;
	struct reply r;

	(void)state;
	start_session(&main_srv, &si);
	resume_session(&main_srv, &si);
	resume_session(&main_srv, &si);
	snprintf(body, sizeof(body), "{\"SessionId\":\"%s\"}", si.id);
	call(&main_srv, "TerminateSession", body, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(&r, "SessionId"), si.id);
	reply_free(&r);
	snprintf(body, sizeof(body), "sessions/%s", si.id);
	rec = slurp(&main_srv, body);
	assert_non_null(strstr(rec, "state terminated"));
	assert_non_null(strstr(rec, "generation 2"));
	free(rec);
	snprintf(body, sizeof(body), "{\"SessionId\":\"%s\"}", si.id);
	expect_error(&main_srv, "ResumeSession", body, 400, "DoesNotExistException");
	/* Terminating twice is fine, as with the real service. */
	call(&main_srv, "TerminateSession", body, &r);
	assert_int_equal(r.status, 200);
	reply_free(&r);
}

/* ------------------------------------------------------------ data channel */

struct chan {
	const struct server *srv;
	struct session_info si;
	struct ws *ws;
	struct dc *dc;
	struct buf rx;
	int hs_done, closed, failed;
	int ws_gone;
	uint16_t close_code;
	char closed_sid[128];
	char closed_text[256];
	uint8_t client_id[16];
	unsigned reconnects;
};

static int
ch_send_frame(void *arg, const uint8_t *frame, size_t len)
{
	struct chan *c = arg;

	if (c->ws == NULL || c->ws_gone)
		return E_CLOSED;
	return ws_send_binary(c->ws, frame, len, NULL);
}

static int
ch_deliver(void *arg, const uint8_t *data, size_t len)
{
	struct chan *c = arg;

	return buf_put(&c->rx, data, len);
}

static void
ch_event(void *arg, const struct dc_event *ev)
{
	struct chan *c = arg;

	if (ev->type == DC_EV_HANDSHAKE_COMPLETE)
		c->hs_done = 1;
	else if (ev->type == DC_EV_CHANNEL_CLOSED) {
		c->closed = 1;
		snprintf(c->closed_sid, sizeof(c->closed_sid), "%s", ev->session_id);
		snprintf(c->closed_text, sizeof(c->closed_text), "%s", ev->text);
	} else if (ev->type == DC_EV_FAILED)
		c->failed = 1;
}

static void
ch_on_message(void *arg, int opcode, const uint8_t *data, size_t len)
{
	struct chan *c = arg;

	assert_int_equal(opcode, WS_OP_BINARY); /* the gateway never sends text */
	assert_true(len > 120);
	if (c->dc != NULL)
		dc_receive(c->dc, data, len, loop_now_ms());
}

static void
ch_on_close(void *arg, uint16_t code, const char *reason, size_t len)
{
	struct chan *c = arg;

	(void)reason;
	(void)len;
	c->close_code = code;
}

/* Connects the websocket and sends a ping and OpenDataChannel; 0 or E_*. */
static int
ch_connect(struct chan *c)
{
	struct ws_opts o;
	struct buf open;
	struct err e = { 0 };
	int rc;

	memset(&o, 0, sizeof(o));
	o.ca_file = c->srv->plain ? NULL : c->srv->ca;
	o.on_message = ch_on_message;
	o.on_close = ch_on_close;
	o.arg = c;
	c->ws_gone = 0;
	c->close_code = 0;
	rc = ws_connect(&c->ws, c->si.url, &o, &e);
	if (rc < 0) {
		print_message("ws_connect: %s\n", e.msg);
		return rc;
	}
	/* The official client may ping before OpenDataChannel. */
	assert_int_equal(ws_ping(c->ws, NULL), 0);
	buf_init(&open, 0);
	assert_int_equal(dc_open_build(&open, c->si.token, c->client_id, NULL, &e), 0);
	assert_int_equal(ws_send_text(c->ws, buf_ptr(&open), buf_len(&open), NULL), 0);
	buf_free(&open);
	return ws_on_readable(c->ws, &e) == 0 ? 0 : E_NET;
}

static void
ch_open(struct chan *c, const struct server *srv)
{
	struct dc_callbacks cb = { .send_frame = ch_send_frame, .deliver = ch_deliver,
				   .event = ch_event };
	struct dc_config cfg;
	struct err e = { 0 };

	memset(c, 0, sizeof(*c));
	c->srv = srv;
	buf_init(&c->rx, 0);
	assert_int_equal(uuid_v4(c->client_id), 0);
	start_session(srv, &c->si);
	cb.arg = c;
	memset(&cfg, 0, sizeof(cfg));
	cfg.role = DC_CLIENT;
	assert_int_equal(dc_new(&c->dc, &cfg, &cb, &e), 0);
	assert_int_equal(ch_connect(c), 0);
	assert_int_equal(dc_start(c->dc, loop_now_ms()), 0);
}

static void
ch_close(struct chan *c)
{
	ws_free(c->ws);
	c->ws = NULL;
	dc_free(c->dc);
	c->dc = NULL;
	buf_free(&c->rx);
}

/*
 * Drives the channel once (poll up to 100 ms); on a broken websocket
 * resumes the session and reconnects when allow_resume.
 */
static void
ch_step(struct chan *c, int allow_resume)
{
	struct pollfd p = { .fd = -1 };
	uint64_t now = loop_now_ms(), next = dc_tick(c->dc, now);
	int timeout = 100, rc = 0;
	struct err e = { 0 };

	if (next != DC_NO_DEADLINE && next < now + 100)
		timeout = next <= now ? 0 : (int)(next - now);
	if (c->ws != NULL && !c->ws_gone) {
		p.fd = ws_fd(c->ws);
		p.events = (ws_want_read(c->ws) ? POLLIN : 0) | (ws_want_write(c->ws) ? POLLOUT : 0);
	}
	poll(&p, 1, timeout);
	if (p.fd >= 0 && (p.revents & (POLLOUT | POLLERR | POLLHUP)))
		rc = ws_on_writable(c->ws, &e);
	if (rc == 0 && p.fd >= 0 && (p.revents & (POLLIN | POLLERR | POLLHUP)))
		rc = ws_on_readable(c->ws, &e);
	if (rc < 0 && !c->closed) {
		c->ws_gone = 1;
		if (!allow_resume)
			return;
		/* As the official client: ResumeSession, then the same URL again. */
		ws_free(c->ws);
		c->ws = NULL;
		resume_session(c->srv, &c->si);
		assert_int_equal(ch_connect(c), 0);
		c->reconnects++;
		assert_int_equal(dc_resend_all(c->dc, loop_now_ms()), 0);
	}
}

/* Sends len pattern bytes through the echo target and checks what comes back. */
static void
ch_echo(struct chan *c, size_t len, int allow_resume)
{
	uint8_t *src = malloc(len);
	size_t off = 0;
	uint64_t guard = loop_now_ms() + GUARD_MS;

	assert_non_null(src);
	for (size_t i = 0; i < len; i++)
		src[i] = (uint8_t)(i * 7 + i / 1024);
	while (!c->hs_done && !c->failed && loop_now_ms() < guard)
		ch_step(c, allow_resume);
	assert_true(c->hs_done);
	while (buf_len(&c->rx) < len && !c->failed && !c->closed && loop_now_ms() < guard) {
		if (off < len) {
			ssize_t n = dc_send(c->dc, src + off, len - off, loop_now_ms());
			assert_true(n >= 0);
			off += (size_t)n;
		}
		ch_step(c, allow_resume);
	}
	assert_false(c->failed);
	assert_int_equal(buf_len(&c->rx), len);
	assert_memory_equal(buf_ptr(&c->rx), src, len);
	buf_reset(&c->rx);
	free(src);
}

/* Ends the session with the TerminateSession flag and waits for channel_closed. */
static void
ch_terminate(struct chan *c)
{
	uint64_t guard = loop_now_ms() + GUARD_MS;

	assert_int_equal(dc_send_flag(c->dc, FLAG_TERMINATE_SESSION, loop_now_ms()), 0);
	while (!c->closed && !c->failed && loop_now_ms() < guard)
		ch_step(c, 0);
	assert_true(c->closed);
	assert_string_equal(c->closed_sid, c->si.id);
}

static void
test_data_channel_echo(void **state)
{
	struct chan c;
	char rec[256], *text;

	(void)state;
	ch_open(&c, &main_srv);
	ch_echo(&c, MIB, 0);
	ch_echo(&c, 1, 0);
	ch_terminate(&c);
	assert_int_equal(c.reconnects, 0);
	ch_close(&c);
	/* The agent writes its line when it ends, the gateway when the websocket does. */
	wait_lines(&main_srv, "violations", c.si.id, 2);
	assert_no_violations(&main_srv);
	snprintf(rec, sizeof(rec), "sessions/%s", c.si.id);
	for (int i = 0; i < 500; i++) {
		text = slurp(&main_srv, rec);
		int ended = strstr(text, "state ended") != NULL;
		free(text);
		if (ended)
			break;
		usleep(10 * 1000);
	}
	text = slurp(&main_srv, rec);
	assert_non_null(strstr(text, "state ended"));
	free(text);
}

static void
test_terminate_api_closes_channel(void **state)
{
	struct chan c;
	char body[256];
	struct reply r;
	uint64_t guard;

	(void)state;
	ch_open(&c, &main_srv);
	ch_echo(&c, 4096, 0);
	snprintf(body, sizeof(body), "{\"SessionId\":\"%s\"}", c.si.id);
	call(&main_srv, "TerminateSession", body, &r);
	assert_int_equal(r.status, 200);
	reply_free(&r);
	guard = loop_now_ms() + GUARD_MS;
	while (!c.closed && !c.failed && loop_now_ms() < guard)
		ch_step(&c, 0);
	assert_true(c.closed);
	ch_close(&c);
}

static void
test_bad_token_rejected(void **state)
{
	struct chan c;
	uint64_t guard;

	(void)state;
	memset(&c, 0, sizeof(c));
	c.srv = &main_srv;
	start_session(&main_srv, &c.si);
	assert_int_equal(uuid_v4(c.client_id), 0);
	c.si.token[0] ^= 1;
	assert_int_equal(ch_connect(&c), 0);
	guard = loop_now_ms() + GUARD_MS;
	while (!c.ws_gone && loop_now_ms() < guard) {
		struct pollfd p = { .fd = ws_fd(c.ws), .events = POLLIN };
		poll(&p, 1, 100);
		if (ws_want_write(c.ws))
			ws_on_writable(c.ws, NULL);
		if (ws_on_readable(c.ws, NULL) < 0)
			c.ws_gone = 1;
	}
	assert_true(c.ws_gone);
	assert_int_equal(c.close_code, 1008);
	ws_free(c.ws);
	char *stats = slurp(&main_srv, "stats");
	assert_non_null(strstr(stats, "open_rejected "));
	free(stats);
}

/* --drop-after: the websocket is cut twice; the client resumes and the bytes stay exact. */
static void
test_drop_and_resume(void **state)
{
	static const char *const extra[] = { "--drop-after", "200000:2", NULL };
	struct server srv;
	struct chan c;

	(void)state;
	memset(&srv, 0, sizeof(srv));
	start_server(&srv, extra);
	ch_open(&c, &srv);
	/* Each cut waits until 200000 bytes reached the gateway, and a fast
	 * gateway may take far more first: echo enough for both cuts. */
	ch_echo(&c, 4 * MIB, 1);
	assert_int_equal(c.reconnects, 2);
	ch_echo(&c, 100000, 1);
	assert_int_equal(c.reconnects, 2);
	ch_terminate(&c);
	ch_close(&c);
	wait_lines(&srv, "violations", c.si.id, 4);
	assert_no_violations(&srv);
	assert_int_equal(count_lines(&srv, "api.log", "ResumeSession 200"), 2);
	stop_server(&srv);
}

/* Faults that the data channel must absorb: duplicates, reordering, lost acks, a pause. */
static void
test_faults_absorbed(void **state)
{
	static const char *const extra[] = { "--duplicate", "7", "--reorder", "5",
					     "--withhold-ack", "9", "--pause", "300", "--pace",
					     NULL };
	static const char *const applied[] = { "fault_duplicated ", "fault_reordered ",
					       "fault_acks_withheld ", "fault_pauses " };
	struct server srv;
	struct chan c;
	char *stats;

	(void)state;
	memset(&srv, 0, sizeof(srv));
	start_server(&srv, extra);
	ch_open(&c, &srv);
	ch_echo(&c, 256 * 1024, 0);
	ch_terminate(&c);
	ch_close(&c);
	wait_lines(&srv, "violations", c.si.id, 2);
	assert_no_violations(&srv);
	/* Every fault was really applied. */
	stats = slurp(&srv, "stats");
	for (size_t i = 0; i < sizeof(applied) / sizeof(applied[0]); i++) {
		const char *at = strstr(stats, applied[i]);
		if (at == NULL || strtol(at + strlen(applied[i]), NULL, 10) <= 0)
			fail_msg("fault %s not applied: %s", applied[i], stats);
	}
	free(stats);
	stop_server(&srv);
}

/* Plain ws://, a target that refuses, and ResumeSession without a token. */
static void
test_refused_target_plain(void **state)
{
	static const char *const extra[] = { "--plain", "--refuse-target", "--resume-no-token",
					     NULL };
	struct server srv;
	struct chan c;
	char body[256], want[256], *stats;
	struct reply r;
	uint64_t guard;

	(void)state;
	memset(&srv, 0, sizeof(srv));
	start_server(&srv, extra);
	ch_open(&c, &srv);
	snprintf(want, sizeof(want), "ws://127.0.0.1:%u/v1/data-channel/%s?role=publish_subscribe",
		 srv.port, c.si.id);
	assert_string_equal(c.si.url, want);
	guard = loop_now_ms() + GUARD_MS;
	while (!c.closed && !c.failed && loop_now_ms() < guard)
		ch_step(&c, 0);
	/* As the real agent: HandshakeComplete first, then the dial fails. */
	assert_true(c.hs_done);
	assert_true(c.closed);
	assert_non_null(strstr(c.closed_text, "Unable to connect to specified port"));
	ch_close(&c);
	wait_lines(&srv, "violations", c.si.id, 2);
	assert_no_violations(&srv);
	stats = slurp(&srv, "stats");
	assert_non_null(strstr(stats, "target_refused 1"));
	free(stats);

	start_session(&srv, &c.si);
	snprintf(body, sizeof(body), "{\"SessionId\":\"%s\"}", c.si.id);
	call(&srv, "ResumeSession", body, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(&r, "TokenValue"), "");
	reply_free(&r);
	stop_server(&srv);
}

/* ------------------------------------------------------------ main */

static int
setup(void **state)
{
	static const char *const extra[] = { "--throttle", "1:429", "--offline", OFFLINE, NULL };

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	start_echo();
	start_server(&main_srv, extra);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	assert_no_violations(&main_srv);
	stop_server(&main_srv);
	kill(echo_pid, SIGKILL);
	waitpid(echo_pid, NULL, 0);
	curl_global_cleanup();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_throttle_then_success),
		cmocka_unit_test(test_bad_signature),
		cmocka_unit_test(test_start_validation),
		cmocka_unit_test(test_security_token_recorded),
		cmocka_unit_test(test_resume_terminate),
		cmocka_unit_test(test_data_channel_echo),
		cmocka_unit_test(test_terminate_api_closes_channel),
		cmocka_unit_test(test_bad_token_rejected),
		cmocka_unit_test(test_drop_and_resume),
		cmocka_unit_test(test_faults_absorbed),
		cmocka_unit_test(test_refused_target_plain),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
