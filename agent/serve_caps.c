// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * What this kernel can attach, probed once when `serve` starts and named in HELLO: a trial load
 * (and, for fentry, a trial attach detached at once) of a two-instruction program, never a
 * kernel version number. Production hypervisors differ from the test machines (kprobes,
 * openvswitch, vhost-net): `netblame agents` shows each one's answer.
 */
#include "agent.h"
#include "serve.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Not in every UAPI header this builds against (libbpf 1.1 predates them). */
#define S_PROG_TYPE_NETFILTER 32
#define S_ATTACH_NETFILTER    45

/* r0 = ret; exit */
static int s_load(int type, int attach, uint32_t btf_id, int ret)
{
	struct bpf_insn insns[2] = {
		{.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = ret},
		{.code = BPF_JMP | BPF_EXIT},
	};
	LIBBPF_OPTS(bpf_prog_load_opts, o, .expected_attach_type = (enum bpf_attach_type)attach,
		    .attach_btf_id = btf_id);

	return bpf_prog_load((enum bpf_prog_type)type, "nb_probe", "GPL", insns, 2, &o);
}

/* A BPF netfilter program loads (the hook is only linked by a session). */
static bool s_netfilter(void)
{
	int fd = s_load(S_PROG_TYPE_NETFILTER, S_ATTACH_NETFILTER, 0, 1 /* NF_ACCEPT */);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* fentry on ip_rcv: loading works where attaching is refused, so attach, and detach at once. */
static bool s_fentry(void)
{
	struct btf *btf = btf__load_vmlinux_btf();
	int id, fd, lfd;

	if (!btf)
		return false;
	id = btf__find_by_name_kind(btf, "ip_rcv", BTF_KIND_FUNC);
	btf__free(btf);
	if (id <= 0)
		return false;
	fd = s_load(BPF_PROG_TYPE_TRACING, BPF_TRACE_FENTRY, (uint32_t)id, 0);
	if (fd < 0)
		return false;
	lfd = bpf_raw_tracepoint_open(NULL, fd);
	if (lfd >= 0)
		close(lfd);
	close(fd);
	return lfd >= 0;
}

/* The kernel functions the tun, vhost-net and openvswitch monitors start from. */
static void s_ksyms(bool *tun, bool *vhost, bool *ovs)
{
	FILE *f = fopen("/proc/kallsyms", "r");
	char line[512];

	*tun = *vhost = *ovs = false;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *sym = strchr(line, ' ');

		/* "ADDR T name [module]" */
		sym = sym ? strchr(sym + 1, ' ') : NULL;
		if (!sym)
			continue;
		sym++;
		sym[strcspn(sym, " \t\n")] = 0;
		if (!strcmp(sym, "tun_net_xmit"))
			*tun = true;
		else if (!strcmp(sym, "vhost_net_open"))
			*vhost = true;
		else if (!strcmp(sym, "ovs_vport_receive"))
			*ovs = true;
	}
	fclose(f);
}

static void s_add(struct nb_srv *srv, const char *cap)
{
	if (srv->n_caps < NB_WIRE_MAX_CAPS)
		snprintf(srv->caps[srv->n_caps++], sizeof(srv->caps[0]), "%s", cap);
}

void nb_srv_probe_kcaps(struct nb_srv *srv, bool tcx)
{
	bool tun, vhost, ovs;

	s_ksyms(&tun, &vhost, &ovs);
	if (tcx)
		s_add(srv, "tcx");
	if (s_netfilter())
		s_add(srv, "netfilter");
	if (nb_have_kprobes())
		s_add(srv, "kprobe");
	if (s_fentry())
		s_add(srv, "fentry");
	if (tun)
		s_add(srv, "tun");
	if (vhost)
		s_add(srv, "vhost");
	if (ovs)
		s_add(srv, "ovs");
}
