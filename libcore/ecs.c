/* ecs.c: container credentials endpoint (ECS, EKS Pod Identity). */
#include "ecs.h"
#include "buf.h"
#include "credhttp.h"
#include "creds.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <openssl/crypto.h>

#define RELATIVE_BASE "http://169.254.170.2"

static const char *
env(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? v : NULL;
}

int
ecs_configured(void)
{
	return env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") != NULL ||
	       env("AWS_CONTAINER_CREDENTIALS_FULL_URI") != NULL;
}

/* botocore allows plain http only to these hosts. */
static int
full_uri_allowed(const char *url)
{
	static const char *const hosts[] = { "127.0.0.1", "localhost", "[::1]", "::1",
					     "169.254.170.2", "169.254.170.23", "fd00:ec2::23",
					     "[fd00:ec2::23]" };
	CURLU *u;
	char *h = NULL, *scheme = NULL;
	int ok = 0;

	if ((u = curl_url()) == NULL)
		return 0;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK) {
		if (strcmp(scheme, "https") == 0)
			ok = 1;
		else if (strcmp(scheme, "http") == 0)
			for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++)
				if (strcmp(h, hosts[i]) == 0 || strncmp(h, "127.", 4) == 0)
					ok = 1;
	}
	curl_free(h);
	curl_free(scheme);
	curl_url_cleanup(u);
	return ok;
}

/* The Authorization value into out (wiped by the caller); 0 or E_CONFIG. */
static int
auth_token(char *out, size_t size, struct err *e)
{
	const char *file = env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"), *v;
	ssize_t n;
	int fd;

	out[0] = '\0';
	if (file != NULL) {
		if ((fd = open(file, O_RDONLY | O_CLOEXEC)) < 0)
			return err_set(e, E_CONFIG, "cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE %s",
				       file);
		n = read(fd, out, size - 1);
		close(fd);
		if (n < 0)
			return err_set(e, E_CONFIG, "cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE %s",
				       file);
		out[n] = '\0';
		out[strcspn(out, "\r\n")] = '\0';
	} else if ((v = env("AWS_CONTAINER_AUTHORIZATION_TOKEN")) != NULL) {
		snprintf(out, size, "%s", v);
	}
	if (strchr(out, '\r') != NULL || strchr(out, '\n') != NULL)
		return err_set(e, E_CONFIG, "the container authorization token holds a line break");
	return 0;
}

int
ecs_credentials(struct creds *out, const struct logger *log, struct err *e)
{
	char url[2048], tokbuf[4096], hdr[4200];
	const char *rel = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	const char *full = env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
	const char *headers[2] = { NULL, NULL };
	const cJSON *ak, *sk, *tok, *exp;
	struct credhttp_req rq;
	struct buf b;
	time_t t = 0;
	long st = 0;
	cJSON *j;
	int r;

	memset(out, 0, sizeof(*out));
	if (rel != NULL) {
		snprintf(url, sizeof(url), "%s%s%s", RELATIVE_BASE, rel[0] == '/' ? "" : "/", rel);
	} else if (full != NULL) {
		if (!full_uri_allowed(full))
			return err_set(e, E_CONFIG, "AWS_CONTAINER_CREDENTIALS_FULL_URI must use https, "
				       "or http to a loopback or container address");
		snprintf(url, sizeof(url), "%s", full);
	} else {
		return E_NOTFOUND;
	}
	if ((r = auth_token(tokbuf, sizeof(tokbuf), e)) != 0)
		goto out;
	if (tokbuf[0] != '\0') {
		snprintf(hdr, sizeof(hdr), "Authorization: %s", tokbuf);
		headers[0] = hdr;
	}
	memset(&rq, 0, sizeof(rq));
	rq.method = "GET";
	rq.url = url;
	rq.headers = headers;
	rq.connect_timeout_ms = 2000;
	rq.timeout_ms = 2000;
	log_debug(log, "container credentials from %s", url);
	for (int i = 0; i < 2; i++) { /* one retry, as botocore's fetcher */
		if (i > 0)
			credhttp_body_free(&b);
		r = credhttp_do(&rq, &st, &b, e);
		if (r == 0 && st < 500)
			break;
	}
	if (r != 0) {
		err_prefix(e, "container credentials at %s", url);
		goto out;
	}
	if (st != 200) {
		r = err_set(e, E_AUTH, "container credentials at %s: HTTP %ld", url, st);
		credhttp_body_free(&b);
		goto out;
	}
	j = cJSON_ParseWithLength((const char *)buf_ptr(&b), buf_len(&b));
	credhttp_body_free(&b);
	ak = cJSON_GetObjectItemCaseSensitive(j, "AccessKeyId");
	sk = cJSON_GetObjectItemCaseSensitive(j, "SecretAccessKey");
	tok = cJSON_GetObjectItemCaseSensitive(j, "Token");
	exp = cJSON_GetObjectItemCaseSensitive(j, "Expiration");
	if (!cJSON_IsString(ak) || !cJSON_IsString(sk) ||
	    (cJSON_IsString(exp) && creds_parse_time(exp->valuestring, &t) != 0))
		r = err_set(e, E_AUTH, "container credentials: the answer is not valid");
	else if (creds_set(out, ak->valuestring, sk->valuestring,
			   cJSON_IsString(tok) ? tok->valuestring : NULL, t, NULL) != 0)
		r = err_set(e, E_NOMEM, "out of memory");
	if (cJSON_IsString(sk))
		OPENSSL_cleanse(sk->valuestring, strlen(sk->valuestring));
	if (cJSON_IsString(tok))
		OPENSSL_cleanse(tok->valuestring, strlen(tok->valuestring));
	cJSON_Delete(j);
out:
	OPENSSL_cleanse(tokbuf, sizeof(tokbuf));
	OPENSSL_cleanse(hdr, sizeof(hdr));
	return r;
}
