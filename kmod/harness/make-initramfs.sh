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
#                            copy host trees into the guest (e.g. /work/main/dist:/app/dist);
#                            the shared libraries that shared objects in them need come too
#   RECORDS_GUEST_HOOKS=DIR  executables DIR/*.sh run by /init after the selftests
#   RECORDS_GUEST_BINS="PROG ..."
#                            host programs (e.g. /usr/bin/memcached) with their shared
#                            libraries, at the same paths
# The default run packs none of them, for speed.  An image with Node in it is compressed
# with zstd where the host has it (the guest unpacks it several times faster than gzip).

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
			{ apt_update; (cd "$dir/debs" && apt-get download busybox-static) >>"$APT_LOG" 2>&1 ||
				{ apt_log_tail; die "apt-get download busybox-static failed"; }; }
		dpkg -x "$dir/debs/"busybox-static_*.deb "$dir/root"
	fi
	echo "$dir/root/bin/busybox"
}

# Its own staging tree per output, so two images can be packed at once.
root=${output%%.cpio*}-root
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

# A dynamically linked program (or, as $3, a copy of it) and the shared libraries it
# needs, the libraries at their host paths.
copy_with_libs() {
	local prog=$1 dest=$2 file=${3:-$1} lib
	mkdir -p "$root/$(dirname "$dest")"
	cp -L "$file" "$root/$dest"
	for lib in $(ldd "$prog" | awk '/=> \// { print $3 } /^\t\/lib64/ { print $1 }'); do
		mkdir -p "$root/$(dirname "$lib")"
		cp -L "$lib" "$root/$lib"
	done
}

if [ "${RECORDS_GUEST_NODE:-0}" = 1 ]; then
	node=$(command -v node) || die "RECORDS_GUEST_NODE=1 but no node on the host"
	# Without its debug information (about 12 MB less to pack and unpack), kept in
	# the cache until the host's node changes.
	stripped=$CACHE/node-stripped
	if [ ! -x "$stripped" ] || [ "$(readlink -f "$node")" -nt "$stripped" ]; then
		strip -o "$stripped.tmp" "$(readlink -f "$node")" && mv "$stripped.tmp" "$stripped"
	fi
	copy_with_libs "$node" /usr/bin/node "$stripped"
fi
# The shared libraries an ELF file already in the guest tree needs, at their host paths.
copy_libs_of() {
	local lib
	for lib in $(ldd "$1" 2>/dev/null | awk '/=> \// { print $3 } /^\t\/lib64/ { print $1 }'); do
		[ -e "$root/$lib" ] && continue
		mkdir -p "$root/$(dirname "$lib")"
		cp -L "$lib" "$root/$lib"
	done
}

# RECORDS_GUEST_BINS="/usr/bin/memcached ...": host programs with their libraries.
for prog in ${RECORDS_GUEST_BINS:-}; do
	[ -x "$prog" ] || die "RECORDS_GUEST_BINS: no program $prog on the host"
	copy_with_libs "$prog" "$prog"
done
for add in ${RECORDS_GUEST_ADD:-}; do
	src=${add%%:*}
	dest=$root/${add#*:}
	mkdir -p "$(dirname "$dest")"
	cp -a "$src" "$dest"
	# Plugins and extension modules (Cyrus SASL's, Python's) are loaded with dlopen: their
	# libraries show up nowhere else.
	find "$dest" -type f -name '*.so*' | while read -r so; do
		copy_libs_of "$so"
	done
done
if [ -n "${RECORDS_GUEST_HOOKS:-}" ]; then
	cp "$RECORDS_GUEST_HOOKS"/*.sh "$root/guest.d/"
	chmod 755 "$root/guest.d/"*.sh
fi

compress="gzip -1"
if [ "${RECORDS_GUEST_NODE:-0}" = 1 ] && command -v zstd >/dev/null 2>&1; then
	compress="zstd -q -T0 -3"
fi
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | $compress) > "$output.tmp"
mv "$output.tmp" "$output"
log "initramfs $(du -h "$output" | cut -f1): $*"
