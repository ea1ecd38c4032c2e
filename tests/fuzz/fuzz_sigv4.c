/*
 * fuzz_sigv4.c: the SigV4 Authorization parser and the verifier on
 * arbitrary requests, and sign-then-verify on the same requests.
 *
 * Input: lines. 1: an Authorization value; 2: method; 3: path; 4: query;
 * then "Name: value" header lines up to an empty line; the rest is the
 * body. The verifier sees the headers plus that Authorization value; then
 * the request is signed with a fixed key and must verify.
 */
#include "fuzz.h"
#include "sigv4.h"

#include <strings.h>

#define MAX_HEADERS 12

static const char AK[] = "AKIDEXAMPLE";
static const char SK[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

/* Cuts the next line out of s (NUL-terminating it); NULL at the end. */
static char *
next_line(char **s)
{
	char *l = *s, *nl;

	if (l == NULL)
		return NULL;
	nl = strchr(l, '\n');
	if (nl != NULL) {
		*nl = '\0';
		*s = nl + 1;
	} else {
		*s = NULL;
	}
	return l;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sigv4_header h[MAX_HEADERS + 1 + SIGV4_MAX_ADDED];
	struct sigv4_request rq;
	struct sigv4_params sp;
	struct sigv4_result res;
	struct sigv4_auth a;
	struct err e;
	char *copy, *rest, *auth, *line;
	size_t nh = 0;

	if (size > 16384 || (copy = fz_strndup(data, size)) == NULL)
		return 0;
	rest = copy;
	auth = next_line(&rest);
	if (sigv4_parse_authorization(auth, &a, &e) == 0) {
		FZ_ASSERT(a.access_key != NULL && a.signature != NULL && a.signed_headers != NULL);
		FZ_ASSERT(strlen(a.signature) == SIGV4_SIG_HEX_LEN);
		sigv4_auth_free(&a);
	}

	memset(&rq, 0, sizeof(rq));
	rq.method = next_line(&rest);
	rq.path = next_line(&rest);
	rq.query = next_line(&rest);
	if (rq.method == NULL || rq.path == NULL)
		goto out;
	while ((line = next_line(&rest)) != NULL && *line != '\0' && nh < MAX_HEADERS) {
		char *colon = strchr(line, ':');
		if (colon == NULL)
			continue;
		*colon = '\0';
		h[nh].name = line;
		h[nh].value = colon + 1 + (colon[1] == ' ');
		nh++;
	}
	rq.body = rest;
	rq.body_len = rest != NULL ? strlen(rest) : 0;

	/* The verifier on the request as received. */
	h[nh].name = "Authorization";
	h[nh].value = auth;
	rq.headers = h;
	rq.nheaders = nh + 1;
	(void)sigv4_verify(&rq, AK, SK, "us-east-1", "ssm", 0, &e);

	/* Sign it ourselves: the verifier must accept the result, unless the
	 * caller set x-amz-content-sha256 itself (signed as given; the
	 * verifier, as a server, holds it against the body). */
	for (size_t i = 0; i < nh; i++)
		if (strcasecmp(h[i].name, "x-amz-content-sha256") == 0)
			goto out;
	rq.nheaders = nh;
	memset(&sp, 0, sizeof(sp));
	sp.access_key = AK;
	sp.secret_key = SK;
	sp.region = "us-east-1";
	sp.service = "ssm";
	sp.when = 1700000000;
	sp.normalize_path = 1;
	memset(&res, 0, sizeof(res));
	if (sigv4_sign_headers(&rq, &sp, &res, &e) == 0) {
		size_t n = nh;
		for (size_t i = 0; i < res.nadded; i++)
			h[n++] = res.added[i];
		rq.nheaders = n;
		if (sigv4_verify(&rq, AK, SK, "us-east-1", "ssm", 0, &e) != 0)
			FZ_ASSERT(!"a request we signed does not verify");
		sigv4_result_free(&res);
	}
out:
	free(copy);
	return 0;
}
