/*
 * fuzz_agentmsg.c: the AgentMessage decoder on arbitrary frames. A frame
 * that decodes must encode again (when the encoder accepts its fields) and
 * that encoding must decode to the same message.
 */
#include "agentmsg.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct agentmsg m, m2;
	struct err e;
	struct buf out;

	if (agentmsg_decode(&m, data, size, &e) != 0) {
		FZ_ASSERT(e.msg[0] != '\0');
		return 0;
	}
	FZ_ASSERT(m.payload_size <= size);
	FZ_ASSERT(m.kind != AMK_UNKNOWN);
	buf_init(&out, 0);
	if (agentmsg_encode(&out, &m, &e) == 0) {
		FZ_ASSERT(agentmsg_decode(&m2, buf_ptr(&out), buf_len(&out), &e) == 0);
		FZ_ASSERT(m2.kind == m.kind && m2.seq == m.seq && m2.flags == m.flags);
		FZ_ASSERT(m2.payload_size == m.payload_size);
		FZ_ASSERT(m.payload_size == 0 || memcmp(m2.payload, m.payload, m.payload_size) == 0);
		FZ_ASSERT(memcmp(m2.id, m.id, sizeof(m.id)) == 0);
	}
	buf_free(&out);
	return 0;
}
