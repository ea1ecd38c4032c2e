/*
 * agentmsg.h: the AgentMessage wire codec of the SSM data channel.
 *
 * Layout (all integers big-endian), see the protocol reference, section 1:
 *   0 HeaderLength u32 (116)   4 MessageType 32 bytes, space padded
 *  36 SchemaVersion u32 (1)   40 CreatedDate u64 (ms)   48 SequenceNumber i64
 *  56 Flags u64               64 MessageId 16 bytes (UUID halves swapped)
 *  80 PayloadDigest 32 bytes (SHA-256 of the payload)
 * 112 PayloadType u32        116 PayloadLength u32     120 Payload
 * The payload is sliced by HeaderLength (HeaderLength + 4 to the end of the
 * frame), as the official peers do; HeaderLength 112 (no PayloadType,
 * PayloadLength at 112) is accepted too. PayloadLength is reported but does
 * not slice; the digest covers the payload bytes actually present.
 */
#ifndef SSMP_AGENTMSG_H
#define SSMP_AGENTMSG_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

#define AGENTMSG_HL 116            /* HeaderLength we send */
#define AGENTMSG_HL_SHORT 112      /* HeaderLength without PayloadType */
#define AGENTMSG_HEADER_SIZE 120   /* bytes before the payload */
#define AGENTMSG_TYPE_SIZE 32
#define AGENTMSG_MAX_FRAME (1024 * 1024) /* largest frame we decode */
#define AGENTMSG_SCHEMA 1
#define AGENTMSG_STREAM_CHUNK 1024 /* stream payload bytes per message */

/* MessageType strings. */
#define AM_INPUT "input_stream_data"
#define AM_OUTPUT "output_stream_data"
#define AM_ACK "acknowledge"
#define AM_CHANNEL_CLOSED "channel_closed"
#define AM_START_PUB "start_publication"
#define AM_PAUSE_PUB "pause_publication"
#define AM_SESSION_STATE "agent_session_state"

enum agentmsg_kind {
	AMK_UNKNOWN = 0,
	AMK_INPUT,
	AMK_OUTPUT,
	AMK_ACK,
	AMK_CHANNEL_CLOSED,
	AMK_START_PUB,
	AMK_PAUSE_PUB,
	AMK_SESSION_STATE,
};

enum agentmsg_payload_type {
	PT_NONE = 0,
	PT_OUTPUT = 1,
	PT_ERROR = 2,
	PT_SIZE = 3,
	PT_PARAMETER = 4,
	PT_HANDSHAKE_REQUEST = 5,
	PT_HANDSHAKE_RESPONSE = 6,
	PT_HANDSHAKE_COMPLETE = 7,
	PT_ENC_CHALLENGE_REQUEST = 8,
	PT_ENC_CHALLENGE_RESPONSE = 9,
	PT_FLAG = 10,
	PT_STDERR = 11,
	PT_EXITCODE = 12,
};

/* Flag payload values (PT_FLAG, a big-endian u32). */
enum agentmsg_flag {
	FLAG_DISCONNECT_TO_PORT = 1,
	FLAG_TERMINATE_SESSION = 2,
	FLAG_CONNECT_TO_PORT_ERROR = 3,
};

/* Header flag bits. */
#define AGENTMSG_FLAG_SYN 1u
#define AGENTMSG_FLAG_FIN 2u
#define AGENTMSG_FLAGS_ACK 3u /* what acks and control messages carry */

struct agentmsg {
	enum agentmsg_kind kind;
	char type[AGENTMSG_TYPE_SIZE + 1]; /* trimmed of NUL and space */
	uint32_t header_len;
	uint32_t schema_version;
	uint64_t created_ms;
	int64_t seq;
	uint64_t flags;
	uint8_t id[16];       /* canonical UUID byte order */
	uint8_t digest[32];
	uint32_t payload_type;
	uint32_t payload_len; /* the PayloadLength field as received */
	const uint8_t *payload; /* decode: points into the frame; encode: input */
	size_t payload_size;  /* bytes of payload actually present/to send */
};

/* Maps a trimmed MessageType string to its kind (AMK_UNKNOWN if none). */
enum agentmsg_kind agentmsg_kind_of(const char *type);
/* Returns the MessageType string of a kind, or NULL for AMK_UNKNOWN. */
const char *agentmsg_type_name(enum agentmsg_kind kind);

/*
 * Decodes one frame into m (payload points into frame, no copy) and applies
 * the receive validation rules: frame of at least 116 bytes (HL 112) or 120
 * (HL 116) and at most AGENTMSG_MAX_FRAME, HeaderLength 112 or 116 and
 * within the frame, known MessageType, nonzero CreatedDate, digest equal to
 * SHA-256 of the payload when PayloadLength is nonzero. start/pause_publication
 * skip the value checks (a bad HeaderLength just leaves the payload empty).
 * Safe on any bytes. Returns 0, or E_SHORT / E_PROTO / E_DIGEST with a
 * message in e (E_INVAL for a NULL m).
 */
int agentmsg_decode(struct agentmsg *m, const uint8_t *frame, size_t len, struct err *e);

/*
 * Appends the wire form of m to out: type from m->kind (or m->type when
 * kind is AMK_UNKNOWN), HeaderLength 116, schema 1, digest computed over
 * the payload. created_ms 0 means "now". Refuses a nil id, a type longer
 * than 32 bytes and an empty payload for stream messages (E_INVAL), a frame
 * over AGENTMSG_MAX_FRAME (E_RANGE). Returns 0 or that code (or a buf error)
 * with a message in e; on error out is unchanged.
 */
int agentmsg_encode(struct buf *out, const struct agentmsg *m, struct err *e);

/*
 * A reusable SHA-256 for the per-message digests. OpenSSL 3 looks the
 * algorithm up (under a lock) on every one-shot digest; a data channel
 * fetches it once. agentmsg_hasher_new returns 0 or E_NOMEM.
 */
struct agentmsg_hasher;
int agentmsg_hasher_new(struct agentmsg_hasher **out);
void agentmsg_hasher_free(struct agentmsg_hasher *h);
/* agentmsg_decode / agentmsg_encode with h (NULL: a one-shot digest). */
int agentmsg_decode_h(struct agentmsg *m, const uint8_t *frame, size_t len,
		      struct agentmsg_hasher *h, struct err *e);
int agentmsg_encode_h(struct buf *out, const struct agentmsg *m, struct agentmsg_hasher *h,
		      struct err *e);
/*
 * The two halves of agentmsg_decode_h: every rule but the digest, then the
 * digest rule alone on a decoded m. Each returns 0 or an E_* code with a
 * message in e, as agentmsg_decode.
 */
int agentmsg_decode_fields(struct agentmsg *m, const uint8_t *frame, size_t len, struct err *e);
int agentmsg_check_digest(const struct agentmsg *m, struct agentmsg_hasher *h, struct err *e);

/*
 * Appends the acknowledge JSON for a received stream message:
 * {"AcknowledgedMessageType":"...","AcknowledgedMessageId":"<uuid>",
 *  "AcknowledgedMessageSequenceNumber":N,"IsSequentialMessage":true}
 * Returns 0, E_INVAL (bad type, NULL id, negative seq) or a buf error.
 */
int agentmsg_ack_payload(struct buf *out, const char *acked_type, const uint8_t id[16], int64_t seq);

/*
 * Parses an acknowledge payload; returns 0 and the acked sequence number
 * (0..2^53) in *seq, or E_PROTO when AcknowledgedMessageSequenceNumber is
 * missing or not such a number.
 */
int agentmsg_ack_parse(const uint8_t *payload, size_t len, int64_t *seq, struct err *e);

/* Current wall-clock time in milliseconds since the epoch (for CreatedDate). */
uint64_t agentmsg_now_ms(void);

#endif
