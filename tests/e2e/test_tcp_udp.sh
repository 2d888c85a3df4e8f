#!/bin/bash
# udp_path_tracer and tcp_path_tracer on one hypervisor of the lab, and netblame trace udp|tcp
# across both. The veth VM serves as vmB: the tap VM answers only ICMP and ARP.
# Every case states the fault it injects (an exact datagram, fragment or segment, dropped with
# nftables at hvA, the fabric or hvB) and the exact status it expects for it.
set -u
. "$(dirname "$0")/lib.sh"
need_root

VMA=198.18.0.1
VMB=198.18.0.2
TMO=500
TRAFFIC=$REPO/build/tests/tools/nb_traffic
OUT=$(mktemp -d /tmp/nb-tcpudp.XXXXXX)
on_exit "rm -rf $OUT"
cd "$REPO"

# tracer TOOL NAME NODE RX TX [flags...]: start a single-host tracer, wait until it is attached.
tracer() {
	local tool=$1 name=$2 node=$3 rx=$4 tx=$5
	shift 5
	"$AGENT" "$tool" --netns "nb$node" --src-ip $VMA --dst-ip $VMB --rx-iface "$rx" \
		--tx-iface "$tx" --timeout-ms $TMO --json "$@" >"$OUT/$name.json" 2>"$OUT/$name.err" &
	eval "PID_$name=$!"
	on_exit "kill $! 2>/dev/null"
	wait_for 5 grep -q '"type":"start"' "$OUT/$name.json" || fail "$name: tracer did not attach"
}

# finish NAME [stop]: wait for the tracer to exit (--count reached), or stop it (SIGINT) first.
finish() {
	local name=$1 pid
	pid=$(eval echo "\$PID_$name")
	[ "${2:-}" = stop ] && kill -INT "$pid"
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && fail "$name: tracer did not finish: $(tail -n 3 "$OUT/$name.json")"
	wait "$pid"
	assert_eq 0 $? "$name: exit code"
	grep -q '"type":"summary"' "$OUT/$name.json" || fail "$name: no summary"
}

# --- UDP: datagrams with known IP IDs (nb_traffic sends them through a raw socket).
# udp NODE ID COUNT SIZE [PORT]: datagrams IDs ID.. from vmA to vmB (vmB to vmA from node vmB).
udp() {
	local from=$1 dst=$VMB
	[ "$from" = vmB ] && dst=$VMA
	tests/lab exec "$from" "$TRAFFIC" udp-ids --dst $dst --port "${5:-9000}" --ip-id "$2" \
		--count "$3" --size "$4" >/dev/null || fail "udp-ids from $from"
}
ust() { jq -r "select(.type==\"packet\" and .ip_id==$2) | .${3:-status}" "$OUT/$1.json"; }

lab_up --vmb veth
tests/lab offload off >/dev/null

# No fault: three datagrams pass hvA (vnet0 -> ens4f0).
tracer udp_path_tracer u_ok hvA vnet0 ens4f0 --count 3 --dst-port 9000
udp vmA 4242 3 100
finish u_ok
for id in 4242 4243 4244; do assert_eq COMPLETE "$(ust u_ok $id)" "u_ok id $id"; done
assert_eq 100 "$(ust u_ok 4242 len)" "u_ok payload length"
assert_eq 9000 "$(ust u_ok 4242 dport)" "u_ok dport"

# hvA drops 4243: INTERNAL_DROP there, the others pass.
tests/lab drop --at hvA --dir req --match 'ip id 4243' >/dev/null
tracer udp_path_tracer u_hva hvA vnet0 ens4f0 --count 3
udp vmA 4242 3 100
finish u_hva
tests/lab clear >/dev/null
assert_eq INTERNAL_DROP "$(ust u_hva 4243)" "u_hva id 4243"
assert_eq "missing REQ_TX after ${TMO}ms" "$(ust u_hva 4243 detail)" "u_hva id 4243 detail"
assert_eq COMPLETE "$(ust u_hva 4244)" "u_hva id 4244"

# The fabric drops 4243: it left hvA complete and never reaches hvB; hvB drops 4245.
tests/lab drop --at fab --dir req --match 'ip id 4243' >/dev/null
tests/lab drop --at hvB --dir req --match 'ip id 4245' >/dev/null
tracer udp_path_tracer u_fa hvA vnet0 ens4f0 --count 4
tracer udp_path_tracer u_fb hvB ens4f0 vnet0 --count 3
udp vmA 4242 4 100
finish u_fa
finish u_fb
tests/lab clear >/dev/null
assert_eq COMPLETE "$(ust u_fa 4243)" "u_fa (hvA) id 4243"
assert_eq "" "$(ust u_fb 4243)" "u_fb (hvB) id 4243: never seen"
assert_eq INTERNAL_DROP "$(ust u_fb 4245)" "u_fb (hvB) id 4245"
assert_eq COMPLETE "$(ust u_fb 4244)" "u_fb (hvB) id 4244"

# Fragments: 3000 bytes is 3 fragments; hvA drops the second of 4343 (offset 1480 = 185 * 8).
tests/lab drop --at hvA --dir req --match 'ip id 4343 ip frag-off & 0x1fff == 185' >/dev/null
tracer udp_path_tracer u_frag hvA vnet0 ens4f0 --count 2
udp vmA 4342 2 3000
finish u_frag
tests/lab clear >/dev/null
assert_eq COMPLETE "$(ust u_frag 4342)" "u_frag id 4342"
assert_eq 3 "$(ust u_frag 4342 fragments)" "u_frag id 4342 fragments"
assert_eq PARTIAL_FRAGMENT_DROP "$(ust u_frag 4343)" "u_frag id 4343"
assert_eq 1 "$(ust u_frag 4343 lost_fragments)" "u_frag id 4343 lost fragments"
assert_eq "1 of 3 fragments lost: 3 at REQ_RX, 2 at REQ_TX" "$(ust u_frag 4343 detail)" \
	"u_frag id 4343 detail"

# The fabric drops the last fragment of 4443: hvB never sees it, before its first stage.
tests/lab drop --at fab --dir req --match 'ip id 4443 ip frag-off & 0x1fff == 370' >/dev/null
tracer udp_path_tracer u_fragb hvB ens4f0 vnet0 --count 1 --dst-port 9000
udp vmA 4443 1 3000
finish u_fragb
tests/lab clear >/dev/null
assert_eq PARTIAL_FRAGMENT_DROP "$(ust u_fragb 4443)" "u_fragb id 4443"
assert_eq "1 of 3 fragments lost: 2 at REQ_RX, 2 at REQ_TX" "$(ust u_fragb 4443 detail)" \
	"u_fragb id 4443 detail"

# The reverse flow (vmB -> vmA) is traced through REP_RX and REP_TX; hvA drops 5001. Port
# 9001 is another flow: its fragments pass the kernel filter on addresses, and are not reported.
tests/lab drop --at hvA --dir rep --match 'ip id 5001' >/dev/null
tracer udp_path_tracer u_rev hvA vnet0 ens4f0 --count 2 --src-port 9000
udp vmA 5100 1 3000 9001
udp vmB 5000 2 100 9000
finish u_rev
tests/lab clear >/dev/null
assert_eq COMPLETE "$(ust u_rev 5000)" "u_rev id 5000"
assert_eq reverse "$(ust u_rev 5000 direction)" "u_rev id 5000 direction"
assert_eq "$VMB" "$(ust u_rev 5000 src)" "u_rev id 5000 source"
assert_eq INTERNAL_DROP "$(ust u_rev 5001)" "u_rev id 5001"
assert_eq "missing REP_TX after ${TMO}ms" "$(ust u_rev 5001 detail)" "u_rev id 5001 detail"
assert_eq "" "$(ust u_rev 5100)" "u_rev: the other flow's datagram"

echo "all tcp/udp path tracer cases passed"
