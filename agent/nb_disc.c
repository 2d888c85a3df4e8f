// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * Gathering for interface discovery (common/nb_discover.h decides): the namespace's links,
 * addresses, neighbours, bridge FDBs and the route to the peer over plain rtnetlink, and,
 * when those do not tell, a bounded look at the traffic: an ARP request (IPv4) or neighbour
 * solicitation (IPv6) from the unspecified address sent on each switch device, and a packet
 * socket that notes on which device the addresses arrive as a source. The probe has the form
 * of duplicate address detection (RFC 5227, RFC 4862), so it adds no entry to anybody's
 * neighbour table; a hypervisor that bridges at layer 2 only needs no address to send it.
 * Open vSwitch's userspace datapath is invisible to rtnetlink (its bridge is a tap, its ports
 * have no master): the ovs-vswitchd of the namespace, if any, says which devices it switches.
 */
#include "agent.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nb_discover.h"
#include "nb_log.h"
#include "nb_time.h"

#define S_NL_BUF    (64u << 10)
#define S_MAX_SW    16 /* switch devices a probe goes out on */
#define S_RESEND_NS 250000000ull
#define S_GRACE_NS  100000000ull /* after every target was seen: others may answer too */

struct s_sw {
	uint32_t ifindex;
	uint8_t mac[6];
};

struct s_gather {
	struct nb_disc_tables *t;
	struct s_sw sw[S_MAX_SW];
	uint32_t n_sw;
	uint8_t family;
};

/* ---- rtnetlink ---- */

/*
 * One request and its answers: a dump, or a single RTM_GETROUTE. The socket has a receive
 * timeout, so a kernel that does not answer cannot hold the agent's loop.
 */
static int s_nl(int fd, void *req, size_t len, struct s_gather *g, char *buf)
{
	struct nlmsghdr *rh = req;
	bool dump = rh->nlmsg_flags & NLM_F_DUMP;

	if (send(fd, req, len, 0) < 0)
		return -errno;
	for (;;) {
		ssize_t n = recv(fd, buf, S_NL_BUF, 0);
		int rc;

		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		rc = nb_disc_nl_feed(g->t, buf, (size_t)n, rh->nlmsg_seq, dump, g->family);
		if (rc)
			return rc < 0 ? rc : 0;
	}
}

static int s_dump(int fd, uint16_t type, uint8_t family, uint32_t seq, struct s_gather *g,
		  char *buf)
{
	struct {
		struct nlmsghdr h;
		union {
			struct ifinfomsg ifi;
			struct ifaddrmsg ifa;
			struct ndmsg nd;
		};
	} req = {0};

	req.h.nlmsg_type = type;
	req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.h.nlmsg_seq = seq;
	/* The family byte is the first of each of these headers. */
	req.ifi.ifi_family = family;
	req.h.nlmsg_len = NLMSG_LENGTH(type == RTM_GETLINK   ? sizeof(struct ifinfomsg)
				       : type == RTM_GETADDR ? sizeof(struct ifaddrmsg)
							     : sizeof(struct ndmsg));
	return s_nl(fd, &req, req.h.nlmsg_len, g, buf);
}

static int s_route(int fd, uint8_t family, const uint8_t *dst, uint32_t seq, struct s_gather *g,
		   char *buf)
{
	struct {
		struct nlmsghdr h;
		struct rtmsg rt;
		char attrs[64];
	} req = {0};
	size_t alen = family == 4 ? 4 : 16;
	struct rtattr *a;
	int rc;

	req.h.nlmsg_type = RTM_GETROUTE;
	req.h.nlmsg_flags = NLM_F_REQUEST;
	req.h.nlmsg_seq = seq;
	req.rt.rtm_family = family == 4 ? AF_INET : AF_INET6;
	req.rt.rtm_dst_len = (uint8_t)(alen * 8);
	a = (struct rtattr *)req.attrs;
	a->rta_type = RTA_DST;
	a->rta_len = (unsigned short)RTA_LENGTH(alen);
	memcpy(RTA_DATA(a), dst, alen);
	req.h.nlmsg_len = NLMSG_LENGTH(sizeof(req.rt)) + RTA_ALIGN(a->rta_len);
	rc = s_nl(fd, &req, req.h.nlmsg_len, g, buf);
	/* No route (an L2-only hypervisor) is an answer, not a failure. */
	return rc == -ENETUNREACH || rc == -EHOSTUNREACH || rc == -EINVAL ? 0 : rc;
}

static int s_tables(int fd, uint8_t family, const uint8_t *peer, struct s_gather *g, char *err,
		    size_t errlen)
{
	static const struct {
		uint16_t type;
		int family; /* -1: the flow's */
		const char *what;
	} q[] = {
	    {RTM_GETLINK, AF_UNSPEC, "links"},
	    {RTM_GETADDR, AF_UNSPEC, "addresses"},
	    {RTM_GETNEIGH, -1, "neighbours"},
	    {RTM_GETNEIGH, AF_BRIDGE, "bridge FDB"},
	};
	char *buf = malloc(S_NL_BUF);
	int rc = 0;

	if (!buf) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < sizeof(q) / sizeof(q[0]) && !rc; i++) {
		int fam = q[i].family < 0 ? (family == 4 ? AF_INET : AF_INET6) : q[i].family;

		rc = s_dump(fd, q[i].type, (uint8_t)fam, (uint32_t)i + 1, g, buf);
		if (rc)
			snprintf(err, errlen, "cannot read the %s (rtnetlink): %s", q[i].what,
				 strerror(-rc));
	}
	/* A switch that is up is where a probe can be sent from. */
	for (uint32_t i = 0; !rc && i < g->t->n_links && g->n_sw < S_MAX_SW; i++) {
		const struct nb_disc_link *l = &g->t->links[i];

		if ((!strcmp(l->kind, "bridge") || !strcmp(l->kind, "openvswitch")) && l->up &&
		    l->has_mac) {
			g->sw[g->n_sw].ifindex = l->ifindex;
			memcpy(g->sw[g->n_sw].mac, l->mac, 6);
			g->n_sw++;
		}
	}
	if (!rc) {
		rc = s_route(fd, family, peer, 10, g, buf);
		if (rc)
			snprintf(err, errlen, "cannot look up the route to the peer: %s",
				 strerror(-rc));
	}
	free(buf);
	return rc;
}

/* ---- Open vSwitch's userspace datapath ---- */

#define S_OVS_RUNDIR "/var/run/openvswitch"
#define S_OVS_OUT    (64u << 10)

/* The first len-1 bytes of a small /proc file; -1 when it cannot be read. */
static ssize_t s_slurp(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n >= 0)
		buf[n] = 0;
	return n;
}

/*
 * The control socket of the ovs-vswitchd whose network namespace is inum (the userspace
 * datapath's devices are in its daemon's namespace): its --unixctl, else the default
 * RUNDIR/ovs-vswitchd.PID.ctl with RUNDIR its OVS_RUNDIR. A process without a socket there
 * (the --monitor parent) is passed over. 0, or -ENOENT when there is none.
 */
static int s_ovs_ctl(uint32_t inum, char *ctl, size_t len)
{
	char buf[16384];
	DIR *d = opendir("/proc");
	struct dirent *de;
	int rc = -ENOENT;

	while (d && rc && (de = readdir(d))) {
		char path[PATH_MAX], rundir[PATH_MAX] = S_OVS_RUNDIR, *p, *end;
		const char *sock = NULL;
		struct stat st;
		ssize_t n;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", de->d_name);
		if (s_slurp(path, buf, sizeof(buf)) < 0 || strcmp(buf, "ovs-vswitchd\n"))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/ns/net", de->d_name);
		if (stat(path, &st) || st.st_ino != inum)
			continue;
		snprintf(path, sizeof(path), "/proc/%s/environ", de->d_name);
		n = s_slurp(path, buf, sizeof(buf));
		for (p = buf, end = buf + (n > 0 ? n : 0); p < end; p += strlen(p) + 1)
			if (!strncmp(p, "OVS_RUNDIR=", 11) && p[11])
				snprintf(rundir, sizeof(rundir), "%s", p + 11);
		snprintf(path, sizeof(path), "/proc/%s/cmdline", de->d_name);
		n = s_slurp(path, buf, sizeof(buf));
		for (p = buf, end = buf + (n > 0 ? n : 0); p < end; p += strlen(p) + 1)
			if (!strncmp(p, "--unixctl=", 10))
				sock = p + 10;
			else if (!strcmp(p, "--unixctl") && p + strlen(p) + 1 < end)
				sock = p + strlen(p) + 1;
		if (sock && sock[0] == '/')
			snprintf(ctl, len, "%s", sock);
		else if (sock)
			snprintf(ctl, len, "%s/%s", rundir, sock);
		else
			snprintf(ctl, len, "%s/ovs-vswitchd.%s.ctl", rundir, de->d_name);
		if (!stat(ctl, &st) && S_ISSOCK(st.st_mode))
			rc = 0;
	}
	if (d)
		closedir(d);
	return rc;
}

bool nb_disc_has_ovs(uint32_t inum)
{
	char ctl[PATH_MAX];

	return !s_ovs_ctl(inum, ctl, sizeof(ctl));
}

/* Runs argv (no shell) and reads its standard output into buf; 0 when it exited with 0. */
static int s_run(char *const argv[], char *buf, size_t len)
{
	extern char **environ;
	posix_spawn_file_actions_t fa;
	int pfd[2], st = 0, rc;
	size_t off = 0;
	ssize_t n;
	pid_t pid;

	buf[0] = 0;
	if (pipe2(pfd, O_CLOEXEC))
		return -errno;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], STDOUT_FILENO);
	posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	if (rc) {
		close(pfd[0]);
		return -rc;
	}
	while (off + 1 < len && (n = read(pfd[0], buf + off, len - off - 1)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		off += (size_t)n;
	}
	buf[off] = 0;
	close(pfd[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) && !WEXITSTATUS(st) ? 0 : -EIO;
}

/*
 * `ovs-appctl dpif/show` of the namespace's ovs-vswitchd, read by nb_disc_ovs_dpif: its
 * userspace bridges' own devices become switches, where a probe goes out when they are up.
 * No OVS here: nothing changes.
 */
static void s_ovs(struct s_gather *g, uint32_t inum)
{
	char ctl[PATH_MAX], *out;
	char *argv[] = {"ovs-appctl", "--timeout=1", "-t", ctl, "dpif/show", NULL};
	uint32_t local[S_MAX_SW];
	int n;

	if (s_ovs_ctl(inum, ctl, sizeof(ctl)))
		return;
	out = malloc(S_OVS_OUT);
	if (!out)
		return;
	if (s_run(argv, out, S_OVS_OUT)) {
		nb_warn("interface discovery: ovs-vswitchd at %s did not answer dpif/show", ctl);
		free(out);
		return;
	}
	n = nb_disc_ovs_dpif(g->t, out, local, S_MAX_SW);
	for (int k = 0; k < n; k++) {
		const struct nb_disc_link *l = &g->t->links[local[k]];

		if (l->up && l->has_mac && g->n_sw < S_MAX_SW) {
			g->sw[g->n_sw].ifindex = l->ifindex;
			memcpy(g->sw[g->n_sw].mac, l->mac, 6);
			g->n_sw++;
		}
	}
	free(out);
}

/* ---- learning from traffic ---- */

/*
 * A classic BPF filter so that only ARP and IP packets from one of the targets are copied to
 * the socket, whatever else the host forwards meanwhile.
 */
static int s_filter(int fd, uint8_t family, const uint8_t (*tg)[NB_ADDR_LEN], int n_tg)
{
	struct sock_filter f[64];
	struct sock_fprog prog;
	int k = 0, words = family == 4 ? 1 : 4, not_ip, cmp, drop;

	f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12); /* ethertype */
	if (family == 4) {
		/* ARP: X = 28, the sender's address; IPv4: X = 26, the source. */
		f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_ARP, 0, 2);
		f[k++] = (struct sock_filter)BPF_STMT(BPF_LDX | BPF_IMM, 28);
		f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JA, 2, 0, 0);
	}
	not_ip = k;
	f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
					      family == 4 ? ETH_P_IP : ETH_P_IPV6, 0, 0);
	f[k++] = (struct sock_filter)BPF_STMT(BPF_LDX | BPF_IMM, family == 4 ? 26 : 22);
	cmp = k;
	/* Per target, its words at [X + 4w]: all equal, accept; one differs, the next target. */
	for (int t = 0; t < n_tg; t++) {
		for (int w = 0; w < words; w++) {
			uint32_t v;

			memcpy(&v, tg[t] + 4 * w, 4);
			f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_IND,
							      (uint32_t)(4 * w));
			f[k++] =
			    (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ntohl(v), 0, 0);
		}
		f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0xffff);
	}
	drop = k;
	f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0);
	for (int t = 0; t < n_tg; t++) {
		int next = cmp + (t + 1) * (2 * words + 1);

		for (int w = 0; w < words; w++) {
			int j = cmp + t * (2 * words + 1) + 2 * w + 1;

			f[j].jf = (uint8_t)(next - (j + 1));
		}
	}
	f[not_ip].jf = (uint8_t)(drop - (not_ip + 1));
	prog.len = (unsigned short)k;
	prog.filter = f;
	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0 ? -errno : 0;
}

static uint16_t s_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* An ARP request / neighbour solicitation for target, from the unspecified address. */
static size_t s_probe(uint8_t family, const uint8_t *mac, const uint8_t *tg, uint8_t *p,
		      uint8_t *dst_mac)
{
	memset(p, 0, 128);
	if (family == 4) {
		memset(dst_mac, 0xff, 6);
		memcpy(p, dst_mac, 6);
		memcpy(p + 6, mac, 6);
		p[12] = ETH_P_ARP >> 8;
		p[13] = ETH_P_ARP & 0xff;
		p[15] = ARPHRD_ETHER;	/* htype 1 */
		p[16] = ETH_P_IP >> 8;	/* ptype 0x0800 */
		p[18] = 6;		/* hlen */
		p[19] = 4;		/* plen */
		p[21] = ARPOP_REQUEST;	/* op 1 */
		memcpy(p + 22, mac, 6); /* sha; spa 0.0.0.0 */
		memcpy(p + 38, tg, 4);	/* tha 0; tpa */
		return 60;
	}
	/* ff02::1:ffXX:XXXX and its multicast MAC 33:33:ff:XX:XX:XX */
	{
		uint8_t sn[16] = {0xff, 0x02, 0, 0, 0,	  0,	  0,	  0,
				  0,	0,    0, 1, 0xff, tg[13], tg[14], tg[15]};
		uint8_t *ip = p + 14, *icmp = p + 54;
		uint32_t sum = 0;

		dst_mac[0] = 0x33;
		dst_mac[1] = 0x33;
		memcpy(dst_mac + 2, sn + 12, 4);
		memcpy(p, dst_mac, 6);
		memcpy(p + 6, mac, 6);
		p[12] = ETH_P_IPV6 >> 8;
		p[13] = ETH_P_IPV6 & 0xff;
		ip[0] = 0x60;
		ip[5] = 24;		 /* payload length */
		ip[6] = 58;		 /* ICMPv6 */
		ip[7] = 255;		 /* hop limit */
		memcpy(ip + 24, sn, 16); /* source :: */
		icmp[0] = 135;		 /* neighbour solicitation */
		memcpy(icmp + 8, tg, 16);
		/* The pseudo-header (source is zero) and the message. */
		for (int i = 0; i < 16; i += 2)
			sum += (uint32_t)(sn[i] << 8 | sn[i + 1]);
		sum += 24 + 58;
		for (int i = 0; i < 24; i += 2)
			sum += (uint32_t)(icmp[i] << 8 | icmp[i + 1]);
		sum = s_csum_fold(sum);
		icmp[2] = (uint8_t)(sum >> 8);
		icmp[3] = (uint8_t)sum;
		return 78;
	}
}

static void s_send_probes(int fd, const struct s_gather *g, const uint8_t (*tg)[NB_ADDR_LEN],
			  int n_tg, const bool *seen)
{
	uint8_t pkt[128], dst_mac[6];

	for (uint32_t s = 0; s < g->n_sw; s++)
		for (int i = 0; i < n_tg; i++) {
			struct sockaddr_ll sa = {0};
			size_t len;

			if (seen[i])
				continue;
			len = s_probe(g->family, g->sw[s].mac, tg[i], pkt, dst_mac);
			sa.sll_family = AF_PACKET;
			sa.sll_ifindex = (int)g->sw[s].ifindex;
			sa.sll_protocol = htons(g->family == 4 ? ETH_P_ARP : ETH_P_IPV6);
			sa.sll_halen = 6;
			memcpy(sa.sll_addr, dst_mac, 6);
			/* A full queue or a switch going down: the next round sends again. */
			(void)sendto(fd, pkt, len, MSG_DONTWAIT, (struct sockaddr *)&sa,
				     sizeof(sa));
		}
}

/* What a received frame (passed the filter) says: which target it came from, and how. */
static void s_note(struct s_gather *g, const uint8_t *p, size_t len, uint32_t ifindex,
		   const uint8_t (*tg)[NB_ADDR_LEN], int n_tg, bool *seen)
{
	struct nb_disc_tables *t = g->t;
	const uint8_t *src;
	bool probe;

	if (g->family == 4) {
		bool arp = len >= 42 && p[12] == (ETH_P_ARP >> 8) && p[13] == (ETH_P_ARP & 0xff);

		if (!arp && len < 34)
			return;
		src = arp ? p + 28 : p + 26;
		probe = arp && p[21] == ARPOP_REPLY;
	} else {
		if (len < 54)
			return;
		src = p + 22;
		probe = len >= 56 && p[20] == 58 && p[54] == 136;
	}
	for (int i = 0; i < n_tg; i++) {
		if (memcmp(src, tg[i], g->family == 4 ? 4 : 16))
			continue;
		seen[i] = true;
		for (uint32_t k = 0; k < t->n_seen; k++)
			if (t->seen[k].ifindex == ifindex && !memcmp(t->seen[k].addr, tg[i], 16)) {
				t->seen[k].probe |= probe;
				return;
			}
		if (t->n_seen < NB_DISC_MAX_SEEN) {
			struct nb_disc_seen *s = &t->seen[t->n_seen++];

			s->ifindex = ifindex;
			s->family = g->family;
			memcpy(s->addr, tg[i], NB_ADDR_LEN);
			s->probe = probe;
		}
		return;
	}
}

/*
 * Learning from traffic, one step at a time inside the agent's loop (which serves other
 * sessions meanwhile): the job holds the tables read so far, the packet socket and what was
 * seen.
 */
struct nb_disc_job {
	struct s_gather g;
	struct nb_disc_query q;
	uint8_t tg[2][NB_ADDR_LEN];
	int n_tg;
	bool seen[2];
	int pk;
	uint32_t learn_ms;
	uint64_t end, next_send, all_seen;
};

int nb_disc_job_fd(const struct nb_disc_job *j)
{
	return j->pk;
}

bool nb_disc_job_step(struct nb_disc_job *j, uint64_t now, uint64_t *next)
{
	uint8_t buf[256];
	bool all = true;

	for (;;) {
		struct sockaddr_ll from;
		socklen_t fl = sizeof(from);
		ssize_t n =
		    recvfrom(j->pk, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);

		if (n < 0)
			break;
		if (from.sll_pkttype == PACKET_OUTGOING)
			continue;
		s_note(&j->g, buf, (size_t)n, (uint32_t)from.sll_ifindex,
		       (const uint8_t(*)[NB_ADDR_LEN])j->tg, j->n_tg, j->seen);
	}
	for (int i = 0; i < j->n_tg; i++)
		all &= j->seen[i];
	if (all && !j->all_seen)
		j->all_seen = now;
	if (now >= j->end || (j->all_seen && now - j->all_seen >= S_GRACE_NS))
		return true;
	if (now >= j->next_send && !all) {
		s_send_probes(j->pk, &j->g, (const uint8_t(*)[NB_ADDR_LEN])j->tg, j->n_tg, j->seen);
		j->next_send = now + S_RESEND_NS;
	}
	*next = j->all_seen ? j->all_seen + S_GRACE_NS : j->next_send;
	if (*next > j->end)
		*next = j->end;
	return false;
}

void nb_disc_job_free(struct nb_disc_job *j)
{
	if (!j)
		return;
	if (j->pk >= 0)
		close(j->pk);
	free(j->g.t);
	free(j);
}

int nb_disc_job_end(struct nb_disc_job *j, struct nb_disc_side *vm, struct nb_disc_side *uplink,
		    char *err, size_t errlen)
{
	int rc;

	j->g.t->learned = true;
	j->g.t->learn_ms = j->learn_ms;
	rc = nb_disc_decide(j->g.t, &j->q, vm, uplink, err, errlen);
	nb_disc_job_free(j);
	return rc;
}

/* ---- the whole ---- */

int nb_disc_begin(const struct nb_netns *ns, const struct nb_disc_query *q, uint32_t learn_ms,
		  struct nb_disc_job **job, struct nb_disc_side *vm, struct nb_disc_side *uplink,
		  char *err, size_t errlen)
{
	struct nb_disc_job *j = calloc(1, sizeof(*j));
	int self, nl = -1, rc;
	struct timeval tv = {.tv_sec = 1};

	*job = NULL;
	if (j)
		j->g.t = calloc(1, sizeof(*j->g.t));
	if (!j || !j->g.t) {
		free(j);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	j->pk = -1;
	j->g.family = q->family;
	j->q = *q;
	j->learn_ms = learn_ms;
	rc = nb_netns_enter(ns, &self, err, errlen);
	if (rc)
		goto out;
	/* Sockets belong to the namespace they were made in: make both here, use them after. */
	nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	j->pk = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (nl < 0 || j->pk < 0)
		snprintf(err, errlen, "cannot open a%s socket: %s", nl < 0 ? " netlink" : " packet",
			 strerror(errno));
	rc = nb_netns_leave(self, nl < 0 || j->pk < 0 ? -errno : 0, err, errlen);
	if (rc)
		goto out;
	/*
	 * The dumps are answered at once by the kernel: they stay synchronous, bounded by the
	 * receive timeout in case one is not.
	 */
	setsockopt(nl, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	rc = s_tables(nl, q->family, q->peer, &j->g, err, errlen);
	if (rc)
		goto out;
	s_ovs(&j->g, ns->inum);
	rc = nb_disc_decide(j->g.t, q, vm, uplink, err, errlen);
	if (rc != -EAGAIN)
		goto out;

	/* The tables do not tell: ask the addresses themselves, and listen, bounded. */
	memcpy(j->tg[j->n_tg++], q->local, NB_ADDR_LEN);
	if (q->want_uplink)
		memcpy(j->tg[j->n_tg++],
		       j->g.t->route_gw && j->g.t->route_oif ? j->g.t->gw : q->peer, NB_ADDR_LEN);
	rc = s_filter(j->pk, q->family, (const uint8_t(*)[NB_ADDR_LEN])j->tg, j->n_tg);
	if (!rc) {
		struct sockaddr_ll sa = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL)};

		if (bind(j->pk, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			rc = -errno;
	}
	if (rc) {
		snprintf(err, errlen, "cannot listen for the addresses (packet socket): %s",
			 strerror(-rc));
		goto out;
	}
	j->next_send = nb_mono_ns();
	j->end = j->next_send + (uint64_t)learn_ms * 1000000ull;
	close(nl);
	*job = j;
	return -EINPROGRESS;
out:
	if (nl >= 0)
		close(nl);
	nb_disc_job_free(j);
	return rc;
}
