/*
 * test_awsapi.c: the AWS API client against the fake region: signed
 * StartSession accepted, a wrong secret rejected with a clear error,
 * throttling retried, endpoint selection, network and TLS failures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "awsapi.h"
#include "creds.h"

#define AK "AKIDFAKEREGION"
#define SK "fakeregion/secret/key/for/tests/only0000"

struct region {
	pid_t pid;
	char dir[256];
	char port[16];
};

static void
rm_rf(const char *dir)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

/* Starts the fake region with extra switches; waits for its port file. */
static void
region_start(struct region *r, const char *const *extra)
{
	const char *bin = getenv("FAKEREGION");
	char path[512], ca[512], url[128];
	const char *argv[32];
	size_t n = 0;

	assert_non_null(bin);
	snprintf(r->dir, sizeof(r->dir), "/tmp/ssmp-awsapi.XXXXXX");
	assert_non_null(mkdtemp(r->dir));
	argv[n++] = bin;
	argv[n++] = "--state-dir";
	argv[n++] = r->dir;
	argv[n++] = "--target";
	argv[n++] = "127.0.0.1:9";
	argv[n++] = "--access-key";
	argv[n++] = AK;
	argv[n++] = "--secret-key";
	argv[n++] = SK;
	for (size_t i = 0; extra != NULL && extra[i] != NULL && n < 30; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	r->pid = fork();
	assert_true(r->pid >= 0);
	if (r->pid == 0) {
		char logf[512];
		/* A failed assertion skips region_stop: the region must not
		 * outlive the test and keep ctest waiting on its output. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		snprintf(logf, sizeof(logf), "%s/log", r->dir);
		if (freopen(logf, "w", stderr) == NULL)
			_exit(127);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	snprintf(path, sizeof(path), "%s/port", r->dir);
	for (int i = 0; i < 400; i++) {
		FILE *f = fopen(path, "r");
		if (f != NULL) {
			if (fgets(r->port, sizeof(r->port), f) != NULL) {
				r->port[strcspn(r->port, "\r\n")] = '\0';
				fclose(f);
				break;
			}
			fclose(f);
		}
		struct timespec ts = { 0, 25 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	assert_true(r->port[0] != '\0');
	snprintf(url, sizeof(url), "https://127.0.0.1:%s", r->port);
	snprintf(ca, sizeof(ca), "%s/ca.pem", r->dir);
	setenv("AWS_ENDPOINT_URL_SSM", url, 1);
	setenv("AWS_CA_BUNDLE", ca, 1);
}

static void
region_stop(struct region *r)
{
	int st;

	kill(r->pid, SIGTERM);
	waitpid(r->pid, &st, 0);
	rm_rf(r->dir);
	unsetenv("AWS_ENDPOINT_URL_SSM");
	unsetenv("AWS_CA_BUNDLE");
}

/*
 * Counts lines of the region's api.log ("OPERATION STATUS DETAIL") for op
 * with status (NULL: any). Fields, not substrings: a random session id in
 * the detail may well contain "429".
 */
static int
api_log_count(const struct region *r, const char *op, const char *status)
{
	char path[512], line[1024], f1[128], f2[32];
	FILE *f;
	int n = 0;

	snprintf(path, sizeof(path), "%s/api.log", r->dir);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "%127s %31s", f1, f2) == 2 && strcmp(f1, op) == 0 &&
		    (status == NULL || strcmp(f2, status) == 0))
			n++;
	fclose(f);
	return n;
}

static struct awsapi *
client(const char *secret)
{
	static struct creds c; /* outlives the client in each test */
	struct awsapi_opts o;
	struct awsapi *api = NULL;
	struct err e = { 0, "" };

	memset(&c, 0, sizeof(c));
	c.access_key_id = (char *)AK;
	c.secret_access_key = (char *)secret;
	memset(&o, 0, sizeof(o));
	o.region = "us-east-1";
	o.creds = &c;
	o.connect_timeout_ms = 2000;
	o.timeout_ms = 5000;
	assert_int_equal(awsapi_new(&api, &o, &e), 0);
	return api;
}

static void
test_start_session_accepted(void **state)
{
	struct region r = { 0 };
	struct ssm_session s;
	struct err e = { 0, "" };
	struct awsapi *api;
	char prefix[128];

	(void)state;
	region_start(&r, NULL);
	api = client(SK);
	assert_int_equal(awsapi_start_session(api, "i-0123456789abcdef0", 22, &s, &e), 0);
	assert_non_null(s.session_id);
	assert_true(strlen(s.token_value) > 0);
	snprintf(prefix, sizeof(prefix), "wss://127.0.0.1:%s/v1/data-channel/%s", r.port, s.session_id);
	assert_memory_equal(s.stream_url, prefix, strlen(prefix));
	assert_int_equal(awsapi_terminate_session(api, s.session_id, &e), 0);
	awsapi_session_free(&s);
	assert_int_equal(api_log_count(&r, "StartSession", "200"), 1);
	assert_int_equal(api_log_count(&r, "TerminateSession", "200"), 1);
	awsapi_free(api);
	region_stop(&r);
}

static void
test_wrong_secret_rejected(void **state)
{
	struct region r = { 0 };
	struct ssm_session s;
	struct err e = { 0, "" };
	struct awsapi *api;

	(void)state;
	region_start(&r, NULL);
	api = client("not-the-right-secret");
	assert_int_equal(awsapi_start_session(api, "i-0123456789abcdef0", 22, &s, &e), E_AWS);
	assert_non_null(strstr(e.msg, "StartSession failed: InvalidSignatureException"));
	assert_null(strchr(e.msg, '\n'));
	assert_null(strstr(e.msg, "not-the-right-secret"));
	/* Not retried: a bad signature will not get better. */
	assert_int_equal(api_log_count(&r, "StartSession", NULL), 1);
	awsapi_free(api);
	region_stop(&r);
}

static void
test_throttle_then_success(void **state)
{
	static const char *const extra[] = { "--throttle", "1:429", NULL };
	struct region r = { 0 };
	struct ssm_session s;
	struct err e = { 0, "" };
	struct awsapi *api;

	(void)state;
	region_start(&r, extra);
	api = client(SK);
	assert_int_equal(awsapi_start_session(api, "i-0123456789abcdef0", 22, &s, &e), 0);
	awsapi_session_free(&s);
	assert_int_equal(api_log_count(&r, "StartSession", "429"), 1);
	assert_int_equal(api_log_count(&r, "StartSession", "200"), 1);
	awsapi_free(api);
	region_stop(&r);
}

static void
test_throttle_gives_up(void **state)
{
	static const char *const extra[] = { "--throttle", "5", NULL };
	struct region r = { 0 };
	struct ssm_session s;
	struct err e = { 0, "" };
	struct awsapi *api;

	(void)state;
	region_start(&r, extra);
	api = client(SK);
	assert_int_equal(awsapi_start_session(api, "i-0123456789abcdef0", 22, &s, &e), E_AWS);
	assert_non_null(strstr(e.msg, "ThrottlingException"));
	assert_int_equal(api_log_count(&r, "StartSession", NULL), AWSAPI_MAX_ATTEMPTS);
	awsapi_free(api);
	region_stop(&r);
}

static void
test_resume_and_errors(void **state)
{
	struct region r = { 0 };
	struct ssm_session s, s2;
	struct err e = { 0, "" };
	struct awsapi *api;

	(void)state;
	region_start(&r, NULL);
	api = client(SK);
	assert_int_equal(awsapi_start_session(api, "i-0123456789abcdef0", 2222, &s, &e), 0);
	assert_int_equal(awsapi_resume_session(api, s.session_id, &s2, &e), 0);
	assert_string_equal(s2.session_id, s.session_id);
	assert_true(strlen(s2.token_value) > 0);
	awsapi_session_free(&s2);
	awsapi_session_free(&s);
	assert_int_equal(awsapi_resume_session(api, "nosuch-0123456789abcdef0", &s2, &e), E_AWS);
	assert_non_null(strstr(e.msg, "ResumeSession failed: "));
	/* The fake validates the target like the service does. */
	assert_int_equal(awsapi_start_session(api, "web-1", 22, &s, &e), E_AWS);
	assert_non_null(strstr(e.msg, "StartSession failed: "));
	awsapi_free(api);
	region_stop(&r);
}

static void
test_resume_no_token(void **state)
{
	static const char *const extra[] = { "--resume-no-token", NULL };
	struct region r = { 0 };
	struct ssm_session s, s2;
	struct err e = { 0, "" };
	struct awsapi *api;

	(void)state;
	region_start(&r, extra);
	api = client(SK);
	assert_int_equal(awsapi_start_session(api, "i-0123456789abcdef0", 22, &s, &e), 0);
	assert_int_equal(awsapi_resume_session(api, s.session_id, &s2, &e), E_AWS);
	assert_non_null(strstr(e.msg, "timed out"));
	awsapi_session_free(&s);
	awsapi_free(api);
	region_stop(&r);
}

static void
test_offline_target(void **state)
{
	static const char *const extra[] = { "--offline", "i-0abc1234", NULL };
	struct region r = { 0 };
	struct ssm_session s;
	struct err e = { 0, "" };
	struct awsapi *api;

	(void)state;
	region_start(&r, extra);
	api = client(SK);
	assert_int_equal(awsapi_start_session(api, "i-0abc1234", 22, &s, &e), E_AWS);
	assert_non_null(strstr(e.msg, "StartSession failed: TargetNotConnected"));
	awsapi_free(api);
	region_stop(&r);
}

static void
test_tls_needs_the_ca(void **state)
{
	struct region r = { 0 };
	struct ssm_session s;
	struct err e = { 0, "" };
	struct awsapi *api;

	(void)state;
	region_start(&r, NULL);
	unsetenv("AWS_CA_BUNDLE");
	api = client(SK);
	assert_int_equal(awsapi_start_session(api, "i-0123456789abcdef0", 22, &s, &e), E_NET);
	assert_non_null(strstr(e.msg, "cannot reach https://127.0.0.1:"));
	assert_non_null(strstr(e.msg, "certificate"));
	awsapi_free(api);
	region_stop(&r);
}

static void
test_endpoint_down(void **state)
{
	struct ssm_session s;
	struct err e = { 0, "" };
	struct awsapi *api;

	(void)state;
	/* Port 9 (discard) on loopback: nothing listens in a test machine. */
	setenv("AWS_ENDPOINT_URL_SSM", "https://127.0.0.1:9", 1);
	api = client(SK);
	assert_int_equal(awsapi_start_session(api, "i-0123456789abcdef0", 22, &s, &e), E_NET);
	assert_non_null(strstr(e.msg, "StartSession failed: cannot reach https://127.0.0.1:9"));
	awsapi_free(api);
	unsetenv("AWS_ENDPOINT_URL_SSM");
}

static void
test_endpoints(void **state)
{
	struct creds c = { 0 };
	struct awsapi_opts o = { 0 };
	struct awsapi *api = NULL;
	struct err e = { 0, "" };
	char url[256];

	(void)state;
	unsetenv("AWS_ENDPOINT_URL");
	unsetenv("AWS_ENDPOINT_URL_SSM");
	unsetenv("AWS_ENDPOINT_URL_EC2_INSTANCE_CONNECT");
	o.creds = &c;
	o.region = "eu-west-1";
	assert_int_equal(awsapi_new(&api, &o, &e), 0);
	assert_int_equal(awsapi_endpoint(api, "ssm", url, sizeof(url), &e), 0);
	assert_string_equal(url, "https://ssm.eu-west-1.amazonaws.com");
	setenv("AWS_ENDPOINT_URL", "http://localhost:4566/", 1);
	assert_int_equal(awsapi_endpoint(api, "ssm", url, sizeof(url), &e), 0);
	assert_string_equal(url, "http://localhost:4566");
	setenv("AWS_ENDPOINT_URL_SSM", "https://ssm.example.test", 1);
	assert_int_equal(awsapi_endpoint(api, "ssm", url, sizeof(url), &e), 0);
	assert_string_equal(url, "https://ssm.example.test");
	setenv("AWS_ENDPOINT_URL_EC2_INSTANCE_CONNECT", "https://eic.example.test", 1);
	assert_int_equal(awsapi_endpoint(api, "ec2-instance-connect", url, sizeof(url), &e), 0);
	assert_string_equal(url, "https://eic.example.test");
	setenv("AWS_ENDPOINT_URL_SSM", "ftp://x", 1);
	assert_int_equal(awsapi_endpoint(api, "ssm", url, sizeof(url), &e), E_CONFIG);
	assert_non_null(strstr(e.msg, "AWS_ENDPOINT_URL_SSM"));
	unsetenv("AWS_ENDPOINT_URL");
	unsetenv("AWS_ENDPOINT_URL_SSM");
	unsetenv("AWS_ENDPOINT_URL_EC2_INSTANCE_CONNECT");
	awsapi_free(api);

	o.region = "cn-north-1";
	assert_int_equal(awsapi_new(&api, &o, &e), 0);
	assert_int_equal(awsapi_endpoint(api, "ssm", url, sizeof(url), &e), 0);
	assert_string_equal(url, "https://ssm.cn-north-1.amazonaws.com.cn");
	awsapi_free(api);

	assert_true(awsapi_is_throttle("ThrottlingException"));
	assert_true(awsapi_is_throttle("RequestLimitExceeded"));
	assert_false(awsapi_is_throttle("AccessDeniedException"));
	assert_false(awsapi_is_throttle(NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_endpoints),
		cmocka_unit_test(test_endpoint_down),
		cmocka_unit_test(test_start_session_accepted),
		cmocka_unit_test(test_wrong_secret_rejected),
		cmocka_unit_test(test_throttle_then_success),
		cmocka_unit_test(test_throttle_gives_up),
		cmocka_unit_test(test_resume_and_errors),
		cmocka_unit_test(test_resume_no_token),
		cmocka_unit_test(test_offline_target),
		cmocka_unit_test(test_tls_needs_the_ca),
	};

	unsetenv("HTTPS_PROXY");
	unsetenv("https_proxy");
	curl_global_init(CURL_GLOBAL_DEFAULT);
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return r;
}
