/* hostres.c: ssm-proxy's host handling (see hostres.h). */
#include "hostres.h"

#include <limits.h>
#include <string.h>
#include <time.h>

#include "rcache.h"

int
hostres_match_status(const char *host)
{
	/* Only the name is looked at, and the AWS files when a PROFILE
	 * qualifier needs checking: no network, no cache. */
	return resolve_match(host, resolve_profile_in_files, NULL) ? 0 : 1;
}

int
hostres_resolve(const struct hostres_opts *o, struct resolve_instance *out, struct err *e)
{
	const struct resolve_host *h = o->host;
	struct resolve_opts ro;
	struct rcache_entry ce;
	struct err ce_err = { 0, "" };
	char dir[PATH_MAX];
	int use_cache = !o->no_cache && !o->want_details && h->kind != RESOLVE_ID;
	int r;

	memset(out, 0, sizeof(*out));
	if (use_cache && rcache_dir(dir, sizeof(dir), &ce_err) != 0) {
		log_debug(o->log, "cache not used: %s", ce_err.msg);
		use_cache = 0;
	}
	if (use_cache &&
	    rcache_get(dir, o->profile, o->region, h->target, time(NULL), RCACHE_TTL_DEFAULT, &ce) == 0) {
		log_verbose(o->log, "%s is %s (cached)", h->target, ce.id);
		snprintf(out->id, sizeof(out->id), "%s", ce.id);
		snprintf(out->name, sizeof(out->name), "%s", ce.name);
		snprintf(out->private_ip, sizeof(out->private_ip), "%s", ce.address);
		return 0;
	}
	memset(&ro, 0, sizeof(ro));
	ro.api = o->api;
	ro.region = o->region;
	ro.profile = o->profile;
	ro.want_ping = o->want_details;
	ro.log = o->log;
	if ((r = resolve_lookup(&ro, h, out, e)) != 0)
		return r;
	if (h->kind != RESOLVE_ID)
		log_verbose(o->log, "%s is %s (%s, %s)", h->target, out->id,
		            out->name[0] ? out->name : "no Name",
		            out->private_ip[0] ? out->private_ip : "no private IP");
	if (!o->no_cache && h->kind != RESOLVE_ID && rcache_dir(dir, sizeof(dir), &ce_err) == 0) {
		memset(&ce, 0, sizeof(ce));
		snprintf(ce.id, sizeof(ce.id), "%s", out->id);
		snprintf(ce.name, sizeof(ce.name), "%s", out->name);
		snprintf(ce.address, sizeof(ce.address), "%s", out->private_ip);
		/* A cache that cannot be written only costs a lookup next time. */
		if (rcache_put(dir, o->profile, o->region, h->target, &ce, time(NULL),
		               RCACHE_TTL_DEFAULT, &ce_err) != 0)
			log_verbose(o->log, "cache not written: %s", ce_err.msg);
	}
	return 0;
}

void
hostres_print(FILE *f, const struct resolve_instance *in, const char *region, const char *profile,
              int verbose)
{
	fprintf(f, "%s\n", in->id);
	if (!verbose)
		return;
	fprintf(f, "region %s\n", region);
	fprintf(f, "profile %s\n", profile);
	fprintf(f, "name %s\n", in->name[0] ? in->name : "-");
	fprintf(f, "private-ip %s\n", in->private_ip[0] ? in->private_ip : "-");
	fprintf(f, "public-ip %s\n", in->public_ip[0] ? in->public_ip : "-");
	fprintf(f, "state %s\n", in->state[0] ? in->state : "-");
	fprintf(f, "ping %s\n", in->ping[0] ? in->ping : "-");
}
