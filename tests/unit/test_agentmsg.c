/*
 * test_agentmsg.c: the AgentMessage codec against the reference vectors,
 * round trips, the acknowledge JSON, and the data-driven malformed frames
 * (tests/data/agentmsg/).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "agentmsg.h"
#include "buf.h"
#include "err.h"
#include "uuid.h"

static const char vector_id[] = "dd01e56b-ff48-483e-a508-b5f073f31b16";

static const struct {
	const char *name;
	int code;
} codes[] = {
	{ "OK", 0 }, { "E_NOMEM", E_NOMEM }, { "E_INVAL", E_INVAL }, { "E_SHORT", E_SHORT },
	{ "E_RANGE", E_RANGE }, { "E_DIGEST", E_DIGEST }, { "E_IO", E_IO },
	{ "E_PROTO", E_PROTO }, { "E_FULL", E_FULL },
};

static int
code_of(const char *name)
{
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		if (strcmp(codes[i].name, name) == 0)
			return codes[i].code;
	}
	fail_msg("unknown error code name %s", name);
	return 1;
}

/* Path of a file under the directory named by an environment variable. */
static char *
data_path(const char *env, const char *rel)
{
	const char *dir = getenv(env);
	char *p;

	if (dir == NULL || *dir == '\0')
		fail_msg("%s is not set", env);
	if (asprintf(&p, "%s/%s", dir, rel) < 0)
		fail_msg("out of memory");
	return p;
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct buf b;
	char chunk[4096];
	size_t n;
	char *out;

	if (f == NULL)
		fail_msg("cannot open %s", path);
	buf_init(&b, 0);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		assert_int_equal(buf_put(&b, chunk, n), 0);
	fclose(f);
	*len = buf_len(&b);
	out = malloc(*len + 1);
	assert_non_null(out);
	if (*len)
		memcpy(out, buf_ptr(&b), *len);
	out[*len] = '\0';
	buf_free(&b);
	return out;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Appends the bytes of a hex string in the data-file syntax: parts joined
 * by '+', a part "HEX*N" repeated N times, "-" for nothing.
 */
static void
hex_append(struct buf *out, const char *s)
{
	if (strcmp(s, "-") == 0)
		return;
	while (*s != '\0') {
		size_t n = strcspn(s, "+*"), start = buf_len(out);
		unsigned long rep = 1;

		if (n % 2 != 0)
			fail_msg("odd hex part in %s", s);
		for (size_t i = 0; i < n; i += 2) {
			int hi = hexval(s[i]), lo = hexval(s[i + 1]);

			if (hi < 0 || lo < 0)
				fail_msg("bad hex in %s", s);
			assert_int_equal(buf_put_u8(out, (uint8_t)(hi << 4 | lo)), 0);
		}
		s += n;
		if (*s == '*') {
			char *end;

			rep = strtoul(s + 1, &end, 10);
			s = end;
		}
		if (rep > 1) {
			uint8_t part[64];
			size_t pn = buf_len(out) - start;

			assert_true(pn <= sizeof(part));
			memcpy(part, buf_ptr(out) + start, pn);
			for (unsigned long r = 1; r < rep; r++)
				assert_int_equal(buf_put(out, part, pn), 0);
		}
		if (*s == '+')
			s++;
		else if (*s != '\0')
			fail_msg("junk in hex: %s", s);
	}
}

/* Exact-size heap copy, so the sanitizer sees any read past the frame. */
static uint8_t *
exact_copy(const struct buf *b)
{
	uint8_t *p = malloc(buf_len(b) ? buf_len(b) : 1);

	assert_non_null(p);
	if (buf_len(b))
		memcpy(p, buf_ptr(b), buf_len(b));
	return p;
}

/* ---- reference vectors ------------------------------------------------ */

static cJSON *
load_vectors(void)
{
	char *path = data_path("SSMP_SHARED_DIR", "testdata/agentmsg/vectors.json");
	size_t len;
	char *text = slurp(path, &len);
	cJSON *root = cJSON_ParseWithLength(text, len);

	if (root == NULL)
		fail_msg("%s is not json", path);
	free(text);
	free(path);
	return root;
}

static const char *
jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	assert_true(cJSON_IsString(v));
	return v->valuestring;
}

static double
jnum(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	assert_true(cJSON_IsNumber(v));
	return v->valuedouble;
}

static void
test_vectors_encode(void **state)
{
	cJSON *root = load_vectors(), *c;
	int n = 0;

	(void)state;
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(root, "cases")) {
		struct agentmsg m;
		struct buf pay, wire, out;
		struct err e = { 0 };

		memset(&m, 0, sizeof(m));
		buf_init(&pay, 0);
		buf_init(&wire, 0);
		buf_init(&out, 0);
		hex_append(&pay, jstr(c, "payload_hex"));
		hex_append(&wire, jstr(c, "wire_hex"));
		assert_int_equal(buf_len(&wire), (size_t)jnum(c, "wire_length"));

		m.kind = agentmsg_kind_of(jstr(c, "message_type"));
		assert_int_not_equal(m.kind, AMK_UNKNOWN);
		m.seq = (int64_t)jnum(c, "sequence_number");
		m.flags = (uint64_t)jnum(c, "flags");
		assert_int_equal(uuid_parse(jstr(c, "message_id"), m.id), 0);
		m.created_ms = (uint64_t)jnum(c, "created_date_ms");
		m.payload_type = (uint32_t)jnum(c, "payload_type");
		m.payload = buf_ptr(&pay);
		m.payload_size = buf_len(&pay);

		if (agentmsg_encode(&out, &m, &e) != 0)
			fail_msg("%s: %s", jstr(c, "name"), e.msg);
		assert_int_equal(buf_len(&out), buf_len(&wire));
		assert_memory_equal(buf_ptr(&out), buf_ptr(&wire), buf_len(&wire));

		/* The same through a custom-type message names the type itself. */
		m.kind = AMK_UNKNOWN;
		snprintf(m.type, sizeof(m.type), "%s", jstr(c, "message_type"));
		buf_reset(&out);
		assert_int_equal(agentmsg_encode(&out, &m, &e), 0);
		assert_memory_equal(buf_ptr(&out), buf_ptr(&wire), buf_len(&wire));

		buf_free(&pay);
		buf_free(&wire);
		buf_free(&out);
		n++;
	}
	assert_int_equal(n, 3);
	cJSON_Delete(root);
}

static void
test_vectors_decode(void **state)
{
	cJSON *root = load_vectors(), *c;
	int n = 0;

	(void)state;
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(root, "cases")) {
		struct agentmsg m;
		struct buf pay, wire;
		struct err e = { 0 };
		uint8_t id[16];
		uint8_t *frame;

		buf_init(&pay, 0);
		buf_init(&wire, 0);
		hex_append(&pay, jstr(c, "payload_hex"));
		hex_append(&wire, jstr(c, "wire_hex"));
		frame = exact_copy(&wire);

		if (agentmsg_decode(&m, frame, buf_len(&wire), &e) != 0)
			fail_msg("%s: %s", jstr(c, "name"), e.msg);
		assert_string_equal(m.type, jstr(c, "message_type"));
		assert_int_equal(m.kind, agentmsg_kind_of(jstr(c, "message_type")));
		assert_int_equal(m.header_len, AGENTMSG_HL);
		assert_int_equal(m.schema_version, AGENTMSG_SCHEMA);
		assert_int_equal(m.created_ms, (uint64_t)jnum(c, "created_date_ms"));
		assert_int_equal(m.seq, (int64_t)jnum(c, "sequence_number"));
		assert_int_equal(m.flags, (uint64_t)jnum(c, "flags"));
		assert_int_equal(uuid_parse(jstr(c, "message_id"), id), 0);
		assert_memory_equal(m.id, id, 16);
		assert_memory_equal(m.digest, frame + 80, 32);
		assert_int_equal(m.payload_type, (uint32_t)jnum(c, "payload_type"));
		assert_int_equal(m.payload_len, buf_len(&pay));
		assert_int_equal(m.payload_size, buf_len(&pay));
		assert_ptr_equal(m.payload, frame + AGENTMSG_HEADER_SIZE);
		assert_memory_equal(m.payload, buf_ptr(&pay), buf_len(&pay));

		free(frame);
		buf_free(&pay);
		buf_free(&wire);
		n++;
	}
	assert_int_equal(n, 3);
	cJSON_Delete(root);
}

/* ---- round trips ------------------------------------------------------- */

static void
test_kind_names(void **state)
{
	(void)state;
	for (int k = AMK_INPUT; k <= AMK_SESSION_STATE; k++) {
		const char *name = agentmsg_type_name((enum agentmsg_kind)k);

		assert_non_null(name);
		assert_true(strlen(name) <= AGENTMSG_TYPE_SIZE);
		assert_int_equal(agentmsg_kind_of(name), k);
	}
	assert_string_equal(agentmsg_type_name(AMK_ACK), "acknowledge");
	assert_null(agentmsg_type_name(AMK_UNKNOWN));
	assert_null(agentmsg_type_name((enum agentmsg_kind)99));
	assert_int_equal(agentmsg_kind_of(NULL), AMK_UNKNOWN);
	assert_int_equal(agentmsg_kind_of(""), AMK_UNKNOWN);
	assert_int_equal(agentmsg_kind_of("acknowledge "), AMK_UNKNOWN);
	assert_int_equal(agentmsg_kind_of("Acknowledge"), AMK_UNKNOWN);
	assert_int_equal(agentmsg_kind_of("interactive_shell"), AMK_UNKNOWN);
}

static void
test_roundtrip_all(void **state)
{
	uint8_t payload[64];
	int n = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 37 + 1);
	for (int k = AMK_INPUT; k <= AMK_SESSION_STATE; k++) {
		for (uint32_t pt = PT_NONE; pt <= PT_EXITCODE; pt++) {
			struct agentmsg in, out;
			struct buf b;
			struct err e = { 0 };
			uint8_t *frame;

			memset(&in, 0, sizeof(in));
			in.kind = (enum agentmsg_kind)k;
			in.seq = (int64_t)pt * 1000003 + k;
			in.flags = pt % 4;
			in.created_ms = 1700000000000ull + pt;
			in.payload_type = pt;
			in.payload = payload;
			in.payload_size = 1 + (pt * 5 + (uint32_t)k) % sizeof(payload);
			assert_int_equal(uuid_v4(in.id), 0);

			buf_init(&b, 0);
			if (agentmsg_encode(&b, &in, &e) != 0)
				fail_msg("kind %d pt %u: %s", k, pt, e.msg);
			assert_int_equal(buf_len(&b), AGENTMSG_HEADER_SIZE + in.payload_size);
			frame = exact_copy(&b);
			if (agentmsg_decode(&out, frame, buf_len(&b), &e) != 0)
				fail_msg("kind %d pt %u: %s", k, pt, e.msg);
			assert_int_equal(out.kind, in.kind);
			assert_string_equal(out.type, agentmsg_type_name(in.kind));
			assert_int_equal(out.header_len, AGENTMSG_HL);
			assert_int_equal(out.schema_version, AGENTMSG_SCHEMA);
			assert_int_equal(out.created_ms, in.created_ms);
			assert_int_equal(out.seq, in.seq);
			assert_int_equal(out.flags, in.flags);
			assert_memory_equal(out.id, in.id, 16);
			assert_int_equal(out.payload_type, pt);
			assert_int_equal(out.payload_len, in.payload_size);
			assert_int_equal(out.payload_size, in.payload_size);
			assert_memory_equal(out.payload, payload, in.payload_size);
			free(frame);
			buf_free(&b);
			n++;
		}
	}
	assert_int_equal(n, 7 * 13);
}

/* Control messages may go out without a payload; the digest is SHA-256(""). */
static void
test_roundtrip_empty_control(void **state)
{
	static const uint8_t sha_empty[4] = { 0xe3, 0xb0, 0xc4, 0x42 };
	struct agentmsg in, out;
	struct buf b;
	struct err e = { 0 };

	(void)state;
	memset(&in, 0, sizeof(in));
	in.kind = AMK_CHANNEL_CLOSED;
	in.created_ms = 1;
	in.flags = AGENTMSG_FLAGS_ACK;
	assert_int_equal(uuid_v4(in.id), 0);
	buf_init(&b, 0);
	assert_int_equal(agentmsg_encode(&b, &in, &e), 0);
	assert_int_equal(buf_len(&b), AGENTMSG_HEADER_SIZE);
	assert_memory_equal(buf_ptr(&b) + 80, sha_empty, sizeof(sha_empty));
	assert_int_equal(agentmsg_decode(&out, buf_ptr(&b), buf_len(&b), &e), 0);
	assert_int_equal(out.kind, AMK_CHANNEL_CLOSED);
	assert_int_equal(out.payload_size, 0);
	assert_int_equal(out.payload_len, 0);
	buf_free(&b);
}

/* A custom type is sent as given; our own decoder then refuses it. */
static void
test_custom_types(void **state)
{
	static const uint8_t one = 1;
	struct agentmsg in, out;
	struct buf b;
	struct err e = { 0 };

	(void)state;
	memset(&in, 0, sizeof(in));
	in.kind = AMK_UNKNOWN;
	memset(in.type, 'z', AGENTMSG_TYPE_SIZE); /* exactly 32: no padding */
	in.created_ms = 5;
	in.payload = &one;
	in.payload_size = 1;
	assert_int_equal(uuid_v4(in.id), 0);
	buf_init(&b, 0);
	assert_int_equal(agentmsg_encode(&b, &in, &e), 0);
	assert_int_equal(buf_len(&b), AGENTMSG_HEADER_SIZE + 1);
	assert_memory_equal(buf_ptr(&b) + 4, in.type, AGENTMSG_TYPE_SIZE);
	assert_int_equal(agentmsg_decode(&out, buf_ptr(&b), buf_len(&b), &e), E_PROTO);
	assert_non_null(strstr(e.msg, "unknown message type"));

	buf_reset(&b);
	snprintf(in.type, sizeof(in.type), "agent_task_reply");
	assert_int_equal(agentmsg_encode(&b, &in, &e), 0);
	assert_memory_equal(buf_ptr(&b) + 4, "agent_task_reply                ", 32);
	assert_int_equal(agentmsg_decode(&out, buf_ptr(&b), buf_len(&b), &e), E_PROTO);
	assert_non_null(strstr(e.msg, "agent_task_reply"));
	buf_free(&b);
}

static void
test_encode_now(void **state)
{
	static const uint8_t x = 'x';
	struct agentmsg in, out;
	struct buf b;
	struct err e = { 0 };

	(void)state;
	assert_true(agentmsg_now_ms() != 0);
	memset(&in, 0, sizeof(in));
	in.kind = AMK_INPUT;
	in.payload = &x;
	in.payload_size = 1;
	assert_int_equal(uuid_v4(in.id), 0);
	buf_init(&b, 0);
	assert_int_equal(agentmsg_encode(&b, &in, &e), 0);
	assert_int_equal(agentmsg_decode(&out, buf_ptr(&b), buf_len(&b), &e), 0);
	assert_true(out.created_ms != 0);
	buf_free(&b);
}

/* ---- encode refusals ---------------------------------------------------- */

static void
expect_refusal(const struct agentmsg *m, int code, const char *needle)
{
	struct buf b;
	struct err e = { 0 };

	buf_init(&b, 0);
	assert_int_equal(buf_put(&b, "keep", 4), 0);
	assert_int_equal(agentmsg_encode(&b, m, &e), code);
	assert_int_equal(e.code, code);
	if (strstr(e.msg, needle) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", e.msg, needle);
	/* A refused message leaves what was there untouched. */
	assert_int_equal(buf_len(&b), 4);
	assert_memory_equal(buf_ptr(&b), "keep", 4);
	buf_free(&b);
}

static void
test_encode_refusals(void **state)
{
	static uint8_t big[AGENTMSG_MAX_FRAME];
	static const uint8_t x = 'x';
	struct agentmsg m, ok;
	struct buf small;
	struct err e = { 0 };

	(void)state;
	memset(&ok, 0, sizeof(ok));
	ok.kind = AMK_INPUT;
	ok.created_ms = 1;
	ok.payload = &x;
	ok.payload_size = 1;
	assert_int_equal(uuid_parse(vector_id, ok.id), 0);

	m = ok;
	memset(m.id, 0, sizeof(m.id));
	expect_refusal(&m, E_INVAL, "nil message id");

	m = ok;
	m.kind = AMK_UNKNOWN;
	memset(m.type, 'a', sizeof(m.type)); /* 33 bytes, no terminator */
	expect_refusal(&m, E_INVAL, "1 to 32 bytes");

	m = ok;
	m.kind = AMK_UNKNOWN;
	m.type[0] = '\0';
	expect_refusal(&m, E_INVAL, "1 to 32 bytes");

	m = ok;
	m.kind = AMK_UNKNOWN;
	snprintf(m.type, sizeof(m.type), "bad type");
	expect_refusal(&m, E_INVAL, "byte 0x20");

	m = ok;
	m.kind = (enum agentmsg_kind)42;
	expect_refusal(&m, E_INVAL, "unknown message kind");

	m = ok;
	m.payload_size = 0;
	expect_refusal(&m, E_INVAL, "empty payload");

	m = ok;
	m.kind = AMK_OUTPUT;
	m.payload = NULL;
	m.payload_size = 0;
	expect_refusal(&m, E_INVAL, "empty payload");

	m = ok;
	m.kind = AMK_UNKNOWN;
	snprintf(m.type, sizeof(m.type), "%s", AM_INPUT);
	m.payload_size = 0;
	expect_refusal(&m, E_INVAL, "empty payload");

	m = ok;
	m.payload = NULL;
	expect_refusal(&m, E_INVAL, "no payload bytes");

	m = ok;
	m.payload = big;
	m.payload_size = sizeof(big) - AGENTMSG_HEADER_SIZE + 1;
	expect_refusal(&m, E_RANGE, "frame limit");

	/* The largest frame the decoder takes is still encodable. */
	m.payload_size = sizeof(big) - AGENTMSG_HEADER_SIZE;
	buf_init(&small, 0);
	assert_int_equal(agentmsg_encode(&small, &m, &e), 0);
	assert_int_equal(buf_len(&small), AGENTMSG_MAX_FRAME);
	buf_free(&small);

	/* No room in the output: refused whole, nothing half-written. */
	buf_init(&small, AGENTMSG_HEADER_SIZE);
	assert_int_equal(agentmsg_encode(&small, &ok, &e), E_FULL);
	assert_int_equal(buf_len(&small), 0);
	buf_free(&small);

	assert_int_equal(agentmsg_encode(NULL, &ok, &e), E_INVAL);
	buf_init(&small, 0);
	assert_int_equal(agentmsg_encode(&small, NULL, NULL), E_INVAL);
	/* A NULL err is allowed everywhere. */
	m = ok;
	memset(m.id, 0, sizeof(m.id));
	assert_int_equal(agentmsg_encode(&small, &m, NULL), E_INVAL);
	buf_free(&small);
}

/* ---- acknowledge JSON --------------------------------------------------- */

static void
test_ack_payload_vector(void **state)
{
	cJSON *root = load_vectors(), *c;
	int found = 0;

	(void)state;
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(root, "cases")) {
		struct buf want, got;
		uint8_t id[16];
		int64_t seq = -1;
		struct err e = { 0 };

		if (strcmp(jstr(c, "message_type"), AM_ACK) != 0)
			continue;
		buf_init(&want, 0);
		buf_init(&got, 0);
		hex_append(&want, jstr(c, "payload_hex"));
		assert_int_equal(uuid_parse(vector_id, id), 0);
		assert_int_equal(agentmsg_ack_payload(&got, AM_OUTPUT, id, 2), 0);
		assert_int_equal(buf_len(&got), buf_len(&want));
		assert_memory_equal(buf_ptr(&got), buf_ptr(&want), buf_len(&want));
		assert_int_equal(agentmsg_ack_parse(buf_ptr(&got), buf_len(&got), &seq, &e), 0);
		assert_int_equal(seq, 2);
		buf_free(&want);
		buf_free(&got);
		found++;
	}
	assert_int_equal(found, 1);
	cJSON_Delete(root);
}

static void
test_ack_payload_builder(void **state)
{
	static const int64_t seqs[] = { 0, 1, 1023, 4294967296ll, 9007199254740992ll };
	uint8_t id[16];
	struct buf b;

	(void)state;
	assert_int_equal(uuid_parse(vector_id, id), 0);
	for (size_t i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
		int64_t seq = -1;
		struct err e = { 0 };

		buf_init(&b, 0);
		assert_int_equal(agentmsg_ack_payload(&b, AM_INPUT, id, seqs[i]), 0);
		assert_int_equal(agentmsg_ack_parse(buf_ptr(&b), buf_len(&b), &seq, &e), 0);
		assert_int_equal(seq, seqs[i]);
		buf_free(&b);
	}

	/* Appends after what is there. */
	buf_init(&b, 0);
	assert_int_equal(buf_put(&b, "xy", 2), 0);
	assert_int_equal(agentmsg_ack_payload(&b, AM_OUTPUT, id, 9), 0);
	assert_memory_equal(buf_ptr(&b), "xy{\"AcknowledgedMessageType\":",
	    strlen("xy{\"AcknowledgedMessageType\":"));

	buf_reset(&b);
	assert_int_equal(agentmsg_ack_payload(&b, NULL, id, 1), E_INVAL);
	assert_int_equal(agentmsg_ack_payload(&b, "", id, 1), E_INVAL);
	assert_int_equal(agentmsg_ack_payload(&b, "out\"put", id, 1), E_INVAL);
	assert_int_equal(agentmsg_ack_payload(&b, "out\\put", id, 1), E_INVAL);
	assert_int_equal(agentmsg_ack_payload(&b, "out put", id, 1), E_INVAL);
	assert_int_equal(agentmsg_ack_payload(&b, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", id, 1), E_INVAL);
	assert_int_equal(agentmsg_ack_payload(&b, AM_OUTPUT, NULL, 1), E_INVAL);
	assert_int_equal(agentmsg_ack_payload(&b, AM_OUTPUT, id, -1), E_INVAL);
	assert_int_equal(agentmsg_ack_payload(NULL, AM_OUTPUT, id, 1), E_INVAL);
	assert_int_equal(buf_len(&b), 0);
	buf_free(&b);

	/* No room: the buf error comes back and nothing is appended. */
	buf_init(&b, 16);
	assert_int_equal(agentmsg_ack_payload(&b, AM_OUTPUT, id, 1), E_FULL);
	assert_int_equal(buf_len(&b), 0);
	buf_free(&b);
}

static void
test_ack_parse_cases(void **state)
{
	char *path = data_path("SSMP_TESTS_DIR", "data/agentmsg/ack.txt");
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int cases = 0;

	(void)state;
	if (f == NULL)
		fail_msg("cannot open %s", path);
	while ((n = getline(&line, &cap, f)) > 0) {
		char name[128], expect[32], seqs[32];
		int off = 0, code, rc;
		int64_t seq = -12345;
		const char *json;
		uint8_t *copy;
		size_t jlen;
		struct err e = { 0 };

		if (line[n - 1] == '\n')
			line[--n] = '\0';
		if (n == 0 || line[0] == '#')
			continue;
		if (sscanf(line, "%127s %31s %31s%n", name, expect, seqs, &off) != 3 || line[off] != ' ')
			fail_msg("bad line: %s", line);
		json = line + off + 1;
		jlen = strcmp(json, "-") == 0 ? 0 : strlen(json);
		/* Exact-size, unterminated copy: the parser must honour len. */
		copy = malloc(jlen ? jlen : 1);
		assert_non_null(copy);
		memcpy(copy, json, jlen);
		code = code_of(expect);
		rc = agentmsg_ack_parse(copy, jlen, &seq, &e);
		if (rc != code)
			fail_msg("%s: got %d (%s), want %s", name, rc, e.msg, expect);
		if (code == 0) {
			if (seq != strtoll(seqs, NULL, 10))
				fail_msg("%s: seq %lld, want %s", name, (long long)seq, seqs);
		} else {
			assert_int_equal(seq, -12345); /* untouched on error */
			if (e.msg[0] == '\0')
				fail_msg("%s: no error message", name);
		}
		free(copy);
		cases++;
	}
	free(line);
	fclose(f);
	free(path);
	assert_true(cases >= 20);
	print_message("acknowledge parser cases: %d\n", cases);
}

static void
test_ack_parse_args(void **state)
{
	int64_t seq;
	struct err e = { 0 };

	(void)state;
	assert_int_equal(agentmsg_ack_parse((const uint8_t *)"{}", 2, NULL, &e), E_INVAL);
	assert_int_equal(agentmsg_ack_parse(NULL, 0, &seq, NULL), E_PROTO);
	assert_int_equal(agentmsg_ack_parse(NULL, 5, &seq, &e), E_PROTO);
}

/* ---- decoding hostile bytes --------------------------------------------- */

static void
check_field(const char *name, const struct agentmsg *m, const char *check)
{
	const char *v = strchr(check, '=');
	size_t kl;

	if (v == NULL)
		fail_msg("%s: bad check %s", name, check);
	kl = (size_t)(v - check);
	v++;
#define KEY(k) (kl == strlen(k) && strncmp(check, k, kl) == 0)
	if (KEY("type")) {
		if (strcmp(m->type, v) != 0)
			fail_msg("%s: type \"%s\", want \"%s\"", name, m->type, v);
	} else if (KEY("hl")) {
		assert_int_equal(m->header_len, strtoul(v, NULL, 10));
	} else if (KEY("pt")) {
		assert_int_equal(m->payload_type, strtoul(v, NULL, 10));
	} else if (KEY("plen")) {
		assert_int_equal(m->payload_len, strtoul(v, NULL, 10));
	} else if (KEY("psize")) {
		assert_int_equal(m->payload_size, strtoul(v, NULL, 10));
	} else if (KEY("seq")) {
		assert_int_equal(m->seq, strtoll(v, NULL, 10));
	} else if (KEY("payload")) {
		struct buf want;

		buf_init(&want, 0);
		hex_append(&want, v);
		assert_int_equal(m->payload_size, buf_len(&want));
		assert_memory_equal(m->payload, buf_ptr(&want), buf_len(&want));
		buf_free(&want);
	} else {
		fail_msg("%s: unknown check %s", name, check);
	}
#undef KEY
}

/* What must hold for every frame decode accepts, whatever the bytes. */
static void
check_accepted(const struct agentmsg *m, const uint8_t *frame, size_t len)
{
	assert_true(m->kind != AMK_UNKNOWN);
	assert_string_equal(m->type, agentmsg_type_name(m->kind));
	assert_true(m->payload_size <= len);
	if (m->payload_size > 0) {
		assert_true(m->payload >= frame);
		assert_true(m->payload + m->payload_size == frame + len);
	}
	if (m->kind != AMK_START_PUB && m->kind != AMK_PAUSE_PUB) {
		assert_true(m->header_len == AGENTMSG_HL || m->header_len == AGENTMSG_HL_SHORT);
		assert_ptr_equal(m->payload, frame + m->header_len + 4);
		assert_int_equal(m->payload_size, len - m->header_len - 4);
		assert_true(m->created_ms != 0);
	}
}

static void
test_malformed_cases(void **state)
{
	char *path = data_path("SSMP_TESTS_DIR", "data/agentmsg/malformed.txt");
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int cases = 0, rejected = 0;

	(void)state;
	if (f == NULL)
		fail_msg("cannot open %s", path);
	while ((n = getline(&line, &cap, f)) > 0) {
		char *save = NULL, *name, *expect, *hex, *check;
		struct agentmsg m;
		struct buf b;
		struct err e = { 0 };
		uint8_t *frame;
		int code, rc;

		if (line[n - 1] == '\n')
			line[--n] = '\0';
		if (n == 0 || line[0] == '#')
			continue;
		name = strtok_r(line, " ", &save);
		expect = strtok_r(NULL, " ", &save);
		hex = strtok_r(NULL, " ", &save);
		if (name == NULL || expect == NULL || hex == NULL)
			fail_msg("bad line: %s", line);
		code = code_of(expect);
		buf_init(&b, 0);
		hex_append(&b, hex);
		frame = exact_copy(&b);
		rc = agentmsg_decode(&m, frame, buf_len(&b), &e);
		if (rc != code)
			fail_msg("%s: got %d (%s), want %s", name, rc, e.msg, expect);
		if (code != 0) {
			assert_int_equal(e.code, code);
			if (e.msg[0] == '\0')
				fail_msg("%s: no error message", name);
			rejected++;
		} else {
			check_accepted(&m, frame, buf_len(&b));
			while ((check = strtok_r(NULL, " ", &save)) != NULL)
				check_field(name, &m, check);
		}
		free(frame);
		buf_free(&b);
		cases++;
	}
	free(line);
	fclose(f);
	free(path);
	assert_true(rejected >= 20);
	print_message("decoder cases: %d (%d rejected)\n", cases, rejected);
}

static void
test_decode_args(void **state)
{
	struct agentmsg m;
	struct err e = { 0 };
	uint8_t b[200] = { 0 };

	(void)state;
	assert_int_equal(agentmsg_decode(NULL, b, sizeof(b), &e), E_INVAL);
	assert_int_equal(agentmsg_decode(&m, NULL, 0, &e), E_SHORT);
	assert_int_equal(agentmsg_decode(&m, NULL, 200, &e), E_INVAL);
	assert_int_equal(agentmsg_decode(&m, b, sizeof(b), NULL), E_PROTO);
}

/* Every prefix of vector C: short header, then digest mismatch, then whole. */
static void
test_truncations(void **state)
{
	struct agentmsg in, m;
	struct buf b;
	struct err e = { 0 };
	uint8_t id[16];

	(void)state;
	assert_int_equal(uuid_parse(vector_id, id), 0);
	buf_init(&b, 0);
	memset(&in, 0, sizeof(in));
	in.kind = AMK_ACK;
	in.flags = AGENTMSG_FLAGS_ACK;
	in.created_ms = 1503434274948ull;
	assert_int_equal(uuid_parse(vector_id, in.id), 0);
	{
		struct buf pay;

		buf_init(&pay, 0);
		assert_int_equal(agentmsg_ack_payload(&pay, AM_OUTPUT, id, 2), 0);
		in.payload = buf_ptr(&pay);
		in.payload_size = buf_len(&pay);
		assert_int_equal(agentmsg_encode(&b, &in, &e), 0);
		buf_free(&pay);
	}
	for (size_t len = 0; len <= buf_len(&b); len++) {
		uint8_t *frame = malloc(len ? len : 1);
		int rc;

		assert_non_null(frame);
		memcpy(frame, buf_ptr(&b), len);
		rc = agentmsg_decode(&m, frame, len, &e);
		if (len < AGENTMSG_HEADER_SIZE)
			assert_int_equal(rc, E_SHORT);
		else if (len < buf_len(&b))
			assert_int_equal(rc, E_DIGEST);
		else
			assert_int_equal(rc, 0);
		free(frame);
	}
	buf_free(&b);
}

static uint64_t
xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/*
 * Deterministic mutations of valid frames (bytes, lengths, header lengths,
 * types): decode must never read outside the frame (the sanitizer build
 * checks) and must keep its promises on whatever it accepts.
 */
static void
test_mutations(void **state)
{
	static const char *const types[] = { AM_PAUSE_PUB, AM_START_PUB, AM_CHANNEL_CLOSED, AM_ACK };
	static const uint32_t hls[] = { 0, 1, 111, 112, 113, 115, 116, 117, 119, 120, 0xffffffff };
	uint8_t seed_frame[AGENTMSG_HEADER_SIZE + 48];
	uint64_t rng = 0x9e3779b97f4a7c15ull;
	struct agentmsg in;
	struct buf b;
	struct err e = { 0 };
	int accepted = 0;

	(void)state;
	memset(&in, 0, sizeof(in));
	in.kind = AMK_OUTPUT;
	in.created_ms = 1503434274948ull;
	in.payload = (const uint8_t *)"0123456789abcdef0123456789abcdef0123456789abcdef";
	in.payload_size = 48;
	assert_int_equal(uuid_parse(vector_id, in.id), 0);
	buf_init(&b, 0);
	assert_int_equal(agentmsg_encode(&b, &in, &e), 0);
	assert_int_equal(buf_len(&b), sizeof(seed_frame));
	memcpy(seed_frame, buf_ptr(&b), sizeof(seed_frame));
	buf_free(&b);

	for (int iter = 0; iter < 20000; iter++) {
		uint8_t work[sizeof(seed_frame) + 64];
		size_t len = sizeof(seed_frame);
		struct agentmsg m;
		uint8_t *frame;
		int nmut = 1 + (int)(xorshift(&rng) % 4);

		memcpy(work, seed_frame, sizeof(seed_frame));
		for (size_t i = sizeof(seed_frame); i < sizeof(work); i++)
			work[i] = (uint8_t)xorshift(&rng);
		for (int k = 0; k < nmut; k++) {
			uint64_t r = xorshift(&rng);

			switch (r % 6) {
			case 0: /* a random byte in the header */
				work[(r >> 8) % AGENTMSG_HEADER_SIZE] = (uint8_t)(r >> 32);
				break;
			case 1: /* a random byte anywhere */
				work[(r >> 8) % sizeof(work)] = (uint8_t)(r >> 32);
				break;
			case 2: /* another length */
				len = (size_t)((r >> 8) % (sizeof(work) + 1));
				break;
			case 3: /* an interesting header length */
				poke_u32(work, hls[(r >> 8) % (sizeof(hls) / sizeof(hls[0]))]);
				break;
			case 4: /* a type that relaxes or changes the rules */
				memset(work + 4, (r >> 40) & 1 ? ' ' : '\0', AGENTMSG_TYPE_SIZE);
				memcpy(work + 4, types[(r >> 8) % 4], strlen(types[(r >> 8) % 4]));
				break;
			case 5: /* PayloadLength zero skips the digest */
				poke_u32(work + 116, 0);
				break;
			}
		}
		frame = malloc(len ? len : 1);
		assert_non_null(frame);
		memcpy(frame, work, len);
		if (agentmsg_decode(&m, frame, len, &e) == 0) {
			check_accepted(&m, frame, len);
			accepted++;
		} else {
			assert_true(e.code < 0);
			assert_true(e.msg[0] != '\0');
			assert_non_null(memchr(e.msg, '\0', sizeof(e.msg)));
		}
		free(frame);
	}
	/* The mutations must reach the accepting paths too, not just errors. */
	assert_true(accepted > 100);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors_encode),
		cmocka_unit_test(test_vectors_decode),
		cmocka_unit_test(test_kind_names),
		cmocka_unit_test(test_roundtrip_all),
		cmocka_unit_test(test_roundtrip_empty_control),
		cmocka_unit_test(test_custom_types),
		cmocka_unit_test(test_encode_now),
		cmocka_unit_test(test_encode_refusals),
		cmocka_unit_test(test_ack_payload_vector),
		cmocka_unit_test(test_ack_payload_builder),
		cmocka_unit_test(test_ack_parse_cases),
		cmocka_unit_test(test_ack_parse_args),
		cmocka_unit_test(test_malformed_cases),
		cmocka_unit_test(test_decode_args),
		cmocka_unit_test(test_truncations),
		cmocka_unit_test(test_mutations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
