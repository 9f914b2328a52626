#!/usr/bin/env bash
# Builds the addon with ThreadSanitizer into native/build-tsan/ for the sanitizer test
# (test/records-native-tsan.test.ts). Load it with
#   LD_PRELOAD=$(gcc -print-file-name=libtsan.so) RECORDCACHE_NATIVE_ADDON=native/build-tsan/recordcache_native.node
set -euo pipefail
cd "$(dirname "$0")"
addon_api=$(node -p "require('node-addon-api').include_dir")
node_include=$(node -p "require('path').join(process.execPath, '..', '..', 'include', 'node')")
[ -f "$node_include/node_api.h" ] || node_include=/usr/include/node
mkdir -p build-tsan
# The framer is the records module's parser, plain C.
${CC:-gcc} -std=gnu11 -c -fPIC -g -O1 -fno-omit-frame-pointer -fsanitize=thread \
  ../kmod/records_parse.c -o build-tsan/records_parse.o
${CXX:-g++} -std=c++20 -shared -fPIC -g -O1 -fno-omit-frame-pointer -fsanitize=thread -fno-exceptions \
  -DNAPI_VERSION=8 -DNAPI_DISABLE_CPP_EXCEPTIONS -DNODE_ADDON_API_DISABLE_DEPRECATED \
  -I"$node_include" -I"$addon_api" -I../kmod/include/uapi -I../kmod \
  src/*.cc build-tsan/records_parse.o \
  -o build-tsan/recordcache_native.node
