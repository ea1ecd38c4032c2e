/*
 * imds.h: EC2 instance metadata (IMDSv2): the instance role's credentials
 * and the instance's region, as botocore gets them.
 *
 * A session token comes first (PUT /latest/api/token); a 403/404/405 to
 * that falls back to plain GETs, as botocore does. Endpoint:
 * AWS_EC2_METADATA_SERVICE_ENDPOINT, else http://169.254.169.254 (or
 * http://[fd00:ec2::254] with AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6).
 * Timeout AWS_METADATA_SERVICE_TIMEOUT seconds (default 1) per attempt,
 * AWS_METADATA_SERVICE_NUM_ATTEMPTS attempts (default 1).
 * AWS_EC2_METADATA_DISABLED=true turns it off.
 */
#ifndef SSMP_IMDS_H
#define SSMP_IMDS_H

#include "err.h"
#include "log.h"

struct creds;

/*
 * Gets the instance role's credentials into out (creds_free it). Returns
 * 0; E_NOTFOUND when disabled, unreachable within the timeout (the
 * message says which) or without a role; E_AUTH for a bad document;
 * E_NOMEM.
 */
int imds_credentials(struct creds *out, const struct logger *log, struct err *e);

/* Gets the instance's region into *out (malloc'd). Returns 0 or E_NOTFOUND / E_NOMEM. */
int imds_region(char **out, const struct logger *log, struct err *e);

#endif
