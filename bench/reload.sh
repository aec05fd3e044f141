#!/usr/bin/env bash
# reload.sh: does a reload drop or stall requests under load? The `pass`
# load of ../../shared/bench (wrk, 64 keep-alive connections, a 512 B
# no-store object: every request proxied) runs against vane while the
# configuration is switched between one and two backend servers and
# SIGHUP is sent RELOADS times, one every 2 s:
#
#   VANE_BIN=src/vane bench/reload.sh [RELOADS] [WORKERS]
#
# A sampler reads requests.total from vane's admin listener every 50 ms;
# the script prints wrk's summary (errors must be none), the throughput
# per 100 ms window, the lowest window against the median of the others,
# and the longest run of consecutive windows below half the median: the
# length of the worst dip (issue 8 asks for none longer than 100 ms).
#
# vane on CPU 1, wrk, the origin and the sampler on CPU 0, as run.sh
# does. Every process started is stopped by PID; every loop is bounded.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SHARED=${SHARED_BENCH:-$HERE/../../shared/bench}
. "$SHARED/lib/common.sh"
VANE=$(realpath "${VANE_BIN:-$HERE/../src/vane}")
RELOADS=${1:-5}
WORKERS=${2:-1}
BASE=${RELOAD_PORT_BASE:-19400}
PORTS="$((BASE + 1)) $((BASE + 2))"
LISTEN=$((BASE + 80))
ADMIN=$((BASE + 81))
SECS=$((RELOADS * 2 + 4))
WORK=$(mktemp -d /tmp/vane-reload.XXXXXX)
pid=""
spid=""

cleanup() {
	[ -n "$spid" ] && kill "$spid" 2>/dev/null || true
	[ -n "$pid" ] && bench_stop_pid "$pid" 5
	WORKDIR=$WORK/origin PORTS=$PORTS CPU=0 "$SHARED/origin/static.sh" stop \
		>/dev/null 2>&1 || true
	rm -rf -- "$WORK"
}
trap cleanup EXIT

# conf N: vane in front of the first N origin ports.
conf() {
	local servers="{ address = \"127.0.0.1:$((BASE + 1))\"; }"
	[ "$1" -eq 2 ] && servers+=", { address = \"127.0.0.1:$((BASE + 2))\"; }"
	cat <<CONF
workers = $WORKERS;
listen = ( { address = "127.0.0.1:$LISTEN"; } );
admin = { address = "127.0.0.1:$ADMIN"; };
backends = { servers = ( $servers ); keepalive = 256; };
log = { level = "notice"; };
CONF
}

WORKDIR=$WORK/origin PORTS=$PORTS CPU=0 "$SHARED/origin/static.sh" start
conf 1 >"$WORK/vane.conf"
bench_spawn 1 "$WORK/vane.pid" "$WORK/vane.log" "$VANE" -c "$WORK/vane.conf"
pid=$(cat "$WORK/vane.pid")
bench_wait_http "http://127.0.0.1:$LISTEN/nostore.json" 10 ||
	bench_die "vane did not come up: $(tail -3 "$WORK/vane.log")"
taskset -c 0 wrk -t1 -c64 -d1s "http://127.0.0.1:$LISTEN/nostore.json" >/dev/null

# The sampler: requests.total every 50 ms for SECS seconds; a reload
# every 2 s from the 2nd second on, the file flipped between 1 and 2
# servers before each.
cat >"$WORK/sampler.py" <<'PY'
import json, os, signal, sys, time, urllib.request
admin, pid, secs, reloads, conf, one, two = sys.argv[1:8]
secs, reloads, pid = float(secs), int(reloads), int(pid)
url = "http://127.0.0.1:%s/stats" % admin
t0 = time.monotonic()
next_reload, done = 2.0, 0
out = open(sys.argv[8], "w")
while time.monotonic() - t0 < secs:
    t = time.monotonic() - t0
    with urllib.request.urlopen(url, timeout=2) as r:
        total = json.load(r)["requests"]["total"]
    out.write("%.4f %d\n" % (time.monotonic() - t0, total))
    if done < reloads and t >= next_reload:
        with open(conf, "w") as f:
            f.write(open(two if done % 2 == 0 else one).read())
        os.kill(pid, signal.SIGHUP)
        out.write("# reload %.4f\n" % (time.monotonic() - t0))
        done += 1
        next_reload += 2.0
    out.flush()
    time.sleep(0.05)
PY
conf 1 >"$WORK/one.conf"
conf 2 >"$WORK/two.conf"
taskset -c 0 /usr/bin/python3 "$WORK/sampler.py" "$ADMIN" "$pid" "$((SECS - 1))" \
	"$RELOADS" "$WORK/vane.conf" "$WORK/one.conf" "$WORK/two.conf" \
	"$WORK/samples" &
spid=$!
taskset -c 0 wrk -t1 -c64 -d"${SECS}s" "http://127.0.0.1:$LISTEN/nostore.json" \
	>"$WORK/wrk.txt"
wait "$spid" || true
spid=""
cat "$WORK/wrk.txt"
echo "errors: $(grep -E 'Non-2xx|Socket errors' "$WORK/wrk.txt" || echo none)"
echo "reloads applied: $(grep -c 'reload: generation' "$WORK/vane.log")"
grep -E '\[(warn|error)\]' "$WORK/vane.log" | head -5 || true
/usr/bin/python3 - "$WORK/samples" <<'PY'
import statistics, sys
pts, reloads = [], []
for line in open(sys.argv[1]):
    if line.startswith("# reload"):
        reloads.append(float(line.split()[2]))
    else:
        t, n = line.split()
        pts.append((float(t), int(n)))
# Requests per 100 ms window, interpolated between samples.
def at(t):
    for (t0, n0), (t1, n1) in zip(pts, pts[1:]):
        if t0 <= t <= t1:
            return n0 + (n1 - n0) * (t - t0) / (t1 - t0)
    return None
# From 0.5 s on: the sampler starts just before wrk does.
w, t0 = [], pts[0][0] + 0.5
t = t0
while t + 0.1 <= pts[-1][0]:
    w.append(at(t + 0.1) - at(t))
    t += 0.1
med = statistics.median(w)
low = min(w)
run = best = 0
for x in w:
    run = run + 1 if x < med / 2 else 0
    best = max(best, run)
print("windows of 100 ms: %d, median %.0f req, lowest %.0f (%.0f%% of the"
      " median)" % (len(w), med, low, 100 * low / med))
print("longest dip below half the median: %d ms" % (best * 100))
print("windows below half the median start at: %s" % (", ".join(
    "%.1f s (%.0f)" % (t0 + 0.1 * i, x) for i, x in enumerate(w)
    if x < med / 2) or "none"))
print("reloads sent at: %s s" % ", ".join("%.1f" % r for r in reloads))
PY
