#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# bench-w7.sh - guest hook: the W7 hot-key fan-out benchmark inside the guest.
#
# A benchmark, not a test: kmod/bench-guest.sh packs it, npm test never does.  It runs
# /app/kmod/w7-guest.js, which measures W7 with the benchmark runner's own code
# (bench/lib, compiled into /app/bench/lib): memcached and each recordcache backend
# alternate, the server pinned to CPU 1, the generators (a static loadgen) and the
# sampler to CPU 0; by default at rates scaled to what a TCG guest carries (see
# w7-guest.js; --exact for W7's own).  Prints the table of w7-table.js between
# "records-bench: table begin/end" lines and results.json between "json begin/end".
#
# Kernel command line (init's environment):
#   RECORDS_BENCH_BACKENDS  recordcache backends, comma-separated (default native,kmod)
#   RECORDS_BENCH_ARGS      more w7-guest.js options, commas for spaces
#
# bench/lib starts servers and generators through `prlimit --nofile=N:N -- taskset ...`;
# busybox has taskset but no prlimit, so a shim does what is asked of it (raise the
# descriptor limit, then exec in place, so the pid stays the server's).  There is no
# `nice` either: everything runs at niceness 0, right in a guest with nothing else.

backends=$(echo "${RECORDS_BENCH_BACKENDS:-native,kmod}" | tr ' ' ,)
args=$(echo "${RECORDS_BENCH_ARGS:-}" | tr , ' ')
say() {
	echo "records-bench: $*"
}

if [ ! -e /sys/module/records ]; then
	insmod "/lib/modules/$(uname -r)/records.ko" || { say "insmod failed"; exit 1; }
fi
# Kernel TLS, where bench-guest.sh packed Debian's tls and crypto modules (W7-TLS).
if [ -d "/lib/modules/$(uname -r)/ktls" ] && [ ! -e /sys/module/tls ]; then
	for m in /lib/modules/"$(uname -r)"/ktls/*.ko; do
		insmod "$m" 2>/dev/null
	done
	say "kernel TLS modules loaded: $(cat /proc/sys/net/ipv4/tcp_available_ulp)"
fi

mkdir -p /etc /root /tmp/shims
[ -f /etc/passwd ] || echo 'root:x:0:0:root:/root:/bin/sh' >/etc/passwd
[ -f /etc/group ] || echo 'root:x:0:' >/etc/group
cat >/tmp/shims/prlimit <<'EOF'
#!/bin/sh
# prlimit --nofile=SOFT:HARD -- PROG ARGS: the only form bench/lib/servers.ts uses.
while [ $# -gt 0 ]; do
	case "$1" in
	--nofile=*) n=${1#--nofile=}; ulimit -n "${n%%:*}" || exit 1 ;;
	--) shift; break ;;
	*) echo "prlimit shim: unsupported $1" >&2; exit 1 ;;
	esac
	shift
done
exec "$@"
EOF
chmod 755 /tmp/shims/*
export PATH=/tmp/shims:$PATH HOME=/root TMPDIR=/tmp

cd /app || exit 1
say "kernel $(uname -r), $(nproc) CPUs, $(awk '/MemTotal/ {print $2}' /proc/meminfo) kB; backends $backends; $args"
# shellcheck disable=SC2086
node kmod/w7-guest.js --backends "$backends" --out /tmp/w7 $args
rc=$?
if [ -f /tmp/w7/results.json ]; then
	say "table begin"
	node kmod/w7-table.js /tmp/w7/results.json
	say "table end"
	say "json begin"
	cat /tmp/w7/results.json
	echo
	say "json end"
else
	rc=1
fi
pidof node memcached loadgen >/dev/null && { say "left running: $(pidof node memcached loadgen)"; rc=1; }
exit $rc
