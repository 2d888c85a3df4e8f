// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/*
 * nb_traffic: bounded UDP and TCP traffic between two addresses of the lab, for benchmarks and
 * tests. Every mode ends with one `key=value ...` line on stdout and nothing else there, so a
 * script can read it with `read` or `grep -o`; errors are one line on stderr.
 *
 *   nb_traffic udp-send --dst ADDR --port P [--size N] (--duration S | --count N) [--rate PPS]
 *              [--batch N]
 *       sendmmsg() batches of N datagrams (default 64) of --size payload bytes (default 64) on a
 *       connected socket, as fast as possible or paced to --rate packets per second.
 *       -> sent= bytes= errors= seconds= pps= cpu_s=
 *   nb_traffic udp-recv --port P --duration S [--bind ADDR] [--wait S]
 *       recvmmsg() for S seconds counted from the FIRST datagram (so a sender that starts late
 *       does not dilute the rate); gives up after --wait seconds (default 10) without one.
 *       drops= is the socket's receive-queue overflow counter (SO_RXQ_OVFL): non-zero means the
 *       receiver, not the path, was the bottleneck.
 *       -> packets= bytes= drops= seconds= pps= mbps= cpu_s=
 *   nb_traffic tcp-send --dst ADDR --port P --bytes N [--timeout S]
 *       writes exactly N bytes of a known pattern, shuts down its side and waits until the
 *       receiver closes, so seconds= covers delivery, not just the local send buffer.
 *       --seq-file F: once connected, writes the sequence number of the first byte it will send
 *       to F and sends only after F was removed, so a test can aim a drop at an exact segment.
 *       -> bytes= seconds= mbps= cpu_s=
 *   nb_traffic udp-ids --dst ADDR --port P --ip-id N [--count C] [--size S] [--mtu M] [--sport P]
 *       C datagrams (default 1) of S payload bytes (default 64) with the IP IDs N, N+1, ...,
 *       through a raw socket, so a test can drop or find exactly one (`nft ... ip id N`). A
 *       datagram bigger than --mtu (default 1500) is sent as fragments made here. IPv6: the ID
 *       (up to 32 bits) is the fragment header's (`nft ... frag id N`), so only a datagram
 *       bigger than --mtu carries it; a smaller one goes unfragmented, with no ID at all.
 *       -> sent= fragments= first_id= last_id= cpu_s=
 *   nb_traffic tcp-recv --port P [--bind ADDR] [--timeout S]
 *       accepts one connection, reads until the sender closes, checks the pattern.
 *       -> bytes= corrupt= seconds= mbps= cpu_s=
 *
 * cpu_s= is the CPU time (user + system) the program itself used.
 * udp-recv --spin polls without sleeping: the sender's CPU then never pays for waking the
 * receiver, a cost that swings with how often it happens to sleep (see tests/bench/overhead.sh).
 * --pidfile FILE (receivers) is written once the socket is bound and listening, so a caller can
 * start the sender without a race. --timeout (default 10 s) bounds connect, accept and every
 * stall. SIGINT/SIGTERM end any mode early; the result line is still printed.
 * Addresses are numeric IPv4 or IPv6; no name resolution, so traffic only goes where told.
 * Exit codes: 0 done, 1 runtime error, 2 usage error.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_SEC     1000000000ull
#define MAX_BATCH      1024
#define RECV_VLEN      256
#define RECV_SLOT      2048 /* bigger datagrams are truncated; MSG_TRUNC still counts them */
#define MAX_UDP_SIZE   65507
#define MAX_SECONDS    86400.0
#define TCP_CHUNK      (256 * 1024)
#define PATTERN_PERIOD 251 /* prime: a shifted or repeated block does not line up again */
#define RCVBUF_BYTES   (8 << 20)
#define SEND_ERR_LIMIT 100000 /* consecutive failed sendmmsg calls before giving up */

enum cmd { C_UDP_SEND, C_UDP_RECV, C_TCP_SEND, C_TCP_RECV, C_UDP_IDS };

/* Which options each command takes; anything else is a usage error, not silently ignored. */
enum {
	O_DST = 1 << 0,
	O_PORT = 1 << 1,
	O_SIZE = 1 << 2,
	O_DURATION = 1 << 3,
	O_COUNT = 1 << 4,
	O_RATE = 1 << 5,
	O_BATCH = 1 << 6,
	O_BIND = 1 << 7,
	O_WAIT = 1 << 8,
	O_BYTES = 1 << 9,
	O_TIMEOUT = 1 << 10,
	O_PIDFILE = 1 << 11,
	O_IP_ID = 1 << 12,
	O_MTU = 1 << 13,
	O_SPORT = 1 << 14,
	O_SEQ_FILE = 1 << 15,
	O_SPIN = 1 << 16,
};

static const struct {
	const char *name;
	unsigned int allowed, required;
} s_cmds[] = {
    [C_UDP_SEND] = {"udp-send", O_DST | O_PORT | O_SIZE | O_DURATION | O_COUNT | O_RATE | O_BATCH,
		    O_DST | O_PORT},
    [C_UDP_RECV] = {"udp-recv", O_PORT | O_DURATION | O_BIND | O_WAIT | O_PIDFILE | O_SPIN,
		    O_PORT | O_DURATION},
    [C_TCP_SEND] = {"tcp-send", O_DST | O_PORT | O_BYTES | O_TIMEOUT | O_SEQ_FILE,
		    O_DST | O_PORT | O_BYTES},
    [C_TCP_RECV] = {"tcp-recv", O_PORT | O_BIND | O_TIMEOUT | O_PIDFILE, O_PORT},
    [C_UDP_IDS] = {"udp-ids", O_DST | O_PORT | O_SIZE | O_COUNT | O_IP_ID | O_MTU | O_SPORT,
		   O_DST | O_PORT | O_IP_ID},
};

struct opts {
	enum cmd cmd;
	unsigned int given;
	struct sockaddr_storage addr; /* --dst, or --bind (default: IPv4 any) */
	socklen_t addrlen;
	uint16_t port;
	size_t size;
	double duration, wait, timeout;
	uint64_t count, rate, bytes;
	unsigned int batch;
	const char *pidfile;
	uint32_t ip_id; /* 16 bits over IPv4 */
	uint16_t sport;
	unsigned int mtu;
	const char *seq_file;
	bool spin;
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

static double s_sec(uint64_t ns)
{
	return (double)ns / 1e9;
}

/*
 * CPU time this process used, user plus system. Where the kernel accounts softirq time apart
 * (IRQ time accounting), the network stack run on behalf of a send is not in it.
 */
static double s_cpu_sec(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static const char s_usage_text[] =
    "usage: nb_traffic udp-send --dst ADDR --port P [--size N] (--duration S | --count N)\n"
    "                           [--rate PPS] [--batch N]\n"
    "       nb_traffic udp-recv --port P --duration S [--bind ADDR] [--wait S] [--pidfile F]\n"
    "                           [--spin]\n"
    "       nb_traffic tcp-send --dst ADDR --port P --bytes N [--timeout S] [--seq-file F]\n"
    "       nb_traffic tcp-recv --port P [--bind ADDR] [--timeout S] [--pidfile F]\n"
    "       nb_traffic udp-ids --dst ADDR --port P --ip-id N [--count C] [--size S] [--mtu M]\n"
    "                          [--sport P]\n"
    "Ends with one key=value line on stdout. Addresses are numeric IPv4 or IPv6.\n";

static void s_usage(FILE *f)
{
	fputs(s_usage_text, f);
}

static int s_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One line on stderr; returns the runtime-error exit code so callers can `return s_err(..)`. */
static int s_err(const char *fmt, ...)
{
	va_list ap;

	fputs("nb_traffic: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

static int s_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (*s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int s_parse_sec(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v <= 0 || v > MAX_SECONDS)
		return -EINVAL;
	*out = v;
	return 0;
}

static int s_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, s, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		*len = sizeof(*a4);
		return 0;
	}
	if (inet_pton(AF_INET6, s, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		*len = sizeof(*a6);
		return 0;
	}
	return -EINVAL;
}

static void s_set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
	else
		((struct sockaddr_in *)ss)->sin_port = htons(port);
}

static void s_set_timeouts(int fd, double sec)
{
	struct timeval tv = {.tv_sec = (time_t)sec,
			     .tv_usec = (suseconds_t)((sec - (double)(time_t)sec) * 1e6)};

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static int s_write_pidfile(const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return s_err("cannot write %s: %s", path, strerror(errno));
	fprintf(f, "%ld\n", (long)getpid());
	if (fclose(f) != 0)
		return s_err("cannot write %s: %s", path, strerror(errno));
	return 0;
}

/* A socket bound to --bind (or any) and --port, for the receivers. */
static int s_bound_socket(const struct opts *o, int type)
{
	struct sockaddr_storage a = o->addr;
	int fd, one = 1;

	fd = socket(a.ss_family, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -s_err("socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	s_set_port(&a, o->port);
	if (bind(fd, (struct sockaddr *)&a, o->addrlen) < 0) {
		s_err("bind to port %u: %s", o->port, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int s_connected_socket(const struct opts *o, int type)
{
	struct sockaddr_storage a = o->addr;
	char txt[INET6_ADDRSTRLEN];
	int fd;

	fd = socket(a.ss_family, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -s_err("socket: %s", strerror(errno));
	if (type == SOCK_STREAM)
		s_set_timeouts(fd, o->timeout); /* SO_SNDTIMEO also bounds connect() */
	s_set_port(&a, o->port);
	if (connect(fd, (struct sockaddr *)&a, o->addrlen) < 0) {
		if (a.ss_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&a)->sin6_addr, txt,
				  sizeof(txt));
		else
			inet_ntop(AF_INET, &((struct sockaddr_in *)&a)->sin_addr, txt, sizeof(txt));
		s_err("connect to %s port %u: %s", txt, o->port,
		      errno == EINPROGRESS || errno == EAGAIN ? "timed out" : strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static void s_sleep_until(uint64_t t_ns)
{
	struct timespec ts = {.tv_sec = (time_t)(t_ns / NS_PER_SEC),
			      .tv_nsec = (long)(t_ns % NS_PER_SEC)};

	clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

static int s_udp_send(const struct opts *o)
{
	static struct mmsghdr msgs[MAX_BATCH];
	uint64_t sent = 0, errors = 0, consecutive = 0, t0, t_end = 0, now;
	unsigned int batch = o->batch, i;
	struct iovec iov;
	char *payload;
	int fd, rc = 0;

	payload = calloc(1, o->size ? o->size : 1);
	if (!payload)
		return s_err("out of memory");
	/* Every datagram is the same buffer: the payload content does not matter here. */
	iov.iov_base = payload;
	iov.iov_len = o->size;
	for (i = 0; i < MAX_BATCH; i++) {
		msgs[i].msg_hdr.msg_iov = &iov;
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	/* Paced: bursts of about 1 ms worth of packets, so a low rate is not a train of bursts. */
	if (o->rate && o->rate / 1000 < batch)
		batch = o->rate / 1000 ? (unsigned int)(o->rate / 1000) : 1;

	fd = s_connected_socket(o, SOCK_DGRAM);
	if (fd < 0) {
		free(payload);
		return 1;
	}
	t0 = s_now_ns();
	if (o->duration > 0)
		t_end = t0 + (uint64_t)(o->duration * 1e9);
	while (!s_stop) {
		unsigned int n = batch;
		int r;

		now = s_now_ns();
		if ((t_end && now >= t_end) || (o->count && sent >= o->count))
			break;
		if (o->count && o->count - sent < n)
			n = (unsigned int)(o->count - sent);
		if (o->rate) {
			uint64_t due = t0 + (uint64_t)((double)sent * 1e9 / (double)o->rate);

			if (due > now) {
				s_sleep_until(t_end && t_end < due ? t_end : due);
				continue;
			}
		}
		r = sendmmsg(fd, msgs, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			/*
			 * A full qdisc or device (ENOBUFS), a port unreachable from the peer
			 * reported on this connected socket (ECONNREFUSED): counted, not fatal,
			 * since a flood meets both. Anything else, or these without end, is.
			 */
			if ((errno == ENOBUFS || errno == ECONNREFUSED || errno == EAGAIN) &&
			    ++consecutive < SEND_ERR_LIMIT) {
				errors++;
				continue;
			}
			rc = s_err("sendmmsg: %s", strerror(errno));
			break;
		}
		consecutive = 0;
		sent += (uint64_t)r;
	}
	now = s_now_ns();
	printf("sent=%llu bytes=%llu errors=%llu seconds=%.3f pps=%.0f cpu_s=%.3f\n",
	       (unsigned long long)sent, (unsigned long long)(sent * o->size),
	       (unsigned long long)errors, s_sec(now - t0),
	       now > t0 ? (double)sent / s_sec(now - t0) : 0.0, s_cpu_sec());
	close(fd);
	free(payload);
	return rc;
}

static int s_udp_recv(const struct opts *o)
{
	static char bufs[RECV_VLEN][RECV_SLOT];
	static char ctrl[RECV_VLEN][CMSG_SPACE(sizeof(uint32_t))];
	static struct mmsghdr msgs[RECV_VLEN];
	static struct iovec iovs[RECV_VLEN];
	uint64_t packets = 0, bytes = 0, t_first = 0, t_last = 0, t_giveup, t_end = 0, now;
	uint32_t drops = 0;
	int fd, one = 1, sz = RCVBUF_BYTES, i, rc = 0;

	fd = s_bound_socket(o, SOCK_DGRAM);
	if (fd < 0)
		return 1;
	/* A deep queue, so a scheduling hiccup of the receiver is not counted as path loss. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one));
	/* Wake up regularly to check the clock when nothing arrives. */
	s_set_timeouts(fd, 0.1);
	if (o->pidfile && s_write_pidfile(o->pidfile)) {
		close(fd);
		return 1;
	}
	for (i = 0; i < RECV_VLEN; i++) {
		iovs[i].iov_base = bufs[i];
		iovs[i].iov_len = RECV_SLOT;
		msgs[i].msg_hdr.msg_iov = &iovs[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	t_giveup = s_now_ns() + (uint64_t)(o->wait * 1e9);
	while (!s_stop) {
		int r;

		for (i = 0; i < RECV_VLEN; i++) {
			msgs[i].msg_hdr.msg_control = ctrl[i];
			msgs[i].msg_hdr.msg_controllen = sizeof(ctrl[i]);
		}
		r = recvmmsg(fd, msgs, RECV_VLEN,
			     MSG_TRUNC | (o->spin ? MSG_DONTWAIT : MSG_WAITFORONE), NULL);
		now = s_now_ns();
		if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			rc = s_err("recvmmsg: %s", strerror(errno));
			break;
		}
		/* A batch returned after the window closed is not counted: it would stretch it. */
		if ((t_end && now >= t_end) || (!t_first && now >= t_giveup))
			break;
		if (r <= 0)
			continue;
		if (!t_first) {
			t_first = now;
			t_end = now + (uint64_t)(o->duration * 1e9);
		}
		t_last = now;
		for (i = 0; i < r; i++) {
			struct cmsghdr *c;

			packets++;
			bytes += msgs[i].msg_len;
			for (c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c;
			     c = CMSG_NXTHDR(&msgs[i].msg_hdr, c))
				if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL)
					memcpy(&drops, CMSG_DATA(c), sizeof(drops));
		}
	}
	printf("packets=%llu bytes=%llu drops=%u seconds=%.3f pps=%.0f mbps=%.1f cpu_s=%.3f\n",
	       (unsigned long long)packets, (unsigned long long)bytes, drops,
	       s_sec(t_last - t_first),
	       t_last > t_first ? (double)packets / s_sec(t_last - t_first) : 0.0,
	       t_last > t_first ? (double)bytes * 8 / 1e6 / s_sec(t_last - t_first) : 0.0,
	       s_cpu_sec());
	close(fd);
	return rc;
}

/* pattern[i] = i % PATTERN_PERIOD, long enough to compare a whole chunk at any phase. */
static unsigned char *s_pattern(void)
{
	unsigned char *p = malloc(TCP_CHUNK + PATTERN_PERIOD);
	size_t i;

	if (p)
		for (i = 0; i < TCP_CHUNK + PATTERN_PERIOD; i++)
			p[i] = (unsigned char)(i % PATTERN_PERIOD);
	return p;
}

/*
 * The sequence number of the next byte to send, read the way checkpointing tools read it (TCP
 * repair mode, root only), published in --seq-file; then wait until the file is gone.
 */
static int s_publish_seq(int fd, const struct opts *o)
{
	int on = 1, off = -1 /* TCP_REPAIR_OFF_NO_WP: no window probe */, q = TCP_SEND_QUEUE;
	uint64_t t_end = s_now_ns() + (uint64_t)(o->timeout * 1e9);
	unsigned int seq;
	socklen_t sl = sizeof(seq);
	FILE *f;

	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on)) ||
	    setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q)) ||
	    getsockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, &seq, &sl))
		return s_err("reading the sequence number (TCP_REPAIR needs root): %s",
			     strerror(errno));
	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &off, sizeof(off))) {
		off = 0;
		if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &off, sizeof(off)))
			return s_err("leaving TCP repair mode: %s", strerror(errno));
	}
	f = fopen(o->seq_file, "w");
	if (!f || fprintf(f, "%u\n", seq) < 0 || fclose(f))
		return s_err("cannot write %s: %s", o->seq_file, strerror(errno));
	while (access(o->seq_file, F_OK) == 0) {
		if (s_stop || s_now_ns() > t_end)
			return s_err("%s was not removed within --timeout", o->seq_file);
		usleep(10000);
	}
	return 0;
}

static uint16_t s_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint32_t s_csum_add(uint32_t sum, const unsigned char *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

/*
 * UDP datagrams with chosen IP IDs. Only a raw socket with our own IP header sets the ID; the
 * kernel still fills in the IPv4 header checksum. Fragments are cut here at multiples of 8
 * bytes. IPv6 carries the ID only in a fragment header: a datagram that fits --mtu goes
 * without one (no ID, as the kernel sends it), a bigger one as fragments with the 32-bit ID.
 */
static int s_udp_ids(const struct opts *o)
{
	bool v6 = o->addr.ss_family == AF_INET6;
	struct sockaddr_storage dst = o->addr, src;
	size_t hl = v6 ? 40 : 20, fh = v6 ? 8 : 0, dlen = 8 + o->size;
	size_t unit = ((o->mtu - hl - fh) / 8) * 8, alen = v6 ? 16 : 4;
	const unsigned char *sa, *da;
	uint64_t sent = 0, frags = 0;
	socklen_t sl = sizeof(src);
	unsigned char *dg, *pkt;
	int fd, rc = 0;

	if (!v6 && o->ip_id > 65535)
		return s_err("--ip-id: IPv4 IDs are 16 bits (0..65535)");
	/* the source address the route picks, for the header and the UDP checksum */
	s_set_port(&dst, o->port);
	fd = socket(dst.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&dst, o->addrlen) ||
	    getsockname(fd, (struct sockaddr *)&src, &sl)) {
		rc = s_err("no route to the destination: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	close(fd);
	s_set_port(&dst, 0);
	sa = v6 ? (const unsigned char *)&((struct sockaddr_in6 *)&src)->sin6_addr
		: (const unsigned char *)&((struct sockaddr_in *)&src)->sin_addr;
	da = v6 ? (const unsigned char *)&((struct sockaddr_in6 *)&dst)->sin6_addr
		: (const unsigned char *)&((struct sockaddr_in *)&dst)->sin_addr;
	/* IPPROTO_RAW: our own IP header, for both families */
	fd = socket(dst.ss_family, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	if (fd < 0)
		return s_err("raw socket (needs root): %s", strerror(errno));
	dg = malloc(dlen);
	pkt = malloc(hl + fh + (dlen < unit ? dlen : unit));
	if (!dg || !pkt) {
		rc = s_err("out of memory");
		goto out;
	}
	for (uint64_t i = 0; i < (o->count ? o->count : 1) && !s_stop; i++) {
		uint32_t id = (uint32_t)(o->ip_id + i), sum;
		uint16_t sp = o->sport ? o->sport : 40000;
		bool frag = v6 && dlen > unit;

		if (!v6)
			id &= 0xffff;
		memset(dg, 0, 8);
		dg[0] = (unsigned char)(sp >> 8);
		dg[1] = (unsigned char)sp;
		dg[2] = (unsigned char)(o->port >> 8);
		dg[3] = (unsigned char)o->port;
		dg[4] = (unsigned char)(dlen >> 8);
		dg[5] = (unsigned char)dlen;
		for (size_t k = 8; k < dlen; k++)
			dg[k] = (unsigned char)((k - 8 + i) % PATTERN_PERIOD);
		/* pseudo header: addresses, protocol, length */
		sum = s_csum_add(0, sa, alen);
		sum = s_csum_add(sum, da, alen);
		sum += IPPROTO_UDP + (uint32_t)dlen;
		sum = s_csum_fold(s_csum_add(sum, dg, dlen));
		dg[6] = (unsigned char)(sum >> 8);
		dg[7] = (unsigned char)sum;
		if (!dg[6] && !dg[7])
			dg[6] = dg[7] = 0xff;
		for (size_t off = 0; off < dlen;) {
			size_t chunk = dlen - off > unit ? unit : dlen - off, h;
			bool more = off + chunk < dlen;

			memset(pkt, 0, hl + fh);
			if (v6) {
				size_t plen = (frag ? 8 : 0) + chunk;

				pkt[0] = 0x60;
				pkt[4] = (unsigned char)(plen >> 8);
				pkt[5] = (unsigned char)plen;
				pkt[6] = frag ? 44 : IPPROTO_UDP;
				pkt[7] = 64;
				memcpy(pkt + 8, sa, 16);
				memcpy(pkt + 24, da, 16);
				h = 40;
				if (frag) {
					uint16_t fo = (uint16_t)off | (more ? 1 : 0);

					pkt[40] = IPPROTO_UDP;
					pkt[42] = (unsigned char)(fo >> 8);
					pkt[43] = (unsigned char)fo;
					pkt[44] = (unsigned char)(id >> 24);
					pkt[45] = (unsigned char)(id >> 16);
					pkt[46] = (unsigned char)(id >> 8);
					pkt[47] = (unsigned char)id;
					h = 48;
				}
			} else {
				uint16_t fo = (uint16_t)(off / 8) | (more ? 0x2000 : 0);

				pkt[0] = 0x45;
				pkt[2] = (unsigned char)((20 + chunk) >> 8);
				pkt[3] = (unsigned char)(20 + chunk);
				pkt[4] = (unsigned char)(id >> 8);
				pkt[5] = (unsigned char)id;
				pkt[6] = (unsigned char)(fo >> 8);
				pkt[7] = (unsigned char)fo;
				pkt[8] = 64;
				pkt[9] = IPPROTO_UDP;
				memcpy(pkt + 12, sa, 4);
				memcpy(pkt + 16, da, 4);
				h = 20;
			}
			memcpy(pkt + h, dg + off, chunk);
			if (sendto(fd, pkt, h + chunk, 0, (struct sockaddr *)&dst, o->addrlen) < 0) {
				rc = s_err("sendto: %s", strerror(errno));
				goto out;
			}
			frags++;
			off += chunk;
		}
		sent++;
	}
out:
	printf("sent=%llu fragments=%llu first_id=%u last_id=%u cpu_s=%.3f\n",
	       (unsigned long long)sent, (unsigned long long)frags, (unsigned)o->ip_id,
	       (unsigned)((o->ip_id + (sent ? sent - 1 : 0)) & (v6 ? 0xffffffffu : 0xffffu)),
	       s_cpu_sec());
	close(fd);
	free(dg);
	free(pkt);
	return rc;
}

static int s_tcp_send(const struct opts *o)
{
	uint64_t off = 0, t0, t1;
	unsigned char *pat, sink[256];
	int fd, rc = 0;
	ssize_t n;

	pat = s_pattern();
	if (!pat)
		return s_err("out of memory");
	fd = s_connected_socket(o, SOCK_STREAM);
	if (fd < 0) {
		free(pat);
		return 1;
	}
	if (o->seq_file && s_publish_seq(fd, o)) {
		close(fd);
		free(pat);
		return 1;
	}
	t0 = s_now_ns();
	while (off < o->bytes && !s_stop) {
		size_t len = o->bytes - off < TCP_CHUNK ? (size_t)(o->bytes - off) : TCP_CHUNK;

		n = send(fd, pat + off % PATTERN_PERIOD, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = s_err("send after %llu bytes: %s", (unsigned long long)off,
				   errno == EAGAIN ? "stalled (--timeout)" : strerror(errno));
			break;
		}
		off += (uint64_t)n;
	}
	/* The receiver closes once it has read everything: that is when delivery is done. */
	if (!rc && !s_stop && shutdown(fd, SHUT_WR) == 0) {
		while ((n = recv(fd, sink, sizeof(sink), 0)) != 0) {
			if (n < 0 && errno == EINTR && !s_stop)
				continue;
			if (n < 0) {
				if (!s_stop)
					rc = s_err("waiting for the receiver to close: %s",
						   errno == EAGAIN ? "timed out" : strerror(errno));
				break;
			}
		}
	}
	t1 = s_now_ns();
	printf("bytes=%llu seconds=%.3f mbps=%.1f cpu_s=%.3f\n", (unsigned long long)off,
	       s_sec(t1 - t0), t1 > t0 ? (double)off * 8 / 1e6 / s_sec(t1 - t0) : 0.0, s_cpu_sec());
	close(fd);
	free(pat);
	return rc;
}

static int s_tcp_recv(const struct opts *o)
{
	uint64_t off = 0, corrupt = 0, t0 = 0, t1;
	unsigned char *pat, *buf;
	int lfd, fd = -1, rc = 0;
	ssize_t n, i;

	pat = s_pattern();
	buf = malloc(TCP_CHUNK);
	if (!pat || !buf) {
		free(pat);
		free(buf);
		return s_err("out of memory");
	}
	lfd = s_bound_socket(o, SOCK_STREAM);
	if (lfd < 0) {
		rc = 1;
		goto out;
	}
	s_set_timeouts(lfd, o->timeout); /* SO_RCVTIMEO bounds accept() */
	if (listen(lfd, 1) < 0) {
		rc = s_err("listen: %s", strerror(errno));
		goto out;
	}
	if (o->pidfile && s_write_pidfile(o->pidfile)) {
		rc = 1;
		goto out;
	}
	while (fd < 0 && !s_stop) {
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0 && errno != EINTR) {
			rc = s_err("accept: %s", errno == EAGAIN ? "no sender within --timeout"
								 : strerror(errno));
			goto out;
		}
	}
	t0 = s_now_ns();
	if (fd >= 0)
		s_set_timeouts(fd, o->timeout);
	while (fd >= 0 && !s_stop) {
		n = recv(fd, buf, TCP_CHUNK, 0);
		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = s_err("recv after %llu bytes: %s", (unsigned long long)off,
				   errno == EAGAIN ? "stalled (--timeout)" : strerror(errno));
			break;
		}
		if (memcmp(buf, pat + off % PATTERN_PERIOD, (size_t)n))
			for (i = 0; i < n; i++)
				corrupt += buf[i] != pat[(off + (uint64_t)i) % PATTERN_PERIOD];
		off += (uint64_t)n;
	}
	t1 = s_now_ns();
	printf("bytes=%llu corrupt=%llu seconds=%.3f mbps=%.1f cpu_s=%.3f\n",
	       (unsigned long long)off, (unsigned long long)corrupt, t0 ? s_sec(t1 - t0) : 0.0,
	       t0 && t1 > t0 ? (double)off * 8 / 1e6 / s_sec(t1 - t0) : 0.0, s_cpu_sec());
out:
	if (fd >= 0)
		close(fd);
	if (lfd >= 0)
		close(lfd);
	free(pat);
	free(buf);
	return rc;
}

static int s_bad(const char *opt, const char *val, const char *want)
{
	fprintf(stderr, "nb_traffic: bad --%s '%s': %s\n", opt, val, want);
	return 2;
}

static const char *s_opt_name(const struct option *lopts, unsigned int bit)
{
	for (; lopts->name; lopts++)
		if ((unsigned int)lopts->val == bit)
			return lopts->name;
	return "?";
}

static int s_parse(int argc, char **argv, struct opts *o)
{
	static const struct option lopts[] = {
	    {"dst", required_argument, NULL, O_DST},
	    {"port", required_argument, NULL, O_PORT},
	    {"size", required_argument, NULL, O_SIZE},
	    {"duration", required_argument, NULL, O_DURATION},
	    {"count", required_argument, NULL, O_COUNT},
	    {"rate", required_argument, NULL, O_RATE},
	    {"batch", required_argument, NULL, O_BATCH},
	    {"bind", required_argument, NULL, O_BIND},
	    {"wait", required_argument, NULL, O_WAIT},
	    {"bytes", required_argument, NULL, O_BYTES},
	    {"timeout", required_argument, NULL, O_TIMEOUT},
	    {"pidfile", required_argument, NULL, O_PIDFILE},
	    {"ip-id", required_argument, NULL, O_IP_ID},
	    {"mtu", required_argument, NULL, O_MTU},
	    {"sport", required_argument, NULL, O_SPORT},
	    {"seq-file", required_argument, NULL, O_SEQ_FILE},
	    {"spin", no_argument, NULL, O_SPIN},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	unsigned int c, missing;
	uint64_t v;
	int opt;
	size_t k;

	if (argc < 2) {
		fprintf(stderr, "nb_traffic: no command given (udp-send, udp-recv, tcp-send, "
				"tcp-recv, udp-ids; --help)\n");
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		s_usage(stdout);
		return -1;
	}
	for (k = 0; k < sizeof(s_cmds) / sizeof(s_cmds[0]); k++)
		if (!strcmp(argv[1], s_cmds[k].name))
			break;
	if (k == sizeof(s_cmds) / sizeof(s_cmds[0])) {
		fprintf(stderr,
			"nb_traffic: unknown command '%s' (udp-send, udp-recv, tcp-send, "
			"tcp-recv, udp-ids)\n",
			argv[1]);
		return 2;
	}
	o->cmd = (enum cmd)k;
	o->size = 64;
	o->mtu = 1500;
	o->batch = 64;
	o->wait = 10;
	o->timeout = 10;
	o->addr.ss_family = AF_INET; /* receivers: 0.0.0.0 unless --bind */
	o->addrlen = sizeof(struct sockaddr_in);

	optind = 2;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		if (opt == 'h') {
			s_usage(stdout);
			return -1;
		}
		if (opt == '?') {
			fprintf(stderr, "nb_traffic: %s: unknown option or missing value: %s\n",
				s_cmds[k].name, argv[optind - 1]);
			return 2;
		}
		c = (unsigned int)opt;
		if (!(c & s_cmds[k].allowed)) {
			fprintf(stderr, "nb_traffic: %s does not take --%s\n", s_cmds[k].name,
				s_opt_name(lopts, c));
			return 2;
		}
		o->given |= c;
		switch (c) {
		case O_DST:
		case O_BIND:
			if (s_parse_addr(optarg, &o->addr, &o->addrlen))
				return s_bad(c == O_DST ? "dst" : "bind", optarg,
					     "not a numeric IPv4 or IPv6 address");
			break;
		case O_PORT:
			if (s_parse_u64(optarg, 1, 65535, &v))
				return s_bad("port", optarg, "want 1..65535");
			o->port = (uint16_t)v;
			break;
		case O_SIZE:
			if (s_parse_u64(optarg, 0, MAX_UDP_SIZE, &v))
				return s_bad("size", optarg, "want 0..65507 payload bytes");
			o->size = (size_t)v;
			break;
		case O_DURATION:
			if (s_parse_sec(optarg, &o->duration))
				return s_bad("duration", optarg, "want seconds, > 0 and <= 86400");
			break;
		case O_WAIT:
			if (s_parse_sec(optarg, &o->wait))
				return s_bad("wait", optarg, "want seconds, > 0 and <= 86400");
			break;
		case O_TIMEOUT:
			if (s_parse_sec(optarg, &o->timeout))
				return s_bad("timeout", optarg, "want seconds, > 0 and <= 86400");
			break;
		case O_COUNT:
			if (s_parse_u64(optarg, 1, UINT64_MAX / MAX_UDP_SIZE, &o->count))
				return s_bad("count", optarg, "want a positive packet count");
			break;
		case O_RATE:
			if (s_parse_u64(optarg, 1, 100000000, &o->rate))
				return s_bad("rate", optarg, "want 1..100000000 packets/s");
			break;
		case O_BATCH:
			if (s_parse_u64(optarg, 1, MAX_BATCH, &v))
				return s_bad("batch", optarg, "want 1..1024");
			o->batch = (unsigned int)v;
			break;
		case O_BYTES:
			if (s_parse_u64(optarg, 0, UINT64_MAX / 2, &o->bytes))
				return s_bad("bytes", optarg, "want a byte count");
			break;
		case O_IP_ID:
			if (s_parse_u64(optarg, 0, UINT32_MAX, &v))
				return s_bad("ip-id", optarg, "want 0..65535 (IPv6: 0..4294967295)");
			o->ip_id = (uint32_t)v;
			break;
		case O_MTU:
			if (s_parse_u64(optarg, 68, 65535, &v))
				return s_bad("mtu", optarg, "want 68..65535");
			o->mtu = (unsigned int)v;
			break;
		case O_SPORT:
			if (s_parse_u64(optarg, 1, 65535, &v))
				return s_bad("sport", optarg, "want 1..65535");
			o->sport = (uint16_t)v;
			break;
		case O_SEQ_FILE:
			o->seq_file = optarg;
			break;
		case O_PIDFILE:
			o->pidfile = optarg;
			break;
		case O_SPIN:
			o->spin = true;
			break;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "nb_traffic: %s: unexpected argument '%s'\n", s_cmds[k].name,
			argv[optind]);
		return 2;
	}
	missing = s_cmds[k].required & ~o->given;
	if (missing) {
		fprintf(stderr, "nb_traffic: %s needs --%s\n", s_cmds[k].name,
			s_opt_name(lopts, missing & -missing));
		return 2;
	}
	if (o->cmd == C_UDP_SEND) {
		if (!(o->given & (O_DURATION | O_COUNT))) {
			fprintf(stderr, "nb_traffic: udp-send needs --duration S or --count N\n");
			return 2;
		}
		if ((o->given & O_DURATION) && (o->given & O_COUNT)) {
			fprintf(stderr, "nb_traffic: --duration and --count exclude each other\n");
			return 2;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = {0};
	struct sigaction sa;
	int rc;

	rc = s_parse(argc, argv, &o);
	if (rc)
		return rc < 0 ? 0 : rc;
	/* No SA_RESTART: a signal interrupts the blocking call and the loop sees s_stop. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = s_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	switch (o.cmd) {
	case C_UDP_SEND:
		rc = s_udp_send(&o);
		break;
	case C_UDP_RECV:
		rc = s_udp_recv(&o);
		break;
	case C_TCP_SEND:
		rc = s_tcp_send(&o);
		break;
	case C_UDP_IDS:
		rc = s_udp_ids(&o);
		break;
	case C_TCP_RECV:
		rc = s_tcp_recv(&o);
		break;
	}
	fflush(stdout);
	return rc;
}
