// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Nodes and keys from the command line and the inventory (nodes.h).
 */
#include "nodes.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coord.h"
#include "nb_client.h"

int nb_coord_inventory(const char *path, bool required, struct nb_inventory **out)
{
	char def[NB_INV_PATH_MAX + 1], err[1024];
	int rc;

	*out = NULL;
	if (!path) {
		if (nb_inventory_default_path(def, sizeof(def))) {
			nb_cerr("no --inventory given and no home folder for the default one");
			return -ENOENT;
		}
		path = def;
		if (!required && access(path, F_OK) != 0)
			return 0;
	}
	rc = nb_inventory_load(path, out, err, sizeof(err));
	if (rc)
		nb_cerr("%s", err);
	return rc;
}

int nb_coord_node(const struct nb_inventory *inv, const char *name, const char *opt,
		  struct nb_inv_node *out)
{
	const struct nb_inv_node *n = nb_inventory_find(inv, name);

	if (!n) {
		nb_cerr("%s %s: no node of that name in %s", opt, name, inv->path);
		return -ENOENT;
	}
	*out = *n;
	return 0;
}

int nb_coord_keys(bool insecure, const char *key_path, const struct nb_inventory *inv,
		  struct nb_coord_keys *out)
{
	char err[1024];

	memset(out, 0, sizeof(*out));
	if (insecure && key_path) {
		nb_cerr("give --insecure or --key, not both");
		return -EINVAL;
	}
	if (!key_path && !insecure && inv) {
		insecure = inv->insecure;
		if (inv->key[0])
			key_path = inv->key;
	}
	if (insecure) {
		out->insecure = true;
		nb_cwarn("--insecure: traffic to the agents is neither encrypted nor authenticated");
		return 0;
	}
	if (!key_path) {
		nb_cerr("CURVE needs --key FILE (the coordinator's secret key; see 'netblame "
			"keygen') or coordinator.key in the inventory, or give --insecure "
			"explicitly");
		return -EINVAL;
	}
	if (nb_client_read_keys(key_path, &out->pub, &out->sec, err, sizeof(err))) {
		nb_cerr("%s", err);
		return -EINVAL;
	}
	return 0;
}

/*
 * --on: node names and label selectors (rack=r12), comma-separated; a node is chosen when one
 * of them names it or one of its labels.
 */
static bool s_on_match(const char *on, const struct nb_inv_node *nd)
{
	for (const char *p = on; p && *p;) {
		const char *e = strchr(p, ','), *eq;
		char item[NB_INV_NAME_MAX + NB_INV_LABEL_MAX + 2];
		size_t l = e ? (size_t)(e - p) : strlen(p);

		snprintf(item, sizeof(item), "%.*s", (int)l, p);
		eq = strchr(item, '=');
		if (!eq && !strcmp(item, nd->name))
			return true;
		if (eq) {
			const char *v;

			item[eq - item] = 0;
			v = nb_inv_label(nd, item);
			if (v && !strcmp(v, eq + 1))
				return true;
		}
		p = e ? e + 1 : NULL;
	}
	return false;
}

int nb_coord_select(const struct nb_strlist *specs, const char *on,
		    const struct nb_inventory *inv, struct nb_inv_node **out, size_t *n_out)
{
	struct nb_inv_node *nd;
	size_t n = 0, cap;
	char err[512];

	*out = NULL;
	*n_out = 0;
	cap = specs->n ? (size_t)specs->n : inv ? inv->n_nodes : 0;
	nd = calloc(cap ? cap : 1, sizeof(*nd));
	if (!nd) {
		nb_cerr("out of memory");
		return -ENOMEM;
	}
	for (int i = 0; i < specs->n; i++) {
		if (nb_node_spec_parse(specs->v[i], &nd[n], err, sizeof(err))) {
			nb_cerr("%s", err);
			goto bad;
		}
		for (size_t k = 0; k < n; k++)
			if (!strcmp(nd[k].name, nd[n].name)) {
				nb_cerr("--node %s given twice", nd[n].name);
				goto bad;
			}
		n++;
	}
	if (!specs->n) {
		/* every name --on gives must be in the inventory; a label selector need not match */
		for (const char *p = on; p && *p;) {
			const char *e = strchr(p, ',');
			char item[NB_INV_NAME_MAX + NB_INV_LABEL_MAX + 2];
			size_t l = e ? (size_t)(e - p) : strlen(p);

			snprintf(item, sizeof(item), "%.*s", (int)l, p);
			if (!l || (!strchr(item, '=') && !nb_inventory_find(inv, item))) {
				nb_cerr("--on %s: no node of that name in %s", item, inv->path);
				goto bad;
			}
			p = e ? e + 1 : NULL;
		}
		for (size_t i = 0; i < inv->n_nodes; i++)
			if (!on || s_on_match(on, &inv->nodes[i]))
				nd[n++] = inv->nodes[i];
	}
	if (!n) {
		nb_cerr("no agents to ask: no node of %s %s", inv ? inv->path : "the command line",
			on ? "matches --on" : "(it has none)");
		goto bad;
	}
	*out = nd;
	*n_out = n;
	return 0;
bad:
	free(nd);
	return -EINVAL;
}
