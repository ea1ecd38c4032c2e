/* awsapi.c: signed AWS API calls over libcurl, with retries. */
#include "awsapi.h"
#include "creds.h"
#include "sigv4.h"
#include "version.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <libxml/parser.h>
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
	api->connect_timeout_ms = opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms
	                                                       : DEFAULT_CONNECT_TIMEOUT_MS;
	api->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : DEFAULT_TIMEOUT_MS;
	api->max_attempts = opts->max_attempts > 0 ? opts->max_attempts : AWSAPI_MAX_ATTEMPTS;
	ca = opts->ca_file;
	if (ca == NULL || *ca == '\0')
		ca = getenv("AWS_CA_BUNDLE");
	if (ca != NULL && *ca != '\0' && (api->ca_file = strdup(ca)) == NULL) {
		free(api);
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
	free(api);
}

/* "ec2-instance-connect" -> "EC2_INSTANCE_CONNECT", as the SDKs name the variable. */
static void
service_env_name(const char *service, char *out, size_t outlen)
{
	size_t o = (size_t)snprintf(out, outlen, "AWS_ENDPOINT_URL_");

	for (const char *p = service; *p && o + 1 < outlen; p++)
		out[o++] = (*p == '-' || *p == ' ') ? '_' : (char)toupper((unsigned char)*p);
	out[o < outlen ? o : outlen - 1] = '\0';
}

int
awsapi_endpoint(const struct awsapi *api, const char *service, char *out, size_t outlen, struct err *e)
{
	char name[96];
	const char *url;
	size_t n;

	service_env_name(service, name, sizeof(name));
	url = getenv(name);
	if (url == NULL || *url == '\0') {
		snprintf(name, sizeof(name), "AWS_ENDPOINT_URL");
		url = getenv(name);
	}
	if (url != NULL && *url != '\0') {
		if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0)
			return err_set(e, E_CONFIG, "%s must start with https:// or http://", name);
		n = strlen(url);
		while (n > 0 && url[n - 1] == '/')
			n--;
		if (n >= outlen)
			return err_set(e, E_CONFIG, "%s is too long", name);
		memcpy(out, url, n);
		out[n] = '\0';
		return 0;
	}
	n = (size_t)snprintf(out, outlen, "https://%s.%s.amazonaws.com%s", service, api->region,
	                     strncmp(api->region, "cn-", 3) == 0 ? ".cn" : "");
	if (n >= outlen)
		return err_set(e, E_CONFIG, "endpoint name too long");
	return 0;
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
 * body holds. Missing parts come back empty.
 */
static void
parse_error(const struct buf *body, char *code, size_t codelen, char *msg, size_t msglen)
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
	if (buf_ptr(body)[0] == '<' && buf_len(body) < (size_t)INT32_MAX) {
		xmlDocPtr doc = xmlReadMemory((const char *)buf_ptr(body), (int)buf_len(body), NULL, NULL,
		                              XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
		if (doc == NULL)
			return;
		/* Depth-first: the first <Code> and <Message> anywhere (EC2 nests
		 * them under Errors/Error, STS under Error). */
		xmlNodePtr stack[64];
		int sp = 0;
		stack[sp++] = xmlDocGetRootElement(doc);
		while (sp > 0) {
			xmlNodePtr n = stack[--sp];
			for (; n != NULL; n = n->next) {
				if (n->type != XML_ELEMENT_NODE)
					continue;
				const char *name = (const char *)n->name;
				if ((strcmp(name, "Code") == 0 && code[0] == '\0') ||
				    (strcmp(name, "Message") == 0 && msg[0] == '\0')) {
					xmlChar *c = xmlNodeGetContent(n);
					if (c != NULL) {
						if (name[0] == 'C')
							snprintf(code, codelen, "%s", (const char *)c);
						else
							snprintf(msg, msglen, "%s", (const char *)c);
						xmlFree(c);
					}
				} else if (n->children != NULL && sp < 63) {
					if (n->next != NULL)
						stack[sp++] = n->next;
					stack[sp++] = n->children;
					break;
				}
			}
		}
		xmlFreeDoc(doc);
	}
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

	memset(resp, 0, sizeof(*resp));
	buf_init(&resp->body, MAX_RESPONSE);
	if (api->creds == NULL)
		return err_set(e, E_AUTH, "no AWS credentials");
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
		sp.access_key = api->creds->access_key_id;
		sp.secret_key = api->creds->secret_access_key;
		sp.session_token = api->creds->session_token;
		sp.region = api->region;
		sp.service = service;
		sp.when = time(NULL);
		sp.normalize_path = 1;
		if ((r = sigv4_sign_headers(&rq, &sp, &sr, e)) != 0)
			return r;

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
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
		curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
		if (api->ca_file != NULL)
			curl_easy_setopt(c, CURLOPT_CAINFO, api->ca_file);
		errbuf[0] = '\0';
		cc = curl_easy_perform(c);
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
		if (resp->status == 429 || resp->status >= 500 || resp->status == 400) {
			int retry = resp->status != 400;
			parse_error(&resp->body, code, sizeof(code), msg, sizeof(msg));
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
describe_failure(const struct awsapi_response *resp, char *out, size_t outlen)
{
	char code[128], msg[512];

	parse_error(&resp->body, code, sizeof(code), msg, sizeof(msg));
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
		describe_failure(&resp, why, sizeof(why));
		awsapi_response_free(&resp);
		return err_set(e, E_AWS, "%s failed: %s", op, why);
	}
	*out = cJSON_ParseWithLength((const char *)buf_ptr(&resp.body), buf_len(&resp.body));
	awsapi_response_free(&resp);
	if (*out == NULL)
		return err_set(e, E_AWS, "%s failed: the answer is not valid JSON", op);
	return 0;
}

static char *
dup_json_string(const cJSON *j, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);

	return cJSON_IsString(v) ? strdup(v->valuestring) : NULL;
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
	cJSON_Delete(ans);
	if (r != 0)
		return r;
	if (out->token_value == NULL || out->stream_url == NULL || out->token_value[0] == '\0') {
		awsapi_session_free(out);
		return err_set(e, E_AWS, "StartSession failed: the answer has no TokenValue or StreamUrl");
	}
	return 0;
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
	cJSON_Delete(ans);
	if (r != 0)
		return r;
	if (out->token_value == NULL || out->token_value[0] == '\0') {
		awsapi_session_free(out);
		return err_set(e, E_AWS, "session %s timed out (ResumeSession returned no token)",
		               session_id);
	}
	return 0;
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
