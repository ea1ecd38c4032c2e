/*
 * fuzz_awsapi.c: the AWS error-answer parser (JSON and Query/XML bodies)
 * on arbitrary bodies. The code and message end up in the one line
 * ssm-proxy prints, so they must be bounded and free of control bytes.
 */
#include "awsapi.h"
#include "fuzz.h"

static void
check_line(const char *s, size_t cap)
{
	FZ_ASSERT(strnlen(s, cap) < cap);
	for (; *s; s++)
		FZ_ASSERT((unsigned char)*s >= 0x20 && *s != 0x7f);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char code[128], msg[512];

	FZ_ASSERT(awsapi_parse_error(data, size, code, sizeof(code), msg, sizeof(msg)) == 0);
	check_line(code, sizeof(code));
	check_line(msg, sizeof(msg));
	(void)awsapi_is_throttle(code);
	return 0;
}
