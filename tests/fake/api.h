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

#include <cjson/cJSON.h>

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

/*
 * One API call being answered, for services kept in their own files: a
 * route row (api.c) names an api_route_fn; it must answer exactly once
 * with one of the api_reply_* functions.
 */
struct api_call;
typedef void (*api_route_fn)(struct api_call *call);

/* Returns the region configuration of the call. */
const struct region *api_call_region(const struct api_call *call);
/* Returns the region the call is signed for (--region or an inventory region). */
const char *api_call_sign_region(const struct api_call *call);
/* Returns the request being answered. */
const struct wss_request *api_call_request(const struct api_call *call);
/* Returns the operation name logged for the call ("-" if none yet). */
const char *api_call_op(const struct api_call *call);
/* Names the operation for api.log (e.g. a Query protocol Action). */
void api_call_set_op(struct api_call *call, const char *op);
/* Answers status with body and content_type; detail goes to api.log. */
void api_reply_body(struct api_call *call, int status, const char *content_type,
		    const char *detail, const char *body);
/* Answers 200 with JSON j (consumed); detail goes to api.log. */
void api_reply_json(struct api_call *call, cJSON *j, const char *detail);
/* Answers a JSON error {"__type": type, msgkey: message} (msgkey NULL: none). */
void api_reply_error(struct api_call *call, int status, const char *type, const char *msgkey,
		     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/*
 * Returns the JSON 1.1 request body as an object (cJSON_Delete it), or
 * NULL after answering the SerializationException AWS sends.
 */
cJSON *api_json_body(struct api_call *call);

/* Writes the StreamUrl of session id for this server into out; 0 or E_RANGE. */
int api_stream_url(const struct region *r, const char *id, char *out, size_t size);

#endif
