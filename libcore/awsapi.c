/* awsapi.c: signed AWS API calls over libcurl, with retries. */
#include "awsapi.h"
#include "awscfg.h"
#include "creds.h"
#include "loop.h"
#include "mux.h"
#include "sigv4.h"
#include "tlstrust.h"
#include "version.h"
#include "xmllib.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <libxml/tree.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#define DEFAULT_CONNECT_TIMEOUT_MS 5000
#define DEFAULT_TIMEOUT_MS 30000
#define BACKOFF_BASE_MS 200
#define BACKOFF_CAP_MS 5000
#define MAX_RESPONSE (8 * 1024 * 1024)

struct awsapi {
	CURL *curl; /* one handle, so connections to an endpoint are reused */
	char region[64];
	const struct creds *creds;
	char *ca_file;
	long connect_timeout_ms;
	long timeout_ms;
	int max_attempts;
	const struct logger *log;
	const struct awscfg *cfg;
	int anonymous;
	long skew;  /* seconds to add to the local clock when signing (clock-skew repair) */
	int (*refresh)(void *arg, struct err *e);
	void *refresh_arg;
	char *ssmmessages; /* data-channel endpoint override; NULL: none */
	struct mux *mux;   /* requests run inside it; NULL: curl_easy_perform */
	struct xmllib xml; /* loaded by the first Query call or XML error answer */
};

int
awsapi_new(struct awsapi **out, const struct awsapi_opts *opts, struct err *e)
{
	struct awsapi *api;
	const char *ca;

	*out = NULL;
	if (opts->region == NULL || strlen(opts->region) >= sizeof(api->region))
		return err_set(e, E_CONFIG, "no valid region for the AWS API");
	if ((api = calloc(1, sizeof(*api))) == NULL)
		return err_set(e, E_NOMEM, "out of memory");
	snprintf(api->region, sizeof(api->region), "%s", opts->region);
	api->creds = opts->creds;
	api->log = opts->log;
	api->cfg = opts->cfg;
	api->anonymous = opts->anonymous;
	api->refresh = opts->refresh;
	api->refresh_arg = opts->refresh_arg;
	if (opts->ssmmessages_endpoint != NULL) {
		if (strncmp(opts->ssmmessages_endpoint, "https://", 8) != 0 &&
		    strncmp(opts->ssmmessages_endpoint, "http://", 7) != 0) {
			free(api);
			return err_set(e, E_CONFIG, "the ssmmessages endpoint must start with https://");
		}
		if ((api->ssmmessages = strdup(opts->ssmmessages_endpoint)) == NULL) {
			free(api);
			return err_set(e, E_NOMEM, "out of memory");
		}
	} else {
		char ep[1024];
		struct err le;

		err_clear(&le);
		if (awscfg_configured_endpoint(opts->cfg, "ssmmessages", ep, sizeof(ep), &le) == 0 &&
		    (api->ssmmessages = strdup(ep)) == NULL) {
			free(api);
			return err_set(e, E_NOMEM, "out of memory");
		}
	}
	api->connect_timeout_ms = opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms
	                                                       : DEFAULT_CONNECT_TIMEOUT_MS;
	api->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : DEFAULT_TIMEOUT_MS;
	api->max_attempts = opts->max_attempts > 0 ? opts->max_attempts : AWSAPI_MAX_ATTEMPTS;
	ca = opts->ca_file;
	if (ca == NULL || *ca == '\0')
		ca = awscfg_ca_bundle(opts->cfg);
	if (ca != NULL && *ca != '\0' && (api->ca_file = strdup(ca)) == NULL) {
		awsapi_free(api);
		return err_set(e, E_NOMEM, "out of memory");
	}
	if ((api->curl = curl_easy_init()) == NULL) {
		awsapi_free(api);
		return err_set(e, E_NOMEM, "cannot initialise libcurl");
	}
	*out = api;
	return 0;
}

void
awsapi_free(struct awsapi *api)
{
	if (api == NULL)
		return;
	if (api->curl != NULL)
		curl_easy_cleanup(api->curl);
	free(api->ca_file);
	free(api->ssmmessages);
	xmllib_unload(&api->xml);
	free(api);
}

const struct xmllib *
awsapi_xml(const struct awsapi *api)
{
	return &api->xml;
}

void
awsapi_set_mux(struct awsapi *api, struct mux *m)
{
	api->mux = m;
}

int
awsapi_endpoint(const struct awsapi *api, const char *service, char *out, size_t outlen, struct err *e)
{
	return awscfg_endpoint(api->cfg, service, api->region, out, outlen, e);
}

static size_t
write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct buf *b = arg;
	size_t n = size * nmemb;

	if (buf_len(b) + n > MAX_RESPONSE || buf_put(b, ptr, n) != 0)
		return 0; /* makes curl fail with CURLE_WRITE_ERROR */
	return n;
}

static void
copy_header_value(char *dst, size_t dstlen, const char *v, size_t n)
{
	while (n > 0 && (*v == ' ' || *v == '\t'))
		v++, n--;
	while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' '))
		n--;
	if (n >= dstlen)
		n = dstlen - 1;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

static size_t
header_cb(char *ptr, size_t size, size_t nitems, void *arg)
{
	struct awsapi_response *r = arg;
	size_t n = size * nitems;

	if (n > 17 && strncasecmp(ptr, "x-amzn-requestid:", 17) == 0)
		copy_header_value(r->request_id, sizeof(r->request_id), ptr + 17, n - 17);
	else if (n > 17 && strncasecmp(ptr, "x-amz-request-id:", 17) == 0)
		copy_header_value(r->request_id, sizeof(r->request_id), ptr + 17, n - 17);
	else if (n > 5 && strncasecmp(ptr, "date:", 5) == 0)
		copy_header_value(r->date, sizeof(r->date), ptr + 5, n - 5);
	return n;
}

void
awsapi_response_free(struct awsapi_response *resp)
{
	buf_free(&resp->body);
}

int
awsapi_is_throttle(const char *code)
{
	static const char *const codes[] = {
		"Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
		"TooManyRequestsException", "ProvisionedThroughputExceededException",
		"TransactionInProgressException", "RequestLimitExceeded", "BandwidthLimitExceeded",
		"LimitExceededException", "RequestThrottled", "SlowDown", "PriorRequestNotComplete",
		"EC2ThrottledException",
	};

	if (code == NULL)
		return 0;
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(code, codes[i]) == 0)
			return 1;
	return 0;
}

/*
 * Extracts an AWS error code and message from a JSON body ({"__type",
 * "message"}) or a Query/XML body (<Error><Code>/<Message>), whichever the
 * body holds. Missing parts come back empty, also when x (loaded here on
 * first need) cannot be loaded: the caller then reports the HTTP status.
 */
static void
parse_error(struct xmllib *x, const struct buf *body, char *code, size_t codelen, char *msg,
            size_t msglen)
{
	const char *s;

	code[0] = msg[0] = '\0';
	if (buf_len(body) == 0)
		return;
	if (buf_ptr(body)[0] == '{') {
		cJSON *j = cJSON_ParseWithLength((const char *)buf_ptr(body), buf_len(body));
		const cJSON *t, *m;
		if (j == NULL)
			return;
		t = cJSON_GetObjectItemCaseSensitive(j, "__type");
		if (!cJSON_IsString(t))
			t = cJSON_GetObjectItemCaseSensitive(j, "code");
		if (cJSON_IsString(t)) {
			/* "com.amazonaws.ssm#ThrottlingException" -> the part after '#'. */
			s = strrchr(t->valuestring, '#');
			snprintf(code, codelen, "%s", s ? s + 1 : t->valuestring);
			char *colon = strchr(code, ':');
			if (colon)
				*colon = '\0';
		}
		m = cJSON_GetObjectItemCaseSensitive(j, "message");
		if (!cJSON_IsString(m))
			m = cJSON_GetObjectItemCaseSensitive(j, "Message");
		if (cJSON_IsString(m))
			snprintf(msg, msglen, "%s", m->valuestring);
		cJSON_Delete(j);
		return;
	}
	if (buf_ptr(body)[0] == '<' && xmllib_load(x, NULL) == 0) {
		xmlDocPtr doc = xmllib_parse(x, buf_ptr(body), buf_len(body));
		if (doc == NULL)
			return;
		/* Depth-first: the first <Code> and <Message> anywhere (EC2 nests
		 * them under Errors/Error, STS under Error). */
		xmlNodePtr stack[64];
		int sp = 0;
		stack[sp++] = x->root(doc);
		while (sp > 0) {
			xmlNodePtr n = stack[--sp];
			for (; n != NULL; n = n->next) {
				if (n->type != XML_ELEMENT_NODE)
					continue;
				const char *name = (const char *)n->name;
				if ((strcmp(name, "Code") == 0 && code[0] == '\0') ||
				    (strcmp(name, "Message") == 0 && msg[0] == '\0')) {
					xmlChar *c = x->content(n);
					if (c != NULL) {
						if (name[0] == 'C')
							snprintf(code, codelen, "%s", (const char *)c);
						else
							snprintf(msg, msglen, "%s", (const char *)c);
						xmllib_free(x, c);
					}
				} else if (n->children != NULL && sp < 63) {
					if (n->next != NULL)
						stack[sp++] = n->next;
					stack[sp++] = n->children;
					break;
				}
			}
		}
		x->free_doc(doc);
	}
}

/* Peer text ends up in the one-line error message: control bytes (a
 * newline would split it) become '?'. */
static void
clean_text(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

/* parse_error, with the results made safe for a one-line message. */
static void
error_parts(struct xmllib *x, const struct buf *body, char *code, size_t codelen, char *msg,
            size_t msglen)
{
	parse_error(x, body, code, codelen, msg, msglen);
	clean_text(code);
	clean_text(msg);
}

int
awsapi_parse_error(const void *body, size_t len, char *code, size_t codelen, char *msg,
                   size_t msglen)
{
	struct xmllib x;
	struct buf b;

	if (code == NULL || msg == NULL || codelen == 0 || msglen == 0)
		return E_INVAL;
	/* No client here: a libxml2 reference of its own, for XML bodies only. */
	memset(&x, 0, sizeof(x));
	buf_view(&b, body, body != NULL ? len : 0);
	error_parts(&x, &b, code, codelen, msg, msglen);
	xmllib_unload(&x);
	return 0;
}

static int
is_retryable_curl(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_COULDNT_RESOLVE_HOST:
		return 1;
	default:
		return 0;
	}
}

/* Full-jitter backoff: a random delay in [0, min(cap, base * 2^attempt)]. */
static void
backoff_sleep(int attempt)
{
	unsigned long max = BACKOFF_BASE_MS << (attempt < 10 ? attempt : 10), r = 0;
	struct timespec ts;

	if (max > BACKOFF_CAP_MS)
		max = BACKOFF_CAP_MS;
	if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
		r = max / 2;
	r %= max + 1;
	ts.tv_sec = (time_t)(r / 1000);
	ts.tv_nsec = (long)(r % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0)
		;
}

/* Splits an endpoint URL into the Host header value and its base path. */
static int
endpoint_parts(const char *url, char *host, size_t hostlen, char *base, size_t baselen, struct err *e)
{
	CURLU *u = curl_url();
	char *h = NULL, *port = NULL, *path = NULL;
	int r = 0;

	if (u == NULL)
		return err_set(e, E_NOMEM, "out of memory");
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK) {
		r = err_set(e, E_CONFIG, "bad endpoint URL '%s'", url);
		goto out;
	}
	/* The port appears in Host only when the URL names it, as curl sends it. */
	if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK && port != NULL)
		snprintf(host, hostlen, "%s:%s", h, port);
	else
		snprintf(host, hostlen, "%s", h);
	if (curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK && path != NULL &&
	    strcmp(path, "/") != 0) {
		size_t n = strlen(path);
		while (n > 0 && path[n - 1] == '/')
			n--;
		snprintf(base, baselen, "%.*s", (int)n, path);
	} else {
		base[0] = '\0';
	}
out:
	curl_free(h);
	curl_free(port);
	curl_free(path);
	curl_url_cleanup(u);
	return r;
}

/*
 * Returns 1 if resp says the signing time is off and its Date header gives
 * the server's clock; then api->skew holds the correction.
 */
static int
clock_skewed(struct awsapi *api, const struct awsapi_response *resp)
{
	char code[128], msg[512];
	time_t server, now;

	error_parts(&api->xml, &resp->body, code, sizeof(code), msg, sizeof(msg));
	if (strcmp(code, "RequestTimeTooSkewed") != 0 && strcmp(code, "RequestExpired") != 0 &&
	    strcmp(code, "RequestInTheFuture") != 0 &&
	    !((strcmp(code, "InvalidSignatureException") == 0 ||
	       strcmp(code, "SignatureDoesNotMatch") == 0) &&
	      strstr(msg, "Signature expired") != NULL))
		return 0;
	if (resp->date[0] == '\0' || (server = curl_getdate(resp->date, NULL)) == (time_t)-1)
		return 0;
	now = time(NULL);
	api->skew = (long)(server - now);
	log_verbose(api->log, "%s: the local clock is %ld s off the service's; retrying with "
	            "its time", code, -api->skew);
	return 1;
}

/*
 * Runs the configured transfer c: blocking, or inside api->mux so that
 * the mux's other transfers (the data channel's connect) progress too.
 * libcurl's CURLOPT_TIMEOUT_MS ends it either way; the deadline here is
 * only a backstop.
 */
static CURLcode
perform(struct awsapi *api, CURL *c, char *errbuf)
{
	CURLcode cc = CURLE_OK;
	int r;

	if (api->mux == NULL)
		return curl_easy_perform(c);
	if (mux_add(api->mux, c, NULL) != 0)
		return CURLE_OUT_OF_MEMORY;
	r = mux_wait(api->mux, c, loop_now_ms() + (uint64_t)api->timeout_ms + 5000, &cc);
	mux_remove(api->mux, c);
	if (r == 1)
		return cc;
	snprintf(errbuf, CURL_ERROR_SIZE, "%s", r == 0 ? "the request did not finish in time" :
	         "the curl multi interface failed");
	return r == 0 ? CURLE_OPERATION_TIMEDOUT : CURLE_FAILED_INIT;
}

int
awsapi_request(struct awsapi *api, const char *service, const char *method, const char *path,
               const char *const *headers, const void *body, size_t body_len,
               struct awsapi_response *resp, struct err *e)
{
	char endpoint[1024], host[512], base[512], url[2048], errbuf[CURL_ERROR_SIZE];
	char fullpath[1024], code[128], msg[512];
	struct sigv4_header sh[16];
	size_t nsh;
	int r = 0;

	int skew_retried = 0;

	memset(resp, 0, sizeof(*resp));
	buf_init(&resp->body, MAX_RESPONSE);
	if (api->creds == NULL && !api->anonymous)
		return err_set(e, E_AUTH, "no AWS credentials");
	/* Temporary credentials about to expire are renewed before they sign. */
	if (api->creds != NULL && api->refresh != NULL && api->creds->expiration != 0 &&
	    api->creds->expiration - time(NULL) < 300) {
		log_verbose(api->log, "AWS credentials expire soon; refreshing");
		if ((r = api->refresh(api->refresh_arg, e)) != 0)
			return r;
	}
	if ((r = awsapi_endpoint(api, service, endpoint, sizeof(endpoint), e)) != 0)
		return r;
	if ((r = endpoint_parts(endpoint, host, sizeof(host), base, sizeof(base), e)) != 0)
		return r;
	snprintf(fullpath, sizeof(fullpath), "%s%s", base, path);
	snprintf(url, sizeof(url), "%s%s", endpoint, path);

	for (int attempt = 0; attempt < api->max_attempts; attempt++) {
		struct sigv4_request rq;
		struct sigv4_params sp;
		struct sigv4_result sr;
		struct curl_slist *hl = NULL;
		char line[8192];
		const char *q = strchr(fullpath, '?');
		char pathonly[1024];
		CURLcode cc;

		if (attempt > 0)
			backoff_sleep(attempt);
		buf_reset(&resp->body);
		resp->status = 0;
		resp->request_id[0] = resp->date[0] = '\0';

		/* The request exactly as it goes on the wire, for the signer. */
		nsh = 0;
		sh[nsh].name = "Host";
		sh[nsh++].value = host;
		memset(&rq, 0, sizeof(rq));
		memset(&sp, 0, sizeof(sp));
		memset(&sr, 0, sizeof(sr));
		snprintf(pathonly, sizeof(pathonly), "%.*s", (int)(q ? (size_t)(q - fullpath) : strlen(fullpath)),
		         fullpath);
		if (pathonly[0] == '\0')
			snprintf(pathonly, sizeof(pathonly), "/");
		/* Header names and values are split into a scratch copy so the
		 * signer sees the same bytes curl sends. */
		char scratch[12][1024];
		for (size_t i = 0; headers != NULL && headers[i] != NULL && nsh < 12; i++) {
			const char *colon = strchr(headers[i], ':');
			if (colon == NULL)
				continue;
			snprintf(scratch[nsh], sizeof(scratch[nsh]), "%s", headers[i]);
			scratch[nsh][colon - headers[i]] = '\0';
			const char *v = scratch[nsh] + (colon - headers[i]) + 1;
			while (*v == ' ')
				v++;
			sh[nsh].name = scratch[nsh];
			sh[nsh].value = v;
			nsh++;
		}
		rq.method = method;
		rq.path = pathonly;
		rq.query = q ? q + 1 : NULL;
		rq.headers = sh;
		rq.nheaders = nsh;
		rq.body = body;
		rq.body_len = body_len;
		sp.region = api->region;
		sp.service = service;
		sp.when = time(NULL) + api->skew;
		sp.normalize_path = 1;
		if (api->creds != NULL) {
			sp.access_key = api->creds->access_key_id;
			sp.secret_key = api->creds->secret_access_key;
			sp.session_token = api->creds->session_token;
			if ((r = sigv4_sign_headers(&rq, &sp, &sr, e)) != 0)
				return r;
		}

		for (size_t i = 0; i < nsh; i++) {
			snprintf(line, sizeof(line), "%s: %s", sh[i].name, sh[i].value);
			hl = curl_slist_append(hl, line);
		}
		for (size_t i = 0; i < sr.nadded; i++) {
			snprintf(line, sizeof(line), "%s: %s", sr.added[i].name, sr.added[i].value);
			hl = curl_slist_append(hl, line);
		}
		hl = curl_slist_append(hl, "Expect:"); /* no 100-continue round trip */
		sigv4_result_free(&sr);

		CURL *c = api->curl;
		curl_easy_reset(c);
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
		if (strcmp(method, "GET") != 0) {
			curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? (const char *)body : "");
			curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
		}
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
		curl_easy_setopt(c, CURLOPT_USERAGENT, "ssm-proxy/" SSMP_VERSION);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp->body);
		curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
		curl_easy_setopt(c, CURLOPT_HEADERDATA, resp);
		curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
		curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, api->connect_timeout_ms);
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, api->timeout_ms);
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
		tlstrust_setopt(c, api->ca_file);
		curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
		errbuf[0] = '\0';
		cc = perform(api, c, errbuf);
		curl_slist_free_all(hl);
		if (cc != CURLE_OK) {
			const char *why = errbuf[0] ? errbuf : curl_easy_strerror(cc);
			int code_ = cc == CURLE_OPERATION_TIMEDOUT ? E_TIMEOUT : E_NET;
			if (is_retryable_curl(cc) && attempt + 1 < api->max_attempts) {
				log_debug(api->log, "%s %s: %s; retrying", method, endpoint, why);
				continue;
			}
			return err_set(e, code_, "cannot reach %s: %s", endpoint, why);
		}
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
		log_debug(api->log, "%s %s%s -> HTTP %ld%s%s", method, endpoint, path, resp->status,
		          resp->request_id[0] ? ", request id " : "", resp->request_id);
		if ((resp->status == 400 || resp->status == 403) && !skew_retried &&
		    clock_skewed(api, resp)) {
			skew_retried = 1;
			attempt--; /* the one correction does not use up a retry */
			continue;
		}
		if (resp->status == 429 || resp->status >= 500 || resp->status == 400) {
			int retry = resp->status != 400;
			error_parts(&api->xml, &resp->body, code, sizeof(code), msg, sizeof(msg));
			if (awsapi_is_throttle(code))
				retry = 1;
			if (retry && attempt + 1 < api->max_attempts) {
				log_verbose(api->log, "%s: HTTP %ld%s%s; retrying", service, resp->status,
				            code[0] ? " " : "", code);
				continue;
			}
		}
		return 0;
	}
	return 0;
}

/* Describes a failed response as "CODE: message" (or the HTTP status). */
static void
describe_failure(struct awsapi *api, const struct awsapi_response *resp, char *out, size_t outlen)
{
	char code[128], msg[512];

	error_parts(&api->xml, &resp->body, code, sizeof(code), msg, sizeof(msg));
	if (code[0] && msg[0])
		snprintf(out, outlen, "%s: %s", code, msg);
	else if (code[0])
		snprintf(out, outlen, "%s (HTTP %ld)", code, resp->status);
	else if (msg[0])
		snprintf(out, outlen, "HTTP %ld: %s", resp->status, msg);
	else
		snprintf(out, outlen, "HTTP %ld", resp->status);
}

int
awsapi_json(struct awsapi *api, const char *service, const char *target_prefix, const char *op,
            const cJSON *body, cJSON **out, struct err *e)
{
	char target[160], hdr[200], why[768];
	const char *headers[3];
	struct awsapi_response resp;
	char *text;
	int r;

	*out = NULL;
	if ((text = cJSON_PrintUnformatted(body)) == NULL)
		return err_set(e, E_NOMEM, "out of memory");
	snprintf(target, sizeof(target), "%s.%s", target_prefix, op);
	snprintf(hdr, sizeof(hdr), "X-Amz-Target: %s", target);
	headers[0] = "Content-Type: application/x-amz-json-1.1";
	headers[1] = hdr;
	headers[2] = NULL;
	r = awsapi_request(api, service, "POST", "/", headers, text, strlen(text), &resp, e);
	free(text);
	if (r != 0) {
		awsapi_response_free(&resp);
		return err_prefix(e, "%s failed", op);
	}
	if (resp.status != 200) {
		describe_failure(api, &resp, why, sizeof(why));
		awsapi_response_free(&resp);
		return err_set(e, E_AWS, "%s failed: %s", op, why);
	}
	*out = cJSON_ParseWithLength((const char *)buf_ptr(&resp.body), buf_len(&resp.body));
	/* Answers may carry tokens: leave none in freed memory. */
	if (buf_len(&resp.body) > 0)
		OPENSSL_cleanse((void *)buf_ptr(&resp.body), buf_len(&resp.body));
	awsapi_response_free(&resp);
	if (*out == NULL)
		return err_set(e, E_AWS, "%s failed: the answer is not valid JSON", op);
	return 0;
}

int
awsapi_query(struct awsapi *api, const char *service, const char *action, const char *version,
             const struct awsapi_param *params, size_t nparams, xmlDoc **out, struct err *e)
{
	static const char *const headers[] = {
		"Content-Type: application/x-www-form-urlencoded; charset=utf-8", NULL,
	};
	struct awsapi_response resp;
	struct buf body;
	char why[768];
	int r = 0;

	*out = NULL;
	/* Before the request: without libxml2 its answer could not be read. */
	if ((r = xmllib_load(&api->xml, e)) != 0)
		return err_prefix(e, "%s failed", action);
	buf_init(&body, MAX_RESPONSE);
	if (buf_putf(&body, "Action=%s&Version=%s", action, version) != 0)
		r = err_set(e, E_NOMEM, "out of memory");
	for (size_t i = 0; r == 0 && i < nparams; i++) {
		/* curl_easy_escape keeps only RFC 3986 unreserved bytes, as SigV4 wants. */
		char *n = curl_easy_escape(NULL, params[i].name, 0);
		char *v = curl_easy_escape(NULL, params[i].value, 0);
		if (n == NULL || v == NULL || buf_putf(&body, "&%s=%s", n, v) != 0)
			r = err_set(e, E_NOMEM, "out of memory");
		curl_free(n);
		curl_free(v);
	}
	if (r != 0) {
		buf_free(&body);
		return r;
	}
	r = awsapi_request(api, service, "POST", "/", headers, buf_ptr(&body), buf_len(&body), &resp, e);
	buf_free(&body);
	if (r != 0) {
		awsapi_response_free(&resp);
		return err_prefix(e, "%s failed", action);
	}
	if (resp.status != 200) {
		describe_failure(api, &resp, why, sizeof(why));
		awsapi_response_free(&resp);
		return err_set(e, E_AWS, "%s failed: %s", action, why);
	}
	*out = xmllib_parse(&api->xml, buf_ptr(&resp.body), buf_len(&resp.body));
	awsapi_response_free(&resp);
	if (*out == NULL)
		return err_set(e, E_AWS, "%s failed: the answer is not valid XML", action);
	return 0;
}

/* Wipes the TokenValue string of a parsed answer before it is freed. */
static void
wipe_token(cJSON *j)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "TokenValue");

	if (cJSON_IsString(v) && v->valuestring != NULL)
		OPENSSL_cleanse(v->valuestring, strlen(v->valuestring));
}

static char *
dup_json_string(const cJSON *j, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);

	return cJSON_IsString(v) ? strdup(v->valuestring) : NULL;
}

/*
 * SessionId goes into messages, API calls and the data-channel URL check:
 * 1..96 characters (the API's limit) of an IAM session name and hex.
 */
static int
session_id_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 96)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && strchr("_+=,.@-", *s) == NULL)
			return 0;
	return 1;
}

/*
 * Points a StreamUrl at the ssmmessages override (PrivateLink): its scheme
 * (https -> wss), host and port replace the URL's; path and query stay.
 */
static int
rewrite_stream_url(const struct awsapi *api, struct ssm_session *s, struct err *e)
{
	CURLU *u, *ep;
	char *h = NULL, *port = NULL, *scheme = NULL, *url = NULL;
	int r = 0;

	if (api->ssmmessages == NULL || s->stream_url == NULL)
		return 0;
	u = curl_url();
	ep = curl_url();
	if (u == NULL || ep == NULL ||
	    curl_url_set(u, CURLUPART_URL, s->stream_url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
	    curl_url_set(ep, CURLUPART_URL, api->ssmmessages, 0) != CURLUE_OK ||
	    curl_url_get(ep, CURLUPART_HOST, &h, 0) != CURLUE_OK ||
	    curl_url_get(ep, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) {
		r = err_set(e, E_CONFIG, "cannot apply the ssmmessages endpoint to the StreamUrl");
		goto out;
	}
	if (curl_url_get(ep, CURLUPART_PORT, &port, 0) != CURLUE_OK)
		port = NULL;
	if (curl_url_set(u, CURLUPART_SCHEME, strcmp(scheme, "http") == 0 ? "ws" : "wss",
	                 CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
	    curl_url_set(u, CURLUPART_HOST, h, 0) != CURLUE_OK ||
	    curl_url_set(u, CURLUPART_PORT, port, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_URL, &url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
		r = err_set(e, E_CONFIG, "cannot apply the ssmmessages endpoint to the StreamUrl");
		goto out;
	}
	log_debug(api->log, "data channel via %s instead of the StreamUrl host", h);
	free(s->stream_url);
	if ((s->stream_url = strdup(url)) == NULL)
		r = err_set(e, E_NOMEM, "out of memory");
out:
	curl_free(h);
	curl_free(port);
	curl_free(scheme);
	curl_free(url);
	curl_url_cleanup(u);
	curl_url_cleanup(ep);
	return r;
}

int
awsapi_stream_origin(const struct awsapi *api, char *out, size_t outlen, struct err *e)
{
	char ep[1024];
	const char *base = api->ssmmessages;
	char *scheme = NULL, *host = NULL, *port = NULL;
	CURLU *u;
	int n, r;

	if (base == NULL) {
		r = awscfg_configured_endpoint(api->cfg, "ssm", ep, sizeof(ep), e);
		if (r == 0)
			base = ep;
		else if (r != E_NOTFOUND)
			return r;
	}
	if (base == NULL) {
		/* What the service names in StreamUrl for its own endpoints. */
		n = snprintf(out, outlen, "wss://ssmmessages.%s.%s/", api->region,
		             awscfg_dns_suffix(api->region));
		if (n < 0 || (size_t)n >= outlen)
			return err_set(e, E_RANGE, "the data channel host name is too long");
		return 0;
	}
	/* As rewrite_stream_url does: http -> ws, anything else -> wss. */
	if ((u = curl_url()) == NULL)
		return err_set(e, E_NOMEM, "out of memory");
	r = 0;
	if (curl_url_set(u, CURLUPART_URL, base, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		r = err_set(e, E_CONFIG, "cannot parse the endpoint %.200s", base);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_PORT, &port, 0) != CURLUE_OK)
		port = NULL;
	n = snprintf(out, outlen, "%s://%s%s%s/", strcmp(scheme, "http") == 0 ? "ws" : "wss", host,
	             port ? ":" : "", port ? port : "");
	if (n < 0 || (size_t)n >= outlen)
		r = err_set(e, E_RANGE, "the data channel host name is too long");
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return r;
}

static int
session_from_json(const cJSON *j, const char *op, struct ssm_session *out, struct err *e)
{
	memset(out, 0, sizeof(*out));
	out->session_id = dup_json_string(j, "SessionId");
	out->token_value = dup_json_string(j, "TokenValue");
	out->stream_url = dup_json_string(j, "StreamUrl");
	if (out->session_id == NULL || out->session_id[0] == '\0') {
		awsapi_session_free(out);
		return err_set(e, E_AWS, "%s failed: the answer has no SessionId", op);
	}
	if (!session_id_ok(out->session_id)) {
		awsapi_session_free(out);
		return err_set(e, E_AWS, "%s failed: the answer's SessionId is not a session id", op);
	}
	/* Bounded like everything else from the network (real ones are < 2 KiB). */
	if ((out->token_value != NULL && strlen(out->token_value) > 16384) ||
	    (out->stream_url != NULL && strlen(out->stream_url) > 2048)) {
		awsapi_session_free(out);
		return err_set(e, E_AWS, "%s failed: the answer's TokenValue or StreamUrl is too long",
		               op);
	}
	return 0;
}

int
awsapi_start_session(struct awsapi *api, const char *target, unsigned port, struct ssm_session *out,
                     struct err *e)
{
	cJSON *req, *params, *ports, *ans = NULL;
	char portstr[16];
	int r;

	memset(out, 0, sizeof(*out));
	snprintf(portstr, sizeof(portstr), "%u", port);
	req = cJSON_CreateObject();
	params = cJSON_CreateObject();
	ports = cJSON_CreateArray();
	if (req == NULL || params == NULL || ports == NULL ||
	    !cJSON_AddItemToArray(ports, cJSON_CreateString(portstr)) ||
	    !cJSON_AddItemToObject(params, "portNumber", ports) ||
	    cJSON_AddStringToObject(req, "Target", target) == NULL ||
	    cJSON_AddStringToObject(req, "DocumentName", "AWS-StartSSHSession") == NULL ||
	    !cJSON_AddItemToObject(req, "Parameters", params)) {
		cJSON_Delete(req);
		return err_set(e, E_NOMEM, "out of memory");
	}
	r = awsapi_json(api, "ssm", "AmazonSSM", "StartSession", req, &ans, e);
	cJSON_Delete(req);
	if (r != 0)
		return r;
	r = session_from_json(ans, "StartSession", out, e);
	wipe_token(ans);
	cJSON_Delete(ans);
	if (r != 0)
		return r;
	if (out->token_value == NULL || out->stream_url == NULL || out->token_value[0] == '\0') {
		awsapi_session_free(out);
		return err_set(e, E_AWS, "StartSession failed: the answer has no TokenValue or StreamUrl");
	}
	if ((r = rewrite_stream_url(api, out, e)) != 0)
		awsapi_session_free(out);
	return r;
}

int
awsapi_resume_session(struct awsapi *api, const char *session_id, struct ssm_session *out,
                      struct err *e)
{
	cJSON *req, *ans = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	if ((req = cJSON_CreateObject()) == NULL ||
	    cJSON_AddStringToObject(req, "SessionId", session_id) == NULL) {
		cJSON_Delete(req);
		return err_set(e, E_NOMEM, "out of memory");
	}
	r = awsapi_json(api, "ssm", "AmazonSSM", "ResumeSession", req, &ans, e);
	cJSON_Delete(req);
	if (r != 0)
		return r;
	r = session_from_json(ans, "ResumeSession", out, e);
	wipe_token(ans);
	cJSON_Delete(ans);
	if (r != 0)
		return r;
	if (out->token_value == NULL || out->token_value[0] == '\0') {
		awsapi_session_free(out);
		return err_set(e, E_AWS, "session %s timed out (ResumeSession returned no token)",
		               session_id);
	}
	if ((r = rewrite_stream_url(api, out, e)) != 0)
		awsapi_session_free(out);
	return r;
}

int
awsapi_terminate_session(struct awsapi *api, const char *session_id, struct err *e)
{
	cJSON *req, *ans = NULL;
	int r;

	if ((req = cJSON_CreateObject()) == NULL ||
	    cJSON_AddStringToObject(req, "SessionId", session_id) == NULL) {
		cJSON_Delete(req);
		return err_set(e, E_NOMEM, "out of memory");
	}
	r = awsapi_json(api, "ssm", "AmazonSSM", "TerminateSession", req, &ans, e);
	cJSON_Delete(req);
	cJSON_Delete(ans);
	return r;
}

void
awsapi_session_free(struct ssm_session *s)
{
	if (s == NULL)
		return;
	free(s->session_id);
	if (s->token_value != NULL) {
		/* The token is a credential: do not leave it in freed memory. */
		OPENSSL_cleanse(s->token_value, strlen(s->token_value));
		free(s->token_value);
	}
	free(s->stream_url);
	memset(s, 0, sizeof(*s));
}
