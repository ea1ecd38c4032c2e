/*
 * bridge.h: one data-channel session between stdin/stdout and the remote
 * port, driven by one poll loop: stdin -> data channel -> websocket, and
 * back to stdout. Only PayloadType 1 bytes ever reach stdout.
 */
#ifndef SSMP_BRIDGE_H
#define SSMP_BRIDGE_H

#include <stddef.h>

#include "err.h"
#include "log.h"

struct awsapi;
struct mux;
struct ws_pre;

#define BRIDGE_RESUME_DEFAULT_MS (180 * 1000)
#define BRIDGE_KEEPALIVE_DEFAULT_MS (20 * 1000)

struct bridge_opts {
	const char *session_id;
	const char *stream_url;
	const char *token;          /* secret: never logged */
	const char *ca_file;        /* NULL: AWS_CA_BUNDLE or the system store */
	size_t window;              /* unacked messages in flight; 0: default */
	int connect_timeout_ms;     /* TCP + TLS + upgrade, each */
	int signal_fd;              /* readable when SIGHUP/SIGINT/SIGTERM came; -1: none */
	struct awsapi *api;         /* ResumeSession, and TerminateSession at the end */
	int resume_timeout_ms;      /* keep resuming a lost data channel this long;
	                               0: BRIDGE_RESUME_DEFAULT_MS, <0: never resume */
	int keepalive_ms;           /* silence before a ping; twice this without any
	                               frame means a dead path; 0: BRIDGE_KEEPALIVE_DEFAULT_MS */
	const struct logger *log;
	/* Early connects (ws_pre_start): the first connect uses pre (bridge_run
	 * frees it in any case); each resume opens one to stream_url in mux
	 * while ResumeSession runs there (api must use mux: awsapi_set_mux).
	 * NULL: connect after the API call. */
	struct mux *mux;
	struct ws_pre *pre;
};

/*
 * Runs the session until it ends. A websocket that fails without
 * channel_closed (error, close frame, dead path) is resumed: ResumeSession,
 * a new connection, and what is unacked sent again; the session goes on.
 * Returns 0 when it ended normally (channel_closed, remote EOF, stdin EOF
 * with everything delivered, or a termination signal), or E_* with a
 * one-line reason in e.
 */
int bridge_run(const struct bridge_opts *o, struct err *e);

#endif
