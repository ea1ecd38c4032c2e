/*
 * main.c: ssm-proxy, an OpenSSH ProxyCommand that reaches instances
 * through AWS Systems Manager Session Manager.
 *
 * Owns the process-level state: options, the logger, signal handling and
 * the exit status. stdout carries only the remote port's bytes; every
 * message goes to stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "awsapi.h"
#include "bridge.h"
#include "creds.h"
#include "datachannel.h"
#include "log.h"
#include "target.h"
#include "version.h"

#define EXIT_FAIL 255 /* what ssh itself uses for connection failures */

static struct logger logger = { LL_NOTICE, "ssm-proxy", NULL, NULL };
static int signal_pipe[2] = { -1, -1 };

static void
usage(FILE *f)
{
	fprintf(f,
	        "usage: ssm-proxy [-qv] [--region REGION] [--profile PROFILE] [--window N]\n"
	        "                 HOST [PORT]\n"
	        "\n"
	        "Connects stdin/stdout to PORT (default 22) on HOST through AWS Systems\n"
	        "Manager Session Manager. Meant for ssh_config:\n"
	        "    Host i-* mi-*\n"
	        "        ProxyCommand ssm-proxy %%h %%p\n"
	        "\n"
	        "HOST          an instance id (i-0123456789abcdef0) or managed node id (mi-...)\n"
	        "--region R    AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, profile)\n"
	        "--profile P   profile in ~/.aws/config and ~/.aws/credentials (default:\n"
	        "              AWS_PROFILE, else \"default\")\n"
	        "--window N    stream messages in flight before waiting for acks\n"
	        "              (default %d, sized for 50 MB/s at 100 ms round trip)\n"
	        "-v            more detail on stderr (repeat for more)\n"
	        "-q            errors only\n"
	        "--version     print the version and exit\n"
	        "--help        print this help and exit\n",
	        DC_WINDOW_DEFAULT);
}

static void
on_signal(int sig)
{
	int saved = errno;
	char c = (char)sig;

	if (write(signal_pipe[1], &c, 1) < 0) {
		/* The pipe is full: a wake-up is already pending. */
	}
	errno = saved;
}

static int
setup_signals(void)
{
	struct sigaction sa;

	signal(SIGPIPE, SIG_IGN);
	if (pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	return 0;
}

static int
die(const char *msg)
{
	/* Errors are shown even with -q: a failing ProxyCommand must say why. */
	fprintf(stderr, "ssm-proxy: %s\n", msg);
	return EXIT_FAIL;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "region", required_argument, NULL, 'r' },
		{ "profile", required_argument, NULL, 'p' },
		{ "window", required_argument, NULL, 'w' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *region_opt = NULL, *profile_opt = NULL, *ca_file;
	char target[32], *region = NULL, msg[ERR_MSG_MAX + 64];
	struct creds creds;
	struct creds_opts co;
	struct awsapi_opts ao;
	struct awsapi *api = NULL;
	struct ssm_session sess;
	struct bridge_opts bo;
	struct err e = { 0, "" };
	long window = 0;
	int c, port = 22, verbose = 0, quiet = 0, rc = EXIT_FAIL;

	memset(&creds, 0, sizeof(creds));
	memset(&sess, 0, sizeof(sess));
	while ((c = getopt_long(argc, argv, "vqhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'r':
			region_opt = optarg;
			break;
		case 'p':
			profile_opt = optarg;
			break;
		case 'w': {
			char *end;
			errno = 0;
			window = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || window < DC_WINDOW_MIN || window > DC_WINDOW_MAX) {
				snprintf(msg, sizeof(msg), "--window must be a number from %d to %d",
				         DC_WINDOW_MIN, DC_WINDOW_MAX);
				return die(msg);
			}
			break;
		}
		case 'v':
			verbose++;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'V':
			printf("ssm-proxy %s\n", SSMP_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_FAIL;
		}
	}
	logger.level = quiet ? LL_ERROR : LL_NOTICE + verbose;
	if (argc - optind < 1 || argc - optind > 2) {
		usage(stderr);
		return EXIT_FAIL;
	}
	if (target_parse_id(argv[optind], target, sizeof(target)) != 0) {
		snprintf(msg, sizeof(msg),
		         "'%.100s' is not an instance id: use i- or mi- followed by 8 or 17 hex digits",
		         argv[optind]);
		return die(msg);
	}
	if (argc - optind == 2 && (port = target_parse_port(argv[optind + 1])) < 0) {
		snprintf(msg, sizeof(msg), "'%.40s' is not a port number (1-65535)", argv[optind + 1]);
		return die(msg);
	}

	if (setup_signals() != 0)
		return die("cannot set up signal handling");
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		return die("cannot initialise libcurl");

	if (creds_region(&region, region_opt, profile_opt, &e) != 0)
		goto fail;
	memset(&co, 0, sizeof(co));
	co.profile = profile_opt;
	co.log = &logger;
	if (creds_resolve(&creds, &co, &e) != 0)
		goto fail;
	log_verbose(&logger, "region %s, credentials from %s", region, creds.source);

	/* One CA bundle for the API calls and the data channel alike. */
	ca_file = getenv("AWS_CA_BUNDLE");
	if (ca_file != NULL && *ca_file == '\0')
		ca_file = NULL;
	memset(&ao, 0, sizeof(ao));
	ao.ca_file = ca_file;
	ao.region = region;
	ao.creds = &creds;
	ao.log = &logger;
	if (awsapi_new(&api, &ao, &e) != 0)
		goto fail;
	if (awsapi_start_session(api, target, (unsigned)port, &sess, &e) != 0)
		goto fail;
	log_verbose(&logger, "session %s started for %s port %d", sess.session_id, target, port);

	memset(&bo, 0, sizeof(bo));
	bo.session_id = sess.session_id;
	bo.stream_url = sess.stream_url;
	bo.token = sess.token_value;
	bo.ca_file = ca_file;
	bo.window = (size_t)window;
	bo.connect_timeout_ms = 15000;
	bo.signal_fd = signal_pipe[0];
	bo.api = api;
	bo.log = &logger;
	if (bridge_run(&bo, &e) != 0)
		goto fail;
	rc = 0;
	goto out;

fail:
	die(e.msg[0] ? e.msg : err_str(e.code));
out:
	awsapi_session_free(&sess);
	awsapi_free(api);
	creds_free(&creds);
	free(region);
	curl_global_cleanup();
	return rc;
}
