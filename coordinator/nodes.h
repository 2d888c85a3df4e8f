/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Where a command's nodes and keys come from: --node specs, the inventory (--inventory FILE,
 * default ~/.netblame/inventory.yaml), --insecure and --key. The rules, the same for every
 * command:
 *   - nodes named on the command line win; the inventory is read when a command needs a node
 *     by name (--from, --to, --on) or was given no --node at all;
 *   - --insecure or the inventory's coordinator.insecure: no CURVE; else the key is --key, or
 *     the inventory's coordinator.key;
 *   - a node without interfaces on the command line takes the inventory's defaults.
 * Errors are printed here (one line, nb_cerr) and returned as negative errno.
 */
#ifndef NB_COORD_NODES_H
#define NB_COORD_NODES_H

#include <stdbool.h>

#include <stddef.h>

#include "nb_inventory.h"
#include "nb_keys.h"
#include "nb_opts.h"

/* path NULL: the default path, which may be missing when !required (then *out stays NULL). */
int nb_coord_inventory(const char *path, bool required, struct nb_inventory **out);

/* The inventory's node of that name, or an error naming the inventory. */
int nb_coord_node(const struct nb_inventory *inv, const char *name, const char *opt,
		  struct nb_inv_node *out);

/*
 * The nodes a command acts on (agents, run): the --node specs, else the inventory's nodes, all
 * of them or those --on selects (node names and LABEL=VALUE selectors, comma-separated; every
 * name must be in the inventory). *out is the caller's to free().
 */
int nb_coord_select(const struct nb_strlist *specs, const char *on,
		    const struct nb_inventory *inv, struct nb_inv_node **out, size_t *n);

struct nb_coord_keys {
	bool insecure;
	struct nb_ckey pub, sec;
};

/* Resolves and reads the coordinator's keys (and warns about --insecure). */
int nb_coord_keys(bool insecure, const char *key_path, const struct nb_inventory *inv,
		  struct nb_coord_keys *out);

#endif /* NB_COORD_NODES_H */
