/* mux.c: a shared libcurl multi handle driven by whoever waits. */
#include "mux.h"

#include <stdlib.h>

#include "loop.h"

struct mux_slot {
	CURL *h;
	int deferred; /* not yet in the multi handle: see mux_add_deferred */
	int done;
	CURLcode rc;
};

struct mux {
	CURLM *multi;
	struct mux_slot slot[MUX_MAX_HANDLES];
};

int
mux_new(struct mux **out, struct err *e)
{
	struct mux *m;

	*out = NULL;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return err_set(e, E_NOMEM, "out of memory");
	if ((m->multi = curl_multi_init()) == NULL) {
		free(m);
		return err_set(e, E_NOMEM, "cannot create a curl multi handle");
	}
	*out = m;
	return 0;
}

void
mux_free(struct mux *m)
{
	if (m == NULL)
		return;
	/* A handle left behind would keep a pointer to the freed multi. */
	for (size_t i = 0; i < MUX_MAX_HANDLES; i++)
		mux_remove(m, m->slot[i].h);
	curl_multi_cleanup(m->multi);
	free(m);
}

static struct mux_slot *
slot_of(struct mux *m, CURL *h)
{
	for (size_t i = 0; h != NULL && i < MUX_MAX_HANDLES; i++)
		if (m->slot[i].h == h)
			return &m->slot[i];
	return NULL;
}

static int
add(struct mux *m, CURL *h, int deferred, struct err *e)
{
	struct mux_slot *s = NULL;

	for (size_t i = 0; s == NULL && i < MUX_MAX_HANDLES; i++)
		if (m->slot[i].h == NULL)
			s = &m->slot[i];
	if (s == NULL)
		return err_set(e, E_FULL, "too many transfers at once");
	if (!deferred && curl_multi_add_handle(m->multi, h) != CURLM_OK)
		return err_set(e, E_NOMEM, "cannot add a transfer to the curl multi handle");
	s->h = h;
	s->deferred = deferred;
	s->done = 0;
	s->rc = CURLE_OK;
	return 0;
}

int
mux_add(struct mux *m, CURL *h, struct err *e)
{
	return add(m, h, 0, e);
}

int
mux_add_deferred(struct mux *m, CURL *h, struct err *e)
{
	return add(m, h, 1, e);
}

/* Hands deferred handles to libcurl, after those already there: libcurl
 * drives its handles in the order they were added. */
static int
attach_deferred(struct mux *m)
{
	for (size_t i = 0; i < MUX_MAX_HANDLES; i++) {
		struct mux_slot *s = &m->slot[i];

		if (s->h == NULL || !s->deferred)
			continue;
		if (curl_multi_add_handle(m->multi, s->h) != CURLM_OK) {
			s->done = 1;
			s->rc = CURLE_OUT_OF_MEMORY;
		}
		s->deferred = 0;
	}
	return 0;
}

void
mux_remove(struct mux *m, CURL *h)
{
	struct mux_slot *s;

	if (m == NULL || (s = slot_of(m, h)) == NULL)
		return;
	if (!s->deferred)
		curl_multi_remove_handle(m->multi, h);
	s->h = NULL;
	s->deferred = 0;
}

/* One round of curl_multi_perform, recording every finished transfer. */
static int
run(struct mux *m)
{
	CURLMsg *msg;
	int running, left;

	if (curl_multi_perform(m->multi, &running) != CURLM_OK)
		return E_IO;
	while ((msg = curl_multi_info_read(m->multi, &left)) != NULL) {
		struct mux_slot *s;

		if (msg->msg != CURLMSG_DONE || (s = slot_of(m, msg->easy_handle)) == NULL)
			continue;
		s->done = 1;
		s->rc = msg->data.result;
	}
	return 0;
}

int
mux_poll(struct mux *m, CURL *h, CURLcode *rc)
{
	struct mux_slot *s = slot_of(m, h);

	if (s == NULL)
		return E_INVAL;
	attach_deferred(m);
	if (!s->done && run(m) != 0)
		return E_IO;
	if (s->done)
		*rc = s->rc;
	return s->done;
}

int
mux_wait(struct mux *m, CURL *h, uint64_t deadline, CURLcode *rc)
{
	for (;;) {
		uint64_t now;
		long ms = 0;
		int r = mux_poll(m, h, rc);

		if (r != 0)
			return r;
		now = loop_now_ms();
		if (now >= deadline)
			return 0;
		/* libcurl's own timers (connect timeouts, retries of its resolver)
		 * decide how long nothing needs doing; our deadline caps it. */
		if (curl_multi_timeout(m->multi, &ms) != CURLM_OK || ms < 0 || ms > 1000)
			ms = 1000;
		if ((uint64_t)ms > deadline - now)
			ms = (long)(deadline - now);
		if (curl_multi_poll(m->multi, NULL, 0, (int)ms, NULL) != CURLM_OK)
			return E_IO;
	}
}
