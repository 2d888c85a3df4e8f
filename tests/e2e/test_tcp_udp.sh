#!/bin/bash
# udp_path_tracer and tcp_path_tracer on one hypervisor of the lab, and netblame trace udp|tcp
# across both, then netblame trace icmp|tcp|udp with IPv6 addresses. The veth VM serves as vmB:
# the tap VM answers only ICMP and ARP over IPv4.
# Every case states the fault it injects (an exact datagram, fragment or segment, dropped with
# nftables at hvA, the fabric or hvB) and the exact status it expects for it.
set -u
. "$(dirname "$0")/lib.sh"
need_root

VMA=198.18.0.1
VMB=198.18.0.2
# The traffic and the cross-host traces go SRC (vmA) -> DST (vmB); the IPv6 cases change them.
SRC=$VMA
DST=$VMB
TMO=500
TRAFFIC=$REPO/build/tests/tools/nb_traffic
OUT=$(mktemp -d /tmp/nb-tcpudp.XXXXXX)
on_exit "rm -rf $OUT"
cd "$REPO"

# tracer TOOL NAME NODE RX TX [flags...]: start a single-host tracer, wait until it is attached.
# --duration bounds a tracer that this script, killed outright, could not stop.
tracer() {
	local tool=$1 name=$2 node=$3 rx=$4 tx=$5
	shift 5
	"$AGENT" "$tool" --netns "nb$node" --src-ip $VMA --dst-ip $VMB --rx-iface "$rx" \
		--tx-iface "$tx" --timeout-ms $TMO --duration 300 --json "$@" >"$OUT/$name.json" \
		2>"$OUT/$name.err" &
	eval "PID_$name=$!"
	on_exit "kill $! 2>/dev/null"
	wait_for 5 grep -q '"type":"start"' "$OUT/$name.json" || fail "$name: tracer did not attach"
}

# finish NAME [stop]: wait for the tracer to exit (--count reached), or stop it (SIGINT) first.
finish() {
	finish_bg "$@"
	grep -q '"type":"summary"' "$OUT/$1.json" || fail "$1: no summary"
}

# --- UDP: datagrams with known IP IDs (nb_traffic sends them through a raw socket).
# udp NODE ID COUNT SIZE [PORT]: datagrams IDs ID.. from vmA to vmB (vmB to vmA from node vmB).
udp() {
	local from=$1 dst=$DST
	[ "$from" = vmB ] && dst=$SRC
	tests/lab exec "$from" "$TRAFFIC" udp-ids --dst $dst --port "${5:-9000}" --ip-id "$2" \
		--count "$3" --size "$4" >/dev/null || fail "udp-ids from $from"
}
ust() { jq -r "select(.type==\"packet\" and .ip_id==$2) | .${3:-status}" "$OUT/$1.json"; }

lab_up --vmb veth --ipv6
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

# --- TCP: a stream of known size from vmA to vmB. The sender publishes its first sequence number
# before it sends (nb_traffic tcp-send --seq-file), so a drop can aim at an exact segment:
# with TSO and GSO off, segment k starts at SEQ0 + k * MSS.
MSS=1448
K=20 # the segment the faults hit
# A stream that gave up on a drop of every copy leaves an orphaned socket that resends once the
# drop is cleared: every case has its own port, so its tracers see its stream only.
PORT=5200

# tcp_start BYTES [SENDER-TIMEOUT]: receiver on vmB, sender on vmA connected and waiting; SEQ0.
# The receiver listens on every address of both families; the sender goes to $DST (vmB).
tcp_start() {
	rm -f "$OUT/seq" "$OUT/recv.pid"
	tests/lab exec vmB "$TRAFFIC" tcp-recv --port $PORT --bind :: --timeout "${2:-3}" \
		--pidfile "$OUT/recv.pid" >"$OUT/recv.out" 2>&1 &
	RPID=$!
	on_exit "kill $RPID 2>/dev/null"
	wait_for 5 test -s "$OUT/recv.pid" || fail "tcp receiver did not start: $(cat "$OUT/recv.out")"
	tests/lab exec vmA "$TRAFFIC" tcp-send --dst "$DST" --port $PORT --bytes "$1" \
		--seq-file "$OUT/seq" --timeout "${2:-3}" >"$OUT/send.out" 2>&1 &
	SPID=$!
	on_exit "kill $SPID 2>/dev/null"
	wait_for 5 test -s "$OUT/seq" || fail "tcp sender did not connect: $(cat "$OUT/send.out")"
	SEQ0=$(cat "$OUT/seq")
}
# tcp_go: the sender sends; wait for both ends (on a drop of every copy they give up).
tcp_go() {
	rm -f "$OUT/seq"
	wait "$SPID"
	wait "$RPID"
	sleep 1.5 # the tracers' timeout, and retransmitted segments' copies
}
seg() { echo $(((SEQ0 + $1 * MSS) % 4294967296)); }
tst() { jq -r "select(.type==\"packet\" and .seq==$2) | .${3:-status}" "$OUT/$1.json"; }
# others NAME SEQ: statuses of every segment but SEQ, counted
others() {
	jq -r "select(.type==\"packet\" and .seq!=${2:--1}) | .status" "$OUT/$1.json" | sort | uniq -c |
		awk '{ printf("%s%s=%s", (NR > 1 ? " " : ""), $2, $1) }'
}
npk() { jq -s '[.[] | select(.type=="packet")] | length' "$OUT/$1.json"; }
# held NAME SEQ: every segment but SEQ is complete, or held behind it (INCONCLUSIVE, never blamed)
held() {
	jq -r "select(.type==\"packet\" and .seq!=$2 and .status!=\"COMPLETE\") |
		.status + \": \" + .detail" "$OUT/$1.json" | sort -u |
		grep -v "^INCONCLUSIVE: its ACK was held by an earlier segment's loss\$"
}
tbytes() { jq -s '[.[] | select(.type=="packet") | .len] | add' "$OUT/$1.json"; }

# No fault: every segment of 200000 bytes complete; ACKs cover several segments each.
PORT=$((PORT + 1))
tracer tcp_path_tracer t_ok hvA vnet0 ens4f0 --dst-port $PORT
tcp_start 200000
tcp_go
finish t_ok stop
assert_eq 200000 "$(tbytes t_ok)" "t_ok bytes in segments"
assert_eq "COMPLETE=$(npk t_ok)" "$(others t_ok)" "t_ok statuses"
assert_eq 0 "$(tst t_ok "$SEQ0" offset)" "t_ok first segment offset"
acks=$(jq -r 'select(.type=="packet") | .stages[] | select(.stage=="REP_RX") | .ack' \
	"$OUT/t_ok.json" | sort -u | wc -l)
[ "$acks" -lt "$(npk t_ok)" ] || fail "t_ok: one ACK per segment ($acks)"
echo "ok: t_ok: $acks ACK values for $(npk t_ok) segments"

# hvA drops every copy of segment K: INTERNAL_DROP_REQ there. The receiver's ACK stays below the
# segments behind it; SACK is not read, so from one host their fate is unknown: INCONCLUSIVE,
# never a drop. The stream stalls and gives up.
PORT=$((PORT + 1))
tracer tcp_path_tracer t_hva hvA vnet0 ens4f0 --dst-port $PORT
tcp_start 100000 2
tests/lab drop --at hvA --dir req --match "tcp sequence $(seg $K)" >/dev/null
tcp_go
finish t_hva stop
tests/lab clear >/dev/null
assert_eq INTERNAL_DROP_REQ "$(tst t_hva "$(seg $K)")" "t_hva segment $K"
assert_eq "missing REQ_TX after ${TMO}ms" "$(tst t_hva "$(seg $K)" detail)" "t_hva detail"
[ "$(tst t_hva "$(seg $K)" copies.REQ_RX)" -gt 1 ] || fail "t_hva: segment $K never retransmitted"
assert_eq "$(tst t_hva "$(seg $K)" copies.REQ_RX)" "$(tst t_hva "$(seg $K)" lost_copies.internal)" \
	"t_hva: every copy lost inside hvA"
assert_eq "" "$(held t_hva "$(seg $K)")" "t_hva: other segments complete or held behind K"

# The fabric drops every copy of segment K: hvA sent it and no ACK came (EXTERNAL_DROP); hvB
# never saw it. hvB drops every copy of K + 5: INTERNAL_DROP_REQ at hvB. Behind K, no segment is
# blamed at either host.
PORT=$((PORT + 1))
tracer tcp_path_tracer t_fa hvA vnet0 ens4f0 --dst-port $PORT
tracer tcp_path_tracer t_fb hvB ens4f0 vnet0 --dst-port $PORT
tcp_start 100000 2
tests/lab drop --at fab --dir req --match "tcp sequence $(seg $K)" >/dev/null
tests/lab drop --at hvB --dir req --match "tcp sequence $(seg $((K + 5)))" >/dev/null
tcp_go
finish t_fa stop
finish t_fb stop
tests/lab clear >/dev/null
assert_eq EXTERNAL_DROP "$(tst t_fa "$(seg $K)")" "t_fa (hvA) segment $K"
assert_eq "" "$(tst t_fb "$(seg $K)")" "t_fb (hvB) segment $K: never seen"
assert_eq INTERNAL_DROP_REQ "$(tst t_fb "$(seg $((K + 5)))")" "t_fb (hvB) segment $((K + 5))"
assert_eq INCONCLUSIVE "$(tst t_fa "$(seg $((K + 5)))")" "t_fa (hvA) segment $((K + 5)): held"
assert_eq "" "$(held t_fa "$(seg $K)")" "t_fa: other segments complete or held"
assert_eq "" "$(held t_fb "$(seg $((K + 5)))")" "t_fb: other segments complete or held"
assert_eq COMPLETE "$(tst t_fb "$(seg $((K - 1)))")" "t_fb (hvB) segment $((K - 1))"

# Retransmission: only the first copy of segment K dies inside hvA; the second passes. Complete,
# with one copy lost inside hvA.
PORT=$((PORT + 1))
tracer tcp_path_tracer t_rtx hvA vnet0 ens4f0 --dst-port $PORT
tcp_start 100000
tests/lab drop --at hvA --dir req --match "tcp sequence $(seg $K) quota until 1600 bytes" >/dev/null
tcp_go
finish t_rtx stop
tests/lab clear >/dev/null
assert_eq 100000 "$(tbytes t_rtx)" "t_rtx bytes in segments"
assert_eq COMPLETE "$(tst t_rtx "$(seg $K)")" "t_rtx segment $K"
assert_eq 2 "$(tst t_rtx "$(seg $K)" copies.REQ_RX)" "t_rtx segment $K copies at REQ_RX"
assert_eq 1 "$(tst t_rtx "$(seg $K)" copies.REQ_TX)" "t_rtx segment $K copies at REQ_TX"
assert_eq 1 "$(tst t_rtx "$(seg $K)" lost_copies.internal)" "t_rtx segment $K lost inside hvA"
assert_eq "COMPLETE=$(npk t_rtx)" "$(others t_rtx)" "t_rtx statuses"
assert_eq "LOCAL: 1 lost copies recovered by retransmission (request direction)" \
	"$(jq -r 'select(.type=="summary") | .loss' "$OUT/t_rtx.json")" "t_rtx summary loss"

# Cumulative ACKs: the fabric drops every other pure ACK; the next one covers the same bytes,
# so no segment is reported lost. The first copy of segment K dies in the fabric too: two copies
# left hvA, none lost inside it, and hvB sees the retransmission as the segment's first copy.
PORT=$((PORT + 1))
tracer tcp_path_tracer t_cum hvA vnet0 ens4f0 --dst-port $PORT
tracer tcp_path_tracer t_cumb hvB ens4f0 vnet0 --dst-port $PORT
tcp_start 200000
tests/lab drop --at fab --dir rep --match 'tcp flags == ack ip length < 100 numgen inc mod 2 == 0' \
	>/dev/null
tests/lab drop --at fab --dir req --match "tcp sequence $(seg $K) quota until 1600 bytes" >/dev/null
r0=$(retrans)
tcp_go
r=$(($(retrans) - r0))
finish t_cum stop
finish t_cumb stop
n=$(tests/lab exec fab nft list table bridge nbfault | grep 'rep match' | grep -o 'packets [0-9]*' |
	cut -d' ' -f2)
tests/lab clear >/dev/null
[ "${n:-0}" -gt 0 ] || fail "t_cum: no ACK was dropped"
echo "ok: t_cum: $n ACKs dropped in the fabric"
for t in t_cum t_cumb; do
	assert_eq 200000 "$(tbytes $t)" "$t bytes in segments"
	assert_eq "COMPLETE=$(npk $t)" "$(others $t)" "$t statuses"
done
assert_eq 2 "$(tst t_cum "$(seg $K)" copies.REQ_TX)" "t_cum (hvA) segment $K copies"
assert_eq 0 "$(tst t_cum "$(seg $K)" lost_copies.internal)" "t_cum (hvA) segment $K lost"
assert_eq 1 "$(tst t_cumb "$(seg $K)" copies.REQ_RX)" "t_cumb (hvB) segment $K copies"
# Segment K's copy lost in the fabric, plus what the sender retransmitted on its own (a tail
# loss probe or an RTO when ACKs are late on a loaded machine): every one of them left hvA.
[ "$r" -ge 1 ] || fail "t_cum: the sender retransmitted nothing"
assert_eq "EXTERNAL: $r copies sent again after leaving (lost beyond this host, or spurious)" \
	"$(jq -r 'select(.type=="summary") | .loss' "$OUT/t_cum.json")" "t_cum (hvA) summary loss"
# hvB saw K's retransmission as its first copy; the sender's other copies passed it twice.
want=none
[ "$r" -gt 1 ] &&
	want="EXTERNAL: $((r - 1)) copies sent again after leaving (lost beyond this host, or spurious)"
assert_eq "$want" "$(jq -r 'select(.type=="summary") | .loss' "$OUT/t_cumb.json")" \
	"t_cumb (hvB) summary loss"

# TSO, GSO and GRO on: segments are what the first stage saw (up to 64 KiB). hvA drops the
# first big one once; its bytes come again and pass. Every segment complete.
tests/lab offload on >/dev/null
PORT=$((PORT + 1))
tracer tcp_path_tracer t_tso hvA vnet0 ens4f0 --dst-port $PORT
tcp_start 2000000
tests/lab drop --at hvA --dir req --match 'ip length > 30000 quota until 70000 bytes' >/dev/null
tcp_go
finish t_tso stop
tests/lab clear >/dev/null
tests/lab offload off >/dev/null
assert_eq 2000000 "$(tbytes t_tso)" "t_tso bytes in segments"
assert_eq "COMPLETE=$(npk t_tso)" "$(others t_tso)" "t_tso statuses"
big=$(jq -r 'select(.type=="packet" and .len > 1448) | .len' "$OUT/t_tso.json" | wc -l)
[ "$big" -gt 0 ] || fail "t_tso: no segment bigger than the MSS"
lost=$(jq -s '[.[] | select(.type=="packet") | .lost_copies.internal] | add' "$OUT/t_tso.json")
[ "$lost" -gt 0 ] || fail "t_tso: the copy lost inside hvA was not counted"
echo "ok: t_tso: $big segments above the MSS, $lost copies lost inside hvA"

# --- netblame trace tcp|udp: an agent per hypervisor (root namespace, --netns), the coordinator
# joins their events: data A0 A1 B0 B1, its ACKs (or the reverse flow's datagrams) B2 B3 A2 A3.

# xtrace NAME PROTO [flags...]: the coordinator in the background, once its sessions run. It
# traces $SRC -> $DST (vmA -> vmB).
xtrace() {
	local name=$1 proto=$2
	shift 2
	lab_nodes
	trace_bg "$name" "$proto" --src-ip "$SRC" --dst-ip "$DST" "${LAB_NODES[@]}" \
		--timeout-ms $TMO --json "$OUT/$name.json" --insecure "$@"
}
xst() { jq -r ".packets[] | select(.key.$2==$3) | .${4:-status}" "$OUT/$1.json"; }
xverdict() { jq -r '.verdict' "$OUT/$1.json"; }
xothers() {
	jq -r ".packets[] | select(.key.seq!=$2) | .status" "$OUT/$1.json" | sort | uniq -c |
		awk '{ printf("%s%s=%s", (NR > 1 ? " " : ""), $2, $1) }'
}

start_agent hvA --netns nbhvA --insecure
start_agent hvB --netns nbhvB --insecure

# TCP, the fabric drops every copy of segment K: NETWORK_DROP_REQ. The segments behind it reach
# B and B's duplicate ACKs come back: complete. Verdict NETWORK, exit 10.
PORT=$((PORT + 1))
xtrace x_tnet tcp --dst-port $PORT --duration 4
tcp_start 100000 2
tests/lab drop --at fab --dir req --match "tcp sequence $(seg $K)" >/dev/null
tcp_go
trace_end x_tnet
tests/lab clear >/dev/null
assert_eq NETWORK_DROP_REQ "$(xst x_tnet seq "$(seg $K)")" "x_tnet segment $K"
assert_eq "COMPLETE=$(($(jq '.packets | length' "$OUT/x_tnet.json") - 1))" \
	"$(xothers x_tnet "$(seg $K)")" "x_tnet other segments"
assert_eq NETWORK "$(xverdict x_tnet)" "x_tnet verdict"
assert_eq 10 "$RC" "x_tnet exit code"

# TCP, only the first copy of segment K dies in the fabric: complete, one copy lost in the
# network and recovered by retransmission. Still a loss: verdict NETWORK, exit 10.
PORT=$((PORT + 1))
xtrace x_trtx tcp --dst-port $PORT --duration 3
tcp_start 200000
tests/lab drop --at fab --dir req --match "tcp sequence $(seg $K) quota until 1600 bytes" >/dev/null
tcp_go
trace_end x_trtx
tests/lab clear >/dev/null
assert_eq COMPLETE "$(xst x_trtx seq "$(seg $K)")" "x_trtx segment $K"
assert_eq 1 "$(xst x_trtx seq "$(seg $K)" lost_copies.network)" "x_trtx segment $K lost in the network"
assert_eq 2 "$(xst x_trtx seq "$(seg $K)" copies.A1)" "x_trtx segment $K copies at A1"
assert_eq 1 "$(xst x_trtx seq "$(seg $K)" copies.B0)" "x_trtx segment $K copies at B0"
assert_eq "COMPLETE=$(jq '.packets | length' "$OUT/x_trtx.json")" "$(xothers x_trtx -1)" \
	"x_trtx statuses"
assert_eq 200000 "$(jq '[.packets[].key.len] | add' "$OUT/x_trtx.json")" "x_trtx bytes"
assert_eq 1 "$(jq '.lost_copies.network' "$OUT/x_trtx.json")" "x_trtx lost copies in the network"
assert_eq NETWORK "$(xverdict x_trtx)" "x_trtx verdict"
assert_eq "NETWORK: 1 lost copies recovered by retransmission (request direction)" \
	"$(jq -r .verdict_detail "$OUT/x_trtx.json")" "x_trtx verdict detail"
assert_eq 10 "$RC" "x_trtx exit code"

# UDP, the fabric drops datagram 6001: NETWORK_DROP_REQ, verdict NETWORK, exit 10.
tests/lab drop --at fab --dir req --match 'ip id 6001' >/dev/null
xtrace x_unet udp --dst-port 9000 --count 3
udp vmA 6000 3 100
trace_end x_unet
tests/lab clear >/dev/null
assert_eq NETWORK_DROP_REQ "$(xst x_unet ip_id 6001)" "x_unet id 6001"
assert_eq COMPLETE "$(xst x_unet ip_id 6002)" "x_unet id 6002"
assert_eq NETWORK "$(xverdict x_unet)" "x_unet verdict"
assert_eq 10 "$RC" "x_unet exit code"

# UDP, hvB drops one fragment of 6101; the reverse flow loses 6200 in the fabric.
tests/lab drop --at hvB --dir req --match 'ip id 6101 ip frag-off & 0x1fff == 185' >/dev/null
tests/lab drop --at fab --dir rep --match 'ip id 6200' >/dev/null
xtrace x_ufrag udp --count 3
udp vmA 6100 2 3000
udp vmB 6200 1 100
trace_end x_ufrag
tests/lab clear >/dev/null
assert_eq COMPLETE "$(xst x_ufrag ip_id 6100)" "x_ufrag id 6100"
assert_eq B_INTERNAL_DROP_REQ "$(xst x_ufrag ip_id 6101)" "x_ufrag id 6101"
assert_eq true "$(xst x_ufrag ip_id 6101 partial)" "x_ufrag id 6101 partial"
assert_eq "1 of 3 fragments lost: 3 at A0, 3 at A1, 3 at B0, 2 at B1" \
	"$(xst x_ufrag ip_id 6101 detail)" "x_ufrag id 6101 detail"
assert_eq NETWORK_DROP_REP "$(xst x_ufrag ip_id 6200)" "x_ufrag id 6200 (reverse)"
assert_eq NETWORK "$(xverdict x_ufrag)" "x_ufrag verdict"
assert_eq 10 "$RC" "x_ufrag exit code"

# --- IPv6: the same traces between 2001:db8::1 (vmA) and 2001:db8::2 (vmB).
SRC=2001:db8::1
DST=2001:db8::2

# ICMPv6 echo, hvB drops the request of seq 2 (seen arriving, never sent on to vmB):
# B_INTERNAL_DROP_REQ with hvB's drop event for it, the others complete. NODE_B, exit 12.
tests/lab drop -6 --at hvB --dir req --seq 2 >/dev/null
xtrace x6_icmp icmp --count 3
tests/lab ping -6 -c 3 -i 0.2 -W 1 >/dev/null || true
trace_end x6_icmp
tests/lab clear >/dev/null
assert_eq COMPLETE "$(xst x6_icmp seq 1)" "x6_icmp seq 1"
assert_eq B_INTERNAL_DROP_REQ "$(xst x6_icmp seq 2)" "x6_icmp seq 2"
assert_eq NETFILTER_DROP "$(xst x6_icmp seq 2 drop.reason)" "x6_icmp seq 2 drop reason"
assert_eq COMPLETE "$(xst x6_icmp seq 3)" "x6_icmp seq 3"
assert_eq 2001:db8::2 "$(jq -r .dst "$OUT/x6_icmp.json")" "x6_icmp destination"
assert_eq NODE_B "$(xverdict x6_icmp)" "x6_icmp verdict"
assert_eq 12 "$RC" "x6_icmp exit code"

# TCP over IPv6, the fabric drops every copy of segment K: NETWORK_DROP_REQ, the segments
# behind it complete. NETWORK, exit 10. The MSS is 20 bytes less than over IPv4.
MSS=1428
PORT=$((PORT + 1))
xtrace x6_tnet tcp --dst-port $PORT --duration 4
tcp_start 100000 2
tests/lab drop -6 --at fab --dir req --match "tcp sequence $(seg $K)" >/dev/null
tcp_go
trace_end x6_tnet
tests/lab clear >/dev/null
assert_eq NETWORK_DROP_REQ "$(xst x6_tnet seq "$(seg $K)")" "x6_tnet segment $K"
assert_eq "COMPLETE=$(($(jq '.packets | length' "$OUT/x6_tnet.json") - 1))" \
	"$(xothers x6_tnet "$(seg $K)")" "x6_tnet other segments"
assert_eq NETWORK "$(xverdict x6_tnet)" "x6_tnet verdict"
assert_eq 10 "$RC" "x6_tnet exit code"
grep -q "^\[.*\] TCP \[2001:db8::1\]:[0-9]* -> \[2001:db8::2\]:$PORT " "$OUT/x6_tnet.out" ||
	fail "x6_tnet: no segment line with bracketed IPv6 addresses"

# UDP over IPv6: a datagram of 3000 bytes goes as 3 fragments whose fragment header carries
# its 32-bit ID; hvB drops the second fragment of 70001 (offset 1448 = 181 * 8):
# B_INTERNAL_DROP_REQ, partial. Datagrams that fit the MTU have no fragment header, hence no
# ID: the trace says so, counts them, and traces none. NODE_B, exit 12.
tests/lab drop -6 --at hvB --dir req --match 'frag id 70001 frag frag-off 181' >/dev/null
xtrace x6_udp udp --dst-port 9000 --count 2
udp vmA 1 3 100
udp vmA 70000 2 3000
trace_end x6_udp
tests/lab clear >/dev/null
assert_eq COMPLETE "$(xst x6_udp ip_id 70000)" "x6_udp id 70000"
assert_eq 3 "$(xst x6_udp ip_id 70000 fragments)" "x6_udp id 70000 fragments"
assert_eq B_INTERNAL_DROP_REQ "$(xst x6_udp ip_id 70001)" "x6_udp id 70001"
assert_eq "1 of 3 fragments lost: 3 at A0, 3 at A1, 3 at B0, 2 at B1" \
	"$(xst x6_udp ip_id 70001 detail)" "x6_udp id 70001 detail"
assert_eq 2 "$(jq '.packets | length' "$OUT/x6_udp.json")" "x6_udp datagrams traced"
assert_eq 3 "$(jq '.unidentified_datagrams' "$OUT/x6_udp.json")" "x6_udp datagrams without an ID"
grep -q '^netblame: warning: UDP over IPv6: only fragmented datagrams carry an ID' \
	"$OUT/x6_udp.err" || fail "x6_udp: no statement about datagrams without an ID"
grep -q '^Unfragmented IPv6 datagrams (no ID, not traced): 3$' "$OUT/x6_udp.out" ||
	fail "x6_udp: the report does not count the datagrams without an ID"
assert_eq NODE_B "$(xverdict x6_udp)" "x6_udp verdict"
assert_eq 12 "$RC" "x6_udp exit code"

# Bad input: one line on stderr, exit 2; nothing left attached.
for t in tcp_path_tracer udp_path_tracer; do
	"$AGENT" $t --src-ip $VMA --dst-ip $VMB --rx-iface a --tx-iface b --dst-port 0 \
		2>"$OUT/bad.err" >/dev/null
	assert_eq 2 "$?" "$t --dst-port 0: exit code"
	assert_eq 1 "$(wc -l <"$OUT/bad.err")" "$t --dst-port 0: one stderr line"
	"$AGENT" $t --src-ip $VMA --dst-ip fe80::1 --rx-iface a --tx-iface b 2>"$OUT/bad.err"
	assert_eq 2 "$?" "$t mixed address families: exit code"
done
"$COORD" trace udp --src-ip 2001:db8::1 --dst-ip $VMB \
	--node "name=hvA,endpoint=$EP_hvA,rx-iface=vnet0,tx-iface=ens4f0" \
	--node "name=hvB,endpoint=$EP_hvB,rx-iface=ens4f0,tx-iface=vnet0" --insecure \
	2>"$OUT/bad.err" >/dev/null
assert_eq 2 "$?" "trace with mixed address families: exit code"
assert_eq "netblame: --src-ip 2001:db8::1 and --dst-ip $VMB are not the same address family" \
	"$(cat "$OUT/bad.err")" "trace with mixed address families: the one line"
no_progs "after the runs"

echo "all tcp/udp path tracer cases passed"
