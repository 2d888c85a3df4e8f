// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Nodes and keys from the command line and the inventory (nodes.h).
 */
#include "nodes.h"

#include <errno.h>
#include <stdio.h>
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
