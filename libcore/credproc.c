/* credproc.c: runs credential_process and reads its JSON answer. */
#include "credproc.h"
#include "buf.h"
#include "creds.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>

void
credproc_argv_free(char **argv)
{
	if (argv == NULL)
		return;
	for (char **p = argv; *p != NULL; p++)
		free(*p);
	free(argv);
}

/*
 * Hand-written: no C library has Python shlex's POSIX rules. Blanks split
 * words; '...' is literal; "..." honours backslash before " \ $ ` and
 * newline; outside quotes a backslash escapes the next character.
 */
int
credproc_split(const char *cmd, char ***argv, int *argc, struct err *e)
{
	char **v = calloc(CREDPROC_MAX_ARGS + 1, sizeof(*v));
	struct buf w;
	int n = 0, in_word = 0, r = 0;
	char q = 0;

	*argv = NULL;
	*argc = 0;
	if (v == NULL)
		return err_set(e, E_NOMEM, "out of memory");
	buf_init(&w, 0);
	for (const char *p = cmd;; p++) {
		char c = *p;

		if (q != 0) {
			if (c == '\0') {
				r = err_set(e, E_CONFIG, "credential_process: unclosed quotation");
				goto out;
			}
			if (c == q)
				q = 0;
			else if (q == '"' && c == '\\' && p[1] != '\0' && strchr("\"\\$`\n", p[1]))
				buf_put_u8(&w, (uint8_t)*++p);
			else
				buf_put_u8(&w, (uint8_t)c);
			continue;
		}
		if (c == '\0' || c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			if (in_word) {
				const char *s = buf_cstr(&w);
				if (n >= CREDPROC_MAX_ARGS) {
					r = err_set(e, E_CONFIG, "credential_process: too many words");
					goto out;
				}
				if ((v[n++] = strdup(s != NULL ? s : "")) == NULL) {
					r = err_set(e, E_NOMEM, "out of memory");
					goto out;
				}
				buf_reset(&w);
				in_word = 0;
			}
			if (c == '\0')
				break;
			continue;
		}
		in_word = 1;
		if (c == '\'' || c == '"') {
			q = c;
		} else if (c == '\\') {
			if (p[1] == '\0') {
				r = err_set(e, E_CONFIG, "credential_process: no character after backslash");
				goto out;
			}
			buf_put_u8(&w, (uint8_t)*++p);
		} else {
			buf_put_u8(&w, (uint8_t)c);
		}
	}
	if (n == 0)
		r = err_set(e, E_CONFIG, "credential_process is empty");
out:
	buf_free(&w);
	if (r != 0) {
		credproc_argv_free(v);
		return r;
	}
	*argv = v;
	*argc = n;
	return 0;
}

/* Reads all of fd into b (bounded); returns 0 or E_IO / E_RANGE. */
static int
read_all(int fd, struct buf *b)
{
	char chunk[4096];

	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return E_IO;
		if (n == 0)
			break;
		if (buf_len(b) + (size_t)n > CREDPROC_MAX_OUTPUT || buf_put(b, chunk, (size_t)n) != 0) {
			OPENSSL_cleanse(chunk, sizeof(chunk));
			return E_RANGE;
		}
	}
	OPENSSL_cleanse(chunk, sizeof(chunk));
	return 0;
}

static const char *
jstr(const cJSON *j, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void
wipe_json(cJSON *j)
{
	cJSON *m;

	cJSON_ArrayForEach(m, j) {
		if (cJSON_IsString(m) && m->valuestring != NULL)
			OPENSSL_cleanse(m->valuestring, strlen(m->valuestring));
	}
}

static int
parse_output(const struct buf *b, const char *prog, struct creds *out, struct err *e)
{
	cJSON *j = cJSON_ParseWithLength((const char *)buf_ptr(b), buf_len(b));
	const cJSON *ver;
	const char *ak, *sk, *tok, *exp;
	time_t t = 0;
	int r = 0;

	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		return err_set(e, E_AUTH, "credential_process %s: its output is not a JSON object", prog);
	}
	ver = cJSON_GetObjectItemCaseSensitive(j, "Version");
	ak = jstr(j, "AccessKeyId");
	sk = jstr(j, "SecretAccessKey");
	tok = jstr(j, "SessionToken");
	exp = jstr(j, "Expiration");
	if (!cJSON_IsNumber(ver) || ver->valuedouble != 1)
		r = err_set(e, E_AUTH, "credential_process %s: unsupported Version (expected 1)", prog);
	else if (ak == NULL || *ak == '\0' || sk == NULL || *sk == '\0')
		r = err_set(e, E_AUTH, "credential_process %s: AccessKeyId or SecretAccessKey missing",
			    prog);
	else if (exp != NULL && creds_parse_time(exp, &t) != 0)
		r = err_set(e, E_AUTH, "credential_process %s: Expiration is not an ISO 8601 time",
			    prog);
	else if (creds_set(out, ak, sk, tok != NULL && *tok ? tok : NULL, t, NULL) != 0)
		r = err_set(e, E_NOMEM, "out of memory");
	wipe_json(j);
	cJSON_Delete(j);
	return r;
}

int
credproc_run(const char *cmd, struct creds *out, const struct logger *log, struct err *e)
{
	char **argv = NULL, prog[80];
	int argc, p[2], st = 0, r;
	struct buf b;
	pid_t pid;

	memset(out, 0, sizeof(*out));
	if ((r = credproc_split(cmd, &argv, &argc, e)) != 0)
		return r;
	/* Only the program name goes into messages: arguments may be sensitive. */
	snprintf(prog, sizeof(prog), "'%.60s'", argv[0]);
	for (char *c = prog; *c; c++)
		if ((unsigned char)*c < 0x20)
			*c = '?';
	if (pipe2(p, O_CLOEXEC) != 0) {
		credproc_argv_free(argv);
		return err_set(e, E_IO, "credential_process: pipe: %s", strerror(errno));
	}
	log_debug(log, "running credential_process %s (%d arguments)", prog, argc - 1);
	if ((pid = fork()) < 0) {
		close(p[0]);
		close(p[1]);
		credproc_argv_free(argv);
		return err_set(e, E_IO, "credential_process: fork: %s", strerror(errno));
	}
	if (pid == 0) {
		/* stdin is ssh's connection: the process must not read it. */
		int nul = open("/dev/null", O_RDONLY);
		if (nul >= 0)
			dup2(nul, STDIN_FILENO);
		dup2(p[1], STDOUT_FILENO);
		signal(SIGPIPE, SIG_DFL);
		execvp(argv[0], argv);
		fprintf(stderr, "ssm-proxy: credential_process %s: %s\n", prog, strerror(errno));
		_exit(127);
	}
	close(p[1]);
	credproc_argv_free(argv);
	buf_init(&b, 0);
	r = read_all(p[0], &b);
	close(p[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(st) && WEXITSTATUS(st) != 0)
		r = err_set(e, E_AUTH, "credential_process %s exited with status %d", prog,
			    WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		r = err_set(e, E_AUTH, "credential_process %s was killed by signal %d", prog,
			    WTERMSIG(st));
	else if (r == E_RANGE)
		r = err_set(e, E_AUTH, "credential_process %s printed more than %d bytes", prog,
			    CREDPROC_MAX_OUTPUT);
	else if (r != 0)
		r = err_set(e, E_IO, "credential_process %s: cannot read its output", prog);
	else
		r = parse_output(&b, prog, out, e);
	if (buf_len(&b) > 0)
		OPENSSL_cleanse((void *)buf_ptr(&b), buf_len(&b));
	buf_free(&b);
	return r;
}
