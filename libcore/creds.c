/*
 * creds.c: credential provider chain, profile and region selection.
 *
 * Behaviour follows the AWS CLI v2 (its bundled botocore) so that a user's
 * setup means the same thing here: which profile is chosen, which file
 * wins, which sections count as profiles, and when a profile must exist.
 */
#include "creds.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "awscfg.h"
#include "buf.h"
#include "credcache.h"
#include "credproc.h"
#include "ecs.h"
#include "imds.h"
#include "ini.h"
#include "sso.h"
#include "sts.h"

#include <fcntl.h>
#include <strings.h>
#include <time.h>

#define CONFIG_DEFAULT "~/.aws/config"
#define CREDENTIALS_DEFAULT "~/.aws/credentials"
#define SHOWN_MAX 64 /* longest user-supplied name quoted in a message */
#define CHAIN_MAX 32 /* profiles in one role chain */
#define TOKEN_FILE_MAX (64 * 1024)

struct ctx {
	const char *profile;
	const char *profile_from; /* "--profile", "AWS_PROFILE", ...; NULL if implicit */
	int cli_profile;          /* named with --profile */
	char *config_path;
	char *cred_path;
	struct ini *config;       /* NULL when the file does not exist */
	struct ini *cred;
	int loaded;
	const struct logger *log;
	const struct creds_opts *opts; /* NULL from creds_region / creds_profile_open */
};

/* An empty variable counts as unset. */
static const char *
env(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? v : NULL;
}

/* A user-supplied name fit for a one-line message. */
static const char *
shown(const char *s, char out[SHOWN_MAX + 4])
{
	size_t i;

	for (i = 0; s[i] != '\0' && i < SHOWN_MAX; i++)
		out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	if (s[i] != '\0') {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
	return out;
}

static void
wipe_free(char *s)
{
	if (s == NULL)
		return;
	OPENSSL_cleanse(s, strlen(s));
	free(s);
}

/* The AWS CLI v2 order; botocore itself checks AWS_DEFAULT_PROFILE first. */
static const char *
select_profile(const char *cli_profile, const char **from)
{
	const char *p;

	if (cli_profile != NULL) {
		*from = "--profile";
		return cli_profile;
	}
	if ((p = env("AWS_PROFILE")) != NULL) {
		*from = "AWS_PROFILE";
		return p;
	}
	if ((p = env("AWS_DEFAULT_PROFILE")) != NULL) {
		*from = "AWS_DEFAULT_PROFILE";
		return p;
	}
	*from = NULL;
	return "default";
}

const char *
creds_profile_name(const char *cli_profile)
{
	const char *from;

	return select_profile(cli_profile, &from);
}

/*
 * Expands a leading "~" or "~user" like Python's os.path.expanduser (which
 * botocore applies): HOME first, then the password database; an unknown
 * user leaves the path as it is.
 */
static int
expand_home(char **out, const char *path, struct err *e)
{
	const char *rest, *home = NULL;
	struct passwd pw, *res = NULL;
	char pwbuf[16384];
	size_t hlen;

	*out = NULL;
	if (path[0] != '~') {
		*out = strdup(path);
		return *out != NULL ? 0 : err_set(e, E_NOMEM, "out of memory");
	}
	rest = path + 1 + strcspn(path + 1, "/");
	if (rest == path + 1) {
		if ((home = env("HOME")) == NULL &&
		    getpwuid_r(getuid(), &pw, pwbuf, sizeof(pwbuf), &res) == 0 && res != NULL)
			home = pw.pw_dir;
		if (home == NULL)
			return err_set(e, E_CONFIG, "cannot expand '~' in %s: HOME is not set", path);
	} else {
		char user[256];

		if ((size_t)(rest - path - 1) < sizeof(user)) {
			memcpy(user, path + 1, (size_t)(rest - path - 1));
			user[rest - path - 1] = '\0';
			if (getpwnam_r(user, &pw, pwbuf, sizeof(pwbuf), &res) == 0 && res != NULL)
				home = pw.pw_dir;
		}
		if (home == NULL) {
			*out = strdup(path);
			return *out != NULL ? 0 : err_set(e, E_NOMEM, "out of memory");
		}
	}
	hlen = strlen(home);
	while (hlen > 0 && home[hlen - 1] == '/')
		hlen--;
	if (asprintf(out, "%.*s%s", (int)hlen, home, rest) < 0) {
		*out = NULL;
		return err_set(e, E_NOMEM, "out of memory");
	}
	return 0;
}

/* Loads one file; a missing one leaves *ini NULL and is no error. */
static int
load_one(struct ini **ini, const char *path, const struct logger *log, struct err *e)
{
	struct err le;
	int r;

	err_clear(&le);
	r = ini_load_file(ini, path, &le);
	if (r == E_NOTFOUND) {
		log_debug(log, "%s", le.msg);
		return 0;
	}
	if (r != 0) {
		if (e != NULL)
			*e = le;
		return r;
	}
	log_debug(log, "read %s", path);
	return 0;
}

static int
load_files(struct ctx *c, struct err *e)
{
	const char *p;
	int r;

	if (c->loaded)
		return 0;
	p = env("AWS_CONFIG_FILE");
	if ((r = expand_home(&c->config_path, p != NULL ? p : CONFIG_DEFAULT, e)) != 0)
		return r;
	p = env("AWS_SHARED_CREDENTIALS_FILE");
	if ((r = expand_home(&c->cred_path, p != NULL ? p : CREDENTIALS_DEFAULT, e)) != 0)
		return r;
	if ((r = load_one(&c->config, c->config_path, c->log, e)) != 0)
		return r;
	if ((r = load_one(&c->cred, c->cred_path, c->log, e)) != 0)
		return r;
	c->loaded = 1;
	return 0;
}

static int
ctx_init(struct ctx *c, const char *cli_profile, const struct logger *log, struct err *e)
{
	char nm[SHOWN_MAX + 4];

	memset(c, 0, sizeof(*c));
	c->log = log;
	c->profile = select_profile(cli_profile, &c->profile_from);
	c->cli_profile = cli_profile != NULL;
	if (*c->profile == '\0')
		return err_set(e, E_CONFIG, "empty profile name");
	log_debug(log, "profile %s (%s)", shown(c->profile, nm),
		  c->profile_from != NULL ? c->profile_from : "default");
	return 0;
}

static void
ctx_free(struct ctx *c)
{
	ini_free(c->config);
	ini_free(c->cred);
	free(c->config_path);
	free(c->cred_path);
	memset(c, 0, sizeof(*c));
}

/*
 * Splits s into words as Python's shlex.split does, which botocore uses on
 * config section names (hand-written: no C library has these rules). POSIX
 * rules: blanks separate words, '...' is literal, "..." honours \" and \\,
 * a backslash outside quotes escapes the next character. Returns the word
 * count, or -1 for an unclosed quote or a trailing backslash; *second gets
 * a copy of the second word when there is one.
 */
static int
shlex_words(const char *s, char **second)
{
	struct buf w;
	int count = 0, in_word = 0;
	char q = 0;

	*second = NULL;
	buf_init(&w, 0);
	for (const char *p = s;; p++) {
		char c = *p;

		if (q != 0) {
			if (c == '\0')
				goto bad;
			if (c == q)
				q = 0;
			else if (q == '"' && c == '\\' && (p[1] == '"' || p[1] == '\\'))
				buf_put_u8(&w, (uint8_t)*++p);
			else
				buf_put_u8(&w, (uint8_t)c);
			continue;
		}
		if (c == '\0' || c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			if (in_word) {
				if (count == 1 && (*second = strdup(buf_cstr(&w) ? buf_cstr(&w) : "")) == NULL)
					goto bad;
				count++;
				buf_reset(&w);
				in_word = 0;
			}
			if (c == '\0')
				break;
			continue;
		}
		in_word = 1;
		if (c == '\'' || c == '"') {
			q = c;
		} else if (c == '\\') {
			if (p[1] == '\0')
				goto bad;
			buf_put_u8(&w, (uint8_t)*++p);
		} else {
			buf_put_u8(&w, (uint8_t)c);
		}
	}
	buf_free(&w);
	return count;
bad:
	buf_free(&w);
	free(*second);
	*second = NULL;
	return -1;
}

/*
 * Returns the config file section that holds profile, or NULL. As in
 * botocore: a section starting with "profile" whose name splits into
 * exactly two words names the profile after the first word; "[default]" is
 * the default profile too; of several sections for one profile the last in
 * the file wins (it replaces, never merges).
 */
static const char *
typed_section(const struct ini *cfg, const char *type, const char *name)
{
	const char *found = NULL, *s;
	size_t tl = strlen(type);

	for (size_t i = 0; (s = ini_section_at(cfg, i)) != NULL; i++) {
		if (strncmp(s, type, tl) == 0) {
			char *second;

			/* botocore: the type is a prefix test, then two shlex words. */
			if (shlex_words(s, &second) == 2 && strcmp(second, name) == 0)
				found = s;
			free(second);
		} else if (strcmp(type, "profile") == 0 && strcmp(s, "default") == 0 &&
			   strcmp(name, "default") == 0) {
			found = s;
		}
	}
	return found;
}

static const char *
config_section(const struct ini *cfg, const char *profile)
{
	return typed_section(cfg, "profile", profile);
}

/*
 * Returns key of profile name: the credentials file's section first (its
 * keys are laid over the config profile, as in botocore), then the config
 * file's; NULL if unset or empty.
 */
static const char *
pget(const struct ctx *c, const char *name, const char *key)
{
	const char *v = ini_get(c->cred, name, key), *s;

	if (v == NULL || *v == '\0')
		v = (s = config_section(c->config, name)) != NULL ? ini_get(c->config, s, key) : NULL;
	return v != NULL && *v != '\0' ? v : NULL;
}

static int
named_profile_exists(const struct ctx *c, const char *name)
{
	return config_section(c->config, name) != NULL || ini_has_section(c->cred, name);
}

static int
profile_exists(const struct ctx *c)
{
	return config_section(c->config, c->profile) != NULL ||
	       ini_has_section(c->cred, c->profile);
}

static int
profile_not_found(const struct ctx *c, struct err *e)
{
	char nm[SHOWN_MAX + 4], why[64] = "";

	/* Say where the name came from when the user did not type it. */
	if (!c->cli_profile)
		snprintf(why, sizeof(why), " (named by %s)", c->profile_from);
	return err_set(e, E_CONFIG, "profile '%s' not found in %s or %s%s", shown(c->profile, nm),
		       c->config_path, c->cred_path, why);
}

static int
set_creds(struct creds *out, const char *ak, const char *sk, const char *tok)
{
	out->access_key_id = strdup(ak);
	out->secret_access_key = strdup(sk);
	out->session_token = tok != NULL ? strdup(tok) : NULL;
	if (out->access_key_id == NULL || out->secret_access_key == NULL ||
	    (tok != NULL && out->session_token == NULL)) {
		creds_free(out);
		return E_NOMEM;
	}
	return 0;
}

/* --- providers --------------------------------------------------------
 * Each returns 0 with out filled, E_NOTFOUND when it has nothing (the
 * chain goes on), or another E_* that stops the chain.
 */

static int
prov_env(struct ctx *c, struct creds *out, struct err *e)
{
	const char *ak = env("AWS_ACCESS_KEY_ID"), *sk, *tok, *exp;

	if (ak == NULL) {
		if (env("AWS_SECRET_ACCESS_KEY") != NULL)
			log_debug(c->log, "AWS_SECRET_ACCESS_KEY ignored: AWS_ACCESS_KEY_ID is not set");
		return E_NOTFOUND;
	}
	if ((sk = env("AWS_SECRET_ACCESS_KEY")) == NULL)
		return err_set(e, E_AUTH, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
	/* botocore looks at the legacy name first. */
	if ((tok = env("AWS_SECURITY_TOKEN")) == NULL)
		tok = env("AWS_SESSION_TOKEN");
	if ((exp = env("AWS_CREDENTIAL_EXPIRATION")) != NULL &&
	    creds_parse_time(exp, &out->expiration) != 0)
		return err_set(e, E_CONFIG, "AWS_CREDENTIAL_EXPIRATION is not an ISO 8601 time");
	if (set_creds(out, ak, sk, tok) != 0)
		return err_set(e, E_NOMEM, "out of memory");
	snprintf(out->source, sizeof(out->source), "environment");
	return 0;
}

/* Static keys from one section of one file. */
static int
from_section(const struct ctx *c, const struct ini *ini, const char *section, const char *path,
	     const char *kind, struct creds *out, struct err *e)
{
	const char *ak, *sk, *tok;
	char nm[SHOWN_MAX + 4];

	/* Like botocore, only an access key makes the section a source. */
	if (!ini_has_key(ini, section, "aws_access_key_id"))
		return E_NOTFOUND;
	shown(c->profile, nm);
	ak = ini_get(ini, section, "aws_access_key_id");
	if (ak == NULL || *ak == '\0')
		return err_set(e, E_AUTH, "aws_access_key_id has no value in %s (profile %s)", path,
			       nm);
	sk = ini_get(ini, section, "aws_secret_access_key");
	if (sk == NULL || *sk == '\0')
		return err_set(e, E_AUTH,
			       "aws_secret_access_key is missing in %s (profile %s), "
			       "which sets aws_access_key_id", path, nm);
	/* botocore looks at the legacy name first; an empty one means none. */
	tok = ini_get(ini, section, "aws_security_token");
	if (tok == NULL || *tok == '\0')
		tok = ini_get(ini, section, "aws_session_token");
	if (tok != NULL && *tok == '\0')
		tok = NULL;
	if (set_creds(out, ak, sk, tok) != 0)
		return err_set(e, E_NOMEM, "out of memory");
	/* A long profile name is cut: source only labels messages. */
	if (snprintf(out->source, sizeof(out->source), "%s (profile %s)", kind, nm) < 0)
		out->source[0] = '\0';
	return 0;
}

static int
prov_credentials_file(struct ctx *c, struct creds *out, struct err *e)
{
	/* Here sections are bare profile names; "[profile x]" is not profile x. */
	if (!ini_has_section(c->cred, c->profile))
		return E_NOTFOUND;
	return from_section(c, c->cred, c->profile, c->cred_path, "shared credentials file", out, e);
}

static int
prov_config_file(struct ctx *c, struct creds *out, struct err *e)
{
	const char *s = config_section(c->config, c->profile);

	if (s == NULL)
		return E_NOTFOUND;
	return from_section(c, c->config, s, c->config_path, "config file", out, e);
}

/* Static keys of profile name (credentials file, then config file). */
static int
static_from(struct ctx *c, const char *name, struct creds *out, struct err *e)
{
	const char *saved = c->profile;
	int r;

	c->profile = name;
	r = prov_credentials_file(c, out, e);
	if (r == E_NOTFOUND)
		r = prov_config_file(c, out, e);
	c->profile = saved;
	return r;
}

static const char *
opt_region(const struct ctx *c)
{
	const char *v;

	if (c->opts != NULL && c->opts->region != NULL)
		return c->opts->region;
	if ((v = env("AWS_REGION")) != NULL || (v = env("AWS_DEFAULT_REGION")) != NULL)
		return creds_region_valid(v) ? v : "us-east-1";
	v = pget(c, c->profile, "region");
	return v != NULL && creds_region_valid(v) ? v : "us-east-1";
}

static void
sts_opts_of(const struct ctx *c, struct sts_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->region = opt_region(c);
	o->cfg = c->opts != NULL ? c->opts->cfg : NULL;
	o->log = c->log;
}

static int
no_cache(const struct ctx *c)
{
	return c->opts != NULL && c->opts->no_cache;
}

/* A default session name, as botocore's "botocore-session-<time>". */
static void
default_session_name(char out[64])
{
	snprintf(out, 64, "ssm-proxy-%lld", (long long)time(NULL));
}

static int
parse_duration(const char *v, const char *name, long *out, struct err *e)
{
	char *end, nm[SHOWN_MAX + 4];

	*out = 0;
	if (v == NULL)
		return 0;
	*out = strtol(v, &end, 10);
	if (*end != '\0' || *out < 900 || *out > 43200)
		return err_set(e, E_CONFIG, "profile %s: duration_seconds must be 900 to 43200",
			       shown(name, nm));
	return 0;
}

static void
label(struct creds *out, const char *fmt, const char *a, int cached)
{
	char nm[SHOWN_MAX + 4];

	if (snprintf(out->source, sizeof(out->source), fmt, shown(a, nm)) < 0)
		out->source[0] = '\0';
	if (cached) {
		size_t n = strlen(out->source);
		snprintf(out->source + n, sizeof(out->source) - n, ", cached");
	}
}

/* Reads a token file (trimmed) into *out (malloc'd; wipe and free it). */
static int
read_token_file(const char *path, char **out, struct err *e)
{
	char data[TOKEN_FILE_MAX];
	ssize_t n;
	int fd;

	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return err_set(e, E_AUTH, "cannot read web identity token file %s", path);
	n = read(fd, data, sizeof(data) - 1);
	close(fd);
	if (n <= 0)
		return err_set(e, E_AUTH, "web identity token file %s is empty", path);
	data[n] = '\0';
	while (n > 0 && (data[n - 1] == '\n' || data[n - 1] == '\r' || data[n - 1] == ' '))
		data[--n] = '\0';
	*out = strdup(data);
	OPENSSL_cleanse(data, sizeof(data));
	return *out != NULL ? 0 : err_set(e, E_NOMEM, "out of memory");
}

/* AssumeRoleWithWebIdentity with the token in file, cached. */
static int
web_identity(struct ctx *c, const char *file, const char *role_arn, const char *session,
	     const char *from, struct creds *out, struct err *e)
{
	char key[CREDCACHE_KEY_LEN + 1], defname[64], *tok = NULL;
	struct sts_role role;
	struct sts_opts so;
	struct err ce;
	int r;

	if (credcache_key_role(role_arn, session, NULL, 0, file, key) != 0)
		return err_set(e, E_NOMEM, "out of memory");
	if (!no_cache(c) && credcache_load(key, out, c->log) == 0) {
		label(out, "web identity (%s)", from, 1);
		return 0;
	}
	if ((r = read_token_file(file, &tok, e)) != 0)
		return r;
	default_session_name(defname);
	memset(&role, 0, sizeof(role));
	role.role_arn = role_arn;
	role.session_name = session != NULL ? session : defname;
	sts_opts_of(c, &so);
	r = sts_assume_role_web_identity(&so, &role, tok, out, e);
	OPENSSL_cleanse(tok, strlen(tok));
	free(tok);
	if (r != 0)
		return r;
	err_clear(&ce);
	if (!no_cache(c) && credcache_store(key, out, c->log, &ce) != 0)
		log_debug(c->log, "credentials not cached: %s", ce.msg);
	label(out, "web identity (%s)", from, 0);
	return 0;
}

static int assume_role_profile(struct ctx *c, const char *name, const char **visited, int depth,
			       struct creds *out, struct err *e);
static int sso_profile(struct ctx *c, const char *name, struct creds *out, struct err *e);

/* Credentials of a role's source_profile, the way botocore resolves them. */
static int
source_profile_creds(struct ctx *c, const char *name, const char *src, const char **visited,
		     int depth, struct creds *out, struct err *e)
{
	char nm[SHOWN_MAX + 4];
	const char *v;

	if (!named_profile_exists(c, src))
		return err_set(e, E_CONFIG, "source_profile '%s' of profile %s does not exist",
			       shown(src, nm), name);
	/* A profile may name itself as source for its own static keys. */
	if (pget(c, src, "role_arn") != NULL && strcmp(src, name) != 0)
		return assume_role_profile(c, src, visited, depth + 1, out, e);
	if (strcmp(src, name) == 0 && pget(c, src, "aws_access_key_id") == NULL)
		return err_set(e, E_CONFIG, "profile %s names itself as source_profile but has no "
			       "static keys", shown(src, nm));
	if (strcmp(src, name) != 0 && (v = pget(c, src, "web_identity_token_file")) != NULL &&
	    pget(c, src, "role_arn") != NULL)
		return web_identity(c, v, pget(c, src, "role_arn"),
				    pget(c, src, "role_session_name"), src, out, e);
	if (pget(c, src, "sso_session") != NULL || pget(c, src, "sso_start_url") != NULL)
		return sso_profile(c, src, out, e);
	if ((v = pget(c, src, "credential_process")) != NULL &&
	    pget(c, src, "aws_access_key_id") == NULL) {
		int r = credproc_run(v, out, c->log, e);
		if (r == 0)
			label(out, "credential_process (profile %s)", src, 0);
		return r;
	}
	if (static_from(c, src, out, e) == 0)
		return 0;
	return err_set(e, E_AUTH, "source_profile %s of profile %s has no credentials",
		       shown(src, nm), name);
}

/* The credentials a credential_source names. */
static int
credential_source(struct ctx *c, const char *name, const char *cs, struct creds *out,
		  struct err *e)
{
	char nm[SHOWN_MAX + 4];
	int r;

	if (strcmp(cs, "Environment") == 0) {
		r = prov_env(c, out, e);
		if (r == E_NOTFOUND)
			r = err_set(e, E_AUTH, "profile %s: credential_source Environment, but "
				    "AWS_ACCESS_KEY_ID is not set", name);
		return r;
	}
	if (strcmp(cs, "Ec2InstanceMetadata") == 0) {
		r = imds_credentials(out, c->log, e);
		return r == E_NOTFOUND ? err_prefix(e, "profile %s: credential_source", name) : r;
	}
	if (strcmp(cs, "EcsContainer") == 0) {
		r = ecs_credentials(out, c->log, e);
		if (r == E_NOTFOUND)
			r = err_set(e, E_AUTH, "profile %s: credential_source EcsContainer, but no "
				    "container credentials endpoint is set", name);
		return r;
	}
	return err_set(e, E_CONFIG, "profile %s: credential_source '%s' is not Environment, "
		       "Ec2InstanceMetadata or EcsContainer", name, shown(cs, nm));
}

static int
assume_role_profile(struct ctx *c, const char *name, const char **visited, int depth,
		    struct creds *out, struct err *e)
{
	const char *arn = pget(c, name, "role_arn"), *src = pget(c, name, "source_profile");
	const char *cs = pget(c, name, "credential_source"), *sess, *ext;
	char key[CREDCACHE_KEY_LEN + 1], defname[64], nm[SHOWN_MAX + 4], loop[512];
	struct creds srcc;
	struct sts_role role;
	struct sts_opts so;
	struct err ce;
	long dur;
	int r;

	shown(name, nm);
	for (int i = 0; i < depth; i++) {
		if (strcmp(visited[i], name) != 0)
			continue;
		/* The loop in the order it was followed, for the message. */
		loop[0] = '\0';
		for (int k = i; k < depth; k++) {
			size_t n = strlen(loop);
			snprintf(loop + n, sizeof(loop) - n, "%s -> ", visited[k]);
		}
		return err_set(e, E_CONFIG, "role profiles form a loop: %s%s", loop, nm);
	}
	if (depth >= CHAIN_MAX)
		return err_set(e, E_CONFIG, "role chain longer than %d profiles", CHAIN_MAX);
	visited[depth] = name;
	if ((src == NULL) == (cs == NULL))
		return err_set(e, E_CONFIG, "profile %s: role_arn needs exactly one of source_profile "
			       "and credential_source", nm);
	sess = pget(c, name, "role_session_name");
	ext = pget(c, name, "external_id");
	if ((r = parse_duration(pget(c, name, "duration_seconds"), name, &dur, e)) != 0)
		return r;
	if (credcache_key_role(arn, sess, ext, dur, NULL, key) != 0)
		return err_set(e, E_NOMEM, "out of memory");
	if (!no_cache(c) && credcache_load(key, out, c->log) == 0) {
		label(out, "assumed role (profile %s)", name, 1);
		return 0;
	}
	if (src != NULL)
		r = source_profile_creds(c, name, src, visited, depth, &srcc, e);
	else
		r = credential_source(c, nm, cs, &srcc, e);
	if (r != 0)
		return r;
	log_verbose(c->log, "assuming role of profile %s with credentials from %s", nm,
		    srcc.source[0] ? srcc.source : "its source");
	default_session_name(defname);
	memset(&role, 0, sizeof(role));
	role.role_arn = arn;
	role.session_name = sess != NULL ? sess : defname;
	role.external_id = ext;
	role.duration_seconds = dur;
	sts_opts_of(c, &so);
	r = sts_assume_role(&so, &srcc, &role, out, e);
	creds_free(&srcc);
	if (r != 0)
		return err_prefix(e, "profile %s", nm);
	err_clear(&ce);
	if (!no_cache(c) && credcache_store(key, out, c->log, &ce) != 0)
		log_debug(c->log, "credentials not cached: %s", ce.msg);
	label(out, "assumed role (profile %s)", name, 0);
	return 0;
}

static int
prov_assume_role(struct ctx *c, struct creds *out, struct err *e)
{
	const char *visited[CHAIN_MAX];

	if (pget(c, c->profile, "role_arn") == NULL)
		return E_NOTFOUND;
	/* role_arn with only a token file is web identity's. */
	if (pget(c, c->profile, "web_identity_token_file") != NULL &&
	    pget(c, c->profile, "source_profile") == NULL &&
	    pget(c, c->profile, "credential_source") == NULL)
		return E_NOTFOUND;
	return assume_role_profile(c, c->profile, visited, 0, out, e);
}

static int
prov_web_identity(struct ctx *c, struct creds *out, struct err *e)
{
	const char *file = env("AWS_WEB_IDENTITY_TOKEN_FILE"), *arn = env("AWS_ROLE_ARN");
	const char *sess = env("AWS_ROLE_SESSION_NAME");

	/* botocore takes each setting from the environment, else the profile. */
	if (file == NULL)
		file = pget(c, c->profile, "web_identity_token_file");
	if (arn == NULL)
		arn = pget(c, c->profile, "role_arn");
	if (sess == NULL)
		sess = pget(c, c->profile, "role_session_name");
	if (file == NULL || arn == NULL)
		return E_NOTFOUND;
	return web_identity(c, file, arn, sess,
			    env("AWS_WEB_IDENTITY_TOKEN_FILE") != NULL ? "AWS_WEB_IDENTITY_TOKEN_FILE"
								       : c->profile, out, e);
}

static int
sso_profile(struct ctx *c, const char *name, struct creds *out, struct err *e)
{
	char key[CREDCACHE_KEY_LEN + 1], nm[SHOWN_MAX + 4];
	struct sso_profile sp;
	const char *sect;
	struct err ce;
	int r;

	memset(&sp, 0, sizeof(sp));
	sp.profile = shown(name, nm);
	sp.session_name = pget(c, name, "sso_session");
	sp.account_id = pget(c, name, "sso_account_id");
	sp.role_name = pget(c, name, "sso_role_name");
	if (sp.session_name != NULL) {
		if ((sect = typed_section(c->config, "sso-session", sp.session_name)) == NULL)
			return err_set(e, E_CONFIG, "profile %s: sso-session '%s' is not in %s", nm,
				       sp.session_name, c->config_path);
		sp.start_url = ini_get(c->config, sect, "sso_start_url");
		sp.region = ini_get(c->config, sect, "sso_region");
	} else {
		sp.start_url = pget(c, name, "sso_start_url");
		sp.region = pget(c, name, "sso_region");
	}
	if (sp.start_url == NULL || sp.account_id == NULL || sp.role_name == NULL)
		return err_set(e, E_CONFIG, "profile %s: SSO needs sso_start_url, sso_account_id and "
			       "sso_role_name", nm);
	credcache_key_sso(sp.session_name != NULL ? sp.session_name : sp.start_url,
			  sp.session_name != NULL, sp.account_id, sp.role_name, key);
	if (!no_cache(c) && credcache_load(key, out, c->log) == 0) {
		label(out, "SSO (profile %s)", name, 1);
		return 0;
	}
	if ((r = sso_role_credentials(&sp, c->opts != NULL ? c->opts->cfg : NULL, NULL, c->log,
				      out, e)) != 0)
		return r;
	err_clear(&ce);
	if (!no_cache(c) && credcache_store(key, out, c->log, &ce) != 0)
		log_debug(c->log, "credentials not cached: %s", ce.msg);
	label(out, "SSO (profile %s)", name, 0);
	return 0;
}

static int
prov_sso(struct ctx *c, struct creds *out, struct err *e)
{
	if (pget(c, c->profile, "sso_session") == NULL && pget(c, c->profile, "sso_start_url") == NULL)
		return E_NOTFOUND;
	return sso_profile(c, c->profile, out, e);
}

static int
prov_process(struct ctx *c, struct creds *out, struct err *e)
{
	const char *cmd = pget(c, c->profile, "credential_process");
	int r;

	if (cmd == NULL)
		return E_NOTFOUND;
	if ((r = credproc_run(cmd, out, c->log, e)) != 0)
		return r;
	label(out, "credential_process (profile %s)", c->profile, 0);
	return 0;
}

static int
prov_container(struct ctx *c, struct creds *out, struct err *e)
{
	int r;

	if (!ecs_configured())
		return E_NOTFOUND;
	if ((r = ecs_credentials(out, c->log, e)) == 0)
		snprintf(out->source, sizeof(out->source), "container credentials endpoint");
	return r;
}

static int
prov_imds(struct ctx *c, struct creds *out, struct err *e)
{
	struct err le;
	int r;

	err_clear(&le);
	r = imds_credentials(out, c->log, &le);
	if (r == E_NOTFOUND) {
		/* Not on EC2 is the normal case: say why only when asked. */
		log_verbose(c->log, "no instance role: %s", le.msg);
		return E_NOTFOUND;
	}
	if (r != 0) {
		if (e != NULL)
			*e = le;
		return r;
	}
	snprintf(out->source, sizeof(out->source), "instance metadata (IMDSv2)");
	return 0;
}

struct provider {
	const char *name;
	int (*load)(struct ctx *c, struct creds *out, struct err *e);
	int needs_files;
	int skipped_by_cli_profile; /* botocore drops it when --profile is given */
};

/* botocore's order (see creds.h). */
static const struct provider chain[] = {
	{ "environment", prov_env, 0, 1 },
	{ "assume role", prov_assume_role, 1, 0 },
	{ "web identity", prov_web_identity, 1, 0 },
	{ "SSO", prov_sso, 1, 0 },
	{ "shared credentials file", prov_credentials_file, 1, 0 },
	{ "credential_process", prov_process, 1, 0 },
	{ "config file", prov_config_file, 1, 0 },
	{ "container", prov_container, 0, 0 },
	{ "instance metadata", prov_imds, 0, 0 },
};

int
creds_resolve(struct creds *out, const struct creds_opts *opts, struct err *e)
{
	const struct logger *log = opts != NULL ? opts->log : NULL;
	char nm[SHOWN_MAX + 4];
	struct ctx c;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = ctx_init(&c, opts != NULL ? opts->profile : NULL, log, e)) != 0)
		return r;
	c.opts = opts;
	/* A profile chosen by name must exist, even when the environment has keys. */
	if (c.profile_from != NULL) {
		if ((r = load_files(&c, e)) != 0)
			goto done;
		if (!profile_exists(&c)) {
			r = profile_not_found(&c, e);
			goto done;
		}
	}
	for (size_t i = 0; i < sizeof(chain) / sizeof(chain[0]); i++) {
		const struct provider *p = &chain[i];

		if (p->skipped_by_cli_profile && c.cli_profile) {
			log_debug(log, "%s credentials not used: --profile given", p->name);
			continue;
		}
		if (p->needs_files && (r = load_files(&c, e)) != 0)
			goto done;
		r = p->load(&c, out, e);
		if (r == 0) {
			log_verbose(log, "using AWS credentials from %s", out->source);
			goto done;
		}
		creds_free(out);
		if (r != E_NOTFOUND)
			goto done;
	}
	shown(c.profile, nm);
	if (c.cli_profile)
		r = err_set(e, E_AUTH,
			    "no AWS credentials found (looked in %s and %s for profile %s; "
			    "the environment is not used with --profile)",
			    c.cred_path, c.config_path, nm);
	else
		r = err_set(e, E_AUTH,
			    "no AWS credentials found (looked in environment, %s and %s for profile %s)",
			    c.cred_path, c.config_path, nm);
done:
	ctx_free(&c);
	return r;
}

int
creds_set(struct creds *c, const char *ak, const char *sk, const char *tok, time_t exp,
	  const char *source)
{
	memset(c, 0, sizeof(*c));
	if (set_creds(c, ak, sk, tok) != 0)
		return E_NOMEM;
	c->expiration = exp;
	snprintf(c->source, sizeof(c->source), "%s", source != NULL ? source : "");
	return 0;
}

struct creds_profile {
	struct ctx c;
};

int
creds_profile_open(struct creds_profile **out, const char *cli_profile, const struct logger *log,
		   struct err *e)
{
	struct creds_profile *p;
	int r;

	*out = NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return err_set(e, E_NOMEM, "out of memory");
	if ((r = ctx_init(&p->c, cli_profile, log, e)) != 0 || (r = load_files(&p->c, e)) != 0) {
		creds_profile_close(p);
		return r;
	}
	*out = p;
	return 0;
}

const char *
creds_profile_get(const struct creds_profile *p, const char *key)
{
	return p != NULL ? pget(&p->c, p->c.profile, key) : NULL;
}

const char *
creds_profile_section_sub(const struct creds_profile *p, const char *type, const char *name,
			  const char *key, const char *sub)
{
	const char *s;

	if (p == NULL || (s = typed_section(p->c.config, type, name)) == NULL)
		return NULL;
	return ini_get_sub(p->c.config, s, key, sub);
}

void
creds_profile_close(struct creds_profile *p)
{
	if (p == NULL)
		return;
	ctx_free(&p->c);
	free(p);
}

void
creds_free(struct creds *c)
{
	if (c == NULL)
		return;
	wipe_free(c->access_key_id);
	wipe_free(c->secret_access_key);
	wipe_free(c->session_token);
	memset(c, 0, sizeof(*c));
}

int
creds_copy(struct creds *dst, const struct creds *src)
{
	memset(dst, 0, sizeof(*dst));
	if (src->access_key_id == NULL || src->secret_access_key == NULL)
		return E_INVAL;
	if (set_creds(dst, src->access_key_id, src->secret_access_key, src->session_token) != 0)
		return E_NOMEM;
	dst->expiration = src->expiration;
	memcpy(dst->source, src->source, sizeof(dst->source));
	dst->source[sizeof(dst->source) - 1] = '\0';
	return 0;
}

int
creds_region_valid(const char *s)
{
	size_t n;

	if (s == NULL || (n = strlen(s)) == 0 || n > 63)
		return 0;
	if (s[0] < 'a' || s[0] > 'z' || s[n - 1] == '-')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

static int
take_region(char **out, const char *v, const char *from, struct err *e)
{
	char nm[SHOWN_MAX + 4];

	if (!creds_region_valid(v))
		return err_set(e, E_CONFIG,
			       "invalid region '%s' from %s: expected lower-case letters, digits "
			       "and hyphens, like us-east-1", shown(v, nm), from);
	if ((*out = strdup(v)) == NULL)
		return err_set(e, E_NOMEM, "out of memory");
	return 0;
}

int
creds_region(char **out, const char *cli_region, const char *cli_profile, struct err *e)
{
	char from[SHOWN_MAX + 32], nm[SHOWN_MAX + 4];
	const char *v, *s;
	struct ctx c;
	int r;

	*out = NULL;
	if (cli_region != NULL)
		return take_region(out, cli_region, "--region", e);
	if ((v = env("AWS_REGION")) != NULL)
		return take_region(out, v, "AWS_REGION", e);
	if ((v = env("AWS_DEFAULT_REGION")) != NULL)
		return take_region(out, v, "AWS_DEFAULT_REGION", e);
	if ((r = ctx_init(&c, cli_profile, NULL, e)) != 0)
		return r;
	if ((r = load_files(&c, e)) != 0)
		goto done;
	if (c.profile_from != NULL && !profile_exists(&c)) {
		r = profile_not_found(&c, e);
		goto done;
	}
	shown(c.profile, nm);
	/* botocore lays the credentials file's keys over the config profile. */
	v = ini_get(c.cred, c.profile, "region");
	if (v == NULL || *v == '\0') {
		v = (s = config_section(c.config, c.profile)) != NULL ? ini_get(c.config, s, "region")
								     : NULL;
	}
	if (v == NULL || *v == '\0') {
		char *imds = NULL;
		struct err le;

		/* On EC2 the instance's own region is the last resort, as in botocore. */
		err_clear(&le);
		if (imds_region(&imds, NULL, &le) == 0) {
			r = take_region(out, imds, "instance metadata", e);
			free(imds);
			goto done;
		}
		r = err_set(e, E_CONFIG, "no region: use --region, AWS_REGION or set region in profile %s",
			    nm);
		goto done;
	}
	snprintf(from, sizeof(from), "profile %s", nm);
	r = take_region(out, v, from, e);
done:
	ctx_free(&c);
	return r;
}

static int
two_digits(const char *p, long *v)
{
	if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9')
		return 0;
	*v = (p[0] - '0') * 10 + (p[1] - '0');
	return 1;
}

int
creds_parse_time(const char *s, time_t *out)
{
	struct tm tm;
	const char *p;
	long off = 0;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	if (s == NULL || (p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL)
		return E_INVAL;
	if (*p == '.') {
		const char *d = ++p;

		while (*p >= '0' && *p <= '9')
			p++;
		if (p == d)
			return E_INVAL;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		long sign = *p == '-' ? -1 : 1, hh, mm;

		p++;
		if (!two_digits(p, &hh))
			return E_INVAL;
		p += 2;
		if (*p == ':')
			p++;
		if (!two_digits(p, &mm) || hh > 23 || mm > 59)
			return E_INVAL;
		p += 2;
		off = sign * (hh * 3600 + mm * 60);
	}
	if (*p != '\0')
		return E_INVAL;
	if ((t = timegm(&tm)) == (time_t)-1)
		return E_INVAL;
	*out = t - off;
	return 0;
}
