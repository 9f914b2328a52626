# SPDX-License-Identifier: GPL-2.0
#
# lib.sh - helpers shared by the harness scripts (sourced, not run).

KMOD=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${RECORDS_CACHE:-$KMOD/.cache}
OUT=${RECORDS_OUT:-$CACHE/out}

log() {
	printf '[kmod %s] %s\n' "$(date +%T)" "$*" >&2
}

die() {
	log "error: $*"
	exit 1
}

# Run as root, through sudo when we are not.
as_root() {
	if [ "$(id -u)" = 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo -n "$@"
	else
		die "need root for: $*"
	fi
}

# Kernel TLS for the guest: Debian's tls module and the crypto modules its AES-GCM needs
# (Debian builds gcm, ghash, ctr... as modules, and the guest has no modprobe to fetch
# them: without them setsockopt(TLS_TX) fails and OpenSSL quietly stays in user space),
# unpacked from the kernel package fetch-kernel.sh downloaded (it unpacks only the
# kernel) into DIR as NN-name.ko, in the order to insmod them.  aesni-intel and
# ghash-clmulni-intel load only where the guest CPU has AES-NI/PCLMUL (not TCG's default).
#   ktls_modules ENV DIR
KTLS_MODULES="gf128mul ghash-generic ctr gcm seqiv cryptd crypto_simd aesni-intel ghash-clmulni-intel tls"
ktls_modules() {
	local env=$1 dir=$2 kabi vmlinuz kroot deb m ko i=10
	kabi=$(. "$env"; echo "$KABI")
	vmlinuz=$(. "$env"; echo "$VMLINUZ")
	kroot=$(dirname "$(dirname "$vmlinuz")")
	if [ -z "$(find "$kroot/lib/modules/$kabi" -name 'tls.ko*' 2>/dev/null)" ] ||
		[ -z "$(find "$kroot/lib/modules/$kabi" -name 'gcm.ko*' 2>/dev/null)" ]; then
		deb=$(ls "$(dirname "$kroot")"/debs/linux-image-"$kabi"_*.deb | head -n1)
		dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$kroot" --wildcards './lib/modules/*/kernel/net/tls/*' \
			'./lib/modules/*/kernel/crypto/*' './lib/modules/*/kernel/arch/x86/crypto/*'
	fi
	mkdir -p "$dir"
	for m in $KTLS_MODULES; do
		ko=$(find "$kroot/lib/modules/$kabi" -name "$m.ko*" | head -n1)
		[ -n "$ko" ] || continue # built in
		case "$ko" in
		*.xz) xz -dc "$ko" >"$dir/$i-$m.ko" ;;
		*.zst) zstd -qdc "$ko" >"$dir/$i-$m.ko" ;;
		*) cp "$ko" "$dir/$i-$m.ko" ;;
		esac
		i=$((i + 1))
	done
	[ -n "$(ls "$dir"/*-tls.ko 2>/dev/null)" ] || die "no tls.ko in the $kabi kernel package"
}

# apt's and dpkg's output goes to this log, not to the test output; its last lines are
# shown when a step fails.
APT_LOG=$CACHE/apt.log
apt_log_tail() {
	tail -n 20 "$APT_LOG" >&2
}

apt_updated=0
apt_update() {
	[ "$apt_updated" = 1 ] && return 0
	mkdir -p "$CACHE"
	log "apt-get update (log: $APT_LOG)"
	as_root apt-get update -qq >>"$APT_LOG" 2>&1 || { apt_log_tail; die "apt-get update failed"; }
	apt_updated=1
}

# Install Debian packages whose command is missing: need CMD PACKAGE [CMD PACKAGE ...]
need() {
	local missing=
	while [ $# -ge 2 ]; do
		command -v "$1" >/dev/null 2>&1 || missing="$missing $2"
		shift 2
	done
	[ -z "$missing" ] && return 0
	log "installing$missing (log: $APT_LOG)"
	apt_update
	as_root env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends $missing >>"$APT_LOG" 2>&1 ||
		{ apt_log_tail; die "apt-get install$missing failed"; }
}
