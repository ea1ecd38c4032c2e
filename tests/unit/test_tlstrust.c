/*
 * test_tlstrust.c: the trust store of curl handles (tlstrust_setopt):
 * the caller's bundle, SSL_CERT_FILE, SSL_CERT_DIR and the system store,
 * each checked by a CONNECT_ONLY handshake with a one-connection TLS
 * server on 127.0.0.1; and the hashed-directory check.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "testca.h"
#include "testnet.h"
#include "tlstrust.h"

#define GUARD_MS 10000 /* hang guard only: no test depends on timing */

struct fix {
	struct testca *ca;
	SSL_CTX *ctx;
	char dir[64], ca_pem[96];
	char other_pem[96], hashed[96], hashed_pem[128], empty[96], junk[96], junk_file[128];
};

/* Writes ca's certificate into dir under its subject-hash name (as
 * c_rehash does), read back from pem; returns 0 or -1. */
static int
write_hashed(const struct testca *ca, const char *pem, const char *dir, char *out, size_t outlen)
{
	FILE *fp = fopen(pem, "r");
	X509 *x = fp != NULL ? PEM_read_X509(fp, NULL, NULL, NULL) : NULL;
	unsigned long h = x != NULL ? X509_subject_name_hash(x) : 0;

	if (fp != NULL)
		fclose(fp);
	X509_free(x);
	if (x == NULL || snprintf(out, outlen, "%s/%08lx.0", dir, h) >= (int)outlen)
		return -1;
	return testca_write_ca_pem(ca, out, NULL);
}

/*
 * Writes to path a self-signed CA certificate named unlike the test CA
 * (one named alike would shadow it in OpenSSL's lookup by subject, and a
 * test of exclusivity would pass for that reason alone); 0 or -1.
 */
static int
write_other_ca(const char *path)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *n = x != NULL ? X509_get_subject_name(x) : NULL;
	FILE *fp = NULL;
	int ok = k != NULL && n != NULL;

	ok = ok && ASN1_INTEGER_set(X509_get_serialNumber(x), 2);
	ok = ok && X509_gmtime_adj(X509_getm_notBefore(x), -3600) != NULL;
	ok = ok && X509_gmtime_adj(X509_getm_notAfter(x), 3600) != NULL;
	ok = ok && X509_set_pubkey(x, k);
	ok = ok && X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
					      (const unsigned char *)"ssm-proxy other ca", -1, -1, 0);
	ok = ok && X509_set_issuer_name(x, n) && X509_sign(x, k, EVP_sha256()) > 0;
	ok = ok && (fp = fopen(path, "w")) != NULL && PEM_write_X509(fp, x);
	if (fp != NULL && fclose(fp) != 0)
		ok = 0;
	X509_free(x);
	EVP_PKEY_free(k);
	return ok ? 0 : -1;
}

static int
setup(void **state)
{
	static struct fix f;
	FILE *fp;

	if (testca_new(&f.ca, NULL) != 0 ||
	    testca_fixture_setup(f.ca, "ssmp-trust", f.dir, sizeof(f.dir), f.ca_pem,
				 sizeof(f.ca_pem)) != 0 ||
	    (f.ctx = testca_server_ctx(f.ca, NULL)) == NULL)
		return -1;
	snprintf(f.other_pem, sizeof(f.other_pem), "%s/other.pem", f.dir);
	snprintf(f.hashed, sizeof(f.hashed), "%s/hashed", f.dir);
	snprintf(f.empty, sizeof(f.empty), "%s/empty", f.dir);
	snprintf(f.junk, sizeof(f.junk), "%s/junk", f.dir);
	/* Names near the hash form that are not it. */
	snprintf(f.junk_file, sizeof(f.junk_file), "%s/0123ABCD.0", f.junk);
	if (write_other_ca(f.other_pem) != 0 || mkdir(f.hashed, 0700) != 0 ||
	    mkdir(f.empty, 0700) != 0 || mkdir(f.junk, 0700) != 0 ||
	    write_hashed(f.ca, f.ca_pem, f.hashed, f.hashed_pem, sizeof(f.hashed_pem)) != 0 ||
	    (fp = fopen(f.junk_file, "w")) == NULL)
		return -1;
	fclose(fp);
	*state = &f;
	return 0;
}

static int
teardown(void **state)
{
	struct fix *f = *state;

	unlink(f->junk_file);
	unlink(f->hashed_pem);
	unlink(f->other_pem);
	rmdir(f->junk);
	rmdir(f->empty);
	rmdir(f->hashed);
	SSL_CTX_free(f->ctx);
	testca_free(f->ca);
	testca_fixture_teardown(f->dir, f->ca_pem);
	return 0;
}

/* Each test starts from an environment without the OpenSSL variables. */
static int
clear_env(void **state)
{
	(void)state;
	unsetenv("SSL_CERT_FILE");
	unsetenv("SSL_CERT_DIR");
	return 0;
}

/* Serves one TLS connection: the handshake, then reads until the client
 * closes. A handshake the client rejects is no error here. */
static int
child_main(int lfd, SSL_CTX *ctx)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	struct timeval tv = { GUARD_MS / 1000, 0 };
	char b[64];
	SSL *s;
	int fd;

	if (poll(&p, 1, GUARD_MS) != 1 || (fd = accept(lfd, NULL, NULL)) < 0)
		return 10;
	close(lfd);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if ((s = SSL_new(ctx)) == NULL || SSL_set_fd(s, fd) != 1)
		return 11;
	if (SSL_accept(s) == 1)
		while (SSL_read(s, b, sizeof(b)) > 0)
			;
	SSL_free(s);
	close(fd);
	return 0;
}

/* Collects curl's informational lines (where it says which CA file and
 * path it loads). */
static int
debug_cb(CURL *c, curl_infotype type, char *data, size_t size, void *arg)
{
	char *log = arg;
	size_t n = strlen(log);

	(void)c;
	if (type == CURLINFO_TEXT && n + size < 4096) {
		memcpy(log + n, data, size);
		log[n + size] = '\0';
	}
	return 0;
}

/*
 * Connects c (then freed), a CONNECT_ONLY handle set up by
 * tlstrust_setopt(ca_file), to a fresh server; returns curl's code,
 * curl's informational text in log (4096 bytes) if log is not NULL.
 */
static CURLcode
handshake_on(CURL *c, struct fix *f, const char *ca_file, char *log)
{
	char url[64];
	CURLcode cc;
	pid_t pid;
	int port = 0, lfd = testnet_bind(1, &port), st = 0;

	assert_non_null(c);
	assert_true(lfd >= 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_main(lfd, f->ctx));
	close(lfd);
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/", port);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CONNECT_ONLY, 1L);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)GUARD_MS);
	if (log != NULL) {
		log[0] = '\0';
		curl_easy_setopt(c, CURLOPT_DEBUGFUNCTION, debug_cb);
		curl_easy_setopt(c, CURLOPT_DEBUGDATA, log);
		curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);
	}
	tlstrust_setopt(c, ca_file);
	cc = curl_easy_perform(c);
	curl_easy_cleanup(c);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	return cc;
}

static CURLcode
handshake(struct fix *f, const char *ca_file, char *log)
{
	return handshake_on(curl_easy_init(), f, ca_file, log);
}

/* A caller's bundle (AWS_CA_BUNDLE, ca_bundle); "" means none. */
static void
test_ca_file(void **state)
{
	struct fix *f = *state;
	char log[4096];

	assert_int_equal(handshake(f, f->ca_pem, log), CURLE_OK);
	assert_non_null(strstr(log, "CApath: none"));
	assert_int_equal(handshake(f, f->other_pem, NULL), CURLE_PEER_FAILED_VERIFICATION);
	/* It wins over SSL_CERT_FILE. */
	setenv("SSL_CERT_FILE", f->other_pem, 1);
	assert_int_equal(handshake(f, f->ca_pem, NULL), CURLE_OK);
	assert_int_equal(handshake(f, "", NULL), CURLE_PEER_FAILED_VERIFICATION);
}

static void
test_cert_file(void **state)
{
	struct fix *f = *state;
	char log[4096];

	setenv("SSL_CERT_FILE", f->ca_pem, 1);
	assert_int_equal(handshake(f, NULL, log), CURLE_OK);
	assert_non_null(strstr(log, "CApath: none"));
	assert_int_equal(handshake(f, "", NULL), CURLE_OK);
	/* Empty is unset. */
	setenv("SSL_CERT_FILE", "", 1);
	setenv("SSL_CERT_DIR", f->hashed, 1);
	assert_int_equal(handshake(f, NULL, NULL), CURLE_OK);
}

static void
test_cert_dir(void **state)
{
	struct fix *f = *state;
	char log[4096];

	setenv("SSL_CERT_DIR", f->hashed, 1);
	assert_int_equal(handshake(f, NULL, log), CURLE_OK);
	assert_non_null(strstr(log, "CAfile: none"));
}

static void
test_cert_dir_empty(void **state)
{
	struct fix *f = *state;

	setenv("SSL_CERT_DIR", f->empty, 1);
	assert_int_equal(handshake(f, NULL, NULL), CURLE_PEER_FAILED_VERIFICATION);
	setenv("SSL_CERT_DIR", f->junk, 1);
	assert_int_equal(handshake(f, NULL, NULL), CURLE_PEER_FAILED_VERIFICATION);
}

/* A bundle is the only trust: a directory that trusts the server does
 * not add to it, whether from SSL_CERT_DIR or already on the handle (as
 * libcurl's built-in CA path is). */
static void
test_bundle_exclusive(void **state)
{
	struct fix *f = *state;
	CURL *c = curl_easy_init();

	assert_non_null(c);
	curl_easy_setopt(c, CURLOPT_CAPATH, f->hashed);
	assert_int_equal(handshake_on(c, f, f->other_pem, NULL), CURLE_PEER_FAILED_VERIFICATION);
	setenv("SSL_CERT_DIR", f->hashed, 1);
	assert_int_equal(handshake(f, f->other_pem, NULL), CURLE_PEER_FAILED_VERIFICATION);
	setenv("SSL_CERT_FILE", f->other_pem, 1);
	assert_int_equal(handshake(f, NULL, NULL), CURLE_PEER_FAILED_VERIFICATION);
}

/* Returns nonzero if libcurl's built-in CA path is a hashed directory;
 * copies its built-in bundle into file ("" if none). */
static int
builtin_store(char *file, size_t len)
{
	CURL *c = curl_easy_init();
	char *dir = NULL, *bundle = NULL;
	int hashed;

	assert_non_null(c);
	hashed = curl_easy_getinfo(c, CURLINFO_CAPATH, &dir) == CURLE_OK && dir != NULL &&
		 tlstrust_dir_hashed(dir);
	if (curl_easy_getinfo(c, CURLINFO_CAINFO, &bundle) != CURLE_OK || bundle == NULL)
		bundle = "";
	snprintf(file, len, "%s", bundle);
	curl_easy_cleanup(c);
	return hashed;
}

/*
 * Nothing given: the system store, which never trusts the test CA. Where
 * libcurl's built-in CA path is hashed, only it is loaded.
 */
static void
test_system(void **state)
{
	struct fix *f = *state;
	char file[1024], log[4096];
	int hashed = builtin_store(file, sizeof(file));

	assert_int_equal(handshake(f, NULL, log), CURLE_PEER_FAILED_VERIFICATION);
	if (hashed)
		assert_non_null(strstr(log, "CAfile: none"));
	else
		print_message("libcurl has no hashed built-in CA path; left alone\n");
}

/* The system bundle named as the bundle is read from the system directory. */
static void
test_system_bundle_named(void **state)
{
	struct fix *f = *state;
	char file[1024], log[4096];

	if (!builtin_store(file, sizeof(file)) || file[0] == '\0') {
		print_message("libcurl has no built-in bundle and hashed CA path; skipped\n");
		return;
	}
	setenv("SSL_CERT_FILE", file, 1);
	assert_int_equal(handshake(f, NULL, log), CURLE_PEER_FAILED_VERIFICATION);
	assert_non_null(strstr(log, "CAfile: none"));
	unsetenv("SSL_CERT_FILE");
	assert_int_equal(handshake(f, file, log), CURLE_PEER_FAILED_VERIFICATION);
	assert_non_null(strstr(log, "CAfile: none"));
	/* Any other bundle is still read as a bundle. */
	assert_int_equal(handshake(f, f->ca_pem, log), CURLE_OK);
	assert_null(strstr(log, "CAfile: none"));
}

static void
test_dir_hashed(void **state)
{
	struct fix *f = *state;
	char missing[128];

	snprintf(missing, sizeof(missing), "%s/missing", f->dir);
	assert_int_equal(tlstrust_dir_hashed(f->hashed), 1);
	assert_int_equal(tlstrust_dir_hashed(f->empty), 0);
	assert_int_equal(tlstrust_dir_hashed(missing), 0);
	assert_int_equal(tlstrust_dir_hashed(f->junk), 0);
	assert_int_equal(tlstrust_dir_hashed(f->dir), 0);
	assert_int_equal(tlstrust_dir_hashed(NULL), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_ca_file, clear_env),
		cmocka_unit_test_setup(test_cert_file, clear_env),
		cmocka_unit_test_setup(test_cert_dir, clear_env),
		cmocka_unit_test_setup(test_cert_dir_empty, clear_env),
		cmocka_unit_test_setup(test_bundle_exclusive, clear_env),
		cmocka_unit_test_setup(test_system, clear_env),
		cmocka_unit_test_setup(test_system_bundle_named, clear_env),
		cmocka_unit_test_setup(test_dir_hashed, clear_env),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
