#!/usr/bin/env bash
# Makes Jazzer.js's prebuilt fuzzer load on Debian 12. @jazzer.js/fuzzer 4.0.0 ships one
# Linux build, linked against glibc 2.38 and GCC 13's libstdc++; it needs three symbols of
# theirs (C23 strtol and strtoul, ios_base_library_init). The prebuilt file is kept as
# .orig, and the copy loaded gets those symbols from shim.cc instead. Nothing is done
# where the prebuilt fuzzer loads as it is.
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=node_modules/@jazzer.js/fuzzer/prebuilds
addon=$dir/fuzzer-linux-x64.node
[ -f "$addon" ] || { echo "fuzz/jazzer-compat/patch.sh: no $addon (npm ci first)" >&2; exit 1; }
node -e "require('./$addon')" 2>/dev/null && exit 0
if ! command -v patchelf >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "fuzz/jazzer-compat/patch.sh: patchelf is missing; run as root to install it" >&2
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq patchelf >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq patchelf >/dev/null; }
fi
[ -f "$addon.orig" ] || cp "$addon" "$addon.orig"
${CXX:-g++} -shared -fPIC -O2 fuzz/jazzer-compat/shim.cc -o "$dir/libjazzer-compat.so"
cp "$addon.orig" "$addon.tmp"
# One change per patchelf call: 0.14 mixes up several in one.
for symbol in __isoc23_strtol __isoc23_strtoul _ZSt21ios_base_library_initv; do
  patchelf --clear-symbol-version "$symbol" "$addon.tmp"
done
patchelf --add-needed libjazzer-compat.so "$addon.tmp"
patchelf --set-rpath '$ORIGIN' "$addon.tmp"
python3 fuzz/jazzer-compat/weaken-version.py "$addon.tmp" GLIBC_2.38
python3 fuzz/jazzer-compat/weaken-version.py "$addon.tmp" GLIBCXX_3.4.32
mv "$addon.tmp" "$addon"
node -e "require('./$addon')"
