#!/bin/bash
# netblame trace tcp on lossy streams: every lost copy of a segment is placed (inside A, in the
# network, inside B), a copy sent again although an earlier one got through is spurious, and a
# trace whose flow lost copies is never HEALTHY even when every segment got through in the end.
# Each case drops data segments with nftables at one place and checks the report against the
# nft rule's counter and the sender's TcpRetransSegs (its own network namespace's counter).
set -u
. "$(dirname "$0")/lib.sh"
need_root

VMA=198.18.0.1
VMB=198.18.0.2
TMO=500
MSS=1448
TRAFFIC=$REPO/build/tests/tools/nb_traffic
OUT=$(mktemp -d /tmp/nb-tcploss.XXXXXX)
on_exit "rm -rf $OUT"
cd "$REPO"
# Every case has its own port: a stream that gave up leaves nothing on the next one's.
PORT=9300

# drops NODE DIR: packets the lab's drop rules of that node and direction matched
drops() {
	ip netns exec "nb$1" nft list table bridge nbfault 2>/dev/null | grep "$2 match" |
		grep -o 'packets [0-9]*' | awk '{ n += $2 } END { print n + 0 }'
}
seg() { echo $(((SEQ0 + $1 * MSS) % 4294967296)); }
j() { jq -r "$1" "$OUT/$NAME.json"; }

# trace_stream NAME BYTES RULES: the coordinator traces one stream of BYTES from vmA to vmB;
# RULES (a function) installs the drops once the sender's first sequence number SEQ0 is known.
# Sets RC, DROPS (what the rules matched) and RETRANS (the sender's retransmitted segments).
trace_stream() {
	local rules=$3 r0 rpid spid
	NAME=$1
	PORT=$((PORT + 1))
	lab_nodes
	trace_bg "$NAME" tcp --src-ip $VMA --dst-ip $VMB "${LAB_NODES[@]}" \
		--timeout-ms $TMO --json "$OUT/$NAME.json" --insecure --dst-port $PORT --duration 5
	rm -f "$OUT/recv.pid" "$OUT/seq"
	ip netns exec nbvmB "$TRAFFIC" tcp-recv --port $PORT --timeout 4 \
		--pidfile "$OUT/recv.pid" >"$OUT/recv.out" 2>&1 &
	rpid=$!
	on_exit "kill $rpid 2>/dev/null"
	wait_for 5 test -s "$OUT/recv.pid" || fail "$NAME: receiver did not start: $(cat "$OUT/recv.out")"
	r0=$(retrans)
	ip netns exec nbvmA "$TRAFFIC" tcp-send --dst $VMB --port $PORT --bytes "$2" --timeout 4 \
		--seq-file "$OUT/seq" >"$OUT/send.out" 2>&1 &
	spid=$!
	on_exit "kill $spid 2>/dev/null"
	wait_for 5 test -s "$OUT/seq" || fail "$NAME: sender did not connect: $(cat "$OUT/send.out")"
	SEQ0=$(cat "$OUT/seq")
	$rules
	rm -f "$OUT/seq"
	wait $spid || fail "$NAME: sender: $(cat "$OUT/send.out")"
	wait $rpid || fail "$NAME: receiver: $(cat "$OUT/recv.out")"
	trace_end "$NAME"
	RETRANS=$(($(retrans) - r0))
	DROPS=$(($(drops hvA req) + $(drops fab req) + $(drops hvB req)))
	tests/lab clear >/dev/null
	echo "$NAME: exit $RC, $DROPS dropped, $RETRANS retransmitted; $(jq -c '{counts,
		lost_copies, spurious_copies, retransmitted_copies, verdict_detail}' "$OUT/$NAME.json")"
}

# check PLACE VERDICT CODE: every segment complete; the copies lost at PLACE are the drops, none
# elsewhere; lost and spurious copies add up to the sender's retransmissions.
check() {
	local place=$1 other n
	assert_eq "$(j '.packets | length')" "$(j '.counts.COMPLETE')" "$NAME: every segment complete"
	[ "$DROPS" -gt 0 ] || fail "$NAME: nothing was dropped"
	assert_eq "$DROPS" "$(j ".lost_copies.$place")" "$NAME: copies lost at $place"
	for other in a_internal network b_internal; do
		[ "$other" = "$place" ] && continue
		assert_eq 0 "$(j ".lost_copies.$other")" "$NAME: copies lost at $other"
	done
	n=$(j '.lost_copies.a_internal + .lost_copies.network + .lost_copies.b_internal + .spurious_copies')
	assert_eq "$RETRANS" "$n" "$NAME: lost and spurious copies against TcpRetransSegs"
	assert_eq "$RETRANS" "$(j '.retransmitted_copies')" "$NAME: retransmitted copies seen at A0"
	assert_eq "$2" "$(j '.verdict')" "$NAME: verdict"
	assert_eq "$3" "$RC" "$NAME: exit code"
	assert_eq "$(j .retransmitted_segments)" "$(j '.latency.a_internal_req.left_out.retransmitted')" \
		"$NAME: latency rows leave the retransmitted segments out"
}

every_nth() { tests/lab drop --at "$1" --dir req --match "tcp dport $PORT ip length > 100 numgen inc mod $2 == 0" >/dev/null; }
fab25() { every_nth fab 25; }
hvb25() { every_nth hvB 25; }
hva25() { every_nth hvA 25; }

lab_up --vmb veth
tests/lab offload off >/dev/null
start_agent hvA --netns nbhvA --insecure
start_agent hvB --netns nbhvB --insecure

# Every 25th data segment dies in the fabric, inside B's bridge, inside A's bridge; each is
# retransmitted and gets through: every segment COMPLETE, the loss placed and the verdict its.
trace_stream x_fab 1000000 fab25
check network NETWORK 10
assert_eq "NETWORK: $DROPS lost copies recovered by retransmission (request direction)" \
	"$(j '.verdict_detail')" "x_fab: verdict detail"
grep -q "^Verdict: NETWORK" "$OUT/x_fab.out" || fail "x_fab: text report verdict"
trace_stream x_hvb 1000000 hvb25
check b_internal NODE_B 12
trace_stream x_hva 1000000 hva25
check a_internal NODE_A 11

# Without SACK: the receiver's duplicate ACKs carry no blocks; the count holds all the same.
ip netns exec nbvmA sysctl -qw net.ipv4.tcp_sack=0
ip netns exec nbvmB sysctl -qw net.ipv4.tcp_sack=0
on_exit "ip netns exec nbvmA sysctl -qw net.ipv4.tcp_sack=1; ip netns exec nbvmB sysctl -qw net.ipv4.tcp_sack=1"
trace_stream x_nosack 1000000 fab25
check network NETWORK 10
ip netns exec nbvmA sysctl -qw net.ipv4.tcp_sack=1
ip netns exec nbvmB sysctl -qw net.ipv4.tcp_sack=1

# A retransmission lost again: the first two copies of segment 20 die in the fabric. Three
# copies left A, one reached B: two lost in the network.
twice() { tests/lab drop --at fab --dir req --match "tcp sequence $(seg 20) quota until 3100 bytes" >/dev/null; }
trace_stream x_twice 300000 twice
check network NETWORK 10
assert_eq 3 "$(j ".packets[] | select(.key.seq == $(seg 20)) | .copies.A1")" "x_twice: copies at A1"
assert_eq 1 "$(j ".packets[] | select(.key.seq == $(seg 20)) | .copies.B0")" "x_twice: copies at B0"

# A lost tail, recovered by the retransmission timer alone (no tail loss probe, no early
# retransmit): the first copies of the last three segments die in the fabric.
tail3() {
	# the first three packets from 3 MSS before the end on (write boundaries may shift segments)
	local x=$(((SEQ0 + 300000 - 3 * MSS) % 4294967296))
	tests/lab drop --at fab --dir req --match "tcp sequence >= $x ip length > 100 quota until 4600 bytes" >/dev/null
}
ip netns exec nbvmA sysctl -qw net.ipv4.tcp_early_retrans=0
on_exit "ip netns exec nbvmA sysctl -qw net.ipv4.tcp_early_retrans=3"
trace_stream x_rto 300000 tail3
check network NETWORK 10
[ "$DROPS" -ge 3 ] || fail "x_rto: only $DROPS tail packets dropped"
ip netns exec nbvmA sysctl -qw net.ipv4.tcp_early_retrans=3

# TSO, GSO and GRO on: segments are GSO packets of up to 64 KiB, and a drop takes a whole one;
# a segment is what A0 saw, so each lost packet is one lost copy, in the fabric, inside B,
# inside A. (TcpRetransSegs counts MSS-sized pieces then, so it is not compared.)
tests/lab offload on >/dev/null
on_exit "tests/lab offload off >/dev/null 2>&1"
fab10() { every_nth fab 10; }
hvb10() { every_nth hvB 10; }
hva10() { every_nth hvA 10; }
for c in "fab10 network NETWORK 10" "hvb10 b_internal NODE_B 12" "hva10 a_internal NODE_A 11"; do
	set -- $c
	trace_stream "x_tso_$1" 4000000 "$1"
	[ "$DROPS" -gt 0 ] || fail "$NAME: nothing was dropped"
	assert_eq "$DROPS" "$(j ".lost_copies.$2")" "$NAME: copies lost at $2"
	assert_eq "$DROPS" "$(j '.lost_copies.a_internal + .lost_copies.network + .lost_copies.b_internal')" \
		"$NAME: copies lost anywhere"
	assert_eq "$(j '.packets | length')" "$(j '.counts.COMPLETE')" "$NAME: every segment complete"
	assert_eq "$3" "$(j '.verdict')" "$NAME: verdict"
	assert_eq "$4" "$RC" "$NAME: exit code"
done
tests/lab offload off >/dev/null

# No loss: HEALTHY, exit 0, nothing lost.
none() { :; }
trace_stream x_clean 300000 none
assert_eq HEALTHY "$(j '.verdict')" "x_clean: verdict"
assert_eq 0 "$RC" "x_clean: exit code"
# Nothing dropped: whatever the sender sent again (an RTO or a probe on a loaded machine) got
# through, so every retransmitted copy is spurious and none is lost.
assert_eq "$RETRANS" "$(j '.retransmitted_copies')" "x_clean: retransmitted copies"
assert_eq "$RETRANS" "$(j '.spurious_copies')" "x_clean: spurious copies"
assert_eq 0 "$(j '.lost_copies.a_internal + .lost_copies.network + .lost_copies.b_internal')" \
	"x_clean: lost copies"

no_progs "after the runs"
echo "all tcp loss cases passed"
