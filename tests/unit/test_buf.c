/* test_buf.c: the bounds-checked buffer (buf.c) and UUIDs (uuid.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "uuid.h"

/* ---- read-only views ---------------------------------------------------- */

static void
test_view_getters(void **state)
{
	static const uint8_t d[] = {
		0x01, 0x00, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff,
		0xfe, 'a', 'b', 'c',
	};
	struct buf b;
	uint8_t u8, out[3];
	uint32_t u32;
	uint64_t u64;
	const uint8_t *p;

	(void)state;
	buf_view(&b, d, sizeof(d));
	assert_int_equal(buf_len(&b), sizeof(d));
	assert_ptr_equal(buf_ptr(&b), d);
	assert_int_equal(buf_get_u8(&b, &u8), 0);
	assert_int_equal(u8, 0x01);
	assert_int_equal(buf_get_u32(&b, &u32), 0);
	assert_int_equal(u32, 0x00000100); /* big-endian 256 */
	assert_int_equal(buf_get_u64(&b, &u64), 0);
	assert_int_equal(u64, 0x80000000000000ffull);
	assert_int_equal(buf_get(&b, NULL, 1), 0); /* skip */
	assert_int_equal(buf_get_direct(&b, 2, &p), 0);
	assert_ptr_equal(p, d + 14);
	assert_memory_equal(p, "ab", 2);
	assert_int_equal(buf_len(&b), 1);

	/* Too few bytes: E_SHORT and the read position stays. */
	assert_int_equal(buf_get_u32(&b, &u32), E_SHORT);
	assert_int_equal(buf_get_u64(&b, &u64), E_SHORT);
	assert_int_equal(buf_get(&b, out, 2), E_SHORT);
	assert_int_equal(buf_get_direct(&b, 2, &p), E_SHORT);
	assert_int_equal(buf_get_direct(&b, SIZE_MAX, &p), E_SHORT);
	assert_int_equal(buf_len(&b), 1);
	assert_int_equal(buf_get(&b, out, 1), 0);
	assert_int_equal(out[0], 'c');
	assert_int_equal(buf_get_u8(&b, &u8), E_SHORT);
	assert_int_equal(buf_get(&b, out, 0), 0);
	assert_int_equal(buf_len(&b), 0);
}

static void
test_view_peek(void **state)
{
	/* The official parser's own test: a u32 at offset 2 of 00 00 00 01 00 00. */
	static const uint8_t d[] = { 0x00, 0x00, 0x00, 0x01, 0x00, 0x00 };
	struct buf b;
	uint32_t v = 7;

	(void)state;
	buf_view(&b, d, sizeof(d));
	assert_int_equal(buf_peek_u32(&b, 2, &v), 0);
	assert_int_equal(v, 65536);
	assert_int_equal(buf_peek_u32(&b, 0, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(buf_peek_u32(&b, 3, &v), E_SHORT);
	assert_int_equal(buf_peek_u32(&b, 6, &v), E_SHORT);
	assert_int_equal(buf_peek_u32(&b, 7, &v), E_SHORT);
	assert_int_equal(buf_peek_u32(&b, SIZE_MAX, &v), E_SHORT);
	assert_int_equal(buf_peek_u32(&b, SIZE_MAX - 2, &v), E_SHORT);
	assert_int_equal(buf_len(&b), sizeof(d)); /* peeking consumes nothing */
	/* Peek is relative to the read position. */
	assert_int_equal(buf_consume(&b, 2), 0);
	assert_int_equal(buf_peek_u32(&b, 0, &v), 0);
	assert_int_equal(v, 65536);
	assert_int_equal(buf_peek_u32(&b, 1, &v), E_SHORT);
}

static void
test_view_readonly(void **state)
{
	static const uint8_t d[] = { 1, 2, 3, 4 };
	struct buf b;
	uint8_t *p;

	(void)state;
	buf_view(&b, d, sizeof(d));
	assert_int_equal(buf_put(&b, "x", 1), E_INVAL);
	assert_int_equal(buf_put_u8(&b, 1), E_INVAL);
	assert_int_equal(buf_put_u32(&b, 1), E_INVAL);
	assert_int_equal(buf_put_u64(&b, 1), E_INVAL);
	assert_int_equal(buf_putf(&b, "%d", 1), E_INVAL);
	assert_int_equal(buf_reserve(&b, 1, &p), E_INVAL);
	assert_int_equal(buf_ensure(&b, 1), E_INVAL);
	assert_null(buf_cstr(&b));
	assert_int_equal(buf_len(&b), 4);
	/* Consuming all of a view keeps pointing into the caller's bytes. */
	assert_int_equal(buf_consume(&b, 4), 0);
	assert_ptr_equal(buf_ptr(&b), d + 4);
	assert_int_equal(buf_consume(&b, 1), E_SHORT);
	buf_free(&b); /* must not free the caller's bytes */
	assert_int_equal(buf_len(&b), 0);
	assert_memory_equal(d, "\x01\x02\x03\x04", 4);
}

static void
test_view_empty(void **state)
{
	struct buf b;
	uint8_t u8;

	(void)state;
	buf_view(&b, NULL, 0);
	assert_int_equal(buf_len(&b), 0);
	assert_int_equal(buf_get_u8(&b, &u8), E_SHORT);
	assert_int_equal(buf_consume(&b, 0), 0);
	assert_int_equal(buf_truncate(&b, 0), 0);
	assert_int_equal(buf_truncate(&b, 1), E_SHORT);
}

/* ---- growable buffers --------------------------------------------------- */

static void
test_put_endianness(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 0);
	assert_int_equal(buf_put_u32(&b, 256), 0);
	assert_int_equal(buf_put_u64(&b, 4294967296ull), 0);
	assert_int_equal(buf_put_u8(&b, 0xab), 0);
	assert_int_equal(buf_len(&b), 13);
	assert_memory_equal(buf_ptr(&b), "\x00\x00\x01\x00" "\x00\x00\x00\x01\x00\x00\x00\x00" "\xab", 13);
	buf_free(&b);
	assert_int_equal(buf_len(&b), 0);
	buf_free(&b); /* twice is harmless */
}

static void
test_peek_poke(void **state)
{
	uint8_t p[8];

	(void)state;
	poke_u32(p, 0xdeadbeef);
	assert_memory_equal(p, "\xde\xad\xbe\xef", 4);
	assert_int_equal(peek_u32(p), 0xdeadbeef);
	poke_u64(p, 0x0102030405060708ull);
	assert_memory_equal(p, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	assert_int_equal(peek_u64(p), 0x0102030405060708ull);
	poke_u64(p, UINT64_MAX);
	assert_int_equal(peek_u64(p), UINT64_MAX);
}

static void
test_fifo(void **state)
{
	struct buf b;
	uint8_t big[1000], out[1000];
	uint32_t v;

	(void)state;
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)i;
	buf_init(&b, 0);
	assert_int_equal(buf_len(&b), 0);
	assert_int_equal(buf_consume(&b, 0), 0);
	assert_int_equal(buf_consume(&b, 1), E_SHORT);
	/* Growth past the first allocation keeps the bytes. */
	assert_int_equal(buf_put(&b, big, sizeof(big)), 0);
	assert_int_equal(buf_put(&b, NULL, 0), 0);
	assert_int_equal(buf_len(&b), sizeof(big));
	assert_memory_equal(buf_ptr(&b), big, sizeof(big));
	/* Read from the front, write at the back, repeatedly (slides). */
	for (int round = 0; round < 50; round++) {
		assert_int_equal(buf_get(&b, out, 300), 0);
		assert_int_equal(buf_put(&b, out, 300), 0);
		assert_int_equal(buf_len(&b), sizeof(big));
	}
	assert_int_equal(buf_get(&b, out, sizeof(out)), 0);
	/* 50 rotations of 300 bytes in a 1000-byte ring: start at 15000 % 1000. */
	assert_memory_equal(out, big, sizeof(big));
	assert_int_equal(buf_len(&b), 0);

	assert_int_equal(buf_put_u32(&b, 7), 0);
	assert_int_equal(buf_put_u32(&b, 9), 0);
	assert_int_equal(buf_peek_u32(&b, 4, &v), 0);
	assert_int_equal(v, 9);
	assert_int_equal(buf_truncate(&b, 4), 0);
	assert_int_equal(buf_len(&b), 4);
	assert_int_equal(buf_truncate(&b, 5), E_SHORT);
	assert_int_equal(buf_get_u32(&b, &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(buf_put(&b, "ab", 2), 0);
	buf_reset(&b);
	assert_int_equal(buf_len(&b), 0);
	assert_int_equal(buf_put(&b, "cd", 2), 0);
	assert_memory_equal(buf_ptr(&b), "cd", 2);
	buf_free(&b);
}

static void
test_reserve(void **state)
{
	struct buf b;
	uint8_t *p;

	(void)state;
	buf_init(&b, 0);
	assert_int_equal(buf_put(&b, "ab", 2), 0);
	assert_int_equal(buf_reserve(&b, 3, &p), 0);
	memcpy(p, "cde", 3);
	assert_int_equal(buf_len(&b), 5);
	assert_memory_equal(buf_ptr(&b), "abcde", 5);
	assert_int_equal(buf_reserve(&b, 0, NULL), 0);
	assert_int_equal(buf_len(&b), 5);
	buf_free(&b);
}

static void
test_max(void **state)
{
	uint8_t d[100];
	struct buf b;

	(void)state;
	memset(d, 'q', sizeof(d));
	buf_init(&b, 10);
	assert_int_equal(buf_put(&b, d, 11), E_FULL);
	assert_int_equal(buf_len(&b), 0);
	assert_int_equal(buf_put(&b, d, 6), 0);
	assert_int_equal(buf_put_u32(&b, 1), 0); /* exactly 10 */
	assert_int_equal(buf_put_u8(&b, 1), E_FULL);
	assert_int_equal(buf_put_u32(&b, 1), E_FULL);
	assert_int_equal(buf_put_u64(&b, 1), E_FULL);
	assert_int_equal(buf_ensure(&b, SIZE_MAX), E_FULL);
	assert_int_equal(buf_putf(&b, "x"), E_FULL);
	assert_int_equal(buf_len(&b), 10);
	/* Consumed bytes free room again. */
	assert_int_equal(buf_consume(&b, 4), 0);
	assert_int_equal(buf_put(&b, d, 4), 0);
	assert_int_equal(buf_put(&b, d, 1), E_FULL);
	assert_int_equal(buf_len(&b), 10);
	buf_free(&b);

	/* The limit is the default when max is 0. */
	buf_init(&b, 0);
	assert_int_equal(b.max, BUF_MAX_DEFAULT);
	assert_int_equal(buf_ensure(&b, BUF_MAX_DEFAULT + 1), E_FULL);
	buf_free(&b);
}

/* A fixed buffer writes into the caller's storage and never grows, moves or frees it. */
static void
test_fixed(void **state)
{
	uint8_t mem[16], *p;
	struct buf b;

	(void)state;
	memset(mem, 0xee, sizeof(mem));
	buf_fixed(&b, mem, 12);
	assert_int_equal(buf_put_u32(&b, 0x01020304), 0);
	assert_int_equal(buf_put(&b, "abcdef", 6), 0);
	assert_ptr_equal(buf_ptr(&b), mem);
	assert_memory_equal(mem, "\x01\x02\x03\x04" "abcdef", 10);
	assert_int_equal(buf_put(&b, "xyz", 3), E_FULL); /* 13 > 12 */
	assert_int_equal(buf_len(&b), 10);
	assert_int_equal(buf_reserve(&b, 3, &p), E_FULL);
	assert_int_equal(buf_put(&b, "xy", 2), 0);      /* exactly full */
	assert_null(buf_cstr(&b));                      /* no byte left for the terminator */
	assert_int_equal(mem[12], 0xee);                /* nothing past size was touched */
	/* Read some, then write again: unread bytes slide to the front, in place. */
	assert_int_equal(buf_consume(&b, 8), 0);
	assert_int_equal(buf_put(&b, "12345678", 8), 0);
	assert_ptr_equal(buf_ptr(&b), mem);
	assert_memory_equal(mem, "efxy12345678", 12);
	buf_reset(&b);
	assert_int_equal(buf_put(&b, "q", 1), 0);
	assert_int_equal(mem[0], 'q');
	buf_free(&b); /* must not free mem (on the stack: ASan would object) */
	assert_int_equal(buf_len(&b), 0);
}

/* The C-string terminator is not data: a buffer filled to max still gets one. */
static void
test_max_cstr(void **state)
{
	static const size_t maxes[] = { 1, 10, 255, 256, 257, 512, 1000 };

	(void)state;
	for (size_t i = 0; i < sizeof(maxes) / sizeof(maxes[0]); i++) {
		size_t max = maxes[i];
		char *want = malloc(max + 1);
		struct buf b;
		const char *s;

		assert_non_null(want);
		memset(want, 'k', max);
		want[max] = '\0';

		/* Filled by putf in one go. */
		buf_init(&b, max);
		assert_int_equal(buf_putf(&b, "%s", want), 0);
		assert_int_equal(buf_len(&b), max);
		assert_non_null(s = buf_cstr(&b));
		assert_string_equal(s, want);
		assert_int_equal(buf_len(&b), max);
		buf_free(&b);

		/* Filled in two writes, the first one small. */
		buf_init(&b, max);
		assert_int_equal(buf_put(&b, want, max / 3), 0);
		assert_int_equal(buf_put(&b, want, max - max / 3), 0);
		assert_non_null(s = buf_cstr(&b));
		assert_string_equal(s, want);
		buf_free(&b);

		/* Full, with the read position moved: consume one, put one. */
		buf_init(&b, max);
		assert_int_equal(buf_put(&b, want, max), 0);
		assert_int_equal(buf_consume(&b, 1), 0);
		assert_int_equal(buf_put(&b, "k", 1), 0);
		assert_int_equal(buf_len(&b), max);
		assert_non_null(s = buf_cstr(&b));
		assert_string_equal(s, want);
		buf_free(&b);
		free(want);
	}
}

static void
test_putf_cstr(void **state)
{
	struct buf b;
	const char *s;
	char big[700];

	(void)state;
	buf_init(&b, 0);
	assert_non_null(s = buf_cstr(&b)); /* empty buffer: empty string */
	assert_string_equal(s, "");
	assert_int_equal(buf_len(&b), 0);
	assert_int_equal(buf_putf(&b, "%s-%d", "ab", 42), 0);
	assert_int_equal(buf_len(&b), 5); /* no NUL counted */
	assert_int_equal(buf_putf(&b, "%s", ""), 0);
	assert_int_equal(buf_putf(&b, "!"), 0);
	assert_non_null(s = buf_cstr(&b));
	assert_string_equal(s, "ab-42!");
	assert_int_equal(buf_len(&b), 6);
	/* cstr is relative to the read position. */
	assert_int_equal(buf_consume(&b, 3), 0);
	assert_string_equal(buf_cstr(&b), "42!");
	/* A long format result grows the buffer. */
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(buf_putf(&b, "%s", big), 0);
	assert_int_equal(buf_len(&b), 3 + sizeof(big) - 1);
	s = buf_cstr(&b);
	assert_non_null(s);
	assert_int_equal(strlen(s), 3 + sizeof(big) - 1);
	assert_memory_equal(s, "42!zzz", 6);
	buf_free(&b);
}

/* A limit so large that max + 1 wraps must still allow growth. */
static void
test_max_huge(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, SIZE_MAX);
	assert_int_equal(buf_put(&b, "hello", 5), 0);
	assert_int_equal(buf_putf(&b, "%0600d", 1), 0);
	assert_int_equal(buf_len(&b), 605);
	assert_non_null(buf_cstr(&b));
	assert_int_equal(buf_ensure(&b, SIZE_MAX), E_FULL);
	buf_free(&b);
}

/* ---- UUIDs -------------------------------------------------------------- */

static const char vector_id[] = "dd01e56b-ff48-483e-a508-b5f073f31b16";
static const uint8_t vector_bytes[16] = {
	0xdd, 0x01, 0xe5, 0x6b, 0xff, 0x48, 0x48, 0x3e,
	0xa5, 0x08, 0xb5, 0xf0, 0x73, 0xf3, 0x1b, 0x16,
};

static void
test_uuid_format_parse(void **state)
{
	char s[UUID_STR_LEN + 1];
	uint8_t id[16];

	(void)state;
	uuid_format(vector_bytes, s);
	assert_string_equal(s, vector_id);
	assert_int_equal(uuid_parse(vector_id, id), 0);
	assert_memory_equal(id, vector_bytes, 16);
	assert_int_equal(uuid_parse("DD01E56B-FF48-483E-A508-B5F073F31B16", id), 0);
	assert_memory_equal(id, vector_bytes, 16);
	memset(id, 0, sizeof(id));
	uuid_format(id, s);
	assert_string_equal(s, "00000000-0000-0000-0000-000000000000");
	memset(id, 0xff, sizeof(id));
	uuid_format(id, s);
	assert_string_equal(s, "ffffffff-ffff-ffff-ffff-ffffffffffff");
}

static void
test_uuid_parse_errors(void **state)
{
	static const char *const bad[] = {
		"",
		"dd01e56b-ff48-483e-a508-b5f073f31b1",    /* short */
		"dd01e56b-ff48-483e-a508-b5f073f31b160",  /* long */
		"dd01e56bff48483ea508b5f073f31b16",       /* no hyphens */
		"dd01e56b-ff48-483e-a508_b5f073f31b16",   /* wrong separator */
		"dd01e56-bff48-483e-a508-b5f073f31b16",   /* hyphen misplaced */
		"dd01e56b-ff48-483e-a508-b5f073f31b1g",   /* bad hex */
		"gd01e56b-ff48-483e-a508-b5f073f31b16",
		"dd01e56b-ff48-483e-a508-b5f073f31b 6",
		"dd01e56b-ff48-483e-a508--5f073f31b16",
		"{d01e56b-ff48-483e-a508-b5f073f31b16",
		"dd01e56b-ff48-483e-a508-b5f073f31b16\n",
	};
	uint8_t id[16];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (uuid_parse(bad[i], id) != E_INVAL)
			fail_msg("accepted \"%s\"", bad[i]);
	}
	assert_int_equal(uuid_parse(NULL, id), E_INVAL);
}

static void
test_uuid_v4(void **state)
{
	uint8_t a[16], b[16], id[16];
	char s[UUID_STR_LEN + 1];

	(void)state;
	assert_int_equal(uuid_v4(a), 0);
	assert_int_equal(uuid_v4(b), 0);
	assert_memory_not_equal(a, b, 16);
	for (int i = 0; i < 100; i++) {
		assert_int_equal(uuid_v4(a), 0);
		assert_int_equal(a[6] >> 4, 4);          /* version 4 */
		assert_int_equal(a[8] & 0xc0, 0x80);     /* RFC 4122 variant */
		assert_false(uuid_is_nil(a));
		uuid_format(a, s);
		assert_int_equal(strlen(s), UUID_STR_LEN);
		assert_int_equal(s[14], '4');
		assert_int_equal(uuid_parse(s, id), 0);
		assert_memory_equal(id, a, 16);
	}
}

static void
test_uuid_nil(void **state)
{
	uint8_t id[16] = { 0 };

	(void)state;
	assert_true(uuid_is_nil(id));
	id[15] = 1;
	assert_false(uuid_is_nil(id));
	id[15] = 0;
	id[0] = 0x80;
	assert_false(uuid_is_nil(id));
	assert_int_equal(uuid_parse("00000000-0000-0000-0000-000000000000", id), 0);
	assert_true(uuid_is_nil(id));
	assert_false(uuid_is_nil(vector_bytes));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_view_getters),
		cmocka_unit_test(test_view_peek),
		cmocka_unit_test(test_view_readonly),
		cmocka_unit_test(test_view_empty),
		cmocka_unit_test(test_put_endianness),
		cmocka_unit_test(test_peek_poke),
		cmocka_unit_test(test_fifo),
		cmocka_unit_test(test_reserve),
		cmocka_unit_test(test_max),
		cmocka_unit_test(test_max_cstr),
		cmocka_unit_test(test_fixed),
		cmocka_unit_test(test_putf_cstr),
		cmocka_unit_test(test_max_huge),
		cmocka_unit_test(test_uuid_format_parse),
		cmocka_unit_test(test_uuid_parse_errors),
		cmocka_unit_test(test_uuid_v4),
		cmocka_unit_test(test_uuid_nil),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
