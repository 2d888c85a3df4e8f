#!/bin/bash
# icmp_path_tracer on one hypervisor of the lab: every status, with the veth VM (hvA's
# vnet0) and the tap VM (hvB's vnet0), a bond-style rx list, namespace isolation between two
# hypervisors with identical interface names, and bad input.
# Each case states the fault it injects and the exact status it expects for the exact seq.
set -u
. "$(dirname "$0")/lib.sh"
need_root

VMA=198.18.0.1
VMB=198.18.0.2
TMO=500
OUT=$(mktemp -d /tmp/nb-icmp.XXXXXX)
on_exit "rm -rf $OUT"

# trace NAME NODE RX TX COUNT [ARG...]: start the tracer in the background, wait until it is
# attached. HIDE, when set, goes to NB_TEST_HIDE_HOOKS (hooks made to look absent).
trace() {
	local name=$1 node=$2 rx=$3 tx=$4 count=$5
	shift 5
	NB_TEST_HIDE_HOOKS=${HIDE:-} "$AGENT" icmp_path_tracer --netns "nb$node" --src-ip $VMA \
		--dst-ip $VMB --rx-iface "$rx" --tx-iface "$tx" --count "$count" --timeout-ms $TMO \
		--json "$@" >"$OUT/$name.json" 2>"$OUT/$name.err" &
	eval "PID_$name=$!"
	on_exit "kill $! 2>/dev/null"
	wait_for 5 grep -q '"type":"start"' "$OUT/$name.json" || fail "$name: tracer did not attach"
}

status() { jq -r "select(.type==\"packet\" and .seq==$2) | .status" "$OUT/$1.json"; }
iface() { jq -r "select(.type==\"packet\" and .seq==$2) | .stages[] | select(.stage==\"$3\") | .iface" "$OUT/$1.json"; }

expect() { # NAME SEQ STATUS
	assert_eq "$3" "$(status "$1" "$2")" "$1 seq $2"
}

hooks() { jq -r 'select(.type=="start") | .hooks' "$OUT/$1.json"; }

# case NAME NODE RX TX [ARG...]: 3 pings (a fault set up before hits seq 2).
case_run() {
	local name=$1 node=$2 rx=$3 tx=$4
	shift 4
	trace "$name" "$node" "$rx" "$tx" 3 "$@"
	tests/lab ping -c 3 -i 0.2 -W 1 >/dev/null || true
	finish_bg "$name"
}

cd "$REPO"
lab_up --vmb tap

# --- hvA: the VM port is a veth; the request enters on vnet0 and leaves on ens4f0.
case_run a_ok hvA vnet0 ens4f0
for s in 1 2 3; do expect a_ok $s COMPLETE; done
assert_eq vnet0 "$(iface a_ok 1 REQ_RX)" "a_ok REQ_RX iface"
assert_eq ens4f0 "$(iface a_ok 1 REQ_TX)" "a_ok REQ_TX iface"
assert_eq ens4f0 "$(iface a_ok 1 REP_RX)" "a_ok REP_RX iface"
assert_eq vnet0 "$(iface a_ok 1 REP_TX)" "a_ok REP_TX iface"

tests/lab drop --at hvA --dir req --seq 2
case_run a_dreq hvA vnet0 ens4f0
tests/lab clear
expect a_dreq 1 COMPLETE
expect a_dreq 2 INTERNAL_DROP_REQ
expect a_dreq 3 COMPLETE

tests/lab drop --at fab --dir req --seq 2
case_run a_ext hvA vnet0 ens4f0
tests/lab clear
expect a_ext 2 EXTERNAL_DROP
expect a_ext 3 COMPLETE

tests/lab drop --at hvA --dir rep --seq 2
case_run a_drep hvA vnet0 ens4f0
tests/lab clear
expect a_drep 2 INTERNAL_DROP_REP
expect a_drep 1 COMPLETE

# --- hvB: the VM port is a tap served by the userspace VM.
case_run b_ok hvB ens4f0 vnet0
for s in 1 2 3; do expect b_ok $s COMPLETE; done

tests/lab drop --at hvB --dir req --seq 2
case_run b_dreq hvB ens4f0 vnet0
tests/lab clear
expect b_dreq 2 INTERNAL_DROP_REQ
expect b_dreq 3 COMPLETE

tests/lab ignore-echo on
case_run b_ext hvB ens4f0 vnet0
tests/lab ignore-echo off
for s in 1 2 3; do expect b_ext $s EXTERNAL_DROP; done

tests/lab drop --at hvB --dir rep --seq 2
case_run b_drep hvB ens4f0 vnet0
tests/lab clear
expect b_drep 2 INTERNAL_DROP_REP
expect b_drep 1 COMPLETE

# --- Two hypervisors with the same interface names (and ifindexes) traced at once: a drop
# inside hvB must show only in hvB's trace; hvA sees its request leave and no reply.
ia=$(ip -n nbhvA -o link show ens4f0 | cut -d: -f1)
ib=$(ip -n nbhvB -o link show ens4f0 | cut -d: -f1)
echo "ens4f0 ifindex: hvA=$ia hvB=$ib"
tests/lab drop --at hvB --dir req --seq 2
trace iso_a hvA vnet0 ens4f0 3
trace iso_b hvB ens4f0 vnet0 3
tests/lab ping -c 3 -i 0.2 -W 1 >/dev/null || true
finish_bg iso_a
finish_bg iso_b
tests/lab clear
expect iso_a 2 EXTERNAL_DROP
expect iso_b 2 INTERNAL_DROP_REQ
expect iso_a 1 COMPLETE
expect iso_b 1 COMPLETE
assert_eq 4 "$(jq -r 'select(.type=="packet" and .seq==1) | .stages | length' "$OUT/iso_a.json")" \
	"iso_a seq 1 has exactly its own four stages"

# --- Hooks. By default the stages come from tcx links on the two traced devices; the
# device tracepoints give the same statuses, and are what a kernel without tcx gets.
assert_eq tcx "$(hooks a_ok)" "default hooks on this kernel"
tests/lab drop --at hvA --dir req --seq 2
case_run a_tp hvA vnet0 ens4f0 --hooks tracepoint
tests/lab clear
assert_eq tracepoint "$(hooks a_tp)" "--hooks tracepoint"
expect a_tp 1 COMPLETE
expect a_tp 2 INTERNAL_DROP_REQ
expect a_tp 3 COMPLETE
# Where the two differ: a TC filter on the uplink's egress drops seq 2 after the tcx egress
# hook but before net_dev_start_xmit. With tcx the request was seen leaving (the drop tracer,
# which trace sessions run, then puts the loss in this node); the tracepoint never saw it go.
# --drops watches this host's drops of the flow: the same request, seen on REQ_TX, is then
# INTERNAL_DROP_REQ with the reason and device.
tc_shot_echo hvA ens4f0 egress 2
case_run a_tcx_late hvA vnet0 ens4f0
case_run a_tp_late hvA vnet0 ens4f0 --hooks tracepoint
case_run a_drops_late hvA vnet0 ens4f0 --drops
tc_clear hvA ens4f0
expect a_tcx_late 2 EXTERNAL_DROP
expect a_tp_late 2 INTERNAL_DROP_REQ
expect a_drops_late 2 INTERNAL_DROP_REQ
for n in a_tcx_late a_tp_late a_drops_late; do expect $n 1 COMPLETE; expect $n 3 COMPLETE; done
assert_eq "dropped on ens4f0 after REQ_TX: TC_EGRESS" \
	"$(jq -r 'select(.type=="packet" and .seq==2) | .detail' "$OUT/a_drops_late.json")" \
	"a_drops_late seq 2 detail"
assert_eq REQ_RX,REQ_TX \
	"$(jq -r 'select(.type=="packet" and .seq==2) | [.stages[].stage] | join(",")' \
		"$OUT/a_drops_late.json")" "a_drops_late seq 2 stages"
tests/lab drop --at hvB --dir rep --seq 2
HIDE=tcx case_run b_fallback hvB ens4f0 vnet0
tests/lab clear
assert_eq tracepoint "$(hooks b_fallback)" "auto without tcx falls back to the tracepoints"
expect b_fallback 1 COMPLETE
expect b_fallback 2 INTERNAL_DROP_REP
expect b_fallback 3 COMPLETE
# The overhead benchmark's floor (NB_TEST_NOOP_PROGRAMS=1): the same links with programs that
# return at once. It must really see nothing, or the floor would measure the tool itself.
NB_TEST_NOOP_PROGRAMS=1 "$AGENT" icmp_path_tracer --netns nbhvA --src-ip $VMA --dst-ip $VMB \
	--rx-iface vnet0 --tx-iface ens4f0 --duration 2 --json >"$OUT/noop.json" 2>"$OUT/noop.err" &
PID_noop=$!
on_exit "kill $PID_noop 2>/dev/null"
wait_for 5 grep -q '"type":"start"' "$OUT/noop.json" || fail "noop: tracer did not attach"
tests/lab ping -c 3 -i 0.2 -W 1 >/dev/null || fail "noop: ping failed with empty programs attached"
finish_bg noop
assert_eq tcx "$(hooks noop)" "noop: hooks"
assert_eq 0 "$(jq -s '[.[] | select(.type=="packet")] | length' "$OUT/noop.json")" \
	"noop: packets reported"
assert_eq "icmp_path_tracer: warning: NB_TEST_NOOP_PROGRAMS=1: the stage programs return at once, nothing is traced" \
	"$(cat "$OUT/noop.err")" "noop: stderr"

# --- The veth VM on hvB too, ignoring echo through its own kernel.
tests/lab down
lab_up --vmb veth
tests/lab ignore-echo on
case_run bv_ext hvB ens4f0 vnet0
tests/lab ignore-echo off
expect bv_ext 2 EXTERNAL_DROP
case_run bv_ok hvB ens4f0 vnet0
expect bv_ok 2 COMPLETE

# --- Bond-style uplink: odd seqs arrive on ens4f0, even on ens4f1; both in --rx-iface.
tests/lab down
lab_up --bond
trace bond hvB ens4f0,ens4f1 vnet0 4
tests/lab ping -c 4 -i 0.2 -W 1 >/dev/null || true
finish_bg bond
for s in 1 2 3 4; do expect bond $s COMPLETE; done
assert_eq ens4f0 "$(iface bond 1 REQ_RX)" "bond seq 1 REQ_RX iface"
assert_eq ens4f1 "$(iface bond 2 REQ_RX)" "bond seq 2 REQ_RX iface"
assert_eq ens4f0 "$(iface bond 3 REQ_RX)" "bond seq 3 REQ_RX iface"
assert_eq ens4f1 "$(iface bond 4 REQ_RX)" "bond seq 4 REQ_RX iface"

# --- Bad input: one line on stderr, exit 2 (usage) or 1 (runtime), nothing left attached.
bad() { # EXPECTED-RC PATTERN ARGS...
	local want=$1 pat=$2 rc
	shift 2
	"$@" >"$OUT/bad.out" 2>"$OUT/bad.err"
	rc=$?
	assert_eq "$want" "$rc" "exit code of: $*"
	assert_eq 1 "$(wc -l <"$OUT/bad.err")" "one stderr line for: $*"
	grep -q -- "$pat" "$OUT/bad.err" || fail "expected '$pat' in: $(cat "$OUT/bad.err")"
}
T="$AGENT icmp_path_tracer"
bad 2 "unknown interface 'nope0'" $T --netns nbhvA --src-ip $VMA --dst-ip $VMB --rx-iface nope0 --tx-iface ens4f0
bad 2 "invalid --dst-ip" $T --netns nbhvA --src-ip $VMA --dst-ip 300.1.1.1 --rx-iface vnet0 --tx-iface ens4f0
bad 2 "missing required option --tx-iface" $T --src-ip $VMA --dst-ip $VMB --rx-iface vnet0
bad 2 "unknown option" $T --src-ip $VMA --dst-ip $VMB --rx-iface vnet0 --tx-iface x --bogus
bad 2 "network namespace 'nbnonexistent' not found" $T --netns nbnonexistent --src-ip $VMA --dst-ip $VMB --rx-iface a --tx-iface b
bad 2 "invalid --timeout-ms" $T --src-ip $VMA --dst-ip $VMB --rx-iface a --tx-iface b --timeout-ms -5
bad 1 "must run as root" setpriv --reuid=65534 --regid=65534 --clear-groups $T --netns nbhvA --src-ip $VMA --dst-ip $VMB --rx-iface vnet0 --tx-iface ens4f0
bad 2 "invalid --hooks 'kprobe'" $T --netns nbhvA --src-ip $VMA --dst-ip $VMB --rx-iface vnet0 --tx-iface ens4f0 --hooks kprobe
# A kernel lacking a hook: asked for explicitly, or the last fallback missing. The second
# case attaches the receive tracepoint first: it must be gone again.
bad 1 "kernel lacks hook tcx" env NB_TEST_HIDE_HOOKS=tcx $T --netns nbhvA --src-ip $VMA --dst-ip $VMB --rx-iface vnet0 --tx-iface ens4f0 --hooks tcx
bad 1 "kernel lacks hook tp_btf/net_dev_start_xmit needed for transmit stages" env NB_TEST_HIDE_HOOKS=tcx,tp_btf/net_dev_start_xmit $T --netns nbhvA --src-ip $VMA --dst-ip $VMB --rx-iface vnet0 --tx-iface ens4f0
# A tool not built yet (whichever --help still marks so) says it in one line.
unbuilt=$("$AGENT" --help | awk '/\(not built yet\)$/ { print $1; exit }')
if [ -n "$unbuilt" ]; then
	bad 1 "not built yet" "$AGENT" "$unbuilt"
	"$AGENT" "$unbuilt" --help | grep -q -- '--netns' || fail "help of an unbuilt tool lists its flags"
else
	echo "note: every tool is built: no 'not built yet' case"
fi
no_progs "after the runs"
echo "all icmp_path_tracer cases passed"
