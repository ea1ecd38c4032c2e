/*
 * creds.h: AWS credentials, profile and region, resolved like the AWS CLI.
 *
 * Credentials come from a chain of providers tried in order; the first that
 * finds something wins, and one that finds something broken (an access key
 * without its secret) stops the chain with an error instead of falling
 * through. The chain today:
 *
 *   1. environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, then
 *      AWS_SECURITY_TOKEN (legacy, checked first as botocore does) or
 *      AWS_SESSION_TOKEN, and AWS_CREDENTIAL_EXPIRATION. Skipped when a
 *      profile is given with --profile (AWS_PROFILE alone does not skip it).
 *   2. shared credentials file (AWS_SHARED_CREDENTIALS_FILE, default
 *      ~/.aws/credentials), section [NAME].
 *   3. config file (AWS_CONFIG_FILE, default ~/.aws/config), section
 *      [profile NAME], or [default] / [profile default] for "default".
 *
 * Later providers (web identity, assume role, credential_process, SSO,
 * container, instance metadata) slot into the same chain.
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

struct creds_opts {
	const char *profile;  /* from --profile; NULL if not given */
	const struct logger *log;
};

/*
 * Resolves credentials into out (zeroed first; creds_free it on success).
 * Returns 0; E_AUTH when no provider has credentials or a provider has
 * partial ones; E_CONFIG for a named profile that exists nowhere or a file
 * that does not parse; E_IO when a file cannot be read; E_NOMEM.
 */
int creds_resolve(struct creds *out, const struct creds_opts *opts, struct err *e);

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
 * Parses an ISO 8601 UTC time as AWS writes expirations
 * ("2024-05-01T12:00:00Z", optional fraction, "Z" or +hh:mm / -hh:mm; no
 * zone means UTC) into *out. Returns 0 or E_INVAL.
 */
int creds_parse_time(const char *s, time_t *out);

#endif
