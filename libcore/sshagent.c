/* sshagent.c: ssh-agent identity listing and OpenSSH public key lines. */
#include "sshagent.h"
#include "buf.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

/* Reads an SSH "string" (u32 length, bytes) without copying. */
static int
get_string(struct buf *b, const uint8_t **p, size_t *n)
{
	uint32_t len;
	int r;

	if ((r = buf_get_u32(b, &len)) != 0)
		return r;
	if ((r = buf_get_direct(b, len, p)) != 0)
		return r;
	*n = len;
	return 0;
}

/* Number of significant bits of a big-endian unsigned integer (an mpint). */
static unsigned
mpint_bits(const uint8_t *p, size_t n)
{
	size_t i = 0;
	unsigned top;

	while (i < n && p[i] == 0)
		i++;
	if (i == n)
		return 0;
	top = 0;
	for (uint8_t v = p[i]; v != 0; v >>= 1)
		top++;
	return (unsigned)((n - i - 1) * 8) + top;
}

static int
name_is(const uint8_t *p, size_t n, const char *s)
{
	return n == strlen(s) && memcmp(p, s, n) == 0;
}

int
sshagent_check_blob(const uint8_t *blob, size_t len, char *type, size_t typelen,
		    unsigned *bits, struct err *e)
{
	struct buf b;
	const uint8_t *t, *f1, *f2;
	size_t tn, n1, n2;

	buf_view(&b, blob, len);
	*bits = 0;
	if (typelen > 0)
		type[0] = '\0';
	if (get_string(&b, &t, &tn) != 0)
		return err_set(e, E_SHORT, "truncated public key");
	if (tn == 0 || tn >= typelen || memchr(t, '\0', tn) != NULL)
		return err_set(e, E_INVAL, "bad public key type name");
	memcpy(type, t, tn);
	type[tn] = '\0';
	if (name_is(t, tn, "ssh-ed25519")) {
		if (get_string(&b, &f1, &n1) != 0)
			return err_set(e, E_SHORT, "truncated ed25519 key");
		if (n1 != 32 || buf_len(&b) != 0)
			return err_set(e, E_INVAL, "malformed ed25519 key");
		return 0;
	}
	if (name_is(t, tn, "ssh-rsa")) {
		if (get_string(&b, &f1, &n1) != 0 || get_string(&b, &f2, &n2) != 0)
			return err_set(e, E_SHORT, "truncated rsa key");
		if (buf_len(&b) != 0 || n1 == 0 || mpint_bits(f1, n1) == 0)
			return err_set(e, E_INVAL, "malformed rsa key");
		*bits = mpint_bits(f2, n2);
		if (*bits < SSHAGENT_RSA_MIN_BITS)
			return err_set(e, E_RANGE, "rsa key of %u bits (EC2 needs at least %d)",
				       *bits, SSHAGENT_RSA_MIN_BITS);
		return 0;
	}
	return err_set(e, E_NOTFOUND, "%s keys are not accepted by EC2 Instance Connect", type);
}

/* Appends a comment without control characters (it ends up in JSON and a log). */
static void
clean_comment(char *dst, size_t dstlen, const uint8_t *p, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 1 < dstlen; i++)
		dst[o++] = (p[i] < 0x20 || p[i] == 0x7f) ? '?' : (char)p[i];
	dst[o] = '\0';
}

/*
 * Writes "type base64(blob)[ comment]" into out. The comment is dropped if
 * the line would not fit: the key is what matters to the service.
 */
static int
format_line(const char *type, const uint8_t *blob, size_t len, const char *comment, char *out,
	    size_t outlen, struct err *e)
{
	size_t b64 = 4 * ((len + 2) / 3), tl = strlen(type), cl = comment ? strlen(comment) : 0;
	unsigned char *enc;

	if (len > INT32_MAX / 2 || tl + 1 + b64 + 1 > outlen)
		return err_set(e, E_RANGE, "public key too long");
	if ((enc = malloc(b64 + 1)) == NULL)
		return err_set(e, E_NOMEM, "out of memory");
	EVP_EncodeBlock(enc, blob, (int)len);
	if (cl > 0 && tl + 1 + b64 + 1 + cl + 1 <= outlen)
		snprintf(out, outlen, "%s %s %s", type, (const char *)enc, comment);
	else
		snprintf(out, outlen, "%s %s", type, (const char *)enc);
	free(enc);
	return 0;
}

int
sshagent_pick_answer(const uint8_t *msg, size_t len, char *out, size_t outlen,
		     const struct logger *lg, struct err *e)
{
	struct buf b;
	uint8_t type;
	uint32_t nkeys;
	char seen[256] = "", tname[64], comment[1024];
	size_t so = 0;

	buf_view(&b, msg, len);
	if (buf_get_u8(&b, &type) != 0)
		return err_set(e, E_PROTO, "empty answer from ssh-agent");
	if (type == SSH_AGENT_FAILURE)
		return err_set(e, E_PROTO, "ssh-agent refused to list its keys");
	if (type != SSH2_AGENT_IDENTITIES_ANSWER)
		return err_set(e, E_PROTO, "unexpected answer type %u from ssh-agent", type);
	if (buf_get_u32(&b, &nkeys) != 0)
		return err_set(e, E_PROTO, "truncated answer from ssh-agent");
	if (nkeys > SSHAGENT_MAX_KEYS)
		return err_set(e, E_PROTO, "ssh-agent claims %u keys", nkeys);
	if (nkeys == 0)
		return err_set(e, E_NOTFOUND, "ssh-agent has no keys (add one with ssh-add)");
	for (uint32_t i = 0; i < nkeys; i++) {
		const uint8_t *blob, *cm;
		size_t bn, cn;
		unsigned bits;
		struct err ke;
		int r;

		if (get_string(&b, &blob, &bn) != 0 || get_string(&b, &cm, &cn) != 0)
			return err_set(e, E_PROTO, "truncated key %u in the ssh-agent answer", i + 1);
		err_clear(&ke);
		clean_comment(comment, sizeof(comment), cm, cn);
		r = sshagent_check_blob(blob, bn, tname, sizeof(tname), &bits, &ke);
		if (r == 0) {
			log_verbose(lg, "using %s key \"%s\" from ssh-agent", tname, comment);
			return format_line(tname, blob, bn, comment, out, outlen, e);
		}
		log_debug(lg, "ssh-agent key %u (%s) skipped: %s", i + 1, comment, ke.msg);
		/* Remember what was there, for a message that says why none fit. */
		if (tname[0] == '\0')
			snprintf(tname, sizeof(tname), "malformed");
		if (r == E_RANGE && bits > 0)
			snprintf(tname + strlen(tname), sizeof(tname) - strlen(tname), " (%u bits)", bits);
		if (so < sizeof(seen) - 1 && strstr(seen, tname) == NULL)
			so += (size_t)snprintf(seen + so, sizeof(seen) - so, "%s%s", so ? ", " : "",
					       tname);
		if (so >= sizeof(seen))
			so = sizeof(seen) - 1;
	}
	return err_set(e, E_NOTFOUND,
		       "ssh-agent has no key EC2 Instance Connect accepts (it has %s; needs "
		       "ed25519, or rsa of at least %d bits)", seen, SSHAGENT_RSA_MIN_BITS);
}

/* Waits until fd is ready for events or the deadline (monotonic ms) passes. */
static int
wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	struct timespec ts;
	int64_t now;
	int r;

	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
		if (now >= deadline)
			return E_TIMEOUT;
		r = poll(&p, 1, (int)(deadline - now));
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return E_IO;
	}
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads exactly n bytes before the deadline. */
static int
read_full(int fd, uint8_t *p, size_t n, int64_t deadline, struct err *e)
{
	while (n > 0) {
		ssize_t r;
		int w = wait_fd(fd, POLLIN, deadline);

		if (w == E_TIMEOUT)
			return err_set(e, E_TIMEOUT, "ssh-agent did not answer in time");
		if (w != 0)
			return err_set(e, E_IO, "ssh-agent: %s", strerror(errno));
		r = read(fd, p, n);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r < 0)
			return err_set(e, E_IO, "ssh-agent: %s", strerror(errno));
		if (r == 0)
			return err_set(e, E_PROTO, "ssh-agent closed the connection");
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

int
sshagent_pick_key(const char *sock, char *out, size_t outlen, const struct logger *lg,
		  struct err *e)
{
	static const uint8_t req[5] = { 0, 0, 0, 1, SSH2_AGENTC_REQUEST_IDENTITIES };
	struct sockaddr_un sa;
	int64_t deadline = now_ms() + SSHAGENT_TIMEOUT_MS;
	uint8_t hdr[4], *msg = NULL;
	uint32_t len;
	ssize_t w;
	int fd, r;

	if (sock == NULL)
		sock = getenv("SSH_AUTH_SOCK");
	if (sock == NULL || *sock == '\0')
		return err_set(e, E_CONFIG,
			       "no ssh-agent (SSH_AUTH_SOCK is not set): start one and ssh-add a "
			       "key, or give --key FILE.pub");
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(sock) >= sizeof(sa.sun_path))
		return err_set(e, E_CONFIG, "SSH_AUTH_SOCK path is too long");
	memcpy(sa.sun_path, sock, strlen(sock));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return err_set(e, E_IO, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		r = err_set(e, E_IO, "cannot reach ssh-agent at %s: %s", sock, strerror(errno));
		goto out;
	}
	/* MSG_NOSIGNAL: an agent that went away must not kill us with SIGPIPE. */
	w = send(fd, req, sizeof(req), MSG_NOSIGNAL);
	if (w != (ssize_t)sizeof(req)) {
		r = err_set(e, E_IO, "cannot talk to ssh-agent: %s",
			    w < 0 ? strerror(errno) : "short write");
		goto out;
	}
	if ((r = read_full(fd, hdr, sizeof(hdr), deadline, e)) != 0)
		goto out;
	len = peek_u32(hdr);
	if (len == 0 || len > SSHAGENT_MAX_MSG) {
		r = err_set(e, E_PROTO, "ssh-agent answer of %u bytes", len);
		goto out;
	}
	if ((msg = malloc(len)) == NULL) {
		r = err_set(e, E_NOMEM, "out of memory");
		goto out;
	}
	if ((r = read_full(fd, msg, len, deadline, e)) != 0)
		goto out;
	r = sshagent_pick_answer(msg, len, out, outlen, lg, e);
out:
	free(msg);
	close(fd);
	return r;
}

int
sshagent_read_pubfile(const char *path, char *out, size_t outlen, struct err *e)
{
	char line[16384], type[64], tname[64], comment[1024];
	const char *p, *b64, *end;
	unsigned char *blob = NULL;
	size_t tl, bl;
	unsigned bits;
	int n, r;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return err_set(e, E_IO, "cannot read %s: %s", path, strerror(errno));
	p = fgets(line, sizeof(line), f);
	fclose(f);
	if (p == NULL)
		return err_set(e, E_INVAL, "%s is empty", path);
	line[strcspn(line, "\r\n")] = '\0';
	if (strncmp(line, "-----BEGIN", 10) == 0)
		return err_set(e, E_INVAL, "%s is a private key: give the .pub file", path);
	p = line + strspn(line, " \t");
	tl = strcspn(p, " \t");
	if (tl == 0 || tl >= sizeof(type))
		return err_set(e, E_INVAL, "%s is not an OpenSSH public key", path);
	memcpy(type, p, tl);
	type[tl] = '\0';
	b64 = p + tl + strspn(p + tl, " \t");
	bl = strcspn(b64, " \t");
	end = b64 + bl;
	if (bl == 0 || bl % 4 != 0)
		return err_set(e, E_INVAL, "%s is not an OpenSSH public key", path);
	if ((blob = malloc(bl)) == NULL)
		return err_set(e, E_NOMEM, "out of memory");
	/* EVP_DecodeBlock counts '=' padding as zero bytes: take them off. */
	n = EVP_DecodeBlock(blob, (const unsigned char *)b64, (int)bl);
	if (n < 0) {
		free(blob);
		return err_set(e, E_INVAL, "%s: bad base64 in the key", path);
	}
	if (b64[bl - 1] == '=')
		n--;
	if (b64[bl - 2] == '=')
		n--;
	r = sshagent_check_blob(blob, (size_t)n, tname, sizeof(tname), &bits, e);
	if (r == 0 && strcmp(tname, type) != 0)
		r = err_set(e, E_INVAL, "%s: the key says %s but holds %s", path, type, tname);
	if (r == 0) {
		end += strspn(end, " \t");
		clean_comment(comment, sizeof(comment), (const uint8_t *)end, strlen(end));
		r = format_line(tname, blob, (size_t)n, comment, out, outlen, e);
	} else if (r != E_NOMEM) {
		err_prefix(e, "%s", path);
	}
	free(blob);
	return r;
}
