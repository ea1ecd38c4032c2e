/* log.c: the logger. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

long long
log_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

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
	if (lg->t0_us != 0 && lg->level >= LL_DEBUG && lg->sink == NULL) {
		long long d = log_now_us() - lg->t0_us;
		int m = snprintf(line + n, sizeof(line) - (size_t)n, "[%lld.%03lld ms] ",
		    d / 1000, d % 1000);
		if (m > 0 && (size_t)m < sizeof(line) - (size_t)n)
			n += m;
	}
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
