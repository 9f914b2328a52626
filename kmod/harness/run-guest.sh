#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# run-guest.sh - boot one kernel with the test initramfs under qemu (software
# emulation, TCG) and turn the guest's result into an exit status.
#
#   run-guest.sh ENV INITRAMFS LOG
#
# Passes only when the guest ended through isa-debug-exit with a PASS verdict, every
# test reported PASS, and the guest's kernel log shows no BUG, WARNING, Oops, KASAN,
# lockup or taint beyond the module's own O (out of tree) and E (unsigned).
# Environment: RECORDS_TESTS, RECORDS_FILTER, RECORDS_STRESS, RECORDS_HOOKS (see
# guest/init); RECORDS_E2E_BACKEND, RECORDS_E2E_GREP, RECORDS_E2E_TIMEOUT,
# RECORDS_E2E_SEQUENCES, RECORDS_E2E_SEED (guest/e2e.sh); RECORDS_BENCH_BACKENDS, RECORDS_BENCH_ARGS
# (guest/bench-w7.sh); RECORDS_QEMU_TIMEOUT (seconds, default 3000), RECORDS_QEMU_MEM
# (MiB, default 1024), RECORDS_QEMU_ACCEL (default tcg; kvm where it works),
# RECORDS_QEMU_CPU (qemu's -cpu model, default qemu's own; "max" gives a TCG guest
# AES-NI and PCLMUL, which TLS benchmarks need to be measurable),
# RECORDS_KDEBUG (default 1: the memory checkers on).

set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

env=${1:?usage: run-guest.sh ENV INITRAMFS LOG}
initrd=${2:?}
logf=${3:?}
# shellcheck disable=SC1090
. "$env"

# TCG by default: /dev/kvm may exist without working (nested virtualisation).
accel=${RECORDS_QEMU_ACCEL:-tcg}
# Debian builds no KASAN kernel; what it has instead is turned on: SLUB red zones,
# poisoning and free checks, page poisoning, and KFENCE sampling where compiled in.
# RECORDS_KDEBUG=0 boots without them (the benchmark: red zones and poisoning change
# what memory and CPU figures mean).
append="console=ttyS0 panic=-1 quiet loglevel=5"
if [ "${RECORDS_KDEBUG:-1}" != 0 ]; then
	append="$append slub_debug=FZPU page_poison=1"
	grep -q '^CONFIG_KFENCE=y' "$KDIR/.config" && append="$append kfence.sample_interval=1"
fi
[ -n "${RECORDS_TESTS:-}" ] && append="$append RECORDS_TESTS=${RECORDS_TESTS// /,}"
[ -n "${RECORDS_FILTER:-}" ] && append="$append RECORDS_FILTER=${RECORDS_FILTER// /,}"
[ -n "${RECORDS_STRESS:-}" ] && append="$append RECORDS_STRESS=$RECORDS_STRESS"
# For the hooks (guest/e2e.sh, guest/bench-w7.sh): lists and words travel comma-separated.
for var in RECORDS_HOOKS RECORDS_E2E_BACKEND RECORDS_E2E_GREP RECORDS_E2E_TIMEOUT RECORDS_E2E_SEQUENCES RECORDS_E2E_SEED RECORDS_BENCH_BACKENDS RECORDS_BENCH_ARGS; do
	val=${!var:-}
	[ -n "$val" ] && append="$append $var=${val// /,}"
done

cpu=()
[ -n "${RECORDS_QEMU_CPU:-}" ] && cpu=(-cpu "$RECORDS_QEMU_CPU")
log "booting $KABI ($accel${RECORDS_QEMU_CPU:+, -cpu $RECORDS_QEMU_CPU})"
start=$(date +%s)
timeout -s KILL "${RECORDS_QEMU_TIMEOUT:-3000}" \
	qemu-system-x86_64 -accel "$accel" "${cpu[@]}" -m "${RECORDS_QEMU_MEM:-1024}" -smp 2 \
	-nographic -no-reboot -nic none \
	-kernel "$VMLINUZ" -initrd "$initrd" -append "$append" \
	-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
	</dev/null >"$logf" 2>&1
qemu_rc=$?
secs=$(($(date +%s) - start))

tr -d '\r' <"$logf" >"$logf.txt" && mv "$logf.txt" "$logf"
grep -E '^(ok|not ok) |^records-guest: (RESULT|TIME)|^records-e2e: (SUMMARY|FAIL|\||files|random|cases left|module|leak|processes|rmmod|insmod|no |asked|the kmod)' "$logf" |
	sed 's/^/    /' >&2

fail=0
# isa-debug-exit: qemu exits with (code << 1) | 1; the guest writes 0 on success.
case $qemu_rc in
1)	;;
3)	log "$KABI: the guest reported failures"; fail=1 ;;
137)	log "$KABI: qemu timed out"; fail=1 ;;
*)	log "$KABI: no verdict from the guest (qemu exit $qemu_rc: panic or crash)"; fail=1 ;;
esac
grep -q '^records-guest: VERDICT PASS' "$logf" || fail=1
if grep -q '^records-guest: RESULT .* FAIL' "$logf"; then
	fail=1
fi

# The kernel must not have complained about anything.
bad='(^|[^A-Za-z_])(BUG:|WARNING:|Oops|KASAN|UBSAN|kernel BUG|general protection fault|Call Trace:|refcount_t:|list_(add|del) corruption|ODEBUG:|possible (circular|recursive) locking|inconsistent lock state|suspected memory leak|soft lockup|hard LOCKUP|rcu_sched self-detected stall|rcu: INFO|blocked for more than|Kernel panic|unreferenced object)'
if grep -E "$bad" "$logf" >&2; then
	log "$KABI: the kernel log above has a BUG, WARNING, Oops or similar"
	fail=1
fi
tainted=$(sed -n 's/^records-guest: tainted \([0-9]*\)$/\1/p' "$logf")
# 4096 = O (out-of-tree module), 8192 = E (unsigned module): expected for this module.
if [ -z "$tainted" ] || [ $((tainted & ~(4096 | 8192))) != 0 ]; then
	log "$KABI: kernel taint ${tainted:-unknown} beyond O and E"
	fail=1
fi

if [ $fail = 0 ]; then
	log "$KABI: guest PASS in ${secs}s (log: $logf)"
else
	log "$KABI: guest FAIL in ${secs}s (log: $logf)"
fi
exit $fail
