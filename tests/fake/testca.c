/* testca.c: run-time test CA and server certificate (OpenSSL 3). */
#include "testca.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <curl/curl.h>

struct testca {
	EVP_PKEY *ca_key;
	X509 *ca_cert;
	EVP_PKEY *srv_key;
	X509 *srv_cert;
};

/* Adds one extension in openssl.cnf syntax; returns 0 or -1. */
static int
add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (ext == NULL)
		return -1;
	ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

/* Builds a certificate for key with subject cn, signed by issuer_key (and
 * issuer's name, or self-signed when issuer is NULL), with subjectAltName
 * san unless it is a CA; NULL on failure. */
static X509 *
make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, int is_ca,
	  const char *san)
{
	X509 *c = X509_new();
	X509_NAME *name;
	BIGNUM *bn = BN_new();
	int ok = c != NULL && bn != NULL;

	/* Random serials: two runs of the tests never reuse one with a
	 * different key, which some verifiers remember. */
	ok = ok && BN_rand(bn, 63, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY);
	ok = ok && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c)) != NULL;
	ok = ok && X509_set_version(c, 2);
	ok = ok && X509_gmtime_adj(X509_getm_notBefore(c), -3600) != NULL;
	ok = ok && X509_gmtime_adj(X509_getm_notAfter(c), 7 * 24 * 3600) != NULL;
	ok = ok && X509_set_pubkey(c, key);
	name = ok ? X509_get_subject_name(c) : NULL;
	ok = ok && X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
					      (const unsigned char *)"ssm-proxy tests", -1, -1, 0);
	ok = ok && X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
					      (const unsigned char *)cn, -1, -1, 0);
	ok = ok && X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : name);
	if (is_ca) {
		ok = ok && add_ext(c, c, NID_basic_constraints, "critical,CA:TRUE") == 0;
		ok = ok && add_ext(c, c, NID_key_usage, "critical,keyCertSign,cRLSign") == 0;
		ok = ok && add_ext(c, c, NID_subject_key_identifier, "hash") == 0;
	} else {
		ok = ok && add_ext(c, issuer, NID_basic_constraints, "critical,CA:FALSE") == 0;
		ok = ok && add_ext(c, issuer, NID_key_usage, "critical,digitalSignature") == 0;
		ok = ok && add_ext(c, issuer, NID_ext_key_usage, "serverAuth") == 0;
		ok = ok && add_ext(c, issuer, NID_subject_alt_name, san) == 0;
		ok = ok && add_ext(c, issuer, NID_subject_key_identifier, "hash") == 0;
		ok = ok && add_ext(c, issuer, NID_authority_key_identifier, "keyid") == 0;
	}
	ok = ok && X509_sign(c, issuer_key, EVP_sha256()) > 0;
	BN_free(bn);
	if (!ok) {
		X509_free(c);
		return NULL;
	}
	return c;
}

int
testca_new(struct testca **out, struct err *e)
{
	return testca_new_for(out, "IP:127.0.0.1,DNS:localhost", e);
}

int
testca_new_for(struct testca **out, const char *san, struct err *e)
{
	struct testca *ca = calloc(1, sizeof(*ca));

	*out = NULL;
	if (ca == NULL)
		return err_set(e, E_NOMEM, "test ca: out of memory");
	ca->ca_key = EVP_EC_gen("P-256");
	ca->srv_key = EVP_EC_gen("P-256");
	if (ca->ca_key == NULL || ca->srv_key == NULL) {
		testca_free(ca);
		return err_set(e, E_IO, "test ca: key generation failed");
	}
	ca->ca_cert = make_cert(ca->ca_key, "ssm-proxy test ca", NULL, ca->ca_key, 1, NULL);
	if (ca->ca_cert != NULL)
		ca->srv_cert = make_cert(ca->srv_key, "localhost", ca->ca_cert, ca->ca_key, 0, san);
	if (ca->srv_cert == NULL) {
		testca_free(ca);
		ERR_clear_error();
		return err_set(e, E_IO, "test ca: certificate creation failed");
	}
	*out = ca;
	return 0;
}

int
testca_write_ca_pem(const struct testca *ca, const char *path, struct err *e)
{
	FILE *f = fopen(path, "w");
	int ok;

	if (f == NULL)
		return err_set(e, E_IO, "test ca: cannot create %s", path);
	ok = PEM_write_X509(f, ca->ca_cert);
	if (fclose(f) != 0)
		ok = 0;
	if (!ok)
		return err_set(e, E_IO, "test ca: cannot write %s", path);
	return 0;
}

SSL_CTX *
testca_server_ctx(const struct testca *ca, struct err *e)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL ||
	    !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    SSL_CTX_use_certificate(ctx, ca->srv_cert) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, ca->srv_key) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		SSL_CTX_free(ctx);
		ERR_clear_error();
		err_set(e, E_IO, "test ca: cannot set up the server tls context");
		return NULL;
	}
	return ctx;
}

void
testca_free(struct testca *ca)
{
	if (ca == NULL)
		return;
	EVP_PKEY_free(ca->ca_key);
	EVP_PKEY_free(ca->srv_key);
	X509_free(ca->ca_cert);
	X509_free(ca->srv_cert);
	free(ca);
}

int
testca_fixture_setup(const struct testca *ca, const char *prefix, char *dir, size_t dirlen,
		     char *pem, size_t pemlen)
{
	static const char *const vars[] = { "http_proxy", "https_proxy", "HTTPS_PROXY",
					    "all_proxy", "ALL_PROXY", "AWS_CA_BUNDLE" };

	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (snprintf(dir, dirlen, "/tmp/%s-XXXXXX", prefix) >= (int)dirlen || mkdtemp(dir) == NULL)
		return -1;
	if (snprintf(pem, pemlen, "%s/ca.pem", dir) >= (int)pemlen ||
	    testca_write_ca_pem(ca, pem, NULL) != 0)
		return -1;
	return 0;
}

void
testca_fixture_teardown(const char *dir, const char *pem)
{
	unlink(pem);
	rmdir(dir);
	curl_global_cleanup();
}
