/* mgsmsg.c: gateway-made data-channel messages. */
#include "mgsmsg.h"
#include "uuid.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

/* Encodes a control message with payload JSON j (consumed). */
static int
encode(struct buf *out, enum agentmsg_kind kind, const uint8_t id[16], cJSON *j)
{
	struct agentmsg m;
	char *json = j ? cJSON_PrintUnformatted(j) : NULL;
	int rc;

	cJSON_Delete(j);
	if (json == NULL)
		return E_NOMEM;
	memset(&m, 0, sizeof(m));
	memcpy(m.id, id, 16);
	m.kind = kind;
	m.flags = AGENTMSG_FLAGS_ACK;
	m.payload_type = PT_NONE;
	m.payload = (const uint8_t *)json;
	m.payload_size = strlen(json);
	rc = agentmsg_encode(out, &m, NULL);
	cJSON_free(json);
	return rc;
}

int
mgsmsg_channel_closed(struct buf *out, const char *target, const char *session_id,
		      const char *output)
{
	char ids[UUID_STR_LEN + 1], created[32];
	uint8_t id[16];
	cJSON *j;
	int rc;

	if ((rc = uuid_v4(id)) < 0)
		return rc;
	uuid_format(id, ids);
	snprintf(created, sizeof(created), "%" PRIu64, agentmsg_now_ms());
	j = cJSON_CreateObject();
	if (j == NULL || !cJSON_AddStringToObject(j, "MessageId", ids) ||
	    !cJSON_AddStringToObject(j, "CreatedDate", created) ||
	    !cJSON_AddStringToObject(j, "DestinationId", target) ||
	    !cJSON_AddStringToObject(j, "SessionId", session_id) ||
	    !cJSON_AddStringToObject(j, "MessageType", AM_CHANNEL_CLOSED) ||
	    !cJSON_AddNumberToObject(j, "SchemaVersion", 1) ||
	    !cJSON_AddStringToObject(j, "Output", output ? output : "")) {
		cJSON_Delete(j);
		return E_NOMEM;
	}
	return encode(out, AMK_CHANNEL_CLOSED, id, j);
}

int
mgsmsg_publication(struct buf *out, enum agentmsg_kind kind, const char *session_id)
{
	uint8_t id[16];
	cJSON *j;
	int rc;

	if (kind != AMK_PAUSE_PUB && kind != AMK_START_PUB)
		return E_INVAL;
	if ((rc = uuid_v4(id)) < 0)
		return rc;
	j = cJSON_CreateObject();
	if (j == NULL || !cJSON_AddNumberToObject(j, "SchemaVersion", 1) ||
	    !cJSON_AddStringToObject(j, "SessionId", session_id)) {
		cJSON_Delete(j);
		return E_NOMEM;
	}
	return encode(out, kind, id, j);
}
