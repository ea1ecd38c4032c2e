/*
 * datachannel.h: the SSM data-channel state machine (prefix dc_).
 *
 * Usable in both roles: DC_CLIENT (ssm-proxy) and DC_AGENT (a test agent).
 * Like wslay it does no I/O and reads no clock: the caller feeds it received
 * frames (one binary websocket message each) and the current monotonic time
 * in milliseconds; it answers through callbacks that send one frame, deliver
 * stream bytes (PayloadType 1 only) and report events.
 *
 * What it does (protocol reference, sections 3 and 5): the handshake of
 * either role, per-direction sequence numbers from 0, acks, duplicate and
 * out-of-order handling, a bounded outgoing ring with RFC 6298 style
 * retransmission, pause/start_publication, flags and channel_closed.
 * Memory is allocated in dc_new and bounded by the configuration whatever
 * the peer sends.
 *
 * Callbacks run inside dc_* calls and must not call state-changing dc_*
 * functions on the same dc (queries such as dc_window_room are fine);
 * such re-entrant calls fail with E_INVAL.
 */
#ifndef SSMP_DATACHANNEL_H
#define SSMP_DATACHANNEL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "agentmsg.h"
#include "buf.h"
#include "err.h"
#include "log.h"
#include "uuid.h"

/*
 * Default window (unacked outgoing stream messages): a 100 ms round trip at
 * 50 MB/s holds 50e6 * 0.1 / 1024 ~ 4900 messages of 1024 bytes.
 */
#define DC_WINDOW_DEFAULT 5000
/*
 * With dc_config.pace, the client keeps at most about two round trips'
 * worth of messages in flight (the delivery rate seen in acks times the
 * least round trip plus DC_PACE_SLACK_MS, the clock's granularity), never
 * fewer than DC_PACE_MIN and never more than the window. Anything beyond
 * that would only wait in socket buffers: memory, and latency for every
 * keystroke behind a bulk transfer. (A slack of 10 ms put ~2000 messages
 * in flight on loopback, with more spurious retransmissions and no more
 * throughput than the floor of 256.)
 */
#define DC_PACE_MIN 256
#define DC_PACE_SLACK_MS 1
#define DC_WINDOW_MIN 2          /* the agent handshake needs two in flight */
#define DC_WINDOW_MAX 100000     /* the official agent's buffer size */
#define DC_INBUF_DEFAULT 5000    /* out-of-order messages kept (>= peer window) */
#define DC_INBUF_MAX 100000
/* Out-of-order messages with a larger payload are dropped (resent later). */
#define DC_INBUF_PAYLOAD_MAX 2048
#define DC_RTO_INITIAL_MS 200    /* section 3.10; the floor still applies */
#define DC_RTO_MIN_MS 300        /* floor, see datachannel.c for why */
#define DC_RTO_MAX_MS 1000
#define DC_HANDSHAKE_TIMEOUT_MS 15000
#define DC_TIMEOUT_NONE UINT32_MAX
#define DC_NO_DEADLINE UINT64_MAX
#define DC_CLIENT_VERSION_DEFAULT "1.2.694.0"
#define DC_AGENT_VERSION_DEFAULT "3.3.1142.0"
#define DC_VERSION_MAX 64        /* longest version string kept */
#define DC_TEXT_MAX 1024         /* longest peer text kept (Output, messages) */
/* The TerminateSession flag is understood by agents newer than this. */
#define DC_TERMINATE_FLAG_MIN_AGENT "2.3.722.0"

enum dc_role { DC_CLIENT = 0, DC_AGENT = 1 };

enum dc_state {
	DC_ST_NEW = 0,     /* before dc_start */
	DC_ST_HANDSHAKE,   /* started, handshake not complete */
	DC_ST_OPEN,        /* stream data may flow */
	DC_ST_CLOSED,      /* channel_closed received or sent */
	DC_ST_FAILED,      /* session failed, see dc_error */
};

enum dc_event_type {
	/* Client: HandshakeComplete received; stream data may flow now.
	 * text = CustomerMessage (often empty; never stream bytes). */
	DC_EV_HANDSHAKE_COMPLETE = 1,
	/* Agent: HandshakeComplete sent; dial the target now. */
	DC_EV_DIAL_TARGET,
	/* Acks opened the window after dc_send took less than offered. */
	DC_EV_WINDOW_OPEN,
	/* A Flag message (PayloadType 10) arrived; flag = its value. */
	DC_EV_FLAG,
	/* channel_closed arrived (client) or was sent (agent); the session is
	 * over. text = Output, session_id = SessionId (either may be ""). */
	DC_EV_CHANNEL_CLOSED,
	/* The session failed; code = E_*, text = one-line reason. */
	DC_EV_FAILED,
	/* pause_publication / start_publication (or anything that resumes). */
	DC_EV_PAUSED,
	DC_EV_RESUMED,
};

struct dc_event {
	enum dc_event_type type;
	int code;               /* DC_EV_FAILED: the E_* code, else 0 */
	uint32_t flag;          /* DC_EV_FLAG: the flag value */
	const char *text;       /* never NULL; valid during the callback only */
	const char *session_id; /* never NULL; valid during the callback only */
};

struct dc_callbacks {
	/*
	 * Sends one binary websocket message. Returns 0 or E_*; a failed send
	 * is treated as a frame lost on the wire (stream messages are
	 * retransmitted, acks are repeated when the peer retransmits).
	 */
	int (*send_frame)(void *arg, const uint8_t *frame, size_t len);
	/*
	 * Takes stream bytes (PayloadType 1, in order, never empty). Returns
	 * 0 when taken, E_AGAIN when not ready (the message is neither acked
	 * nor consumed; the peer's retransmission or dc_input_ready brings it
	 * again), or another E_* code, which fails the session.
	 */
	int (*deliver)(void *arg, const uint8_t *data, size_t len);
	/* Reports an event; may be NULL. */
	void (*event)(void *arg, const struct dc_event *ev);
	void *arg;
};

struct dc_config {
	enum dc_role role;
	/* Client: ClientVersion sent in HandshakeResponse (NULL: default). */
	const char *client_version;
	/* Agent: AgentVersion, session type ("Port") and its Properties JSON
	 * object ({"portNumber":"22"}); NULL for the defaults shown. */
	const char *agent_version;
	const char *session_type;
	const char *properties_json;
	/* Agent, optional: comma-separated JSON action objects appended to
	 * RequestedClientActions (e.g. a KMSEncryption request, for tests). */
	const char *extra_actions_json;
	/* Agent, optional: DestinationId written into channel_closed. */
	const char *target_id;
	size_t window;          /* 0: DC_WINDOW_DEFAULT; clamped to MIN..MAX */
	int pace;               /* size the window from rate and RTT (see DC_PACE_MIN) */
	/* Agent role: leave payload digests unchecked, as the real agent does
	 * (its Validate() does not look at them); the client always checks. */
	int trust_digests;
	size_t inbuf;           /* 0: DC_INBUF_DEFAULT; clamped to 1..MAX */
	uint32_t rto_initial_ms; /* 0: DC_RTO_INITIAL_MS */
	uint32_t rto_min_ms;     /* 0: DC_RTO_MIN_MS (floor) */
	uint32_t rto_max_ms;     /* 0: DC_RTO_MAX_MS */
	/* From dc_start to handshake complete; 0: default, DC_TIMEOUT_NONE. */
	uint32_t handshake_timeout_ms;
	const struct logger *log; /* NULL: silent */
};

struct dc_stats {
	uint64_t frames_in, frames_out;   /* every frame, incl. acks, resends */
	uint64_t msgs_in, bytes_in;       /* stream messages processed in order,
	                                     bytes delivered */
	uint64_t msgs_out, bytes_out;     /* stream messages queued by us,
	                                     their stream payload bytes */
	uint64_t retransmits;             /* stream messages sent again */
	uint64_t duplicates;              /* received seq < expected (re-acked) */
	uint64_t out_of_order;            /* received seq > expected, buffered */
	uint64_t ooo_dropped;             /* seq > expected, no room: dropped */
	uint64_t acks_in, acks_out;
	uint64_t not_ready;               /* deliver answered E_AGAIN */
	uint64_t decode_errors;           /* frames the codec refused */
	uint64_t ignored;                 /* well-formed but unused messages */
	uint64_t violations;              /* agent role: client misbehaviour */
	uint64_t peak_in_flight;          /* most stream messages queued unacked */
	uint64_t pace_window;             /* with pace: the window in force now */
};

struct dc;

/* Creates a data channel; returns 0 and *out, or E_NOMEM / E_CONFIG (e). */
int dc_new(struct dc **out, const struct dc_config *cfg, const struct dc_callbacks *cb,
	   struct err *e);
/* Frees dc (NULL is fine). */
void dc_free(struct dc *dc);

/*
 * Starts the session at now. Agent: sends HandshakeRequest (seq 0, SYN);
 * call it only after the client's OpenDataChannel text frame arrived.
 * Client: only arms the handshake timeout (without it, the first received
 * message starts the session). Returns 0 or E_* (the reason in dc_error).
 */
int dc_start(struct dc *dc, uint64_t now);

/*
 * Feeds one received frame. Returns 0 when it was handled or dropped (bad
 * frames are logged and counted, never fatal), or a negative E_* code when
 * the session is over (E_CLOSED after channel_closed, otherwise the failure
 * code; the reason is in dc_error and was reported by DC_EV_FAILED).
 */
int dc_receive(struct dc *dc, const uint8_t *frame, size_t len, uint64_t now);

/*
 * Queues stream bytes: cuts them into messages of at most
 * AGENTMSG_STREAM_CHUNK bytes while the window has room and sends them
 * (unless paused). Returns the number of bytes taken, 0 when the window is
 * full or the handshake is not complete yet (DC_EV_WINDOW_OPEN or
 * DC_EV_HANDSHAKE_COMPLETE / DC_EV_DIAL_TARGET say when to retry), or a
 * negative E_* when the session is over.
 */
ssize_t dc_send(struct dc *dc, const uint8_t *data, size_t len, uint64_t now);

/*
 * Sends a Flag message (PayloadType 10, in sequence), e.g.
 * FLAG_TERMINATE_SESSION. Returns 0, E_AGAIN before the handshake is
 * complete, E_FULL when the window is full, or E_CLOSED / the failure code.
 */
int dc_send_flag(struct dc *dc, uint32_t flag, uint64_t now);

/*
 * Agent role: sends channel_closed as the gateway does (seq 0, PayloadType
 * 0, JSON with SessionId and Output) and ends the session. Returns 0 or E_*.
 */
int dc_send_channel_closed(struct dc *dc, const char *session_id, const char *output,
			   uint64_t now);

/*
 * Runs timers at now: retransmits the oldest overdue message, retries
 * buffered input that deliver refused, enforces the handshake timeout.
 * Returns the next time (ms) it wants to be called, or DC_NO_DEADLINE.
 */
uint64_t dc_tick(struct dc *dc, uint64_t now);

/*
 * Sends every unacked stream message again at once (after a websocket
 * reconnect) and clears a pause. Returns 0 or E_CLOSED / the failure code.
 */
int dc_resend_all(struct dc *dc, uint64_t now);

/*
 * Tells dc that deliver is ready again: processes buffered input now.
 * Returns 0 or E_CLOSED / the failure code.
 */
int dc_input_ready(struct dc *dc, uint64_t now);

/* Returns how many more stream messages dc_send may queue now (0 when the
 * window is full, the handshake is not complete or the session is over). */
size_t dc_window_room(const struct dc *dc);
/* Returns the number of queued stream messages not yet acked. */
size_t dc_unacked(const struct dc *dc);
/* Returns nonzero while the gateway has paused publication. */
int dc_paused(const struct dc *dc);
/* Returns the state. */
enum dc_state dc_state(const struct dc *dc);
/* Returns the failure (code 0 and "" unless DC_ST_FAILED). */
const struct err *dc_error(const struct dc *dc);
/* Returns the counters. */
const struct dc_stats *dc_stats(const struct dc *dc);
/* Returns the number of protocol violations seen (agent role checks). */
uint64_t dc_violations(const struct dc *dc);
/* Returns the peer's version: AgentVersion (client role) or ClientVersion
 * (agent role) from the handshake; "" if not known yet. */
const char *dc_peer_version(const struct dc *dc);
/* Client role: returns nonzero if the agent understands the TerminateSession
 * flag (AgentVersion > DC_TERMINATE_FLAG_MIN_AGENT). */
int dc_agent_supports_terminate(const struct dc *dc);

/*
 * Returns 1 if version a is greater than b (dot-separated unsigned integers
 * compared left to right), else 0; different component counts or anything
 * unparsable give 0, as in the official client.
 */
int dc_version_greater(const char *a, const char *b);

/* OpenDataChannel: the first (text) websocket frame, protocol section 2. */
struct dc_open {
	char schema_version[16];
	char request_id[UUID_STR_LEN + 1];
	char client_id[UUID_STR_LEN + 1];        /* "" if absent */
	char client_version[DC_VERSION_MAX];     /* "" if absent */
	char *token;                             /* secret: never log it */
};

/*
 * Appends the OpenDataChannel JSON with a fresh RequestId:
 * {"MessageSchemaVersion":"1.0","RequestId":..,"TokenValue":..,
 *  "ClientId":..,"ClientVersion":..}. Returns 0 or E_* (e).
 */
int dc_open_build(struct buf *out, const char *token, const uint8_t client_id[16],
		  const char *client_version, struct err *e);
/*
 * Parses an OpenDataChannel frame into o (free with dc_open_free). Needs
 * MessageSchemaVersion, a UUID RequestId and a non-empty TokenValue;
 * ClientId and ClientVersion are optional. Returns 0 or E_PROTO / E_NOMEM.
 */
int dc_open_parse(const uint8_t *data, size_t len, struct dc_open *o, struct err *e);
/* Frees the token of o and wipes it. */
void dc_open_free(struct dc_open *o);

#endif
