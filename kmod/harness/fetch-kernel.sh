#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# fetch-kernel.sh - download one of Debian 12's kernels and its headers, unpacked under
# the cache directory without installing anything on the host.
#
#   fetch-kernel.sh SERIES [--headers-only]
#
# SERIES is "6.1" (bookworm's own kernel, meta-package linux-image-amd64) or "6.12"
# (the newer kernel bookworm-security carries, meta-package linux-image-6.12-amd64).
# The ABI name (6.1.0-NN-amd64, 6.12.NNN+deb12-amd64) is resolved from the meta-package
# every time, because security updates bump it and drop the old packages.
#
# Prints the path of a shell fragment defining KABI, KDIR (headers to build against)
# and VMLINUZ (empty with --headers-only).

set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

series=${1:?usage: fetch-kernel.sh 6.1|6.12 [--headers-only]}
headers_only=0
[ "${2:-}" = --headers-only ] && headers_only=1

case "$series" in
6.1)	meta=linux-image-amd64 ;;
6.12)	meta=linux-image-6.12-amd64 ;;
*)	die "unknown kernel series $series" ;;
esac

# linux-image-amd64 -> linux-image-6.1.0-56-amd64 -> 6.1.0-56-amd64
resolve_abi() {
	apt-cache depends "$meta" 2>/dev/null |
		sed -n 's/^ *Depends: linux-image-\(.*-amd64\)$/\1/p' | head -n1
}

kabi=$(resolve_abi || true)
if [ -z "$kabi" ]; then
	apt_update
	kabi=$(resolve_abi)
fi
[ -n "$kabi" ] || die "cannot resolve the ABI behind $meta"
case "$kabi" in
"$series".*) ;;
*)	die "$meta resolves to $kabi, not a $series kernel" ;;
esac

dir=$CACHE/kernel/$kabi
env=$dir/env
want_image=$((1 - headers_only))
if [ -f "$env" ] && { [ "$want_image" = 0 ] || grep -q '^VMLINUZ=.\+' "$env"; }; then
	echo "$env"
	exit 0
fi

mkdir -p "$dir/debs" "$dir/root"

# The headers package names its -common and kbuild packages; take them from its
# Depends line rather than guessing their names.
headers_deps() {
	apt-cache depends "linux-headers-$kabi" 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-headers-.*-common\|linux-kbuild-[^ ]*\)$/\1/p' |
		sort -u
}
pkgs="linux-headers-$kabi $(headers_deps | tr '\n' ' ')"
[ "$want_image" = 1 ] && pkgs="$pkgs linux-image-$kabi"

download() {
	(cd "$dir/debs" && apt-get download $pkgs) >"$dir/download.log" 2>&1
}
need=0
for p in $pkgs; do
	ls "$dir/debs/${p}_"*.deb >/dev/null 2>&1 || need=1
done
if [ "$need" = 1 ]; then
	log "downloading $pkgs"
	if ! download; then
		# Stale package lists name a version the archive no longer has.
		apt_update
		download || { cat "$dir/download.log" >&2; die "apt-get download failed"; }
	fi
fi

for p in $pkgs; do
	deb=$(ls "$dir/debs/${p}_"*.deb | head -n1)
	case "$p" in
	linux-image-*)
		# Only the kernel itself: the image package also carries ~400 MB of modules.
		dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dir/root" --wildcards './boot/vmlinuz-*'
		;;
	*)
		dpkg -x "$deb" "$dir/root"
		;;
	esac
done

kdir=$dir/root/usr/src/linux-headers-$kabi
[ -f "$kdir/Makefile" ] || die "no headers in $kdir"
# The per-flavour Makefile includes the -common tree by absolute path; point it at
# the unpacked copy.  Symlinks inside the packages are relative and work as is.
sed -i "s|^include /usr/src/|include $dir/root/usr/src/|" "$kdir/Makefile"

vmlinuz=
if [ "$want_image" = 1 ]; then
	vmlinuz=$dir/root/boot/vmlinuz-$kabi
	[ -f "$vmlinuz" ] || die "no kernel image in $dir/root/boot"
fi

cat >"$env.tmp" <<EOF
KABI=$kabi
KDIR=$kdir
VMLINUZ=$vmlinuz
EOF
mv "$env.tmp" "$env"
echo "$env"
