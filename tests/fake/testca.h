/*
 * testca.h: a throw-away certificate authority for tests.
 *
 * Everything is generated at run time (EC P-256 keys, OpenSSL 3): a CA
 * certificate and a server certificate for IP 127.0.0.1 and DNS localhost
 * signed by it. No key material is ever stored in the source tree. The
 * client side trusts the CA by pointing its CA bundle at the PEM file
 * written by testca_write_ca_pem().
 */
#ifndef SSMP_TESTCA_H
#define SSMP_TESTCA_H

#include <openssl/ssl.h>

#include "err.h"

struct testca;

/* Generates a new CA and server certificate; returns 0 or E_NOMEM/E_IO. */
int testca_new(struct testca **out, struct err *e);
/* As testca_new, with the server certificate's subjectAltName san
 * (OpenSSL syntax, e.g. "DNS:wrong-host.example"); returns 0 or E_*. */
int testca_new_for(struct testca **out, const char *san, struct err *e);
/* Writes the CA certificate (PEM) to path; returns 0 or E_IO. */
int testca_write_ca_pem(const struct testca *ca, const char *path, struct err *e);
/*
 * Returns a new server SSL_CTX (TLS 1.2+) presenting the server certificate,
 * for the caller to SSL_CTX_free(); NULL (and e set) on failure.
 */
SSL_CTX *testca_server_ctx(const struct testca *ca, struct err *e);
/* Frees the CA and its keys; NULL is fine. */
void testca_free(struct testca *ca);

/*
 * Unit-test fixture for TLS on 127.0.0.1: ignores SIGPIPE, clears the
 * proxy variables and AWS_CA_BUNDLE (nothing may leave loopback), starts
 * libcurl, makes a temporary directory /tmp/PREFIX-XXXXXX in dir and writes
 * ca's certificate there as ca.pem, its path in pem. Returns 0 or -1.
 */
int testca_fixture_setup(const struct testca *ca, const char *prefix, char *dir, size_t dirlen,
			 char *pem, size_t pemlen);
/* Undoes testca_fixture_setup (the files the caller added it removes first). */
void testca_fixture_teardown(const char *dir, const char *pem);

#endif
