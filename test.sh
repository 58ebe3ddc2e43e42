#!/bin/sh
# The test command: installs what the tests need on a fresh Debian machine,
# then runs every test (unit, integration, doc).
set -e
cd "$(dirname "$0")"

need_apt=""
for tool in curl openssl; do
    command -v "$tool" >/dev/null 2>&1 || need_apt="$need_apt $tool"
done
if [ -n "$need_apt" ]; then
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $need_apt
fi

cargo test --all-targets
cargo test --doc
# The compiled-out twins of optional modules must keep building.
cargo check --no-default-features
