#!/bin/bash
# The one command that sets up and runs every test, on a fresh Debian 12 machine
# as root or on one where the tools are already there:
#
#   tests/run.sh
#
# It installs what the tests need (git; later the Docker engine and test peers),
# then checks formatting and lints and runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v git >/dev/null 2>&1 || need+=(git)
command -v python3 >/dev/null 2>&1 || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
    echo "==> installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo was not found: install a Rust toolchain (1.85 or newer)" >&2
    exit 1
fi

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --all-targets --locked -- -D warnings
echo "==> cargo test"
cargo test --locked --no-fail-fast
