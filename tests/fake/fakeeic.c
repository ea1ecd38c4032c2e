/* fakeeic.c: the fake region's EC2 Instance Connect API and EIC inventory. */
#include "fakeeic.h"
#include "buf.h"
#include "state.h"
#include "uuid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#define XML_TYPE "text/xml;charset=UTF-8"
#define EC2_NS "http://ec2.amazonaws.com/doc/2016-11-15/"
#define FAKE_ACCOUNT "123456789012"

int
fakeeic_denied(const struct region *r, const char *op)
{
	for (size_t i = 0; i < r->ndeny; i++)
		if (strcmp(r->deny[i], op) == 0)
			return 1;
	return 0;
}

static int
no_eic(const struct region *r, const char *id)
{
	for (size_t i = 0; i < r->nno_eic; i++)
		if (strcmp(r->no_eic[i], id) == 0)
			return 1;
	return 0;
}

static int
hexval(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
		: c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

int
fakeeic_param(const char *q, size_t qlen, const char *name, char *out, size_t outlen)
{
	size_t i = 0, nl = strlen(name);

	while (i < qlen) {
		size_t end = i;
		while (end < qlen && q[end] != '&')
			end++;
		if (end - i > nl && memcmp(q + i, name, nl) == 0 && q[i + nl] == '=') {
			size_t o = 0;
			for (size_t k = i + nl + 1; k < end && o + 1 < outlen; k++) {
				int h, l;
				if (q[k] == '%' && k + 2 < end &&
				    (h = hexval(q[k + 1])) >= 0 && (l = hexval(q[k + 2])) >= 0) {
					out[o++] = (char)(h * 16 + l);
					k += 2;
				} else {
					out[o++] = q[k] == '+' ? ' ' : q[k];
				}
			}
			out[o] = '\0';
			return 1;
		}
		i = end + 1;
	}
	return 0;
}

/* i- and 8 or 17 lower-case hex digits. */
static int
instance_valid(const char *id)
{
	size_t n = strlen(id);

	if (strncmp(id, "i-", 2) != 0 || (n != 10 && n != 19))
		return 0;
	return strspn(id + 2, "0123456789abcdef") == n - 2;
}

/* The fake's "does not exist": every hex digit zero. */
static int
instance_missing(const char *id)
{
	return strspn(id + 2, "0") == strlen(id + 2);
}

/* ---- SendSSHPublicKey ---- */

/* Checks an OpenSSH one-line key of a type EC2 accepts; returns nonzero if fine. */
static int
key_valid(const char *key)
{
	char type[64];
	const char *b64;
	size_t tl = strcspn(key, " "), bl;
	unsigned char blob[4096];
	int n;

	if (tl == 0 || tl >= sizeof(type))
		return 0;
	memcpy(type, key, tl);
	type[tl] = '\0';
	if (strcmp(type, "ssh-ed25519") != 0 && strcmp(type, "ssh-rsa") != 0)
		return 0;
	b64 = key + tl + 1;
	if (key[tl] != ' ')
		return 0;
	bl = strcspn(b64, " ");
	if (bl == 0 || bl % 4 != 0 || bl / 4 * 3 > sizeof(blob))
		return 0;
	n = EVP_DecodeBlock(blob, (const unsigned char *)b64, (int)bl);
	/* The blob starts with the same type name as a string. */
	return n >= (int)(4 + tl) && blob[0] == 0 && blob[1] == 0 && blob[2] == 0 &&
	       blob[3] == tl && memcmp(blob + 4, type, tl) == 0;
}

/* ^[A-Za-z_][A-Za-z0-9@._-]{0,30}[A-Za-z0-9$_-]?$ as the service model says. */
static int
user_valid(const char *u)
{
	static const char first[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_";
	static const char mid[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789@._-";
	size_t n = strlen(u);

	if (n == 0 || n > 32 || strchr(first, u[0]) == NULL)
		return 0;
	for (size_t i = 1; i < n; i++)
		if (strchr(mid, u[i]) == NULL && !(i == n - 1 && u[i] == '$'))
			return 0;
	return 1;
}

static const char *
json_string(const cJSON *in, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void
send_ssh_public_key(struct api_call *call, const cJSON *in)
{
	const struct region *r = api_call_region(call);
	const char *id = json_string(in, "InstanceId"), *user = json_string(in, "InstanceOSUser");
	const char *key = json_string(in, "SSHPublicKey");
	const cJSON *m;
	char detail[128];
	uint8_t rid[16];
	char rids[UUID_STR_LEN + 1];
	cJSON *out;

	cJSON_ArrayForEach(m, in) {
		if (m->string == NULL || (strcmp(m->string, "InstanceId") != 0 &&
					  strcmp(m->string, "InstanceOSUser") != 0 &&
					  strcmp(m->string, "SSHPublicKey") != 0 &&
					  strcmp(m->string, "AvailabilityZone") != 0)) {
			api_reply_error(call, 400, "SerializationException", "Message",
					"Unexpected field '%s'", m->string ? m->string : "");
			return;
		}
	}
	if (id == NULL || user == NULL || key == NULL) {
		api_reply_error(call, 400, "ValidationException", "message",
				"InstanceId, InstanceOSUser and SSHPublicKey are required");
		return;
	}
	if (!instance_valid(id)) {
		api_reply_error(call, 400, "ValidationException", "message",
				"1 validation error detected: Value '%s' at 'instanceId' failed to "
				"satisfy constraint: Member must satisfy regular expression pattern: "
				"^i-[a-f0-9]+$", id);
		return;
	}
	if (!user_valid(user)) {
		api_reply_error(call, 400, "ValidationException", "message",
				"1 validation error detected: Value at 'instanceOSUser' failed to "
				"satisfy constraint");
		return;
	}
	if (strlen(key) < 80 || strlen(key) > 4096 || !key_valid(key)) {
		api_reply_error(call, 400, "InvalidArgsException", "Message",
				"Unsupported SSH public key format. SSH Public key is invalid");
		return;
	}
	if (instance_missing(id)) {
		api_reply_error(call, 400, "EC2InstanceNotFoundException", "Message",
				"Instance not found");
		return;
	}
	if (no_eic(r, id)) {
		api_reply_error(call, 400, "EC2InstanceUnavailableException", "Message",
				"Instance %s is not configured for EC2 Instance Connect", id);
		return;
	}
	/* One line per push; the sshd helper prints the keys still valid. */
	state_append(r->state_dir, "eic-keys", "%lld %s %s %s",
		     (long long)time(NULL) + FAKEEIC_KEY_LIFETIME, id, user, key);
	state_stats_add(r->state_dir, "eic_keys_pushed", 1);
	if (uuid_v4(rid) < 0)
		memset(rid, 0x22, sizeof(rid));
	uuid_format(rid, rids);
	out = cJSON_CreateObject();
	if (out == NULL || cJSON_AddStringToObject(out, "RequestId", rids) == NULL ||
	    cJSON_AddBoolToObject(out, "Success", 1) == NULL) {
		cJSON_Delete(out);
		api_reply_error(call, 500, "ServiceException", "Message", "out of memory");
		return;
	}
	snprintf(detail, sizeof(detail), "%s %.32s %.16s", id, user, key);
	api_reply_json(call, out, detail);
}

void
fakeeic_json(struct api_call *call)
{
	const struct region *r = api_call_region(call);
	cJSON *in;

	if (strcmp(api_call_op(call), "SendSSHPublicKey") != 0) {
		api_reply_error(call, 400, "com.amazon.coral.service#UnknownOperationException", NULL,
				"-");
		return;
	}
	if (fakeeic_denied(r, "SendSSHPublicKey")) {
		api_reply_error(call, 400, "AccessDeniedException", "Message",
				"User: arn:aws:iam::" FAKE_ACCOUNT ":user/fake is not authorized to "
				"perform: ec2-instance-connect:SendSSHPublicKey on resource: "
				"arn:aws:ec2:%s:" FAKE_ACCOUNT ":instance/* because no identity-based "
				"policy allows the ec2-instance-connect:SendSSHPublicKey action",
				r->region);
		return;
	}
	if ((in = api_json_body(call)) == NULL)
		return;
	send_ssh_public_key(call, in);
	cJSON_Delete(in);
}

/* ---- EC2 Query ---- */

static const char *
body_of(const struct wss_request *req, size_t *len)
{
	*len = req->body ? req->body_len : 0;
	return req->body ? (const char *)req->body : "";
}

int
fakeeic_query_accept(const struct region *r, const struct wss_request *req)
{
	size_t len;
	const char *b = body_of(req, &len);
	static const char ep[] = "Action=DescribeInstanceConnectEndpoints&";
	static const char di[] = "Action=DescribeInstances&";

	if (len >= sizeof(ep) - 1 && memcmp(b, ep, sizeof(ep) - 1) == 0)
		return 1;
	/* DescribeInstances is ours only when the EIC inventory is asked for. */
	return r->eic && len >= sizeof(di) - 1 && memcmp(b, di, sizeof(di) - 1) == 0;
}

static void
query_error(struct api_call *call, int status, const char *code, const char *msg)
{
	char body[1024];

	snprintf(body, sizeof(body),
		 "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>%s"
		 "</Code><Message>%s</Message></Error></Errors><RequestID>"
		 "5b0e9f4a-0000-4000-8000-00000000eic0</RequestID></Response>", code, msg);
	api_reply_body(call, status, XML_TYPE, code, body);
}

static void
describe_instances(struct api_call *call, const char *q, size_t qlen)
{
	const struct region *r = api_call_region(call);
	char id[64], body[4096], detail[128];
	int noeic;

	if (!fakeeic_param(q, qlen, "InstanceId.1", id, sizeof(id)) || !instance_valid(id)) {
		query_error(call, 400, "InvalidParameterValue",
			    "the fake EIC inventory answers InstanceId.1 only");
		return;
	}
	if (instance_missing(id)) {
		char msg[160];
		snprintf(msg, sizeof(msg), "The instance ID '%s' does not exist", id);
		query_error(call, 400, "InvalidInstanceID.NotFound", msg);
		return;
	}
	noeic = no_eic(r, id);
	snprintf(body, sizeof(body),
		 "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		 "<DescribeInstancesResponse xmlns=\"" EC2_NS "\"><requestId>"
		 "8f7724cf-0000-4000-8000-00000000eic1</requestId><reservationSet><item>"
		 "<reservationId>r-0eic0000000000001</reservationId><ownerId>" FAKE_ACCOUNT
		 "</ownerId><instancesSet><item><instanceId>%s</instanceId>"
		 "<imageId>ami-0eic0000000000001</imageId><instanceState><code>16</code>"
		 "<name>running</name></instanceState><privateDnsName>ip-10-0-1-23.ec2.internal"
		 "</privateDnsName><instanceType>t3.micro</instanceType>"
		 "<subnetId>%s</subnetId><vpcId>%s</vpcId><privateIpAddress>" FAKEEIC_IP
		 "</privateIpAddress><networkInterfaceSet><item><subnetId>subnet-0wrong</subnetId>"
		 "<vpcId>vpc-0wrong</vpcId><privateIpAddress>10.9.9.9</privateIpAddress></item>"
		 "</networkInterfaceSet></item></instancesSet></item></reservationSet>"
		 "</DescribeInstancesResponse>",
		 id, noeic ? "subnet-0eic00000000000b9" : FAKEEIC_SUBNET,
		 noeic ? FAKEEIC_NO_EIC_VPC : FAKEEIC_VPC);
	snprintf(detail, sizeof(detail), "%s", id);
	api_reply_body(call, 200, XML_TYPE, detail, body);
}

struct fake_ep {
	const char *id, *vpc, *subnet, *state;
};

static const struct fake_ep endpoints[] = {
	{ "eice-0eic0000000000001", FAKEEIC_VPC, "subnet-0eic00000000000a2", "create-complete" },
	{ "eice-0eic0000000000002", FAKEEIC_VPC, FAKEEIC_SUBNET, "create-complete" },
	{ "eice-0eic0000000000003", FAKEEIC_VPC, FAKEEIC_SUBNET, "delete-in-progress" },
	{ "eice-0eic0000000000004", "vpc-0eic0000000000002", "subnet-0eic00000000000c1",
	  "create-complete" },
};

static void
describe_endpoints(struct api_call *call, const char *q, size_t qlen)
{
	const struct region *r = api_call_region(call);
	char want_id[64] = "", fname[32] = "", fval[64] = "", next[16] = "", detail[160];
	const struct fake_ep *match[sizeof(endpoints) / sizeof(endpoints[0])];
	size_t nm = 0, start = 0, shown = 0;
	struct buf b;

	fakeeic_param(q, qlen, "InstanceConnectEndpointId.1", want_id, sizeof(want_id));
	fakeeic_param(q, qlen, "Filter.1.Name", fname, sizeof(fname));
	fakeeic_param(q, qlen, "Filter.1.Value.1", fval, sizeof(fval));
	if (fname[0] && strcmp(fname, "vpc-id") != 0) {
		query_error(call, 400, "InvalidParameterValue", "the fake filters on vpc-id only");
		return;
	}
	if (fakeeic_param(q, qlen, "NextToken", next, sizeof(next))) {
		if (strncmp(next, "page", 4) != 0 || (start = strtoul(next + 4, NULL, 10)) == 0) {
			query_error(call, 400, "InvalidPaginationToken", "bad NextToken");
			return;
		}
	}
	for (size_t i = 0; i < sizeof(endpoints) / sizeof(endpoints[0]); i++) {
		if (want_id[0] && strcmp(endpoints[i].id, want_id) != 0)
			continue;
		if (fname[0] && strcmp(endpoints[i].vpc, fval) != 0)
			continue;
		match[nm++] = &endpoints[i];
	}
	if (want_id[0] && nm == 0) {
		char msg[160];
		snprintf(msg, sizeof(msg), "The instance connect endpoint ID '%s' does not exist",
			 want_id);
		query_error(call, 400, "InvalidInstanceConnectEndpointId.NotFound", msg);
		return;
	}
	buf_init(&b, 0);
	buf_putf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		 "<DescribeInstanceConnectEndpointsResponse xmlns=\"" EC2_NS "\"><requestId>"
		 "8f7724cf-0000-4000-8000-00000000eic2</requestId><instanceConnectEndpointSet>");
	/* Two per page, so clients must follow nextToken. */
	for (size_t i = start; i < nm && shown < 2; i++, shown++) {
		const struct fake_ep *ep = match[i];
		buf_putf(&b, "<item><ownerId>" FAKE_ACCOUNT "</ownerId><instanceConnectEndpointId>%s"
			 "</instanceConnectEndpointId><instanceConnectEndpointArn>arn:aws:ec2:%s:"
			 FAKE_ACCOUNT ":instance-connect-endpoint/%s</instanceConnectEndpointArn>"
			 "<state>%s</state><stateMessage/><dnsName>127.0.0.1:%u</dnsName>"
			 "<fipsDnsName>localhost:%u</fipsDnsName><networkInterfaceIdSet><item>"
			 "eni-0eic0000000000001</item></networkInterfaceIdSet><vpcId>%s</vpcId>"
			 "<availabilityZone>%sa</availabilityZone><createdAt>2024-01-01T00:00:00.000Z"
			 "</createdAt><subnetId>%s</subnetId><preserveClientIp>false</preserveClientIp>"
			 "<securityGroupIdSet><item>sg-0eic0000000000001</item></securityGroupIdSet>"
			 "</item>", ep->id, r->region, ep->id, ep->state, (unsigned)r->port,
			 (unsigned)r->port, ep->vpc, r->region, ep->subnet);
	}
	buf_putf(&b, "</instanceConnectEndpointSet>");
	if (start + shown < nm)
		buf_putf(&b, "<nextToken>page%zu</nextToken>", start + shown);
	buf_putf(&b, "</DescribeInstanceConnectEndpointsResponse>");
	snprintf(detail, sizeof(detail), "%s %zu of %zu", want_id[0] ? want_id : fval, shown, nm);
	if (buf_cstr(&b) == NULL)
		query_error(call, 500, "InternalError", "out of memory");
	else
		api_reply_body(call, 200, XML_TYPE, detail, buf_cstr(&b));
	buf_free(&b);
}

void
fakeeic_query(struct api_call *call)
{
	const struct region *r = api_call_region(call);
	const struct wss_request *req = api_call_request(call);
	char action[64], version[32];
	size_t qlen;
	const char *q = body_of(req, &qlen);

	if (!fakeeic_param(q, qlen, "Action", action, sizeof(action)))
		action[0] = '\0';
	api_call_set_op(call, action[0] ? action : "-");
	if (!fakeeic_param(q, qlen, "Version", version, sizeof(version)) ||
	    strcmp(version, "2016-11-15") != 0) {
		query_error(call, 400, "InvalidParameterValue", "Version must be 2016-11-15");
		return;
	}
	if (fakeeic_denied(r, action)) {
		query_error(call, 403, "UnauthorizedOperation",
			    "You are not authorized to perform this operation.");
		return;
	}
	if (strcmp(action, "DescribeInstances") == 0)
		describe_instances(call, q, qlen);
	else
		describe_endpoints(call, q, qlen);
}
