#!/bin/sh
# Installs every build and test dependency from Debian packages, and only what is missing,
# so it is cheap to run before every build. chromium: the tests open the HTML reports in it.
set -eu

PKGS="make gcc clang libclang-rt-dev valgrind llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config \
libzmq3-dev libczmq-dev libmsgpack-dev libssl-dev libcmocka-dev libjansson-dev libyaml-dev \
nftables iptables iproute2 ethtool iputils-ping libnetfilter-queue-dev libmnl-dev procps psmisc jq time \
tcpdump bpftrace openvswitch-switch \
help2man man-db systemd bash-completion libcap2-bin debhelper dpkg-dev fakeroot ansible python3-yaml \
libmicrohttpd-dev prometheus curl yamllint chromium"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing packages:$missing (run as root: make deps)" >&2
	exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# openvswitch-switch is for the tests (they start its daemons in a namespace of their own): no
# package may start a service here. Where no policy says so already, say it for this install.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
