/* resolve.c: host names to instance ids (grammar in resolve.h). */
#include "resolve.h"
#include "awsapi.h"
#include "ini.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cjson/cJSON.h>
#include <libxml/tree.h>

#define EC2_VERSION "2016-11-15"
#define MAX_CANDIDATES 1000 /* more matches than this is a mistake in the name */
#define MAX_PAGES 100       /* a guard against an endpoint that never stops paging */
#define LIST_IN_ERROR 5     /* matches named in an ambiguity message */

/* ------------------------------------------------------------------ grammar */

static int
host_char(int c)
{
	return isalnum(c) || c == '.' || c == '_' || c == '+' || c == '=' || c == '-';
}

static int
all_digits(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return 0;
	return 1;
}

int
resolve_region_like(const char *s)
{
	/* [a-z]{2} ( -gov | -iso[a-z]? )? -[a-z]+ -[0-9]{1,2} */
	size_t i = 0, n;

	for (n = 0; n < 2; n++, i++)
		if (!isalpha((unsigned char)s[i]))
			return 0;
	if (s[i] != '-')
		return 0;
	if (strncasecmp(s + i, "-gov-", 5) == 0) {
		i += 4;
	} else if (strncasecmp(s + i, "-iso", 4) == 0) {
		i += 4;
		if (isalpha((unsigned char)s[i]) && s[i + 1] == '-')
			i++;
		if (s[i] != '-')
			return 0;
	}
	i++; /* the '-' before the word */
	for (n = 0; isalpha((unsigned char)s[i]); n++, i++)
		;
	if (n == 0 || s[i] != '-')
		return 0;
	i++;
	for (n = 0; isdigit((unsigned char)s[i]); n++, i++)
		;
	return (n == 1 || n == 2) && s[i] == '\0';
}

/* i- or mi- and 8 or 17 hex digits, any case; writes the lower-case form. */
static int
parse_id(const char *s, char *out, size_t outlen)
{
	size_t pre, n;

	if (strncasecmp(s, "i-", 2) == 0)
		pre = 2;
	else if (strncasecmp(s, "mi-", 3) == 0)
		pre = 3;
	else
		return 0;
	n = strlen(s + pre);
	if ((n != 8 && n != 17) || pre + n + 1 > outlen)
		return 0;
	for (size_t i = 0; i < pre + n; i++) {
		if (i >= pre && !isxdigit((unsigned char)s[i]))
			return 0;
		out[i] = (char)tolower((unsigned char)s[i]);
	}
	out[pre + n] = '\0';
	return 1;
}

static int
profile_chars_ok(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '+' && *s != '=')
			return 0;
	return 1;
}

/* A printable excerpt of untrusted s for messages: control and non-ASCII bytes become '?'. */
static void
shown(const char *s, char *out, size_t outlen)
{
	size_t o = 0;

	for (; *s && o + 1 < outlen; s++)
		out[o++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
	out[o] = '\0';
}

int
resolve_parse(const char *host, resolve_profile_fn profile_known, void *arg,
              struct resolve_host *out, struct err *e)
{
	char t[RESOLVE_HOST_MAX + 1], *last, *prev, show[101];
	struct in_addr a;
	size_t n;

	memset(out, 0, sizeof(*out));
	n = strnlen(host, RESOLVE_HOST_MAX + 1);
	if (n == 0)
		return err_set(e, E_INVAL, "empty host name");
	if (n > RESOLVE_HOST_MAX)
		return err_set(e, E_INVAL, "host name longer than %d characters", RESOLVE_HOST_MAX);
	for (size_t i = 0; i < n; i++) {
		if (!host_char((unsigned char)host[i])) {
			shown(host, show, sizeof(show));
			return err_set(e, E_INVAL,
			               "'%s' is not a host name: only letters, digits and . _ + = - "
			               "may appear", show);
		}
	}
	if (host[0] == '-' || host[0] == '.' || host[n - 1] == '.' || strstr(host, "..") != NULL)
		return err_set(e, E_INVAL, "'%.100s' is not a host name: empty label or leading '-'",
		               host);
	memcpy(t, host, n + 1);

	/* Qualifiers, from the right: TARGET.REGION.PROFILE, then TARGET.REGION. */
	last = strrchr(t, '.');
	if (last != NULL) {
		*last = '\0';
		prev = strrchr(t, '.');
		if (prev != NULL && resolve_region_like(prev + 1) && profile_chars_ok(last + 1) &&
		    profile_known != NULL && profile_known(arg, last + 1)) {
			*prev = '\0';
			snprintf(out->profile, sizeof(out->profile), "%s", last + 1);
			snprintf(out->region, sizeof(out->region), "%s", prev + 1);
		} else if (resolve_region_like(last + 1)) {
			snprintf(out->region, sizeof(out->region), "%s", last + 1);
		} else {
			*last = '.';
		}
		for (char *p = out->region; *p; p++)
			*p = (char)tolower((unsigned char)*p);
	}
	snprintf(out->target, sizeof(out->target), "%s", t);

	if (parse_id(t, out->value, sizeof(out->value))) {
		out->kind = RESOLVE_ID;
	} else if (strchr(t, '=') != NULL) {
		char *eq = strchr(t, '=');
		*eq = '\0';
		if (t[0] == '\0' || eq[1] == '\0')
			return err_set(e, E_INVAL, "'%.100s': a tag is written KEY=VALUE, both non-empty",
			               host);
		out->kind = RESOLVE_TAG;
		snprintf(out->key, sizeof(out->key), "%s", t);
		snprintf(out->value, sizeof(out->value), "%s", eq + 1);
	} else if (inet_pton(AF_INET, t, &a) == 1) {
		out->kind = RESOLVE_IPV4;
		snprintf(out->value, sizeof(out->value), "%s", t);
	} else if (strncasecmp(t, "i-", 2) == 0 || strncasecmp(t, "mi-", 3) == 0) {
		/* Surely a mistyped id: say so rather than search for a Name tag. */
		return err_set(e, E_INVAL, "'%.100s' is not an instance id: use i- or mi- followed "
		               "by 8 or 17 hex digits", t);
	} else {
		out->kind = strchr(t, '.') != NULL ? RESOLVE_DNS : RESOLVE_NAME;
		snprintf(out->key, sizeof(out->key), "Name");
		snprintf(out->value, sizeof(out->value), "%s", t);
	}
	return 0;
}

static int
private_ipv4(const char *s)
{
	struct in_addr a;
	uint32_t v;

	if (inet_pton(AF_INET, s, &a) != 1)
		return 0;
	v = ntohl(a.s_addr);
	return (v >> 24) == 10 || (v >> 20) == (172u << 4 | 1) || (v >> 16) == (192u << 8 | 168) ||
	       (v >> 22) == (100u << 2 | 1);
}

int
resolve_match(const char *host, resolve_profile_fn profile_known, void *arg)
{
	struct resolve_host h;

	if (resolve_parse(host, profile_known, arg, &h, NULL) != 0)
		return 0;
	if (h.kind == RESOLVE_ID || h.kind == RESOLVE_TAG || h.region[0] != '\0')
		return 1;
	switch (h.kind) {
	case RESOLVE_NAME:
		return strcasecmp(h.value, "localhost") != 0 && !all_digits(h.value);
	case RESOLVE_IPV4:
		return private_ipv4(h.value);
	default:
		return 0;
	}
}

/* ~/x or $VAR-named file path into out; returns 0 or -1. */
static int
aws_file(const char *var, const char *dflt, char *out, size_t outlen)
{
	const char *v = getenv(var), *home;

	if (v != NULL && *v != '\0') {
		if (v[0] == '~' && v[1] == '/') {
			if ((home = getenv("HOME")) == NULL)
				return -1;
			return snprintf(out, outlen, "%s%s", home, v + 1) < (int)outlen ? 0 : -1;
		}
		return snprintf(out, outlen, "%s", v) < (int)outlen ? 0 : -1;
	}
	if ((home = getenv("HOME")) == NULL)
		return -1;
	return snprintf(out, outlen, "%s/%s", home, dflt) < (int)outlen ? 0 : -1;
}

int
resolve_profile_in_files(void *arg, const char *profile)
{
	/*
	 * The same files and section names creds.c reads; only existence is
	 * asked here, so the names are checked without resolving anything.
	 */
	char path[4096], sect[RESOLVE_HOST_MAX + 16];
	struct ini *ini = NULL;
	int found = 0;

	(void)arg;
	if (aws_file("AWS_CONFIG_FILE", ".aws/config", path, sizeof(path)) == 0 &&
	    ini_load_file(&ini, path, NULL) == 0) {
		snprintf(sect, sizeof(sect), "profile %s", profile);
		found = ini_has_section(ini, sect) ||
		        (strcmp(profile, "default") == 0 && ini_has_section(ini, "default"));
		ini_free(ini);
		ini = NULL;
	}
	if (!found && aws_file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials", path,
	                       sizeof(path)) == 0 &&
	    ini_load_file(&ini, path, NULL) == 0) {
		found = ini_has_section(ini, profile);
		ini_free(ini);
	}
	return found;
}

/* ------------------------------------------------------------------ lookups */

struct cand {
	struct resolve_instance i;
	char tagval[256]; /* the value of the tag being searched for */
	int has_tag;
};

struct cands {
	struct cand *v;
	size_t n, cap;
};

static void
cands_free(struct cands *c)
{
	free(c->v);
	memset(c, 0, sizeof(*c));
}

static struct cand *
cands_add(struct cands *c)
{
	if (c->n == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 8;
		struct cand *nv = realloc(c->v, ncap * sizeof(*nv));
		if (nv == NULL)
			return NULL;
		c->v = nv;
		c->cap = ncap;
	}
	memset(&c->v[c->n], 0, sizeof(c->v[0]));
	return &c->v[c->n++];
}

/* First element child of n named name (namespace ignored), or NULL. */
static xmlNode *
xchild(const xmlNode *n, const char *name)
{
	for (xmlNode *c = n ? n->children : NULL; c != NULL; c = c->next)
		if (c->type == XML_ELEMENT_NODE && strcmp((const char *)c->name, name) == 0)
			return c;
	return NULL;
}

static xmlNode *
xnext(xmlNode *n, const char *name)
{
	for (n = n ? n->next : NULL; n != NULL; n = n->next)
		if (n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0)
			return n;
	return NULL;
}

/* Copies the text of n's child name into out ("" when absent). */
static void
xtext(const struct xmllib *x, const xmlNode *n, const char *name, char *out, size_t outlen)
{
	xmlNode *c = name ? xchild(n, name) : (xmlNode *)n;
	xmlChar *s = c ? x->content(c) : NULL;

	snprintf(out, outlen, "%s", s ? (const char *)s : "");
	xmllib_free(x, s);
}

static int
add_instance(const struct xmllib *x, struct cands *c, xmlNode *inst, const char *tagkey,
             struct err *e)
{
	struct cand *k;
	xmlNode *tags, *t;
	char key[256];

	if (c->n >= MAX_CANDIDATES)
		return err_set(e, E_RANGE, "more than %d instances match", MAX_CANDIDATES);
	if ((k = cands_add(c)) == NULL)
		return err_set(e, E_NOMEM, "out of memory");
	xtext(x, inst, "instanceId", k->i.id, sizeof(k->i.id));
	xtext(x, xchild(inst, "instanceState"), "name", k->i.state, sizeof(k->i.state));
	xtext(x, inst, "privateIpAddress", k->i.private_ip, sizeof(k->i.private_ip));
	xtext(x, inst, "ipAddress", k->i.public_ip, sizeof(k->i.public_ip));
	tags = xchild(inst, "tagSet");
	for (t = xchild(tags, "item"); t != NULL; t = xnext(t, "item")) {
		xtext(x, t, "key", key, sizeof(key));
		if (strcmp(key, "Name") == 0)
			xtext(x, t, "value", k->i.name, sizeof(k->i.name));
		/* Any case: the exact match was the server's filter already. */
		if (tagkey != NULL && strcasecmp(key, tagkey) == 0) {
			xtext(x, t, "value", k->tagval, sizeof(k->tagval));
			k->has_tag = 1;
		}
	}
	if (k->i.id[0] == '\0') {
		c->n--;
		return err_set(e, E_AWS, "DescribeInstances answered an instance without instanceId");
	}
	return 0;
}

/*
 * DescribeInstances with up to two filters (name/value; NULL name: none),
 * plus instance-state-name=running unless all_states; every page. Appends
 * to out; tagkey names the tag whose value each candidate records.
 */
static int
describe(const struct resolve_opts *o, const char *f1, const char *v1, const char *f2,
         const char *v2, int all_states, const char *tagkey, struct cands *out, struct err *e)
{
	char token[2048] = "";
	int r = 0;

	for (int page = 0; page < MAX_PAGES; page++) {
		struct awsapi_param p[8];
		size_t np = 0;
		int fi = 1;
		char names[3][32], values[3][32]; /* "Filter.N.Value.1" for any int N */
		const struct xmllib *x;
		xmlDoc *doc = NULL;
		xmlNode *root, *res, *inst;

		p[np++] = (struct awsapi_param){ "MaxResults", "1000" };
		if (token[0] != '\0')
			p[np++] = (struct awsapi_param){ "NextToken", token };
		if (!all_states) {
			snprintf(names[fi - 1], sizeof(names[0]), "Filter.%d.Name", fi);
			snprintf(values[fi - 1], sizeof(values[0]), "Filter.%d.Value.1", fi);
			p[np++] = (struct awsapi_param){ names[fi - 1], "instance-state-name" };
			p[np++] = (struct awsapi_param){ values[fi - 1], "running" };
			fi++;
		}
		for (int k = 0; k < 2; k++) {
			const char *fn = k == 0 ? f1 : f2, *fv = k == 0 ? v1 : v2;
			if (fn == NULL)
				continue;
			snprintf(names[fi - 1], sizeof(names[0]), "Filter.%d.Name", fi);
			snprintf(values[fi - 1], sizeof(values[0]), "Filter.%d.Value.1", fi);
			p[np++] = (struct awsapi_param){ names[fi - 1], fn };
			p[np++] = (struct awsapi_param){ values[fi - 1], fv };
			fi++;
		}
		if ((r = awsapi_query(o->api, "ec2", "DescribeInstances", EC2_VERSION, p, np, &doc, e)) != 0)
			return r;
		x = awsapi_xml(o->api);
		root = x->root(doc);
		for (res = xchild(xchild(root, "reservationSet"), "item"); res && r == 0;
		     res = xnext(res, "item"))
			for (inst = xchild(xchild(res, "instancesSet"), "item"); inst && r == 0;
			     inst = xnext(inst, "item"))
				r = add_instance(x, out, inst, tagkey, e);
		xtext(x, root, "nextToken", token, sizeof(token));
		x->free_doc(doc);
		if (r != 0 || token[0] == '\0')
			return r;
		log_debug(o->log, "DescribeInstances: next page");
	}
	return err_set(e, E_AWS, "DescribeInstances kept paging past %d pages", MAX_PAGES);
}

/* SSM PingStatus for every candidate (DescribeInstanceInformation, paged). */
static int
fetch_ping(const struct resolve_opts *o, struct cands *c, struct err *e)
{
	for (size_t start = 0; start < c->n; start += 50) {
		char token[2048] = "";
		for (int page = 0; page < MAX_PAGES; page++) {
			cJSON *req = cJSON_CreateObject(), *filters, *f, *vals, *ans = NULL, *item;
			const cJSON *list, *nt;
			int r;

			filters = cJSON_AddArrayToObject(req, "Filters");
			f = cJSON_CreateObject();
			vals = cJSON_CreateArray();
			if (req == NULL || filters == NULL || f == NULL || vals == NULL ||
			    !cJSON_AddItemToArray(filters, f) ||
			    cJSON_AddStringToObject(f, "Key", "InstanceIds") == NULL ||
			    !cJSON_AddItemToObject(f, "Values", vals) ||
			    cJSON_AddNumberToObject(req, "MaxResults", 50) == NULL ||
			    (token[0] && cJSON_AddStringToObject(req, "NextToken", token) == NULL)) {
				cJSON_Delete(req);
				if (vals != NULL && f == NULL)
					cJSON_Delete(vals);
				return err_set(e, E_NOMEM, "out of memory");
			}
			for (size_t i = start; i < c->n && i < start + 50; i++)
				cJSON_AddItemToArray(vals, cJSON_CreateString(c->v[i].i.id));
			r = awsapi_json(o->api, "ssm", "AmazonSSM", "DescribeInstanceInformation", req,
			                &ans, e);
			cJSON_Delete(req);
			if (r != 0)
				return r;
			list = cJSON_GetObjectItemCaseSensitive(ans, "InstanceInformationList");
			cJSON_ArrayForEach(item, list) {
				const cJSON *id = cJSON_GetObjectItemCaseSensitive(item, "InstanceId");
				const cJSON *ps = cJSON_GetObjectItemCaseSensitive(item, "PingStatus");
				if (!cJSON_IsString(id) || !cJSON_IsString(ps))
					continue;
				for (size_t i = 0; i < c->n; i++)
					if (strcmp(c->v[i].i.id, id->valuestring) == 0)
						snprintf(c->v[i].i.ping, sizeof(c->v[i].i.ping), "%s",
						         ps->valuestring);
			}
			nt = cJSON_GetObjectItemCaseSensitive(ans, "NextToken");
			snprintf(token, sizeof(token), "%s", cJSON_IsString(nt) ? nt->valuestring : "");
			cJSON_Delete(ans);
			if (token[0] == '\0')
				break;
		}
	}
	for (size_t i = 0; i < c->n; i++)
		if (c->v[i].i.ping[0] == '\0')
			snprintf(c->v[i].i.ping, sizeof(c->v[i].i.ping), "NotManaged");
	return 0;
}

/* "i-0abc (web-1, 10.0.1.5, running, Online)" */
static void
describe_cand(const struct cand *k, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s (%s, %s, %s%s%s)", k->i.id, k->i.name[0] ? k->i.name : "no Name",
	         k->i.private_ip[0] ? k->i.private_ip : k->i.public_ip[0] ? k->i.public_ip : "no IP",
	         k->i.state, k->i.ping[0] ? ", " : "", k->i.ping);
}

/* What was searched, for messages: "tag Name=web-1". */
static void
searched(const struct resolve_host *h, char *out, size_t outlen)
{
	if (h->kind == RESOLVE_IPV4)
		snprintf(out, outlen, "address %s", h->value);
	else
		snprintf(out, outlen, "tag %s=%s", h->key, h->value);
}

/* One candidate left: copy it out; several: narrow to Online, else fail. */
static int
pick(const struct resolve_opts *o, const struct resolve_host *h, struct cands *c,
     struct resolve_instance *out, struct err *e)
{
	char what[600], one[400];
	size_t online = 0, at = 0, len;
	int r;

	if (c->n > 1 || o->want_ping) {
		if ((r = fetch_ping(o, c, e)) != 0)
			return r;
	}
	if (c->n == 1) {
		*out = c->v[0].i;
		return 0;
	}
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->v[i].i.ping, "Online") == 0)
			online++, at = i;
	if (online == 1) {
		log_verbose(o->log, "%zu instances match %s; %s is the only one online", c->n,
		            h->target, c->v[at].i.id);
		*out = c->v[at].i;
		return 0;
	}
	searched(h, what, sizeof(what));
	/* err_set cuts an over-long message rather than overflowing. */
	err_set(e, E_INVAL, "%zu running instances have %s in %s (profile %s)%s; name one by id:",
	        c->n, what, o->region, o->profile,
	        online > 1 ? ", several online" : ", none online");
	for (size_t i = 0; i < c->n && i < LIST_IN_ERROR; i++) {
		describe_cand(&c->v[i], one, sizeof(one));
		len = strlen(e->msg);
		snprintf(e->msg + len, sizeof(e->msg) - len, "%s %s", i ? "," : "", one);
	}
	if (c->n > LIST_IN_ERROR) {
		len = strlen(e->msg);
		snprintf(e->msg + len, sizeof(e->msg) - len, " and %zu more", c->n - LIST_IN_ERROR);
	}
	return E_INVAL;
}

/* Keeps the candidates whose tag value equals value, ignoring case. */
static void
keep_casefold(struct cands *c, const char *value)
{
	size_t o = 0;

	for (size_t i = 0; i < c->n; i++)
		if (c->v[i].has_tag && strcasecmp(c->v[i].tagval, value) == 0)
			c->v[o++] = c->v[i];
	c->n = o;
}

/*
 * Running instances carrying tag key=value: exact (the server filters),
 * then, when nothing matched, key and value in any case, since ssh
 * lowercases host names; that second pass lists the region's running
 * instances, once, only for names that match nothing as typed.
 */
static int
by_tag(const struct resolve_opts *o, const char *key, const char *value, struct cands *c,
       struct err *e)
{
	char fname[300];
	int r;

	snprintf(fname, sizeof(fname), "tag:%s", key);
	if ((r = describe(o, fname, value, NULL, NULL, 0, key, c, e)) != 0 || c->n > 0)
		return r;
	log_debug(o->log, "no exact match for tag %s=%s; comparing without case", key, value);
	if ((r = describe(o, NULL, NULL, NULL, NULL, 0, key, c, e)) != 0)
		return r;
	keep_casefold(c, value);
	return 0;
}

/* Running instances with this private, else public address. */
static int
by_address(const struct resolve_opts *o, const char *ip, struct cands *c, struct err *e)
{
	int r;

	if ((r = describe(o, "private-ip-address", ip, NULL, NULL, 0, NULL, c, e)) != 0 || c->n > 0)
		return r;
	return describe(o, "ip-address", ip, NULL, NULL, 0, NULL, c, e);
}

/* Appends "; i-0abc (web-3) is stopped" for matches that are not running. */
static void
explain_not_running(const struct resolve_opts *o, const struct resolve_host *h, struct err *e)
{
	struct cands all = { 0 };
	struct err ignored;
	char fname[300];
	size_t len;
	int r;

	if (h->kind == RESOLVE_IPV4) {
		r = describe(o, "private-ip-address", h->value, NULL, NULL, 1, NULL, &all, &ignored);
	} else {
		snprintf(fname, sizeof(fname), "tag:%s", h->key);
		r = describe(o, fname, h->value, NULL, NULL, 1, NULL, &all, &ignored);
	}
	for (size_t i = 0; r == 0 && i < all.n && i < LIST_IN_ERROR; i++) {
		len = strlen(e->msg);
		snprintf(e->msg + len, sizeof(e->msg) - len, "%s %s (%s) is %s", i ? "," : ";",
		         all.v[i].i.id, all.v[i].i.name[0] ? all.v[i].i.name : "no Name",
		         all.v[i].i.state);
	}
	cands_free(&all);
}

int
resolve_lookup(const struct resolve_opts *o, const struct resolve_host *h,
               struct resolve_instance *out, struct err *e)
{
	struct cands c = { 0 };
	char what[600], ip[INET_ADDRSTRLEN] = "";
	int r;

	memset(out, 0, sizeof(*out));
	switch (h->kind) {
	case RESOLVE_ID:
		snprintf(out->id, sizeof(out->id), "%.31s", h->value);
		if (!o->want_ping || strncmp(h->value, "mi-", 3) == 0)
			return 0;
		r = describe(o, "instance-id", h->value, NULL, NULL, 1, NULL, &c, e);
		if (r == 0 && c.n == 0) {
			/* Details are a courtesy: an id is used as given. */
			struct cand *k = cands_add(&c);
			if (k == NULL) {
				r = err_set(e, E_NOMEM, "out of memory");
				break;
			}
			snprintf(k->i.id, sizeof(k->i.id), "%.31s", h->value);
		}
		if (r == 0)
			r = pick(o, h, &c, out, e);
		break;
	case RESOLVE_TAG:
	case RESOLVE_NAME:
		r = by_tag(o, h->key, h->value, &c, e);
		if (r == 0 && c.n == 0) {
			searched(h, what, sizeof(what));
			err_set(e, E_NOTFOUND, "no running instance has %s in %s (profile %s)", what,
			        o->region, o->profile);
			explain_not_running(o, h, e);
			r = E_NOTFOUND;
		}
		if (r == 0)
			r = pick(o, h, &c, out, e);
		break;
	case RESOLVE_IPV4:
		r = by_address(o, h->value, &c, e);
		if (r == 0 && c.n == 0) {
			err_set(e, E_NOTFOUND,
			        "no running instance has the private or public address %s in %s "
			        "(profile %s)", h->value, o->region, o->profile);
			explain_not_running(o, h, e);
			r = E_NOTFOUND;
		}
		if (r == 0)
			r = pick(o, h, &c, out, e);
		break;
	case RESOLVE_DNS:
		r = by_tag(o, h->key, h->value, &c, e);
		if (r == 0 && c.n == 0) {
			struct addrinfo hints, *ai = NULL;
			memset(&hints, 0, sizeof(hints));
			hints.ai_family = AF_INET;
			hints.ai_socktype = SOCK_STREAM;
			if (getaddrinfo(h->value, NULL, &hints, &ai) == 0 && ai != NULL) {
				const struct sockaddr_in *sa = (const struct sockaddr_in *)ai->ai_addr;
				inet_ntop(AF_INET, &sa->sin_addr, ip, sizeof(ip));
			}
			if (ai != NULL)
				freeaddrinfo(ai);
			if (ip[0] != '\0') {
				log_verbose(o->log, "%s resolves to %s", h->value, ip);
				r = by_address(o, ip, &c, e);
			}
			if (r == 0 && c.n == 0) {
				if (ip[0] != '\0')
					err_set(e, E_NOTFOUND,
					        "no running instance has tag Name=%s or the address %s that "
					        "%s resolves to, in %s (profile %s)", h->value, ip, h->value,
					        o->region, o->profile);
				else
					err_set(e, E_NOTFOUND,
					        "no running instance has tag Name=%s in %s (profile %s), and "
					        "%s does not resolve to an IPv4 address", h->value, o->region,
					        o->profile, h->value);
				r = E_NOTFOUND;
			}
		}
		if (r == 0)
			r = pick(o, h, &c, out, e);
		break;
	default:
		r = err_set(e, E_INVAL, "unknown host form");
	}
	cands_free(&c);
	return r;
}
