/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * Nodes (agents) as the coordinator knows them: from a --node spec on the command line, or from
 * an inventory file. One struct for both, so trace, agents and run take either.
 *
 * --node spec: comma-separated key=value pairs, keys name, endpoint, rx-iface, tx-iface,
 * server-key. An interface value names one interface or several joined by '+'
 * ("rx-iface=ens4f0+ens4f1": the two slaves of a bond).
 *
 * Inventory (YAML, read with libyaml), default ~/.netblame/inventory.yaml:
 *
 *   coordinator:
 *     key: netblame.key          # the coordinator's secret key (see netblame keygen)
 *     insecure: false            # true: no CURVE (labs only); then no key is needed
 *   nodes:
 *     hvA:                       # the node's name: [A-Za-z0-9._-], at most 63 bytes
 *       endpoint: tcp://10.0.0.1:7400
 *       server-key: keys/hvA.pub # the agent's public key
 *       rx-iface: vnet0          # default interfaces: one name, "a+b", or a list [a, b]
 *       tx-iface: [ens4f0, ens4f1]
 *       labels: {rack: r12, pool: gpu}
 *
 * File names in an inventory are taken relative to the inventory's own folder ("~/" is the
 * home folder). Unknown keys are errors (a typo must not silently drop a setting). Every error
 * is one line: "FILE:LINE: FIELD: what is wrong", FIELD the dotted path ("nodes.hvA.endpoint").
 *
 * Nothing here prints or talks to the network. Errors are negative errno: -EINVAL for a bad
 * file or spec (err says why), -ENOENT for a missing file, -ENOMEM.
 */
#ifndef NB_INVENTORY_H
#define NB_INVENTORY_H

#include <stdbool.h>
#include <stddef.h>

#include "nb_event.h" /* NB_MAX_IFS */

#define NB_INV_NAME_MAX	  63
#define NB_INV_PATH_MAX	  1023
#define NB_INV_EP_MAX	  255
#define NB_INV_IFNAME_MAX 15
#define NB_INV_MAX_LABELS 16
#define NB_INV_LABEL_MAX  63
#define NB_INV_MAX_NODES  4096
#define NB_INV_MAX_BYTES  (4u << 20) /* an inventory file */

struct nb_inv_label {
	char key[NB_INV_LABEL_MAX + 1];
	char value[NB_INV_LABEL_MAX + 1];
};

struct nb_inv_node {
	char name[NB_INV_NAME_MAX + 1];
	char endpoint[NB_INV_EP_MAX + 1];
	char server_key[NB_INV_PATH_MAX + 1]; /* "" = none given */
	int n_rx, n_tx;			      /* 0 = none given */
	char rx[NB_MAX_IFS][NB_INV_IFNAME_MAX + 1];
	char tx[NB_MAX_IFS][NB_INV_IFNAME_MAX + 1];
	int n_labels;
	struct nb_inv_label labels[NB_INV_MAX_LABELS];
	int line; /* where the inventory defines it; 0 for a --node spec */
};

struct nb_inventory {
	char path[NB_INV_PATH_MAX + 1];
	char key[NB_INV_PATH_MAX + 1]; /* coordinator.key, "" = none */
	bool insecure;
	size_t n_nodes;
	struct nb_inv_node *nodes;
};

/* A --node spec into n (zeroed first). err: "--node: ..." */
int nb_node_spec_parse(const char *spec, struct nb_inv_node *n, char *err, size_t errlen);

/*
 * An interface value: "a", "a+b" or, from YAML, one list element at a time. Names are
 * 1..NB_INV_IFNAME_MAX bytes of printable characters other than '/', ',', '+' and space.
 * The number of names, or -EINVAL / -E2BIG (more than NB_MAX_IFS).
 */
int nb_iface_list_parse(const char *v, char names[][NB_INV_IFNAME_MAX + 1], int max);

/*
 * Parses inventory text; path is used for messages and to resolve relative file names (its
 * folder). On success *out is the caller's, freed with nb_inventory_free().
 */
int nb_inventory_parse(const char *text, size_t len, const char *path, struct nb_inventory **out,
		       char *err, size_t errlen);
/* Reads and parses the file. */
int nb_inventory_load(const char *path, struct nb_inventory **out, char *err, size_t errlen);
/* The default path, ~/.netblame/inventory.yaml ($HOME, else the passwd entry's home). */
int nb_inventory_default_path(char *buf, size_t len);
const struct nb_inv_node *nb_inventory_find(const struct nb_inventory *inv, const char *name);
/* The node's label value, NULL when it has none of that key. */
const char *nb_inv_label(const struct nb_inv_node *n, const char *key);
void nb_inventory_free(struct nb_inventory **pinv);

#endif /* NB_INVENTORY_H */
