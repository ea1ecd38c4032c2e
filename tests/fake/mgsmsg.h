/*
 * mgsmsg.h: messages the gateway (MGS) itself sends to the client.
 *
 * channel_closed when a session is over, pause_publication and
 * start_publication; all with a non-empty payload, as the official client
 * needs (protocol reference, sections 1, 3.12 and 3.14).
 */
#ifndef SSMP_FAKE_MGSMSG_H
#define SSMP_FAKE_MGSMSG_H

#include "agentmsg.h"
#include "buf.h"
#include "err.h"

/*
 * Appends a channel_closed frame: seq 0, PayloadType 0, JSON with
 * MessageId, CreatedDate (a string), DestinationId, SessionId,
 * MessageType, SchemaVersion and Output. Returns 0 or E_*.
 */
int mgsmsg_channel_closed(struct buf *out, const char *target, const char *session_id,
			  const char *output);

/* Appends a pause_publication or start_publication frame (kind AMK_PAUSE_PUB / AMK_START_PUB); 0 or E_*. */
int mgsmsg_publication(struct buf *out, enum agentmsg_kind kind, const char *session_id);

#endif
