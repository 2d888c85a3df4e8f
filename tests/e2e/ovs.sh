# Sourced after lib.sh by the tests and benchmarks that need Open vSwitch: one hypervisor with
# OVS's userspace datapath (datapath_type=netdev, no kernel module) between two VM namespaces,
#   nbova eth0 198.18.1.1 - p1 [nbovs: OVS br0] p2 - eth0 198.18.1.2 nbovb
# Debian's ovsdb-server and ovs-vswitchd run inside nbovs with their files in $OVS_DIR, started
# and stopped (by their pids, at exit, before the namespaces go) as the lab's OVS hypervisors'
# are (tests/lab-ovs.sh). Static neighbours and no IPv6, so the only packets through the switch
# are the caller's.
# shellcheck shell=bash
# shellcheck source=tests/lab-ovs.sh
. "$REPO/tests/lab-ovs.sh"

OVS_A=198.18.1.1
OVS_B=198.18.1.2

# ovs_up DIR: the namespaces, the daemons and bridge br0 with ports p1 and p2 (NORMAL).
# Sets OVS_DIR and exports OVS_RUNDIR & co., so ovs-vsctl, ovs-ofctl and the tools find it.
ovs_up() {
	local ns err
	OVS_DIR=$1
	mkdir -p "$OVS_DIR" || fail "mkdir $OVS_DIR"
	export OVS_RUNDIR=$OVS_DIR OVS_DBDIR=$OVS_DIR OVS_LOGDIR=$OVS_DIR OVS_SYSCONFDIR=$OVS_DIR
	for ns in nbovs nbova nbovb; do
		ip netns add $ns || fail "netns $ns"
		on_exit "ip netns del $ns 2>/dev/null"
		ip netns exec $ns sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
			net.ipv6.conf.default.disable_ipv6=1
		ip -n $ns link set lo up
	done
	ip -n nbova link add eth0 type veth peer name p1 netns nbovs || fail "veth p1"
	ip -n nbovb link add eth0 type veth peer name p2 netns nbovs || fail "veth p2"
	ip -n nbova addr add $OVS_A/24 dev eth0
	ip -n nbovb addr add $OVS_B/24 dev eth0
	for ns in nbova nbovb; do
		ip -n $ns link set eth0 up
		# The userspace datapath forwards what it reads from a packet socket as it is: a
		# checksum left to the device (veth's offload) would arrive unfilled and be dropped.
		ip netns exec $ns ethtool -K eth0 tx off >/dev/null || fail "ethtool in $ns"
	done
	ip -n nbovs link set p1 up
	ip -n nbovs link set p2 up
	ip -n nbova neigh replace $OVS_B dev eth0 nud permanent \
		lladdr "$(ip -n nbovb -j link show eth0 | jq -r '.[0].address')"
	ip -n nbovb neigh replace $OVS_A dev eth0 nud permanent \
		lladdr "$(ip -n nbova -j link show eth0 | jq -r '.[0].address')"
	on_exit ovsd_stop "$OVS_DIR"
	err=$(ovsd_start nbovs "$OVS_DIR" 2>&1) || fail "$err"
	err=$(ovsd_bridge "$OVS_DIR" br0 p1 p2 2>&1) || fail "$err"
	# vswitchd takes its ports in a moment after the database has them.
	wait_for 10 ip netns exec nbova ping -c 1 -W 1 -q $OVS_B >/dev/null ||
		fail "no ping through the new switch: $(tail -n 3 "$OVS_DIR/ovs-vswitchd.log")"
}

ovs_vsctl() { ovsd_ctl "$OVS_DIR" ovs-vsctl "$@" || fail "ovs-vsctl $*"; }
ovs_ofctl() { ovs-ofctl "$@" || fail "ovs-ofctl $*"; }
# ovs_dp hit|missed|lost: the datapath's lookup counter.
ovs_dp() { ovs-appctl dpctl/show | grep -o "$1:[0-9]*" | cut -d: -f2; }
