/*
 * inventory.h: the fake region's instances, for EC2 DescribeInstances
 * (Query protocol, XML) and SSM DescribeInstanceInformation (JSON 1.1).
 *
 * Loaded once from a JSON file given with --inventory, read-only after:
 *
 *   { "page_size": 2,                  optional: at most this many per page
 *     "instances": [
 *       { "region": "us-east-1", "id": "i-0123456789abcdef0",
 *         "state": "running",           EC2 instance-state-name
 *         "private_ip": "10.0.3.7", "public_ip": "54.0.0.7",   optional
 *         "ping": "Online",             SSM PingStatus; absent: not managed
 *         "tags": { "Name": "web-1", "Role": "web" } } ] }
 *
 * Every region named by an instance is served: requests signed for it are
 * accepted and see only its instances.
 */
#ifndef SSMP_FAKE_INVENTORY_H
#define SSMP_FAKE_INVENTORY_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "err.h"

struct inventory;

/* An operation's answer: status and body (malloc'd), or an error to send. */
struct inv_answer {
	int status;            /* HTTP status */
	char *body;            /* answer body (XML for EC2, JSON for SSM); NULL on JSON errors */
	const char *err_type;  /* JSON errors: the __type */
	char msg[512];         /* JSON errors: the message */
	char op[64];           /* operation name for api.log */
	char detail[256];      /* api.log detail */
};

/* Loads path; returns 0, or E_IO / E_CONFIG / E_NOMEM with a message. */
int inventory_load(struct inventory **out, const char *path, struct err *e);
/* Frees inv (NULL is fine). */
void inventory_free(struct inventory *inv);

/* Returns 1 if an instance lives in region, else 0 (inv may be NULL). */
int inventory_has_region(const struct inventory *inv, const char *region);

/*
 * Decides StartSession on target from region: returns 1 when the agent
 * could be reached (unknown ids too, so plain tests need no inventory),
 * 0 when the instance lives in another region, is not running or is not
 * Online.
 */
int inventory_reachable(const struct inventory *inv, const char *region, const char *target);

/* EC2 Query call (form-encoded body) in region; always fills a->body. */
void inventory_ec2(const struct inventory *inv, const char *region, const uint8_t *body,
                   size_t len, struct inv_answer *a);

/* SSM DescribeInstanceInformation in region. */
void inventory_ssm_info(const struct inventory *inv, const char *region, const cJSON *in,
                        struct inv_answer *a);

struct api_call;

/* Route row for EC2 Query calls (api.c): answers from r->inv. */
void inventory_ec2_route(struct api_call *call);
/* SSM JSON operation DescribeInstanceInformation (api.c's SSM table). */
void inventory_ssm_op(struct api_call *call, const cJSON *in);

/* Frees what an answer holds. */
void inv_answer_free(struct inv_answer *a);

#endif
