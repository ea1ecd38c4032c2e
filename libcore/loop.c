/*
 * loop.c: poll(2) event loop in the spirit of Redis' ae.
 *
 * Descriptors and timers live in small arrays: a proxy watches a handful
 * of each, so linear scans beat any clever structure in clarity and cost.
 */
#include "loop.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct loop_fd {
	int fd;
	int mask;
	loop_fd_fn *fn;
	void *arg;
	/* Tells a re-registered fd number apart from the one poll reported. */
	uint64_t serial;
};

struct loop_timer {
	uint64_t id;
	uint64_t when;
	loop_timer_fn *fn;
	void *arg;
};

struct loop {
	struct loop_fd *fds;
	size_t nfds, capfds;
	struct loop_timer *timers;
	size_t ntimers, captimers;
	struct pollfd *pfd;      /* rebuilt before each poll */
	uint64_t *pserial;       /* serial of the entry behind pfd[i] */
	size_t cappfd;
	uint64_t next_id;
	uint64_t next_serial;
	loop_hook_fn *hook;
	void *hook_arg;
	int stop;
};

uint64_t
loop_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int
loop_new(struct loop **out)
{
	struct loop *l = calloc(1, sizeof(*l));

	*out = l;
	if (l == NULL)
		return E_NOMEM;
	l->next_id = 1;
	l->next_serial = 1;
	return 0;
}

void
loop_free(struct loop *l)
{
	if (l == NULL)
		return;
	free(l->fds);
	free(l->timers);
	free(l->pfd);
	free(l->pserial);
	free(l);
}

/* Grows an array of elements of size sz so it holds one more; 0 or E_NOMEM. */
static int
grow(void **arr, size_t *cap, size_t n, size_t sz)
{
	size_t ncap;
	void *p;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 8;
	p = realloc(*arr, ncap * sz);
	if (p == NULL)
		return E_NOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

static struct loop_fd *
find_fd(const struct loop *l, int fd)
{
	for (size_t i = 0; i < l->nfds; i++)
		if (l->fds[i].fd == fd)
			return &l->fds[i];
	return NULL;
}

int
loop_add_fd(struct loop *l, int fd, int mask, loop_fd_fn *fn, void *arg)
{
	struct loop_fd *f;

	if (fd < 0 || fn == NULL || find_fd(l, fd) != NULL)
		return E_INVAL;
	if (grow((void **)&l->fds, &l->capfds, l->nfds, sizeof(*l->fds)) != 0)
		return E_NOMEM;
	f = &l->fds[l->nfds++];
	f->fd = fd;
	f->mask = mask & (LOOP_READ | LOOP_WRITE);
	f->fn = fn;
	f->arg = arg;
	f->serial = l->next_serial++;
	return 0;
}

int
loop_mod_fd(struct loop *l, int fd, int mask)
{
	struct loop_fd *f = find_fd(l, fd);

	if (f == NULL)
		return E_NOTFOUND;
	f->mask = mask & (LOOP_READ | LOOP_WRITE);
	return 0;
}

int
loop_get_fd(const struct loop *l, int fd)
{
	const struct loop_fd *f = find_fd(l, fd);

	return f != NULL ? f->mask : E_NOTFOUND;
}

int
loop_del_fd(struct loop *l, int fd)
{
	struct loop_fd *f = find_fd(l, fd);

	if (f == NULL)
		return E_NOTFOUND;
	*f = l->fds[--l->nfds];
	return 0;
}

int
loop_add_timer(struct loop *l, uint64_t when_ms, loop_timer_fn *fn, void *arg, uint64_t *id)
{
	struct loop_timer *t;

	if (fn == NULL)
		return E_INVAL;
	if (grow((void **)&l->timers, &l->captimers, l->ntimers, sizeof(*l->timers)) != 0)
		return E_NOMEM;
	t = &l->timers[l->ntimers++];
	t->id = l->next_id++;
	t->when = when_ms;
	t->fn = fn;
	t->arg = arg;
	if (id != NULL)
		*id = t->id;
	return 0;
}

int
loop_cancel_timer(struct loop *l, uint64_t id)
{
	for (size_t i = 0; i < l->ntimers; i++) {
		if (l->timers[i].id == id) {
			l->timers[i] = l->timers[--l->ntimers];
			return 0;
		}
	}
	return E_NOTFOUND;
}

void
loop_set_before_sleep(struct loop *l, loop_hook_fn *fn, void *arg)
{
	l->hook = fn;
	l->hook_arg = arg;
}

void
loop_stop(struct loop *l)
{
	l->stop = 1;
}

/* Index of the earliest timer (ties: lowest id) with id below limit and due
 * by now, or -1. now = UINT64_MAX finds the earliest of all. */
static long
earliest_timer(const struct loop *l, uint64_t now, uint64_t limit)
{
	long best = -1;

	for (size_t i = 0; i < l->ntimers; i++) {
		const struct loop_timer *t = &l->timers[i];

		if (t->when > now || t->id >= limit)
			continue;
		if (best < 0 || t->when < l->timers[best].when ||
		    (t->when == l->timers[best].when && t->id < l->timers[best].id))
			best = (long)i;
	}
	return best;
}

/* Fires the timers due now that existed before this pass, so a callback
 * re-arming itself at "now" cannot starve the descriptors. */
static void
run_timers(struct loop *l)
{
	uint64_t now = loop_now_ms();
	uint64_t limit = l->next_id;
	long i;

	while (!l->stop && (i = earliest_timer(l, now, limit)) >= 0) {
		struct loop_timer t = l->timers[i];

		l->timers[i] = l->timers[--l->ntimers];
		t.fn(l, t.id, t.arg);
	}
}

/* Fills l->pfd from the watched descriptors; returns their number or E_NOMEM. */
static long
build_pollfds(struct loop *l)
{
	size_t n = 0;

	if (l->cappfd < l->nfds) {
		struct pollfd *p = realloc(l->pfd, l->nfds * sizeof(*p));
		uint64_t *s;

		if (p == NULL)
			return E_NOMEM;
		l->pfd = p;
		s = realloc(l->pserial, l->nfds * sizeof(*s));
		if (s == NULL)
			return E_NOMEM;
		l->pserial = s;
		l->cappfd = l->nfds;
	}
	for (size_t i = 0; i < l->nfds; i++) {
		const struct loop_fd *f = &l->fds[i];

		if (f->mask == 0)
			continue;
		l->pfd[n].fd = f->fd;
		l->pfd[n].events = (short)(((f->mask & LOOP_READ) ? POLLIN : 0) |
					   ((f->mask & LOOP_WRITE) ? POLLOUT : 0));
		l->pfd[n].revents = 0;
		l->pserial[n] = f->serial;
		n++;
	}
	return (long)n;
}

/* Calls the callbacks of ready descriptors still registered as polled. */
static void
dispatch(struct loop *l, size_t n)
{
	for (size_t i = 0; i < n && !l->stop; i++) {
		short r = l->pfd[i].revents;
		struct loop_fd *f;
		int m = 0;

		if (r == 0)
			continue;
		f = find_fd(l, l->pfd[i].fd);
		if (f == NULL || f->serial != l->pserial[i])
			continue; /* deleted (maybe re-added) by an earlier callback */
		if (r & POLLIN)
			m |= LOOP_READ;
		if (r & POLLOUT)
			m |= LOOP_WRITE;
		if (r & (POLLERR | POLLHUP | POLLNVAL))
			m |= LOOP_ERROR | f->mask;
		m &= f->mask | LOOP_ERROR;
		if ((m & (LOOP_READ | LOOP_WRITE)) == 0)
			continue;
		f->fn(l, f->fd, m, f->arg);
	}
}

int
loop_run(struct loop *l, struct err *e)
{
	while (!l->stop) {
		int timeout = -1;
		long n, t;

		if (l->hook != NULL) {
			l->hook(l, l->hook_arg);
			if (l->stop)
				break;
		}
		n = build_pollfds(l);
		if (n < 0)
			return err_set(e, E_NOMEM, "event loop: out of memory");
		t = earliest_timer(l, UINT64_MAX, UINT64_MAX);
		if (t >= 0) {
			uint64_t now = loop_now_ms(), when = l->timers[t].when;

			timeout = when <= now ? 0 : when - now > INT_MAX ? INT_MAX : (int)(when - now);
		} else if (n == 0) {
			return err_set(e, E_INVAL, "event loop: nothing to wait for");
		}
		if (poll(l->pfd, (nfds_t)n, timeout) < 0) {
			if (errno == EINTR)
				continue;
			return err_set(e, E_IO, "event loop: poll: %s", strerror(errno));
		}
		dispatch(l, (size_t)n);
		run_timers(l);
	}
	l->stop = 0;
	return 0;
}
