/*
 * credhttp.h: the small unsigned HTTP calls of credential providers
 * (IMDSv2, ECS container endpoint, SSO portal), straight over libcurl with
 * short timeouts and no retries beyond what the caller does. Proxies
 * follow libcurl's HTTPS_PROXY / NO_PROXY handling, as for every call.
 */
#ifndef SSMP_CREDHTTP_H
#define SSMP_CREDHTTP_H

#include "buf.h"
#include "err.h"

#define CREDHTTP_MAX_BODY (64 * 1024) /* credential answers are a few hundred bytes */

struct credhttp_req {
	const char *method;           /* "GET" or "PUT" */
	const char *url;
	const char *const *headers;   /* "Name: value", NULL-terminated; may be NULL */
	const char *ca_file;          /* NULL: system store */
	long connect_timeout_ms;
	long timeout_ms;
};

/*
 * Performs the request; *status gets the HTTP status and body (which it
 * buf_init's; the caller buf_free's it, wiping secrets first) the answer.
 * Returns 0 whatever the status, E_TIMEOUT, E_NET or E_NOMEM.
 */
int credhttp_do(const struct credhttp_req *rq, long *status, struct buf *body, struct err *e);

/* Wipes and frees body (it may hold secrets). */
void credhttp_body_free(struct buf *body);

#endif
