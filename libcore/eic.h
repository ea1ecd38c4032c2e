/*
 * eic.h: EC2 Instance Connect.
 *
 * Two uses: pushing the user's public key to an instance for 60 seconds
 * (SendSSHPublicKey, JSON 1.1, service "ec2-instance-connect"), and the
 * EC2 Instance Connect Endpoint (EICE) tunnel: find the instance's private
 * address and VPC (EC2 DescribeInstances), pick an endpoint in that VPC
 * (DescribeInstanceConnectEndpoints; both EC2 Query/XML) and build the
 * presigned wss:// URL of its openTunnel websocket. The tunnel itself is
 * run by the program.
 */
#ifndef SSMP_EIC_H
#define SSMP_EIC_H

#include <stddef.h>
#include <time.h>

#include "err.h"
#include "log.h"

struct awsapi;
struct creds;

#define EIC_SERVICE "ec2-instance-connect"
#define EIC_TARGET_PREFIX "AWSEC2InstanceConnectService"
#define EIC_KEY_LIFETIME_S 60      /* a pushed key is usable this long */
#define EIC_PRESIGN_EXPIRES 60     /* openTunnel URL lifetime, as the AWS CLI */
#define EIC_MAX_TUNNEL_S 3600      /* maxTunnelDuration: the service's limit */
#define EIC_MAX_FRAME 65000        /* bytes per binary frame we send, as the AWS CLI */
#define EIC_MAX_USER 32            /* InstanceOSUser: 1..32 characters */

/* What the tunnel needs to know about an instance. */
struct eic_instance {
	char id[32];
	char state[32];        /* "running", "stopped", ... */
	char private_ip[64];
	char vpc_id[64];
	char subnet_id[64];
};

/* One EC2 Instance Connect Endpoint. */
struct eic_endpoint {
	char id[64];           /* eice-... */
	char state[32];        /* create-complete, ... */
	char dns_name[256];
	char fips_dns_name[256];
	char vpc_id[64];
	char subnet_id[64];
};

/*
 * Pushes pubkey (OpenSSH one-line form) for os_user to instance_id with
 * SendSSHPublicKey. Returns 0, E_CONFIG (bad user or key), E_AUTH (access
 * denied, with the IAM action to allow), E_NOTFOUND (no such instance),
 * E_AWS (other refusals, e.g. an instance that is not running or cannot
 * use Instance Connect), or the awsapi errors, each with a message.
 */
int eic_send_ssh_public_key(struct awsapi *api, const char *instance_id, const char *os_user,
			    const char *pubkey, const struct logger *lg, struct err *e);

/*
 * Finds instance_id with DescribeInstances. Returns 0 and fills out;
 * E_NOTFOUND (no such instance), E_AWS (not running, or no private
 * address / VPC), E_AUTH (access denied), or awsapi errors.
 */
int eic_describe_instance(struct awsapi *api, const char *instance_id, struct eic_instance *out,
			  struct err *e);

/*
 * Picks the endpoint for inst with DescribeInstanceConnectEndpoints: the
 * one named want_id (NULL: any), usable (create-complete or update-*), in
 * the instance's VPC, preferring its subnet. Returns 0 and fills out;
 * E_NOTFOUND (no usable endpoint in the VPC), E_AUTH, or awsapi errors.
 */
int eic_find_endpoint(struct awsapi *api, const struct eic_instance *inst, const char *want_id,
		      struct eic_endpoint *out, const struct logger *lg, struct err *e);

/*
 * Parses a DescribeInstances answer and fills out from the instance named
 * id. Returns 0, E_NOTFOUND (not in the answer) or E_PROTO (not XML).
 */
int eic_parse_instance(const void *xml, size_t len, const char *id, struct eic_instance *out,
		       struct err *e);

/*
 * Parses a DescribeInstanceConnectEndpoints answer into *eps (malloc'd,
 * *n entries; free with free()) and the nextToken, if any, into next
 * (empty if none). Returns 0, E_PROTO or E_NOMEM.
 */
int eic_parse_endpoints(const void *xml, size_t len, struct eic_endpoint **eps, size_t *n,
			char *next, size_t nextlen, struct err *e);

/*
 * Chooses among eps as eic_find_endpoint does. Returns 0 with *out set,
 * or E_NOTFOUND with a message saying what was wrong.
 */
int eic_pick_endpoint(const struct eic_endpoint *eps, size_t n, const struct eic_instance *inst,
		      const char *want_id, struct eic_endpoint *out, struct err *e);

/*
 * Builds the presigned openTunnel URL into *url (malloc'd): host is the
 * endpoint's DNS name (host[:port]), signed for service
 * ec2-instance-connect in region at time when, valid EIC_PRESIGN_EXPIRES
 * seconds. The URL carries a signature and, with temporary credentials,
 * the session token: never log it. Returns 0, E_CONFIG (bad host or
 * address) or E_NOMEM.
 */
int eic_tunnel_url(const struct creds *c, const char *region, const char *host,
		   const char *endpoint_id, const char *private_ip, unsigned port,
		   unsigned max_duration, time_t when, char **url, struct err *e);

/* Returns nonzero if AWS_USE_FIPS_ENDPOINT asks for FIPS endpoints. */
int eic_use_fips(void);

#endif
