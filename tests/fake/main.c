/*
 * main.c: fakeregion, a fake SSM region on 127.0.0.1 for tests and demos.
 *
 * One listening socket serves the SSM API and the data-channel gateway;
 * every accepted connection is handled by its own child process. See
 * usage() and README.md for the options and the state directory.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "region.h"
#include "server.h"
#include "state.h"
#include "testca.h"
#include "inventory.h"
#include "fakecreds.h"

#define KILL_WAIT_MS 2000

/* Process-level state of the program (never in the libraries). */
static struct region region;
static struct logger logger = { .level = LL_NOTICE, .prefix = "fakeregion" };
static char log_prefix[64];
static struct testca *ca;
static volatile sig_atomic_t stopping;
static pid_t *children;
static size_t nchildren, children_cap;
static struct inventory *inventory; /* --inventory; read-only once loaded */

static void
usage(FILE *out)
{
	fprintf(out,
"usage: fakeregion --state-dir DIR --target HOST:PORT [options]\n"
"\n"
"A fake AWS SSM region on 127.0.0.1: the SSM API (StartSession, ResumeSession,\n"
"TerminateSession; SigV4 verified), the data-channel gateway and the agent,\n"
"which relays each session to the TCP target HOST:PORT. It writes DIR/ca.pem\n"
"(TLS mode) and then DIR/port, and serves until SIGTERM or SIGINT.\n"
"\n"
"  --state-dir DIR          files shared by the server's processes and tests\n"
"  --target HOST:PORT       what the agent connects to for every session\n"
"  --port N                 listening port (default 0: any free port)\n"
"  --access-key AK          accepted access key id (default %s)\n"
"  --secret-key SK          its secret key (default: a fixed test secret)\n"
"  --region R               signing region (default %s)\n"
"  --plain                  http:// and ws:// instead of https:// and wss://\n"
"  --inventory FILE         instances (JSON, several regions) for EC2\n"
"                           DescribeInstances and SSM DescribeInstanceInformation\n"
"  -v, --verbose            more log output on stderr (repeatable)\n"
"  -q, --quiet              errors only\n"
"  -h, --help               this text\n"
"\n"
"Faults:\n"
"  --drop-after BYTES[:COUNT]  cut the websocket abruptly once BYTES of output\n"
"                           stream payload went out on it; COUNT times in total\n"
"                           (default 1) across sessions and reconnects\n"
"  --duplicate N            send every Nth output data message twice\n"
"  --reorder N              send every Nth output data message after the next\n"
"  --withhold-ack N         do not send every Nth acknowledgement\n"
"  --pause MS               once, after some output: pause_publication, then\n"
"                           start_publication MS later\n"
"  --pace                   agent output like the real agent: 1024 bytes, 1 ms\n"
"  --trust-digests          leave client payload digests unchecked, as the real\n"
"                           agent does (the benchmark; tests keep the check)\n"
"  --throttle N[:STATUS]    the first N API calls answer ThrottlingException\n"
"                           with HTTP STATUS (400, the default, or 429)\n"
"  --resume-no-token        ResumeSession answers an empty TokenValue\n"
"  --refuse-target          the agent acts as if the target refused\n"
"  --offline I-ID           StartSession for that target: TargetNotConnected\n"
"                           (repeatable)\n"
"  --drop-mode MODE         how --drop-after cuts: rst (default), close1001 (a\n"
"                           going-away close frame) or blackhole (the path goes\n"
"                           silent: no data, no pongs, TCP left open)\n"
"  --drop-input             client input bytes count for --drop-after too\n"
"  --close-after BYTES      end the session with channel_closed once BYTES of\n"
"                           stream payload (both ways) moved\n"
"  --throttle-resume N      the first N ResumeSession calls answer\n"
"                           ThrottlingException\n"
"  --api-down-after N[:COUNT]  after N API calls, the next COUNT calls (default:\n"
"                           all) get the connection closed without an answer\n"
"  --public-port N          port named in StreamUrl (e.g. a relay in front)\n"
"  --eic                    EC2 Instance Connect inventory: DescribeInstances\n"
"                           puts every instance in one VPC with endpoints\n"
"  --no-eic I-ID            that instance cannot use EC2 Instance Connect\n"
"                           (repeatable)\n"
"  --deny OPERATION         answer AccessDenied to that operation (repeatable)\n"
"  --clock-skew SECONDS     the API's clock (signature check, Date) runs this far ahead\n"
"  --hostile MODE           misbehave for the bad-input tests; modes in hostile.h\n"
"                           (repeatable)\n",
		REGION_DEFAULT_AK, REGION_DEFAULT_REGION);
}

/* Parses a decimal number in [min, max]; returns 0 or -1. */
static int
parse_num(const char *s, unsigned long long min, unsigned long long max,
	  unsigned long long *out)
{
	char *end;
	unsigned long long v;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Splits "A:B" (B optional) into two numbers; returns 0 or -1. */
static int
parse_pair(const char *s, unsigned long long amin, unsigned long long amax,
	   unsigned long long *a, unsigned long long bmin, unsigned long long bmax,
	   unsigned long long *b)
{
	char tmp[64], *colon;

	if (strlen(s) >= sizeof(tmp))
		return -1;
	strcpy(tmp, s);
	colon = strchr(tmp, ':');
	if (colon != NULL) {
		*colon = '\0';
		if (parse_num(colon + 1, bmin, bmax, b) < 0)
			return -1;
	}
	return parse_num(tmp, amin, amax, a);
}

static int
parse_target(const char *s, struct region *r)
{
	const char *colon = strrchr(s, ':');
	unsigned long long port;
	size_t hl;

	if (colon == NULL || parse_num(colon + 1, 1, 65535, &port) < 0)
		return -1;
	hl = (size_t)(colon - s);
	if (s[0] == '[' && hl >= 2 && s[hl - 1] == ']') { /* [::1]:22 */
		s++;
		hl -= 2;
	}
	if (hl == 0 || hl >= sizeof(r->target_host))
		return -1;
	memcpy(r->target_host, s, hl);
	r->target_host[hl] = '\0';
	r->target_port = (uint16_t)port;
	return 0;
}

enum {
	OPT_STATE_DIR = 256, OPT_TARGET, OPT_PORT, OPT_AK, OPT_SK, OPT_REGION, OPT_PLAIN,
	OPT_DROP_AFTER, OPT_DUPLICATE, OPT_REORDER, OPT_WITHHOLD_ACK, OPT_PAUSE, OPT_PACE,
	OPT_TRUST_DIGESTS,
	OPT_THROTTLE, OPT_RESUME_NO_TOKEN, OPT_REFUSE_TARGET, OPT_OFFLINE,
	OPT_DROP_MODE, OPT_DROP_INPUT, OPT_CLOSE_AFTER, OPT_THROTTLE_RESUME, OPT_API_DOWN,
	OPT_PUBLIC_PORT,
	OPT_EIC, OPT_NO_EIC, OPT_DENY,
	OPT_HOSTILE,
	OPT_INVENTORY,
	OPT_CLOCK_SKEW,
};

static int
parse_args(int argc, char **argv, struct region *r, unsigned *port)
{
	static const struct option opts[] = {
		{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
		{ "target", required_argument, NULL, OPT_TARGET },
		{ "port", required_argument, NULL, OPT_PORT },
		{ "access-key", required_argument, NULL, OPT_AK },
		{ "secret-key", required_argument, NULL, OPT_SK },
		{ "region", required_argument, NULL, OPT_REGION },
		{ "plain", no_argument, NULL, OPT_PLAIN },
		{ "drop-after", required_argument, NULL, OPT_DROP_AFTER },
		{ "duplicate", required_argument, NULL, OPT_DUPLICATE },
		{ "reorder", required_argument, NULL, OPT_REORDER },
		{ "withhold-ack", required_argument, NULL, OPT_WITHHOLD_ACK },
		{ "pause", required_argument, NULL, OPT_PAUSE },
		{ "pace", no_argument, NULL, OPT_PACE },
		{ "trust-digests", no_argument, NULL, OPT_TRUST_DIGESTS },
		{ "throttle", required_argument, NULL, OPT_THROTTLE },
		{ "resume-no-token", no_argument, NULL, OPT_RESUME_NO_TOKEN },
		{ "refuse-target", no_argument, NULL, OPT_REFUSE_TARGET },
		{ "offline", required_argument, NULL, OPT_OFFLINE },
		{ "drop-mode", required_argument, NULL, OPT_DROP_MODE },
		{ "drop-input", no_argument, NULL, OPT_DROP_INPUT },
		{ "close-after", required_argument, NULL, OPT_CLOSE_AFTER },
		{ "throttle-resume", required_argument, NULL, OPT_THROTTLE_RESUME },
		{ "api-down-after", required_argument, NULL, OPT_API_DOWN },
		{ "public-port", required_argument, NULL, OPT_PUBLIC_PORT },
		{ "eic", no_argument, NULL, OPT_EIC },
		{ "no-eic", required_argument, NULL, OPT_NO_EIC },
		{ "deny", required_argument, NULL, OPT_DENY },
		{ "hostile", required_argument, NULL, OPT_HOSTILE },
		{ "inventory", required_argument, NULL, OPT_INVENTORY },
		{ "clock-skew", required_argument, NULL, OPT_CLOCK_SKEW },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct region_faults *f = &r->f;
	unsigned long long a, b;
	int c;

	while ((c = getopt_long(argc, argv, "vqh", opts, NULL)) != -1) {
		switch (c) {
		case OPT_STATE_DIR:
			r->state_dir = optarg;
			break;
		case OPT_TARGET:
			if (parse_target(optarg, r) < 0)
				goto bad;
			break;
		case OPT_PORT:
			if (parse_num(optarg, 0, 65535, &a) < 0)
				goto bad;
			*port = (unsigned)a;
			break;
		case OPT_AK:
			r->access_key = optarg;
			break;
		case OPT_SK:
			r->secret_key = optarg;
			break;
		case OPT_REGION:
			r->region = optarg;
			break;
		case OPT_PLAIN:
			r->plain = 1;
			break;
		case OPT_CLOCK_SKEW: {
			char *end;
			r->clock_skew = strtol(optarg, &end, 10);
			if (*end != '\0' || r->clock_skew < -86400 || r->clock_skew > 86400)
				goto bad;
			break;
		}
		case OPT_DROP_AFTER:
			b = 1;
			if (parse_pair(optarg, 1, UINT64_MAX, &a, 1, UINT_MAX, &b) < 0)
				goto bad;
			f->drop_after = a;
			f->drop_count = (unsigned)b;
			break;
		case OPT_DUPLICATE:
		case OPT_REORDER:
		case OPT_WITHHOLD_ACK:
			/* Withholding every ack would stall the client for good. */
			if (parse_num(optarg, c == OPT_WITHHOLD_ACK ? 2 : 1, UINT_MAX, &a) < 0)
				goto bad;
			if (c == OPT_DUPLICATE)
				f->duplicate = (unsigned)a;
			else if (c == OPT_REORDER)
				f->reorder = (unsigned)a;
			else
				f->withhold_ack = (unsigned)a;
			break;
		case OPT_PAUSE:
			if (parse_num(optarg, 1, 600000, &a) < 0)
				goto bad;
			f->pause_ms = (int)a;
			break;
		case OPT_PACE:
			f->pace = 1;
			break;
		case OPT_TRUST_DIGESTS:
			f->trust_digests = 1;
			break;
		case OPT_THROTTLE:
			b = 400;
			if (parse_pair(optarg, 0, UINT_MAX, &a, 400, 429, &b) < 0 ||
			    (b != 400 && b != 429))
				goto bad;
			f->throttle = (unsigned)a;
			f->throttle_status = (int)b;
			break;
		case OPT_RESUME_NO_TOKEN:
			f->resume_no_token = 1;
			break;
		case OPT_REFUSE_TARGET:
			f->refuse_target = 1;
			break;
		case OPT_EIC:
			r->eic = 1;
			break;
		case OPT_NO_EIC:
			if (r->nno_eic >= REGION_MAX_OFFLINE)
				goto bad;
			r->no_eic[r->nno_eic++] = optarg;
			break;
		case OPT_HOSTILE:
			if (hostile_parse(&f->hostile, optarg) < 0)
				goto bad;
			break;
		case OPT_DENY:
			if (r->ndeny >= REGION_MAX_OFFLINE)
				goto bad;
			r->deny[r->ndeny++] = optarg;
			break;
		case OPT_OFFLINE:
			if (f->noffline >= REGION_MAX_OFFLINE)
				goto bad;
			f->offline[f->noffline++] = optarg;
			break;
		case OPT_DROP_MODE:
			if (strcmp(optarg, "rst") == 0)
				f->drop_mode = REGION_DROP_RST;
			else if (strcmp(optarg, "close1001") == 0)
				f->drop_mode = REGION_DROP_CLOSE1001;
			else if (strcmp(optarg, "blackhole") == 0)
				f->drop_mode = REGION_DROP_BLACKHOLE;
			else
				goto bad;
			break;
		case OPT_DROP_INPUT:
			f->drop_input = 1;
			break;
		case OPT_CLOSE_AFTER:
			if (parse_num(optarg, 1, UINT64_MAX, &a) < 0)
				goto bad;
			f->close_after = a;
			break;
		case OPT_THROTTLE_RESUME:
			if (parse_num(optarg, 0, UINT_MAX, &a) < 0)
				goto bad;
			f->throttle_resume = (unsigned)a;
			break;
		case OPT_API_DOWN:
			b = 0;
			if (parse_pair(optarg, 0, UINT_MAX, &a, 1, UINT_MAX, &b) < 0)
				goto bad;
			f->api_down_after = (unsigned)a;
			f->api_down_count = (unsigned)b;
			/* Marks the switch as set even for N = 0. */
			f->api_down_after++;
			break;
		case OPT_PUBLIC_PORT:
			if (parse_num(optarg, 1, 65535, &a) < 0)
				goto bad;
			f->public_port = (uint16_t)a;
			break;
		case OPT_INVENTORY: {
			struct err ie;
			err_clear(&ie);
			if (inventory_load(&inventory, optarg, &ie) < 0) {
				fprintf(stderr, "fakeregion: %s\n", ie.msg);
				return -1;
			}
			r->inv = inventory;
			break;
		}
		case 'v':
			logger.level++;
			break;
		case 'q':
			logger.level = LL_ERROR;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc || r->state_dir == NULL || r->target_host[0] == '\0') {
		fprintf(stderr, "fakeregion: --state-dir and --target are required\n");
		usage(stderr);
		return -1;
	}
	return 0;
bad:
	fprintf(stderr, "fakeregion: bad value for --%s: %s\n", opts[c - OPT_STATE_DIR].name,
		optarg);
	return -1;
}

static void
on_stop(int sig)
{
	(void)sig;
	stopping = 1;
}

static void
on_child(int sig)
{
	(void)sig; /* only interrupts poll(); children are reaped in the loop */
}

static void
reap(void)
{
	pid_t pid;

	while ((pid = waitpid(-1, NULL, WNOHANG)) > 0) {
		for (size_t i = 0; i < nchildren; i++) {
			if (children[i] == pid) {
				children[i] = children[--nchildren];
				break;
			}
		}
	}
}

static void
kill_children(void)
{
	for (int waited = 0; nchildren > 0 && waited <= KILL_WAIT_MS; waited += 20) {
		for (size_t i = 0; i < nchildren; i++)
			kill(children[i], waited < KILL_WAIT_MS ? SIGTERM : SIGKILL);
		usleep(20 * 1000);
		reap();
	}
}

static int
listen_socket(unsigned port, uint16_t *bound)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 128) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
		close(fd);
		return -1;
	}
	*bound = ntohs(sa.sin_port);
	return fd;
}

/* The connection child: serve, then exit. */
static void
child(int lfd, int fd, pid_t server)
{
	struct sigaction sa;
	struct err e;
	int rc;

	/* A child must not outlive the server. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != server)
		exit(1);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);
	close(lfd);
	free(children);
	children = NULL;
	nchildren = children_cap = 0;
	snprintf(log_prefix, sizeof(log_prefix), "fakeregion[%ld]", (long)getpid());
	logger.prefix = log_prefix;
	err_clear(&e);
	rc = server_conn(&region, fd, &e);
	if (rc < 0 && rc != E_CLOSED)
		log_verbose(&logger, "connection ended: %s", e.msg[0] ? e.msg : err_str(rc));
	if (region.ssl != NULL)
		SSL_CTX_free(region.ssl);
	testca_free(ca);
	exit(0);
}

static int
serve(int lfd)
{
	pid_t server = getpid();

	while (!stopping) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };
		pid_t pid;
		int fd;

		reap();
		if (poll(&p, 1, 1000) <= 0)
			continue;
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		/* Go servers (the real gateway) disable Nagle on every socket;
		 * without this, small acks wait for the peer's delayed ACK. */
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (nchildren == children_cap) {
			size_t ncap = children_cap ? children_cap * 2 : 64;
			pid_t *n = realloc(children, ncap * sizeof(*n));
			if (n == NULL) {
				close(fd);
				continue;
			}
			children = n;
			children_cap = ncap;
		}
		pid = fork();
		if (pid == 0)
			child(lfd, fd, server);
		close(fd);
		if (pid < 0) {
			log_error(&logger, "fork: %s", strerror(errno));
			continue;
		}
		children[nchildren++] = pid;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct sigaction sa;
	unsigned port = 0;
	char path[STATE_PATH_MAX], buf[32];
	struct err e;
	int lfd, n;

	region.access_key = REGION_DEFAULT_AK;
	region.secret_key = REGION_DEFAULT_SK;
	region.region = REGION_DEFAULT_REGION;
	region.lg = &logger;
	if (parse_args(argc, argv, &region, &port) < 0)
		return 2;
	err_clear(&e);
	if (RAND_bytes(region.secret, sizeof(region.secret)) != 1) {
		log_error(&logger, "no randomness");
		return 1;
	}
	{
		uint8_t rnd[8];
		static const char hex[] = "0123456789abcdef";
		if (RAND_bytes(rnd, sizeof(rnd)) != 1)
			return 1;
		for (int i = 0; i < 8; i++) {
			region.instance[2 * i] = hex[rnd[i] >> 4];
			region.instance[2 * i + 1] = hex[rnd[i] & 15];
		}
	}
	if (state_init(region.state_dir, &e) < 0) {
		log_error(&logger, "%s", e.msg);
		return 1;
	}
	if (fakecreds_init(&region) < 0 ||
	    state_budget_set(region.state_dir, "throttle", region.f.throttle) < 0 ||
	    state_budget_set(region.state_dir, "drop", region.f.drop_count) < 0 ||
	    state_budget_set(region.state_dir, "pause", region.f.pause_ms > 0) < 0 ||
	    state_budget_set(region.state_dir, "throttle-resume", region.f.throttle_resume) < 0 ||
	    state_budget_set(region.state_dir, "api-up",
			     region.f.api_down_after > 0 ? region.f.api_down_after - 1 : 0) < 0 ||
	    state_budget_set(region.state_dir, "api-down", region.f.api_down_count) < 0) {
		log_error(&logger, "cannot write fault budgets under %s", region.state_dir);
		return 1;
	}
	if (!region.plain) {
		if (testca_new_for(&ca, hostile_cert_san(&region), &e) < 0 ||
		    state_path(path, sizeof(path), region.state_dir, "ca.pem") < 0 ||
		    testca_write_ca_pem(ca, path, &e) < 0 ||
		    (region.ssl = testca_server_ctx(ca, &e)) == NULL) {
			log_error(&logger, "tls setup: %s", e.msg[0] ? e.msg : "failed");
			testca_free(ca);
			return 1;
		}
	}
	lfd = listen_socket(port, &region.port);
	if (lfd < 0) {
		log_error(&logger, "cannot listen on 127.0.0.1:%u: %s", port, strerror(errno));
		return 1;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_child;
	sa.sa_flags = SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sa.sa_flags = 0;
	sigaction(SIGPIPE, &sa, NULL);

	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	state_write_file(region.state_dir, "pid", buf, (size_t)n, NULL);
	n = snprintf(buf, sizeof(buf), "%u\n", (unsigned)region.port);
	if (state_write_file(region.state_dir, "port", buf, (size_t)n, &e) < 0) {
		log_error(&logger, "%s", e.msg);
		close(lfd);
		return 1;
	}
	log_notice(&logger, "listening on %s://127.0.0.1:%u, target %s:%u, state in %s",
		   region.plain ? "http" : "https", (unsigned)region.port, region.target_host,
		   (unsigned)region.target_port, region.state_dir);

	serve(lfd);

	log_notice(&logger, "stopping");
	close(lfd);
	kill_children();
	free(children);
	if (region.ssl != NULL)
		SSL_CTX_free(region.ssl);
	testca_free(ca);
	return 0;
}
