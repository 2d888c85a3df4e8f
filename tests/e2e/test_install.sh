#!/bin/bash
# make install into throwaway trees, and the systemd unit it installs.
# Cases and what each expects:
#   tree        DESTDIR=T PREFIX=/usr: exactly the files listed below, binaries 0755, one
#               symlink to netblame-agent per `netblame-agent --list-tools` name, /etc/netblame
#               0750, man pages that render, the unit with /usr/bin in ExecStart
#   completion  the installed bash completion completes commands, tools and flags
#   verify      `systemd-analyze verify` on the unit installed with PREFIX=T/usr: exit 0, no
#               output (the binary and the man page of Documentation= are found there)
set -u
. "$(dirname "$0")/lib.sh"

[ -x "$AGENT" ] && [ -x "$COORD" ] || fail "build first: make"
OUT=$(mktemp -d /tmp/nb-install.XXXXXX)
on_exit "rm -rf $OUT"
T=$OUT/dest

# ---- tree ----
make -C "$REPO" -s install DESTDIR="$T" PREFIX=/usr >"$OUT/make.out" 2>&1 ||
	fail "make install: $(tail -n 5 "$OUT/make.out")"
tools=$("$AGENT" --list-tools)
[ "$(echo "$tools" | wc -l)" -ge 5 ] || fail "tree: --list-tools gave too few names"
{
	printf '%s\n' etc/netblame usr/bin/netblame usr/bin/netblame-agent \
		usr/lib/systemd/system/netblame-agent.service usr/share/man/man1/netblame.1 \
		usr/share/man/man1/netblame-agent.1 usr/share/bash-completion/completions/netblame \
		usr/share/bash-completion/completions/netblame-agent \
		usr/share/netblame/agent.conf.example
	for r in "$REPO"/deploy/runbooks/*.yaml; do echo "usr/share/netblame/runbooks/${r##*/}"; done
	for t in $tools; do echo "usr/bin/$t"; done
} | sort >"$OUT/want"
(cd "$T" && find . -mindepth 1 \( -type f -o -type l -o -type d -empty \) -printf '%P\n' | sort) \
	>"$OUT/got"
diff -u "$OUT/want" "$OUT/got" || fail "tree: files differ from the list"
echo "ok: tree: $(wc -l <"$OUT/got") entries as listed"
for t in $tools; do
	assert_eq netblame-agent "$(readlink "$T/usr/bin/$t")" "tree: symlink $t" >/dev/null
done
echo "ok: tree: $(echo "$tools" | wc -l) tool symlinks to netblame-agent"
assert_eq 755 "$(stat -c %a "$T/usr/bin/netblame-agent")" "tree: mode of netblame-agent"
assert_eq 755 "$(stat -c %a "$T/usr/bin/netblame")" "tree: mode of netblame"
assert_eq 750 "$(stat -c %a "$T/etc/netblame")" "tree: mode of /etc/netblame"
assert_eq "ExecStart=/usr/bin/netblame-agent serve --config /etc/netblame/agent.conf" \
	"$(grep '^ExecStart=' "$T/usr/lib/systemd/system/netblame-agent.service")" "tree: ExecStart"
for m in netblame netblame-agent; do
	MANWIDTH=100 man -l "$T/usr/share/man/man1/$m.1" 2>/dev/null >"$OUT/$m.man" ||
		fail "tree: man page $m does not render"
done
grep -q 'netblame-agent serve' "$OUT/netblame-agent.man" || fail "tree: man netblame-agent lacks serve"
grep -q 'keygen' "$OUT/netblame.man" || fail "tree: man netblame lacks keygen"
echo "ok: tree: man pages render, from --help"

# ---- completion ----
# complete_words WORD...: what the installed completion offers for the last word.
complete_words() {
	PATH="$T/usr/bin:$PATH" bash -c '
		. "$0"
		COMP_WORDS=("${@}"); COMP_CWORD=$(($# - 1))
		f=$(complete -p "${COMP_WORDS[0]}" | sed -n "s/.*-F \([^ ]*\) .*/\1/p")
		$f; printf "%s\n" "${COMPREPLY[@]}"' \
		"$T/usr/share/bash-completion/completions/netblame" "$@" | sort | tr '\n' ' '
}
assert_eq "serve " "$(complete_words netblame-agent ser)" "completion: netblame-agent ser"
assert_eq "icmp_path_tracer " "$(complete_words netblame-agent icmp_p)" "completion: a tool"
assert_eq "--authorized-keys " "$(complete_words netblame-agent serve --auth)" \
	"completion: a serve flag"
assert_eq "--src-ip --src-port " "$(complete_words tcp_path_tracer --src)" \
	"completion: a tool symlink's flags"
assert_eq "trace " "$(complete_words netblame tr)" "completion: netblame tr"
assert_eq "--out " "$(complete_words netblame keygen --o)" "completion: keygen flag"

# ---- verify ----
V=$OUT/verify
make -C "$REPO" -s install PREFIX="$V/usr" SYSCONFDIR="$V/etc" >"$OUT/make2.out" 2>&1 ||
	fail "make install PREFIX: $(tail -n 5 "$OUT/make2.out")"
MANPATH=$V/usr/share/man systemd-analyze verify "$V/usr/lib/systemd/system/netblame-agent.service" \
	>"$OUT/verify.out" 2>&1
assert_eq 0 $? "verify: systemd-analyze verify exit code"
assert_eq "" "$(cat "$OUT/verify.out")" "verify: systemd-analyze verify output"
