#!/bin/sh
# Builds SkyPanel from this checkout, installs the binary, initialises the data
# dir and starts the daemon (through systemd when it runs). Safe to run again:
# it rebuilds, reinstalls and restarts, and `admin init` changes nothing that exists.
#
#   PREFIX=/usr/local  SKYPANEL_DATA_DIR=/var/lib/skypanel  SKYPANEL_LISTEN=127.0.0.1:7780  ./install.sh
set -eu

cd "$(dirname "$0")"
PREFIX=${PREFIX:-/usr/local}
DATA_DIR=${SKYPANEL_DATA_DIR:-/var/lib/skypanel}
LISTEN=${SKYPANEL_LISTEN:-127.0.0.1:7780}

if [ "$(id -u)" -ne 0 ]; then
    echo "install.sh installs into $PREFIX and $DATA_DIR: run it as root (sudo ./install.sh)" >&2
    exit 1
fi
if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo was not found: install a Rust toolchain (1.85 or newer, e.g. with rustup) and run ./install.sh again" >&2
    exit 1
fi
missing=""
command -v git >/dev/null 2>&1 || missing="$missing git"
command -v dockerd >/dev/null 2>&1 || missing="$missing docker.io"
if [ -n "$missing" ]; then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "please install:$missing (then run ./install.sh again)" >&2
        exit 1
    fi
    echo "==> installing$missing"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi
if ! docker info >/dev/null 2>&1; then
    echo "==> starting the Docker engine"
    if [ -d /run/systemd/system ]; then
        systemctl enable --now docker
    else
        nohup dockerd >/var/log/dockerd.log 2>&1 &
    fi
    for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
fi

echo "==> building skypanel (release)"
cargo build --release --locked
install -d "$PREFIX/bin"
install -m 0755 target/release/skypanel "$PREFIX/bin/skypanel"
echo "==> installed $PREFIX/bin/skypanel ($("$PREFIX/bin/skypanel" --version))"

for f in completions/skypanel.bash:/usr/share/bash-completion/completions/skypanel \
         completions/_skypanel:/usr/share/zsh/vendor-completions/_skypanel \
         completions/skypanel.fish:/usr/share/fish/vendor_completions.d/skypanel.fish; do
    src=${f%%:*}; dst=${f#*:}
    if [ -d "$(dirname "$dst")" ]; then install -m 0644 "$src" "$dst"; fi
done

echo "==> initialising $DATA_DIR"
# On the first run this creates the first admin and saves a login for root.
"$PREFIX/bin/skypanel" admin init --data-dir "$DATA_DIR" --login "http://$LISTEN"

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    sed -e "s|/usr/local/bin/skypanel|$PREFIX/bin/skypanel|" \
        -e "s|SKYPANEL_DATA_DIR=.*|SKYPANEL_DATA_DIR=$DATA_DIR|" \
        -e "s|SKYPANEL_LISTEN=.*|SKYPANEL_LISTEN=$LISTEN|" \
        packaging/skypanel.service > /etc/systemd/system/skypanel.service
    systemctl daemon-reload
    systemctl enable skypanel >/dev/null 2>&1
    systemctl restart skypanel
    echo "==> skypanel.service is running (systemctl status skypanel; journalctl -u skypanel)"
else
    echo "==> systemd is not running here, so nothing was started. Start the daemon with:"
    echo "    skypanel daemon --listen $LISTEN --data-dir $DATA_DIR &"
fi
echo "==> then: skypanel whoami"
