#!/bin/sh
# Build vane and run it in front of two instances of examples/app.py.
#   sh examples/demo.sh      then, in another terminal:
#   curl -i http://127.0.0.1:8080/items
# Ctrl-C stops vane and both backends.
set -u
cd "$(dirname "$0")/.." || exit 1

sh .ci/deps.sh || exit 1
if [ ! -f Makefile ]; then
	autoreconf -fi && ./configure -q || exit 1
fi
make -j2 || exit 1

PIDS=""
cleanup() {
	trap - INT TERM EXIT
	for p in $PIDS; do
		kill "$p" 2>/dev/null
	done
	for p in $PIDS; do
		wait "$p" 2>/dev/null
	done
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

for port in 8001 8002; do
	INSTANCE=$port /usr/bin/python3 -m uvicorn --app-dir examples app:app \
		--host 127.0.0.1 --port $port --no-access-log --log-level warning &
	PIDS="$PIDS $!"
done

# Wait (bounded: 20 s) until both backends answer.
for port in 8001 8002; do
	i=0
	until curl -fsS -o /dev/null "http://127.0.0.1:$port/health" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -ge 100 ]; then
			echo "demo: backend on port $port did not start" >&2
			exit 1
		fi
		sleep 0.2
	done
done

echo "vane is running: try  curl -i http://127.0.0.1:8080/items"
echo "     twice, cached:   curl -i http://127.0.0.1:8080/time   (see Age, Cache-Status)"
echo "     the counters:    curl http://127.0.0.1:8081/stats"
echo "     a WebSocket:     ws://127.0.0.1:8080/echo (echoes text messages)"
# Not exec: the trap above must still stop the backends when vane exits.
src/vane -c examples/vane.conf &
VANE=$!
PIDS="$VANE $PIDS"
wait "$VANE"
