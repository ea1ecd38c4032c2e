/* hostres.h: ssm-proxy's host handling: --match, resolution with the cache, --resolve output. */
#ifndef SSMP_HOSTRES_H
#define SSMP_HOSTRES_H

#include <stdio.h>

#include "err.h"
#include "log.h"
#include "resolve.h"

struct awsapi;

/* The exit status of "ssm-proxy --match HOST": 0 if ours, else 1. */
int hostres_match_status(const char *host);

struct hostres_opts {
	const struct resolve_host *host;
	struct awsapi *api;
	const char *region;
	const char *profile;
	int no_cache;         /* --no-cache: neither read nor write the cache */
	int want_details;     /* --resolve -v: ping status and a fresh lookup */
	const struct logger *log;
};

/*
 * Finds the instance for o->host: ids as they are, other forms from the
 * cache (unless no_cache) or by resolve_lookup, then cached. Returns 0 with
 * *out filled, or the E_* code of resolve_lookup with its message.
 */
int hostres_resolve(const struct hostres_opts *o, struct resolve_instance *out, struct err *e);

/* Prints --resolve's answer: the id, then with verbose "key value" lines. */
void hostres_print(FILE *f, const struct resolve_instance *in, const char *region,
                   const char *profile, int verbose);

#endif
