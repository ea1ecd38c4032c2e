/* inventory.c: the fake region's instances behind EC2 and SSM describe calls. */
#include "inventory.h"
#include "api.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>

#define EC2_NS "http://ec2.amazonaws.com/doc/2016-11-15/"
#define MAX_PARAMS 64
#define MAX_FILTERS 10
#define MAX_VALUES 20
#define TOKEN_PREFIX "fake-page-"

struct inventory {
	cJSON *root;
	const cJSON *list;  /* the "instances" array */
	long page_size;     /* 0: no cap */
};

static const char *
jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : "";
}

int
inventory_load(struct inventory **out, const char *path, struct err *e)
{
	struct inventory *inv;
	const cJSON *it, *ps;
	FILE *f = fopen(path, "rb");
	char *text;
	long n;

	*out = NULL;
	if (f == NULL)
		return err_set(e, E_IO, "cannot open inventory %s", path);
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || n > 16 * 1024 * 1024 ||
	    fseek(f, 0, SEEK_SET) != 0 || (text = malloc((size_t)n + 1)) == NULL) {
		fclose(f);
		return err_set(e, E_IO, "cannot read inventory %s", path);
	}
	if (fread(text, 1, (size_t)n, f) != (size_t)n) {
		fclose(f);
		free(text);
		return err_set(e, E_IO, "cannot read inventory %s", path);
	}
	fclose(f);
	if ((inv = calloc(1, sizeof(*inv))) == NULL) {
		free(text);
		return err_set(e, E_NOMEM, "out of memory");
	}
	inv->root = cJSON_ParseWithLength(text, (size_t)n);
	free(text);
	inv->list = cJSON_GetObjectItemCaseSensitive(inv->root, "instances");
	if (!cJSON_IsArray(inv->list)) {
		inventory_free(inv);
		return err_set(e, E_CONFIG, "inventory %s: no \"instances\" array", path);
	}
	cJSON_ArrayForEach(it, inv->list) {
		if (!cJSON_IsObject(it) || jstr(it, "region")[0] == '\0' || jstr(it, "id")[0] == '\0' ||
		    jstr(it, "state")[0] == '\0') {
			inventory_free(inv);
			return err_set(e, E_CONFIG, "inventory %s: every instance needs region, id, state",
			               path);
		}
	}
	ps = cJSON_GetObjectItemCaseSensitive(inv->root, "page_size");
	inv->page_size = cJSON_IsNumber(ps) && ps->valuedouble >= 1 ? (long)ps->valuedouble : 0;
	*out = inv;
	return 0;
}

void
inventory_free(struct inventory *inv)
{
	if (inv == NULL)
		return;
	cJSON_Delete(inv->root);
	free(inv);
}

int
inventory_has_region(const struct inventory *inv, const char *region)
{
	const cJSON *it;

	if (inv == NULL)
		return 0;
	cJSON_ArrayForEach(it, inv->list)
		if (strcmp(jstr(it, "region"), region) == 0)
			return 1;
	return 0;
}

int
inventory_reachable(const struct inventory *inv, const char *region, const char *target)
{
	const cJSON *it;

	if (inv == NULL)
		return 1;
	cJSON_ArrayForEach(it, inv->list) {
		if (strcmp(jstr(it, "id"), target) != 0)
			continue;
		return strcmp(jstr(it, "region"), region) == 0 &&
		       strcmp(jstr(it, "state"), "running") == 0 &&
		       strcmp(jstr(it, "ping"), "Online") == 0;
	}
	return 1;
}

void
inv_answer_free(struct inv_answer *a)
{
	free(a->body);
	a->body = NULL;
}

/* ---- form parsing ---- */

struct form {
	char *buf;
	size_t n;
	char *name[MAX_PARAMS];
	char *value[MAX_PARAMS];
};

static int
hexval(int c)
{
	return isdigit(c) ? c - '0' : isxdigit(c) ? (tolower(c) - 'a' + 10) : -1;
}

/* Percent-decodes s in place ('+' is a space, as in forms); 0 or -1. */
static int
decode(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (*s == '+') {
			*o++ = ' ';
		} else if (*s == '%') {
			int h = hexval((unsigned char)s[1]), l = h < 0 ? -1 : hexval((unsigned char)s[2]);
			if (h < 0 || l < 0)
				return -1;
			*o++ = (char)(h * 16 + l);
			s += 2;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
	return 0;
}

static int
form_parse(struct form *f, const uint8_t *body, size_t len)
{
	char *p, *save = NULL;

	memset(f, 0, sizeof(*f));
	if ((f->buf = malloc(len + 1)) == NULL)
		return -1;
	memcpy(f->buf, body ? (const char *)body : "", len);
	f->buf[len] = '\0';
	for (p = strtok_r(f->buf, "&", &save); p != NULL; p = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(p, '=');
		if (f->n == MAX_PARAMS || eq == NULL)
			return -1;
		*eq = '\0';
		if (decode(p) < 0 || decode(eq + 1) < 0)
			return -1;
		f->name[f->n] = p;
		f->value[f->n++] = eq + 1;
	}
	return 0;
}

static const char *
form_get(const struct form *f, const char *name)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->name[i], name) == 0)
			return f->value[i];
	return NULL;
}

/* ---- EC2 ---- */

static void
ec2_error(struct inv_answer *a, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void
ec2_error(struct inv_answer *a, int status, const char *code, const char *fmt, ...)
{
	char msg[512];
	xmlDoc *doc = xmlNewDoc(BAD_CAST "1.0");
	xmlNode *root = xmlNewNode(NULL, BAD_CAST "Response"), *errs, *er;
	xmlChar *out = NULL;
	int n = 0;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	xmlDocSetRootElement(doc, root);
	errs = xmlNewChild(root, NULL, BAD_CAST "Errors", NULL);
	er = xmlNewChild(errs, NULL, BAD_CAST "Error", NULL);
	xmlNewTextChild(er, NULL, BAD_CAST "Code", BAD_CAST code);
	xmlNewTextChild(er, NULL, BAD_CAST "Message", BAD_CAST msg);
	xmlNewTextChild(root, NULL, BAD_CAST "RequestID", BAD_CAST "11111111-2222-3333-4444-555555555555");
	xmlDocDumpMemoryEnc(doc, &out, &n, "UTF-8");
	xmlFreeDoc(doc);
	a->status = status;
	a->body = out ? strdup((const char *)out) : NULL;
	xmlFree(out);
	snprintf(a->detail, sizeof(a->detail), "%s", code);
}

struct filter {
	const char *name;
	const char *values[MAX_VALUES];
	size_t nvalues;
};

static const char *
tag_value(const cJSON *it, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(it, "tags"),
	                                                  key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Returns 1 if the instance passes filter f (any of its values). */
static int
filter_ok(const cJSON *it, const struct filter *f)
{
	for (size_t i = 0; i < f->nvalues; i++) {
		const char *v = f->values[i], *have = NULL;
		if (strcmp(f->name, "instance-state-name") == 0)
			have = jstr(it, "state");
		else if (strcmp(f->name, "instance-id") == 0)
			have = jstr(it, "id");
		else if (strcmp(f->name, "private-ip-address") == 0)
			have = jstr(it, "private_ip");
		else if (strcmp(f->name, "ip-address") == 0)
			have = jstr(it, "public_ip");
		else if (strncmp(f->name, "tag:", 4) == 0)
			have = tag_value(it, f->name + 4);
		else if (strcmp(f->name, "tag-key") == 0)
			have = tag_value(it, v) ? v : NULL;
		if (have != NULL && strcmp(have, v) == 0)
			return 1;
	}
	return 0;
}

static int
filter_known(const char *name)
{
	static const char *const known[] = { "instance-state-name", "instance-id",
		"private-ip-address", "ip-address", "tag-key" };

	if (strncmp(name, "tag:", 4) == 0 && name[4] != '\0')
		return 1;
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(name, known[i]) == 0)
			return 1;
	return 0;
}

static void
add_instance_xml(xmlNode *set, const cJSON *it)
{
	static const struct { const char *name; int code; } states[] = {
		{ "pending", 0 }, { "running", 16 }, { "shutting-down", 32 }, { "terminated", 48 },
		{ "stopping", 64 }, { "stopped", 80 },
	};
	xmlNode *res = xmlNewChild(set, NULL, BAD_CAST "item", NULL), *is, *inst, *st, *ts, *ti;
	const cJSON *tags = cJSON_GetObjectItemCaseSensitive(it, "tags"), *t;
	const char *state = jstr(it, "state");
	char rid[64], code[16] = "0";

	snprintf(rid, sizeof(rid), "r-%s", jstr(it, "id") + 2);
	xmlNewTextChild(res, NULL, BAD_CAST "reservationId", BAD_CAST rid);
	xmlNewTextChild(res, NULL, BAD_CAST "ownerId", BAD_CAST "123456789012");
	xmlNewChild(res, NULL, BAD_CAST "groupSet", NULL);
	is = xmlNewChild(res, NULL, BAD_CAST "instancesSet", NULL);
	inst = xmlNewChild(is, NULL, BAD_CAST "item", NULL);
	xmlNewTextChild(inst, NULL, BAD_CAST "instanceId", BAD_CAST jstr(it, "id"));
	xmlNewTextChild(inst, NULL, BAD_CAST "imageId", BAD_CAST "ami-0123456789abcdef0");
	st = xmlNewChild(inst, NULL, BAD_CAST "instanceState", NULL);
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		if (strcmp(states[i].name, state) == 0)
			snprintf(code, sizeof(code), "%d", states[i].code);
	xmlNewTextChild(st, NULL, BAD_CAST "code", BAD_CAST code);
	xmlNewTextChild(st, NULL, BAD_CAST "name", BAD_CAST state);
	if (jstr(it, "private_ip")[0] != '\0')
		xmlNewTextChild(inst, NULL, BAD_CAST "privateIpAddress", BAD_CAST jstr(it, "private_ip"));
	if (jstr(it, "public_ip")[0] != '\0')
		xmlNewTextChild(inst, NULL, BAD_CAST "ipAddress", BAD_CAST jstr(it, "public_ip"));
	if (cJSON_IsObject(tags) && tags->child != NULL) {
		ts = xmlNewChild(inst, NULL, BAD_CAST "tagSet", NULL);
		cJSON_ArrayForEach(t, tags) {
			if (!cJSON_IsString(t))
				continue;
			ti = xmlNewChild(ts, NULL, BAD_CAST "item", NULL);
			xmlNewTextChild(ti, NULL, BAD_CAST "key", BAD_CAST t->string);
			xmlNewTextChild(ti, NULL, BAD_CAST "value", BAD_CAST t->valuestring);
		}
	}
}

/* Parses "fake-page-N"; returns N or -1. */
static long
token_offset(const char *t)
{
	char *end;
	long v;

	if (strncmp(t, TOKEN_PREFIX, strlen(TOKEN_PREFIX)) != 0)
		return -1;
	v = strtol(t + strlen(TOKEN_PREFIX), &end, 10);
	return *end == '\0' && v > 0 ? v : -1;
}

static void
ec2_describe(const struct inventory *inv, const char *region, const struct form *f,
             struct inv_answer *a)
{
	struct filter filters[MAX_FILTERS];
	size_t nf = 0, nmatch = 0, shown = 0;
	const char *mr = form_get(f, "MaxResults"), *nt = form_get(f, "NextToken");
	long max = 0, skip = 0;
	const cJSON *it;
	char key[64], next[64];
	xmlDoc *doc;
	xmlNode *root, *set;
	xmlChar *out = NULL;
	int n = 0;

	memset(filters, 0, sizeof(filters));
	for (size_t i = 1; i <= MAX_FILTERS + 1; i++) {
		const char *name;
		snprintf(key, sizeof(key), "Filter.%zu.Name", i);
		if ((name = form_get(f, key)) == NULL)
			break;
		if (nf == MAX_FILTERS || !filter_known(name)) {
			ec2_error(a, 400, "InvalidParameterValue", "The filter '%s' is invalid", name);
			return;
		}
		filters[nf].name = name;
		for (size_t v = 1; v <= MAX_VALUES; v++) {
			const char *val;
			snprintf(key, sizeof(key), "Filter.%zu.Value.%zu", i, v);
			if ((val = form_get(f, key)) == NULL)
				break;
			filters[nf].values[filters[nf].nvalues++] = val;
		}
		if (filters[nf].nvalues == 0) {
			ec2_error(a, 400, "InvalidParameterCombination",
			          "The filter '%s' has no values", name);
			return;
		}
		nf++;
	}
	if (mr != NULL) {
		char *end;
		max = strtol(mr, &end, 10);
		if (*end != '\0' || max < 5 || max > 1000) {
			ec2_error(a, 400, "InvalidParameterValue",
			          "Value ( %s ) for parameter maxResults is invalid. Expecting a value "
			          "between 5 and 1000.", mr);
			return;
		}
	}
	if (nt != NULL && (skip = token_offset(nt)) < 0) {
		ec2_error(a, 400, "InvalidParameterValue", "Invalid value '%s' for nextToken", nt);
		return;
	}
	/* Real EC2 pages only when MaxResults is given; the inventory can cap it. */
	if (inv->page_size > 0 && mr != NULL && inv->page_size < max)
		max = inv->page_size;

	doc = xmlNewDoc(BAD_CAST "1.0");
	root = xmlNewNode(NULL, BAD_CAST "DescribeInstancesResponse");
	xmlSetNs(root, xmlNewNs(root, BAD_CAST EC2_NS, NULL));
	xmlDocSetRootElement(doc, root);
	xmlNewTextChild(root, NULL, BAD_CAST "requestId", BAD_CAST "11111111-2222-3333-4444-555555555555");
	set = xmlNewChild(root, NULL, BAD_CAST "reservationSet", NULL);
	next[0] = '\0';
	cJSON_ArrayForEach(it, inv->list) {
		int ok = strcmp(jstr(it, "region"), region) == 0;
		for (size_t i = 0; ok && i < nf; i++)
			ok = filter_ok(it, &filters[i]);
		if (!ok)
			continue;
		nmatch++;
		if ((long)nmatch <= skip)
			continue;
		if (max > 0 && (long)shown == max) {
			snprintf(next, sizeof(next), TOKEN_PREFIX "%ld", skip + max);
			break;
		}
		add_instance_xml(set, it);
		shown++;
	}
	if (next[0] != '\0')
		xmlNewTextChild(root, NULL, BAD_CAST "nextToken", BAD_CAST next);
	xmlDocDumpMemoryEnc(doc, &out, &n, "UTF-8");
	xmlFreeDoc(doc);
	a->status = 200;
	a->body = out ? strdup((const char *)out) : NULL;
	xmlFree(out);
	if (a->body == NULL) {
		ec2_error(a, 500, "InternalError", "out of memory");
		return;
	}
	snprintf(a->detail, sizeof(a->detail), "%s %zu instances%s", region, shown,
	         next[0] ? " more" : "");
}

void
inventory_ec2(const struct inventory *inv, const char *region, const uint8_t *body, size_t len,
              struct inv_answer *a)
{
	struct form f;
	const char *action;

	memset(a, 0, sizeof(*a));
	snprintf(a->op, sizeof(a->op), "-");
	if (form_parse(&f, body, len) < 0) {
		free(f.buf);
		ec2_error(a, 400, "InvalidParameterValue", "malformed form body");
		return;
	}
	action = form_get(&f, "Action");
	if (action != NULL)
		snprintf(a->op, sizeof(a->op), "%.63s", action);
	if (action == NULL || form_get(&f, "Version") == NULL) {
		ec2_error(a, 400, "MissingParameter", "The request must contain the parameter %s",
		          action == NULL ? "Action" : "Version");
	} else if (inv == NULL || strcmp(action, "DescribeInstances") != 0) {
		ec2_error(a, 400, "InvalidAction", "The action %s is not valid for this web service.",
		          action);
	} else {
		ec2_describe(inv, region, &f, a);
	}
	free(f.buf);
}

/* ---- SSM ---- */

void
inventory_ssm_info(const struct inventory *inv, const char *region, const cJSON *in,
                   struct inv_answer *a)
{
	const cJSON *filters = cJSON_GetObjectItemCaseSensitive(in, "Filters"), *fl, *it;
	const cJSON *mr = cJSON_GetObjectItemCaseSensitive(in, "MaxResults");
	const cJSON *nt = cJSON_GetObjectItemCaseSensitive(in, "NextToken");
	const cJSON *ids = NULL, *pings = NULL, *v;
	cJSON *out = NULL, *list;
	long max = 50, skip = 0;
	size_t nmatch = 0, shown = 0;
	char next[64] = "";

	memset(a, 0, sizeof(*a));
	snprintf(a->op, sizeof(a->op), "DescribeInstanceInformation");
	a->status = 400;
	a->err_type = "ValidationException";
	if (filters != NULL && !cJSON_IsArray(filters)) {
		snprintf(a->msg, sizeof(a->msg), "Filters must be a list");
		return;
	}
	cJSON_ArrayForEach(fl, filters) {
		const char *k = jstr(fl, "Key");
		const cJSON *vals = cJSON_GetObjectItemCaseSensitive(fl, "Values");
		if (!cJSON_IsArray(vals) || cJSON_GetArraySize(vals) == 0) {
			snprintf(a->msg, sizeof(a->msg), "Filter values must be a non-empty list");
			return;
		}
		if (strcmp(k, "InstanceIds") == 0) {
			ids = vals;
		} else if (strcmp(k, "PingStatus") == 0) {
			pings = vals;
		} else {
			a->err_type = "InvalidFilterKey";
			snprintf(a->msg, sizeof(a->msg), "The filter key %s is not supported here", k);
			return;
		}
	}
	if (mr != NULL) {
		if (!cJSON_IsNumber(mr) || mr->valuedouble < 5 || mr->valuedouble > 50) {
			snprintf(a->msg, sizeof(a->msg),
			         "1 validation error detected: Value at 'maxResults' failed to satisfy "
			         "constraint: Member must have value between 5 and 50");
			return;
		}
		max = (long)mr->valuedouble;
	}
	if (inv != NULL && inv->page_size > 0 && inv->page_size < max)
		max = inv->page_size;
	if (nt != NULL && (!cJSON_IsString(nt) || (skip = token_offset(nt->valuestring)) < 0)) {
		a->err_type = "InvalidNextToken";
		snprintf(a->msg, sizeof(a->msg), "The specified token is not valid.");
		return;
	}
	if ((out = cJSON_CreateObject()) == NULL ||
	    (list = cJSON_AddArrayToObject(out, "InstanceInformationList")) == NULL) {
		cJSON_Delete(out);
		a->status = 500;
		a->err_type = "InternalServerError";
		snprintf(a->msg, sizeof(a->msg), "out of memory");
		return;
	}
	if (inv != NULL) {
		cJSON_ArrayForEach(it, inv->list) {
			const char *ping = jstr(it, "ping"), *id = jstr(it, "id");
			int ok = strcmp(jstr(it, "region"), region) == 0 && ping[0] != '\0';
			if (ok && ids != NULL) {
				ok = 0;
				cJSON_ArrayForEach(v, ids)
					ok |= cJSON_IsString(v) && strcmp(v->valuestring, id) == 0;
			}
			if (ok && pings != NULL) {
				ok = 0;
				cJSON_ArrayForEach(v, pings)
					ok |= cJSON_IsString(v) && strcmp(v->valuestring, ping) == 0;
			}
			if (!ok)
				continue;
			if ((long)++nmatch <= skip)
				continue;
			if ((long)shown == max) {
				snprintf(next, sizeof(next), TOKEN_PREFIX "%ld", skip + max);
				break;
			}
			cJSON *o = cJSON_CreateObject();
			cJSON_AddItemToArray(list, o);
			cJSON_AddStringToObject(o, "InstanceId", id);
			cJSON_AddStringToObject(o, "PingStatus", ping);
			cJSON_AddNumberToObject(o, "LastPingDateTime", 1.7e9);
			cJSON_AddStringToObject(o, "AgentVersion", "3.3.1142.0");
			cJSON_AddBoolToObject(o, "IsLatestVersion", 1);
			cJSON_AddStringToObject(o, "PlatformType", "Linux");
			cJSON_AddStringToObject(o, "ResourceType",
			                        strncmp(id, "mi-", 3) == 0 ? "ManagedInstance" : "EC2Instance");
			if (jstr(it, "private_ip")[0] != '\0')
				cJSON_AddStringToObject(o, "IPAddress", jstr(it, "private_ip"));
			shown++;
		}
	}
	if (next[0] != '\0')
		cJSON_AddStringToObject(out, "NextToken", next);
	a->body = cJSON_PrintUnformatted(out);
	cJSON_Delete(out);
	if (a->body == NULL) {
		a->status = 500;
		a->err_type = "InternalServerError";
		snprintf(a->msg, sizeof(a->msg), "out of memory");
		return;
	}
	a->status = 200;
	a->err_type = NULL;
	snprintf(a->detail, sizeof(a->detail), "%s %zu instances%s", region, shown,
	         next[0] ? " more" : "");
}

/* ---- routes ---- */

void
inventory_ec2_route(struct api_call *call)
{
	const struct wss_request *req = api_call_request(call);
	struct inv_answer a;

	inventory_ec2(api_call_region(call)->inv, api_call_sign_region(call), req->body,
	              req->body_len, &a);
	api_call_set_op(call, a.op);
	if (a.body == NULL)
		api_reply_error(call, 500, "InternalError", "message", "out of memory");
	else
		api_reply_body(call, a.status, "text/xml;charset=UTF-8", a.detail, a.body);
	inv_answer_free(&a);
}

void
inventory_ssm_op(struct api_call *call, const cJSON *in)
{
	struct inv_answer a;

	inventory_ssm_info(api_call_region(call)->inv, api_call_sign_region(call), in, &a);
	if (a.body == NULL)
		api_reply_error(call, a.status, a.err_type ? a.err_type : "InternalServerError",
		                "message", "%s", a.msg);
	else
		api_reply_body(call, a.status, "application/x-amz-json-1.1", a.detail, a.body);
	inv_answer_free(&a);
}
