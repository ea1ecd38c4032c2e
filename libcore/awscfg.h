/*
 * awscfg.h: settings of the selected profile that shape every AWS call:
 * endpoints, FIPS and dual-stack, the CA bundle.
 *
 * Endpoint of a service, in the AWS SDKs' order:
 *   1. nothing configured counts when AWS_IGNORE_CONFIGURED_ENDPOINT_URLS
 *      (or the profile's ignore_configured_endpoint_urls) is "true";
 *   2. AWS_ENDPOINT_URL_<SERVICE> (SSM, EC2, STS, SSO, SSMMESSAGES,
 *      EC2_INSTANCE_CONNECT);
 *   3. the profile's "services" section: [services NAME] with a nested
 *      "<service> =" block holding endpoint_url;
 *   4. AWS_ENDPOINT_URL, then the profile's endpoint_url;
 *   5. the default: https://<service>[-fips].<region>.<suffix>, the suffix
 *      of the region's partition (amazonaws.com, amazonaws.com.cn, ...) or,
 *      dual-stack, api.aws / api.amazonwebservices.com.cn. STS is regional
 *      unless sts_regional_endpoints = legacy names a legacy global region;
 *      the SSO portal is portal.sso.<region>.
 * FIPS: AWS_USE_FIPS_ENDPOINT, else use_fips_endpoint; dual-stack:
 * AWS_USE_DUALSTACK_ENDPOINT, else use_dualstack_endpoint ("true"/"false").
 */
#ifndef SSMP_AWSCFG_H
#define SSMP_AWSCFG_H

#include <stddef.h>

#include "err.h"

#define AWSCFG_MAX_SERVICES 16

struct awscfg {
	char *endpoint_url;          /* profile endpoint_url; NULL if none */
	struct {
		char *service;       /* "ssm", "ec2_instance_connect", ... (lower case) */
		char *url;
	} svc[AWSCFG_MAX_SERVICES];  /* from the profile's services section */
	size_t nsvc;
	int ignore_configured;       /* profile ignore_configured_endpoint_urls */
	int use_fips;                /* profile use_fips_endpoint: -1 unset, 0, 1 */
	int use_dualstack;           /* profile use_dualstack_endpoint: -1 unset, 0, 1 */
	int sts_legacy;              /* profile sts_regional_endpoints = legacy */
	char *ca_bundle;             /* profile ca_bundle; NULL if none */
};

/*
 * Reads the settings of the profile selected from cli_profile (as
 * creds_profile_name does) into out (awscfg_free it). A profile that
 * exists nowhere and missing files give empty settings. Returns 0; E_CONFIG
 * for a bad value (not true/false, an endpoint without http(s)://) or a
 * file that does not parse; E_IO; E_NOMEM.
 */
int awscfg_load(struct awscfg *out, const char *cli_profile, struct err *e);

/* Frees what cfg holds; cfg is zeroed (NULL is fine). */
void awscfg_free(struct awscfg *cfg);

/*
 * Writes the endpoint URL (no trailing slash) of service ("ssm", "ec2",
 * "sts", "sso", "ssmmessages", "ec2-instance-connect") in region into out;
 * cfg may be NULL (environment only). Returns 0 or E_CONFIG (a bad or too
 * long URL).
 */
int awscfg_endpoint(const struct awscfg *cfg, const char *service, const char *region, char *out,
		    size_t outlen, struct err *e);

/*
 * Like awscfg_endpoint, but only an endpoint the user configured (steps 1
 * to 4); returns 0, E_NOTFOUND when there is none, or E_CONFIG.
 */
int awscfg_configured_endpoint(const struct awscfg *cfg, const char *service, char *out,
			       size_t outlen, struct err *e);

/* Returns the DNS suffix of region's partition ("amazonaws.com", "amazonaws.com.cn", ...). */
const char *awscfg_dns_suffix(const char *region);

/* Returns the CA bundle to use: AWS_CA_BUNDLE, else cfg's ca_bundle, else NULL. */
const char *awscfg_ca_bundle(const struct awscfg *cfg);

#endif
