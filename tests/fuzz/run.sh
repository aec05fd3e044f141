#!/bin/sh
# tests/fuzz/run.sh SECONDS: build each libFuzzer target (the HTTP parser,
# the Redis store's value decoder) and run it for SECONDS on a copy of its seed corpus. Prints one line per
# target ("fuzz_request: ok" or "fuzz_request: FAILED") and exits non-zero
# if any target failed to build or crashed. Works from any directory, needs
# no network. CC may name another clang; on failure the work directory
# with the crash artifacts and logs is kept and named on stderr.
set -u

if [ $# -ne 1 ] || ! [ "$1" -gt 0 ] 2>/dev/null; then
	echo "usage: $0 SECONDS" >&2
	exit 2
fi
secs=$1
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
cc=${CC:-clang}
work=$(mktemp -d "${TMPDIR:-/tmp}/vane-fuzz.XXXXXX") || exit 1
status=0

# UBSan reports must stop the run, or libFuzzer would count them as passes.
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS ASAN_OPTIONS

for t in fuzz_request fuzz_response fuzz_store_codec; do
	kind=${t#fuzz_}
	case $t in
	fuzz_store_codec)
		# store.c streams bodies into evbuffers: libevent to link.
		srcs="store_codec.c store.c cache_policy.c http_parse.c"
		libs=-levent ;;
	*)	srcs="http_parse.c http_msg.c proxy_proto.c"
		libs= ;;
	esac
	if ! "$cc" -g -O1 -fsanitize=fuzzer,address,undefined -I"$top/src" \
	    -D_GNU_SOURCE -o "$work/$t" "$here/$t.c" \
	    $(for s in $srcs; do echo "$top/src/$s"; done) $libs \
	    >"$work/$t.build.log" 2>&1; then
		cat "$work/$t.build.log" >&2
		echo "$t: FAILED"
		status=1
		continue
	fi
	mkdir -p "$work/corpus-$kind"
	cp "$here/corpus/$kind/"* "$work/corpus-$kind/" 2>/dev/null
	if (cd "$work" && "./$t" -max_total_time="$secs" \
	    -artifact_prefix="$work/$t-" "$work/corpus-$kind" \
	    >"$work/$t.log" 2>&1); then
		echo "$t: ok"
	else
		tail -n 40 "$work/$t.log" >&2
		echo "$t: FAILED"
		status=1
	fi
done

if [ $status -eq 0 ]; then
	rm -rf "$work"
else
	echo "fuzz: artifacts and logs kept in $work" >&2
fi
exit $status
