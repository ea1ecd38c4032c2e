/* api.c: the fake region's AWS API endpoint (routing, SigV4, SSM JSON 1.1). */
#include "api.h"
#include "fakecreds.h"
#include "fakeeic.h"
#include "inventory.h"
#include "session.h"
#include "sigv4.h"
#include "state.h"
#include "uuid.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>

#define JSON11_TYPE "application/x-amz-json-1.1"
#define SIG_MISMATCH_MSG "The request signature we calculated does not match the signature you " \
	"provided. Check your AWS Secret Access Key and signing method. Consult the service " \
	"documentation for details."

/* One API call in progress. */
struct api_call {
	const struct region *r;
	struct wss_conn *c;
	const struct wss_request *req;
	char op[64];       /* operation name for api.log */
	int keep_alive;
	int replied;
	int write_rc;      /* result of writing the response */
	struct err *e;
	char region[64];   /* the region the request is signed for (inventory regions too) */
};

/*
 * One row per service endpoint. A request matches when method and path are
 * equal, if header is set, that header starts with prefix, and if accept
 * is set, it says yes (e.g. to pick a Query protocol Action).
 */
struct api_route {
	const char *method;
	const char *path;
	const char *header;
	const char *prefix;
	const char *service;   /* SigV4 service name; NULL: not signed */
	api_route_fn fn;
	int (*accept)(const struct region *r, const struct wss_request *req);
};

/* JSON 1.1 operations of one service; out is the answer body on success. */
struct json_op {
	const char *name;
	void (*fn)(struct api_call *call, const cJSON *in);
};

static void ssm_json(struct api_call *call);

static const struct api_route routes[] = {
	/* EC2 Instance Connect (fakeeic.h); its Query rows come before any generic EC2 row. */
	FAKEEIC_ROUTES,
	FAKECREDS_ROUTES, /* STS, SSO portal, IMDS, ECS (fakecreds.h) */
	{ "POST", "/", "X-Amz-Target", "AmazonSSM.", "ssm", ssm_json, NULL },
	/* EC2 Query (DescribeInstances) over the --inventory (inventory.h). */
	{ "POST", "/", "Content-Type", "application/x-www-form-urlencoded", "ec2",
	  inventory_ec2_route, NULL },
};

/* ---- responses ---- */

static void reply_ct(struct api_call *call, int status, const char *ctype, const char *detail,
		     const char *body);

static void
reply(struct api_call *call, int status, const char *detail, const char *body)
{
	reply_ct(call, status, JSON11_TYPE, detail, body);
}

static void
reply_ct(struct api_call *call, int status, const char *ctype, const char *detail,
	 const char *body)
{
	char hdr[192], rid[UUID_STR_LEN + 1], date[64];
	time_t now = time(NULL) + call->r->clock_skew;
	struct tm tm;
	uint8_t id[16];
	const char *reason = status == 200 ? "OK" : status == 429 ? "Too Many Requests"
		: status == 404 ? "Not Found" : status == 500 ? "Internal Server Error" : "Bad Request";

	if (call->replied)
		return;
	call->replied = 1;
	if (uuid_v4(id) < 0)
		memset(id, 0x11, sizeof(id));
	uuid_format(id, rid);
	/* Date follows the (possibly --clock-skew'ed) server clock, as clients
	 * correct their signing time from it. */
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	snprintf(hdr, sizeof(hdr), "x-amzn-RequestId: %s\r\nDate: %s\r\n", rid, date);
	state_append(call->r->state_dir, "api.log", "%s %d %s", call->op, status, detail);
	log_verbose(call->r->lg, "api: %s %d %s", call->op, status, detail);
	call->write_rc = wss_write_response(call->c, status, reason, ctype, hdr, body,
					    strlen(body), call->keep_alive, call->e);
}

/*
 * Answers an AWS JSON error. Framework errors carry "message", modelled
 * SSM exceptions "Message", as the service does; clients must take both.
 */
static void
reply_error(struct api_call *call, int status, const char *type, const char *msgkey,
	    const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void
reply_error(struct api_call *call, int status, const char *type, const char *msgkey,
	    const char *fmt, ...)
{
	char msg[1024];
	const char *shortname = strrchr(type, '#');
	cJSON *j = cJSON_CreateObject();
	char *body = NULL;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (j != NULL && cJSON_AddStringToObject(j, "__type", type) != NULL &&
	    (msgkey == NULL || cJSON_AddStringToObject(j, msgkey, msg) != NULL))
		body = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	reply(call, status, shortname ? shortname + 1 : type,
	      body ? body : "{\"__type\":\"InternalServerError\"}");
	cJSON_free(body);
}

/* Answers 200 with j as the body (j is consumed). */
static void
reply_json(struct api_call *call, cJSON *j, const char *detail)
{
	char *body = j ? cJSON_PrintUnformatted(j) : NULL;

	cJSON_Delete(j);
	if (body == NULL) {
		reply_error(call, 500, "InternalServerError", "message", "out of memory");
		return;
	}
	reply(call, 200, detail, body);
	cJSON_free(body);
}

/* ---- authentication ---- */

/* Verifies the SigV4 signature; answers the AWS error and returns nonzero on failure. */
static int
check_signature(struct api_call *call, const char *service)
{
	const struct wss_request *req = call->req;
	struct sigv4_header hs[WSS_MAX_HEADERS];
	struct sigv4_request sr;
	struct sigv4_auth a;
	struct err e;
	const char *auth = wss_header(req, "Authorization");
	const char *date = wss_header(req, "X-Amz-Date");
	time_t now = time(NULL) + call->r->clock_skew, t;
	char ak[128], sk[256];
	int rc;

	err_clear(&e);
	if (auth == NULL) {
		reply_error(call, 400, "MissingAuthenticationTokenException", "message",
			    "Missing Authentication Token");
		return 1;
	}
	memset(&a, 0, sizeof(a));
	if (sigv4_parse_authorization(auth, &a, &e) < 0) {
		reply_error(call, 400, "IncompleteSignatureException", "message",
			    "Authorization header requires 'Credential', 'Signature' and "
			    "'SignedHeaders' parameters (%s)", e.msg);
		return 1;
	}
	/* --access-key, or a key one of the credential services issued. */
	snprintf(ak, sizeof(ak), "%s", a.access_key);
	rc = fakecreds_secret(call->r, ak, sk, sizeof(sk)) != 0;
	/* One server answers for --region and every region of the inventory:
	 * the credential scope picks which, and the signature must match it. */
	snprintf(call->region, sizeof(call->region), "%s",
		 a.region != NULL && inventory_has_region(call->r->inv, a.region) ? a.region
										   : call->r->region);
	sigv4_auth_free(&a);
	if (rc) {
		reply_error(call, 400, "UnrecognizedClientException", "message",
			    "The security token included in the request is invalid.");
		return 1;
	}
	if (date == NULL || sigv4_parse_amz_date(date, &t) < 0) {
		reply_error(call, 400, "IncompleteSignatureException", "message",
			    "Authorization header requires existence of either a 'X-Amz-Date' or "
			    "a 'Date' header.");
		return 1;
	}
	if (t < now - SIGV4_MAX_SKEW || t > now + SIGV4_MAX_SKEW) {
		char nowstr[SIGV4_AMZ_DATE_LEN + 1];
		sigv4_amz_date(now, nowstr);
		reply_error(call, 400, "InvalidSignatureException", "message",
			    "Signature expired: %s is now earlier than %s (%s - 15 min.)", date,
			    nowstr, nowstr);
		return 1;
	}
	for (size_t i = 0; i < req->nheaders; i++) {
		hs[i].name = req->headers[i].name;
		hs[i].value = req->headers[i].value;
	}
	memset(&sr, 0, sizeof(sr));
	sr.method = req->method;
	sr.path = req->path;
	sr.query = req->query;
	sr.headers = hs;
	sr.nheaders = req->nheaders;
	sr.body = req->body;
	sr.body_len = req->body_len;
	rc = sigv4_verify(&sr, ak, sk, call->region, service, now, &e);
	if (rc == E_NOMEM) {
		reply_error(call, 500, "InternalServerError", "message", "out of memory");
		return 1;
	}
	if (rc < 0) {
		log_verbose(call->r->lg, "api: %s: signature rejected: %s", call->op, e.msg);
		reply_error(call, 400, "InvalidSignatureException", "message", "%s", SIG_MISMATCH_MSG);
		return 1;
	}
	if (strcmp(ak, call->r->access_key) != 0) /* tests check which provider signed */
		state_append(call->r->state_dir, "api.log", "SignedBy %s %s", ak, call->op);
	return 0;
}

/* ---- helpers for JSON input ---- */

/*
 * Checks that in is an object whose members are all named in allowed
 * (NULL-terminated); answers a validation error and returns nonzero if not.
 */
static int
only_members(struct api_call *call, const cJSON *in, const char *const *allowed)
{
	const cJSON *m;

	cJSON_ArrayForEach(m, in) {
		int ok = 0;
		for (const char *const *a = allowed; *a; a++)
			if (m->string != NULL && strcmp(m->string, *a) == 0)
				ok = 1;
		if (!ok) {
			reply_error(call, 400, "SerializationException", "Message",
				    "Unexpected field '%s'", m->string ? m->string : "");
			return 1;
		}
	}
	return 0;
}

/* Returns the string member name, or NULL after answering a validation error. */
static const char *
need_string(struct api_call *call, const cJSON *in, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, name);

	if (v == NULL || cJSON_IsNull(v)) {
		reply_error(call, 400, "ValidationException", "message",
			    "1 validation error detected: Value null at '%c%s' failed to satisfy "
			    "constraint: Member must not be null", name[0] | 0x20, name + 1);
		return NULL;
	}
	if (!cJSON_IsString(v)) {
		reply_error(call, 400, "SerializationException", "Message",
			    "Expected a string for '%s'", name);
		return NULL;
	}
	return v->valuestring;
}

static int
is_hex_lower(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* i-/mi- followed by 8 or 17 lower-case hex digits. */
static int
target_valid(const char *t)
{
	size_t pre = strncmp(t, "i-", 2) == 0 ? 2 : strncmp(t, "mi-", 3) == 0 ? 3 : 0;
	size_t n = strlen(t);

	if (pre == 0 || (n - pre != 8 && n - pre != 17))
		return 0;
	return is_hex_lower(t + pre, n - pre);
}

/* "1".."65535" without sign, blanks or leading zeros; returns the port or 0. */
static unsigned
port_value(const char *s)
{
	unsigned v = 0;
	size_t n = strlen(s);

	if (n == 0 || n > 5 || s[0] == '0')
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	return v <= 65535 ? v : 0;
}

int
api_stream_url(const struct region *r, const char *id, char *out, size_t size)
{
	int n = snprintf(out, size, "%s://127.0.0.1:%u/v1/data-channel/%s?role=publish_subscribe",
			 r->plain ? "ws" : "wss",
			 (unsigned)(r->f.public_port ? r->f.public_port : r->port), id);

	return n < 0 || (size_t)n >= size ? E_RANGE : 0;
}

/* Adds SessionId, TokenValue and StreamUrl to j; returns nonzero on failure. */
static int
add_session_answer(const struct region *r, cJSON *j, const char *id, const char *token)
{
	char url[512];

	if (api_stream_url(r, id, url, sizeof(url)) < 0)
		return 1;
	return cJSON_AddStringToObject(j, "SessionId", id) == NULL ||
	       cJSON_AddStringToObject(j, "TokenValue", token) == NULL ||
	       cJSON_AddStringToObject(j, "StreamUrl", url) == NULL;
}

/* ---- SSM operations ---- */

static void
ssm_start_session(struct api_call *call, const cJSON *in)
{
	static const char *const allowed[] = { "Target", "DocumentName", "Parameters", "Reason",
					       NULL };
	const struct region *r = call->r;
	const cJSON *params, *m, *pn, *p0;
	const char *target, *doc;
	char token[SESSION_TOKEN_LEN + 1], detail[256];
	struct session s;
	struct err e;
	unsigned port;
	cJSON *out;

	if (only_members(call, in, allowed))
		return;
	if ((target = need_string(call, in, "Target")) == NULL)
		return;
	if (!target_valid(target)) {
		reply_error(call, 400, "ValidationException", "message",
			    "1 validation error detected: Value '%s' at 'target' failed to satisfy "
			    "constraint: Member must satisfy regular expression pattern: "
			    "^(i|mi)-[0-9a-f]{8}([0-9a-f]{9})?$", target);
		return;
	}
	if ((doc = need_string(call, in, "DocumentName")) == NULL)
		return;
	if (strcmp(doc, "AWS-StartSSHSession") != 0) {
		reply_error(call, 400, "InvalidDocument", "Message",
			    "Document with name %s does not exist.", doc);
		return;
	}
	params = cJSON_GetObjectItemCaseSensitive(in, "Parameters");
	if (!cJSON_IsObject(params)) {
		reply_error(call, 400, "InvalidParameters", "Message",
			    "Parameters must be an object holding portNumber");
		return;
	}
	cJSON_ArrayForEach(m, params) {
		if (m->string == NULL || strcmp(m->string, "portNumber") != 0) {
			reply_error(call, 400, "InvalidParameters", "Message",
				    "Parameter \"%s\" is not allowed by the document",
				    m->string ? m->string : "");
			return;
		}
	}
	pn = cJSON_GetObjectItemCaseSensitive(params, "portNumber");
	p0 = cJSON_IsArray(pn) && cJSON_GetArraySize(pn) == 1 ? cJSON_GetArrayItem(pn, 0) : NULL;
	port = cJSON_IsString(p0) ? port_value(p0->valuestring) : 0;
	if (port == 0) {
		reply_error(call, 400, "InvalidParameters", "Message",
			    "portNumber must be a list of one string holding 1..65535");
		return;
	}
	m = cJSON_GetObjectItemCaseSensitive(in, "Reason");
	if (m != NULL && !cJSON_IsString(m)) {
		reply_error(call, 400, "SerializationException", "Message",
			    "Expected a string for 'Reason'");
		return;
	}
	if (region_target_offline(r, target) || !inventory_reachable(r->inv, call->region, target)) {
		reply_error(call, 400, "TargetNotConnected", "Message", "%s is not connected.",
			    target);
		return;
	}
	memset(&s, 0, sizeof(s));
	if (session_new_id(s.id) < 0) {
		reply_error(call, 500, "InternalServerError", "Message", "no randomness");
		return;
	}
	snprintf(s.target, sizeof(s.target), "%s", target);
	s.port = (uint16_t)port;
	s.generation = 0;
	s.state = SESSION_ACTIVE;
	err_clear(&e);
	if (session_store(r, &s, &e) < 0) {
		log_error(r->lg, "api: %s", e.msg);
		reply_error(call, 500, "InternalServerError", "Message", "cannot record session");
		return;
	}
	state_stats_add(r->state_dir, "sessions_started", 1);
	session_token(r, s.id, s.generation, token);
	state_append(r->state_dir, "secrets", "%s", token); /* for the no-leak tests */
	out = cJSON_CreateObject();
	if (out == NULL || add_session_answer(r, out, s.id, token)) {
		cJSON_Delete(out);
		reply_error(call, 500, "InternalServerError", "Message", "out of memory");
		return;
	}
	snprintf(detail, sizeof(detail), "%s %s", target, s.id);
	reply_json(call, out, detail);
}

/* Reads the SessionId member; answers an error and returns NULL if bad. */
static const char *
session_id_arg(struct api_call *call, const cJSON *in)
{
	static const char *const allowed[] = { "SessionId", NULL };
	const char *id;

	if (only_members(call, in, allowed))
		return NULL;
	if ((id = need_string(call, in, "SessionId")) == NULL)
		return NULL;
	if (!session_id_valid(id)) {
		reply_error(call, 400, "ValidationException", "message",
			    "1 validation error detected: Value '%s' at 'sessionId' failed to "
			    "satisfy constraint: Member must satisfy regular expression pattern: "
			    "^(a-z0-9-_)+$", id);
		return NULL;
	}
	return id;
}

static void
ssm_resume_session(struct api_call *call, const cJSON *in)
{
	const struct region *r = call->r;
	char token[SESSION_TOKEN_LEN + 1], detail[256];
	struct session s;
	struct err e;
	const char *id;
	cJSON *out;
	int lk, rc;

	if ((id = session_id_arg(call, in)) == NULL)
		return;
	if (r->f.throttle_resume > 0 && state_budget_take(r->state_dir, "throttle-resume") == 1) {
		reply_error(call, 400, "ThrottlingException", "message", "Rate exceeded");
		return;
	}
	err_clear(&e);
	lk = session_lock(r, id);
	rc = lk < 0 ? lk : session_load(r, id, &s, &e);
	if (rc == E_NOTFOUND || (rc == 0 && s.state != SESSION_ACTIVE)) {
		session_unlock(lk);
		reply_error(call, 400, "DoesNotExistException", "Message",
			    "Session %s does not exist or has ended.", id);
		return;
	}
	if (rc < 0) {
		session_unlock(lk);
		reply_error(call, 500, "InternalServerError", "Message", "cannot read session");
		return;
	}
	if (r->f.resume_no_token) {
		session_unlock(lk);
		token[0] = '\0';
	} else {
		s.generation++;
		rc = session_store(r, &s, &e);
		session_unlock(lk);
		if (rc < 0) {
			reply_error(call, 500, "InternalServerError", "Message",
				    "cannot record session");
			return;
		}
		session_token(r, s.id, s.generation, token);
		state_append(r->state_dir, "secrets", "%s", token);
	}
	state_stats_add(r->state_dir, "resumes", 1);
	out = cJSON_CreateObject();
	if (out == NULL || add_session_answer(r, out, s.id, token)) {
		cJSON_Delete(out);
		reply_error(call, 500, "InternalServerError", "Message", "out of memory");
		return;
	}
	snprintf(detail, sizeof(detail), "%s generation %u%s", s.id, s.generation,
		 token[0] ? "" : " no-token");
	reply_json(call, out, detail);
}

static void
ssm_terminate_session(struct api_call *call, const cJSON *in)
{
	const struct region *r = call->r;
	struct session s;
	struct err e;
	const char *id;
	cJSON *out;
	int lk, rc;

	if ((id = session_id_arg(call, in)) == NULL)
		return;
	err_clear(&e);
	lk = session_lock(r, id);
	rc = lk < 0 ? lk : session_load(r, id, &s, &e);
	if (rc == E_NOTFOUND) {
		session_unlock(lk);
		reply_error(call, 400, "DoesNotExistException", "Message",
			    "Session %s does not exist.", id);
		return;
	}
	if (rc == 0 && s.state == SESSION_ACTIVE) {
		/* The session's agent watches its record and closes the channel. */
		s.state = SESSION_TERMINATED;
		rc = session_store(r, &s, &e);
	}
	session_unlock(lk);
	if (rc < 0) {
		reply_error(call, 500, "InternalServerError", "Message", "cannot update session");
		return;
	}
	state_stats_add(r->state_dir, "terminates", 1);
	out = cJSON_CreateObject();
	if (out == NULL || cJSON_AddStringToObject(out, "SessionId", id) == NULL) {
		cJSON_Delete(out);
		reply_error(call, 500, "InternalServerError", "Message", "out of memory");
		return;
	}
	reply_json(call, out, id);
}

static const struct json_op ssm_ops[] = {
	{ "StartSession", ssm_start_session },
	{ "ResumeSession", ssm_resume_session },
	{ "TerminateSession", ssm_terminate_session },
	{ "DescribeInstanceInformation", inventory_ssm_op },
};

/* Runs a JSON 1.1 operation from ops on the request body. */
static void
json11_dispatch(struct api_call *call, const struct json_op *ops, size_t nops)
{
	const struct wss_request *req = call->req;
	const char *ct = wss_header(req, "Content-Type");
	cJSON *in;

	if (ct == NULL || strncasecmp(ct, JSON11_TYPE, strlen(JSON11_TYPE)) != 0) {
		reply_error(call, 400, "com.amazon.coral.service#SerializationException", "Message",
			    "Content-Type must be %s", JSON11_TYPE);
		return;
	}
	for (size_t i = 0; i < nops; i++) {
		if (strcmp(ops[i].name, call->op) != 0)
			continue;
		in = req->body ? cJSON_ParseWithLength((const char *)req->body, req->body_len)
			       : NULL;
		if (!cJSON_IsObject(in)) {
			cJSON_Delete(in);
			reply_error(call, 400, "com.amazon.coral.service#SerializationException",
				    "Message", "The request body is not a JSON object.");
			return;
		}
		ops[i].fn(call, in);
		cJSON_Delete(in);
		return;
	}
	reply_error(call, 400, "com.amazon.coral.service#UnknownOperationException", NULL, "-");
}

static void
ssm_json(struct api_call *call)
{
	json11_dispatch(call, ssm_ops, sizeof(ssm_ops) / sizeof(ssm_ops[0]));
}

/* ---- routing ---- */

static const struct api_route *
find_route(const struct region *r, const struct wss_request *req)
{
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const struct api_route *rt = &routes[i];
		const char *h;
		if (strcmp(rt->method, req->method) != 0 || strcmp(rt->path, req->path) != 0)
			continue;
		if (rt->header != NULL) {
			h = wss_header(req, rt->header);
			if (h == NULL || strncmp(h, rt->prefix, strlen(rt->prefix)) != 0)
				continue;
		}
		if (rt->accept != NULL && !rt->accept(r, req))
			continue;
		return rt;
	}
	return NULL;
}

/* Names the call for the log: the part of X-Amz-Target after the dot, or Action=. */
static void
name_call(struct api_call *call, const struct api_route *rt)
{
	const char *t = wss_header(call->req, "X-Amz-Target");
	const char *dot = t ? strchr(t, '.') : NULL;
	size_t n;

	snprintf(call->op, sizeof(call->op), "%s", "-");
	if (rt != NULL && dot != NULL && dot[1] != '\0') {
		n = strcspn(dot + 1, " \t");
		if (n >= sizeof(call->op))
			n = sizeof(call->op) - 1;
		memcpy(call->op, dot + 1, n);
		call->op[n] = '\0';
	} else if (rt != NULL && call->req->body != NULL &&
		   strncmp((const char *)call->req->body, "Action=", 7) == 0) {
		/* Query protocol: the Action names the call (before the signature check). */
		n = strcspn((const char *)call->req->body + 7, "&");
		if (n >= sizeof(call->op))
			n = sizeof(call->op) - 1;
		memcpy(call->op, call->req->body + 7, n);
		call->op[n] = '\0';
	}
}

int
api_handle(const struct region *r, struct wss_conn *c, const struct wss_request *req,
	   struct err *e)
{
	const struct api_route *rt = find_route(r, req);
	struct api_call call;
	const char *tok;

	memset(&call, 0, sizeof(call));
	call.r = r;
	call.c = c;
	call.req = req;
	call.keep_alive = req->keep_alive;
	call.e = e;
	name_call(&call, rt);
	/* --api-down-after: the endpoint stops answering (connection closed). */
	if (r->f.api_down_after > 0 && state_budget_take(r->state_dir, "api-up") != 1 &&
	    (r->f.api_down_count == 0 || state_budget_take(r->state_dir, "api-down") == 1)) {
		state_append(r->state_dir, "api.log", "%s - fault: endpoint down", call.op);
		state_stats_add(r->state_dir, "fault_api_down", 1);
		return err_set(e, E_CLOSED, "fault: endpoint down");
	}
	if (rt == NULL) {
		if (strcmp(req->method, "POST") == 0 && strcmp(req->path, "/") == 0)
			reply_error(&call, 400, "com.amazon.coral.service#UnknownOperationException",
				    NULL, "-");
		else
			reply_error(&call, 404, "NotFound", "message", "no such endpoint: %s %s",
				    req->method, req->path);
		return call.write_rc;
	}
	if (rt->service != NULL && check_signature(&call, rt->service))
		return call.write_rc;
	tok = wss_header(req, "X-Amz-Security-Token");
	if (tok != NULL) /* recorded on purpose: tests check what the client sent */
		state_append(r->state_dir, "security-tokens", "%s %s", call.op, tok);
	if (r->f.throttle > 0 && state_budget_take(r->state_dir, "throttle") == 1) {
		reply_error(&call, r->f.throttle_status, "ThrottlingException", "message",
			    "Rate exceeded");
		return call.write_rc;
	}
	if (hostile_api(r, &call)) /* --hostile answers (hostile.h) */
		return call.write_rc;
	rt->fn(&call);
	if (!call.replied)
		reply_error(&call, 500, "InternalServerError", "message", "no answer");
	return call.write_rc;
}

/* ---- for services in other files (api.h) ---- */

const struct region *
api_call_region(const struct api_call *call)
{
	return call->r;
}

const char *
api_call_sign_region(const struct api_call *call)
{
	return call->region[0] ? call->region : call->r->region;
}

const struct wss_request *
api_call_request(const struct api_call *call)
{
	return call->req;
}

const char *
api_call_op(const struct api_call *call)
{
	return call->op;
}

void
api_call_set_op(struct api_call *call, const char *op)
{
	snprintf(call->op, sizeof(call->op), "%s", op);
}

void
api_reply_body(struct api_call *call, int status, const char *content_type, const char *detail,
	       const char *body)
{
	reply_ct(call, status, content_type, detail, body);
}

void
api_reply_json(struct api_call *call, cJSON *j, const char *detail)
{
	reply_json(call, j, detail);
}

void
api_reply_error(struct api_call *call, int status, const char *type, const char *msgkey,
		const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	reply_error(call, status, type, msgkey, "%s", msg);
}

cJSON *
api_json_body(struct api_call *call)
{
	const char *ct = wss_header(call->req, "Content-Type");
	cJSON *in;

	if (ct == NULL || strncasecmp(ct, JSON11_TYPE, strlen(JSON11_TYPE)) != 0) {
		reply_error(call, 400, "com.amazon.coral.service#SerializationException", "Message",
			    "Content-Type must be %s", JSON11_TYPE);
		return NULL;
	}
	in = call->req->body ? cJSON_ParseWithLength((const char *)call->req->body,
						     call->req->body_len) : NULL;
	if (!cJSON_IsObject(in)) {
		cJSON_Delete(in);
		reply_error(call, 400, "com.amazon.coral.service#SerializationException", "Message",
			    "The request body is not a JSON object.");
		return NULL;
	}
	return in;
}
