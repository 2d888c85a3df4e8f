// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* YAML documents for schema walks (nb_yaml.h). */
#include "nb_yaml.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void nb_yaml_oneline(char *s)
{
	for (; *s; s++)
		if (iscntrl((unsigned char)*s))
			*s = '?';
}

int nb_yaml_read_file(const char *path, size_t max, const char *what, char **buf, size_t *len,
		      char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	int rc = 0;

	*buf = NULL;
	*len = 0;
	if (!f) {
		rc = -errno;
		snprintf(err, errlen, "cannot read %s %s: %s", what, path, strerror(errno));
		return rc;
	}
	*buf = malloc(max + 1);
	if (!*buf) {
		fclose(f);
		return -ENOMEM;
	}
	*len = fread(*buf, 1, max + 1, f);
	if (ferror(f)) {
		snprintf(err, errlen, "cannot read %s %s: %s", what, path, strerror(EIO));
		rc = -EIO;
	} else if (*len > max) {
		snprintf(err, errlen, "%s: larger than %zu bytes", path, max);
		rc = -EINVAL;
	}
	fclose(f);
	if (rc) {
		free(*buf);
		*buf = NULL;
		return rc;
	}
	(*buf)[*len] = 0;
	return 0;
}

int nb_yaml_load(struct nb_yaml *y, const char *text, size_t len, const char *path, char *err,
		 size_t errlen)
{
	yaml_parser_t parser;
	int rc = 0;

	memset(y, 0, sizeof(*y));
	y->path = path;
	y->err = err;
	y->errlen = errlen;
	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &y->doc)) {
		snprintf(err, errlen, "%s:%zu: not valid YAML: %s%s%s", path,
			 parser.problem_mark.line + 1, parser.problem ? parser.problem : "?",
			 parser.context ? " " : "", parser.context ? parser.context : "");
		nb_yaml_oneline(err);
		rc = parser.error == YAML_MEMORY_ERROR ? -ENOMEM : -EINVAL;
	} else {
		y->loaded = 1;
	}
	yaml_parser_delete(&parser);
	return rc;
}

void nb_yaml_free(struct nb_yaml *y)
{
	if (y->loaded)
		yaml_document_delete(&y->doc);
	y->loaded = 0;
}

yaml_node_t *nb_yaml_node(const struct nb_yaml *y, int id)
{
	return yaml_document_get_node((yaml_document_t *)&y->doc, id);
}

const char *nb_yaml_scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

int nb_yaml_line(const yaml_node_t *n)
{
	return n ? (int)n->start_mark.line + 1 : 1;
}

int nb_yaml_is_null(const yaml_node_t *n)
{
	const char *v = nb_yaml_scalar(n);

	return v && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       (!v[0] || !strcmp(v, "~") || !strcmp(v, "null"));
}

static int s_verr(const struct nb_yaml *y, int line, const char *field, const char *fmt, va_list ap)
{
	char what[512];

	vsnprintf(what, sizeof(what), fmt, ap);
	snprintf(y->err, y->errlen, "%s:%d: %s%s%s", y->path, line > 0 ? line : 1,
		 field ? field : "", field ? ": " : "", what);
	nb_yaml_oneline(y->err);
	return -EINVAL;
}

int nb_yaml_err(const struct nb_yaml *y, const yaml_node_t *at, const char *field, const char *fmt,
		...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = s_verr(y, nb_yaml_line(at), field, fmt, ap);
	va_end(ap);
	return rc;
}

int nb_yaml_err_line(const struct nb_yaml *y, int line, const char *field, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = s_verr(y, line, field, fmt, ap);
	va_end(ap);
	return rc;
}
