/* SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause */
/*
 * The stage tracer's one handler, shared by its objects: nb_stage.bpf.c (device
 * tracepoints), nb_tcx.bpf.c (tcx links) and nb_lat.bpf.c (a latency chain: the same device
 * programs, plus netfilter and kprobe stages, and an in-kernel histogram mode). Each object
 * gets its own ring buffer, filter and counters, with the same names and layout, so user
 * space drives any alike. An object that defines NB_STAGE_LAT before including this gets
 * the chain's parts: device stages by interface slot, and the histograms.
 */
#ifndef NB_STAGE_BPF_H
#define NB_STAGE_BPF_H

#include "nb_parse.bpf.h"
#include "nb_mon.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

const volatile struct nb_filter nb_cfg = {};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} nb_events SEC(".maps");

/* Counters read by user space: a missing event must never look like a missing packet. */
__u64 nb_lost = 0;    /* ring buffer full: event not delivered */
__u64 nb_matched = 0; /* events that passed the filter */
__u64 nb_parse_err = 0;

/* Bit i: the device of nb_cfg.ifindex[i] has no link header (tun, ipip, wireguard). */
const volatile __u32 nb_l3_mask = 0;

/*
 * Benchmark floor only (NB_TEST_NOOP_PROGRAMS=1): return at once, so a run can measure what
 * the hooks cost by themselves, apart from this program's work. Read-only data: when false,
 * one load and one branch.
 */
const volatile bool nb_noop = false;

#ifdef NB_STAGE_LAT
/*
 * The chain: the stage (NB_HOOK_LAT0 + i) that a device of slot j of nb_cfg.ifindex reports
 * on receive ([0][j]) and on transmit ([1][j]); 0 where that device has no such stage.
 */
const volatile __u8 nb_dev_hook[2][NB_MAX_IFS] = {};
/* Histogram mode: no event per packet, deltas between stages counted here. */
const volatile bool nb_hist = false;
/* The path (direction) of each stage: a delta is taken only between stages of one path. */
const volatile __u8 nb_stage_path[NB_LAT_MAX_STAGES] = {};
/* Bit i: stage i is the last hooked stage of its path, where a packet's record is done. */
const volatile __u32 nb_path_end = 0;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct nb_lat_key);
	__type(value, struct nb_lat_last);
	__uint(max_entries, 65536);
} nb_lat_last SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, NB_LAT_HIST_SLOTS);
} nb_lat_hist SEC(".maps");

/* The deltas' sum per pair of stages (prev * NB_LAT_MAX_STAGES + cur), ns: a Prometheus _sum. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, NB_LAT_MAX_STAGES * NB_LAT_MAX_STAGES);
} nb_lat_sum SEC(".maps");

/* Histogram mode's count of matched packets (nb_matched's in events mode), per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} nb_lat_matched SEC(".maps");

/*
 * Histogram counters. nb_no_prev: a packet at a later stage of its path with no earlier stage
 * on record (it entered before the tool, skipped the first stage, or its record was evicted
 * from the LRU map); nb_last_full: a record the map refused.
 */
__u64 nb_no_prev = 0;
__u64 nb_last_full = 0;

/* floor(log2(v)) for v >= 1, 0 for 0: bucket of nb_lat_bucket() (common/nb_lat.h). */
static __always_inline __u32 nb_log2(__u64 v)
{
	__u32 r = 0, sh;

	if (v > 0xffffffffULL)
		v = 0xffffffffULL;
	sh = (v > 0xffff) << 4;
	v >>= sh;
	r |= sh;
	sh = (v > 0xff) << 3;
	v >>= sh;
	r |= sh;
	sh = (v > 0xf) << 2;
	v >>= sh;
	r |= sh;
	sh = (v > 0x3) << 1;
	v >>= sh;
	r |= sh;
	return r | (__u32)(v >> 1);
}

/*
 * ns to whole us: below 2^32 ns (4.3 s) a multiply and a shift, exact for every 32-bit value
 * (checked exhaustively), instead of a 64-bit division at every counted delta.
 */
static __always_inline __u64 nb_ns_to_us(__u64 ns)
{
	if (ns >> 32)
		return ns / 1000;
	return (ns * 274877907ULL) >> 38;
}

static __always_inline void nb_lat_key_of(const struct nb_pkt *p, struct nb_lat_key *k)
{
	__builtin_memcpy(k->saddr, p->saddr, NB_ADDR_LEN);
	__builtin_memcpy(k->daddr, p->daddr, NB_ADDR_LEN);
	k->sport = p->sport;
	k->dport = p->dport;
	k->family = p->family;
	k->proto = p->proto;
	k->pad = 0;
	k->ip_id = p->ip_id;
	if (p->proto == NB_IPPROTO_TCP) {
		k->id1 = p->tcp_seq;
		k->id2 = p->tcp_ack;
	} else if (p->proto == NB_IPPROTO_ICMP || p->proto == NB_IPPROTO_ICMPV6) {
		k->id1 = ((__u32)p->icmp_id << 16) | p->icmp_seq;
		k->id2 = p->icmp_type;
	} else {
		k->id1 = 0;
		k->id2 = 0;
	}
}

/*
 * The per-CPU front of nb_lat_last. A packet normally runs its whole path on one CPU in one
 * softirq (or one send call), so its record lives in a slot of this CPU's array, found and
 * dropped without the LRU hash's bucket locks, free lists and hashing, which were most of the
 * per-packet cost on a flood (three programs per datagram). Slots are direct-mapped by a mix
 * of the key; a record whose slot another packet needs before its path is done (its packet
 * was queued: NFQUEUE, a qdisc, a GRO batch) moves to the LRU hash, where any CPU finds it.
 * A packet that continued on another CPU before that is looked for in the other CPUs' slot.
 */
#define NB_LAT_PCPU_SLOTS 64
#define NB_LAT_MAX_CPUS	  1024

struct nb_lat_pslot {
	struct nb_lat_key k;
	struct nb_lat_last l;
	__u32 used;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct nb_lat_pslot);
	__uint(max_entries, NB_LAT_PCPU_SLOTS);
} nb_lat_pcpu SEC(".maps");

/* Possible CPUs, set by user space: the other CPUs whose slot may hold a record. */
const volatile __u32 nb_nr_cpus = 1;

static __always_inline bool nb_lat_key_eq(const struct nb_lat_key *a, const struct nb_lat_key *b)
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;
	__u32 d = 0;

#pragma unroll
	for (int i = 0; i < (int)(sizeof(*a) / 4); i++)
		d |= x[i] ^ y[i];
	return !d;
}

static __always_inline __u32 nb_lat_slot_of(const struct nb_lat_key *k)
{
	const __u32 *w = (const __u32 *)k;
	__u32 h = w[3] ^ w[7] ^ w[8] ^ w[10] ^ w[11] ^ w[12];

	return (h * 0x9e3779b1u) >> (32 - 6); /* 6 bits: NB_LAT_PCPU_SLOTS */
}

struct nb_lat_find {
	const struct nb_lat_key *k;
	__u32 idx;
	__u32 self;
	__s32 cpu; /* where the record was found, or -1 */
};

static long nb_lat_find_cb(__u64 cpu, void *ctx)
{
	struct nb_lat_find *f = ctx;
	struct nb_lat_pslot *ps;

	if (cpu == f->self)
		return 0;
	ps = bpf_map_lookup_percpu_elem(&nb_lat_pcpu, &f->idx, (__u32)cpu);
	if (ps && ps->used && nb_lat_key_eq(&ps->k, f->k)) {
		f->cpu = (__s32)cpu;
		return 1;
	}
	return 0;
}

/* A matched packet at stage cur: the delta from its previous stage of the path, counted. */
static __noinline int nb_lat_count(const struct nb_pkt *p, __u32 cur)
{
	struct nb_lat_key k;
	struct nb_lat_last *l = NULL, now = {};
	struct nb_lat_pslot *ps, *rec = NULL;
	struct nb_lat_find f;
	__u64 *slot;
	__u32 idx, prev;

	/* Stages are < NB_LAT_MAX_STAGES (a power of two): masked, so the verifier knows. */
	cur &= NB_LAT_MAX_STAGES - 1;
	now.ts_ns = bpf_ktime_get_ns();
	now.stage = cur;
	nb_lat_key_of(p, &k);
	idx = nb_lat_slot_of(&k);
	ps = bpf_map_lookup_elem(&nb_lat_pcpu, &idx);
	/*
	 * The first stage of a path only starts a record: whatever the maps hold for this key
	 * is an older packet's, never its previous stage, so it is not looked for (the LRU
	 * hash lookup was the costliest step of a flood's first stage).
	 */
	if (!cur || nb_stage_path[cur - 1] != nb_stage_path[cur])
		goto start;
	if (ps && ps->used && nb_lat_key_eq(&ps->k, &k)) {
		rec = ps;
	} else {
		l = bpf_map_lookup_elem(&nb_lat_last, &k);
		if (!l && cur && nb_nr_cpus > 1) {
			f.k = &k;
			f.idx = idx;
			f.self = bpf_get_smp_processor_id();
			f.cpu = -1;
			bpf_loop(nb_nr_cpus < NB_LAT_MAX_CPUS ? nb_nr_cpus : NB_LAT_MAX_CPUS,
				 nb_lat_find_cb, &f, 0);
			if (f.cpu >= 0)
				rec = bpf_map_lookup_percpu_elem(&nb_lat_pcpu, &idx, (__u32)f.cpu);
		}
	}
	if (rec)
		l = &rec->l;
	prev = l ? l->stage & (NB_LAT_MAX_STAGES - 1) : 0;
	if (l && prev < cur && nb_stage_path[prev] == nb_stage_path[cur]) {
		idx = ((prev * NB_LAT_MAX_STAGES) + cur) * NB_LAT_BUCKETS +
		      nb_log2(nb_ns_to_us(now.ts_ns - l->ts_ns));
		slot = bpf_map_lookup_elem(&nb_lat_hist, &idx);
		if (slot)
			*slot += 1; /* this CPU's slot */
		idx = prev * NB_LAT_MAX_STAGES + cur;
		slot = bpf_map_lookup_elem(&nb_lat_sum, &idx);
		if (slot)
			*slot += now.ts_ns - l->ts_ns;
		if (nb_path_end & (1u << cur)) {
			/*
			 * A record whose path is done is dropped at once: a flood then never
			 * makes the LRU map evict, which costs far more.
			 */
			if (rec)
				rec->used = 0;
			else
				bpf_map_delete_elem(&nb_lat_last, &k);
			return 0;
		}
		l->ts_ns = now.ts_ns;
		l->stage = cur;
		return 0;
	}
	/* A later stage of the path without a record: its packet had none. */
	__sync_fetch_and_add(&nb_no_prev, 1);
start:
	if (!ps) {
		if (bpf_map_update_elem(&nb_lat_last, &k, &now, BPF_ANY))
			__sync_fetch_and_add(&nb_last_full, 1);
		return 0;
	}
	/* The slot's record of another packet, not done yet, moves to the shared map. */
	if (ps->used && !nb_lat_key_eq(&ps->k, &k) &&
	    bpf_map_update_elem(&nb_lat_last, &ps->k, &ps->l, BPF_ANY))
		__sync_fetch_and_add(&nb_last_full, 1);
	ps->k = k;
	ps->l = now;
	ps->used = 1;
	return 0;
}
#define NB_DEV_HOOK(dir, i, dflt) nb_dev_hook[dir][i]
#else
#define NB_DEV_HOOK(dir, i, dflt) (dflt)
#endif

/* A matched packet to user space. */
static __always_inline int nb_stage_event(const struct nb_pkt *p, __u16 ethertype, __u32 ifindex,
					  __u32 netns, __u8 hook)
{
	struct nb_event *e;

	__sync_fetch_and_add(&nb_matched, 1);
	e = bpf_ringbuf_reserve(&nb_events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&nb_lost, 1);
		return 0;
	}
	nb_event_fill(e, NB_EV_PKT, hook, ifindex, netns, ethertype, p);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

#ifndef NB_STAGE_LAT
/*
 * OVS upcall mode (ovs_upcall_latency_summary on the switch's ports; docs/ARCHITECTURE.md,
 * "Virtualization monitors"). Sending every packet of the fast path to user space twice (in
 * and out) cost about half the switch's throughput, so the kernel decides: a packet entering
 * a port whose flow was idle for nb_up_idle_ns (OVS's datapath flow max-idle) is an upcall
 * candidate and an event, and so is each copy of it leaving another port within
 * nb_up_timeout_ns. Other packets are only counted, per CPU. For the fast path's latency at
 * most one entering packet per nb_up_sample_ns per CPU is followed to its exit and counted in
 * a per-CPU log2 histogram.
 *
 * A flood's packet must cost little more than its parse: each CPU keeps the flow it last saw
 * entering and the one it last saw leaving, with what the shared flow record said, and looks
 * the record up again only when the flow changes or NB_UP_CACHE_TICKS passed (so samples
 * are taken at such lookups only). A candidate is
 * never in such a cache (its flow was idle, or unknown, for far longer), so its first copy is
 * always looked up; the other copies within NB_UP_COPY_NS of it. Samples sit in a small
 * direct-mapped array; an exit looks at its slot only when the slot's byte in nb_up_armed says
 * a sample may be there.
 */
const volatile bool nb_up = false;
const volatile __u64 nb_up_idle_ns = 0;
const volatile __u64 nb_up_timeout_ns = 0;
const volatile __u64 nb_up_sample_ns = 0;

/* How often a flow's last entry is refreshed: one write per ms. */
#define NB_UP_TOUCH_NS 1000000ull
/*
 * A cache's life: under 2 scheduler ticks (2 to 8 ms), told by jiffies, which is a load where
 * the clock is a call that costs a VM tens of ns per packet.
 */
#define NB_UP_CACHE_TICKS 2
#define NB_UP_SAMP_SLOTS 256
/*
 * A packet's copies out (a flood, a mirror) leave together, from one action list: after the
 * first, the others are looked for this long, not for the whole timeout.
 */
#define NB_UP_COPY_NS 10000000ull

struct nb_up_flow {
	__u64 last_ns;	   /* a packet entered (to within NB_UP_TOUCH_NS) */
	__u64 cand_ns;	   /* the last candidate entered: its copies are looked for till timeout */
	__u64 cand_out_ns; /* and its first copy left: the others follow within NB_UP_COPY_NS */
	__u32 rx_ifindex;  /* the port the flow enters by */
	__u32 pad;
};

/* An upcall candidate in flight: every copy of it out is an event. */
struct nb_up_pend {
	__u64 rx_ns;
	__u32 rx_ifindex;
	__u32 pad;
};

/* A sampled fast-path packet in flight; used 1 while it is, taken by its first copy out. */
struct nb_up_samp {
	struct nb_up_pkey k;
	__u64 rx_ns;
	__u64 used; /* 64 bits: the atomics of this BPF target */
	__u32 rx_ifindex;
	__u32 pad;
};

/* A CPU's last flow in one direction, and what its record said then. */
struct nb_up_cache {
	struct nb_up_fkey f;
	__u64 jiffies;	  /* when it was looked up; 0: empty */
	__u64 look_until; /* transmit: exits are looked for as a candidate's copies till then */
	__u32 rx_ifindex; /* transmit: the port it enters by; 0: a flow never seen entering */
	__u32 fhash;	  /* transmit: nb_up_fhash of f, for the sample slots */
};

/* Sized by user space (1 entry each when the mode is off: an LRU map preallocates). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct nb_up_fkey);
	__type(value, struct nb_up_flow);
	__uint(max_entries, 65536);
} nb_up_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct nb_up_pkey);
	__type(value, struct nb_up_pend);
	__uint(max_entries, 8192);
} nb_up_pend SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct nb_up_samp);
	__uint(max_entries, NB_UP_SAMP_SLOTS);
} nb_up_samp SEC(".maps");

/*
 * Which sample slots may hold a packet in flight: every exit reads its slot's byte here, one
 * line of a page it touches anyway, and looks at the slot itself (a line on any of the
 * array's pages) only when it is set.
 */
__u8 nb_up_armed[NB_UP_SAMP_SLOTS] = {};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct nb_up_counts);
	__uint(max_entries, 1);
} nb_up_cnt SEC(".maps");

/* [0] entering, [1] leaving. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct nb_up_cache);
	__uint(max_entries, 2);
} nb_up_cache SEC(".maps");

/* As common/nb_upcall.c keys them: the whole key zeroed first, the maps compare bytes. */
static __always_inline void nb_up_key_of(const struct nb_pkt *p, struct nb_up_pkey *k)
{
	__builtin_memset(k, 0, sizeof(*k));
	__builtin_memcpy(k->f.saddr, p->saddr, NB_ADDR_LEN);
	__builtin_memcpy(k->f.daddr, p->daddr, NB_ADDR_LEN);
	k->f.family = p->family;
	k->f.proto = p->proto;
	if (p->proto == NB_IPPROTO_ICMP || p->proto == NB_IPPROTO_ICMPV6) {
		k->f.sport = p->icmp_id;
		k->f.icmp_type = p->icmp_type;
	} else {
		k->f.sport = p->sport;
		k->f.dport = p->dport;
	}
	k->ip_id = p->ip_id;
	k->tcp_seq = p->tcp_seq;
	k->l4_len = p->l4_len;
	k->icmp_seq = p->icmp_seq;
	k->frag_off = p->frag_off;
}

static __always_inline bool nb_up_words_eq(const void *a, const void *b, const int n8)
{
	const __u64 *x = a, *y = b;
	__u64 d = 0;

#pragma unroll
	for (int i = 0; i < n8; i++)
		d |= x[i] ^ y[i];
	return !d;
}

/* The flow's part of a sample's slot: computed when a CPU's cache of the flow is. */
static __always_inline __u32 nb_up_fhash(const struct nb_up_fkey *f)
{
	const __u32 *w = (const __u32 *)f;
	__u32 h = 0;

#pragma unroll
	for (int i = 0; i < (int)(sizeof(*f) / 4); i++)
		h = (h ^ w[i]) * 0x9e3779b1u;
	return h;
}

/* A packet's slot: its flow's hash mixed with what tells the flow's packets apart. */
static __always_inline __u32 nb_up_slot(__u32 fhash, const struct nb_up_pkey *k)
{
	__u32 h = fhash ^ k->ip_id ^ k->tcp_seq ^ (k->l4_len << 16) ^ k->icmp_seq ^
		  ((__u32)k->frag_off << 16);

	return (h * 0x9e3779b1u) >> 24; /* 8 bits: NB_UP_SAMP_SLOTS */
}

static __always_inline bool nb_up_recent(__u64 now, __u64 then, __u64 span)
{
	return then && (__s64)(now - then) < (__s64)span;
}

/* Is the cache young (looked up less than NB_UP_CACHE_TICKS ago)? */
static __always_inline bool nb_up_young(const struct nb_up_cache *ca, __u64 jiffies)
{
	return ca->jiffies && jiffies - ca->jiffies < NB_UP_CACHE_TICKS;
}

/* Is the cache of this flow, and young? */
static __always_inline bool nb_up_cached(const struct nb_up_cache *ca, const struct nb_up_fkey *f,
					 __u64 jiffies)
{
	return nb_up_young(ca, jiffies) && nb_up_words_eq(&ca->f, f, sizeof(*f) / 8);
}

/* A packet entering the switch by a traced port. */
static __always_inline int nb_up_rx(const struct nb_pkt *p, __u16 ethertype, __u32 ifindex,
				    __u32 netns, struct nb_up_counts *c, const struct nb_up_pkey *k)
{
	struct nb_up_flow *f, nf = {};
	struct nb_up_pend np = {};
	struct nb_up_cache *ca;
	struct nb_up_samp *sa;
	__u64 jiffies = bpf_jiffies64(), now;
	__u32 zero = 0, slot;

	ca = bpf_map_lookup_elem(&nb_up_cache, &zero);
	if (!ca)
		return 0;
	if (nb_up_cached(ca, &k->f, jiffies)) {
		c->fast_in++;
		return 0;
	}
	now = bpf_ktime_get_ns();
	ca->f = k->f;
	ca->jiffies = jiffies;
	f = bpf_map_lookup_elem(&nb_up_flows, &k->f);
	if (f && nb_up_recent(now, f->last_ns, nb_up_idle_ns)) {
		c->fast_in++;
		if (now - f->last_ns >= NB_UP_TOUCH_NS)
			f->last_ns = now;
		if (f->rx_ifindex != ifindex)
			f->rx_ifindex = ifindex;
		if (nb_up_recent(now, c->last_sample_ns, nb_up_sample_ns))
			return 0;
		/* A slot still holding a packet in flight is left to it. */
		slot = nb_up_slot(nb_up_fhash(&k->f), k);
		sa = bpf_map_lookup_elem(&nb_up_samp, &slot);
		if (!sa || (sa->used && nb_up_recent(now, sa->rx_ns, nb_up_timeout_ns)))
			return 0;
		sa->used = 0;
		sa->k = *k;
		sa->rx_ns = now;
		sa->rx_ifindex = ifindex;
		__sync_fetch_and_add(&sa->used, 1); /* published after the rest (a full barrier) */
		nb_up_armed[slot & (NB_UP_SAMP_SLOTS - 1)] = 1;
		c->last_sample_ns = now;
		c->sampled++;
		return 0;
	}
	c->cand++;
	nf.last_ns = now;
	nf.cand_ns = now;
	nf.rx_ifindex = ifindex;
	if (bpf_map_update_elem(&nb_up_flows, &k->f, &nf, BPF_ANY))
		c->map_full++;
	np.rx_ns = now;
	np.rx_ifindex = ifindex;
	if (bpf_map_update_elem(&nb_up_pend, k, &np, BPF_ANY))
		c->map_full++;
	return nb_stage_event(p, ethertype, ifindex, netns, NB_HOOK_RX);
}

/* A packet leaving the switch by a traced port. */
static __always_inline int nb_up_tx(const struct nb_pkt *p, __u16 ethertype, __u32 ifindex,
				    __u32 netns, struct nb_up_counts *c, const struct nb_up_pkey *k)
{
	struct nb_up_flow *f = NULL;
	struct nb_up_pend *pe;
	struct nb_up_cache *ca;
	struct nb_up_samp *sa;
	__u64 jiffies = bpf_jiffies64(), now = 0, rx_ns, until;
	__u32 one = 1, slot;

	ca = bpf_map_lookup_elem(&nb_up_cache, &one);
	if (!ca)
		return 0;
	if (!nb_up_cached(ca, &k->f, jiffies)) {
		f = bpf_map_lookup_elem(&nb_up_flows, &k->f);
		ca->f = k->f;
		/* Only a known flow is kept: one that enters a moment later must be seen. */
		ca->jiffies = f ? jiffies : 0;
		ca->rx_ifindex = f ? f->rx_ifindex : 0;
		ca->fhash = nb_up_fhash(&k->f);
		until = 0;
		if (f && f->cand_ns) {
			until = f->cand_ns + nb_up_timeout_ns;
			if (f->cand_out_ns && f->cand_out_ns + NB_UP_COPY_NS < until)
				until = f->cand_out_ns + NB_UP_COPY_NS;
		}
		ca->look_until = until;
	}
	if (!ca->rx_ifindex || ca->rx_ifindex == ifindex) {
		c->out_unknown++;
		return 0;
	}
	/*
	 * The clock only while a candidate's copies are looked for: once past, the cache says so
	 * (time only goes on), and the flow's packets stop paying the clock, a call of tens of ns
	 * in a VM, until the record is looked up again.
	 */
	if (ca->look_until) {
		now = bpf_ktime_get_ns();
		if ((__s64)(ca->look_until - now) <= 0)
			ca->look_until = 0;
	}
	if (ca->look_until) {
		pe = bpf_map_lookup_elem(&nb_up_pend, k);
		if (pe && pe->rx_ifindex != ifindex) {
			/* A first copy finds the cache stale, so f is the record here. */
			if (f && !f->cand_out_ns)
				f->cand_out_ns = now;
			return nb_stage_event(p, ethertype, ifindex, netns, NB_HOOK_TX);
		}
	}
	c->fast_out++;
	slot = nb_up_slot(ca->fhash, k) & (NB_UP_SAMP_SLOTS - 1);
	if (!nb_up_armed[slot])
		return 0;
	sa = bpf_map_lookup_elem(&nb_up_samp, &slot);
	if (!sa || !sa->used || sa->rx_ifindex == ifindex ||
	    !nb_up_words_eq(&sa->k, k, sizeof(*k) / 8))
		return 0;
	rx_ns = sa->rx_ns;
	if (!now)
		now = bpf_ktime_get_ns();
	/*
	 * The first copy out takes it, once. The byte is cleared first: the entry cannot arm the
	 * slot again before the take below frees it.
	 */
	nb_up_armed[slot] = 0;
	if (__sync_val_compare_and_swap(&sa->used, 1, 0) == 1) {
		c->sample_out++;
		c->fast_lat[nb_mon_slot((now - rx_ns) / 1000) & (NB_MON_SLOTS - 1)]++;
	}
	return 0;
}

static __always_inline int nb_up_stage(const struct nb_pkt *p, __u16 ethertype, __u32 ifindex,
				       __u32 netns, __u8 hook)
{
	struct nb_up_counts *c;
	struct nb_up_pkey k;
	__u32 zero = 0;

	/* Not IP (ARP): no flow, and never an event, as user space ignores it anyway. */
	if (!p->family)
		return 0;
	c = bpf_map_lookup_elem(&nb_up_cnt, &zero);
	if (!c)
		return 0;
	nb_up_key_of(p, &k);
	if (hook == NB_HOOK_RX)
		return nb_up_rx(p, ethertype, ifindex, netns, c, &k);
	return nb_up_tx(p, ethertype, ifindex, netns, c, &k);
}

/*
 * The flood's common case without the parse: an untagged, unfragmented IPv4 TCP or UDP frame
 * without IP options (in the skb's linear data) of the flow this CPU's cache holds, the cache
 * young. Entering, that is all nb_up_rx does for it: count it. Leaving, nb_up_tx counts it and
 * looks at its sample slot, computed here from the same header fields as nb_up_key_of's key;
 * an armed slot, a candidate's copies being looked for, anything else: 0, and the packet takes
 * the full path (parse, filter, key), which gives it the same counts. The parse and the key
 * were half of the tool's time per packet, and the throughput a flood lost to it.
 */
static __always_inline bool nb_up_fast(const unsigned char *d, const unsigned char *end,
				       __u32 ifindex, int dir)
{
	__u32 zero = 0, ci = dir, ip_id, seq = 0, l4 = 0, tot, hdr = 8, slot;
	struct nb_up_counts *c;
	struct nb_up_cache *ca;
	struct nb_up_pkey k;
	__u8 proto;

	if (d + 54 > end)
		return false;
	proto = d[23];
	if (*(__u16 *)(d + 12) != bpf_htons(NB_ETH_P_IP) || d[14] != 0x45 ||
	    (*(__u16 *)(d + 20) & bpf_htons(0x3fff)) ||
	    (proto != NB_IPPROTO_TCP && proto != NB_IPPROTO_UDP))
		return false;
	ca = bpf_map_lookup_elem(&nb_up_cache, &ci);
	if (!ca || !nb_up_young(ca, bpf_jiffies64()) || ca->f.family != 4 || ca->f.proto != proto ||
	    *(__u32 *)ca->f.saddr != *(__u32 *)(d + 26) ||
	    *(__u32 *)ca->f.daddr != *(__u32 *)(d + 30) ||
	    ca->f.sport != bpf_ntohs(*(__u16 *)(d + 34)) ||
	    ca->f.dport != bpf_ntohs(*(__u16 *)(d + 36)))
		return false;
	c = bpf_map_lookup_elem(&nb_up_cnt, &zero);
	if (!c)
		return false;
	if (!dir) {
		c->fast_in++;
		return true;
	}
	if (!ca->rx_ifindex || ca->rx_ifindex == ifindex) {
		c->out_unknown++;
		return true;
	}
	if (ca->look_until)
		return false;
	/* The key's per-packet fields as nb_parse_l3/nb_parse_l4 set them. */
	ip_id = bpf_ntohs(*(__u16 *)(d + 18));
	tot = bpf_ntohs(*(__u16 *)(d + 16));
	if (proto == NB_IPPROTO_TCP) {
		seq = bpf_ntohl(*(__u32 *)(d + 38));
		hdr = (d[46] >> 4) * 4;
	}
	if (tot > 20 && tot - 20 > hdr)
		l4 = tot - 20 - hdr;
	k.ip_id = ip_id;
	k.tcp_seq = seq;
	k.l4_len = l4;
	k.icmp_seq = 0;
	k.frag_off = 0;
	slot = nb_up_slot(ca->fhash, &k) & (NB_UP_SAMP_SLOTS - 1);
	if (nb_up_armed[slot])
		return false;
	c->fast_out++;
	return true;
}
#endif

/* Out of line for the same reason as nb_parse_l4: most packets never get this far. */
static __noinline int nb_stage_submit(const struct nb_pkt *p, __u16 ethertype, __u32 ifindex,
				      __u32 netns, __u8 hook)
{
#ifdef NB_STAGE_LAT
	/*
	 * Counted per CPU: the shared counter's atomic add, on a cache line every CPU writes,
	 * would be paid at every stage of every packet.
	 */
	if (nb_hist) {
		__u32 zero = 0;
		__u64 *n = bpf_map_lookup_elem(&nb_lat_matched, &zero);

		if (n)
			*n += 1;
		return nb_lat_count(p, (__u32)hook - NB_HOOK_LAT0);
	}
#else
	if (nb_up)
		return nb_up_stage(p, ethertype, ifindex, netns, hook);
#endif
	return nb_stage_event(p, ethertype, ifindex, netns, hook);
}

/* A packet at a device stage, already known to be on a traced device of the namespace. */
static __always_inline int nb_stage_emit(const struct nb_rd *rd, unsigned char *data,
					 __u16 proto, bool eth, __u32 ifindex, __u32 netns,
					 __u8 hook)
{
	const volatile struct nb_filter *f = &nb_cfg;
	struct nb_pkt p; /* the parser zeroes it once the packet is past the cheap rejections */
	__u16 ethertype = 0;
	int rc;

	rc = nb_parse_frame(rd, data, proto, eth, &ethertype, &p, f);
	if (rc < 0) {
		__sync_fetch_and_add(&nb_parse_err, 1);
		return 0;
	}
	if (rc == 2)
		return 0;
	if (rc == 1)
		__builtin_memset(&p, 0, sizeof(p));
	if (!nb_pkt_match(f, &p))
		return 0;
	return nb_stage_submit(&p, ethertype, ifindex, netns, hook);
}

#define NB_TCX_NEXT -1 /* let the next tcx program and the legacy tc chain run */

/* A tcx link's packet: dir 0 ingress, 1 egress. */
static __always_inline int nb_tcx_stage(struct __sk_buff *ctx, int dir)
{
	const volatile struct nb_filter *f = &nb_cfg;
	struct nb_rd rd = {
		.ctx = ctx,
		.data = (unsigned char *)(long)ctx->data,
		.end = (unsigned char *)(long)ctx->data_end,
	};
	__u32 ifindex = ctx->ifindex;
	__u8 hook = dir ? NB_HOOK_TX : NB_HOOK_RX;
	bool eth = true;

	if (nb_noop)
		return NB_TCX_NEXT;
#ifdef NB_STAGE_LAT
	hook = 0;
#endif
	/* Read-only data: with no such device the verifier drops this loop altogether. */
	if (nb_l3_mask || !hook) {
#pragma unroll
		for (int i = 0; i < NB_MAX_IFS; i++)
			if (f->ifindex[i] == ifindex) {
				if (nb_l3_mask & (1u << i))
					eth = false;
				hook = NB_DEV_HOOK(dir, i, hook);
			}
	}
	if (!hook)
		return NB_TCX_NEXT;
#ifndef NB_STAGE_LAT
	if (nb_up && eth && nb_up_fast(rd.data, rd.end, ifindex, dir))
		return NB_TCX_NEXT;
#endif
	/* The link sits on a device of the filter's namespace: no check, its inode is known. */
	nb_stage_emit(&rd, rd.data, bpf_ntohs(ctx->protocol), eth, ifindex, f->netns, hook);
	return NB_TCX_NEXT;
}

#ifdef __VMLINUX_H__
/*
 * A device tracepoint's packet: every packet of every namespace runs this, so the checks that
 * reject most of them come first and are plain BTF loads, not helper calls.
 */
static __always_inline int nb_tp_stage(struct sk_buff *skb, struct net_device *dev, int dir,
				       bool at_l2)
{
	const volatile struct nb_filter *f = &nb_cfg;
	__u8 hook = dir ? NB_HOOK_TX : NB_HOOK_RX;
	__u32 ifindex, netns;

	if (!skb || !dev)
		return 0;
	ifindex = dev->ifindex;
#ifdef NB_STAGE_LAT
	hook = 0;
#pragma unroll
	for (int i = 0; i < NB_MAX_IFS; i++)
		if (f->ifindex[i] == ifindex)
			hook = nb_dev_hook[dir][i];
	if (!hook)
		return 0;
#else
	if (!nb_ifindex_ok(f, ifindex))
		return 0;
#endif
	netns = dev->nd_net.net->ns.inum;
	if (f->netns && f->netns != netns)
		return 0;
	return nb_stage_emit(&NB_RD_PROBE, skb->data, bpf_ntohs(skb->protocol),
			     at_l2 && dev->type == NB_ARPHRD_ETHER, ifindex, netns, hook);
}
#endif

#endif /* NB_STAGE_BPF_H */
