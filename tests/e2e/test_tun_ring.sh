#!/bin/bash
# tun_ring_monitor on the lab's tap VM (vnet0 in hvB, read by nb_vm):
#   fast reader, 20 echo requests          -> 20 enqueued and dequeued, 0 FULL, 0 FULL_RING,
#                                             a sojourn histogram of exactly 20 packets (at
#                                             this rate the sampling takes every packet)
#   slow reader (ring of 16), 100-ping burst -> FULL events = FULL_RING drops = the tap's TX
#                                             dropped counter = the echoes the VM never answered,
#                                             a TUN RING FULL block naming an echo request,
#                                             high-water mark 16; every other packet dequeued;
#                                             sojourn samples (one packet in the ring at a
#                                             time) among them, of 100 ms reads
# The enqueue runs on a tcx egress link of the tap (one queue), or on net_dev_start_xmit where
# the kernel refuses the tcx link (the slow JSON run, NB_TEST_HIDE_HOOKS=tcx), the tcx program
# (no kfunc, hidden) or the tap is multi-queue: the
# slow burst's counts are asserted on both at once (the JSON run and the text run).
# Without the reader's code in kallsyms (hidden) the dequeue count and samples stay exact.
# And bad input (unknown device, a device that is not a tap, flags), nothing left attached;
# vhost_queue_correlation_simple's device checks and its one line on a kernel without vhost.
set -u
. "$(dirname "$0")/lib.sh"
need_root

VMA=198.18.0.1
VMB=198.18.0.2
OUT=$(mktemp -d /tmp/nb-tun.XXXXXX)
on_exit "rm -rf $OUT"
T="$AGENT tun_ring_monitor"

# tool NAME ARGS...: tun_ring_monitor in JSON mode in the background, wait until attached.
tool() {
	local name=$1
	shift
	$T "$@" --json >"$OUT/$name.json" 2>"$OUT/$name.err" &
	eval "PID_$name=$!"
	on_exit "kill $! 2>/dev/null"
	wait_for 5 grep -q '"type":"start"' "$OUT/$name.json" || fail "$name: did not attach: $(cat "$OUT/$name.err")"
}

summary() { jq -r "select(.type==\"summary\") | $2" "$OUT/$1.json"; }
tx_dropped() { ip -n nbhvB -s -j link show vnet0 | jq '.[0].stats64.tx.dropped'; }

cd "$REPO"
lab_up --vmb tap

# --- A fast reader: nothing waits long, nothing is lost. --device/-d is --interface.
tool fast -d vnet0 --netns nbhvB --protocol icmp --src-ip $VMA --dst-ip $VMB --all \
	--interval 1 --duration 4
tests/lab ping -c 20 -i 0.05 -W 1 >"$OUT/fast.ping" 2>&1 || fail "fast: ping: $(cat "$OUT/fast.ping")"
finish_bg fast
[ -s "$OUT/fast.err" ] && fail "fast: stderr: $(cat "$OUT/fast.err")"
assert_eq tcx/egress "$(jq -r 'select(.type=="start") | .enqueue_hook' "$OUT/fast.json")" \
	"fast: the enqueue on the tap's tcx link (one queue)"
assert_eq 20 "$(summary fast .matched)" "fast: echo requests enqueued (matched)"
assert_eq 20 "$(summary fast .enqueue_lines)" "fast: --all lines"
assert_eq 20 "$(jq -s '[.[] | select(.type=="enqueue" and .proto=="ICMP" and .icmp_type==8)] | length' "$OUT/fast.json")" \
	"fast: enqueue records of echo requests"
assert_eq "$(summary fast .enqueued)" "$(summary fast .dequeued)" "fast: every packet dequeued"
assert_eq 0 "$(summary fast .full_events)" "fast: FULL events"
assert_eq 0 "$(summary fast .drops_full_ring)" "fast: FULL_RING drops"
assert_eq 0 "$(summary fast .samples_given_up)" "fast: sojourn samples given up"
assert_eq 20 "$(summary fast '[.sojourn_us[].count] | add')" "fast: sojourn samples"
assert_eq 20 "$(summary fast .sojourn_samples)" "fast: sojourn samples reported"
assert_eq 0 "$(summary fast .lost_events)" "fast: lost events"
assert_eq 0 "$(jq -s '[.[] | select(.type=="full")] | length' "$OUT/fast.json")" "fast: FULL blocks"
# Every interval names queue 0 of the tap with its real ring size (the txqueuelen).
qlen=$(ip -n nbhvB -o link show vnet0 | grep -o 'qlen [0-9]*' | cut -d' ' -f2)
assert_eq "$qlen" "$(jq -s '[.[] | select(.type=="interval") | .queues[0].size] | unique | .[0]' "$OUT/fast.json")" \
	"fast: ring size = txqueuelen"
assert_eq 20 "$(jq -s '[.[] | select(.type=="interval") | .queues[0].matched] | add' "$OUT/fast.json")" \
	"fast: intervals add up to the total"

# --- A slow reader behind a 16-slot ring: a burst overflows it. Every echo request the VM did
# not answer found the ring full and was dropped FULL_RING, and the tap counted it.
tests/lab vm-ring-slow on
on_exit "tests/lab vm-ring-slow off >/dev/null 2>&1"
before=$(tx_dropped)
NB_TEST_HIDE_HOOKS=tcx tool slow --interface vnet0 --netns nbhvB --interval 1 --duration 7
# The same run in the documented text format.
$T --interface vnet0 --netns nbhvB --interval 2 --duration 7 >"$OUT/slow.txt" 2>&1 &
tpid=$!
on_exit "kill $tpid 2>/dev/null"
wait_for 5 grep -q '^Tun ring monitor on vnet0' "$OUT/slow.txt" || fail "text: no header: $(cat "$OUT/slow.txt")"
# -W 3: the last of 16 answers comes 1.6 s after the burst, and must still count as received.
tests/lab ping -c 100 -i 0.002 -W 3 >"$OUT/slow.ping" 2>&1 || true
finish_bg slow
wait "$tpid" || fail "text run exit code"
after=$(tx_dropped)
tests/lab vm-ring-slow off
received=$(grep -o '[0-9]* received' "$OUT/slow.ping" | cut -d' ' -f1)
lost=$((100 - received))
[ "$lost" -gt 0 ] || fail "slow: the burst lost nothing: $(cat "$OUT/slow.ping")"
assert_eq tp_btf/net_dev_start_xmit "$(jq -r 'select(.type=="start") | .enqueue_hook' "$OUT/slow.json")" \
	"slow: the enqueue on the tracepoint (tcx hidden)"
assert_eq $lost "$(summary slow .drops_full_ring)" "slow: FULL_RING drops = echoes not answered"
assert_eq $lost "$(summary slow .full_events)" "slow: FULL events = echoes not answered"
assert_eq $lost $((after - before)) "slow: the tap's TX dropped counter"
assert_eq 0 "$(summary slow .drops_other)" "slow: other drops"
assert_eq "$(summary slow .enqueued)" "$(($(summary slow .dequeued) + lost))" \
	"slow: enqueued = dequeued + dropped (the reader drained the ring)"
# One sampled packet in the ring at a time: at least the first of the burst, at most all.
samples=$(summary slow '[.sojourn_us[].count] | add')
[ "$samples" -ge 1 ] && [ "$samples" -le "$(summary slow .dequeued)" ] ||
	fail "slow: $samples sojourn samples for $(summary slow .dequeued) dequeues"
assert_eq "$samples" "$(summary slow .sojourn_samples)" "slow: sojourn samples reported"
assert_eq 0 "$(summary slow .samples_given_up)" "slow: sojourn samples given up"
assert_eq 0 "$(summary slow .lost_events)" "slow: lost events"
assert_eq 16 "$(jq -s '[.[] | select(.type=="interval") | .queues[0].hwm] | max' "$OUT/slow.json")" \
	"slow: high-water mark"
assert_eq 16 "$(jq -s '[.[] | select(.type=="interval") | .queues[0].size] | max' "$OUT/slow.json")" \
	"slow: ring size"
nfull=$(jq -s '[.[] | select(.type=="full")] | length' "$OUT/slow.json")
[ "$nfull" -ge 1 ] && [ "$nfull" -le "$lost" ] || fail "slow: $nfull FULL blocks for $lost drops"
assert_eq '{"proto":"ICMP","src":"198.18.0.1","dst":"198.18.0.2","icmp_type":8,"size":16,"occupancy":16}' \
	"$(jq -c 'select(.type=="full") | {proto, src, dst, icmp_type, size, occupancy}' "$OUT/slow.json" | head -n1)" \
	"slow: the packet that found the ring full"
# Slow reads: most waits are above 64 ms (slot 65536 us and up).
assert_eq 1 "$(summary slow '[.sojourn_us[] | select(.lo >= 65536) | .count] | add > 0 | if . then 1 else 0 end')" \
	"slow: sojourn of 100 ms reads"
grep -q '^=== TUN RING FULL ===$' "$OUT/slow.txt" || fail "text: no TUN RING FULL block: $(cat "$OUT/slow.txt")"
grep -A3 '^=== TUN RING FULL ===$' "$OUT/slow.txt" | grep -q '^Packet: ICMP 198.18.0.1 -> 198.18.0.2 (icmp type 8 id ' ||
	fail "text: the FULL block's packet: $(grep -A3 'TUN RING FULL' "$OUT/slow.txt" | head -n 4)"
grep -Eq '^  queue 0: size 16  occupancy [0-9]+  hwm 16 ' "$OUT/slow.txt" || fail "text: interval line: $(cat "$OUT/slow.txt")"
grep -q "^Total: .* drops FULL_RING $lost " "$OUT/slow.txt" || fail "text: total line: $(grep Total "$OUT/slow.txt")"
grep -q '^Lost events: 0$' "$OUT/slow.txt" || fail "text: lost events"

# --- A multi-queue tap: the queue is picked after tcx, so the enqueue is the tracepoint's.
ip -n nbhvB tuntap add dev nbmq0 mode tap multi_queue || fail "cannot make a multi-queue tap"
on_exit "ip -n nbhvB link del nbmq0 2>/dev/null"
$T --interface nbmq0 --netns nbhvB --duration 1 --json >"$OUT/mq.json" 2>"$OUT/mq.err" ||
	fail "multi-queue tap: $(cat "$OUT/mq.err")"
assert_eq tp_btf/net_dev_start_xmit "$(jq -r 'select(.type=="start") | .enqueue_hook' "$OUT/mq.json")" \
	"multi-queue tap: the enqueue on the tracepoint"
ip -n nbhvB link del nbmq0
# A kernel without the kfunc the tcx program needs (hidden here): loaded again without it.
NB_TEST_HIDE_HOOKS=bpf_cast_to_kern_ctx $T --interface vnet0 --netns nbhvB --duration 1 --json \
	>"$OUT/nokf.json" 2>"$OUT/nokf.err" || fail "no kfunc: $(cat "$OUT/nokf.err")"
assert_eq tp_btf/net_dev_start_xmit "$(jq -r 'select(.type=="start") | .enqueue_hook' "$OUT/nokf.json")" \
	"no kfunc: the enqueue on the tracepoint"
assert_eq "" "$(cat "$OUT/nokf.err")" "no kfunc: nothing on stderr"
# Without the reader's code in kallsyms (hidden) the dequeue runs for every free of the
# machine: the count stays exact, the samples too.
env NB_TEST_HIDE_HOOKS=tun_do_read $T --interface vnet0 --netns nbhvB --protocol icmp \
	--src-ip $VMA --dst-ip $VMB --duration 3 --json >"$OUT/noaddr.json" 2>"$OUT/noaddr.err" &
PID_noaddr=$!
on_exit "kill $PID_noaddr 2>/dev/null"
wait_for 5 grep -q '"type":"start"' "$OUT/noaddr.json" || fail "no reader code: did not attach: $(cat "$OUT/noaddr.err")"
tests/lab ping -c 10 -i 0.05 -W 1 >"$OUT/noaddr.ping" 2>&1 || fail "no reader code: ping: $(cat "$OUT/noaddr.ping")"
wait "$PID_noaddr" || fail "no reader code: exit: $(cat "$OUT/noaddr.err")"
assert_eq false "$(jq -r 'select(.type=="start") | .dequeue_by_address' "$OUT/noaddr.json")" \
	"no reader code: the dequeue by address is off"
grep -q 'runs for every free of the machine' "$OUT/noaddr.err" || fail "no reader code: the warning: $(cat "$OUT/noaddr.err")"
assert_eq 10 "$(summary noaddr .matched)" "no reader code: echo requests enqueued"
assert_eq "$(summary noaddr .enqueued)" "$(summary noaddr .dequeued)" "no reader code: every packet dequeued"
assert_eq 10 "$(summary noaddr .sojourn_samples)" "no reader code: sojourn samples"

# --- Bad input: one line on stderr, exit 2 (usage) or 1 (runtime), nothing left attached.
bad() { # EXPECTED-RC PATTERN ARGS...
	local want=$1 pat=$2 rc
	shift 2
	"$@" >"$OUT/bad.out" 2>"$OUT/bad.err"
	rc=$?
	assert_eq "$want" "$rc" "exit code of: $*"
	assert_eq 1 "$(wc -l <"$OUT/bad.err")" "one stderr line for: $*"
	grep -q -- "$pat" "$OUT/bad.err" || fail "expected '$pat' in: $(cat "$OUT/bad.err")"
}
bad 2 "unknown interface 'nope0'" $T --netns nbhvB --interface nope0
bad 2 "'br0' is not a tun/tap device (driver bridge)" $T --netns nbhvB --interface br0
bad 2 "'ens4f0' is not a tun/tap device (driver veth)" $T --netns nbhvB -d ens4f0
bad 2 "missing required option --interface (or --device)" $T --netns nbhvB
bad 2 "give one of them" $T --netns nbhvB --interface vnet0 --device vnet0
bad 2 "one tap at a time" $T --netns nbhvB --interface vnet0,br0
bad 2 "invalid --queue '300'" $T --netns nbhvB --interface vnet0 -q 300
bad 2 "need --protocol tcp or udp" $T --netns nbhvB --interface vnet0 --protocol icmp --dst-port 53
bad 1 "must run as root" setpriv --reuid=65534 --regid=65534 --clear-groups $T --interface vnet0
# vhost_queue_correlation_simple needs kprobes and the vhost_net module: this kernel has
# neither, and says so in one line (exit 1) after the device checks (exit 2).
V="$AGENT vhost_queue_correlation_simple"
bad 2 "'br0' is not a vnet/tap device (driver bridge)" $V --netns nbhvB --vm-interface br0
bad 2 "unknown interface 'nope0'" $V --netns nbhvB -d nope0
bad 2 "missing required option --vm-interface (or --device)" $V --netns nbhvB
if [ ! -e /sys/bus/event_source/devices/kprobe ] && [ ! -e /sys/kernel/btf/vhost_net ]; then
	bad 1 "kernel lacks what vhost_queue_correlation_simple needs: kprobes (CONFIG_KPROBES), the vhost_net module (no BTF for struct vhost_net: modprobe vhost_net)$" \
		$V --netns nbhvB --vm-interface vnet0
else
	echo "note: this kernel has kprobes or vhost_net: the missing-feature case is not run"
fi
no_progs "after the runs"
echo "all tun_ring_monitor cases passed"
