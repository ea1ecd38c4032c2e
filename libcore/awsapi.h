/*
 * awsapi.h: signed AWS API calls over libcurl.
 *
 * One request/response layer serves every protocol the project speaks:
 * JSON 1.1 (SSM, EC2 Instance Connect) and Query/XML (EC2, STS). Every call
 * is SigV4-signed by sigv4.c, verifies certificates and host names, has a
 * connect and a total timeout, and retries throttling, 5xx and transient
 * network failures with capped exponential backoff and full jitter.
 */
#ifndef SSMP_AWSAPI_H
#define SSMP_AWSAPI_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "err.h"
#include "log.h"

struct creds;

#define AWSAPI_MAX_ATTEMPTS 3

struct awsapi_opts {
	const char *region;          /* e.g. "eu-west-1" (validated by the caller) */
	const struct creds *creds;   /* used for signing; must outlive the client */
	const char *ca_file;         /* NULL: AWS_CA_BUNDLE, else the system store */
	long connect_timeout_ms;     /* 0: default 5 s */
	long timeout_ms;             /* 0: default 30 s per attempt */
	int max_attempts;            /* 0: AWSAPI_MAX_ATTEMPTS */
	const struct logger *log;
};

struct awsapi;

struct awsapi_response {
	long status;                 /* HTTP status */
	struct buf body;
	char request_id[128];        /* x-amzn-RequestId / x-amz-request-id */
	char date[64];               /* the Date header, for clock-skew repair */
};

/* A StartSession / ResumeSession answer. Token is secret: never log it. */
struct ssm_session {
	char *session_id;
	char *token_value;
	char *stream_url;
};

/* Creates a client; returns 0 or E_* (E_CONFIG for bad options). */
int awsapi_new(struct awsapi **out, const struct awsapi_opts *opts, struct err *e);
/* Frees a client (NULL is fine). */
void awsapi_free(struct awsapi *api);

/*
 * Writes the endpoint URL (no trailing slash) for a service such as "ssm":
 * AWS_ENDPOINT_URL_<SERVICE>, then AWS_ENDPOINT_URL, then
 * https://<service>.<region>.amazonaws.com (.amazonaws.com.cn in China).
 * Returns 0 or E_CONFIG.
 */
int awsapi_endpoint(const struct awsapi *api, const char *service, char *out, size_t outlen, struct err *e);

/*
 * Sends one signed request to service's endpoint with retries; headers are
 * "Name: value" strings (NULL-terminated array, may be NULL). Any HTTP
 * status is a success of this function: check resp->status. Returns 0, or
 * E_NET / E_TIMEOUT / E_NOMEM with a message. Free resp with
 * awsapi_response_free.
 */
int awsapi_request(struct awsapi *api, const char *service, const char *method, const char *path,
                   const char *const *headers, const void *body, size_t body_len,
                   struct awsapi_response *resp, struct err *e);
void awsapi_response_free(struct awsapi_response *resp);

/*
 * Calls a JSON 1.1 operation ("AmazonSSM", "StartSession") with a JSON
 * body; on HTTP 200 stores the parsed answer in *out (caller frees with
 * cJSON_Delete). AWS errors become E_AWS with a message such as
 * "StartSession failed: TargetNotConnected: i-0abc is not connected".
 */
int awsapi_json(struct awsapi *api, const char *service, const char *target_prefix, const char *op,
                const cJSON *body, cJSON **out, struct err *e);

/* SSM StartSession with AWS-StartSSHSession on port; returns 0 or E_*. */
int awsapi_start_session(struct awsapi *api, const char *target, unsigned port,
                         struct ssm_session *out, struct err *e);
/* SSM ResumeSession; an empty TokenValue is E_AWS ("session ... timed out"). */
int awsapi_resume_session(struct awsapi *api, const char *session_id, struct ssm_session *out,
                          struct err *e);
/* SSM TerminateSession; returns 0 or E_*. */
int awsapi_terminate_session(struct awsapi *api, const char *session_id, struct err *e);
/* Frees the strings of a session answer. */
void awsapi_session_free(struct ssm_session *s);

/* Returns nonzero if an AWS error code means "slow down and retry". */
int awsapi_is_throttle(const char *code);

#endif
