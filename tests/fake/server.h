/*
 * server.h: one accepted connection of the fake region.
 *
 * Runs in the child forked for the connection: TLS handshake (unless
 * plain), then HTTP requests with keep-alive; a data-channel request turns
 * the connection into a websocket (gateway.h), anything else is an API call
 * (api.h).
 */
#ifndef SSMP_FAKE_SERVER_H
#define SSMP_FAKE_SERVER_H

#include "err.h"
#include "region.h"

#define SERVER_TLS_TIMEOUT_MS 10000
#define SERVER_IDLE_MS 30000 /* an idle keep-alive connection is closed */

/* Serves connected socket fd (taken over) until it ends; returns 0 or E_*. */
int server_conn(const struct region *r, int fd, struct err *e);

#endif
