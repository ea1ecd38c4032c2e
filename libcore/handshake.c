/* handshake.c: handshake JSON payloads, built and parsed with cJSON. */
#include "handshake.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

enum hs_action_kind
hs_action_kind_of(const char *type)
{
	if (type == NULL)
		return HSA_UNKNOWN;
	if (strcmp(type, "SessionType") == 0)
		return HSA_SESSION_TYPE;
	if (strcmp(type, "KMSEncryption") == 0)
		return HSA_KMS;
	return HSA_UNKNOWN;
}

int
hs_copy_text(char *dst, size_t dsz, const char *src)
{
	size_t i;

	if (dsz == 0)
		return 1;
	if (src == NULL)
		src = "";
	for (i = 0; i + 1 < dsz && src[i] != '\0'; i++) {
		unsigned char c = (unsigned char)src[i];

		dst[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	dst[i] = '\0';
	return src[i] != '\0';
}

cJSON *
hs_json_object(const uint8_t *p, size_t n, const char *what, struct err *e)
{
	const char *end = NULL, *lim;
	cJSON *root;

	if (p == NULL || n == 0) {
		err_set(e, E_PROTO, "%s: empty payload", what);
		return NULL;
	}
	root = cJSON_ParseWithLengthOpts((const char *)p, n, &end, 0);
	if (root == NULL) {
		err_set(e, E_PROTO, "%s: payload is not json", what);
		return NULL;
	}
	lim = (const char *)p + n;
	while (end != NULL && end < lim && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
		end++;
	if (end != lim || !cJSON_IsObject(root)) {
		cJSON_Delete(root);
		err_set(e, E_PROTO, "%s: payload is not one json object", what);
		return NULL;
	}
	return root;
}

/* Copies an optional string member (keys match case-insensitively, as in
 * the peers' Go decoders); E_PROTO if present but not a string. */
static int
get_str(const cJSON *obj, const char *key, char *dst, size_t dsz, const char *what,
	struct err *e)
{
	const cJSON *it = cJSON_GetObjectItem(obj, key);

	if (dsz > 0)
		dst[0] = '\0';
	if (it == NULL || cJSON_IsNull(it))
		return 0;
	if (!cJSON_IsString(it) || it->valuestring == NULL)
		return err_set(e, E_PROTO, "%s: %s is not a string", what, key);
	hs_copy_text(dst, dsz, it->valuestring);
	return 0;
}

/* Appends the unformatted text of root to out; consumes nothing. */
static int
put_json(struct buf *out, const cJSON *root, const char *what, struct err *e)
{
	char *s = cJSON_PrintUnformatted(root);
	int r;

	if (s == NULL)
		return err_set(e, E_NOMEM, "%s: cannot print json", what);
	r = buf_put(out, s, strlen(s));
	cJSON_free(s);
	if (r != 0)
		return err_set(e, r, "%s: no room for the payload", what);
	return 0;
}

int
hs_request_build(struct buf *out, const char *agent_version, const char *session_type,
		 const char *properties_json, const char *extra_actions, struct err *e)
{
	cJSON *root = NULL, *acts, *act, *params, *props = NULL, *extra = NULL;
	int r = E_NOMEM;

	props = cJSON_Parse(properties_json ? properties_json : "{}");
	if (props == NULL || !cJSON_IsObject(props)) {
		r = err_set(e, E_CONFIG, "handshake request: session properties are not a json object");
		goto out;
	}
	if (extra_actions != NULL && extra_actions[0] != '\0') {
		/* Wrapped in brackets so "{..},{..}" reads as one array. */
		size_t n = strlen(extra_actions);
		char *tmp = cJSON_malloc(n + 3);

		if (tmp == NULL)
			goto nomem;
		tmp[0] = '[';
		memcpy(tmp + 1, extra_actions, n);
		tmp[n + 1] = ']';
		tmp[n + 2] = '\0';
		extra = cJSON_Parse(tmp);
		cJSON_free(tmp);
		if (extra == NULL || !cJSON_IsArray(extra)) {
			r = err_set(e, E_CONFIG, "handshake request: extra actions are not json objects");
			goto out;
		}
	}
	if ((root = cJSON_CreateObject()) == NULL ||
	    cJSON_AddStringToObject(root, "AgentVersion", agent_version ? agent_version : "") == NULL ||
	    (acts = cJSON_AddArrayToObject(root, "RequestedClientActions")) == NULL ||
	    (act = cJSON_CreateObject()) == NULL)
		goto nomem;
	cJSON_AddItemToArray(acts, act);
	if (cJSON_AddStringToObject(act, "ActionType", "SessionType") == NULL ||
	    (params = cJSON_AddObjectToObject(act, "ActionParameters")) == NULL ||
	    cJSON_AddStringToObject(params, "SessionType", session_type ? session_type : "Port") == NULL)
		goto nomem;
	cJSON_AddItemToObject(params, "Properties", props);
	props = NULL;
	while (extra != NULL && cJSON_GetArraySize(extra) > 0)
		cJSON_AddItemToArray(acts, cJSON_DetachItemFromArray(extra, 0));
	r = put_json(out, root, "handshake request", e);
	goto out;
nomem:
	r = err_set(e, E_NOMEM, "handshake request: out of memory");
out:
	cJSON_Delete(root);
	cJSON_Delete(props);
	cJSON_Delete(extra);
	return r;
}

int
hs_request_parse(const uint8_t *p, size_t n, struct hs_request *r, struct err *e)
{
	static const char what[] = "handshake request";
	const cJSON *acts, *act;
	cJSON *root;
	int rc = 0;

	memset(r, 0, sizeof(*r));
	if ((root = hs_json_object(p, n, what, e)) == NULL)
		return E_PROTO;
	if ((rc = get_str(root, "AgentVersion", r->agent_version, sizeof(r->agent_version), what, e)) != 0)
		goto out;
	acts = cJSON_GetObjectItem(root, "RequestedClientActions");
	if (!cJSON_IsArray(acts)) {
		rc = err_set(e, E_PROTO, "%s: RequestedClientActions is not a list", what);
		goto out;
	}
	cJSON_ArrayForEach(act, acts) {
		struct hs_req_action *a;
		const cJSON *t, *params;

		if (r->n_actions == HS_MAX_ACTIONS) {
			rc = err_set(e, E_PROTO, "%s: more than %d requested actions", what, HS_MAX_ACTIONS);
			goto out;
		}
		if (!cJSON_IsObject(act)) {
			rc = err_set(e, E_PROTO, "%s: a requested action is not an object", what);
			goto out;
		}
		a = &r->actions[r->n_actions++];
		t = cJSON_GetObjectItem(act, "ActionType");
		if (!cJSON_IsString(t) || t->valuestring == NULL) {
			rc = err_set(e, E_PROTO, "%s: an action has no ActionType", what);
			goto out;
		}
		/* Classified before the copy so a cut name never matches. */
		a->kind = hs_action_kind_of(t->valuestring);
		hs_copy_text(a->type, sizeof(a->type), t->valuestring);
		if (a->kind != HSA_SESSION_TYPE)
			continue;
		params = cJSON_GetObjectItem(act, "ActionParameters");
		if (cJSON_IsObject(params) &&
		    (rc = get_str(params, "SessionType", a->session_type, sizeof(a->session_type),
		    what, e)) != 0)
			goto out;
	}
out:
	cJSON_Delete(root);
	return rc;
}

int
hs_response_build(struct buf *out, const char *client_version, const struct hs_result *res,
		  size_t n, struct err *e)
{
	cJSON *root, *acts, *errs = NULL;
	int r;

	if ((root = cJSON_CreateObject()) == NULL ||
	    cJSON_AddStringToObject(root, "ClientVersion", client_version ? client_version : "") == NULL ||
	    (acts = cJSON_AddArrayToObject(root, "ProcessedClientActions")) == NULL)
		goto nomem;
	for (size_t i = 0; i < n; i++) {
		cJSON *a = cJSON_CreateObject();
		const char *err = res[i].error ? res[i].error : "";

		if (a == NULL)
			goto nomem;
		cJSON_AddItemToArray(acts, a);
		if (cJSON_AddStringToObject(a, "ActionType", res[i].type ? res[i].type : "") == NULL ||
		    cJSON_AddNumberToObject(a, "ActionStatus", res[i].status) == NULL ||
		    cJSON_AddNullToObject(a, "ActionResult") == NULL ||
		    cJSON_AddStringToObject(a, "Error", err) == NULL)
			goto nomem;
		if (err[0] != '\0') {
			if (errs == NULL && (errs = cJSON_CreateArray()) == NULL)
				goto nomem;
			cJSON *s = cJSON_CreateString(err);
			if (s == NULL)
				goto nomem;
			cJSON_AddItemToArray(errs, s);
		}
	}
	if (errs != NULL) {
		cJSON_AddItemToObject(root, "Errors", errs);
		errs = NULL;
	} else if (cJSON_AddNullToObject(root, "Errors") == NULL) {
		goto nomem;
	}
	r = put_json(out, root, "handshake response", e);
	cJSON_Delete(root);
	return r;
nomem:
	cJSON_Delete(root);
	cJSON_Delete(errs);
	return err_set(e, E_NOMEM, "handshake response: out of memory");
}

int
hs_response_parse(const uint8_t *p, size_t n, struct hs_response *r, struct err *e)
{
	static const char what[] = "handshake response";
	const cJSON *acts, *act;
	cJSON *root;
	int rc = 0;

	memset(r, 0, sizeof(*r));
	if ((root = hs_json_object(p, n, what, e)) == NULL)
		return E_PROTO;
	if ((rc = get_str(root, "ClientVersion", r->client_version, sizeof(r->client_version),
	    what, e)) != 0)
		goto out;
	acts = cJSON_GetObjectItem(root, "ProcessedClientActions");
	if (!cJSON_IsArray(acts)) {
		rc = err_set(e, E_PROTO, "%s: ProcessedClientActions is not a list", what);
		goto out;
	}
	cJSON_ArrayForEach(act, acts) {
		struct hs_resp_action *a;
		const cJSON *st;

		if (r->n_actions == HS_MAX_ACTIONS) {
			rc = err_set(e, E_PROTO, "%s: more than %d processed actions", what, HS_MAX_ACTIONS);
			goto out;
		}
		if (!cJSON_IsObject(act)) {
			rc = err_set(e, E_PROTO, "%s: a processed action is not an object", what);
			goto out;
		}
		a = &r->actions[r->n_actions++];
		if ((rc = get_str(act, "ActionType", a->type, sizeof(a->type), what, e)) != 0 ||
		    (rc = get_str(act, "Error", a->error, sizeof(a->error), what, e)) != 0)
			goto out;
		st = cJSON_GetObjectItem(act, "ActionStatus");
		if (!cJSON_IsNumber(st) || !(st->valuedouble >= 0 && st->valuedouble <= 1000)) {
			rc = err_set(e, E_PROTO, "%s: action %s has no valid ActionStatus", what, a->type);
			goto out;
		}
		a->status = (int)st->valuedouble;
	}
out:
	cJSON_Delete(root);
	return rc;
}

int
hs_complete_build(struct buf *out, int64_t ns, const char *customer_message, struct err *e)
{
	char num[32];
	cJSON *root;
	int r;

	/* Raw text: a double would print large integers in exponent form,
	 * which the agent's Go decoder refuses for a Duration. */
	snprintf(num, sizeof(num), "%" PRId64, ns < 0 ? 0 : ns);
	if ((root = cJSON_CreateObject()) == NULL ||
	    cJSON_AddRawToObject(root, "HandshakeTimeToComplete", num) == NULL ||
	    cJSON_AddStringToObject(root, "CustomerMessage",
	    customer_message ? customer_message : "") == NULL) {
		cJSON_Delete(root);
		return err_set(e, E_NOMEM, "handshake complete: out of memory");
	}
	r = put_json(out, root, "handshake complete", e);
	cJSON_Delete(root);
	return r;
}

int
hs_complete_parse(const uint8_t *p, size_t n, int64_t *ns, char *msg, size_t msgsz, struct err *e)
{
	static const char what[] = "handshake complete";
	const cJSON *t;
	cJSON *root;
	int rc = 0;

	*ns = 0;
	if (msgsz > 0)
		msg[0] = '\0';
	if ((root = hs_json_object(p, n, what, e)) == NULL)
		return E_PROTO;
	t = cJSON_GetObjectItem(root, "HandshakeTimeToComplete");
	if (cJSON_IsNumber(t) && t->valuedouble >= 0 && t->valuedouble < 9.2e18)
		*ns = (int64_t)t->valuedouble;
	else if (t != NULL && !cJSON_IsNull(t))
		rc = err_set(e, E_PROTO, "%s: HandshakeTimeToComplete is not a duration", what);
	if (rc == 0)
		rc = get_str(root, "CustomerMessage", msg, msgsz, what, e);
	cJSON_Delete(root);
	return rc;
}
