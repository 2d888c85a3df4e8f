#!/bin/bash
# trace --html and the progress line. The fault: hvB's bridge drops the echo request seq 2
# (NODE_B, exit 12). The page of a real trace is opened in headless Chromium: a screenshot is
# taken, and the rendered text is checked (verdict, nodes, the drop's reason, exactly 3 packets
# listed, a filter from the address that leaves exactly seq 2); the page asks for nothing from
# the network. Before that, without the lab: report strings with markup in them come out
# escaped (also on a runbook's multi-step page), and an unwritable path fails before the
# trace starts. A real runbook (ping-loss, the fabric losing every request) writes its page
# with --html. The progress line: absent when stderr is a file, drawn under a pty (script),
# absent under a pty with --quiet.
set -u
. "$(dirname "$0")/lib.sh"
need_root
command -v chromium >/dev/null || fail "chromium is not installed (deploy/install-deps.sh)"
command -v script >/dev/null || fail "script (util-linux) is not installed"

VMA=198.18.0.1
VMB=198.18.0.2
OUT=$(mktemp -d /tmp/nb-html.XXXXXX)
on_exit "rm -rf $OUT"
RENDER=$REPO/build/tests/tools/nb_html_render
cd "$REPO"

# page_text HTML: the text a reader sees: no script, no style, nothing hidden.
page_text() {
	python3 - "$1" <<'EOF'
import sys
from html.parser import HTMLParser
VOID = {"meta", "link", "br", "img", "input", "hr", "col", "area", "base", "source", "wbr"}
class P(HTMLParser):
    def __init__(s):
        super().__init__(); s.stack = []; s.out = []
    def handle_starttag(s, tag, attrs):
        if tag in VOID:
            return
        skip = tag in ("script", "style", "title") or any(k == "hidden" for k, _ in attrs)
        s.stack.append(skip or (s.stack[-1] if s.stack else False))
        if tag in ("tr", "p", "div", "h1", "h2", "h3", "h4", "li", "pre", "g"):
            s.out.append("\n")
        elif tag in ("td", "th", "text", "span"):
            s.out.append(" ")
    def handle_endtag(s, tag):
        if tag not in VOID and s.stack:
            s.stack.pop()
    def handle_data(s, d):
        if not (s.stack and s.stack[-1]):
            s.out.append(d)
p = P(); p.feed(open(sys.argv[1]).read())
for line in "".join(p.out).split("\n"):
    line = " ".join(line.split())
    if line:
        print(line)
EOF
}

# chromium_dom URL OUT: the DOM after the page's script ran (virtual time: no wall clock).
chromium_run() {
	timeout 60 chromium --headless --no-sandbox --disable-gpu --user-data-dir="$OUT/chromium" \
		--virtual-time-budget=3000 --window-size=1200,2400 "$@" 2>>"$OUT/chromium.err"
}
chromium_dom() { chromium_run --dump-dom "$1" >"$2" || fail "chromium --dump-dom $1: $(tail -n 3 "$OUT/chromium.err")"; }

# No resource of the page comes from elsewhere: no tag with a src= or href= attribute, no URL
# in a tag, and a policy that forbids fetching. strict: no web URL anywhere, also as text
# (a real trace's strings hold none; the endpoints are tcp://).
self_contained() {
	! grep -Eiq '<[^>]*[[:space:]](src|href)[[:space:]]*=' "$1" ||
		fail "$1 loads a resource: $(grep -Eio '<[^>]*(src|href)=[^>]*' "$1" | head -n 3)"
	! grep -Eiq '<[^>]*https?://' "$1" || fail "$1 has a URL in a tag"
	[ "${2:-}" != strict ] || ! grep -Eiq 'https?://' "$1" ||
		fail "$1 holds a web URL: $(grep -Eio 'https?://[^ "<]*' "$1" | head -n 3)"
	grep -q "content=\"default-src 'none'" "$1" || fail "$1 has no Content-Security-Policy"
	echo "ok: $1 is self-contained"
}

# ---- without the lab: escaping, the runbook's page, unwritable paths
cat >"$OUT/evil.json" <<'EOF'
{"proto": "icmp", "src": "198.18.0.1", "dst": "198.18.0.2", "verdict": "NODE_B",
 "verdict_detail": "NODE_B: 1 (request 1)",
 "nodes": [{"role": "A", "name": "hv<b>A</b>", "endpoint": "tcp://a:1", "clock_offset_ns": 0},
           {"role": "B", "name": "hvB\"'&", "endpoint": "tcp://b:1", "clock_offset_ns": 1000,
            "rx_why": "<img src=x onerror=alert(1)>"}],
 "counts": {"B_INTERNAL_DROP_REQ": 1},
 "packets": [{"key": {"proto": "icmp", "id": 1, "seq": 1}, "status": "B_INTERNAL_DROP_REQ",
              "stages": {"A0": 1, "A1": 2, "B0": 3},
              "drop": {"node": "B", "seen": true, "reason": "NETFILTER_DROP<script>x()</script>",
                       "location": "nft_do_chain", "interface": "vnet0<iframe>",
                       "stack": ["nft_do_chain+0x4 <a href=\"http://evil\">"]}}],
 "latency": {}}
EOF
"$RENDER" "$OUT/evil.json" "$OUT/evil.html" || fail "rendering a report with markup in its strings"
self_contained "$OUT/evil.html"
assert_eq 0 "$(grep -Eci '<(b|img|iframe|a)[ >]|<script>x' "$OUT/evil.html")" "evil: tags from the report's strings"
grep -q 'hv&lt;b&gt;A&lt;/b&gt;' "$OUT/evil.html" || fail "evil: node A's name not escaped as text"
grep -q 'NETFILTER_DROP&lt;script&gt;x()&lt;/script&gt;' "$OUT/evil.html" || fail "evil: reason not escaped"
page_text "$OUT/evil.html" >"$OUT/evil.txt"
grep -qF 'hvB"'"'"'&' "$OUT/evil.txt" || fail "evil: node B's name does not read as written"
printf '{"title": "ping loss <1>", "verdict": "NODE_B", "detail": "d", "steps": [
  {"name": "trace", "kind": "trace", "outcome": "NODE_B: the drops on hvB", "report": %s},
  {"name": "drops", "kind": "run", "output": "eth_drop <hvB>\\n"},
  {"name": "again", "kind": "trace", "report": %s}]}' \
	"$(cat "$OUT/evil.json")" "$(cat "$OUT/evil.json")" >"$OUT/steps.json"
"$RENDER" --steps "$OUT/steps.json" "$OUT/steps.html" || fail "rendering a runbook page"
self_contained "$OUT/steps.html"
chromium_dom "file://$OUT/steps.html#status=B_INTERNAL_DROP_REQ" "$OUT/steps.dom"
page_text "$OUT/steps.dom" >"$OUT/steps.txt"
assert_eq "Step 1: trace (trace)|Step 2: drops (run)|Step 3: again (trace)" \
	"$(grep '^Step ' "$OUT/steps.txt" | paste -sd'|')" "runbook page: its steps"
assert_eq "eth_drop <hvB>" "$(grep -x 'eth_drop <hvB>' "$OUT/steps.txt")" "runbook page: a tool's output"
assert_eq "1 of 1 packets shown|1 of 1 packets shown" \
	"$(grep -o '[0-9]* of [0-9]* packets shown$' "$OUT/steps.txt" | paste -sd'|')" "runbook page: each step's packet filter"

# netblame runbook --json's report, as runbook --html renders it: a trace step's result is a
# trace's page, a run step's records are text, a skipped step says why.
jq -n --slurpfile r "$OUT/evil.json" '{runbook: "ping-loss", description: "ping <loss>",
	verdict: "NODE_B", verdict_step: "trace", exit_code: 12, steps: [
	{name: "trace", kind: "trace", what: "trace icmp", status: "ok", why: "always",
	 duration_ms: 3200, result: $r[0]},
	{name: "drops_a", kind: "run", what: "run eth_drop on hvA for 5s", status: "skipped",
	 why: "skipped: trace.verdict == NODE_A is false"},
	{name: "drops_b", kind: "run", what: "run eth_drop on hvB for 5s", status: "ok",
	 why: "chosen", command: ["netblame", "run", "eth_drop"], result: {exit_code: 0,
	 drops: 1, lines: [{node: "hvB", reason: "NETFILTER_DROP", stack: ["<pre>x"]}]}}]}' \
	>"$OUT/rb.json"
"$RENDER" --runbook "$OUT/rb.json" "$OUT/rb.html" || fail "rendering a runbook report"
self_contained "$OUT/rb.html"
page_text "$OUT/rb.html" >"$OUT/rb.txt"
assert_eq "netblame runbook ping-loss: ping <loss>" "$(head -n 1 "$OUT/rb.txt")" "runbook page: title"
assert_eq "Step 1: trace (trace)|Step 2: drops_a (run)|Step 3: drops_b (run)" \
	"$(grep '^Step ' "$OUT/rb.txt" | paste -sd'|')" "runbook page: its steps"
grep -qx "run eth_drop on hvA for 5s: skipped; skipped: trace.verdict == NODE_A is false" \
	"$OUT/rb.txt" || fail "runbook page: why drops_a was skipped"
grep -qxF '{"node":"hvB","reason":"NETFILTER_DROP","stack":["<pre>x"]}' "$OUT/rb.txt" ||
	fail "runbook page: drops_b's record"
grep -qxF "1 packet: NETFILTER_DROP<script>x()</script> at nft_do_chain on vnet0<iframe>, node B (hvB\"'&)" \
	"$OUT/rb.txt" || fail "runbook page: the trace step's drop"
"$COORD" runbook deploy/runbooks/ping-loss.yaml --html /nonexistent/r.html 2>"$OUT/bad.err"
assert_eq 2 "$?" "runbook --html into a missing folder: exit code"
assert_eq "netblame: --html: cannot write /nonexistent/r.html: No such file or directory" \
	"$(cat "$OUT/bad.err")" "runbook --html into a missing folder: the one line"

"$RENDER" --check /nonexistent/r.html 2>"$OUT/check.err"
assert_eq 1 "$?" "check of a path in a missing folder"
assert_eq "cannot write /nonexistent/r.html: No such file or directory" "$(cat "$OUT/check.err")" \
	"check message"
# The trace refuses it before any agent is asked (these endpoints have no agent).
NODES=(--node "name=hvA,endpoint=tcp://127.0.0.1:1,rx-iface=vnet0,tx-iface=ens4f0"
	--node "name=hvB,endpoint=tcp://127.0.0.1:1,rx-iface=ens4f0,tx-iface=vnet0")
"$COORD" trace icmp --src-ip $VMA --dst-ip $VMB "${NODES[@]}" --insecure --count 1 \
	--html /nonexistent/r.html >/dev/null 2>"$OUT/bad.err"
assert_eq 2 "$?" "trace --html into a missing folder: exit code"
assert_eq "netblame: --html: cannot write /nonexistent/r.html: No such file or directory" \
	"$(cat "$OUT/bad.err")" "trace --html into a missing folder: the one line"
"$COORD" trace icmp --src-ip $VMA --dst-ip $VMB "${NODES[@]}" --insecure --count 1 \
	--html "$OUT" >/dev/null 2>"$OUT/bad.err"
assert_eq 2 "$?" "trace --html naming a folder: exit code"
assert_eq "netblame: --html: cannot write $OUT: Is a directory" "$(cat "$OUT/bad.err")" \
	"trace --html naming a folder: the one line"

# ---- a real trace in the lab
lab_up --vmb tap
start_agent hvA --netns nbhvA --insecure
start_agent hvB --netns nbhvB --insecure
lab_nodes
TRACE=("$COORD" trace icmp --src-ip $VMA --dst-ip $VMB "${LAB_NODES[@]}"
	--count 3 --timeout-ms 500 --insecure)

tests/lab drop --at hvB --dir req --seq 2
trace_bg r "${TRACE[@]:2}" --html "$OUT/r.html" --json "$OUT/r.json"
tests/lab ping -c 3 -i 0.2 -W 1 >/dev/null || true
trace_end r
tests/lab clear
assert_eq 12 "$RC" "trace exit code"
assert_eq NODE_B "$(jq -r .verdict "$OUT/r.json")" "JSON verdict"
# stderr is a file: no progress line, not even a carriage return or an escape sequence
assert_eq 0 "$(tr -cd '\r\033' <"$OUT/r.err" | wc -c)" "control characters on stderr into a file"
self_contained "$OUT/r.html" strict

chromium_run --screenshot="$OUT/r.png" "file://$OUT/r.html" >/dev/null ||
	fail "chromium --screenshot: $(tail -n 3 "$OUT/chromium.err")"
assert_eq "PNG" "$(head -c 4 "$OUT/r.png" | tail -c 3)" "the screenshot is a PNG"
[ "$(stat -c %s "$OUT/r.png")" -gt 20000 ] || fail "screenshot of $(stat -c %s "$OUT/r.png") bytes: an empty page?"
chromium_dom "file://$OUT/r.html" "$OUT/r.dom"
page_text "$OUT/r.dom" >"$OUT/r.txt"
grep -qx "Verdict: NODE_B most losses were inside node B" "$OUT/r.txt" ||
	fail "rendered verdict: $(grep -m1 Verdict "$OUT/r.txt")"
grep -qx "NODE_B: 1 (request 1)" "$OUT/r.txt" || fail "rendered verdict detail"
grep -q "^A hvA tcp://127.0.0.1:[0-9]* reference" "$OUT/r.txt" || fail "rendered node A"
grep -q "^B hvB tcp://127.0.0.1:[0-9]* [-+0]" "$OUT/r.txt" || fail "rendered node B with its clock offset"
grep -q "^1 packet: NETFILTER_DROP at nft_do_chain on vnet0, node B (hvB)$" "$OUT/r.txt" ||
	fail "rendered drop: $(grep -A1 '^Drops' "$OUT/r.txt")"
grep -q "^__br_forward+0x" "$OUT/r.txt" || fail "rendered drop stack"
grep -q "^Packets with a final status: 3$" "$OUT/r.txt" || fail "rendered status total"
grep -q "^inside node B (hvB) 1 0 1$" "$OUT/r.txt" || fail "rendered loss by location"
grep -q "^A0-A3 total_round_trip " "$OUT/r.txt" || fail "rendered waterfall"
assert_eq 3 "$(grep -c '<tr class="st-' "$OUT/r.dom")" "packets listed"
assert_eq "3 of 3 packets shown" "$(grep -o '[0-9]* of [0-9]* packets shown$' "$OUT/r.txt")" "packets shown"
# in the report's order (as each became final), so sorted by seq here
assert_eq "seq 1 COMPLETE|seq 2 B_INTERNAL_DROP_REQ|seq 3 COMPLETE" \
	"$(grep -E '^[0-9]+ id [0-9]+ seq' "$OUT/r.txt" | awk '{print $4, $5, $6}' | sort -n -k2 |
		paste -sd'|')" "packet rows"
# A filter from the address, as a link to the page would carry it: the script applies it.
chromium_dom "file://$OUT/r.html#status=B_INTERNAL_DROP_REQ&seq=1-3" "$OUT/f.dom"
page_text "$OUT/f.dom" >"$OUT/f.txt"
assert_eq "1 of 3 packets shown" "$(grep -o '[0-9]* of [0-9]* packets shown$' "$OUT/f.txt")" "filtered: packets shown"
assert_eq 2 "$(grep -o '<tr class="st-[^>]*>' "$OUT/f.dom" | grep -v hidden | grep -o 'data-seq="[0-9]*"' |
	tr -dc 0-9)" "filtered: the one row left"
chromium_dom "file://$OUT/r.html#seq=3" "$OUT/f3.dom"
assert_eq "1 of 3 packets shown" "$(page_text "$OUT/f3.dom" | grep -o '[0-9]* of [0-9]* packets shown$')" "seq=3: packets shown"

# ---- a real runbook's page: the fabric loses every request, the trace step blames the
# network, the drop tools' steps are skipped (saying why).
tests/lab drop --at fab --dir req --percent 100 >/dev/null
tests/lab ping -c 40 -i 0.2 -W 1 >/dev/null 2>&1 &
PING=$!
on_exit "kill $PING 2>/dev/null"
"$COORD" runbook deploy/runbooks/ping-loss.yaml --var SRC=$VMA --var DST=$VMB --var NODE_A=hvA \
	--var NODE_B=hvB --var COUNT=3 --var TIMEOUT_MS=500 --insecure \
	--node "name=hvA,endpoint=$EP_hvA,rx-iface=vnet0,tx-iface=ens4f0" \
	--node "name=hvB,endpoint=$EP_hvB,rx-iface=ens4f0,tx-iface=vnet0" \
	--html "$OUT/rb_real.html" >"$OUT/rb_real.out" 2>"$OUT/rb_real.err"
assert_eq 10 "$?" "runbook: exit code"
kill $PING 2>/dev/null
wait $PING 2>/dev/null
tests/lab clear >/dev/null
self_contained "$OUT/rb_real.html" strict
chromium_dom "file://$OUT/rb_real.html" "$OUT/rb_real.dom"
page_text "$OUT/rb_real.dom" >"$OUT/rb_real.txt"
assert_eq "Verdict: NETWORK most losses were between the two nodes|Verdict: NETWORK most losses were between the two nodes" \
	"$(grep '^Verdict: ' "$OUT/rb_real.txt" | paste -sd'|')" "runbook page: its verdict and the trace step's"
assert_eq "Step 1: trace (trace)|Step 2: drops_a (run)|Step 3: stacks_a (run)|Step 4: drops_b (run)|Step 5: stacks_b (run)" \
	"$(grep '^Step ' "$OUT/rb_real.txt" | paste -sd'|')" "runbook page: the steps"
grep -q "skipped; skipped: trace.verdict == NODE_B is false (trace.verdict = NETWORK)$" \
	"$OUT/rb_real.txt" || fail "runbook page: why drops_b was skipped"
assert_eq "3 of 3 packets shown" "$(grep -o '[0-9]* of [0-9]* packets shown$' "$OUT/rb_real.txt")" \
	"runbook page: the trace step's packets"
grep -q "^network, between the nodes 3 0 3" "$OUT/rb_real.txt" || fail "runbook page: loss by location"

# ---- the progress line on a terminal (script gives the trace a pty)
# ptrace NAME FLAGS: the trace under script, its whole terminal output in $OUT/NAME.tty.
ptrace() {
	local name=$1
	shift
	script -qfec "$(printf '%q ' "${TRACE[@]}" "$@")" "$OUT/$name.tty" >/dev/null </dev/null &
	TPID=$!
	on_exit "kill $TPID 2>/dev/null"
	wait_for 8 grep -q '^Tracing' "$OUT/$name.tty" || fail "$name: no Tracing line: $(cat "$OUT/$name.tty")"
	tests/lab ping -c 3 -i 0.2 -W 1 >/dev/null || fail "$name: ping"
	wait_exit "$TPID" "$name: the coordinator" "$OUT/$name.tty"
	assert_eq 0 "$RC" "$name: exit code"
}
ptrace tty
# Drawn at once (elapsed from 0, nothing final yet), then cleared before the report.
grep -aqF $'\r0.0s  0 packets final  lost events 0\e[K' "$OUT/tty.tty" ||
	fail "tty: no first progress line: $(tr '\r\033' '|~' <"$OUT/tty.tty" | head -c 600)"
python3 - "$OUT/tty.tty" <<'EOF' || fail "tty: the line is not cleared before the report"
import re, sys
d = open(sys.argv[1], "rb").read()
pre = d[:d.index(b"=== netblame trace")]
# after the last erase, only line ends; and that erase follows a bare '\r' (nothing drawn)
last = pre.rindex(b"\033[K")
sys.exit(0 if re.fullmatch(rb"[\r\n]*", pre[last + 3:]) and pre[last - 1:last] == b"\r" else 1)
EOF
grep -aq '^Verdict: HEALTHY' "$OUT/tty.tty" || fail "tty: no report"
ptrace quiet --quiet
assert_eq 0 "$(grep -ac 'packets final' "$OUT/quiet.tty")" "--quiet on a terminal: progress lines"
grep -aq '^Verdict: HEALTHY' "$OUT/quiet.tty" || fail "quiet: no report"
echo "all html cases passed"
