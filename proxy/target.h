/* target.h: what ssm-proxy accepts as HOST and PORT on its command line. */
#ifndef SSMP_TARGET_H
#define SSMP_TARGET_H

#include <stddef.h>

/*
 * Checks that s is an instance or managed-node id ("i-" or "mi-" and 8 or
 * 17 hex digits, either case) and writes its lower-case form into out.
 * Returns 0, or -1 if s is anything else.
 */
int target_parse_id(const char *s, char *out, size_t outlen);

/* Parses a TCP port 1..65535 (decimal, nothing else); returns it or -1. */
int target_parse_port(const char *s);

#endif
