/* uuid.h: random (v4) UUIDs and their canonical text form. */
#ifndef SSMP_UUID_H
#define SSMP_UUID_H

#include <stdint.h>

#define UUID_STR_LEN 36 /* 8-4-4-4-12, without the NUL */

/* Fills id with a random version-4 UUID; returns 0 or E_* on RNG failure. */
int uuid_v4(uint8_t id[16]);
/* Writes the lower-case hyphenated form of id into out (37 bytes). */
void uuid_format(const uint8_t id[16], char out[UUID_STR_LEN + 1]);
/* Parses the hyphenated form (either case); returns 0 or E_INVAL. */
int uuid_parse(const char *s, uint8_t id[16]);
/* Returns nonzero if every byte of id is zero. */
int uuid_is_nil(const uint8_t id[16]);

#endif
