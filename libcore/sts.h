/*
 * sts.h: STS AssumeRole and AssumeRoleWithWebIdentity (Query protocol,
 * XML answers), for role profiles and web identity.
 */
#ifndef SSMP_STS_H
#define SSMP_STS_H

#include "err.h"
#include "log.h"

struct awscfg;
struct creds;

struct sts_opts {
	const char *region;          /* signing region and regional endpoint */
	const struct awscfg *cfg;    /* endpoints; may be NULL */
	const char *ca_file;         /* NULL: awscfg_ca_bundle */
	const struct logger *log;
};

struct sts_role {
	const char *role_arn;
	const char *session_name;
	const char *external_id;     /* NULL: none */
	long duration_seconds;       /* 0: the service default (1 hour) */
};

/*
 * Calls AssumeRole signed with src; fills out (creds_free it). Returns 0;
 * E_AWS (AccessDenied, ...) / E_NET / E_TIMEOUT with a message; E_NOMEM.
 */
int sts_assume_role(const struct sts_opts *o, const struct creds *src, const struct sts_role *role,
		    struct creds *out, struct err *e);

/*
 * Calls AssumeRoleWithWebIdentity (unsigned) with token; fills out.
 * Returns as sts_assume_role.
 */
int sts_assume_role_web_identity(const struct sts_opts *o, const struct sts_role *role,
				 const char *token, struct creds *out, struct err *e);

#endif
