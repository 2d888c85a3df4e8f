// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Fuzz target: the inventory parser (libyaml document, then the schema walk) and the --node
 * spec parser. Input byte 0 chooses which; the rest is the text. Properties: a parse either
 * succeeds with every node's fields within their bounds (names valid and unique, an
 * endpoint, at most NB_MAX_IFS interfaces each) or fails with a one-line message.
 */
#include "fuzz.h"

#include <errno.h>
#include <string.h>

#include "nb_inventory.h"

static void s_check_node(const struct nb_inv_node *n)
{
	NB_FUZZ_CHECK(n->name[0] && strlen(n->name) <= NB_INV_NAME_MAX);
	NB_FUZZ_CHECK(n->endpoint[0]);
	NB_FUZZ_CHECK(n->n_rx >= 0 && n->n_rx <= NB_MAX_IFS);
	NB_FUZZ_CHECK(n->n_tx >= 0 && n->n_tx <= NB_MAX_IFS);
	NB_FUZZ_CHECK(n->n_labels >= 0 && n->n_labels <= NB_INV_MAX_LABELS);
	for (int i = 0; i < n->n_rx; i++)
		NB_FUZZ_CHECK(n->rx[i][0] && !strchr(n->rx[i], '+'));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nb_inventory *inv = NULL;
	struct nb_inv_node n;
	char err[1024], *text;
	int rc;

	if (size < 1)
		return 0;
	text = malloc(size);
	if (!text)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = 0;
	err[0] = 0;
	if (data[0] & 1) {
		rc = nb_node_spec_parse(text, &n, err, sizeof(err));
		if (!rc)
			s_check_node(&n);
	} else {
		rc = nb_inventory_parse(text, size - 1, "/fuzz/inv.yaml", &inv, err, sizeof(err));
		NB_FUZZ_CHECK(!rc == !!inv);
		for (size_t i = 0; inv && i < inv->n_nodes; i++) {
			s_check_node(&inv->nodes[i]);
			NB_FUZZ_CHECK(nb_inventory_find(inv, inv->nodes[i].name) == &inv->nodes[i]);
		}
		nb_inventory_free(&inv);
	}
	NB_FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ENOMEM);
	NB_FUZZ_CHECK(rc == 0 || (err[0] && !strchr(err, '\n')));
	free(text);
	return 0;
}

#ifdef NB_FUZZ_SEEDS
int nb_fuzz_seeds(void)
{
	static const char *const seeds[] = {
	    "\0coordinator:\n  key: coord.key\nnodes:\n  hvA:\n    endpoint: tcp://10.0.0.1:7400\n"
	    "    server-key: /keys/hvA.pub\n    rx-iface: vnet0\n    tx-iface: [ens4f0, ens4f1]\n"
	    "    labels: {rack: r12, pool: gpu}\n  hvB: {endpoint: 'tcp://h:1', tx-iface: a+b}\n",
	    "\0coordinator: {insecure: true}\nnodes:\n  a: &x {endpoint: e}\n  b: *x\n",
	    "\0nodes:\n  hvA: {endpoint: tcp://a:1\n",
	    "\1name=hvB,endpoint=tcp://h:1,rx-iface=ens4f0+ens4f1,tx-iface=vnet0,server-key=/k",
	};
	char name[32];
	int rc = 0;

	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]) && !rc; i++) {
		snprintf(name, sizeof(name), "seed-%zu", i);
		rc = nb_fuzz_seed(name, seeds[i], 1 + strlen(seeds[i] + 1));
	}
	return rc;
}
#endif
