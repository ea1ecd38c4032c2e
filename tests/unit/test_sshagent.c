/*
 * test_sshagent.c: the ssh-agent client and public key files (sshagent.c):
 * identity answers built here (usable and refused key types, malformed
 * messages), a tiny in-test agent on a unix socket, a real ssh-agent when
 * the system has one, and .pub files written by ssh-keygen.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "sshagent.h"

static char tmpdir[256];

/* ---- key blobs and answers ---- */

static void
put_string(struct buf *b, const void *p, size_t n)
{
	assert_int_equal(buf_put_u32(b, (uint32_t)n), 0);
	assert_int_equal(buf_put(b, p, n), 0);
}

static void
blob_ed25519(struct buf *b, uint8_t fill)
{
	uint8_t pk[32];

	memset(pk, fill, sizeof(pk));
	put_string(b, "ssh-ed25519", 11);
	put_string(b, pk, sizeof(pk));
}

/* An RSA public key blob with a modulus of exactly bits bits. */
static void
blob_rsa(struct buf *b, unsigned bits)
{
	static const uint8_t e[] = { 0x01, 0x00, 0x01 };
	size_t n = (bits + 7) / 8 + 1;
	uint8_t *mod = calloc(1, n);

	assert_non_null(mod);
	mod[1] = (uint8_t)(1u << ((bits - 1) % 8)); /* top bit; mod[0] is the mpint sign pad */
	mod[n - 1] |= 1;
	put_string(b, "ssh-rsa", 7);
	put_string(b, e, sizeof(e));
	put_string(b, mod, n);
	free(mod);
}

static void
blob_ecdsa(struct buf *b)
{
	uint8_t q[65];

	memset(q, 4, sizeof(q));
	put_string(b, "ecdsa-sha2-nistp256", 19);
	put_string(b, "nistp256", 8);
	put_string(b, q, sizeof(q));
}

/* Appends one identity (blob built by fn into a scratch buffer, then comment). */
static void
add_identity(struct buf *ans, const struct buf *blob, const char *comment)
{
	put_string(ans, buf_ptr(blob), buf_len(blob));
	put_string(ans, comment, strlen(comment));
}

/* Starts an answer: type 12 and the key count. */
static void
answer_start(struct buf *ans, uint32_t n)
{
	buf_init(ans, 0);
	assert_int_equal(buf_put_u8(ans, SSH2_AGENT_IDENTITIES_ANSWER), 0);
	assert_int_equal(buf_put_u32(ans, n), 0);
}

static void
test_pick_first_usable(void **state)
{
	struct buf ans, k1, k2, k3;
	char out[SSHAGENT_LINE_MAX + 1];
	struct err e;

	(void)state;
	buf_init(&k1, 0);
	buf_init(&k2, 0);
	buf_init(&k3, 0);
	blob_ecdsa(&k1);
	blob_rsa(&k2, 1024);
	blob_ed25519(&k3, 0x42);
	answer_start(&ans, 3);
	add_identity(&ans, &k1, "ecdsa key");
	add_identity(&ans, &k2, "short rsa");
	add_identity(&ans, &k3, "me@laptop");
	err_clear(&e);
	assert_int_equal(sshagent_pick_answer(buf_ptr(&ans), buf_len(&ans), out, sizeof(out), NULL, &e), 0);
	/* 32 bytes of 0x42 after the type: the line is deterministic. */
	assert_string_equal(out, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJC me@laptop");
	assert_true(strlen(out) >= 80);
	buf_free(&ans);
	buf_free(&k1);
	buf_free(&k2);
	buf_free(&k3);
}

static void
test_pick_rsa_2048(void **state)
{
	struct buf ans, k;
	char out[SSHAGENT_LINE_MAX + 1], type[32];
	struct err e;
	unsigned bits;

	(void)state;
	buf_init(&k, 0);
	blob_rsa(&k, 2048);
	err_clear(&e);
	assert_int_equal(sshagent_check_blob(buf_ptr(&k), buf_len(&k), type, sizeof(type), &bits, &e), 0);
	assert_string_equal(type, "ssh-rsa");
	assert_int_equal(bits, 2048);
	answer_start(&ans, 1);
	add_identity(&ans, &k, "rsa\nwith control");
	assert_int_equal(sshagent_pick_answer(buf_ptr(&ans), buf_len(&ans), out, sizeof(out), NULL, &e), 0);
	assert_true(strncmp(out, "ssh-rsa AAAAB3NzaC1yc2E", 23) == 0);
	/* The comment's control bytes never reach the line. */
	assert_non_null(strstr(out, " rsa?with control"));
	buf_free(&ans);
	buf_free(&k);
}

static void
test_no_usable_key(void **state)
{
	struct buf ans, k1, k2;
	char out[SSHAGENT_LINE_MAX + 1];
	struct err e;

	(void)state;
	buf_init(&k1, 0);
	buf_init(&k2, 0);
	blob_ecdsa(&k1);
	blob_rsa(&k2, 1024);
	answer_start(&ans, 2);
	add_identity(&ans, &k1, "a");
	add_identity(&ans, &k2, "b");
	err_clear(&e);
	assert_int_equal(sshagent_pick_answer(buf_ptr(&ans), buf_len(&ans), out, sizeof(out), NULL, &e),
			 E_NOTFOUND);
	assert_non_null(strstr(e.msg, "ecdsa-sha2-nistp256"));
	assert_non_null(strstr(e.msg, "ssh-rsa (1024 bits)"));
	buf_free(&ans);

	answer_start(&ans, 0);
	assert_int_equal(sshagent_pick_answer(buf_ptr(&ans), buf_len(&ans), out, sizeof(out), NULL, &e),
			 E_NOTFOUND);
	assert_non_null(strstr(e.msg, "no keys"));
	buf_free(&ans);
	buf_free(&k1);
	buf_free(&k2);
}

static void
test_malformed_answers(void **state)
{
	static const uint8_t failure[] = { SSH_AGENT_FAILURE };
	static const uint8_t wrong[] = { 99, 0, 0, 0, 0 };
	static const uint8_t huge[] = { SSH2_AGENT_IDENTITIES_ANSWER, 0xff, 0xff, 0xff, 0xff };
	char out[SSHAGENT_LINE_MAX + 1], type[32];
	struct buf ans, k;
	struct err e;
	unsigned bits;

	(void)state;
	err_clear(&e);
	assert_int_equal(sshagent_pick_answer(failure, sizeof(failure), out, sizeof(out), NULL, &e), E_PROTO);
	assert_int_equal(sshagent_pick_answer(wrong, sizeof(wrong), out, sizeof(out), NULL, &e), E_PROTO);
	assert_int_equal(sshagent_pick_answer(huge, sizeof(huge), out, sizeof(out), NULL, &e), E_PROTO);
	assert_int_equal(sshagent_pick_answer(huge, 0, out, sizeof(out), NULL, &e), E_PROTO);

	/* Every truncation of a valid answer is refused, never read past. */
	buf_init(&k, 0);
	blob_ed25519(&k, 1);
	answer_start(&ans, 1);
	add_identity(&ans, &k, "c");
	for (size_t n = 0; n < buf_len(&ans); n++) {
		uint8_t *copy = malloc(n ? n : 1);
		assert_non_null(copy);
		memcpy(copy, buf_ptr(&ans), n);
		assert_true(sshagent_pick_answer(copy, n, out, sizeof(out), NULL, &e) < 0);
		free(copy);
	}
	/* A blob with trailing bytes or a short ed25519 key is malformed. */
	assert_int_equal(buf_put_u8(&k, 0), 0);
	assert_int_equal(sshagent_check_blob(buf_ptr(&k), buf_len(&k), type, sizeof(type), &bits, &e), E_INVAL);
	/* Too small an output buffer is an error, not a cut line. */
	assert_int_equal(sshagent_pick_answer(buf_ptr(&ans), buf_len(&ans), out, 40, NULL, &e), E_RANGE);
	buf_free(&ans);
	buf_free(&k);
}

/* ---- an agent on a unix socket ---- */

/*
 * Forks a one-connection agent at path answering with the given bytes
 * (already framed or not, as raw says); returns its pid.
 */
static pid_t
fake_agent(const char *path, const uint8_t *msg, size_t len, int frame)
{
	struct sockaddr_un sa;
	int ls = socket(AF_UNIX, SOCK_STREAM, 0);
	pid_t pid;

	assert_true(ls >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	assert_int_equal(bind(ls, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(ls, 1), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		uint8_t req[5], hdr[4];
		int c = accept(ls, NULL, NULL);
		if (c < 0 || read(c, req, sizeof(req)) != 5 || req[4] != SSH2_AGENTC_REQUEST_IDENTITIES)
			_exit(1);
		poke_u32(hdr, (uint32_t)len);
		if (frame && write(c, hdr, 4) != 4)
			_exit(1);
		if (len > 0 && write(c, msg, len) != (ssize_t)len)
			_exit(1);
		close(c);
		_exit(0);
	}
	close(ls);
	return pid;
}

static void
reap(pid_t pid)
{
	int st;

	waitpid(pid, &st, 0);
}

static void
test_socket_agent(void **state)
{
	char path[300], out[SSHAGENT_LINE_MAX + 1];
	struct buf ans, k;
	struct err e;
	pid_t pid;

	(void)state;
	snprintf(path, sizeof(path), "%s/agent.sock", tmpdir);
	buf_init(&k, 0);
	blob_ed25519(&k, 7);
	answer_start(&ans, 1);
	add_identity(&ans, &k, "sock");
	pid = fake_agent(path, buf_ptr(&ans), buf_len(&ans), 1);
	err_clear(&e);
	assert_int_equal(sshagent_pick_key(path, out, sizeof(out), NULL, &e), 0);
	assert_true(strncmp(out, "ssh-ed25519 AAAA", 16) == 0);
	reap(pid);

	/* An agent that hangs up mid-answer. */
	pid = fake_agent(path, buf_ptr(&ans), 3, 0);
	assert_int_equal(sshagent_pick_key(path, out, sizeof(out), NULL, &e), E_PROTO);
	assert_non_null(strstr(e.msg, "closed"));
	reap(pid);
	unlink(path);

	/* No agent at all, and a socket nobody listens on. */
	assert_int_equal(sshagent_pick_key(path, out, sizeof(out), NULL, &e), E_IO);
	assert_non_null(strstr(e.msg, "cannot reach ssh-agent"));
	unsetenv("SSH_AUTH_SOCK");
	assert_int_equal(sshagent_pick_key(NULL, out, sizeof(out), NULL, &e), E_CONFIG);
	assert_non_null(strstr(e.msg, "SSH_AUTH_SOCK is not set"));
	buf_free(&ans);
	buf_free(&k);
}

/* ---- the real tools ---- */

static int
run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
run(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

static void
test_pubfiles(void **state)
{
	char path[300], out[SSHAGENT_LINE_MAX + 1], line[SSHAGENT_LINE_MAX + 1];
	struct err e;
	FILE *f;

	(void)state;
	if (run("command -v ssh-keygen >/dev/null") != 0)
		skip();
	assert_int_equal(run("cd %s && ssh-keygen -q -t ed25519 -N '' -C 'ed key' -f ed </dev/null && "
			     "ssh-keygen -q -t rsa -b 1024 -N '' -f rsa1k </dev/null && "
			     "ssh-keygen -q -t rsa -b 2048 -N '' -f rsa2k </dev/null && "
			     "ssh-keygen -q -t ecdsa -N '' -f ec </dev/null", tmpdir), 0);
	err_clear(&e);
	snprintf(path, sizeof(path), "%s/ed.pub", tmpdir);
	assert_int_equal(sshagent_read_pubfile(path, out, sizeof(out), &e), 0);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	line[strcspn(line, "\n")] = '\0';
	assert_string_equal(out, line); /* the same line ssh-keygen wrote */

	snprintf(path, sizeof(path), "%s/rsa2k.pub", tmpdir);
	assert_int_equal(sshagent_read_pubfile(path, out, sizeof(out), &e), 0);
	snprintf(path, sizeof(path), "%s/rsa1k.pub", tmpdir);
	assert_int_equal(sshagent_read_pubfile(path, out, sizeof(out), &e), E_RANGE);
	assert_non_null(strstr(e.msg, "1024 bits"));
	snprintf(path, sizeof(path), "%s/ec.pub", tmpdir);
	assert_int_equal(sshagent_read_pubfile(path, out, sizeof(out), &e), E_NOTFOUND);
	snprintf(path, sizeof(path), "%s/ed", tmpdir);
	assert_int_equal(sshagent_read_pubfile(path, out, sizeof(out), &e), E_INVAL);
	assert_non_null(strstr(e.msg, "private key"));
	snprintf(path, sizeof(path), "%s/missing.pub", tmpdir);
	assert_int_equal(sshagent_read_pubfile(path, out, sizeof(out), &e), E_IO);

	/* The type word must match the blob; junk is not a key. */
	snprintf(path, sizeof(path), "%s/bad.pub", tmpdir);
	assert_int_equal(run("cd %s && sed 's/^ssh-ed25519/ssh-rsa/' ed.pub > bad.pub", tmpdir), 0);
	assert_int_equal(sshagent_read_pubfile(path, out, sizeof(out), &e), E_INVAL);
	assert_int_equal(run("printf 'ssh-ed25519 not*base64 x\\n' > %s", path), 0);
	assert_true(sshagent_read_pubfile(path, out, sizeof(out), &e) < 0);
	assert_int_equal(run(": > %s", path), 0);
	assert_int_equal(sshagent_read_pubfile(path, out, sizeof(out), &e), E_INVAL);
}

static void
test_real_agent(void **state)
{
	char sock[300], out[SSHAGENT_LINE_MAX + 1], pidfile[300], line[SSHAGENT_LINE_MAX + 1];
	struct err e;
	FILE *f;
	long pid = 0;

	(void)state;
	if (run("command -v ssh-agent >/dev/null && command -v ssh-add >/dev/null") != 0)
		skip();
	snprintf(sock, sizeof(sock), "%s/real.sock", tmpdir);
	snprintf(pidfile, sizeof(pidfile), "%s/agent.pid", tmpdir);
	assert_int_equal(run("cd %s && ssh-agent -s -a %s | sed -n 's/^SSH_AGENT_PID=\\([0-9]*\\);.*/\\1/p' "
			     "> %s", tmpdir, sock, pidfile), 0);
	f = fopen(pidfile, "r");
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%ld", &pid), 1);
	fclose(f);
	/* An ECDSA key first, then the Ed25519 one that must be picked. */
	assert_int_equal(run("cd %s && ssh-keygen -q -t ecdsa -N '' -f ag_ec </dev/null && "
			     "ssh-keygen -q -t ed25519 -N '' -C agent-ed -f ag_ed </dev/null && "
			     "SSH_AUTH_SOCK=%s ssh-add -q ag_ec 2>/dev/null && "
			     "SSH_AUTH_SOCK=%s ssh-add -q ag_ed 2>/dev/null", tmpdir, sock, sock), 0);
	setenv("SSH_AUTH_SOCK", sock, 1);
	err_clear(&e);
	assert_int_equal(sshagent_pick_key(NULL, out, sizeof(out), NULL, &e), 0);
	snprintf(pidfile, sizeof(pidfile), "%s/ag_ed.pub", tmpdir);
	f = fopen(pidfile, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	line[strcspn(line, "\n")] = '\0';
	assert_string_equal(out, line);
	unsetenv("SSH_AUTH_SOCK");
	kill((pid_t)pid, SIGTERM);
}

static int
setup(void **state)
{
	const char *t = getenv("TMPDIR");

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "%s/test_sshagent.XXXXXX", t && *t ? t : "/tmp");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	(void)state;
	run("rm -rf %s", tmpdir);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pick_first_usable),
		cmocka_unit_test(test_pick_rsa_2048),
		cmocka_unit_test(test_no_usable_key),
		cmocka_unit_test(test_malformed_answers),
		cmocka_unit_test(test_socket_agent),
		cmocka_unit_test(test_pubfiles),
		cmocka_unit_test(test_real_agent),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
