/*
 * xmllib.h: libxml2, loaded with dlopen the first time XML is parsed.
 *
 * Only the EC2 and STS Query APIs answer in XML, so the common path never
 * maps libxml2 and what it pulls in (ICU, liblzma): linking it cost every
 * start ~6 ms in the dynamic loader. The libxml2 headers still give the
 * types and constants; calls go through the pointers here.
 */
#ifndef SSMP_XMLLIB_H
#define SSMP_XMLLIB_H

#include <stddef.h>

#include <libxml/tree.h>

#include "err.h"

#define XMLLIB_SONAME "libxml2.so.2"

struct xmllib {
	void *handle; /* NULL: not loaded */
	xmlDocPtr (*read_memory)(const char *buf, int size, const char *url, const char *encoding,
	                         int options);
	xmlNodePtr (*root)(const xmlDoc *doc);
	void (*free_doc)(xmlDocPtr doc);
	xmlChar *(*content)(const xmlNode *n);
	xmlFreeFunc *xml_free; /* libxml2's xmlFree, a variable in 2.9 (no per-thread hooks) */
};

/*
 * Loads libxml2 into x (zeroed, or loaded already: then nothing happens).
 * Returns 0 or E_CONFIG ("cannot load libxml2.so.2: ...").
 */
int xmllib_load(struct xmllib *x, struct err *e);
/* Drops x's reference (loaded or not); documents from it must be freed first. */
void xmllib_unload(struct xmllib *x);
/*
 * Parses len bytes (no network, no messages); NULL if they are not XML
 * (or empty, or too long). Free with x->free_doc.
 */
xmlDoc *xmllib_parse(const struct xmllib *x, const void *buf, size_t len);
/* Frees a string libxml2 returned (x->content); NULL is fine. */
void xmllib_free(const struct xmllib *x, void *p);

#endif
