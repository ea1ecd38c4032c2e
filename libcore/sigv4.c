/*
 * sigv4.c: AWS Signature Version 4 signer and verifier.
 *
 * Debian's libcurl has SigV4 built in but disagrees with 11 of the official
 * test vectors, so canonicalisation is done here; OpenSSL does the hashing.
 */
#include "sigv4.h"
#include "buf.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define SHA256_LEN 32

static const char HEX_UPPER[] = "0123456789ABCDEF";
static const char HEX_LOWER[] = "0123456789abcdef";

/* ------------------------------------------------------------------ */
/* String building: a buf plus a sticky error, checked once at the end. */

struct sb {
	struct buf b;
	int r;
};

static void
sb_init(struct sb *s)
{
	buf_init(&s->b, 0);
	s->r = 0;
}

static void
sb_put(struct sb *s, const void *d, size_t n)
{
	if (s->r == 0 && n > 0)
		s->r = buf_put(&s->b, d, n);
}

static void
sb_str(struct sb *s, const char *str)
{
	sb_put(s, str, strlen(str));
}

static void
sb_chr(struct sb *s, char c)
{
	sb_put(s, &c, 1);
}

/* Returns the built string as a heap C string (NULL on any error) and frees s. */
static char *
sb_finish(struct sb *s)
{
	char *out = NULL;
	const char *c;

	if (s->r == 0 && (c = buf_cstr(&s->b)) != NULL)
		out = strndup(c, buf_len(&s->b));
	buf_free(&s->b);
	return out;
}

/* ------------------------------------------------------------------ */
/* Character classes and encoding. */

static int
is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
}

static int
is_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int
is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

static char
ascii_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c + ('a' - 'A')) : c;
}

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * RFC 3986 encoding of everything but unreserved characters (and '/' when
 * asked), upper-case hex, as SigV4 wants. Hand-written rather than
 * curl_easy_escape because it appends into the buffer being built without
 * a libcurl allocation per component, and the exact rule set is SigV4's.
 */
static void
sb_uri_encode(struct sb *s, const char *p, size_t n, int keep_slash)
{
	size_t i, run = 0;
	char pct[3];

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (is_unreserved(c) || (keep_slash && c == '/')) {
			run++;
			continue;
		}
		sb_put(s, p + i - run, run);
		run = 0;
		pct[0] = '%';
		pct[1] = HEX_UPPER[c >> 4];
		pct[2] = HEX_UPPER[c & 15];
		sb_put(s, pct, 3);
	}
	sb_put(s, p + n - run, run);
}

/*
 * Percent-decodes n bytes into s. Only valid %XX sequences are decoded; a
 * stray '%' stays literal (and is then re-encoded as %25). '+' is left as
 * is: SigV4 clients encode a space as %20.
 */
static void
sb_pct_decode(struct sb *s, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		int hi, lo;

		if (p[i] == '%' && n - i >= 3 &&
		    (hi = hexval((unsigned char)p[i + 1])) >= 0 &&
		    (lo = hexval((unsigned char)p[i + 2])) >= 0) {
			sb_chr(s, (char)(hi << 4 | lo));
			i += 2;
		} else {
			sb_chr(s, p[i]);
		}
	}
}

/* Returns a heap string: the canonical (decoded, then re-encoded) form. */
static char *
canon_component(const char *p, size_t n)
{
	struct sb d, o;

	sb_init(&d);
	sb_pct_decode(&d, p, n);
	sb_init(&o);
	/* An empty component never allocated: buf_ptr would be NULL + 0. */
	if (d.r == 0 && buf_len(&d.b) > 0)
		sb_uri_encode(&o, (const char *)buf_ptr(&d.b), buf_len(&d.b), 0);
	else if (d.r != 0)
		o.r = d.r;
	buf_free(&d.b);
	return sb_finish(&o);
}

/* Returns a heap string: s percent-encoded (nothing decoded first). */
static char *
encode_str(const char *str)
{
	struct sb o;

	sb_init(&o);
	sb_uri_encode(&o, str, strlen(str), 0);
	return sb_finish(&o);
}

/* ------------------------------------------------------------------ */
/* Hashing. */

static void
hex_lower(const unsigned char *d, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = HEX_LOWER[d[i] >> 4];
		out[2 * i + 1] = HEX_LOWER[d[i] & 15];
	}
	out[2 * n] = '\0';
}

int
sigv4_sha256_hex(const void *data, size_t len, char out[SIGV4_SIG_HEX_LEN + 1])
{
	unsigned char md[SHA256_LEN];
	static const unsigned char empty[1];

	if (out == NULL || (data == NULL && len > 0))
		return E_INVAL;
	if (SHA256(data != NULL ? data : empty, len, md) == NULL)
		return E_INVAL;
	hex_lower(md, sizeof(md), out);
	return 0;
}

static int
hmac256(const void *key, size_t klen, const char *msg, unsigned char out[SHA256_LEN])
{
	unsigned int olen = 0;

	if (klen > INT_MAX)
		return E_INVAL;
	if (HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg),
		 out, &olen) == NULL || olen != SHA256_LEN)
		return E_INVAL;
	return 0;
}

/* Derives the signing key and writes the hex signature of sts into sig. */
static int
compute_signature(const char *secret, const char *date8, const char *region,
		  const char *service, const char *sts, char sig[SIGV4_SIG_HEX_LEN + 1],
		  struct err *e)
{
	unsigned char k[SHA256_LEN], k2[SHA256_LEN];
	size_t slen = strlen(secret);
	char *ksecret;
	int r;

	if (slen > SIZE_MAX - 5 || (ksecret = malloc(slen + 5)) == NULL)
		return err_set(e, E_NOMEM, "out of memory deriving the signing key");
	memcpy(ksecret, "AWS4", 4);
	memcpy(ksecret + 4, secret, slen + 1);
	r = hmac256(ksecret, slen + 4, date8, k);
	if (r == 0)
		r = hmac256(k, sizeof(k), region, k2);
	if (r == 0)
		r = hmac256(k2, sizeof(k2), service, k);
	if (r == 0)
		r = hmac256(k, sizeof(k), "aws4_request", k2);
	if (r == 0)
		r = hmac256(k2, sizeof(k2), sts, k);
	if (r == 0)
		hex_lower(k, sizeof(k), sig);
	/* The derived keys are as good as the secret for a day: wipe them. */
	OPENSSL_cleanse(ksecret, slen + 4);
	OPENSSL_cleanse(k, sizeof(k));
	OPENSSL_cleanse(k2, sizeof(k2));
	free(ksecret);
	if (r != 0)
		return err_set(e, r, "hmac-sha256 failed");
	return 0;
}

/* ------------------------------------------------------------------ */
/* Time. */

int
sigv4_amz_date(time_t t, char out[SIGV4_AMZ_DATE_LEN + 1])
{
	struct tm tm;

	if (out == NULL || gmtime_r(&t, &tm) == NULL || tm.tm_year < -1900 ||
	    tm.tm_year > 9999 - 1900)
		return E_RANGE;
	if (strftime(out, SIGV4_AMZ_DATE_LEN + 1, "%Y%m%dT%H%M%SZ", &tm) != SIGV4_AMZ_DATE_LEN)
		return E_RANGE;
	return 0;
}

static int
digits(const char *s, size_t n, int *v)
{
	size_t i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		*v = *v * 10 + (s[i] - '0');
	}
	return 0;
}

int
sigv4_parse_amz_date(const char *s, time_t *t)
{
	struct tm tm, back;
	int y, mo, d, h, mi, se;
	time_t v;

	if (s == NULL || t == NULL || strlen(s) != SIGV4_AMZ_DATE_LEN || s[8] != 'T' ||
	    s[15] != 'Z')
		return E_INVAL;
	if (digits(s, 4, &y) || digits(s + 4, 2, &mo) || digits(s + 6, 2, &d) ||
	    digits(s + 9, 2, &h) || digits(s + 11, 2, &mi) || digits(s + 13, 2, &se))
		return E_INVAL;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 59)
		return E_INVAL;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	v = timegm(&tm);
	/* timegm normalises 31 February into March: a round trip catches it. */
	if (gmtime_r(&v, &back) == NULL || back.tm_mday != d || back.tm_mon != mo - 1)
		return E_INVAL;
	*t = v;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Canonical request parts. */

/* Appends the canonical URI: encoded segments, optionally normalised. */
static void
sb_canonical_uri(struct sb *s, const char *path, int normalize)
{
	struct seg { size_t off, len; } *segs;
	size_t n = strlen(path), nslash = 0, nseg = 0, i, start;

	if (n == 0) {
		sb_chr(s, '/');
		return;
	}
	if (!normalize) {
		sb_uri_encode(s, path, n, 1);
		return;
	}
	for (i = 0; i < n; i++)
		nslash += path[i] == '/';
	if ((segs = calloc(nslash + 1, sizeof(*segs))) == NULL) {
		if (s->r == 0)
			s->r = E_NOMEM;
		return;
	}
	/* Empty segments ("//") and "." vanish; ".." drops the previous one. */
	for (start = 0; start <= n; start = i + 1) {
		size_t len;

		for (i = start; i < n && path[i] != '/'; i++)
			;
		len = i - start;
		if (len == 0 || (len == 1 && path[start] == '.'))
			continue;
		if (len == 2 && path[start] == '.' && path[start + 1] == '.') {
			if (nseg > 0)
				nseg--;
			continue;
		}
		segs[nseg].off = start;
		segs[nseg].len = len;
		nseg++;
	}
	if (nseg == 0) {
		sb_chr(s, '/');
	} else {
		for (i = 0; i < nseg; i++) {
			sb_chr(s, '/');
			sb_uri_encode(s, path + segs[i].off, segs[i].len, 0);
		}
		if (path[n - 1] == '/')
			sb_chr(s, '/');
	}
	free(segs);
}

struct qparam {
	char *k, *v; /* canonical (encoded) forms */
};

static int
qparam_cmp(const void *a, const void *b)
{
	const struct qparam *x = a, *y = b;
	int c = strcmp(x->k, y->k);

	return c != 0 ? c : strcmp(x->v, y->v);
}

struct qlist {
	struct qparam *p;
	size_t n, cap;
};

static void
qlist_free(struct qlist *q)
{
	size_t i;

	for (i = 0; i < q->n; i++) {
		free(q->p[i].k);
		free(q->p[i].v);
	}
	free(q->p);
	memset(q, 0, sizeof(*q));
}

/* Takes ownership of k and v (both may be NULL after a failed allocation). */
static int
qlist_add(struct qlist *q, char *k, char *v)
{
	if (k == NULL || v == NULL || q->n == q->cap) {
		free(k);
		free(v);
		return E_NOMEM;
	}
	q->p[q->n].k = k;
	q->p[q->n].v = v;
	q->n++;
	return 0;
}

/* Splits a raw query into canonical pairs, with room for `extra` more. */
static int
qlist_parse(struct qlist *q, const char *query, size_t extra)
{
	size_t n = 1, i, start, len;
	int r;

	memset(q, 0, sizeof(*q));
	if (query == NULL)
		query = "";
	len = strlen(query);
	for (i = 0; i < len; i++)
		n += query[i] == '&';
	q->cap = n + extra;
	if ((q->p = calloc(q->cap, sizeof(*q->p))) == NULL)
		return E_NOMEM;
	for (start = 0; start < len; start = i + 1) {
		const char *eq;
		size_t plen;

		for (i = start; i < len && query[i] != '&'; i++)
			;
		plen = i - start;
		if (plen == 0)
			continue;
		eq = memchr(query + start, '=', plen);
		if (eq == NULL)
			r = qlist_add(q, canon_component(query + start, plen), strdup(""));
		else
			r = qlist_add(q, canon_component(query + start, (size_t)(eq - (query + start))),
				      canon_component(eq + 1, plen - (size_t)(eq + 1 - (query + start))));
		if (r != 0)
			return r;
	}
	return 0;
}

/* Appends "k=v&k=v..." sorted by key, then value. */
static void
sb_canonical_query(struct sb *s, struct qlist *q)
{
	size_t i;

	if (q->n > 1)
		qsort(q->p, q->n, sizeof(*q->p), qparam_cmp);
	for (i = 0; i < q->n; i++) {
		if (i > 0)
			sb_chr(s, '&');
		sb_str(s, q->p[i].k);
		sb_chr(s, '=');
		sb_str(s, q->p[i].v);
	}
}

struct hent {
	char *lname;
	const char *value;
	size_t idx; /* position in the request: keeps duplicates in order */
};

static int
hent_cmp(const void *a, const void *b)
{
	const struct hent *x = a, *y = b;
	int c = strcmp(x->lname, y->lname);

	if (c != 0)
		return c;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Appends a header value trimmed, with whitespace runs (and folds) as one space. */
static void
sb_header_value(struct sb *s, const char *v)
{
	const char *p = v, *w;

	while (is_ws((unsigned char)*p))
		p++;
	while (*p != '\0') {
		for (w = p; *w != '\0' && !is_ws((unsigned char)*w); w++)
			;
		sb_put(s, p, (size_t)(w - p));
		while (is_ws((unsigned char)*w))
			w++;
		if (*w != '\0')
			sb_chr(s, ' ');
		p = w;
	}
}

/*
 * Appends the canonical headers block ("name:value\n" per distinct name,
 * duplicates joined by ',') to canon and the SignedHeaders list to list,
 * over hs followed by extra.
 */
static int
canonical_headers(const struct sigv4_header *hs, size_t n, const struct sigv4_header *extra,
		  size_t nextra, struct sb *canon, struct sb *list)
{
	struct hent *ents;
	size_t total = n + nextra, i, j;
	int r = 0;

	if ((ents = calloc(total ? total : 1, sizeof(*ents))) == NULL)
		return E_NOMEM;
	for (i = 0; i < total; i++) {
		const struct sigv4_header *h = i < n ? &hs[i] : &extra[i - n];

		if ((ents[i].lname = strdup(h->name)) == NULL) {
			r = E_NOMEM;
			goto out;
		}
		for (j = 0; ents[i].lname[j] != '\0'; j++)
			ents[i].lname[j] = ascii_lower(ents[i].lname[j]);
		ents[i].value = h->value;
		ents[i].idx = i;
	}
	qsort(ents, total, sizeof(*ents), hent_cmp);
	for (i = 0; i < total; i++) {
		int first = i == 0 || strcmp(ents[i].lname, ents[i - 1].lname) != 0;
		int last = i + 1 == total || strcmp(ents[i].lname, ents[i + 1].lname) != 0;

		if (first) {
			if (list->b.end > 0)
				sb_chr(list, ';');
			sb_str(list, ents[i].lname);
			sb_str(canon, ents[i].lname);
			sb_chr(canon, ':');
		} else {
			sb_chr(canon, ',');
		}
		sb_header_value(canon, ents[i].value);
		if (last)
			sb_chr(canon, '\n');
	}
out:
	for (i = 0; i < total; i++)
		free(ents[i].lname);
	free(ents);
	return r;
}

/* Returns the number of headers named name (any case); *first gets the first. */
static size_t
find_header(const struct sigv4_request *req, const char *name, const char **first)
{
	size_t i, count = 0;

	*first = NULL;
	for (i = 0; i < req->nheaders; i++) {
		if (req->headers[i].name != NULL && strcasecmp(req->headers[i].name, name) == 0) {
			if (count++ == 0)
				*first = req->headers[i].value;
		}
	}
	return count;
}

/* Copies v without surrounding whitespace into out (size outsz); 0 or -1 if too long. */
static int
trimmed(const char *v, char *out, size_t outsz)
{
	size_t n;

	while (is_ws((unsigned char)*v))
		v++;
	n = strlen(v);
	while (n > 0 && is_ws((unsigned char)v[n - 1]))
		n--;
	if (n >= outsz)
		return -1;
	memcpy(out, v, n);
	out[n] = '\0';
	return 0;
}

/*
 * Builds the canonical request and string to sign and computes the
 * signature; canonical query, headers and payload hash come prepared.
 */
static int
finish_signature(const struct sigv4_request *req, int normalize, const char *cquery,
		 const char *cheaders, const char *signed_list, const char *payload_hash,
		 const char *amz_date, const char *scope, const char *secret,
		 const char *date8, const char *region, const char *service,
		 struct sigv4_result *res, struct err *e)
{
	struct sb s;
	char h[SIGV4_SIG_HEX_LEN + 1];

	sb_init(&s);
	sb_str(&s, req->method);
	sb_chr(&s, '\n');
	sb_canonical_uri(&s, req->path, normalize);
	sb_chr(&s, '\n');
	sb_str(&s, cquery);
	sb_chr(&s, '\n');
	sb_str(&s, cheaders);
	sb_chr(&s, '\n');
	sb_str(&s, signed_list);
	sb_chr(&s, '\n');
	sb_str(&s, payload_hash);
	if ((res->canonical_request = sb_finish(&s)) == NULL)
		return err_set(e, E_NOMEM, "out of memory building the canonical request");

	sigv4_sha256_hex(res->canonical_request, strlen(res->canonical_request), h);
	sb_init(&s);
	sb_str(&s, SIGV4_ALGORITHM "\n");
	sb_str(&s, amz_date);
	sb_chr(&s, '\n');
	sb_str(&s, scope);
	sb_chr(&s, '\n');
	sb_str(&s, h);
	if ((res->string_to_sign = sb_finish(&s)) == NULL)
		return err_set(e, E_NOMEM, "out of memory building the string to sign");
	return compute_signature(secret, date8, region, service, res->string_to_sign,
				 res->signature, e);
}

/* ------------------------------------------------------------------ */
/* Signing. */

/* A token for a credential scope part or key id: no separators, no spaces. */
static int
valid_scope_part(const char *s)
{
	if (s == NULL || *s == '\0')
		return 0;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (is_ctl(c) || c == ' ' || c == '/' || c == ',' || c == '=' || c == ';')
			return 0;
	}
	return 1;
}

/* An HTTP header name (RFC 9110 token). */
static int
valid_header_name(const char *s)
{
	if (s == NULL || *s == '\0')
		return 0;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= ' ' || c >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", c) != NULL)
			return 0;
	}
	return 1;
}

static int
valid_method(const char *s)
{
	if (s == NULL || *s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f)
			return 0;
	return 1;
}

static int
check_inputs(const struct sigv4_request *req, const struct sigv4_params *p,
	     struct sigv4_result *res, struct err *e)
{
	size_t i;
	const char *tok;

	if (req == NULL || p == NULL || res == NULL)
		return err_set(e, E_INVAL, "sigv4: missing argument");
	if (!valid_method(req->method))
		return err_set(e, E_INVAL, "sigv4: bad http method");
	if (req->path == NULL)
		return err_set(e, E_INVAL, "sigv4: missing request path");
	if (req->nheaders > 0 && req->headers == NULL)
		return err_set(e, E_INVAL, "sigv4: missing headers");
	if (req->body == NULL && req->body_len > 0)
		return err_set(e, E_INVAL, "sigv4: missing body");
	for (i = 0; i < req->nheaders; i++) {
		if (!valid_header_name(req->headers[i].name))
			return err_set(e, E_INVAL, "sigv4: bad header name");
		if (req->headers[i].value == NULL)
			return err_set(e, E_INVAL, "sigv4: header %s has no value",
				       req->headers[i].name);
	}
	if (!valid_scope_part(p->access_key))
		return err_set(e, E_INVAL, "sigv4: missing or malformed access key id");
	if (p->secret_key == NULL || *p->secret_key == '\0')
		return err_set(e, E_INVAL, "sigv4: missing secret key");
	if (!valid_scope_part(p->region))
		return err_set(e, E_INVAL, "sigv4: missing or malformed region");
	if (!valid_scope_part(p->service))
		return err_set(e, E_INVAL, "sigv4: missing or malformed service name");
	if ((tok = p->session_token) != NULL) {
		/* It goes into a header line or URL verbatim: no line breaks. */
		for (; *tok != '\0'; tok++)
			if (is_ctl((unsigned char)*tok))
				return err_set(e, E_INVAL, "sigv4: session token has control characters");
	}
	if (find_header(req, "host", &tok) == 0)
		return err_set(e, E_INVAL, "sigv4: request has no host header");
	if (find_header(req, "authorization", &tok) != 0)
		return err_set(e, E_INVAL, "sigv4: request is already signed");
	return 0;
}

static int
has_token(const struct sigv4_params *p)
{
	return p->session_token != NULL && *p->session_token != '\0';
}

static int
set_added(struct sigv4_result *res, const char *name, const char *value, struct err *e)
{
	char *v;

	if (res->nadded >= SIGV4_MAX_ADDED)
		return err_set(e, E_RANGE, "sigv4: too many added headers");
	if ((v = strdup(value)) == NULL)
		return err_set(e, E_NOMEM, "out of memory");
	res->added[res->nadded].name = name;
	res->added[res->nadded].value = v;
	res->nadded++;
	return 0;
}

/* Everything sign_headers and presign share: time, scope, payload hash. */
struct sigctx {
	char amz_date[SIGV4_AMZ_DATE_LEN + 1];
	char date8[9];
	char *scope;      /* DATE/REGION/SERVICE/aws4_request */
	char *credential; /* AK/scope */
	char payload_hash[SIGV4_SIG_HEX_LEN + 1];
};

static int
sigctx_init(struct sigctx *c, const struct sigv4_request *req, const struct sigv4_params *p,
	    struct err *e)
{
	struct sb s;

	memset(c, 0, sizeof(*c));
	if (sigv4_amz_date(p->when, c->amz_date) != 0)
		return err_set(e, E_RANGE, "sigv4: signing time out of range");
	memcpy(c->date8, c->amz_date, 8);
	c->date8[8] = '\0';
	sb_init(&s);
	sb_str(&s, c->date8);
	sb_chr(&s, '/');
	sb_str(&s, p->region);
	sb_chr(&s, '/');
	sb_str(&s, p->service);
	sb_str(&s, "/aws4_request");
	if ((c->scope = sb_finish(&s)) == NULL)
		return err_set(e, E_NOMEM, "out of memory");
	sb_init(&s);
	sb_str(&s, p->access_key);
	sb_chr(&s, '/');
	sb_str(&s, c->scope);
	if ((c->credential = sb_finish(&s)) == NULL)
		return err_set(e, E_NOMEM, "out of memory");
	sigv4_sha256_hex(req->body, req->body_len, c->payload_hash);
	return 0;
}

static void
sigctx_free(struct sigctx *c)
{
	free(c->scope);
	free(c->credential);
	memset(c, 0, sizeof(*c));
}

int
sigv4_sign_headers(const struct sigv4_request *req, const struct sigv4_params *p,
		   struct sigv4_result *res, struct err *e)
{
	struct sigv4_header extra[3];
	size_t nextra = 0;
	struct sigctx c;
	struct qlist q;
	struct sb canon, list, query, az;
	char *cheaders = NULL, *signed_list = NULL, *cquery = NULL;
	const char *dv;
	char have_date[SIGV4_AMZ_DATE_LEN + 1];
	int add_date = 1, r;

	if (res != NULL)
		memset(res, 0, sizeof(*res));
	if ((r = check_inputs(req, p, res, e)) != 0)
		return r;
	if ((r = sigctx_init(&c, req, p, e)) != 0) {
		sigctx_free(&c);
		return r;
	}
	memset(&q, 0, sizeof(q));
	switch (find_header(req, "x-amz-date", &dv)) {
	case 0:
		break;
	case 1:
		/* A request that carries its own date is signed at that date. */
		if (trimmed(dv, have_date, sizeof(have_date)) != 0 ||
		    strcmp(have_date, c.amz_date) != 0) {
			r = err_set(e, E_INVAL, "sigv4: x-amz-date header differs from the signing time");
			goto out;
		}
		add_date = 0;
		break;
	default:
		r = err_set(e, E_INVAL, "sigv4: duplicate x-amz-date header");
		goto out;
	}
	if (has_token(p) && find_header(req, "x-amz-security-token", &dv) != 0) {
		r = err_set(e, E_INVAL, "sigv4: request already has x-amz-security-token");
		goto out;
	}
	if (p->sign_body && find_header(req, "x-amz-content-sha256", &dv) != 0) {
		r = err_set(e, E_INVAL, "sigv4: request already has x-amz-content-sha256");
		goto out;
	}

	if (add_date)
		extra[nextra++] = (struct sigv4_header){ "X-Amz-Date", c.amz_date };
	if (p->sign_body)
		extra[nextra++] = (struct sigv4_header){ "x-amz-content-sha256", c.payload_hash };
	if (has_token(p) && !p->omit_session_token)
		extra[nextra++] = (struct sigv4_header){ "X-Amz-Security-Token", p->session_token };

	sb_init(&canon);
	sb_init(&list);
	r = canonical_headers(req->headers, req->nheaders, extra, nextra, &canon, &list);
	cheaders = sb_finish(&canon);
	signed_list = sb_finish(&list);
	if (r == 0 && (cheaders == NULL || signed_list == NULL))
		r = E_NOMEM;
	if (r == 0)
		r = qlist_parse(&q, req->query, 0);
	if (r == 0) {
		sb_init(&query);
		sb_canonical_query(&query, &q);
		if ((cquery = sb_finish(&query)) == NULL)
			r = E_NOMEM;
	}
	if (r != 0) {
		r = err_set(e, r, "out of memory building the canonical request");
		goto out;
	}
	r = finish_signature(req, p->normalize_path, cquery, cheaders, signed_list,
			     c.payload_hash, c.amz_date, c.scope, p->secret_key, c.date8,
			     p->region, p->service, res, e);
	if (r != 0)
		goto out;

	sb_init(&az);
	sb_str(&az, SIGV4_ALGORITHM " Credential=");
	sb_str(&az, c.credential);
	sb_str(&az, ", SignedHeaders=");
	sb_str(&az, signed_list);
	sb_str(&az, ", Signature=");
	sb_str(&az, res->signature);
	if ((res->authorization = sb_finish(&az)) == NULL) {
		r = err_set(e, E_NOMEM, "out of memory");
		goto out;
	}
	/* The order the published suites show them in. */
	if (has_token(p) &&
	    (r = set_added(res, "X-Amz-Security-Token", p->session_token, e)) != 0)
		goto out;
	if (add_date && (r = set_added(res, "X-Amz-Date", c.amz_date, e)) != 0)
		goto out;
	if (p->sign_body &&
	    (r = set_added(res, "x-amz-content-sha256", c.payload_hash, e)) != 0)
		goto out;
	r = set_added(res, "Authorization", res->authorization, e);
out:
	free(cheaders);
	free(signed_list);
	free(cquery);
	qlist_free(&q);
	sigctx_free(&c);
	if (r != 0)
		sigv4_result_free(res);
	return r;
}

int
sigv4_presign(const struct sigv4_request *req, const struct sigv4_params *p,
	      struct sigv4_result *res, struct err *e)
{
	struct sigctx c;
	struct qlist q;
	struct sb canon, list, query, out;
	char *cheaders = NULL, *signed_list = NULL, *cquery = NULL;
	char *enc_token = NULL, *enc_signed = NULL, *enc_cred = NULL;
	char expires[16];
	int r;

	if (res != NULL)
		memset(res, 0, sizeof(*res));
	if ((r = check_inputs(req, p, res, e)) != 0)
		return r;
	if (p->expires == 0 || p->expires > SIGV4_MAX_EXPIRES)
		return err_set(e, E_RANGE, "sigv4: presign expiry must be 1..%u seconds",
			       SIGV4_MAX_EXPIRES);
	if ((r = sigctx_init(&c, req, p, e)) != 0) {
		sigctx_free(&c);
		return r;
	}
	memset(&q, 0, sizeof(q));
	snprintf(expires, sizeof(expires), "%u", p->expires);

	sb_init(&canon);
	sb_init(&list);
	r = canonical_headers(req->headers, req->nheaders, NULL, 0, &canon, &list);
	cheaders = sb_finish(&canon);
	signed_list = sb_finish(&list);
	if (r == 0 && (cheaders == NULL || signed_list == NULL))
		r = E_NOMEM;
	if (r == 0) {
		enc_cred = encode_str(c.credential);
		enc_signed = encode_str(signed_list);
		if (has_token(p))
			enc_token = encode_str(p->session_token);
		if (enc_cred == NULL || enc_signed == NULL || (has_token(p) && enc_token == NULL))
			r = E_NOMEM;
	}
	/* The authentication parameters are part of the canonical query. */
	if (r == 0)
		r = qlist_parse(&q, req->query, 6);
	if (r == 0)
		r = qlist_add(&q, strdup("X-Amz-Algorithm"), strdup(SIGV4_ALGORITHM));
	if (r == 0)
		r = qlist_add(&q, strdup("X-Amz-Credential"), strdup(enc_cred));
	if (r == 0)
		r = qlist_add(&q, strdup("X-Amz-Date"), strdup(c.amz_date));
	if (r == 0)
		r = qlist_add(&q, strdup("X-Amz-Expires"), strdup(expires));
	if (r == 0)
		r = qlist_add(&q, strdup("X-Amz-SignedHeaders"), strdup(enc_signed));
	if (r == 0 && has_token(p) && !p->omit_session_token)
		r = qlist_add(&q, strdup("X-Amz-Security-Token"), strdup(enc_token));
	if (r == 0) {
		sb_init(&query);
		sb_canonical_query(&query, &q);
		if ((cquery = sb_finish(&query)) == NULL)
			r = E_NOMEM;
	}
	if (r != 0) {
		r = err_set(e, r, "out of memory building the canonical request");
		goto out;
	}
	r = finish_signature(req, p->normalize_path, cquery, cheaders, signed_list,
			     c.payload_hash, c.amz_date, c.scope, p->secret_key, c.date8,
			     p->region, p->service, res, e);
	if (r != 0)
		goto out;

	/* The request's own query stays as sent; ours follows in the usual order. */
	sb_init(&out);
	if (req->query != NULL && *req->query != '\0') {
		sb_str(&out, req->query);
		sb_chr(&out, '&');
	}
	sb_str(&out, "X-Amz-Algorithm=" SIGV4_ALGORITHM "&X-Amz-Credential=");
	sb_str(&out, enc_cred);
	sb_str(&out, "&X-Amz-Date=");
	sb_str(&out, c.amz_date);
	sb_str(&out, "&X-Amz-SignedHeaders=");
	sb_str(&out, enc_signed);
	sb_str(&out, "&X-Amz-Expires=");
	sb_str(&out, expires);
	if (has_token(p)) {
		sb_str(&out, "&X-Amz-Security-Token=");
		sb_str(&out, enc_token);
	}
	sb_str(&out, "&X-Amz-Signature=");
	sb_str(&out, res->signature);
	if ((res->query = sb_finish(&out)) == NULL)
		r = err_set(e, E_NOMEM, "out of memory");
out:
	free(cheaders);
	free(signed_list);
	free(cquery);
	free(enc_cred);
	free(enc_signed);
	free(enc_token);
	qlist_free(&q);
	sigctx_free(&c);
	if (r != 0)
		sigv4_result_free(res);
	return r;
}

void
sigv4_result_free(struct sigv4_result *res)
{
	size_t i;

	if (res == NULL)
		return;
	free(res->canonical_request);
	free(res->string_to_sign);
	free(res->authorization);
	free(res->query);
	for (i = 0; i < res->nadded && i < SIGV4_MAX_ADDED; i++)
		free((char *)(uintptr_t)res->added[i].value);
	memset(res, 0, sizeof(*res));
}

/* ------------------------------------------------------------------ */
/* Verifying. */

void
sigv4_auth_free(struct sigv4_auth *a)
{
	if (a == NULL)
		return;
	free(a->storage);
	memset(a, 0, sizeof(*a));
}

/* Lower-case header-name characters allowed in SignedHeaders. */
static int
signed_name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Checks "a;b;c": non-empty lower-case names in strictly ascending order. */
static int
valid_signed_list(const char *s)
{
	const char *prev = NULL, *p = s;
	size_t prevlen = 0;

	if (*s == '\0')
		return 0;
	while (1) {
		const char *q = p;
		size_t len;

		while (signed_name_char((unsigned char)*q))
			q++;
		len = (size_t)(q - p);
		if (len == 0 || (*q != ';' && *q != '\0'))
			return 0;
		if (prev != NULL) {
			size_t m = len < prevlen ? len : prevlen;
			int c = memcmp(prev, p, m);

			if (c > 0 || (c == 0 && prevlen >= len))
				return 0;
		}
		prev = p;
		prevlen = len;
		if (*q == '\0')
			return 1;
		p = q + 1;
	}
}

static void
trim_inplace(char **s)
{
	char *p = *s;
	size_t n;

	while (*p == ' ' || *p == '\t')
		p++;
	n = strlen(p);
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		p[--n] = '\0';
	*s = p;
}

int
sigv4_parse_authorization(const char *value, struct sigv4_auth *a, struct err *e)
{
	static const char alg[] = SIGV4_ALGORITHM;
	char *s, *cred = NULL, *sh = NULL, *sig = NULL, *part, *next, *parts[5];
	size_t len, i;

	if (a == NULL)
		return err_set(e, E_INVAL, "sigv4: missing argument");
	memset(a, 0, sizeof(*a));
	if (value == NULL)
		return err_set(e, E_AUTH, "missing authorization header");
	len = strnlen(value, SIGV4_MAX_AUTH_LEN + 1);
	if (len > SIGV4_MAX_AUTH_LEN)
		return err_set(e, E_AUTH, "malformed authorization header: too long");
	if ((a->storage = strndup(value, len)) == NULL)
		return err_set(e, E_NOMEM, "out of memory");
	s = a->storage;
	trim_inplace(&s);
	if (strncmp(s, alg, sizeof(alg) - 1) != 0 ||
	    (s[sizeof(alg) - 1] != ' ' && s[sizeof(alg) - 1] != '\t')) {
		sigv4_auth_free(a);
		return err_set(e, E_AUTH, "malformed authorization header: unsupported algorithm");
	}
	for (part = s + sizeof(alg) - 1; part != NULL; part = next) {
		char *eq, **slot;

		if ((next = strchr(part, ',')) != NULL)
			*next++ = '\0';
		trim_inplace(&part);
		if ((eq = strchr(part, '=')) == NULL)
			goto bad;
		*eq++ = '\0';
		if (strcmp(part, "Credential") == 0)
			slot = &cred;
		else if (strcmp(part, "SignedHeaders") == 0)
			slot = &sh;
		else if (strcmp(part, "Signature") == 0)
			slot = &sig;
		else
			goto bad;
		if (*slot != NULL || *eq == '\0')
			goto bad;
		*slot = eq;
	}
	if (cred == NULL || sh == NULL || sig == NULL)
		goto bad;

	/* Credential=AK/YYYYMMDD/region/service/aws4_request */
	parts[0] = cred;
	for (i = 1; i < 5; i++) {
		char *slash = strchr(parts[i - 1], '/');

		if (slash == NULL)
			goto bad;
		*slash = '\0';
		parts[i] = slash + 1;
	}
	if (strchr(parts[4], '/') != NULL || strcmp(parts[4], "aws4_request") != 0)
		goto bad;
	for (i = 0; i < 4; i++)
		if (!valid_scope_part(parts[i]))
			goto bad;
	if (strlen(parts[1]) != 8 || strspn(parts[1], "0123456789") != 8)
		goto bad;
	if (!valid_signed_list(sh))
		goto bad;
	if (strlen(sig) != SIGV4_SIG_HEX_LEN || strspn(sig, HEX_LOWER) != SIGV4_SIG_HEX_LEN)
		goto bad;
	a->access_key = parts[0];
	a->date = parts[1];
	a->region = parts[2];
	a->service = parts[3];
	a->signed_headers = sh;
	a->signature = sig;
	return 0;
bad:
	sigv4_auth_free(a);
	return err_set(e, E_AUTH, "malformed authorization header");
}

/* Nonzero if name (any case) is one of the ';'-separated lower-case names. */
static int
in_signed_list(const char *list, const char *name)
{
	size_t n = strlen(name);
	const char *p = list;

	while (1) {
		const char *q = strchr(p, ';');
		size_t len = q != NULL ? (size_t)(q - p) : strlen(p);

		if (len == n && strncasecmp(p, name, n) == 0)
			return 1;
		if (q == NULL)
			return 0;
		p = q + 1;
	}
}

int
sigv4_verify(const struct sigv4_request *req, const char *access_key,
	     const char *secret_key, const char *region, const char *service,
	     time_t now, struct err *e)
{
	struct sigv4_auth a;
	struct sigv4_result res;
	struct sigv4_header *sel = NULL;
	struct qlist q;
	struct sb canon, list, query;
	char *cheaders = NULL, *signed_list = NULL, *cquery = NULL, *scope = NULL;
	char amz_date[SIGV4_AMZ_DATE_LEN + 1], hash[SIGV4_SIG_HEX_LEN + 1];
	char got[SIGV4_SIG_HEX_LEN + 1];
	const char *v, *p;
	size_t i, nsel = 0;
	time_t t;
	int r;

	memset(&res, 0, sizeof(res));
	memset(&q, 0, sizeof(q));
	memset(&a, 0, sizeof(a));
	if (req == NULL || access_key == NULL || secret_key == NULL || region == NULL ||
	    service == NULL || req->method == NULL || req->path == NULL ||
	    (req->nheaders > 0 && req->headers == NULL) ||
	    (req->body == NULL && req->body_len > 0))
		return err_set(e, E_INVAL, "sigv4: missing argument");
	for (i = 0; i < req->nheaders; i++)
		if (req->headers[i].name == NULL || req->headers[i].value == NULL)
			return err_set(e, E_INVAL, "sigv4: header without name or value");

	switch (find_header(req, "authorization", &v)) {
	case 0:
		return err_set(e, E_AUTH, "missing authorization header");
	case 1:
		break;
	default:
		return err_set(e, E_AUTH, "duplicate authorization header");
	}
	if ((r = sigv4_parse_authorization(v, &a, e)) != 0)
		return r;
	if (strcmp(a.access_key, access_key) != 0) {
		r = err_set(e, E_AUTH, "unknown access key id");
		goto out;
	}
	switch (find_header(req, "x-amz-date", &v)) {
	case 0:
		r = err_set(e, E_AUTH, "missing x-amz-date header");
		goto out;
	case 1:
		break;
	default:
		r = err_set(e, E_AUTH, "duplicate x-amz-date header");
		goto out;
	}
	if (trimmed(v, amz_date, sizeof(amz_date)) != 0 ||
	    sigv4_parse_amz_date(amz_date, &t) != 0) {
		r = err_set(e, E_AUTH, "malformed x-amz-date header");
		goto out;
	}
	if (strncmp(a.date, amz_date, 8) != 0) {
		r = err_set(e, E_AUTH, "credential scope date mismatch");
		goto out;
	}
	if (strcmp(a.region, region) != 0) {
		r = err_set(e, E_AUTH, "credential scope region mismatch");
		goto out;
	}
	if (strcmp(a.service, service) != 0) {
		r = err_set(e, E_AUTH, "credential scope service mismatch");
		goto out;
	}
	if (now != 0 && (t > now ? t - now : now - t) > SIGV4_MAX_SKEW) {
		r = err_set(e, E_AUTH, "request time too skewed");
		goto out;
	}
	if (!in_signed_list(a.signed_headers, "host")) {
		r = err_set(e, E_AUTH, "host header not signed");
		goto out;
	}
	if (!in_signed_list(a.signed_headers, "x-amz-date")) {
		r = err_set(e, E_AUTH, "x-amz-date header not signed");
		goto out;
	}
	if (in_signed_list(a.signed_headers, "authorization")) {
		r = err_set(e, E_AUTH, "malformed authorization header");
		goto out;
	}
	sigv4_sha256_hex(req->body, req->body_len, hash);
	if (find_header(req, "x-amz-content-sha256", &v) > 0) {
		if (trimmed(v, got, sizeof(got)) != 0 || strcmp(got, hash) != 0) {
			r = err_set(e, E_AUTH, "x-amz-content-sha256 does not match the body");
			goto out;
		}
	}

	/* Exactly the signed headers, each of which must be there. */
	if ((sel = calloc(req->nheaders ? req->nheaders : 1, sizeof(*sel))) == NULL) {
		r = err_set(e, E_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < req->nheaders; i++)
		if (in_signed_list(a.signed_headers, req->headers[i].name))
			sel[nsel++] = req->headers[i];
	for (p = a.signed_headers; *p != '\0';) {
		size_t len = strcspn(p, ";"), j;
		int found = 0;

		for (j = 0; j < nsel && !found; j++)
			found = strlen(sel[j].name) == len && strncasecmp(sel[j].name, p, len) == 0;
		if (!found) {
			r = err_set(e, E_AUTH, "signed header %.*s missing",
				    (int)(len > 64 ? 64 : len), p);
			goto out;
		}
		p += len;
		if (*p == ';')
			p++;
	}

	sb_init(&canon);
	sb_init(&list);
	r = canonical_headers(sel, nsel, NULL, 0, &canon, &list);
	cheaders = sb_finish(&canon);
	signed_list = sb_finish(&list);
	if (r == 0 && (cheaders == NULL || signed_list == NULL))
		r = E_NOMEM;
	if (r == 0)
		r = qlist_parse(&q, req->query, 0);
	if (r == 0) {
		sb_init(&query);
		sb_canonical_query(&query, &q);
		if ((cquery = sb_finish(&query)) == NULL)
			r = E_NOMEM;
	}
	if (r == 0) {
		sb_init(&query);
		sb_str(&query, a.date);
		sb_chr(&query, '/');
		sb_str(&query, a.region);
		sb_chr(&query, '/');
		sb_str(&query, a.service);
		sb_str(&query, "/aws4_request");
		if ((scope = sb_finish(&query)) == NULL)
			r = E_NOMEM;
	}
	if (r != 0) {
		r = err_set(e, r, "out of memory building the canonical request");
		goto out;
	}
	/* Every non-S3 service normalises the path. */
	r = finish_signature(req, 1, cquery, cheaders, signed_list, hash, amz_date, scope,
			     secret_key, a.date, a.region, a.service, &res, e);
	if (r != 0)
		goto out;
	if (CRYPTO_memcmp(res.signature, a.signature, SIGV4_SIG_HEX_LEN) != 0)
		r = err_set(e, E_AUTH, "signature does not match");
out:
	free(sel);
	free(cheaders);
	free(signed_list);
	free(cquery);
	free(scope);
	qlist_free(&q);
	sigv4_result_free(&res);
	sigv4_auth_free(&a);
	return r;
}
