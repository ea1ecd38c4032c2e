/*
 * test_creds2.c: the providers beyond static keys, without a network:
 * endpoint resolution (environment, services section, partitions, FIPS,
 * dual-stack, regional STS), credential_process splitting and running,
 * the credential cache (keys, 0600 files, the 5-minute margin), role
 * chain loops and bad settings, SSO token states, precedence between file
 * providers, and IMDS that does not answer within its timeout.
 *
 * Every test runs in a fresh temporary HOME with the AWS variables unset.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "awscfg.h"
#include "credcache.h"
#include "credproc.h"
#include "creds.h"
#include "err.h"
#include "imds.h"

static const char *const aws_vars[] = {
	"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
	"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION",
	"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SSM", "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_SSO",
	"AWS_ENDPOINT_URL_EC2_INSTANCE_CONNECT", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
	"AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT", "AWS_CA_BUNDLE",
	"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME",
	"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
	"AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_METADATA_SERVICE_TIMEOUT",
	"AWS_METADATA_SERVICE_NUM_ATTEMPTS",
};

struct fx {
	char home[64];
	char cfg[256], cred[256];
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
	snprintf(f->home, sizeof(f->home), "/tmp/ssmp-creds2-XXXXXX");
	if (mkdtemp(f->home) == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(aws_vars) / sizeof(aws_vars[0]); i++)
		unsetenv(aws_vars[i]);
	setenv("HOME", f->home, 1);
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
	snprintf(aws, sizeof(aws), "%s/.aws", f->home);
	if (mkdir(aws, 0700) != 0)
		return -1;
	snprintf(f->cfg, sizeof(f->cfg), "%s/.aws/config", f->home);
	snprintf(f->cred, sizeof(f->cred), "%s/.aws/credentials", f->home);
	setenv("AWS_CONFIG_FILE", f->cfg, 1);
	setenv("AWS_SHARED_CREDENTIALS_FILE", f->cred, 1);
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

static void
put(const char *path, const char *text, int mode)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	assert_true(fputs(text, fp) >= 0);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(chmod(path, (mode_t)mode), 0);
}

static int
resolve(const char *profile, struct creds *c, struct err *e)
{
	struct creds_opts o;

	memset(&o, 0, sizeof(o));
	o.profile = profile;
	o.region = "us-east-1";
	err_clear(e);
	return creds_resolve(c, &o, e);
}

/* ---- endpoints ---- */

static void
endpoint_is(const struct awscfg *cfg, const char *svc, const char *region, const char *want)
{
	char out[512];
	struct err e;

	err_clear(&e);
	assert_int_equal(awscfg_endpoint(cfg, svc, region, out, sizeof(out), &e), 0);
	assert_string_equal(out, want);
}

static void
test_endpoint_defaults(void **state)
{
	(void)state;
	endpoint_is(NULL, "ssm", "eu-west-1", "https://ssm.eu-west-1.amazonaws.com");
	endpoint_is(NULL, "ssm", "cn-north-1", "https://ssm.cn-north-1.amazonaws.com.cn");
	endpoint_is(NULL, "ssm", "us-gov-west-1", "https://ssm.us-gov-west-1.amazonaws.com");
	endpoint_is(NULL, "ec2", "us-iso-east-1", "https://ec2.us-iso-east-1.c2s.ic.gov");
	endpoint_is(NULL, "sts", "eu-west-1", "https://sts.eu-west-1.amazonaws.com");
	endpoint_is(NULL, "sso", "eu-west-1", "https://portal.sso.eu-west-1.amazonaws.com");
	endpoint_is(NULL, "ec2-instance-connect", "us-east-1",
		    "https://ec2-instance-connect.us-east-1.amazonaws.com");
	setenv("AWS_USE_FIPS_ENDPOINT", "true", 1);
	endpoint_is(NULL, "ssm", "us-gov-west-1", "https://ssm-fips.us-gov-west-1.amazonaws.com");
	setenv("AWS_USE_DUALSTACK_ENDPOINT", "true", 1);
	endpoint_is(NULL, "ssm", "us-east-1", "https://ssm-fips.us-east-1.api.aws");
	unsetenv("AWS_USE_FIPS_ENDPOINT");
	endpoint_is(NULL, "ssm", "cn-north-1", "https://ssm.cn-north-1.api.amazonwebservices.com.cn");
}

static void
test_endpoint_precedence(void **state)
{
	struct fx *f = *state;
	struct awscfg cfg;
	struct err e;

	put(f->cfg,
	    "[default]\nendpoint_url = https://profile.example\nservices = mine\n"
	    "use_fips_endpoint = true\nsts_regional_endpoints = legacy\nca_bundle = /x/ca.pem\n"
	    "[services mine]\nssm =\n  endpoint_url = https://ssm-svc.example/\n"
	    "ec2_instance_connect =\n  endpoint_url = http://eic-svc.example\n", 0600);
	err_clear(&e);
	assert_int_equal(awscfg_load(&cfg, NULL, &e), 0);
	/* services section, then AWS_ENDPOINT_URL_<SERVICE> above it. */
	endpoint_is(&cfg, "ssm", "us-east-1", "https://ssm-svc.example");
	endpoint_is(&cfg, "ec2-instance-connect", "us-east-1", "http://eic-svc.example");
	setenv("AWS_ENDPOINT_URL_SSM", "https://env-ssm.example", 1);
	endpoint_is(&cfg, "ssm", "us-east-1", "https://env-ssm.example");
	/* the profile's endpoint_url below AWS_ENDPOINT_URL */
	endpoint_is(&cfg, "ec2", "us-east-1", "https://profile.example");
	setenv("AWS_ENDPOINT_URL", "https://env-all.example", 1);
	endpoint_is(&cfg, "ec2", "us-east-1", "https://env-all.example");
	/* ignoring configured endpoints leaves the defaults (FIPS from the profile) */
	setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true", 1);
	endpoint_is(&cfg, "ssm", "us-east-1", "https://ssm-fips.us-east-1.amazonaws.com");
	setenv("AWS_USE_FIPS_ENDPOINT", "false", 1);
	/* legacy STS for a legacy region only */
	endpoint_is(&cfg, "sts", "us-east-1", "https://sts.amazonaws.com");
	endpoint_is(&cfg, "sts", "ap-east-1", "https://sts.ap-east-1.amazonaws.com");
	/* ca_bundle: the environment first */
	assert_string_equal(awscfg_ca_bundle(&cfg), "/x/ca.pem");
	setenv("AWS_CA_BUNDLE", "/env/ca.pem", 1);
	assert_string_equal(awscfg_ca_bundle(&cfg), "/env/ca.pem");
	awscfg_free(&cfg);

	put(f->cfg, "[default]\nuse_dualstack_endpoint = maybe\n", 0600);
	assert_int_equal(awscfg_load(&cfg, NULL, &e), E_CONFIG);
	put(f->cfg, "[default]\nendpoint_url = ftp://x\n", 0600);
	assert_int_equal(awscfg_load(&cfg, NULL, &e), E_CONFIG);
}

/* ---- credential_process ---- */

static void
split_is(const char *cmd, int n, const char *w0, const char *w1, const char *w2)
{
	char **argv;
	int argc;
	struct err e;

	err_clear(&e);
	assert_int_equal(credproc_split(cmd, &argv, &argc, &e), 0);
	assert_int_equal(argc, n);
	assert_string_equal(argv[0], w0);
	if (n > 1)
		assert_string_equal(argv[1], w1);
	if (n > 2)
		assert_string_equal(argv[2], w2);
	assert_null(argv[argc]);
	credproc_argv_free(argv);
}

static void
test_process_split(void **state)
{
	char **argv;
	int argc;
	struct err e;

	(void)state;
	split_is("a b  c", 3, "a", "b", "c");
	split_is("'/opt/my tool' --x \"y z\"", 3, "/opt/my tool", "--x", "y z");
	split_is("a\\ b 'it'\"'\"'s'", 2, "a b", "it's", NULL);
	split_is("\"q\\\"uote\" 'no\\esc'", 2, "q\"uote", "no\\esc", NULL);
	split_is("x''y \"\"", 2, "xy", "", NULL);
	assert_int_equal(credproc_split("'open", &argv, &argc, &e), E_CONFIG);
	assert_int_equal(credproc_split("trailing\\", &argv, &argc, &e), E_CONFIG);
	assert_int_equal(credproc_split("   ", &argv, &argc, &e), E_CONFIG);
}

static void
test_process_run(void **state)
{
	struct fx *f = *state;
	char script[128], cfg[2048];
	struct creds c;
	struct err e;

	snprintf(script, sizeof(script), "%s/proc.sh", f->home);
	put(script,
	    "#!/bin/sh\n"
	    "case \"$1\" in\n"
	    "ok) echo '{\"Version\": 1, \"AccessKeyId\": \"AKIDPROC\", \"SecretAccessKey\": \"s\", "
	    "\"SessionToken\": \"t\", \"Expiration\": \"2099-01-01T00:00:00Z\"}' ;;\n"
	    "v2) echo '{\"Version\": 2, \"AccessKeyId\": \"A\", \"SecretAccessKey\": \"s\"}' ;;\n"
	    "nokey) echo '{\"Version\": 1}' ;;\n"
	    "junk) echo 'not json' ;;\n"
	    "*) exit 4 ;;\n"
	    "esac\n", 0700);
	snprintf(cfg, sizeof(cfg),
		 "[default]\ncredential_process = %s ok\n"
		 "[profile v2]\ncredential_process = %s v2\n"
		 "[profile nokey]\ncredential_process = %s nokey\n"
		 "[profile junk]\ncredential_process = %s junk\n"
		 "[profile fail]\ncredential_process = %s fail\n"
		 "[profile missing]\ncredential_process = %s/no-such-program\n",
		 script, script, script, script, script, f->home);
	put(f->cfg, cfg, 0600);
	assert_int_equal(resolve(NULL, &c, &e), 0);
	assert_string_equal(c.access_key_id, "AKIDPROC");
	assert_string_equal(c.session_token, "t");
	assert_int_equal(c.expiration, 4070908800);
	assert_string_equal(c.source, "credential_process (profile default)");
	creds_free(&c);
	assert_int_equal(resolve("v2", &c, &e), E_AUTH);
	assert_non_null(strstr(e.msg, "unsupported Version"));
	assert_int_equal(resolve("nokey", &c, &e), E_AUTH);
	assert_int_equal(resolve("junk", &c, &e), E_AUTH);
	assert_non_null(strstr(e.msg, "not a JSON object"));
	assert_int_equal(resolve("fail", &c, &e), E_AUTH);
	assert_non_null(strstr(e.msg, "exited with status 4"));
	assert_int_equal(resolve("missing", &c, &e), E_AUTH);
	assert_non_null(strstr(e.msg, "exited with status 127"));
}

/* The credentials file, then credential_process, then the config file's keys. */
static void
test_file_precedence(void **state)
{
	struct fx *f = *state;
	struct creds c;
	struct err e;

	put(f->cfg,
	    "[profile p]\ncredential_process = /bin/false\naws_access_key_id = CFGKEY\n"
	    "aws_secret_access_key = s\n", 0600);
	put(f->cred, "[p]\naws_access_key_id = CREDKEY\naws_secret_access_key = s\n", 0600);
	assert_int_equal(resolve("p", &c, &e), 0);
	assert_string_equal(c.access_key_id, "CREDKEY");
	creds_free(&c);
	put(f->cred, "", 0600);
	/* credential_process comes before the config file's static keys */
	assert_int_equal(resolve("p", &c, &e), E_AUTH);
	assert_non_null(strstr(e.msg, "credential_process"));
}

/* ---- roles ---- */

static void
test_role_errors(void **state)
{
	struct fx *f = *state;
	struct creds c;
	struct err e;

	put(f->cfg,
	    "[profile a]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = b\n"
	    "[profile b]\nrole_arn = arn:aws:iam::1:role/b\nsource_profile = c\n"
	    "[profile c]\nrole_arn = arn:aws:iam::1:role/c\nsource_profile = a\n"
	    "[profile both]\nrole_arn = arn:aws:iam::1:role/x\nsource_profile = a\n"
	    "credential_source = Environment\n"
	    "[profile badsrc]\nrole_arn = arn:aws:iam::1:role/x\ncredential_source = Moon\n"
	    "[profile nosrc]\nrole_arn = arn:aws:iam::1:role/x\nsource_profile = ghost\n"
	    "[profile dur]\nrole_arn = arn:aws:iam::1:role/x\nsource_profile = a\n"
	    "duration_seconds = 60\n"
	    "[profile envsrc]\nrole_arn = arn:aws:iam::1:role/x\ncredential_source = Environment\n"
	    "[profile ecssrc]\nrole_arn = arn:aws:iam::1:role/x\ncredential_source = EcsContainer\n"
	    "[profile self]\nrole_arn = arn:aws:iam::1:role/x\nsource_profile = self\n", 0600);
	assert_int_equal(resolve("a", &c, &e), E_CONFIG);
	assert_string_equal(e.msg, "role profiles form a loop: a -> b -> c -> a");
	assert_int_equal(resolve("both", &c, &e), E_CONFIG);
	assert_non_null(strstr(e.msg, "exactly one of source_profile and credential_source"));
	assert_int_equal(resolve("badsrc", &c, &e), E_CONFIG);
	assert_non_null(strstr(e.msg, "credential_source 'Moon'"));
	assert_int_equal(resolve("nosrc", &c, &e), E_CONFIG);
	assert_non_null(strstr(e.msg, "source_profile 'ghost'"));
	assert_int_equal(resolve("dur", &c, &e), E_CONFIG);
	assert_non_null(strstr(e.msg, "duration_seconds"));
	assert_int_equal(resolve("envsrc", &c, &e), E_AUTH);
	assert_non_null(strstr(e.msg, "AWS_ACCESS_KEY_ID is not set"));
	assert_int_equal(resolve("ecssrc", &c, &e), E_AUTH);
	assert_int_equal(resolve("self", &c, &e), E_CONFIG);
	assert_non_null(strstr(e.msg, "names itself"));
}

/* ---- SSO ---- */

static void
sso_token(struct fx *f, const char *sha1_of_key, const char *expires)
{
	char dir[256], path[512], body[512];

	snprintf(dir, sizeof(dir), "%s/.aws/sso", f->home);
	mkdir(dir, 0700);
	snprintf(dir, sizeof(dir), "%s/.aws/sso/cache", f->home);
	mkdir(dir, 0700);
	snprintf(path, sizeof(path), "%s/%s.json", dir, sha1_of_key);
	snprintf(body, sizeof(body), "{\"accessToken\": \"fake-sso-token-x\", \"expiresAt\": \"%s\"}",
		 expires);
	put(path, body, 0600);
}

static void
test_sso_token_states(void **state)
{
	struct fx *f = *state;
	struct creds c;
	struct err e;

	put(f->cfg,
	    "[profile new]\nsso_session = corp\nsso_account_id = 1\nsso_role_name = R\n"
	    "[sso-session corp]\nsso_start_url = https://corp.example/start\nsso_region = us-east-1\n"
	    "[profile old]\nsso_start_url = https://old.example/start\nsso_region = us-east-1\n"
	    "sso_account_id = 1\nsso_role_name = R\n"
	    "[profile nosess]\nsso_session = nowhere\nsso_account_id = 1\nsso_role_name = R\n"
	    "[profile norole]\nsso_start_url = https://old.example/start\nsso_region = us-east-1\n",
	    0600);
	/* no token cached */
	assert_int_equal(resolve("new", &c, &e), E_AUTH);
	assert_string_equal(e.msg, "no SSO token cached for this profile: run 'aws sso login "
				   "--profile new'");
	/* sha1("corp"), expired (the CLI's "UTC" suffix form) */
	sso_token(f, "ee0bfd2552fbd840c02cc48b6e823320543c450f", "2020-01-01T00:00:00UTC");
	assert_int_equal(resolve("new", &c, &e), E_AUTH);
	assert_string_equal(e.msg, "the SSO session has expired: run 'aws sso login --profile new'");
	/* sha1("https://old.example/start"), expired */
	sso_token(f, "103c764598c7bfb84492cce4b625216b27775ddd", "2020-01-01T00:00:00Z");
	assert_int_equal(resolve("nosess", &c, &e), E_CONFIG);
	assert_non_null(strstr(e.msg, "sso-session 'nowhere'"));
	assert_int_equal(resolve("norole", &c, &e), E_CONFIG);
}

/* ---- cache ---- */

static void
test_cache(void **state)
{
	struct fx *f = *state;
	char key[CREDCACHE_KEY_LEN + 1], path[512];
	struct creds c, got;
	struct stat st;
	struct err e;

	/* botocore: sha1(json.dumps({"RoleArn": ...}, sort_keys=True)) */
	assert_int_equal(credcache_key_role("arn:aws:iam::123456789012:role/x", NULL, NULL, 0, NULL,
					    key), 0);
	assert_string_equal(key, "f84d75ff2dd3e8682912dae5e7be77540d9d68d0");
	err_clear(&e);
	assert_int_equal(creds_set(&c, "ASIAX", "sec", "tok", time(NULL) + 3600, NULL), 0);
	assert_int_equal(credcache_store(key, &c, NULL, &e), 0);
	snprintf(path, sizeof(path), "%s/.aws/cli/cache/%s.json", f->home, key);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(credcache_load(key, &got, NULL), 0);
	assert_string_equal(got.access_key_id, "ASIAX");
	assert_string_equal(got.session_token, "tok");
	assert_int_equal(got.expiration, c.expiration);
	creds_free(&got);
	/* within the 5-minute margin: not used */
	c.expiration = time(NULL) + CREDCACHE_MARGIN - 10;
	assert_int_equal(credcache_store(key, &c, NULL, &e), 0);
	assert_int_equal(credcache_load(key, &got, NULL), E_NOTFOUND);
	assert_int_equal(credcache_load("../escape", &got, NULL), E_NOTFOUND);
	creds_free(&c);
}

/* ---- instance metadata ---- */

/* A loopback socket that accepts connections (backlog) but never answers. */
static void
test_imds_timeout(void **state)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	char url[64];
	struct creds c;
	struct err e;
	int s;

	(void)state;
	s = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s >= 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s, 8), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &al), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", (unsigned)ntohs(a.sin_port));
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", url, 1);
	unsetenv("AWS_EC2_METADATA_DISABLED");
	err_clear(&e);
	assert_int_equal(imds_credentials(&c, NULL, &e), E_NOTFOUND);
	assert_non_null(strstr(e.msg, "not reachable within 1000 ms"));
	/* the chain goes on past it and ends with "no credentials" */
	assert_int_equal(resolve(NULL, &c, &e), E_AUTH);
	assert_non_null(strstr(e.msg, "no AWS credentials found"));
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
	assert_int_equal(imds_credentials(&c, NULL, &e), E_NOTFOUND);
	assert_non_null(strstr(e.msg, "disabled"));
	close(s);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_endpoint_defaults), T(test_endpoint_precedence), T(test_process_split),
		T(test_process_run),       T(test_file_precedence),     T(test_role_errors),
		T(test_sso_token_states),  T(test_cache),               T(test_imds_timeout),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
