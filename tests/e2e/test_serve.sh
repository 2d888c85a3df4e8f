#!/bin/bash
# netblame-agent serve without a coordinator: tests/tools/nb_agent_probe plays one.
# Two private namespaces joined by a veth pair carry pings; the agents trace the second one.
# Cases and what each expects:
#   usage      bad flags exit 2 with one line on stderr
#   netns      a --netns the agent may not open (EACCES, as an unprivileged user) says
#              "permission denied", not "not found"
#   hello      HELLO answered with name, version, proto and the tracer's hooks
#   garbage    200 malformed messages: ERROR replies (at most 10/s), the agent stays up,
#              answers HELLO, and counts malformed_rx=200
#   start      bad START (unknown interface, foreign netns path, over --max-sessions) gets
#              ERROR ENODEV / EACCES / EDQUOT (NB_WIRE_ELIMIT)
#   stream     a session streams events: contiguous seq, a watermark no later event undercuts,
#              an EVENTS message at least every ~100 ms, every event read sent or counted
#   credit     no credit granted: batches queue, the overflow is counted in lost_queue, and
#              read = sent + lost_queue (nothing lost silently)
#   lease      a coordinator that vanishes: its nb_ programs are gone within 5 s
#   limits     per client (an IP address with --insecure): a third session of one client is
#              refused EDQUOT naming max-sessions-per-client while another client still gets
#              one; a fifth START in 10 s is refused EDQUOT naming max-starts-per-client;
#              the agent's SIGTERM then leaves no nb_ program
#   clock      --test-clock-offset-ms 5000 shows in HELLO's clock
#   curve      an authorised key gets HELLO; an unknown key, a plaintext client, a wrong server
#              key, a non-ZMTP and a silent connection get nothing, and each refusal is logged
#              exactly once with its reason (the key's fingerprint for the unknown key), as is
#              a CURVE client of the --insecure agent; per-client
#              limits count by key: a second key still gets a session
#   sigterm    SIGTERM with a live session: exit 0, programs detached
set -u
. "$(dirname "$0")/lib.sh"
need_root

PROBE=$REPO/build/tests/tools/nb_agent_probe
[ -x "$AGENT" ] && [ -x "$PROBE" ] ||
	fail "build first: make bin/netblame-agent build/tests/tools/nb_agent_probe"
OUT=$(mktemp -d /tmp/nb-serve.XXXXXX)
on_exit "rm -rf $OUT"
NSA=nbsrv$$a
NSB=nbsrv$$b
IPA=10.199.7.1
IPB=10.199.7.2
FLOW=(--src-ip $IPA --dst-ip $IPB --rx-iface sb0 --tx-iface sb0 --netns $NSB)

# ---- namespaces: registered first, so they go last, after the agents have stopped ----
on_exit "ip netns del $NSA 2>/dev/null; ip netns del $NSB 2>/dev/null"
ip netns add $NSA || fail "ip netns add $NSA"
ip netns add $NSB || fail "ip netns add $NSB"
ip -n $NSA link add sa0 type veth peer name sb0 netns $NSB || fail "veth"
ip -n $NSA addr add $IPA/24 dev sa0
ip -n $NSB addr add $IPB/24 dev sb0
ip -n $NSA link set sa0 up
ip -n $NSB link set sb0 up
ip netns exec $NSA ping -c 1 -W 2 $IPB >/dev/null || fail "no connectivity between $NSA and $NSB"

# ping_bg INTERVAL COUNT: pings from A to B in the background; killed at exit by PID.
ping_bg() {
	ip netns exec $NSA ping -q -i "$1" -c "$2" $IPB >/dev/null 2>&1 &
	on_exit "kill $! 2>/dev/null"
}

alive() { kill -0 "$1" 2>/dev/null; }

# kv KEY FILE: the value of KEY=VALUE in the probe's summary line.
kv() { grep -o "\b$1=[^ ]*" "$2" | tail -n 1 | cut -d= -f2; }

nb_prog_ids() { bpftool prog show 2>/dev/null | awk '/ name nb_/ { sub(":", "", $1); print $1 }'; }

# none_left IDS...: true when none of these program ids is loaded any more.
none_left() {
	local now id
	now=$(nb_prog_ids)
	for id in "$@"; do
		grep -qx "$id" <<<"$now" && return 1
	done
	return 0
}

# ---- usage ----
usage_case() {
	local what=$1 rc lines
	shift
	"$AGENT" serve "$@" >/dev/null 2>"$OUT/usage.err"
	rc=$?
	lines=$(wc -l <"$OUT/usage.err")
	assert_eq 2 "$rc" "usage ($what): exit code"
	assert_eq 1 "$lines" "usage ($what): stderr lines"
}
usage_case "no --listen" --name x --insecure
usage_case "no security" --listen 'tcp://127.0.0.1:*' --name x
usage_case "unknown option" --listen 'tcp://127.0.0.1:*' --name x --insecure --frobnicate
usage_case "half a key pair" --listen 'tcp://127.0.0.1:*' --name x --secret-key /nonexistent
usage_case "bad --max-sessions" --listen 'tcp://127.0.0.1:*' --name x --insecure --max-sessions 0
usage_case "bad --max-sessions-per-client" --listen 'tcp://127.0.0.1:*' --name x --insecure \
	--max-sessions-per-client 0
usage_case "bad --max-starts-per-client" --listen 'tcp://127.0.0.1:*' --name x --insecure \
	--max-starts-per-client 65
usage_case "per-client over global" --listen 'tcp://127.0.0.1:*' --name x --insecure \
	--max-sessions 2 --max-sessions-per-client 3
assert_eq "netblame-agent serve: --max-sessions-per-client 3 is more than --max-sessions 2" \
	"$(cat "$OUT/usage.err")" "usage (per-client over global): message"

# ---- a namespace path the agent may not open: EACCES, as the unprivileged user nobody ----
# $OUT is root's and mode 0700, so nobody cannot look inside; the check runs before any key
# file is read or any socket made.
"$AGENT" serve --listen 'tcp://127.0.0.1:*' --name x --secret-key /nonexistent \
	--authorized-keys /nonexistent --netns "$OUT/private-ns" 2>"$OUT/eacces.err" >/dev/null &&
	fail "netns: a missing namespace was accepted"
assert_eq "netblame-agent serve: network namespace '$OUT/private-ns' not found ($OUT/private-ns: No such file or directory)" \
	"$(cat "$OUT/eacces.err")" "netns (missing, as root): message"
setpriv --reuid=nobody --regid=nogroup --clear-groups "$AGENT" serve \
	--listen 'tcp://127.0.0.1:*' --name x --secret-key /nonexistent \
	--authorized-keys /nonexistent --netns "$OUT/private-ns" 2>"$OUT/eacces.err" >/dev/null
assert_eq 2 "$?" "netns (EACCES): exit code"
assert_eq "netblame-agent serve: cannot open network namespace '$OUT/private-ns': permission denied" \
	"$(cat "$OUT/eacces.err")" "netns (EACCES): message"

# ---- an insecure agent ----
start_agent hvI --insecure --max-sessions 2
grep -q 'warning: --insecure' "$OUT/agent_hvI.err" || fail "--insecure printed no warning"
EP=$EP_hvI

# hello
"$PROBE" "$EP" --insecure hello >"$OUT/hello.out" || fail "hello: no answer"
assert_eq hvI "$(kv name "$OUT/hello.out")" "hello: name"
assert_eq 0.1 "$(kv version "$OUT/hello.out")" "hello: version"
grep -q 'caps=.*tcx/ingress' "$OUT/hello.out" || fail "hello: no caps: $(cat "$OUT/hello.out")"

# garbage
"$PROBE" "$EP" --insecure garbage 200 >"$OUT/garbage.out" ||
	fail "garbage: HELLO not answered afterwards: $(cat "$OUT/garbage.out")"
alive "$PID_hvI" || fail "garbage: the agent died"
errs=$(kv errors "$OUT/garbage.out")
[ "$errs" -ge 1 ] && [ "$errs" -le 20 ] || fail "garbage: $errs ERROR replies, expected 1..20 (rate limit 10/s)"
echo "ok: garbage: $errs ERROR replies to 200 malformed messages"
wait_for 3 grep -q 'malformed_rx=200\b' "$OUT/agent_hvI.err" ||
	fail "garbage: malformed_rx=200 not logged: $(grep malformed "$OUT/agent_hvI.err")"
echo "ok: garbage: agent counted malformed_rx=200"
"$PROBE" "$EP" --insecure hello >/dev/null || fail "garbage: HELLO not answered later"

# bad STARTs
start_error() {
	local what=$1 code=$2
	shift 2
	if "$PROBE" "$EP" --insecure start-and-vanish "$@" >"$OUT/start.out" 2>&1; then
		fail "start ($what): accepted"
	fi
	grep -q "error code=$code " "$OUT/start.out" ||
		fail "start ($what): expected ERROR $code: $(cat "$OUT/start.out")"
	echo "ok: start ($what): ERROR $code"
}
start_error "unknown interface" 19 --src-ip $IPA --dst-ip $IPB --rx-iface nosuch0 \
	--tx-iface sb0 --netns $NSB
start_error "netns outside /run/netns" 13 --src-ip $IPA --dst-ip $IPB --rx-iface sb0 \
	--tx-iface sb0 --netns /etc/passwd
start_error "unknown netns" 2 --src-ip $IPA --dst-ip $IPB --rx-iface sb0 --tx-iface sb0 \
	--netns nbsrv-no-such-ns

# stream
ping_bg 0.02 150
"$PROBE" "$EP" --insecure stream "${FLOW[@]}" --duration-ms 2000 >"$OUT/stream.out" ||
	fail "stream: $(cat "$OUT/stream.out")"
cat "$OUT/stream.out"
S=$OUT/stream.out
[ "$(kv events "$S")" -ge 100 ] || fail "stream: only $(kv events "$S") events for ~100 pings"
assert_eq 0 "$(kv seq_gaps "$S")" "stream: seq gaps"
assert_eq 0 "$(kv wm_back "$S")" "stream: watermark went back"
assert_eq 0 "$(kv late_events "$S")" "stream: events older than an earlier watermark"
[ "$(kv max_gap_ms "$S")" -le 150 ] || fail "stream: $(kv max_gap_ms "$S") ms without EVENTS"
assert_eq 0 "$(kv lost_queue "$S")" "stream: lost_queue"
assert_eq "$(kv st_events_read "$S")" "$(kv st_events_sent "$S")" "stream: events read = sent"
assert_eq stopped "$(kv stop "$S")" "stream: STOP reason"

# credit: one unit, never renewed, one event per batch: the 256-batch queue overflows
ping_bg 0.005 400
"$PROBE" "$EP" --insecure stream "${FLOW[@]}" --duration-ms 2000 --credit 1 --no-grant \
	--max-batch 1 >"$OUT/credit.out" || fail "credit: $(cat "$OUT/credit.out")"
cat "$OUT/credit.out"
C=$OUT/credit.out
[ "$(kv st_lost_queue "$C")" -gt 0 ] || fail "credit: no lost_queue with no credit"
assert_eq 1 "$(kv batches "$C")" "credit: EVENTS messages with one unit of credit"
assert_eq "$(kv st_events_read "$C")" \
	"$(($(kv st_events_sent "$C") + $(kv st_lost_queue "$C")))" "credit: read = sent + lost_queue"

# max sessions (2): two sessions that vanish, then a third is refused while they live
before=$(nb_prog_ids)
"$PROBE" "$EP" --insecure start-and-vanish "${FLOW[@]}" --session 101 >"$OUT/v1.out" ||
	fail "lease: START refused: $(cat "$OUT/v1.out")"
t_vanish=$(date +%s.%N)
"$PROBE" "$EP" --insecure start-and-vanish "${FLOW[@]}" --session 102 >/dev/null ||
	fail "second session refused"
start_error "over --max-sessions" 122 "${FLOW[@]}" --session 103

# lease: the vanished sessions' programs are loaded now and gone within 5 s
new=$(comm -13 <(sort <<<"$before") <(nb_prog_ids | sort))
[ "$(wc -w <<<"$new")" -ge 2 ] || fail "lease: no nb_ programs loaded for the sessions"
echo "ok: lease: programs loaded: $(echo $new)"
# shellcheck disable=SC2086
wait_for 6 none_left $new || fail "lease: programs still loaded: $(bpftool prog show | grep ' nb_')"
t_gone=$(date +%s.%N)
elapsed=$(awk -v a="$t_vanish" -v b="$t_gone" 'BEGIN { printf "%.1f", b - a }')
awk -v e="$elapsed" 'BEGIN { exit !(e <= 5.0) }' || fail "lease: programs gone only after ${elapsed}s"
echo "ok: lease: programs gone ${elapsed}s after the coordinator vanished"
grep -q 'session 101 stopped (lease expired' "$OUT/agent_hvI.err" || fail "lease: expiry not logged"
alive "$PID_hvI" || fail "the agent died"

# ---- per-client limits: with --insecure a client is an IP address (127.0.0.x here) ----
start_agent hvL --insecure --max-sessions 3 --max-sessions-per-client 2 \
	--max-starts-per-client 4 --lease-ms 60000
# start_many NAME SOURCE N FLOW...: N STARTs at once from SOURCE; one line per answer in
# $OUT/NAME.out
start_many() {
	local name=$1 src=$2 n=$3
	shift 3
	"$PROBE" "$EP_hvL" --insecure --source "$src" start-many "$n" "$@" >"$OUT/$name.out" ||
		fail "$name: not every START was answered: $(cat "$OUT/$name.out")"
}
# expect_line NAME LINE: $OUT/NAME.out holds this exact line.
expect_line() {
	grep -qxF "$2" "$OUT/$1.out" || fail "$1: no line '$2' in: $(cat "$OUT/$1.out")"
	echo "ok: $1: $2"
}
before=$(nb_prog_ids)
# START rate: cheap STARTs (an unknown interface) count too; the fifth in 10 s is refused.
start_many rate 127.0.0.3 5 --src-ip $IPA --dst-ip $IPB --rx-iface nosuch0 --tx-iface sb0 \
	--netns $NSB --session 301
for sid in 301 302 303 304; do
	expect_line rate "session=$sid error code=19 message=unknown interface 'nosuch0' in network namespace $NSB"
done
expect_line rate "session=305 error code=122 message=limit max-starts-per-client 4: 4 STARTs from this client in the last 10 s"
# Sessions: one client gets two, its third is refused; another client still gets one, and
# the global limit (3) is then what refuses.
start_many own 127.0.0.1 3 "${FLOW[@]}" --session 201
expect_line own "session=201 started"
expect_line own "session=202 started"
expect_line own "session=203 error code=122 message=limit max-sessions-per-client 2: this client runs 2 sessions already"
start_many other 127.0.0.2 2 "${FLOW[@]}" --session 204
expect_line other "session=204 started"
expect_line other "session=205 error code=122 message=limit max-sessions 3: 3 sessions running already"
grep -qF 'START of session 203 refused for 127.0.0.1 (address 127.0.0.1): limit max-sessions-per-client 2:' \
	"$OUT/agent_hvL.err" || fail "limits: the refusal is not in the agent's log"
new=$(comm -13 <(sort <<<"$before") <(nb_prog_ids | sort))
[ "$(wc -w <<<"$new")" -ge 3 ] || fail "limits: no nb_ programs for the three sessions"
kill -TERM "$PID_hvL"
wait "$PID_hvL"
assert_eq 0 "$?" "limits: agent exit code"
# shellcheck disable=SC2086
wait_for 2 none_left $new || fail "limits: programs left loaded: $(bpftool prog show | grep ' nb_')"
assert_eq 3 "$(grep -c 'stopped (agent shutting down)' "$OUT/agent_hvL.err")" \
	"limits: sessions stopped at SIGTERM"

# ---- clock offset ----
start_agent hvO --insecure --test-clock-offset-ms 5000
"$PROBE" "$EP_hvO" --insecure hello >"$OUT/clock.out" || fail "clock: no HELLO"
off=$(kv offset_ms "$OUT/clock.out")
[ "$off" -ge 4990 ] && [ "$off" -le 5010 ] || fail "clock: offset ${off} ms, expected ~5000"
echo "ok: clock: HELLO clock is ${off} ms ahead"

# ---- CURVE ----
keygen() {
	mkdir -p "$1"
	if [ -x "$COORD" ] && "$COORD" keygen --out "$1" >"$1/keygen.out" 2>&1; then
		return 0
	fi
	"$PROBE" keygen "$1" >"$1/keygen.out" || fail "keygen $1"
}
keygen "$OUT/agent"
keygen "$OUT/coord"
keygen "$OUT/coord2"
keygen "$OUT/rogue"
{
	echo "# the coordinators allowed"
	echo "$(cat "$OUT/coord/netblame.pub") coordinator-1"
	echo "$(cat "$OUT/coord2/netblame.pub") coordinator-2"
} >"$OUT/authorized_keys"
# A long lease: the sessions below outlive their probes until the SIGTERM case.
start_agent hvC --secret-key "$OUT/agent/netblame.key" --authorized-keys "$OUT/authorized_keys" \
	--lease-ms 60000
# refusals N: the agent has logged its Nth refused connection (one line each, numbered).
refusals() { grep -q "(refused=$1)\$" "$OUT/agent_hvC.err"; }
"$PROBE" "$EP_hvC" --server-key "$OUT/agent/netblame.pub" --key "$OUT/coord/netblame.key" \
	hello >"$OUT/curve.out" || fail "curve: authorised coordinator got no HELLO"
assert_eq hvC "$(kv name "$OUT/curve.out")" "curve: authorised HELLO name"
if "$PROBE" "$EP_hvC" --server-key "$OUT/agent/netblame.pub" --key "$OUT/rogue/netblame.key" \
	hello >/dev/null 2>&1; then
	fail "curve: an unauthorised key got a HELLO"
fi
rogue_fpr=$(grep -o 'SHA256:[0-9a-f]\{64\}' "$OUT/rogue/keygen.out" | head -n 1)
[ -n "$rogue_fpr" ] || fail "curve: keygen printed no fingerprint"
wait_for 3 refusals 1 || fail "curve: unknown key: no refusal logged: $(cat "$OUT/agent_hvC.err")"
grep -qE "refused connection from 127\.0\.0\.1: key $rogue_fpr is not in the authorized keys \(refused=1\)\$" \
	"$OUT/agent_hvC.err" || fail "curve: refusal not logged with $rogue_fpr: $(cat "$OUT/agent_hvC.err")"
echo "ok: curve: unauthorised key refused and logged"

# The failures inside libzmq's handshake, from the socket monitor. The peer's address is
# there when the agent read the connection's ACCEPTED before it closed, else '?'.
FROM='refused connection from (127\.0\.0\.1:[0-9]+|\?)'
if "$PROBE" "$EP_hvC" --insecure hello >/dev/null 2>&1; then
	fail "curve: a plaintext client got a HELLO"
fi
wait_for 3 refusals 2 || fail "curve: plaintext client: no refusal logged: $(cat "$OUT/agent_hvC.err")"
# Which side sees the mismatch first is a race: ours reads it, or finds the peer gone.
grep -qE "$FROM: (security mechanism mismatch \(CURVE on one side only\)|closed by the peer during the handshake) \(refused=2\)\$" \
	"$OUT/agent_hvC.err" || fail "curve: plaintext client: $(grep 'refused=2)' "$OUT/agent_hvC.err")"
echo "ok: curve: plaintext client got nothing and was logged"
if "$PROBE" "$EP_hvC" --server-key "$OUT/rogue/netblame.pub" --key "$OUT/coord/netblame.key" \
	hello >/dev/null 2>&1; then
	fail "curve: a client with a wrong server key got a HELLO"
fi
wait_for 3 refusals 3 || fail "curve: wrong server key: no refusal logged: $(cat "$OUT/agent_hvC.err")"
grep -qE "$FROM: CURVE handshake did not decrypt \(a wrong server key\?\) \(refused=3\)\$" \
	"$OUT/agent_hvC.err" || fail "curve: wrong server key: $(grep 'refused=3)' "$OUT/agent_hvC.err")"
echo "ok: curve: wrong server key refused and logged"
# Not ZMTP at all: libzmq drops it without a handshake event.
exec 3<>"/dev/tcp/127.0.0.1/${EP_hvC##*:}" || fail "curve: cannot connect with bash"
printf 'GET / HTTP/1.0\r\n\r\n' >&3
timeout 5 cat <&3 >/dev/null 2>&1
exec 3<&-
wait_for 3 refusals 4 || fail "curve: HTTP request: no refusal logged: $(cat "$OUT/agent_hvC.err")"
grep -qE "$FROM: dropped by libzmq before any message \(not a ZMTP 3 peer\?\) \(refused=4\)\$" \
	"$OUT/agent_hvC.err" || fail "curve: HTTP request: $(grep 'refused=4)' "$OUT/agent_hvC.err")"
echo "ok: curve: HTTP request refused and logged"
# A connection that says nothing: the handshake timer (5 s) ends it.
exec 3<>"/dev/tcp/127.0.0.1/${EP_hvC##*:}" || fail "curve: cannot connect with bash"
wait_for 10 refusals 5 || fail "curve: silent connection: no refusal logged: $(cat "$OUT/agent_hvC.err")"
exec 3<&-
grep -qE "$FROM: no handshake within 5 s \(refused=5\)\$" "$OUT/agent_hvC.err" ||
	fail "curve: silent connection: $(grep 'refused=5)' "$OUT/agent_hvC.err")"
echo "ok: curve: silent connection refused after the handshake timeout and logged"
# CURVE against an --insecure agent is refused there too.
if "$PROBE" "$EP_hvI" --server-key "$OUT/agent/netblame.pub" --key "$OUT/coord/netblame.key" \
	hello >/dev/null 2>&1; then
	fail "insecure: a CURVE client got a HELLO"
fi
wait_for 3 grep -qE "$FROM: (security mechanism mismatch \(CURVE on one side only\)|closed by the peer during the handshake) \(refused=1\)\$" \
	"$OUT/agent_hvI.err" || fail "insecure: CURVE client: $(grep refused "$OUT/agent_hvI.err")"
echo "ok: insecure: a CURVE client refused and logged"
# Each refusal once: the unknown key's is not logged again from the monitor.
assert_eq 5 "$(grep -c 'refused connection from' "$OUT/agent_hvC.err")" "curve: refusal lines"
grep -q "session .* started" "$OUT/agent_hvC.err" && fail "curve: a session started"

# Per-client limits count by key: coordinator-1's third session is refused, coordinator-2,
# from the same address, still gets one.
before=$(nb_prog_ids)
"$PROBE" "$EP_hvC" --server-key "$OUT/agent/netblame.pub" --key "$OUT/coord/netblame.key" \
	start-many 3 "${FLOW[@]}" --session 601 >"$OUT/key1.out" || fail "curve: key1: $(cat "$OUT/key1.out")"
expect_line key1 "session=601 started"
expect_line key1 "session=602 started"
expect_line key1 "session=603 error code=122 message=limit max-sessions-per-client 2: this client runs 2 sessions already"
"$PROBE" "$EP_hvC" --server-key "$OUT/agent/netblame.pub" --key "$OUT/coord2/netblame.key" \
	start-many 1 "${FLOW[@]}" --session 701 >"$OUT/key2.out" || fail "curve: key2: $(cat "$OUT/key2.out")"
expect_line key2 "session=701 started"

# ---- SIGTERM with live sessions (the three above) ----
new=$(comm -13 <(sort <<<"$before") <(nb_prog_ids | sort))
[ "$(wc -w <<<"$new")" -ge 3 ] || fail "sigterm: no programs loaded"
kill -TERM "$PID_hvC"
wait "$PID_hvC"
assert_eq 0 "$?" "sigterm: agent exit code"
# The kernel frees a detached program after an RCU grace period: allow it a moment.
# shellcheck disable=SC2086
wait_for 2 none_left $new || fail "sigterm: programs left loaded"
assert_eq 3 "$(grep -c 'stopped (agent shutting down)' "$OUT/agent_hvC.err")" \
	"sigterm: sessions stopped"
echo "ok: sigterm: exit 0, programs detached"

echo "PASS"
