/*
 * credproc.h: credential_process, as the AWS CLI runs it.
 *
 * The command line is split into words like Python's shlex.split (POSIX
 * rules, which botocore uses on Linux) and run without a shell; its stdout
 * must be the JSON document {"Version": 1, "AccessKeyId", "SecretAccessKey",
 * "SessionToken"?, "Expiration"?}; its stderr goes to ours unchanged.
 */
#ifndef SSMP_CREDPROC_H
#define SSMP_CREDPROC_H

#include "err.h"
#include "log.h"

struct creds;

#define CREDPROC_MAX_OUTPUT (64 * 1024)
#define CREDPROC_MAX_ARGS 256

/*
 * Splits cmd into *argv (NULL-terminated; credproc_argv_free it) and *argc.
 * Returns 0; E_CONFIG for an unclosed quote, a trailing backslash, no words
 * or more than CREDPROC_MAX_ARGS; E_NOMEM.
 */
int credproc_split(const char *cmd, char ***argv, int *argc, struct err *e);

/* Frees what credproc_split returned (NULL is fine). */
void credproc_argv_free(char **argv);

/*
 * Runs cmd and parses its output into out (creds_free it). Returns 0;
 * E_AUTH when it cannot start, exits non-zero ("credential_process ...
 * exited with status N"), or prints something else than Version 1 JSON;
 * E_CONFIG for a bad command line; E_IO; E_NOMEM.
 */
int credproc_run(const char *cmd, struct creds *out, const struct logger *log, struct err *e);

#endif
