#!/bin/bash
# eth_drop and kernel_drop_stack_stats_summary_all in the lab. Each case injects one kind of drop
# and expects the exact reason, interface and flow of every drop reported:
#   nft drop of echo seq 2 in hvB's bridge          -> NETFILTER_DROP on vnet0 (the port it was
#                                                      being forwarded to), seq 2 only
#   7 echo requests dropped in hvB, summary tool      -> a count of exactly 7
#   TC program drop on hvB ens4f0 ingress, UDP 9001  -> TC_INGRESS on ens4f0, 3 datagrams
#   TC program drop on hvA ens4f0 egress, UDP 9002   -> TC_EGRESS on ens4f0, 2 datagrams
#   slow tap VM with a 16-slot ring, ping burst       -> FULL_RING on vnet0, one per lost echo
#   UDP to a closed port of the veth VM               -> NO_SOCKET on the VM's eth0, IPv4 and IPv6
#   nft drop of ARP requests in hvB's bridge          -> NETFILTER_DROP, PROTO ARP
# and bad input, and no nb_ program left behind.
set -u
. "$(dirname "$0")/lib.sh"
need_root

VMA=198.18.0.1
VMB=198.18.0.2
V6A=2001:2::1 # RFC 5180 benchmarking range, inside the lab's namespaces only
V6B=2001:2::2
OUT=$(mktemp -d /tmp/nb-drop.XXXXXX)
on_exit "rm -rf $OUT"

# tool NAME TOOL ARGS...: start a drop tool in JSON mode in the background, wait until attached.
tool() {
	local name=$1
	shift
	"$AGENT" "$@" --json >"$OUT/$name.json" 2>"$OUT/$name.err" &
	eval "PID_$name=$!"
	on_exit "kill $! 2>/dev/null"
	wait_for 5 grep -q '"type":"start"' "$OUT/$name.json" || fail "$name: did not attach: $(cat "$OUT/$name.err")"
}

# finish NAME: wait for the tool's --duration to end; it must exit 0 with a final record.
finish() {
	local name=$1
	finish_bg "$name"
	[ -s "$OUT/$name.err" ] && fail "$name: stderr: $(cat "$OUT/$name.err")"
	return 0
}

drops() { jq -c "select(.type==\"drop\") | $2" "$OUT/$1.json"; }
ndrops() { jq -s '[.[] | select(.type=="drop")] | length' "$OUT/$1.json"; }
summary() { jq -r "select(.type==\"summary\") | .$2" "$OUT/$1.json"; }

# expect_all NAME JQ-FILTER WHAT: every drop of NAME matches the filter (and there is one).
expect_all() {
	local name=$1 filt=$2 what=$3 bad
	[ "$(ndrops "$name")" -gt 0 ] || fail "$name: no drop reported"
	bad=$(jq -c "select(.type==\"drop\") | select(($filt) | not)" "$OUT/$name.json" | head -n 3)
	[ -z "$bad" ] || fail "$name: drops that are not $what: $bad"
	echo "ok: $name: all $(ndrops "$name") drops are $what"
}

# No drop may be lost or unseen: the tools count what they could not show.
no_losses() {
	assert_eq 0 "$(summary "$1" lost_events)" "$1: lost events"
	assert_eq 0 "$(summary "$1" missed)" "$1: runs missed"
	assert_eq "$(ndrops "$1")" "$(summary "$1" drops)" "$1: drops shown = drops matched"
}

# udp NODE ADDR PORT N: N datagrams from NODE to ADDR:PORT, through bash's /dev/udp.
udp() {
	local node=$1 addr=$2 port=$3 n=$4 i
	for ((i = 0; i < n; i++)); do
		tests/lab exec "$node" bash -c "echo drop-test-$i >/dev/udp/$addr/$port" ||
			fail "cannot send UDP from $node to $addr:$port"
		sleep 0.05
	done
}

# tc_drop NODE DEV ingress|egress PORT: a TC program that returns SHOT for IPv4 UDP to PORT.
# This kernel has no gact ("action drop"), so the program is classic BPF run by cls_bpf in
# direct-action mode: Ethernet type at 12, IP protocol at 23, UDP dport at 36 (no IP options).
tc_drop() {
	local node=$1 dev=$2 dir=$3 port=$4 ns
	ns=nb$node
	ip netns exec "$ns" tc qdisc add dev "$dev" clsact || fail "tc qdisc on $node $dev"
	on_exit "ip netns exec $ns tc qdisc del dev $dev clsact 2>/dev/null"
	ip netns exec "$ns" tc filter add dev "$dev" "$dir" prio 1 bpf da bytecode \
		"8,40 0 0 12,21 0 5 2048,48 0 0 23,21 0 3 17,40 0 0 36,21 0 1 $port,6 0 0 2,6 0 0 4294967295" ||
		fail "tc filter on $node $dev $dir"
}

cd "$REPO"
lab_up --vmb tap

# --- NETFILTER_DROP: the request with seq 2 dies in hvB's bridge forward chain. The skb is
# already headed for the VM port when the hook runs (__br_forward), so its device is vnet0.
tests/lab drop --at hvB --dir req --seq 2
tool nft eth_drop --netns nbhvB --src-ip $VMA --dst-ip $VMB --protocol icmp --duration 3
tests/lab ping -c 3 -i 0.2 -W 1 >/dev/null || true
finish nft
tests/lab clear
assert_eq 1 "$(ndrops nft)" "nft: drops"
assert_eq '{"reason":"NETFILTER_DROP","interface":"vnet0","proto":"ICMP","src":"198.18.0.1","dst":"198.18.0.2","icmp_type":8,"icmp_seq":2}' \
	"$(drops nft '{reason, interface, proto, src, dst, icmp_type, icmp_seq}')" "nft: the drop"
assert_eq nft_do_chain "$(jq -r 'select(.type=="drop") | .location' "$OUT/nft.json")" "nft: location"
drops nft '.stack[]' | grep -q '"__br_forward+0x' || fail "nft: __br_forward not in the stack"
drops nft '.stack[0]' | grep -q 'bpf\|traceiter' && fail "nft: tracing glue left in the stack"
no_losses nft

# --- The summary tool counts exactly what was injected: 7 echo requests, all dropped in hvB.
tests/lab drop --at hvB --dir req --percent 100
tool sum kernel_drop_stack_stats_summary_all --netns nbhvB --src-ip $VMA --dst-ip $VMB \
	--protocol icmp --interval 1 --duration 4
tool sum_text_probe eth_drop --netns nbhvB --src-ip $VMA --dst-ip $VMB --protocol icmp --duration 4
tests/lab ping -c 7 -i 0.1 -W 1 >/dev/null || true
finish sum
finish sum_text_probe
tests/lab clear
total=$(jq -s '[.[] | select(.type=="interval") | .stacks[] | select(.reason=="NETFILTER_DROP" and .interface=="vnet0") | .count] | add' "$OUT/sum.json")
assert_eq 7 "$total" "summary: NETFILTER_DROP count on vnet0 over all intervals"
assert_eq 7 "$(jq -s '[.[] | select(.type=="interval") | .total] | add' "$OUT/sum.json")" \
	"summary: all drops counted"
# One stack for one drop site, even while eth_drop shares the tracepoint (the 7 drops may
# fall into two intervals: one entry in each, with the same stack).
assert_eq 1 "$(jq -s '[.[] | select(.type=="interval") | .stacks[] | .stack] | unique | length' \
	"$OUT/sum.json")" "summary: distinct stacks"
assert_eq 1 "$(jq -s '[.[] | select(.type=="interval") | .stacks | length] | max' "$OUT/sum.json")" \
	"summary: entries in an interval"
assert_eq 0 "$(jq -s '[.[] | select(.type=="interval") | .no_stack + .uncounted + .missed] | add' "$OUT/sum.json")" \
	"summary: drops not counted"
assert_eq 7 "$(ndrops sum_text_probe)" "eth_drop next to it: drops"

# The same in the documented text format.
tests/lab drop --at hvB --dir req --percent 100
"$AGENT" kernel_drop_stack_stats_summary_all --netns nbhvB --src-ip $VMA --dst-ip $VMB \
	--interval 60 --duration 3 >"$OUT/sum.txt" 2>&1 &
spid=$!
on_exit "kill $spid 2>/dev/null"
wait_for 5 grep -q '^Interval: 60s' "$OUT/sum.txt" || fail "summary text: no header"
tests/lab ping -c 3 -i 0.1 -W 1 >/dev/null || true
wait $spid
tests/lab clear
grep -q '^=== Kernel Drop Stack Statistics ===$' "$OUT/sum.txt" || fail "summary text: title"
grep -q '^Count: 3  Reason: NETFILTER_DROP  Interface: vnet0$' "$OUT/sum.txt" ||
	fail "summary text: count line: $(cat "$OUT/sum.txt")"
grep -q '^  nft_do_chain$' "$OUT/sum.txt" || fail "summary text: frames"

# --- TC_INGRESS: a TC program drops UDP to port 9001 as it enters hvB's uplink.
tc_drop hvB ens4f0 ingress 9001
tool tci eth_drop --netns nbhvB --protocol udp --dst-port 9001 --duration 3
udp vmA $VMB 9001 3
finish tci
tests/lab exec hvB tc qdisc del dev ens4f0 clsact
assert_eq 3 "$(ndrops tci)" "tc ingress: drops"
expect_all tci '.reason=="TC_INGRESS" and .interface=="ens4f0" and .proto=="UDP" and .src=="198.18.0.1" and .dst=="198.18.0.2" and .dport==9001' \
	"TC_INGRESS on ens4f0, UDP 198.18.0.1 -> 198.18.0.2:9001"
no_losses tci

# --- TC_EGRESS: a TC program drops UDP to port 9002 as it leaves hvA's uplink.
tc_drop hvA ens4f0 egress 9002
tool tce eth_drop --netns nbhvA --interface ens4f0 --src-ip $VMA --dst-ip $VMB --duration 3
udp vmA $VMB 9002 2
finish tce
tests/lab exec hvA tc qdisc del dev ens4f0 clsact
assert_eq 2 "$(ndrops tce)" "tc egress: drops"
expect_all tce '.reason=="TC_EGRESS" and .interface=="ens4f0" and .proto=="UDP" and .dport==9002' \
	"TC_EGRESS on ens4f0, UDP to port 9002"

# --- FULL_RING: the tap VM reads slowly behind a 16-slot ring; a burst of pings overflows it.
# Every echo that got no reply died in the ring: one FULL_RING drop per lost echo.
tests/lab vm-ring-slow on
tool ring eth_drop --netns nbhvB --interface vnet0 --duration 5
tests/lab ping -c 100 -i 0.002 -W 1 >"$OUT/ring.ping" 2>&1 || true
finish ring
tests/lab vm-ring-slow off
expect_all ring '.reason=="FULL_RING" and .interface=="vnet0" and .proto=="ICMP" and .src=="198.18.0.1" and .dst=="198.18.0.2" and .icmp_type==8 and .location=="tun_net_xmit" and (.explain | test("tun_ring_monitor"))' \
	"FULL_RING at tun_net_xmit on vnet0, echo 198.18.0.1 -> 198.18.0.2"
received=$(grep -o '[0-9]* received' "$OUT/ring.ping" | cut -d' ' -f1)
assert_eq $((100 - received)) "$(ndrops ring)" "ring: one drop per lost echo"
no_losses ring
tests/lab ping -c 2 -i 0.2 -W 1 >/dev/null || fail "the tap VM does not answer after vm-ring-slow off"

# --- The veth VM: its own kernel drops UDP to a closed port.
tests/lab down
lab_up --vmb veth
tool nosock eth_drop --netns nbvmB --protocol udp --dst-port 9999 --duration 3
udp vmA $VMB 9999 2
finish nosock
assert_eq 2 "$(ndrops nosock)" "no socket: drops"
expect_all nosock '.reason=="NO_SOCKET" and .interface=="eth0" and .proto=="UDP" and .src=="198.18.0.1" and .dst=="198.18.0.2" and .dport==9999 and .location=="__udp4_lib_rcv"' \
	"NO_SOCKET at __udp4_lib_rcv on eth0, UDP to 198.18.0.2:9999"

# The same over IPv6 (enabled on the two VMs only).
for n in vmA vmB; do
	tests/lab exec $n sysctl -qw net.ipv6.conf.eth0.disable_ipv6=0 || fail "ipv6 on $n"
done
tests/lab exec vmA ip addr add $V6A/64 dev eth0 nodad || fail "ipv6 address on vmA"
tests/lab exec vmB ip addr add $V6B/64 dev eth0 nodad || fail "ipv6 address on vmB"
tool nosock6 eth_drop --netns nbvmB --src-ip $V6A --dst-ip $V6B --protocol udp --duration 4
udp vmA $V6B 9999 2
finish nosock6
assert_eq 2 "$(ndrops nosock6)" "no socket over IPv6: drops"
expect_all nosock6 '.reason=="NO_SOCKET" and .interface=="eth0" and .proto=="UDP" and .src=="2001:2::1" and .dst=="2001:2::2" and .dport==9999' \
	"NO_SOCKET on eth0, UDP [2001:2::1] -> [2001:2::2]:9999"

# --- ARP: hvB's bridge drops ARP requests; vmA must resolve vmB afresh.
tests/lab exec hvB nft -f - <<'EOF' || fail "nft arp rule"
table bridge nbarp {
	chain forward {
		type filter hook forward priority 0; policy accept;
		ether type arp arp operation request drop
	}
}
EOF
tests/lab exec vmA ip neigh flush dev eth0
tool arp eth_drop --netns nbhvB --src-ip $VMA --dst-ip $VMB --duration 3
# The documented text format, at the same time.
"$AGENT" eth_drop --netns nbhvB --duration 3 >"$OUT/text.txt" 2>&1 &
tpid=$!
on_exit "kill $tpid 2>/dev/null"
wait_for 5 grep -q '^TIME' "$OUT/text.txt" || fail "text: no header"
tests/lab ping -c 1 -W 1 >/dev/null || true
finish arp
wait $tpid || fail "eth_drop text run"
tests/lab exec hvB nft delete table bridge nbarp
expect_all arp '.reason=="NETFILTER_DROP" and .interface=="vnet0" and .proto=="ARP" and .src=="198.18.0.1" and .dst=="198.18.0.2" and .arp_op==1' \
	"NETFILTER_DROP on vnet0 of ARP requests 198.18.0.1 -> 198.18.0.2"
head -n1 "$OUT/text.txt" | grep -qx 'TIME        INTERFACE  PROTO  SRC_IP:PORT -> DST_IP:PORT  REASON     LOCATION' ||
	fail "text header: $(head -n1 "$OUT/text.txt")"
grep -Eq '^[0-9]{2}:[0-9]{2}:[0-9]{2}    vnet0      ARP    198\.18\.0\.1 -> 198\.18\.0\.2  NETFILTER_DROP  nft_do_chain$' "$OUT/text.txt" ||
	fail "text: no ARP drop line: $(cat "$OUT/text.txt")"
grep -A2 ' ARP ' "$OUT/text.txt" | grep -q '^  Stack:$' || fail "text: no Stack: under the drop"
grep -A2 ' ARP ' "$OUT/text.txt" | grep -Eq '^    [a-z_].*\+0x[0-9a-f]+$' || fail "text: frame lines"
grep -q '^=== Summary ===$' "$OUT/text.txt" || fail "text: summary"
grep -q '^Lost events: 0$' "$OUT/text.txt" || fail "text: lost events line"

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
E="$AGENT eth_drop"
S="$AGENT kernel_drop_stack_stats_summary_all"
bad 2 "invalid --protocol 'sctp'" $E --protocol sctp
bad 2 "unknown interface 'nope0'" $E --netns nbhvB --interface nope0
bad 2 "same address family" $E --src-ip $VMA --dst-ip $V6B
bad 2 "invalid --src-ip" $E --src-ip 300.1.2.3
bad 2 "need --protocol tcp or udp" $E --protocol icmp --dst-port 53
bad 2 "network namespace 'nbnonexistent' not found" $E --netns nbnonexistent
bad 2 "invalid --interval" $S --interval 0
bad 2 "invalid --top" $S --top 0
bad 1 "must run as root" setpriv --reuid=65534 --regid=65534 --clear-groups $E
$S --help | grep -q 'since the previous' || fail "summary help says what a count covers"
no_progs "after the runs"
echo "all drop tool cases passed"
