#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# bench-guest.sh - the W7 hot-key fan-out benchmark inside a qemu guest, where the
# records module can load: memcached, recordcache --records=native and --records=kmod
# side by side, measured with the benchmark runner's own code (bench/lib, as compiled
# into dist/bench) and a static loadgen, by harness/w7-guest.js.  A benchmark, not a
# test: npm test never runs it.
#
#   bash kmod/bench-guest.sh                  prints a markdown table
#   bash kmod/bench-guest.sh --save           also writes it to kmod/results/w7-guest.md
#
# Environment:
#   RECORDS_BENCH_BACKENDS  recordcache backends (default "native kmod")
#   RECORDS_BENCH_ARGS      harness/w7-guest.js options (default none: 3 runs of 10 s
#                           per server at the guest's scaled rates; "--exact" for W7's;
#                           "--tls" for W7-TLS, saved as kmod/results/w7-tls-guest.md)
#   RECORDS_BENCH_KERNEL    kernel series to boot (default 6.1)
#   RECORDS_QEMU_MEM        guest memory, MiB (default here 2048)
#
# Needs what kmod/test.sh needs, plus dist/ (npm run build), the native addon
# (npx node-gyp rebuild -C native) and /usr/bin/memcached (bash bench/setup.sh).
# The guest boots without the kernel's memory checkers (RECORDS_KDEBUG=0): red zones
# and poisoning would change what the memory and CPU figures mean.

set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/harness/lib.sh"

save=0
[ "${1:-}" = --save ] && save=1

t0=$(date +%s)
mkdir -p "$OUT"
need qemu-system-x86_64 qemu-system-x86 cpio cpio gcc gcc make make pahole pahole zstd zstd \
	memcached memcached
series=${RECORDS_BENCH_KERNEL:-6.1}
env=$("$HERE/harness/fetch-kernel.sh" "$series")
kabi=$(. "$env"; echo "$KABI")
ko=$("$HERE/harness/build.sh" module "$env")
"$HERE/harness/build.sh" tests

app=$("$HERE/harness/stage-app.sh" bench)
hooks=$OUT/hooks-bench
rm -rf "$hooks"
mkdir -p "$hooks"
cp "$HERE/harness/guest/bench-w7.sh" "$hooks/"
initrd=$OUT/initramfs-bench.cpio
add="$app:/app"
# With --tls, Debian's tls and crypto modules too (for memcached -o ssl_kernel_tls).
case " ${RECORDS_BENCH_ARGS:-} " in
*" --tls "*)
	rm -rf "$OUT/ktls-bench"
	ktls_modules "$env" "$OUT/ktls-bench"
	add="$add $OUT/ktls-bench:/lib/modules/$kabi/ktls"
	;;
esac
RECORDS_GUEST_NODE=1 RECORDS_GUEST_BINS=/usr/bin/memcached RECORDS_GUEST_ADD="$add" \
	RECORDS_GUEST_HOOKS=$hooks "$HERE/harness/make-initramfs.sh" "$initrd" "$kabi=$ko"

backends=${RECORDS_BENCH_BACKENDS:-native kmod}
args=${RECORDS_BENCH_ARGS:-}
logf=$OUT/bench-w7-$kabi.log
mem=${RECORDS_QEMU_MEM:-2048}
status=0
# A TCG guest is only as fast as the host threads it gets, and cannot see the host's
# other programs take them: measure what they took.  Host busy time (/proc/stat) less
# the CPU time of this script's waited-for children (qemu), over the guest's run.
host_busy() {
	awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat
}
children_cpu() {
	awk '{ print $16 + $17 }' "/proc/$$/stat"
}
busy0=$(host_busy) kids0=$(children_cpu) wall0=$(date +%s.%N)
RECORDS_TESTS=none RECORDS_STRESS=0 RECORDS_HOOKS=bench-w7 RECORDS_KDEBUG=0 \
	RECORDS_QEMU_MEM=$mem RECORDS_BENCH_BACKENDS="$backends" RECORDS_BENCH_ARGS="$args" \
	"$HERE/harness/run-guest.sh" "$env" "$initrd" "$logf" || status=1

sed -n '/^records-bench: json begin$/,/^records-bench: json end$/p' "$logf" | sed '1d;$d' \
	>"$OUT/w7-results.json"
others=$(awk -v b="$(($(host_busy) - busy0))" -v k="$(($(children_cpu) - kids0))" \
	-v w0="$wall0" -v w1="$(date +%s.%N)" -v hz="$(getconf CLK_TCK)" \
	'BEGIN { printf "%.0f", 100 * (b - k) / hz / (w1 - w0) }')
table=$(sed -n '/^records-bench: table begin$/,/^records-bench: table end$/p' "$logf" | sed '1d;$d')
[ -n "$table" ] || die "no W7 table in the guest log ($logf)"
cpus=$(sed -n 's/^records-bench: kernel [^,]*, \([0-9]*\) CPUs.*/\1/p' "$logf")
rev=$(git -C "$HERE/.." rev-parse --short HEAD 2>/dev/null || echo unknown)
changed=$(git -C "$HERE/.." status --porcelain -- server native 2>/dev/null | wc -l)
[ "$changed" != 0 ] && rev="$rev + $changed uncommitted files in server/ and native/"
host_cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
name=W7 result=w7-guest.md
case " $args " in
*" --tls "*) name=W7-TLS result=w7-tls-guest.md ;;
esac
report=$(cat <<EOF
# $name hot-key fan-out in a qemu guest

$(date -u '+%Y-%m-%d %H:%M UTC'); guest: Debian kernel $kabi, $cpus vCPUs (qemu TCG${RECORDS_QEMU_CPU:+ -cpu $RECORDS_QEMU_CPU}, software
emulation, on a $(nproc)-CPU host: $host_cpu; the host's other programs used $others% of
a CPU meanwhile), $mem MiB; memory checkers off. Command: \`bash kmod/bench-guest.sh\`
(\`$(sed -n 's/^ *"command": "\(.*\)",$/\1/p' "$OUT/w7-results.json" | head -n1)\`);
recordcache $rev.
$(grep -m1 '^W7\(-TLS\)\{0,1\} in the guest: ' "$logf" | sed 's/^W7\(-TLS\)\{0,1\} in the guest: //'); the server pinned
to guest CPU 1, the generators and the sampler to CPU 0. Medians over the valid runs;
(×n) = ratio to memcached.

$table

- **server CPU-s per GB**: the server process's utime+stime over the window, per GB of
  values delivered (the runner's figure). Work the kernel does for a backend in kernel
  threads (the kmod backend continues sends from a workqueue) is not in it; the
  **machine** column is: both CPUs' busy time less the generators' own CPU, per GB.
- **peak used-memory growth**: /proc/meminfo used memory (less other processes'
  anonymous memory) at its peak in the run, over the baseline before it: the server plus
  the kernel, socket buffers of both ends included.
- **rates**: W7 itself asks for 500 × 1 MB/s of reading and 2,000 small GETs/s; in this
  guest that saturates CPU 0 (generators, loopback softirqs, the sampler), the small GETs
  fall behind and their p99 becomes the generators' backlog. harness/w7-guest.js scales
  the rates (reading 100 KB/s per connection, 200 small GETs/s) and checks that the
  generators' CPU stayed under 90% and the small GETs kept their rate; \`--exact\` runs
  W7's own rates.
- **valid runs**: every check passed: the runner's (server stats agree with the
  generators' counts, generator processes under 90% CPU, no errors, nothing else held
  the server's CPU, all 500 connections open) and the guest's two (the generators' CPU
  under 90% busy, the small GETs at their rate). A run failing one is repeated once;
  if it fails again it is left out of the medians, and the row says why.
- TCG runs every instruction in software, at a different cost ratio from hardware for
  user code, system calls and memory copies; the figures compare servers in the same
  guest, not with the host's bench/results.
EOF
)
echo "$report"
if [ "$save" = 1 ]; then
	mkdir -p "$HERE/results"
	echo "$report" >"$HERE/results/$result"
	log "wrote $HERE/results/$result"
fi
log "bench-guest: $(($(date +%s) - t0)) s (log: $logf, results: $OUT/w7-results.json)"
exit $status
