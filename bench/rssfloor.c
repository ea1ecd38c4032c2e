/*
 * rssfloor.c: the memory any program pays for the libraries ssm-proxy
 * uses, before it does any work of its own.
 *
 * Linked like ssm-proxy (libcurl, OpenSSL, cJSON, wslay), it initialises
 * libcurl as ssm-proxy does, then prints "rss_kib N" (the kernel's
 * high-water mark, VmHWM) and "rss_anon_kib M" (private, RssAnon) from
 * /proc/self/status. bench/run shows it beside ssm-proxy's own peak, so
 * the share of the total that comes with the libraries is visible.
 */
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <openssl/ssl.h>
#include <wslay/wslay.h>

int
main(void)
{
	char line[256];
	long hwm = -1, anon = -1;
	FILE *f;

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
	curl_global_cleanup();
	return 0;
}
