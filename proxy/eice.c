/* eice.c: key push and the EC2 Instance Connect Endpoint tunnel, on one poll loop. */
#include "eice.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "buf.h"
#include "eic.h"
#include "loop.h"
#include "sshagent.h"
#include "ws.h"

/* Stop reading stdin while this much waits to go out on the websocket. */
#define WS_HIGH_WATER (1024 * 1024)
/* Stop reading the websocket while this much waits for stdout. */
#define STDOUT_HIGH_WATER (4 * 1024 * 1024)
#define STDOUT_HARD_MAX (64 * 1024 * 1024)
/* After our close frame: how long to wait for the endpoint's. */
#define CLOSE_TIMEOUT_MS 2000

int
eice_option(struct eice_cli *cli, int c, const char *arg, char *msg, size_t msglen)
{
	switch (c) {
	case EICE_OPT_PUSH_KEY:
		cli->push_key = 1;
		return 0;
	case EICE_OPT_USER:
		cli->user = arg;
		return 0;
	case EICE_OPT_KEY:
		cli->key_file = arg;
		return 0;
	case EICE_OPT_VIA:
		if (strcmp(arg, "eice") == 0) {
			cli->via_eice = 1;
			return 0;
		}
		if (strcmp(arg, "ssm") == 0) {
			cli->via_eice = 0;
			return 0;
		}
		snprintf(msg, msglen, "--via takes eice or ssm, not '%.40s'", arg);
		return -1;
	case EICE_OPT_ID:
		cli->endpoint_id = arg;
		return 0;
	default:
		snprintf(msg, msglen, "unknown option");
		return -1;
	}
}

int
eice_check(const struct eice_cli *cli, const char *target, char *msg, size_t msglen)
{
	if ((cli->user != NULL || cli->key_file != NULL) && !cli->push_key) {
		snprintf(msg, msglen, "--user and --key go with --push-key");
		return -1;
	}
	if (cli->push_key && (cli->user == NULL || cli->user[0] == '\0')) {
		snprintf(msg, msglen, "--push-key needs --user USER (in ssh_config: --user %%r)");
		return -1;
	}
	if (cli->endpoint_id != NULL && !cli->via_eice) {
		snprintf(msg, msglen, "--eice-id goes with --via eice");
		return -1;
	}
	if (target != NULL && (cli->push_key || cli->via_eice) && strncmp(target, "i-", 2) != 0) {
		snprintf(msg, msglen, "%.40s: EC2 Instance Connect works with EC2 instances (i-...) only",
			 target);
		return -1;
	}
	return 0;
}

int
eice_push_key(struct awsapi *api, const char *instance_id, const char *os_user,
	      const char *key_file, const struct logger *lg, struct err *e)
{
	char key[SSHAGENT_LINE_MAX + 1];
	int r;

	if (key_file != NULL)
		r = sshagent_read_pubfile(key_file, key, sizeof(key), e);
	else
		r = sshagent_pick_key(NULL, key, sizeof(key), lg, e);
	if (r != 0)
		return err_prefix(e, "cannot push a key");
	return eic_send_ssh_public_key(api, instance_id, os_user, key, lg, e);
}

enum phase {
	PH_RUN,     /* moving bytes both ways */
	PH_CLOSING, /* our close frame is queued: waiting for the endpoint's */
	PH_OUTPUT,  /* the websocket is over: writing what is left to stdout */
	PH_DONE,
};

struct tunnel {
	const struct eice_opts *o;
	struct loop *loop;
	struct ws *ws;
	struct buf out;          /* bytes waiting for stdout */
	uint8_t *in;             /* one stdin read */
	enum phase phase;
	int stdin_eof, stdout_gone, ws_gone;
	uint64_t deadline;
	uint64_t timer_id;
	uint64_t bytes_in, bytes_out;
	int rc;
	struct err err;
};

static void
fail(struct tunnel *t, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
fail(struct tunnel *t, int code, const char *fmt, ...)
{
	va_list ap;

	if (t->rc == 0) {
		t->rc = code;
		t->err.code = code;
		va_start(ap, fmt);
		vsnprintf(t->err.msg, sizeof(t->err.msg), fmt, ap);
		va_end(ap);
	}
	t->phase = PH_DONE;
	loop_stop(t->loop);
}

/* Queues our close frame (once) and starts waiting for the endpoint's. */
static void
start_close(struct tunnel *t, const char *why)
{
	if (t->phase != PH_RUN)
		return;
	log_debug(t->o->log, "%s: closing the tunnel", why);
	if (t->ws_gone || ws_close(t->ws, WS_CLOSE_NORMAL, NULL) != 0) {
		t->phase = PH_OUTPUT;
		return;
	}
	t->phase = PH_CLOSING;
	t->deadline = loop_now_ms() + CLOSE_TIMEOUT_MS;
}

static void
ws_message_cb(void *arg, int opcode, const uint8_t *data, size_t len)
{
	struct tunnel *t = arg;

	if (t->phase == PH_DONE)
		return;
	if (opcode != WS_OP_BINARY) {
		/* The endpoint only sends text to report a failure. */
		size_t n = len > 200 ? 200 : len;
		char text[201];
		for (size_t i = 0; i < n; i++)
			text[i] = (data[i] < 0x20 || data[i] == 0x7f) ? '?' : (char)data[i];
		text[n] = '\0';
		fail(t, E_PROTO, "EC2 Instance Connect Endpoint sent a text message: %s", text);
		return;
	}
	t->bytes_in += len;
	if (t->stdout_gone)
		return;
	if (buf_len(&t->out) + len > STDOUT_HARD_MAX || buf_put(&t->out, data, len) != 0)
		fail(t, E_FULL, "output buffer full");
}

static void
ws_close_cb(void *arg, uint16_t code, const char *reason, size_t len)
{
	struct tunnel *t = arg;
	char why[128];
	size_t n = len > 120 ? 120 : len;

	for (size_t i = 0; i < n; i++)
		why[i] = ((unsigned char)reason[i] < 0x20) ? '?' : reason[i];
	why[n] = '\0';
	log_debug(t->o->log, "tunnel closed by the endpoint (code %u%s%s)", (unsigned)code,
		  n ? ": " : "", why);
	if (code != WS_CLOSE_NORMAL && t->rc == 0) {
		t->rc = E_CLOSED;
		err_set(&t->err, E_CLOSED, "EC2 Instance Connect Endpoint closed the tunnel with code "
			"%u%s%s", (unsigned)code, n ? ": " : "", why);
	}
}

static int
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -1;
	return fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void
on_stdin(struct loop *l, int fd, int mask, void *arg)
{
	struct tunnel *t = arg;
	struct err e = { 0, "" };
	ssize_t n;

	(void)l;
	(void)mask;
	if (t->phase != PH_RUN)
		return;
	n = read(fd, t->in, EIC_MAX_FRAME);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		log_debug(t->o->log, "stdin: %s", strerror(errno));
		n = 0;
	}
	if (n == 0) {
		t->stdin_eof = 1;
		loop_del_fd(t->loop, STDIN_FILENO);
		start_close(t, "end of input");
		return;
	}
	/* One read is one frame: at most EIC_MAX_FRAME bytes, as the endpoint expects. */
	if (ws_send_binary(t->ws, t->in, (size_t)n, &e) != 0) {
		fail(t, E_NET, "tunnel: %s", e.msg[0] ? e.msg : "cannot send");
		return;
	}
	t->bytes_out += (uint64_t)n;
}

static void
on_stdout(struct loop *l, int fd, int mask, void *arg)
{
	struct tunnel *t = arg;
	ssize_t n;

	(void)l;
	(void)mask;
	while (buf_len(&t->out) > 0) {
		n = write(fd, buf_ptr(&t->out), buf_len(&t->out));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			/* The reader went away (ssh exited): nothing more to deliver. */
			log_debug(t->o->log, "stdout: %s", strerror(errno));
			t->stdout_gone = 1;
			buf_reset(&t->out);
			start_close(t, "output closed");
			return;
		}
		buf_consume(&t->out, (size_t)n);
	}
}

static void
on_ws(struct loop *l, int fd, int mask, void *arg)
{
	struct tunnel *t = arg;
	struct err e = { 0, "" };
	int r = 0;

	(void)fd;
	if (t->ws_gone)
		return;
	if (mask & LOOP_WRITE)
		r = ws_on_writable(t->ws, &e);
	if (r == 0 && (mask & (LOOP_READ | LOOP_ERROR)))
		r = ws_on_readable(t->ws, &e);
	if (r == 0 || t->phase == PH_DONE)
		return;
	t->ws_gone = 1;
	loop_del_fd(l, ws_fd(t->ws));
	if (r == E_CLOSED || t->phase == PH_CLOSING) {
		/* Closed (normally or with a code on_close recorded): deliver what came. */
		t->phase = PH_OUTPUT;
		return;
	}
	fail(t, E_NET, "tunnel connection lost: %s", e.msg[0] ? e.msg : err_str(r));
}

static void
on_signal(struct loop *l, int fd, int mask, void *arg)
{
	struct tunnel *t = arg;
	char c[16];

	(void)l;
	(void)mask;
	while (read(fd, c, sizeof(c)) > 0)
		;
	log_debug(t->o->log, "signal received");
	t->stdout_gone = 1; /* ssh sends SIGHUP as it exits: nobody reads now */
	buf_reset(&t->out);
	start_close(t, "signal");
}

static void
on_timer(struct loop *l, uint64_t id, void *arg)
{
	struct tunnel *t = arg;

	(void)l;
	(void)id;
	t->timer_id = 0;
}

/* Sets every interest mask from the state; runs before each wait. */
static void
before_sleep(struct loop *l, void *arg)
{
	struct tunnel *t = arg;
	uint64_t now = loop_now_ms();
	int ws_mask = 0;

	if (t->phase == PH_CLOSING && now >= t->deadline) {
		log_debug(t->o->log, "no close frame from the endpoint in time");
		t->phase = PH_OUTPUT;
	}
	if (t->phase == PH_OUTPUT && (buf_len(&t->out) == 0 || t->stdout_gone))
		t->phase = PH_DONE;
	if (t->phase == PH_DONE) {
		loop_stop(l);
		return;
	}
	if (!t->stdin_eof)
		loop_mod_fd(l, STDIN_FILENO,
			    t->phase == PH_RUN && ws_pending_out_bytes(t->ws) < WS_HIGH_WATER ? LOOP_READ
											      : 0);
	loop_mod_fd(l, STDOUT_FILENO, buf_len(&t->out) > 0 && !t->stdout_gone ? LOOP_WRITE : 0);
	if (!t->ws_gone) {
		if (buf_len(&t->out) < STDOUT_HIGH_WATER && ws_want_read(t->ws))
			ws_mask |= LOOP_READ;
		if (ws_want_write(t->ws))
			ws_mask |= LOOP_WRITE;
		loop_mod_fd(l, ws_fd(t->ws), ws_mask);
	}
	if (t->phase == PH_CLOSING && t->timer_id == 0)
		loop_add_timer(l, t->deadline, on_timer, t, &t->timer_id);
}

/* Finds the instance and endpoint and builds the presigned URL. */
static int
tunnel_url(const struct eice_opts *o, char **url, struct err *e)
{
	struct eic_instance inst;
	struct eic_endpoint ep;
	const char *host;
	int r;

	if ((r = eic_describe_instance(o->api, o->instance_id, &inst, e)) != 0)
		return r;
	log_verbose(o->log, "%s: %s in %s, %s", inst.id, inst.private_ip, inst.vpc_id,
		    inst.subnet_id);
	if ((r = eic_find_endpoint(o->api, &inst, o->endpoint_id, &ep, o->log, e)) != 0)
		return r;
	host = ep.dns_name;
	if (eic_use_fips()) {
		if (ep.fips_dns_name[0] == '\0')
			return err_set(e, E_CONFIG, "endpoint %s has no FIPS DNS name", ep.id);
		host = ep.fips_dns_name;
	}
	if (host[0] == '\0')
		return err_set(e, E_AWS, "endpoint %s has no DNS name", ep.id);
	log_verbose(o->log, "using EC2 Instance Connect Endpoint %s (%s, %s)", ep.id, ep.subnet_id,
		    host);
	return eic_tunnel_url(o->creds, o->region, host, ep.id, inst.private_ip, o->port,
			      EIC_MAX_TUNNEL_S, time(NULL), url, e);
}

int
eice_run(const struct eice_opts *o, struct err *e)
{
	struct tunnel t;
	struct ws_opts wo;
	char *url = NULL;
	int r;

	memset(&t, 0, sizeof(t));
	t.o = o;
	buf_init(&t.out, STDOUT_HARD_MAX + 2 * WS_DEFAULT_MAX_MSG);
	if ((t.in = malloc(EIC_MAX_FRAME)) == NULL || loop_new(&t.loop) != 0) {
		r = err_set(e, E_NOMEM, "out of memory");
		goto out;
	}
	if ((r = tunnel_url(o, &url, e)) != 0)
		goto out;

	memset(&wo, 0, sizeof(wo));
	wo.ca_file = o->ca_file;
	wo.connect_timeout_ms = o->connect_timeout_ms;
	wo.handshake_timeout_ms = o->connect_timeout_ms;
	wo.lg = o->log;
	wo.on_message = ws_message_cb;
	wo.on_close = ws_close_cb;
	wo.arg = &t;
	log_debug(o->log, "opening the tunnel to %s port %u", o->instance_id, o->port);
	r = ws_connect(&t.ws, url, &wo, e);
	/* The URL holds a signature and maybe a session token: wipe it. */
	OPENSSL_cleanse(url, strlen(url));
	if (r != 0) {
		if (r == E_PROTO && strstr(e->msg, "403") != NULL)
			err_prefix(e, "access denied (the credentials need "
				   "ec2-instance-connect:OpenTunnel)");
		err_prefix(e, "cannot open the EC2 Instance Connect tunnel");
		goto out;
	}
	log_verbose(o->log, "tunnel open to %s port %u", o->instance_id, o->port);

	if (set_nonblock(STDIN_FILENO) != 0 || set_nonblock(STDOUT_FILENO) != 0) {
		r = err_set(e, E_IO, "cannot make stdin/stdout non-blocking: %s", strerror(errno));
		goto out;
	}
	if ((r = loop_add_fd(t.loop, STDIN_FILENO, LOOP_READ, on_stdin, &t)) != 0 ||
	    (r = loop_add_fd(t.loop, STDOUT_FILENO, 0, on_stdout, &t)) != 0 ||
	    (r = loop_add_fd(t.loop, ws_fd(t.ws), LOOP_READ, on_ws, &t)) != 0 ||
	    (o->signal_fd >= 0 && (r = loop_add_fd(t.loop, o->signal_fd, LOOP_READ, on_signal, &t)) != 0)) {
		err_set(e, r, "cannot watch file descriptors");
		goto out;
	}
	loop_set_before_sleep(t.loop, before_sleep, &t);
	/* Bytes that came with the upgrade answer are already buffered. */
	on_ws(t.loop, ws_fd(t.ws), LOOP_READ, &t);
	if (t.phase != PH_DONE && (r = loop_run(t.loop, e)) != 0)
		goto out;
	r = t.rc;
	if (r != 0)
		err_set(e, r, "%s", t.err.msg);
	log_verbose(o->log, "tunnel to %s: %llu bytes in, %llu bytes out", o->instance_id,
		    (unsigned long long)t.bytes_in, (unsigned long long)t.bytes_out);
out:
	free(url);
	ws_free(t.ws);
	loop_free(t.loop);
	buf_free(&t.out);
	free(t.in);
	return r;
}
