/* credhttp.c: unsigned HTTP calls of the credential providers. */
#include "credhttp.h"
#include "tlstrust.h"
#include "version.h"

#include <string.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

static size_t
write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct buf *b = arg;
	size_t n = size * nmemb;

	if (buf_len(b) + n > CREDHTTP_MAX_BODY || buf_put(b, ptr, n) != 0)
		return 0; /* curl then fails with CURLE_WRITE_ERROR */
	return n;
}

int
credhttp_do(const struct credhttp_req *rq, long *status, struct buf *body, struct err *e)
{
	char errbuf[CURL_ERROR_SIZE];
	struct curl_slist *hl = NULL;
	CURL *c;
	CURLcode cc;

	*status = 0;
	buf_init(body, CREDHTTP_MAX_BODY);
	if ((c = curl_easy_init()) == NULL)
		return err_set(e, E_NOMEM, "cannot initialise libcurl");
	for (size_t i = 0; rq->headers != NULL && rq->headers[i] != NULL; i++)
		hl = curl_slist_append(hl, rq->headers[i]);
	errbuf[0] = '\0';
	curl_easy_setopt(c, CURLOPT_URL, rq->url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, rq->method);
	if (strcmp(rq->method, "PUT") == 0) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "ssm-proxy/" SSMP_VERSION);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, rq->connect_timeout_ms);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, rq->timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	tlstrust_setopt(c, rq->ca_file);
	cc = curl_easy_perform(c);
	curl_slist_free_all(hl);
	if (cc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	curl_easy_cleanup(c);
	if (cc != CURLE_OK) {
		credhttp_body_free(body);
		buf_init(body, CREDHTTP_MAX_BODY);
		return err_set(e, cc == CURLE_OPERATION_TIMEDOUT ? E_TIMEOUT : E_NET, "%s",
			       errbuf[0] ? errbuf : curl_easy_strerror(cc));
	}
	return 0;
}

void
credhttp_body_free(struct buf *body)
{
	if (buf_len(body) > 0)
		OPENSSL_cleanse((void *)buf_ptr(body), buf_len(body));
	buf_free(body);
}
