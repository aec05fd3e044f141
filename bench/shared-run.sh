#!/usr/bin/env bash
# shared-run.sh: ../../shared/bench/run.sh with this project's extra
# adapters (bench/proxies/*.sh: vane-redis, the Redis store) beside the
# harness's own. The harness loads adapters only from its own proxies/
# directory, which is read-only here, so this copies the harness into a
# temporary directory, adds ours, runs it there with every argument
# given, and copies its results directory back under bench/results/.
#
#   VANE_BIN=$PWD/src/vane bench/shared-run.sh \
#       --proxies "nginx vane vane-redis" --scenarios "hit-small"
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SHARED=$(realpath "${SHARED_BENCH:-$HERE/../../shared/bench}")
export VANE_BIN=$(realpath "${VANE_BIN:-$HERE/../src/vane}")
tmp=$(mktemp -d /tmp/vane-shared-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cp -r "$SHARED" "$tmp/bench"
chmod -R u+w "$tmp/bench"
cp "$HERE"/proxies/*.sh "$tmp/bench/proxies/"
"$tmp/bench/run.sh" "$@"
mkdir -p "$HERE/results"
cp -r "$tmp"/bench/results/run-* "$HERE/results/"
echo "results copied to $HERE/results/ (not committed: see bench/RESULTS.md)"
