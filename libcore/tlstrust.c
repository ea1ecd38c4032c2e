/* tlstrust.c: certificate verification and trust store for curl handles. */
#include "tlstrust.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

/* Returns the variable's value, or NULL if it is unset or empty. */
static const char *
env_nonempty(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? v : NULL;
}

/* Nonzero if name is HHHHHHHH.N (OpenSSL's subject-hash file name). */
static int
is_hash_name(const char *name)
{
	size_t i;

	for (i = 0; i < 8; i++)
		if (name[i] == '\0' || strchr("0123456789abcdef", name[i]) == NULL)
			return 0;
	if (name[8] != '.' || name[9] < '0' || name[9] > '9')
		return 0;
	for (i = 10; name[i] != '\0'; i++)
		if (name[i] < '0' || name[i] > '9')
			return 0;
	return 1;
}

int
tlstrust_dir_hashed(const char *dir)
{
	DIR *d = dir != NULL ? opendir(dir) : NULL;
	struct dirent *de;
	int found = 0;

	if (d == NULL)
		return 0;
	while (!found && (de = readdir(d)) != NULL)
		found = is_hash_name(de->d_name);
	closedir(d);
	return found;
}

/* curl's built-in CA path if it is a hashed directory, else NULL. */
static const char *
system_dir(CURL *c)
{
	char *sys = NULL;

	if (curl_easy_getinfo(c, CURLINFO_CAPATH, &sys) != CURLE_OK || sys == NULL ||
	    !tlstrust_dir_hashed(sys))
		return NULL;
	return sys;
}

/* Nonzero if file names curl's built-in bundle. */
static int
is_system_bundle(CURL *c, const char *file)
{
	char *sys = NULL;

	return curl_easy_getinfo(c, CURLINFO_CAINFO, &sys) == CURLE_OK && sys != NULL &&
	       strcmp(sys, file) == 0;
}

void
tlstrust_setopt(CURL *c, const char *ca_file)
{
	const char *file = ca_file != NULL && *ca_file != '\0' ? ca_file : env_nonempty("SSL_CERT_FILE");
	const char *dir = file == NULL ? env_nonempty("SSL_CERT_DIR") : NULL;

	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	/*
	 * With both a bundle and a directory (Debian's libcurl has both built
	 * in), OpenSSL parses the whole bundle on every connect (~18 ms CPU),
	 * while a hashed directory loads only the issuers a chain needs. The
	 * system bundle named explicitly (AWS_CA_BUNDLE or SSL_CERT_FILE set to
	 * it, as some setups do) holds the same certificates as the system
	 * directory, so it is read from there too.
	 */
	if ((file == NULL && dir == NULL) || (file != NULL && is_system_bundle(c, file))) {
		const char *sys = system_dir(c);

		if (sys != NULL) {
			curl_easy_setopt(c, CURLOPT_CAINFO, NULL);
			curl_easy_setopt(c, CURLOPT_CAPATH, sys);
			return;
		}
	}
	if (file != NULL) {
		/* The bundle alone; without a CA path curl also keeps the parsed
		 * store in the multi handle for the next connection. */
		curl_easy_setopt(c, CURLOPT_CAINFO, file);
		curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
	} else if (dir != NULL) {
		curl_easy_setopt(c, CURLOPT_CAINFO, NULL);
		curl_easy_setopt(c, CURLOPT_CAPATH, dir);
	}
}
