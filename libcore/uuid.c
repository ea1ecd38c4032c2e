/* uuid.c: random UUIDs (OpenSSL's RNG) and their text form. */
#include "uuid.h"
#include "err.h"

#include <stdio.h>
#include <string.h>

#include <openssl/rand.h>

int
uuid_v4(uint8_t id[16])
{
	if (RAND_bytes(id, 16) != 1)
		return E_IO;
	id[6] = (uint8_t)((id[6] & 0x0f) | 0x40); /* version 4 */
	id[8] = (uint8_t)((id[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	return 0;
}

void
uuid_format(const uint8_t id[16], char out[UUID_STR_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[id[i] >> 4];
		out[o++] = hex[id[i] & 15];
	}
	out[o] = '\0';
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

int
uuid_parse(const char *s, uint8_t id[16])
{
	size_t i = 0;

	if (s == NULL || strlen(s) != UUID_STR_LEN)
		return E_INVAL;
	for (int b = 0; b < 16; b++) {
		if (b == 4 || b == 6 || b == 8 || b == 10) {
			if (s[i++] != '-')
				return E_INVAL;
		}
		int hi = hexval(s[i++]), lo = hexval(s[i++]);
		if (hi < 0 || lo < 0)
			return E_INVAL;
		id[b] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int
uuid_is_nil(const uint8_t id[16])
{
	static const uint8_t zero[16];

	return memcmp(id, zero, 16) == 0;
}
