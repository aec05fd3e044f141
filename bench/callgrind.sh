#!/usr/bin/env bash
# callgrind.sh: vane's user-space instructions per proxied request, a
# figure that does not move with the load of this shared machine.
#
#   bench/callgrind.sh [NSERVERS] [VANE_BIN]
#   CG_PATH=/small.json bench/callgrind.sh     the hit path (512 B, max-age)
#
# Starts ../../shared/bench's static origin on four loopback ports, runs
# vane under valgrind --tool=callgrind in front of the first NSERVERS of
# them [1], sends 1000 and then (in a second run) 3000 keep-alive GETs of
# CG_PATH [the 512 B no-store object] over one connection, and prints
# (Ir(3000) - Ir(1000)) / 2000: start-up and shutdown cancel out.
# CALLGRIND_OUT=FILE keeps the profile of the last run for
# callgrind_annotate. CG_ACCESS_LOG=1 turns the access log on (a file in
# the scratch directory), CG_ACCESS_FORMAT=FMT sets log.access_format: the
# log's cost is the difference with a run without them. CG_HEADERS="A: b
# C: d" adds request fields (newline-separated), e.g. a browser's
# User-Agent and Referer, which the default format logs. Processes are
# stopped by PID; every wait is bounded.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SHARED=${SHARED_BENCH:-$HERE/../../shared/bench}
NS=${1:-1}
VANE=$(realpath "${2:-${VANE_BIN:-$HERE/../src/vane}}")
BASE=${LB_PORT_BASE:-19300}
PORTS="$((BASE + 1)) $((BASE + 2)) $((BASE + 3)) $((BASE + 4))"
LISTEN=$((BASE + 80))
CG_PATH=${CG_PATH:-/nostore.json}
WORK=$(mktemp -d /tmp/vane-callgrind.XXXXXX)
pid=""

cleanup() {
	[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
	WORKDIR=$WORK/origin PORTS=$PORTS CPU=0 "$SHARED/origin/static.sh" stop \
		>/dev/null 2>&1 || true
	rm -rf -- "$WORK"
}
trap cleanup EXIT
WORKDIR=$WORK/origin PORTS=$PORTS CPU=0 "$SHARED/origin/static.sh" start >/dev/null

servers="" sep=""
i=0
for p in $PORTS; do
	[ "$i" -lt "$NS" ] || break
	servers+="$sep{ address = \"127.0.0.1:$p\"; }"
	sep=", "
	i=$((i + 1))
done
cat >"$WORK/vane.conf" <<CONF
workers = 1;
listen = ( { address = "127.0.0.1:$LISTEN"; } );
backends = { servers = ( $servers ); keepalive = 256; };
log = { level = "warn"; $(
	[ -n "${CG_ACCESS_LOG:-}" ] && printf 'access = "%s"; ' "$WORK/access.log"
	[ -n "${CG_ACCESS_FORMAT:-}" ] && printf 'access_format = "%s"; ' \
	    "$(printf %s "$CG_ACCESS_FORMAT" | sed 's/[\\"]/\\&/g')"
)};
CONF

# drive N: N sequential keep-alive GETs, each response read whole.
drive() {
	/usr/bin/python3 - "$LISTEN" "$1" "$CG_PATH" "${CG_HEADERS:-}" <<'PY'
import socket, sys
port, n, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
extra = "".join(h.strip() + "\r\n" for h in sys.argv[4].split("\n")
                if h.strip())
req = b"GET %s HTTP/1.1\r\nHost: bench\r\n%s\r\n" % (path.encode(),
                                                     extra.encode())
s = socket.create_connection(("127.0.0.1", port), timeout=10)
buf = b""
for _ in range(n):
    s.sendall(req)
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            head = buf[:end].decode("latin-1").lower()
            cl = int(head.split("content-length:")[1].split("\r\n")[0])
            if len(buf) >= end + 4 + cl:
                buf = buf[end + 4 + cl:]
                break
        data = s.recv(65536)
        if not data:
            sys.exit("connection closed")
        buf += data
PY
}

# ir N: total instructions of a vane run that served N requests.
ir() {
	local n=$1 i
	valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.out" \
		"$VANE" -c "$WORK/vane.conf" 2>"$WORK/vg.log" &
	pid=$!
	for ((i = 0; i < 100; i++)); do
		curl -fs -o /dev/null --max-time 1 "http://127.0.0.1:$LISTEN$CG_PATH" && break
		sleep 0.2
	done
	drive "$n"
	kill -TERM "$pid"
	wait "$pid" || true
	pid=""
	if [ -n "${CALLGRIND_OUT:-}" ]; then cp "$WORK/cg.out" "$CALLGRIND_OUT"; fi
	callgrind_annotate "$WORK/cg.out" 2>/dev/null |
		awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }'
}

a=$(ir 1000)
b=$(ir 3000)
echo "$NS server(s), $CG_PATH: $(( (b - a) / 2000 )) instructions per request ($VANE)"
