#!/bin/bash
# ovs_upcall_latency_summary against a real Open vSwitch: Debian's ovsdb-server and ovs-vswitchd
# with the userspace datapath (datapath_type=netdev, no kernel module), started here inside a
# namespace of this test as one hypervisor, between two VM namespaces:
#   nbova eth0 198.18.1.1 - p1 [nbovs: OVS br0] p2 - eth0 198.18.1.2 nbovb
# OpenFlow: one exact rule per UDP destination port 10001..10020 (NORMAL), so each is its own
# datapath flow, and port 9 dropped. Faults and expectations:
#   20 new flows, 2 datagrams each (the second after the first went through)
#       -> 20 upcalls, all completed, a histogram of 20; 20 fast-path packets; OVS's own
#          counters: 20 more misses (upcalls) and 20 more hits
#   1 datagram to the dropped port -> 1 more upcall, lost (its packet never leaves)
#   a burst of 2000 on one new flow -> 1 upcall, the rest fast path as OVS counts it, every
#                                      sampled packet found leaving
# and bad input (no OVS to ask, one port), nothing left attached. The kernel sends up only the
# flows' first packets and their copies out, and counts the rest (the fast path): the counts
# must still equal OVS's own.
set -u
. "$(dirname "$0")/lib.sh"
need_root

. "$(dirname "$0")/ovs.sh"
OUT=$(mktemp -d /tmp/nb-ovs.XXXXXX)
on_exit "rm -rf $OUT"
A=$OVS_A
B=$OVS_B
N=20

ovs_up "$OUT/ovs"
# No ICMP errors: the only packets through the switch are the test's datagrams.
ip netns exec nbovb nft -f - <<'EOF' || fail "nft in nbovb"
table inet nbovst {
	chain in {
		type filter hook input priority 0; policy accept;
		udp dport 1-65535 drop
	}
}
EOF
ovs_ofctl add-flow br0 "priority=100,udp,tp_dst=9,actions=drop"
for ((i = 1; i <= N; i++)); do
	ovs_ofctl add-flow br0 "priority=50,udp,tp_dst=$((10000 + i)),actions=NORMAL"
done

# udp_to PORT IP-ID: one datagram from nbova, source port 40000, with that IP ID.
udp_to() {
	ip netns exec nbova "$REPO/build/tests/tools/nb_traffic" udp-ids --dst $B --port "$1" --ip-id "$2" --sport 40000 \
		>/dev/null || fail "nb_traffic to port $1"
}

cd "$REPO"
T="$AGENT ovs_upcall_latency_summary"
miss0=$(ovs_dp missed)
hit0=$(ovs_dp hit)
# The ports come from ovs-vsctl (OVS_RUNDIR says where its database is).
$T --netns nbovs --protocol udp --interval 1 --duration 6 --json >"$OUT/up.json" 2>"$OUT/up.err" &
PID_up=$!
on_exit "kill $PID_up 2>/dev/null"
wait_for 5 grep -q '"type":"start"' "$OUT/up.json" || fail "did not attach: $(cat "$OUT/up.err")"
assert_eq "p1,p2" "$(jq -r 'select(.type=="start") | .ports' "$OUT/up.json" | tr ',' '\n' | sort | paste -sd,)" \
	"the OVS ports found"
# The userspace datapath never upcalls through the kernel module: the ports measure, and the
# start says why the kernel datapath's hooks were not used (here: no module, or netdev bridges).
assert_eq ports "$(jq -r 'select(.type=="start") | .method' "$OUT/up.json")" "method"
jq -r 'select(.type=="start") | .method_why' "$OUT/up.json" | grep -q '^kernel datapath hooks not used: ' ||
	fail "no reason for the method: $(grep '"start"' "$OUT/up.json")"
for ((i = 1; i <= N; i++)); do
	udp_to $((10000 + i)) $((100 + i))
	sleep 0.05
	udp_to $((10000 + i)) $((200 + i))
done
udp_to 9 300
finish_bg up
[ -s "$OUT/up.err" ] && fail "stderr: $(cat "$OUT/up.err")"
miss=$(($(ovs_dp missed) - miss0))
hit=$(($(ovs_dp hit) - hit0))
s() { jq -r "select(.type==\"summary\") | $1" "$OUT/up.json"; }
assert_eq $((N + 1)) "$miss" "OVS: datapath misses (upcalls)"
assert_eq $N "$hit" "OVS: datapath hits"
assert_eq "$miss" "$(s .upcalls)" "upcalls = OVS's misses"
assert_eq $N "$(s .completed)" "upcalls completed"
assert_eq 1 "$(s .lost)" "upcalls lost (the dropped port)"
assert_eq $N "$(s '[.upcall_us[].count] | add')" "upcall histogram total"
assert_eq "$hit" "$(s .fast_path)" "fast-path packets = OVS's hits"
assert_eq 0 "$(s .fast_path_lost)" "fast-path packets lost"
# One fast-path packet per ms and CPU is followed for its latency: at this rate, every one.
assert_eq $N "$(s .fast_path_sampled)" "fast-path packets sampled for latency"
assert_eq $N "$(s '[.fast_path_us[].count] | add')" "fast-path histogram total"
assert_eq 0 "$(s .kernel_map_full)" "kernel records refused"
assert_eq 0 "$(s .lost_events)" "lost events"
assert_eq 0 "$(s .in_flight)" "packets still in flight"
assert_eq $((N + 1)) "$(jq -s '[.[] | select(.type=="interval") | .upcalls] | add' "$OUT/up.json")" \
	"intervals add up to the total"
assert_eq 1 "$(s '.top_flows[0].upcalls')" "the busiest flow's upcalls"
assert_eq 10 "$(s '.top_flows | length')" "top flows listed (--top default)"

# The documented text format, with the ports named.
$T --netns nbovs --interface p1,p2 --interval 60 --duration 3 >"$OUT/up.txt" 2>&1 &
tpid=$!
on_exit "kill $tpid 2>/dev/null"
wait_for 5 grep -q '^OVS upcall latency on ports p1,p2 (first packet of a flow in -> out, [a-z]* hooks; kernel datapath hooks not used: ' \
	"$OUT/up.txt" || fail "text: no header: $(cat "$OUT/up.txt")"
ovs_ofctl add-flow br0 "priority=50,udp,tp_dst=10999,actions=NORMAL"
udp_to 10999 401 # a new flow: an upcall
sleep 0.05
udp_to 10999 402 # then the fast path
wait "$tpid" || fail "text run exit code"
grep -q '^Upcalls: 1  completed 1  lost or timed out 0  completion 100.0%' "$OUT/up.txt" ||
	fail "text: upcall line: $(cat "$OUT/up.txt")"
grep -q '^Fast path (later packets): 1, lost 0$' "$OUT/up.txt" || fail "text: fast path line"
grep -q '^Fast path latency, 1 of them' "$OUT/up.txt" || fail "text: fast path sample line"
grep -Eq '^ +1  UDP 198\.18\.1\.1:40000 -> 198\.18\.1\.2:10999$' "$OUT/up.txt" || fail "text: top flow: $(cat "$OUT/up.txt")"

# A burst on one new flow (2000 datagrams in a tenth of a second): after its first packet the
# kernel takes the flow's packets by their headers alone (a CPU's cache of the flow, no parse);
# the counts still equal OVS's own, and every sampled packet is found leaving.
ovs_ofctl add-flow br0 "priority=50,udp,tp_dst=10998,actions=NORMAL"
miss0=$(ovs_dp missed)
hit0=$(ovs_dp hit)
$T --netns nbovs --interface p1,p2 --protocol udp --interval 60 --duration 3 --json >"$OUT/burst.json" 2>"$OUT/burst.err" &
PID_burst=$!
on_exit "kill $PID_burst 2>/dev/null"
wait_for 5 grep -q '"type":"start"' "$OUT/burst.json" || fail "burst: did not attach: $(cat "$OUT/burst.err")"
ip netns exec nbova "$REPO/build/tests/tools/nb_traffic" udp-send --dst $B --port 10998 --size 64 \
	--count 2000 --rate 20000 >/dev/null || fail "burst: nb_traffic"
finish_bg burst
miss=$(($(ovs_dp missed) - miss0))
hit=$(($(ovs_dp hit) - hit0))
b() { jq -r "select(.type==\"summary\") | $1" "$OUT/burst.json"; }
assert_eq 1 "$miss" "burst: OVS's misses"
assert_eq "$miss" "$(b .upcalls)" "burst: upcalls = OVS's misses"
assert_eq "$hit" "$(b .fast_path)" "burst: fast-path packets = OVS's hits"
[ "$hit" -ge 1000 ] || fail "burst: only $hit datagrams took OVS's fast path"
assert_eq 0 "$(b .fast_path_lost)" "burst: fast-path packets lost (in, never out)"
assert_eq "$(b .fast_path_sampled)" "$(b '[.fast_path_us[].count] | add')" "burst: histogram total = samples"
# Every packet followed from its entry is found leaving, whichever path its exit takes.
assert_eq "$(b .fast_path_followed)" "$(b .fast_path_sampled)" "burst: followed packets seen leaving"
# A CPU samples when it looks its flow up again, every 2 scheduler ticks (8 ms at most).
[ "$(b .fast_path_sampled)" -ge 5 ] || fail "burst: $(b .fast_path_sampled) fast-path samples in 100 ms"

# --- Bad input: one line on stderr and the exit code.
bad() { # EXPECTED-RC PATTERN ARGS...
	local want=$1 pat=$2 rc
	shift 2
	"$@" >"$OUT/bad.out" 2>"$OUT/bad.err"
	rc=$?
	assert_eq "$want" "$rc" "exit code of: $*"
	assert_eq 1 "$(wc -l <"$OUT/bad.err")" "one stderr line for: $*"
	grep -q -- "$pat" "$OUT/bad.err" || fail "expected '$pat' in: $(cat "$OUT/bad.err")"
}
bad 1 "no Open vSwitch to ask for its ports" env OVS_RUNDIR=$OUT/none $T --netns nbovs
bad 2 "watch at least two" $T --netns nbovs --interface p1
bad 2 "unknown interface 'nope0'" $T --netns nbovs --interface p1,nope0
bad 2 "need --protocol tcp or udp" $T --protocol icmp --dst-port 53
no_progs "after the runs"
echo "all ovs_upcall_latency_summary cases passed"
