/* sts.c: STS AssumeRole / AssumeRoleWithWebIdentity through awsapi_query. */
#include "sts.h"
#include "awsapi.h"
#include "creds.h"

#include <stdio.h>
#include <string.h>

#include <libxml/tree.h>
#include <openssl/crypto.h>

#define STS_VERSION "2011-06-15"

/* The text of the first element named name under n (depth first), or NULL. */
static xmlNode *
find(xmlNode *n, const char *name)
{
	for (; n != NULL; n = n->next) {
		xmlNode *f;
		if (n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0)
			return n;
		if ((f = find(n->children, name)) != NULL)
			return f;
	}
	return NULL;
}

/* Wipes every text node: the answer holds a secret key and a token. */
static void
wipe_doc(xmlNode *n)
{
	for (; n != NULL; n = n->next) {
		if (n->type == XML_TEXT_NODE && n->content != NULL)
			OPENSSL_cleanse(n->content, strlen((const char *)n->content));
		wipe_doc(n->children);
	}
}

static int
parse_answer(const struct xmllib *x, xmlDoc *doc, const char *action, struct creds *out,
             struct err *e)
{
	xmlNode *c = find(x->root(doc), "Credentials");
	xmlChar *ak = NULL, *sk = NULL, *tok = NULL, *exp = NULL;
	time_t t = 0;
	int r;

	if (c != NULL) {
		xmlNode *n;
		if ((n = find(c->children, "AccessKeyId")) != NULL)
			ak = x->content(n);
		if ((n = find(c->children, "SecretAccessKey")) != NULL)
			sk = x->content(n);
		if ((n = find(c->children, "SessionToken")) != NULL)
			tok = x->content(n);
		if ((n = find(c->children, "Expiration")) != NULL)
			exp = x->content(n);
	}
	if (ak == NULL || sk == NULL || tok == NULL || *ak == '\0' || *sk == '\0')
		r = err_set(e, E_AWS, "%s failed: the answer has no Credentials", action);
	else if (exp != NULL && creds_parse_time((const char *)exp, &t) != 0)
		r = err_set(e, E_AWS, "%s failed: the answer's Expiration is not a time", action);
	else if (creds_set(out, (const char *)ak, (const char *)sk, (const char *)tok, t, NULL) != 0)
		r = err_set(e, E_NOMEM, "out of memory");
	else
		r = 0;
	if (sk != NULL)
		OPENSSL_cleanse(sk, strlen((const char *)sk));
	if (tok != NULL)
		OPENSSL_cleanse(tok, strlen((const char *)tok));
	xmllib_free(x, ak);
	xmllib_free(x, sk);
	xmllib_free(x, tok);
	xmllib_free(x, exp);
	return r;
}

static int
call(const struct sts_opts *o, const struct creds *src, const char *action,
     const struct awsapi_param *p, size_t np, struct creds *out, struct err *e)
{
	struct awsapi_opts ao;
	struct awsapi *api = NULL;
	xmlDoc *doc = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	memset(&ao, 0, sizeof(ao));
	ao.region = o->region != NULL ? o->region : "us-east-1";
	ao.creds = src;
	ao.anonymous = src == NULL;
	ao.ca_file = o->ca_file;
	ao.cfg = o->cfg;
	ao.log = o->log;
	ao.timeout_ms = 10000;
	if ((r = awsapi_new(&api, &ao, e)) != 0)
		return r;
	r = awsapi_query(api, "sts", action, STS_VERSION, p, np, &doc, e);
	if (r == 0) {
		/* The api holds libxml2: free the document first. */
		const struct xmllib *x = awsapi_xml(api);
		r = parse_answer(x, doc, action, out, e);
		wipe_doc(x->root(doc));
		x->free_doc(doc);
	}
	awsapi_free(api);
	return r;
}

/* Fills the common parameters; returns their count. */
static size_t
role_params(const struct sts_role *role, struct awsapi_param p[6], char dur[24])
{
	size_t n = 0;

	p[n].name = "RoleArn";
	p[n++].value = role->role_arn;
	p[n].name = "RoleSessionName";
	p[n++].value = role->session_name;
	if (role->duration_seconds > 0) {
		snprintf(dur, 24, "%ld", role->duration_seconds);
		p[n].name = "DurationSeconds";
		p[n++].value = dur;
	}
	return n;
}

int
sts_assume_role(const struct sts_opts *o, const struct creds *src, const struct sts_role *role,
		struct creds *out, struct err *e)
{
	struct awsapi_param p[6];
	char dur[24];
	size_t n = role_params(role, p, dur);

	if (role->external_id != NULL) {
		p[n].name = "ExternalId";
		p[n++].value = role->external_id;
	}
	log_debug(o->log, "AssumeRole %s as %s", role->role_arn, role->session_name);
	return call(o, src, "AssumeRole", p, n, out, e);
}

int
sts_assume_role_web_identity(const struct sts_opts *o, const struct sts_role *role,
			     const char *token, struct creds *out, struct err *e)
{
	struct awsapi_param p[6];
	char dur[24];
	size_t n = role_params(role, p, dur);

	p[n].name = "WebIdentityToken";
	p[n++].value = token;
	log_debug(o->log, "AssumeRoleWithWebIdentity %s as %s", role->role_arn, role->session_name);
	return call(o, NULL, "AssumeRoleWithWebIdentity", p, n, out, e);
}
