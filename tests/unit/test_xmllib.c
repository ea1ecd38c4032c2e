/* test_xmllib.c: libxml2 loaded on demand (xmllib.c) and its users without a client. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "awsapi.h"
#include "err.h"
#include "xmllib.h"

static const char ec2_error[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error>"
	"<Code>UnauthorizedOperation</Code><Message>You are not\nauthorized</Message>"
	"</Error></Errors><RequestID>r-1</RequestID></Response>";

static void
test_load_parse(void **state)
{
	struct xmllib x;
	struct err e;
	xmlDoc *doc;
	xmlChar *s;

	(void)state;
	memset(&x, 0, sizeof(x));
	err_clear(&e);
	/* Not loaded: nothing parses. */
	assert_null(xmllib_parse(&x, "<a/>", 4));
	assert_int_equal(xmllib_load(&x, &e), 0);
	assert_non_null(x.handle);
	/* Loading again is a no-op. */
	assert_int_equal(xmllib_load(&x, &e), 0);
	doc = xmllib_parse(&x, "<a><b>text</b></a>", 18);
	assert_non_null(doc);
	assert_string_equal((const char *)x.root(doc)->name, "a");
	s = x.content(x.root(doc)->children);
	assert_string_equal((const char *)s, "text");
	xmllib_free(&x, s);
	xmllib_free(&x, NULL);
	x.free_doc(doc);
	assert_null(xmllib_parse(&x, "not xml", 7));
	assert_null(xmllib_parse(&x, "<a", 2));
	assert_null(xmllib_parse(&x, "", 0));
	assert_null(xmllib_parse(&x, NULL, 3));
	xmllib_unload(&x);
	assert_null(x.handle);
	/* Unloaded twice is fine, and it loads again. */
	xmllib_unload(&x);
	assert_int_equal(xmllib_load(&x, &e), 0);
	xmllib_unload(&x);
}

static void
test_parse_error_xml(void **state)
{
	char code[64], msg[128];

	(void)state;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(awsapi_parse_error(ec2_error, strlen(ec2_error), code, sizeof(code),
		                                    msg, sizeof(msg)), 0);
		assert_string_equal(code, "UnauthorizedOperation");
		assert_string_equal(msg, "You are not?authorized");
	}
	assert_int_equal(awsapi_parse_error("<x", 2, code, sizeof(code), msg, sizeof(msg)), 0);
	assert_string_equal(code, "");
	assert_string_equal(msg, "");
}

/* The program must not need libxml2 to start: it is loaded on demand. */
static void
test_program_not_linked(void **state)
{
	const char *prog = getenv("SSM_PROXY");
	char cmd[4096], line[512];
	int lines = 0, xml = 0;
	FILE *f;

	(void)state;
	if (prog == NULL || strchr(prog, '\'') != NULL)
		skip();
	snprintf(cmd, sizeof(cmd), "readelf -d '%s' 2>/dev/null", prog);
	if ((f = popen(cmd, "r")) == NULL)
		skip();
	while (fgets(line, sizeof(line), f) != NULL) {
		lines++;
		if (strstr(line, "libxml2") != NULL)
			xml++;
	}
	pclose(f);
	if (lines == 0)
		skip(); /* no readelf here */
	assert_int_equal(xml, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_parse),
		cmocka_unit_test(test_parse_error_xml),
		cmocka_unit_test(test_program_not_linked),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
