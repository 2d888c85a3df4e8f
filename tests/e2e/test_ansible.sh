#!/bin/bash
# The Ansible role (deploy/ansible) run for real with Debian's ansible, on this machine
# (connection local) for two agents, each installed into a throwaway root.
# Cases and what each expects:
#   first    the play succeeds; in each root: the package installed (dpkg --root), the agent's
#            key made, authorized_keys holding the coordinator's public key with its label,
#            agent.conf with the node's name and listen endpoint, the service's wants link;
#            on the controller: each agent's public key gathered, and the coordinator's
#            inventory (YAML) naming both nodes with their endpoint, server-key and labels
#   config   the agent accepts the written agent.conf (with the root's key paths)
#   again    a second run changes nothing (changed=0 for both hosts)
set -u
. "$(dirname "$0")/lib.sh"
need_root # the agent it starts loads BPF for a moment

command -v ansible-playbook >/dev/null || fail "ansible-playbook missing: deploy/install-deps.sh"
OUT=$(mktemp -d /tmp/nb-ansible.XXXXXX)
on_exit "rm -rf $OUT"
make -C "$REPO" -s deb >"$OUT/make.out" 2>&1 || fail "make deb: $(tail -n 20 "$OUT/make.out")"
DEB=$(ls "$REPO"/build/deb/netblame_*.deb)
"$COORD" keygen --out "$OUT/coord" >/dev/null || fail "keygen"
for h in hv1 hv2; do
	mkdir -p "$OUT/root-$h/var/lib/dpkg/info" "$OUT/root-$h/var/lib/dpkg/updates" "$OUT/root-$h/var/log"
	: >"$OUT/root-$h/var/lib/dpkg/status"
done
cat >"$OUT/hosts.yml" <<EOY
netblame_agents:
  hosts:
    hv1: {ansible_host: 127.0.0.1, netblame_root: "$OUT/root-hv1", netblame_labels: {rack: r1}}
    hv2: {ansible_host: 127.0.0.2, netblame_root: "$OUT/root-hv2", netblame_port: 7071}
  vars:
    ansible_connection: local
    ansible_python_interpreter: /usr/bin/python3
    netblame_deb: "$DEB"
    netblame_coordinator_keys: [{pub: "$OUT/coord/netblame.pub", label: jumphost}]
    netblame_keys_dir: "$OUT/keys"
    netblame_inventory: "$OUT/inventory.yaml"
    netblame_coordinator_secret_key: "$OUT/coord/netblame.key"
EOY
play() {
	ANSIBLE_NOCOLOR=1 ANSIBLE_RETRY_FILES_ENABLED=0 ANSIBLE_LOCAL_TEMP=$OUT/tmp \
		ANSIBLE_HOME=$OUT/ansible-home ansible-playbook -i "$OUT/hosts.yml" \
		"$REPO/deploy/ansible/site.yml" >"$1" 2>&1
}

# ---- first ----
play "$OUT/run1.out" || fail "first: the play failed: $(tail -n 30 "$OUT/run1.out")"
for h in hv1 hv2; do
	E=$OUT/root-$h/etc/netblame
	assert_eq "install ok installed" \
		"$(dpkg-query --admindir="$OUT/root-$h/var/lib/dpkg" -W -f='${Status}' netblame)" \
		"first: $h: package"
	[ -x "$OUT/root-$h/usr/bin/netblame-agent" ] || fail "first: $h: no netblame-agent"
	assert_eq "$(cat "$OUT/coord/netblame.pub") jumphost" "$(grep -v '^#' "$E/authorized_keys")" \
		"first: $h: authorized_keys"
	assert_eq "name = $h" "$(grep '^name' "$E/agent.conf")" "first: $h: agent.conf name"
	assert_eq /usr/lib/systemd/system/netblame-agent.service \
		"$(readlink "$OUT/root-$h/etc/systemd/system/multi-user.target.wants/netblame-agent.service")" \
		"first: $h: enabled"
	assert_eq "$(cat "$E/netblame.pub")" "$(cat "$OUT/keys/$h.pub")" "first: $h: key gathered"
done
assert_eq "listen = tcp://0.0.0.0:7071" "$(grep '^listen' "$OUT/root-hv2/etc/netblame/agent.conf")" \
	"first: hv2: listen"
python3 - "$OUT/inventory.yaml" "$OUT" >"$OUT/inv.txt" <<'EOP' || fail "first: inventory: $(cat "$OUT/inventory.yaml")"
import sys, yaml
inv = yaml.safe_load(open(sys.argv[1]))
out = sys.argv[2]
assert inv["coordinator"] == {"key": out + "/coord/netblame.key"}, inv["coordinator"]
assert inv["nodes"] == {
    "hv1": {"endpoint": "tcp://127.0.0.1:7070", "server-key": out + "/keys/hv1.pub",
            "labels": {"rack": "r1"}},
    "hv2": {"endpoint": "tcp://127.0.0.2:7071", "server-key": out + "/keys/hv2.pub"},
}, inv["nodes"]
print("ok")
EOP
echo "ok: first: both agents installed and configured, inventory written"

# ---- config ----
# The written file, with the root's key paths instead of /etc's, at the real agent.
sed "s#/etc/netblame#$OUT/root-hv1/etc/netblame#;s#^listen = .*#listen = tcp://127.0.0.1:*#" \
	"$OUT/root-hv1/etc/netblame/agent.conf" >"$OUT/agent.conf"
timeout 5 "$AGENT" serve --config "$OUT/agent.conf" >"$OUT/agent.out" 2>"$OUT/agent.err"
grep -q "^hv1: listening on tcp://127.0.0.1:[0-9]* (CURVE, at most 4 sessions" "$OUT/agent.err" ||
	fail "config: the agent did not start from it: $(cat "$OUT/agent.err")"
echo "ok: config: the agent starts from the written agent.conf"

# ---- again ----
play "$OUT/run2.out" || fail "again: the play failed: $(tail -n 30 "$OUT/run2.out")"
for h in hv1 hv2; do
	grep -qE "^$h +: ok=[0-9]+ +changed=0 +unreachable=0 +failed=0" "$OUT/run2.out" ||
		fail "again: $h changed: $(grep -B2 'changed:' "$OUT/run2.out" | head -n 20)"
done
echo "ok: again: changed=0 on both hosts"
