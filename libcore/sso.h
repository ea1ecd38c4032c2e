/*
 * sso.h: IAM Identity Center (SSO) role credentials, as the AWS CLI gets
 * them: the access token "aws sso login" cached under ~/.aws/sso/cache
 * (file named by the SHA-1 of the sso-session name, or of the start URL
 * in the legacy form) is sent to the portal's GetRoleCredentials.
 */
#ifndef SSMP_SSO_H
#define SSMP_SSO_H

#include "err.h"
#include "log.h"

struct awscfg;
struct creds;

struct sso_profile {
	const char *profile;         /* for the "aws sso login --profile X" hint */
	const char *session_name;    /* sso_session; NULL in the legacy form */
	const char *start_url;       /* sso_start_url */
	const char *region;          /* sso_region */
	const char *account_id;      /* sso_account_id */
	const char *role_name;       /* sso_role_name */
};

/*
 * Gets role credentials into out (creds_free it). Returns 0; E_AUTH when
 * the cached token is missing, expired or refused (the message names the
 * "aws sso login --profile X" to run); E_CONFIG for missing settings;
 * E_AWS / E_NET / E_TIMEOUT; E_NOMEM.
 */
int sso_role_credentials(const struct sso_profile *p, const struct awscfg *cfg, const char *ca_file,
			 const struct logger *log, struct creds *out, struct err *e);

#endif
