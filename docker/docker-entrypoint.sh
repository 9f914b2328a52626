#!/bin/sh
# As the official memcached image's entrypoint: a first argument that is an option
# (`docker run IMAGE -m 1024`) is for the server; anything else runs as a command
# (`docker run -it IMAGE sh`).
set -e

if [ "${1#-}" != "$1" ]; then
	set -- recordcache "$@"
fi

exec "$@"
