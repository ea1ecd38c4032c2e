/*
 * log.h: one logger with levels.
 *
 * Library code never owns a logger: the program creates one and passes a
 * const pointer down. A NULL logger discards everything.
 * Levels: -q shows nothing but errors, default adds notices, each -v adds
 * one more level. Never log secrets (keys, session or stream tokens).
 */
#ifndef SSMP_LOG_H
#define SSMP_LOG_H

enum log_level {
	LL_ERROR = 0,   /* always shown unless quiet */
	LL_NOTICE = 1,  /* default level */
	LL_VERBOSE = 2, /* -v */
	LL_DEBUG = 3,   /* -vv */
	LL_TRACE = 4,   /* -vvv: per-message detail */
};

struct logger {
	int level;           /* messages above this level are dropped */
	const char *prefix;  /* e.g. "ssm-proxy"; printed before ": " */
	/* Optional sink; NULL writes "prefix: line\n" to stderr. */
	void (*sink)(void *arg, int level, const char *line);
	void *arg;
	/* Nonzero: at -vv and above, lines start with the milliseconds since
	 * this CLOCK_MONOTONIC instant (in microseconds), for connect timing. */
	long long t0_us;
};

/* Logs one line (no trailing newline needed) if level <= lg->level. */
void log_msg(const struct logger *lg, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* CLOCK_MONOTONIC now, in microseconds (for logger.t0_us). */
long long log_now_us(void);

/* Returns nonzero if a message at level would be shown. */
int log_enabled(const struct logger *lg, int level);

#define log_error(lg, ...) log_msg((lg), LL_ERROR, __VA_ARGS__)
#define log_notice(lg, ...) log_msg((lg), LL_NOTICE, __VA_ARGS__)
#define log_verbose(lg, ...) log_msg((lg), LL_VERBOSE, __VA_ARGS__)
#define log_debug(lg, ...) log_msg((lg), LL_DEBUG, __VA_ARGS__)
#define log_trace(lg, ...) log_msg((lg), LL_TRACE, __VA_ARGS__)

#endif
