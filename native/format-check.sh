#!/usr/bin/env bash
# The C++ must be as clang-format leaves it (native/.clang-format), the engine's fuzz harness
# (fuzz/hits) included; the C framer and its harness keep the kernel's style instead. Pinned to Debian 12's
# clang-format 14: other versions format some constructs differently. Installs it when
# missing (as root, from Debian).
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v clang-format-14 >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "native/format-check.sh: clang-format-14 is missing; run as root to install it" >&2
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang-format-14 >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang-format-14 >/dev/null; }
fi
clang-format-14 --dry-run --Werror src/*.cc src/*.h
clang-format-14 --style=file:.clang-format --dry-run --Werror ../fuzz/hits/*.cc
