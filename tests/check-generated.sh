#!/bin/sh
# check-generated.sh: the committed etc/vane.conf and the OPTIONS list of
# man/vane.conf.5.in are generated from src/options.def by "vane -x sample"
# and "vane -x man"; fail when either has drifted from the table, and lint
# both man pages with mandoc when it is installed.
#
# Environment (set by make check): VANE, the built daemon; srcdir, the top
# source directory. Exit 0 pass, 1 fail, 77 skip.
#
# With --update, rewrite both files from the table instead:
#	VANE=src/vane srcdir=. tests/check-generated.sh --update

: "${srcdir:=.}"
: "${VANE:=src/vane}"
# awk -v would eat the backslashes: the markers reach awk through ENVIRON.
begin='.\" BEGIN GENERATED OPTIONS'
end='.\" END GENERATED OPTIONS'
export begin end
status=0

tmp=$(mktemp -d "${TMPDIR:-/tmp}/check-generated.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

if [ ! -x "$VANE" ]; then
	echo "SKIP: $VANE not built"
	exit 77
fi
# A daemon without -x (an early stub) prints nothing: nothing to compare.
if ! "$VANE" -x sample > "$tmp/sample" 2> "$tmp/err" ||
    [ ! -s "$tmp/sample" ] ||
    ! "$VANE" -x man > "$tmp/man" 2>> "$tmp/err" || [ ! -s "$tmp/man" ]; then
	cat "$tmp/err"
	echo "SKIP: $VANE does not support -x man and -x sample"
	exit 77
fi

page="$srcdir/man/vane.conf.5.in"
if [ "$1" = --update ]; then
	cp "$tmp/sample" "$srcdir/etc/vane.conf" || exit 1
	gen="$tmp/man" awk '
		$0 == ENVIRON["end"] { on = 0 }
		!on { print }
		$0 == ENVIRON["begin"] {
			on = 1
			while ((getline l < ENVIRON["gen"]) > 0)
				print l
		}' "$page" > "$tmp/page" && cp "$tmp/page" "$page" || exit 1
	echo "updated etc/vane.conf and man/vane.conf.5.in"
	exit 0
fi

if ! diff -u "$srcdir/etc/vane.conf" "$tmp/sample"; then
	echo "FAIL: etc/vane.conf differs from the options table"
	echo "  run: src/vane -x sample > etc/vane.conf"
	status=1
fi

# The lines strictly between the markers, as committed.
if [ "$(grep -cFx "$begin" "$page")" != 1 ] ||
    [ "$(grep -cFx "$end" "$page")" != 1 ]; then
	echo "FAIL: $page needs exactly one '$begin' and one '$end' line"
	exit 1
fi
awk '$0 == ENVIRON["end"] { on = 0 } on { print } $0 == ENVIRON["begin"] { on = 1 }' \
    "$page" > "$tmp/man.committed"
if ! diff -u "$tmp/man.committed" "$tmp/man"; then
	echo "FAIL: the OPTIONS of man/vane.conf.5.in differ from the options table"
	echo "  run: VANE=src/vane srcdir=. tests/check-generated.sh --update"
	echo "  (it replaces the lines between the markers with: src/vane -x man)"
	status=1
fi

# Lint the pages as installed: with @sysconfdir@ substituted, and the
# generated list in place (it is, or the diff above failed).
if command -v mandoc > /dev/null 2>&1; then
	for in in "$srcdir/man/vane.8.in" "$srcdir/man/vane.conf.5.in"; do
		out="$tmp/$(basename "$in" .in)"
		sed -e 's|@sysconfdir[@]|/etc|g' -e 's|@sbindir[@]|/usr/sbin|g' \
		    -e 's|@localstatedir[@]|/var|g' -e 's|@VERSION[@]|0|g' \
		    "$in" > "$out"
		if ! mandoc -Tlint -W warning "$out" > "$tmp/lint" 2>&1 ||
		    [ -s "$tmp/lint" ]; then
			echo "FAIL: mandoc -Tlint -W warning $(basename "$in"):"
			cat "$tmp/lint"
			status=1
		fi
	done
else
	echo "note: mandoc not installed, man pages not linted"
fi

exit $status
