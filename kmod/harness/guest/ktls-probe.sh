#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# ktls-probe.sh - guest hook: does this kernel offer kernel TLS, and which servers use it?
#
# Evidence, not a test: kmod/ktls-guest.sh packs it, npm test never does.  Loads Debian's
# tls module (and the crypto modules AES-GCM needs), then serves a 200 KB value over TLS from Debian's memcached (without and
# with -o ssl_kernel_tls) and from recordcache -Z (--records=js and native, with
# ssl_kernel_tls, which recordcache accepts and shows), each read back 20 times by a Node
# TLS client (/app/kmod/ktls-client.js) that prints /proc/net/tls_stat before and after:
# TlsTxSw/TlsCurrTxSw count sockets whose sends the kernel encrypts.  Lines start with
# "ktls-probe:".

say() {
	echo "ktls-probe: $*"
}
mkdir -p /etc /root
[ -f /etc/passwd ] || echo 'root:x:0:0:root:/root:/bin/sh' >/etc/passwd
[ -f /etc/group ] || echo 'root:x:0:' >/etc/group
export HOME=/root

say "kernel $(uname -r)"
say "tcp_available_ulp before: $(cat /proc/sys/net/ipv4/tcp_available_ulp)"
say "tls_stat before: $([ -e /proc/net/tls_stat ] && echo present || echo absent)"
for m in /lib/modules/"$(uname -r)"/ktls/*.ko; do
	insmod "$m" 2>/dev/null && say "insmod $(basename "$m"): ok" || say "insmod $(basename "$m"): failed (no CPU support, or built in)"
done
say "tcp_available_ulp after: $(cat /proc/sys/net/ipv4/tcp_available_ulp)"
say "node $(node -v), openssl $(node -p process.versions.openssl), SSL_OP_ENABLE_KTLS in crypto.constants: $(node -p "'SSL_OP_ENABLE_KTLS' in require('crypto').constants")"

cert=/app/tls/server.crt
key=/app/tls/server.key
rc=0
# Debian's OpenSSL on its own: does SSL_OP_ENABLE_KTLS reach the kernel, for which ciphers?
/app/kmod/ktls-openssl "$cert" "$key" | sed 's/^/openssl: /' | while read -r line; do say "$line"; done
wait_port() {
	i=0
	while ! node -e "require('net').connect($1,'127.0.0.1').on('connect',()=>process.exit(0)).on('error',()=>process.exit(1))" 2>/dev/null; do
		i=$((i + 1))
		[ $i -gt 100 ] && return 1
		sleep 0.2
	done
}
probe() {
	# $1: name, $2: port, then the server's command line
	name=$1 port=$2
	shift 2
	"$@" >/tmp/server-$port.log 2>&1 &
	pid=$!
	if wait_port "$port"; then
		say "$name: $(node /app/kmod/ktls-client.js "$port")" || rc=1
	else
		say "$name: did not start: $(tail -c 300 /tmp/server-$port.log)"
		rc=1
	fi
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}

probe "memcached 1.6.18 -Z" 11401 \
	memcached -u root -p 11401 -U 0 -l 127.0.0.1 -t 1 -Z -o "ssl_chain_cert=$cert,ssl_key=$key"
probe "memcached 1.6.18 -Z -o ssl_kernel_tls" 11402 \
	memcached -u root -p 11402 -U 0 -l 127.0.0.1 -t 1 -Z -o "ssl_chain_cert=$cert,ssl_key=$key,ssl_kernel_tls"
for backend in js native; do
	probe "recordcache --records=$backend -Z -o ssl_kernel_tls" 11403 \
		node /app/dist/server/cli.js -p 11403 -U 0 -l 127.0.0.1 -t 1 "--records=$backend" -Z \
		-o "ssl_chain_cert=$cert,ssl_key=$key,ssl_kernel_tls"
done
say "stats settings ssl_kernel_tls of recordcache: shown, not used (server/tls.ts)"
exit $rc
