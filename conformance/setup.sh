#!/usr/bin/env bash
# Installs the reference programs the conformance suite runs against:
# memcached (the reference server), memccapable and the other libmemcached
# tools, curl (a client of the HTTP listener), the Python clients pymemcache
# and pylibmc, twemproxy (nutcracker), and
# Cyrus SASL's saslpasswd2 with the PLAIN and sasldb plugins (the SASL cases of
# binary.test.ts; they fail without them unless RECORDCACHE_ALLOW_MISSING=sasl).
# Idempotent and quick when both are already present. The suite starts its own
# memcached processes on free loopback ports, so Debian's memcached service is
# never needed; it is kept from starting on install.
set -euo pipefail

need_install=0
for program in memcached memccapable memccp nutcracker saslpasswd2 curl faketime; do
  if ! command -v "$program" >/dev/null 2>&1; then
    need_install=1
  fi
done
/usr/bin/python3 -c 'import pymemcache, pylibmc' >/dev/null 2>&1 || need_install=1
# Cyrus SASL loads these as plugins: nothing on PATH shows they are missing.
for plugin in libplain.so.2 libsasldb.so.2; do
  [ -e "/usr/lib/x86_64-linux-gnu/sasl2/$plugin" ] || need_install=1
done
[ "$need_install" -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "conformance/setup.sh: memcached, its tools, curl, the Python clients, nutcracker or Cyrus SASL (saslpasswd2 and its plugins) are missing; run as root to install them" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive

# A policy-rc.d answering 101 stops dpkg from starting the memcached service.
policy=/usr/sbin/policy-rc.d
added_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  added_policy=1
fi
remove_policy() { if [ "$added_policy" -eq 1 ]; then rm -f "$policy"; fi; }
trap remove_policy EXIT

packages=(curl memcached libmemcached-tools python3-pymemcache python3-pylibmc nutcracker sasl2-bin libsasl2-modules libsasl2-modules-db faketime)
# apt's and dpkg's output goes to a log, not the test output: one line here, the log's
# last lines if it fails.
log=$(cd "$(dirname "$0")" && pwd)/setup.log
echo "conformance/setup.sh: installing ${packages[*]} with apt (log: $log)"
if ! { apt-get update && apt-get install -y "${packages[@]}"; } >"$log" 2>&1; then
  tail -n 20 "$log" >&2
  echo "conformance/setup.sh: apt-get failed (log: $log)" >&2
  exit 1
fi
