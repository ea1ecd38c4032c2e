/* server.c: dispatch of one accepted connection. */
#include "server.h"
#include "api.h"
#include "fakeeic.h"
#include "gateway.h"
#include "wss.h"

int
server_conn(const struct region *r, int fd, struct err *e)
{
	const struct wss_request *req;
	struct wss_conn *c;
	int rc;

	rc = wss_conn_accept(&c, fd, r->ssl, SERVER_TLS_TIMEOUT_MS, r->lg, e);
	if (rc < 0)
		return rc;
	for (;;) {
		rc = wss_read_request(c, SERVER_IDLE_MS, &req, e);
		if (rc == E_CLOSED || rc == E_TIMEOUT) {
			rc = 0; /* the client finished or went idle */
			break;
		}
		if (rc < 0)
			break;
		log_debug(r->lg, "%s %s", req->method, req->path);
		if (gateway_match(req))
			return gateway_serve(r, c, req, e);
		if (fakeeice_match(req))
			return fakeeice_serve(r, c, req, e);
		rc = api_handle(r, c, req, e);
		if (rc < 0 || !req->keep_alive)
			break;
	}
	wss_free(c);
	return rc;
}
