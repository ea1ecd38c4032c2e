/*
 * agent.h: the fake SSM agent of one session.
 *
 * Runs the agent role of the data channel (datachannel.h) for a Port
 * session: HandshakeRequest, then after the HandshakeResponse it sends
 * HandshakeComplete and only then dials the target (non-blocking), as the
 * real agent does. Target bytes go out in output messages of at most 1024
 * bytes; client input is written to the target in order through a bounded
 * buffer (when it is full the agent stops reading its gateway link, which
 * stops the gateway reading the websocket).
 *
 * The agent talks to the client through a gateway over a link (link.h):
 * the first websocket's gateway runs in the agent's own loop, later ones
 * are processes that connect to listen_fd. It survives a dropped websocket:
 * the newest gateway becomes the link and everything not acked is then
 * sent again. The fault switches of struct region_faults are
 * applied in the agent's send path.
 *
 * The session ends on target EOF (after up to 2 s waiting for acks), on a
 * TerminateSession or DisconnectToPort flag, on the TerminateSession API
 * (the session record turns "terminated"), on a failed handshake, or after
 * AGENT_ORPHAN_MS without any gateway. It then sends channel_closed when it
 * can, marks the session ended, appends "<session> <violations>" to
 * DIR/violations and adds its counters to DIR/stats.
 */
#ifndef SSMP_FAKE_AGENT_H
#define SSMP_FAKE_AGENT_H

#include "err.h"
#include "region.h"
#include "session.h"

#define AGENT_TARGET_BUF (256 * 1024)  /* client bytes waiting for the target */
#define AGENT_TARGET_HARD (16 * 1024 * 1024) /* ... past this, input is refused */
#define AGENT_DRAIN_MS 2000            /* wait for acks before channel_closed */
#define AGENT_ORPHAN_MS 60000          /* no gateway for this long ends the session */
#define AGENT_CLOSE_WAIT_MS 3000       /* for the gateway to finish closing */
#define AGENT_PAUSE_AFTER_MSGS 4       /* --pause triggers after this many outputs */

struct gateway;

/*
 * Serves session s with the first websocket's gateway (driven in this
 * loop until its websocket ends) and listen_fd (accepting later gateways)
 * until the session ends; closes listen_fd. Returns 0, or an E_* code with
 * a message in e if it failed.
 */
int agent_run(const struct region *r, const struct session *s, int listen_fd,
	      struct gateway *first, struct err *e);

#endif
