# Sourced by the end-to-end tests. Small helpers, and a lab that is torn down however the test
# ends: passing, failing, or killed by tests/run.sh's timeout.
# shellcheck shell=bash

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LAB=$REPO/tests/lab
AGENT=$REPO/bin/netblame-agent
COORD=$REPO/bin/netblame
export REPO LAB AGENT COORD

_nb_on_exit=()
_nb_trap=0
_nb_lab=0

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# Tests, benchmarks and the demo share machine-wide things (the lab's namespace names, the
# list of loaded BPF programs), so only one runs at a time. The lock is held by a small
# watcher process, not by the test's shell: programs the test starts would inherit the lock's
# file descriptor and, if one outlived the test, hold the lock for ever. The watcher lets go
# within half a second of the test's exit.
need_root() {
	local ready
	[ "$(id -u)" = 0 ] || fail "this test needs root"
	[ -n "${NB_E2E_LOCKED:-}" ] && return
	ready=$(mktemp -u /tmp/nb-e2e-lock.XXXXXX)
	(
		exec 9>/run/lock/netblame-e2e.lock
		flock -w 900 9 || exit 1
		: >"$ready"
		while kill -0 $$ 2>/dev/null; do sleep 0.5; done
	) </dev/null >/dev/null 2>&1 &
	_nb_lock_pid=$!
	while [ ! -e "$ready" ]; do
		kill -0 "$_nb_lock_pid" 2>/dev/null ||
			fail "another netblame test held the lock for 15 minutes"
		sleep 0.2
	done
	rm -f "$ready"
	export NB_E2E_LOCKED=1
}

# on_exit 'SHELL CODE' or on_exit CMD ARG...: runs at exit, newest first, before the lab goes
# down (an agent should stop while the namespace it traces still exists). One argument is shell
# code (e.g. "kill $pid 2>/dev/null"); several are a command whose arguments are kept as given.
on_exit() {
	if [ $# -eq 1 ]; then
		_nb_on_exit+=("$1")
	else
		_nb_on_exit+=("$(printf '%q ' "$@")")
	fi
	_nb_set_trap
}

_nb_cleanup() {
	local rc=$? i
	trap - EXIT INT TERM
	for ((i = ${#_nb_on_exit[@]} - 1; i >= 0; i--)); do
		eval "${_nb_on_exit[i]}" || true
	done
	if [ "$_nb_lab" = 1 ]; then
		"$LAB" down >/dev/null || echo "WARN: tests/lab down failed" >&2
	fi
	exit "$rc"
}

_nb_set_trap() {
	[ "$_nb_trap" = 1 ] && return
	trap _nb_cleanup EXIT
	# A signal becomes a normal exit, so the EXIT trap cleans up then too.
	trap 'exit 130' INT
	trap 'exit 143' TERM
	_nb_trap=1
}

lab_up() {
	_nb_set_trap
	_nb_lab=1
	"$LAB" up "$@" || fail "tests/lab up $*"
}

assert_eq() {
	[ "$1" = "$2" ] || fail "$3: expected '$1', got '$2'"
	echo "ok: $3 = '$2'"
}

# progs_are N [PREFIX]: exactly N BPF programs named PREFIX* (default nb_) are loaded.
progs_are() { [ "$(bpftool prog show | grep -c "name ${2:-nb_}" || true)" = "$1" ]; }

# no_progs WHAT: no nb_ program is left. The kernel frees a program a moment after the last file
# or link holding it is closed (some links only after an RCU grace period), so a run that has
# exited may still show one briefly; one still there after 3 s is a leak: named, with whoever
# holds it.
no_progs() {
	wait_for 3 progs_are 0 ||
		fail "$1: nb_ programs left: $(bpftool -j prog show | jq -c '[.[] | select(.name | startswith("nb_")) | {id, name, pids}]')"
	echo "ok: $1: no nb_ program left"
}

# wait_for SECONDS CMD...: polls CMD every 0.1 s; returns 1 when it never succeeded in time.
wait_for() {
	local tries=$(($1 * 10))
	shift
	until "$@"; do
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || return 1
		sleep 0.1
	done
}

# wait_exit PID NAME FILE: waits up to 15 s for PID, a child of this shell, to exit and sets RC
# to its exit code; fails naming NAME, with the end of FILE, when it is still running.
wait_exit() {
	for _ in $(seq 1 150); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$1" 2>/dev/null && fail "$2: did not finish: $(tail -n 3 "$3")"
	wait "$1"
	RC=$?
}

# finish_bg NAME [stop]: the background tool started as PID_NAME, writing $OUT/NAME.json, must
# exit by itself (stop: after a SIGINT), with 0.
finish_bg() {
	local pid
	pid=$(eval echo "\$PID_$1")
	[ "${2:-}" = stop ] && kill -INT "$pid"
	wait_exit "$pid" "$1" "$OUT/$1.json"
	assert_eq 0 "$RC" "$1: exit code"
}

# The lab's two hypervisors as `netblame trace` nodes, VM port and uplink named (after
# start_agent hvA and hvB): "${LAB_NODES[@]}".
lab_nodes() {
	LAB_NODES=(--node "name=hvA,endpoint=$EP_hvA,rx-iface=vnet0,tx-iface=ens4f0"
		--node "name=hvB,endpoint=$EP_hvB,rx-iface=ens4f0,tx-iface=vnet0")
}

# trace_bg NAME TRACE-ARG...: `netblame trace TRACE-ARG...` in the background, its output in
# $OUT/NAME.out and .err, killed at exit; returns once its sessions run (its "Tracing" line).
# Sets TPID.
trace_bg() {
	local name=$1
	shift
	"$COORD" trace "$@" >"$OUT/$name.out" 2>"$OUT/$name.err" &
	TPID=$!
	on_exit "kill $TPID 2>/dev/null"
	wait_for 10 grep -q '^Tracing' "$OUT/$name.err" ||
		fail "$name: no Tracing line: $(cat "$OUT/$name.err")"
}

# trace_end NAME: waits for the trace trace_bg started; sets RC.
trace_end() { wait_exit "$TPID" "$1: the coordinator" "$OUT/$1.err"; }

# start_agent NAME [SERVE FLAG...]: netblame-agent serve on a free loopback port (on
# $AGENT_LISTEN instead when set: an agent restarted where it was), in the background, stopped at
# exit; its output in $OUT/agent_NAME.out and .err. Sets PID_NAME and EP_NAME (its endpoint).
start_agent() {
	local name=$1 pid
	shift
	# Emptied here, not only by the child's redirection: a restarted agent's wait below must
	# not find the line its predecessor wrote before the child has truncated the file.
	: >"$OUT/agent_$name.out"
	"$AGENT" serve --listen "${AGENT_LISTEN:-tcp://127.0.0.1:*}" --name "$name" "$@" \
		>"$OUT/agent_$name.out" 2>"$OUT/agent_$name.err" &
	pid=$!
	on_exit "kill $pid 2>/dev/null; wait $pid 2>/dev/null"
	eval "PID_$name=$pid"
	wait_for 10 grep -q '^listening on ' "$OUT/agent_$name.out" ||
		fail "agent $name did not start: $(cat "$OUT/agent_$name.err")"
	eval "EP_$name=\$(sed -n 's/^listening on //p' \"\$OUT/agent_$name.out\" | head -n1)"
}

# ping_runs JSON: the statuses in a trace report of each ping run (one ICMP id), in the order
# the runs started, each in seq order: [["COMPLETE","COMPLETE"],["INCONCLUSIVE"]].
ping_runs() {
	jq -c '[.packets | group_by(.key.id) | sort_by(.[0].stages.A0)[] | [sort_by(.key.seq)[].status]]' \
		"$1"
}

# tc_shot_echo NODE DEV ingress|egress SEQ: drop ICMP echo requests with sequence SEQ with a
# TC program returning SHOT (removed on exit; tc_clear NODE DEV removes it sooner). This
# kernel has no gact ("action drop"), so it is classic BPF in direct-action mode: IPv4
# ethertype at 12, ICMP at 23, echo request at 34, the sequence at 40 (no IP options).
tc_shot_echo() {
	local node=$1 dev=$2 dir=$3 seq=$4
	ip netns exec "nb$node" tc qdisc add dev "$dev" clsact || fail "clsact on $node $dev"
	on_exit "ip netns exec nb$node tc qdisc del dev $dev clsact 2>/dev/null"
	ip netns exec "nb$node" tc filter add dev "$dev" "$dir" prio 1 bpf da bytecode \
		"10,40 0 0 12,21 0 7 2048,48 0 0 23,21 0 5 1,48 0 0 34,21 0 3 8,40 0 0 40,21 0 1 $seq,6 0 0 2,6 0 0 4294967295" ||
		fail "tc filter on $node $dev $dir"
}

tc_clear() {
	ip netns exec "nb$1" tc qdisc del dev "$2" clsact
}

# retrans: the TCP segments the lab's sender VM has retransmitted (TcpRetransSegs of nbvmA).
retrans() { ip netns exec nbvmA awk '/^Tcp:/ { if (h) print $13; h = 1 }' /proc/net/snmp; }
