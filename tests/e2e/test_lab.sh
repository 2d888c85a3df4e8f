#!/bin/bash
# The lab itself, checked with ping alone, so the tracer tests can trust the faults they inject.
#   no fault                                   -> every echo answered
#   fab drops echo request seq 3               -> exactly seq 3 unanswered
#   the VM ignores echo, then answers again    -> no reply, then every reply
#   hvB holds requests 100 ms                  -> average RTT grows by >= 90 ms
#   vmA's INPUT holds replies 100 ms,
#   hvA's OUTPUT holds its own requests 100 ms -> the same, for vmA's and hvA's own pings
#   down                                       -> no lab namespace, program or state left
#   VM B as a veth namespace                   -> every echo answered
#   --ipv6: ICMPv6 echo to 2001:db8::2         -> every echo answered; fab drops seq 3 -> exactly
#                                                 seq 3 unanswered; ignore-echo -> none answered
#   --ipv6 with the tap VM, -6 without --ipv6  -> refused, one line, exit 1
#   --bond uplink                              -> every echo answered; even seqs enter hvB on ens4f1
#   --switch ovs --ipv6 (OVS hypervisors)      -> every echo answered (v4 and v6); an OpenFlow drop
#                                                 of hvA's v6 requests -> none answered, the rule
#                                                 counts them; clear -> every echo answered;
#                                                 --percent there and --bond with ovs refused
set -u
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
need_root

LAB_NS='^nb(vmA|hvA|fab|hvB|vmB)$'
LAB_ERR=$(mktemp /tmp/nb-lab.XXXXXX)
on_exit "rm -f $LAB_ERR"

# The icmp_seq numbers that got a reply, in order, space separated.
answered() {
	"$LAB" ping "$@" | sed -n 's/.*icmp_seq=\([0-9]*\) .*/\1/p' | sort -n | paste -sd ' '
}

# Average RTT in ms from ping's summary line.
rtt_of() { sed -n 's|^rtt [^=]*= [0-9.]*/\([0-9.]*\)/.*|\1|p'; }
avg_rtt() { "$LAB" ping "$@" | rtt_of; }
# hvA's own ping to hvB's bridge address.
hv_rtt() { "$LAB" exec hvA ping -c 3 -i 0.2 -W 2 198.18.0.12 | rtt_of; }
# vmA's, user to user: ping's default RTT ends at the reply's receive timestamp, taken before
# the INPUT chain holds it.
user_rtt() { "$LAB" exec vmA ping -U -c 3 -i 0.2 -W 2 198.18.0.2 | rtt_of; }

# grew BASE SLOW WHAT: SLOW is at least 90 ms above BASE.
grew() {
	if [ -z "$1" ] || [ -z "$2" ]; then
		fail "$3: no RTT from ping (base '$1', delayed '$2')"
	fi
	awk -v b="$1" -v s="$2" 'BEGIN { exit !(s - b >= 90) }' ||
		fail "$3: RTT $1 -> $2 ms, expected +90 ms or more"
	echo "ok: $3: RTT $1 -> $2 ms"
}

rx_packets() {
	"$LAB" exec hvB cat "/sys/class/net/$1/statistics/rx_packets"
}

lab_up --vmb tap
assert_eq "1 2 3 4 5" "$(answered -c 5 -i 0.2 -W 1)" "tap VM: answered seqs"

"$LAB" drop --at fab --dir req --seq 3 || fail "drop"
assert_eq "1 2 4 5" "$(answered -c 5 -i 0.2 -W 1)" "fab drops req seq 3: answered seqs"
"$LAB" clear || fail "clear"

"$LAB" ignore-echo on || fail "ignore-echo on"
assert_eq "" "$(answered -c 3 -i 0.2 -W 1)" "ignore-echo on: answered seqs"
"$LAB" ignore-echo off || fail "ignore-echo off"
assert_eq "1 2 3" "$(answered -c 3 -i 0.2 -W 1)" "ignore-echo off: answered seqs"

base=$(avg_rtt -c 3 -i 0.2 -W 1)
"$LAB" delay --at hvB --dir req --ms 100 || fail "delay"
grew "$base" "$(avg_rtt -c 3 -i 0.2 -W 2)" "delay 100 ms at hvB"
"$LAB" delay --at hvB --dir req --off || fail "delay --off"

"$LAB" delay --at vmA --dir rep --chain INPUT --ms 100 || fail "delay in vmA's INPUT"
grew "$base" "$(user_rtt)" "delay 100 ms in vmA's INPUT"
hv_base=$(hv_rtt)
"$LAB" delay --at hvA --dir req --chain OUTPUT --ms 100 || fail "delay in hvA's OUTPUT"
grew "$hv_base" "$(hv_rtt)" "delay 100 ms in hvA's OUTPUT"
"$LAB" clear || fail "clear"
assert_eq "" "$("$LAB" exec vmA iptables -S INPUT | grep nb-delay)" "vmA INPUT after clear"
assert_eq "" "$("$LAB" exec hvA iptables -S OUTPUT | grep nb-delay)" "hvA OUTPUT after clear"

vm_pid=$(cat /run/netblame-lab/nb_vm.pid)
"$LAB" down || fail "down"
assert_eq "" "$(ip netns list | awk '{ print $1 }' | grep -E "$LAB_NS" | paste -sd ' ')" \
	"lab namespaces after down"
[ -e /run/netblame-lab ] && fail "/run/netblame-lab left after down"
# Gone, or an exited process its adoptive parent has not reaped yet.
vm_state=$(cut -d' ' -f3 "/proc/$vm_pid/stat" 2>/dev/null)
[ -z "$vm_state" ] || [ "$vm_state" = Z ] || fail "nb_vm (pid $vm_pid) still running after down"
echo "ok: down left no namespace, state or nb_vm"

lab_up --vmb veth
assert_eq "1 2 3 4 5 6" "$(answered -c 6 -i 0.2 -W 1)" "veth VM: answered seqs"
"$LAB" drop -6 --at fab --dir req --seq 1 2>"$LAB_ERR"
assert_eq 1 "$?" "drop -6 without --ipv6: exit code"
assert_eq "lab: drop -6 needs the lab up with --ipv6" "$(cat "$LAB_ERR")" "drop -6 without --ipv6"

lab_up --ipv6
assert_eq "1 2 3 4 5" "$(answered -6 -c 5 -i 0.2 -W 1)" "ipv6: answered seqs"
assert_eq "1 2" "$(answered -c 2 -i 0.2 -W 1)" "ipv6 lab: IPv4 answered seqs"
"$LAB" drop -6 --at fab --dir req --seq 3 || fail "drop -6"
assert_eq "1 2 4 5" "$(answered -6 -c 5 -i 0.2 -W 1)" "ipv6: fab drops req seq 3: answered seqs"
"$LAB" clear || fail "clear"
"$LAB" ignore-echo on || fail "ignore-echo on"
assert_eq "" "$(answered -6 -c 3 -i 0.2 -W 1)" "ipv6: ignore-echo on: answered seqs"
"$LAB" ignore-echo off || fail "ignore-echo off"
"$LAB" up --ipv6 --vmb tap 2>"$LAB_ERR"
assert_eq 1 "$?" "up --ipv6 --vmb tap: exit code"
assert_eq "lab: up: --ipv6 needs --vmb veth (the tap VM nb_vm speaks IPv4 only)" "$(cat "$LAB_ERR")" \
	"up --ipv6 --vmb tap"

lab_up --bond
f0=$(rx_packets ens4f0)
f1=$(rx_packets ens4f1)
assert_eq "1 2 3 4 5 6" "$(answered -c 6 -i 0.2 -W 1)" "bond: answered seqs"
assert_eq 3 $(($(rx_packets ens4f1) - f1)) "bond: ens4f1 rx growth (even seqs 2 4 6)"
d0=$(($(rx_packets ens4f0) - f0))
[ "$d0" -ge 3 ] || fail "bond: ens4f0 rx grew by $d0, expected the 3 odd seqs at least"
echo "ok: bond: ens4f0 rx growth $d0 (odd seqs 1 3 5, plus any ARP)"

lab_up --switch ovs --ipv6
assert_eq "1 2 3" "$(answered -c 3 -i 0.2 -W 1)" "ovs: answered seqs"
assert_eq "1 2 3" "$(answered -6 -c 3 -i 0.2 -W 1)" "ovs: ipv6 answered seqs"
"$LAB" drop -6 --at hvA --dir req || fail "ovs: drop -6"
assert_eq "" "$(answered -6 -c 3 -i 0.2 -W 1)" "ovs: hvA drops v6 requests: answered seqs"
assert_eq "  drop at hvA: OpenFlow priority=1000,icmp6,ipv6_src=2001:db8::1,ipv6_dst=2001:db8::2,icmp_type=128 actions=drop (n_packets=3)" \
	"$("$LAB" status | grep '^  drop at hvA')" "ovs: the rule in status"
"$LAB" clear || fail "clear"
assert_eq "1 2 3" "$(answered -6 -c 3 -i 0.2 -W 1)" "ovs: after clear: answered seqs"
"$LAB" drop --at hvB --dir rep --percent 50 2>"$LAB_ERR"
assert_eq 1 "$?" "ovs: drop --percent: exit code"
assert_eq "lab: drop: --percent needs the Linux bridge at hvB: OpenFlow has no random match" \
	"$(cat "$LAB_ERR")" "ovs: drop --percent"
"$LAB" up --switch ovs --bond 2>"$LAB_ERR"
assert_eq 1 "$?" "up --switch ovs --bond: exit code"
assert_eq "lab: up: --bond needs --switch bridge (the lab's OVS hypervisors have one uplink)" \
	"$(cat "$LAB_ERR")" "up --switch ovs --bond"
