/*
 * fuzz_handshake.c: every JSON payload parser of the data channel on the
 * same bytes: HandshakeRequest / Response / Complete, acknowledge and
 * OpenDataChannel. Whatever they keep must be bounded and printable.
 */
#include "agentmsg.h"
#include "datachannel.h"
#include "fuzz.h"
#include "handshake.h"

static void
check_text(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);

	FZ_ASSERT(n < cap);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hs_request rq;
	struct hs_response rs;
	struct dc_open o;
	struct err e;
	char msg[HS_TEXT_MAX];
	int64_t ns, seq;

	if (hs_request_parse(data, size, &rq, &e) == 0) {
		FZ_ASSERT(rq.n_actions <= HS_MAX_ACTIONS);
		check_text(rq.agent_version, sizeof(rq.agent_version));
		for (size_t i = 0; i < rq.n_actions; i++) {
			check_text(rq.actions[i].type, sizeof(rq.actions[i].type));
			check_text(rq.actions[i].session_type, sizeof(rq.actions[i].session_type));
		}
	}
	if (hs_response_parse(data, size, &rs, &e) == 0) {
		FZ_ASSERT(rs.n_actions <= HS_MAX_ACTIONS);
		for (size_t i = 0; i < rs.n_actions; i++)
			check_text(rs.actions[i].error, sizeof(rs.actions[i].error));
	}
	if (hs_complete_parse(data, size, &ns, msg, sizeof(msg), &e) == 0) {
		check_text(msg, sizeof(msg));
		for (const char *p = msg; *p; p++)
			FZ_ASSERT((unsigned char)*p >= 0x20 && *p != 0x7f);
	}
	if (agentmsg_ack_parse(data, size, &seq, &e) == 0)
		FZ_ASSERT(seq >= 0 && seq <= ((int64_t)1 << 53));
	memset(&o, 0, sizeof(o));
	if (dc_open_parse(data, size, &o, &e) == 0) {
		FZ_ASSERT(o.token != NULL && o.token[0] != '\0');
		dc_open_free(&o);
	}
	return 0;
}
