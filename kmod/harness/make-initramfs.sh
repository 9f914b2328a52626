#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make-initramfs.sh - pack the test guest's initramfs.
#
#   make-initramfs.sh OUTPUT.cpio.gz KABI=MODULE.ko [KABI=MODULE.ko ...]
#
# Contents: a static busybox (from Debian's busybox-static, unpacked into the cache),
# harness/guest/init, one records.ko per kernel under /lib/modules/KABI/, the static
# selftests from $OUT/tests under /tests, and the guest helpers.
#
# Later stages can add to it without touching this script:
#   RECORDS_GUEST_NODE=1     also pack Node (the host's node binary and its libraries)
#   RECORDS_GUEST_ADD="SRC:DEST ..."
#                            copy host trees into the guest (e.g. /work/main/dist:/app/dist)
#   RECORDS_GUEST_HOOKS=DIR  executables DIR/*.sh run by /init after the selftests
# The default run packs none of them, for speed.

set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

output=${1:?usage: make-initramfs.sh OUTPUT KABI=MODULE.ko...}
shift

# Debian's static busybox, unpacked rather than installed (it conflicts with busybox).
busybox_bin() {
	local dir=$CACHE/busybox-static
	if [ ! -x "$dir/root/bin/busybox" ]; then
		mkdir -p "$dir/debs" "$dir/root"
		rm -f "$dir/debs/"*.deb
		(cd "$dir/debs" && apt-get download busybox-static) >"$dir/download.log" 2>&1 ||
			{ apt_update; (cd "$dir/debs" && apt-get download busybox-static) >&2; }
		dpkg -x "$dir/debs/"busybox-static_*.deb "$dir/root"
	fi
	echo "$dir/root/bin/busybox"
}

root=$OUT/initramfs-root
rm -rf "$root"
mkdir -p "$root"/{bin,dev,proc,sys,tmp,tests,guest.d,lib/modules}

cp "$(busybox_bin)" "$root/bin/busybox"
cp "$KMOD/harness/guest/init" "$root/init"
chmod 755 "$root/init"
cp "$OUT/tests/"records_* "$root/tests/"
mv "$root/tests/records_hold" "$root/bin/"
cp "$OUT/tests/qemu-exit" "$root/bin/"

for pair in "$@"; do
	kabi=${pair%%=*}
	mkdir -p "$root/lib/modules/$kabi"
	cp "${pair#*=}" "$root/lib/modules/$kabi/records.ko"
done

if [ "${RECORDS_GUEST_NODE:-0}" = 1 ]; then
	node=$(command -v node) || die "RECORDS_GUEST_NODE=1 but no node on the host"
	mkdir -p "$root/usr/bin" "$root/lib64" "$root/lib/x86_64-linux-gnu"
	cp "$node" "$root/usr/bin/node"
	for lib in $(ldd "$node" | awk '/=> \// { print $3 } /^\t\/lib64/ { print $1 }'); do
		case "$lib" in
		*ld-linux*) cp -L "$lib" "$root/lib64/" ;;
		*) cp -L "$lib" "$root/lib/x86_64-linux-gnu/" ;;
		esac
	done
fi
for add in ${RECORDS_GUEST_ADD:-}; do
	src=${add%%:*}
	dest=$root/${add#*:}
	mkdir -p "$(dirname "$dest")"
	cp -a "$src" "$dest"
done
if [ -n "${RECORDS_GUEST_HOOKS:-}" ]; then
	cp "$RECORDS_GUEST_HOOKS"/*.sh "$root/guest.d/"
	chmod 755 "$root/guest.d/"*.sh
fi

(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -1) > "$output.tmp"
mv "$output.tmp" "$output"
log "initramfs $(du -h "$output" | cut -f1): $*"
