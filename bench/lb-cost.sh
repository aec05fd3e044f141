#!/usr/bin/env bash
# lb-cost.sh: what balancing over several backends costs vane, against one
# backend, on the `pass` load of ../../shared/bench (512 B no-store object,
# every request proxied). The shared harness has two origins; this script
# starts its static origin on four ports and runs vane alternately with one
# and with four backend servers, same load, same pinning:
#
#   VANE_BIN=src/vane bench/lb-cost.sh [ROUNDS] [SECONDS]
#   VARIANTS="1 1-nocache" bench/lb-cost.sh    what the cache costs on pass
#
#   LB_PATH=/small.json VARIANTS="1 1-redis" bench/lb-cost.sh
#                                  hits from Redis against hits from memory
#   VARIANTS="1 1-alog" bench/lb-cost.sh    what the access log costs
#
# VARIANTS [1 4] lists the configurations run in turn each round: N is
# vane in front of N origin ports; N-nocache the same with cache.store
# "off" (on the no-store object every request is then a plain proxy);
# N-redis with cache.store "redis", on a redis-server this script starts
# on a loopback port; N-alog with the access log on (the default format,
# into a file in the scratch directory, removed after each round). LB_PATH
# [/nostore.json] is the URL loaded.
#
# vane on CPU 1, wrk and the origin on CPU 0 (as run.sh does). Prints per
# round requests/s and vane's CPU seconds per 10k requests (user + system
# of its process, /proc/PID/stat), then the medians. Every process it
# starts is stopped by PID; every loop is bounded.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SHARED=${SHARED_BENCH:-$HERE/../../shared/bench}
. "$SHARED/lib/common.sh"
VANE=$(realpath "${VANE_BIN:-$HERE/../src/vane}")
ROUNDS=${1:-5}
SECS=${2:-5}
BASE=${LB_PORT_BASE:-19300}
PORTS="$((BASE + 1)) $((BASE + 2)) $((BASE + 3)) $((BASE + 4))"
LISTEN=$((BASE + 80))
REDIS_PORT=$((BASE + 79))
LB_PATH=${LB_PATH:-/nostore.json}
WORK=$(mktemp -d /tmp/vane-lbcost.XXXXXX)
CLK_TCK=$(getconf CLK_TCK)
pid=""
rpid=""

cleanup() {
	[ -n "$pid" ] && bench_stop_pid "$pid" 5
	[ -n "$rpid" ] && bench_stop_pid "$rpid" 5
	WORKDIR=$WORK/origin PORTS=$PORTS CPU=0 "$SHARED/origin/static.sh" stop \
		>/dev/null 2>&1 || true
	rm -rf -- "$WORK"
}
trap cleanup EXIT

WORKDIR=$WORK/origin PORTS=$PORTS CPU=0 "$SHARED/origin/static.sh" start
case " ${VARIANTS:-} " in
*-redis\ *)
	bench_spawn 0 "$WORK/redis.pid" "$WORK/redis.log" redis-server \
		--port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
		--dir "$WORK"
	rpid=$(cat "$WORK/redis.pid")
	for ((i = 0; i < 100; i++)); do
		redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
		sleep 0.1
	done
	;;
esac

# conf VARIANT: vane in front of the first N origin ports, cache on or off.
conf() {
	local n=${1%-*} servers="" sep="" p i=0
	for p in $PORTS; do
		[ "$i" -lt "$n" ] || break
		servers+="$sep{ address = \"127.0.0.1:$p\"; }"
		sep=", "
		i=$((i + 1))
	done
	cat <<CONF
workers = 1;
listen = ( { address = "127.0.0.1:$LISTEN"; } );
backends = { servers = ( $servers ); keepalive = 256; };
log = { level = "warn"; $(case $1 in
	*-alog) printf 'access = "%s"; ' "$WORK/access.log" ;;
	esac)};
CONF
	case $1 in
	*-nocache) echo 'cache = { store = "off"; };' ;;
	*-redis) echo "cache = { store = \"redis\"; redis = { address = \"127.0.0.1:$REDIS_PORT\"; }; };" ;;
	esac
}

# ticks PID: utime + stime of the process, in clock ticks.
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# measure VARIANT: one round; prints "reqs cpu_per_10k".
measure() {
	local n=$1 t0 t1 reqs
	conf "$n" >"$WORK/vane-$n.conf"
	bench_spawn 1 "$WORK/vane.pid" "$WORK/vane.log" "$VANE" -c "$WORK/vane-$n.conf"
	pid=$(cat "$WORK/vane.pid")
	bench_wait_http "http://127.0.0.1:$LISTEN$LB_PATH" 10 ||
		bench_die "vane did not come up: $(tail -3 "$WORK/vane.log")"
	taskset -c 0 wrk -t1 -c64 -d1s "http://127.0.0.1:$LISTEN$LB_PATH" >/dev/null
	t0=$(ticks "$pid")
	taskset -c 0 wrk -t1 -c64 -d"${SECS}s" "http://127.0.0.1:$LISTEN$LB_PATH" >"$WORK/wrk.txt"
	t1=$(ticks "$pid")
	bench_stop_pid "$pid" 5
	pid=""
	rm -f -- "$WORK/access.log"
	grep -q "Non-2xx\|Socket errors" "$WORK/wrk.txt" &&
		bench_die "errors in round: $(cat "$WORK/wrk.txt")"
	reqs=$(awk '/requests in/ { print $1 }' "$WORK/wrk.txt")
	awk -v r="$reqs" -v t=$((t1 - t0)) -v hz="$CLK_TCK" -v s="$SECS" \
		'BEGIN { printf "%d %.3f\n", r / s, t / hz / r * 10000 }'
}

VARIANTS=${VARIANTS:-1 4}
for v in $VARIANTS; do : >"$WORK/res-$v"; done
for ((r = 1; r <= ROUNDS; r++)); do
	for v in $VARIANTS; do
		out=$(measure "$v")
		echo "$out" >>"$WORK/res-$v"
		printf 'round %d, %s: %s req/s, %s CPU-s/10k\n' "$r" "$v" $out
	done
done
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
for v in $VARIANTS; do
	printf '%s: median %s req/s, %s CPU-s/10k\n' "$v" \
		"$(cut -d' ' -f1 "$WORK/res-$v" | median)" \
		"$(cut -d' ' -f2 "$WORK/res-$v" | median)"
done
