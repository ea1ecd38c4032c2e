/*
 * rssfloor.c: the memory any program pays for the libraries ssm-proxy
 * uses, before it does any work of its own.
 *
 * Linked like ssm-proxy (libcurl, OpenSSL, cJSON, wslay), it initialises
 * libcurl as ssm-proxy does, then prints "rss_kib N" (the kernel's
 * high-water mark, VmHWM) and "rss_anon_kib M" (private, RssAnon) from
 * /proc/self/status. bench/run shows it beside ssm-proxy's own peak, so
 * the share of the total that comes with the libraries is visible.
 *
 * Built with RSSFLOOR_OPENSSL_ONLY (bench/rssfloor-openssl) it links
 * OpenSSL alone and does the least any TLS client with SHA-256 digests
 * does: one digest and one TLS client context. That is the floor no
 * choice of HTTP or websocket library can go under.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#ifndef RSSFLOOR_OPENSSL_ONLY
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <wslay/wslay.h>
#endif

int
main(void)
{
	char line[256];
	long hwm = -1, anon = -1;
	FILE *f;

#ifdef RSSFLOOR_OPENSSL_ONLY
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL || EVP_Digest("x", 1, md, &mdlen, EVP_sha256(), NULL) != 1) {
		fprintf(stderr, "rssfloor: OpenSSL initialisation failed\n");
		return 1;
	}
#else
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "rssfloor: curl_global_init failed\n");
		return 1;
	}
	/* Keep the other libraries linked (and loaded), as in ssm-proxy. */
	cJSON_Delete(cJSON_CreateNull());
	{
		int (*volatile keep)(wslay_event_context_ptr *, const struct wslay_event_callbacks *,
		    void *) = wslay_event_context_client_init;
		(void)keep;
	}
#endif
	if ((f = fopen("/proc/self/status", "r")) == NULL) {
		perror("rssfloor: /proc/self/status");
		return 1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "VmHWM:", 6) == 0)
			sscanf(line + 6, "%ld", &hwm);
		else if (strncmp(line, "RssAnon:", 8) == 0)
			sscanf(line + 8, "%ld", &anon);
	}
	fclose(f);
	if (hwm < 0 || anon < 0) {
		fprintf(stderr, "rssfloor: no VmHWM or RssAnon in /proc/self/status\n");
		return 1;
	}
	printf("rss_kib %ld\nrss_anon_kib %ld\n", hwm, anon);
#ifdef RSSFLOOR_OPENSSL_ONLY
	SSL_CTX_free(ctx);
#else
	curl_global_cleanup();
#endif
	return 0;
}
