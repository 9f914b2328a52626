#!/bin/bash
# openssl-binding-probe.sh - which OpenSSL does native code loaded into Node reach?
#
# Kernel TLS needs Debian's OpenSSL (built with KTLS; Node's bundled copy is built with
# OPENSSL_NO_KTLS). The node binary exports its own OpenSSL's symbols for addons, so a
# shared object linked against libssl.so.3 is bound to Node's copy, not Debian's.
# This builds one probe three ways, loads each into node (process.dlopen; the probe is no
# addon, its constructor runs and prints before the load is refused), and prints where
# SSL_new came from and the OPENSSLDIR of the library answering:
#
#   linked with -lssl -lcrypto              -> node (Node's OpenSSL)
#   the same, dlopen'ed with RTLD_DEEPBIND  -> libssl.so.3 (Debian's)
#   libssl.a/libcrypto.a linked in, symbols
#   hidden (--exclude-libs,ALL -Bsymbolic)  -> the probe itself (Debian's code)
#
# Needs libssl-dev and a C compiler. Evidence for README.md (TLS, kernel TLS); not a test.
set -euo pipefail
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat >"$dir/probe.c" <<'C'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>
__attribute__((constructor)) static void probe(void)
{
	Dl_info where;
	dladdr((void *)SSL_new, &where);
	fprintf(stderr, "  SSL_new from %s; %s\n", where.dli_fname, OpenSSL_version(OPENSSL_DIR));
}
C
cat >"$dir/deep.c" <<C
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
__attribute__((constructor)) static void deep(void)
{
	if (!dlopen("$dir/probe.so", RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND))
		fprintf(stderr, "%s\n", dlerror());
}
C
cc -shared -fPIC -o "$dir/probe.so" "$dir/probe.c" -lssl -lcrypto
cc -shared -fPIC -o "$dir/deep.so" "$dir/deep.c" -ldl
cc -shared -fPIC -o "$dir/static.so" "$dir/probe.c" -Wl,--exclude-libs,ALL -Wl,-Bsymbolic \
	/usr/lib/x86_64-linux-gnu/libssl.a /usr/lib/x86_64-linux-gnu/libcrypto.a 2>/dev/null
load() {
	node -e "try { process.dlopen({ exports: {} }, '$1') } catch {}" 2>&1
}
echo "node $(node -v), its OpenSSL $(node -p process.versions.openssl); Debian's: $(openssl version)"
echo "linked with -lssl -lcrypto:"
load "$dir/probe.so"
echo "dlopen'ed with RTLD_DEEPBIND:"
load "$dir/deep.so"
echo "static libssl/libcrypto, symbols hidden:"
load "$dir/static.so"
