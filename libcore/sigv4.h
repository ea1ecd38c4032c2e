/*
 * sigv4.h: AWS Signature Version 4 (AWS4-HMAC-SHA256) signer and verifier.
 *
 * The signer turns a request as it will be sent into the headers (or the
 * query string) that authenticate it. The verifier is the server side, for
 * the project's fake AWS endpoint: it recomputes the signature of a
 * received request. Both follow the published SigV4 test suites byte for
 * byte (non-S3 rules: path segments are URI-encoded once more, so a '%'
 * in the path becomes %25).
 *
 * Secrets: the secret key never leaves this module; the session token is
 * part of canonical_request and of the added headers or query, so callers
 * must not log those.
 */
#ifndef SSMP_SIGV4_H
#define SSMP_SIGV4_H

#include <stddef.h>
#include <time.h>

#include "err.h"

#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
#define SIGV4_AMZ_DATE_LEN 16        /* "YYYYMMDDTHHMMSSZ" */
#define SIGV4_SIG_HEX_LEN 64         /* hex HMAC-SHA256 */
#define SIGV4_MAX_EXPIRES 604800u    /* presigned URLs live at most 7 days */
#define SIGV4_MAX_SKEW 900           /* seconds; AWS allows 15 minutes */
#define SIGV4_MAX_AUTH_LEN 8192      /* longest Authorization value parsed */

struct sigv4_header {
	const char *name;
	const char *value; /* raw; may hold obsolete line folding ("\n  ") */
};

struct sigv4_request {
	const char *method;  /* "GET", "POST", ... */
	const char *path;    /* raw path as sent, without the query */
	const char *query;   /* raw query without '?'; NULL or "" if none */
	const struct sigv4_header *headers; /* as sent; must include Host */
	size_t nheaders;
	const void *body;
	size_t body_len;
};

struct sigv4_params {
	const char *access_key;
	const char *secret_key;
	const char *session_token;  /* NULL or "" if none */
	const char *region;
	const char *service;
	time_t when;                /* signing time (UTC seconds) */
	int normalize_path;         /* drop "." and ".." segments, collapse "//" */
	int sign_body;              /* headers: add and sign x-amz-content-sha256 */
	int omit_session_token;     /* token added after signing, not signed */
	unsigned expires;           /* presign: X-Amz-Expires, 1..SIGV4_MAX_EXPIRES */
};

#define SIGV4_MAX_ADDED 4

struct sigv4_result {
	char *canonical_request;    /* heap; may contain the session token */
	char *string_to_sign;       /* heap */
	char signature[SIGV4_SIG_HEX_LEN + 1];
	char *authorization;        /* heap; Authorization value (headers only) */
	/*
	 * Headers to add to the request, in this order as applicable:
	 * X-Amz-Security-Token, X-Amz-Date, x-amz-content-sha256, Authorization.
	 * Names are static strings; values are heap-owned by the result.
	 */
	struct sigv4_header added[SIGV4_MAX_ADDED];
	size_t nadded;
	/*
	 * Presign: the full query string to send (the request's own query
	 * first, then X-Amz-Algorithm, -Credential, -Date, -SignedHeaders,
	 * -Expires, -Security-Token, and X-Amz-Signature last). Heap.
	 */
	char *query;
};

/* A parsed Authorization header value; pointers are into `storage`. */
struct sigv4_auth {
	char *storage;              /* heap copy that the fields below point into */
	const char *access_key;
	const char *date;           /* scope date, "YYYYMMDD" */
	const char *region;
	const char *service;
	const char *signed_headers; /* "host;x-amz-date", as received */
	const char *signature;      /* 64 lower-case hex digits */
};

/*
 * Signs req for the Authorization header. Returns 0 and fills res (free it
 * with sigv4_result_free) or a negative E_* code with a message in e; res
 * holds nothing to free on failure. Every header in req is signed. An
 * X-Amz-Date header already in req must equal p->when and is then not added
 * again; req must not already hold Authorization, nor the token or body-hash
 * header when the signer is to add them (E_INVAL).
 */
int sigv4_sign_headers(const struct sigv4_request *req, const struct sigv4_params *p,
		       struct sigv4_result *res, struct err *e);

/*
 * Signs req as a presigned URL (query-string authentication, valid for
 * p->expires seconds). Returns 0 and sets res->query (plus the canonical
 * request, string to sign and signature), or a negative E_* code.
 */
int sigv4_presign(const struct sigv4_request *req, const struct sigv4_params *p,
		  struct sigv4_result *res, struct err *e);

/* Frees everything a signing call put in res and zeroes it; NULL is fine. */
void sigv4_result_free(struct sigv4_result *res);

/*
 * Server side: checks the Authorization header of a received request
 * (headers as received, including Authorization and X-Amz-Date): the access
 * key, the credential scope (date equal to X-Amz-Date's, region, service,
 * "aws4_request"), an x-amz-content-sha256 header against the body, and the
 * signature recomputed over exactly the signed headers (path normalised, as
 * every non-S3 service does), compared in constant time. With now != 0,
 * X-Amz-Date must also be within SIGV4_MAX_SKEW seconds of now.
 * Returns 0, or E_AUTH with a message ("missing authorization header",
 * "unknown access key id", "credential scope region mismatch", "signature
 * does not match", ...), or E_NOMEM.
 */
int sigv4_verify(const struct sigv4_request *req, const char *access_key,
		 const char *secret_key, const char *region, const char *service,
		 time_t now, struct err *e);

/*
 * Parses an Authorization value ("AWS4-HMAC-SHA256 Credential=AK/DATE/
 * REGION/SERVICE/aws4_request, SignedHeaders=..., Signature=...") into a
 * (free it with sigv4_auth_free). Lets a server pick the secret by access
 * key before verifying. Returns 0, E_AUTH if malformed, or E_NOMEM.
 */
int sigv4_parse_authorization(const char *value, struct sigv4_auth *a, struct err *e);

/* Frees what sigv4_parse_authorization stored in a and zeroes it. */
void sigv4_auth_free(struct sigv4_auth *a);

/* Writes the lower-case hex SHA-256 of len bytes at data into out; returns 0 or E_INVAL. */
int sigv4_sha256_hex(const void *data, size_t len, char out[SIGV4_SIG_HEX_LEN + 1]);

/* Formats t as "YYYYMMDDTHHMMSSZ" (UTC) into out; returns 0 or E_RANGE. */
int sigv4_amz_date(time_t t, char out[SIGV4_AMZ_DATE_LEN + 1]);

/* Parses a "YYYYMMDDTHHMMSSZ" string into *t; returns 0 or E_INVAL. */
int sigv4_parse_amz_date(const char *s, time_t *t);

#endif
