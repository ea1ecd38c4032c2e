/* imds.c: EC2 instance metadata service, version 2. */
#include "imds.h"
#include "buf.h"
#include "credhttp.h"
#include "creds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>

#define TOKEN_TTL "21600"

struct imds {
	char base[512];
	long timeout_ms;
	int attempts;
	char token[256]; /* empty: IMDSv1 fallback */
	const struct logger *log;
};

static const char *
env(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? v : NULL;
}

static int
imds_init(struct imds *m, const struct logger *log, struct err *e)
{
	const char *v;
	size_t n;

	memset(m, 0, sizeof(*m));
	m->log = log;
	if ((v = env("AWS_EC2_METADATA_DISABLED")) != NULL && strcasecmp(v, "true") == 0)
		return err_set(e, E_NOTFOUND, "instance metadata disabled by AWS_EC2_METADATA_DISABLED");
	if ((v = env("AWS_EC2_METADATA_SERVICE_ENDPOINT")) == NULL) {
		v = env("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
		v = v != NULL && strcasecmp(v, "IPv6") == 0 ? "http://[fd00:ec2::254]"
							     : "http://169.254.169.254";
	}
	if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0)
		return err_set(e, E_CONFIG, "AWS_EC2_METADATA_SERVICE_ENDPOINT must start with http://");
	n = strlen(v);
	while (n > 0 && v[n - 1] == '/')
		n--;
	if (n >= sizeof(m->base))
		return err_set(e, E_CONFIG, "AWS_EC2_METADATA_SERVICE_ENDPOINT is too long");
	memcpy(m->base, v, n);
	m->timeout_ms = 1000;
	if ((v = env("AWS_METADATA_SERVICE_TIMEOUT")) != NULL && atol(v) > 0 && atol(v) <= 60)
		m->timeout_ms = atol(v) * 1000;
	m->attempts = 1;
	if ((v = env("AWS_METADATA_SERVICE_NUM_ATTEMPTS")) != NULL && atoi(v) > 0 && atoi(v) <= 10)
		m->attempts = atoi(v);
	return 0;
}

/* One request with the configured attempts; body must be freed by the caller. */
static int
fetch(struct imds *m, const char *method, const char *path, long *status, struct buf *body,
      struct err *e)
{
	char url[1024], hdr[320];
	const char *headers[2] = { NULL, NULL };
	struct credhttp_req rq;
	int r = 0;

	snprintf(url, sizeof(url), "%s%s", m->base, path);
	if (strcmp(method, "PUT") == 0)
		snprintf(hdr, sizeof(hdr), "X-aws-ec2-metadata-token-ttl-seconds: " TOKEN_TTL);
	else if (m->token[0] != '\0')
		snprintf(hdr, sizeof(hdr), "X-aws-ec2-metadata-token: %s", m->token);
	else
		hdr[0] = '\0';
	if (hdr[0] != '\0')
		headers[0] = hdr;
	memset(&rq, 0, sizeof(rq));
	rq.method = method;
	rq.url = url;
	rq.headers = headers;
	rq.connect_timeout_ms = m->timeout_ms;
	rq.timeout_ms = m->timeout_ms;
	for (int i = 0; i < m->attempts; i++) {
		if (i > 0)
			credhttp_body_free(body);
		r = credhttp_do(&rq, status, body, e);
		if (r == 0 && *status < 500)
			break;
	}
	OPENSSL_cleanse(hdr, sizeof(hdr));
	if (r != 0) {
		char why[ERR_MSG_MAX];
		snprintf(why, sizeof(why), "%s", e != NULL ? e->msg : "");
		return err_set(e, E_NOTFOUND, "instance metadata at %s not reachable within %ld ms (%s)",
			       m->base, m->timeout_ms, why);
	}
	return 0;
}

static int
get_token(struct imds *m, struct err *e)
{
	struct buf b;
	long st;
	int r;

	if ((r = fetch(m, "PUT", "/latest/api/token", &st, &b, e)) != 0)
		return r;
	if (st == 200 && buf_len(&b) > 0 && buf_len(&b) < sizeof(m->token)) {
		memcpy(m->token, buf_ptr(&b), buf_len(&b));
		m->token[buf_len(&b)] = '\0';
	} else if (st == 403 || st == 404 || st == 405) {
		log_debug(m->log, "no IMDSv2 token (HTTP %ld): falling back to IMDSv1", st);
	} else {
		r = err_set(e, E_NOTFOUND, "instance metadata token request failed (HTTP %ld)", st);
	}
	credhttp_body_free(&b);
	return r;
}

/* GETs path as a string into *out (malloc'd). */
static int
get_text(struct imds *m, const char *path, char **out, struct err *e)
{
	struct buf b;
	long st;
	int r;

	*out = NULL;
	if ((r = fetch(m, "GET", path, &st, &b, e)) != 0)
		return r;
	if (st != 200 || buf_len(&b) == 0)
		r = err_set(e, E_NOTFOUND, "instance metadata %s: HTTP %ld", path, st);
	else if ((*out = strndup((const char *)buf_ptr(&b), buf_len(&b))) == NULL)
		r = err_set(e, E_NOMEM, "out of memory");
	credhttp_body_free(&b);
	return r;
}

int
imds_credentials(struct creds *out, const struct logger *log, struct err *e)
{
	char path[512], *role = NULL, *doc = NULL;
	const cJSON *ak, *sk, *tok, *exp;
	struct imds m;
	time_t t = 0;
	cJSON *j;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = imds_init(&m, log, e)) != 0 || (r = get_token(&m, e)) != 0)
		goto done;
	if ((r = get_text(&m, "/latest/meta-data/iam/security-credentials/", &role, e)) != 0)
		goto done;
	role[strcspn(role, "\r\n")] = '\0';
	if (role[0] == '\0' || strchr(role, '/') != NULL) {
		r = err_set(e, E_NOTFOUND, "instance metadata: no instance role");
		goto done;
	}
	snprintf(path, sizeof(path), "/latest/meta-data/iam/security-credentials/%s", role);
	if ((r = get_text(&m, path, &doc, e)) != 0)
		goto done;
	j = cJSON_Parse(doc);
	OPENSSL_cleanse(doc, strlen(doc));
	ak = cJSON_GetObjectItemCaseSensitive(j, "AccessKeyId");
	sk = cJSON_GetObjectItemCaseSensitive(j, "SecretAccessKey");
	tok = cJSON_GetObjectItemCaseSensitive(j, "Token");
	exp = cJSON_GetObjectItemCaseSensitive(j, "Expiration");
	if (!cJSON_IsString(ak) || !cJSON_IsString(sk) || !cJSON_IsString(tok) ||
	    (cJSON_IsString(exp) && creds_parse_time(exp->valuestring, &t) != 0))
		r = err_set(e, E_AUTH, "instance metadata: the credentials document is not valid");
	else if (creds_set(out, ak->valuestring, sk->valuestring, tok->valuestring, t, NULL) != 0)
		r = err_set(e, E_NOMEM, "out of memory");
	if (cJSON_IsString(sk))
		OPENSSL_cleanse(sk->valuestring, strlen(sk->valuestring));
	if (cJSON_IsString(tok))
		OPENSSL_cleanse(tok->valuestring, strlen(tok->valuestring));
	cJSON_Delete(j);
done:
	OPENSSL_cleanse(m.token, sizeof(m.token));
	free(role);
	free(doc);
	return r;
}

int
imds_region(char **out, const struct logger *log, struct err *e)
{
	struct imds m;
	int r;

	*out = NULL;
	if ((r = imds_init(&m, log, e)) != 0 || (r = get_token(&m, e)) != 0 ||
	    (r = get_text(&m, "/latest/meta-data/placement/region", out, e)) != 0) {
		OPENSSL_cleanse(m.token, sizeof(m.token));
		return r == E_NOMEM ? r : E_NOTFOUND;
	}
	OPENSSL_cleanse(m.token, sizeof(m.token));
	(*out)[strcspn(*out, "\r\n")] = '\0';
	return 0;
}
