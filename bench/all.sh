#!/usr/bin/env bash
# npm run bench: the memcached rows (bench/run.ts, given every argument), then the HTTP
# rows H1-H4 (bench/http.ts, quick when --quick is given) and the broadcast rows B1-B3
# (bench/broadcast.ts, one run each when quick). Arguments that pick workloads, or ask
# for help, run the memcached rows alone.
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsx bench/run.ts "$@"
quick=0
for arg in "$@"; do
  case "$arg" in
  --workloads | --crosscheck-only | --help | -h) exit 0 ;;
  --quick) quick=1 ;;
  esac
done
if [ "$quick" = 1 ]; then
  npx tsx bench/http.ts --quick
  npx tsx bench/broadcast.ts --runs 1
else
  npx tsx bench/http.ts
  npx tsx bench/broadcast.ts
fi
