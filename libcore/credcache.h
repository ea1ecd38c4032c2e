/*
 * credcache.h: the on-disk cache of temporary credentials, shared with the
 * AWS CLI (~/.aws/cli/cache/<key>.json, keyed as the CLI keys it), so
 * repeated connections do not call STS or the SSO portal each time.
 *
 * Files are {"Credentials": {"AccessKeyId", "SecretAccessKey",
 * "SessionToken", "Expiration"}} written 0600 in a 0700 directory through a
 * temporary file and rename. An entry is used until CREDCACHE_MARGIN
 * seconds before it expires.
 */
#ifndef SSMP_CREDCACHE_H
#define SSMP_CREDCACHE_H

#include "err.h"
#include "log.h"

struct creds;

#define CREDCACHE_MARGIN 300
#define CREDCACHE_KEY_LEN 40

/*
 * The CLI's key of an AssumeRole (or web identity) call: SHA-1 hex of the
 * JSON of its arguments with sorted keys; session_name only when the
 * profile sets it, external_id / token_file NULL and duration 0 when unset.
 * Returns 0 or E_NOMEM.
 */
int credcache_key_role(const char *role_arn, const char *session_name, const char *external_id,
		       long duration, const char *token_file, char out[CREDCACHE_KEY_LEN + 1]);

/*
 * The CLI's key of SSO role credentials: start_url, or the sso-session
 * name when session is nonzero, with account_id and role_name. Returns 0.
 */
int credcache_key_sso(const char *start_url_or_session, int session, const char *account_id,
		      const char *role_name, char out[CREDCACHE_KEY_LEN + 1]);

/*
 * Reads entry key into out (creds_free it). Returns 0; E_NOTFOUND when
 * absent, unreadable as an entry, or expiring within CREDCACHE_MARGIN.
 */
int credcache_load(const char *key, struct creds *out, const struct logger *log);

/* Writes c as entry key; returns 0, E_IO or E_NOMEM (a cache failure is no failure of the call). */
int credcache_store(const char *key, const struct creds *c, const struct logger *log, struct err *e);

/* Writes the cache directory into out; 0 or E_CONFIG (no HOME). */
int credcache_dir(char *out, size_t size, struct err *e);

#endif
