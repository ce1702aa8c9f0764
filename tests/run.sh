#!/bin/sh
# Runs every test: installs the node and Python peers the interoperability
# tests talk to, then runs the whole workspace's tests (unit, integration,
# compile-fail ui cases, doctests).
set -eu
cd "$(dirname "$0")/.."
sh tests/peers/install.sh
cargo test --workspace "$@"
