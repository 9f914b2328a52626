#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# stage-python.sh - the host's Debian Python (/usr/bin/python3) for the e2e guest, with
# what conformance/clients/round.py imports: pymemcache (and six), pylibmc.  The real
# clients (conformance/clients.test.ts) and the TLS client round (tls.test.ts) run it.
#
# Lays out $OUT/guest-python/{lib,dist} and prints the RECORDS_GUEST_ADD words that put
# them at /usr/lib/python3.X and /usr/lib/python3/dist-packages.  The standard library
# goes without its tests, IDLE, tkinter, ensurepip, lib2to3 and the build config (about
# 13 MB instead of 54); make-initramfs.sh packs the shared libraries its extension
# modules (lib-dynload) and _pylibmc need.

set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

PY=/usr/bin/python3
[ -x "$PY" ] || die "no $PY on the host (Debian: python3)"
"$PY" -c 'import pymemcache, pylibmc, six' 2>/dev/null ||
	die "$PY cannot import pymemcache, pylibmc and six (conformance/setup.sh installs them)"
stdlib=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')
dist=/usr/lib/python3/dist-packages

py=$OUT/guest-python
rm -rf "$py"
mkdir -p "$py/lib" "$py/dist"
(cd "$stdlib" && find . \( -path ./test -o -path ./idlelib -o -path ./tkinter -o -path ./ensurepip \
	-o -path ./lib2to3 -o -path ./pydoc_data -o -path ./turtledemo -o -path './config-*' \) -prune -o -print |
	cpio -pdm --quiet "$py/lib")
(cd "$dist" && find pymemcache pylibmc six.py _pylibmc.*.so -name '*.pyc' -prune -o -print |
	cpio -pdmL --quiet "$py/dist")

log "staged Python for the guest: $(du -sh "$py" | cut -f1)"
echo "$py/lib:$stdlib $py/dist:$dist"
