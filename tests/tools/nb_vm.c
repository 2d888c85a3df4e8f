// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * nb_vm: a minimal userspace "VM" behind a TAP device, for the test lab.
 *
 * The lab needs a destination whose packets leave the hypervisor through a tap, the way a
 * QEMU guest's do, without booting a guest. This program owns one IPv4 address and MAC on the
 * tap, answers ARP requests for the address and ICMP echo requests to it, and ignores
 * everything else. IPv4 fragments are ignored on purpose: the lab only pings below the MTU,
 * and reassembly would be a second network stack to get right.
 *
 * SIGUSR1 stops answering echo (ARP keeps working, like a guest with icmp_echo_ignore_all),
 * SIGUSR2 answers again; explicit on/off signals keep the lab's command idempotent, which a
 * toggle would not. SIGRTMIN makes it a slow reader (one frame per SLOW_READ_MS, like a guest
 * too busy to drain its queue, so the tap's ring fills), SIGRTMIN+1 reads at full speed again.
 * SIGTERM or SIGINT ends it and prints the counters on stderr.
 *
 * --tun makes the device a TUN instead (IFF_TUN: IP packets, no link header, no ARP), a guest
 * behind a layer-3 device, so the tracers' handling of devices without a link header is tested.
 *
 * usage: nb_vm --ifname IF --ip A.B.C.D (--mac MAC | --tun) [--pidfile FILE]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/if_tun.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/if_ether.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

/* Largest frame a tap can hand us: a 64 KiB IP packet plus the Ethernet header. */
#define FRAME_MAX (65535 + ETH_HLEN)
/* Short frames are padded as a NIC would, so captures look like real Ethernet. */
#define FRAME_MIN 60
/* A slow reader takes one frame per this many ms. */
#define SLOW_READ_MS 100

struct vm_stats {
	unsigned long rx;
	unsigned long arp_replies;
	unsigned long echo_replies;
	unsigned long echo_ignored;
	unsigned long fragments;
	unsigned long bad;
	unsigned long tx_errors;
};

struct vm {
	int fd;
	size_t l2; /* link header length: ETH_HLEN on a tap, 0 on a tun */
	uint8_t mac[ETH_ALEN];
	uint32_t ip; /* network byte order */
	uint16_t ip_id;
	struct vm_stats st;
	uint8_t out[FRAME_MAX];
};

static volatile sig_atomic_t s_stop;
static volatile sig_atomic_t s_ignore_echo;
static volatile sig_atomic_t s_slow;

static void s_on_signal(int sig)
{
	if (sig == SIGUSR1)
		s_ignore_echo = 1;
	else if (sig == SIGUSR2)
		s_ignore_echo = 0;
	else if (sig == SIGRTMIN)
		s_slow = 1;
	else if (sig == SIGRTMIN + 1)
		s_slow = 0;
	else
		s_stop = 1;
}

/* RFC 1071 checksum; returns the value to store big-endian. */
static uint16_t s_csum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;

	for (; len > 1; p += 2, len -= 2)
		sum += (uint32_t)p[0] << 8 | p[1];
	if (len)
		sum += (uint32_t)p[0] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void s_put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static void s_send(struct vm *vm, size_t len)
{
	if (vm->l2 && len < FRAME_MIN) {
		memset(vm->out + len, 0, FRAME_MIN - len);
		len = FRAME_MIN;
	}
	if (write(vm->fd, vm->out, len) != (ssize_t)len)
		vm->st.tx_errors++;
}

static void s_arp(struct vm *vm, const uint8_t *pkt, size_t len)
{
	struct ether_arp req;
	struct ether_arp rep;
	struct ether_header eth;

	if (len < ETH_HLEN + sizeof(req)) {
		vm->st.bad++;
		return;
	}
	/* Copied out: the payload after a 14-byte header is not aligned for the struct. */
	memcpy(&req, pkt + ETH_HLEN, sizeof(req));
	if (ntohs(req.arp_hrd) != ARPHRD_ETHER || ntohs(req.arp_pro) != ETHERTYPE_IP ||
	    req.arp_hln != ETH_ALEN || req.arp_pln != 4 || ntohs(req.arp_op) != ARPOP_REQUEST)
		return;
	if (memcmp(req.arp_tpa, &vm->ip, 4) != 0)
		return;

	memcpy(eth.ether_dhost, req.arp_sha, ETH_ALEN);
	memcpy(eth.ether_shost, vm->mac, ETH_ALEN);
	eth.ether_type = htons(ETHERTYPE_ARP);
	rep = req;
	rep.arp_op = htons(ARPOP_REPLY);
	memcpy(rep.arp_sha, vm->mac, ETH_ALEN);
	memcpy(rep.arp_spa, &vm->ip, 4);
	memcpy(rep.arp_tha, req.arp_sha, ETH_ALEN);
	memcpy(rep.arp_tpa, req.arp_spa, 4);
	memcpy(vm->out, &eth, ETH_HLEN);
	memcpy(vm->out + ETH_HLEN, &rep, sizeof(rep));
	s_send(vm, ETH_HLEN + sizeof(rep));
	vm->st.arp_replies++;
}

static void s_ipv4(struct vm *vm, const uint8_t *pkt, size_t len)
{
	const size_t l2 = vm->l2;
	const uint8_t *l3 = pkt + l2;
	const uint8_t *l4;
	struct iphdr ip;
	struct iphdr rip;
	size_t ihl, tot, icmp_len;
	uint8_t *o;

	if (len < l2 + sizeof(ip)) {
		vm->st.bad++;
		return;
	}
	memcpy(&ip, l3, sizeof(ip));
	ihl = ip.ihl * 4u;
	tot = ntohs(ip.tot_len);
	/* The frame may carry padding past tot_len, never less than it. */
	if (ip.version != 4 || ihl < sizeof(ip) || tot < ihl || tot > len - l2 ||
	    s_csum(l3, ihl) != 0) {
		vm->st.bad++;
		return;
	}
	if (ip.daddr != vm->ip)
		return;
	if (ntohs(ip.frag_off) & (IP_MF | IP_OFFMASK)) {
		vm->st.fragments++;
		return;
	}
	if (ip.protocol != IPPROTO_ICMP)
		return;
	l4 = l3 + ihl;
	icmp_len = tot - ihl;
	if (icmp_len < ICMP_MINLEN || s_csum(l4, icmp_len) != 0) {
		vm->st.bad++;
		return;
	}
	if (l4[0] != ICMP_ECHO || l4[1] != 0)
		return;
	if (s_ignore_echo) {
		vm->st.echo_ignored++;
		return;
	}

	o = vm->out;
	if (l2) {
		memcpy(o, pkt + ETH_ALEN, ETH_ALEN); /* back to the sender's MAC */
		memcpy(o + ETH_ALEN, vm->mac, ETH_ALEN);
		s_put16(o + 2 * ETH_ALEN, ETHERTYPE_IP);
	}

	/* The reply carries no IP options: nothing in the lab sends any that need echoing. */
	memset(&rip, 0, sizeof(rip));
	rip.version = 4;
	rip.ihl = sizeof(rip) / 4;
	rip.tos = ip.tos;
	rip.tot_len = htons(sizeof(rip) + icmp_len);
	rip.id = htons(vm->ip_id++);
	rip.ttl = 64;
	rip.protocol = IPPROTO_ICMP;
	rip.saddr = vm->ip;
	rip.daddr = ip.saddr;
	memcpy(o + l2, &rip, sizeof(rip));
	s_put16(o + l2 + offsetof(struct iphdr, check), s_csum(o + l2, sizeof(rip)));

	/* Same id, sequence and payload; only type and checksum change. */
	o += l2 + sizeof(rip);
	memcpy(o, l4, icmp_len);
	o[0] = ICMP_ECHOREPLY;
	o[2] = 0;
	o[3] = 0;
	s_put16(o + 2, s_csum(o, icmp_len));
	s_send(vm, l2 + sizeof(rip) + icmp_len);
	vm->st.echo_replies++;
}

static void s_frame(struct vm *vm, const uint8_t *pkt, size_t len)
{
	uint16_t type;

	vm->st.rx++;
	if (!vm->l2) {
		s_ipv4(vm, pkt, len);
		return;
	}
	if (len < ETH_HLEN) {
		vm->st.bad++;
		return;
	}
	type = (uint16_t)(pkt[12] << 8 | pkt[13]);
	if (type == ETHERTYPE_ARP)
		s_arp(vm, pkt, len);
	else if (type == ETHERTYPE_IP)
		s_ipv4(vm, pkt, len);
}

static int s_tap_open(const char *name, bool tun)
{
	struct ifreq ifr;
	int fd;

	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	/* No packet-info header: frames are read and written exactly as on the wire. */
	ifr.ifr_flags = (tun ? IFF_TUN : IFF_TAP) | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int s_parse_mac(const char *s, uint8_t *mac)
{
	char end;

	if (sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx%c", &mac[0], &mac[1], &mac[2], &mac[3],
		   &mac[4], &mac[5], &end) != 6)
		return -EINVAL;
	return 0;
}

static int s_write_pidfile(const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -errno;
	fprintf(f, "%ld\n", (long)getpid());
	if (fclose(f) != 0)
		return -errno;
	return 0;
}

static void s_usage(FILE *f)
{
	fprintf(f, "usage: nb_vm --ifname IF --ip A.B.C.D (--mac MAC | --tun) [--pidfile FILE]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"ifname", required_argument, NULL, 'i'}, {"ip", required_argument, NULL, 'a'},
	    {"mac", required_argument, NULL, 'm'},    {"pidfile", required_argument, NULL, 'p'},
	    {"tun", no_argument, NULL, 't'},	      {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	static struct vm vm; /* static: the frame buffers are too big for the stack */
	static uint8_t in[FRAME_MAX];
	const char *ifname = NULL, *pidfile = NULL;
	bool have_ip = false, have_mac = false, tun = false;
	struct sigaction sa;
	sigset_t block, orig;
	struct pollfd pfd;
	int c, err;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			if (strlen(optarg) >= IFNAMSIZ) {
				fprintf(stderr, "nb_vm: interface name too long: %s\n", optarg);
				return 2;
			}
			ifname = optarg;
			break;
		case 'a':
			if (inet_pton(AF_INET, optarg, &vm.ip) != 1) {
				fprintf(stderr, "nb_vm: bad IPv4 address: %s\n", optarg);
				return 2;
			}
			have_ip = true;
			break;
		case 'm':
			if (s_parse_mac(optarg, vm.mac)) {
				fprintf(stderr, "nb_vm: bad MAC address: %s\n", optarg);
				return 2;
			}
			have_mac = true;
			break;
		case 'p':
			pidfile = optarg;
			break;
		case 't':
			tun = true;
			break;
		case 'h':
			s_usage(stdout);
			return 0;
		default:
			s_usage(stderr);
			return 2;
		}
	}
	if (optind != argc || !ifname || !have_ip || have_mac == tun) {
		s_usage(stderr);
		return 2;
	}

	/*
	 * Signals stay blocked except inside ppoll(), so a signal can never slip in between
	 * checking the flags and going to sleep, and nothing else sees EINTR.
	 */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGUSR1);
	sigaddset(&block, SIGUSR2);
	sigaddset(&block, SIGRTMIN);
	sigaddset(&block, SIGRTMIN + 1);
	sigprocmask(SIG_BLOCK, &block, &orig);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = s_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	sigaction(SIGRTMIN, &sa, NULL);
	sigaction(SIGRTMIN + 1, &sa, NULL);

	vm.l2 = tun ? 0 : ETH_HLEN;
	vm.fd = s_tap_open(ifname, tun);
	if (vm.fd < 0) {
		fprintf(stderr, "nb_vm: cannot create tap %s: %s\n", ifname, strerror(-vm.fd));
		return 1;
	}
	/* Written only now, so a caller that waits for it knows the tap exists. */
	if (pidfile) {
		err = s_write_pidfile(pidfile);
		if (err) {
			fprintf(stderr, "nb_vm: cannot write %s: %s\n", pidfile, strerror(-err));
			close(vm.fd);
			return 1;
		}
	}

	pfd.fd = vm.fd;
	pfd.events = POLLIN;
	err = 0;
	while (!s_stop) {
		ssize_t n;

		if (ppoll(&pfd, 1, NULL, &orig) < 0) {
			if (errno == EINTR)
				continue;
			err = errno;
			fprintf(stderr, "nb_vm: poll: %s\n", strerror(err));
			break;
		}
		n = read(vm.fd, in, sizeof(in));
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			err = errno;
			fprintf(stderr, "nb_vm: read %s: %s\n", ifname, strerror(err));
			break;
		}
		s_frame(&vm, in, (size_t)n);
		if (s_slow) {
			/* Asleep with signals open: slow off (or a stop) ends the pause at once. */
			struct timespec ts = {0, SLOW_READ_MS * 1000000L};

			ppoll(NULL, 0, &ts, &orig);
		}
	}

	fprintf(stderr,
		"nb_vm: rx %lu arp_replies %lu echo_replies %lu echo_ignored %lu fragments %lu "
		"bad %lu tx_errors %lu\n",
		vm.st.rx, vm.st.arp_replies, vm.st.echo_replies, vm.st.echo_ignored,
		vm.st.fragments, vm.st.bad, vm.st.tx_errors);
	close(vm.fd);
	if (pidfile)
		unlink(pidfile);
	return err ? 1 : 0;
}
