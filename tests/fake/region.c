/* region.c: helpers over the fake region's configuration. */
#include "region.h"

#include <string.h>

int
region_target_offline(const struct region *r, const char *target)
{
	for (size_t i = 0; i < r->f.noffline; i++)
		if (strcmp(r->f.offline[i], target) == 0)
			return 1;
	return 0;
}
