/*
 * gateway.h: the fake message gateway (MGS) side of a data channel.
 *
 * Serves "GET /v1/data-channel/<SessionId>?role=publish_subscribe": upgrades
 * to a websocket, waits (answering pings) for the OpenDataChannel text
 * frame, checks its TokenValue against the session, then relays binary
 * frames between the client and the session's agent (agent.h) over a link
 * (link.h). The first connection of a session forks: the parent process
 * becomes the session's agent and the child carries on as this gateway, so
 * the agent outlives a dropped websocket; later connections of the session
 * (after ResumeSession) reach it through its abstract unix socket.
 *
 * The gateway checks what the client sends before relaying it (text frames
 * after OpenDataChannel, binary before it, undecodable frames, message
 * types a client must not send) and appends "<session> <count>" to
 * DIR/violations when the websocket ends.
 */
#ifndef SSMP_FAKE_GATEWAY_H
#define SSMP_FAKE_GATEWAY_H

#include "err.h"
#include "region.h"
#include "wss.h"

#define GATEWAY_PATH_PREFIX "/v1/data-channel/"
#define GATEWAY_OPEN_TIMEOUT_MS 30000 /* upgrade to OpenDataChannel */

/* Returns nonzero if req asks for a data channel (path prefix). */
int gateway_match(const struct wss_request *req);

/*
 * Serves the data-channel request req on c until the websocket ends; takes
 * ownership of c. Returns 0 or an E_* code (the connection is over either
 * way). In the process that becomes a session's agent it does not return.
 */
int gateway_serve(const struct region *r, struct wss_conn *c, const struct wss_request *req,
		  struct err *e);

/* Writes the abstract unix socket name of session id's agent (leading NUL); returns its length. */
size_t gateway_agent_addr(const struct region *r, const char *id, char *out, size_t size);

#endif
