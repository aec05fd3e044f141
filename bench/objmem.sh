#!/usr/bin/env bash
# objmem.sh: memory vane spends per cached object beyond its head and body.
#
#   VANE_BIN=src/vane bench/objmem.sh [N]
#
# Starts ../../shared/bench's static origin and vane (one worker, memory
# store, admin listener), caches N [20000] distinct URLs of the 512 B
# object (/small.json?i=K: the query makes the key, the origin ignores it)
# over one keep-alive connection, and reads vane's resident set
# (/proc/PID/status VmRSS) before and after, and the store's own count of
# objects and bytes (GET /stats). Prints, per object: the RSS growth, the
# head and body as stored (a hit's head without Age and Cache-Status; the
# body), and the difference: what the object costs beyond them (struct,
# key, allocator, hash and LRU links). Every process it starts is stopped
# by PID; every loop is bounded.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SHARED=${SHARED_BENCH:-$HERE/../../shared/bench}
. "$SHARED/lib/common.sh"
VANE=$(realpath "${VANE_BIN:-$HERE/../src/vane}")
N=${1:-20000}
BASE=${LB_PORT_BASE:-19300}
ORIGIN=$((BASE + 1))
LISTEN=$((BASE + 80))
ADMIN=$((BASE + 81))
WORK=$(mktemp -d /tmp/vane-objmem.XXXXXX)
pid=""

cleanup() {
	[ -n "$pid" ] && bench_stop_pid "$pid" 5
	WORKDIR=$WORK/origin PORTS=$ORIGIN CPU=0 "$SHARED/origin/static.sh" stop \
		>/dev/null 2>&1 || true
	rm -rf -- "$WORK"
}
trap cleanup EXIT

WORKDIR=$WORK/origin PORTS=$ORIGIN CPU=0 "$SHARED/origin/static.sh" start >/dev/null
cat >"$WORK/vane.conf" <<CONF
workers = 1;
listen = ( { address = "127.0.0.1:$LISTEN"; } );
backends = { servers = ( { address = "127.0.0.1:$ORIGIN"; } ); keepalive = 16; };
cache = { store = "memory"; size = "1G"; };
admin = { address = "127.0.0.1:$ADMIN"; };
log = { level = "warn"; };
CONF
"$VANE" -c "$WORK/vane.conf" 2>"$WORK/vane.log" &
pid=$!
for ((i = 0; i < 100; i++)); do
	curl -fs -o /dev/null --max-time 1 "http://127.0.0.1:$LISTEN/small.json?warm" && break
	sleep 0.1
done

/usr/bin/python3 - "$LISTEN" "$ADMIN" "$pid" "$N" <<'PY'
import json, socket, sys, urllib.request
port, admin, pid, n = (int(a) for a in sys.argv[1:5])

def rss():
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024

def cache_stats():
    with urllib.request.urlopen("http://127.0.0.1:%d/stats" % admin,
                                timeout=10) as r:
        return json.load(r)["cache"]

s = socket.create_connection(("127.0.0.1", port), timeout=10)
buf = b""

def get(target):
    global buf
    s.sendall(b"GET %s HTTP/1.1\r\nHost: bench\r\n\r\n" % target.encode())
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            head = buf[:end + 4]
            cl = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            if len(buf) >= end + 4 + cl:
                body = buf[end + 4:end + 4 + cl]
                buf = buf[end + 4 + cl:]
                return head, body
        data = s.recv(65536)
        if not data:
            sys.exit("connection closed")
        buf += data

before, st0 = rss(), cache_stats()
for i in range(n):
    get("/small.json?i=%d" % i)
after, st1 = rss(), cache_stats()
head, body = get("/small.json?i=0")          # a hit: the stored head as sent
stored_head = b"\r\n".join(l for l in head.split(b"\r\n")
                           if not l.lower().startswith((b"age:",
                                                        b"cache-status:")))
objs = st1["objects"] - st0["objects"]
if objs < n * 0.99:
    sys.exit("only %d of %d objects stored" % (objs, n))
per = (after - before) / objs
hb = len(stored_head) + len(body)
print("objects stored:        %d" % objs)
print("RSS growth per object: %.0f bytes" % per)
print("head + body:           %d bytes (head %d, body %d)" %
      (hb, len(stored_head), len(body)))
print("key (typical):         %d bytes" % len("http://bench/small.json?i=10000"))
print("overhead per object:   %.0f bytes (RSS growth - head - body)" % (per - hb))
print("store's own charge:    %.0f bytes per object (cache.bytes / objects)"
      % ((st1["bytes"] - st0["bytes"]) / objs))
PY
