#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# debug-kernel.sh - the module's guest tests on a kernel built with the checkers on:
# KASAN (generic, inline), kmemleak, lockdep (PROVE_LOCKING), DEBUG_ATOMIC_SLEEP,
# DEBUG_LIST and debug objects.  Debian ships no such kernel, so this builds one.
#
#  1. install the build dependencies and linux-source-6.1 (Debian's 6.1 source, with
#     Debian's patches) when missing;
#  2. configure it: x86_64_defconfig with harness/debug-kernel.config merged over it;
#  3. build it under .cache/debug-kernel/build (about an hour on 2 busy cores; skipped when
#     the image is newer than its configuration);
#  4. build records.ko against it, failing on any warning, and the selftests;
#  5. boot it under qemu and run the selftests, the stress rounds, the no-leak check and
#     the unload test (guest/init), then a kmemleak scan; fail on any KASAN, lockdep,
#     kmemleak, debug-objects, BUG or WARNING report (run-guest.sh).
#
# Not part of npm test: the kernel build alone takes longer than CI allows.
# Environment: RECORDS_DEBUG_JOBS (make -j, default nproc), RECORDS_QEMU_TIMEOUT
# (default 5400 s here: TCG under KASAN is slow), RECORDS_QEMU_MEM (default 2048 MiB:
# KASAN's shadow and quarantine), and what run-guest.sh reads (RECORDS_TESTS,
# RECORDS_FILTER, RECORDS_STRESS).

set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/harness/lib.sh"

t0=$(date +%s)
mkdir -p "$OUT"
need qemu-system-x86_64 qemu-system-x86 cpio cpio gcc gcc make make bc bc flex flex \
	bison bison xz xz-utils
dpkg -s libelf-dev libssl-dev >/dev/null 2>&1 || need_dev=1
if [ -n "${need_dev:-}" ] || [ ! -f /usr/src/linux-source-6.1.tar.xz ]; then
	log "installing linux-source-6.1 libelf-dev libssl-dev (log: $APT_LOG)"
	apt_update
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		linux-source-6.1 libelf-dev libssl-dev >>"$APT_LOG" 2>&1 ||
		{ apt_log_tail; die "apt-get install linux-source-6.1 failed"; }
fi

dir=$CACHE/debug-kernel
src=$dir/linux-source-6.1
build=$dir/build
tarball=/usr/src/linux-source-6.1.tar.xz
# A new linux-source package replaces the unpacked tree.
if [ ! -f "$src/Makefile" ] || [ "$tarball" -nt "$src/Makefile" ]; then
	log "unpacking $tarball"
	rm -rf "$src"
	mkdir -p "$dir"
	tar -xf "$tarball" -C "$dir"
	touch "$src/Makefile"
fi

# The configuration, regenerated each run and put in place only when it changed, so
# make's timestamps stay meaningful.
mkdir -p "$build"
frag=$HERE/harness/debug-kernel.config
cfg=$dir/config.new
rm -rf "$dir/config-tmp"
mkdir -p "$dir/config-tmp"
(cd "$src" && ARCH=x86 ./scripts/kconfig/merge_config.sh -m -O "$dir/config-tmp" \
	arch/x86/configs/x86_64_defconfig "$frag" && make -s O="$dir/config-tmp" olddefconfig) \
	>"$dir/config.log" 2>&1 || { cat "$dir/config.log" >&2; die "configuring the kernel failed"; }
cp "$dir/config-tmp/.config" "$cfg"
rm -rf "$dir/config-tmp"
# Every option the fragment sets must have kept its value (a missing dependency drops it).
for want in KASAN=y KASAN_INLINE=y DEBUG_KMEMLEAK=y PROVE_LOCKING=y DEBUG_ATOMIC_SLEEP=y \
	    DEBUG_LIST=y DEBUG_OBJECTS_WORK=y STREAM_PARSER=y MODULE_UNLOAD=y; do
	grep -qx "CONFIG_$want" "$cfg" || die "CONFIG_$want did not survive olddefconfig"
done
if ! cmp -s "$cfg" "$build/.config"; then
	cp "$cfg" "$build/.config"
fi

image=$build/arch/x86/boot/bzImage
if [ ! -f "$image" ] || [ ! -f "$build/Module.symvers" ] || [ "$build/.config" -nt "$image" ] || [ "$src/Makefile" -nt "$image" ]; then
	log "building the debug kernel (log: $dir/build.log)"
	tb=$(date +%s)
	nice -n 19 make -C "$src" O="$build" -j"${RECORDS_DEBUG_JOBS:-$(nproc)}" bzImage modules \
		>"$dir/build.log" 2>&1 || { tail -n 40 "$dir/build.log" >&2; die "kernel build failed"; }
	log "debug kernel built in $(($(date +%s) - tb)) s"
fi
t_kernel=$(date +%s)

kabi=$(make -s -C "$src" O="$build" kernelrelease 2>/dev/null | tail -n1)
[ -n "$kabi" ] || die "cannot read the debug kernel's release"
env=$dir/env
cat >"$env" <<EOF
KABI=$kabi
KDIR=$build
VMLINUZ=$image
EOF

ko=$("$HERE/harness/build.sh" module "$env")
"$HERE/harness/build.sh" tests
initrd=$OUT/initramfs-debug.cpio.gz
"$HERE/harness/make-initramfs.sh" "$initrd" "$kabi=$ko"

logf=$OUT/guest-$kabi.log
status=0
# KASAN replaces the SLUB red zones and poisoning of the Debian kernels' runs.
RECORDS_KDEBUG=0 RECORDS_QEMU_TIMEOUT=${RECORDS_QEMU_TIMEOUT:-5400} RECORDS_QEMU_MEM=${RECORDS_QEMU_MEM:-2048} \
	"$HERE/harness/run-guest.sh" "$env" "$initrd" "$logf" || status=1
t_end=$(date +%s)

leaks=$(grep -c 'unreferenced object' "$logf" || true)
log "summary ($((t_end - t0)) s: kernel $((t_kernel - t0)) s, module, tests and guest $((t_end - t_kernel)) s)"
log "  kernel $kabi: $(grep -E '^CONFIG_(KASAN_GENERIC|KASAN_INLINE|DEBUG_KMEMLEAK|PROVE_LOCKING|DEBUG_ATOMIC_SLEEP|DEBUG_LIST|DEBUG_OBJECTS)=y' "$build/.config" | sed 's/^CONFIG_//; s/=y$//' | tr '\n' ' ')"
log "  kmemleak: $leaks unreferenced objects; $(grep -m1 -o 'debug_locks: *[0-9]*' "$logf" || echo 'no lockdep line')"
if [ $status = 0 ]; then
	log "  $kabi: PASS (no KASAN, lockdep, kmemleak, BUG or WARNING report)"
else
	log "  $kabi: FAIL (log: $logf)"
fi
exit $status
