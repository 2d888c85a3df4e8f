#!/bin/bash
# The stage tracer's latency chains (nb_tracer_open_chain), driven by nb_lat_probe in the lab:
# every stage reports each packet exactly once, named by the hook it came from; without
# kprobes (this kernel) the kernel-function stages fall back to their netfilter hooks; a hidden
# hook leaves its stage missing and the rest running; nothing left is exit 1; and the
# in-kernel histograms put a delay of D ms at hvA's FORWARD between that stage and the next.
set -u
. "$(dirname "$0")/lib.sh"
need_root

PROBE=$REPO/build/tests/tools/nb_lat_probe
OUT=$(mktemp -d /tmp/nb-latchain.XXXXXX)
on_exit "rm -rf $OUT"
[ -x "$PROBE" ] || fail "nb_lat_probe not built ($PROBE)"
lab_up --vmb veth
"$LAB" offload off >/dev/null || fail "offload off"

# probe NAME SECONDS ARGS...: nb_lat_probe in the background, into $OUT/NAME; waits for ready.
probe() {
	local name=$1 secs=$2
	shift 2
	: >"$OUT/$name"
	"$PROBE" --seconds "$secs" "$@" >"$OUT/$name" 2>"$OUT/$name.err" &
	eval "PID_$name=$!"
	on_exit "kill $! 2>/dev/null"
	wait_for 10 grep -q '^ready' "$OUT/$name" ||
		fail "$name: not ready: $(cat "$OUT/$name.err")"
}

# done_probe NAME: waits for its end, exit 0.
done_probe() {
	local pid
	pid=$(eval echo "\$PID_$1")
	wait_exit "$pid" "$1" "$OUT/$1.err"
	assert_eq 0 "$RC" "$1: exit code"
}

count() { sed -n "s/^count stage=$2 n=//p" "$OUT/$1"; }
source_of() { sed -n "s/^source $2 //p" "$OUT/$1"; }

# 1. A VM's echo requests leaving through hvA: vnet0 -> FORWARD -> ens4f0, events.
probe vmtx 6 --family vm --dir tx --proto icmp --netns nbhvA --vm vnet0 --phy ens4f0 \
	--src 198.18.0.1 --dst 198.18.0.2
"$LAB" ping -c 5 -i 0.2 >/dev/null || fail "ping"
done_probe vmtx
assert_eq "ok netif_receive_skb: tcx ingress vnet0" "$(source_of vmtx 0)" "vm tx stage 0 source"
assert_eq "ok forward: netfilter FORWARD, first" "$(source_of vmtx 1)" "vm tx stage 1 source"
assert_eq "ok net_dev_xmit: tcx egress ens4f0" "$(source_of vmtx 2)" "vm tx stage 2 source"
for i in 0 1 2; do
	assert_eq 5 "$(count vmtx $i)" "vm tx: echo requests at stage $i"
done
# The five requests, seq 1..5, each seen at the three stages in order.
for s in 1 2 3 4 5; do
	assert_eq "0 1 2" "$(awk -v s=$s '/^ev / && $0 ~ " seq="s" " {sub("stage=","",$2); printf "%s%s", n++ ? " " : "", $2}' "$OUT/vmtx")" \
		"vm tx: stages of seq $s"
done

# 2. hvA's own echo requests to hvB (.11 -> .12), system tx: no kprobes here, so ip_local_out
#    and ip_finish_output come from LOCAL_OUT and POST_ROUTING; the device stage from the
#    tracepoint when tcx is hidden.
NB_TEST_HIDE_HOOKS=tcx probe systx 5 --family system --dir tx --proto icmp --netns nbhvA \
	--phy ens4f0 --src 198.18.0.11 --dst 198.18.0.12
ip netns exec nbhvA ping -c 4 -i 0.2 198.18.0.12 >/dev/null || fail "ping hvA -> hvB"
done_probe systx
assert_eq "ok ip_local_out: netfilter LOCAL_OUT, first (no kprobe)" "$(source_of systx 0)" \
	"system tx stage 0 source"
assert_eq "ok ip_finish_output: netfilter POST_ROUTING, last (no kprobe)" \
	"$(source_of systx 1)" "system tx stage 1 source"
assert_eq "ok net_dev_xmit: tracepoint net_dev_start_xmit on ens4f0" "$(source_of systx 2)" \
	"system tx stage 2 source"
for i in 0 1 2; do
	assert_eq 4 "$(count systx $i)" "system tx: echo requests at stage $i"
done

# 3. A stage the kernel lacks (hidden): said, and the others run.
NB_TEST_HIDE_HOOKS=netfilter/PRE_ROUTING probe sysrx 4 --family system --dir rx \
	--proto icmp --netns nbhvB --phy ens4f0 --src 198.18.0.11 --dst 198.18.0.12
ip netns exec nbhvA ping -c 3 -i 0.2 198.18.0.12 >/dev/null || fail "ping hvA -> hvB"
done_probe sysrx
case $(source_of sysrx 1) in
"missing ip_rcv: missing ("*) echo "ok: ip_rcv missing, said so" ;;
*) fail "ip_rcv should be missing: $(source_of sysrx 1)" ;;
esac
assert_eq "ok icmp_rcv: netfilter LOCAL_IN, last (no kprobe)" "$(source_of sysrx 2)" \
	"system rx stage 2 source"
assert_eq 3 "$(count sysrx 0)" "system rx: requests at netif_receive_skb"
assert_eq 0 "$(count sysrx 1)" "system rx: nothing at the missing stage"
assert_eq 3 "$(count sysrx 2)" "system rx: requests at icmp_rcv"

# 4. Nothing left: exit 1, one line naming the chain's first stage.
NB_TEST_HIDE_HOOKS=netfilter,tcx,tp_btf "$PROBE" --seconds 1 --family vm --dir tx \
	--netns nbhvA --vm vnet0 --phy ens4f0 >"$OUT/none" 2>"$OUT/none.err"
assert_eq 1 "$?" "every hook hidden: exit code"
grep -q "kernel lacks every stage of the chain (netif_receive_skb: missing" "$OUT/none.err" ||
	fail "every hook hidden: $(cat "$OUT/none.err")"
assert_eq "" "$(bpftool link show 2>/dev/null | grep -c nb_lat_ | grep -v '^0$')" \
	"nothing of the chain left attached"

# 5. Histograms: a delay of 40 ms at hvA's FORWARD (requests) is between forward and
#    net_dev_xmit, for every request, and nowhere else.
"$LAB" delay --at hvA --dir req --ms 40 >/dev/null || fail "delay"
on_exit "$LAB clear >/dev/null 2>&1"
probe vmhist 6 --hist --family vm --dir tx --proto icmp --netns nbhvA --vm vnet0 --phy ens4f0 \
	--src 198.18.0.1 --dst 198.18.0.2
"$LAB" ping -c 6 -i 0.2 >/dev/null || fail "ping with delay"
done_probe vmhist
# 40 ms = 40000 us: log2 bucket 15 ([32768, 65535] us).
assert_eq "hist 1 2 15 6" "$(grep '^hist 1 2 ' "$OUT/vmhist")" "delay pair: all 6 in bucket 15"
assert_eq 6 "$(awk '$1 == "hist" && $2 == 0 && $3 == 1 {n += $5} END {print n+0}' "$OUT/vmhist")" \
	"vnet0 -> forward: 6 packets"
assert_eq 0 "$(awk '$1 == "hist" && $2 == 0 && $3 == 1 && $4 >= 10 {n += $5} END {print n+0}' "$OUT/vmhist")" \
	"vnet0 -> forward: none over 1 ms"
assert_eq "" "$(grep -c '^ev ' "$OUT/vmhist" | grep -v '^0$')" "histogram mode: no events"
grep -q "^stats matched=18 lost=0 parse_err=0 no_prev=0 last_full=0$" "$OUT/vmhist" ||
	fail "histogram stats: $(grep ^stats "$OUT/vmhist")"
echo "PASS"
