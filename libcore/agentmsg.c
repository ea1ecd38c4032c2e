/*
 * agentmsg.c: AgentMessage encode/decode and the acknowledge JSON.
 *
 * Every received byte is read through a buf view. The receive rules follow
 * the official client (protocol reference, section 1), with two choices of
 * our own:
 *  - the payload is sliced by HeaderLength, never by PayloadLength: the
 *    field is reported as received (payload_len) but a mismatch with the
 *    bytes present (payload_size) is accepted, as the official peers do;
 *    the digest always covers the bytes actually present;
 *  - only HeaderLength 116 and 112 (gateway channel_closed without
 *    PayloadType) are accepted; other values are refused rather than
 *    guessed at.
 */
#include "agentmsg.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "uuid.h"

#define DIGEST_SIZE 32
#define ID_SIZE 16

/* Largest acked sequence number: cJSON holds numbers as doubles. */
#define ACK_SEQ_MAX 9007199254740992.0 /* 2^53 */

static const struct {
	enum agentmsg_kind kind;
	const char *name;
} kinds[] = {
	{ AMK_INPUT, AM_INPUT },
	{ AMK_OUTPUT, AM_OUTPUT },
	{ AMK_ACK, AM_ACK },
	{ AMK_CHANNEL_CLOSED, AM_CHANNEL_CLOSED },
	{ AMK_START_PUB, AM_START_PUB },
	{ AMK_PAUSE_PUB, AM_PAUSE_PUB },
	{ AMK_SESSION_STATE, AM_SESSION_STATE },
};

/* Kind of a type given as bytes (which may hold NULs), AMK_UNKNOWN if none. */
static enum agentmsg_kind
kind_of_bytes(const char *s, size_t n)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (strlen(kinds[i].name) == n && memcmp(kinds[i].name, s, n) == 0)
			return kinds[i].kind;
	}
	return AMK_UNKNOWN;
}

enum agentmsg_kind
agentmsg_kind_of(const char *type)
{
	if (type == NULL)
		return AMK_UNKNOWN;
	return kind_of_bytes(type, strlen(type));
}

const char *
agentmsg_type_name(enum agentmsg_kind kind)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (kinds[i].kind == kind)
			return kinds[i].name;
	}
	return NULL;
}

uint64_t
agentmsg_now_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || ts.tv_sec < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct agentmsg_hasher {
	EVP_MD *md;
	EVP_MD_CTX *ctx;
};

int
agentmsg_hasher_new(struct agentmsg_hasher **out)
{
	struct agentmsg_hasher *h = calloc(1, sizeof(*h));

	*out = NULL;
	if (h == NULL)
		return E_NOMEM;
	if ((h->md = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL ||
	    (h->ctx = EVP_MD_CTX_new()) == NULL) {
		agentmsg_hasher_free(h);
		return E_NOMEM;
	}
	*out = h;
	return 0;
}

void
agentmsg_hasher_free(struct agentmsg_hasher *h)
{
	if (h == NULL)
		return;
	EVP_MD_CTX_free(h->ctx);
	EVP_MD_free(h->md);
	free(h);
}

/* SHA-256 of n bytes at p (p may be NULL when n is 0), with h's fetched
 * algorithm and context if given; 0 or E_NOMEM. */
static int
sha256(struct agentmsg_hasher *h, const uint8_t *p, size_t n, uint8_t out[DIGEST_SIZE])
{
	unsigned int olen = 0;

	if (n == 0)
		p = (const uint8_t *)"";
	if (h != NULL) {
		if (EVP_DigestInit_ex2(h->ctx, h->md, NULL) != 1 ||
		    EVP_DigestUpdate(h->ctx, p, n) != 1 ||
		    EVP_DigestFinal_ex(h->ctx, out, &olen) != 1 || olen != DIGEST_SIZE)
			return E_NOMEM;
		return 0;
	}
	if (EVP_Digest(p, n, out, &olen, EVP_sha256(), NULL) != 1 || olen != DIGEST_SIZE)
		return E_NOMEM; /* only fails when OpenSSL cannot allocate */
	return 0;
}

/* Padding the official parsers strip from both ends of the type. */
static int
is_pad(uint8_t c)
{
	return c == '\0' || c == ' ' || (c >= '\t' && c <= '\r');
}

/* Writes a printable, quoted-safe rendering of n bytes for error messages. */
static void
escape(const uint8_t *p, size_t n, char *out, size_t outsz)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 5 < outsz; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"' && p[i] != '\\')
			out[o++] = (char)p[i];
		else
			o += (size_t)snprintf(out + o, outsz - o, "\\x%02x", p[i]);
	}
	out[o] = '\0';
}

static int
is_pub(enum agentmsg_kind k)
{
	return k == AMK_START_PUB || k == AMK_PAUSE_PUB;
}

int
agentmsg_decode(struct agentmsg *m, const uint8_t *frame, size_t len, struct err *e)
{
	return agentmsg_decode_h(m, frame, len, NULL, e);
}

int
agentmsg_decode_h(struct agentmsg *m, const uint8_t *frame, size_t len, struct agentmsg_hasher *h,
		  struct err *e)
{
	int r = agentmsg_decode_fields(m, frame, len, e);

	return r != 0 ? r : agentmsg_check_digest(m, h, e);
}

int
agentmsg_check_digest(const struct agentmsg *m, struct agentmsg_hasher *h, struct err *e)
{
	uint8_t sum[DIGEST_SIZE];
	int r;

	/* As the official client: a zero PayloadLength field skips the check,
	 * and nothing is checked in start/pause_publication. */
	if (is_pub(m->kind) || m->payload_len == 0)
		return 0;
	if ((r = sha256(h, m->payload, m->payload_size, sum)) != 0)
		return err_set(e, r, "agentmsg: sha-256 failed");
	if (memcmp(sum, m->digest, DIGEST_SIZE) != 0)
		return err_set(e, E_DIGEST, "agentmsg: %s seq %" PRId64
		    ": payload digest mismatch (%zu bytes)", m->type, m->seq, m->payload_size);
	return 0;
}

int
agentmsg_decode_fields(struct agentmsg *m, const uint8_t *frame, size_t len, struct err *e)
{
	struct buf b;
	const uint8_t *type, *idw, *pay;
	size_t tb, te;
	uint64_t seq;
	int r;

	if (m == NULL || (frame == NULL && len > 0))
		return err_set(e, E_INVAL, "agentmsg: nothing to decode");
	memset(m, 0, sizeof(*m));
	if (len > AGENTMSG_MAX_FRAME)
		return err_set(e, E_PROTO, "agentmsg: frame of %zu bytes exceeds the %d-byte limit",
		    len, AGENTMSG_MAX_FRAME);
	if (len < AGENTMSG_HL_SHORT + 4)
		return err_set(e, E_SHORT, "agentmsg: frame of %zu bytes is shorter than the %d-byte header",
		    len, AGENTMSG_HL_SHORT + 4);

	/* The fixed fields up to offset 112 are present in every accepted frame. */
	buf_view(&b, frame, len);
	if (buf_get_u32(&b, &m->header_len) != 0 ||
	    buf_get_direct(&b, AGENTMSG_TYPE_SIZE, &type) != 0 ||
	    buf_get_u32(&b, &m->schema_version) != 0 ||
	    buf_get_u64(&b, &m->created_ms) != 0 ||
	    buf_get_u64(&b, &seq) != 0 ||
	    buf_get_u64(&b, &m->flags) != 0 ||
	    buf_get_direct(&b, ID_SIZE, &idw) != 0 ||
	    buf_get(&b, m->digest, DIGEST_SIZE) != 0)
		return err_set(e, E_SHORT, "agentmsg: frame truncated in the header");
	m->seq = (int64_t)seq;
	/* The wire holds the UUID's second half first. */
	memcpy(m->id, idw + 8, 8);
	memcpy(m->id + 8, idw, 8);

	/* Peers pad with spaces, the gateway with NULs: strip both, both ends. */
	for (tb = 0; tb < AGENTMSG_TYPE_SIZE && is_pad(type[tb]); tb++)
		;
	for (te = AGENTMSG_TYPE_SIZE; te > tb && is_pad(type[te - 1]); te--)
		;
	memcpy(m->type, type + tb, te - tb);
	m->type[te - tb] = '\0';
	if (te == tb)
		return err_set(e, E_PROTO, "agentmsg: empty message type");
	m->kind = kind_of_bytes((const char *)type + tb, te - tb);
	if (m->kind == AMK_UNKNOWN) {
		char show[AGENTMSG_TYPE_SIZE * 4 + 1];

		escape(type + tb, te - tb, show, sizeof(show));
		m->type[0] = '\0'; /* may hold a NUL mid-way: do not expose it */
		return err_set(e, E_PROTO, "agentmsg: unknown message type \"%s\"", show);
	}

	if (m->header_len != AGENTMSG_HL && m->header_len != AGENTMSG_HL_SHORT) {
		/* The gateway may send these with incomplete headers: keep the type. */
		if (is_pub(m->kind))
			return 0;
		if (m->header_len == 0)
			return err_set(e, E_PROTO, "agentmsg: header length is 0");
		if ((uint64_t)m->header_len + 4 > len)
			return err_set(e, E_SHORT, "agentmsg: header length %" PRIu32
			    " runs past the %zu-byte frame", m->header_len, len);
		return err_set(e, E_PROTO, "agentmsg: unsupported header length %" PRIu32
		    " (want %d or %d)", m->header_len, AGENTMSG_HL, AGENTMSG_HL_SHORT);
	}
	if (m->header_len == AGENTMSG_HL && buf_get_u32(&b, &m->payload_type) != 0) {
		if (is_pub(m->kind))
			return 0;
		return err_set(e, E_SHORT, "agentmsg: frame of %zu bytes is shorter than the %d-byte header",
		    len, AGENTMSG_HEADER_SIZE);
	}
	if (buf_get_u32(&b, &m->payload_len) != 0) {
		if (is_pub(m->kind))
			return 0;
		return err_set(e, E_SHORT, "agentmsg: frame of %zu bytes ends before the payload length",
		    len);
	}
	/* The payload is everything after the header (sliced by HeaderLength). */
	m->payload_size = buf_len(&b);
	if ((r = buf_get_direct(&b, m->payload_size, &pay)) != 0)
		return err_set(e, r, "agentmsg: payload unreadable");
	m->payload = pay;

	if (is_pub(m->kind))
		return 0; /* the official client validates nothing else for these */
	if (m->created_ms == 0)
		return err_set(e, E_PROTO, "agentmsg: %s message has no created date", m->type);
	return 0;
}

/* Type to send: printable ASCII without spaces, 1..32 bytes; NULL if bad. */
static const char *
encode_type(const struct agentmsg *m, struct err *e, int *rc)
{
	const char *t;
	size_t n;

	if (m->kind != AMK_UNKNOWN) {
		if ((t = agentmsg_type_name(m->kind)) == NULL)
			*rc = err_set(e, E_INVAL, "agentmsg: unknown message kind %d", (int)m->kind);
		return t;
	}
	n = strnlen(m->type, sizeof(m->type));
	if (n == 0 || n > AGENTMSG_TYPE_SIZE) {
		*rc = err_set(e, E_INVAL, "agentmsg: message type must be 1 to %d bytes",
		    AGENTMSG_TYPE_SIZE);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		/* Spaces or control bytes would not survive the receiver's trim. */
		if ((uint8_t)m->type[i] <= 0x20 || (uint8_t)m->type[i] >= 0x7f) {
			*rc = err_set(e, E_INVAL, "agentmsg: message type has a byte 0x%02x",
			    (uint8_t)m->type[i]);
			return NULL;
		}
	}
	return m->type;
}

int
agentmsg_encode(struct buf *out, const struct agentmsg *m, struct err *e)
{
	return agentmsg_encode_h(out, m, NULL, e);
}

int
agentmsg_encode_h(struct buf *out, const struct agentmsg *m, struct agentmsg_hasher *h,
		  struct err *e)
{
	uint8_t sum[DIGEST_SIZE], pad[AGENTMSG_TYPE_SIZE];
	const char *type;
	enum agentmsg_kind kind;
	uint64_t created;
	size_t tl;
	int r = E_INVAL;

	if (out == NULL || m == NULL)
		return err_set(e, E_INVAL, "agentmsg: nothing to encode");
	if ((type = encode_type(m, e, &r)) == NULL)
		return r;
	kind = agentmsg_kind_of(type);
	if (uuid_is_nil(m->id))
		return err_set(e, E_INVAL, "agentmsg: %s message has a nil message id", type);
	if (m->payload == NULL && m->payload_size > 0)
		return err_set(e, E_INVAL, "agentmsg: %s message has no payload bytes", type);
	/* The agent cannot take an empty stream payload (protocol section 1). */
	if ((kind == AMK_INPUT || kind == AMK_OUTPUT) && m->payload_size == 0)
		return err_set(e, E_INVAL, "agentmsg: %s message with an empty payload", type);
	if (m->payload_size > AGENTMSG_MAX_FRAME - AGENTMSG_HEADER_SIZE)
		return err_set(e, E_RANGE, "agentmsg: payload of %zu bytes exceeds the frame limit",
		    m->payload_size);
	created = m->created_ms ? m->created_ms : agentmsg_now_ms();
	if (created == 0)
		return err_set(e, E_IO, "agentmsg: clock unavailable for the created date");
	if ((r = sha256(h, m->payload, m->payload_size, sum)) != 0)
		return err_set(e, r, "agentmsg: sha-256 failed");

	tl = strlen(type);
	memset(pad, ' ', sizeof(pad));
	memcpy(pad, type, tl);

	/* Room for the whole frame first, so a failure leaves out unchanged. */
	if ((r = buf_ensure(out, AGENTMSG_HEADER_SIZE + m->payload_size)) != 0)
		return err_set(e, r, "agentmsg: no room for a %zu-byte frame",
		    AGENTMSG_HEADER_SIZE + m->payload_size);
	if ((r = buf_put_u32(out, AGENTMSG_HL)) != 0 ||
	    (r = buf_put(out, pad, sizeof(pad))) != 0 ||
	    (r = buf_put_u32(out, AGENTMSG_SCHEMA)) != 0 ||
	    (r = buf_put_u64(out, created)) != 0 ||
	    (r = buf_put_u64(out, (uint64_t)m->seq)) != 0 ||
	    (r = buf_put_u64(out, m->flags)) != 0 ||
	    (r = buf_put(out, m->id + 8, 8)) != 0 || /* second half first */
	    (r = buf_put(out, m->id, 8)) != 0 ||
	    (r = buf_put(out, sum, sizeof(sum))) != 0 ||
	    (r = buf_put_u32(out, m->payload_type)) != 0 ||
	    (r = buf_put_u32(out, (uint32_t)m->payload_size)) != 0 ||
	    (r = buf_put(out, m->payload, m->payload_size)) != 0)
		return err_set(e, r, "agentmsg: cannot append the frame");
	return 0;
}

int
agentmsg_ack_payload(struct buf *out, const char *acked_type, const uint8_t id[16], int64_t seq)
{
	char ids[UUID_STR_LEN + 1];
	size_t n;

	if (out == NULL || acked_type == NULL || id == NULL || seq < 0)
		return E_INVAL;
	/* The type goes into JSON unescaped: allow only plain printable bytes. */
	n = strnlen(acked_type, AGENTMSG_TYPE_SIZE + 1);
	if (n == 0 || n > AGENTMSG_TYPE_SIZE)
		return E_INVAL;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = (uint8_t)acked_type[i];

		if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\')
			return E_INVAL;
	}
	uuid_format(id, ids);
	/* Pieces, not cJSON or snprintf: this runs once per received message. */
	{
		static const char k1[] = "{\"AcknowledgedMessageType\":\"";
		static const char k2[] = "\",\"AcknowledgedMessageId\":\"";
		static const char k3[] = "\",\"AcknowledgedMessageSequenceNumber\":";
		static const char k4[] = ",\"IsSequentialMessage\":true}";
		char num[24];
		size_t nl = sizeof(num);
		uint64_t v = (uint64_t)seq;
		int r;

		do {
			num[--nl] = (char)('0' + v % 10);
			v /= 10;
		} while (v != 0);
		if ((r = buf_put(out, k1, sizeof(k1) - 1)) != 0 ||
		    (r = buf_put(out, acked_type, n)) != 0 ||
		    (r = buf_put(out, k2, sizeof(k2) - 1)) != 0 ||
		    (r = buf_put(out, ids, UUID_STR_LEN)) != 0 ||
		    (r = buf_put(out, k3, sizeof(k3) - 1)) != 0 ||
		    (r = buf_put(out, num + nl, sizeof(num) - nl)) != 0 ||
		    (r = buf_put(out, k4, sizeof(k4) - 1)) != 0)
			return r;
	}
	return 0;
}

/* Takes the literal lit at *p; 1 if it is there. */
static int
take_lit(const uint8_t **p, const uint8_t *end, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(end - *p) < n || memcmp(*p, lit, n) != 0)
		return 0;
	*p += n;
	return 1;
}

/* Takes a JSON string of plain printable ASCII (no escapes) and its quote. */
static int
take_plain_str(const uint8_t **p, const uint8_t *end)
{
	while (*p < end && **p >= 0x20 && **p < 0x7f && **p != '\\') {
		if (**p == '"') {
			(*p)++;
			return 1;
		}
		(*p)++;
	}
	return 0;
}

/*
 * The ack exactly as both official peers (and agentmsg_ack_payload) write
 * it, without escapes: read in one pass with no allocation. Returns 1 with
 * *seq set, or 0 to let the general JSON parser decide (same result for
 * anything this accepts).
 */
static int
ack_parse_fast(const uint8_t *p, size_t len, int64_t *seq)
{
	const uint8_t *end = p + len;
	uint64_t v = 0;
	int digits = 0;

	if (!take_lit(&p, end, "{\"AcknowledgedMessageType\":\"") || !take_plain_str(&p, end) ||
	    !take_lit(&p, end, ",\"AcknowledgedMessageId\":\"") || !take_plain_str(&p, end) ||
	    !take_lit(&p, end, ",\"AcknowledgedMessageSequenceNumber\":"))
		return 0;
	while (p < end && *p >= '0' && *p <= '9' && digits < 17) {
		v = v * 10 + (uint64_t)(*p++ - '0');
		digits++;
	}
	if (digits == 0 || digits > 16 || (digits > 1 && p[-digits] == '0') || v > ACK_SEQ_MAX)
		return 0;
	if (!take_lit(&p, end, ",\"IsSequentialMessage\":") ||
	    (!take_lit(&p, end, "true}") && !take_lit(&p, end, "false}")) || p != end)
		return 0;
	*seq = (int64_t)v;
	return 1;
}

int
agentmsg_ack_parse(const uint8_t *payload, size_t len, int64_t *seq, struct err *e)
{
	const char *end = NULL;
	const cJSON *sn;
	cJSON *root;
	double v;
	int rc = 0;

	if (seq == NULL)
		return err_set(e, E_INVAL, "acknowledge: nowhere to store the sequence number");
	if (payload == NULL || len == 0)
		return err_set(e, E_PROTO, "acknowledge: empty payload");
	if (ack_parse_fast(payload, len, seq))
		return 0;
	root = cJSON_ParseWithLengthOpts((const char *)payload, len, &end, 0);
	if (root == NULL)
		return err_set(e, E_PROTO, "acknowledge: payload is not json");
	/* cJSON stops after the value; anything but whitespace after it is junk. */
	while (end != NULL && end < (const char *)payload + len &&
	    (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
		end++;
	if (end != (const char *)payload + len) {
		rc = err_set(e, E_PROTO, "acknowledge: trailing bytes after the json");
		goto out;
	}
	if (!cJSON_IsObject(root)) {
		rc = err_set(e, E_PROTO, "acknowledge: payload is not a json object");
		goto out;
	}
	/* Case-insensitive, as the peers' Go decoders match keys. */
	sn = cJSON_GetObjectItem(root, "AcknowledgedMessageSequenceNumber");
	if (sn == NULL) {
		rc = err_set(e, E_PROTO, "acknowledge: no AcknowledgedMessageSequenceNumber");
		goto out;
	}
	if (!cJSON_IsNumber(sn)) {
		rc = err_set(e, E_PROTO, "acknowledge: AcknowledgedMessageSequenceNumber is not a number");
		goto out;
	}
	v = sn->valuedouble;
	/* The comparisons are false for NaN, so it is refused too. */
	if (!(v >= 0 && v <= ACK_SEQ_MAX) || v != (double)(int64_t)v) {
		rc = err_set(e, E_PROTO, "acknowledge: AcknowledgedMessageSequenceNumber %g is not a "
		    "sequence number", v);
		goto out;
	}
	*seq = (int64_t)v;
out:
	cJSON_Delete(root);
	return rc;
}
