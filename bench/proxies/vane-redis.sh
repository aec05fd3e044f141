#!/usr/bin/env bash
# Adapter for ../../shared/bench/run.sh (its README, "Adding an adapter"):
# vane exactly as proxies/vane.sh configures it, but with cache.store
# "redis" on a redis-server of its own (loopback port LISTEN_HTTP + 7,
# no persistence, maxmemory CACHE_MB with allkeys-lru, as a shared cache
# would be run). bench/shared-run.sh puts it beside the harness's own
# adapters; the harness cannot load adapters from elsewhere.
#
# redis-server is started first and vane is exec'd by the same process,
# so Redis is a child of the PID in proxy.pid: the harness's CPU and
# memory figures count vane and its Redis together, pinned to the same
# PROXY_CPU. stop stops vane (the harness's way), then Redis, by PID.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/../lib/common.sh"
VANE=${VANE_BIN:-vane}

info() {
	local ver
	ver=$("$HERE/vane.sh" info | sed -n 's/^version=//p')
	echo "version=$ver + $(redis-server --version | awk '{print $3}')"
	echo "tls=no"
	echo "processes=vane (workers = 1) + redis-server, both pinned to PROXY_CPU"
}

start() {
	: "${WORKDIR:?}" "${LISTEN_HTTP:?}" "${ORIGINS:?}" "${PROXY_CPU:?}"
	local servers="" o sep="" rport=$((LISTEN_HTTP + 7))
	command -v redis-server >/dev/null || bench_die "redis-server not installed"
	bench_port_free "$rport" || bench_die "port $rport (Redis) is taken"
	for o in $ORIGINS; do
		servers+="$sep{ address = \"$o\"; }"
		sep=", "
	done
	cat >"$WORKDIR/vane.conf" <<CONF
# vane benchmark config (written by bench/proxies/vane-redis.sh)
workers = 1;
listen = ( { address = "127.0.0.1:$LISTEN_HTTP"; } );
cache = {
    store = "redis";
    size = "${CACHE_MB:-256}M";
    redis = { address = "127.0.0.1:$rport"; prefix = "bench:"; };
};
backends = {
    servers = ( $servers );
    keepalive = 256;
    health = { path = "${HEALTH_PATH:-/health}"; interval = "2s"; };
};
CONF
	cat >"$WORKDIR/run-both.sh" <<RUN
#!/bin/sh
redis-server --port $rport --bind 127.0.0.1 --save "" --appendonly no \
    --maxmemory ${CACHE_MB:-256}mb --maxmemory-policy allkeys-lru \
    --dir "$WORKDIR" --daemonize no > "$WORKDIR/redis.log" 2>&1 &
echo \$! > "$WORKDIR/redis.pid"
i=0
while [ \$i -lt 100 ] && ! redis-cli -p $rport ping >/dev/null 2>&1; do
    sleep 0.05; i=\$((i + 1))
done
exec "$VANE" -c "$WORKDIR/vane.conf"
RUN
	chmod +x "$WORKDIR/run-both.sh"
	bench_spawn "$PROXY_CPU" "$WORKDIR/proxy.pid" "$WORKDIR/stdout.log" \
		"$WORKDIR/run-both.sh"
	sleep 0.5
	bench_pid_alive "$(cat "$WORKDIR/proxy.pid")" ||
		bench_die "vane exited at start-up: $(tail -3 "$WORKDIR/stdout.log" | tr '\n' ' ')"
}

stop() {
	bench_stop_pidfile "$WORKDIR/proxy.pid"
	bench_stop_pidfile "$WORKDIR/redis.pid"
}

case "${1:-}" in
info) info ;;
start) start ;;
stop) stop ;;
*) echo "usage: $0 info|start|stop" >&2; exit 2 ;;
esac
