#!/bin/bash
# netblame trace across a two-slave uplink, with the nodes taken from an inventory. The lab's
# --bond gives hvB a second uplink (ens4f1) and the fabric steers even echo sequence numbers
# onto it, so node B's request stage B0 is on ens4f0 for odd seqs and on ens4f1 for even ones.
# With the kernel's bonding driver the two are the slaves of a real bond0 (active-backup,
# receiving on both, sending on ens4f0); without it (this test machine's kernel) they are two
# isolated br0 ports, and even seqs' replies leave on ens4f1 too.
# Cases and what each expects:
#   inventory  --from hvA --to hvB, hvB's rx-iface [ens4f0, ens4f1] from the inventory:
#              6 echoes, each COMPLETE with all 8 stages; HEALTHY, exit 0
#   spec       the same with --node ...,rx-iface=ens4f0+ens4f1: HEALTHY, exit 0
#   fault      both slaves traced, hvB drops requests seq 2 and 4 (they came in on ens4f1), the
#              fabric drops seq 3: C B_INTERNAL_DROP_REQ NETWORK_DROP_REQ B_INTERNAL_DROP_REQ
#              C C, NODE_B, exit 12: the second slave's B0 is what puts seqs 2 and 4 in hvB
#   one slave  rx-iface=ens4f0 only: the odd seqs show all 8 stages, the even ones lack B0
#              (and B3 without a bond: their replies leave on ens4f1 then)
#   found      node B from the inventory without interfaces: with a bond, rx is both slaves
#              (found from the port vmA answers behind), every echo COMPLETE; without, the
#              two isolated ports are not an aggregate and ens4f0 alone is found
#   bad        the old comma form: exit 2, one line
set -u
. "$(dirname "$0")/lib.sh"
need_root

VMA=198.18.0.1
VMB=198.18.0.2
OUT=$(mktemp -d /tmp/nb-bond.XXXXXX)
on_exit "rm -rf $OUT"
cd "$REPO"

lab_up --bond
BONDDEV=$(sed -n 's/^BONDDEV=//p' /run/netblame-lab/config)
echo "hvB's uplinks: $BONDDEV"
start_agent hvA --netns nbhvA --insecure
start_agent hvB --netns nbhvB --insecure

cat >"$OUT/inv.yaml" <<YAML
coordinator: {insecure: true}
nodes:
  hvA: {endpoint: $EP_hvA, rx-iface: vnet0, tx-iface: ens4f0}
  hvB:
    endpoint: $EP_hvB
    rx-iface: [ens4f0, ens4f1]
    tx-iface: vnet0
  bare: {endpoint: $EP_hvB}
YAML

# run NAME [coordinator flags...]: a trace of 6 echoes; sets RC.
run() {
	local name=$1
	shift
	trace_bg "$name" icmp --src-ip $VMA --dst-ip $VMB --count 6 --timeout-ms 500 \
		--json "$OUT/$name.json" "$@"
	tests/lab ping -c 6 -i 0.2 -W 1 >/dev/null || true
	trace_end "$name"
}

check() {
	local name=$1
	assert_eq "COMPLETE COMPLETE COMPLETE COMPLETE COMPLETE COMPLETE" \
		"$(jq -r '[.packets | sort_by(.key.seq)[].status] | join(" ")' "$OUT/$name.json")" \
		"$name: statuses of seqs 1-6"
	assert_eq "8 8 8 8 8 8" \
		"$(jq -r '[.packets | sort_by(.key.seq)[].stages | length] | map(tostring) | join(" ")' \
			"$OUT/$name.json")" "$name: stages seen per packet"
	assert_eq HEALTHY "$(jq -r .verdict "$OUT/$name.json")" "$name: verdict"
	assert_eq 0 "$RC" "$name: exit code"
}

run inventory --inventory "$OUT/inv.yaml" --from hvA --to hvB
check inventory
grep -q "^Node A: hvA ($EP_hvA)   Node B: hvB ($EP_hvB)\$" "$OUT/inventory.out" ||
	fail "inventory: node line: $(grep '^Node' "$OUT/inventory.out")"

run spec --insecure \
	--node "name=hvA,endpoint=$EP_hvA,rx-iface=vnet0,tx-iface=ens4f0" \
	--node "name=hvB,endpoint=$EP_hvB,rx-iface=ens4f0+ens4f1,tx-iface=vnet0"
check spec

tests/lab drop --at hvB --dir req --seq 2 >/dev/null || fail "drop hvB seq 2"
tests/lab drop --at hvB --dir req --seq 4 >/dev/null || fail "drop hvB seq 4"
tests/lab drop --at fab --dir req --seq 3 >/dev/null || fail "drop fab seq 3"
run fault --insecure \
	--node "name=hvA,endpoint=$EP_hvA,rx-iface=vnet0,tx-iface=ens4f0" \
	--node "name=hvB,endpoint=$EP_hvB,rx-iface=ens4f0+ens4f1,tx-iface=vnet0"
assert_eq "COMPLETE B_INTERNAL_DROP_REQ NETWORK_DROP_REQ B_INTERNAL_DROP_REQ COMPLETE COMPLETE" \
	"$(jq -r '[.packets | sort_by(.key.seq)[].status] | join(" ")' "$OUT/fault.json")" \
	"fault: statuses of seqs 1-6"
assert_eq NODE_B "$(jq -r .verdict "$OUT/fault.json")" "fault: verdict"
assert_eq 12 "$RC" "fault: exit code"
tests/lab clear >/dev/null || fail "clear"

run oneslave --insecure \
	--node "name=hvA,endpoint=$EP_hvA,rx-iface=vnet0,tx-iface=ens4f0" \
	--node "name=hvB,endpoint=$EP_hvB,rx-iface=ens4f0,tx-iface=vnet0"
all='["A0","A1","B0","B1","B2","B3","A2","A3"]'
if [ "$BONDDEV" = bond0 ]; then
	# The bond sends on its primary ens4f0: only the even requests' B0 is on ens4f1.
	want_stages="1:8 2:7 3:8 4:7 5:8 6:7" want_lack="B0"
else
	# Stages seen per seq: the even ones came in on ens4f1 (B0) and their replies left on it.
	want_stages="1:8 2:6 3:8 4:6 5:8 6:6" want_lack="B0 B3"
fi
assert_eq "$want_stages" \
	"$(jq -r '[.packets | sort_by(.key.seq)[] | "\(.key.seq):\(.stages | length)"] | join(" ")' \
		"$OUT/oneslave.json")" "one slave: stages seen per seq"
assert_eq "$want_lack" \
	"$(jq -r ".packets[] | select(.key.seq == 2) | $all - (.stages | keys) | join(\" \")" \
		"$OUT/oneslave.json")" "one slave: the stages seq 2 lacks"

ip -n nbhvB neigh flush all
run found --inventory "$OUT/inv.yaml" --from hvA --to bare
learned="(no neighbour entry: learned from traffic)"
found_rx=$(jq -r '.nodes[1].interfaces.rx | "\(.names | join("+"))|\(.chosen_by)"' \
	"$OUT/found.json")
if [ "$BONDDEV" = bond0 ]; then
	assert_eq "ens4f0+ens4f1|the route to 198.18.0.1 goes out br0; 198.18.0.1 answered ARP on bond0 $learned; bond bond0: slaves ens4f0+ens4f1" \
		"$found_rx" "found: B rx"
	check found
else
	assert_eq "ens4f0|the route to 198.18.0.1 goes out br0; 198.18.0.1 answered ARP on ens4f0 $learned" \
		"$found_rx" "found: B rx (no bond in this kernel: one port)"
fi
assert_eq "vnet0|198.18.0.2 answered ARP on vnet0 $learned" \
	"$(jq -r '.nodes[1].interfaces.tx | "\(.names | join("+"))|\(.chosen_by)"' "$OUT/found.json")" \
	"found: B tx"

"$COORD" trace icmp --src-ip $VMA --dst-ip $VMB --insecure \
	--node "name=hvA,endpoint=$EP_hvA,rx-iface=vnet0,tx-iface=ens4f0" \
	--node "name=hvB,endpoint=$EP_hvB,rx-iface=ens4f0,ens4f1,tx-iface=vnet0" 2>"$OUT/comma.err"
assert_eq 2 "$?" "comma list: exit code"
assert_eq "netblame: --node: 'ens4f1' is not key=value (several interfaces: rx-iface=IF1+IF2)" \
	"$(cat "$OUT/comma.err")" "comma list: message"
"$COORD" trace icmp --src-ip $VMA --dst-ip $VMB --inventory "$OUT/inv.yaml" --from hvA \
	--to nope 2>"$OUT/nope.err"
assert_eq 2 "$?" "unknown node: exit code"
assert_eq "netblame: --to nope: no node of that name in $OUT/inv.yaml" "$(cat "$OUT/nope.err")" \
	"unknown node: message"
echo PASS
