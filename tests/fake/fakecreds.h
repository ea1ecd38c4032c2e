/*
 * fakecreds.h: credential services of the fake region.
 *
 * Each provider issues its own, recognisable test credentials, and the SSM
 * API accepts every one of them (SigV4 verified with the matching secret),
 * so a test proves which provider signed a call:
 *
 *   STS AssumeRole (Query, service sts, signed)   ASIASTS<8 hex of the role>
 *   STS AssumeRoleWithWebIdentity (unsigned)      ASIAWEB<8 hex of the role>
 *   SSO portal GetRoleCredentials                 ASIASSO<8 hex of the role>
 *   IMDSv2 (plain HTTP, see below)                ASIAIMDS0000000001
 *   ECS container endpoint (plain HTTP)           ASIAECS00000000001
 *   for credential_process scripts                AKIDPROC0000000001
 *
 * Secrets and session tokens are derived from the access key id, so any
 * server of a test (the TLS one and a --plain one for IMDS/ECS) accepts
 * them. Every secret, session token and stream token the server hands out
 * is appended to DIR/secrets (one per line) so a test can grep all output
 * for them; DIR/process-creds holds "AK SK TOKEN" for credential_process.
 * A call signed with a key other than --access-key adds the line
 * "SignedBy <access key> <Op>" to api.log.
 *
 * STS: POST / form-encoded Action=AssumeRole (RoleArn, RoleSessionName,
 * optional ExternalId, DurationSeconds 900..43200) or
 * Action=AssumeRoleWithWebIdentity (also WebIdentityToken; no signature).
 * A RoleArn containing "denied" answers AccessDenied; ExternalId must be
 * "fake-external-id" when the role name contains "external". A web
 * identity token must start with "fake-oidc-" (else InvalidIdentityToken).
 *
 * SSO: GET /federation/credentials?account_id=&role_name= with header
 * x-amz-sso_bearer_token starting with "fake-sso-token" (else 401
 * UnauthorizedException).
 *
 * IMDSv2: PUT /latest/api/token (X-aws-ec2-metadata-token-ttl-seconds
 * 1..21600) answers a token; GETs without it get 401. Paths
 * /latest/meta-data/iam/security-credentials/ (the role name
 * FAKECREDS_IMDS_ROLE), .../FAKECREDS_IMDS_ROLE (the JSON document) and
 * /latest/meta-data/placement/region.
 *
 * ECS: GET FAKECREDS_ECS_PATH; when an Authorization header is sent it
 * must be FAKECREDS_ECS_AUTH (else 401).
 */
#ifndef SSMP_FAKE_FAKECREDS_H
#define SSMP_FAKE_FAKECREDS_H

#include <stddef.h>

#include "api.h"
#include "region.h"
#include "wss.h"

#define FAKECREDS_IMDS_ROLE "fake-instance-role"
#define FAKECREDS_ECS_PATH "/v2/credentials/fake-task"
#define FAKECREDS_ECS_AUTH "fake-ecs-auth-token"
#define FAKECREDS_PROCESS_AK "AKIDPROC0000000001"

/*
 * Returns the secret key for access key ak (--access-key's secret, or the
 * derived secret of a key issued here) in out; 0, or -1 if ak is unknown.
 */
int fakecreds_secret(const struct region *r, const char *ak, char *out, size_t size);

/* Writes DIR/process-creds and the process secrets to DIR/secrets; 0 or -1. */
int fakecreds_init(const struct region *r);

/* Route handlers and matchers (rows below). */
void fakecreds_sts(struct api_call *call);
int fakecreds_sts_signed(const struct region *r, const struct wss_request *req);
int fakecreds_sts_unsigned(const struct region *r, const struct wss_request *req);
void fakecreds_sso(struct api_call *call);
void fakecreds_imds(struct api_call *call);
void fakecreds_ecs(struct api_call *call);

#define FAKECREDS_ROUTES \
	{ "POST", "/", NULL, NULL, "sts", fakecreds_sts, fakecreds_sts_signed }, \
	{ "POST", "/", NULL, NULL, NULL, fakecreds_sts, fakecreds_sts_unsigned }, \
	{ "GET", "/federation/credentials", NULL, NULL, NULL, fakecreds_sso, NULL }, \
	{ "PUT", "/latest/api/token", NULL, NULL, NULL, fakecreds_imds, NULL }, \
	{ "GET", "/latest/meta-data/iam/security-credentials/", NULL, NULL, NULL, fakecreds_imds, \
	  NULL }, \
	{ "GET", "/latest/meta-data/iam/security-credentials/" FAKECREDS_IMDS_ROLE, NULL, NULL, \
	  NULL, fakecreds_imds, NULL }, \
	{ "GET", "/latest/meta-data/placement/region", NULL, NULL, NULL, fakecreds_imds, NULL }, \
	{ "GET", FAKECREDS_ECS_PATH, NULL, NULL, NULL, fakecreds_ecs, NULL }

#endif
