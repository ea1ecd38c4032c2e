/*
 * test_resolve.c: host names to instances.
 *
 * The host-form table (tests/data/resolve/hostforms.txt) is checked twice:
 * in process (resolve_parse, resolve_match) and through the program
 * ("ssm-proxy --match HOST" exit status, hostile strings passed as argv).
 * Lookups run against fakeregion with tests/data/resolve/inventory.json
 * (three regions, two results per page): every host form, ambiguity, not
 * found, stopped instances, region qualifiers, paging. The cache is
 * checked with explicit times (no wall clock).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <dirent.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include "awsapi.h"
#include "creds.h"
#include "rcache.h"
#include "resolve.h"

#define AK "AKIDFAKEREGION"
#define SK "fakeregion/K7MDENG/bPxRfiCYEXAMPLEKEY"

extern char **environ;

/* ------------------------------------------------------------ the table */

struct row {
	int line;
	int match;
	char kind[8], key[300], value[300], region[64], profile[64];
	char host[8192];
};

static int
known_profile(void *arg, const char *p)
{
	(void)arg;
	return strcmp(p, "prod") == 0 || strcmp(p, "other") == 0;
}

static void
field(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", strcmp(src, "-") == 0 ? "" : src);
}

/* Expands the escapes of the HOST column. */
static void
unescape(const char *s, char *out, size_t outlen)
{
	size_t o = 0;

	while (*s && o + 1 < outlen) {
		if (strncmp(s, "{repeat:", 8) == 0) {
			char *end;
			long n = strtol(s + 8, &end, 10);
			const char *text = end + 1, *close = strchr(text, '}');
			assert_non_null(close);
			for (long i = 0; i < n; i++)
				for (const char *t = text; t < close && o + 1 < outlen; t++)
					out[o++] = *t;
			s = close + 1;
		} else if (s[0] == '\\' && s[1] == 't') {
			out[o++] = '\t', s += 2;
		} else if (s[0] == '\\' && s[1] == 'n') {
			out[o++] = '\n', s += 2;
		} else if (s[0] == '\\' && s[1] == '\\') {
			out[o++] = '\\', s += 2;
		} else if (s[0] == '\\' && s[1] == 'x') {
			char hex[3] = { s[2], s[3], 0 };
			out[o++] = (char)strtol(hex, NULL, 16);
			s += 4;
		} else {
			out[o++] = *s++;
		}
	}
	out[o] = '\0';
}

static size_t
load_table(struct row **rows)
{
	char path[PATH_MAX], line[8192];
	const char *dir = getenv("SSMP_TESTS_DIR");
	size_t n = 0, cap = 0;
	FILE *f;
	int ln = 0;

	snprintf(path, sizeof(path), "%s/data/resolve/hostforms.txt", dir ? dir : "tests");
	f = fopen(path, "r");
	assert_non_null(f);
	*rows = NULL;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *col[7], *p = line, *tab;
		struct row *r;
		int k;

		ln++;
		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		for (k = 0; k < 6; k++) {
			tab = strchr(p, '\t');
			if (tab == NULL)
				fail_msg("hostforms.txt:%d: needs 7 tab-separated columns", ln);
			*tab = '\0';
			col[k] = p;
			p = tab + 1;
		}
		col[6] = p;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			*rows = realloc(*rows, cap * sizeof(**rows));
			assert_non_null(*rows);
		}
		r = &(*rows)[n++];
		memset(r, 0, sizeof(*r));
		r->line = ln;
		r->match = atoi(col[0]);
		field(r->kind, sizeof(r->kind), col[1]);
		field(r->key, sizeof(r->key), col[2]);
		unescape(col[3], r->value, sizeof(r->value));
		if (strcmp(r->value, "-") == 0)
			r->value[0] = '\0';
		field(r->region, sizeof(r->region), col[4]);
		field(r->profile, sizeof(r->profile), col[5]);
		unescape(col[6], r->host, sizeof(r->host));
	}
	fclose(f);
	return n;
}

static const char *
kind_name(enum resolve_kind k)
{
	switch (k) {
	case RESOLVE_ID: return "id";
	case RESOLVE_TAG: return "tag";
	case RESOLVE_IPV4: return "ipv4";
	case RESOLVE_NAME: return "name";
	case RESOLVE_DNS: return "dns";
	}
	return "?";
}

static void
test_table_in_process(void **state)
{
	struct row *rows;
	size_t n = load_table(&rows);
	int matched = 0, hostile = 0;

	(void)state;
	assert_true(n >= 40);
	for (size_t i = 0; i < n; i++) {
		struct row *r = &rows[i];
		struct resolve_host h;
		struct err e = { 0, "" };
		int rc = resolve_parse(r->host, known_profile, NULL, &h, &e);

		if (strcmp(r->kind, "err") == 0) {
			if (rc != E_INVAL)
				fail_msg("line %d: '%.60s' parsed, want an error", r->line, r->host);
			assert_true(e.msg[0] != '\0' && strchr(e.msg, '\n') == NULL);
			hostile++;
		} else {
			if (rc != 0)
				fail_msg("line %d: '%.60s': %s", r->line, r->host, e.msg);
			if (strcmp(kind_name(h.kind), r->kind) != 0 || strcmp(h.key, r->key) != 0 ||
			    strcmp(h.value, r->value) != 0 || strcmp(h.region, r->region) != 0 ||
			    strcmp(h.profile, r->profile) != 0)
				fail_msg("line %d: '%.60s' gave %s key '%s' value '%.60s' region '%s' "
				         "profile '%s'", r->line, r->host, kind_name(h.kind), h.key,
				         h.value, h.region, h.profile);
		}
		if (resolve_match(r->host, known_profile, NULL) != r->match)
			fail_msg("line %d: resolve_match('%.60s') is %d", r->line, r->host, !r->match);
		matched += r->match;
	}
	/* The table covers both answers and plenty of hostile input. */
	assert_true(matched >= 15);
	assert_true(hostile >= 20);
	free(rows);
}

/* Runs "ssm-proxy --match HOST" and returns its exit status. */
static int
run_match(const char *exe, const char *host)
{
	const char *argv[] = { exe, "--match", host, NULL };
	pid_t pid;
	int st;

	assert_int_equal(posix_spawn(&pid, exe, NULL, NULL, (char *const *)argv, environ), 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static void
test_table_program(void **state)
{
	char dir[] = "/tmp/ssmp-resolve-XXXXXX", cfg[PATH_MAX], exe[PATH_MAX];
	const char *env = getenv("SSM_PROXY");
	struct row *rows;
	size_t n = load_table(&rows);
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(cfg, sizeof(cfg), "%s/config", dir);
	f = fopen(cfg, "w");
	assert_non_null(f);
	fputs("[profile prod]\nregion = eu-west-1\n[profile other]\nregion = us-east-1\n", f);
	fclose(f);
	setenv("AWS_CONFIG_FILE", cfg, 1);
	setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null", 1);
	snprintf(exe, sizeof(exe), "%s", env ? env : "./ssm-proxy");
	for (size_t i = 0; i < n; i++) {
		int st = run_match(exe, rows[i].host);
		if (st != (rows[i].match ? 0 : 1))
			fail_msg("line %d: ssm-proxy --match '%.60s' exited %d", rows[i].line,
			         rows[i].host, st);
	}
	/* A profile qualifier counts only for a profile that exists. */
	assert_int_equal(run_match(exe, "x.eu-west-1.prod"), 0);
	assert_int_equal(run_match(exe, "x.eu-west-1.nosuchprofile"), 1);
	unlink(cfg);
	rmdir(dir);
	unsetenv("AWS_CONFIG_FILE");
	free(rows);
}

static void
test_region_like(void **state)
{
	static const char *const yes[] = { "us-east-1", "eu-west-1", "ap-southeast-2",
		"us-gov-west-1", "cn-northwest-1", "us-iso-east-1", "us-isob-east-1",
		"eu-isoe-west-1", "il-central-1", "EU-WEST-1", "me-south-10" };
	static const char *const no[] = { "", "us", "us-east", "us-east-", "us-east-1a",
		"east-1", "u-east-1", "us--1", "us-east-123", "us_east_1", "com", "us-gov-1",
		"usa-east-1", "us-east-1-" };

	(void)state;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (!resolve_region_like(yes[i]))
			fail_msg("'%s' should look like a region", yes[i]);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (resolve_region_like(no[i]))
			fail_msg("'%s' should not look like a region", no[i]);
}

/* ------------------------------------------------------------ the cache */

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void
test_cache(void **state)
{
	char top[] = "/tmp/ssmp-rcache-XXXXXX", dir[PATH_MAX], path[PATH_MAX + 64];
	struct rcache_entry in, out;
	struct err e = { 0, "" };
	struct stat st;
	int files = 0;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(top));
	/* The directory comes from XDG_CACHE_HOME, else HOME; relative XDG is ignored. */
	setenv("XDG_CACHE_HOME", top, 1);
	assert_int_equal(rcache_dir(dir, sizeof(dir), &e), 0);
	snprintf(path, sizeof(path), "%s/ssm-proxy", top);
	assert_string_equal(dir, path);
	setenv("XDG_CACHE_HOME", "relative", 1);
	setenv("HOME", top, 1);
	assert_int_equal(rcache_dir(dir, sizeof(dir), &e), 0);
	snprintf(path, sizeof(path), "%s/.cache/ssm-proxy", top);
	assert_string_equal(dir, path);

	memset(&in, 0, sizeof(in));
	snprintf(in.id, sizeof(in.id), "i-0123456789abcdef0");
	snprintf(in.name, sizeof(in.name), "web-1");
	snprintf(in.address, sizeof(in.address), "10.0.3.7");
	assert_int_equal(rcache_get(dir, "default", "us-east-1", "web-1", 1000, 300, &out),
	                 E_NOTFOUND);
	assert_int_equal(rcache_put(dir, "default", "us-east-1", "web-1", &in, 1000, 300, &e), 0);
	/* Created 0700 / 0600 (parents too), no temporary file left behind. */
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	snprintf(path, sizeof(path), "%s/.cache", top);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	snprintf(path, sizeof(path), "%s/default@us-east-1.json", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	{
		DIR *d = opendir(dir);
		struct dirent *de;
		assert_non_null(d);
		while ((de = readdir(d)) != NULL)
			files += de->d_name[0] != '.';
		closedir(d);
		assert_int_equal(files, 1);
	}

	/* Hit within the TTL, miss after it, and per profile and region. */
	assert_int_equal(rcache_get(dir, "default", "us-east-1", "web-1", 1299, 300, &out), 0);
	assert_string_equal(out.id, in.id);
	assert_string_equal(out.name, "web-1");
	assert_string_equal(out.address, "10.0.3.7");
	assert_int_equal(rcache_get(dir, "default", "us-east-1", "web-1", 1300, 300, &out),
	                 E_NOTFOUND);
	assert_int_equal(rcache_get(dir, "default", "us-east-1", "web-1", 999, 300, &out),
	                 E_NOTFOUND);
	assert_int_equal(rcache_get(dir, "default", "eu-west-1", "web-1", 1100, 300, &out),
	                 E_NOTFOUND);
	assert_int_equal(rcache_get(dir, "prod", "us-east-1", "web-1", 1100, 300, &out), E_NOTFOUND);
	assert_int_equal(rcache_get(dir, "default", "us-east-1", "web-2", 1100, 300, &out),
	                 E_NOTFOUND);

	/* A second entry keeps the first; an expired one is dropped on write. */
	snprintf(in.id, sizeof(in.id), "i-0aaaaaaaaaaaaaaa1");
	assert_int_equal(rcache_put(dir, "default", "us-east-1", "web-2", &in, 1100, 300, &e), 0);
	assert_int_equal(rcache_get(dir, "default", "us-east-1", "web-1", 1100, 300, &out), 0);
	assert_int_equal(rcache_put(dir, "default", "us-east-1", "web-3", &in, 1350, 300, &e), 0);
	assert_int_equal(rcache_get(dir, "default", "us-east-1", "web-1", 1299, 300, &out),
	                 E_NOTFOUND);
	assert_int_equal(rcache_get(dir, "default", "us-east-1", "web-2", 1350, 300, &out), 0);

	/* Odd profile names stay inside the directory. */
	assert_int_equal(rcache_put(dir, "../x/y", "us-east-1", "web-1", &in, 1000, 300, &e), 0);
	snprintf(path, sizeof(path), "%s/%%2E%%2E%%2Fx%%2Fy@us-east-1.json", dir);
	assert_int_equal(stat(path, &st), 0);

	/* A damaged file is a miss, and the next write replaces it. */
	snprintf(path, sizeof(path), "%s/default@us-east-1.json", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("{\"web-1\": [1, 2", f);
	fclose(f);
	assert_int_equal(rcache_get(dir, "default", "us-east-1", "web-1", 1100, 300, &out),
	                 E_NOTFOUND);
	assert_int_equal(rcache_put(dir, "default", "us-east-1", "web-1", &in, 1100, 300, &e), 0);
	assert_int_equal(rcache_get(dir, "default", "us-east-1", "web-1", 1100, 300, &out), 0);

	unsetenv("XDG_CACHE_HOME");
	nftw(top, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ------------------------------------------------------------ lookups */

static struct {
	pid_t pid;
	char dir[64];
	char endpoint[64];
} srv;

static void
start_region(void)
{
	char exe[PATH_MAX], inv[PATH_MAX], portfile[PATH_MAX], ca[PATH_MAX];
	const char *env = getenv("FAKEREGION"), *tests = getenv("SSMP_TESTS_DIR");
	unsigned port = 0;

	snprintf(exe, sizeof(exe), "%s", env ? env : "tests/fakeregion");
	snprintf(inv, sizeof(inv), "%s/data/resolve/inventory.json", tests ? tests : "tests");
	snprintf(srv.dir, sizeof(srv.dir), "/tmp/ssmp-resolve-XXXXXX");
	assert_non_null(mkdtemp(srv.dir));
	srv.pid = fork();
	assert_true(srv.pid >= 0);
	if (srv.pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		execl(exe, exe, "--state-dir", srv.dir, "--target", "127.0.0.1:9", "--inventory", inv,
		      getenv("SSMP_FAKE_LOG") ? getenv("SSMP_FAKE_LOG") : "-q", (char *)NULL);
		_exit(127);
	}
	snprintf(portfile, sizeof(portfile), "%s/port", srv.dir);
	for (int i = 0; i < 2000 && port == 0; i++) {
		FILE *f = fopen(portfile, "r");
		if (f != NULL) {
			if (fscanf(f, "%u", &port) != 1)
				port = 0;
			fclose(f);
		}
		if (port == 0)
			usleep(10 * 1000);
	}
	assert_true(port > 0);
	snprintf(srv.endpoint, sizeof(srv.endpoint), "https://127.0.0.1:%u", port);
	snprintf(ca, sizeof(ca), "%s/ca.pem", srv.dir);
	setenv("AWS_ENDPOINT_URL_EC2", srv.endpoint, 1);
	setenv("AWS_ENDPOINT_URL_SSM", srv.endpoint, 1);
	setenv("AWS_CA_BUNDLE", ca, 1);
}

static void
stop_region(void)
{
	kill(srv.pid, SIGTERM);
	waitpid(srv.pid, NULL, 0);
	if (getenv("SSMP_KEEP_STATE") == NULL)
		nftw(srv.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Lines of api.log starting with prefix. */
static int
api_calls(const char *prefix)
{
	char path[PATH_MAX], line[1024];
	FILE *f;
	int n = 0;

	snprintf(path, sizeof(path), "%s/api.log", srv.dir);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		n += strncmp(line, prefix, strlen(prefix)) == 0;
	fclose(f);
	return n;
}

/* Resolves host (default region us-east-1); returns the rc, out and e filled. */
static int
lookup(const char *host, int want_ping, struct resolve_instance *out, struct err *e)
{
	struct creds c = { .access_key_id = (char *)AK, .secret_access_key = (char *)SK };
	struct awsapi_opts ao;
	struct awsapi *api = NULL;
	struct resolve_host h;
	struct resolve_opts o;
	int r;

	err_clear(e);
	assert_int_equal(resolve_parse(host, known_profile, NULL, &h, e), 0);
	memset(&ao, 0, sizeof(ao));
	ao.region = h.region[0] ? h.region : "us-east-1";
	ao.creds = &c;
	ao.max_attempts = 1;
	assert_int_equal(awsapi_new(&api, &ao, e), 0);
	memset(&o, 0, sizeof(o));
	o.api = api;
	o.region = ao.region;
	o.profile = h.profile[0] ? h.profile : "default";
	o.want_ping = want_ping;
	r = resolve_lookup(&o, &h, out, e);
	awsapi_free(api);
	return r;
}

static void
expect_id(const char *host, const char *id)
{
	struct resolve_instance in;
	struct err e;

	if (lookup(host, 0, &in, &e) != 0)
		fail_msg("%s: %s", host, e.msg);
	if (strcmp(in.id, id) != 0)
		fail_msg("%s resolved to %s, want %s", host, in.id, id);
}

static void
expect_error(const char *host, int code, const char *const *needles)
{
	struct resolve_instance in;
	struct err e;
	int r = lookup(host, 0, &in, &e);

	if (r != code)
		fail_msg("%s: rc %d (%s), want %d", host, r, e.msg, code);
	for (; *needles; needles++)
		if (strstr(e.msg, *needles) == NULL)
			fail_msg("%s: message '%s' lacks '%s'", host, e.msg, *needles);
}

static void
test_lookup_forms(void **state)
{
	int before;

	(void)state;
	/* Name tag; the same name in other regions via qualifiers. */
	expect_id("web-1", "i-0123456789abcdef0");
	expect_id("web-1.eu-west-1", "i-0bbbbbbbbbbbbbbb1");
	expect_id("web-1.ap-southeast-2", "i-0ccccccccccccccc1");
	expect_id("web-1.ap-southeast-2.other", "i-0ccccccccccccccc1");
	/* Any tag; private and public addresses, qualified too. */
	expect_id("Role=bastion", "i-0aaaaaaaaaaaaaaa9");
	expect_id("10.0.9.9", "i-0aaaaaaaaaaaaaaa9");
	expect_id("54.0.0.9", "i-0aaaaaaaaaaaaaaa9");
	expect_id("10.1.3.7.eu-west-1", "i-0bbbbbbbbbbbbbbb1");
	/* ssh lowercases: exact first, then any case. */
	expect_id("web-caps", "i-0aaaaaaaaaaaaaaa7");
	/* A dotted Name tag; a DNS name resolving to an instance's address. */
	expect_id("app.prod", "i-0aaaaaaaaaaaaaaa8");
	expect_id("127.1", "i-0aaaaaaaaaaaaab06");
	/* Two running "api", one Online: that one. */
	expect_id("api", "i-0aaaaaaaaaaaaaaa2");
	/* Ids need no call. */
	before = api_calls("");
	expect_id("I-0ABC1234.eu-west-1", "i-0abc1234");
	assert_int_equal(api_calls(""), before);
}

static void
test_lookup_paging(void **state)
{
	int di, dii;

	(void)state;
	/* Five running workers, two per page, one Online (on the last page of
	 * both DescribeInstances and DescribeInstanceInformation). */
	di = api_calls("DescribeInstances 200");
	dii = api_calls("DescribeInstanceInformation 200");
	expect_id("Role=worker", "i-0aaaaaaaaaaaaab05");
	assert_int_equal(api_calls("DescribeInstances 200") - di, 3);
	assert_int_equal(api_calls("DescribeInstanceInformation 200") - dii, 3);
}

static void
test_lookup_errors(void **state)
{
	static const char *const amb[] = { "2 running instances have tag Name=db in us-east-1",
		"i-0aaaaaaaaaaaaaaa4 (db, 10.0.5.1, running, Online)",
		"i-0aaaaaaaaaaaaaaa5 (db, 10.0.5.2, running, Online)", NULL };
	static const char *const many[] = { "2 running instances have tag Role=web", NULL };
	static const char *const none[] = { "no running instance has tag Name=nothere in us-east-1 "
		"(profile default)", NULL };
	static const char *const stopped[] = { "tag Name=old-box",
		"i-0aaaaaaaaaaaaaaa6 (old-box) is stopped", NULL };
	static const char *const stopped_eu[] = { "in eu-west-1",
		"i-0bbbbbbbbbbbbbbb2 (web-9) is stopped", NULL };
	static const char *const other_region[] = { "tag Name=web-9 in us-east-1", NULL };
	static const char *const noip[] = { "address 10.9.9.9 in us-east-1", NULL };
	static const char *const profile[] = { "(profile other)", "in eu-west-1", NULL };

	(void)state;
	expect_error("db", E_INVAL, amb);
	expect_error("Role=web.us-east-1", E_INVAL, many);
	expect_error("nothere", E_NOTFOUND, none);
	expect_error("old-box", E_NOTFOUND, stopped);
	expect_error("web-9.eu-west-1", E_NOTFOUND, stopped_eu);
	expect_error("web-9", E_NOTFOUND, other_region);
	expect_error("10.9.9.9", E_NOTFOUND, noip);
	expect_error("nothere.eu-west-1.other", E_NOTFOUND, profile);
}

static void
test_lookup_details(void **state)
{
	struct resolve_instance in;
	struct err e;

	(void)state;
	assert_int_equal(lookup("i-0aaaaaaaaaaaaaaa3", 1, &in, &e), 0);
	assert_string_equal(in.id, "i-0aaaaaaaaaaaaaaa3");
	assert_string_equal(in.name, "api");
	assert_string_equal(in.private_ip, "10.0.4.2");
	assert_string_equal(in.state, "running");
	assert_string_equal(in.ping, "ConnectionLost");
	assert_int_equal(lookup("web-1", 1, &in, &e), 0);
	assert_string_equal(in.public_ip, "54.0.0.7");
	assert_string_equal(in.ping, "Online");
}

static void
test_wrong_region_signature(void **state)
{
	struct creds c = { .access_key_id = (char *)AK, .secret_access_key = (char *)SK };
	struct awsapi_opts ao;
	struct awsapi *api = NULL;
	struct awsapi_param p[] = { { "MaxResults", "5" } };
	struct err e;
	xmlDoc *doc = NULL;

	(void)state;
	/* A region the fake does not serve cannot be signed for. */
	memset(&ao, 0, sizeof(ao));
	ao.region = "sa-east-1";
	ao.creds = &c;
	ao.max_attempts = 1;
	err_clear(&e);
	assert_int_equal(awsapi_new(&api, &ao, &e), 0);
	assert_int_equal(awsapi_query(api, "ec2", "DescribeInstances", "2016-11-15", p, 1, &doc, &e),
	                 E_AWS);
	assert_non_null(strstr(e.msg, "InvalidSignatureException"));
	/* An unknown filter is the EC2 error, passed on. */
	ao.region = "eu-west-1";
	awsapi_free(api);
	assert_int_equal(awsapi_new(&api, &ao, &e), 0);
	{
		struct awsapi_param q[] = { { "Filter.1.Name", "color" }, { "Filter.1.Value.1", "x" } };
		assert_int_equal(awsapi_query(api, "ec2", "DescribeInstances", "2016-11-15", q, 2,
		                              &doc, &e), E_AWS);
		assert_non_null(strstr(e.msg, "InvalidParameterValue"));
	}
	awsapi_free(api);
}

static int
setup_region(void **state)
{
	(void)state;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	start_region();
	return 0;
}

static int
teardown_region(void **state)
{
	(void)state;
	stop_region();
	curl_global_cleanup();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest offline[] = {
		cmocka_unit_test(test_region_like),
		cmocka_unit_test(test_table_in_process),
		cmocka_unit_test(test_table_program),
		cmocka_unit_test(test_cache),
	};
	const struct CMUnitTest online[] = {
		cmocka_unit_test(test_lookup_forms),
		cmocka_unit_test(test_lookup_paging),
		cmocka_unit_test(test_lookup_errors),
		cmocka_unit_test(test_lookup_details),
		cmocka_unit_test(test_wrong_region_signature),
	};
	int fails = cmocka_run_group_tests_name("resolve", offline, NULL, NULL);

	return fails + cmocka_run_group_tests_name("lookup", online, setup_region, teardown_region);
}
