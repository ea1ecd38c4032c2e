/*
 * fakeeic.h: EC2 Instance Connect in the fake region.
 *
 * API (api.c routes, SigV4-verified):
 *   SendSSHPublicKey (JSON 1.1, service ec2-instance-connect): checks the
 *   fields as the service does and records the key with a 60 s validity as
 *   a line "<expiry epoch> <instance> <user> <key>" in DIR/eic-keys, so a
 *   target sshd's AuthorizedKeysCommand can print the keys still valid.
 *   DescribeInstanceConnectEndpoints and, with --eic, DescribeInstances
 *   (EC2 Query, service ec2): a fixed inventory. Every instance is running
 *   at FAKEEIC_IP in FAKEEIC_VPC / FAKEEIC_SUBNET, except those named with
 *   --no-eic, which sit in a VPC without endpoints (and SendSSHPublicKey
 *   answers EC2InstanceUnavailableException for them); an id whose hex
 *   digits are all zero does not exist. Endpoints, two per page:
 *     eice-0eic0000000000001  VPC, another subnet, create-complete
 *     eice-0eic0000000000002  VPC, the instance's subnet, create-complete
 *     eice-0eic0000000000003  VPC, the instance's subnet, delete-in-progress
 *     eice-0eic0000000000004  another VPC, create-complete
 *   with dnsName "127.0.0.1:<port>" and fipsDnsName "localhost:<port>".
 *   --deny OP answers AccessDenied (JSON) / UnauthorizedOperation (Query)
 *   to operation OP; --deny OpenTunnel refuses the tunnel with 403.
 *
 * Tunnel (server.c dispatch): GET /openTunnel?instanceConnectEndpointId=
 *   ...&remotePort=...&privateIpAddress=...[&maxTunnelDuration=...] with a
 *   SigV4 query signature (service ec2-instance-connect, only host
 *   signed, X-Amz-Expires honoured) is upgraded to a websocket and relayed
 *   to the --target TCP port: binary frames both ways, at most 65000 bytes
 *   each from the fake; target EOF closes with 1000. A text frame or a
 *   larger frame from the client counts in stats "eice_violations". Each
 *   tunnel logs "OpenTunnel <status> <detail>" to api.log.
 */
#ifndef SSMP_FAKE_FAKEEIC_H
#define SSMP_FAKE_FAKEEIC_H

#include "api.h"
#include "err.h"
#include "region.h"
#include "wss.h"

#define FAKEEIC_IP "10.0.1.23"
#define FAKEEIC_VPC "vpc-0eic0000000000001"
#define FAKEEIC_SUBNET "subnet-0eic00000000000a1"
#define FAKEEIC_NO_EIC_VPC "vpc-0eic0000000000009"
#define FAKEEIC_KEY_LIFETIME 60
#define FAKEEIC_TUNNEL_PATH "/openTunnel"
#define FAKEEIC_MAX_FRAME 65000

/* JSON 1.1 operations of ec2-instance-connect (route row). */
void fakeeic_json(struct api_call *call);
/* EC2 Query actions served here (route row). */
void fakeeic_query(struct api_call *call);
/* Returns nonzero if req is an EC2 Query action served here. */
int fakeeic_query_accept(const struct region *r, const struct wss_request *req);

/* The route rows, placed first in api.c's table. */
#define FAKEEIC_ROUTES \
	{ "POST", "/", "X-Amz-Target", "AWSEC2InstanceConnectService.", "ec2-instance-connect", \
	  fakeeic_json, NULL }, \
	{ "POST", "/", NULL, NULL, "ec2", fakeeic_query, fakeeic_query_accept }

/* Returns nonzero if req asks for the tunnel. */
int fakeeice_match(const struct wss_request *req);

/*
 * Serves the tunnel request req on c (taken over) until it ends. Returns
 * 0 or an E_* code (the connection is over either way).
 */
int fakeeice_serve(const struct region *r, struct wss_conn *c, const struct wss_request *req,
		   struct err *e);

/* Returns nonzero if operation op was named with --deny. */
int fakeeic_denied(const struct region *r, const char *op);

/*
 * Decodes the form/query parameter name from the raw string q
 * (a=b&c=d, percent-encoded) into out. Returns 1 if found, 0 if not.
 */
int fakeeic_param(const char *q, size_t qlen, const char *name, char *out, size_t outlen);

#endif
