#!/bin/bash
# netblame trace with no rx-iface/tx-iface anywhere: each agent finds its interfaces from the
# addresses. Both lab hypervisors use the same names (vnet0, ens4f0, br0) and their neighbour
# tables are flushed first, so the VM ports and uplinks can only be learned from the traffic
# (the agents' ARP / neighbour-solicitation probes), as on a hypervisor that bridges at layer
# 2 only. Cases and what each expects:
#   given     --node with the interfaces, a fault: fab drops requests seq 2 and 4, hvB drops
#             the reply to seq 5: C NETWORK_DROP_REQ C NETWORK_DROP_REQ B_INTERNAL_DROP_REP C,
#             verdict NETWORK, exit 10, every side chosen_by "given"
#   found     the same nodes from an inventory without interfaces: the same statuses,
#             verdict and exit code, and the interfaces and reasons below, exactly
#   tables    the hypervisors pinged both VMs: the neighbour table and the FDB decide, with
#             those reasons, exactly
#   ambiguous hvA's br0 gets a second non-tap port and the peer 198.18.0.99 answers nobody:
#             exit 2, one line listing the candidates; a VM address nobody has: exit 2, one line
#   ipv6      the --ipv6 lab, whose hypervisors have no address or route at all: found by
#             neighbour solicitation, 4 echoes COMPLETE, HEALTHY
set -u
. "$(dirname "$0")/lib.sh"
need_root

VMA=198.18.0.1
VMB=198.18.0.2
OUT=$(mktemp -d /tmp/nb-disc.XXXXXX)
on_exit "rm -rf $OUT"
cd "$REPO"

flush_neigh() {
	ip -n nbhvA neigh flush all
	ip -n nbhvB neigh flush all
}

# run NAME COUNT [coordinator flags...]: a trace of COUNT echoes; sets RC.
run() {
	local name=$1 count=$2
	shift 2
	trace_bg "$name" icmp --count "$count" --timeout-ms 500 --json "$OUT/$name.json" "$@"
	if [ "${PING6:-}" = 1 ]; then
		tests/lab ping -6 -c "$count" -i 0.2 -W 1 >/dev/null || true
	else
		tests/lab ping -c "$count" -i 0.2 -W 1 >/dev/null || true
	fi
	trace_end "$name"
}

statuses() {
	jq -r '[.packets | sort_by(.key.seq)[].status] | join(" ")' "$OUT/$1.json"
}

# iface NAME NODE rx|tx: "names|chosen_by" of that side in the JSON report.
iface() {
	jq -r ".nodes[$2].interfaces.$3 | \"\(.names | join(\"+\"))|\(.chosen_by)\"" "$OUT/$1.json"
}

lab_up
start_agent hvA --netns nbhvA --insecure
start_agent hvB --netns nbhvB --insecure
cat >"$OUT/inv.yaml" <<YAML
coordinator: {insecure: true}
nodes:
  hvA: {endpoint: $EP_hvA}
  hvB: {endpoint: $EP_hvB}
YAML

tests/lab drop --at fab --dir req --seq 2 >/dev/null || fail "drop fab seq 2"
tests/lab drop --at fab --dir req --seq 4 >/dev/null || fail "drop fab seq 4"
tests/lab drop --at hvB --dir rep --seq 5 >/dev/null || fail "drop hvB rep seq 5"
want="COMPLETE NETWORK_DROP_REQ COMPLETE NETWORK_DROP_REQ B_INTERNAL_DROP_REP COMPLETE"

run given 6 --src-ip $VMA --dst-ip $VMB --insecure \
	--node "name=hvA,endpoint=$EP_hvA,rx-iface=vnet0,tx-iface=ens4f0" \
	--node "name=hvB,endpoint=$EP_hvB,rx-iface=ens4f0,tx-iface=vnet0"
assert_eq "$want" "$(statuses given)" "given: statuses of seqs 1-6"
assert_eq NETWORK "$(jq -r .verdict "$OUT/given.json")" "given: verdict"
assert_eq 10 "$RC" "given: exit code"
assert_eq "vnet0|given ens4f0|given ens4f0|given vnet0|given" \
	"$(iface given 0 rx) $(iface given 0 tx) $(iface given 1 rx) $(iface given 1 tx)" \
	"given: interfaces"

flush_neigh
run found 6 --src-ip $VMA --dst-ip $VMB --inventory "$OUT/inv.yaml" --from hvA --to hvB
assert_eq "$want" "$(statuses found)" "found: statuses of seqs 1-6"
assert_eq NETWORK "$(jq -r .verdict "$OUT/found.json")" "found: verdict"
assert_eq 10 "$RC" "found: exit code"
learned="(no neighbour entry: learned from traffic)"
assert_eq "vnet0|198.18.0.1 answered ARP on vnet0 $learned" "$(iface found 0 rx)" "found: A rx"
assert_eq "ens4f0|the route to 198.18.0.2 goes out br0; 198.18.0.2 answered ARP on ens4f0 $learned" \
	"$(iface found 0 tx)" "found: A tx"
assert_eq "ens4f0|the route to 198.18.0.1 goes out br0; 198.18.0.1 answered ARP on ens4f0 $learned" \
	"$(iface found 1 rx)" "found: B rx"
assert_eq "vnet0|198.18.0.2 answered ARP on vnet0 $learned" "$(iface found 1 tx)" "found: B tx"
# The same on stderr when the trace starts, and in the text report.
assert_eq "Node A (hvA) rx-iface vnet0: 198.18.0.1 answered ARP on vnet0 $learned" \
	"$(grep -m1 '^Node A (hvA) rx-iface' "$OUT/found.err")" "found: stderr line of A rx"
assert_eq "  B tx-iface vnet0: 198.18.0.2 answered ARP on vnet0 $learned" \
	"$(grep -m1 '^  B tx-iface' "$OUT/found.out")" "found: report line of B tx"
tests/lab clear >/dev/null || fail "clear"

# With neighbour entries (each hypervisor pings both VMs first) the tables decide: the VM's MAC
# from the neighbour table, its port from the bridge's FDB; nothing is learned.
for hv in nbhvA nbhvB; do
	for ip in $VMA $VMB; do
		ip netns exec $hv ping -c 1 -W 1 $ip >/dev/null || fail "ping $ip from $hv"
	done
done
run tables 2 --src-ip $VMA --dst-ip $VMB --inventory "$OUT/inv.yaml" --from hvA --to hvB
assert_eq "COMPLETE COMPLETE" "$(statuses tables)" "tables: statuses"
assert_eq 0 "$RC" "tables: exit code"
assert_eq "vnet0|198.18.0.1 is 02:00:00:00:00:01 (neighbour table) behind vnet0 (FDB of br0)" \
	"$(iface tables 0 rx)" "tables: A rx"
assert_eq "ens4f0|the route to 198.18.0.1 goes out br0; 198.18.0.1 is 02:00:00:00:00:01 (neighbour table) behind ens4f0 (FDB of br0)" \
	"$(iface tables 1 rx)" "tables: B rx"

# A second port on hvA's bridge that is not a tap, and a peer that answers nobody: two
# candidates for the uplink. hvB is given its interfaces, so the one error is hvA's.
ip -n nbhvA link add nbx0 type veth peer name nbx1 || fail "veth nbx0"
on_exit "ip -n nbhvA link del nbx0 2>/dev/null"
ip -n nbhvA link set nbx0 master br0 up || fail "nbx0 into br0"
ip -n nbhvA link set nbx1 up || fail "nbx1 up"
flush_neigh
"$COORD" trace icmp --src-ip $VMA --dst-ip 198.18.0.99 --count 1 --insecure \
	--node "name=hvA,endpoint=$EP_hvA" \
	--node "name=hvB,endpoint=$EP_hvB,rx-iface=ens4f0,tx-iface=vnet0" \
	>"$OUT/amb.out" 2>"$OUT/amb.err"
assert_eq 2 "$?" "ambiguous uplink: exit code"
assert_eq "netblame: node hvA ($EP_hvA): cannot find its interfaces: cannot tell the uplink to 198.18.0.99: no neighbour entry, no answer or packet within 1000 ms; candidates (ports of br0): ens4f0, nbx0" \
	"$(grep -v -- '--insecure' "$OUT/amb.err")" "ambiguous uplink: message"
"$COORD" trace icmp --src-ip 198.18.0.77 --dst-ip $VMB --count 1 --insecure \
	--node "name=hvA,endpoint=$EP_hvA" \
	--node "name=hvB,endpoint=$EP_hvB,rx-iface=ens4f0,tx-iface=vnet0" \
	>"$OUT/none.out" 2>"$OUT/none.err"
assert_eq 2 "$?" "VM not here: exit code"
assert_eq "netblame: node hvA ($EP_hvA): cannot find its interfaces: cannot find 198.18.0.77 on this host: no neighbour entry, and no answer or packet from it within 1000 ms" \
	"$(grep -v -- '--insecure' "$OUT/none.err")" "VM not here: message"

# IPv6 on hypervisors with no address at all: no route, only the answers tell.
kill "$PID_hvA" "$PID_hvB" 2>/dev/null
wait "$PID_hvA" "$PID_hvB" 2>/dev/null
lab_up --ipv6
start_agent hvA --netns nbhvA --insecure
start_agent hvB --netns nbhvB --insecure
PING6=1 run ipv6 4 --src-ip 2001:db8::1 --dst-ip 2001:db8::2 --insecure \
	--node "name=hvA,endpoint=$EP_hvA" --node "name=hvB,endpoint=$EP_hvB"
assert_eq "COMPLETE COMPLETE COMPLETE COMPLETE" "$(statuses ipv6)" "ipv6: statuses"
assert_eq 0 "$RC" "ipv6: exit code"
ns="neighbour solicitation"
assert_eq "vnet0|2001:db8::1 answered $ns on vnet0 $learned" "$(iface ipv6 0 rx)" "ipv6: A rx"
assert_eq "ens4f0|2001:db8::2 answered $ns on ens4f0 $learned" "$(iface ipv6 0 tx)" "ipv6: A tx"
assert_eq "ens4f0|2001:db8::1 answered $ns on ens4f0 $learned" "$(iface ipv6 1 rx)" "ipv6: B rx"
assert_eq "vnet0|2001:db8::2 answered $ns on vnet0 $learned" "$(iface ipv6 1 tx)" "ipv6: B tx"
echo PASS
