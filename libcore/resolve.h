/*
 * resolve.h: from what a user types after "ssh" to an instance id.
 *
 * Host grammar (documented for users in ssm-proxy.1, HOST FORMS):
 *
 *   HOST    = TARGET [ "." REGION [ "." PROFILE ] ]
 *   TARGET  = ID | KEY "=" VALUE | IPV4 | NAME | DNSNAME
 *
 * - The whole HOST is 1..253 characters of [A-Za-z0-9._+=-], does not start
 *   with '-' or '.', and has no empty label. Anything else (quotes, blanks,
 *   ';', '$', '/', ':', '@', control bytes) is refused: such strings cannot
 *   be a host name ssh passes on, and refusing them keeps every later use
 *   (cache keys, messages, API parameters) safe.
 * - Qualifiers are read from the right. REGION is a label shaped like an
 *   AWS region ("eu-west-1", "us-gov-west-1", "cn-north-1": two letters,
 *   optional "-gov"/"-iso..." partition part, a word, a number); no DNS
 *   top-level domain has that shape, so "TARGET.REGION" never misreads a
 *   DNS name. "TARGET.REGION.PROFILE" is read only when PROFILE is a
 *   profile defined in the AWS config or credentials file (the caller's
 *   check), so a DNS name such as "www.eu-west-1.example" stays a DNS name.
 * - ID: "i-" or "mi-" and 8 or 17 hex digits: used as is, no API call.
 *   Any other TARGET starting with "i-" or "mi-" is an error (a mistyped
 *   id), not a name.
 * - KEY=VALUE: any tag ("Role=bastion"); no ':' so scp and rsync
 *   "host:path" arguments still split where they should.
 * - IPV4: a dotted quad, matched against private, then public addresses.
 * - NAME: one label: the value of the Name tag.
 * - DNSNAME: several labels: a Name tag with that value first, else the
 *   name's IPv4 address (resolved locally) as above.
 *
 * Tag keys and values are compared exactly, then ignoring case when
 * nothing matched (ssh lowercases host names before ProxyCommand sees them).
 */
#ifndef SSMP_RESOLVE_H
#define SSMP_RESOLVE_H

#include <stddef.h>

#include "err.h"
#include "log.h"

struct awsapi;

#define RESOLVE_HOST_MAX 253
#define RESOLVE_ID_MAX 32

enum resolve_kind {
	RESOLVE_ID,   /* instance or managed-node id: no lookup */
	RESOLVE_TAG,  /* KEY=VALUE */
	RESOLVE_IPV4, /* private or public address */
	RESOLVE_NAME, /* one label: the Name tag */
	RESOLVE_DNS,  /* dotted name: Name tag, then its DNS address */
};

struct resolve_host {
	enum resolve_kind kind;
	char target[RESOLVE_HOST_MAX + 1]; /* HOST without its qualifiers */
	char key[RESOLVE_HOST_MAX + 1];    /* tag key ("Name" for NAME and DNS) */
	char value[RESOLVE_HOST_MAX + 1];  /* lower-case id, tag value or address */
	char region[64];                   /* "" when not qualified */
	char profile[RESOLVE_HOST_MAX + 1];/* "" when not qualified */
};

/* Says whether a profile exists; returns 1 or 0. */
typedef int (*resolve_profile_fn)(void *arg, const char *profile);

/*
 * Parses host by the grammar above, without network or files except what
 * profile_known reads (NULL: a PROFILE qualifier is never recognised).
 * Returns 0, or E_INVAL with a message saying what is wrong.
 */
int resolve_parse(const char *host, resolve_profile_fn profile_known, void *arg,
                  struct resolve_host *out, struct err *e);

/*
 * Decides whether ssm-proxy should handle host (ssh_config "Match exec"):
 * returns 1 for ids, KEY=VALUE tags and anything with a region qualifier,
 * and for bare names (not "localhost", not all digits) and bare IPv4
 * addresses in private ranges (10/8, 172.16/12, 192.168/16, 100.64/10);
 * returns 0 for everything else, including unqualified DNS names and any
 * string outside the grammar.
 */
int resolve_match(const char *host, resolve_profile_fn profile_known, void *arg);

/* Returns 1 if s (any case) is shaped like an AWS region name, else 0. */
int resolve_region_like(const char *s);

/*
 * A profile_known callback reading the AWS config and credentials files
 * (AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE, defaults under ~/.aws);
 * arg is unused. Returns 1 if a section names the profile, else 0.
 */
int resolve_profile_in_files(void *arg, const char *profile);

/* What a lookup found; strings are "" when unknown. */
struct resolve_instance {
	char id[RESOLVE_ID_MAX];
	char name[256];
	char private_ip[16];
	char public_ip[16];
	char state[32];
	char ping[32];       /* SSM PingStatus, e.g. "Online", "ConnectionLost" */
};

struct resolve_opts {
	struct awsapi *api;  /* signed for the region being searched */
	const char *region;  /* for messages */
	const char *profile; /* for messages */
	int want_ping;       /* also fetch the ping status of the answer */
	const struct logger *log;
};

/*
 * Finds the one running instance host names (EC2 DescribeInstances with
 * instance-state-name=running, paged; several matches are narrowed to the
 * ones SSM sees Online with DescribeInstanceInformation). For RESOLVE_ID it
 * only fills details when want_ping is set. Returns 0 with *out filled;
 * E_NOTFOUND (says what was searched where, and names stopped matches),
 * E_INVAL when several instances match (lists them), or an API error.
 */
int resolve_lookup(const struct resolve_opts *o, const struct resolve_host *host,
                   struct resolve_instance *out, struct err *e);

#endif
