# recordcache in a container, in the manner of the official memcached image:
#
#   docker build -t recordcache .
#   docker run -d --name cache -p 11211:11211 recordcache -m 1024 -t 4
#
# Arguments after the image name are memcached's flags; the server listens on every
# interface of the container by default, as memcached does. Two stages: the first builds
# the TypeScript and the native addon (npm, a compiler, Node's headers), the second holds
# only what runs (Node, dist/server, bin/, the addon) and runs it as the user memcache.
#
# The base images are arguments, so that a machine without an image registry can bring
# its own (docker/test.sh builds both from Debian's packages and this machine's Node).
# The addon is built in BUILD_IMAGE and loaded in BASE_IMAGE: keep the two on the same
# C library (both Debian 12 here).
ARG BUILD_IMAGE=node:20-bookworm
ARG BASE_IMAGE=node:20-bookworm-slim

FROM ${BUILD_IMAGE} AS build
WORKDIR /src
# Dependencies first, so that a change to the sources reuses this layer.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY docker/tsconfig.json docker/
COPY server server
COPY bin bin
COPY native/binding.gyp native/
COPY native/tools native/tools
COPY native/src native/src
COPY kmod/include/uapi kmod/include/uapi
COPY kmod/records_parse.c kmod/records_parse.h kmod/
# node-gyp would download Node's headers; Node's own installation carries them (official
# node images and docker/test.sh's base both have include/node beside bin/node), so point
# it there and build offline. npm install goes on without the addon (package.json's
# install script); the image must not, or it would serve on the js backend.
RUN set -eu; \
    prefix=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")"); \
    if [ -f "$prefix/include/node/node_api.h" ]; then export npm_config_nodedir="$prefix"; fi; \
    node_modules/.bin/node-gyp rebuild -C native; \
    test -f native/build/Release/recordcache_native.node; \
    node_modules/.bin/tsc -p docker/tsconfig.json

FROM ${BASE_IMAGE}
# The official memcached image's user and group (uid and gid 11211).
RUN groupadd --system --gid 11211 memcache && \
    useradd --system --gid memcache --uid 11211 --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin memcache
WORKDIR /opt/recordcache
# The server requires only Node's built-in modules at run time (node-addon-api is the
# addon's build-time headers), so no node_modules. Everything stays owned by root: the
# server only reads it.
COPY --from=build /src/package.json ./
COPY --from=build /src/bin bin
COPY --from=build /src/dist/server dist/server
COPY --from=build /src/native/build/Release/recordcache_native.node native/build/Release/
COPY docker/docker-entrypoint.sh /usr/local/bin/
COPY docker/healthcheck.cjs docker/
RUN ln -s /opt/recordcache/bin/recordcache /usr/local/bin/recordcache

USER memcache
EXPOSE 11211
# `version` to the address and port the server was started with; healthy on `VERSION`.
HEALTHCHECK --interval=30s --timeout=5s --start-period=5s --retries=3 \
    CMD ["node", "/opt/recordcache/docker/healthcheck.cjs"]
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["recordcache"]
