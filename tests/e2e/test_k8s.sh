#!/bin/bash
# The Kubernetes DaemonSet and the image's build file, checked offline (no cluster, no
# registry here: the image is not built).
# Cases and what each expects:
#   lint     yamllint passes; the manifest is a Namespace and an apps/v1 DaemonSet with host
#            network and PID, the keys from a Secret (mode 0400), BTF, tracefs and /run/netns
#            mounted read-only, not privileged, capabilities exactly the systemd unit's set,
#            readiness on /metrics at the --metrics-listen port
#   args     the container's arguments, with the Secret's paths and NODE_NAME filled in, start
#            this netblame-agent, which answers /metrics (what the readiness probe asks)
set -u
. "$(dirname "$0")/lib.sh"
need_root

K=$REPO/deploy/k8s
OUT=$(mktemp -d /tmp/nb-k8s.XXXXXX)
on_exit "rm -rf $OUT"
command -v yamllint >/dev/null || fail "yamllint missing: deploy/install-deps.sh"

# ---- lint ----
yamllint -d '{extends: default, rules: {line-length: {max: 100}, document-start: disable}}' \
	"$K/daemonset.yaml" >"$OUT/lint.out" 2>&1 || fail "lint: $(cat "$OUT/lint.out")"
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$REPO/deploy/systemd/netblame-agent.service.in")
python3 - "$K/daemonset.yaml" "$caps" >"$OUT/args" <<'EOP' || fail "lint: the manifest"
import sys, yaml
docs = list(yaml.safe_load_all(open(sys.argv[1])))
assert [d["kind"] for d in docs] == ["Namespace", "DaemonSet"], [d["kind"] for d in docs]
ds = docs[1]
assert ds["apiVersion"] == "apps/v1"
spec = ds["spec"]["template"]["spec"]
assert ds["spec"]["selector"]["matchLabels"].items() <= ds["spec"]["template"]["metadata"]["labels"].items()
assert spec["hostNetwork"] is True and spec["hostPID"] is True
(c,) = spec["containers"]
sc = c["securityContext"]
assert sc["privileged"] is False and sc["allowPrivilegeEscalation"] is False
assert sc["capabilities"]["drop"] == ["ALL"]
want = sorted(x.removeprefix("CAP_") for x in sys.argv[2].split())
assert sorted(sc["capabilities"]["add"]) == want, (sc["capabilities"]["add"], want)
vols = {v["name"]: v for v in spec["volumes"]}
mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
for path, host in [("/sys/kernel/btf", "/sys/kernel/btf"), ("/sys/kernel/tracing", "/sys/kernel/tracing"),
                   ("/run/netns", "/run/netns")]:
    m = mounts[path]
    assert m["readOnly"] is True and vols[m["name"]]["hostPath"]["path"] == host, path
assert mounts["/run/netns"]["mountPropagation"] == "HostToContainer"
keys = mounts["/etc/netblame/keys"]
assert vols[keys["name"]]["secret"]["defaultMode"] == 0o400
args = c["args"]
port = [a for a in args if a.startswith("--metrics-listen=")][0].rsplit(":", 1)[1]
probe = c["readinessProbe"]["httpGet"]
assert probe["path"] == "/metrics" and str(probe["port"]) == port, (probe, port)
for a in args:
    print(a)
EOP
echo "ok: lint: yamllint clean, DaemonSet checked ($(wc -l <"$OUT/args") args)"
grep -q '^COPY build/deb/netblame_\*.deb' "$K/Containerfile" || fail "lint: Containerfile COPY"

# ---- args ----
"$COORD" keygen --out "$OUT/agent" >/dev/null && "$COORD" keygen --out "$OUT/coord" >/dev/null ||
	fail "keygen"
cp "$OUT/coord/netblame.pub" "$OUT/authorized_keys"
mapfile -t args < <(sed -e "s#/etc/netblame/keys/netblame.key#$OUT/agent/netblame.key#" \
	-e "s#/etc/netblame/keys/authorized_keys#$OUT/authorized_keys#" \
	-e 's#\$(NODE_NAME)#node1#' -e 's#^--listen=.*#--listen=tcp://127.0.0.1:*#' \
	-e 's#^--metrics-listen=.*#--metrics-listen=127.0.0.1:0#' "$OUT/args")
"$AGENT" serve "${args[@]}" >"$OUT/agent.out" 2>"$OUT/agent.err" &
pid=$!
on_exit "kill $pid 2>/dev/null; wait $pid 2>/dev/null"
wait_for 10 grep -q '^listening on' "$OUT/agent.out" || fail "args: the agent did not start: $(cat "$OUT/agent.err")"
url=$(sed -n 's/^metrics on //p' "$OUT/agent.out")
curl -sf "$url" | grep -qx 'netblame_agent_info{node="node1"} 1' || fail "args: /metrics"
echo "ok: args: the manifest's arguments start the agent, /metrics answers"
