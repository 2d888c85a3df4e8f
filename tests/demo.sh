#!/bin/bash
# make demo: the main job on the built-in lab. Two agents trace hypervisors A and B, the
# simulated physical network (the fabric) loses packets, and one `netblame trace icmp` from the
# "jump host" says where. Everything it starts is torn down at the end, also on failure or ^C.
set -u
cd "$(dirname "$0")/.."
. tests/e2e/lib.sh
need_root

KEYS=$(mktemp -d /tmp/nb-demo.XXXXXX)
on_exit "rm -rf $KEYS"

say() { printf '\n### %s\n' "$*"; }

say "Lab: vmA (198.18.0.1) - hvA - fabric - hvB - vmB (198.18.0.2, a tap VM)"
lab_up --vmb tap

say "Keys: one for the coordinator, one per agent; agents accept only the coordinator's"
for k in coordinator hvA hvB; do
	"$COORD" keygen --out "$KEYS/$k" | sed "s/^/  $k: /"
done
cp "$KEYS/coordinator/netblame.pub" "$KEYS/authorized_keys"

say "Agents: one per hypervisor (here in the root namespace, tracing each with --netns)"
for n in hvA hvB; do
	"$AGENT" serve --listen 'tcp://127.0.0.1:*' --name $n --netns nb$n \
		--secret-key "$KEYS/$n/netblame.key" --authorized-keys "$KEYS/authorized_keys" \
		>"$KEYS/$n.out" 2>"$KEYS/$n.err" &
	pid=$!
	on_exit "kill $pid 2>/dev/null; wait $pid 2>/dev/null"
	wait_for 5 grep -q '^listening on ' "$KEYS/$n.out" || fail "agent $n did not start"
	eval "EP_$n=$(sed -n 's/^listening on //p' "$KEYS/$n.out" | head -n1)"
	echo "  $n listening on $(eval echo "\$EP_$n")"
done

say "Fault: the fabric drops the echo request of seq 3 and the echo reply of seq 6"
tests/lab drop --at fab --dir req --seq 3
tests/lab drop --at fab --dir rep --seq 6

say "netblame trace icmp (vmA pings vmB 8 times)"
set -x
"$COORD" trace icmp --src-ip 198.18.0.1 --dst-ip 198.18.0.2 --key "$KEYS/coordinator/netblame.key" \
	--node "name=hvA,endpoint=$EP_hvA,rx-iface=vnet0,tx-iface=ens4f0,server-key=$KEYS/hvA/netblame.pub" \
	--node "name=hvB,endpoint=$EP_hvB,rx-iface=ens4f0,tx-iface=vnet0,server-key=$KEYS/hvB/netblame.pub" \
	--count 8 --timeout-ms 500 2>"$KEYS/trace.err" &
{ set +x; } 2>/dev/null
trace=$!
on_exit "kill $trace 2>/dev/null"
wait_for 8 grep -q '^Tracing' "$KEYS/trace.err" || fail "trace did not start: $(cat "$KEYS/trace.err")"
tests/lab ping -c 8 -i 0.3 -W 1 >/dev/null
wait $trace
rc=$?
echo
echo "netblame trace exit code: $rc (10 = NETWORK)"
say "Tearing the lab down"
[ $rc = 10 ]
