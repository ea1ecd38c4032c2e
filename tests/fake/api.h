/*
 * api.h: the fake region's AWS API endpoint.
 *
 * Requests are routed through one table (method, path, a matcher such as
 * the X-Amz-Target prefix) so further services (EC2 Query, STS, SSO, IMDS,
 * EC2 Instance Connect) are one row each. Every signed service verifies
 * SigV4 with sigv4_verify before anything else, then the --throttle budget
 * is applied, then the operation runs. Each call appends one line
 * "<Op> <status> <detail>" to DIR/api.log.
 *
 * SSM (JSON 1.1, X-Amz-Target AmazonSSM.<Op>): StartSession, ResumeSession,
 * TerminateSession.
 */
#ifndef SSMP_FAKE_API_H
#define SSMP_FAKE_API_H

#include "err.h"
#include "region.h"
#include "wss.h"

/*
 * Answers one API request read from c (keep-alive as the request asks).
 * Returns 0 when a response was written (whatever its status), or E_NET /
 * E_TIMEOUT when writing failed and the connection must be closed.
 */
int api_handle(const struct region *r, struct wss_conn *c, const struct wss_request *req,
	       struct err *e);

/* Writes the StreamUrl of session id for this server into out; 0 or E_RANGE. */
int api_stream_url(const struct region *r, const char *id, char *out, size_t size);

#endif
