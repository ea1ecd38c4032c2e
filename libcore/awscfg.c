/* awscfg.c: profile settings for every call: endpoints, FIPS, dual-stack, CA bundle. */
#include "awscfg.h"
#include "creds.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Services whose "<name> =" block the services section may hold. */
static const char *const known_services[] = {
	"ssm", "ec2", "sts", "sso", "ssmmessages", "ec2_instance_connect",
};

/* Regions that STS served from sts.amazonaws.com before regional endpoints. */
static const char *const sts_legacy_regions[] = {
	"ap-northeast-1", "ap-south-1", "ap-southeast-1", "ap-southeast-2", "aws-global",
	"ca-central-1", "eu-central-1", "eu-north-1", "eu-west-1", "eu-west-2", "eu-west-3",
	"sa-east-1", "us-east-1", "us-east-2", "us-west-1", "us-west-2",
};

static const char *
env(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? v : NULL;
}

/* "true"/"false" in any case, as botocore's ensure_boolean; -1 if unset. */
static int
boolean(const char *v, const char *from, int *out, struct err *e)
{
	*out = -1;
	if (v == NULL)
		return 0;
	if (strcasecmp(v, "true") == 0)
		*out = 1;
	else if (strcasecmp(v, "false") == 0)
		*out = 0;
	else
		return err_set(e, E_CONFIG, "%s must be true or false", from);
	return 0;
}

static int
url_ok(const char *url)
{
	return strncmp(url, "https://", 8) == 0 || strncmp(url, "http://", 7) == 0;
}

static int
dup_url(char **out, const char *v, const char *from, struct err *e)
{
	if (!url_ok(v))
		return err_set(e, E_CONFIG, "%s must start with https:// or http://", from);
	if ((*out = strdup(v)) == NULL)
		return err_set(e, E_NOMEM, "out of memory");
	return 0;
}

int
awscfg_load(struct awscfg *out, const char *cli_profile, struct err *e)
{
	struct creds_profile *p = NULL;
	const char *v, *sect;
	int r;

	memset(out, 0, sizeof(*out));
	out->use_fips = out->use_dualstack = -1;
	if ((r = creds_profile_open(&p, cli_profile, NULL, e)) != 0)
		return r;
	if ((r = boolean(creds_profile_get(p, "ignore_configured_endpoint_urls"),
			 "ignore_configured_endpoint_urls", &out->ignore_configured, e)) != 0 ||
	    (r = boolean(creds_profile_get(p, "use_fips_endpoint"), "use_fips_endpoint",
			 &out->use_fips, e)) != 0 ||
	    (r = boolean(creds_profile_get(p, "use_dualstack_endpoint"), "use_dualstack_endpoint",
			 &out->use_dualstack, e)) != 0)
		goto done;
	if (out->ignore_configured < 0)
		out->ignore_configured = 0;
	if ((v = creds_profile_get(p, "sts_regional_endpoints")) != NULL)
		out->sts_legacy = strcasecmp(v, "legacy") == 0;
	if ((v = creds_profile_get(p, "endpoint_url")) != NULL &&
	    (r = dup_url(&out->endpoint_url, v, "endpoint_url", e)) != 0)
		goto done;
	if ((v = creds_profile_get(p, "ca_bundle")) != NULL &&
	    (out->ca_bundle = strdup(v)) == NULL) {
		r = err_set(e, E_NOMEM, "out of memory");
		goto done;
	}
	if ((sect = creds_profile_get(p, "services")) != NULL) {
		for (size_t i = 0; i < sizeof(known_services) / sizeof(known_services[0]); i++) {
			v = creds_profile_section_sub(p, "services", sect, known_services[i],
						      "endpoint_url");
			if (v == NULL || out->nsvc >= AWSCFG_MAX_SERVICES)
				continue;
			if ((out->svc[out->nsvc].service = strdup(known_services[i])) == NULL) {
				r = err_set(e, E_NOMEM, "out of memory");
				goto done;
			}
			if ((r = dup_url(&out->svc[out->nsvc].url, v, "services endpoint_url", e)) != 0) {
				free(out->svc[out->nsvc].service);
				goto done;
			}
			out->nsvc++;
		}
	}
done:
	creds_profile_close(p);
	if (r != 0)
		awscfg_free(out);
	return r;
}

void
awscfg_free(struct awscfg *cfg)
{
	if (cfg == NULL)
		return;
	free(cfg->endpoint_url);
	free(cfg->ca_bundle);
	for (size_t i = 0; i < cfg->nsvc; i++) {
		free(cfg->svc[i].service);
		free(cfg->svc[i].url);
	}
	memset(cfg, 0, sizeof(*cfg));
}

const char *
awscfg_dns_suffix(const char *region)
{
	static const struct {
		const char *prefix, *suffix;
	} parts[] = {
		{ "cn-", "amazonaws.com.cn" },
		{ "us-isob-", "sc2s.sgov.gov" },
		{ "us-isof-", "csp.hci.ic.gov" },
		{ "us-iso-", "c2s.ic.gov" },
		{ "eu-isoe-", "cloud.adc-e.uk" },
	};

	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		if (strncmp(region, parts[i].prefix, strlen(parts[i].prefix)) == 0)
			return parts[i].suffix;
	return "amazonaws.com"; /* aws and aws-us-gov */
}

/* The dual-stack suffix of region's partition. */
static const char *
dualstack_suffix(const char *region)
{
	return strncmp(region, "cn-", 3) == 0 ? "api.amazonwebservices.com.cn" : "api.aws";
}

/* "ec2-instance-connect" -> "EC2_INSTANCE_CONNECT" (the variable's suffix). */
static void
service_id(const char *service, char *out, size_t outlen, int upper)
{
	size_t o = 0;

	for (const char *p = service; *p && o + 1 < outlen; p++)
		out[o++] = (*p == '-' || *p == ' ') ? '_'
			   : (char)(upper ? toupper((unsigned char)*p) : tolower((unsigned char)*p));
	out[o] = '\0';
}

static int
copy_url(char *out, size_t outlen, const char *url, const char *from, struct err *e)
{
	size_t n;

	if (!url_ok(url))
		return err_set(e, E_CONFIG, "%s must start with https:// or http://", from);
	n = strlen(url);
	while (n > 0 && url[n - 1] == '/')
		n--;
	if (n >= outlen)
		return err_set(e, E_CONFIG, "%s is too long", from);
	memcpy(out, url, n);
	out[n] = '\0';
	return 0;
}

/* Environment switch name, else the profile's value (-1 unset). */
static int
flag(const char *name, int profile_value)
{
	const char *v = env(name);

	if (v != NULL)
		return strcasecmp(v, "true") == 0;
	return profile_value > 0;
}

int
awscfg_configured_endpoint(const struct awscfg *cfg, const char *service, char *out,
			   size_t outlen, struct err *e)
{
	char name[96], id[64];
	const char *v;
	int ignore;

	v = env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
	ignore = v != NULL ? strcasecmp(v, "true") == 0 : cfg != NULL && cfg->ignore_configured;
	if (!ignore) {
		service_id(service, id, sizeof(id), 1);
		snprintf(name, sizeof(name), "AWS_ENDPOINT_URL_%s", id);
		if ((v = env(name)) != NULL)
			return copy_url(out, outlen, v, name, e);
		service_id(service, id, sizeof(id), 0);
		for (size_t i = 0; cfg != NULL && i < cfg->nsvc; i++)
			if (strcmp(cfg->svc[i].service, id) == 0)
				return copy_url(out, outlen, cfg->svc[i].url, "services endpoint_url", e);
		if ((v = env("AWS_ENDPOINT_URL")) != NULL)
			return copy_url(out, outlen, v, "AWS_ENDPOINT_URL", e);
		if (cfg != NULL && cfg->endpoint_url != NULL)
			return copy_url(out, outlen, cfg->endpoint_url, "endpoint_url", e);
	}
	return E_NOTFOUND;
}

int
awscfg_endpoint(const struct awscfg *cfg, const char *service, const char *region, char *out,
		size_t outlen, struct err *e)
{
	const char *host = service, *suffix;
	int fips, dual, r;
	size_t n;

	if ((r = awscfg_configured_endpoint(cfg, service, out, outlen, e)) != E_NOTFOUND)
		return r;
	fips = flag("AWS_USE_FIPS_ENDPOINT", cfg != NULL ? cfg->use_fips : -1);
	dual = flag("AWS_USE_DUALSTACK_ENDPOINT", cfg != NULL ? cfg->use_dualstack : -1);
	suffix = dual ? dualstack_suffix(region) : awscfg_dns_suffix(region);
	if (strcmp(service, "sso") == 0)
		host = "portal.sso";
	if (strcmp(service, "sts") == 0 && cfg != NULL && cfg->sts_legacy && !fips && !dual) {
		for (size_t i = 0; i < sizeof(sts_legacy_regions) / sizeof(sts_legacy_regions[0]); i++)
			if (strcmp(region, sts_legacy_regions[i]) == 0) {
				n = (size_t)snprintf(out, outlen, "https://sts.amazonaws.com");
				return n < outlen ? 0 : err_set(e, E_CONFIG, "endpoint name too long");
			}
	}
	n = (size_t)snprintf(out, outlen, "https://%s%s.%s.%s", host, fips ? "-fips" : "", region,
			     suffix);
	if (n >= outlen)
		return err_set(e, E_CONFIG, "endpoint name too long");
	return 0;
}

const char *
awscfg_ca_bundle(const struct awscfg *cfg)
{
	const char *v = env("AWS_CA_BUNDLE");

	if (v != NULL)
		return v;
	return cfg != NULL && cfg->ca_bundle != NULL && *cfg->ca_bundle != '\0' ? cfg->ca_bundle
										  : NULL;
}
