/*
 * fuzz_resolve.c: the host grammar parser (resolve_parse) and the "Match
 * exec" decision on arbitrary strings. An accepted host has bounded,
 * grammar-safe parts, and an accepted id parses again to itself.
 */
#include <ctype.h>

#include "fuzz.h"
#include "resolve.h"

/* Pretends profiles named "dev" or starting with "p" exist. */
static int
profile_known(void *arg, const char *profile)
{
	(void)arg;
	return strcmp(profile, "dev") == 0 || profile[0] == 'p';
}

static void
check_safe(const char *s, size_t cap)
{
	FZ_ASSERT(strnlen(s, cap) < cap);
	for (; *s; s++)
		FZ_ASSERT(isalnum((unsigned char)*s) || strchr("._+=-", *s) != NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fz_strndup(data, size);
	struct resolve_host h, again;
	struct err e;

	if (s == NULL)
		return 0;
	if (resolve_parse(s, profile_known, NULL, &h, &e) == 0) {
		check_safe(h.target, sizeof(h.target));
		check_safe(h.key, sizeof(h.key));
		check_safe(h.value, sizeof(h.value));
		check_safe(h.region, sizeof(h.region));
		check_safe(h.profile, sizeof(h.profile));
		if (h.kind == RESOLVE_ID) {
			FZ_ASSERT(resolve_parse(h.value, NULL, NULL, &again, &e) == 0);
			FZ_ASSERT(again.kind == RESOLVE_ID && strcmp(again.value, h.value) == 0);
		}
	} else {
		FZ_ASSERT(e.msg[0] != '\0');
		for (const char *p = e.msg; *p; p++)
			FZ_ASSERT((unsigned char)*p >= 0x20 && *p != 0x7f);
	}
	(void)resolve_match(s, profile_known, NULL);
	(void)resolve_region_like(s);
	free(s);
	return 0;
}
