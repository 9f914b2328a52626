#!/usr/bin/env bash
# Installs what the benchmarks need: memcached (the reference server), memcaslap
# (libmemcached-tools, the outside cross-check), a C compiler for the load
# generator, OpenSSL's headers and the openssl command (the TLS workloads: the generator
# links libssl, the runner makes a certificate), taskset/prlimit (util-linux), and for
# the HTTP rows nginx (its memcached module is built in: the anchor) and wrk (a second
# HTTP load generator, to check autocannon is not the limit). Idempotent and quick when
# all are present. Debian's memcached and nginx services are kept from starting on
# install: the benchmarks start their own processes.
set -euo pipefail

missing=()
command -v memcached >/dev/null 2>&1 || missing+=(memcached)
command -v memcaslap >/dev/null 2>&1 || missing+=(libmemcached-tools)
command -v "${CC:-cc}" >/dev/null 2>&1 || missing+=(gcc)
[ -e /usr/include/stdio.h ] || missing+=(libc6-dev)
[ -e /usr/include/openssl/ssl.h ] || missing+=(libssl-dev)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
{ command -v taskset >/dev/null 2>&1 && command -v prlimit >/dev/null 2>&1; } || missing+=(util-linux)
[ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "bench/setup.sh: missing ${missing[*]}; run as root to install them" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive

# A policy-rc.d answering 101 stops dpkg from starting the memcached and nginx services.
policy=/usr/sbin/policy-rc.d
added_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  added_policy=1
fi
remove_policy() { if [ "$added_policy" -eq 1 ]; then rm -f "$policy"; fi; }
trap remove_policy EXIT

# apt's and dpkg's output goes to a log, not the test output: one line here, the log's
# last lines if it fails.
log=$(cd "$(dirname "$0")" && pwd)/setup.log
echo "bench/setup.sh: installing ${missing[*]} with apt (log: $log)"
if ! { apt-get update && apt-get install -y --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
  tail -n 20 "$log" >&2
  echo "bench/setup.sh: apt-get failed (log: $log)" >&2
  exit 1
fi
