/* log.c: the logger. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int
log_enabled(const struct logger *lg, int level)
{
	return lg != NULL && level <= lg->level;
}

void
log_msg(const struct logger *lg, int level, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	int n;

	if (!log_enabled(lg, level))
		return;
	n = snprintf(line, sizeof(line), "%s: ", lg->prefix ? lg->prefix : "ssm-proxy");
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	/* One line per message: fold embedded newlines from peer-supplied text. */
	for (char *p = line; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	if (lg->sink != NULL) {
		lg->sink(lg->arg, level, line + n);
		return;
	}
	/* One write(2) so lines from concurrent processes do not interleave. */
	size_t len = strlen(line);
	if (len < sizeof(line) - 1)
		line[len++] = '\n';
	else
		line[len - 1] = '\n';
	ssize_t w = write(STDERR_FILENO, line, len);
	(void)w;
}
