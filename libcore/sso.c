/* sso.c: GetRoleCredentials with the token cached by "aws sso login". */
#include "sso.h"
#include "awscfg.h"
#include "buf.h"
#include "credhttp.h"
#include "creds.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#define TOKEN_MAX_FILE (64 * 1024)

static int
login_hint(const struct sso_profile *p, struct err *e, const char *why)
{
	return err_set(e, E_AUTH, "%s: run 'aws sso login --profile %s'", why, p->profile);
}

/* Reads the cached access token; *token is malloc'd (wipe and free it). */
static int
read_token(const struct sso_profile *p, char **token, const struct logger *log, struct err *e)
{
	const char *key = p->session_name != NULL ? p->session_name : p->start_url;
	const char *home = getenv("HOME");
	unsigned char md[SHA_DIGEST_LENGTH];
	char path[4200], data[TOKEN_MAX_FILE];
	const cJSON *at, *exp;
	time_t t;
	ssize_t n;
	cJSON *j;
	int fd, r;

	*token = NULL;
	if (home == NULL || *home == '\0')
		return err_set(e, E_CONFIG, "cannot find the SSO token cache: HOME is not set");
	SHA1((const unsigned char *)key, strlen(key), md);
	n = snprintf(path, sizeof(path), "%s/.aws/sso/cache/", home);
	for (size_t i = 0; i < SHA_DIGEST_LENGTH && (size_t)n + 3 < sizeof(path); i++)
		n += snprintf(path + n, sizeof(path) - (size_t)n, "%02x", md[i]);
	snprintf(path + n, sizeof(path) - (size_t)n, ".json");
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return login_hint(p, e, "no SSO token cached for this profile");
	n = read(fd, data, sizeof(data) - 1);
	close(fd);
	if (n <= 0)
		return login_hint(p, e, "the cached SSO token cannot be read");
	data[n] = '\0';
	log_debug(log, "SSO token from %s", path);
	j = cJSON_Parse(data);
	OPENSSL_cleanse(data, (size_t)n);
	at = cJSON_GetObjectItemCaseSensitive(j, "accessToken");
	exp = cJSON_GetObjectItemCaseSensitive(j, "expiresAt");
	if (!cJSON_IsString(at) || !cJSON_IsString(exp)) {
		r = login_hint(p, e, "the cached SSO token is not valid");
	} else {
		/* The CLI wrote "...Z" or "...UTC" over time. */
		char ts[64];
		size_t l;
		snprintf(ts, sizeof(ts), "%s", exp->valuestring);
		l = strlen(ts);
		if (l > 3 && strcmp(ts + l - 3, "UTC") == 0)
			ts[l - 3] = '\0';
		if (creds_parse_time(ts, &t) != 0)
			r = login_hint(p, e, "the cached SSO token has no valid expiry");
		else if (t <= time(NULL))
			r = login_hint(p, e, "the SSO session has expired");
		else if ((*token = strdup(at->valuestring)) == NULL)
			r = err_set(e, E_NOMEM, "out of memory");
		else
			r = 0;
	}
	if (cJSON_IsString(at))
		OPENSSL_cleanse(at->valuestring, strlen(at->valuestring));
	cJSON_Delete(j);
	return r;
}

static int
parse_answer(const struct buf *b, struct creds *out, struct err *e)
{
	cJSON *j = cJSON_ParseWithLength((const char *)buf_ptr(b), buf_len(b));
	const cJSON *rc = cJSON_GetObjectItemCaseSensitive(j, "roleCredentials");
	const cJSON *ak = cJSON_GetObjectItemCaseSensitive(rc, "accessKeyId");
	const cJSON *sk = cJSON_GetObjectItemCaseSensitive(rc, "secretAccessKey");
	const cJSON *tok = cJSON_GetObjectItemCaseSensitive(rc, "sessionToken");
	const cJSON *exp = cJSON_GetObjectItemCaseSensitive(rc, "expiration");
	int r;

	if (!cJSON_IsString(ak) || !cJSON_IsString(sk) || !cJSON_IsString(tok) ||
	    !cJSON_IsNumber(exp))
		r = err_set(e, E_AWS, "GetRoleCredentials failed: the answer has no roleCredentials");
	else if (creds_set(out, ak->valuestring, sk->valuestring, tok->valuestring,
			   (time_t)(exp->valuedouble / 1000), NULL) != 0)
		r = err_set(e, E_NOMEM, "out of memory");
	else
		r = 0;
	if (cJSON_IsString(sk))
		OPENSSL_cleanse(sk->valuestring, strlen(sk->valuestring));
	if (cJSON_IsString(tok))
		OPENSSL_cleanse(tok->valuestring, strlen(tok->valuestring));
	cJSON_Delete(j);
	return r;
}

int
sso_role_credentials(const struct sso_profile *p, const struct awscfg *cfg, const char *ca_file,
		     const struct logger *log, struct creds *out, struct err *e)
{
	char endpoint[1024], *url = NULL, *hdr = NULL, *acct = NULL, *role = NULL, *token = NULL;
	const char *headers[2];
	struct credhttp_req rq;
	struct buf body;
	long status = 0;
	int r;

	memset(out, 0, sizeof(*out));
	if (p->start_url == NULL || p->region == NULL || p->account_id == NULL ||
	    p->role_name == NULL)
		return err_set(e, E_CONFIG,
			       "profile %s: SSO needs sso_start_url, sso_region, sso_account_id "
			       "and sso_role_name", p->profile);
	if ((r = read_token(p, &token, log, e)) != 0)
		return r;
	if ((r = awscfg_endpoint(cfg, "sso", p->region, endpoint, sizeof(endpoint), e)) != 0)
		goto out;
	acct = curl_easy_escape(NULL, p->account_id, 0);
	role = curl_easy_escape(NULL, p->role_name, 0);
	if (acct == NULL || role == NULL ||
	    asprintf(&url, "%s/federation/credentials?account_id=%s&role_name=%s", endpoint, acct,
		     role) < 0 ||
	    asprintf(&hdr, "x-amz-sso_bearer_token: %s", token) < 0) {
		url = hdr = NULL;
		r = err_set(e, E_NOMEM, "out of memory");
		goto out;
	}
	headers[0] = hdr;
	headers[1] = NULL;
	memset(&rq, 0, sizeof(rq));
	rq.method = "GET";
	rq.url = url;
	rq.headers = headers;
	rq.ca_file = ca_file != NULL ? ca_file : awscfg_ca_bundle(cfg);
	rq.connect_timeout_ms = 5000;
	rq.timeout_ms = 15000;
	log_debug(log, "GetRoleCredentials %s %s at %s", p->account_id, p->role_name, endpoint);
	if ((r = credhttp_do(&rq, &status, &body, e)) != 0) {
		err_prefix(e, "GetRoleCredentials at %s", endpoint);
		goto out;
	}
	if (status == 401 || status == 403)
		r = login_hint(p, e, "the SSO portal refused the cached token");
	else if (status != 200)
		r = err_set(e, E_AWS, "GetRoleCredentials failed: HTTP %ld", status);
	else
		r = parse_answer(&body, out, e);
	credhttp_body_free(&body);
out:
	if (token != NULL)
		OPENSSL_cleanse(token, strlen(token));
	if (hdr != NULL)
		OPENSSL_cleanse(hdr, strlen(hdr));
	free(token);
	free(hdr);
	free(url);
	curl_free(acct);
	curl_free(role);
	return r;
}
