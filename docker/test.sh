#!/usr/bin/env bash
# Builds the top-level Dockerfile and runs the image, with no image registry: the base
# images come from Debian's packages and this machine's Node (docker/base-images.sh),
# the build's npm ci from the npm registry. Then, against the running container:
# set/get (a small value and a 300 KB record), stats and stats settings (the -m and -t
# given after the image name reached the server), the native records backend loaded,
# the server listening on every interface, running as memcache (uid 11211), the
# HEALTHCHECK (and that it follows -s and -B binary, and fails on a server that does not
# answer), the entrypoint running other commands, no build tools in the image, and
# SIGTERM ending it with status 0.
#
# Exit status: 0 all passed; 77 containers cannot be built or run on this machine (the
# last lines say exactly what failed; what could be checked without running was); any
# other: a check failed.
#
# One line per stage; podman's and the installers' output goes to docker/.cache/*.log.
# Needs root (podman's storage, mmdebstrap, apt when podman, runc or mmdebstrap are
# missing). Measured on a busy 2-core machine: the first run about 6 minutes (base
# images 4, the image's build 2), later runs 30 to 70 seconds: the base images stay in
# podman's storage (and their tarballs in docker/.cache/), the build's layers in podman's
# cache.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
cache=${RECORDCACHE_DOCKER_CACHE:-$here/.cache}
mkdir -p "$cache"
image=${RECORDCACHE_DOCKER_IMAGE:-localhost/recordcache:test}
container=recordcache-test-$$

# This machine's kernel cgroups work only with podman's cgroupfs manager and Debian's runc
# (crun rejects them), and containers get no network of their own: they share the host's,
# so the server is given a free port instead of publishing 11211.
podman=(podman --cgroup-manager=cgroupfs)
build_flags=(--isolation chroot --runtime runc)
run_flags=(--runtime runc --network=host --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)

t0=$SECONDS
stage_start=$SECONDS
say() { echo "docker: $*"; }
stage() { stage_start=$SECONDS; say "$*"; }
took() { echo "docker:   ok ($((SECONDS - stage_start)) s)"; }
fail() { echo "docker: FAIL: $*" >&2; exit 1; }
cannot() { echo "docker: CANNOT RUN CONTAINERS HERE: $*" >&2; exit 77; }

cleanup() { "${podman[@]}" rm -f -t 0 "$container" >/dev/null 2>&1 || true; }
trap cleanup EXIT

stage "prerequisites: podman, runc, mmdebstrap"
missing=()
command -v podman >/dev/null 2>&1 || missing+=(podman)
command -v runc >/dev/null 2>&1 || missing+=(runc)
command -v mmdebstrap >/dev/null 2>&1 || missing+=(mmdebstrap)
if [ "${#missing[@]}" -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || cannot "${missing[*]} missing, and installing them needs root"
  say "  installing ${missing[*]} with apt (log: $cache/apt.log)"
  # Waits for another apt or dpkg on the machine instead of failing at once.
  {
    apt-get -o DPkg::Lock::Timeout=300 update &&
      DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "${missing[@]}"
  } >"$cache/apt.log" 2>&1 || cannot "apt-get install ${missing[*]} failed: $(tail -n 3 "$cache/apt.log")"
fi
[ "$(id -u)" -eq 0 ] || cannot "podman's storage and mmdebstrap are used as root here; run as root"
took

stage "base images from Debian's packages and Node $(node --version) (cached under $cache)"
bases=$(nice -n 19 bash "$here/base-images.sh") || fail "docker/base-images.sh could not make the base images (above)"
build_image=$(sed -n 's/^BUILD_IMAGE=//p' <<<"$bases")
base_image=$(sed -n 's/^BASE_IMAGE=//p' <<<"$bases")
took

# Whether this machine can run a container at all, told apart from the image failing.
run_error=
if ! run_error=$("${podman[@]}" run --rm "${run_flags[@]}" "$base_image" true 2>&1); then
  say "  a container does not run here: $run_error"
else
  run_error=
fi

stage "podman build (log: $cache/build.log)"
# --format docker: the OCI format has no HEALTHCHECK, and podman would drop it.
if ! nice -n 19 "${podman[@]}" build "${build_flags[@]}" --format docker \
  --build-arg BUILD_IMAGE="$build_image" --build-arg BASE_IMAGE="$base_image" \
  -t "$image" -f "$root/Dockerfile" "$root" >"$cache/build.log" 2>&1; then
  tail -n 30 "$cache/build.log" >&2
  if grep -q 'error running container\|runc\|crun\|cgroup' "$cache/build.log"; then
    cannot "podman build cannot run the Dockerfile's RUN steps here (log above)"
  fi
  fail "podman build failed (log above)"
fi
size=$("${podman[@]}" image inspect --format '{{.Size}}' "$image")
took
say "  image $image: $((size / 1000000)) MB"

stage "image configuration: user, port, healthcheck, entrypoint"
config=$("${podman[@]}" image inspect --format \
  'user={{.Config.User}} ports={{json .Config.ExposedPorts}} entrypoint={{json .Config.Entrypoint}} cmd={{json .Config.Cmd}} health={{json .Config.Healthcheck}}' "$image")
for want in 'user=memcache ' '"11211/tcp"' 'entrypoint=["docker-entrypoint.sh"]' 'cmd=["recordcache"]' 'healthcheck.cjs'; do
  [[ $config == *"$want"* ]] || fail "the image's configuration lacks $want: $config"
done
took

if [ -n "$run_error" ]; then
  # What can be checked without running: the runtime files are in the image.
  stage "image filesystem (containers cannot run here)"
  mnt=$("${podman[@]}" image mount "$image")
  for f in usr/local/bin/node usr/local/bin/recordcache usr/local/bin/docker-entrypoint.sh \
    opt/recordcache/dist/server/cli.js opt/recordcache/native/build/Release/recordcache_native.node \
    opt/recordcache/docker/healthcheck.cjs; do
    [ -e "$mnt/$f" ] || { "${podman[@]}" image unmount "$image" >/dev/null; fail "the image has no /$f"; }
  done
  grep -q '^memcache:x:11211:11211:' "$mnt/etc/passwd" || fail "the image has no memcache user (uid 11211)"
  "${podman[@]}" image unmount "$image" >/dev/null
  took
  cannot "the image builds and holds what it runs, but no container runs on this machine: $run_error"
fi

free_port() {
  node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}
port=$(free_port)

stage "run: IMAGE -p $port -m 1024 -t 4 (the server's flags after the image name)"
# Without systemd podman cannot schedule the HEALTHCHECK (it says so on stderr, into the
# log); `podman healthcheck run` below runs it all the same.
"${podman[@]}" run -d --name "$container" "${run_flags[@]}" "$image" -p "$port" -m 1024 -t 4 >"$cache/run.log" 2>&1 ||
  fail "podman run failed: $(cat "$cache/run.log")"
# Until it answers, or gives up.
for _ in $(seq 1 100); do
  if node -e 'require("net").connect(+process.argv[1], "127.0.0.1").on("connect", () => process.exit(0)).on("error", () => process.exit(1))' "$port"; then
    break
  fi
  state=$("${podman[@]}" inspect --format '{{.State.Status}}' "$container")
  [ "$state" = running ] || fail "the container stopped ($state): $("${podman[@]}" logs "$container" 2>&1 | tail -n 20)"
  sleep 0.2
done
logs=$("${podman[@]}" logs "$container" 2>&1)
[[ $logs == *"recordcache: records backend native"* ]] ||
  fail "the server did not start on the native records backend: $logs"
took

stage "memcached protocol: set, get, a 300 KB record, stats, stats settings"
node - "$port" <<'EOF' || fail "the memcached conversation failed (above)"
// One connection, requests in order, each reply checked whole.
const net = require('node:net');
const port = Number(process.argv[2]);
const big = Buffer.alloc(300000, 'r');
const steps = [
  [`set small 5 0 5\r\nhello\r\n`, (r) => r === 'STORED\r\n'],
  ['get small\r\n', (r) => r === 'VALUE small 5 5\r\nhello\r\nEND\r\n'],
  [Buffer.concat([Buffer.from(`set big 0 0 ${big.length}\r\n`), big, Buffer.from('\r\n')]), (r) => r === 'STORED\r\n'],
  ['get big\r\n', (r) => r === `VALUE big 0 ${big.length}\r\n${big.toString('latin1')}\r\nEND\r\n`],
  ['stats\r\n', (r) => /\r\nSTAT threads 4\r\n/.test(r) && /\r\nSTAT curr_items 2\r\n/.test(r) && /\r\nSTAT get_hits 2\r\n/.test(r)],
  ['stats settings\r\n', (r) => /(^|\r\n)STAT maxbytes 1073741824\r\n/.test(r) && r.includes(`\r\nSTAT tcpport ${port}\r\n`)],
];
const complete = (r) => /(^|\r\n)(END|STORED|ERROR[^\r]*|CLIENT_ERROR[^\r]*|SERVER_ERROR[^\r]*)\r\n$/.test(r);
const socket = net.connect(port, '127.0.0.1');
let reply = '';
let step = 0;
const timer = setTimeout(() => { console.error(`no whole reply to step ${step} within 10 s: ${JSON.stringify(reply.slice(0, 200))}`); process.exit(1); }, 10000);
socket.on('connect', () => socket.write(steps[0][0]));
socket.on('data', (data) => {
  reply += data.toString('latin1');
  if (!complete(reply)) return;
  if (!steps[step][1](reply)) {
    console.error(`step ${step}: unexpected reply ${JSON.stringify(reply.length > 400 ? reply.slice(0, 400) + '...' : reply)}`);
    process.exit(1);
  }
  reply = '';
  if (++step === steps.length) { clearTimeout(timer); socket.end(); return; }
  socket.write(steps[step][0]);
});
socket.on('error', (err) => { console.error(err.message); process.exit(1); });
EOF
took

stage "the server runs as memcache (uid 11211) and listens on every interface"
pid=$("${podman[@]}" inspect --format '{{.State.Pid}}' "$container")
cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline")
[[ $cmdline == *node*/recordcache\ -p\ "$port"* ]] || fail "the container's first process is not the server: $cmdline"
uids=$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$pid/status")
[ "$uids" = "11211 11211 11211 11211" ] || fail "the server's uids (real, effective, saved, fs) are $uids, not memcache's 11211"
exec_uid=$("${podman[@]}" exec "$container" id -u)
[ "$exec_uid" = 11211 ] || fail "podman exec runs as uid $exec_uid, not 11211"
# /proc/net/tcp{,6} of the server's network namespace: the port bound to 0.0.0.0 or ::, listening (0A).
porthex=$(printf '%04X' "$port")
grep -qE "^ *[0-9]+: (00000000|0{32}):$porthex 0{8,32}:0000 0A " "/proc/$pid/net/tcp" "/proc/$pid/net/tcp6" ||
  fail "port $port is not listened on every interface: $(grep -h ":$porthex " "/proc/$pid/net/tcp" "/proc/$pid/net/tcp6" || true)"
took

stage "HEALTHCHECK (podman healthcheck run)"
health=$("${podman[@]}" healthcheck run "$container" 2>&1) || fail "the healthcheck failed: $health"
took

stage "HEALTHCHECK follows the server's flags (-s, -B binary) and fails on a server that does not answer"
# One container, three servers in turn (on another port: the first container still
# holds $port); each line is what the health check said.
port2=$(free_port)
health=$("${podman[@]}" run --rm --no-healthcheck "${run_flags[@]}" "$image" sh -c '
  check() { node /opt/recordcache/docker/healthcheck.cjs 2>/dev/null && echo "$1 healthy" || echo "$1 unhealthy"; }
  # Healthy within 10 s of starting (a busy machine starts Node slowly), or not at all.
  up() { i=0; while [ $i -lt 40 ]; do node /opt/recordcache/docker/healthcheck.cjs 2>/dev/null && return 0; sleep 0.25; i=$((i + 1)); done; return 1; }
  recordcache -p 0 -s /tmp/rc.sock & pid=$!; up && echo "unix healthy" || echo "unix unhealthy"; kill $pid; wait $pid
  recordcache -p '"$port2"' -l 127.0.0.1 -B binary & pid=$!; up && echo "binary healthy" || echo "binary unhealthy"; kill $pid; wait $pid
  recordcache -p '"$port2"' -l 127.0.0.1 & pid=$!; up; kill -STOP $pid; check stopped; kill -CONT $pid; kill $pid; wait $pid
  check none' 2>/dev/null) || true
want=$'unix healthy\nbinary healthy\nstopped unhealthy\nnone unhealthy'
[ "$health" = "$want" ] || fail "the health check said: $(tr '\n' ',' <<<"$health") (wanted: $(tr '\n' ',' <<<"$want"))"
took

stage "the entrypoint runs other commands; no build tools or node_modules in the image"
who=$("${podman[@]}" run --rm --no-healthcheck "${run_flags[@]}" "$image" id -un)
[ "$who" = memcache ] || fail "a command in the image runs as $who, not memcache"
extra=$("${podman[@]}" run --rm --no-healthcheck "${run_flags[@]}" "$image" sh -c \
  'for p in gcc g++ cc make python3 npm npx node-gyp; do command -v $p; done; ls -d /opt/recordcache/node_modules 2>/dev/null; true')
[ -z "$extra" ] || fail "the runtime image holds build tools: $extra"
took

stage "SIGTERM (podman stop) ends the server with status 0"
"${podman[@]}" stop -t 10 "$container" >>"$cache/run.log" 2>&1 || fail "podman stop failed: $(tail -n 3 "$cache/run.log")"
status=$("${podman[@]}" inspect --format '{{.State.ExitCode}}' "$container")
[ "$status" = 0 ] || fail "the server exited with status $status after SIGTERM: $("${podman[@]}" logs "$container" 2>&1 | tail -n 5)"
took

say "PASS: built and ran $image in $((SECONDS - t0)) s"
