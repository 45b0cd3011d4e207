#!/bin/sh
# Builds the local test images from Debian's busybox-static (no registry is
# reachable): a FROM-scratch image with a shell, httpd (with CGI) and wget.
#   skypanel-test/web:1, :2   serve "web vN" at / and the environment at /cgi-bin/env
#   skypanel-test/unhealthy   runs but never listens (fails every check)
#   skypanel-test/crash       exits at start
#   skypanel-test/slow        listens only after 6 seconds
#   skypanel-test/herokuish   a stand-in buildpack builder/runner (herokuish's contract)
# Builds only what is missing unless --force is given.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
busybox=/bin/busybox   # Debian's busybox-static installs a static binary here
[ -x "$busybox" ] || { echo "busybox-static is missing: apt-get install busybox-static" >&2; exit 1; }

force=${1:-}
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp "$busybox" "$ctx/busybox"
cp "$here/Dockerfile" "$here/env.cgi" "$ctx/"
hctx=$(mktemp -d)
trap 'rm -rf "$ctx" "$hctx"' EXIT
cp "$busybox" "$hctx/busybox"
cp "$here/herokuish/Dockerfile" "$here/herokuish/build" "$here/herokuish/start" "$here/herokuish/exec" "$hctx/"

build() { # tag, [--context DIR], build args…
    tag=$1; shift
    if [ "$force" != "--force" ] && docker image inspect "$tag" >/dev/null 2>&1; then return 0; fi
    echo "building $tag"
    dir=$ctx
    if [ "${1:-}" = "--context" ]; then dir=$2; shift 2; fi
    if ! docker build -q -t "$tag" --label skypanel.test=1 "$@" "$dir" >"$ctx/log" 2>&1; then
        cat "$ctx/log" >&2
        exit 1
    fi
}
build skypanel-test/web:1 --build-arg VERSION=1
build skypanel-test/web:2 --build-arg VERSION=2
build skypanel-test/unhealthy --build-arg MODE=unhealthy
build skypanel-test/crash --build-arg MODE=crash
build skypanel-test/slow --build-arg MODE=slow
build skypanel-test/herokuish --context "$hctx"
