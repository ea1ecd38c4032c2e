/* credcache.c: the AWS CLI's JSON file cache of temporary credentials. */
#include "credcache.h"
#include "buf.h"
#include "creds.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#define CACHE_MAX_FILE (64 * 1024)

int
credcache_dir(char *out, size_t size, struct err *e)
{
	const char *home = getenv("HOME");
	struct passwd *pw;

	if ((home == NULL || *home == '\0') && (pw = getpwuid(getuid())) != NULL)
		home = pw->pw_dir;
	if (home == NULL || *home == '\0')
		return err_set(e, E_CONFIG, "cannot find the credential cache: HOME is not set");
	if ((size_t)snprintf(out, size, "%s/.aws/cli/cache", home) >= size)
		return err_set(e, E_CONFIG, "credential cache path too long");
	return 0;
}

/* A JSON string as Python's json.dumps writes it (ensure_ascii). */
static void
put_json_string(struct buf *b, const char *s)
{
	buf_put_u8(b, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			buf_putf(b, "\\%c", *p);
		else if (*p == '\n')
			buf_putf(b, "\\n");
		else if (*p == '\t')
			buf_putf(b, "\\t");
		else if (*p == '\r')
			buf_putf(b, "\\r");
		else if (*p < 0x20 || *p >= 0x7f)
			buf_putf(b, "\\u%04x", *p); /* approximation for non-ASCII */
		else
			buf_put_u8(b, *p);
	}
	buf_put_u8(b, '"');
}

static void
sha1_hex(const struct buf *b, char out[CREDCACHE_KEY_LEN + 1])
{
	unsigned char md[SHA_DIGEST_LENGTH];
	static const char hx[] = "0123456789abcdef";

	SHA1(buf_ptr(b), buf_len(b), md);
	for (size_t i = 0; i < SHA_DIGEST_LENGTH; i++) {
		out[2 * i] = hx[md[i] >> 4];
		out[2 * i + 1] = hx[md[i] & 15];
	}
	out[CREDCACHE_KEY_LEN] = '\0';
}

int
credcache_key_role(const char *role_arn, const char *session_name, const char *external_id,
		   long duration, const char *token_file, char out[CREDCACHE_KEY_LEN + 1])
{
	struct buf b;
	const char *sep = "";

	/* botocore: json.dumps(args, sort_keys=True), default separators. */
	buf_init(&b, 0);
	buf_put_u8(&b, '{');
	if (duration > 0) {
		buf_putf(&b, "\"DurationSeconds\": %ld", duration);
		sep = ", ";
	}
	if (external_id != NULL) {
		buf_putf(&b, "%s\"ExternalId\": ", sep);
		put_json_string(&b, external_id);
		sep = ", ";
	}
	buf_putf(&b, "%s\"RoleArn\": ", sep);
	put_json_string(&b, role_arn);
	if (session_name != NULL) {
		buf_putf(&b, ", \"RoleSessionName\": ");
		put_json_string(&b, session_name);
	}
	if (token_file != NULL) {
		buf_putf(&b, ", \"WebIdentityTokenFile\": ");
		put_json_string(&b, token_file);
	}
	if (buf_put_u8(&b, '}') != 0) {
		buf_free(&b);
		return E_NOMEM;
	}
	sha1_hex(&b, out);
	buf_free(&b);
	return 0;
}

int
credcache_key_sso(const char *start_url_or_session, int session, const char *account_id,
		  const char *role_name, char out[CREDCACHE_KEY_LEN + 1])
{
	struct buf b;

	/* botocore: json.dumps(args, sort_keys=True, separators=(',', ':')). */
	buf_init(&b, 0);
	buf_putf(&b, "{\"accountId\":");
	put_json_string(&b, account_id);
	buf_putf(&b, ",\"roleName\":");
	put_json_string(&b, role_name);
	buf_putf(&b, session ? ",\"sessionName\":" : ",\"startUrl\":");
	put_json_string(&b, start_url_or_session);
	if (buf_put_u8(&b, '}') != 0) {
		buf_free(&b);
		return E_NOMEM;
	}
	sha1_hex(&b, out);
	buf_free(&b);
	return 0;
}

static int
key_ok(const char *key)
{
	size_t n = strlen(key);

	if (n == 0 || n > 128)
		return 0;
	for (; *key; key++)
		if (!((*key >= '0' && *key <= '9') || (*key >= 'a' && *key <= 'z') || *key == '-' ||
		      *key == '_'))
			return 0;
	return 1;
}

static const char *
jstr(const cJSON *j, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void
wipe_tree(cJSON *j)
{
	for (cJSON *m = j; m != NULL; m = m->next) {
		if (cJSON_IsString(m) && m->valuestring != NULL)
			OPENSSL_cleanse(m->valuestring, strlen(m->valuestring));
		wipe_tree(m->child);
	}
}

int
credcache_load(const char *key, struct creds *out, const struct logger *log)
{
	char dir[4096], path[4200], data[CACHE_MAX_FILE];
	const char *ak, *sk, *tok, *exp;
	const cJSON *c;
	struct err e;
	time_t t = 0;
	cJSON *j;
	ssize_t n;
	int fd, r = E_NOTFOUND;

	memset(out, 0, sizeof(*out));
	err_clear(&e);
	if (!key_ok(key) || credcache_dir(dir, sizeof(dir), &e) != 0)
		return E_NOTFOUND;
	snprintf(path, sizeof(path), "%s/%s.json", dir, key);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return E_NOTFOUND;
	n = read(fd, data, sizeof(data) - 1);
	close(fd);
	if (n <= 0)
		return E_NOTFOUND;
	data[n] = '\0';
	j = cJSON_Parse(data);
	OPENSSL_cleanse(data, (size_t)n);
	c = cJSON_GetObjectItemCaseSensitive(j, "Credentials");
	ak = jstr(c, "AccessKeyId");
	sk = jstr(c, "SecretAccessKey");
	tok = jstr(c, "SessionToken");
	exp = jstr(c, "Expiration");
	if (ak != NULL && sk != NULL && exp != NULL && creds_parse_time(exp, &t) == 0) {
		if (t - time(NULL) <= CREDCACHE_MARGIN) {
			log_debug(log, "cached credentials %s expire too soon", key);
		} else if (creds_set(out, ak, sk, tok, t, NULL) == 0) {
			log_debug(log, "credentials from cache entry %s", key);
			r = 0;
		}
	}
	wipe_tree(j);
	cJSON_Delete(j);
	return r;
}

int
credcache_store(const char *key, const struct creds *c, const struct logger *log, struct err *e)
{
	char dir[4096], path[4200], tmp[4300], exp[32];
	struct tm tm;
	struct buf b;
	int fd, r = 0;

	if (!key_ok(key) || c->expiration == 0)
		return err_set(e, E_INVAL, "nothing to cache");
	if ((r = credcache_dir(dir, sizeof(dir), e)) != 0)
		return r;
	/* mkdir -p with 0700: the entries are secrets. */
	for (char *p = dir + 1;; p++) {
		if (*p == '/' || *p == '\0') {
			char ch = *p;
			*p = '\0';
			if (mkdir(dir, 0700) != 0 && errno != EEXIST)
				return err_set(e, E_IO, "cannot create %s: %s", dir, strerror(errno));
			*p = ch;
			if (ch == '\0')
				break;
		}
	}
	gmtime_r(&c->expiration, &tm);
	strftime(exp, sizeof(exp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	buf_init(&b, 0);
	buf_putf(&b, "{\"Credentials\": {\"AccessKeyId\": ");
	put_json_string(&b, c->access_key_id);
	buf_putf(&b, ", \"SecretAccessKey\": ");
	put_json_string(&b, c->secret_access_key);
	if (c->session_token != NULL) {
		buf_putf(&b, ", \"SessionToken\": ");
		put_json_string(&b, c->session_token);
	}
	if (buf_putf(&b, ", \"Expiration\": \"%s\"}}\n", exp) != 0) {
		r = err_set(e, E_NOMEM, "out of memory");
		goto out;
	}
	snprintf(path, sizeof(path), "%s/%s.json", dir, key);
	snprintf(tmp, sizeof(tmp), "%s/.%s.%ld.tmp", dir, key, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		r = err_set(e, E_IO, "cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	ssize_t w = write(fd, buf_ptr(&b), buf_len(&b));
	int cl = close(fd);
	if (w != (ssize_t)buf_len(&b) || cl != 0 || rename(tmp, path) != 0) {
		r = err_set(e, E_IO, "cannot write %s: %s", path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	log_debug(log, "cached credentials as %s", key);
out:
	OPENSSL_cleanse((void *)buf_ptr(&b), buf_len(&b));
	buf_free(&b);
	return r;
}
