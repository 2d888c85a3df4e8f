#!/bin/bash
# The service's capability set is enough to trace, and CAP_SYS_ADMIN in it is needed.
# The set is read from the unit (CapabilityBoundingSet=), so what ships is what is tested.
# Cases and what each expects:
#   least    the agent run as root with only that bounding set (setpriv, no new privileges):
#            its effective set is exactly it, and a session in a namespace of this test streams
#            the pings' events (at least 100 for 100 pings, read = sent)
#   setns    the same less CAP_SYS_ADMIN: START into that namespace gets ERROR EPERM "cannot
#            enter network namespace"
# (Found by running without each capability in turn: CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN
# are each also granted by CAP_SYS_ADMIN for BPF, which setns needs anyway; they stay listed
# for what they name. CAP_SYSLOG reads kernel addresses in /proc/kallsyms for drop stacks.)
set -u
. "$(dirname "$0")/lib.sh"
need_root

PROBE=$REPO/build/tests/tools/nb_agent_probe
UNIT=$REPO/deploy/systemd/netblame-agent.service.in
[ -x "$AGENT" ] && [ -x "$PROBE" ] || fail "build first: make"
OUT=$(mktemp -d /tmp/nb-caps.XXXXXX)
on_exit "rm -rf $OUT"
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$UNIT")
[ -n "$caps" ] || fail "no CapabilityBoundingSet= in $UNIT"

NSA=nbcap$$a
NSB=nbcap$$b
IPA=10.199.9.1
IPB=10.199.9.2
on_exit "ip netns del $NSA 2>/dev/null; ip netns del $NSB 2>/dev/null"
ip netns add $NSA || fail "ip netns add $NSA"
ip netns add $NSB || fail "ip netns add $NSB"
ip -n $NSA link add sa0 type veth peer name sb0 netns $NSB || fail "veth"
ip -n $NSA addr add $IPA/24 dev sa0
ip -n $NSB addr add $IPB/24 dev sb0
ip -n $NSA link set sa0 up
ip -n $NSB link set sb0 up
ip netns exec $NSA ping -c 1 -W 2 $IPB >/dev/null || fail "no connectivity between $NSA and $NSB"
FLOW=(--src-ip $IPA --dst-ip $IPB --rx-iface sb0 --tx-iface sb0 --netns $NSB)
kv() { grep -o "\b$1=[^ ]*" "$2" | tail -n 1 | cut -d= -f2; }

# agent_with NAME CAP...: start_agent under setpriv with exactly these bounding capabilities.
agent_with() {
	local name=$1 set="-all"
	shift
	for c in "$@"; do set="$set,+$(echo "${c#CAP_}" | tr 'A-Z' 'a-z')"; done
	printf '#!/bin/sh\nexec setpriv --bounding-set=%s --no-new-privs -- %s "$@"\n' "$set" \
		"$REPO/bin/netblame-agent" >"$OUT/agent-$name"
	chmod +x "$OUT/agent-$name"
	AGENT=$OUT/agent-$name start_agent "$name" --insecure
}

# ---- least ----
# shellcheck disable=SC2086
agent_with least $caps
eval pid=\$PID_least
want=$(echo "$caps" | tr 'A-Z ' 'a-z\n' | sort | tr '\n' ' ')
got=$(capsh --decode="$(sed -n 's/^CapEff:\t//p' "/proc/$pid/status")" | sed 's/.*=//' |
	tr ',' '\n' | sort | tr '\n' ' ')
assert_eq "$want" "$got" "least: effective capabilities of the agent"
ip netns exec $NSA ping -q -i 0.02 -c 100 $IPB >/dev/null 2>&1 &
on_exit "kill $! 2>/dev/null"
"$PROBE" "$EP_least" --insecure stream "${FLOW[@]}" --duration-ms 2500 >"$OUT/least.out" ||
	fail "least: $(cat "$OUT/least.out") $(cat "$OUT/agent_least.err")"
[ "$(kv events "$OUT/least.out")" -ge 100 ] ||
	fail "least: only $(kv events "$OUT/least.out") events for 100 pings"
assert_eq "$(kv st_events_read "$OUT/least.out")" "$(kv st_events_sent "$OUT/least.out")" \
	"least: events read = sent"
echo "ok: least: traced with $caps"

# ---- setns ----
# shellcheck disable=SC2086
agent_with nosys $(echo $caps | tr ' ' '\n' | grep -vx CAP_SYS_ADMIN)
"$PROBE" "$EP_nosys" --insecure stream "${FLOW[@]}" --duration-ms 500 >"$OUT/nosys.out" 2>&1 &&
	fail "setns: a session started without CAP_SYS_ADMIN"
grep -q "error code=1 .*message=cannot enter network namespace $NSB: Operation not permitted" \
	"$OUT/nosys.out" || fail "setns: $(cat "$OUT/nosys.out")"
echo "ok: setns: without CAP_SYS_ADMIN, EPERM entering the namespace"
