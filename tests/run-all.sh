#!/bin/sh
# The one command that installs, builds and tests everything:
#
#   1. .ci/deps.sh                       Debian packages (skipped when present)
#   2. in-tree build                     autoreconf, configure --enable-werror
#   3. make check                        Check unit tests + consistency scripts
#   4. integration suite                 pytest tests/integration
#   5. fuzzers                           tests/fuzz/run.sh 60, when it exists,
#                                        in the background beside stage 6
#   6. sanitizer build in build-asan/    VPATH, --enable-sanitizers, make check
#   7. integration suite again           against build-asan/src/vane
#
# Every stage runs even when an earlier one failed. The last line is
# "N passed, N failed", summed over Check's own counts for the unit test
# programs, automake's results for the other make check scripts, pytest's
# counts (both runs) and one test per fuzzer. Exit status: 0 only if nothing
# failed and something ran.
#
# Each stage is bounded with timeout(1) (10 min; seven stages stay well
# under CI's 90 min even if every one hung). A normal run takes about
# 15 minutes on a 2-core machine.

cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
PY=/usr/bin/python3
JOBS=${JOBS:-2}
OUT="$ROOT/tests/.run-all"
rm -rf "$OUT"
mkdir -p "$OUT"

PASSED=0
FAILED=0
STAGE_FAILS=""

stage() {
	echo
	echo "==================================================================="
	echo "== $*"
	echo "==================================================================="
}

add() {		# add PASSED FAILED LABEL
	PASSED=$((PASSED + $1))
	FAILED=$((FAILED + $2))
	echo "-- $3: $1 passed, $2 failed"
	[ "$2" -eq 0 ] || STAGE_FAILS="$STAGE_FAILS $3"
}

# A stage that failed without any test result of its own (a build error, a
# crash of the runner) counts as one failed test, so it cannot go unnoticed.
stage_failed() {
	add 0 1 "$1"
}

# count_make_check DIR LABEL: results of the last `make check` run in DIR.
count_make_check() {
	dir=$1
	label=$2
	trs=$(find "$dir" -path "$dir/build-asan" -prune -o -name '*.trs' -print |
		sort)
	if [ -z "$trs" ]; then
		stage_failed "$label (no test results)"
		return
	fi
	p=0
	f=0
	for t in $trs; do
		log=${t%.trs}.log
		res=$(sed -n 's/^:test-result: *//p' "$t" | head -n 1)
		case $t in
		*/tests/unit/check_*)
			# Check prints "NN%: Checks: X, Failures: F, Errors: E" per
			# runner; a program that crashed before it has no such line.
			counts=$(sed -n 's/.*[0-9]*%: Checks: \([0-9]*\), Failures: \([0-9]*\), Errors: \([0-9]*\).*/\1 \2 \3/p' "$log" 2>/dev/null)
			if [ -z "$counts" ]; then
				echo "   $(basename "$t" .trs): no Check summary ($res)"
				f=$((f + 1))
				continue
			fi
			set -- $counts
			while [ $# -ge 3 ]; do
				p=$((p + $1 - $2 - $3))
				f=$((f + $2 + $3))
				shift 3
			done
			if [ "$res" != PASS ] && [ "$res" != XFAIL ]; then
				# failed without a failing check (e.g. leak at exit)
				grep -q 'Failures: [1-9]\|Errors: [1-9]' "$log" ||
					f=$((f + 1))
			fi
			;;
		*)
			case $res in
			PASS|XFAIL) p=$((p + 1)) ;;
			SKIP) ;;
			*) f=$((f + 1)); echo "   $(basename "$t" .trs): $res" ;;
			esac
			;;
		esac
	done
	add "$p" "$f" "$label"
}

# run_pytest LABEL [ENV=VALUE ...]
run_pytest() {
	label=$1
	shift
	xml="$OUT/$(echo "$label" | tr -c 'a-zA-Z0-9\n' '_').xml"
	env "$@" timeout -k 10 600 $PY -m pytest -q -p no:cacheprovider \
		--junitxml="$xml" tests/integration </dev/null
	rc=$?
	echo "-- pytest exit status $rc"
	if [ ! -s "$xml" ]; then
		stage_failed "$label (pytest produced no results)"
		return
	fi
	set -- $($PY - "$xml" <<'EOF'
import sys
import xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
t = f = e = s = 0
for su in suites:
    t += int(su.get("tests", 0)); f += int(su.get("failures", 0))
    e += int(su.get("errors", 0)); s += int(su.get("skipped", 0))
print(t - f - e - s, f + e, s)
EOF
)
	p=${1:-0}
	f=${2:-0}
	[ "${3:-0}" -eq 0 ] || echo "-- $label: $3 skipped"
	# exit 5 is "no tests collected"; any other non-zero exit without a
	# counted failure (interrupted, internal error, timeout) is a failure too.
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
	fi
	if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
		f=1
	fi
	add "$p" "$f" "$label"
}

# ---------------------------------------------------------------------------
stage "1/7 dependencies (.ci/deps.sh)"
if ! timeout -k 10 600 sh .ci/deps.sh </dev/null; then
	stage_failed "deps"
fi

stage "2/7 build (autoreconf -fi && ./configure --enable-werror && make -j$JOBS)"
BUILD_OK=no
if timeout -k 10 600 sh -c "autoreconf -fi && ./configure -q --enable-werror && make -j$JOBS" </dev/null; then
	BUILD_OK=yes
else
	stage_failed "build"
fi

stage "3/7 make check"
find . -path ./build-asan -prune -o -name '*.trs' -exec rm -f {} +
if [ -f Makefile ]; then
	timeout -k 10 600 make -j"$JOBS" check </dev/null
	rc=$?
	echo "-- make check exit status $rc"
	for l in $(find . -path ./build-asan -prune -o -name 'test-suite.log' -print); do
		[ "$rc" -eq 0 ] || cat "$l"
	done
	count_make_check . "make check"
else
	stage_failed "make check (not configured)"
fi

stage "4/7 integration suite (src/vane)"
if [ "$BUILD_OK" = yes ]; then
	run_pytest "integration" "VANE_BIN=$ROOT/src/vane"
else
	stage_failed "integration (no build)"
fi

# The fuzzers run for a fixed time each and the sanitizer build is no
# timed test: stage 5 runs in the background beside stage 6, which saves
# the CI budget about three minutes. Its report comes after stage 6.
stage "5/7 fuzzers (tests/fuzz/run.sh 60), beside stage 6"
FUZZ_PID=""
if [ -f tests/fuzz/run.sh ]; then
	timeout -k 10 600 sh tests/fuzz/run.sh 60 </dev/null >"$OUT/fuzz.log" 2>&1 &
	FUZZ_PID=$!
	echo "-- started (pid $FUZZ_PID); its report follows stage 6"
else
	echo "-- tests/fuzz/run.sh not present: no fuzzers run"
fi

stage "6/7 sanitizer build (build-asan/, --enable-sanitizers) and make check"
# automake refuses a VPATH build while the source tree itself is configured
# (and would pick up its objects through VPATH): clean the in-tree build,
# whose tests have all run by now.
if [ -f Makefile ]; then
	make -s distclean >/dev/null 2>&1 </dev/null
fi
ASAN_OK=no
rm -rf build-asan
mkdir -p build-asan
if (cd build-asan &&
	timeout -k 10 600 sh -c "../configure -q --enable-sanitizers --enable-werror && make -j$JOBS") </dev/null; then
	ASAN_OK=yes
	(cd build-asan && timeout -k 10 600 make -j"$JOBS" check) </dev/null
	rc=$?
	echo "-- make check (sanitizers) exit status $rc"
	[ "$rc" -eq 0 ] || cat build-asan/test-suite.log 2>/dev/null
	count_make_check "$ROOT/build-asan" "make check (sanitizers)"
else
	stage_failed "sanitizer build"
fi

if [ -n "$FUZZ_PID" ]; then
	stage "5/7 fuzzers: report"
	wait "$FUZZ_PID"
	rc=$?
	cat "$OUT/fuzz.log"
	fp=$(grep -c '^fuzz_[A-Za-z0-9_]*: ok' "$OUT/fuzz.log")
	ff=$(grep -c '^fuzz_[A-Za-z0-9_]*: FAILED' "$OUT/fuzz.log")
	echo "-- fuzz exit status $rc"
	if [ "$rc" -ne 0 ] && [ "$ff" -eq 0 ]; then
		ff=1
	fi
	if [ "$fp" -eq 0 ] && [ "$ff" -eq 0 ]; then
		ff=1
	fi
	add "$fp" "$ff" "fuzz"
fi

stage "7/7 integration suite (build-asan/src/vane)"
if [ "$ASAN_OK" = yes ]; then
	run_pytest "integration (sanitizers)" "VANE_BIN=$ROOT/build-asan/src/vane"
else
	stage_failed "integration (sanitizers, no build)"
fi

# ---------------------------------------------------------------------------
echo
echo "==================================================================="
if [ -n "$STAGE_FAILS" ]; then
	echo "== failures in:$STAGE_FAILS"
fi
echo "$PASSED passed, $FAILED failed"
if [ "$FAILED" -ne 0 ] || [ "$PASSED" -eq 0 ]; then
	exit 1
fi
exit 0
