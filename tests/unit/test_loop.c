/* test_loop.c: timers, descriptors, hooks and stopping of the event loop. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <unistd.h>

#include "loop.h"

#define MAXREC 16

struct rec {
	struct loop *l;
	int order[MAXREC];
	int n;
	uint64_t cancel_id;  /* timer cancelled by the "canceller" */
	int cancel_rc;
	int stop_after;      /* stop once n reaches this */
};

struct tmark {
	struct rec *r;
	int tag;
};

static void
record_timer(struct loop *l, uint64_t id, void *arg)
{
	struct tmark *m = arg;

	(void)id;
	if (m->r->n < MAXREC)
		m->r->order[m->r->n++] = m->tag;
	if (m->r->n == m->r->stop_after)
		loop_stop(l);
}

static void
cancelling_timer(struct loop *l, uint64_t id, void *arg)
{
	struct tmark *m = arg;

	m->r->cancel_rc = loop_cancel_timer(l, m->r->cancel_id);
	record_timer(l, id, arg);
}

static void
stop_timer(struct loop *l, uint64_t id, void *arg)
{
	(void)id;
	(void)arg;
	loop_stop(l);
}

static void
test_clock(void **state)
{
	uint64_t a = loop_now_ms(), b = loop_now_ms();

	(void)state;
	assert_true(b >= a);
	assert_true(a > 0);
}

static void
test_timer_order(void **state)
{
	struct loop *l;
	struct rec r = { .stop_after = 5 };
	struct tmark m[5];
	uint64_t base = loop_now_ms();
	static const uint64_t when[5] = { 30, 10, 20, 10, 40 };
	static const int expect[5] = { 1, 3, 2, 0, 4 };

	(void)state;
	assert_int_equal(loop_new(&l), 0);
	/* All due already: the order must follow time, then insertion. */
	for (int i = 0; i < 5; i++) {
		uint64_t id = 0;

		m[i].r = &r;
		m[i].tag = i;
		assert_int_equal(loop_add_timer(l, base - 100 + when[i], record_timer, &m[i], &id), 0);
		assert_true(id != 0);
	}
	assert_int_equal(loop_run(l, NULL), 0);
	assert_int_equal(r.n, 5);
	assert_memory_equal(r.order, expect, sizeof(expect));
	loop_free(l);
}

static void
test_future_timer(void **state)
{
	struct loop *l;
	struct rec r = { .stop_after = 1 };
	struct tmark m = { &r, 7 };

	(void)state;
	assert_int_equal(loop_new(&l), 0);
	assert_int_equal(loop_add_timer(l, loop_now_ms() + 20, record_timer, &m, NULL), 0);
	assert_int_equal(loop_run(l, NULL), 0);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.order[0], 7);
	loop_free(l);
}

static void
test_cancel_in_callback(void **state)
{
	struct loop *l;
	struct rec r = { .stop_after = -1 };
	struct tmark a = { &r, 1 }, b = { &r, 2 }, c = { &r, 3 };
	uint64_t now = loop_now_ms(), ida, idb;

	(void)state;
	assert_int_equal(loop_new(&l), 0);
	assert_int_equal(loop_add_timer(l, now - 5, cancelling_timer, &a, &ida), 0);
	assert_int_equal(loop_add_timer(l, now - 5, record_timer, &b, &idb), 0);
	assert_int_equal(loop_add_timer(l, now - 1, record_timer, &c, NULL), 0);
	assert_int_equal(loop_add_timer(l, now + 10, stop_timer, NULL, NULL), 0);
	r.cancel_id = idb;
	assert_int_equal(loop_run(l, NULL), 0);
	assert_int_equal(r.cancel_rc, 0);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.order[0], 1);
	assert_int_equal(r.order[1], 3);
	/* Fired and cancelled timers are gone. */
	assert_int_equal(loop_cancel_timer(l, ida), E_NOTFOUND);
	assert_int_equal(loop_cancel_timer(l, idb), E_NOTFOUND);
	loop_free(l);
}

struct rearm {
	struct loop *l;
	int count;
};

static void
rearm_timer(struct loop *l, uint64_t id, void *arg)
{
	struct rearm *ra = arg;

	(void)id;
	if (++ra->count == 3)
		loop_stop(l);
	else
		assert_int_equal(loop_add_timer(l, loop_now_ms(), rearm_timer, ra, NULL), 0);
}

static void
test_timer_added_in_callback(void **state)
{
	struct loop *l;
	struct rearm ra = { 0 };

	(void)state;
	assert_int_equal(loop_new(&l), 0);
	assert_int_equal(loop_add_timer(l, loop_now_ms(), rearm_timer, &ra, NULL), 0);
	assert_int_equal(loop_run(l, NULL), 0);
	assert_int_equal(ra.count, 3);
	loop_free(l);
}

struct pipes {
	int a[2], b[2];
	int reads_a, reads_b, writes;
	int hup_seen;
	char got[8];
};

static void
reader(struct loop *l, int fd, int mask, void *arg)
{
	struct pipes *p = arg;
	char c;

	assert_true(mask & LOOP_READ);
	assert_int_equal(read(fd, &c, 1), 1);
	p->got[p->reads_a++] = c;
	if (p->reads_a == 2) {
		assert_int_equal(loop_del_fd(l, fd), 0);
		loop_stop(l);
	}
}

static void
writer(struct loop *l, int fd, int mask, void *arg)
{
	struct pipes *p = arg;
	char c = (char)('x' + p->writes++);

	assert_true(mask & LOOP_WRITE);
	assert_int_equal(write(fd, &c, 1), 1);
	if (p->writes == 2)
		assert_int_equal(loop_mod_fd(l, fd, 0), 0);
}

static void
test_fd_callbacks(void **state)
{
	struct loop *l;
	struct pipes p;

	(void)state;
	memset(&p, 0, sizeof(p));
	assert_int_equal(pipe(p.a), 0);
	assert_int_equal(loop_new(&l), 0);
	assert_int_equal(loop_add_fd(l, p.a[0], LOOP_READ, reader, &p), 0);
	assert_int_equal(loop_add_fd(l, p.a[1], LOOP_WRITE, writer, &p), 0);
	assert_int_equal(loop_get_fd(l, p.a[1]), LOOP_WRITE);
	assert_int_equal(loop_run(l, NULL), 0);
	assert_int_equal(p.reads_a, 2);
	assert_int_equal(p.writes, 2);
	assert_memory_equal(p.got, "xy", 2);
	assert_int_equal(loop_get_fd(l, p.a[0]), E_NOTFOUND);
	assert_int_equal(loop_get_fd(l, p.a[1]), 0);
	loop_free(l);
	close(p.a[0]);
	close(p.a[1]);
}

static void
deleter(struct loop *l, int fd, int mask, void *arg)
{
	struct pipes *p = arg;

	(void)mask;
	if (fd == p->a[0]) {
		p->reads_a++;
		loop_del_fd(l, p->b[0]);
	} else {
		p->reads_b++;
		loop_del_fd(l, p->a[0]);
	}
	loop_stop(l);
}

static void
test_delete_other_fd_in_callback(void **state)
{
	struct loop *l;
	struct pipes p;

	(void)state;
	memset(&p, 0, sizeof(p));
	assert_int_equal(pipe(p.a), 0);
	assert_int_equal(pipe(p.b), 0);
	assert_int_equal(write(p.a[1], "1", 1), 1);
	assert_int_equal(write(p.b[1], "2", 1), 1);
	assert_int_equal(loop_new(&l), 0);
	assert_int_equal(loop_add_fd(l, p.a[0], LOOP_READ, deleter, &p), 0);
	assert_int_equal(loop_add_fd(l, p.b[0], LOOP_READ, deleter, &p), 0);
	assert_int_equal(loop_run(l, NULL), 0);
	/* Both were ready; whichever ran first removed the other. */
	assert_int_equal(p.reads_a + p.reads_b, 1);
	loop_free(l);
	close(p.a[0]);
	close(p.a[1]);
	close(p.b[0]);
	close(p.b[1]);
}

static void
hup_reader(struct loop *l, int fd, int mask, void *arg)
{
	struct pipes *p = arg;
	char c;

	assert_true(mask & LOOP_READ);
	assert_int_equal(read(fd, &c, 1), 0);
	p->hup_seen = 1;
	loop_del_fd(l, fd);
	loop_stop(l);
}

static void
test_hangup_reported_as_readable(void **state)
{
	struct loop *l;
	struct pipes p;

	(void)state;
	memset(&p, 0, sizeof(p));
	assert_int_equal(pipe(p.a), 0);
	close(p.a[1]);
	assert_int_equal(loop_new(&l), 0);
	assert_int_equal(loop_add_fd(l, p.a[0], LOOP_READ, hup_reader, &p), 0);
	assert_int_equal(loop_run(l, NULL), 0);
	assert_int_equal(p.hup_seen, 1);
	loop_free(l);
	close(p.a[0]);
}

struct hook {
	int calls;
};

static void
hook_fn(struct loop *l, void *arg)
{
	struct hook *h = arg;

	if (++h->calls == 3)
		loop_stop(l);
}

static void
noop_timer(struct loop *l, uint64_t id, void *arg)
{
	(void)l;
	(void)id;
	(void)arg;
}

static void
test_before_sleep_and_stop(void **state)
{
	struct loop *l;
	struct hook h = { 0 };
	uint64_t now = loop_now_ms();

	(void)state;
	assert_int_equal(loop_new(&l), 0);
	loop_set_before_sleep(l, hook_fn, &h);
	/* Two due timers make two passes; the third hook call stops. */
	assert_int_equal(loop_add_timer(l, now - 2, noop_timer, NULL, NULL), 0);
	assert_int_equal(loop_add_timer(l, now + 5, noop_timer, NULL, NULL), 0);
	assert_int_equal(loop_add_timer(l, now + 100000, noop_timer, NULL, NULL), 0);
	assert_int_equal(loop_run(l, NULL), 0);
	assert_int_equal(h.calls, 3);
	/* loop_stop before loop_run: returns at once, then runs normally. */
	loop_set_before_sleep(l, NULL, NULL);
	loop_stop(l);
	assert_int_equal(loop_run(l, NULL), 0);
	loop_free(l);
}

static void
test_errors(void **state)
{
	struct loop *l;
	struct err e;
	int p[2];

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(loop_new(&l), 0);
	err_clear(&e);
	assert_int_equal(loop_run(l, &e), E_INVAL);
	assert_non_null(strstr(e.msg, "nothing to wait for"));
	assert_int_equal(loop_add_fd(l, -1, LOOP_READ, reader, NULL), E_INVAL);
	assert_int_equal(loop_add_fd(l, p[0], LOOP_READ, reader, NULL), 0);
	assert_int_equal(loop_add_fd(l, p[0], LOOP_READ, reader, NULL), E_INVAL);
	assert_int_equal(loop_mod_fd(l, p[1], LOOP_READ), E_NOTFOUND);
	assert_int_equal(loop_del_fd(l, p[1]), E_NOTFOUND);
	assert_int_equal(loop_cancel_timer(l, 12345), E_NOTFOUND);
	/* A registered but idle descriptor is nothing to wait for either. */
	assert_int_equal(loop_mod_fd(l, p[0], 0), 0);
	assert_int_equal(loop_run(l, NULL), E_INVAL);
	assert_int_equal(loop_del_fd(l, p[0]), 0);
	loop_free(l);
	loop_free(NULL);
	close(p[0]);
	close(p[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clock),
		cmocka_unit_test(test_timer_order),
		cmocka_unit_test(test_future_timer),
		cmocka_unit_test(test_cancel_in_callback),
		cmocka_unit_test(test_timer_added_in_callback),
		cmocka_unit_test(test_fd_callbacks),
		cmocka_unit_test(test_delete_other_fd_in_callback),
		cmocka_unit_test(test_hangup_reported_as_readable),
		cmocka_unit_test(test_before_sleep_and_stop),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
