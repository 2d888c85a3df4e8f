#!/bin/bash
# netblame agents against real agents on loopback, all asked at once. No lab: the agents trace
# nothing, they only answer. Agents and what each must show:
#   hvA    CURVE, our key authorised, its clock 5 s ahead (--test-clock-offset-ms 5000):
#          reachable, agent and protocol versions, the kernel capabilities this machine has,
#          0 sessions, clock offset 5000 ms within the uncertainty reported
#   hvB    CURVE, our key authorised: reachable
#   gone   started, then stopped: "refused"
#   picky  CURVE, authorises another coordinator key only: "wrong key"
#   liar   the inventory gives hvA's public key for hvB's endpoint: "wrong key"
#   mute   a TCP listener that never speaks ZMTP: "timeout: connected, no answer"
# Exit codes: 1 with any unreachable, 0 when all answer (--on, --node), 2 for a bad inventory.
set -u
. "$(dirname "$0")/lib.sh"
need_root

[ -x "$AGENT" ] && [ -x "$COORD" ] || fail "build first: make"
OUT=$(mktemp -d /tmp/nb-agents.XXXXXX)
on_exit "rm -rf $OUT"

for k in coord other hvA hvB gone picky; do
	"$COORD" keygen --out "$OUT/k_$k" >/dev/null || fail "keygen $k"
done
cp "$OUT/k_coord/netblame.pub" "$OUT/auth"
cp "$OUT/k_other/netblame.pub" "$OUT/auth_other"
curve() { echo --secret-key "$OUT/k_$1/netblame.key" --authorized-keys "$OUT/${2:-auth}"; }

# shellcheck disable=SC2046
start_agent hvA $(curve hvA) --test-clock-offset-ms 5000
# shellcheck disable=SC2046
start_agent hvB $(curve hvB)
# shellcheck disable=SC2046
start_agent gone $(curve gone)
# shellcheck disable=SC2046
start_agent picky $(curve picky auth_other)
kill "$PID_gone"
wait "$PID_gone" 2>/dev/null

# A listener that accepts TCP connections (the kernel does, from its backlog) and never answers.
python3 -c 'import socket,sys,time
s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(16)
print(s.getsockname()[1], flush=True); time.sleep(120)' >"$OUT/mute.port" &
PID_mute=$!
on_exit "kill $PID_mute 2>/dev/null"
wait_for 10 test -s "$OUT/mute.port" || fail "the mute listener did not start"
EP_mute=tcp://127.0.0.1:$(cat "$OUT/mute.port")

cat >"$OUT/inv.yaml" <<YAML
coordinator:
  key: k_coord/netblame.key
nodes:
  hvA:
    endpoint: $EP_hvA
    server-key: k_hvA/netblame.pub
    labels: {rack: r1}
  hvB: {endpoint: $EP_hvB, server-key: k_hvB/netblame.pub}
  gone: {endpoint: $EP_gone, server-key: k_gone/netblame.pub}
  picky: {endpoint: $EP_picky, server-key: k_picky/netblame.pub}
  liar: {endpoint: $EP_hvB, server-key: k_hvA/netblame.pub}
  mute: {endpoint: $EP_mute, server-key: k_hvA/netblame.pub}
YAML

"$COORD" agents --inventory "$OUT/inv.yaml" --timeout-ms 2000 --json >"$OUT/all.json" \
	2>"$OUT/all.err"
assert_eq 1 "$?" "agents with unreachable ones: exit code"
jq -e . "$OUT/all.json" >/dev/null || fail "not JSON: $(cat "$OUT/all.json")"
field() { jq -r --arg n "$1" ".agents[] | select(.name == \$n) | $2" "$OUT/all.json"; }
assert_eq "hvA hvB gone picky liar mute" "$(jq -r '[.agents[].name] | join(" ")' "$OUT/all.json")" \
	"agents in inventory order"
assert_eq 2 "$(jq .reachable "$OUT/all.json")" "reachable count"
assert_eq 4 "$(jq .unreachable "$OUT/all.json")" "unreachable count"
for n in hvA hvB; do
	assert_eq true "$(field $n .reachable)" "$n reachable"
	assert_eq null "$(field $n .reason)" "$n reason"
	assert_eq "$n" "$(field $n .agent_name)" "$n answers with its name"
	assert_eq 1 "$(field $n .protocol)" "$n protocol version"
	assert_eq 0 "$(field $n .sessions)" "$n sessions"
	[ -n "$(field $n .agent_version)" ] || fail "$n: no agent version"
done
assert_eq r1 "$(field hvA .labels.rack)" "hvA label from the inventory"
assert_eq refused "$(field gone .reason)" "stopped agent"
wrong="wrong key (the server-key is not the agent's, or the agent does not accept ours)"
assert_eq "$wrong" "$(field picky .reason)" "agent that does not accept our key"
assert_eq "$wrong" "$(field liar .reason)" "another agent's server key"
assert_eq "timeout: connected, no answer within 2000ms" "$(field mute .reason)" "silent listener"

# Capabilities: what this kernel can attach (docs/KERNEL-NOTES: tcx and BPF netfilter work;
# kprobes exist only with the kprobe PMU; tun when its driver is in).
caps=$(field hvA '.capabilities | join(",")')
echo "capabilities: $caps"
case ",$caps," in *,tcx,*) ;; *) fail "tcx missing from '$caps'" ;; esac
case ",$caps," in *,netfilter,*) ;; *) fail "netfilter missing from '$caps'" ;; esac
want_kprobe=no
[ -e /sys/bus/event_source/devices/kprobe/type ] && want_kprobe=yes
has=no
case ",$caps," in *,kprobe,*) has=yes ;; esac
assert_eq $want_kprobe $has "kprobe capability matches the kprobe PMU"
want_tun=no
grep -q ' tun_net_xmit$' /proc/kallsyms && want_tun=yes
has=no
case ",$caps," in *,tun,*) has=yes ;; esac
assert_eq $want_tun $has "tun capability matches the tun driver"
assert_eq "$(field hvA '.capabilities | join(",")')" "$(field hvB '.capabilities | join(",")')" \
	"same kernel, same capabilities"
[ "$(field hvA '.hooks | length')" -ge 2 ] || fail "hvA names no stage hooks"

# Clock: the agent's clock runs 5000 ms ahead; the estimate is within its uncertainty.
off=$(field hvA .clock_offset_ns)
unc=$(field hvA .clock_uncertainty_ns)
err=$((off - 5000000000))
[ "${err#-}" -le "$unc" ] || fail "hvA offset $off ns is not 5000 ms +/- $unc ns"
echo "ok: hvA clock offset $off ns +/- $unc ns"
off=$(field hvB .clock_offset_ns)
unc=$(field hvB .clock_uncertainty_ns)
[ "${off#-}" -le "$unc" ] || fail "hvB offset $off ns is not 0 +/- $unc ns"
[ "$(field hvA .clock_samples)" -ge 2 ] || fail "hvA: fewer than 2 clock samples"

# Text: one line per agent, the reason for each unreachable one, a summary.
"$COORD" agents --inventory "$OUT/inv.yaml" --timeout-ms 2000 >"$OUT/all.txt" 2>&1
assert_eq 1 "$?" "text form: exit code"
cat "$OUT/all.txt"
grep -qE "^gone +tcp://127\.0\.0\.1:[0-9]+ +no: refused$" "$OUT/all.txt" || fail "gone line"
grep -qE "^hvA +tcp://127\.0\.0\.1:[0-9]+ +yes +[^ ]+ +1 +0 +\+(4999|5000)\.[0-9]{3}ms \+/- [0-9.]+ms +[a-z,]*tcx" \
	"$OUT/all.txt" || fail "hvA line"
grep -qx "6 agents: 2 reachable, 4 unreachable" "$OUT/all.txt" || fail "summary line"

# All that are asked answer: exit 0, from the inventory (--on) and from --node.
"$COORD" agents --inventory "$OUT/inv.yaml" --on hvA,hvB >"$OUT/on.txt" 2>&1
assert_eq 0 "$?" "--on hvA,hvB: exit code"
grep -qx "2 agents: 2 reachable, 0 unreachable" "$OUT/on.txt" || fail "--on: $(cat "$OUT/on.txt")"
# A label selector: hvA is the one node with rack=r1.
"$COORD" agents --inventory "$OUT/inv.yaml" --on rack=r1 --json >"$OUT/label.json" 2>&1
assert_eq 0 "$?" "--on rack=r1: exit code"
assert_eq hvA "$(jq -r '[.agents[].name] | join(" ")' "$OUT/label.json")" "--on rack=r1: nodes"
"$COORD" agents --node "name=b,endpoint=$EP_hvB,server-key=$OUT/k_hvB/netblame.pub" \
	--key "$OUT/k_coord/netblame.key" --json >"$OUT/node.json" 2>&1
assert_eq 0 "$?" "--node: exit code"
assert_eq "b hvB true" "$(jq -r '.agents[0] | "\(.name) \(.agent_name) \(.reachable)"' "$OUT/node.json")" \
	"--node: name given, name answered"

# Bad input: exit 2, one line naming the file, line and field.
printf 'nodes:\n  hvA:\n    endpoint: tcp://127.0.0.1:1\n    endpont: x\n' >"$OUT/bad.yaml"
"$COORD" agents --inventory "$OUT/bad.yaml" 2>"$OUT/bad.err"
assert_eq 2 "$?" "bad inventory: exit code"
assert_eq "netblame: $OUT/bad.yaml:4: nodes.hvA.endpont: unknown key (endpoint, server-key, rx-iface, tx-iface, labels)" \
	"$(cat "$OUT/bad.err")" "bad inventory: message"
"$COORD" agents --inventory "$OUT/inv.yaml" --on hvA,nope 2>"$OUT/on.err"
assert_eq 2 "$?" "--on an unknown node: exit code"
assert_eq "netblame: --on nope: no node of that name in $OUT/inv.yaml" "$(cat "$OUT/on.err")" \
	"--on an unknown node: message"
HOME=$OUT/nohome "$COORD" agents 2>"$OUT/noinv.err"
assert_eq 2 "$?" "no inventory: exit code"
assert_eq "netblame: cannot read inventory $OUT/nohome/.netblame/inventory.yaml: No such file or directory" \
	"$(cat "$OUT/noinv.err")" "no inventory: message"
echo "PASS"
