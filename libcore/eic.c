/* eic.c: EC2 Instance Connect key push and Endpoint discovery. */
#include "eic.h"
#include "awsapi.h"
#include "creds.h"
#include "sigv4.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#define EC2_API_VERSION "2016-11-15"
#define EIC_MAX_PAGES 20

/* ---- small checks ---- */

/* Returns nonzero if s is 1..max characters, all from the set allowed. */
static int
only_chars(const char *s, size_t max, const char *allowed)
{
	size_t n = strlen(s);

	return n > 0 && n <= max && strspn(s, allowed) == n;
}

#define ID_CHARS "abcdefghijklmnopqrstuvwxyz0123456789-"

/* ---- SendSSHPublicKey ---- */

/* Takes the AWS error code out of "Op failed: Code: message". */
static void
error_code(const char *msg, const char *op, char *code, size_t codelen)
{
	char pre[96];
	const char *p;
	size_t n;

	code[0] = '\0';
	snprintf(pre, sizeof(pre), "%s failed: ", op);
	if ((p = strstr(msg, pre)) == NULL)
		return;
	p += strlen(pre);
	n = strcspn(p, ": (");
	if (n >= codelen)
		n = codelen - 1;
	memcpy(code, p, n);
	code[n] = '\0';
}

static int
is_access_denied(const char *code)
{
	return strcmp(code, "AccessDeniedException") == 0 || strcmp(code, "AccessDenied") == 0 ||
	       strcmp(code, "AuthException") == 0 || strcmp(code, "UnauthorizedOperation") == 0;
}

/* The service model's ^[A-Za-z_][A-Za-z0-9@._-]{0,30}[A-Za-z0-9$_-]?$ */
static int
user_valid(const char *u)
{
	static const char letters[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	size_t n = strlen(u);

	if (n == 0 || n > EIC_MAX_USER || (strchr(letters, u[0]) == NULL && u[0] != '_'))
		return 0;
	for (size_t i = 1; i < n; i++) {
		int c = (unsigned char)u[i];
		if ((c >= '0' && c <= '9') || strchr(letters, c) != NULL || strchr("@._-", c) != NULL)
			continue;
		if (i == n - 1 && c == '$')
			continue;
		return 0;
	}
	return 1;
}

int
eic_send_ssh_public_key(struct awsapi *api, const char *instance_id, const char *os_user,
			const char *pubkey, const struct logger *lg, struct err *e)
{
	cJSON *req, *ans = NULL;
	const cJSON *ok;
	char code[96], why[ERR_MSG_MAX];
	size_t klen = strlen(pubkey);
	int r;

	/* The service's own limits, checked here for a clearer message. */
	if (!user_valid(os_user))
		return err_set(e, E_CONFIG, "'%.40s' is not a valid user name for EC2 Instance Connect",
			       os_user);
	if (klen < 80 || klen > 4096)
		return err_set(e, E_CONFIG, "the public key is %zu characters (EC2 accepts 80 to 4096)",
			       klen);
	req = cJSON_CreateObject();
	if (req == NULL || cJSON_AddStringToObject(req, "InstanceId", instance_id) == NULL ||
	    cJSON_AddStringToObject(req, "InstanceOSUser", os_user) == NULL ||
	    cJSON_AddStringToObject(req, "SSHPublicKey", pubkey) == NULL) {
		cJSON_Delete(req);
		return err_set(e, E_NOMEM, "out of memory");
	}
	r = awsapi_json(api, EIC_SERVICE, EIC_TARGET_PREFIX, "SendSSHPublicKey", req, &ans, e);
	cJSON_Delete(req);
	if (r == E_AWS) {
		error_code(e->msg, "SendSSHPublicKey", code, sizeof(code));
		snprintf(why, sizeof(why), "%s", e->msg);
		if (is_access_denied(code))
			return err_set(e, E_AUTH, "%.400s (the credentials need "
				       "ec2-instance-connect:SendSSHPublicKey on %s)", why, instance_id);
		if (strcmp(code, "EC2InstanceNotFoundException") == 0)
			return err_set(e, E_NOTFOUND, "%.400s (no instance %s in this region)", why,
				       instance_id);
		if (strcmp(code, "EC2InstanceUnavailableException") == 0 ||
		    strcmp(code, "EC2InstanceTypeInvalidException") == 0)
			return err_set(e, E_AWS, "%.400s (%s cannot use EC2 Instance Connect: it needs "
				       "the ec2-instance-connect package, or use a key it already "
				       "trusts)", why, instance_id);
		if (strcmp(code, "EC2InstanceStateInvalidException") == 0)
			return err_set(e, E_AWS, "%.400s (%s is not running)", why, instance_id);
		return r;
	}
	if (r != 0)
		return r;
	ok = cJSON_GetObjectItemCaseSensitive(ans, "Success");
	if (!cJSON_IsTrue(ok)) {
		cJSON_Delete(ans);
		return err_set(e, E_AWS, "SendSSHPublicKey failed: the answer does not say Success");
	}
	cJSON_Delete(ans);
	log_verbose(lg, "public key pushed to %s for user %s (valid %d s)", instance_id, os_user,
		    EIC_KEY_LIFETIME_S);
	return 0;
}

/* ---- EC2 Query calls ---- */

/* Returns the first child element of n named name (namespace ignored), or NULL. */
static xmlNodePtr
child(xmlNodePtr n, const char *name)
{
	if (n == NULL)
		return NULL;
	for (xmlNodePtr c = n->children; c != NULL; c = c->next)
		if (c->type == XML_ELEMENT_NODE && strcmp((const char *)c->name, name) == 0)
			return c;
	return NULL;
}

/* Copies the text of child name of n into out (empty if absent). */
static void
child_text(const struct xmllib *x, xmlNodePtr n, const char *name, char *out, size_t outlen)
{
	xmlNodePtr c = child(n, name);
	xmlChar *t;

	out[0] = '\0';
	if (c == NULL || (t = x->content(c)) == NULL)
		return;
	snprintf(out, outlen, "%s", (const char *)t);
	/* Text from the network ends up in messages and URLs: no control bytes. */
	for (char *p = out; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	xmllib_free(x, t);
}

/*
 * Calls EC2 action op through awsapi_query. Returns 0 with the XML answer
 * in *doc (awsapi_xml(api)->free_doc it), E_AUTH for access denied, E_NOTFOUND for the
 * *.NotFound codes, or awsapi_query's errors.
 */
static int
ec2_query(struct awsapi *api, const char *op, const struct awsapi_param *params, size_t n,
	  xmlDoc **doc, struct err *e)
{
	char code[128], why[ERR_MSG_MAX];
	int r;

	r = awsapi_query(api, "ec2", op, EC2_API_VERSION, params, n, doc, e);
	if (r != E_AWS)
		return r;
	error_code(e->msg, op, code, sizeof(code));
	snprintf(why, sizeof(why), "%s", e->msg);
	if (is_access_denied(code))
		return err_set(e, E_AUTH, "%.400s (the credentials need ec2:%s)", why, op);
	if (strstr(code, ".NotFound") != NULL)
		return err_set(e, E_NOTFOUND, "%s", why);
	return r;
}

/* Fills out from the instance named id in a DescribeInstances answer. */
static int
instance_from_doc(const struct xmllib *x, xmlDoc *doc, const char *id, struct eic_instance *out,
		  struct err *e)
{
	xmlNodePtr res, inst;
	char iid[sizeof(out->id)];

	memset(out, 0, sizeof(*out));
	res = child(x->root(doc), "reservationSet");
	for (xmlNodePtr r = res ? res->children : NULL; r != NULL; r = r->next) {
		if (r->type != XML_ELEMENT_NODE || strcmp((const char *)r->name, "item") != 0)
			continue;
		inst = child(r, "instancesSet");
		for (xmlNodePtr i = inst ? inst->children : NULL; i != NULL; i = i->next) {
			if (i->type != XML_ELEMENT_NODE || strcmp((const char *)i->name, "item") != 0)
				continue;
			child_text(x, i, "instanceId", iid, sizeof(iid));
			if (strcmp(iid, id) != 0)
				continue;
			snprintf(out->id, sizeof(out->id), "%s", iid);
			child_text(x, child(i, "instanceState"), "name", out->state, sizeof(out->state));
			/* Direct children only: network interfaces repeat these names. */
			child_text(x, i, "privateIpAddress", out->private_ip, sizeof(out->private_ip));
			child_text(x, i, "vpcId", out->vpc_id, sizeof(out->vpc_id));
			child_text(x, i, "subnetId", out->subnet_id, sizeof(out->subnet_id));
			return 0;
		}
	}
	return err_set(e, E_NOTFOUND, "instance %s not found", id);
}

int
eic_parse_instance(const void *xml, size_t len, const char *id, struct eic_instance *out,
		   struct err *e)
{
	struct xmllib x;
	xmlDocPtr doc;
	int r;

	memset(out, 0, sizeof(*out));
	memset(&x, 0, sizeof(x));
	if ((r = xmllib_load(&x, e)) != 0)
		return r;
	if ((doc = xmllib_parse(&x, xml, len)) == NULL) {
		r = err_set(e, E_PROTO, "DescribeInstances answer is not XML");
	} else {
		r = instance_from_doc(&x, doc, id, out, e);
		x.free_doc(doc);
	}
	xmllib_unload(&x);
	return r;
}

int
eic_describe_instance(struct awsapi *api, const char *instance_id, struct eic_instance *out,
		      struct err *e)
{
	struct awsapi_param p = { "InstanceId.1", instance_id };
	xmlDoc *doc = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	if (!only_chars(instance_id, 31, ID_CHARS))
		return err_set(e, E_CONFIG, "bad instance id");
	if ((r = ec2_query(api, "DescribeInstances", &p, 1, &doc, e)) != 0) {
		if (r == E_NOTFOUND)
			err_prefix(e, "no instance %s in this region", instance_id);
		return r;
	}
	r = instance_from_doc(awsapi_xml(api), doc, instance_id, out, e);
	awsapi_xml(api)->free_doc(doc);
	if (r == E_NOTFOUND)
		return err_set(e, r, "no instance %s in this region", instance_id);
	if (r != 0)
		return r;
	if (out->state[0] && strcmp(out->state, "running") != 0)
		return err_set(e, E_AWS, "instance %s is %s, not running", instance_id, out->state);
	if (out->private_ip[0] == '\0' || out->vpc_id[0] == '\0')
		return err_set(e, E_AWS, "instance %s has no private address in a VPC", instance_id);
	return 0;
}

/* Reads the endpoints of a DescribeInstanceConnectEndpoints answer. */
static int
endpoints_from_doc(const struct xmllib *x, xmlDoc *doc, struct eic_endpoint **eps, size_t *n,
		   char *next, size_t nextlen, struct err *e)
{
	xmlNodePtr root = x->root(doc), set;
	size_t cap = 0, cnt = 0;
	struct eic_endpoint *v = NULL;

	*eps = NULL;
	*n = 0;
	if (nextlen > 0)
		next[0] = '\0';
	set = child(root, "instanceConnectEndpointSet");
	for (xmlNodePtr i = set ? set->children : NULL; i != NULL; i = i->next) {
		struct eic_endpoint *ep;

		if (i->type != XML_ELEMENT_NODE || strcmp((const char *)i->name, "item") != 0)
			continue;
		if (cnt == cap) {
			size_t nc = cap ? cap * 2 : 8;
			struct eic_endpoint *nv = nc > 4096 ? NULL : realloc(v, nc * sizeof(*v));
			if (nv == NULL) {
				free(v);
				return err_set(e, E_NOMEM, "out of memory");
			}
			v = nv;
			cap = nc;
		}
		ep = &v[cnt++];
		memset(ep, 0, sizeof(*ep));
		child_text(x, i, "instanceConnectEndpointId", ep->id, sizeof(ep->id));
		child_text(x, i, "state", ep->state, sizeof(ep->state));
		child_text(x, i, "dnsName", ep->dns_name, sizeof(ep->dns_name));
		child_text(x, i, "fipsDnsName", ep->fips_dns_name, sizeof(ep->fips_dns_name));
		child_text(x, i, "vpcId", ep->vpc_id, sizeof(ep->vpc_id));
		child_text(x, i, "subnetId", ep->subnet_id, sizeof(ep->subnet_id));
	}
	if (nextlen > 0)
		child_text(x, root, "nextToken", next, nextlen);
	*eps = v;
	*n = cnt;
	return 0;
}

int
eic_parse_endpoints(const void *xml, size_t len, struct eic_endpoint **eps, size_t *n, char *next,
		    size_t nextlen, struct err *e)
{
	struct xmllib x;
	xmlDocPtr doc;
	int r;

	*eps = NULL;
	*n = 0;
	memset(&x, 0, sizeof(x));
	if ((r = xmllib_load(&x, e)) != 0)
		return r;
	if ((doc = xmllib_parse(&x, xml, len)) == NULL) {
		r = err_set(e, E_PROTO, "DescribeInstanceConnectEndpoints answer is not XML");
	} else {
		r = endpoints_from_doc(&x, doc, eps, n, next, nextlen, e);
		x.free_doc(doc);
	}
	xmllib_unload(&x);
	return r;
}

static int
state_usable(const char *s)
{
	return strcmp(s, "create-complete") == 0 || strncmp(s, "update-", 7) == 0;
}

int
eic_pick_endpoint(const struct eic_endpoint *eps, size_t n, const struct eic_instance *inst,
		  const char *want_id, struct eic_endpoint *out, struct err *e)
{
	const struct eic_endpoint *best = NULL;

	for (size_t i = 0; i < n; i++) {
		const struct eic_endpoint *ep = &eps[i];
		if (want_id != NULL && strcmp(ep->id, want_id) != 0)
			continue;
		if (want_id != NULL) {
			if (strcmp(ep->vpc_id, inst->vpc_id) != 0)
				return err_set(e, E_NOTFOUND, "endpoint %s is in %s, but %s is in %s",
					       ep->id, ep->vpc_id, inst->id, inst->vpc_id);
			if (!state_usable(ep->state))
				return err_set(e, E_NOTFOUND, "endpoint %s is %s, not create-complete",
					       ep->id, ep->state);
		}
		if (strcmp(ep->vpc_id, inst->vpc_id) != 0 || !state_usable(ep->state) ||
		    ep->id[0] == '\0')
			continue;
		if (best == NULL || (strcmp(ep->subnet_id, inst->subnet_id) == 0 &&
				     strcmp(best->subnet_id, inst->subnet_id) != 0))
			best = ep;
	}
	if (best == NULL) {
		if (want_id != NULL)
			return err_set(e, E_NOTFOUND, "no EC2 Instance Connect Endpoint %s", want_id);
		return err_set(e, E_NOTFOUND,
			       "%s cannot be reached with EC2 Instance Connect: no usable EC2 "
			       "Instance Connect Endpoint in %s (create one, or leave out --via "
			       "eice to use Session Manager)", inst->id, inst->vpc_id);
	}
	*out = *best;
	return 0;
}

int
eic_find_endpoint(struct awsapi *api, const struct eic_instance *inst, const char *want_id,
		  struct eic_endpoint *out, const struct logger *lg, struct err *e)
{
	struct eic_endpoint *all = NULL;
	size_t nall = 0;
	char next[1024] = "";
	int r = 0;

	if (want_id != NULL && !only_chars(want_id, 63, ID_CHARS))
		return err_set(e, E_CONFIG, "'%.70s' is not an endpoint id (eice-...)", want_id);
	if (!only_chars(inst->vpc_id, 63, ID_CHARS))
		return err_set(e, E_AWS, "instance %s has no valid VPC id", inst->id);
	for (int page = 0; page < EIC_MAX_PAGES; page++) {
		struct awsapi_param p[3];
		struct eic_endpoint *eps, *grown;
		xmlDoc *doc = NULL;
		size_t n, np = 0;

		/* With an id the VPC is not filtered, to say where it really is. */
		if (want_id != NULL) {
			p[np++] = (struct awsapi_param){ "InstanceConnectEndpointId.1", want_id };
		} else {
			p[np++] = (struct awsapi_param){ "Filter.1.Name", "vpc-id" };
			p[np++] = (struct awsapi_param){ "Filter.1.Value.1", inst->vpc_id };
		}
		if (next[0])
			p[np++] = (struct awsapi_param){ "NextToken", next };
		if ((r = ec2_query(api, "DescribeInstanceConnectEndpoints", p, np, &doc, e)) != 0) {
			if (r == E_NOTFOUND && want_id != NULL)
				r = err_set(e, E_NOTFOUND, "no EC2 Instance Connect Endpoint %s", want_id);
			break;
		}
		r = endpoints_from_doc(awsapi_xml(api), doc, &eps, &n, next, sizeof(next), e);
		awsapi_xml(api)->free_doc(doc);
		if (r != 0)
			break;
		grown = n ? realloc(all, (nall + n) * sizeof(*all)) : all;
		if (n && grown == NULL) {
			free(eps);
			r = err_set(e, E_NOMEM, "out of memory");
			break;
		}
		all = grown;
		if (n)
			memcpy(all + nall, eps, n * sizeof(*eps));
		nall += n;
		free(eps);
		if (next[0] == '\0')
			break;
	}
	if (r == 0) {
		log_debug(lg, "%zu EC2 Instance Connect Endpoint(s) found for %s", nall, inst->vpc_id);
		r = eic_pick_endpoint(all, nall, inst, want_id, out, e);
	}
	free(all);
	return r;
}

/* ---- the tunnel URL ---- */

int
eic_use_fips(void)
{
	const char *v = getenv("AWS_USE_FIPS_ENDPOINT");

	return v != NULL && strcasecmp(v, "true") == 0;
}

int
eic_tunnel_url(const struct creds *c, const char *region, const char *host,
	       const char *endpoint_id, const char *private_ip, unsigned port,
	       unsigned max_duration, time_t when, char **url, struct err *e)
{
	struct sigv4_header h = { "Host", host };
	struct sigv4_request rq;
	struct sigv4_params sp;
	struct sigv4_result res;
	char query[512];
	size_t n;
	int r;

	*url = NULL;
	/* These come from API answers and go into a URL: nothing but name characters. */
	if (!only_chars(host, 253, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:"))
		return err_set(e, E_CONFIG, "bad endpoint DNS name '%.80s'", host);
	if (!only_chars(endpoint_id, 63, ID_CHARS))
		return err_set(e, E_CONFIG, "bad endpoint id");
	if (!only_chars(private_ip, 45, "0123456789abcdefABCDEF.:"))
		return err_set(e, E_CONFIG, "bad private address '%.60s'", private_ip);
	if (port == 0 || port > 65535 || max_duration == 0 || max_duration > EIC_MAX_TUNNEL_S)
		return err_set(e, E_RANGE, "bad port or tunnel duration");
	n = (size_t)snprintf(query, sizeof(query),
			     "instanceConnectEndpointId=%s&remotePort=%u&privateIpAddress=",
			     endpoint_id, port);
	for (const char *p = private_ip; *p && n + 4 < sizeof(query); p++)
		n += (size_t)snprintf(query + n, sizeof(query) - n, *p == ':' ? "%%3A" : "%c", *p);
	snprintf(query + n, sizeof(query) - n, "&maxTunnelDuration=%u", max_duration);

	memset(&rq, 0, sizeof(rq));
	rq.method = "GET";
	rq.path = "/openTunnel";
	rq.query = query;
	rq.headers = &h;
	rq.nheaders = 1;
	memset(&sp, 0, sizeof(sp));
	sp.access_key = c->access_key_id;
	sp.secret_key = c->secret_access_key;
	sp.session_token = c->session_token;
	sp.region = region;
	sp.service = EIC_SERVICE;
	sp.when = when;
	sp.normalize_path = 1;
	sp.expires = EIC_PRESIGN_EXPIRES;
	if ((r = sigv4_presign(&rq, &sp, &res, e)) != 0)
		return r;
	n = strlen("wss://") + strlen(host) + strlen("/openTunnel?") + strlen(res.query) + 1;
	if ((*url = malloc(n)) == NULL) {
		sigv4_result_free(&res);
		return err_set(e, E_NOMEM, "out of memory");
	}
	snprintf(*url, n, "wss://%s/openTunnel?%s", host, res.query);
	sigv4_result_free(&res);
	return 0;
}
