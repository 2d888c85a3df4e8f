#!/bin/bash
# serve --metrics-listen scraped by Debian's Prometheus server.
# Cases and what each expects:
#   format   /metrics passes `promtool check metrics`; another path is 404; a bad address
#            exits 2 with one line before the agent listens
#   scrape   Prometheus scrapes the agent (up = 1) and its query API returns the agent's
#            values: netblame_agent_info{node="hvP"} 1, sessions 0, and
#            connections_refused_total 1 after exactly one connection that was not ZMTP
#   summary  serve --summary runs vm_network_latency_summary on hvB of the lab with a 40 ms
#            delay in hvB's FORWARD chain; after 8 pings Prometheus's query API returns, for
#            forward -> net_dev_xmit, _count 8, the cumulative bucket le=0.065536 (the log2
#            bucket 32768..65535 us) 8 and le=0.032768 0, and a _sum between 8 x 40 ms and
#            8 x 65.536 ms; --summary without --metrics-listen, with a tool that keeps no
#            histograms, or with a bad flag of the tool, exits 2 with one line
set -u
. "$(dirname "$0")/lib.sh"
need_root

command -v prometheus >/dev/null && command -v promtool >/dev/null ||
	fail "prometheus missing: deploy/install-deps.sh"
OUT=$(mktemp -d /tmp/nb-metrics.XXXXXX)
on_exit "rm -rf $OUT"

# ---- format ----
"$AGENT" serve --insecure --listen 'tcp://127.0.0.1:*' --name bad --metrics-listen 127.0.0.1 \
	>"$OUT/bad.out" 2>"$OUT/bad.err"
assert_eq 2 $? "format: exit code of a bad address"
assert_eq "netblame-agent serve: invalid --metrics-listen '127.0.0.1' (expected HOST:PORT, e.g. 127.0.0.1:9464)" \
	"$(grep -v warning "$OUT/bad.err")" "format: the error line"
assert_eq "" "$(cat "$OUT/bad.out")" "format: nothing listened"

start_agent hvP --insecure --metrics-listen 127.0.0.1:0
wait_for 10 grep -q '^metrics on ' "$OUT/agent_hvP.out" || fail "no metrics line"
URL=$(sed -n 's/^metrics on //p' "$OUT/agent_hvP.out")
HOSTPORT=${URL#http://}
HOSTPORT=${HOSTPORT%/metrics}
curl -sf "$URL" >"$OUT/metrics.txt" || fail "format: GET $URL failed"
promtool check metrics <"$OUT/metrics.txt" >"$OUT/promtool.out" 2>&1 ||
	fail "format: promtool: $(cat "$OUT/promtool.out")"
echo "ok: format: promtool check metrics is clean"
assert_eq 404 "$(curl -s -o /dev/null -w '%{http_code}' "http://$HOSTPORT/other")" "format: other path"

"$AGENT" serve --insecure --listen 'tcp://127.0.0.1:*' --name bad \
	--summary 'vm_network_latency_summary --phy-interface eth0' >/dev/null 2>"$OUT/bad.err"
assert_eq 2 $? "summary: exit code without --metrics-listen"
assert_eq "netblame-agent serve: --summary needs --metrics-listen: its histograms are read there" \
	"$(grep -v warning "$OUT/bad.err")" "summary: the error line without --metrics-listen"
"$AGENT" serve --insecure --listen 'tcp://127.0.0.1:*' --name bad --metrics-listen 127.0.0.1:0 \
	--summary 'eth_drop --interface lo' >/dev/null 2>"$OUT/bad.err"
assert_eq 2 $? "summary: exit code for a tool without histograms"
assert_eq "netblame-agent serve: --summary: 'eth_drop' is not a latency summary tool (system_network_latency_summary or vm_network_latency_summary)" \
	"$(grep -v warning "$OUT/bad.err")" "summary: the error line for eth_drop"
"$AGENT" serve --insecure --listen 'tcp://127.0.0.1:*' --name bad --metrics-listen 127.0.0.1:0 \
	--summary 'system_network_latency_summary --bogus' >/dev/null 2>"$OUT/bad.err"
assert_eq 2 $? "summary: exit code for a bad flag of the tool"
assert_eq "netblame-agent serve: --summary: unknown option '--bogus'" \
	"$(grep -v warning "$OUT/bad.err")" "summary: the error line for a bad flag"

# ---- summary: the latency summary of hvB's receive path, a 40 ms delay in its FORWARD ----
lab_up --vmb veth
"$LAB" offload off >/dev/null || fail "offload off"
on_exit "$LAB clear >/dev/null 2>&1"
"$LAB" delay --at hvB --dir req --ms 40 >/dev/null || fail "delay at hvB"
start_agent hvS --insecure --metrics-listen 127.0.0.1:0 --summary \
	'vm_network_latency_summary --netns nbhvB --vm-interface vnet0 --phy-interface ens4f0 --direction rx --protocol icmp --src-ip 198.18.0.1 --dst-ip 198.18.0.2'
wait_for 10 grep -q '^metrics on ' "$OUT/agent_hvS.out" || fail "summary: no metrics line"
SUMHP=$(sed -n 's/^metrics on http:\/\///p' "$OUT/agent_hvS.out")
SUMHP=${SUMHP%/metrics}
"$LAB" ping -c 8 -i 0.1 >/dev/null || fail "summary: ping through the delay"
"$LAB" delay --at hvB --dir req --off >/dev/null
curl -sf "http://$SUMHP/metrics" >"$OUT/summary.txt" || fail "summary: GET failed"
promtool check metrics <"$OUT/summary.txt" >"$OUT/promtool.out" 2>&1 ||
	fail "summary: promtool: $(cat "$OUT/promtool.out")"

# ---- one refused connection: not ZMTP ----
exec 3<>"/dev/tcp/127.0.0.1/$(sed -n 's/^listening on tcp:\/\/127.0.0.1://p' "$OUT/agent_hvP.out")" ||
	fail "cannot connect to the agent"
printf 'GET / HTTP/1.0\r\n\r\n' >&3
timeout 5 cat <&3 >/dev/null 2>&1
exec 3<&-
wait_for 10 grep -q '(refused=1)$' "$OUT/agent_hvP.err" || fail "the refusal was not logged"

# ---- scrape ----
PPORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$OUT/prometheus.yml" <<EOY
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: netblame
    static_configs:
      - targets: ["$HOSTPORT"]
  - job_name: summary
    static_configs:
      - targets: ["$SUMHP"]
EOY
prometheus --config.file="$OUT/prometheus.yml" --storage.tsdb.path="$OUT/tsdb" \
	--web.listen-address="127.0.0.1:$PPORT" >"$OUT/prometheus.log" 2>&1 &
ppid=$!
on_exit "kill $ppid 2>/dev/null; wait $ppid 2>/dev/null"
# query EXPR: the value of the first sample, or nothing.
query() {
	curl -sf "http://127.0.0.1:$PPORT/api/v1/query" --data-urlencode "query=$1" |
		jq -r '.data.result[0].value[1] // empty'
}
is() { [ "$(query "$1")" = "$2" ]; }
wait_for 60 is 'up{job="netblame"}' 1 ||
	fail "scrape: Prometheus never scraped the agent: $(tail -n 5 "$OUT/prometheus.log")"
assert_eq 1 "$(query 'netblame_agent_info{job="netblame",node="hvP"}')" "scrape: info"
assert_eq 0 "$(query 'netblame_agent_sessions{job="netblame"}')" "scrape: sessions"
assert_eq 1 "$(query 'netblame_agent_connections_refused_total{job="netblame"}')" \
	"scrape: connections refused"
[ "$(query 'process_resident_memory_bytes{job="netblame"} > 1000000')" != "" ] ||
	fail "scrape: no resident memory above 1 MB"
echo "ok: scrape: values read back through Prometheus's query API"

H='job="summary",tool="vm_network_latency_summary",from="forward",to="net_dev_xmit",path="RX"'
wait_for 30 is "netblame_agent_latency_seconds_count{$H}" 8 ||
	fail "summary: _count is '$(query "netblame_agent_latency_seconds_count{$H}")', expected 8"
assert_eq 8 "$(query "netblame_agent_latency_seconds_bucket{$H,le=\"0.065536\"}")" \
	"summary: cumulative bucket le=0.065536"
assert_eq 0 "$(query "netblame_agent_latency_seconds_bucket{$H,le=\"0.032768\"}")" \
	"summary: cumulative bucket le=0.032768"
assert_eq 8 "$(query "netblame_agent_latency_seconds_bucket{$H,le=\"+Inf\"}")" \
	"summary: bucket le=+Inf"
[ -n "$(query "(netblame_agent_latency_seconds_sum{$H} >= 0.32) < 0.524288")" ] ||
	fail "summary: _sum '$(query "netblame_agent_latency_seconds_sum{$H}")' not in [0.32, 0.524288)"
echo "ok: summary: forward -> net_dev_xmit read back through Prometheus: 8 packets at 32..65 ms"
