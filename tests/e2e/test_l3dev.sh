#!/bin/bash
# icmp_path_tracer where the VM port is a layer-3 device (a TUN: IP packets, no link header),
# as behind a tun-mode VM port or a tunnel. A router namespace forwards between a veth to a
# client and the TUN, whose far end is nb_vm --tun. Both hook sets must find the IP header on
# the TUN at its own offset, in both directions: every ping COMPLETE, its stages on the right
# devices.
set -u
. "$(dirname "$0")/lib.sh"
need_root

NB_VM=$REPO/build/tests/tools/nb_vm
R=nbl3r
C=nbl3c
CLI=10.96.0.2
VMIP=10.97.0.2
OUT=$(mktemp -d /tmp/nb-l3.XXXXXX)
on_exit "rm -rf $OUT"
[ -x "$NB_VM" ] || fail "nb_vm not built ($NB_VM)"

for ns in $R $C; do
	ip netns del $ns 2>/dev/null
	ip netns add $ns || fail "netns $ns"
	on_exit "ip netns del $ns 2>/dev/null"
	ip -n $ns link set lo up
done
ip link add nbl3v0 netns $R type veth peer name nbl3v1 netns $C || fail "veth"
ip -n $R addr add 10.96.0.1/24 dev nbl3v0
ip -n $R link set nbl3v0 up
ip -n $C addr add $CLI/24 dev nbl3v1
ip -n $C link set nbl3v1 up
ip -n $C route add default via 10.96.0.1
ip netns exec $R sysctl -qw net.ipv4.ip_forward=1
ip netns exec $R "$NB_VM" --tun --ifname nbtun0 --ip $VMIP --pidfile "$OUT/vm.pid" \
	2>"$OUT/vm.err" &
on_exit "kill $! 2>/dev/null"
wait_for 5 test -s "$OUT/vm.pid" || fail "nb_vm --tun did not start: $(cat "$OUT/vm.err")"
ip -n $R addr add 10.97.0.1/24 dev nbtun0
ip -n $R link set nbtun0 up
ip netns exec $C ping -c 1 -W 2 $VMIP >/dev/null || fail "no reply through the TUN"

# run NAME HOOKS: the tracer on the router with --hooks HOOKS, three pings from the client.
run() {
	local name=$1 hooks=$2 pid
	"$AGENT" icmp_path_tracer --netns $R --src-ip $CLI --dst-ip $VMIP --rx-iface nbl3v0 \
		--tx-iface nbtun0 --count 3 --timeout-ms 500 --duration 60 --json --hooks "$hooks" \
		>"$OUT/$name.json" 2>"$OUT/$name.err" &
	pid=$!
	on_exit "kill $pid 2>/dev/null"
	wait_for 5 grep -q '"type":"start"' "$OUT/$name.json" || fail "$name: tracer did not attach"
	ip netns exec $C ping -c 3 -i 0.2 -W 1 $VMIP >/dev/null || fail "$name: ping"
	wait_for 5 grep -q '"type":"summary"' "$OUT/$name.json" ||
		fail "$name: no summary: $(cat "$OUT/$name.json" "$OUT/$name.err")"
	wait "$pid"
	assert_eq 0 $? "$name: exit code"
	assert_eq "$hooks" "$(jq -r 'select(.type=="start") | .hooks' "$OUT/$name.json")" "$name: hooks"
	for s in 1 2 3; do
		assert_eq COMPLETE \
			"$(jq -r "select(.type==\"packet\" and .seq==$s) | .status" "$OUT/$name.json")" \
			"$name seq $s"
	done
	assert_eq "REQ_RX@nbl3v0 REQ_TX@nbtun0 REP_RX@nbtun0 REP_TX@nbl3v0" \
		"$(jq -r 'select(.type=="packet" and .seq==2) | [.stages[] | "\(.stage)@\(.iface)"] | join(" ")' \
			"$OUT/$name.json")" "$name seq 2 stages"
}

run tcx tcx
run tp tracepoint
echo "all layer-3 device cases passed"
