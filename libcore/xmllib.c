/* xmllib.c: libxml2 through dlopen, so that only XML answers load it. */
#include "xmllib.h"

#include <dlfcn.h>
#include <stdint.h>
#include <string.h>

#include <libxml/parser.h>

int
xmllib_load(struct xmllib *x, struct err *e)
{
	struct xmllib n;
	const char *why;

	if (x->handle != NULL)
		return 0;
	memset(&n, 0, sizeof(n));
	/*
	 * RTLD_NODELETE: once mapped it stays, as if linked, so later loads
	 * (the api-less parsers load and unload per call) are only a lookup and
	 * libxml2's global state is never torn down under another user.
	 */
	if ((n.handle = dlopen(XMLLIB_SONAME, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE)) == NULL) {
		why = dlerror();
		return err_set(e, E_CONFIG, "cannot load " XMLLIB_SONAME ": %.200s",
		               why ? why : "unknown error");
	}
	/* POSIX makes dlsym's void * usable as a function pointer. */
	n.read_memory = dlsym(n.handle, "xmlReadMemory");
	n.root = dlsym(n.handle, "xmlDocGetRootElement");
	n.free_doc = dlsym(n.handle, "xmlFreeDoc");
	n.content = dlsym(n.handle, "xmlNodeGetContent");
	n.xml_free = dlsym(n.handle, "xmlFree");
	if (n.read_memory == NULL || n.root == NULL || n.free_doc == NULL || n.content == NULL ||
	    n.xml_free == NULL || *n.xml_free == NULL) {
		dlclose(n.handle);
		return err_set(e, E_CONFIG, "cannot load " XMLLIB_SONAME ": a function is missing");
	}
	*x = n;
	return 0;
}

void
xmllib_unload(struct xmllib *x)
{
	if (x->handle != NULL)
		dlclose(x->handle);
	memset(x, 0, sizeof(*x));
}

xmlDoc *
xmllib_parse(const struct xmllib *x, const void *buf, size_t len)
{
	if (x->handle == NULL || buf == NULL || len == 0 || len > (size_t)INT32_MAX)
		return NULL;
	return x->read_memory((const char *)buf, (int)len, NULL, NULL,
	                      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
}

void
xmllib_free(const struct xmllib *x, void *p)
{
	if (p != NULL)
		(*x->xml_free)(p);
}
