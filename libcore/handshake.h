/*
 * handshake.h: the JSON payloads of the data-channel handshake (prefix hs_),
 * protocol reference sections 3.2 to 3.4.
 *
 * HandshakeRequest (PayloadType 5, agent to client), HandshakeResponse
 * (6, client to agent) and HandshakeComplete (7, agent to client). Parsers
 * take the raw payload (not NUL-terminated), keep bounded copies of the
 * strings they need and refuse anything that is not the expected shape.
 */
#ifndef SSMP_HANDSHAKE_H
#define SSMP_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

/* More actions than this are refused; real agents request one or two, and
 * the answer to four still fits one 1024-byte message. */
#define HS_MAX_ACTIONS 4
#define HS_NAME_MAX 64     /* action types, session types, versions */
#define HS_TEXT_MAX 256    /* error texts, customer message */

/* ActionStatus values. */
enum hs_status {
	HS_SUCCESS = 1,
	HS_FAILED = 2,
	HS_UNSUPPORTED = 3,
};

enum hs_action_kind {
	HSA_UNKNOWN = 0,
	HSA_SESSION_TYPE, /* "SessionType" */
	HSA_KMS,          /* "KMSEncryption" */
};

struct hs_request {
	char agent_version[HS_NAME_MAX]; /* "" if absent */
	size_t n_actions;
	struct hs_req_action {
		enum hs_action_kind kind;
		char type[HS_NAME_MAX];          /* as sent (cut if longer) */
		char session_type[HS_NAME_MAX];  /* SessionType actions: "" if absent */
	} actions[HS_MAX_ACTIONS];
};

struct hs_result {
	const char *type;  /* ActionType echoed back */
	int status;        /* enum hs_status */
	const char *error; /* "" or NULL when none */
};

struct hs_response {
	char client_version[HS_NAME_MAX]; /* "" if absent */
	size_t n_actions;
	struct hs_resp_action {
		char type[HS_NAME_MAX];
		int status;
		char error[HS_TEXT_MAX];
	} actions[HS_MAX_ACTIONS];
};

/* Returns the kind of an ActionType string. */
enum hs_action_kind hs_action_kind_of(const char *type);

/*
 * Appends a HandshakeRequest: AgentVersion and one SessionType action with
 * the given session type and Properties (a JSON object text), followed by
 * extra_actions (comma-separated JSON objects, may be NULL).
 * Returns 0, or E_CONFIG when a JSON argument does not parse, E_NOMEM.
 */
int hs_request_build(struct buf *out, const char *agent_version, const char *session_type,
		     const char *properties_json, const char *extra_actions, struct err *e);
/* Parses a HandshakeRequest into r. Returns 0 or E_PROTO (e). */
int hs_request_parse(const uint8_t *p, size_t n, struct hs_request *r, struct err *e);

/*
 * Appends a HandshakeResponse: ClientVersion and one ProcessedClientAction
 * per result, in order; "Errors" lists the non-empty error texts (or null).
 * Returns 0 or E_INVAL / E_NOMEM (e).
 */
int hs_response_build(struct buf *out, const char *client_version, const struct hs_result *res,
		      size_t n, struct err *e);
/* Parses a HandshakeResponse into r. Returns 0 or E_PROTO (e). */
int hs_response_parse(const uint8_t *p, size_t n, struct hs_response *r, struct err *e);

/*
 * Appends {"HandshakeTimeToComplete":<ns>,"CustomerMessage":"<msg>"}.
 * Returns 0 or E_NOMEM (e).
 */
int hs_complete_build(struct buf *out, int64_t ns, const char *customer_message, struct err *e);
/*
 * Parses a HandshakeComplete; fills *ns (0 if absent) and the customer
 * message (cut to msgsz - 1 bytes, "" if absent). Returns 0 or E_PROTO (e).
 */
int hs_complete_parse(const uint8_t *p, size_t n, int64_t *ns, char *msg, size_t msgsz,
		      struct err *e);

/*
 * Parses a JSON object payload of n bytes (no NUL needed, nothing but
 * whitespace after it). Returns the cJSON tree (free with cJSON_Delete) or
 * NULL with E_PROTO in e; what names the payload in the message.
 */
struct cJSON *hs_json_object(const uint8_t *p, size_t n, const char *what, struct err *e);
/*
 * Copies src into dst (size dsz, always NUL-terminated, cut if longer) with
 * control bytes replaced by '?', so peer text is safe to log. Returns
 * nonzero if it had to cut.
 */
int hs_copy_text(char *dst, size_t dsz, const char *src);

#endif
