/*
 * ini.h: reader for the AWS shared config and credentials files.
 *
 * The AWS CLI reads these files with Python's configparser.RawConfigParser
 * plus a little of its own (botocore's configloader). The same text must
 * mean the same thing here, so the rules are theirs:
 *
 *  - "[name]" starts a section; the name is everything between the first
 *    '[' and the last ']' of the line, kept as is (case and inner blanks).
 *    A line starting with '[' that has no such name is an error.
 *  - "key = value" or "key: value"; the first '=' or ':' splits. Keys are
 *    lower-cased (ASCII), blanks around keys and values are trimmed.
 *  - Lines whose first non-blank character is '#' or ';' are comments.
 *    There are no inline comments: "a = b # c" has the value "b # c".
 *  - A line indented deeper than the key line above continues that value
 *    (joined with '\n'); blank lines inside a value are kept, trailing ones
 *    dropped.
 *  - A key whose value is empty on its own line and continues on indented
 *    "k = v" lines is a nested sub-section (botocore's "s3 =" blocks): read
 *    it with ini_get_sub; ini_get returns NULL for it. Sub-keys split on
 *    the first '=' only and keep their case; a repeated sub-key replaces
 *    the earlier value.
 *  - [DEFAULT] is not a section: its keys are inherited by every section
 *    that lacks them (configparser's default section).
 *  - Strict like the AWS CLI: the whole file is an error (E_CONFIG,
 *    "name:line: reason", the first problem in line order) for a key
 *    before any section, a line without '=' or ':', an empty key, a
 *    repeated section or a repeated key within a section, a nested line
 *    without '=' (in [DEFAULT]: only when a section inherits it), a NUL
 *    byte, or bytes that are not UTF-8. Also refused here, beyond the CLI:
 *    more than INI_MAX_SUBS entries in one nested block.
 *
 * Line ends may be "\n", "\r\n" or "\r"; a missing final newline is fine.
 * One deliberate difference: a leading UTF-8 byte order mark is skipped
 * (the AWS CLI rejects such files; editors on Windows write them).
 * Blanks are the ASCII ones Python strips (space, \t, \v, \f, 0x1c-0x1f).
 */
#ifndef SSMP_INI_H
#define SSMP_INI_H

#include <stddef.h>

#include "err.h"

#define INI_MAX_FILE ((size_t)16 * 1024 * 1024) /* larger files are refused */
#define INI_MAX_SUBS 1024 /* entries in one nested sub-section (real ones hold a few) */

struct ini;

/*
 * Reads and parses the file at path into *out (ini_free it). Returns 0;
 * E_NOTFOUND if there is no such file or it is not a regular file (as the
 * AWS CLI treats it: absent); E_IO if it cannot be read; E_RANGE if it is
 * larger than INI_MAX_FILE; E_CONFIG if it does not parse; E_NOMEM.
 */
int ini_load_file(struct ini **out, const char *path, struct err *e);

/*
 * Parses len bytes of text (no NUL terminator needed) into *out (ini_free
 * it); name_for_errors starts error messages. Returns 0, E_CONFIG, E_RANGE
 * (more than INI_MAX_FILE) or E_NOMEM.
 */
int ini_parse(struct ini **out, const char *text, size_t len, const char *name_for_errors,
	      struct err *e);

/* Wipes (the file may hold secrets) and frees ini (NULL is fine). */
void ini_free(struct ini *ini);

/*
 * Returns the value of key (any case) in section (exact name), falling back
 * to [DEFAULT]; NULL if absent, if the section does not exist, or if the
 * key is a nested sub-section. Valid until ini_free.
 */
const char *ini_get(const struct ini *ini, const char *section, const char *key);

/*
 * Returns the value of sub (exact case) inside the nested sub-section key
 * (any case) of section; NULL if any part is absent or key is not nested.
 */
const char *ini_get_sub(const struct ini *ini, const char *section, const char *key,
			const char *sub);

/* Returns 1 if key (any case) is set in section, plain or nested, else 0. */
int ini_has_key(const struct ini *ini, const char *section, const char *key);

/* Returns 1 if section exists (exact name; never for "DEFAULT"), else 0. */
int ini_has_section(const struct ini *ini, const char *section);

/* Returns the i-th section name in file order, or NULL when i is past the end. */
const char *ini_section_at(const struct ini *ini, size_t i);

/*
 * Visitor for ini_foreach. Called once per section with key, sub and value
 * NULL; then once per plain key with sub NULL; then once per entry of a
 * nested key. A nonzero return stops the walk.
 */
typedef int (*ini_visit_fn)(void *arg, const char *section, const char *key, const char *sub,
			    const char *value);

/*
 * Walks every section in file order and, per section, its own keys in file
 * order followed by the inherited [DEFAULT] keys it lacks: exactly what the
 * getters see. Returns 0, or the visitor's first nonzero return.
 */
int ini_foreach(const struct ini *ini, ini_visit_fn fn, void *arg);

#endif
