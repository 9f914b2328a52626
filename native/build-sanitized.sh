#!/usr/bin/env bash
# Builds the addon with a sanitizer for the sanitizer tests: `address` into native/build-asan/
# (test/records-native-asan.test.ts), `thread` into native/build-tsan/
# (test/records-native-tsan.test.ts). Load a build with, for example,
#   LD_PRELOAD=$(gcc -print-file-name=libasan.so) RECORDCACHE_NATIVE_ADDON=native/build-asan/recordcache_native.node
set -euo pipefail
case "${1:-}" in
address) out=build-asan ;;
thread) out=build-tsan ;;
*)
	echo "usage: $0 address|thread" >&2
	exit 2
	;;
esac
cd "$(dirname "$0")"
addon_api=$(node -p "require('node-addon-api').include_dir")
node_include=$(node -p "require('path').join(process.execPath, '..', '..', 'include', 'node')")
[ -f "$node_include/node_api.h" ] || node_include=/usr/include/node
mkdir -p "$out"
# The framer is the records module's parser, plain C.
${CC:-gcc} -std=gnu11 -c -fPIC -g -O1 -fno-omit-frame-pointer -fsanitize="$1" \
  ../kmod/records_parse.c -o "$out/records_parse.o"
# HTTP requests: llhttp, generated from its npm package (tools/llhttp-generate.js); hidden, as in
# binding.gyp, or node's own llhttp (another version, exported by the node binary) is bound instead.
llhttp_objects=()
for source in $(node tools/llhttp-generate.js gen/llhttp); do
	object="$out/llhttp_$(basename "$source" .c).o"
	${CC:-gcc} -std=gnu11 -c -fPIC -g -O1 -fno-omit-frame-pointer -fsanitize="$1" -fvisibility=hidden -Igen/llhttp "$source" -o "$object"
	llhttp_objects+=("$object")
done
${CXX:-g++} -std=c++20 -shared -fPIC -g -O1 -fno-omit-frame-pointer -fsanitize="$1" -fno-exceptions \
  -DNAPI_VERSION=8 -DNAPI_DISABLE_CPP_EXCEPTIONS -DNODE_ADDON_API_DISABLE_DEPRECATED \
  -I"$node_include" -I"$addon_api" -I../kmod/include/uapi -I../kmod -Igen/llhttp \
  src/*.cc "$out/records_parse.o" "${llhttp_objects[@]}" \
  -o "$out/recordcache_native.node"
