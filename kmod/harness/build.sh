#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# build.sh - build the module against one kernel's headers, or the guest programs.
#
#   build.sh module ENV     ENV from fetch-kernel.sh; prints the path of records.ko
#   build.sh tests          the static selftests and guest helpers, into $OUT/tests
#
# The module is built in a copy of the sources (one directory per kernel), and any
# compiler or modpost warning fails the build.

set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

build_module() {
	local env=$1 dir logf
	# shellcheck disable=SC1090
	. "$env"
	dir=$OUT/build-$KABI
	logf=$OUT/build-$KABI.log
	mkdir -p "$dir"
	# Copy only what changed, so make's timestamps stay meaningful.
	cp -u "$KMOD"/Kbuild "$KMOD"/*.c "$KMOD"/*.h "$dir/"
	mkdir -p "$dir/include/uapi"
	cp -u "$KMOD"/include/uapi/*.h "$dir/include/uapi/"
	if ! make -C "$KDIR" M="$dir" modules >"$logf" 2>&1; then
		cat "$logf" >&2
		die "module build failed against $KABI"
	fi
	if grep -Ei 'warning|error' "$logf" | grep -v 'Skipping BTF generation' >&2; then
		die "module build against $KABI has warnings (see $logf)"
	fi
	log "records.ko for $KABI: $(grep -c '^  CC' "$logf" || true) files compiled, no warnings"
	echo "$dir/records.ko"
}

build_tests() {
	local dir=$OUT/tests cflags="-static -O2 -g -D_GNU_SOURCE -Wall -Werror -pthread" f
	mkdir -p "$dir"
	for f in "$KMOD"/selftests/records_*.c "$KMOD"/harness/guest/records_hold.c \
		 "$KMOD"/harness/guest/qemu-exit.c; do
		local bin
		bin=$dir/$(basename "$f" .c)
		if [ ! -x "$bin" ] || [ "$f" -nt "$bin" ] ||
		   [ "$KMOD/selftests/records_test.h" -nt "$bin" ] ||
		   [ "$KMOD/selftests/harness.h" -nt "$bin" ] ||
		   [ "$KMOD/include/uapi/records.h" -nt "$bin" ]; then
			# glibc's static-linking notes about NSS are not warnings about our code.
			gcc $cflags -o "$bin" "$f" 2>&1 | grep -v 'statically linked applications' >&2 || true
			[ -x "$bin" ] && [ "$bin" -nt "$f" ] || die "building $(basename "$f") failed"
		fi
	done
	log "built $(ls "$dir" | wc -l) guest programs"
}

case "${1:-}" in
module)	build_module "${2:?usage: build.sh module ENV}" ;;
tests)	build_tests ;;
*)	die "usage: build.sh module ENV | build.sh tests" ;;
esac
