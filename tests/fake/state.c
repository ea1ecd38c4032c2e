/* state.c: files under the fake region's state directory. */
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATS_MAX 8192

static int
mkdir_p1(const char *path, struct err *e)
{
	if (mkdir(path, 0700) == 0 || errno == EEXIST)
		return 0;
	return err_set(e, E_IO, "cannot create %s: %s", path, strerror(errno));
}

int
state_path(char *out, size_t size, const char *dir, const char *name)
{
	int n = snprintf(out, size, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= size ? E_RANGE : 0;
}

int
state_init(const char *dir, struct err *e)
{
	char p[STATE_PATH_MAX];
	static const char *const subs[] = { "sessions", "faults" };

	if (mkdir_p1(dir, e) < 0)
		return E_IO;
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		if (state_path(p, sizeof(p), dir, subs[i]) < 0)
			return err_set(e, E_RANGE, "state directory path too long");
		if (mkdir_p1(p, e) < 0)
			return E_IO;
	}
	/* A test waits for the port file: never let it see the previous run's. */
	if (state_path(p, sizeof(p), dir, "port") == 0 && unlink(p) < 0 && errno != ENOENT)
		return err_set(e, E_IO, "cannot remove %s: %s", p, strerror(errno));
	return 0;
}

static int
write_all(int fd, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return E_IO;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int
state_write_file(const char *dir, const char *name, const void *data, size_t len,
		 struct err *e)
{
	char p[STATE_PATH_MAX], tmp[STATE_PATH_MAX + 32];
	int fd;

	if (state_path(p, sizeof(p), dir, name) < 0)
		return err_set(e, E_RANGE, "state path too long");
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", p, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_set(e, E_IO, "cannot create %s: %s", tmp, strerror(errno));
	if (write_all(fd, data, len) < 0) {
		int saved = errno;
		close(fd);
		unlink(tmp);
		return err_set(e, E_IO, "cannot write %s: %s", tmp, strerror(saved));
	}
	close(fd);
	if (rename(tmp, p) < 0) {
		int saved = errno;
		unlink(tmp);
		return err_set(e, E_IO, "cannot rename to %s: %s", p, strerror(saved));
	}
	return 0;
}

int
state_read_file(const char *dir, const char *name, char *out, size_t size, struct err *e)
{
	char p[STATE_PATH_MAX];
	size_t got = 0;
	int fd;

	if (size == 0)
		return err_set(e, E_INVAL, "no room to read %s", name);
	if (state_path(p, sizeof(p), dir, name) < 0)
		return err_set(e, E_RANGE, "state path too long");
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return err_set(e, E_NOTFOUND, "%s does not exist", name);
		return err_set(e, E_IO, "cannot open %s: %s", p, strerror(errno));
	}
	while (got < size - 1) {
		ssize_t r = read(fd, out + got, size - 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int saved = errno;
			close(fd);
			return err_set(e, E_IO, "cannot read %s: %s", p, strerror(saved));
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	out[got] = '\0';
	return 0;
}

int
state_append(const char *dir, const char *name, const char *fmt, ...)
{
	char p[STATE_PATH_MAX], line[2048];
	va_list ap;
	int n, fd, rc;

	if (state_path(p, sizeof(p), dir, name) < 0)
		return E_RANGE;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return E_INVAL;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	fd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return E_IO;
	/* O_APPEND and one write: lines from concurrent children stay whole. */
	rc = write_all(fd, line, (size_t)n);
	close(fd);
	return rc;
}

int
state_lock(const char *dir, const char *name)
{
	char p[STATE_PATH_MAX];
	int fd;

	if (state_path(p, sizeof(p), dir, name) < 0)
		return E_RANGE;
	fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return E_IO;
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			close(fd);
			return E_IO;
		}
	}
	return fd;
}

void
state_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* closing the only descriptor releases the flock */
}

int
state_budget_set(const char *dir, const char *name, uint64_t value)
{
	char n[256], v[32];
	int len;

	if (snprintf(n, sizeof(n), "faults/%s", name) >= (int)sizeof(n))
		return E_RANGE;
	len = snprintf(v, sizeof(v), "%" PRIu64 "\n", value);
	return state_write_file(dir, n, v, (size_t)len, NULL);
}

int
state_budget_take(const char *dir, const char *name)
{
	char n[256], lk[280], v[32];
	uint64_t left;
	int fd, rc;

	if (snprintf(n, sizeof(n), "faults/%s", name) >= (int)sizeof(n))
		return E_RANGE;
	snprintf(lk, sizeof(lk), "%s.lock", n);
	fd = state_lock(dir, lk);
	if (fd < 0)
		return fd;
	rc = state_read_file(dir, n, v, sizeof(v), NULL);
	if (rc == E_NOTFOUND) {
		state_unlock(fd);
		return 0;
	}
	if (rc < 0) {
		state_unlock(fd);
		return rc;
	}
	left = strtoull(v, NULL, 10);
	if (left == 0) {
		state_unlock(fd);
		return 0;
	}
	rc = state_budget_set(dir, name, left - 1);
	state_unlock(fd);
	return rc < 0 ? rc : 1;
}

/* Finds "name value" in the stats text; returns the value or 0. */
static int64_t
stats_lookup(const char *text, const char *name, const char **line, const char **next)
{
	size_t nl = strlen(name);
	const char *p = text;

	*line = *next = NULL;
	while (*p) {
		const char *eol = strchr(p, '\n');
		const char *after = eol ? eol + 1 : p + strlen(p);
		if (strncmp(p, name, nl) == 0 && p[nl] == ' ') {
			*line = p;
			*next = after;
			return strtoll(p + nl + 1, NULL, 10);
		}
		p = after;
	}
	return 0;
}

int
state_stats_add(const char *dir, const char *name, int64_t delta)
{
	char text[STATS_MAX], out[STATS_MAX + 128];
	const char *line, *next;
	int fd, rc, n;
	int64_t v;

	fd = state_lock(dir, "stats.lock");
	if (fd < 0)
		return fd;
	rc = state_read_file(dir, "stats", text, sizeof(text), NULL);
	if (rc == E_NOTFOUND) {
		text[0] = '\0';
		rc = 0;
	}
	if (rc < 0) {
		state_unlock(fd);
		return rc;
	}
	v = stats_lookup(text, name, &line, &next) + delta;
	if (line != NULL)
		n = snprintf(out, sizeof(out), "%.*s%s %" PRId64 "\n%s", (int)(line - text), text,
			     name, v, next);
	else
		n = snprintf(out, sizeof(out), "%s%s %" PRId64 "\n", text, name, v);
	if (n < 0 || (size_t)n >= sizeof(out))
		rc = E_RANGE;
	else /* rename keeps readers from seeing half a file */
		rc = state_write_file(dir, "stats", out, (size_t)n, NULL);
	state_unlock(fd);
	return rc;
}

int
state_stats_get(const char *dir, const char *name, int64_t *value)
{
	char text[STATS_MAX];
	const char *line, *next;
	int rc = state_read_file(dir, "stats", text, sizeof(text), NULL);

	*value = 0;
	if (rc == E_NOTFOUND)
		return 0;
	if (rc < 0)
		return rc;
	*value = stats_lookup(text, name, &line, &next);
	return 0;
}
