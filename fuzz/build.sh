#!/usr/bin/env bash
# Builds the libFuzzer harnesses with clang, AddressSanitizer and UndefinedBehaviorSanitizer
# into fuzz/build/: framer (kmod/records_parse.c) and hits (the native engine's request
# path, native/src). Installs Debian's clang when it is missing (as root).
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v clang++ >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "fuzz/build.sh: clang is missing; run as root to install it" >&2
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang >/dev/null; }
fi
mkdir -p build
# Sanitizer reports abort, so libFuzzer keeps the input that caused them.
sanitize=(-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all)
clang -std=gnu11 "${sanitize[@]}" -I../kmod framer/framer_fuzzer.c -o build/framer_fuzzer
# The engine's request path: the framer, the read index and hit rendering, without sockets.
clang -std=gnu11 -c "${sanitize[@]/-fsanitize=fuzzer,/-fsanitize=fuzzer-no-link,}" ../kmod/records_parse.c \
  -o build/records_parse.o
clang++ -std=c++20 "${sanitize[@]}" -I../native/src -I../kmod hits/hits_fuzzer.cc \
  ../native/src/hit_reply.cc ../native/src/read_index.cc ../native/src/message_body.cc ../native/src/record.cc build/records_parse.o \
  -o build/hits_fuzzer
# Jazzer.js (the decoders and commands fuzzers): its prebuilt fuzzer made to load here.
bash jazzer-compat/patch.sh
