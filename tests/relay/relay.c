/*
 * relay.c: a delay/shaping TCP relay for tests and benchmarks.
 *
 * Listens on 127.0.0.1 and forwards every connection to a target, with a
 * per-direction delay, random stalls, a bandwidth cap and optional
 * abrupt drops: a small stand-in for `tc netem`, which the test machines
 * lack. One poll loop, bounded memory (reading stops while a direction
 * holds RELAY_QUEUE_MAX bytes), and it stops by itself after a time limit.
 * See usage() for the command line.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RELAY_MAX_PAIRS 64
#define RELAY_CHUNK (64 * 1024)
#define RELAY_QUEUE_MAX (8 * 1024 * 1024) /* per direction of one connection */
#define RELAY_TICK_MS 5                   /* token refill granularity */

struct chunk {
	struct chunk *next;
	uint64_t release;   /* not before this time (ms) */
	size_t off, len;
	unsigned char data[];
};

/* One direction of a connection: bytes read from src, written to dst. */
struct dir {
	int src, dst;
	struct chunk *head, *tail;
	size_t queued;
	int eof;            /* src ended */
	int shut;           /* dst was shut down for writing */
	uint64_t delay_ms;
	uint64_t stall_until, next_stall;
	double tokens;      /* bandwidth cap: bytes that may go now */
	uint64_t refilled;
	uint64_t bytes;
};

struct pair {
	int used;
	struct dir d[2];    /* 0: up (client -> target), 1: down */
	uint64_t bytes;
};

struct opts {
	char target_host[64];
	unsigned target_port;
	unsigned port;
	const char *port_file;
	uint64_t delay[2];
	uint64_t stall_max, stall_every;
	double rate;        /* bytes per second per direction, 0: no cap */
	uint64_t drop_after;
	unsigned drop_count;
	uint64_t time_limit_ms;
	unsigned seed;
	int verbose;
};

static volatile sig_atomic_t stopping;

static void
usage(FILE *f)
{
	fprintf(f,
"usage: relay --target HOST:PORT [options]\n"
"\n"
"Listens on 127.0.0.1 and forwards each connection to HOST:PORT, shaping the\n"
"bytes in each direction (up: client to target, down: target to client).\n"
"\n"
"  --target HOST:PORT   where to forward (an IPv4 address, e.g. 127.0.0.1:443)\n"
"  --port N             listening port (default 0: any free port)\n"
"  --port-file FILE     write the listening port there once ready\n"
"  --delay MS           one-way delay in both directions (default 0)\n"
"  --delay-up MS        ... client to target only\n"
"  --delay-down MS      ... target to client only\n"
"  --stall-max MS       random stalls of up to MS in each direction (default 0)\n"
"  --stall-every MS     mean time between stalls (default 2000)\n"
"  --rate BYTES         bandwidth cap per direction in bytes/s (k, M suffixes; 0: none)\n"
"  --drop-after BYTES[:COUNT]  reset a connection once it carried BYTES (both\n"
"                       ways), COUNT times in total (default 1)\n"
"  --time-limit S       exit after S seconds (default 600)\n"
"  --seed N             random seed for the stalls (default: from the clock)\n"
"  -v                   log connections and faults on stderr\n"
"\n"
"Example: 50 ms each way, stalls of up to 1 s, 4 MB/s:\n"
"  relay --target 127.0.0.1:8443 --port-file p --delay 50 --stall-max 1000 --rate 4M\n");
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int
parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end == 'k' || *end == 'K')
		mul = 1000, end++;
	else if (*end == 'M')
		mul = 1000 * 1000, end++;
	if (errno != 0 || *end != '\0' || v > UINT64_MAX / mul)
		return -1;
	*out = v * mul;
	return 0;
}

static int
parse_target(const char *s, struct opts *o)
{
	const char *colon = strrchr(s, ':');
	uint64_t port;
	size_t n;

	if (colon == NULL || parse_u64(colon + 1, &port) < 0 || port == 0 || port > 65535)
		return -1;
	n = (size_t)(colon - s);
	if (n == 0 || n >= sizeof(o->target_host))
		return -1;
	memcpy(o->target_host, s, n);
	o->target_host[n] = '\0';
	o->target_port = (unsigned)port;
	return 0;
}

/* Random number in [0, n] from the program's seeded generator. */
static uint64_t
rnd(struct opts *o, uint64_t n)
{
	if (n == 0)
		return 0;
	return (uint64_t)rand_r(&o->seed) % (n + 1);
}

static void
schedule_stall(struct opts *o, struct dir *d, uint64_t from)
{
	d->next_stall = o->stall_max ? from + rnd(o, 2 * o->stall_every) : UINT64_MAX;
}

static void
close_rst(int fd)
{
	struct linger lg = { 1, 0 };

	if (fd < 0)
		return;
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

static void
pair_free(struct pair *p, int abrupt)
{
	for (int i = 0; i < 2; i++) {
		struct chunk *c = p->d[i].head, *n;
		for (; c != NULL; c = n) {
			n = c->next;
			free(c);
		}
	}
	/* d[0].src is the client, d[1].src the target. */
	if (abrupt) {
		close_rst(p->d[0].src);
		close_rst(p->d[1].src);
	} else {
		close(p->d[0].src);
		close(p->d[1].src);
	}
	memset(p, 0, sizeof(*p));
}

static int
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void
accept_one(struct opts *o, int lfd, struct pair *pairs)
{
	struct sockaddr_in sa;
	struct pair *p = NULL;
	uint64_t now = now_ms();
	int cfd, tfd, one = 1;

	cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (cfd < 0)
		return;
	for (int i = 0; i < RELAY_MAX_PAIRS; i++)
		if (!pairs[i].used) {
			p = &pairs[i];
			break;
		}
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)o->target_port);
	tfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	/* A loopback connect is immediate: refused or accepted at once. */
	if (p == NULL || tfd < 0 || inet_pton(AF_INET, o->target_host, &sa.sin_addr) != 1 ||
	    connect(tfd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (o->verbose)
			fprintf(stderr, "relay: cannot forward a connection: %s\n",
			        p == NULL ? "too many connections" : strerror(errno));
		close_rst(cfd);
		if (tfd >= 0)
			close(tfd);
		return;
	}
	set_nonblock(cfd);
	set_nonblock(tfd);
	setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(tfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	memset(p, 0, sizeof(*p));
	p->used = 1;
	for (int i = 0; i < 2; i++) {
		struct dir *d = &p->d[i];
		d->src = i == 0 ? cfd : tfd;
		d->dst = i == 0 ? tfd : cfd;
		d->delay_ms = o->delay[i];
		d->refilled = now;
		d->tokens = 0;
		schedule_stall(o, d, now);
	}
	if (o->verbose)
		fprintf(stderr, "relay: connection %d forwarded\n", (int)(p - pairs));
}

/* Reads what src has into a new chunk; returns 0, or -1 on a hard error. */
static int
dir_read(struct dir *d, uint64_t now)
{
	struct chunk *c = malloc(sizeof(*c) + RELAY_CHUNK);
	ssize_t n;

	if (c == NULL)
		return 0; /* try later */
	n = read(d->src, c->data, RELAY_CHUNK);
	if (n <= 0) {
		free(c);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (n < 0)
			return -1;
		d->eof = 1;
		return 0;
	}
	c->next = NULL;
	c->off = 0;
	c->len = (size_t)n;
	c->release = now + d->delay_ms;
	if (d->tail != NULL)
		d->tail->next = c;
	else
		d->head = c;
	d->tail = c;
	d->queued += (size_t)n;
	return 0;
}

/* Writes what is due and allowed; returns 0, or -1 on a hard error. */
static int
dir_write(struct opts *o, struct pair *p, struct dir *d, uint64_t now)
{
	if (o->rate > 0) {
		double burst = o->rate / 20 > 16384 ? o->rate / 20 : 16384;
		d->tokens += o->rate * (double)(now - d->refilled) / 1000.0;
		if (d->tokens > burst)
			d->tokens = burst;
		d->refilled = now;
	}
	while (d->head != NULL && d->head->release <= now && now >= d->stall_until) {
		struct chunk *c = d->head;
		size_t want = c->len - c->off;
		ssize_t n;

		if (o->rate > 0) {
			if (d->tokens < 1)
				return 0;
			if ((double)want > d->tokens)
				want = (size_t)d->tokens;
		}
		n = write(d->dst, c->data + c->off, want);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		c->off += (size_t)n;
		d->queued -= (size_t)n;
		d->bytes += (uint64_t)n;
		p->bytes += (uint64_t)n;
		if (o->rate > 0)
			d->tokens -= (double)n;
		if (c->off == c->len) {
			d->head = c->next;
			if (d->head == NULL)
				d->tail = NULL;
			free(c);
		}
	}
	if (d->head == NULL && d->eof && !d->shut) {
		shutdown(d->dst, SHUT_WR);
		d->shut = 1;
	}
	return 0;
}

static int
listen_on(unsigned port, unsigned *bound)
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
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0 || set_nonblock(fd) < 0) {
		close(fd);
		return -1;
	}
	*bound = ntohs(sa.sin_port);
	return fd;
}

/* Writes the port to path atomically (a temporary file, then rename). */
static int
write_port_file(const char *path, unsigned port)
{
	char tmp[4096];
	FILE *f;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -1;
	if ((f = fopen(tmp, "w")) == NULL)
		return -1;
	fprintf(f, "%u\n", port);
	if (fclose(f) != 0)
		return -1;
	return rename(tmp, path);
}

static void
on_stop(int sig)
{
	(void)sig;
	stopping = 1;
}

static int
parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "target", required_argument, NULL, 't' },
		{ "port", required_argument, NULL, 'p' },
		{ "port-file", required_argument, NULL, 'f' },
		{ "delay", required_argument, NULL, 'd' },
		{ "delay-up", required_argument, NULL, 'u' },
		{ "delay-down", required_argument, NULL, 'D' },
		{ "stall-max", required_argument, NULL, 's' },
		{ "stall-every", required_argument, NULL, 'e' },
		{ "rate", required_argument, NULL, 'r' },
		{ "drop-after", required_argument, NULL, 'x' },
		{ "time-limit", required_argument, NULL, 'l' },
		{ "seed", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int c;

	while ((c = getopt_long(argc, argv, "vh", lo, NULL)) != -1) {
		char tmp[64], *colon;

		v = 0;
		switch (c) {
		case 't':
			if (parse_target(optarg, o) < 0)
				goto bad;
			break;
		case 'f':
			o->port_file = optarg;
			break;
		case 'x':
			if (strlen(optarg) >= sizeof(tmp))
				goto bad;
			strcpy(tmp, optarg);
			o->drop_count = 1;
			if ((colon = strchr(tmp, ':')) != NULL) {
				*colon = '\0';
				if (parse_u64(colon + 1, &v) < 0 || v == 0 || v > 1000000)
					goto bad;
				o->drop_count = (unsigned)v;
			}
			if (parse_u64(tmp, &o->drop_after) < 0 || o->drop_after == 0)
				goto bad;
			break;
		case 'v':
			o->verbose = 1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'p': case 'd': case 'u': case 'D': case 's': case 'e': case 'r': case 'l':
		case 'S':
			if (parse_u64(optarg, &v) < 0 || v > 100000000000ULL)
				goto bad;
			if (c == 'p') {
				if (v > 65535)
					goto bad;
				o->port = (unsigned)v;
			} else if (c == 'd') {
				o->delay[0] = o->delay[1] = v;
			} else if (c == 'u') {
				o->delay[0] = v;
			} else if (c == 'D') {
				o->delay[1] = v;
			} else if (c == 's') {
				o->stall_max = v;
			} else if (c == 'e') {
				if (v == 0)
					goto bad;
				o->stall_every = v;
			} else if (c == 'r') {
				o->rate = (double)v;
			} else if (c == 'l') {
				o->time_limit_ms = v * 1000;
			} else {
				o->seed = (unsigned)v;
			}
			break;
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc || o->target_port == 0) {
		fprintf(stderr, "relay: --target HOST:PORT is required\n");
		usage(stderr);
		return -1;
	}
	return 0;
bad:
	fprintf(stderr, "relay: bad value: %s\n", optarg);
	return -1;
}

int
main(int argc, char **argv)
{
	static struct pair pairs[RELAY_MAX_PAIRS];
	struct pollfd pfd[1 + 2 * RELAY_MAX_PAIRS];
	struct opts o;
	struct sigaction sa;
	unsigned bound;
	uint64_t start, stalls = 0, drops = 0, conns_bytes[2] = { 0, 0 };
	int lfd;

	memset(&o, 0, sizeof(o));
	o.stall_every = 2000;
	o.time_limit_ms = 600 * 1000;
	o.seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	if (parse_args(argc, argv, &o) < 0)
		return 2;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((lfd = listen_on(o.port, &bound)) < 0) {
		fprintf(stderr, "relay: cannot listen on 127.0.0.1:%u: %s\n", o.port, strerror(errno));
		return 1;
	}
	if (o.port_file != NULL && write_port_file(o.port_file, bound) < 0) {
		fprintf(stderr, "relay: cannot write %s: %s\n", o.port_file, strerror(errno));
		return 1;
	}
	if (o.verbose)
		fprintf(stderr, "relay: 127.0.0.1:%u -> %s:%u\n", bound, o.target_host, o.target_port);
	start = now_ms();

	while (!stopping && now_ms() - start < o.time_limit_ms) {
		uint64_t now = now_ms(), wake = start + o.time_limit_ms;
		int n = 1, timeout;

		pfd[0].fd = lfd;
		pfd[0].events = POLLIN;
		for (int i = 0; i < RELAY_MAX_PAIRS; i++) {
			struct pair *p = &pairs[i];
			int gone = 0;

			if (!p->used)
				continue;
			for (int k = 0; k < 2; k++) {
				struct dir *d = &p->d[k];

				if (d->next_stall <= now) {
					d->stall_until = now + rnd(&o, o.stall_max);
					schedule_stall(&o, d, d->stall_until);
					stalls++;
				}
				if (dir_write(&o, p, d, now) < 0)
					gone = 1;
			}
			if (!gone && o.drop_after > 0 && o.drop_count > 0 && p->bytes >= o.drop_after) {
				o.drop_count--;
				drops++;
				if (o.verbose)
					fprintf(stderr, "relay: fault: resetting connection %d after %llu "
					        "bytes\n", i, (unsigned long long)p->bytes);
				gone = 2;
			}
			if (gone || (p->d[0].shut && p->d[1].shut)) {
				conns_bytes[0] += p->d[0].bytes;
				conns_bytes[1] += p->d[1].bytes;
				pair_free(p, gone != 0);
				continue;
			}
			for (int k = 0; k < 2; k++) {
				struct dir *d = &p->d[k];
				short ev = 0;

				if (!d->eof && d->queued < RELAY_QUEUE_MAX)
					ev |= POLLIN;
				pfd[n].fd = d->src;
				pfd[n].events = ev;
				/* The reverse direction writes to this socket. */
				if (p->d[1 - k].head != NULL && p->d[1 - k].head->release <= now &&
				    now >= p->d[1 - k].stall_until)
					pfd[n].events |= POLLOUT;
				n++;
				if (d->head != NULL) {
					uint64_t t = d->head->release;
					if (d->stall_until > t)
						t = d->stall_until;
					if (o.rate > 0 && t <= now)
						t = now + RELAY_TICK_MS;
					if (t < wake)
						wake = t;
				}
				if (d->next_stall < wake)
					wake = d->next_stall;
			}
		}
		timeout = wake <= now ? 0 : wake - now > 1000 ? 1000 : (int)(wake - now);
		if (poll(pfd, (nfds_t)n, timeout) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "relay: poll: %s\n", strerror(errno));
			break;
		}
		now = now_ms();
		if (pfd[0].revents & POLLIN)
			accept_one(&o, lfd, pairs);
		for (int j = 1; j < n; j++) {
			if (pfd[j].revents == 0)
				continue;
			for (int i = 0; i < RELAY_MAX_PAIRS; i++) {
				struct pair *p = &pairs[i];
				if (!p->used)
					continue;
				for (int k = 0; k < 2; k++) {
					struct dir *d = &p->d[k];
					if (d->src != pfd[j].fd)
						continue;
					if ((pfd[j].revents & (POLLIN | POLLHUP | POLLERR)) && !d->eof &&
					    dir_read(d, now) < 0) {
						/* A reset on one side resets the other. */
						conns_bytes[0] += p->d[0].bytes;
						conns_bytes[1] += p->d[1].bytes;
						pair_free(p, 1);
					}
					goto next_fd;
				}
			}
next_fd:;
		}
	}
	for (int i = 0; i < RELAY_MAX_PAIRS; i++)
		if (pairs[i].used) {
			conns_bytes[0] += pairs[i].d[0].bytes;
			conns_bytes[1] += pairs[i].d[1].bytes;
			pair_free(&pairs[i], 0);
		}
	close(lfd);
	if (o.verbose)
		fprintf(stderr, "relay: done: %llu bytes up, %llu down, %llu stalls, %llu drops\n",
		        (unsigned long long)conns_bytes[0], (unsigned long long)conns_bytes[1],
		        (unsigned long long)stalls, (unsigned long long)drops);
	return 0;
}
