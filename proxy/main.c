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
#include <sys/prctl.h>
#include <unistd.h>

#include <curl/curl.h>

#include "awsapi.h"
#include "awscfg.h"
#include "bridge.h"
#include "creds.h"
#include "datachannel.h"
#include "eice.h"
#include "log.h"
#include "hostres.h"
#include "mux.h"
#include "target.h"
#include "version.h"
#include "ws.h"

#define EXIT_FAIL 255 /* what ssh itself uses for connection failures */

enum { OPT_MATCH = 1000, OPT_RESOLVE, OPT_NO_CACHE, OPT_SSMMESSAGES, OPT_NO_EARLY };

static struct logger logger = { LL_NOTICE, "ssm-proxy", NULL, NULL, 0 };
static int signal_pipe[2] = { -1, -1 };

/* What awsapi needs to renew expiring credentials in place. */
struct refresher {
	struct creds *creds;
	const struct creds_opts *co;
};

/* Resolves the chain again (cache first) and swaps the result in. */
static int
refresh_creds(void *arg, struct err *e)
{
	struct refresher *rf = arg;
	struct creds fresh;
	int r;

	if ((r = creds_resolve(&fresh, rf->co, e)) != 0)
		return r;
	creds_free(rf->creds);
	*rf->creds = fresh;
	return 0;
}

static void
usage(FILE *f)
{
	fprintf(f,
	        "usage: ssm-proxy [-qv] [--region REGION] [--profile PROFILE] [--window N]\n"
	        "                 [--no-cache] HOST [PORT]\n"
	        "       ssm-proxy [-v] [--no-cache] --resolve HOST\n"
	        "       ssm-proxy --match HOST\n"
	        "\n"
	        "Connects stdin/stdout to PORT (default 22) on HOST through AWS Systems\n"
	        "Manager Session Manager. Meant for ssh_config:\n"
	        "    Host i-* mi-*\n"
	        "        ProxyCommand ssm-proxy %%h %%p\n"
	        "\n"
	        "HOST          an instance or managed node id (i-0123456789abcdef0, mi-...), a\n"
	        "              Name tag (web-1), a tag (Role=web), an IPv4 address or a DNS\n"
	        "              name; .REGION or .REGION.PROFILE may follow (see ssm-proxy(1))\n"
	        "--resolve     print the instance id HOST stands for (-v: details); no session\n"
	        "--match HOST  exit 0 if ssm-proxy handles HOST, else 1 (for Match exec)\n"
	        "--no-cache    look HOST up even if it was resolved a moment ago\n"
	        "--region R    AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, profile)\n"
	        "--profile P   profile in ~/.aws/config and ~/.aws/credentials (default:\n"
	        "              AWS_PROFILE, else \"default\")\n"
	        "--ssmmessages-endpoint URL  send the data channel there (a PrivateLink\n"
	        "              ssmmessages endpoint; default AWS_ENDPOINT_URL_SSMMESSAGES)\n"
	        "--window N    at most N stream messages in flight before waiting for\n"
	        "              acks (default %d, sized for 50 MB/s at 100 ms round trip;\n"
	        "              fewer while the path needs fewer)\n"
	        "--no-early-connect  open the data channel only once StartSession has\n"
	        "              answered, not while it is in flight\n"
	        "--resume-timeout S  keep resuming a lost data channel for S seconds\n"
	        "              (default %d; 0: never resume)\n"
	        "--keepalive S ping after S seconds of silence; as long again without an\n"
	        "              answer means the path is dead (default %d)\n"
	        EICE_USAGE
	        "-v            more detail on stderr (repeat for more)\n"
	        "-q            errors only\n"
	        "--version     print the version and exit\n"
	        "--help        print this help and exit\n",
	        DC_WINDOW_DEFAULT, BRIDGE_RESUME_DEFAULT_MS / 1000, BRIDGE_KEEPALIVE_DEFAULT_MS / 1000);
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

/*
 * Opens the data channel's TCP+TLS connection while StartSession is in
 * flight, to where its StreamUrl will most likely point, and makes the API
 * calls run in *mux so both move at once (also for resumes). Any failure
 * here only costs the head start.
 */
static void
connect_early(struct awsapi *api, const char *ca_file, int timeout_ms, struct mux **mux,
              struct ws_pre **pre)
{
	struct ws_opts wo;
	struct err e = { 0, "" };
	char origin[1200];

	if (mux_new(mux, &e) != 0) {
		log_debug(&logger, "no early data channel connection: %s", e.msg);
		return;
	}
	awsapi_set_mux(api, *mux);
	memset(&wo, 0, sizeof(wo));
	wo.ca_file = ca_file;
	wo.connect_timeout_ms = timeout_ms;
	wo.lg = &logger;
	if (awsapi_stream_origin(api, origin, sizeof(origin), &e) != 0 ||
	    ws_pre_start(pre, *mux, origin, &wo, &e) != 0)
		log_debug(&logger, "no early data channel connection: %s", e.msg);
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
		{ "resume-timeout", required_argument, NULL, 'R' },
		{ "keepalive", required_argument, NULL, 'K' },
		{ "match", required_argument, NULL, OPT_MATCH },
		{ "resolve", no_argument, NULL, OPT_RESOLVE },
		{ "no-cache", no_argument, NULL, OPT_NO_CACHE },
		{ "no-early-connect", no_argument, NULL, OPT_NO_EARLY },
		{ "ssmmessages-endpoint", required_argument, NULL, OPT_SSMMESSAGES },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		EICE_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	const char *region_opt = NULL, *profile_opt = NULL, *ca_file, *ssmmessages_opt = NULL;
	struct awscfg cfg;
	struct refresher rf;
	struct resolve_host host;
	struct resolve_instance inst;
	struct hostres_opts ho;
	int resolve_only = 0, no_cache = 0, no_early = 0;
	char target[32], *region = NULL, msg[ERR_MSG_MAX + 64];
	struct creds creds;
	struct creds_opts co;
	struct awsapi_opts ao;
	struct awsapi *api = NULL;
	struct ssm_session sess;
	struct bridge_opts bo;
	struct mux *mux = NULL;
	struct ws_pre *pre = NULL;
	struct eice_cli eic;
	struct err e = { 0, "" };
	long window = 0, resume_s = -1, keepalive_s = 0;
	int c, port = 22, verbose = 0, quiet = 0, rc = EXIT_FAIL;

	logger.t0_us = log_now_us();
	memset(&creds, 0, sizeof(creds));
	memset(&sess, 0, sizeof(sess));
	memset(&eic, 0, sizeof(eic));
	memset(&cfg, 0, sizeof(cfg));
	opterr = 0; /* one line of our own below instead of getopt's and the usage */
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
		case 'R':
		case 'K': {
			char *end;
			long v;
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || v < (c == 'R' ? 0 : 1) || v > 86400) {
				snprintf(msg, sizeof(msg), "--%s must be a number of seconds from %d to 86400",
				         c == 'R' ? "resume-timeout" : "keepalive", c == 'R' ? 0 : 1);
				return die(msg);
			}
			if (c == 'R')
				resume_s = v;
			else
				keepalive_s = v;
			break;
		}
		case OPT_MATCH:
			/* Before anything else: ssh runs this for every host it is given. */
			return hostres_match_status(optarg);
		case OPT_RESOLVE:
			resolve_only = 1;
			break;
		case OPT_NO_EARLY:
			no_early = 1;
			break;
		case OPT_NO_CACHE:
			no_cache = 1;
			break;
		case OPT_SSMMESSAGES:
			ssmmessages_opt = optarg;
			break;
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
		case EICE_OPT_PUSH_KEY:
		case EICE_OPT_USER:
		case EICE_OPT_KEY:
		case EICE_OPT_VIA:
		case EICE_OPT_ID:
			if (eice_option(&eic, c, optarg, msg, sizeof(msg)) != 0)
				return die(msg);
			break;
		default:
			/* A failing ProxyCommand prints one line; --help has the rest. */
			snprintf(msg, sizeof(msg), "bad option '%.60s' (unknown, or its value is "
			         "missing): see ssm-proxy --help", optind > 1 ? argv[optind - 1] : "?");
			return die(msg);
		}
	}
	logger.level = quiet ? LL_ERROR : LL_NOTICE + verbose;
	if (argc - optind < 1 || argc - optind > 2)
		return die("expected HOST [PORT] after the options: see ssm-proxy --help");
	if (resolve_parse(argv[optind], resolve_profile_in_files, NULL, &host, &e) != 0)
		return die(e.msg);
	/* Qualifiers in the host name are more specific than the options. */
	if (host.region[0] != '\0')
		region_opt = host.region;
	if (host.profile[0] != '\0')
		profile_opt = host.profile;
	if (resolve_only && host.kind == RESOLVE_ID && !verbose) {
		printf("%s\n", host.value);
		return 0;
	}
	if (argc - optind == 2 && (port = target_parse_port(argv[optind + 1])) < 0) {
		snprintf(msg, sizeof(msg), "'%.40s' is not a port number (1-65535)", argv[optind + 1]);
		return die(msg);
	}

	if (eice_check(&eic, NULL, msg, sizeof(msg)) != 0)
		return die(msg);

	/*
	 * stdin/stdout are the connection ssh gave us. If one is closed, the
	 * next descriptor opened (a TLS socket) would take its number and
	 * remote bytes would go there: refuse to start instead.
	 */
	if (fcntl(STDIN_FILENO, F_GETFD) < 0 || fcntl(STDOUT_FILENO, F_GETFD) < 0)
		return die("standard input or output is closed: ssm-proxy is meant to be ssh's "
		           "ProxyCommand");
	/* Keys and tokens live in this process's memory: no core dumps, no
	 * ptrace by other processes of the same user. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

	if (setup_signals() != 0)
		return die("cannot set up signal handling");
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		return die("cannot initialise libcurl");

	if (creds_region(&region, region_opt, profile_opt, &e) != 0)
		goto fail;
	if (awscfg_load(&cfg, profile_opt, &e) != 0)
		goto fail;
	memset(&co, 0, sizeof(co));
	co.profile = profile_opt;
	co.log = &logger;
	co.region = region;
	co.cfg = &cfg;
	if (creds_resolve(&creds, &co, &e) != 0)
		goto fail;
	log_verbose(&logger, "region %s, credentials from %s", region, creds.source);

	/* One CA bundle (AWS_CA_BUNDLE, else the profile's ca_bundle) for the
	 * API calls and the data channel alike. */
	ca_file = awscfg_ca_bundle(&cfg);
	memset(&ao, 0, sizeof(ao));
	ao.cfg = &cfg;
	ao.ssmmessages_endpoint = ssmmessages_opt;
	rf.creds = &creds;
	rf.co = &co;
	ao.refresh = refresh_creds;
	ao.refresh_arg = &rf;
	ao.ca_file = ca_file;
	ao.region = region;
	ao.creds = &creds;
	ao.log = &logger;
	if (awsapi_new(&api, &ao, &e) != 0)
		goto fail;
	memset(&ho, 0, sizeof(ho));
	ho.host = &host;
	ho.api = api;
	ho.region = region;
	ho.profile = creds_profile_name(profile_opt);
	ho.no_cache = no_cache;
	ho.want_details = resolve_only && verbose;
	ho.log = &logger;
	if (hostres_resolve(&ho, &inst, &e) != 0)
		goto fail;
	if (resolve_only) {
		hostres_print(stdout, &inst, region, ho.profile, verbose);
		rc = fflush(stdout) == 0 ? 0 : EXIT_FAIL;
		goto out;
	}
	snprintf(target, sizeof(target), "%s", inst.id);
	if (eice_check(&eic, target, msg, sizeof(msg)) != 0) {
		err_set(&e, E_CONFIG, "%s", msg);
		goto fail;
	}
	/* EC2 Instance Connect: the key lives 60 s, so push it right before connecting. */
	if (eic.push_key && eice_push_key(api, target, eic.user, eic.key_file, &logger, &e) != 0)
		goto fail;
	if (eic.via_eice) {
		struct eice_opts eo = {
			.api = api, .creds = &creds, .region = region, .instance_id = target,
			.port = (unsigned)port, .endpoint_id = eic.endpoint_id, .ca_file = ca_file,
			.connect_timeout_ms = 15000, .signal_fd = signal_pipe[0], .log = &logger,
		};
		if (eice_run(&eo, &e) != 0)
			goto fail;
		rc = 0;
		goto out;
	}
	if (!no_early)
		connect_early(api, ca_file, 15000, &mux, &pre);
	if (awsapi_start_session(api, target, (unsigned)port, &sess, &e) != 0)
		goto fail;
	log_verbose(&logger, "session %s started for %s port %d", sess.session_id, target, port);

	memset(&bo, 0, sizeof(bo));
	bo.session_id = sess.session_id;
	bo.stream_url = sess.stream_url;
	bo.token = sess.token_value;
	bo.ca_file = ca_file;
	bo.window = (size_t)window;
	bo.resume_timeout_ms = resume_s < 0 ? 0 : resume_s == 0 ? -1 : (int)(resume_s * 1000);
	bo.keepalive_ms = (int)(keepalive_s * 1000);
	bo.connect_timeout_ms = 15000;
	bo.signal_fd = signal_pipe[0];
	bo.api = api;
	bo.log = &logger;
	bo.mux = mux;
	bo.pre = pre;
	pre = NULL; /* the bridge's now */
	if (bridge_run(&bo, &e) != 0)
		goto fail;
	rc = 0;
	goto out;

fail:
	die(e.msg[0] ? e.msg : err_str(e.code));
out:
	ws_pre_free(pre);
	awsapi_session_free(&sess);
	if (api != NULL)
		awsapi_set_mux(api, NULL);
	mux_free(mux);
	awsapi_free(api);
	creds_free(&creds);
	awscfg_free(&cfg);
	free(region);
	curl_global_cleanup();
	return rc;
}
