#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# stage-app.sh - lay out the recordcache tree the guest runs, under $OUT/app-e2e or
# $OUT/app-bench.
#
#   stage-app.sh e2e      the server, the native addon, the conformance files (compiled
#                         to JS by the project's own `tsc`, in dist/conformance), the
#                         Python client round, and the node_modules packages mocha and
#                         the npm clients (memjs, memcached) need
#   stage-app.sh bench    the same plus the benchmark runner (dist/bench) and a static
#                         loadgen, for the W7 guest benchmark
#
# Prints the directory.  The guest gets it as /app:
#
#   /app/package.json
#   /app/dist/server/...                    node dist/server/cli.js
#   /app/dist/test/records-contract.test.js the records contract suite
#   /app/dist/test/records-library.test.js  the records library's, for kmod
#   /app/native/build/Release/*.node        the addon, where the server looks for it
#   /app/conformance/{lib,*.test.js}        from dist/conformance: servers.js finds the
#                                           CLI at ../../dist/server/cli.js, as in the repo
#   /app/conformance/clients/round.py       the Python clients' round
#   /app/dist/conformance/lib/*.js          the same library, for dist/test's imports
#   /app/node_modules/{mocha,memjs,...}     the dependency closure of mocha, memjs, memcached
#   /app/kmod/e2e-reporter.js               mocha's spec reporter, every failure in full
#   /app/bench/{lib,run.js,loadgen/loadgen.c,build/loadgen}   (bench only)
#   /app/kmod/{w7-guest.js,w7-table.js}                       (bench only)
#
# Nothing is compiled here except the static loadgen: dist/ is what `npm run build`
# (and npm test's pretest) made, the addon what `npm install` / node-gyp made.  A dist/
# older than its sources is reported, not rebuilt (the other engineer's build is theirs).

set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

what=${1:?usage: stage-app.sh e2e|bench}
REPO=$(cd "$KMOD/.." && pwd)

# Every conformance file: the scripted cases, close paths, ASCII auth, UDP, TLS, the
# command line, memccapable, the real clients and the random sequences (guest/e2e.sh
# sets their count).  The guest has what each needs (kmod/test.sh packs memcached,
# libmemcached's tools, nutcracker, Cyrus SASL, openssl and Python with its clients).
# RECORDS_E2E_FILES overrides the list (names without .test.ts).
E2E_FILES=${RECORDS_E2E_FILES:-"text-storage text-retrieval text-modify text-admin text-framing text-limits text-options meta binary close-paths ascii-auth udp tls command-line memccapable clients random random-mixed"}

[ -f "$REPO/dist/server/cli.js" ] ||
	die "$REPO/dist/server/cli.js is missing: run \`npm run build\` first"
addons=$(ls "$REPO"/native/build/Release/*.node 2>/dev/null || true)
[ -n "$addons" ] ||
	die "no native/build/Release/*.node: run \`npx node-gyp rebuild -C native\` first"

# dist/ is the project's build; say so when a source is newer than it.
stale=$(find "$REPO/server" "$REPO/conformance" "$REPO/bench" -name '*.ts' \
	-newer "$REPO/dist/server/cli.js" 2>/dev/null | head -n3)
[ -n "$stale" ] && log "warning: dist/ is older than $(echo "$stale" | tr '\n' ' ')(npm run build)"

app=$OUT/app-$what
rm -rf "$app"
mkdir -p "$app/dist" "$app/native/build/Release" "$app/conformance/lib" "$app/node_modules"

cp "$REPO/package.json" "$app/"
# JS only: source maps are not read at run time.
(cd "$REPO/dist" && find server -name '*.js' | cpio -pdm --quiet "$app/dist")
cp $addons "$app/native/build/Release/"

cp "$REPO"/dist/conformance/lib/*.js "$app/conformance/lib/"
# dist/test/*.js import ../conformance/lib from dist/.
mkdir -p "$app/dist/conformance/lib"
cp "$REPO"/dist/conformance/lib/*.js "$app/dist/conformance/lib/"
mkdir -p "$app/conformance/clients"
cp "$REPO"/conformance/clients/*.py "$app/conformance/clients/"
for f in $E2E_FILES; do
	js=$REPO/dist/conformance/$f.test.js
	[ -f "$js" ] || die "$js is missing: run \`npm run build\` first"
	[ "$REPO/conformance/$f.test.ts" -nt "$js" ] && log "warning: $js is older than its source"
	cp "$js" "$app/conformance/"
done
# The records contract suite: against js, native and, with /dev/records there, kmod; and
# the records library's contract tests, which run for kmod alone where /dev/records is.
mkdir -p "$app/dist/test"
cp "$REPO/dist/test/records-contract.test.js" "$REPO/dist/test/records-library.test.js" "$app/dist/test/"

# mocha and the npm clients, and what they require, resolved the way node resolves them
# (nested copies too).
(cd "$REPO" && node -e '
const fs = require("fs"), path = require("path");
const seen = new Set();
function visit(name, from) {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const p = path.join(dir, "node_modules", name);
    if (fs.existsSync(path.join(p, "package.json"))) {
      if (seen.has(p)) return;
      seen.add(p);
      const pj = JSON.parse(fs.readFileSync(path.join(p, "package.json"), "utf8"));
      for (const d of Object.keys(pj.dependencies || {})) visit(d, p);
      return;
    }
    if (path.dirname(dir) === dir) throw new Error(`${name} (needed by ${from}) is not installed`);
  }
}
for (const name of ["mocha", "memjs", "memcached"]) visit(name, process.cwd());
for (const p of seen) console.log(path.relative(process.cwd(), p));
') | while read -r pkg; do
	mkdir -p "$app/$(dirname "$pkg")"
	# A nested node_modules is its own entry in the list: copy the package without it.
	(cd "$REPO/$pkg" && find . -path ./node_modules -prune -o -type f ! -name '*.map' ! -name '*.md' -print |
		cpio -pdm --quiet "$app/$pkg")
done

mkdir -p "$app/kmod"
cp "$HERE/e2e-reporter.js" "$app/kmod/"

if [ "$what" = bench ]; then
	mkdir -p "$app/bench/loadgen" "$app/bench/build"
	(cd "$REPO/dist/bench" && find . -name '*.js' | cpio -pdm --quiet "$app/bench")
	cp "$REPO/bench/loadgen/loadgen.c" "$app/bench/loadgen/"
	# Static: the guest has no libc of its own beyond what node brings.  With TLS (--tls)
	# where Debian's libssl-dev is installed, OpenSSL linked in statically too.
	lg=$OUT/loadgen-static
	tls=() tlslibs=()
	if [ -f /usr/include/openssl/ssl.h ] && [ -f /usr/lib/x86_64-linux-gnu/libssl.a ]; then
		tls=(-DLOADGEN_TLS) tlslibs=(-lssl -lcrypto)
	fi
	if [ ! -x "$lg" ] || [ "$REPO/bench/loadgen/loadgen.c" -nt "$lg" ]; then
		gcc -static -O2 -g -Wall -Wextra -pthread "${tls[@]}" -o "$lg" "$REPO/bench/loadgen/loadgen.c" "${tlslibs[@]}" 2>&1 |
			grep -v 'statically linked applications\|dlopen\|getaddrinfo\|gethostbyname\|in function' >&2 || true
		[ -x "$lg" ] && [ "$lg" -nt "$REPO/bench/loadgen/loadgen.c" ] || die "building the static loadgen failed"
	fi
	cp "$lg" "$app/bench/build/loadgen"
	# The runner rebuilds a loadgen older than its source: this one is not.
	touch "$app/bench/build/loadgen"
	cp "$HERE/w7-table.js" "$HERE/w7-guest.js" "$app/kmod/"
	# A throw-away certificate for w7-guest.js --tls (the guest has no openssl).
	mkdir -p "$app/tls"
	openssl ecparam -name prime256v1 -genkey -noout -out "$app/tls/server.key" 2>/dev/null &&
		openssl req -x509 -new -key "$app/tls/server.key" -out "$app/tls/server.crt" -days 2 \
			-subj /CN=localhost -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' 2>/dev/null ||
		log "no openssl: w7-guest.js --tls will not start"
fi

log "staged $what app: $(du -sh "$app" | cut -f1) ($(find "$app" -type f | wc -l) files)"
echo "$app"
