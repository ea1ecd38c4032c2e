/* buf.c: bounds-checked byte FIFO. */
#include "buf.h"
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
buf_view(struct buf *b, const void *data, size_t len)
{
	memset(b, 0, sizeof(*b));
	/* Views never write: the cast only lets one struct serve both roles. */
	b->d = (uint8_t *)(uintptr_t)data;
	b->end = len;
	b->max = len;
	b->ro = 1;
}

void
buf_fixed(struct buf *b, void *mem, size_t size)
{
	memset(b, 0, sizeof(*b));
	b->d = mem;
	b->cap = size;
	b->max = size;
	b->fixed = 1;
}

void
buf_init(struct buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max ? max : BUF_MAX_DEFAULT;
}

void
buf_free(struct buf *b)
{
	if (!b->ro && !b->fixed)
		free(b->d);
	b->d = NULL;
	b->off = b->end = b->cap = 0;
}

void
buf_reset(struct buf *b)
{
	b->off = b->end = 0;
}

int
buf_consume(struct buf *b, size_t n)
{
	if (n > buf_len(b))
		return E_SHORT;
	b->off += n;
	if (b->off == b->end && !b->ro)
		b->off = b->end = 0;
	return 0;
}

int
buf_truncate(struct buf *b, size_t n)
{
	if (n > buf_len(b))
		return E_SHORT;
	b->end = b->off + n;
	return 0;
}

int
buf_get_direct(struct buf *b, size_t n, const uint8_t **p)
{
	if (n > buf_len(b))
		return E_SHORT;
	if (p != NULL)
		*p = b->d + b->off;
	b->off += n;
	return 0;
}

int
buf_get(struct buf *b, void *out, size_t n)
{
	const uint8_t *p;
	int r;

	if ((r = buf_get_direct(b, n, &p)) != 0)
		return r;
	if (out != NULL && n > 0)
		memcpy(out, p, n);
	return 0;
}

int
buf_get_u8(struct buf *b, uint8_t *v)
{
	return buf_get(b, v, 1);
}

int
buf_get_u32(struct buf *b, uint32_t *v)
{
	const uint8_t *p;
	int r;

	if ((r = buf_get_direct(b, 4, &p)) != 0)
		return r;
	*v = peek_u32(p);
	return 0;
}

int
buf_get_u64(struct buf *b, uint64_t *v)
{
	const uint8_t *p;
	int r;

	if ((r = buf_get_direct(b, 8, &p)) != 0)
		return r;
	*v = peek_u64(p);
	return 0;
}

int
buf_peek_u32(const struct buf *b, size_t at, uint32_t *v)
{
	if (at > buf_len(b) || buf_len(b) - at < 4)
		return E_SHORT;
	*v = peek_u32(b->d + b->off + at);
	return 0;
}

/*
 * Makes room for n data bytes plus spare bytes (0 or 1) that are never
 * data: the C-string terminator may sit one past max.
 */
static int
grow(struct buf *b, size_t n, size_t spare)
{
	size_t need, ncap, lim;
	uint8_t *nd;

	if (b->ro)
		return E_INVAL;
	if (n > b->max || buf_len(b) > b->max - n)
		return E_FULL;
	if (b->cap - b->end >= n + spare)
		return 0;
	/* Slide unread bytes to the front before growing. */
	if (b->off > 0) {
		memmove(b->d, b->d + b->off, buf_len(b));
		b->end -= b->off;
		b->off = 0;
		if (b->cap - b->end >= n + spare)
			return 0;
	}
	if (b->fixed)
		return E_FULL; /* the caller's storage cannot grow */
	need = b->end + n + spare;
	if (need < b->end)
		return E_NOMEM; /* only with a max near SIZE_MAX */
	lim = b->max < SIZE_MAX ? b->max + 1 : SIZE_MAX;
	ncap = b->cap ? b->cap : 256;
	while (ncap < need)
		ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
	if (ncap > lim)
		ncap = lim; /* still >= need: end + n <= max */
	if ((nd = realloc(b->d, ncap)) == NULL)
		return E_NOMEM;
	b->d = nd;
	b->cap = ncap;
	return 0;
}

int
buf_ensure(struct buf *b, size_t n)
{
	return grow(b, n, 0);
}

int
buf_reserve(struct buf *b, size_t n, uint8_t **p)
{
	int r;

	if ((r = buf_ensure(b, n)) != 0)
		return r;
	if (p != NULL)
		*p = b->d + b->end;
	b->end += n;
	return 0;
}

int
buf_put(struct buf *b, const void *data, size_t n)
{
	uint8_t *p;
	int r;

	if (n == 0)
		return 0;
	if ((r = buf_reserve(b, n, &p)) != 0)
		return r;
	memcpy(p, data, n);
	return 0;
}

int
buf_put_u8(struct buf *b, uint8_t v)
{
	return buf_put(b, &v, 1);
}

int
buf_put_u32(struct buf *b, uint32_t v)
{
	uint8_t *p;
	int r;

	if ((r = buf_reserve(b, 4, &p)) != 0)
		return r;
	poke_u32(p, v);
	return 0;
}

int
buf_put_u64(struct buf *b, uint64_t v)
{
	uint8_t *p;
	int r;

	if ((r = buf_reserve(b, 8, &p)) != 0)
		return r;
	poke_u64(p, v);
	return 0;
}

int
buf_putf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n, r;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return E_INVAL;
	/* Room for the NUL vsnprintf writes; it is not counted as data. */
	if ((r = grow(b, (size_t)n, 1)) != 0)
		return r;
	va_start(ap, fmt);
	vsnprintf((char *)b->d + b->end, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->end += (size_t)n;
	return 0;
}

const char *
buf_cstr(struct buf *b)
{
	if (b->ro)
		return NULL;
	if (b->cap == b->end && grow(b, 0, 1) != 0)
		return NULL;
	b->d[b->end] = '\0';
	return (const char *)b->d + b->off;
}
