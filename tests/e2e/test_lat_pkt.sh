#!/bin/bash
# The per-packet latency tools in the lab, each family with a fixed delay of D ms (NFQUEUE) at a
# known point; the stage pair that gets BOTTLENECK must hold the delay (>= D), the others stay
# under D/2:
#   system_network_icmp_rtt, hvA pings hvB, hvA's OUTPUT holds requests -> ip_local_out ->
#       ip_finish_output, every echo HIGH LATENCY (--latency-ms D/2)
#   kernel_icmp_rtt in vmA, vmA pings vmB, vmA's INPUT holds replies   -> ip_rcv -> icmp_rcv
#   vm_network_latency_details on hvB, rx, hvB's FORWARD holds requests -> forward ->
#       net_dev_xmit, exactly one record per echo request sent
#   system_network_latency_details on hvA, tx, no delay                 -> exactly one line per
#       echo request sent, every stage seen
# and each bad-input class for every tool (exit 2, one line), and no nb_ program left behind.
set -u
. "$(dirname "$0")/lib.sh"
need_root

D=40 # ms
HALF_NS=$((D * 1000000 / 2))
D_NS=$((D * 1000000))
OUT=$(mktemp -d /tmp/nb-latpkt.XXXXXX)
on_exit "rm -rf $OUT"

# tool NAME WAIT-FOR TOOL ARGS...: start a tool in the background, wait until it has attached
# (its output holds WAIT-FOR).
tool() {
	local name=$1 ready=$2
	shift 2
	"$AGENT" "$@" >"$OUT/$name.json" 2>"$OUT/$name.err" &
	eval "PID_$name=$!"
	on_exit "kill $! 2>/dev/null"
	wait_for 10 grep -q "$ready" "$OUT/$name.json" ||
		fail "$name: did not attach: $(cat "$OUT/$name.err")"
}

# rtt_case NAME PAIR: the JSON echoes of NAME: 3, complete, HIGH LATENCY, BOTTLENECK on PAIR
# holding >= D ms, every other pair (and the wire) under D/2.
check_echoes() {
	local name=$1 pair=$2 f=$OUT/$1.json
	assert_eq 3 "$(jq -s '[.[] | select(.type == "echo")] | length' "$f")" "$name: echoes"
	assert_eq "1 2 3" "$(jq -r 'select(.type == "echo") | .seq' "$f" | paste -sd ' ')" \
		"$name: seqs"
	assert_eq "true true true" \
		"$(jq -r 'select(.type == "echo") | .complete and .high_latency' "$f" | paste -sd ' ')" \
		"$name: complete and HIGH LATENCY"
	assert_eq "$pair|$pair|$pair" \
		"$(jq -r 'select(.type == "echo") | .bottleneck' "$f" | paste -sd '|')" \
		"$name: BOTTLENECK"
	assert_eq 3 "$(jq -s --arg p "$pair" --argjson d "$D_NS" --argjson h "$HALF_NS" \
		'[.[] | select(.type == "echo") | select(all(.deltas[];
			if (.from + " -> " + .to) == $p then .ns >= $d else .ns < $h end))] | length' "$f")" \
		"$name: $pair >= ${D} ms, every other pair < $((D / 2)) ms"
	assert_eq '3 3 0 0' "$(jq -r 'select(.type == "summary") |
		"\(.echoes) \(.complete) \(.incomplete) \(.lost_events)"' "$f")" \
		"$name: summary echoes, complete, incomplete, lost events"
}

lab_up --vmb veth

# --- the sending host's OUTPUT: hvA pings hvB's bridge address ---
"$LAB" delay --at hvA --dir req --chain OUTPUT --ms "$D" >/dev/null || fail "delay hvA OUTPUT"
tool sys_rtt '"type":"start"' system_network_icmp_rtt --netns nbhvA --src-ip 198.18.0.11 \
	--dst-ip 198.18.0.12 --phy-interface ens4f0 --direction tx --latency-ms $((D / 2)) \
	--count 3 --json
"$LAB" exec hvA ping -c 3 -i 0.2 -W 2 198.18.0.12 >/dev/null || fail "hvA ping hvB"
finish_bg sys_rtt
check_echoes sys_rtt "ip_local_out -> ip_finish_output"
assert_eq "netfilter LOCAL_OUT" "$(jq -r 'select(.type == "start") | .stages[0].source' \
	"$OUT/sys_rtt.json" | grep -o 'netfilter LOCAL_OUT')" "sys_rtt: ip_local_out's hook named"
"$LAB" clear >/dev/null || fail "clear"

# --- a VM's INPUT: kernel_icmp_rtt inside vmA, vmA pings vmB ---
"$LAB" delay --at vmA --dir rep --chain INPUT --ms "$D" >/dev/null || fail "delay vmA INPUT"
tool kern_rtt '"type":"start"' kernel_icmp_rtt --netns nbvmA --src-ip 198.18.0.1 \
	--dst-ip 198.18.0.2 --interface eth0 --direction tx --latency-ms $((D / 2)) --count 3 --json
"$LAB" ping -c 3 -i 0.2 -W 2 >/dev/null || fail "vmA ping vmB"
finish_bg kern_rtt
check_echoes kern_rtt "ip_rcv -> icmp_rcv"
"$LAB" clear >/dev/null || fail "clear"

# --- the receiving hypervisor's forward path: vm details on hvB, toward the VM ---
"$LAB" delay --at hvB --dir req --ms "$D" >/dev/null || fail "delay hvB FORWARD"
tool vm_det '"type":"start"' vm_network_latency_details --netns nbhvB --vm-interface vnet0 \
	--phy-interface ens4f0 --src-ip 198.18.0.1 --dst-ip 198.18.0.2 --protocol icmp \
	--direction rx --json
"$LAB" ping -c 5 -i 0.2 -W 2 >/dev/null || fail "vmA ping vmB"
wait_for 5 test "$(grep -c '"type":"packet"' "$OUT/vm_det.json")" -ge 5 ||
	fail "vm_det: fewer than 5 records: $(cat "$OUT/vm_det.json")"
finish_bg vm_det stop
f=$OUT/vm_det.json
assert_eq "1 2 3 4 5" "$(jq -r 'select(.type == "packet") | .seq' "$f" | paste -sd ' ')" \
	"vm_det: one record per echo request sent"
assert_eq "8 8 8 8 8" "$(jq -r 'select(.type == "packet") | .icmp_type' "$f" | paste -sd ' ')" \
	"vm_det: only requests (src -> dst)"
assert_eq 5 "$(jq -s --argjson d "$D_NS" --argjson h "$HALF_NS" '[.[] |
	select(.type == "packet" and .complete and .bottleneck == "forward -> net_dev_xmit") |
	select(all(.deltas[]; if .from == "forward" then .ns >= $d else .ns < $h end))] | length' \
	"$f")" "vm_det: forward -> net_dev_xmit >= ${D} ms, netif_receive_skb -> forward < $((D / 2)) ms"
"$LAB" clear >/dev/null || fail "clear"

# --- system details, text: one line per packet, every stage ---
tool sys_det '^Stages:' system_network_latency_details --netns nbhvA --phy-interface ens4f0 \
	--src-ip 198.18.0.11 --dst-ip 198.18.0.12 --protocol icmp --direction tx
"$LAB" exec hvA ping -c 4 -i 0.2 -W 2 198.18.0.12 >/dev/null || fail "hvA ping hvB"
wait_for 5 test "$(grep -c ' TX ICMP ' "$OUT/sys_det.json")" -ge 4 ||
	fail "sys_det: fewer than 4 lines: $(cat "$OUT/sys_det.json")"
finish_bg sys_det stop
assert_eq "1 2 3 4" "$(sed -n 's/.* TX ICMP 198.18.0.11 -> 198.18.0.12 type=8 id=[0-9]* seq=\([0-9]*\): ip_local_out->ip_finish_output=[0-9]*us ip_finish_output->net_dev_xmit=[0-9]*us total=[0-9]*us$/\1/p' \
	"$OUT/sys_det.json" | paste -sd ' ')" "sys_det: one complete line per echo request"
assert_eq "Packets: 4 (complete 4, incomplete 0)" "$(grep '^Packets:' "$OUT/sys_det.json")" \
	"sys_det: summary"

# --- bad input: exit 2 with one line, per class and tool ---
IFS_OF=(system_network_icmp_rtt:--phy-interface kernel_icmp_rtt:--interface)
bad() {
	local what=$1 err
	shift
	err=$(ip netns exec nbhvA "$AGENT" "$@" 2>&1 >/dev/null)
	RC=$?
	assert_eq 2 "$RC" "$what: exit code"
	assert_eq 1 "$(printf '%s\n' "$err" | wc -l)" "$what: one line ($err)"
}
for t in "${IFS_OF[@]}"; do
	name=${t%%:*}
	ifo=${t#*:}
	ok=(--src-ip 198.18.0.11 --dst-ip 198.18.0.12 "$ifo" ens4f0)
	bad "$name unknown interface" "$name" --src-ip 198.18.0.11 --dst-ip 198.18.0.12 "$ifo" \
		nbnope0 --direction tx
	bad "$name bad address" "$name" --src-ip 198.18.0 --dst-ip 198.18.0.12 "$ifo" ens4f0 \
		--direction tx
	bad "$name bad direction" "$name" "${ok[@]}" --direction both
	bad "$name missing flag" "$name" --src-ip 198.18.0.11 "$ifo" ens4f0 --direction tx
done
for name in system_network_latency_details vm_network_latency_details; do
	vmf=()
	[ "$name" = vm_network_latency_details ] && vmf=(--vm-interface br0)
	bad "$name unknown interface" "$name" "${vmf[@]}" --phy-interface nbnope0 \
		--src-ip 198.18.0.11 --direction rx
	bad "$name bad address" "$name" "${vmf[@]}" --phy-interface ens4f0 --src-ip 198.18.0.300 \
		--direction rx
	bad "$name bad direction" "$name" "${vmf[@]}" --phy-interface ens4f0 --src-ip 198.18.0.11 \
		--direction sideways
	bad "$name missing flag" "$name" "${vmf[@]}" --src-ip 198.18.0.11 --direction rx
	bad "$name no address filter" "$name" "${vmf[@]}" --phy-interface ens4f0 --direction rx
	assert_eq 1 "$(ip netns exec nbhvA "$AGENT" "$name" "${vmf[@]}" --phy-interface ens4f0 \
		--direction rx 2>&1 | grep -c 'expensive')" "$name: says why it wants a filter"
done

assert_eq "" "$(bpftool prog show 2>/dev/null | grep -o 'name nb_lat[a-z0-9_]*' | sort -u |
	paste -sd ' ')" "nb_lat programs left"
