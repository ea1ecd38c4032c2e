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

struct bridge_opts {
	const char *session_id;
	const char *stream_url;
	const char *token;          /* secret: never logged */
	const char *ca_file;        /* NULL: AWS_CA_BUNDLE or the system store */
	size_t window;              /* unacked messages in flight; 0: default */
	int connect_timeout_ms;     /* TCP + TLS + upgrade, each */
	int signal_fd;              /* readable when SIGHUP/SIGINT/SIGTERM came; -1: none */
	struct awsapi *api;         /* for TerminateSession at the end */
	const struct logger *log;
};

/*
 * Runs the session until it ends. Returns 0 when it ended normally
 * (channel_closed, remote EOF, stdin EOF with everything delivered, or a
 * termination signal), or E_* with a one-line reason in e.
 */
int bridge_run(const struct bridge_opts *o, struct err *e);

#endif
