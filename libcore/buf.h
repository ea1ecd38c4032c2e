/*
 * buf.h: the one bounds-checked byte buffer for all wire data.
 *
 * A buf is a FIFO of bytes: readers take from the front (off), writers
 * append at the back (end). A read-only view wraps bytes owned elsewhere
 * (a received frame) without copying. Every getter checks the remaining
 * length first and returns 0 or a negative E_* code (err.h); nothing else
 * in the project does pointer arithmetic on a received frame.
 */
#ifndef SSMP_BUF_H
#define SSMP_BUF_H

#include <stddef.h>
#include <stdint.h>

#define BUF_MAX_DEFAULT ((size_t)256 * 1024 * 1024) /* hard growth limit */

struct buf {
	uint8_t *d;
	size_t off; /* read position */
	size_t end; /* end of data */
	size_t cap; /* allocated bytes; 0 for views */
	size_t max; /* a writer never grows past this */
	int ro;     /* view over foreign bytes: no writes */
	int fixed;  /* writable over the caller's storage: never reallocated or freed */
};

/* Makes b a read-only view of len bytes at data (not copied, not freed). */
void buf_view(struct buf *b, const void *data, size_t len);
/*
 * Makes b an empty buffer writing into the caller's size bytes at mem
 * (never grown, moved or freed: writes past size fail with E_FULL).
 */
void buf_fixed(struct buf *b, void *mem, size_t size);
/* Makes b an empty growable buffer limited to max bytes (0: default). */
void buf_init(struct buf *b, size_t max);
/* Frees a growable buffer's storage; b is empty afterwards. */
void buf_free(struct buf *b);
/* Drops all data, keeping the storage. */
void buf_reset(struct buf *b);

/* Returns the number of unread bytes. */
static inline size_t buf_len(const struct buf *b) { return b->end - b->off; }
/* Returns a pointer to the unread bytes, valid until the buffer changes. */
static inline const uint8_t *buf_ptr(const struct buf *b)
{
	/* NULL + 0 is undefined behaviour: an empty buffer gives "". */
	return b->d != NULL ? b->d + b->off : (const uint8_t *)"";
}

/* Discards n bytes from the front; E_SHORT if fewer are there. */
int buf_consume(struct buf *b, size_t n);
/* Keeps only the first n unread bytes; E_SHORT if fewer are there. */
int buf_truncate(struct buf *b, size_t n);

int buf_get_u8(struct buf *b, uint8_t *v);
int buf_get_u32(struct buf *b, uint32_t *v); /* big-endian */
int buf_get_u64(struct buf *b, uint64_t *v); /* big-endian */
/* Copies n bytes out (out may be NULL to skip them). */
int buf_get(struct buf *b, void *out, size_t n);
/* Hands back a pointer to the next n bytes (no copy) and consumes them. */
int buf_get_direct(struct buf *b, size_t n, const uint8_t **p);
/* Reads a big-endian u32 at offset at from the read position, no consume. */
int buf_peek_u32(const struct buf *b, size_t at, uint32_t *v);

/* Makes room for n more bytes; E_FULL past max, E_NOMEM, E_INVAL if ro. */
int buf_ensure(struct buf *b, size_t n);
/* Appends n bytes left for the caller to fill at *p. */
int buf_reserve(struct buf *b, size_t n, uint8_t **p);
int buf_put(struct buf *b, const void *data, size_t n);
int buf_put_u8(struct buf *b, uint8_t v);
int buf_put_u32(struct buf *b, uint32_t v); /* big-endian */
int buf_put_u64(struct buf *b, uint64_t v); /* big-endian */
/* Appends printf output (no NUL kept in the data). */
int buf_putf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * Ensures a NUL follows the data without counting it, and returns the data
 * as a C string (valid until the buffer changes); NULL on failure.
 */
const char *buf_cstr(struct buf *b);

/* Big-endian peek/poke on memory the caller has already bounds-checked. */
static inline uint32_t peek_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t peek_u64(const uint8_t *p)
{
	return (uint64_t)peek_u32(p) << 32 | peek_u32(p + 4);
}
static inline void poke_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static inline void poke_u64(uint8_t *p, uint64_t v)
{
	poke_u32(p, (uint32_t)(v >> 32));
	poke_u32(p + 4, (uint32_t)v);
}

#endif
