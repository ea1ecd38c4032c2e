/*
 * test_ini.c: the INI reader.
 *
 * Data-driven: every tests/data/ini/NAME.ini is parsed and compared with
 * NAME.out (the flat dump below) or NAME.err (the exact error message,
 * always E_CONFIG). Dump lines, fields separated by a tab, with backslash,
 * tab, CR, LF and other control bytes escaped (\\ \t \r \n \xHH):
 *   section                      a section (also when empty)
 *   section  key  value          a plain key, as ini_get returns it
 *   section  key  sub  value     one entry of a nested sub-section
 * [DEFAULT] keys appear under each section that inherits them. Each case
 * runs through ini_parse (named NAME.ini in messages) and ini_load_file.
 * Fixed tests below cover the getters and what data files cannot hold.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "ini.h"

#define MIN_CASES 15

struct ini_case {
	char *name;     /* NAME.ini */
	char *ini_path;
	char *exp_path; /* NAME.out or NAME.err */
	int want_error;
};

static char *
read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct buf b;
	char chunk[4096];
	size_t n;
	char *out;

	if (f == NULL)
		fail_msg("cannot open %s", path);
	buf_init(&b, 0);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		assert_int_equal(buf_put(&b, chunk, n), 0);
	fclose(f);
	*len = buf_len(&b);
	out = malloc(*len + 1);
	assert_non_null(out);
	if (*len > 0)
		memcpy(out, buf_ptr(&b), *len);
	out[*len] = '\0';
	buf_free(&b);
	return out;
}

static void
put_escaped(struct buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '\\')
			buf_putf(b, "\\\\");
		else if (c == '\t')
			buf_putf(b, "\\t");
		else if (c == '\n')
			buf_putf(b, "\\n");
		else if (c == '\r')
			buf_putf(b, "\\r");
		else if (c < 0x20 || c == 0x7f)
			buf_putf(b, "\\x%02x", c);
		else
			buf_put_u8(b, c);
	}
}

static int
dump_one(void *arg, const char *section, const char *key, const char *sub, const char *value)
{
	struct buf *b = arg;

	put_escaped(b, section);
	if (key != NULL) {
		buf_put_u8(b, '\t');
		put_escaped(b, key);
		if (sub != NULL) {
			buf_put_u8(b, '\t');
			put_escaped(b, sub);
		}
		buf_put_u8(b, '\t');
		put_escaped(b, value);
	}
	buf_put_u8(b, '\n');
	return 0;
}

/* Returns the dump as a malloc'd string. */
static char *
dump(const struct ini *ini)
{
	struct buf b;
	char *s;

	buf_init(&b, 0);
	assert_int_equal(ini_foreach(ini, dump_one, &b), 0);
	s = strdup(buf_cstr(&b) != NULL ? buf_cstr(&b) : "");
	assert_non_null(s);
	buf_free(&b);
	return s;
}

static void
chomp(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
}

static void
run_case(void **state)
{
	const struct ini_case *c = *state;
	struct ini *ini = NULL, *ini2 = NULL;
	struct err e, e2;
	size_t len, elen;
	char *text = read_all(c->ini_path, &len);
	char *want = read_all(c->exp_path, &elen);
	int r, r2;

	err_clear(&e);
	err_clear(&e2);
	r = ini_parse(&ini, text, len, c->name, &e);
	r2 = ini_load_file(&ini2, c->ini_path, &e2);
	if (c->want_error) {
		char *full;

		chomp(want);
		if (r != E_CONFIG)
			fail_msg("%s: want E_CONFIG \"%s\", got %d (%s)", c->name, want, r, e.msg);
		assert_null(ini);
		assert_string_equal(e.msg, want);
		/* ini_load_file names the file by its path. */
		assert_int_equal(r2, E_CONFIG);
		assert_null(ini2);
		assert_true(asprintf(&full, "%.*s%s", (int)(strlen(c->ini_path) - strlen(c->name)),
				     c->ini_path, want) > 0);
		assert_string_equal(e2.msg, full);
		free(full);
	} else {
		char *got, *got2;

		if (r != 0)
			fail_msg("%s: unexpected error %d: %s", c->name, r, e.msg);
		assert_int_equal(r2, 0);
		got = dump(ini);
		got2 = dump(ini2);
		if (strcmp(got, want) != 0)
			fail_msg("%s: dump differs\n--- want\n%s--- got\n%s", c->name, want, got);
		assert_string_equal(got2, got);
		free(got);
		free(got2);
	}
	ini_free(ini);
	ini_free(ini2);
	free(text);
	free(want);
}

static const char *
ini_dir(void)
{
	static char path[4096];
	const char *dir = getenv("SSMP_TESTS_DIR");

	if (dir == NULL || *dir == '\0')
		fail_msg("SSMP_TESTS_DIR is not set");
	snprintf(path, sizeof(path), "%s/data/ini", dir);
	return path;
}

static int
is_ini(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return n > 4 && strcmp(d->d_name + n - 4, ".ini") == 0;
}

/* --- fixed tests ------------------------------------------------------- */

static struct ini *
parse_ok(const char *text)
{
	struct ini *ini = NULL;
	struct err e;

	err_clear(&e);
	if (ini_parse(&ini, text, strlen(text), "t.ini", &e) != 0)
		fail_msg("parse failed: %s", e.msg);
	return ini;
}

static void
test_getters(void **state)
{
	struct ini *ini = parse_ok("[DEFAULT]\n"
				   "region = eu-west-1\n"
				   "[profile dev]\n"
				   "Output = json\n"
				   "s3 =\n"
				   "  Max = 10\n"
				   "[other]\n"
				   "region = us-east-2\n");

	(void)state;
	assert_string_equal(ini_get(ini, "profile dev", "output"), "json");
	assert_string_equal(ini_get(ini, "profile dev", "OUTPUT"), "json");
	assert_string_equal(ini_get(ini, "profile dev", "region"), "eu-west-1");
	assert_string_equal(ini_get(ini, "other", "region"), "us-east-2");
	assert_null(ini_get(ini, "profile dev", "missing"));
	assert_null(ini_get(ini, "Profile dev", "output"));
	assert_null(ini_get(ini, "DEFAULT", "region"));
	assert_null(ini_get(ini, NULL, "region"));
	/* A nested block is no plain key, and its entries are no top-level keys. */
	assert_null(ini_get(ini, "profile dev", "s3"));
	assert_null(ini_get(ini, "profile dev", "max"));
	assert_null(ini_get(ini, "profile dev", "Max"));
	assert_true(ini_has_key(ini, "profile dev", "S3"));
	assert_true(ini_has_key(ini, "profile dev", "region"));
	assert_false(ini_has_key(ini, "profile dev", "max"));
	assert_string_equal(ini_get_sub(ini, "profile dev", "S3", "Max"), "10");
	assert_null(ini_get_sub(ini, "profile dev", "s3", "max"));
	assert_null(ini_get_sub(ini, "profile dev", "output", "x"));
	assert_null(ini_get_sub(ini, "nope", "s3", "Max"));
	assert_true(ini_has_section(ini, "other"));
	assert_false(ini_has_section(ini, "DEFAULT"));
	assert_false(ini_has_section(ini, "nope"));
	assert_string_equal(ini_section_at(ini, 0), "profile dev");
	assert_string_equal(ini_section_at(ini, 1), "other");
	assert_null(ini_section_at(ini, 2));
	ini_free(ini);
	ini_free(NULL);
	assert_null(ini_get(NULL, "a", "b"));
	assert_null(ini_section_at(NULL, 0));
}

static int
stop_at_second(void *arg, const char *section, const char *key, const char *sub,
	       const char *value)
{
	int *n = arg;

	(void)section, (void)key, (void)sub, (void)value;
	return ++*n == 2 ? 42 : 0;
}

static void
test_foreach_stops(void **state)
{
	struct ini *ini = parse_ok("[a]\nx = 1\ny = 2\n");
	int n = 0;

	(void)state;
	assert_int_equal(ini_foreach(ini, stop_at_second, &n), 42);
	assert_int_equal(n, 2);
	ini_free(ini);
}

static void
test_load_missing(void **state)
{
	char tmpl[] = "/tmp/ssmp-ini-XXXXXX";
	struct ini *ini = (struct ini *)1;
	struct err e;
	char *path;

	(void)state;
	assert_non_null(mkdtemp(tmpl));
	assert_true(asprintf(&path, "%s/none", tmpl) > 0);
	err_clear(&e);
	assert_int_equal(ini_load_file(&ini, path, &e), E_NOTFOUND);
	assert_null(ini);
	assert_non_null(strstr(e.msg, path));
	free(path);
	/* A directory is not a config file: treated as absent, like the CLI. */
	assert_int_equal(ini_load_file(&ini, tmpl, &e), E_NOTFOUND);
	assert_true(asprintf(&path, "%s/none/deeper", tmpl) > 0);
	assert_int_equal(ini_load_file(&ini, path, &e), E_NOTFOUND);
	free(path);
	assert_int_equal(rmdir(tmpl), 0);
}

static void
test_embedded_nul(void **state)
{
	static const char text[] = "[s]\nk = a\0b\n";
	struct ini *ini = NULL;
	struct err e;

	(void)state;
	err_clear(&e);
	assert_int_equal(ini_parse(&ini, text, sizeof(text) - 1, "t.ini", &e), E_CONFIG);
	assert_string_equal(e.msg, "t.ini:2: NUL byte");
	assert_null(ini);
}

static void
test_long_line(void **state)
{
	const size_t n = 3 * 1024 * 1024;
	struct buf b;
	struct ini *ini;
	const char *v;

	(void)state;
	buf_init(&b, 0);
	assert_int_equal(buf_putf(&b, "[s]\nbig = "), 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(buf_put_u8(&b, (uint8_t)('a' + i % 26)), 0);
	assert_int_equal(buf_putf(&b, "\nafter = 1"), 0);
	ini = parse_ok(buf_cstr(&b));
	v = ini_get(ini, "s", "big");
	assert_non_null(v);
	assert_int_equal(strlen(v), n);
	assert_int_equal(v[n - 1], 'a' + (n - 1) % 26);
	assert_string_equal(ini_get(ini, "s", "after"), "1");
	ini_free(ini);
	buf_free(&b);
}

static void
test_many_keys(void **state)
{
	struct buf b;
	struct ini *ini = NULL;
	struct err e;

	(void)state;
	/* Many keys in one section: duplicates are found by sorting, not pairwise. */
	buf_init(&b, 0);
	buf_putf(&b, "[s]\n");
	for (int i = 0; i < 50000; i++)
		buf_putf(&b, "k%d = %d\n", i, i);
	ini = parse_ok(buf_cstr(&b));
	assert_string_equal(ini_get(ini, "s", "k49999"), "49999");
	ini_free(ini);
	buf_putf(&b, "k123 = again\n");
	err_clear(&e);
	assert_int_equal(ini_parse(&ini, buf_cstr(&b), buf_len(&b), "t.ini", &e), E_CONFIG);
	assert_string_equal(e.msg, "t.ini:50002: duplicate key 'k123' in section 's' "
				   "(first at line 125)");
	buf_free(&b);
}

static void
test_nested_limit(void **state)
{
	struct buf b;
	struct ini *ini = NULL;
	struct err e;

	(void)state;
	buf_init(&b, 0);
	buf_putf(&b, "[s]\nblock =\n");
	for (int i = 0; i < INI_MAX_SUBS; i++)
		buf_putf(&b, "  k%d = %d\n  k0 = again\n", i, i);
	ini = parse_ok(buf_cstr(&b));
	assert_string_equal(ini_get_sub(ini, "s", "block", "k0"), "again");
	assert_string_equal(ini_get_sub(ini, "s", "block", "k1023"), "1023");
	ini_free(ini);
	buf_putf(&b, "  one_more = x\n");
	err_clear(&e);
	assert_int_equal(ini_parse(&ini, buf_cstr(&b), buf_len(&b), "t.ini", &e), E_CONFIG);
	assert_string_equal(e.msg, "t.ini:2051: more than 1024 entries in the nested block of 'block'");
	buf_free(&b);
}

static void
test_too_large(void **state)
{
	size_t n = INI_MAX_FILE + 1;
	char *text = malloc(n);
	struct ini *ini = NULL;
	struct err e;

	(void)state;
	assert_non_null(text);
	/* One long comment line: cheap to parse. */
	memset(text, 'x', n);
	text[0] = '#';
	err_clear(&e);
	assert_int_equal(ini_parse(&ini, text, n, "t.ini", &e), E_RANGE);
	assert_null(ini);
	/* Exactly at the limit is fine. */
	assert_int_equal(ini_parse(&ini, text, n - 1, "t.ini", &e), 0);
	ini_free(ini);
	free(text);
}

static void
test_error_hides_values(void **state)
{
	static const char text[] = "[default]\naws_secret_access_key\nwJalrXUtnFEMIK7MDENG\n";
	struct ini *ini = NULL;
	struct err e;

	(void)state;
	err_clear(&e);
	assert_int_equal(ini_parse(&ini, text, sizeof(text) - 1, "t.ini", &e), E_CONFIG);
	assert_null(strstr(e.msg, "wJalr"));
	assert_null(strstr(e.msg, "aws_secret"));
}

int
main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_getters),
		cmocka_unit_test(test_foreach_stops),
		cmocka_unit_test(test_load_missing),
		cmocka_unit_test(test_embedded_nul),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_many_keys),
		cmocka_unit_test(test_nested_limit),
		cmocka_unit_test(test_too_large),
		cmocka_unit_test(test_error_hides_values),
	};
	const char *dir = ini_dir();
	struct dirent **list;
	struct CMUnitTest *tests;
	struct ini_case *cases;
	int n, ncases = 0, rc;

	n = scandir(dir, &list, is_ini, alphasort);
	if (n < 0) {
		fprintf(stderr, "cannot read %s\n", dir);
		return 1;
	}
	cases = calloc((size_t)n + 1, sizeof(*cases));
	tests = calloc((size_t)n + 1, sizeof(*tests));
	if (cases == NULL || tests == NULL)
		return 1;
	for (int i = 0; i < n; i++) {
		struct ini_case *c = &cases[ncases];
		size_t base = strlen(list[i]->d_name) - 4;

		c->name = strdup(list[i]->d_name);
		if (asprintf(&c->ini_path, "%s/%s", dir, c->name) < 0)
			return 1;
		if (asprintf(&c->exp_path, "%s/%.*s.err", dir, (int)base, c->name) < 0)
			return 1;
		c->want_error = access(c->exp_path, F_OK) == 0;
		if (!c->want_error) {
			free(c->exp_path);
			if (asprintf(&c->exp_path, "%s/%.*s.out", dir, (int)base, c->name) < 0)
				return 1;
			if (access(c->exp_path, F_OK) != 0) {
				fprintf(stderr, "%s has neither .out nor .err\n", c->name);
				return 1;
			}
		}
		tests[ncases] = (struct CMUnitTest){ c->name, run_case, NULL, NULL, c };
		ncases++;
		free(list[i]);
	}
	free(list);
	if (ncases < MIN_CASES) {
		fprintf(stderr, "only %d INI cases in %s (want at least %d)\n", ncases, dir,
			MIN_CASES);
		return 1;
	}
	rc = _cmocka_run_group_tests("ini_data", tests, (size_t)ncases, NULL, NULL);
	rc += cmocka_run_group_tests_name("ini_api", fixed, NULL, NULL);
	for (int i = 0; i < ncases; i++) {
		free(cases[i].name);
		free(cases[i].ini_path);
		free(cases[i].exp_path);
	}
	free(cases);
	free(tests);
	return rc != 0;
}
