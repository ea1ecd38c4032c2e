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
#include <libxml/tree.h>

#include "buf.h"
#include "err.h"
#include "log.h"
#include "xmllib.h"

struct creds;
struct awscfg;
struct mux;

#define AWSAPI_MAX_ATTEMPTS 3

struct awsapi_opts {
	const char *region;          /* e.g. "eu-west-1" (validated by the caller) */
	const struct creds *creds;   /* used for signing; must outlive the client */
	const char *ca_file;         /* NULL: AWS_CA_BUNDLE, else the system store */
	long connect_timeout_ms;     /* 0: default 5 s */
	long timeout_ms;             /* 0: default 30 s per attempt */
	int max_attempts;            /* 0: AWSAPI_MAX_ATTEMPTS */
	const struct logger *log;
	const struct awscfg *cfg;    /* profile endpoints / CA bundle; NULL: environment only */
	int anonymous;               /* creds NULL: send unsigned (STS AssumeRoleWithWebIdentity) */
	/*
	 * Called before signing when creds expire within 5 minutes: renews
	 * *creds in place (the caller owns it); returns 0 or E_*. NULL: never.
	 */
	int (*refresh)(void *arg, struct err *e);
	void *refresh_arg;
	/*
	 * Where the data channel goes instead of StreamUrl's host (a PrivateLink
	 * ssmmessages endpoint, https://...); NULL: a configured "ssmmessages"
	 * endpoint (AWS_ENDPOINT_URL_SSMMESSAGES, services section), else none.
	 */
	const char *ssmmessages_endpoint;
};

struct awsapi;

struct awsapi_response {
	long status;                 /* HTTP status */
	struct buf body;
	char request_id[128];        /* x-amzn-RequestId / x-amz-request-id */
	char date[64];               /* the Date header, for clock-skew repair */
};

/*
 * A StartSession / ResumeSession answer. Token is secret: never log it.
 * stream_url already points at the ssmmessages endpoint override, if any.
 */
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
 * Runs every later request inside m (mux.h), so that m's other transfers
 * progress while it is in flight; NULL: blocking again (the default).
 * Retries, timeouts and messages are the same either way. m must outlive
 * its use here.
 */
void awsapi_set_mux(struct awsapi *api, struct mux *m);

/*
 * Writes the endpoint URL (no trailing slash) for a service such as "ssm",
 * resolved by awscfg_endpoint (environment, profile, partition, FIPS,
 * dual-stack). Returns 0 or E_CONFIG.
 */
int awsapi_endpoint(const struct awsapi *api, const char *service, char *out, size_t outlen, struct err *e);

/*
 * Sends one signed request to service's endpoint with retries; headers are
 * "Name: value" strings (NULL-terminated array, may be NULL). Any HTTP
 * status is a success of this function: check resp->status. An answer
 * saying the signing clock is off (RequestTimeTooSkewed, RequestExpired,
 * "Signature expired") is retried once with the time taken from its Date
 * header, and the client keeps that offset. Returns 0, or
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

/* One name=value parameter of a Query protocol call (values unencoded). */
struct awsapi_param {
	const char *name;
	const char *value;
};

/*
 * Calls a Query protocol operation (EC2, STS): POSTs Action, Version and
 * params form-encoded to service's endpoint; on HTTP 200 stores the parsed
 * XML answer in *out (caller frees with awsapi_xml(api)->free_doc, before
 * awsapi_free). AWS errors become E_AWS with a message such as
 * "DescribeInstances failed: AuthFailure: ..."; E_CONFIG if libxml2 cannot
 * be loaded (xmllib.h: it is loaded on the first call).
 */
int awsapi_query(struct awsapi *api, const char *service, const char *action, const char *version,
                 const struct awsapi_param *params, size_t nparams, xmlDoc **out, struct err *e);
/*
 * libxml2 as the client loaded it, for reading a document awsapi_query
 * returned (loaded whenever there is one); valid until awsapi_free.
 */
const struct xmllib *awsapi_xml(const struct awsapi *api);

/* SSM StartSession with AWS-StartSSHSession on port; returns 0 or E_*. */
int awsapi_start_session(struct awsapi *api, const char *target, unsigned port,
                         struct ssm_session *out, struct err *e);
/* SSM ResumeSession; an empty TokenValue is E_AWS ("session ... timed out"). */
int awsapi_resume_session(struct awsapi *api, const char *session_id, struct ssm_session *out,
                          struct err *e);
/* SSM TerminateSession; returns 0 or E_*. */
int awsapi_terminate_session(struct awsapi *api, const char *session_id, struct err *e);
/*
 * Writes where the next session's data channel most likely goes, as
 * "wss://host[:port]/" (ws:// for an http endpoint): the ssmmessages
 * override if any (StreamUrls are rewritten to it), else a configured SSM
 * endpoint (a private or test region serving both), else the partition's
 * ssmmessages.<region> host. Only a hint for connecting early: the real
 * StreamUrl decides. Returns 0, E_CONFIG, E_RANGE (out too small), E_NOMEM.
 */
int awsapi_stream_origin(const struct awsapi *api, char *out, size_t outlen, struct err *e);
/* Frees the strings of a session answer. */
void awsapi_session_free(struct ssm_session *s);

/*
 * Extracts the AWS error code and message from an error answer's body
 * (JSON {"__type","message"} or Query/XML <Code>/<Message>) into code and
 * msg, cut to their sizes, control bytes replaced by '?'; missing parts
 * come back empty. Safe on any bytes. Returns 0 or E_INVAL (bad buffers).
 */
int awsapi_parse_error(const void *body, size_t len, char *code, size_t codelen, char *msg,
                       size_t msglen);

/* Returns nonzero if an AWS error code means "slow down and retry". */
int awsapi_is_throttle(const char *code);

#endif
