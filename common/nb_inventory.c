// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Node specs and the inventory file (nb_inventory.h). The YAML is loaded as a libyaml document
 * (nb_yaml.h: nodes with their line numbers) and walked by the schema below, so every error can
 * name the file, the line and the field.
 */
#include "nb_inventory.h"

#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "nb_yaml.h"

/* The walk's context: the document, where errors go, and how relative names resolve. */
struct s_ctx {
	struct nb_yaml y;
	char dir[NB_INV_PATH_MAX + 1];
};

#define s_err(c, at, field, ...) nb_yaml_err(&(c)->y, at, field, __VA_ARGS__)

static bool s_ifname_ok(const char *s, size_t l)
{
	if (l == 0 || l > NB_INV_IFNAME_MAX)
		return false;
	for (size_t i = 0; i < l; i++)
		if (!isgraph((unsigned char)s[i]) || s[i] == '/' || s[i] == ',' || s[i] == '+')
			return false;
	return true;
}

int nb_iface_list_parse(const char *v, char names[][NB_INV_IFNAME_MAX + 1], int max)
{
	int n = 0;

	for (const char *p = v;;) {
		const char *e = strchr(p, '+');
		size_t l = e ? (size_t)(e - p) : strlen(p);

		if (!s_ifname_ok(p, l))
			return -EINVAL;
		if (n >= max)
			return -E2BIG;
		for (int i = 0; i < n; i++)
			if (strlen(names[i]) == l && !strncmp(names[i], p, l))
				return -EINVAL;
		memcpy(names[n], p, l);
		names[n][l] = 0;
		n++;
		if (!e)
			return n;
		p = e + 1;
	}
}

static bool s_name_ok(const char *s)
{
	size_t l = strlen(s);

	if (l == 0 || l > NB_INV_NAME_MAX)
		return false;
	for (size_t i = 0; i < l; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
			return false;
	return true;
}

static const char *s_iface_err(int rc)
{
	return rc == -E2BIG ? "more than 8 interfaces"
			    : "not an interface name or names joined by '+' (each 1-15 "
			      "characters, no '/', ',', '+' or space, none twice)";
}

int nb_node_spec_parse(const char *arg, struct nb_inv_node *n, char *err, size_t errlen)
{
	char spec[2048], *save = NULL, *kv;
	int rc;

	memset(n, 0, sizeof(*n));
	/* A copy: tokenising argv in place would garble the command line ps shows. */
	if (strlen(arg) >= sizeof(spec)) {
		snprintf(err, errlen, "--node: value too long");
		return -EINVAL;
	}
	strcpy(spec, arg);
	/* Parts of the spec are echoed in errors, which end up on terminals. */
	for (const char *p = spec; *p; p++)
		if (iscntrl((unsigned char)*p)) {
			snprintf(err, errlen, "--node: holds a control character");
			return -EINVAL;
		}
	for (kv = strtok_r(spec, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '='), *dst = NULL;
		size_t cap = 0;

		if (!eq) {
			snprintf(err, errlen,
				 "--node: '%s' is not key=value (several interfaces: "
				 "rx-iface=IF1+IF2)",
				 kv);
			return -EINVAL;
		}
		*eq = 0;
		if (!strcmp(kv, "name"))
			dst = n->name, cap = sizeof(n->name);
		else if (!strcmp(kv, "endpoint"))
			dst = n->endpoint, cap = sizeof(n->endpoint);
		else if (!strcmp(kv, "server-key"))
			dst = n->server_key, cap = sizeof(n->server_key);
		else if (strcmp(kv, "rx-iface") && strcmp(kv, "tx-iface")) {
			snprintf(err, errlen,
				 "--node: unknown key '%s' (name, endpoint, rx-iface, tx-iface, "
				 "server-key)",
				 kv);
			return -EINVAL;
		}
		if (!dst) {
			bool rx = kv[0] == 'r';

			if (rx ? n->n_rx : n->n_tx) {
				snprintf(err, errlen, "--node: %s given twice", kv);
				return -EINVAL;
			}
			rc = nb_iface_list_parse(eq + 1, rx ? n->rx : n->tx, NB_MAX_IFS);
			if (rc < 0) {
				snprintf(err, errlen, "--node: %s='%s': %s", kv, eq + 1,
					 s_iface_err(rc));
				return -EINVAL;
			}
			*(rx ? &n->n_rx : &n->n_tx) = rc;
			continue;
		}
		if (dst[0]) {
			snprintf(err, errlen, "--node: %s given twice", kv);
			return -EINVAL;
		}
		if (strlen(eq + 1) == 0 || strlen(eq + 1) >= cap) {
			snprintf(err, errlen, "--node: bad value for %s", kv);
			return -EINVAL;
		}
		strcpy(dst, eq + 1);
	}
	if (!n->name[0] || !n->endpoint[0]) {
		snprintf(err, errlen, "--node needs name= and endpoint=");
		return -EINVAL;
	}
	if (!s_name_ok(n->name)) {
		snprintf(err, errlen, "--node: name '%s' is not 1-63 of [A-Za-z0-9._-]", n->name);
		return -EINVAL;
	}
	return 0;
}

/* ---------------------------------------------------------------- YAML */

static yaml_node_t *s_node(const struct s_ctx *c, int id)
{
	return nb_yaml_node(&c->y, id);
}

#define s_scalar nb_yaml_scalar

/* A scalar into buf (at most cap - 1 bytes, no control characters). */
static int s_str(const struct s_ctx *c, const yaml_node_t *y, const char *field, char *buf,
		 size_t cap)
{
	const char *v = s_scalar(y);

	if (!v)
		return s_err(c, y, field, "must be a string");
	if (!v[0] || strlen(v) >= cap)
		return s_err(c, y, field, "must be 1 to %zu characters", cap - 1);
	for (const char *p = v; *p; p++)
		if (iscntrl((unsigned char)*p))
			return s_err(c, y, field, "holds a control character");
	strcpy(buf, v);
	return 0;
}

/* A file name: absolute, "~/..." (home), or relative to the inventory's folder. */
static int s_file(const struct s_ctx *c, const yaml_node_t *y, const char *field, char *buf,
		  size_t cap)
{
	char v[NB_INV_PATH_MAX + 1];
	int rc = s_str(c, y, field, v, sizeof(v)), n;

	if (rc)
		return rc;
	if (v[0] == '/') {
		n = snprintf(buf, cap, "%s", v);
	} else if (v[0] == '~' && v[1] == '/') {
		const char *home = getenv("HOME");

		if (!home || !home[0])
			return s_err(c, y, field, "'~' but no HOME is set");
		n = snprintf(buf, cap, "%s/%s", home, v + 2);
	} else {
		n = snprintf(buf, cap, "%s/%s", c->dir, v);
	}
	if (n < 0 || (size_t)n >= cap)
		return s_err(c, y, field, "file name too long");
	return 0;
}

static int s_bool(const struct s_ctx *c, const yaml_node_t *y, const char *field, bool *out)
{
	const char *v = s_scalar(y);

	if (v && (!strcmp(v, "true") || !strcmp(v, "yes")))
		*out = true;
	else if (v && (!strcmp(v, "false") || !strcmp(v, "no")))
		*out = false;
	else
		return s_err(c, y, field, "must be true or false");
	return 0;
}

static int s_ifaces(const struct s_ctx *c, const yaml_node_t *y, const char *field,
		    char names[][NB_INV_IFNAME_MAX + 1], int *n)
{
	int rc;

	if (y->type == YAML_SCALAR_NODE) {
		rc = nb_iface_list_parse(s_scalar(y), names, NB_MAX_IFS);
		if (rc < 0)
			return s_err(c, y, field, "%s", s_iface_err(rc));
		*n = rc;
		return 0;
	}
	if (y->type != YAML_SEQUENCE_NODE)
		return s_err(c, y, field, "must be an interface name or a list of them");
	*n = 0;
	for (yaml_node_item_t *it = y->data.sequence.items.start; it < y->data.sequence.items.top;
	     it++) {
		yaml_node_t *e = s_node(c, *it);
		const char *v = s_scalar(e);

		if (!v || !s_ifname_ok(v, strlen(v)) || strchr(v, '+'))
			return s_err(c, e, field, "%s", s_iface_err(-EINVAL));
		if (*n >= NB_MAX_IFS)
			return s_err(c, e, field, "%s", s_iface_err(-E2BIG));
		for (int i = 0; i < *n; i++)
			if (!strcmp(names[i], v))
				return s_err(c, e, field, "'%s' listed twice", v);
		strcpy(names[(*n)++], v);
	}
	if (!*n)
		return s_err(c, y, field, "an empty list");
	return 0;
}

static int s_labels(const struct s_ctx *c, const yaml_node_t *y, const char *field,
		    struct nb_inv_node *n)
{
	char f[256];

	if (y->type != YAML_MAPPING_NODE)
		return s_err(c, y, field, "must be a mapping of label: value");
	for (yaml_node_pair_t *p = y->data.mapping.pairs.start; p < y->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = s_node(c, p->key), *v = s_node(c, p->value);
		struct nb_inv_label *l;
		int rc;

		if (n->n_labels >= NB_INV_MAX_LABELS)
			return s_err(c, k, field, "more than %d labels", NB_INV_MAX_LABELS);
		l = &n->labels[n->n_labels];
		rc = s_str(c, k, field, l->key, sizeof(l->key));
		if (rc)
			return rc;
		snprintf(f, sizeof(f), "%s.%s", field, l->key);
		for (int i = 0; i < n->n_labels; i++)
			if (!strcmp(n->labels[i].key, l->key))
				return s_err(c, k, f, "given twice");
		rc = s_str(c, v, f, l->value, sizeof(l->value));
		if (rc)
			return rc;
		n->n_labels++;
	}
	return 0;
}

static int s_node_def(const struct s_ctx *c, const yaml_node_t *y, struct nb_inv_node *n)
{
	char f[128], base[96];
	int rc = 0;

	snprintf(base, sizeof(base), "nodes.%s", n->name);
	if (y->type != YAML_MAPPING_NODE)
		return s_err(c, y, base, "must be a mapping (endpoint, server-key, ...)");
	for (yaml_node_pair_t *p = y->data.mapping.pairs.start; p < y->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = s_node(c, p->key), *v = s_node(c, p->value);
		const char *key = s_scalar(k);

		if (!key)
			return s_err(c, k, base, "a key must be a string");
		snprintf(f, sizeof(f), "%s.%s", base, key);
		if (!strcmp(key, "endpoint"))
			rc = s_str(c, v, f, n->endpoint, sizeof(n->endpoint));
		else if (!strcmp(key, "server-key"))
			rc = s_file(c, v, f, n->server_key, sizeof(n->server_key));
		else if (!strcmp(key, "rx-iface"))
			rc = s_ifaces(c, v, f, n->rx, &n->n_rx);
		else if (!strcmp(key, "tx-iface"))
			rc = s_ifaces(c, v, f, n->tx, &n->n_tx);
		else if (!strcmp(key, "labels"))
			rc = s_labels(c, v, f, n);
		else
			return s_err(c, k, f,
				     "unknown key (endpoint, server-key, rx-iface, tx-iface, "
				     "labels)");
		if (rc)
			return rc;
	}
	return 0;
}

static int s_nodes(const struct s_ctx *c, const yaml_node_t *y, struct nb_inventory *inv)
{
	size_t n = 0;

	if (y->type != YAML_MAPPING_NODE)
		return s_err(c, y, "nodes", "must be a mapping of node name to its settings");
	n = (size_t)(y->data.mapping.pairs.top - y->data.mapping.pairs.start);
	if (n > NB_INV_MAX_NODES)
		return s_err(c, y, "nodes", "more than %d nodes", NB_INV_MAX_NODES);
	inv->nodes = calloc(n ? n : 1, sizeof(*inv->nodes));
	if (!inv->nodes)
		return -ENOMEM;
	for (yaml_node_pair_t *p = y->data.mapping.pairs.start; p < y->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = s_node(c, p->key), *v = s_node(c, p->value);
		struct nb_inv_node *nd = &inv->nodes[inv->n_nodes];
		const char *name = s_scalar(k);
		int rc;

		if (!name || !s_name_ok(name))
			return s_err(c, k, "nodes",
				     "'%s' is not a node name (1-63 of [A-Za-z0-9._-])",
				     name ? name : "?");
		if (nb_inventory_find(inv, name))
			return s_err(c, k, "nodes", "node '%s' defined twice", name);
		strcpy(nd->name, name);
		nd->line = (int)k->start_mark.line + 1;
		rc = s_node_def(c, v, nd);
		if (rc)
			return rc;
		if (!nd->endpoint[0]) {
			char f[96];

			snprintf(f, sizeof(f), "nodes.%s.endpoint", name);
			return s_err(c, k, f, "missing");
		}
		inv->n_nodes++;
	}
	return 0;
}

static int s_coord(const struct s_ctx *c, const yaml_node_t *y, struct nb_inventory *inv)
{
	if (y->type != YAML_MAPPING_NODE)
		return s_err(c, y, "coordinator", "must be a mapping (key, insecure)");
	for (yaml_node_pair_t *p = y->data.mapping.pairs.start; p < y->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = s_node(c, p->key), *v = s_node(c, p->value);
		const char *key = s_scalar(k);
		int rc;

		if (key && !strcmp(key, "key"))
			rc = s_file(c, v, "coordinator.key", inv->key, sizeof(inv->key));
		else if (key && !strcmp(key, "insecure"))
			rc = s_bool(c, v, "coordinator.insecure", &inv->insecure);
		else
			return s_err(c, k, "coordinator", "unknown key '%s' (key, insecure)",
				     key ? key : "?");
		if (rc)
			return rc;
	}
	return 0;
}

static int s_root(const struct s_ctx *c, struct nb_inventory *inv)
{
	yaml_node_t *root = yaml_document_get_root_node((yaml_document_t *)&c->y.doc);
	bool have_nodes = false;

	if (!root)
		return s_err(c, NULL, NULL, "empty: no nodes");
	if (root->type != YAML_MAPPING_NODE)
		return s_err(c, root, NULL, "must be a mapping with 'nodes' (and 'coordinator')");
	for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = s_node(c, p->key), *v = s_node(c, p->value);
		const char *key = s_scalar(k);
		int rc;

		if (key && !strcmp(key, "nodes") && !have_nodes) {
			have_nodes = true;
			rc = s_nodes(c, v, inv);
		} else if (key && !strcmp(key, "coordinator")) {
			rc = s_coord(c, v, inv);
		} else {
			return s_err(c, k, key, "%s",
				     key && !strcmp(key, "nodes")
					 ? "given twice"
					 : "unknown key (nodes, coordinator)");
		}
		if (rc)
			return rc;
	}
	if (!have_nodes)
		return s_err(c, root, "nodes", "missing");
	return 0;
}

int nb_inventory_parse(const char *text, size_t len, const char *path, struct nb_inventory **out,
		       char *err, size_t errlen)
{
	struct nb_inventory *inv;
	struct s_ctx c = {0};
	const char *slash = strrchr(path, '/');
	int rc;

	*out = NULL;
	if (len > NB_INV_MAX_BYTES) {
		snprintf(err, errlen, "%s: larger than %u bytes", path, NB_INV_MAX_BYTES);
		return -EINVAL;
	}
	inv = calloc(1, sizeof(*inv));
	if (!inv)
		return -ENOMEM;
	snprintf(inv->path, sizeof(inv->path), "%s", path);
	if (slash)
		snprintf(c.dir, sizeof(c.dir), "%.*s", (int)(slash == path ? 1 : slash - path),
			 path);
	else
		snprintf(c.dir, sizeof(c.dir), ".");
	rc = nb_yaml_load(&c.y, text, len, path, err, errlen);
	if (!rc)
		rc = s_root(&c, inv);
	nb_yaml_free(&c.y);
	if (rc) {
		nb_inventory_free(&inv);
		return rc;
	}
	*out = inv;
	return 0;
}

int nb_inventory_load(const char *path, struct nb_inventory **out, char *err, size_t errlen)
{
	char *buf;
	size_t n;
	int rc = nb_yaml_read_file(path, NB_INV_MAX_BYTES, "inventory", &buf, &n, err, errlen);

	*out = NULL;
	if (rc)
		return rc;
	rc = nb_inventory_parse(buf, n, path, out, err, errlen);
	free(buf);
	return rc;
}

int nb_inventory_default_path(char *buf, size_t len)
{
	const char *home = getenv("HOME");
	struct passwd *pw;
	int n;

	if (!home || !home[0]) {
		pw = getpwuid(getuid());
		home = pw ? pw->pw_dir : NULL;
	}
	if (!home)
		return -ENOENT;
	n = snprintf(buf, len, "%s/.netblame/inventory.yaml", home);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

const struct nb_inv_node *nb_inventory_find(const struct nb_inventory *inv, const char *name)
{
	for (size_t i = 0; inv && i < inv->n_nodes; i++)
		if (!strcmp(inv->nodes[i].name, name))
			return &inv->nodes[i];
	return NULL;
}

const char *nb_inv_label(const struct nb_inv_node *n, const char *key)
{
	for (int i = 0; i < n->n_labels; i++)
		if (!strcmp(n->labels[i].key, key))
			return n->labels[i].value;
	return NULL;
}

void nb_inventory_free(struct nb_inventory **pinv)
{
	struct nb_inventory *inv = pinv ? *pinv : NULL;

	if (!inv)
		return;
	free(inv->nodes);
	free(inv);
	*pinv = NULL;
}
