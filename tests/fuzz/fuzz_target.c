/*
 * fuzz_target.c: the command-line host and port parsers of ssm-proxy on
 * arbitrary strings. An accepted host is a canonical id that parses again
 * to itself; an accepted port is 1..65535.
 */
#include "fuzz.h"
#include "target.h"

#include <ctype.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fz_strndup(data, size), out[32], again[32];
	int port;

	if (s == NULL)
		return 0;
	if (target_parse_id(s, out, sizeof(out)) == 0) {
		size_t n = strlen(out);
		FZ_ASSERT(n == 10 || n == 11 || n == 19 || n == 20);
		for (size_t i = 0; i < n; i++)
			FZ_ASSERT(out[i] == '-' || isdigit((unsigned char)out[i]) ||
			          (out[i] >= 'a' && out[i] <= 'z'));
		FZ_ASSERT(target_parse_id(out, again, sizeof(again)) == 0 && strcmp(out, again) == 0);
	}
	port = target_parse_port(s);
	FZ_ASSERT(port == -1 || (port >= 1 && port <= 65535));
	free(s);
	return 0;
}
