/*
 * hostile.h: --hostile MODE switches of the fake region, for the bad-input
 * table (tests/data/badinput): a region that misbehaves in ways the real
 * service or a broken middlebox might, so ssm-proxy's error paths can be
 * checked end to end. Each mode is one small hook in the api, gateway or
 * agent code; all are off by default.
 *
 *   upgrade-http      the data-channel URL answers 200 with an HTML page
 *   upgrade-refused   the data-channel URL answers 403 Forbidden
 *   wrong-token       the gateway refuses every stream token (close 1008)
 *   no-handshake      the agent never sends its HandshakeRequest
 *   kms               the agent's handshake also asks for KMSEncryption
 *   garbage-frames    agent frames go out as random bytes (same length)
 *   oversized-frame   the first agent frame goes out as a 2 MiB message
 *   text-frames       agent frames go out as text frames
 *   wrong-cert-host   the TLS certificate names wrong-host.example only
 *   start-no-token    StartSession answers without TokenValue/StreamUrl
 *   start-not-json    StartSession answers 200 with an HTML page
 *   start-bad-url     StartSession answers a StreamUrl that is not wss://
 *   start-long-id     StartSession answers a 4000-byte SessionId
 *   api-error=OP:STATUS:TYPE   OP answers a JSON error TYPE with STATUS
 *   api-html=STATUS   every API call answers STATUS with an HTML page
 */
#ifndef SSMP_FAKE_HOSTILE_H
#define SSMP_FAKE_HOSTILE_H

#include <stddef.h>
#include <stdint.h>

enum {
	HOSTILE_UPGRADE_HTTP = 1u << 0,
	HOSTILE_UPGRADE_REFUSED = 1u << 1,
	HOSTILE_WRONG_TOKEN = 1u << 2,
	HOSTILE_NO_HANDSHAKE = 1u << 3,
	HOSTILE_KMS = 1u << 4,
	HOSTILE_GARBAGE_FRAMES = 1u << 5,
	HOSTILE_OVERSIZED_FRAME = 1u << 6,
	HOSTILE_TEXT_FRAMES = 1u << 7,
	HOSTILE_WRONG_CERT_HOST = 1u << 8,
	HOSTILE_START_NO_TOKEN = 1u << 9,
	HOSTILE_START_NOT_JSON = 1u << 10,
	HOSTILE_START_BAD_URL = 1u << 11,
	HOSTILE_START_LONG_ID = 1u << 12,
	HOSTILE_API_ERROR = 1u << 13,
	HOSTILE_API_HTML = 1u << 14,
};

struct hostile {
	unsigned modes;
	char api_error_op[64];
	int api_error_status;
	char api_error_type[128];
	int api_html_status;
};

struct region;
struct api_call;
struct wss_conn;

/* Adds MODE (one of the names above) to h; returns 0 or -1 if unknown. */
int hostile_parse(struct hostile *h, const char *mode);
/* Returns nonzero if mode (HOSTILE_*) is on. */
int hostile_on(const struct region *r, unsigned mode);
/* The SAN of the server certificate: the normal one or the wrong host. */
const char *hostile_cert_san(const struct region *r);
/* Agent: extra RequestedClientActions JSON (KMS), or NULL. */
const char *hostile_extra_actions(const struct region *r);
/*
 * API: answers the call itself when a mode says so (after the signature
 * check); returns nonzero if it did.
 */
int hostile_api(const struct region *r, struct api_call *call);
/*
 * Gateway, before the websocket upgrade: answers the upgrade request with
 * something else when a mode says so; returns nonzero if it did (the
 * caller then ends the connection).
 */
int hostile_upgrade(const struct region *r, struct wss_conn *c);
/*
 * Gateway: sends an agent frame the hostile way when a mode says so;
 * returns nonzero if it did (the caller must not send it again). *state
 * is per-connection memory (starts at 0).
 */
int hostile_frame(const struct region *r, struct wss_conn *c, const uint8_t *data, size_t len,
		  unsigned *state);

#endif
