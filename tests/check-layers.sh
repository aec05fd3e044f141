#!/bin/sh
# check-layers.sh: the pure layers (L0, L1 of DESIGN.md) include no
# libevent, OpenSSL or hiredis header, so they stay unit-testable without
# an event loop, a TLS context or a Redis server. And hiredis stays in the
# store layer (L2): only the Redis connection and store include it (plus
# main.c, whose -V prints its version); redis.h keeps it out of its
# includers.
#
# Environment: srcdir, the top source directory (make check sets it).

: "${srcdir:=.}"
pure="http_parse.c http_msg.c proxy_proto.c cache_policy.c balance.c config.c
	config_check.c util.c
	log.c log_format.c stats.c store_codec.c"
status=0
checked=0

# Their headers too: an include there reaches every includer.
for f in $pure $(for c in $pure; do echo "${c%.c}.h"; done) options.def \
    stats.def; do
	path="$srcdir/src/$f"
	[ -f "$path" ] || continue
	checked=$((checked + 1))
	# #include <event2/...>, "openssl/...", <hiredis/...>, <hiredis.h>,
	# with any spacing after the '#'.
	bad=$(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"](event2/|event\.h|openssl/|hiredis|adapters/)' "$path")
	if [ -n "$bad" ]; then
		echo "FAIL: src/$f is a pure layer but includes:"
		echo "$bad" | sed 's/^/  /'
		status=1
	fi
done

# hiredis: every source and header but these.
hiredis_ok="redis.c store_redis.c main.c"
for path in "$srcdir"/src/*.c "$srcdir"/src/*.h; do
	[ -f "$path" ] || continue
	f=${path##*/}
	case " $hiredis_ok " in *" $f "*) continue ;; esac
	bad=$(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"](hiredis|adapters/)' "$path")
	if [ -n "$bad" ]; then
		echo "FAIL: src/$f may not include hiredis (only: $hiredis_ok):"
		echo "$bad" | sed 's/^/  /'
		status=1
	fi
done

if [ $checked -eq 0 ]; then
	echo "SKIP: no pure-layer source found under $srcdir/src"
	exit 77
fi
exit $status
