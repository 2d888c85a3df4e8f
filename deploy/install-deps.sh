#!/bin/sh
# Installs every build and test dependency from Debian packages, and only what is missing,
# so it is cheap to run before every build.
set -eu

PKGS="make gcc clang libclang-rt-dev valgrind llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config \
libzmq3-dev libczmq-dev libmsgpack-dev libssl-dev libcmocka-dev libjansson-dev \
nftables iptables iproute2 ethtool iputils-ping libnetfilter-queue-dev libmnl-dev procps psmisc jq time \
tcpdump bpftrace"

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
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
