# Open vSwitch daemons for the lab (`tests/lab up --switch ovs`) and the OVS tests
# (tests/e2e/ovs.sh): Debian's ovsdb-server and ovs-vswitchd, started inside a network namespace
# with every file in one directory, so several switches (one per simulated hypervisor, or a test's
# own) run side by side without the host's /var/run/openvswitch. The directory is the switch's
# OVS_RUNDIR: with OVS_RUNDIR set to it, ovs-vsctl, ovs-ofctl and ovs-appctl (and the agent's OVS
# tools) find that switch under the default file names. Bridges use the userspace datapath
# (datapath_type=netdev): it needs no kernel module, and forwards through packet sockets.
# The functions print one line on stderr and return 1 on failure; the caller decides how to fail.
# shellcheck shell=bash

# ovsd_pid DIR DAEMON: the pid of DAEMON (ovsdb-server|ovs-vswitchd) of the switch in DIR, if
# that process still runs that program (a pidfile left behind must not name a recycled pid).
ovsd_pid() {
	local pid comm
	read -r pid 2>/dev/null <"$1/$2.pid" || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	read -r comm 2>/dev/null <"/proc/$pid/comm" || return 1
	[ "$comm" = "$2" ] || return 1
	echo "$pid"
}

# ovsd_start NS DIR: a new, empty switch database and both daemons in NS; returns when
# ovs-vswitchd has connected (a bridge added afterwards is built at once). Callers that hold a
# lock on an inherited descriptor close it for the daemons themselves.
ovsd_start() {
	local ns=$1 dir=$2 out
	command -v ovs-vswitchd >/dev/null || {
		echo "ovs-vswitchd is missing (deploy/install-deps.sh installs openvswitch-switch)" >&2
		return 1
	}
	mkdir -p "$dir" || return 1
	rm -f "$dir/conf.db"
	out=$(ovsdb-tool create "$dir/conf.db" /usr/share/openvswitch/vswitch.ovsschema 2>&1) || {
		echo "ovsdb-tool create: $out" >&2
		return 1
	}
	# --detach returns once the daemon is ready; its pidfile names the detached process.
	OVS_RUNDIR=$dir OVS_DBDIR=$dir OVS_LOGDIR=$dir OVS_SYSCONFDIR=$dir \
		ip netns exec "$ns" ovsdb-server "$dir/conf.db" --remote="punix:$dir/db.sock" \
		--pidfile --detach --log-file --no-chdir </dev/null >/dev/null 2>"$dir/start.err" || {
		echo "ovsdb-server in $ns: $(tail -n 1 "$dir/start.err")" >&2
		return 1
	}
	out=$(ovsd_ctl "$dir" ovs-vsctl --no-wait init 2>&1) || {
		echo "ovs-vsctl init: $out" >&2
		return 1
	}
	OVS_RUNDIR=$dir OVS_DBDIR=$dir OVS_LOGDIR=$dir OVS_SYSCONFDIR=$dir \
		ip netns exec "$ns" ovs-vswitchd "unix:$dir/db.sock" --pidfile --detach --log-file \
		--no-chdir </dev/null >/dev/null 2>"$dir/start.err" || {
		echo "ovs-vswitchd in $ns: $(tail -n 1 "$dir/ovs-vswitchd.log" 2>/dev/null)" >&2
		return 1
	}
}

# ovsd_stop DIR: stops the switch's daemons by their pids (vswitchd first: it removes its
# datapath's devices while the database is still there), waits up to 2 s each.
ovsd_stop() {
	local dir=$1 d pid i
	for d in ovs-vswitchd ovsdb-server; do
		pid=$(ovsd_pid "$dir" "$d") || continue
		kill -TERM "$pid" 2>/dev/null
		for ((i = 0; i < 40; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.05
		done
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
	done
	return 0
}

# ovsd_ctl DIR CMD ARGS...: an OVS client (ovs-vsctl, ovs-ofctl, ovs-appctl, ...) for the switch
# in DIR. Clients talk to the daemons' Unix sockets, so they need not run in its namespace.
ovsd_ctl() {
	local dir=$1
	shift
	if [ "$1" = ovs-vsctl ]; then
		shift
		set -- ovs-vsctl --timeout=10 "$@"
	fi
	OVS_RUNDIR=$dir OVS_DBDIR=$dir OVS_LOGDIR=$dir OVS_SYSCONFDIR=$dir "$@"
}

# ovsd_bridge DIR BR PORT...: bridge BR on the userspace datapath with those ports (the NORMAL
# flow: a learning switch), and its own device BR up in the switch's namespace. ovs-vsctl waits
# until ovs-vswitchd has built it.
ovsd_bridge() {
	local dir=$1 br=$2 p args=() out
	shift 2
	args=(add-br "$br" -- set bridge "$br" datapath_type=netdev)
	for p in "$@"; do
		args+=(-- add-port "$br" "$p")
	done
	out=$(ovsd_ctl "$dir" ovs-vsctl "${args[@]}" 2>&1) || {
		echo "ovs-vsctl add-br $br: ${out%%$'\n'*}" >&2
		return 1
	}
}
