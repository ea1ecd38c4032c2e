/* session.c: the session registry (files) and stream tokens (HMACs). */
#include "session.h"
#include "state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

int
session_id_valid(const char *id)
{
	size_t n = 0;

	if (id == NULL || id[0] == '\0' || id[0] == '.' || id[0] == '-')
		return 0;
	/* The id names a file: letters, digits, '-', '_' and '.' only. */
	for (const char *p = id; *p; p++, n++) {
		char c = *p;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
			return 0;
	}
	return n < SESSION_ID_MAX - 8; /* room for ".lock" etc. */
}

int
session_new_id(char out[SESSION_ID_MAX])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t rnd[9];
	char h[18];

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return E_IO;
	for (int i = 0; i < 17; i++)
		h[i] = hex[(i % 2 ? rnd[i / 2] : rnd[i / 2] >> 4) & 15];
	h[17] = '\0';
	snprintf(out, SESSION_ID_MAX, "%s-%s", SESSION_ID_PREFIX, h);
	return 0;
}

const char *
session_state_name(enum session_state st)
{
	switch (st) {
	case SESSION_ACTIVE: return "active";
	case SESSION_TERMINATED: return "terminated";
	case SESSION_ENDED: return "ended";
	}
	return "unknown";
}

int
session_lock(const struct region *r, const char *id)
{
	char name[SESSION_ID_MAX + 32];

	if (!session_id_valid(id))
		return E_INVAL;
	snprintf(name, sizeof(name), "sessions/%s.lock", id);
	return state_lock(r->state_dir, name);
}

void
session_unlock(int fd)
{
	state_unlock(fd);
}

int
session_load(const struct region *r, const char *id, struct session *s, struct err *e)
{
	char name[SESSION_ID_MAX + 32], text[1024];
	int rc, have = 0;

	if (!session_id_valid(id))
		return err_set(e, E_NOTFOUND, "malformed session id");
	snprintf(name, sizeof(name), "sessions/%s", id);
	rc = state_read_file(r->state_dir, name, text, sizeof(text), e);
	if (rc < 0)
		return rc;
	memset(s, 0, sizeof(*s));
	snprintf(s->id, sizeof(s->id), "%s", id);
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		char *val = strchr(line, ' ');
		if (val == NULL)
			continue;
		*val++ = '\0';
		if (strcmp(line, "target") == 0) {
			snprintf(s->target, sizeof(s->target), "%s", val);
			have |= 1;
		} else if (strcmp(line, "port") == 0) {
			s->port = (uint16_t)strtoul(val, NULL, 10);
			have |= 2;
		} else if (strcmp(line, "generation") == 0) {
			s->generation = (unsigned)strtoul(val, NULL, 10);
		} else if (strcmp(line, "state") == 0) {
			if (strcmp(val, "terminated") == 0)
				s->state = SESSION_TERMINATED;
			else if (strcmp(val, "ended") == 0)
				s->state = SESSION_ENDED;
			else
				s->state = SESSION_ACTIVE;
		}
	}
	if (have != 3)
		return err_set(e, E_IO, "session record %s is incomplete", id);
	return 0;
}

int
session_store(const struct region *r, const struct session *s, struct err *e)
{
	char name[SESSION_ID_MAX + 32], text[512];
	int n;

	if (!session_id_valid(s->id))
		return err_set(e, E_INVAL, "malformed session id");
	snprintf(name, sizeof(name), "sessions/%s", s->id);
	n = snprintf(text, sizeof(text), "target %s\nport %u\ngeneration %u\nstate %s\n",
		     s->target, (unsigned)s->port, s->generation, session_state_name(s->state));
	return state_write_file(r->state_dir, name, text, (size_t)n, e);
}

void
session_token(const struct region *r, const char *id, unsigned generation,
	      char out[SESSION_TOKEN_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	char msg[SESSION_ID_MAX + 16];
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned maclen = 0;
	int n = snprintf(msg, sizeof(msg), "%s:%u", id, generation);

	/* Derivable tokens: every child can check them without shared memory. */
	if (HMAC(EVP_sha256(), r->secret, sizeof(r->secret), (const uint8_t *)msg,
		 (size_t)n, mac, &maclen) == NULL || maclen < 32) {
		memset(out, '0', SESSION_TOKEN_LEN);
		out[SESSION_TOKEN_LEN] = '\0';
		return;
	}
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hex[mac[i] >> 4];
		out[2 * i + 1] = hex[mac[i] & 15];
	}
	out[SESSION_TOKEN_LEN] = '\0';
}

int
session_token_ok(const struct region *r, const struct session *s, const char *token)
{
	char want[SESSION_TOKEN_LEN + 1];

	if (token == NULL || strlen(token) != SESSION_TOKEN_LEN)
		return 0;
	session_token(r, s->id, s->generation, want);
	return CRYPTO_memcmp(want, token, SESSION_TOKEN_LEN) == 0;
}
