/*
 * ini.c: AWS shared config / credentials file reader.
 *
 * Hand-written because no C INI library follows Python configparser's rules
 * (indent-relative continuation lines, first of '=' or ':' splits, strict
 * duplicates, [DEFAULT] inheritance) and botocore's nested blocks; a file
 * must mean here what it means to the AWS CLI. See ini.h for the rules.
 */
#include "ini.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/crypto.h>

#include "buf.h"

#define DEFAULT_SECTION "DEFAULT"
#define NAME_SHOWN 64 /* longest section/key name quoted in a message */

struct ini_sub {
	char *key;
	char *value;
};

struct ini_key {
	char *name;     /* lower-cased */
	char *value;    /* NULL while open, and for a nested key */
	struct ini_sub *subs;
	size_t nsubs;
	size_t line;
	size_t bad_line; /* [DEFAULT] only: a nested line without '=' */
};

struct ini_sect {
	char *name;
	struct ini_key *keys;
	size_t nkeys, cap;
	size_t line;
};

struct ini {
	struct ini_sect *sects;
	size_t nsects, cap;
	struct ini_sect defaults; /* [DEFAULT], possibly spread over several blocks */
};

/* Current-section markers besides an index into ini->sects. */
#define SECT_NONE ((size_t)-1)
#define SECT_DEFAULT ((size_t)-2)

struct parser {
	struct ini *ini;
	const char *name;
	size_t sect;       /* section taking keys */
	int key_open;      /* the last key line may still take continuations */
	size_t indent;     /* indent of the last section or key line */
	struct buf val;    /* the open key's value: its lines joined with '\n' */
	size_t *vlines;    /* source line of each joined line */
	size_t nvl, capvl;
	size_t stop_line;  /* line of the error that stopped the parse */
	struct err stop;
};

/* Python's str.strip() set, restricted to ASCII (line ends never reach it). */
static int
is_blank(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r' || c == '\n' ||
	       (c >= 0x1c && c <= 0x1f);
}

/* Python's str.splitlines() breaks that can sit inside one physical line. */
static int
is_inner_break(unsigned char c)
{
	return c == '\v' || c == '\f' || c == 0x1c || c == 0x1d || c == 0x1e;
}

static void
trim(const char **s, size_t *n)
{
	while (*n > 0 && is_blank((unsigned char)(*s)[0])) {
		(*s)++;
		(*n)--;
	}
	while (*n > 0 && is_blank((unsigned char)(*s)[*n - 1]))
		(*n)--;
}

static int
ascii_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static int
key_eq(const char *stored, const char *asked)
{
	while (*stored != '\0' && ascii_lower((unsigned char)*stored) ==
	       ascii_lower((unsigned char)*asked)) {
		stored++;
		asked++;
	}
	return *stored == '\0' && *asked == '\0';
}

/* A name fit for a one-line message: control bytes shown as '?', cut short. */
static const char *
shown(const char *s, char out[NAME_SHOWN + 4])
{
	size_t i;

	for (i = 0; s[i] != '\0' && i < NAME_SHOWN; i++)
		out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	if (s[i] != '\0') {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
	return out;
}

static char *
dup_n(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (p == NULL)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

static void
wipe_free(char *s)
{
	if (s == NULL)
		return;
	OPENSSL_cleanse(s, strlen(s));
	free(s);
}

/*
 * Returns arr (n elements of size sz, room for *cap) with room for one
 * more, possibly moved; NULL when out of memory (arr is left as it was).
 */
static void *
grow(void *arr, size_t *cap, size_t n, size_t sz)
{
	size_t ncap;
	void *p;

	if (n < *cap)
		return arr;
	ncap = *cap ? *cap * 2 : 8;
	if (ncap > SIZE_MAX / sz || (p = realloc(arr, ncap * sz)) == NULL)
		return NULL;
	*cap = ncap;
	return p;
}

static void
sect_free(struct ini_sect *s)
{
	for (size_t i = 0; i < s->nkeys; i++) {
		struct ini_key *k = &s->keys[i];

		wipe_free(k->name);
		wipe_free(k->value);
		for (size_t j = 0; j < k->nsubs; j++) {
			wipe_free(k->subs[j].key);
			wipe_free(k->subs[j].value);
		}
		free(k->subs);
	}
	free(s->keys);
	free(s->name);
}

void
ini_free(struct ini *ini)
{
	if (ini == NULL)
		return;
	for (size_t i = 0; i < ini->nsects; i++)
		sect_free(&ini->sects[i]);
	free(ini->sects);
	sect_free(&ini->defaults);
	free(ini);
}

static int
fail(struct parser *p, size_t line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static const struct ini_key *find_key(const struct ini_sect *s, const char *key);

/* Records the error that stops the parse; returns E_CONFIG. */
static int
fail(struct parser *p, size_t line, const char *fmt, ...)
{
	char why[ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	p->stop_line = line;
	return err_set(&p->stop, E_CONFIG, "%s:%zu: %s", p->name, line, why);
}

static struct ini_sect *
cur_sect(struct parser *p)
{
	if (p->sect == SECT_DEFAULT)
		return &p->ini->defaults;
	if (p->sect == SECT_NONE)
		return NULL;
	return &p->ini->sects[p->sect];
}

static int
note_line(struct parser *p, size_t line)
{
	size_t *v = grow(p->vlines, &p->capvl, p->nvl, sizeof(*v));

	if (v == NULL)
		return E_NOMEM;
	p->vlines = v;
	p->vlines[p->nvl++] = line;
	return 0;
}

/*
 * Adds or (botocore's dict) replaces a nested entry; 0, E_NOMEM, or E_FULL
 * when a new key would pass INI_MAX_SUBS (which keeps this scan cheap).
 */
static int
add_sub(struct ini_key *k, const char *key, size_t klen, const char *val, size_t vlen)
{
	struct ini_sub *subs;
	char *v;

	if ((v = dup_n(val, vlen)) == NULL)
		return E_NOMEM;
	for (size_t i = 0; i < k->nsubs; i++) {
		if (strlen(k->subs[i].key) == klen && memcmp(k->subs[i].key, key, klen) == 0) {
			wipe_free(k->subs[i].value);
			k->subs[i].value = v;
			return 0;
		}
	}
	if (k->nsubs == INI_MAX_SUBS) {
		wipe_free(v);
		return E_FULL;
	}
	subs = realloc(k->subs, (k->nsubs + 1) * sizeof(*subs));
	if (subs == NULL) {
		wipe_free(v);
		return E_NOMEM;
	}
	k->subs = subs;
	if ((subs[k->nsubs].key = dup_n(key, klen)) == NULL) {
		wipe_free(v);
		return E_NOMEM;
	}
	subs[k->nsubs++].value = v;
	return 0;
}

/* Splits a nested block ("\nk = v\nk2 = v2") into sub-entries of k. */
static int
parse_nested(struct parser *p, struct ini_key *k, const char *v, size_t n)
{
	size_t i = 0, lineidx = 0;
	int r;

	while (i <= n) {
		size_t start = i;
		const char *piece, *eq;
		size_t plen;

		while (i < n && v[i] != '\n' && !is_inner_break((unsigned char)v[i]))
			i++;
		piece = v + start;
		plen = i - start;
		trim(&piece, &plen);
		if (plen > 0) {
			size_t line = p->vlines[lineidx < p->nvl ? lineidx : p->nvl - 1];
			char nm[NAME_SHOWN + 4];

			eq = memchr(piece, '=', plen);
			if (eq == NULL && p->sect == SECT_DEFAULT) {
				/* Counts only if a section inherits k: see inherited_errors. */
				k->bad_line = line;
				return 0;
			}
			if (eq == NULL)
				return fail(p, line, "line in the nested block of '%s' has no '='",
					    shown(k->name, nm));
			const char *sk = piece, *sv = eq + 1;
			size_t sklen = (size_t)(eq - piece), svlen = plen - sklen - 1;

			trim(&sk, &sklen);
			trim(&sv, &svlen);
			r = add_sub(k, sk, sklen, sv, svlen);
			if (r == E_FULL)
				return fail(p, line, "more than %d entries in the nested block of '%s'",
					    INI_MAX_SUBS, shown(k->name, nm));
			if (r != 0)
				return r;
		}
		if (i < n && v[i] == '\n')
			lineidx++;
		i++;
	}
	return 0;
}

/* Ends the open key: joins its lines (trailing empty ones dropped). */
static int
close_key(struct parser *p)
{
	struct ini_sect *s = cur_sect(p);
	struct ini_key *k;
	const char *v;
	size_t n;
	int r;

	if (!p->key_open)
		return 0;
	p->key_open = 0;
	k = &s->keys[s->nkeys - 1];
	n = buf_len(&p->val);
	v = (const char *)buf_ptr(&p->val);
	while (n > 0 && v[n - 1] == '\n')
		n--;
	if (n > 0 && v[0] == '\n')
		r = parse_nested(p, k, v, n);
	else
		r = (k->value = dup_n(v, n)) == NULL ? E_NOMEM : 0;
	/* Only the bytes written: the buffer is as large as the whole text. */
	if (p->val.end > 0)
		OPENSSL_cleanse(p->val.d, p->val.end);
	buf_reset(&p->val);
	return r;
}

static int
header_line(struct parser *p, const char *t, size_t n, size_t line)
{
	const char *close = NULL;
	struct ini_sect *s;
	char *name;
	int r;

	for (size_t i = n; i > 1; i--) {
		if (t[i - 1] == ']') {
			close = t + i - 1;
			break;
		}
	}
	if (close == NULL)
		return fail(p, line, "unterminated section header");
	if (close == t + 1)
		return fail(p, line, "empty section name");
	if ((r = close_key(p)) != 0)
		return r;
	/* Text after the last ']' is ignored, as configparser's header regex does. */
	if ((size_t)(close - t - 1) == strlen(DEFAULT_SECTION) &&
	    memcmp(t + 1, DEFAULT_SECTION, strlen(DEFAULT_SECTION)) == 0) {
		p->sect = SECT_DEFAULT;
		return 0;
	}
	if ((name = dup_n(t + 1, (size_t)(close - t - 1))) == NULL)
		return E_NOMEM;
	if ((s = grow(p->ini->sects, &p->ini->cap, p->ini->nsects, sizeof(*s))) == NULL) {
		free(name);
		return E_NOMEM;
	}
	p->ini->sects = s;
	s = &p->ini->sects[p->ini->nsects];
	memset(s, 0, sizeof(*s));
	s->name = name;
	s->line = line;
	p->sect = p->ini->nsects++;
	return 0;
}

static int
key_line(struct parser *p, const char *t, size_t n, size_t line)
{
	struct ini_sect *s = cur_sect(p);
	struct ini_key *k;
	const char *key = t, *val;
	size_t klen, vlen;
	int r;

	if (s == NULL)
		return fail(p, line, "key outside any section (a [section] header must come first)");
	for (klen = 0; klen < n && t[klen] != '=' && t[klen] != ':'; klen++)
		;
	if (klen == n)
		return fail(p, line, "expected 'key = value' or '[section]'");
	val = t + klen + 1;
	vlen = n - klen - 1;
	trim(&key, &klen);
	trim(&val, &vlen);
	if (klen == 0)
		return fail(p, line, "empty key name");
	if ((r = close_key(p)) != 0)
		return r;
	if ((k = grow(s->keys, &s->cap, s->nkeys, sizeof(*k))) == NULL)
		return E_NOMEM;
	s->keys = k;
	k = &s->keys[s->nkeys];
	memset(k, 0, sizeof(*k));
	if ((k->name = dup_n(key, klen)) == NULL)
		return E_NOMEM;
	for (char *c = k->name; *c != '\0'; c++)
		*c = (char)ascii_lower((unsigned char)*c);
	k->line = line;
	s->nkeys++;
	p->key_open = 1;
	p->nvl = 0;
	if ((r = buf_put(&p->val, val, vlen)) != 0)
		return r;
	return note_line(p, line);
}

/* One physical line without its line end. */
static int
parse_line(struct parser *p, const char *s, size_t n, size_t line)
{
	const char *t = s;
	size_t tn = n, indent;
	int r;

	trim(&t, &tn);
	if (tn == 0) {
		/* configparser keeps blank lines inside a value. */
		if (p->key_open) {
			if ((r = buf_put_u8(&p->val, '\n')) != 0)
				return r;
			return note_line(p, line);
		}
		return 0;
	}
	if (t[0] == '#' || t[0] == ';')
		return 0;
	indent = (size_t)(t - s);
	if (p->key_open && indent > p->indent) {
		if ((r = buf_put_u8(&p->val, '\n')) != 0 || (r = buf_put(&p->val, t, tn)) != 0)
			return r;
		return note_line(p, line);
	}
	p->indent = indent;
	if (t[0] == '[')
		return header_line(p, t, tn, line);
	return key_line(p, t, tn, line);
}

/* Line number (1-based) of byte pos, counting "\n", "\r\n" and "\r" ends. */
static size_t
line_of(const char *text, size_t pos)
{
	size_t line = 1;

	for (size_t i = 0; i < pos; i++)
		if (text[i] == '\n' || (text[i] == '\r' && text[i + 1] != '\n'))
			line++;
	return line;
}

/* Rejects NUL bytes and malformed UTF-8 (botocore fails to decode those). */
static int
check_bytes(struct parser *p, const char *text, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = (unsigned char)text[i];
		unsigned long cp;
		int n;

		if (c == 0)
			return fail(p, line_of(text, i), "NUL byte");
		if (c < 0x80) {
			i++;
			continue;
		}
		n = UTF8_getc((const unsigned char *)text + i,
			      len - i > 8 ? 8 : (int)(len - i), &cp);
		if (n <= 0)
			return fail(p, line_of(text, i), "not valid UTF-8");
		i += (size_t)n;
	}
	return 0;
}

/*
 * A malformed nested block in [DEFAULT] is an error only where a section
 * inherits it: botocore splits blocks per section, after configparser
 * merged in the defaults. The earliest such line wins over a later stop.
 */
static void
inherited_errors(struct parser *p)
{
	const struct ini *ini = p->ini;
	const struct ini_key *worst = NULL;

	for (size_t i = 0; i < ini->defaults.nkeys; i++) {
		const struct ini_key *k = &ini->defaults.keys[i];

		if (k->bad_line == 0 || (worst != NULL && worst->bad_line <= k->bad_line))
			continue;
		for (size_t j = 0; j < ini->nsects; j++) {
			if (find_key(&ini->sects[j], k->name) == NULL) {
				worst = k;
				break;
			}
		}
	}
	if (worst != NULL && (p->stop.code == 0 || worst->bad_line < p->stop_line)) {
		char nm[NAME_SHOWN + 4];

		fail(p, worst->bad_line, "line in the nested block of '%s' has no '='",
		     shown(worst->name, nm));
	}
}

struct dup_ent {
	const char *sect;
	const char *key; /* NULL for the section header itself */
	size_t line;
};

/* Orders by section, then key (the header first), then line. */
static int
name_cmp(const struct dup_ent *x, const struct dup_ent *y)
{
	int c = strcmp(x->sect, y->sect);

	if (c != 0 || (x->key == NULL && y->key == NULL))
		return c;
	if (x->key == NULL || y->key == NULL)
		return x->key == NULL ? -1 : 1;
	return strcmp(x->key, y->key);
}

static int
same_name(const struct dup_ent *x, const struct dup_ent *y)
{
	return name_cmp(x, y) == 0;
}

static int
dup_cmp(const void *a, const void *b)
{
	const struct dup_ent *x = a, *y = b;
	int c = name_cmp(x, y);

	if (c != 0)
		return c;
	return x->line < y->line ? -1 : x->line > y->line;
}

/*
 * configparser (strict) refuses a repeated section or key. Sorting finds
 * them in O(n log n); the repeat reported is the earliest in the file.
 */
static int
find_dups(struct parser *p)
{
	struct ini *ini = p->ini;
	struct dup_ent *v, *best = NULL;
	size_t n = ini->defaults.nkeys, k = 0;

	for (size_t i = 0; i < ini->nsects; i++)
		n += 1 + ini->sects[i].nkeys;
	if (n < 2)
		return 0;
	if ((v = calloc(n, sizeof(*v))) == NULL)
		return E_NOMEM;
	for (size_t i = 0; i < ini->defaults.nkeys; i++)
		v[k++] = (struct dup_ent){ DEFAULT_SECTION, ini->defaults.keys[i].name,
					   ini->defaults.keys[i].line };
	for (size_t i = 0; i < ini->nsects; i++) {
		const struct ini_sect *s = &ini->sects[i];

		v[k++] = (struct dup_ent){ s->name, NULL, s->line };
		for (size_t j = 0; j < s->nkeys; j++)
			v[k++] = (struct dup_ent){ s->name, s->keys[j].name, s->keys[j].line };
	}
	qsort(v, n, sizeof(*v), dup_cmp);
	for (size_t i = 1; i < n; i++) {
		/* Equal names sort by line, so v[i - 1] is the earlier one. */
		if (same_name(&v[i - 1], &v[i]) && (best == NULL || v[i].line < best[1].line))
			best = &v[i - 1];
	}
	if (best != NULL && (p->stop.code == 0 || best[1].line < p->stop_line)) {
		char a[NAME_SHOWN + 4], b[NAME_SHOWN + 4];

		if (best->key == NULL)
			fail(p, best[1].line, "duplicate section '%s' (first at line %zu)",
			     shown(best->sect, a), best->line);
		else
			fail(p, best[1].line, "duplicate key '%s' in section '%s' (first at line %zu)",
			     shown(best->key, a), shown(best->sect, b), best->line);
	}
	free(v);
	return 0;
}

int
ini_parse(struct ini **out, const char *text, size_t len, const char *name_for_errors,
	  struct err *e)
{
	struct parser p;
	size_t pos = 0, line = 0;
	int r = 0;

	*out = NULL;
	if (name_for_errors == NULL)
		name_for_errors = "(config)";
	if (len > INI_MAX_FILE)
		return err_set(e, E_RANGE, "%s: file larger than %zu bytes", name_for_errors,
			       INI_MAX_FILE);
	memset(&p, 0, sizeof(p));
	p.name = name_for_errors;
	p.sect = SECT_NONE;
	buf_init(&p.val, INI_MAX_FILE + 1);
	/* No value outgrows the text: sizing once leaves no secret in freed blocks. */
	if ((p.ini = calloc(1, sizeof(*p.ini))) == NULL || buf_ensure(&p.val, len + 1) != 0) {
		free(p.ini);
		buf_free(&p.val);
		return err_set(e, E_NOMEM, "%s: out of memory", name_for_errors);
	}
	/* Skip a UTF-8 byte order mark, which Windows editors like to write. */
	if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
		pos = 3;
	r = check_bytes(&p, text, len);
	while (r == 0 && pos < len) {
		size_t start = pos;

		line++;
		while (pos < len && text[pos] != '\n' && text[pos] != '\r')
			pos++;
		r = parse_line(&p, text + start, pos - start, line);
		if (pos < len && text[pos] == '\r' && pos + 1 < len && text[pos + 1] == '\n')
			pos++;
		if (pos < len)
			pos++;
	}
	if (r == 0)
		r = close_key(&p);
	if (r == 0 || r == E_CONFIG)
		inherited_errors(&p);
	if (r == 0 || r == E_CONFIG)
		r = find_dups(&p) != 0 ? E_NOMEM : p.stop.code;
	if (p.val.cap > 0)
		OPENSSL_cleanse(p.val.d, p.val.cap);
	buf_free(&p.val);
	free(p.vlines);
	if (r != 0) {
		ini_free(p.ini);
		if (r != E_CONFIG)
			return err_set(e, r, "%s: %s", name_for_errors, err_str(r));
		if (e != NULL)
			*e = p.stop;
		return r;
	}
	*out = p.ini;
	return 0;
}

int
ini_load_file(struct ini **out, const char *path, struct err *e)
{
	const size_t lim = INI_MAX_FILE + 1; /* one byte more tells "too large" */
	struct buf b;
	struct stat st;
	int fd, r = 0;

	*out = NULL;
	/* O_NONBLOCK: opening a FIFO must not hang; it is refused below anyway. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return err_set(e, E_NOTFOUND, "%s: no such file", path);
		return err_set(e, E_IO, "cannot open %s: %s", path, strerror(errno));
	}
	if (fstat(fd, &st) != 0) {
		r = err_set(e, E_IO, "cannot stat %s: %s", path, strerror(errno));
		close(fd);
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return err_set(e, E_NOTFOUND, "%s: not a regular file", path);
	}
	if ((uintmax_t)st.st_size > INI_MAX_FILE) {
		close(fd);
		return err_set(e, E_RANGE, "%s: file larger than %zu bytes", path, INI_MAX_FILE);
	}
	buf_init(&b, lim);
	/* Sized up front so secrets are not left behind in realloc'd blocks. */
	if (buf_ensure(&b, (size_t)st.st_size + 1) != 0) {
		close(fd);
		return err_set(e, E_NOMEM, "%s: out of memory", path);
	}
	for (;;) {
		size_t room = lim - buf_len(&b);
		uint8_t *dst;
		ssize_t n;

		if (room == 0) {
			r = err_set(e, E_RANGE, "%s: file larger than %zu bytes", path, INI_MAX_FILE);
			break;
		}
		if (room > 65536)
			room = 65536;
		if (buf_reserve(&b, room, &dst) != 0) {
			r = err_set(e, E_NOMEM, "%s: out of memory", path);
			break;
		}
		n = read(fd, dst, room);
		buf_truncate(&b, buf_len(&b) - room + (n > 0 ? (size_t)n : 0));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = err_set(e, E_IO, "cannot read %s: %s", path, strerror(errno));
			break;
		}
		if (n == 0)
			break;
	}
	close(fd);
	if (r == 0)
		r = ini_parse(out, (const char *)buf_ptr(&b), buf_len(&b), path, e);
	/* The credentials file holds secrets. */
	if (b.cap > 0)
		OPENSSL_cleanse(b.d, b.cap);
	buf_free(&b);
	return r;
}

static const struct ini_sect *
find_sect(const struct ini *ini, const char *section)
{
	if (ini == NULL || section == NULL)
		return NULL;
	for (size_t i = 0; i < ini->nsects; i++)
		if (strcmp(ini->sects[i].name, section) == 0)
			return &ini->sects[i];
	return NULL;
}

static const struct ini_key *
find_key(const struct ini_sect *s, const char *key)
{
	for (size_t i = 0; i < s->nkeys; i++)
		if (key_eq(s->keys[i].name, key))
			return &s->keys[i];
	return NULL;
}

/* A key of section, or else the [DEFAULT] one it inherits. */
static const struct ini_key *
lookup(const struct ini *ini, const char *section, const char *key)
{
	const struct ini_sect *s = find_sect(ini, section);
	const struct ini_key *k;

	if (s == NULL || key == NULL)
		return NULL;
	if ((k = find_key(s, key)) == NULL)
		k = find_key(&ini->defaults, key);
	return k;
}

const char *
ini_get(const struct ini *ini, const char *section, const char *key)
{
	const struct ini_key *k = lookup(ini, section, key);

	return k != NULL ? k->value : NULL;
}

const char *
ini_get_sub(const struct ini *ini, const char *section, const char *key, const char *sub)
{
	const struct ini_key *k = lookup(ini, section, key);

	if (k == NULL || k->value != NULL || sub == NULL)
		return NULL;
	for (size_t i = 0; i < k->nsubs; i++)
		if (strcmp(k->subs[i].key, sub) == 0)
			return k->subs[i].value;
	return NULL;
}

int
ini_has_key(const struct ini *ini, const char *section, const char *key)
{
	return lookup(ini, section, key) != NULL;
}

int
ini_has_section(const struct ini *ini, const char *section)
{
	return find_sect(ini, section) != NULL;
}

const char *
ini_section_at(const struct ini *ini, size_t i)
{
	if (ini == NULL || i >= ini->nsects)
		return NULL;
	return ini->sects[i].name;
}

static int
visit_key(const struct ini_key *k, const char *section, ini_visit_fn fn, void *arg)
{
	int r;

	if (k->value != NULL)
		return fn(arg, section, k->name, NULL, k->value);
	for (size_t i = 0; i < k->nsubs; i++)
		if ((r = fn(arg, section, k->name, k->subs[i].key, k->subs[i].value)) != 0)
			return r;
	return 0;
}

int
ini_foreach(const struct ini *ini, ini_visit_fn fn, void *arg)
{
	int r;

	if (ini == NULL)
		return 0;
	for (size_t i = 0; i < ini->nsects; i++) {
		const struct ini_sect *s = &ini->sects[i];

		if ((r = fn(arg, s->name, NULL, NULL, NULL)) != 0)
			return r;
		for (size_t j = 0; j < s->nkeys; j++)
			if ((r = visit_key(&s->keys[j], s->name, fn, arg)) != 0)
				return r;
		for (size_t j = 0; j < ini->defaults.nkeys; j++) {
			const struct ini_key *d = &ini->defaults.keys[j];

			if (find_key(s, d->name) == NULL && (r = visit_key(d, s->name, fn, arg)) != 0)
				return r;
		}
	}
	return 0;
}
