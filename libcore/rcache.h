/*
 * rcache.h: a small on-disk cache of resolved host names.
 *
 * One JSON file per profile and region under the cache directory
 * ($XDG_CACHE_HOME/ssm-proxy, else ~/.cache/ssm-proxy; created 0700),
 * mapping the host as typed to the instance found. Files are 0600 and
 * replaced atomically (temporary file, then rename), so concurrent ssh
 * runs never see half a file. Entries older than the TTL are ignored and
 * dropped on the next write. Ids are never cached: they need no lookup.
 */
#ifndef SSMP_RCACHE_H
#define SSMP_RCACHE_H

#include <stddef.h>
#include <time.h>

#include "err.h"

#define RCACHE_TTL_DEFAULT 300 /* seconds: instances come and go */

struct rcache_entry {
	char id[32];
	char name[256];
	char address[16];
};

/*
 * Writes the cache directory into out: $XDG_CACHE_HOME/ssm-proxy if that
 * variable is an absolute path, else $HOME/.cache/ssm-proxy. Returns 0, or
 * E_CONFIG when neither is set, E_RANGE when the path is too long.
 */
int rcache_dir(char *out, size_t outlen, struct err *e);

/*
 * Looks host up in dir's file for profile and region; an entry stored at
 * time t is valid while now - ttl < t <= now. Returns 0 with *out filled,
 * E_NOTFOUND for a miss (no file, no entry, expired, unreadable file).
 */
int rcache_get(const char *dir, const char *profile, const char *region, const char *host,
               time_t now, long ttl, struct rcache_entry *out);

/*
 * Records host -> ent at time now (creating dir 0700 if needed), dropping
 * entries older than ttl. Returns 0, or E_IO / E_NOMEM with a message.
 */
int rcache_put(const char *dir, const char *profile, const char *region, const char *host,
               const struct rcache_entry *ent, time_t now, long ttl, struct err *e);

#endif
