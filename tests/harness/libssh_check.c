/*
 * libssh_check.c: a libssh client that exercises one ssh connection the
 * way an SDK user would, usually through ssm-proxy as its ProxyCommand.
 *
 * It verifies the server's host key against a given public key file,
 * authenticates with a key, runs commands on exec channels (output, stderr
 * and exit status), moves 16 MiB each way with SHA-256 comparison and runs
 * two echo channels at once over the one connection. One "ok"/"not ok"
 * line per check on stdout; exit status 0 only if every check passed.
 *
 * usage: libssh_check --host H --port P --user U --identity KEY
 *                     --host-key PUBFILE --workdir DIR [--proxy-command CMD]
 *                     [--size BYTES]
 * DIR is a directory on the server side for the transfer files.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libssh/libssh.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define IO_TIMEOUT_MS 300000  /* a stuck transfer fails instead of hanging */
#define CHUNK 65536
#define ECHO_TOTAL (1024 * 1024)
#define OUT_MAX 4096          /* captured output of short commands */

struct opts {
	const char *host, *user, *identity, *host_key, *workdir, *proxy;
	unsigned port;
	size_t size;
};

struct result {
	char out[OUT_MAX];    /* stdout, truncated to OUT_MAX-1, NUL-terminated */
	size_t out_len;       /* full stdout length */
	char err[OUT_MAX];
	size_t err_len;
	int status;           /* exit status, or -1 if none arrived */
	unsigned char sha[32]; /* SHA-256 of the full stdout */
};

static int failures;

static void
check(int ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s - ", ok ? "ok" : "not ok");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!ok)
		failures++;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
hex(const unsigned char *d, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[d[i] >> 4];
		out[2 * i + 1] = digits[d[i] & 15];
	}
	out[2 * n] = '\0';
}

static void
append(char *dst, size_t *len, const char *src, size_t n)
{
	size_t have = *len < OUT_MAX - 1 ? *len : OUT_MAX - 1;
	size_t k = n < OUT_MAX - 1 - have ? n : OUT_MAX - 1 - have;

	memcpy(dst + have, src, k);
	dst[have + k] = '\0';
	*len += n;
}

/*
 * Opens an exec channel for cmd, writes in (len bytes, may be 0) then EOF,
 * reads stdout and stderr to EOF and waits for the exit status.
 * Returns 0, or -1 with a message on stderr if the channel itself failed.
 */
static int
run(ssh_session s, const char *cmd, const unsigned char *in, size_t len, struct result *r)
{
	ssh_channel ch;
	EVP_MD_CTX *md;
	char buf[CHUNK];
	size_t off = 0;
	int n, rc = -1;
	unsigned int mdlen;

	memset(r, 0, sizeof(*r));
	r->status = -1;
	if ((ch = ssh_channel_new(s)) == NULL)
		return -1;
	if ((md = EVP_MD_CTX_new()) == NULL || !EVP_DigestInit_ex(md, EVP_sha256(), NULL))
		goto out;
	if (ssh_channel_open_session(ch) != SSH_OK || ssh_channel_request_exec(ch, cmd) != SSH_OK) {
		fprintf(stderr, "libssh_check: exec '%s': %s\n", cmd, ssh_get_error(s));
		goto out;
	}
	while (off < len) {
		size_t want = len - off < CHUNK ? len - off : CHUNK;

		if ((n = ssh_channel_write(ch, in + off, (uint32_t)want)) <= 0) {
			fprintf(stderr, "libssh_check: write: %s\n", ssh_get_error(s));
			goto out;
		}
		off += (size_t)n;
	}
	if (ssh_channel_send_eof(ch) != SSH_OK)
		goto out;
	/*
	 * stderr stays small for these commands, so draining stdout first
	 * cannot stall. A read returns 0 both at EOF and on timeout; only
	 * ssh_channel_is_eof, once both streams are drained, tells them apart.
	 */
	while ((n = ssh_channel_read_timeout(ch, buf, sizeof(buf), 0, IO_TIMEOUT_MS)) > 0) {
		append(r->out, &r->out_len, buf, (size_t)n);
		EVP_DigestUpdate(md, buf, (size_t)n);
	}
	while (n == 0 && (n = ssh_channel_read_timeout(ch, buf, sizeof(buf), 1, IO_TIMEOUT_MS)) > 0) {
		append(r->err, &r->err_len, buf, (size_t)n);
		n = 0;
	}
	if (n < 0 || !ssh_channel_is_eof(ch)) {
		fprintf(stderr, "libssh_check: read output of '%s': %s\n", cmd,
		        n < 0 ? ssh_get_error(s) : "timed out");
		goto out;
	}
	EVP_DigestFinal_ex(md, r->sha, &mdlen);
	r->status = ssh_channel_get_exit_status(ch);
	rc = 0;
out:
	EVP_MD_CTX_free(md);
	ssh_channel_close(ch);
	ssh_channel_free(ch);
	return rc;
}

/* Copies s into out (size > 4) with newlines shown as \n, for one-line reports. */
static const char *
oneline(const char *s, char *out, size_t size)
{
	size_t o = 0;

	for (; *s != '\0' && o + 3 < size; s++) {
		if (*s == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else {
			out[o++] = *s;
		}
	}
	out[o] = '\0';
	return out;
}

/* Runs cmd and checks stdout, stderr and exit status exactly. */
static void
expect(ssh_session s, const char *cmd, const char *out, const char *err, int status)
{
	char o1[128], o2[128];
	struct result r;
	int ok = run(s, cmd, NULL, 0, &r) == 0;

	check(ok && strcmp(r.out, out) == 0 && strcmp(r.err, err) == 0 && r.status == status,
	      "exec '%s': stdout '%s' stderr '%s' status %d", cmd,
	      oneline(ok ? r.out : "?", o1, sizeof(o1)), oneline(ok ? r.err : "?", o2, sizeof(o2)),
	      r.status);
}

static ssh_session
connect_and_auth(const struct opts *o)
{
	ssh_session s;
	ssh_key server = NULL, want = NULL, priv = NULL;
	int no = 0, verbosity = SSH_LOG_NOLOG, ok;
	long timeout = 60;

	if ((s = ssh_new()) == NULL)
		return NULL;
	/* Only what is given here counts: no ~/.ssh/config, no agent. */
	ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &no);
	ssh_options_set(s, SSH_OPTIONS_LOG_VERBOSITY, &verbosity);
	ssh_options_set(s, SSH_OPTIONS_HOST, o->host);
	ssh_options_set(s, SSH_OPTIONS_PORT, &o->port);
	ssh_options_set(s, SSH_OPTIONS_USER, o->user);
	ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout);
	ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, "/dev/null");
	ssh_options_set(s, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null");
	if (o->proxy != NULL && ssh_options_set(s, SSH_OPTIONS_PROXYCOMMAND, o->proxy) != SSH_OK) {
		check(0, "set proxy command: %s", ssh_get_error(s));
		goto fail;
	}
	if (ssh_connect(s) != SSH_OK) {
		check(0, "connect to %s: %s", o->host, ssh_get_error(s));
		goto fail;
	}
	check(1, "connect to %s", o->host);

	ok = ssh_get_server_publickey(s, &server) == SSH_OK &&
	     ssh_pki_import_pubkey_file(o->host_key, &want) == SSH_OK &&
	     ssh_key_cmp(server, want, SSH_KEY_CMP_PUBLIC) == 0;
	check(ok, "server host key matches %s", o->host_key);
	if (!ok)
		goto fail;

	if (ssh_pki_import_privkey_file(o->identity, NULL, NULL, NULL, &priv) != SSH_OK) {
		check(0, "load key %s", o->identity);
		goto fail;
	}
	ok = ssh_userauth_publickey(s, NULL, priv) == SSH_AUTH_SUCCESS;
	check(ok, "public key authentication as %s%s%s", o->user, ok ? "" : ": ",
	      ok ? "" : ssh_get_error(s));
	if (!ok)
		goto fail;
	ssh_key_free(server);
	ssh_key_free(want);
	ssh_key_free(priv);
	return s;
fail:
	ssh_key_free(server);
	ssh_key_free(want);
	ssh_key_free(priv);
	ssh_disconnect(s);
	ssh_free(s);
	return NULL;
}

/* Uploads size random bytes with `cat >` and compares the server's sha256sum. */
static void
check_upload(ssh_session s, const struct opts *o, const unsigned char *data)
{
	unsigned char sha[32];
	char want[65], cmd[1024];
	struct result r;
	double t;
	int ok;

	EVP_Digest(data, o->size, sha, NULL, EVP_sha256(), NULL);
	hex(sha, sizeof(sha), want);
	snprintf(cmd, sizeof(cmd), "cat > '%s/up.bin' && sha256sum < '%s/up.bin'", o->workdir,
	         o->workdir);
	t = now_s();
	ok = run(s, cmd, data, o->size, &r) == 0;
	t = now_s() - t;
	check(ok && r.status == 0 && strncmp(r.out, want, 64) == 0,
	      "upload %zu bytes: server sha256 %.64s, sent %s (%.1f MB/s)", o->size,
	      ok ? r.out : "?", want, t > 0 ? (double)o->size / 1e6 / t : 0.0);
}

/* Creates a random file on the server, downloads it with cat, compares hashes. */
static void
check_download(ssh_session s, const struct opts *o)
{
	char cmd[1024], want[65], got[65];
	struct result r;
	double t;
	int ok;

	snprintf(cmd, sizeof(cmd),
	         "head -c %zu /dev/urandom > '%s/down.bin' && sha256sum < '%s/down.bin'", o->size,
	         o->workdir, o->workdir);
	ok = run(s, cmd, NULL, 0, &r) == 0 && r.status == 0 && r.out_len >= 64;
	check(ok, "create %zu random bytes on the server", o->size);
	if (!ok)
		return;
	memcpy(want, r.out, 64);
	want[64] = '\0';

	snprintf(cmd, sizeof(cmd), "cat '%s/down.bin'", o->workdir);
	t = now_s();
	ok = run(s, cmd, NULL, 0, &r) == 0;
	t = now_s() - t;
	hex(r.sha, sizeof(r.sha), got);
	check(ok && r.status == 0 && r.out_len == o->size && strcmp(got, want) == 0,
	      "download %zu bytes: got %zu bytes sha256 %s, server %s (%.1f MB/s)", o->size,
	      r.out_len, got, want, t > 0 ? (double)o->size / 1e6 / t : 0.0);
}

/* Reads exactly n bytes of stdout from ch; returns 0 or -1. */
static int
read_exact(ssh_channel ch, unsigned char *p, size_t n)
{
	size_t got = 0;
	int k;

	while (got < n) {
		k = ssh_channel_read_timeout(ch, p + got, (uint32_t)(n - got), 0, IO_TIMEOUT_MS);
		if (k <= 0)
			return -1;
		got += (size_t)k;
	}
	return 0;
}

/* Two `cat` channels open at once, fed alternately: both echo their own bytes. */
static void
check_two_channels(ssh_session s, const unsigned char *data)
{
	ssh_channel ch[2] = { NULL, NULL };
	unsigned char *back = malloc(CHUNK);
	size_t off;
	int i, ok = back != NULL;

	for (i = 0; i < 2 && ok; i++) {
		ok = (ch[i] = ssh_channel_new(s)) != NULL &&
		     ssh_channel_open_session(ch[i]) == SSH_OK &&
		     ssh_channel_request_exec(ch[i], "cat") == SSH_OK;
	}
	/* Channel 1 is fed the data from its far end, so the two streams differ. */
	for (off = 0; ok && off < ECHO_TOTAL; off += CHUNK / 2) {
		for (i = 0; i < 2 && ok; i++) {
			const unsigned char *src = i == 0 ? data + off : data + ECHO_TOTAL - off - CHUNK / 2;

			ok = ssh_channel_write(ch[i], src, CHUNK / 2) == CHUNK / 2 &&
			     read_exact(ch[i], back, CHUNK / 2) == 0 &&
			     memcmp(back, src, CHUNK / 2) == 0;
		}
	}
	for (i = 0; i < 2; i++) {
		if (ch[i] == NULL)
			continue;
		if (ok) {
			ssh_channel_send_eof(ch[i]);
			/* cat ends on EOF; its exit status proves the channel closed cleanly. */
			while (ssh_channel_read_timeout(ch[i], back, CHUNK, 0, IO_TIMEOUT_MS) > 0)
				ok = 0;
			ok = ok && ssh_channel_get_exit_status(ch[i]) == 0;
		}
		ssh_channel_close(ch[i]);
		ssh_channel_free(ch[i]);
	}
	free(back);
	check(ok, "two concurrent exec channels echo %d bytes each intact", ECHO_TOTAL);
}

static int
usage(void)
{
	fprintf(stderr, "usage: libssh_check --host H --port P --user U --identity KEY "
	                "--host-key PUBFILE --workdir DIR [--proxy-command CMD] [--size BYTES]\n");
	return 2;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'p' },
		{ "user", required_argument, NULL, 'u' },
		{ "identity", required_argument, NULL, 'i' },
		{ "host-key", required_argument, NULL, 'k' },
		{ "workdir", required_argument, NULL, 'w' },
		{ "proxy-command", required_argument, NULL, 'x' },
		{ "size", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { NULL, NULL, NULL, NULL, NULL, NULL, 22, 16u << 20 };
	unsigned char *data;
	ssh_session s;
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'H': o.host = optarg; break;
		case 'u': o.user = optarg; break;
		case 'i': o.identity = optarg; break;
		case 'k': o.host_key = optarg; break;
		case 'w': o.workdir = optarg; break;
		case 'x': o.proxy = optarg; break;
		case 'p':
			errno = 0;
			o.port = (unsigned)strtoul(optarg, &end, 10);
			if (errno || *end || o.port == 0 || o.port > 65535)
				return usage();
			break;
		case 's':
			errno = 0;
			o.size = strtoul(optarg, &end, 10);
			if (errno || *end || o.size < ECHO_TOTAL)
				return usage();
			break;
		default:
			return usage();
		}
	}
	if (optind != argc || !o.host || !o.user || !o.identity || !o.host_key || !o.workdir)
		return usage();
	if ((data = malloc(o.size)) == NULL || RAND_bytes(data, (int)o.size) != 1) {
		fprintf(stderr, "libssh_check: cannot prepare %zu random bytes\n", o.size);
		free(data);
		return 1;
	}
	ssh_init();
	if ((s = connect_and_auth(&o)) != NULL) {
		expect(s, "true", "", "", 0);
		expect(s, "echo hello", "hello\n", "", 0);
		expect(s, "exit 7", "", "", 7);
		expect(s, "printf out; printf err >&2; exit 3", "out", "err", 3);
		check_upload(s, &o, data);
		check_download(s, &o);
		check_two_channels(s, data);
		/* The connection must still work after everything above. */
		expect(s, "echo still here", "still here\n", "", 0);
		ssh_disconnect(s);
		ssh_free(s);
	}
	ssh_finalize();
	free(data);
	printf("%s: %d check(s) failed\n", failures ? "FAIL" : "PASS", failures);
	return failures ? 1 : 0;
}
