#!/bin/bash
# netblame trace across a two-slave uplink, with the nodes taken from an inventory. The lab's
# --bond gives hvB a second uplink (ens4f1) and the fabric steers even echo sequence numbers
# onto it, so node B's request stage B0 is on ens4f0 for odd seqs and on ens4f1 for even ones.
# Cases and what each expects:
#   inventory  --from hvA --to hvB, hvB's rx-iface [ens4f0, ens4f1] from the inventory:
#              6 echoes, each COMPLETE with all 8 stages; HEALTHY, exit 0
#   spec       the same with --node ...,rx-iface=ens4f0+ens4f1: HEALTHY, exit 0
#   one slave  rx-iface=ens4f0 only: the odd seqs show all 8 stages, the even ones (in and out
#              on ens4f1) lack B0 and B3: the second slave is what makes them whole
#   bad        the old comma form and an inventory node without interfaces: exit 2, one line
set -u
. "$(dirname "$0")/lib.sh"
need_root

VMA=198.18.0.1
VMB=198.18.0.2
OUT=$(mktemp -d /tmp/nb-bond.XXXXXX)
on_exit "rm -rf $OUT"
cd "$REPO"

lab_up --bond
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
	local name=$1 pid
	shift
	"$COORD" trace icmp --src-ip $VMA --dst-ip $VMB --count 6 --timeout-ms 500 \
		--json "$OUT/$name.json" "$@" >"$OUT/$name.out" 2>"$OUT/$name.err" &
	pid=$!
	on_exit "kill $pid 2>/dev/null"
	wait_for 8 grep -q '^Tracing' "$OUT/$name.err" ||
		fail "$name: no Tracing line: $(cat "$OUT/$name.err")"
	tests/lab ping -c 6 -i 0.2 -W 1 >/dev/null || true
	wait_exit "$pid" "$name: the coordinator" "$OUT/$name.err"
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

run oneslave --insecure \
	--node "name=hvA,endpoint=$EP_hvA,rx-iface=vnet0,tx-iface=ens4f0" \
	--node "name=hvB,endpoint=$EP_hvB,rx-iface=ens4f0,tx-iface=vnet0"
# Stages seen per seq: the even ones came in on ens4f1 (B0) and their replies left on it (B3).
assert_eq "1:8 2:6 3:8 4:6 5:8 6:6" \
	"$(jq -r '[.packets | sort_by(.key.seq)[] | "\(.key.seq):\(.stages | length)"] | join(" ")' \
		"$OUT/oneslave.json")" "one slave: stages seen per seq"
all='["A0","A1","B0","B1","B2","B3","A2","A3"]'
assert_eq "B0 B3" \
	"$(jq -r ".packets[] | select(.key.seq == 2) | $all - (.stages | keys) | join(\" \")" \
		"$OUT/oneslave.json")" "one slave: the stages seq 2 lacks"

"$COORD" trace icmp --src-ip $VMA --dst-ip $VMB --insecure \
	--node "name=hvA,endpoint=$EP_hvA,rx-iface=vnet0,tx-iface=ens4f0" \
	--node "name=hvB,endpoint=$EP_hvB,rx-iface=ens4f0,ens4f1,tx-iface=vnet0" 2>"$OUT/comma.err"
assert_eq 2 "$?" "comma list: exit code"
assert_eq "netblame: --node: 'ens4f1' is not key=value (several interfaces: rx-iface=IF1+IF2)" \
	"$(cat "$OUT/comma.err")" "comma list: message"
"$COORD" trace icmp --src-ip $VMA --dst-ip $VMB --inventory "$OUT/inv.yaml" --from hvA \
	--to bare 2>"$OUT/bare.err"
assert_eq 2 "$?" "node without interfaces: exit code"
assert_eq "netblame: node bare has no rx-iface: give it in $OUT/inv.yaml:8 (rx-iface=IF or IF1+IF2)" \
	"$(cat "$OUT/bare.err")" "node without interfaces: message"
"$COORD" trace icmp --src-ip $VMA --dst-ip $VMB --inventory "$OUT/inv.yaml" --from hvA \
	--to nope 2>"$OUT/nope.err"
assert_eq 2 "$?" "unknown node: exit code"
assert_eq "netblame: --to nope: no node of that name in $OUT/inv.yaml" "$(cat "$OUT/nope.err")" \
	"unknown node: message"
echo PASS
