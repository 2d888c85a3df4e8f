#!/bin/bash
# ovs_upcall_latency_summary against a real Open vSwitch: Debian's ovsdb-server and ovs-vswitchd
# with the userspace datapath (datapath_type=netdev, no kernel module), started here inside a
# namespace of this test as one hypervisor, between two VM namespaces:
#   nbova eth0 198.18.1.1 - p1 [nbovs: OVS br0] p2 - eth0 198.18.1.2 nbovb
# OpenFlow: one exact rule per UDP destination port 10001..10020 (NORMAL), so each is its own
# datapath flow, and port 9 dropped. Faults and expectations:
#   20 new flows, 2 datagrams each (the second after the first went through)
#       -> 20 upcalls, all completed, a histogram of 20; 20 fast-path packets; OVS's own
#          counters: 20 more misses (upcalls) and 20 more hits
#   1 datagram to the dropped port -> 1 more upcall, lost (its packet never leaves)
# and bad input (no OVS to ask, one port), nothing left attached.
set -u
. "$(dirname "$0")/lib.sh"
need_root

command -v ovs-vswitchd >/dev/null || fail "ovs-vswitchd is missing (deploy/install-deps.sh installs openvswitch-switch)"
OUT=$(mktemp -d /tmp/nb-ovs.XXXXXX)
D=$OUT/ovs
mkdir -p "$D"
on_exit "rm -rf $OUT"
export OVS_RUNDIR=$D OVS_DBDIR=$D OVS_LOGDIR=$D OVS_SYSCONFDIR=$D
VS="ovs-vsctl --db=unix:$D/db.sock --timeout=10"
A=198.18.1.1
B=198.18.1.2
N=20

for ns in nbovs nbova nbovb; do
	ip netns add $ns || fail "netns $ns"
	on_exit "ip netns del $ns 2>/dev/null"
	ip netns exec $ns sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	ip -n $ns link set lo up
done
ip -n nbova link add eth0 type veth peer name p1 netns nbovs || fail "veth p1"
ip -n nbovb link add eth0 type veth peer name p2 netns nbovs || fail "veth p2"
ip -n nbova addr add $A/24 dev eth0
ip -n nbovb addr add $B/24 dev eth0
for ns in nbova nbovb; do ip -n $ns link set eth0 up; done
ip -n nbovs link set p1 up
ip -n nbovs link set p2 up
# No ARP and no ICMP errors: the only packets through the switch are the test's datagrams.
ip -n nbova neigh replace $B lladdr "$(ip -n nbovb -j link show eth0 | jq -r '.[0].address')" dev eth0 nud permanent
ip -n nbovb neigh replace $A lladdr "$(ip -n nbova -j link show eth0 | jq -r '.[0].address')" dev eth0 nud permanent
ip netns exec nbovb nft -f - <<'EOF' || fail "nft in nbovb"
table inet nbovst {
	chain in {
		type filter hook input priority 0; policy accept;
		udp dport 1-65535 drop
	}
}
EOF

# The switch: daemons in nbovs, their files in $D; stopped by their pids at exit.
ovsdb-tool create "$D/conf.db" /usr/share/openvswitch/vswitch.ovsschema || fail "ovsdb-tool"
ip netns exec nbovs ovsdb-server "$D/conf.db" --remote="punix:$D/db.sock" --pidfile="$D/ovsdb.pid" \
	--detach --log-file="$D/ovsdb.log" --unixctl="$D/ovsdb.ctl" || fail "ovsdb-server"
on_exit "kill \$(cat $D/ovsdb.pid) 2>/dev/null"
$VS --no-wait init || fail "ovs-vsctl init"
ip netns exec nbovs ovs-vswitchd "unix:$D/db.sock" --pidfile="$D/vswitchd.pid" --detach \
	--log-file="$D/vswitchd.log" --unixctl="$D/vswitchd.ctl" || fail "ovs-vswitchd: $(tail -n 3 "$D/vswitchd.log")"
on_exit "kill \$(cat $D/vswitchd.pid) 2>/dev/null"
$VS add-br br0 -- set bridge br0 datapath_type=netdev || fail "add-br"
$VS add-port br0 p1 -- add-port br0 p2 || fail "add-port"
of() { ovs-ofctl "$@" || fail "ovs-ofctl $*"; }
of add-flow br0 "priority=100,udp,tp_dst=9,actions=drop"
for ((i = 1; i <= N; i++)); do
	of add-flow br0 "priority=50,udp,tp_dst=$((10000 + i)),actions=NORMAL"
done
dp() { ovs-appctl -t "$D/vswitchd.ctl" dpctl/show | grep -o "$1:[0-9]*" | cut -d: -f2; }

# udp_to PORT IP-ID: one datagram from nbova, source port 40000, with that IP ID.
udp_to() {
	ip netns exec nbova "$REPO/build/tests/tools/nb_traffic" udp-ids --dst $B --port "$1" --ip-id "$2" --sport 40000 \
		>/dev/null || fail "nb_traffic to port $1"
}

cd "$REPO"
T="$AGENT ovs_upcall_latency_summary"
miss0=$(dp missed)
hit0=$(dp hit)
# The ports come from ovs-vsctl (OVS_RUNDIR says where its database is).
$T --netns nbovs --protocol udp --interval 1 --duration 6 --json >"$OUT/up.json" 2>"$OUT/up.err" &
PID_up=$!
on_exit "kill $PID_up 2>/dev/null"
wait_for 5 grep -q '"type":"start"' "$OUT/up.json" || fail "did not attach: $(cat "$OUT/up.err")"
assert_eq "p1,p2" "$(jq -r 'select(.type=="start") | .ports' "$OUT/up.json" | tr ',' '\n' | sort | paste -sd,)" \
	"the OVS ports found"
for ((i = 1; i <= N; i++)); do
	udp_to $((10000 + i)) $((100 + i))
	sleep 0.05
	udp_to $((10000 + i)) $((200 + i))
done
udp_to 9 300
finish_bg up
[ -s "$OUT/up.err" ] && fail "stderr: $(cat "$OUT/up.err")"
miss=$(($(dp missed) - miss0))
hit=$(($(dp hit) - hit0))
s() { jq -r "select(.type==\"summary\") | $1" "$OUT/up.json"; }
assert_eq $((N + 1)) "$miss" "OVS: datapath misses (upcalls)"
assert_eq $N "$hit" "OVS: datapath hits"
assert_eq "$miss" "$(s .upcalls)" "upcalls = OVS's misses"
assert_eq $N "$(s .completed)" "upcalls completed"
assert_eq 1 "$(s .lost)" "upcalls lost (the dropped port)"
assert_eq $N "$(s '[.upcall_us[].count] | add')" "upcall histogram total"
assert_eq "$hit" "$(s .fast_path)" "fast-path packets = OVS's hits"
assert_eq 0 "$(s .fast_path_lost)" "fast-path packets lost"
assert_eq 0 "$(s .lost_events)" "lost events"
assert_eq 0 "$(s .in_flight)" "packets still in flight"
assert_eq $((N + 1)) "$(jq -s '[.[] | select(.type=="interval") | .upcalls] | add' "$OUT/up.json")" \
	"intervals add up to the total"
assert_eq 1 "$(s '.top_flows[0].upcalls')" "the busiest flow's upcalls"
assert_eq 10 "$(s '.top_flows | length')" "top flows listed (--top default)"

# The documented text format, with the ports named.
$T --netns nbovs --interface p1,p2 --interval 60 --duration 3 >"$OUT/up.txt" 2>&1 &
tpid=$!
on_exit "kill $tpid 2>/dev/null"
wait_for 5 grep -q '^OVS upcall latency on ports p1,p2' "$OUT/up.txt" || fail "text: no header: $(cat "$OUT/up.txt")"
of add-flow br0 "priority=50,udp,tp_dst=10999,actions=NORMAL"
udp_to 10999 401 # a new flow: an upcall
sleep 0.05
udp_to 10999 402 # then the fast path
wait "$tpid" || fail "text run exit code"
grep -q '^Upcalls: 1  completed 1  lost or timed out 0  completion 100.0%' "$OUT/up.txt" ||
	fail "text: upcall line: $(cat "$OUT/up.txt")"
grep -q '^Fast path (later packets): 1, lost 0$' "$OUT/up.txt" || fail "text: fast path line"
grep -Eq '^ +1  UDP 198\.18\.1\.1:40000 -> 198\.18\.1\.2:10999$' "$OUT/up.txt" || fail "text: top flow: $(cat "$OUT/up.txt")"

# --- Bad input: one line on stderr and the exit code.
bad() { # EXPECTED-RC PATTERN ARGS...
	local want=$1 pat=$2 rc
	shift 2
	"$@" >"$OUT/bad.out" 2>"$OUT/bad.err"
	rc=$?
	assert_eq "$want" "$rc" "exit code of: $*"
	assert_eq 1 "$(wc -l <"$OUT/bad.err")" "one stderr line for: $*"
	grep -q -- "$pat" "$OUT/bad.err" || fail "expected '$pat' in: $(cat "$OUT/bad.err")"
}
bad 1 "no Open vSwitch to ask for its ports" env OVS_RUNDIR=$OUT/none $T --netns nbovs
bad 2 "watch at least two" $T --netns nbovs --interface p1
bad 2 "unknown interface 'nope0'" $T --netns nbovs --interface p1,nope0
bad 2 "need --protocol tcp or udp" $T --protocol icmp --dst-port 53
left=$(bpftool prog show | grep -c 'name nb_' || true)
assert_eq 0 "$left" "nb_ BPF programs left after the runs"
echo "all ovs_upcall_latency_summary cases passed"
