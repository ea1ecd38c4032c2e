/*
 * creds.h: AWS credentials, profile and region, resolved like the AWS CLI.
 *
 * Credentials come from a chain of providers tried in order; the first that
 * finds something wins, and one that finds something broken (an access key
 * without its secret) stops the chain with an error instead of falling
 * through. The chain, in botocore's order:
 *
 *   1. environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, then
 *      AWS_SECURITY_TOKEN (legacy, checked first as botocore does) or
 *      AWS_SESSION_TOKEN, and AWS_CREDENTIAL_EXPIRATION. Skipped when a
 *      profile is given with --profile (AWS_PROFILE alone does not skip it).
 *   2. assume role: the profile's role_arn with source_profile (chains of
 *      any length; a loop is an error) or credential_source (Environment,
 *      Ec2InstanceMetadata, EcsContainer); external_id, role_session_name,
 *      duration_seconds (sts.h).
 *   3. web identity: AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN
 *      [+ AWS_ROLE_SESSION_NAME], or the profile's web_identity_token_file
 *      + role_arn [+ role_session_name] (STS AssumeRoleWithWebIdentity).
 *   4. SSO: sso_session (with an [sso-session NAME] section) or the legacy
 *      sso_start_url / sso_region, plus sso_account_id and sso_role_name
 *      (sso.h).
 *   5. shared credentials file (AWS_SHARED_CREDENTIALS_FILE, default
 *      ~/.aws/credentials), section [NAME].
 *   6. credential_process of the profile (credproc.h).
 *   7. config file (AWS_CONFIG_FILE, default ~/.aws/config), section
 *      [profile NAME], or [default] / [profile default] for "default".
 *   8. container endpoint (ecs.h), 9. instance metadata (imds.h).
 *
 * Temporary credentials from 2, 3 and 4 are cached like the AWS CLI does
 * (credcache.h) and reused until 5 minutes before they expire.
 *
 * Profile: --profile, else AWS_PROFILE, else AWS_DEFAULT_PROFILE, else
 * "default" (the AWS CLI v2 order). A profile chosen by name (flag or
 * environment) must exist in one of the two files; the implicit "default"
 * need not.
 *
 * Missing files count as empty; files that exist but do not parse are
 * errors, as with the AWS CLI. Secrets are wiped on free and never logged.
 */
#ifndef SSMP_CREDS_H
#define SSMP_CREDS_H

#include <time.h>

#include "err.h"
#include "log.h"

struct creds {
	char *access_key_id;
	char *secret_access_key;
	char *session_token;  /* NULL if none */
	time_t expiration;    /* 0 = none */
	char source[64];      /* e.g. "environment", "config file (profile dev)" */
};

struct awscfg;

struct creds_opts {
	const char *profile;  /* from --profile; NULL if not given */
	const struct logger *log;
	const char *region;   /* for STS calls; NULL: the profile's, else us-east-1 */
	const struct awscfg *cfg; /* endpoints and CA bundle for STS / SSO; may be NULL */
	int no_cache;         /* neither read nor write the credential cache */
};

/*
 * Resolves credentials into out (zeroed first; creds_free it on success).
 * Returns 0; E_AUTH when no provider has credentials or a provider has
 * partial ones; E_CONFIG for a named profile that exists nowhere or a file
 * that does not parse; E_IO when a file cannot be read; E_NOMEM.
 */
int creds_resolve(struct creds *out, const struct creds_opts *opts, struct err *e);

/*
 * Sets c (zeroed first) to copies of the strings (tok may be NULL), exp and
 * source (NULL: empty). Returns 0 or E_NOMEM (c is then empty).
 */
int creds_set(struct creds *c, const char *ak, const char *sk, const char *tok, time_t exp,
	      const char *source);

/* Wipes the secrets and frees what c holds; c is zeroed (NULL is fine). */
void creds_free(struct creds *c);

/* Deep-copies src into dst (creds_free it); returns 0 or E_NOMEM. */
int creds_copy(struct creds *dst, const struct creds *src);

/*
 * Returns the profile name in effect: cli_profile if not NULL, else a
 * non-empty AWS_PROFILE, else AWS_DEFAULT_PROFILE, else "default". The
 * pointer is cli_profile, the environment's string or a static string.
 */
const char *creds_profile_name(const char *cli_profile);

/*
 * Selects the region into *out (malloc'd): cli_region (--region), else
 * AWS_REGION, else AWS_DEFAULT_REGION, else the "region" key of the profile
 * selected from cli_profile as creds_profile_name does (a region in the
 * credentials file section overrides the config file's, as in the AWS CLI).
 * Returns 0; E_CONFIG when none is set, the value is not a region name, or
 * a named profile exists nowhere; E_IO / E_NOMEM.
 */
int creds_region(char **out, const char *cli_region, const char *cli_profile, struct err *e);

/*
 * Returns 1 if s looks like a region name (it becomes part of a host name):
 * 1 to 63 of [a-z0-9-], starting with a letter, not ending with '-'.
 * Returns 0 otherwise.
 */
int creds_region_valid(const char *s);

/*
 * The config and credentials files with the profile selected from
 * cli_profile, for other modules' settings (awscfg.h). Missing files and
 * a profile that exists nowhere read as empty.
 */
struct creds_profile;

/* Loads the files into *out (creds_profile_close it); 0, E_CONFIG, E_IO or E_NOMEM. */
int creds_profile_open(struct creds_profile **out, const char *cli_profile,
		       const struct logger *log, struct err *e);

/* Returns key of the profile (credentials file first, then config), or NULL. */
const char *creds_profile_get(const struct creds_profile *p, const char *key);

/*
 * Returns sub of the nested key in the config section "TYPE NAME" (e.g.
 * "services" "my-endpoints" "ssm" "endpoint_url"), or NULL.
 */
const char *creds_profile_section_sub(const struct creds_profile *p, const char *type,
				      const char *name, const char *key, const char *sub);

/* Frees p (NULL is fine). */
void creds_profile_close(struct creds_profile *p);

/*
 * Parses an ISO 8601 UTC time as AWS writes expirations
 * ("2024-05-01T12:00:00Z", optional fraction, "Z" or +hh:mm / -hh:mm; no
 * zone means UTC) into *out. Returns 0 or E_INVAL.
 */
int creds_parse_time(const char *s, time_t *out);

#endif
