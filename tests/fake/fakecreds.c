/* fakecreds.c: STS, SSO portal, IMDSv2 and ECS credential endpoints of the fake region. */
#include "fakecreds.h"
#include "state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <openssl/sha.h>

#define XML_TYPE "text/xml"
#define STS_NS "https://sts.amazonaws.com/doc/2011-06-15/"
#define IMDS_TTL_MAX 21600

/* Known prefixes of keys issued here; their secrets are derived. */
static const char *const issued_prefixes[] = {
	"ASIASTS", "ASIAWEB", "ASIASSO", "ASIAIMDS", "ASIAECS", "AKIDPROC",
};

/* Lower-case hex of SHA-256(label ":" s), cut to n characters (n <= 64). */
static void
derive(const char *label, const char *s, char *out, size_t n)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	char in[512];
	static const char hx[] = "0123456789abcdef";

	snprintf(in, sizeof(in), "%s:%s", label, s);
	SHA256((const unsigned char *)in, strlen(in), md);
	for (size_t i = 0; i < n && i < 64; i++)
		out[i] = hx[(md[i / 2] >> (i % 2 ? 0 : 4)) & 15];
	out[n < 64 ? n : 64] = '\0';
}

static void
derived_secret(const char *ak, char out[64])
{
	char h[41];

	derive("fakecreds-secret", ak, h, 40);
	snprintf(out, 64, "fake/%s", h);
}

static void
derived_token(const char *ak, char out[96])
{
	char h[65];

	derive("fakecreds-token", ak, h, 64);
	snprintf(out, 96, "FwoGZXIvYXdzEfake%s", h);
}

int
fakecreds_secret(const struct region *r, const char *ak, char *out, size_t size)
{
	char sk[64];

	if (strcmp(ak, r->access_key) == 0) {
		snprintf(out, size, "%s", r->secret_key);
		return 0;
	}
	for (size_t i = 0; i < sizeof(issued_prefixes) / sizeof(issued_prefixes[0]); i++) {
		if (strncmp(ak, issued_prefixes[i], strlen(issued_prefixes[i])) == 0) {
			derived_secret(ak, sk);
			snprintf(out, size, "%s", sk);
			return 0;
		}
	}
	return -1;
}

/* Makes an access key id: prefix + 8 upper-case hex of what. */
static void
issue_key(const char *prefix, const char *what, char out[32])
{
	char h[9];

	derive("fakecreds-key", what, h, 8);
	for (char *p = h; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	snprintf(out, 32, "%s%s", prefix, h);
}

/* Records the secret parts of an issued key so tests can look for leaks. */
static void
record(const struct region *r, const char *ak, char sk[64], char tok[96])
{
	derived_secret(ak, sk);
	derived_token(ak, tok);
	state_append(r->state_dir, "secrets", "%s", sk);
	state_append(r->state_dir, "secrets", "%s", tok);
}

int
fakecreds_init(const struct region *r)
{
	char sk[64], tok[96];

	record(r, FAKECREDS_PROCESS_AK, sk, tok);
	return state_append(r->state_dir, "process-creds", "%s %s %s", FAKECREDS_PROCESS_AK, sk,
			    tok) == 0 ? 0 : -1;
}

static void
iso_time(time_t t, char out[32])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- form bodies ---- */

/* Copies the decoded value of form field name into out; 1 if present. */
static int
form_get(const struct wss_request *req, const char *name, char *out, size_t size)
{
	const char *b = req->body ? (const char *)req->body : "";
	size_t nl = strlen(name);

	for (const char *p = b; *p;) {
		size_t n = strcspn(p, "&");
		if (n > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
			char raw[4096], *dec;
			int dl = 0;
			size_t vl = n - nl - 1;
			if (vl >= sizeof(raw))
				vl = sizeof(raw) - 1;
			memcpy(raw, p + nl + 1, vl);
			raw[vl] = '\0';
			for (char *q = raw; *q; q++)
				if (*q == '+')
					*q = ' ';
			dec = curl_easy_unescape(NULL, raw, 0, &dl);
			if (dec == NULL)
				return 0;
			snprintf(out, size, "%s", dec);
			curl_free(dec);
			return 1;
		}
		p += n;
		if (*p == '&')
			p++;
	}
	return 0;
}

static int
body_starts(const struct wss_request *req, const char *s)
{
	return req->body != NULL && req->body_len >= strlen(s) &&
	       memcmp(req->body, s, strlen(s)) == 0;
}

int
fakecreds_sts_signed(const struct region *r, const struct wss_request *req)
{
	(void)r;
	return body_starts(req, "Action=AssumeRole&");
}

int
fakecreds_sts_unsigned(const struct region *r, const struct wss_request *req)
{
	(void)r;
	return body_starts(req, "Action=AssumeRoleWithWebIdentity&");
}

/* Characters that would break the XML text are replaced (test values only). */
static void
xml_safe(char *s)
{
	for (; *s; s++)
		if (*s == '<' || *s == '>' || *s == '&' || *s == '"')
			*s = '_';
}

static void
sts_error(struct api_call *call, int status, const char *code, const char *msg)
{
	char body[1024];

	snprintf(body, sizeof(body),
		 "<ErrorResponse xmlns=\"" STS_NS "\"><Error><Type>Sender</Type><Code>%s</Code>"
		 "<Message>%s</Message></Error><RequestId>00000000-0000-4000-8000-0000000005f5"
		 "</RequestId></ErrorResponse>", code, msg);
	api_reply_body(call, status, XML_TYPE, code, body);
}

void
fakecreds_sts(struct api_call *call)
{
	const struct region *r = api_call_region(call);
	const struct wss_request *req = api_call_request(call);
	int webid = body_starts(req, "Action=AssumeRoleWithWebIdentity&");
	const char *action = webid ? "AssumeRoleWithWebIdentity" : "AssumeRole";
	char arn[1024], sess[128], ext[256], dur[32], tok[2048], ak[32], sk[64], st[96];
	char exp[32], detail[1400], body[4096];
	long seconds = 3600;

	api_call_set_op(call, action);
	if (!form_get(req, "RoleArn", arn, sizeof(arn)) ||
	    !form_get(req, "RoleSessionName", sess, sizeof(sess))) {
		sts_error(call, 400, "MissingParameter", "RoleArn and RoleSessionName are required");
		return;
	}
	xml_safe(arn);
	xml_safe(sess);
	if (form_get(req, "DurationSeconds", dur, sizeof(dur))) {
		char *end;
		seconds = strtol(dur, &end, 10);
		if (*end != '\0' || seconds < 900 || seconds > 43200) {
			sts_error(call, 400, "ValidationError",
				  "DurationSeconds must be between 900 and 43200");
			return;
		}
	}
	if (webid) {
		if (!form_get(req, "WebIdentityToken", tok, sizeof(tok)) ||
		    strncmp(tok, "fake-oidc-", 10) != 0) {
			sts_error(call, 400, "InvalidIdentityToken",
				  "The web identity token that was passed could not be validated");
			return;
		}
	}
	if (strstr(arn, "denied") != NULL) {
		sts_error(call, 403, "AccessDenied", "User is not authorized to perform: sts:AssumeRole");
		return;
	}
	if (!webid && strstr(arn, "external") != NULL &&
	    (!form_get(req, "ExternalId", ext, sizeof(ext)) || strcmp(ext, "fake-external-id") != 0)) {
		sts_error(call, 403, "AccessDenied", "ExternalId does not match");
		return;
	}
	issue_key(webid ? "ASIAWEB" : "ASIASTS", arn, ak);
	record(r, ak, sk, st);
	iso_time(time(NULL) + seconds, exp);
	snprintf(body, sizeof(body),
		 "<%sResponse xmlns=\"" STS_NS "\"><%sResult><Credentials>"
		 "<AccessKeyId>%s</AccessKeyId><SecretAccessKey>%s</SecretAccessKey>"
		 "<SessionToken>%s</SessionToken><Expiration>%s</Expiration></Credentials>"
		 "<AssumedRoleUser><Arn>%s/%s</Arn><AssumedRoleId>AROAFAKE:%s</AssumedRoleId>"
		 "</AssumedRoleUser></%sResult><ResponseMetadata><RequestId>"
		 "00000000-0000-4000-8000-0000000005f5</RequestId></ResponseMetadata></%sResponse>",
		 action, action, ak, sk, st, exp, arn, sess, sess, action, action);
	snprintf(detail, sizeof(detail), "%s %s %s %ld", arn, sess, ak, seconds);
	api_reply_body(call, 200, XML_TYPE, detail, body);
}

/* ---- SSO portal ---- */

static int
query_get(const struct wss_request *req, const char *name, char *out, size_t size)
{
	struct wss_request q = *req;

	/* The query string has the form-body syntax. */
	q.body = (const uint8_t *)req->query;
	q.body_len = strlen(req->query);
	return form_get(&q, name, out, size);
}

void
fakecreds_sso(struct api_call *call)
{
	const struct region *r = api_call_region(call);
	const struct wss_request *req = api_call_request(call);
	const char *bearer = wss_header(req, "x-amz-sso_bearer_token");
	char acct[64], role[128], what[200], ak[32], sk[64], st[96], detail[256];
	cJSON *j, *rc;

	api_call_set_op(call, "GetRoleCredentials");
	if (!query_get(req, "account_id", acct, sizeof(acct)) ||
	    !query_get(req, "role_name", role, sizeof(role))) {
		api_reply_error(call, 400, "InvalidRequestException", "message",
				"account_id and role_name are required");
		return;
	}
	if (bearer == NULL || strncmp(bearer, "fake-sso-token", 14) != 0) {
		api_reply_error(call, 401, "UnauthorizedException", "message",
				"Session token not found or invalid");
		return;
	}
	snprintf(what, sizeof(what), "%s/%s", acct, role);
	issue_key("ASIASSO", what, ak);
	record(r, ak, sk, st);
	j = cJSON_CreateObject();
	rc = cJSON_AddObjectToObject(j, "roleCredentials");
	if (rc == NULL || cJSON_AddStringToObject(rc, "accessKeyId", ak) == NULL ||
	    cJSON_AddStringToObject(rc, "secretAccessKey", sk) == NULL ||
	    cJSON_AddStringToObject(rc, "sessionToken", st) == NULL ||
	    cJSON_AddNumberToObject(rc, "expiration", ((double)time(NULL) + 3600) * 1000) == NULL) {
		cJSON_Delete(j);
		api_reply_error(call, 500, "InternalServerError", "message", "out of memory");
		return;
	}
	snprintf(detail, sizeof(detail), "%s %s", what, ak);
	api_reply_json(call, j, detail);
}

/* ---- IMDSv2 and ECS ---- */

static void
imds_token(const struct region *r, char out[48])
{
	char h[33];

	derive("fakecreds-imds", r->instance, h, 32);
	snprintf(out, 48, "imds-%s", h);
}

/* Answers the credentials document of an instance role or an ECS task. */
static void
creds_document(struct api_call *call, const char *ak, int ecs)
{
	const struct region *r = api_call_region(call);
	char sk[64], st[96], exp[32], now[32], body[1024];

	record(r, ak, sk, st);
	iso_time(time(NULL) + 3600, exp);
	iso_time(time(NULL), now);
	if (ecs)
		snprintf(body, sizeof(body),
			 "{\"RoleArn\":\"arn:aws:iam::123456789012:role/fake-task-role\","
			 "\"AccessKeyId\":\"%s\",\"SecretAccessKey\":\"%s\",\"Token\":\"%s\","
			 "\"Expiration\":\"%s\"}", ak, sk, st, exp);
	else
		snprintf(body, sizeof(body),
			 "{\"Code\":\"Success\",\"LastUpdated\":\"%s\",\"Type\":\"AWS-HMAC\","
			 "\"AccessKeyId\":\"%s\",\"SecretAccessKey\":\"%s\",\"Token\":\"%s\","
			 "\"Expiration\":\"%s\"}", now, ak, sk, st, exp);
	api_reply_body(call, 200, ecs ? "application/json" : "text/plain", ak, body);
}

void
fakecreds_imds(struct api_call *call)
{
	const struct region *r = api_call_region(call);
	const struct wss_request *req = api_call_request(call);
	const char *ttl, *tok;
	char want[48];

	imds_token(r, want);
	if (strcmp(req->method, "PUT") == 0) {
		long v = 0;
		char *end = NULL;

		api_call_set_op(call, "ImdsToken");
		ttl = wss_header(req, "X-aws-ec2-metadata-token-ttl-seconds");
		if (ttl != NULL)
			v = strtol(ttl, &end, 10);
		if (ttl == NULL || *end != '\0' || v < 1 || v > IMDS_TTL_MAX) {
			api_reply_body(call, 400, "text/plain", "bad-ttl", "");
			return;
		}
		state_append(r->state_dir, "secrets", "%s", want);
		api_reply_body(call, 200, "text/plain", "token", want);
		return;
	}
	api_call_set_op(call, "ImdsGet");
	tok = wss_header(req, "X-aws-ec2-metadata-token");
	if (tok == NULL || strcmp(tok, want) != 0) {
		api_reply_body(call, 401, "text/plain", "no-token", "");
		return;
	}
	if (strcmp(req->path, "/latest/meta-data/placement/region") == 0)
		api_reply_body(call, 200, "text/plain", "region", r->region);
	else if (strcmp(req->path, "/latest/meta-data/iam/security-credentials/") == 0)
		api_reply_body(call, 200, "text/plain", "role", FAKECREDS_IMDS_ROLE);
	else
		creds_document(call, "ASIAIMDS0000000001", 0);
}

void
fakecreds_ecs(struct api_call *call)
{
	const char *auth = wss_header(api_call_request(call), "Authorization");

	api_call_set_op(call, "EcsCredentials");
	if (auth != NULL && strcmp(auth, FAKECREDS_ECS_AUTH) != 0) {
		api_reply_body(call, 401, "application/json", "bad-auth",
			       "{\"message\":\"unauthorized\"}");
		return;
	}
	creds_document(call, "ASIAECS00000000001", 1);
}
