#!/bin/bash
# netblame run: single-host tools on two agents of the lab (CURVE, nodes from an inventory),
# each agent serving one hypervisor (--netns: the runs trace there unless they say otherwise).
#   json    eth_drop --json on both, the request seq 2 dropped in hvB's bridge: hvB reports
#           exactly that drop (NETFILTER_DROP, 198.18.0.1 -> 198.18.0.2), hvA none; every line
#           tagged with its node; one end object per node, exit code 0 each; exit 0
#   text    icmp_path_tracer on hvA only (--on), 3 pings: "hvA: " lines, seq 1..3 COMPLETE
#   monitors tun_ring_monitor on hvB's tap: 10 echo requests enqueued and dequeued, no FULL;
#           vhost_queue_correlation_simple where the kernel lacks vhost: its one line, exit 1
#   usage   a bad tool flag, an interface the namespace lacks, an unknown tool: exit 2 with the
#           agent's message, nothing started (no child, no run in the agents' logs)
#   sigint  eth_drop on both until Ctrl-C: both tools stopped (their summaries arrive, reason
#           "stopped by the coordinator"), both children and their BPF programs gone; exit 0
#   lost    hvB's agent killed mid-run: "hvB: agent lost (...)" on stderr, hvB's tool gone
#           with it, hvA's drop (the request seq 2 dropped in hvA's bridge) still arrives;
#           after Ctrl-C exit 1 and end objects hvA 0, hvB -1
set -u
. "$(dirname "$0")/lib.sh"
need_root

VMA=198.18.0.1
VMB=198.18.0.2
OUT=$(mktemp -d /tmp/nb-run.XXXXXX)
on_exit "rm -rf $OUT"
cd "$REPO"
[ -x "$AGENT" ] && [ -x "$COORD" ] || fail "build first: make"

lab_up --vmb tap
for k in coord hvA hvB; do
	"$COORD" keygen --out "$OUT/k_$k" >/dev/null || fail "keygen $k"
done
cp "$OUT/k_coord/netblame.pub" "$OUT/auth"
agent() { # NAME
	start_agent "$1" --netns "nb$1" --secret-key "$OUT/k_$1/netblame.key" \
		--authorized-keys "$OUT/auth"
}
agent hvA
agent hvB
cat >"$OUT/inv.yaml" <<YAML
coordinator:
  key: k_coord/netblame.key
nodes:
  hvA: {endpoint: $EP_hvA, server-key: k_hvA/netblame.pub}
  hvB: {endpoint: $EP_hvB, server-key: k_hvB/netblame.pub}
YAML

# run NAME ARGS...: netblame run in the background, output in $OUT/NAME.out and .err.
run() {
	local name=$1
	shift
	"$COORD" run "$@" --inventory "$OUT/inv.yaml" >"$OUT/$name.out" 2>"$OUT/$name.err" &
	eval "PID_$name=$!"
	on_exit "kill $! 2>/dev/null"
}
# started NAME NODE...: each node's tool has attached (its JSON start line arrived).
started() {
	local name=$1 n
	shift
	for n in "$@"; do
		wait_for 10 grep -q "{\"node\":\"$n\",\"type\":\"start\"" "$OUT/$name.out" ||
			fail "$name: $n did not start: $(cat "$OUT/$name.err")"
	done
}
# the tool processes the agents run now
children() { pgrep -P "$PID_hvA,$PID_hvB" | sort | tr '\n' ' '; }
# no process left of these pids, and no BPF program held by one
gone() {
	local p
	for p in "$@"; do
		kill -0 "$p" 2>/dev/null && fail "tool process $p still runs"
		bpftool prog show | grep -q "($p)" && fail "BPF programs of $p still loaded"
	done
	echo "ok: tool processes $* gone, with their BPF programs"
}
jqo() { jq -r "$2" "$OUT/$1.out"; }
ends() { jq -c 'select(.type=="end")' "$OUT/$1.out" | sort | tr '\n' ' '; }

# --- json: eth_drop on both, the request seq 2 dropped in hvB's bridge.
tests/lab drop --at hvB --dir req --seq 2
run json eth_drop --src-ip $VMA --dst-ip $VMB --protocol icmp --duration 4 --json
started json hvA hvB
kids=$(children)
assert_eq 2 "$(echo "$kids" | wc -w)" "json: one tool process per agent"
tests/lab ping -c 3 -i 0.2 -W 1 >/dev/null
wait_exit "$PID_json" json "$OUT/json.err"
assert_eq 0 "$RC" "json: exit code"
tests/lab clear
jq -e . "$OUT/json.out" >/dev/null || fail "json: not JSON lines: $(head -3 "$OUT/json.out")"
assert_eq "" "$(jqo json 'select(.node != "hvA" and .node != "hvB") | .type')" \
	"json: lines without a node"
assert_eq 0 "$(jqo json 'select(.node=="hvA" and .type=="drop")' | wc -l)" "json: hvA drops"
assert_eq "NETFILTER_DROP $VMA $VMB ICMP seq 2" \
	"$(jqo json 'select(.node=="hvB" and .type=="drop") | "\(.reason) \(.src) \(.dst) \(.proto) seq \(.icmp_seq)"')" \
	"json: hvB's one drop"
assert_eq "0 1" "$(jqo json 'select(.type=="summary") | "\(.node) \(.drops)"' | sort |
	awk '{print $2}' | tr '\n' ' ' | sed 's/ $//')" "json: summary drops hvA, hvB"
assert_eq '{"node":"hvA","type":"end","exit_code":0,"reason":"exited"} {"node":"hvB","type":"end","exit_code":0,"reason":"exited"} ' \
	"$(ends json)" "json: end objects"
# the end object is each node's last line
for n in hvA hvB; do
	assert_eq end "$(jqo json "select(.node==\"$n\") | .type" | tail -n1)" "json: $n ends with end"
done
wait_for 3 test -z "$(children)" || fail "json: tool processes left: $(children)"
# shellcheck disable=SC2086
gone $kids

# --- text: icmp_path_tracer on hvA only.
run text icmp_path_tracer --on hvA --src-ip $VMA --dst-ip $VMB --rx-iface vnet0 \
	--tx-iface ens4f0 --count 3 --timeout-ms 500
wait_for 10 grep -q "^hvA: " "$OUT/text.out" || fail "text: no header: $(cat "$OUT/text.err")"
sleep 0.5
tests/lab ping -c 3 -i 0.2 -W 1 >/dev/null
wait_exit "$PID_text" text "$OUT/text.err"
assert_eq 0 "$RC" "text: exit code"
assert_eq 0 "$(grep -vc '^hvA: ' "$OUT/text.out")" "text: lines not prefixed hvA"
assert_eq "1 2 3" "$(sed -n 's/^hvA: \[.*\] ICMP id=[0-9]* seq=\([0-9]*\)$/\1/p' "$OUT/text.out" |
	tr '\n' ' ' | sed 's/ $//')" "text: hvA's packets"
assert_eq 3 "$(grep -c '^hvA:   STATUS: COMPLETE' "$OUT/text.out")" "text: hvA's COMPLETE packets"

# --- monitors: tun_ring_monitor on hvB's tap, remotely, counts exactly what the local tool
# does (tests/e2e/test_tun_ring.sh); vhost_queue_correlation_simple, on a kernel without vhost
# or kprobes, ends with the local tool's one line and its exit code 1.
run tun tun_ring_monitor --on hvB --interface vnet0 --protocol icmp --src-ip $VMA \
	--dst-ip $VMB --interval 1 --duration 4 --json
started tun hvB
tests/lab ping -c 10 -i 0.05 -W 1 >/dev/null || fail "tun: ping"
wait_exit "$PID_tun" tun "$OUT/tun.err"
assert_eq 0 "$RC" "tun: exit code"
assert_eq "hvB 10 0 0 0" "$(jqo tun 'select(.type=="summary") | "\(.node) \(.matched) \(.full_events) \(.drops_full_ring) \(.lost_events)"')" \
	"tun: hvB's summary: echo requests enqueued, FULL, FULL_RING, lost events"
assert_eq "$(jqo tun 'select(.type=="summary") | .enqueued')" \
	"$(jqo tun 'select(.type=="summary") | .dequeued')" "tun: every packet dequeued"
assert_eq 10 "$(jqo tun 'select(.type=="interval" and .node=="hvB") | .queues[0].matched' |
	awk '{ s += $1 } END { print s }')" "tun: hvB's intervals add up"
assert_eq '{"node":"hvB","type":"end","exit_code":0,"reason":"exited"} ' "$(ends tun)" \
	"tun: end object"
if [ ! -e /sys/bus/event_source/devices/kprobe ] && [ ! -e /sys/kernel/btf/vhost_net ]; then
	run vhost vhost_queue_correlation_simple --on hvB --vm-interface vnet0 --json
	wait_exit "$PID_vhost" vhost "$OUT/vhost.err"
	assert_eq 1 "$RC" "vhost: exit code"
	assert_eq "hvB: vhost_queue_correlation_simple: kernel lacks what vhost_queue_correlation_simple needs: kprobes (CONFIG_KPROBES), the vhost_net module (no BTF for struct vhost_net: modprobe vhost_net)
netblame: hvB: vhost_queue_correlation_simple exited with code 1 (exited)" \
		"$(cat "$OUT/vhost.err")" "vhost: the tool's one line, and the exit"
	assert_eq 1 "$(jqo vhost 'select(.type=="end" and .node=="hvB") | .exit_code')" \
		"vhost: end object's exit code"
fi
wait_for 3 test -z "$(children)" || fail "monitors: tool processes left: $(children)"

# --- usage errors: checked on the agents, nothing starts anywhere.
runs_started() { cat "$OUT/agent_hvA.err" "$OUT/agent_hvB.err" | grep -c '^hv.: run .* started for '; }
before=$(runs_started)
run bad eth_drop --json --bogus
wait_exit "$PID_bad" bad "$OUT/bad.err"
assert_eq 2 "$RC" "bad flag: exit code"
grep -qx "netblame: hvB: eth_drop: unknown option '--bogus' (see --help)" "$OUT/bad.err" ||
	fail "bad flag: message: $(cat "$OUT/bad.err")"
assert_eq '{"node":"hvA","type":"end","exit_code":2,"reason":"usage: eth_drop: unknown option '"'"'--bogus'"'"' (see --help)"} {"node":"hvB","type":"end","exit_code":2,"reason":"usage: eth_drop: unknown option '"'"'--bogus'"'"' (see --help)"} ' \
	"$(ends bad)" "bad flag: end objects"
run badif eth_drop --interface nosuch0
wait_exit "$PID_badif" badif "$OUT/badif.err"
assert_eq 2 "$RC" "unknown interface: exit code"
grep -qx "netblame: hvA: eth_drop: unknown interface 'nosuch0' in network namespace nbhvA" \
	"$OUT/badif.err" || fail "unknown interface: message: $(cat "$OUT/badif.err")"
run badtool no_such_tool --on hvB
wait_exit "$PID_badtool" badtool "$OUT/badtool.err"
assert_eq 2 "$RC" "unknown tool: exit code"
grep -qx "netblame: hvB: unknown tool 'no_such_tool' (netblame-agent --help lists them)" \
	"$OUT/badtool.err" || fail "unknown tool: message: $(cat "$OUT/badtool.err")"
assert_eq "" "$(children)" "usage errors: tool processes"
assert_eq "$before" "$(runs_started)" "usage errors: runs started"

# --- sigint: both tools run until Ctrl-C.
run sigint eth_drop --src-ip 10.255.0.1 --json
started sigint hvA hvB
kids=$(children)
assert_eq 2 "$(echo "$kids" | wc -w)" "sigint: one tool process per agent"
kill -INT "$PID_sigint"
wait_exit "$PID_sigint" sigint "$OUT/sigint.err"
assert_eq 0 "$RC" "sigint: exit code"
assert_eq "hvA hvB" "$(jqo sigint 'select(.type=="summary") | .node' | sort | tr '\n' ' ' |
	sed 's/ $//')" "sigint: summaries"
assert_eq '{"node":"hvA","type":"end","exit_code":0,"reason":"stopped by the coordinator"} {"node":"hvB","type":"end","exit_code":0,"reason":"stopped by the coordinator"} ' \
	"$(ends sigint)" "sigint: end objects"
wait_for 3 test -z "$(children)" || fail "sigint: tool processes left: $(children)"
# shellcheck disable=SC2086
gone $kids

# --- lost: hvB's agent dies mid-run; hvA goes on.
tests/lab drop --at hvA --dir req --seq 2
run lost eth_drop --src-ip $VMA --dst-ip $VMB --protocol icmp --json
started lost hvA hvB
kid_b=$(pgrep -P "$PID_hvB")
kill -9 "$PID_hvB"
tests/lab ping -c 3 -i 0.2 -W 1 >/dev/null
wait_for 10 grep -q 'netblame: hvB: agent lost' "$OUT/lost.err" ||
	fail "lost: not reported: $(cat "$OUT/lost.err")"
wait_for 5 grep -q '"node":"hvA","type":"drop"' "$OUT/lost.out" ||
	fail "lost: hvA's drop did not arrive"
kid_a=$(pgrep -P "$PID_hvA")
kill -INT "$PID_lost"
wait_exit "$PID_lost" lost "$OUT/lost.err"
assert_eq 1 "$RC" "lost: exit code"
tests/lab clear
grep -qx "netblame: hvB: agent lost (no message for 3 s)" "$OUT/lost.err" ||
	fail "lost: message: $(cat "$OUT/lost.err")"
assert_eq "NETFILTER_DROP $VMA $VMB seq 2" \
	"$(jqo lost 'select(.node=="hvA" and .type=="drop") | "\(.reason) \(.src) \(.dst) seq \(.icmp_seq)"')" \
	"lost: hvA's drop after hvB was lost"
assert_eq '{"node":"hvA","type":"end","exit_code":0,"reason":"stopped by the coordinator"} {"node":"hvB","type":"end","exit_code":-1,"reason":"agent lost (no message for 3 s)"} ' \
	"$(ends lost)" "lost: end objects"
wait_for 3 sh -c "! kill -0 $kid_a 2>/dev/null && ! kill -0 $kid_b 2>/dev/null" ||
	fail "lost: tool processes left"
gone "$kid_a" "$kid_b"
echo PASS
