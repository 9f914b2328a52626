#!/usr/bin/env bash
# Makes the two base images the Dockerfile takes, without an image registry: Debian 12
# from Debian's packages (mmdebstrap), with this machine's Node copied in where the
# official node images keep it (/usr/local).
#
#   build:   Debian minbase + g++, make, python3 (node-gyp), Node, npm, Node's headers
#   runtime: Debian minbase + Node
#
# Prints the two image names as BUILD_IMAGE=... and BASE_IMAGE=... lines (stdout).
# Each root filesystem is kept as a tarball under docker/.cache/ (gitignored), named by
# Node's version and this script's contents, so a second run only imports it (or finds
# the image already there). Delete docker/.cache/ to take Debian's newer packages.
# Needs root (mmdebstrap's root mode, podman's storage); mmdebstrap's output goes to
# docker/.cache/base-*.log.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${RECORDCACHE_DOCKER_CACHE:-$here/.cache}
mkdir -p "$cache"

node_bin=$(readlink -f "$(command -v node)")
node_prefix=$(dirname "$(dirname "$node_bin")")
node_version=$(node --version)
# npm beside Node, as Node's own installers put it.
npm_dir=$node_prefix/lib/node_modules/npm
[ -f "$npm_dir/bin/npm-cli.js" ] || { echo "docker/base-images.sh: no npm in $npm_dir" >&2; exit 1; }
# node-gyp downloads these headers unless they are at hand: Node's installation has them
# (Debian and NodeSource: /usr/include/node), or node-gyp's cache from an earlier build.
headers=
for dir in "$node_prefix/include/node" "$HOME/.cache/node-gyp/${node_version#v}/include/node"; do
  if [ -f "$dir/node_api.h" ] && [ -f "$dir/common.gypi" ]; then headers=$dir; break; fi
done
[ -n "$headers" ] || { echo "docker/base-images.sh: Node $node_version's headers are not in $node_prefix/include/node nor node-gyp's cache" >&2; exit 1; }

# The build stage's npm reaches the registry through this machine's TLS trust (which may
# include a local proxy's CA): the build image gets the same bundle; the runtime none.
ca_bundle=$(npm config get cafile 2>/dev/null || true)
case "$ca_bundle" in /*) ;; *) ca_bundle=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt} ;; esac
[ -f "$ca_bundle" ] || { echo "docker/base-images.sh: no CA bundle at $ca_bundle" >&2; exit 1; }

key=node-$node_version-$(sha256sum "$0" | cut -c1-12)

# The host's Debian sources (with its security and update suites) when it has them.
mirror=()
[ -f /etc/apt/sources.list.d/debian.sources ] && mirror=(/etc/apt/sources.list.d/debian.sources)

# As Debian's slim images: no manuals, documentation (but its copyright files) or
# translations, about 50 MB less.
slim=()
for p in '/usr/share/doc/*' '/usr/share/man/*' '/usr/share/info/*' '/usr/share/locale/*' '/usr/share/groff/*' '/usr/share/lintian/*'; do
  slim+=("--dpkgopt=path-exclude=$p")
done
slim+=("--dpkgopt=path-include=/usr/share/doc/*/copyright")

# make_base KIND PACKAGES HOOK [ENV=VALUE]: prints the image name.
make_base() {
  local kind=$1 packages=$2 hook=$3 env=${4:-}
  local image=localhost/recordcache-base:$kind-$key tar=$cache/base-$kind-$key.tar
  if ! podman image exists "$image"; then
    if [ ! -f "$tar" ]; then
      rm -f "$cache/base-$kind-"*.tar # an older recipe's or Node's
      echo "docker: making the $kind base image from Debian's packages (mmdebstrap, log: $cache/base-$kind.log)" >&2
      mmdebstrap --variant=minbase --format=tar --include="$packages" "${slim[@]}" \
        --customize-hook="$hook" bookworm "$tar.tmp" ${mirror[@]+"${mirror[@]}"} >"$cache/base-$kind.log" 2>&1 ||
        { tail -n 20 "$cache/base-$kind.log" >&2; rm -f "$tar.tmp"; exit 1; }
      mv "$tar.tmp" "$tar"
    fi
    # A bare root filesystem has no configuration: give it the PATH and command of
    # Debian's images.
    podman import --quiet \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'CMD ["bash"]' ${env:+--change "ENV $env"} "$tar" "$image" >/dev/null
    # Images of an older recipe or Node: only this script's own names.
    podman images --format '{{.Repository}}:{{.Tag}}' localhost/recordcache-base |
      { grep "^localhost/recordcache-base:$kind-" || true; } | { grep -vxF "$image" || true; } |
      xargs -r podman rmi >/dev/null 2>&1 || true
  fi
  echo "$image"
}

# Hooks run on the host with the new root as $1, before it is packed.
node_hook="install -D -m 755 '$node_bin' \"\$1/usr/local/bin/node\""
build_hook="$node_hook &&
  mkdir -p \"\$1/usr/local/lib/node_modules\" \"\$1/usr/local/include\" &&
  cp -a '$npm_dir' \"\$1/usr/local/lib/node_modules/\" &&
  cp -a '$headers' \"\$1/usr/local/include/node\" &&
  ln -s ../lib/node_modules/npm/bin/npm-cli.js \"\$1/usr/local/bin/npm\" &&
  ln -s ../lib/node_modules/npm/bin/npx-cli.js \"\$1/usr/local/bin/npx\" &&
  install -D -m 644 '$ca_bundle' \"\$1/etc/ssl/certs/ca-certificates.crt\""

# Assigned first: a failure inside $(...) then stops the script.
build_image=$(make_base build passwd,g++,make,python3 "$build_hook" NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt)
base_image=$(make_base runtime passwd "$node_hook")
echo "BUILD_IMAGE=$build_image"
echo "BASE_IMAGE=$base_image"
