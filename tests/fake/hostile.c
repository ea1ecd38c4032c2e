/* hostile.c: the --hostile modes of the fake region (hostile.h). */
#include "hostile.h"
#include "api.h"
#include "region.h"
#include "wss.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#define OVERSIZED_LEN (2 * 1024 * 1024) /* above the client's 1 MiB limit */

static const struct {
	const char *name;
	unsigned bit;
} names[] = {
	{ "upgrade-http", HOSTILE_UPGRADE_HTTP },
	{ "upgrade-refused", HOSTILE_UPGRADE_REFUSED },
	{ "wrong-token", HOSTILE_WRONG_TOKEN },
	{ "no-handshake", HOSTILE_NO_HANDSHAKE },
	{ "kms", HOSTILE_KMS },
	{ "garbage-frames", HOSTILE_GARBAGE_FRAMES },
	{ "oversized-frame", HOSTILE_OVERSIZED_FRAME },
	{ "text-frames", HOSTILE_TEXT_FRAMES },
	{ "wrong-cert-host", HOSTILE_WRONG_CERT_HOST },
	{ "start-no-token", HOSTILE_START_NO_TOKEN },
	{ "start-not-json", HOSTILE_START_NOT_JSON },
	{ "start-bad-url", HOSTILE_START_BAD_URL },
	{ "start-long-id", HOSTILE_START_LONG_ID },
};

static const char html[] =
	"<!DOCTYPE html>\n<html><head><title>Welcome</title></head>\n"
	"<body><h1>It works!</h1>\n<p>This is not an AWS endpoint.</p></body></html>\n";

/* "OP:STATUS:TYPE" */
static int
parse_api_error(struct hostile *h, const char *v)
{
	const char *c1 = strchr(v, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	char *end;
	long st;

	if (c1 == NULL || c2 == NULL || c1 == v || (size_t)(c1 - v) >= sizeof(h->api_error_op) ||
	    c2[1] == '\0' || strlen(c2 + 1) >= sizeof(h->api_error_type))
		return -1;
	st = strtol(c1 + 1, &end, 10);
	if (end != c2 || st < 400 || st > 599)
		return -1;
	snprintf(h->api_error_op, sizeof(h->api_error_op), "%.*s", (int)(c1 - v), v);
	snprintf(h->api_error_type, sizeof(h->api_error_type), "%s", c2 + 1);
	h->api_error_status = (int)st;
	h->modes |= HOSTILE_API_ERROR;
	return 0;
}

int
hostile_parse(struct hostile *h, const char *mode)
{
	if (strncmp(mode, "api-error=", 10) == 0)
		return parse_api_error(h, mode + 10);
	if (strncmp(mode, "api-html=", 9) == 0) {
		char *end;
		long st = strtol(mode + 9, &end, 10);
		if (*end != '\0' || st < 200 || st > 599)
			return -1;
		h->api_html_status = (int)st;
		h->modes |= HOSTILE_API_HTML;
		return 0;
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(mode, names[i].name) == 0) {
			h->modes |= names[i].bit;
			return 0;
		}
	}
	return -1;
}

int
hostile_on(const struct region *r, unsigned mode)
{
	return (r->f.hostile.modes & mode) != 0;
}

const char *
hostile_cert_san(const struct region *r)
{
	return hostile_on(r, HOSTILE_WRONG_CERT_HOST) ? "DNS:wrong-host.example"
						      : "IP:127.0.0.1,DNS:localhost";
}

const char *
hostile_extra_actions(const struct region *r)
{
	if (!hostile_on(r, HOSTILE_KMS))
		return NULL;
	return "{\"ActionType\":\"KMSEncryption\",\"ActionParameters\":"
	       "{\"KMSKeyId\":\"arn:aws:kms:us-east-1:111122223333:key/fake\"}}";
}

/* A session answer that never reaches a real session. */
static void
start_answer(struct api_call *call, const char *id, const char *token, const char *url)
{
	cJSON *j = cJSON_CreateObject();

	if (j == NULL || cJSON_AddStringToObject(j, "SessionId", id) == NULL ||
	    (token != NULL && cJSON_AddStringToObject(j, "TokenValue", token) == NULL) ||
	    (url != NULL && cJSON_AddStringToObject(j, "StreamUrl", url) == NULL)) {
		cJSON_Delete(j);
		api_reply_error(call, 500, "InternalServerError", "Message", "out of memory");
		return;
	}
	api_reply_json(call, j, "hostile answer");
}

int
hostile_api(const struct region *r, struct api_call *call)
{
	const struct hostile *h = &r->f.hostile;
	const char *op = api_call_op(call);
	char url[512];

	if (hostile_on(r, HOSTILE_API_HTML)) {
		api_reply_body(call, h->api_html_status, "text/html", "hostile html", html);
		return 1;
	}
	if (hostile_on(r, HOSTILE_API_ERROR) && strcmp(op, h->api_error_op) == 0) {
		api_reply_error(call, h->api_error_status, h->api_error_type, "Message",
				"hostile answer for %s", op);
		return 1;
	}
	if (strcmp(op, "StartSession") != 0)
		return 0;
	if (hostile_on(r, HOSTILE_START_NO_TOKEN)) {
		start_answer(call, "fakeuser-0123456789abcdef0", NULL, NULL);
		return 1;
	}
	if (hostile_on(r, HOSTILE_START_NOT_JSON)) {
		api_reply_body(call, 200, "application/x-amz-json-1.1", "hostile html", html);
		return 1;
	}
	if (hostile_on(r, HOSTILE_START_BAD_URL)) {
		snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/data-channel/x", (unsigned)r->port);
		start_answer(call, "fakeuser-0123456789abcdef0", "token", url);
		return 1;
	}
	if (hostile_on(r, HOSTILE_START_LONG_ID)) {
		char *id = malloc(4001);
		if (id != NULL) {
			memset(id, 'a', 4000);
			id[4000] = '\0';
			api_stream_url(r, "x", url, sizeof(url));
			start_answer(call, id, "token", url);
			free(id);
			return 1;
		}
	}
	return 0;
}

int
hostile_upgrade(const struct region *r, struct wss_conn *c)
{
	static const char forbidden[] = "{\"message\":\"Forbidden\"}";

	if (hostile_on(r, HOSTILE_UPGRADE_HTTP)) {
		wss_write_response(c, 200, NULL, "text/html", NULL, html, sizeof(html) - 1, 0, NULL);
		return 1;
	}
	if (hostile_on(r, HOSTILE_UPGRADE_REFUSED)) {
		wss_write_response(c, 403, NULL, "application/json", NULL, forbidden,
				   sizeof(forbidden) - 1, 0, NULL);
		return 1;
	}
	return 0;
}

int
hostile_frame(const struct region *r, struct wss_conn *c, const uint8_t *data, size_t len,
	      unsigned *state)
{
	uint8_t *junk;
	int rc;

	if (hostile_on(r, HOSTILE_OVERSIZED_FRAME) && *state == 0) {
		*state = 1;
		if ((junk = calloc(1, OVERSIZED_LEN)) == NULL)
			return 0;
		memcpy(junk, data, len < OVERSIZED_LEN ? len : OVERSIZED_LEN);
		rc = wss_send_binary(c, junk, OVERSIZED_LEN, NULL);
		free(junk);
		return rc == 0;
	}
	if (hostile_on(r, HOSTILE_GARBAGE_FRAMES)) {
		if ((junk = malloc(len)) == NULL || RAND_bytes(junk, (int)len) != 1) {
			free(junk);
			return 0;
		}
		wss_send_binary(c, junk, len, NULL);
		free(junk);
		return 1;
	}
	if (hostile_on(r, HOSTILE_TEXT_FRAMES)) {
		wss_send(c, WSS_OP_TEXT, data, len, NULL);
		return 1;
	}
	return 0;
}
