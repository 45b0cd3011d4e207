#!/bin/bash
# Installs and starts what the tests need on a fresh Debian 12 machine (as
# root), and does nothing that is already done: git, python3, the Docker
# engine (docker.io, started with systemd or as `dockerd &`), pebble (an ACME
# server the tests start themselves), Prometheus (the metrics test starts
# its own), a single-node
# Swarm advertising 127.0.0.1, busybox-static, the local test images, and
# an S3-compatible server (moto, from PyPI) on 127.0.0.1:5599.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v git >/dev/null 2>&1 || need+=(git)
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
# pebble and pebble-challtestsrv: the ACME server the certificate tests run.
command -v pebble-challtestsrv >/dev/null 2>&1 || need+=(pebble)
# Prometheus: the metrics test starts one that scrapes the daemon.
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
if [ ${#need[@]} -gt 0 ]; then
    echo "==> installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
    if [ -d /run/systemd/system ]; then
        systemctl start docker
    else
        echo "==> starting dockerd (log: /var/log/skypanel-test-dockerd.log)"
        nohup dockerd >/var/log/skypanel-test-dockerd.log 2>&1 &
    fi
    for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
    docker info >/dev/null 2>&1 || { echo "the Docker engine did not start; see /var/log/skypanel-test-dockerd.log" >&2; exit 1; }
fi
if [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" != "active" ]; then
    echo "==> docker swarm init"
    docker swarm init --advertise-addr 127.0.0.1 >/dev/null
fi
echo "==> test images"
sh tests/images/build.sh

# The S3-compatible server the artifact-store tests use.
S3_PORT=${SKYPANEL_TEST_S3_PORT:-5599}
if ! python3 -c "import moto.server, flask" >/dev/null 2>&1; then
    echo "==> pip install moto[server]"
    if ! python3 -m pip --version >/dev/null 2>&1; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pip >/dev/null
    fi
    # Debian's own python3 refuses pip installs unless told (PEP 668).
    python3 -m pip install -q 'moto[server]' || python3 -m pip install -q --break-system-packages 'moto[server]'
fi
if ! python3 -c "import socket,sys; s=socket.socket(); s.settimeout(1); sys.exit(s.connect_ex(('127.0.0.1', $S3_PORT)))"; then
    echo "==> starting moto_server on 127.0.0.1:$S3_PORT (log: /var/log/skypanel-test-moto.log)"
    nohup python3 -m moto.server -H 127.0.0.1 -p "$S3_PORT" >/var/log/skypanel-test-moto.log 2>&1 &
    for _ in $(seq 1 60); do
        python3 -c "import socket,sys; s=socket.socket(); s.settimeout(1); sys.exit(s.connect_ex(('127.0.0.1', $S3_PORT)))" && break
        sleep 0.5
    done
    python3 -c "import socket,sys; s=socket.socket(); s.settimeout(1); sys.exit(s.connect_ex(('127.0.0.1', $S3_PORT)))" \
        || { echo "moto_server did not start; see /var/log/skypanel-test-moto.log" >&2; exit 1; }
fi
