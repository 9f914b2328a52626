#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# test.sh - build the records module and prove it in a guest: the one entry point.
#
#  1. install what is missing from Debian (qemu, cpio, pahole for the 6.12 headers);
#  2. download Debian 12's kernels and headers into .cache/ (the 6.1 kernel it ships,
#     and the 6.12 kernel bookworm-security carries, which has sendmsg(MSG_SPLICE_PAGES)
#     instead of sendpage), resolving their ABI names, installing nothing;
#  3. build records.ko against both, failing on any warning;
#  4. run the framing parser's host unit test;
#  5. build the static selftests, pack one initramfs;
#  6. boot each kernel under qemu and run the selftests, the module unload test and
#     the no-leak check inside it;
#  7. with RECORDS_E2E=1 (npm test sets it): recordcache end to end in the same guests,
#     the scripted conformance cases against Debian's memcached (harness/guest/e2e.sh).
#
# Exits 0 only if every step passed on every kernel.  Everything downloaded or built
# lives under kmod/.cache/ (gitignored); a second run reuses it.
#
# Environment:
#   RECORDS_KERNELS  kernels to boot (default "6.1 6.12"; 6.12 is skipped with a notice
#                    if Debian stops offering it).  Both are always built.
#   RECORDS_TESTS    selftest programs to run in the guest (default all)
#   RECORDS_FILTER   test-name words passed to each selftest program
#   RECORDS_GUEST_NODE, RECORDS_GUEST_ADD, RECORDS_GUEST_HOOKS, RECORDS_GUEST_BINS: see
#                    harness/make-initramfs.sh
#   RECORDS_E2E=1    also pack Node, dist/, the native addon, memcached and the scripted
#                    conformance cases, and run them in the guest after the selftests
#   RECORDS_E2E_BACKEND  the records backend the e2e stage runs the server with
#                    (default below: E2E_BACKEND)
#   RECORDS_E2E_KERNELS  kernels whose guest runs the e2e stage (default: every booted one)
#   RECORDS_E2E_GREP     only the conformance cases whose title matches
#   RECORDS_E2E_SEQUENCES, RECORDS_E2E_SEED  random sequences in the guest (guest/e2e.sh)

set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/harness/lib.sh"

# The records backend of the guest end to end stage: the one word to change.
E2E_BACKEND=kmod

t0=$(date +%s)
mkdir -p "$OUT"

need qemu-system-x86_64 qemu-system-x86 cpio cpio gcc gcc make make pahole pahole
if ! echo 'int main(void) { return 0; }' | gcc -static -x c -o /dev/null - 2>/dev/null; then
	need_pkg=libc6-dev
	log "installing $need_pkg for static linking (log: $APT_LOG)"
	apt_update
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need_pkg >>"$APT_LOG" 2>&1 ||
		{ apt_log_tail; die "apt-get install $need_pkg failed"; }
fi

# Kernels: 6.1 must be there; 6.12 when Debian offers it.  A kernel that could not be
# had is a NOTICE line in the summary, so a run on fewer kernels says so at its end.
envs=()
notices=()
env61=$("$HERE/harness/fetch-kernel.sh" 6.1)
envs+=("$env61")
if env612=$("$HERE/harness/fetch-kernel.sh" 6.12 2>"$OUT/fetch-6.12.log"); then
	envs+=("$env612")
else
	notices+=("NOTICE 6.12: Debian no longer serves it here (linux-image-6.12-amd64); not built, not booted (log: $OUT/fetch-6.12.log)")
	log "notice: no 6.12 kernel from Debian here; building and testing on 6.1 only"
	cat "$OUT/fetch-6.12.log" >&2
fi
t_fetch=$(date +%s)

mods=()
for env in "${envs[@]}"; do
	ko=$("$HERE/harness/build.sh" module "$env")
	mods+=("$(. "$env"; echo "$KABI")=$ko")
done
t_build=$(date +%s)

# The framing parser, in user space, before any boot.
gcc -O2 -g -Wall -Werror -fsanitize=address,undefined -o "$OUT/parse_host" \
	"$HERE/selftests/parse_host.c" "$HERE/records_parse.c"
"$OUT/parse_host" >"$OUT/parse_host.log" 2>&1 || { cat "$OUT/parse_host.log"; die "parser unit test failed"; }
log "parser unit test: $(tail -n1 "$OUT/parse_host.log")"

"$HERE/harness/build.sh" tests
initrd=$OUT/initramfs.cpio.gz
e2e=${RECORDS_E2E:-0}
if [ "$e2e" = 1 ]; then
	# What the conformance files run in the guest besides Node (stage-app.sh E2E_FILES).
	need memcached memcached zstd zstd memccapable libmemcached-tools nutcracker nutcracker \
		saslpasswd2 sasl2-bin openssl openssl
	app=$("$HERE/harness/stage-app.sh" e2e)
	python=$("$HERE/harness/stage-python.sh")
	hooks=$OUT/hooks-e2e
	rm -rf "$hooks"
	mkdir -p "$hooks"
	cp "$HERE/harness/guest/e2e.sh" "$hooks/"
	# Hooks of a caller's own RECORDS_GUEST_HOOKS run too.
	if [ -n "${RECORDS_GUEST_HOOKS:-}" ]; then
		cp "$RECORDS_GUEST_HOOKS"/*.sh "$hooks/"
	fi
	export RECORDS_GUEST_NODE=1 RECORDS_GUEST_HOOKS=$hooks
	guest_bins="/usr/bin/memcached /usr/bin/memccapable /usr/bin/memccp /usr/bin/memccat /usr/bin/memcstat"
	guest_bins="$guest_bins /usr/bin/memcrm /usr/bin/memcflush $(command -v nutcracker) $(command -v saslpasswd2)"
	guest_bins="$guest_bins $(command -v openssl) /usr/bin/python3"
	export RECORDS_GUEST_BINS="$guest_bins ${RECORDS_GUEST_BINS:-}"
	# Cyrus SASL's plugins (PLAIN, sasldb) for memcached -S and saslpasswd2; openssl's
	# configuration for the test CA (conformance/lib/tls-ca.ts); Python's library.
	sasl_plugins=/usr/lib/x86_64-linux-gnu/sasl2
	[ -e "$sasl_plugins/libplain.so.2" ] && [ -e "$sasl_plugins/libsasldb.so.2" ] ||
		die "no Cyrus SASL PLAIN and sasldb plugins in $sasl_plugins (bash conformance/setup.sh installs them)"
	export RECORDS_GUEST_ADD="$app:/app $python $sasl_plugins:$sasl_plugins $(readlink -f /usr/lib/ssl/openssl.cnf):/usr/lib/ssl/openssl.cnf ${RECORDS_GUEST_ADD:-}"
	export RECORDS_E2E_BACKEND=${RECORDS_E2E_BACKEND:-$E2E_BACKEND}
	initrd=$OUT/initramfs-e2e.cpio
fi
"$HERE/harness/make-initramfs.sh" "$initrd" "${mods[@]}"
t_pack=$(date +%s)

boot=${RECORDS_KERNELS:-6.1 6.12}
results=()
booted=()
status=0
for env in "${envs[@]}"; do
	# shellcheck disable=SC1090
	kabi=$(. "$env"; echo "$KABI")
	series=${kabi%%.*}.$(echo "$kabi" | cut -d. -f2)
	case " $boot " in
	*" $series "*) ;;
	*) results+=("$kabi: built, not booted"); continue ;;
	esac
	label=
	run_hooks=${RECORDS_HOOKS:-}
	if [ "$e2e" = 1 ]; then
		case " ${RECORDS_E2E_KERNELS:-$boot} " in
		*" $series "*) label=" (with e2e, --records=$RECORDS_E2E_BACKEND)" ;;
		*)	# Every hook but e2e.
			if [ -z "$run_hooks" ]; then
				run_hooks=$(cd "$hooks" && ls -- *.sh | sed 's/\.sh$//' | { grep -vx e2e || true; } | tr '\n' ' ')
				run_hooks=${run_hooks:-none}
			fi ;;
		esac
	fi
	booted+=("$kabi")
	if RECORDS_HOOKS=$run_hooks "$HERE/harness/run-guest.sh" "$env" "$initrd" "$OUT/guest-$kabi.log"; then
		results+=("$kabi: PASS$label")
	else
		results+=("$kabi: FAIL$label (log: $OUT/guest-$kabi.log)")
		status=1
	fi
	if [ -n "$label" ]; then
		summary=$(sed -n 's/^records-e2e: SUMMARY //p' "$OUT/guest-$kabi.log" | tail -n1)
		results+=("  e2e: ${summary:-no SUMMARY line: the e2e stage did not finish}")
	fi
done
t_end=$(date +%s)

log "summary ($((t_end - t0)) s: fetch $((t_fetch - t0)) s, build $((t_build - t_fetch)) s," \
    "tests+initramfs $((t_pack - t_build)) s, guests $((t_end - t_pack)) s)"
log "  kernels booted: ${booted[*]:-none} (asked for: $boot)"
for r in "${results[@]}"; do
	log "  $r"
done
for n in ${notices[@]+"${notices[@]}"}; do
	log "  $n"
done
exit $status
