#!/bin/bash
# make deb, then the package installed into a throwaway root (dpkg --root, maintainer scripts
# run outside it with DPKG_ROOT), removed and purged.
# Cases and what each expects:
#   build    make deb makes build/deb/netblame_*.deb; dpkg-deb shows package netblame with
#            libzmq5 and libbpf1 among its dependencies, both programs, a symlink per tool,
#            the unit, /etc/netblame and the man pages
#   install  postinst makes the agent's key (0600, its fingerprint printed), an empty
#            allowlist and an agent.conf with this host's name, in the root's /etc/netblame
#            (0750); a second configure keeps the same key
#   remove   dpkg -r leaves /etc/netblame (keys and config) and nothing of the programs;
#            dpkg -P leaves nothing at all
set -u
. "$(dirname "$0")/lib.sh"

OUT=$(mktemp -d /tmp/nb-deb.XXXXXX)
on_exit "rm -rf $OUT"
make -C "$REPO" -s deb >"$OUT/make.out" 2>&1 || fail "make deb: $(tail -n 20 "$OUT/make.out")"
DEB=$(ls "$REPO"/build/deb/netblame_*.deb)
[ -f "$DEB" ] || fail "build: no package in build/deb"

# ---- build ----
assert_eq netblame "$(dpkg-deb -f "$DEB" Package)" "build: package name"
deps=$(dpkg-deb -f "$DEB" Depends)
for d in libzmq5 libbpf1; do
	[[ "$deps" == *"$d "* ]] || fail "build: $d not in Depends: $deps"
done
dpkg-deb -c "$DEB" | awk '{ print $6 ($7 ? " " $7 " " $8 : "") }' >"$OUT/contents"
for f in ./usr/bin/netblame ./usr/bin/netblame-agent ./usr/lib/systemd/system/netblame-agent.service \
	./etc/netblame/ ./usr/share/man/man1/netblame.1.gz ./usr/share/man/man1/netblame-agent.1.gz \
	./usr/share/bash-completion/completions/netblame ./usr/share/netblame/agent.conf.example; do
	grep -qx -- "$f" "$OUT/contents" || fail "build: $f not in the package"
done
for t in $("$AGENT" --list-tools); do
	grep -qx -- "./usr/bin/$t -> netblame-agent" "$OUT/contents" || fail "build: no symlink $t"
done
echo "ok: build: $(wc -l <"$OUT/contents") entries, programs, symlinks, unit, man pages"

# ---- install ----
R=$OUT/root
mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates" "$R/var/log"
: >"$R/var/lib/dpkg/status"
# Only the package's own dependencies are missing in the empty root: --force-depends.
dpkgr() { dpkg --root="$R" --force-script-chrootless --force-depends "$@"; }
dpkgr -i "$DEB" >"$OUT/install.out" 2>&1 || fail "install: $(tail -n 5 "$OUT/install.out")"
E=$R/etc/netblame
assert_eq 750 "$(stat -c %a "$E")" "install: mode of /etc/netblame"
assert_eq 600 "$(stat -c %a "$E/netblame.key")" "install: mode of the secret key"
fpr=$(sed -n 's/^fingerprint: //p' "$OUT/install.out")
[[ "$fpr" =~ ^SHA256:[0-9a-f]{64}$ ]] || fail "install: no fingerprint printed: $(cat "$OUT/install.out")"
assert_eq "name = $(hostname -s)" "$(grep '^name' "$E/agent.conf")" "install: agent.conf name"
assert_eq "" "$(grep -v '^#' "$E/authorized_keys")" "install: the allowlist has no key yet"
key=$(cat "$E/netblame.pub")
dpkgr -i "$DEB" >"$OUT/install2.out" 2>&1 || fail "reinstall: $(tail -n 5 "$OUT/install2.out")"
assert_eq "$key" "$(cat "$E/netblame.pub")" "install: a second install keeps the key"

# ---- remove ----
dpkgr -r netblame >"$OUT/remove.out" 2>&1 || fail "remove: $(tail -n 5 "$OUT/remove.out")"
left=$(cd "$R" && find . -path ./var -prune -o -print | sort | tr '\n' ' ')
assert_eq ". ./etc ./etc/netblame ./etc/netblame/agent.conf ./etc/netblame/authorized_keys ./etc/netblame/netblame.key ./etc/netblame/netblame.pub " \
	"$left" "remove: what is left"
dpkgr -P netblame >"$OUT/purge.out" 2>&1 || fail "purge: $(tail -n 5 "$OUT/purge.out")"
assert_eq ". " "$(cd "$R" && find . -path ./var -prune -o -print | tr '\n' ' ')" "purge: what is left"
