// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Node specs and the inventory: a good file read back field by field, and each kind of bad
 * file or spec refused with the exact one-line error (file, line, field).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nb_inventory.h"

static int s_parse(const char *text, struct nb_inventory **inv, char *err)
{
	err[0] = 0;
	return nb_inventory_parse(text, strlen(text), "/etc/nb/inv.yaml", inv, err, 512);
}

static void test_good(void **state)
{
	const char *text = "# two hypervisors\n"
			   "coordinator:\n"
			   "  key: coord.key\n"
			   "nodes:\n"
			   "  hvA:\n"
			   "    endpoint: tcp://10.0.0.1:7400\n"
			   "    server-key: /keys/hvA.pub\n"
			   "    rx-iface: vnet0\n"
			   "    tx-iface: [ens4f0, ens4f1]\n"
			   "    labels: {rack: r12, pool: gpu}\n"
			   "  hvB:\n"
			   "    endpoint: tcp://10.0.0.2:7400\n"
			   "    tx-iface: ens4f0+ens4f1\n";
	struct nb_inventory *inv;
	const struct nb_inv_node *a, *b;
	char err[512];

	(void)state;
	assert_int_equal(s_parse(text, &inv, err), 0);
	assert_string_equal(inv->key, "/etc/nb/coord.key");
	assert_false(inv->insecure);
	assert_int_equal(inv->n_nodes, 2);
	a = nb_inventory_find(inv, "hvA");
	b = nb_inventory_find(inv, "hvB");
	assert_non_null(a);
	assert_non_null(b);
	assert_null(nb_inventory_find(inv, "hvC"));
	assert_int_equal(a->line, 5);
	assert_string_equal(a->endpoint, "tcp://10.0.0.1:7400");
	assert_string_equal(a->server_key, "/keys/hvA.pub");
	assert_int_equal(a->n_rx, 1);
	assert_string_equal(a->rx[0], "vnet0");
	assert_int_equal(a->n_tx, 2);
	assert_string_equal(a->tx[0], "ens4f0");
	assert_string_equal(a->tx[1], "ens4f1");
	assert_string_equal(nb_inv_label(a, "rack"), "r12");
	assert_string_equal(nb_inv_label(a, "pool"), "gpu");
	assert_null(nb_inv_label(a, "zone"));
	assert_int_equal(b->line, 11);
	assert_string_equal(b->server_key, "");
	assert_int_equal(b->n_rx, 0);
	assert_int_equal(b->n_tx, 2);
	assert_string_equal(b->tx[1], "ens4f1");
	nb_inventory_free(&inv);
	assert_null(inv);
}

static void test_insecure_and_home(void **state)
{
	const char *text = "coordinator: {insecure: true, key: ~/k}\n"
			   "nodes:\n"
			   "  n1: {endpoint: 'tcp://127.0.0.1:1', server-key: sub/n1.pub}\n";
	struct nb_inventory *inv;
	char err[512];

	(void)state;
	setenv("HOME", "/home/op", 1);
	assert_int_equal(s_parse(text, &inv, err), 0);
	assert_true(inv->insecure);
	assert_string_equal(inv->key, "/home/op/k");
	assert_string_equal(inv->nodes[0].server_key, "/etc/nb/sub/n1.pub");
	nb_inventory_free(&inv);
}

/* Each bad file: the exact message. */
static void test_bad(void **state)
{
	static const struct {
		const char *text, *err;
	} cases[] = {
	    {"nodes:\n  hvA:\n    endpoint: tcp://a:1\n    endpont: x\n",
	     "/etc/nb/inv.yaml:4: nodes.hvA.endpont: unknown key (endpoint, server-key, rx-iface, "
	     "tx-iface, labels)"},
	    {"nodes:\n  hvA:\n    server-key: k\n",
	     "/etc/nb/inv.yaml:2: nodes.hvA.endpoint: missing"},
	    {"nodes:\n  hvA: {endpoint: tcp://a:1}\n  hvA: {endpoint: tcp://b:1}\n",
	     "/etc/nb/inv.yaml:3: nodes: node 'hvA' defined twice"},
	    {"nodes:\n  hvA:\n    endpoint: tcp://a:1\n    rx-iface: a/b\n",
	     "/etc/nb/inv.yaml:4: nodes.hvA.rx-iface: not an interface name or names joined by '+' "
	     "(each 1-15 characters, no '/', ',', '+' or space, none twice)"},
	    {"nodes:\n  hvA:\n    endpoint: tcp://a:1\n    tx-iface: [a, b, c, d, e, f, g, h, i]\n",
	     "/etc/nb/inv.yaml:4: nodes.hvA.tx-iface: more than 8 interfaces"},
	    {"nodes:\n  hvA:\n    endpoint: [tcp://a:1]\n",
	     "/etc/nb/inv.yaml:3: nodes.hvA.endpoint: must be a string"},
	    {"coordinator:\n  insecure: maybe\nnodes: {}\n",
	     "/etc/nb/inv.yaml:2: coordinator.insecure: must be true or false"},
	    {"nodes:\n  'hv A': {endpoint: tcp://a:1}\n",
	     "/etc/nb/inv.yaml:2: nodes: 'hv A' is not a node name (1-63 of [A-Za-z0-9._-])"},
	    {"nodes:\n  hvA: {endpoint: tcp://a:1\n",
	     "/etc/nb/inv.yaml:3: not valid YAML: did not find expected ',' or '}' while parsing "
	     "a flow mapping"},
	    {"coordinator: {key: k}\n", "/etc/nb/inv.yaml:1: nodes: missing"},
	    {"", "/etc/nb/inv.yaml:1: empty: no nodes"},
	    {"- a\n- b\n", "/etc/nb/inv.yaml:1: must be a mapping with 'nodes' (and 'coordinator')"},
	    {"nodes: {}\nhosts: {}\n",
	     "/etc/nb/inv.yaml:2: hosts: unknown key (nodes, coordinator)"},
	    {"nodes:\n  hvA:\n    endpoint: tcp://a:1\n    labels: {rack: r1, rack: r2}\n",
	     "/etc/nb/inv.yaml:4: nodes.hvA.labels.rack: given twice"},
	    /* A folded key holds a line break; the message stays one line (found by fuzzing). */
	    {"? y\n\n y", "/etc/nb/inv.yaml:1: y?y: unknown key (nodes, coordinator)"},
	};
	struct nb_inventory *inv;
	char err[512];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		inv = (void *)1;
		assert_int_equal(s_parse(cases[i].text, &inv, err), -EINVAL);
		assert_null(inv);
		assert_string_equal(err, cases[i].err);
	}
}

static void test_missing_file(void **state)
{
	struct nb_inventory *inv;
	char err[512];

	(void)state;
	assert_int_equal(nb_inventory_load("/nonexistent/inv.yaml", &inv, err, sizeof(err)),
			 -ENOENT);
	assert_string_equal(err, "cannot read inventory /nonexistent/inv.yaml: No such file or "
				 "directory");
}

static void test_node_spec(void **state)
{
	struct nb_inv_node n;
	char err[512];

	(void)state;
	assert_int_equal(nb_node_spec_parse("name=hvB,endpoint=tcp://h:1,rx-iface=ens4f0+ens4f1,"
					    "tx-iface=vnet0,server-key=/k/b.pub",
					    &n, err, sizeof(err)),
			 0);
	assert_string_equal(n.name, "hvB");
	assert_string_equal(n.endpoint, "tcp://h:1");
	assert_string_equal(n.server_key, "/k/b.pub");
	assert_int_equal(n.n_rx, 2);
	assert_string_equal(n.rx[0], "ens4f0");
	assert_string_equal(n.rx[1], "ens4f1");
	assert_int_equal(n.n_tx, 1);
	assert_string_equal(n.tx[0], "vnet0");
	assert_int_equal(n.line, 0);

	/* interfaces are optional here: trace asks for them, agents does not */
	assert_int_equal(nb_node_spec_parse("name=a,endpoint=tcp://h:1", &n, err, sizeof(err)), 0);
	assert_int_equal(n.n_rx, 0);

	assert_int_equal(nb_node_spec_parse("name=a,endpoint=e,rx-iface=ens4f0,ens4f1", &n, err,
					    sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "--node: 'ens4f1' is not key=value (several interfaces: "
				 "rx-iface=IF1+IF2)");
	assert_int_equal(nb_node_spec_parse("name=a,endpoint=e,rx-iface=x+x", &n, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "--node: rx-iface='x+x': not an interface name or names joined by "
				 "'+' (each 1-15 characters, no '/', ',', '+' or space, none twice)");
	assert_int_equal(nb_node_spec_parse("name=a,endpoint=e,rx-iface=a+", &n, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(nb_node_spec_parse("name=a,endpoint=e,color=red", &n, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "--node: unknown key 'color' (name, endpoint, rx-iface, tx-iface, "
				 "server-key)");
	assert_int_equal(nb_node_spec_parse("name=a,endpoint=e\n,x", &n, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "--node: holds a control character");
	assert_int_equal(nb_node_spec_parse("endpoint=e", &n, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "--node needs name= and endpoint=");
	assert_int_equal(nb_node_spec_parse("name=a,name=b,endpoint=e", &n, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "--node: name given twice");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good),	 cmocka_unit_test(test_insecure_and_home),
	    cmocka_unit_test(test_bad),		 cmocka_unit_test(test_missing_file),
	    cmocka_unit_test(test_node_spec),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
