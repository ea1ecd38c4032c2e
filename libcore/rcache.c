/* rcache.c: the resolved-name cache (see rcache.h). */
#include "rcache.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#define RCACHE_MAX_FILE (1024 * 1024) /* a larger file is not ours: ignore it */

int
rcache_dir(char *out, size_t outlen, struct err *e)
{
	const char *x = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	int n;

	/* The XDG spec says relative values are invalid and must be ignored. */
	if (x != NULL && x[0] == '/')
		n = snprintf(out, outlen, "%s/ssm-proxy", x);
	else if (home != NULL && home[0] != '\0')
		n = snprintf(out, outlen, "%s/.cache/ssm-proxy", home);
	else
		return err_set(e, E_CONFIG, "no cache directory: neither XDG_CACHE_HOME nor HOME is set");
	if (n < 0 || (size_t)n >= outlen)
		return err_set(e, E_RANGE, "cache directory path too long");
	return 0;
}

/* dir/<profile>@<region>.json, bytes outside [A-Za-z0-9_-] written as %XX. */
static int
file_path(char *out, size_t outlen, const char *dir, const char *profile, const char *region)
{
	char name[1024];
	size_t o = 0;
	const char *parts[2] = { profile, region };
	int n;

	for (int k = 0; k < 2; k++) {
		if (k == 1 && o + 1 < sizeof(name))
			name[o++] = '@';
		for (const unsigned char *p = (const unsigned char *)parts[k]; *p; p++) {
			if (o + 4 >= sizeof(name))
				return -1;
			if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			    (*p >= '0' && *p <= '9') || *p == '_' || *p == '-')
				name[o++] = (char)*p;
			else
				o += (size_t)snprintf(name + o, sizeof(name) - o, "%%%02X", *p);
		}
	}
	name[o] = '\0';
	n = snprintf(out, outlen, "%s/%s.json", dir, name);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/* Parses the cache file; NULL when absent, unreadable or not a JSON object. */
static cJSON *
load(const char *path)
{
	char *text;
	cJSON *j = NULL;
	struct stat st;
	ssize_t got;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > RCACHE_MAX_FILE ||
	    (text = malloc((size_t)st.st_size + 1)) == NULL) {
		close(fd);
		return NULL;
	}
	got = read(fd, text, (size_t)st.st_size);
	close(fd);
	if (got == st.st_size)
		j = cJSON_ParseWithLength(text, (size_t)got);
	free(text);
	if (j != NULL && !cJSON_IsObject(j)) {
		cJSON_Delete(j);
		j = NULL;
	}
	return j;
}

static const char *
jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : "";
}

static int
fresh(const cJSON *ent, time_t now, long ttl)
{
	const cJSON *at = cJSON_GetObjectItemCaseSensitive(ent, "at");

	return cJSON_IsNumber(at) && at->valuedouble <= (double)now &&
	       at->valuedouble > (double)now - (double)ttl;
}

int
rcache_get(const char *dir, const char *profile, const char *region, const char *host,
           time_t now, long ttl, struct rcache_entry *out)
{
	char path[PATH_MAX];
	const cJSON *ent;
	cJSON *j;
	int r = E_NOTFOUND;

	memset(out, 0, sizeof(*out));
	if (file_path(path, sizeof(path), dir, profile, region) != 0 || (j = load(path)) == NULL)
		return E_NOTFOUND;
	ent = cJSON_GetObjectItemCaseSensitive(j, host);
	if (cJSON_IsObject(ent) && fresh(ent, now, ttl) && jstr(ent, "id")[0] != '\0' &&
	    strlen(jstr(ent, "id")) < sizeof(out->id)) {
		snprintf(out->id, sizeof(out->id), "%s", jstr(ent, "id"));
		snprintf(out->name, sizeof(out->name), "%s", jstr(ent, "name"));
		snprintf(out->address, sizeof(out->address), "%s", jstr(ent, "address"));
		r = 0;
	}
	cJSON_Delete(j);
	return r;
}

/* mkdir -p with mode 0700 for what is created; an existing dir is kept. */
static int
make_dirs(const char *dir, struct err *e)
{
	char p[PATH_MAX];

	if (snprintf(p, sizeof(p), "%s", dir) >= (int)sizeof(p))
		return err_set(e, E_IO, "cache directory path too long");
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0700) != 0 && errno != EEXIST)
			return err_set(e, E_IO, "cannot create %s: %s", p, strerror(errno));
		*s = '/';
	}
	if (mkdir(p, 0700) != 0 && errno != EEXIST)
		return err_set(e, E_IO, "cannot create %s: %s", p, strerror(errno));
	return 0;
}

int
rcache_put(const char *dir, const char *profile, const char *region, const char *host,
           const struct rcache_entry *ent, time_t now, long ttl, struct err *e)
{
	char path[PATH_MAX], tmp[PATH_MAX + 16];
	cJSON *j, *n, *next;
	char *text;
	size_t len;
	int fd, r = 0;

	if (file_path(path, sizeof(path), dir, profile, region) != 0)
		return err_set(e, E_IO, "cache file path too long");
	if ((r = make_dirs(dir, e)) != 0)
		return r;
	if ((j = load(path)) == NULL && (j = cJSON_CreateObject()) == NULL)
		return err_set(e, E_NOMEM, "out of memory");
	/* Drop what expired, and the old entry for host. */
	for (n = j->child; n != NULL; n = next) {
		next = n->next;
		if (!cJSON_IsObject(n) || !fresh(n, now, ttl) || strcmp(n->string, host) == 0)
			cJSON_Delete(cJSON_DetachItemViaPointer(j, n));
	}
	n = cJSON_AddObjectToObject(j, host);
	if (n == NULL || cJSON_AddStringToObject(n, "id", ent->id) == NULL ||
	    cJSON_AddStringToObject(n, "name", ent->name) == NULL ||
	    cJSON_AddStringToObject(n, "address", ent->address) == NULL ||
	    cJSON_AddNumberToObject(n, "at", (double)now) == NULL ||
	    (text = cJSON_Print(j)) == NULL) {
		cJSON_Delete(j);
		return err_set(e, E_NOMEM, "out of memory");
	}
	cJSON_Delete(j);
	snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path);
	/* mkstemp creates the file 0600, so other users never see the contents. */
	if ((fd = mkstemp(tmp)) < 0) {
		r = err_set(e, E_IO, "cannot write the cache in %s: %s", dir, strerror(errno));
		goto out;
	}
	len = strlen(text);
	if (write(fd, text, len) != (ssize_t)len || fsync(fd) != 0) {
		r = err_set(e, E_IO, "cannot write %s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		goto out;
	}
	close(fd);
	if (rename(tmp, path) != 0) {
		r = err_set(e, E_IO, "cannot rename %s: %s", tmp, strerror(errno));
		unlink(tmp);
	}
out:
	cJSON_free(text);
	return r;
}
