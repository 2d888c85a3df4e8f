/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * A YAML file as a libyaml document whose nodes keep their line numbers, for the schema walks
 * of the inventory and of runbooks: loading, reading scalars, and the one error format of
 * both, "FILE:LINE: FIELD: what" on one line. Nothing here prints.
 */
#ifndef NB_YAML_H
#define NB_YAML_H

#include <stddef.h>
#include <yaml.h>

struct nb_yaml {
	yaml_document_t doc;
	const char *path; /* for messages */
	char *err;
	size_t errlen;
	int loaded;
};

/* Reads a whole file of at most max bytes into *buf (NUL-terminated, the caller frees). */
int nb_yaml_read_file(const char *path, size_t max, const char *what, char **buf, size_t *len,
		      char *err, size_t errlen);
/* Loads text as one document. -EINVAL ("FILE:LINE: not valid YAML: ...") or -ENOMEM. */
int nb_yaml_load(struct nb_yaml *y, const char *text, size_t len, const char *path, char *err,
		 size_t errlen);
void nb_yaml_free(struct nb_yaml *y);

yaml_node_t *nb_yaml_node(const struct nb_yaml *y, int id);
/* The value of a scalar node, NULL for another kind or NULL. */
const char *nb_yaml_scalar(const yaml_node_t *n);
/* 1-based line of a node, 1 for NULL. */
int nb_yaml_line(const yaml_node_t *n);
/* True for a scalar that is YAML's null: "", "~" or "null" written plain. */
int nb_yaml_is_null(const yaml_node_t *n);

/*
 * "PATH:LINE: FIELD: what" into y->err (FIELD and its ": " left out when NULL); control
 * characters become '?', so a folded scalar cannot break the line. Returns -EINVAL.
 */
int nb_yaml_err(const struct nb_yaml *y, const yaml_node_t *at, const char *field, const char *fmt,
		...) __attribute__((format(printf, 4, 5)));
/* The same at a line number (0: none). */
int nb_yaml_err_line(const struct nb_yaml *y, int line, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Control characters in s become '?'. */
void nb_yaml_oneline(char *s);

#endif /* NB_YAML_H */
