/* err.c: error codes and messages. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *
err_str(int code)
{
	switch (code) {
	case E_OK: return "success";
	case E_NOMEM: return "out of memory";
	case E_INVAL: return "invalid input";
	case E_SHORT: return "input truncated";
	case E_RANGE: return "value out of range";
	case E_DIGEST: return "digest mismatch";
	case E_IO: return "i/o error";
	case E_TIMEOUT: return "timed out";
	case E_PROTO: return "protocol error";
	case E_AUTH: return "authentication failed";
	case E_AWS: return "aws api error";
	case E_NET: return "network error";
	case E_CONFIG: return "configuration error";
	case E_NOTFOUND: return "not found";
	case E_AGAIN: return "try again";
	case E_CLOSED: return "connection closed";
	case E_FULL: return "buffer full";
	}
	return "unknown error";
}

int
err_set(struct err *e, int code, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return code;
	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return code;
}

int
err_prefix(struct err *e, const char *fmt, ...)
{
	char pre[ERR_MSG_MAX], old[ERR_MSG_MAX], out[2 * ERR_MSG_MAX + 4];
	va_list ap;

	if (e == NULL)
		return E_INVAL;
	va_start(ap, fmt);
	vsnprintf(pre, sizeof(pre), fmt, ap);
	va_end(ap);
	memcpy(old, e->msg, sizeof(old));
	snprintf(out, sizeof(out), "%s: %s", pre, old[0] ? old : err_str(e->code));
	/* Long messages are cut, never overflowed. */
	snprintf(e->msg, sizeof(e->msg), "%.*s", (int)sizeof(e->msg) - 1, out);
	return e->code;
}

void
err_clear(struct err *e)
{
	if (e == NULL)
		return;
	e->code = 0;
	e->msg[0] = '\0';
}
