/*
 * gateway.h: the fake message gateway (MGS) side of a data channel.
 *
 * Serves "GET /v1/data-channel/<SessionId>?role=publish_subscribe": upgrades
 * to a websocket, waits (answering pings) for the OpenDataChannel text
 * frame, checks its TokenValue against the session, then relays binary
 * frames between the client and the session's agent (agent.h) over a link
 * (link.h). The process of a session's first connection becomes the
 * session's agent and goes on serving that websocket in the agent's loop
 * (gateway_prepare/gateway_handle, an in-process link), so the agent
 * outlives a dropped websocket without a process hop on the data path;
 * later connections of the session (after ResumeSession) reach it through
 * its abstract unix socket.
 *
 * The gateway checks what the client sends before relaying it (text frames
 * after OpenDataChannel, binary before it, undecodable frames, message
 * types a client must not send) and appends "<session> <count>" to
 * DIR/violations when the websocket ends.
 */
#ifndef SSMP_FAKE_GATEWAY_H
#define SSMP_FAKE_GATEWAY_H

#include <poll.h>

#include "err.h"
#include "link.h"
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

/* One websocket's gateway; the agent drives its first one with the calls below. */
struct gateway;

/*
 * Does the gateway's work between polls and fills *p with what to poll for
 * (fd -1 for nothing), lowering *timeout_ms (-1: none yet) to its next
 * deadline. Returns 1 once the websocket is over: then call gateway_end.
 */
int gateway_prepare(struct gateway *g, struct pollfd *p, int *timeout_ms);
/* Handles poll's revents for the descriptor gateway_prepare asked for. */
void gateway_handle(struct gateway *g, short revents);
/* Makes agent_end (from link_init(l, -1)) the other end of g's link, in process. */
void gateway_pair(struct gateway *g, struct link *agent_end);
/* Ends the websocket (cut or closed, as decided) and records its violations. */
void gateway_end(struct gateway *g);

/* Writes the abstract unix socket name of session id's agent (leading NUL); returns its length. */
size_t gateway_agent_addr(const struct region *r, const char *id, char *out, size_t size);

#endif
