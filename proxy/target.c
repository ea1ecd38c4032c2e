/* target.c: command-line host and port checks. */
#include "target.h"

#include <ctype.h>
#include <string.h>

int
target_parse_id(const char *s, char *out, size_t outlen)
{
	size_t pre, n;

	if (strncasecmp(s, "i-", 2) == 0)
		pre = 2;
	else if (strncasecmp(s, "mi-", 3) == 0)
		pre = 3;
	else
		return -1;
	n = strlen(s + pre);
	if (n != 8 && n != 17)
		return -1;
	if (pre + n + 1 > outlen)
		return -1;
	for (size_t i = 0; i < pre + n; i++) {
		if (i >= pre && !isxdigit((unsigned char)s[i]))
			return -1;
		out[i] = (char)tolower((unsigned char)s[i]);
	}
	out[pre + n] = '\0';
	return 0;
}

int
target_parse_port(const char *s)
{
	long v = 0;

	if (*s == '\0' || strlen(s) > 5)
		return -1;
	for (; *s; s++) {
		if (!isdigit((unsigned char)*s))
			return -1;
		v = v * 10 + (*s - '0');
	}
	return v >= 1 && v <= 65535 ? (int)v : -1;
}
