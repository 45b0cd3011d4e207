#!/bin/bash
# The one command that sets up and runs every test, on a fresh Debian 12 machine
# as root or on one where the tools are already there:
#
#   tests/run.sh
#
# It installs and starts what the tests need (tests/setup.sh: git, the Docker
# engine with a one-node Swarm, test images), then checks formatting and lints
# and runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."

tests/setup.sh

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
