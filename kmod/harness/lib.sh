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

apt_updated=0
apt_update() {
	[ "$apt_updated" = 1 ] && return 0
	log "apt-get update"
	as_root apt-get update -qq >&2 || die "apt-get update failed"
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
	log "installing$missing"
	apt_update
	as_root env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends $missing >&2 ||
		die "apt-get install$missing failed"
}
