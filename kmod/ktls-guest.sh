#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# ktls-guest.sh - is kernel TLS there to use, in a Debian 12 guest, and who uses it?
#
# Boots Debian's kernel under qemu (as kmod/test.sh does) with Node, the recordcache
# tree, Debian's memcached and Debian's tls module in the initramfs, and runs the
# guest hook harness/guest/ktls-probe.sh: it loads tls.ko, then lets Debian's memcached
# (without and with -o ssl_kernel_tls) and recordcache -Z serve a 200 KB value over TLS
# and reports the kernel's kTLS counters (/proc/net/tls_stat) around each.  Evidence for
# the README's TLS section, not a test: npm test never runs it.
#
#   bash kmod/ktls-guest.sh              prints the probe's lines
#   bash kmod/ktls-guest.sh --save       also writes kmod/results/ktls-guest.md
#
# Needs what kmod/test.sh needs, plus dist/ (npm run build), the native addon, openssl
# and /usr/bin/memcached (bash bench/setup.sh).

set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/harness/lib.sh"

save=0
[ "${1:-}" = --save ] && save=1

t0=$(date +%s)
mkdir -p "$OUT"
need qemu-system-x86_64 qemu-system-x86 cpio cpio gcc gcc make make pahole pahole zstd zstd \
	memcached memcached openssl openssl
series=${RECORDS_KTLS_KERNEL:-6.1}
env=$("$HERE/harness/fetch-kernel.sh" "$series")
kabi=$(. "$env"; echo "$KABI")
ko=$("$HERE/harness/build.sh" module "$env")
"$HERE/harness/build.sh" tests
app=$("$HERE/harness/stage-app.sh" e2e)

stage=$OUT/ktls-stage
rm -rf "$stage"
mkdir -p "$stage/tls" "$stage/bin"
# Debian's tls module and the AES-GCM crypto modules (harness/lib.sh).
ktls_modules "$env" "$stage/ktls"
# The OpenSSL probe, linked against Debian's libssl (the guest gets memcached's copy).
gcc -O2 -Wall -Wextra -o "$stage/bin/ktls-openssl" "$HERE/harness/ktls-openssl.c" -lssl -lcrypto
# A throw-away certificate for the servers, made here: the guest has no openssl.
openssl ecparam -name prime256v1 -genkey -noout -out "$stage/tls/server.key" 2>/dev/null
openssl req -x509 -new -key "$stage/tls/server.key" -out "$stage/tls/server.crt" -days 2 \
	-subj /CN=localhost -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' 2>/dev/null

hooks=$OUT/hooks-ktls
rm -rf "$hooks"
mkdir -p "$hooks"
cp "$HERE/harness/guest/ktls-probe.sh" "$hooks/"
initrd=$OUT/initramfs-ktls.cpio
RECORDS_GUEST_NODE=1 RECORDS_GUEST_BINS=/usr/bin/memcached \
	RECORDS_GUEST_ADD="$app:/app $stage/tls:/app/tls $HERE/harness/ktls-client.js:/app/kmod/ktls-client.js $stage/bin/ktls-openssl:/app/kmod/ktls-openssl $stage/ktls:/lib/modules/$kabi/ktls" \
	RECORDS_GUEST_HOOKS=$hooks "$HERE/harness/make-initramfs.sh" "$initrd" "$kabi=$ko"

logf=$OUT/ktls-$kabi.log
status=0
RECORDS_TESTS=none RECORDS_STRESS=0 RECORDS_HOOKS=ktls-probe RECORDS_KDEBUG=0 \
	"$HERE/harness/run-guest.sh" "$env" "$initrd" "$logf" || status=1
lines=$(grep '^ktls-probe: ' "$logf" | sed 's/^ktls-probe: //')
[ -n "$lines" ] || die "no ktls-probe lines in the guest log ($logf)"
echo "$lines"
if [ "$save" = 1 ]; then
	mkdir -p "$HERE/results"
	{
		echo "# Kernel TLS in a qemu guest"
		echo
		echo "$(date -u '+%Y-%m-%d %H:%M UTC'); guest: Debian kernel $kabi (qemu TCG). Command:"
		echo "\`bash kmod/ktls-guest.sh --save\`; recordcache $(git -C "$HERE/.." rev-parse --short HEAD 2>/dev/null || echo unknown)."
		echo "Each server serves one 200 KB value over TLS, read back 20 times by one Node TLS client;"
		echo "\`before\`/\`during\`/\`after\` are /proc/net/tls_stat before connecting, after the handshake"
		echo "and after the reads. TlsTxSw counts sockets whose sends the kernel has encrypted (software kTLS)."
		echo "The \`openssl:\` lines are harness/ktls-openssl.c: a server with SSL_OP_ENABLE_KTLS on Debian's"
		echo "libssl and a client, per protocol version and cipher."
		echo
		echo '```'
		echo "$lines"
		echo '```'
	} >"$HERE/results/ktls-guest.md"
	log "wrote $HERE/results/ktls-guest.md"
fi
log "ktls-guest: $(($(date +%s) - t0)) s (log: $logf)"
exit $status
