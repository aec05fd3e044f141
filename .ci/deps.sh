#!/bin/sh
# Install every Debian package that building vane, its tests, its fuzzers and
# the demo need. Idempotent: when dpkg already has all of them, apt is not
# touched at all, so a rerun takes a fraction of a second.
set -eu

PKGS="build-essential autoconf automake pkg-config
libevent-dev libssl-dev libhiredis-dev libconfig-dev check
python3 python3-pytest python3-fastapi python3-uvicorn python3-requests
python3-flask gunicorn redis-server python3-cryptography
curl openssl mandoc man-db
clang libclang-rt-14-dev valgrind
procps iproute2 ca-certificates git"

missing=""
for p in $PKGS; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = "installed" ] || missing="$missing $p"
done

if [ -z "$missing" ]; then
	echo "deps: all packages already installed"
	exit 0
fi

echo "deps: installing:$missing"
SUDO=""
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null 2>&1 || { echo "deps: need root (or sudo) to install:$missing" >&2; exit 1; }
	SUDO="sudo"
fi
$SUDO apt-get update
# shellcheck disable=SC2086
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
