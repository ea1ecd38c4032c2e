/*
 * test_eic.c: EC2 Instance Connect helpers (eic.c): DescribeInstances and
 * DescribeInstanceConnectEndpoints answers, the endpoint choice, and the
 * presigned openTunnel URL (checked by recomputing its signature).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "creds.h"
#include "eic.h"
#include "err.h"
#include "sigv4.h"

static const char instances_xml[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"<DescribeInstancesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">"
	"<requestId>r</requestId><reservationSet>"
	"<item><instancesSet><item><instanceId>i-0aaaaaaaaaaaaaaaa</instanceId>"
	"<instanceState><code>80</code><name>stopped</name></instanceState></item></instancesSet></item>"
	"<item><instancesSet><item><instanceId>i-0123456789abcdef0</instanceId>"
	"<instanceState><code>16</code><name>running</name></instanceState>"
	"<networkInterfaceSet><item><privateIpAddress>10.9.9.9</privateIpAddress>"
	"<vpcId>vpc-wrong</vpcId><subnetId>subnet-wrong</subnetId></item></networkInterfaceSet>"
	"<subnetId>subnet-0a</subnetId><vpcId>vpc-01</vpcId>"
	"<privateIpAddress>10.0.1.23</privateIpAddress></item></instancesSet></item>"
	"</reservationSet></DescribeInstancesResponse>";

static void
test_parse_instance(void **state)
{
	struct eic_instance in;
	struct err e;

	(void)state;
	err_clear(&e);
	assert_int_equal(eic_parse_instance(instances_xml, strlen(instances_xml), "i-0123456789abcdef0",
					    &in, &e), 0);
	assert_string_equal(in.id, "i-0123456789abcdef0");
	assert_string_equal(in.state, "running");
	/* The instance's own fields, not its network interfaces'. */
	assert_string_equal(in.private_ip, "10.0.1.23");
	assert_string_equal(in.vpc_id, "vpc-01");
	assert_string_equal(in.subnet_id, "subnet-0a");
	assert_int_equal(eic_parse_instance(instances_xml, strlen(instances_xml), "i-0aaaaaaaaaaaaaaaa",
					    &in, &e), 0);
	assert_string_equal(in.state, "stopped");
	assert_string_equal(in.private_ip, "");
	assert_int_equal(eic_parse_instance(instances_xml, strlen(instances_xml), "i-0bbbbbbbb", &in, &e),
			 E_NOTFOUND);
	assert_int_equal(eic_parse_instance("not xml", 7, "i-0bbbbbbbb", &in, &e), E_PROTO);
	assert_int_equal(eic_parse_instance("", 0, "i-0bbbbbbbb", &in, &e), E_PROTO);
}

static const char endpoints_xml[] =
	"<DescribeInstanceConnectEndpointsResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">"
	"<instanceConnectEndpointSet>"
	"<item><instanceConnectEndpointId>eice-1</instanceConnectEndpointId><state>create-complete</state>"
	"<dnsName>eice-1.ec2-instance-connect-endpoint.us-east-1.amazonaws.com</dnsName>"
	"<fipsDnsName>eice-1.fips.us-east-1.amazonaws.com</fipsDnsName>"
	"<vpcId>vpc-01</vpcId><subnetId>subnet-0b</subnetId></item>"
	"<item><instanceConnectEndpointId>eice-2</instanceConnectEndpointId><state>create-complete</state>"
	"<dnsName>eice-2.example</dnsName><vpcId>vpc-01</vpcId><subnetId>subnet-0a</subnetId></item>"
	"<item><instanceConnectEndpointId>eice-3</instanceConnectEndpointId><state>delete-in-progress</state>"
	"<dnsName>eice-3.example</dnsName><vpcId>vpc-01</vpcId><subnetId>subnet-0a</subnetId></item>"
	"<item><instanceConnectEndpointId>eice-4</instanceConnectEndpointId><state>update-in-progress</state>"
	"<dnsName>eice-4.example</dnsName><vpcId>vpc-02</vpcId><subnetId>subnet-0c</subnetId></item>"
	"</instanceConnectEndpointSet><nextToken>tok+/=</nextToken>"
	"</DescribeInstanceConnectEndpointsResponse>";

static void
test_endpoints(void **state)
{
	struct eic_instance in = { "i-0123456789abcdef0", "running", "10.0.1.23", "vpc-01", "subnet-0a" };
	struct eic_endpoint *eps = NULL, ep;
	char next[64];
	size_t n = 0;
	struct err e;

	(void)state;
	err_clear(&e);
	assert_int_equal(eic_parse_endpoints(endpoints_xml, strlen(endpoints_xml), &eps, &n, next,
					     sizeof(next), &e), 0);
	assert_int_equal(n, 4);
	assert_string_equal(next, "tok+/=");
	assert_string_equal(eps[0].fips_dns_name, "eice-1.fips.us-east-1.amazonaws.com");
	assert_string_equal(eps[3].state, "update-in-progress");

	/* Same VPC and usable; the instance's own subnet is preferred. */
	assert_int_equal(eic_pick_endpoint(eps, n, &in, NULL, &ep, &e), 0);
	assert_string_equal(ep.id, "eice-2");
	/* Only the first is usable in another subnet: it is taken. */
	assert_int_equal(eic_pick_endpoint(eps, 1, &in, NULL, &ep, &e), 0);
	assert_string_equal(ep.id, "eice-1");
	/* A named endpoint: taken if usable, else a reason. */
	assert_int_equal(eic_pick_endpoint(eps, n, &in, "eice-1", &ep, &e), 0);
	assert_string_equal(ep.id, "eice-1");
	assert_int_equal(eic_pick_endpoint(eps, n, &in, "eice-3", &ep, &e), E_NOTFOUND);
	assert_non_null(strstr(e.msg, "delete-in-progress"));
	assert_int_equal(eic_pick_endpoint(eps, n, &in, "eice-4", &ep, &e), E_NOTFOUND);
	assert_non_null(strstr(e.msg, "vpc-02"));
	assert_int_equal(eic_pick_endpoint(eps, n, &in, "eice-9", &ep, &e), E_NOTFOUND);
	/* update-* counts as usable. */
	snprintf(in.vpc_id, sizeof(in.vpc_id), "vpc-02");
	assert_int_equal(eic_pick_endpoint(eps, n, &in, NULL, &ep, &e), 0);
	assert_string_equal(ep.id, "eice-4");
	/* No endpoint in the VPC. */
	snprintf(in.vpc_id, sizeof(in.vpc_id), "vpc-03");
	assert_int_equal(eic_pick_endpoint(eps, n, &in, NULL, &ep, &e), E_NOTFOUND);
	assert_non_null(strstr(e.msg, "no usable EC2 Instance Connect Endpoint in vpc-03"));
	free(eps);

	assert_int_equal(eic_parse_endpoints("<x/>", 4, &eps, &n, next, sizeof(next), &e), 0);
	assert_int_equal(n, 0);
	assert_string_equal(next, "");
	free(eps);
	assert_int_equal(eic_parse_endpoints("<x", 2, &eps, &n, next, sizeof(next), &e), E_PROTO);
}

/* Returns the decoded value of query parameter name (static storage). */
static const char *
param(const char *url, const char *name)
{
	static char out[2048];
	const char *q = strchr(url, '?'), *p;
	size_t nl = strlen(name), o = 0;

	assert_non_null(q);
	for (p = q + 1; p != NULL && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
		if (strncmp(p, name, nl) == 0 && p[nl] == '=') {
			for (p += nl + 1; *p && *p != '&' && o + 1 < sizeof(out); p++) {
				if (*p == '%' && p[1] && p[2]) {
					char hex[3] = { p[1], p[2], 0 };
					out[o++] = (char)strtol(hex, NULL, 16);
					p += 2;
				} else {
					out[o++] = *p;
				}
			}
			out[o] = '\0';
			return out;
		}
	}
	return NULL;
}

static void
test_tunnel_url(void **state)
{
	struct creds c = { "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", NULL, 0, "test" };
	const time_t when = 1440938160; /* 2015-08-30T12:36:00Z */
	struct sigv4_header h = { "Host", "eice-1.example:8443" };
	struct sigv4_request rq;
	struct sigv4_params sp;
	struct sigv4_result res;
	char *url = NULL, sig[80];
	struct err e;

	(void)state;
	err_clear(&e);
	assert_int_equal(eic_tunnel_url(&c, "us-east-1", "eice-1.example:8443", "eice-1", "10.0.1.23", 22,
					3600, when, &url, &e), 0);
	assert_true(strncmp(url, "wss://eice-1.example:8443/openTunnel?instanceConnectEndpointId=eice-1"
				 "&remotePort=22&privateIpAddress=10.0.1.23&maxTunnelDuration=3600&", 113) == 0);
	assert_string_equal(param(url, "X-Amz-Expires"), "60");
	assert_string_equal(param(url, "X-Amz-SignedHeaders"), "host");
	assert_string_equal(param(url, "X-Amz-Date"), "20150830T123600Z");
	assert_string_equal(param(url, "X-Amz-Credential"),
			    "AKIDEXAMPLE/20150830/us-east-1/ec2-instance-connect/aws4_request");
	assert_null(param(url, "X-Amz-Security-Token"));
	snprintf(sig, sizeof(sig), "%s", param(url, "X-Amz-Signature"));
	assert_int_equal(strlen(sig), 64);

	/* Recompute as a server would: the request's own parameters, signed for host. */
	memset(&rq, 0, sizeof(rq));
	rq.method = "GET";
	rq.path = "/openTunnel";
	rq.query = "maxTunnelDuration=3600&privateIpAddress=10.0.1.23&remotePort=22&"
		   "instanceConnectEndpointId=eice-1";
	rq.headers = &h;
	rq.nheaders = 1;
	memset(&sp, 0, sizeof(sp));
	sp.access_key = c.access_key_id;
	sp.secret_key = c.secret_access_key;
	sp.region = "us-east-1";
	sp.service = "ec2-instance-connect";
	sp.when = when;
	sp.normalize_path = 1;
	sp.expires = 60;
	assert_int_equal(sigv4_presign(&rq, &sp, &res, &e), 0);
	assert_string_equal(res.signature, sig);
	sigv4_result_free(&res);
	free(url);

	/* Temporary credentials: the token rides in the query. */
	c.session_token = "FQoGZXIvYXdzE//token+with/specials=";
	assert_int_equal(eic_tunnel_url(&c, "eu-west-1", "eice-1.example", "eice-1", "10.0.1.23", 22,
					60, when, &url, &e), 0);
	assert_string_equal(param(url, "X-Amz-Security-Token"), c.session_token);
	assert_string_equal(param(url, "maxTunnelDuration"), "60");
	free(url);

	/* Whatever goes into the URL is checked first. */
	assert_int_equal(eic_tunnel_url(&c, "us-east-1", "evil.example/x?y=", "eice-1", "10.0.1.23", 22,
					3600, when, &url, &e), E_CONFIG);
	assert_int_equal(eic_tunnel_url(&c, "us-east-1", "eice-1.example", "eice-1&x=1", "10.0.1.23", 22,
					3600, when, &url, &e), E_CONFIG);
	assert_int_equal(eic_tunnel_url(&c, "us-east-1", "eice-1.example", "eice-1", "10.0.1.23&a", 22,
					3600, when, &url, &e), E_CONFIG);
	assert_int_equal(eic_tunnel_url(&c, "us-east-1", "eice-1.example", "eice-1", "10.0.1.23", 22,
					3601, when, &url, &e), E_RANGE);
	assert_int_equal(eic_tunnel_url(&c, "us-east-1", "eice-1.example", "eice-1", "10.0.1.23", 0,
					3600, when, &url, &e), E_RANGE);
	assert_null(url);
}

static void
test_fips_switch(void **state)
{
	(void)state;
	unsetenv("AWS_USE_FIPS_ENDPOINT");
	assert_false(eic_use_fips());
	setenv("AWS_USE_FIPS_ENDPOINT", "TRUE", 1);
	assert_true(eic_use_fips());
	setenv("AWS_USE_FIPS_ENDPOINT", "false", 1);
	assert_false(eic_use_fips());
	unsetenv("AWS_USE_FIPS_ENDPOINT");
}

static void
test_push_checks(void **state)
{
	struct err e;

	(void)state;
	/* Refused before any network traffic (no client needed for these). */
	err_clear(&e);
	assert_int_equal(eic_send_ssh_public_key(NULL, "i-0123456789abcdef0", "bad user", "ssh-ed25519 AAAA",
						 NULL, &e), E_CONFIG);
	assert_int_equal(eic_send_ssh_public_key(NULL, "i-0123456789abcdef0", "ec2-user", "ssh-ed25519 AAAA",
						 NULL, &e), E_CONFIG);
	assert_non_null(strstr(e.msg, "80 to 4096"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_instance),
		cmocka_unit_test(test_endpoints),
		cmocka_unit_test(test_tunnel_url),
		cmocka_unit_test(test_fips_switch),
		cmocka_unit_test(test_push_checks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
