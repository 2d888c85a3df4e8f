// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * nb_delay: holds every packet of one NFQUEUE queue for a fixed time, then accepts it.
 *
 * The lab kernel has no netem (and ignores EDT timestamps), so a fixed delay is an iptables
 * `-j NFQUEUE --queue-num N --queue-bypass` rule plus this program in the same network
 * namespace. Packets are kept in arrival order in a FIFO with their due time, and the program
 * sleeps only until the first one is due (ppoll timeout): holding one packet never blocks the
 * ones behind it, and releasing strictly from the head keeps the order of every flow.
 *
 * Verdicts are batched: NFQNL_MSG_VERDICT_BATCH accepts every queued id up to the given one.
 * That is correct here because all packets wait the same time and the kernel numbers them in
 * arrival order, and it also releases a packet whose notification was lost to a full socket
 * buffer (ENOBUFS) instead of leaving it stuck in the kernel.
 *
 * On SIGTERM/SIGINT every held packet is accepted at once, so stopping a delay loses nothing
 * that was already queued. Counters go to stderr on exit.
 *
 * usage: nb_delay --queue N --ms D [--pidfile FILE]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* FIFO slots, and the kernel queue length: the kernel drops beyond it, as a full NIC queue. */
#define FIFO_CAP     65536u
#define MAX_DELAY_MS 600000
#define RCVBUF_BYTES (8 << 20)
#define NS_PER_MS    1000000ull
#define NS_PER_SEC   1000000000ull

struct held {
	uint32_t id;
	uint64_t due_ns;
};

struct delay {
	struct mnl_socket *nl;
	uint16_t queue;
	uint64_t delay_ns;
	/* FIFO of held packets: head is the oldest. */
	struct held fifo[FIFO_CAP];
	unsigned int head, len;
	uint32_t seq;
	/* Set by the ack of a config request; 1 while waiting. */
	int ack_err;
	unsigned long held_total, max_depth, overruns, early, verdict_errors;
};

static volatile sig_atomic_t s_stop;

static void s_on_signal(int sig)
{
	(void)sig;
	s_stop = 1;
}

static uint64_t s_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

static int s_send_verdict(struct delay *d, uint32_t last_id)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;

	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_VERDICT_BATCH, d->queue);
	nfq_nlmsg_verdict_put(nlh, (int)last_id, NF_ACCEPT);
	if (mnl_socket_sendto(d->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	return 0;
}

/* Accepts the first n held packets with one batch verdict. */
static int s_release(struct delay *d, unsigned int n)
{
	uint32_t last;

	if (!n)
		return 0;
	last = d->fifo[(d->head + n - 1) % FIFO_CAP].id;
	d->head = (d->head + n) % FIFO_CAP;
	d->len -= n;
	return s_send_verdict(d, last);
}

static int s_release_due(struct delay *d, uint64_t now)
{
	unsigned int n = 0;

	while (n < d->len && d->fifo[(d->head + n) % FIFO_CAP].due_ns <= now)
		n++;
	return s_release(d, n);
}

static int s_hold(struct delay *d, uint32_t id, uint64_t now)
{
	int err = 0;

	/* Cannot happen while the kernel respects the queue length; never stall if it does. */
	if (d->len == FIFO_CAP) {
		d->early++;
		err = s_release(d, 1);
	}
	d->fifo[(d->head + d->len) % FIFO_CAP] =
	    (struct held){.id = id, .due_ns = now + d->delay_ns};
	d->len++;
	d->held_total++;
	if (d->len > d->max_depth)
		d->max_depth = d->len;
	return err;
}

static int s_on_msg(struct delay *d, const struct nlmsghdr *nlh, uint64_t now)
{
	struct nlattr *attr[NFQA_MAX + 1] = {NULL};
	struct nfqnl_msg_packet_hdr *ph;

	if (nlh->nlmsg_type == NLMSG_ERROR) {
		const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

		if (nlh->nlmsg_seq && nlh->nlmsg_seq == d->seq)
			d->ack_err = e->error; /* the answer to our config request */
		else if (e->error)
			d->verdict_errors++; /* verdicts are sent without ack; errors still come */
		return 0;
	}
	if (nlh->nlmsg_type != ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET))
		return 0;
	if (nfq_nlmsg_parse(nlh, attr) < 0 || !attr[NFQA_PACKET_HDR])
		return 0;
	ph = mnl_attr_get_payload(attr[NFQA_PACKET_HDR]);
	return s_hold(d, ntohl(ph->packet_id), now);
}

/* Reads everything the socket has without blocking. */
static int s_drain(struct delay *d)
{
	static char buf[1 << 16];

	for (;;) {
		struct nlmsghdr *nlh;
		uint64_t now;
		ssize_t n;
		int len, err;

		n = recv(mnl_socket_get_fd(d->nl), buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) {
				/* Lost notifications: the next batch verdict frees them. */
				d->overruns++;
				continue;
			}
			return -errno;
		}
		now = s_now_ns();
		len = (int)n;
		for (nlh = (struct nlmsghdr *)buf; mnl_nlmsg_ok(nlh, len);
		     nlh = mnl_nlmsg_next(nlh, &len)) {
			err = s_on_msg(d, nlh, now);
			if (err)
				return err;
		}
	}
}

/* Sends one config request with an ack and waits for the ack; returns its error. */
static int s_config(struct delay *d, struct nlmsghdr *nlh)
{
	struct pollfd pfd = {.fd = mnl_socket_get_fd(d->nl), .events = POLLIN};
	int err;

	nlh->nlmsg_flags |= NLM_F_ACK;
	nlh->nlmsg_seq = ++d->seq;
	d->ack_err = 1;
	if (mnl_socket_sendto(d->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	while (d->ack_err == 1) {
		if (poll(&pfd, 1, 5000) <= 0)
			return -ETIMEDOUT;
		err = s_drain(d);
		if (err)
			return err;
	}
	return d->ack_err;
}

static int s_bind(struct delay *d)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	int size = RCVBUF_BYTES, fd, err;

	d->nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!d->nl)
		return -errno;
	if (mnl_socket_bind(d->nl, 0, MNL_SOCKET_AUTOPID) < 0)
		return -errno;
	/* A large buffer rides out bursts; FORCE needs root, plain SO_RCVBUF is the fallback. */
	fd = mnl_socket_get_fd(d->nl);
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));

	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, d->queue);
	nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, NFQNL_CFG_CMD_BIND);
	err = s_config(d, nlh);
	if (err)
		return err;

	/*
	 * Metadata only: the packet is never inspected. F_GSO takes GSO packets whole rather
	 * than having the kernel segment them just to queue them, which would change what the
	 * tracers downstream see.
	 */
	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, d->queue);
	nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_META, 0);
	nfq_nlmsg_cfg_put_qmaxlen(nlh, FIFO_CAP);
	mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(NFQA_CFG_F_GSO));
	mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(NFQA_CFG_F_GSO));
	return s_config(d, nlh);
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

static int s_parse_uint(const char *s, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static void s_usage(FILE *f)
{
	fprintf(f, "usage: nb_delay --queue N --ms D [--pidfile FILE]\n");
}

static int s_run(struct delay *d, const sigset_t *orig)
{
	struct pollfd pfd = {.fd = mnl_socket_get_fd(d->nl), .events = POLLIN};
	int err;

	while (!s_stop) {
		struct timespec ts, *tmo = NULL;
		uint64_t now = s_now_ns();

		err = s_release_due(d, now);
		if (err)
			return err;
		if (d->len) {
			uint64_t wait = d->fifo[d->head].due_ns - now;

			ts.tv_sec = (time_t)(wait / NS_PER_SEC);
			ts.tv_nsec = (long)(wait % NS_PER_SEC);
			tmo = &ts;
		}
		if (ppoll(&pfd, 1, tmo, orig) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (pfd.revents & POLLIN) {
			err = s_drain(d);
			if (err)
				return err;
		}
	}
	/* Stopping: whatever is already queued goes through now rather than being dropped. */
	err = s_drain(d);
	if (!err)
		err = s_release(d, d->len);
	return err;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"queue", required_argument, NULL, 'q'},
	    {"ms", required_argument, NULL, 'm'},
	    {"pidfile", required_argument, NULL, 'p'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	static struct delay d; /* static: the FIFO is 1 MiB */
	const char *pidfile = NULL;
	long queue = -1, ms = -1;
	struct sigaction sa;
	sigset_t block, orig;
	int c, err, rc = 0;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'q':
			if (s_parse_uint(optarg, UINT16_MAX, &queue)) {
				fprintf(stderr, "nb_delay: bad queue number: %s\n", optarg);
				return 2;
			}
			break;
		case 'm':
			if (s_parse_uint(optarg, MAX_DELAY_MS, &ms)) {
				fprintf(stderr, "nb_delay: bad delay (0..%d ms): %s\n",
					MAX_DELAY_MS, optarg);
				return 2;
			}
			break;
		case 'p':
			pidfile = optarg;
			break;
		case 'h':
			s_usage(stdout);
			return 0;
		default:
			s_usage(stderr);
			return 2;
		}
	}
	if (optind != argc || queue < 0 || ms < 0) {
		s_usage(stderr);
		return 2;
	}
	d.queue = (uint16_t)queue;
	d.delay_ns = (uint64_t)ms * NS_PER_MS;

	/* Signals are only taken inside ppoll(), so a stop request cannot be missed. */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &orig);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = s_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	err = s_bind(&d);
	if (err) {
		/* The kernel answers EPERM also when another socket owns the queue. */
		fprintf(stderr, "nb_delay: cannot bind queue %ld: %s%s\n", queue, strerror(-err),
			err == -EPERM ? " (not root, or the queue is taken)" : "");
		rc = 1;
		goto cleanup;
	}
	/* Written only now, so a caller that waits for it knows the queue is bound. */
	if (pidfile) {
		err = s_write_pidfile(pidfile);
		if (err) {
			fprintf(stderr, "nb_delay: cannot write %s: %s\n", pidfile, strerror(-err));
			rc = 1;
			goto cleanup;
		}
	}
	err = s_run(&d, &orig);
	if (err) {
		fprintf(stderr, "nb_delay: queue %ld: %s\n", queue, strerror(-err));
		rc = 1;
	}
	fprintf(stderr,
		"nb_delay: queue %ld delay %ld ms: held %lu max_depth %lu overruns %lu early %lu "
		"verdict_errors %lu\n",
		queue, ms, d.held_total, d.max_depth, d.overruns, d.early, d.verdict_errors);
	if (pidfile)
		unlink(pidfile);
cleanup:
	if (d.nl)
		mnl_socket_close(d.nl);
	return rc;
}
