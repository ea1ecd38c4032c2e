/*
 * test_creds.c: profile selection, the credential chain and region choice.
 *
 * Every test runs in a fresh temporary HOME with all AWS_* variables this
 * module reads unset, and writes the config/credentials files it needs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "creds.h"
#include "err.h"
#include "log.h"

static const char *const aws_vars[] = {
	"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
	"AWS_SECURITY_TOKEN", "AWS_CREDENTIAL_EXPIRATION", "AWS_PROFILE",
	"AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
	"AWS_REGION", "AWS_DEFAULT_REGION",
};

struct fx {
	char home[64];
	char path[4][4096]; /* scratch for p() */
	int next;
};

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char aws[128];

	if (f == NULL)
		return -1;
	snprintf(f->home, sizeof(f->home), "/tmp/ssmp-creds-XXXXXX");
	if (mkdtemp(f->home) == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(aws_vars) / sizeof(aws_vars[0]); i++)
		unsetenv(aws_vars[i]);
	setenv("HOME", f->home, 1);
	/* The chain ends with instance metadata: tests stay on loopback. */
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
	snprintf(aws, sizeof(aws), "%s/.aws", f->home);
	if (mkdir(aws, 0700) != 0)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	nftw(f->home, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* Absolute path of rel under HOME (a few stay valid at once). */
static const char *
p(struct fx *f, const char *rel)
{
	char *out = f->path[f->next++ % 4], tmp[sizeof(f->path[0])];

	/* Via tmp: home and the paths live in one struct (-Wrestrict). */
	snprintf(tmp, sizeof(tmp), "%s/%s", f->home, rel);
	memcpy(out, tmp, sizeof(tmp));
	return out;
}

static void
put(struct fx *f, const char *rel, const char *text)
{
	FILE *fp = fopen(p(f, rel), "w");

	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
}

static int
resolve(struct creds *c, const char *profile, struct err *e)
{
	struct creds_opts o = { .profile = profile, .log = NULL };

	err_clear(e);
	return creds_resolve(c, &o, e);
}

static void
expect_keys(const struct creds *c, const char *ak, const char *sk, const char *tok,
	    const char *source)
{
	assert_string_equal(c->access_key_id, ak);
	assert_string_equal(c->secret_access_key, sk);
	if (tok == NULL)
		assert_null(c->session_token);
	else
		assert_string_equal(c->session_token, tok);
	assert_string_equal(c->source, source);
}

static void
env_keys(const char *ak, const char *sk)
{
	setenv("AWS_ACCESS_KEY_ID", ak, 1);
	setenv("AWS_SECRET_ACCESS_KEY", sk, 1);
}

static const char creds_file[] =
	"[default]\n"
	"aws_access_key_id = AKIDFILEDEFAULT\n"
	"aws_secret_access_key = secret-file-default\n"
	"\n"
	"[dev]\n"
	"aws_access_key_id = AKIDFILEDEV\n"
	"aws_secret_access_key = secret-file-dev\n"
	"aws_session_token = token-file-dev\n";

/* --- profile selection ---------------------------------------------- */

static void
test_profile_name(void **state)
{
	(void)state;
	assert_string_equal(creds_profile_name(NULL), "default");
	setenv("AWS_DEFAULT_PROFILE", "older", 1);
	assert_string_equal(creds_profile_name(NULL), "older");
	setenv("AWS_PROFILE", "", 1);
	assert_string_equal(creds_profile_name(NULL), "older");
	setenv("AWS_PROFILE", "newer", 1);
	assert_string_equal(creds_profile_name(NULL), "newer");
	assert_string_equal(creds_profile_name("flag"), "flag");
}

static void
test_empty_cli_profile(void **state)
{
	struct creds c;
	struct err e;

	(void)state;
	assert_int_equal(resolve(&c, "", &e), E_CONFIG);
	assert_string_equal(e.msg, "empty profile name");
}

/* --- environment ------------------------------------------------------ */

static void
test_env(void **state)
{
	struct creds c;
	struct err e;

	(void)state;
	env_keys("AKIDENV", "secret-env");
	setenv("AWS_SESSION_TOKEN", "token-env", 1);
	assert_int_equal(resolve(&c, NULL, &e), 0);
	expect_keys(&c, "AKIDENV", "secret-env", "token-env", "environment");
	assert_int_equal(c.expiration, 0);
	creds_free(&c);
	assert_null(c.access_key_id);

	/* botocore takes the legacy variable first. */
	setenv("AWS_SECURITY_TOKEN", "token-legacy", 1);
	assert_int_equal(resolve(&c, NULL, &e), 0);
	assert_string_equal(c.session_token, "token-legacy");
	creds_free(&c);

	/* Empty variables count as unset. */
	setenv("AWS_SECURITY_TOKEN", "", 1);
	setenv("AWS_SESSION_TOKEN", "", 1);
	assert_int_equal(resolve(&c, NULL, &e), 0);
	assert_null(c.session_token);
	creds_free(&c);
}

static void
test_env_expiration(void **state)
{
	struct creds c;
	struct err e;

	(void)state;
	env_keys("AKIDENV", "secret-env");
	setenv("AWS_CREDENTIAL_EXPIRATION", "2024-05-01T12:00:00Z", 1);
	assert_int_equal(resolve(&c, NULL, &e), 0);
	assert_int_equal(c.expiration, 1714564800);
	creds_free(&c);
	setenv("AWS_CREDENTIAL_EXPIRATION", "tomorrow", 1);
	assert_int_equal(resolve(&c, NULL, &e), E_CONFIG);
	assert_string_equal(e.msg, "AWS_CREDENTIAL_EXPIRATION is not an ISO 8601 time");
	assert_null(c.access_key_id);
}

static void
test_env_partial(void **state)
{
	struct fx *f = *state;
	struct creds c;
	struct err e;

	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
	put(f, ".aws/credentials", creds_file);
	/* Half a key pair stops the chain: the file is not used. */
	assert_int_equal(resolve(&c, NULL, &e), E_AUTH);
	assert_string_equal(e.msg, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
	assert_null(c.access_key_id);
	/* A secret alone is ignored, as botocore does. */
	unsetenv("AWS_ACCESS_KEY_ID");
	setenv("AWS_SECRET_ACCESS_KEY", "secret-env", 1);
	assert_int_equal(resolve(&c, NULL, &e), 0);
	expect_keys(&c, "AKIDFILEDEFAULT", "secret-file-default", NULL,
		    "shared credentials file (profile default)");
	creds_free(&c);
}

static void
test_env_over_files(void **state)
{
	struct fx *f = *state;
	struct creds c;
	struct err e;

	put(f, ".aws/credentials", creds_file);
	env_keys("AKIDENV", "secret-env");
	assert_int_equal(resolve(&c, NULL, &e), 0);
	assert_string_equal(c.source, "environment");
	creds_free(&c);
	/* AWS_PROFILE does not drop the environment provider. */
	setenv("AWS_PROFILE", "dev", 1);
	assert_int_equal(resolve(&c, NULL, &e), 0);
	expect_keys(&c, "AKIDENV", "secret-env", NULL, "environment");
	creds_free(&c);
}

static void
test_cli_profile_skips_env(void **state)
{
	struct fx *f = *state;
	struct creds c;
	struct err e;

	put(f, ".aws/credentials", creds_file);
	put(f, ".aws/config", "[profile empty]\nregion = us-east-1\n");
	env_keys("AKIDENV", "secret-env");
	assert_int_equal(resolve(&c, "dev", &e), 0);
	expect_keys(&c, "AKIDFILEDEV", "secret-file-dev", "token-file-dev",
		    "shared credentials file (profile dev)");
	creds_free(&c);
	/* Even "default" given with --profile skips the environment. */
	assert_int_equal(resolve(&c, "default", &e), 0);
	assert_string_equal(c.access_key_id, "AKIDFILEDEFAULT");
	creds_free(&c);
	/* A profile without keys does not fall back to the environment. */
	assert_int_equal(resolve(&c, "empty", &e), E_AUTH);
	assert_non_null(strstr(e.msg, "no AWS credentials found"));
	assert_non_null(strstr(e.msg, "for profile empty"));
	assert_non_null(strstr(e.msg, "the environment is not used with --profile"));
}

static void
test_named_profile_missing(void **state)
{
	struct fx *f = *state;
	struct creds c;
	struct err e;
	char want[8192];

	put(f, ".aws/credentials", creds_file);
	assert_int_equal(resolve(&c, "nope", &e), E_CONFIG);
	snprintf(want, sizeof(want), "profile 'nope' not found in %s or %s",
		 p(f, ".aws/config"), p(f, ".aws/credentials"));
	assert_string_equal(e.msg, want);
	/* Named through the environment it must exist too, keys or not. */
	env_keys("AKIDENV", "secret-env");
	setenv("AWS_PROFILE", "nope", 1);
	assert_int_equal(resolve(&c, NULL, &e), E_CONFIG);
	snprintf(want, sizeof(want), "profile 'nope' not found in %s or %s (named by AWS_PROFILE)",
		 p(f, ".aws/config"), p(f, ".aws/credentials"));
	assert_string_equal(e.msg, want);
	unsetenv("AWS_PROFILE");
	setenv("AWS_DEFAULT_PROFILE", "nope", 1);
	assert_int_equal(resolve(&c, NULL, &e), E_CONFIG);
	assert_non_null(strstr(e.msg, "(named by AWS_DEFAULT_PROFILE)"));
	/* With no files at all, a named "default" is missing as well. */
	unsetenv("AWS_DEFAULT_PROFILE");
	unlink(p(f, ".aws/credentials"));
	assert_int_equal(resolve(&c, "default", &e), E_CONFIG);
	assert_non_null(strstr(e.msg, "profile 'default' not found"));
	/* The implicit default need not exist. */
	assert_int_equal(resolve(&c, NULL, &e), 0);
	assert_string_equal(c.source, "environment");
	creds_free(&c);
}

/* --- files ------------------------------------------------------------ */

static void
test_credentials_over_config(void **state)
{
	struct fx *f = *state;
	struct creds c;
	struct err e;

	put(f, ".aws/credentials", creds_file);
	put(f, ".aws/config",
	    "[profile dev]\naws_access_key_id = AKIDCFGDEV\naws_secret_access_key = secret-cfg\n"
	    "[profile cfgonly]\naws_access_key_id = AKIDCFGONLY\n"
	    "aws_secret_access_key = secret-cfgonly\naws_security_token = tok-legacy\n"
	    "aws_session_token = tok-new\n");
	assert_int_equal(resolve(&c, "dev", &e), 0);
	expect_keys(&c, "AKIDFILEDEV", "secret-file-dev", "token-file-dev",
		    "shared credentials file (profile dev)");
	creds_free(&c);
	assert_int_equal(resolve(&c, "cfgonly", &e), 0);
	expect_keys(&c, "AKIDCFGONLY", "secret-cfgonly", "tok-legacy", "config file (profile cfgonly)");
	creds_free(&c);
}

static void
test_section_without_keys_falls_through(void **state)
{
	struct fx *f = *state;
	struct creds c;
	struct err e;

	put(f, ".aws/credentials", "[dev]\nregion = eu-west-1\n");
	put(f, ".aws/config",
	    "[profile dev]\naws_access_key_id = AKIDCFG\naws_secret_access_key = secret-cfg\n"
	    "aws_security_token =\naws_session_token = tok-new\n");
	assert_int_equal(resolve(&c, "dev", &e), 0);
	/* An empty legacy token does not hide the real one. */
	expect_keys(&c, "AKIDCFG", "secret-cfg", "tok-new", "config file (profile dev)");
	creds_free(&c);
}

static void
test_profile_section_forms(void **state)
{
	struct fx *f = *state;
	struct creds c;
	struct err e;

	put(f, ".aws/config",
	    "[bare]\naws_access_key_id = AKIDBARE\naws_secret_access_key = s\n"
	    "[profile \"my dev\"]\naws_access_key_id = AKIDQUOTED\naws_secret_access_key = s\n"
	    "[profile   spaced  ]\naws_access_key_id = AKIDSPACED\naws_secret_access_key = s\n"
	    "[profile a b]\naws_access_key_id = AKIDAB\naws_secret_access_key = s\n"
	    "[profile 'open]\naws_access_key_id = AKIDOPEN\naws_secret_access_key = s\n");
	put(f, ".aws/credentials",
	    "[profile incred]\naws_access_key_id = AKIDX\naws_secret_access_key = s\n");
	/* In the config file a bare [name] is not a profile. */
	assert_int_equal(resolve(&c, "bare", &e), E_CONFIG);
	assert_non_null(strstr(e.msg, "profile 'bare' not found"));
	/* Section names split like a shell: quotes group, blanks separate. */
	assert_int_equal(resolve(&c, "my dev", &e), 0);
	assert_string_equal(c.access_key_id, "AKIDQUOTED");
	creds_free(&c);
	assert_int_equal(resolve(&c, "spaced", &e), 0);
	assert_string_equal(c.access_key_id, "AKIDSPACED");
	creds_free(&c);
	assert_int_equal(resolve(&c, "a b", &e), E_CONFIG);
	assert_int_equal(resolve(&c, "a", &e), E_CONFIG);
	assert_int_equal(resolve(&c, "'open", &e), E_CONFIG);
	assert_int_equal(resolve(&c, "open", &e), E_CONFIG);
	/* In the credentials file the section is the bare name. */
	assert_int_equal(resolve(&c, "incred", &e), E_CONFIG);
	assert_int_equal(resolve(&c, "profile incred", &e), 0);
	assert_string_equal(c.access_key_id, "AKIDX");
	creds_free(&c);
}

static void
test_default_profile_forms(void **state)
{
	struct fx *f = *state;
	struct creds c;
	struct err e;

	put(f, ".aws/config", "[default]\naws_access_key_id = AKIDPLAIN\naws_secret_access_key = s\n");
	assert_int_equal(resolve(&c, NULL, &e), 0);
	expect_keys(&c, "AKIDPLAIN", "s", NULL, "config file (profile default)");
	creds_free(&c);
	put(f, ".aws/config",
	    "[profile default]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = s\n");
	assert_int_equal(resolve(&c, NULL, &e), 0);
	assert_string_equal(c.access_key_id, "AKIDPROFILE");
	creds_free(&c);
	/* Both present: the later section replaces the earlier, as in botocore. */
	put(f, ".aws/config",
	    "[profile default]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = s\n"
	    "[default]\nregion = us-east-1\n");
	assert_int_equal(resolve(&c, NULL, &e), E_AUTH);
	put(f, ".aws/config",
	    "[default]\nregion = us-east-1\n"
	    "[profile default]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = s\n");
	assert_int_equal(resolve(&c, NULL, &e), 0);
	assert_string_equal(c.access_key_id, "AKIDPROFILE");
	creds_free(&c);
}

static void
test_default_section_inherited(void **state)
{
	struct fx *f = *state;
	struct creds c;
	struct err e;

	/* configparser's [DEFAULT] feeds every section, not the "default" profile. */
	put(f, ".aws/credentials",
	    "[DEFAULT]\naws_access_key_id = AKIDINHERITED\naws_secret_access_key = s\n[dev]\n");
	assert_int_equal(resolve(&c, "dev", &e), 0);
	assert_string_equal(c.access_key_id, "AKIDINHERITED");
	creds_free(&c);
	assert_int_equal(resolve(&c, NULL, &e), E_AUTH);
}

static void
test_no_credentials(void **state)
{
	struct fx *f = *state;
	struct creds c;
	struct err e;
	char want[8192];

	assert_int_equal(resolve(&c, NULL, &e), E_AUTH);
	snprintf(want, sizeof(want),
		 "no AWS credentials found (looked in environment, %s and %s for profile default)",
		 p(f, ".aws/credentials"), p(f, ".aws/config"));
	assert_string_equal(e.msg, want);
	assert_null(c.access_key_id);
	/* Files that exist without keys for the profile change nothing. */
	put(f, ".aws/config", "[default]\nregion = us-east-1\n");
	put(f, ".aws/credentials", "[other]\naws_access_key_id = A\naws_secret_access_key = s\n");
	assert_int_equal(resolve(&c, NULL, &e), E_AUTH);
	assert_string_equal(e.msg, want);
}

static void
test_missing_secret(void **state)
{
	struct fx *f = *state;
	struct creds c;
	struct err e;
	char want[8192];

	put(f, ".aws/credentials", "[default]\naws_access_key_id = AKIDHALF\n");
	put(f, ".aws/config", "[default]\naws_access_key_id = A\naws_secret_access_key = s\n");
	/* Half a key pair stops the chain: the config file is not tried. */
	assert_int_equal(resolve(&c, NULL, &e), E_AUTH);
	snprintf(want, sizeof(want),
		 "aws_secret_access_key is missing in %s (profile default), which sets "
		 "aws_access_key_id", p(f, ".aws/credentials"));
	assert_string_equal(e.msg, want);
	assert_null(c.access_key_id);
	put(f, ".aws/credentials", "[default]\naws_access_key_id = A\naws_secret_access_key =\n");
	assert_int_equal(resolve(&c, NULL, &e), E_AUTH);
	assert_string_equal(e.msg, want);
	put(f, ".aws/credentials", "[default]\naws_access_key_id =\naws_secret_access_key = s\n");
	assert_int_equal(resolve(&c, NULL, &e), E_AUTH);
	assert_non_null(strstr(e.msg, "aws_access_key_id has no value in"));
	unlink(p(f, ".aws/credentials"));
	put(f, ".aws/config", "[profile dev]\naws_access_key_id = A\n");
	assert_int_equal(resolve(&c, "dev", &e), E_AUTH);
	snprintf(want, sizeof(want),
		 "aws_secret_access_key is missing in %s (profile dev), which sets "
		 "aws_access_key_id", p(f, ".aws/config"));
	assert_string_equal(e.msg, want);
}

static void
test_custom_paths(void **state)
{
	struct fx *f = *state;
	struct creds c;
	struct err e;

	put(f, ".aws/credentials", creds_file);
	assert_int_equal(mkdir(p(f, "elsewhere"), 0700), 0);
	put(f, "elsewhere/creds", "[default]\naws_access_key_id = AKIDCUSTOM\naws_secret_access_key = s\n");
	put(f, "elsewhere/cfg", "[profile c]\naws_access_key_id = AKIDCUSTOMCFG\naws_secret_access_key = s\n");
	setenv("AWS_SHARED_CREDENTIALS_FILE", "~/elsewhere/creds", 1);
	setenv("AWS_CONFIG_FILE", p(f, "elsewhere/cfg"), 1);
	assert_int_equal(resolve(&c, NULL, &e), 0);
	assert_string_equal(c.access_key_id, "AKIDCUSTOM");
	creds_free(&c);
	assert_int_equal(resolve(&c, "c", &e), 0);
	assert_string_equal(c.access_key_id, "AKIDCUSTOMCFG");
	creds_free(&c);
	/* A directory where the file should be counts as no file, as in the CLI. */
	setenv("AWS_SHARED_CREDENTIALS_FILE", p(f, "elsewhere"), 1);
	assert_int_equal(resolve(&c, NULL, &e), E_AUTH);
	/* HOME with a trailing slash, like Python's expanduser. */
	unsetenv("AWS_SHARED_CREDENTIALS_FILE");
	unsetenv("AWS_CONFIG_FILE");
	{
		char home[128];

		snprintf(home, sizeof(home), "%s/", f->home);
		setenv("HOME", home, 1);
		assert_int_equal(resolve(&c, "dev", &e), 0);
		assert_string_equal(c.access_key_id, "AKIDFILEDEV");
		creds_free(&c);
		setenv("HOME", f->home, 1);
	}
}

static void
test_parse_error(void **state)
{
	struct fx *f = *state;
	struct creds c;
	struct err e;
	char want[8192];

	put(f, ".aws/credentials", "[default]\naws_access_key_id AKID\n");
	assert_int_equal(resolve(&c, NULL, &e), E_CONFIG);
	snprintf(want, sizeof(want), "%s:2: expected 'key = value' or '[section]'",
		 p(f, ".aws/credentials"));
	assert_string_equal(e.msg, want);
	/* With keys in the environment and no named profile, files are not read. */
	env_keys("AKIDENV", "secret-env");
	assert_int_equal(resolve(&c, NULL, &e), 0);
	creds_free(&c);
	/* A named profile makes them count again. */
	setenv("AWS_PROFILE", "default", 1);
	assert_int_equal(resolve(&c, NULL, &e), E_CONFIG);
	assert_string_equal(e.msg, want);
}

struct capture {
	struct buf lines;
};

static void
sink(void *arg, int level, const char *line)
{
	struct capture *cap = arg;

	(void)level;
	buf_putf(&cap->lines, "%s\n", line);
}

static void
test_logging_hides_secrets(void **state)
{
	struct fx *f = *state;
	struct capture cap;
	struct logger lg = { .level = LL_TRACE, .prefix = "t", .sink = sink, .arg = &cap };
	struct creds_opts o = { .profile = NULL, .log = &lg };
	struct creds c;
	struct err e;
	const char *all;

	buf_init(&cap.lines, 0);
	put(f, ".aws/credentials", creds_file);
	env_keys("AKIDENV", "secret-env");
	setenv("AWS_SESSION_TOKEN", "token-env", 1);
	setenv("AWS_PROFILE", "dev", 1);
	assert_int_equal(creds_resolve(&c, &o, &e), 0);
	creds_free(&c);
	o.profile = "dev";
	assert_int_equal(creds_resolve(&c, &o, &e), 0);
	creds_free(&c);
	all = buf_cstr(&cap.lines);
	assert_non_null(all);
	assert_non_null(strstr(all, "using AWS credentials from environment\n"));
	assert_non_null(strstr(all, "using AWS credentials from shared credentials file (profile dev)\n"));
	assert_null(strstr(all, "secret-"));
	assert_null(strstr(all, "token-"));
	assert_null(strstr(all, "AKID"));
	buf_free(&cap.lines);
}

static void
test_copy(void **state)
{
	struct creds c, d;
	struct err e;

	(void)state;
	env_keys("AKIDENV", "secret-env");
	assert_int_equal(resolve(&c, NULL, &e), 0);
	assert_int_equal(creds_copy(&d, &c), 0);
	creds_free(&c);
	expect_keys(&d, "AKIDENV", "secret-env", NULL, "environment");
	creds_free(&d);
	creds_free(&d);
	creds_free(NULL);
	memset(&c, 0, sizeof(c));
	assert_int_equal(creds_copy(&d, &c), E_INVAL);
}

/* --- region ----------------------------------------------------------- */

static void
expect_region(const char *cli_region, const char *cli_profile, const char *want)
{
	struct err e;
	char *r = NULL;

	err_clear(&e);
	if (creds_region(&r, cli_region, cli_profile, &e) != 0)
		fail_msg("region: unexpected error: %s", e.msg);
	assert_string_equal(r, want);
	free(r);
}

static void
test_region_precedence(void **state)
{
	struct fx *f = *state;

	put(f, ".aws/config",
	    "[default]\nregion = eu-west-1\n"
	    "[profile dev]\nregion = eu-west-2\n"
	    "[profile both]\nregion = eu-west-3\n");
	put(f, ".aws/credentials", "[both]\nregion = ap-south-1\n[bare]\nregion = sa-east-1\n");
	expect_region(NULL, NULL, "eu-west-1");
	expect_region(NULL, "dev", "eu-west-2");
	/* The credentials file's keys lie over the config profile's (botocore). */
	expect_region(NULL, "both", "ap-south-1");
	expect_region(NULL, "bare", "sa-east-1");
	setenv("AWS_PROFILE", "dev", 1);
	expect_region(NULL, NULL, "eu-west-2");
	setenv("AWS_DEFAULT_REGION", "us-west-1", 1);
	expect_region(NULL, NULL, "us-west-1");
	setenv("AWS_REGION", "us-west-2", 1);
	expect_region(NULL, NULL, "us-west-2");
	expect_region("cn-north-1", "dev", "cn-north-1");
	/* An empty variable counts as unset. */
	setenv("AWS_REGION", "", 1);
	expect_region(NULL, NULL, "us-west-1");
}

static void
test_region_errors(void **state)
{
	struct fx *f = *state;
	struct err e;
	char *r = (char *)1;
	char want[8192];

	err_clear(&e);
	assert_int_equal(creds_region(&r, NULL, NULL, &e), E_CONFIG);
	assert_null(r);
	assert_string_equal(e.msg, "no region: use --region, AWS_REGION or set region in profile default");
	put(f, ".aws/config", "[profile dev]\noutput = json\n");
	assert_int_equal(creds_region(&r, NULL, "dev", &e), E_CONFIG);
	assert_string_equal(e.msg, "no region: use --region, AWS_REGION or set region in profile dev");
	assert_int_equal(creds_region(&r, NULL, "nope", &e), E_CONFIG);
	snprintf(want, sizeof(want), "profile 'nope' not found in %s or %s",
		 p(f, ".aws/config"), p(f, ".aws/credentials"));
	assert_string_equal(e.msg, want);
	put(f, ".aws/config", "[profile dev]\nregion = Evil.example.com/\n");
	assert_int_equal(creds_region(&r, NULL, "dev", &e), E_CONFIG);
	assert_string_equal(e.msg, "invalid region 'Evil.example.com/' from profile dev: expected "
				   "lower-case letters, digits and hyphens, like us-east-1");
	setenv("AWS_REGION", "us-east-1\nx", 1);
	assert_int_equal(creds_region(&r, NULL, NULL, &e), E_CONFIG);
	assert_string_equal(e.msg, "invalid region 'us-east-1?x' from AWS_REGION: expected "
				   "lower-case letters, digits and hyphens, like us-east-1");
	assert_int_equal(creds_region(&r, "", NULL, &e), E_CONFIG);
	assert_non_null(strstr(e.msg, "from --region"));
	assert_null(r);
}

static void
test_region_valid(void **state)
{
	static const char *const good[] = {
		"us-east-1", "cn-north-1", "us-gov-west-1", "eu-central-2", "ap-southeast-4",
		"il-central-1", "us-iso-east-1", "a",
		"abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij123",
	};
	static const char *const bad[] = {
		"", "US-EAST-1", "us-East-1", "us-east-1.evil.com", "us east 1", "-us-east-1",
		"us-east-", "1us", "us_east_1", "us-east-1/", "us-east-1 ", "us-east-1\n",
		"caf\xc3\xa9", "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij1234",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!creds_region_valid(good[i]))
			fail_msg("'%s' should be a valid region", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (creds_region_valid(bad[i]))
			fail_msg("'%s' should be rejected", bad[i]);
	assert_false(creds_region_valid(NULL));
}

static void
test_parse_time(void **state)
{
	static const struct {
		const char *in;
		time_t want; /* -1: rejected */
	} cases[] = {
		{ "2024-05-01T12:00:00Z", 1714564800 },
		{ "2024-05-01T12:00:00z", 1714564800 },
		{ "2024-05-01T12:00:00.123Z", 1714564800 },
		{ "2024-05-01T12:00:00", 1714564800 },
		{ "2024-05-01T14:00:00+02:00", 1714564800 },
		{ "2024-05-01T07:30:00-0430", 1714564800 },
		{ "1970-01-01T00:00:00Z", 0 },
		{ "2024-05-01", -1 },
		{ "2024-05-01T12:00:00Zjunk", -1 },
		{ "2024-05-01T12:00:00.Z", -1 },
		{ "2024-05-01T12:00:00+2", -1 },
		{ "2024-05-01T12:00:00+24:00", -1 },
		{ "2024-13-01T12:00:00Z", -1 },
		{ "", -1 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		time_t t = 12345;
		int r = creds_parse_time(cases[i].in, &t);

		if (cases[i].want == -1) {
			if (r != E_INVAL)
				fail_msg("'%s' should be rejected", cases[i].in);
			assert_int_equal(t, 12345);
		} else {
			if (r != 0)
				fail_msg("'%s' should parse", cases[i].in);
			assert_int_equal(t, cases[i].want);
		}
	}
	assert_int_equal(creds_parse_time(NULL, &(time_t){ 0 }), E_INVAL);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	static const struct CMUnitTest tests[] = {
		T(test_profile_name),
		T(test_empty_cli_profile),
		T(test_env),
		T(test_env_expiration),
		T(test_env_partial),
		T(test_env_over_files),
		T(test_cli_profile_skips_env),
		T(test_named_profile_missing),
		T(test_credentials_over_config),
		T(test_section_without_keys_falls_through),
		T(test_profile_section_forms),
		T(test_default_profile_forms),
		T(test_default_section_inherited),
		T(test_no_credentials),
		T(test_missing_secret),
		T(test_custom_paths),
		T(test_parse_error),
		T(test_logging_hides_secrets),
		T(test_copy),
		T(test_region_precedence),
		T(test_region_errors),
		T(test_region_valid),
		T(test_parse_time),
	};

	return cmocka_run_group_tests_name("creds", tests, NULL, NULL);
}
