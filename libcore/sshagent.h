/*
 * sshagent.h: the user's SSH public key, for EC2 Instance Connect.
 *
 * Either asks the running ssh-agent (SSH_AUTH_SOCK) for its identities
 * with SSH2_AGENTC_REQUEST_IDENTITIES and takes the first key EC2 accepts
 * (Ed25519, or RSA of at least 2048 bits; EC2 refuses ECDSA, security-key
 * and certificate types), or reads an OpenSSH ".pub" file. The result is
 * the OpenSSH one-line form "ssh-ed25519 AAAA... comment". Public keys
 * are not secrets; private keys never pass through here.
 */
#ifndef SSMP_SSHAGENT_H
#define SSMP_SSHAGENT_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "log.h"

#define SSHAGENT_MAX_MSG (256 * 1024)  /* largest agent answer accepted (OpenSSH's limit) */
#define SSHAGENT_MAX_KEYS 1024         /* identities looked at in one answer */
#define SSHAGENT_LINE_MAX 4096         /* SendSSHPublicKey takes at most 4096 characters */
#define SSHAGENT_RSA_MIN_BITS 2048
#define SSHAGENT_TIMEOUT_MS 5000       /* a stuck agent must not hang the connection */

/* Agent protocol numbers (draft-miller-ssh-agent). */
#define SSH_AGENT_FAILURE 5
#define SSH2_AGENTC_REQUEST_IDENTITIES 11
#define SSH2_AGENT_IDENTITIES_ANSWER 12

/*
 * Checks a public key blob (string type, then the key fields). Writes the
 * type name into type and, for RSA, the modulus size into *bits (0 for
 * Ed25519). Returns 0 if EC2 Instance Connect accepts the key; E_RANGE
 * for RSA under 2048 bits; E_NOTFOUND for a type EC2 refuses (ECDSA,
 * security keys, certificates, DSA); E_SHORT / E_INVAL if malformed.
 */
int sshagent_check_blob(const uint8_t *blob, size_t len, char *type, size_t typelen,
			unsigned *bits, struct err *e);

/*
 * Picks from an SSH2_AGENT_IDENTITIES_ANSWER message (the bytes after the
 * u32 length: type byte, count, keys) the first usable key and writes its
 * OpenSSH line into out. Returns 0; E_NOTFOUND with a message naming what
 * the agent holds when no key is usable; E_PROTO for SSH_AGENT_FAILURE, a
 * wrong type or a malformed message; E_RANGE if out is too small.
 */
int sshagent_pick_answer(const uint8_t *msg, size_t len, char *out, size_t outlen,
			 const struct logger *lg, struct err *e);

/*
 * Asks the agent at sock (NULL: $SSH_AUTH_SOCK) for its identities and
 * writes the first usable key's line into out. Returns 0; E_CONFIG when
 * no agent is set; E_IO when it cannot be reached; E_TIMEOUT; E_NOTFOUND
 * when it holds no usable key; E_PROTO for a bad answer.
 */
int sshagent_pick_key(const char *sock, char *out, size_t outlen, const struct logger *lg,
		      struct err *e);

/*
 * Reads an OpenSSH public key file (one line "type base64 [comment]"),
 * checks that the base64 blob is a key of the named type that EC2 accepts
 * and writes the line into out. Returns 0; E_IO (cannot read); E_INVAL
 * (not a public key, e.g. a private key file); E_NOTFOUND / E_RANGE as
 * sshagent_check_blob; E_RANGE if out is too small.
 */
int sshagent_read_pubfile(const char *path, char *out, size_t outlen, struct err *e);

#endif
