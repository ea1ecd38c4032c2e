/*
 * fuzz_ini.c: the AWS config/credentials INI reader on arbitrary text;
 * every value the walk reports must be what the getters return.
 */
#include "fuzz.h"
#include "ini.h"

struct walk {
	const struct ini *ini;
	size_t n;
};

static int
visit(void *arg, const char *section, const char *key, const char *sub, const char *value)
{
	struct walk *w = arg;

	FZ_ASSERT(section != NULL);
	FZ_ASSERT(ini_has_section(w->ini, section));
	if (key != NULL && sub == NULL) {
		const char *v = ini_get(w->ini, section, key);
		FZ_ASSERT(v != NULL && value != NULL && strcmp(v, value) == 0);
	}
	if (key != NULL)
		FZ_ASSERT(ini_has_key(w->ini, section, key));
	w->n++;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ini *ini = NULL;
	struct err e;
	struct walk w;

	if (ini_parse(&ini, (const char *)data, size, "fuzz", &e) != 0) {
		FZ_ASSERT(e.msg[0] != '\0');
		return 0;
	}
	w.ini = ini;
	w.n = 0;
	ini_foreach(ini, visit, &w);
	for (size_t i = 0; ini_section_at(ini, i) != NULL; i++)
		FZ_ASSERT(ini_has_section(ini, ini_section_at(ini, i)));
	(void)ini_get(ini, "default", "region");
	(void)ini_get_sub(ini, "default", "s3", "endpoint_url");
	ini_free(ini);
	return 0;
}
