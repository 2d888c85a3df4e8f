#!/bin/bash
# system_network_latency_summary and vm_network_latency_summary in the lab, with a fixed delay
# of D ms (NFQUEUE + nb_delay) at a known point: the pair of stages around the delay point has
# every delayed packet in the bucket holding D, the other pairs stay well under D, and every
# pair counts exactly the packets sent (offloads off, so no packet is merged). Then one run per
# bad-input class, and a hook the kernel lacks.
set -u
. "$(dirname "$0")/lib.sh"
need_root

SYS=$REPO/bin/system_network_latency_summary
VM=$REPO/bin/vm_network_latency_summary
OUT=$(mktemp -d /tmp/nb-latsum.XXXXXX)
on_exit "rm -rf $OUT"
D=33
# 33 ms = 33000 us: log2 bucket 32768 -> 65535. D sits just above the bucket's low edge, so a
# packet that the loaded machine holds up to 32 ms longer than D still lands in it.
BUCKET_LOW=32768
lab_up --vmb veth
"$LAB" offload off >/dev/null || fail "offload off"
on_exit "$LAB clear >/dev/null 2>&1"

# run NAME TOOL ARGS...: the tool in the background into $OUT/NAME (.err), until ready.
run() {
	local name=$1
	shift
	: >"$OUT/$name"
	"$@" >"$OUT/$name" 2>"$OUT/$name.err" &
	eval "PID_$name=$!"
	on_exit "kill $! 2>/dev/null"
	wait_for 10 grep -q -e '"type":"start"' -e '^Stages:' "$OUT/$name" ||
		fail "$name did not start: $(cat "$OUT/$name.err")"
}

# stop NAME: SIGINT, exit 0.
stop() {
	local pid
	pid=$(eval echo "\$PID_$1")
	kill -INT "$pid"
	wait_exit "$pid" "$1" "$OUT/$1.err"
	assert_eq 0 "$RC" "$1: exit code"
}

# pair NAME FROM TO FILTER: jq FILTER on the summary's pair FROM -> TO.
pair() {
	jq -r --arg a "$2" --arg b "$3" \
		"select(.type == \"summary\") | .pairs[] | select(.from == \$a and .to == \$b) | $4" \
		"$OUT/$1"
}

# 1. VM traffic received by hvB (direction rx: ens4f0 -> FORWARD -> vnet0), the delay in hvB's
#    FORWARD chain: between the forward stage (first in FORWARD) and net_dev_xmit.
"$LAB" delay --at hvB --dir req --ms $D >/dev/null || fail "delay at hvB"
run vmrx "$VM" --netns nbhvB --vm-interface vnet0 --phy-interface ens4f0 --direction rx \
	--protocol icmp --src-ip 198.18.0.1 --dst-ip 198.18.0.2 --interval 1 --json
run vmrx_text "$VM" --netns nbhvB --vm-interface vnet0 --phy-interface ens4f0 --direction rx \
	--protocol icmp --src-ip 198.18.0.1 --dst-ip 198.18.0.2 --interval 60
"$LAB" ping -c 8 -i 0.1 >/dev/null || fail "ping through the delay"
stop vmrx
stop vmrx_text
"$LAB" delay --at hvB --dir req --off >/dev/null
assert_eq "$BUCKET_LOW:8" "$(pair vmrx forward net_dev_xmit '.buckets[] | "\(.low_us):\(.count)"')" \
	"vm rx: forward -> net_dev_xmit holds the 8 delayed requests in the ${D} ms bucket"
assert_eq 8 "$(pair vmrx netif_receive_skb forward .count)" \
	"vm rx: netif_receive_skb -> forward counts the 8 requests"
assert_eq 0 "$(pair vmrx netif_receive_skb forward '[.buckets[] | select(.high_us >= 4096) | .count] | add // 0')" \
	"vm rx: netif_receive_skb -> forward: none at 4 ms or more"
assert_eq 2 "$(jq -s '[.[] | select(.type == "summary") | .pairs[]] | length' "$OUT/vmrx")" \
	"vm rx: two pairs, no other"
assert_eq "0 0" "$(jq -r 'select(.type == "summary") | "\(.no_earlier_stage) \(.unrecorded)"' "$OUT/vmrx")" \
	"vm rx: nothing unmeasured"
# The intervals add up to the summary.
assert_eq 8 "$(jq -s '[.[] | select(.type == "interval") | .pairs[] | select(.from == "forward") | .count] | add' "$OUT/vmrx")" \
	"vm rx: the intervals' counts add up to 8"
# Text: the manual's header and layout.
assert_eq "=== VM Network Latency Summary ===" "$(sed -n 1p "$OUT/vmrx_text")" "text: title"
assert_eq "Interval: 60s | Protocol: ICMP | Direction: RX" "$(sed -n 2p "$OUT/vmrx_text")" \
	"text: second line"
grep -qx "  forward: netfilter FORWARD, first" "$OUT/vmrx_text" ||
	fail "text: the forward stage's hook is not named: $(cat "$OUT/vmrx_text")"
grep -q '^\[[0-9:]*\] Stage: forward -> net_dev_xmit$' "$OUT/vmrx_text" ||
	fail "text: no 'Stage: forward -> net_dev_xmit' line"
grep -qx '     32768 -> 65535      : 8        |\*\{32\}|' "$OUT/vmrx_text" ||
	fail "text: no full bar of 8 at 32768 -> 65535: $(grep -- '->' "$OUT/vmrx_text")"

# 2. hvA's own traffic sent to hvB (system, direction tx), the delay in hvA's OUTPUT chain:
#    between ip_local_out (LOCAL_OUT, first) and ip_finish_output (POST_ROUTING, last).
"$LAB" delay --at hvA --dir req --chain OUTPUT --ms $D >/dev/null || fail "delay at hvA OUTPUT"
run systx "$SYS" --netns nbhvA --phy-interface ens4f0 --direction tx --protocol icmp \
	--src-ip 198.18.0.11 --dst-ip 198.18.0.12 --interval 1 --json
ip netns exec nbhvA ping -c 6 -i 0.1 198.18.0.12 >/dev/null || fail "ping hvA -> hvB"
stop systx
"$LAB" delay --at hvA --dir req --chain OUTPUT --off >/dev/null
assert_eq "$BUCKET_LOW:6" "$(pair systx ip_local_out ip_finish_output '.buckets[] | "\(.low_us):\(.count)"')" \
	"system tx: ip_local_out -> ip_finish_output holds the 6 delayed requests"
assert_eq 6 "$(pair systx ip_finish_output net_dev_xmit .count)" \
	"system tx: ip_finish_output -> net_dev_xmit counts the 6 requests"
assert_eq 0 "$(pair systx ip_finish_output net_dev_xmit '[.buckets[] | select(.high_us >= 4096) | .count] | add // 0')" \
	"system tx: ip_finish_output -> net_dev_xmit: none at 4 ms or more"
assert_eq '"ip_local_out: netfilter LOCAL_OUT, first (no kprobe)"' \
	"$(jq -c 'select(.type == "start") | .stages[0].source' "$OUT/systx")" \
	"system tx: the start line names stage 0's hook"

# 3. A hook the kernel lacks (hidden): said on stderr, the tool measures the rest.
NB_TEST_HIDE_HOOKS=netfilter/FORWARD run nofwd "$VM" --netns nbhvA --vm-interface vnet0 \
	--phy-interface ens4f0 --direction tx --protocol icmp --interval 60 --json
"$LAB" ping -c 3 -i 0.1 >/dev/null || fail "ping"
stop nofwd
grep -q "^vm_network_latency_summary: warning: stage forward: forward: missing (" \
	"$OUT/nofwd.err" || fail "missing stage not said: $(cat "$OUT/nofwd.err")"
assert_eq 3 "$(pair nofwd netif_receive_skb net_dev_xmit .count)" \
	"no FORWARD hook: netif_receive_skb -> net_dev_xmit counts the 3 requests"

# 4. Bad input: exit 2 with one line; every hook missing: exit 1 with one line.
bad() {
	local want=$1 what=$2
	shift 2
	"$@" >"$OUT/bad.out" 2>"$OUT/bad.err"
	assert_eq "$want" "$?" "$what: exit code"
	assert_eq 1 "$(wc -l <"$OUT/bad.err")" "$what: one line on stderr"
	assert_eq 0 "$(wc -c <"$OUT/bad.out")" "$what: nothing on stdout"
}
bad 2 "vm: --direction both" "$VM" --netns nbhvA --vm-interface vnet0 --phy-interface ens4f0 \
	--direction both
bad 2 "bad --direction" "$SYS" --netns nbhvA --phy-interface ens4f0 --direction up
bad 2 "bad --src-ip" "$SYS" --netns nbhvA --phy-interface ens4f0 --direction rx \
	--src-ip 198.18.0
bad 2 "bad --protocol" "$SYS" --netns nbhvA --phy-interface ens4f0 --direction rx \
	--protocol sctp
bad 2 "unknown interface" "$SYS" --netns nbhvA --phy-interface nosuch0 --direction rx
bad 2 "missing --phy-interface" "$SYS" --netns nbhvA --direction rx
bad 2 "missing --direction" "$VM" --netns nbhvA --vm-interface vnet0 --phy-interface ens4f0
bad 2 "bad --interval" "$SYS" --netns nbhvA --phy-interface ens4f0 --direction rx \
	--interval 0
NB_TEST_HIDE_HOOKS=netfilter,tcx,tp_btf bad 1 "every hook missing" "$SYS" --netns nbhvA \
	--phy-interface ens4f0 --direction rx
grep -q "kernel lacks every stage" "$OUT/bad.err" || fail "every hook missing: $(cat "$OUT/bad.err")"
echo PASS
