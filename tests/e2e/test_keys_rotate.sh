#!/bin/bash
# An agent configured from a file (serve --config) whose coordinator keys are rotated with
# SIGHUP, without a restart. tests/tools/nb_agent_probe plays the coordinators.
# Cases and what each expects:
#   config   a config file with a misspelt key exits 2 with one line "FILE:LINE: unknown key";
#            a good one is used, and a flag on the command line overrides it (--name)
#   print    the agent prints its server key's fingerprint and those of the keys it accepts,
#            the same that `netblame keygen` printed
#   rotate   coordinator 1 is accepted and 2 refused; the file is rewritten to hold only 2 and
#            the agent gets SIGHUP: it logs 2 added and 1 removed, 1 is refused (logged with its
#            fingerprint) and 2 accepted, by the same process
#   bad      a broken allowlist on SIGHUP is named (FILE:LINE) and the keys in force stay
set -u
. "$(dirname "$0")/lib.sh"
need_root

PROBE=$REPO/build/tests/tools/nb_agent_probe
[ -x "$AGENT" ] && [ -x "$COORD" ] && [ -x "$PROBE" ] || fail "build first: make"
OUT=$(mktemp -d /tmp/nb-keys.XXXXXX)
on_exit "rm -rf $OUT"

fpr_of() { sed -n 's/^fingerprint: //p' "$1/keygen.out"; }
for k in agent c1 c2; do
	"$COORD" keygen --out "$OUT/$k" >"$OUT/$k.keygen" || fail "keygen $k"
	mkdir -p "$OUT/$k" && mv "$OUT/$k.keygen" "$OUT/$k/keygen.out"
	[ -n "$(fpr_of "$OUT/$k")" ] || fail "keygen $k printed no fingerprint"
done
echo "$(cat "$OUT/c1/netblame.pub") coordinator-1" >"$OUT/authorized_keys"

# ---- config ----
cat >"$OUT/bad.conf" <<EOF
# a typo
max-sesions 3
EOF
"$AGENT" serve --config "$OUT/bad.conf" >/dev/null 2>"$OUT/bad.err"
assert_eq 2 $? "config: exit code of a bad key"
assert_eq "netblame-agent serve: $OUT/bad.conf:2: unknown key 'max-sesions'" "$(cat "$OUT/bad.err")" \
	"config: the one error line"

cat >"$OUT/agent.conf" <<EOF
# netblame-agent serve --config
name = from-the-file
secret-key = $OUT/agent/netblame.key
authorized-keys $OUT/authorized_keys
max-sessions 3
EOF
start_agent hvK --config "$OUT/agent.conf"
pid=$PID_hvK
hello() { # hello KEYDIR: 0 when the agent answers that coordinator
	"$PROBE" "$EP_hvK" --server-key "$OUT/agent/netblame.pub" --key "$OUT/$1/netblame.key" \
		hello >"$OUT/hello.out" 2>&1
}
hello c1 || fail "config: coordinator 1 got no HELLO: $(cat "$OUT/agent_hvK.err")"
assert_eq "hvK" "$(grep -o '\bname=[^ ]*' "$OUT/hello.out" | cut -d= -f2)" \
	"config: --name on the command line wins over the file"
grep -q "at most 3 sessions" "$OUT/agent_hvK.err" || fail "config: max-sessions 3 not applied"

# ---- fingerprints ----
grep -qx "hvK: server key $(fpr_of "$OUT/agent")" "$OUT/agent_hvK.err" ||
	fail "print: no server key fingerprint: $(cat "$OUT/agent_hvK.err")"
grep -qx "hvK: authorized key $(fpr_of "$OUT/c1") (coordinator-1)" "$OUT/agent_hvK.err" ||
	fail "print: no fingerprint of the authorized key: $(cat "$OUT/agent_hvK.err")"
echo "ok: print: server and authorized keys' fingerprints as keygen printed them"

# ---- rotate ----
if hello c2; then fail "rotate: coordinator 2 got a HELLO before it was authorised"; fi
# Written to a new file and renamed, as an operator's tools (and the Ansible role) do.
echo "$(cat "$OUT/c2/netblame.pub") coordinator-2" >"$OUT/authorized_keys.new"
mv "$OUT/authorized_keys.new" "$OUT/authorized_keys"
kill -HUP "$pid"
wait_for 10 grep -q 'SIGHUP: reloaded' "$OUT/agent_hvK.err" ||
	fail "rotate: no reload logged: $(cat "$OUT/agent_hvK.err")"
assert_eq "hvK: SIGHUP: reloaded $OUT/authorized_keys: 1 keys (1 added, 1 removed)" \
	"$(grep 'SIGHUP: reloaded' "$OUT/agent_hvK.err")" "rotate: the reload line"
grep -qx "hvK: added key $(fpr_of "$OUT/c2") (coordinator-2)" "$OUT/agent_hvK.err" ||
	fail "rotate: the added key not named"
grep -qx "hvK: removed key $(fpr_of "$OUT/c1") (coordinator-1)" "$OUT/agent_hvK.err" ||
	fail "rotate: the removed key not named"
if hello c1; then fail "rotate: the removed key still got a HELLO"; fi
wait_for 5 grep -q "key $(fpr_of "$OUT/c1") is not in the authorized keys" "$OUT/agent_hvK.err" ||
	fail "rotate: the old key's refusal not logged: $(cat "$OUT/agent_hvK.err")"
hello c2 || fail "rotate: the new key got no HELLO: $(cat "$OUT/agent_hvK.err")"
kill -0 "$pid" 2>/dev/null || fail "rotate: the agent is gone"
assert_eq 1 "$(grep -c '^listening on' "$OUT/agent_hvK.out")" "rotate: times the agent started"
echo "ok: rotate: old key refused, new key accepted, same process"

# ---- a broken file on SIGHUP ----
echo "not-a-key" >"$OUT/authorized_keys.new"
mv "$OUT/authorized_keys.new" "$OUT/authorized_keys"
kill -HUP "$pid"
wait_for 10 grep -q 'SIGHUP: kept the 1 keys loaded before' "$OUT/agent_hvK.err" ||
	fail "bad: no refusal of the broken file: $(cat "$OUT/agent_hvK.err")"
grep -q "^hvK: $OUT/authorized_keys:1: " "$OUT/agent_hvK.err" || fail "bad: the line not named"
hello c2 || fail "bad: the key in force was lost"
echo "ok: bad: broken allowlist named, keys in force kept"

kill -TERM "$pid"
wait_exit "$pid" agent "$OUT/agent_hvK.err"
assert_eq 0 "$RC" "agent exit code after SIGTERM"
