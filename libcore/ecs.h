/*
 * ecs.h: container credentials (ECS task roles, EKS Pod Identity):
 * AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (on http://169.254.170.2) or
 * AWS_CONTAINER_CREDENTIALS_FULL_URI (https, or http to a loopback or the
 * ECS/EKS link-local address), with the Authorization header from
 * AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE or AWS_CONTAINER_AUTHORIZATION_TOKEN.
 */
#ifndef SSMP_ECS_H
#define SSMP_ECS_H

#include "err.h"
#include "log.h"

struct creds;

/* Returns 1 if the environment names a container credentials endpoint, else 0. */
int ecs_configured(void);

/*
 * Gets the container's credentials into out (creds_free it). Returns 0;
 * E_NOTFOUND when not configured; E_CONFIG for a URI that is not allowed;
 * E_AUTH for a refused request or bad answer; E_NET / E_TIMEOUT; E_NOMEM.
 */
int ecs_credentials(struct creds *out, const struct logger *log, struct err *e);

#endif
