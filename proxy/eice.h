/*
 * eice.h: EC2 Instance Connect from the program: the key push done before
 * a connection (--push-key), and the EC2 Instance Connect Endpoint
 * transport (--via eice), which carries the remote port's bytes as raw
 * binary websocket frames instead of the SSM data channel.
 */
#ifndef SSMP_EICE_H
#define SSMP_EICE_H

#include <stddef.h>

#include "err.h"
#include "log.h"

struct awsapi;
struct creds;

/* Option values for getopt_long, clear of the program's own letters. */
enum {
	EICE_OPT_PUSH_KEY = 0x1e10,
	EICE_OPT_USER,
	EICE_OPT_KEY,
	EICE_OPT_VIA,
	EICE_OPT_ID,
};

/* The getopt_long rows of the options below, for the program's table. */
#define EICE_LONGOPTS \
	{ "push-key", no_argument, NULL, EICE_OPT_PUSH_KEY }, \
	{ "user", required_argument, NULL, EICE_OPT_USER }, \
	{ "key", required_argument, NULL, EICE_OPT_KEY }, \
	{ "via", required_argument, NULL, EICE_OPT_VIA }, \
	{ "eice-id", required_argument, NULL, EICE_OPT_ID }

/* The usage lines of the options below. */
#define EICE_USAGE \
	"--push-key    push your public key with EC2 Instance Connect first (valid\n" \
	"              60 s): the first Ed25519 or RSA key of ssh-agent, or --key\n" \
	"--user USER   the instance OS user to push the key for (ssh_config: %%r)\n" \
	"--key FILE    push this public key (FILE.pub) instead of the agent's\n" \
	"--via eice    connect through an EC2 Instance Connect Endpoint, not SSM\n" \
	"--eice-id ID  use this endpoint (default: one in the instance's VPC)\n"

/* What the command line asked for. */
struct eice_cli {
	int push_key;
	int via_eice;
	const char *user;
	const char *key_file;
	const char *endpoint_id;
};

/*
 * Takes one of the options above (c an EICE_OPT_* value) into cli.
 * Returns 0, or -1 with a one-line reason in msg.
 */
int eice_option(struct eice_cli *cli, int c, const char *arg, char *msg, size_t msglen);

/*
 * Checks the options together once parsed, and with target (an instance
 * id, NULL: not known yet) that they can apply to it.
 * Returns 0, or -1 with a one-line reason in msg.
 */
int eice_check(const struct eice_cli *cli, const char *target, char *msg, size_t msglen);

struct eice_opts {
	struct awsapi *api;         /* for DescribeInstances / ...ConnectEndpoints */
	const struct creds *creds;  /* to presign the tunnel URL */
	const char *region;
	const char *instance_id;
	unsigned port;
	const char *endpoint_id;    /* --eice-id; NULL: pick one in the VPC */
	const char *ca_file;        /* NULL: the system store */
	int connect_timeout_ms;     /* TCP + TLS + upgrade, each */
	int signal_fd;              /* readable on SIGHUP/SIGINT/SIGTERM; -1: none */
	const struct logger *log;
};

/*
 * Sends the user's public key to instance_id for os_user with
 * SendSSHPublicKey: from key_file (an OpenSSH .pub file) if not NULL,
 * else the first usable key of the running ssh-agent. Returns 0 or E_*
 * with a one-line reason in e (no agent, no usable key, access denied,
 * instance without Instance Connect, ...).
 */
int eice_push_key(struct awsapi *api, const char *instance_id, const char *os_user,
		  const char *key_file, const struct logger *lg, struct err *e);

/*
 * Finds the instance and its endpoint, opens the presigned openTunnel
 * websocket and relays stdin/stdout until either side ends. Returns 0
 * when the tunnel ended normally (close code 1000, stdin EOF or a
 * signal), or E_* with a one-line reason in e.
 */
int eice_run(const struct eice_opts *o, struct err *e);

#endif
