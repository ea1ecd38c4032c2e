/*
 * replay.c: runs a fuzz target over files and directories of inputs once
 * (the committed corpus), so every build checks the crashers found so far
 * without needing clang or libFuzzer. Returns 0 when every input ran.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

#define REPLAY_MAX_INPUT (4 * 1024 * 1024)

static int
run_file(const char *path, size_t *count)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data;
	size_t n;

	if (f == NULL) {
		fprintf(stderr, "replay: cannot open %s\n", path);
		return -1;
	}
	/* One spare byte so an empty file still gets a valid pointer. */
	if ((data = malloc(REPLAY_MAX_INPUT + 1)) == NULL) {
		fclose(f);
		return -1;
	}
	n = fread(data, 1, REPLAY_MAX_INPUT, f);
	fclose(f);
	/* A copy of exactly n bytes, so ASan sees reads past the input. */
	{
		uint8_t *exact = malloc(n ? n : 1);
		if (exact == NULL) {
			free(data);
			return -1;
		}
		memcpy(exact, data, n);
		free(data);
		LLVMFuzzerTestOneInput(exact, n);
		free(exact);
	}
	(*count)++;
	return 0;
}

static int
run_path(const char *path, size_t *count)
{
	struct stat st;
	struct dirent **list;
	int n, rc = 0;

	if (stat(path, &st) != 0) {
		fprintf(stderr, "replay: no such file or directory: %s\n", path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return run_file(path, count);
	/* Sorted, so a failure is reproducible by name. */
	if ((n = scandir(path, &list, NULL, alphasort)) < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		char sub[4096];
		if (list[i]->d_name[0] != '.') {
			snprintf(sub, sizeof(sub), "%s/%s", path, list[i]->d_name);
			if (run_path(sub, count) != 0)
				rc = -1;
		}
		free(list[i]);
	}
	free(list);
	return rc;
}

int
main(int argc, char **argv)
{
	size_t count = 0;
	int rc = 0;

	for (int i = 1; i < argc; i++)
		if (run_path(argv[i], &count) != 0)
			rc = 1;
	printf("replay: %zu inputs\n", count);
	return rc;
}
