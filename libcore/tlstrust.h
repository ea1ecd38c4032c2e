/*
 * tlstrust.h: certificate verification and the trust store of every
 * HTTPS and wss handle (AWS API, websocket, credential providers).
 *
 * Precedence: the caller's CA bundle (AWS_CA_BUNDLE or the profile's
 * ca_bundle), then $SSL_CERT_FILE, then $SSL_CERT_DIR, then libcurl's
 * built-in store. A bundle is the only trust when given, as in the AWS CLI.
 */
#ifndef SSMP_TLSTRUST_H
#define SSMP_TLSTRUST_H

#include <curl/curl.h>

/* Sets peer and host verification on c and its trust store as above;
 * ca_file NULL or "" means none. Reads the environment on each call. */
void tlstrust_setopt(CURL *c, const char *ca_file);
/* Returns 1 if dir holds an entry named as c_rehash names certificates
 * (8 lower-case hex digits, '.', digits), else 0 (also if unreadable). */
int tlstrust_dir_hashed(const char *dir);

#endif
