#!/bin/sh
# Runs every test: installs the node and Python peers the interoperability
# tests talk to, runs the whole workspace's tests (unit, integration,
# compile-fail ui cases, doctests), then the interoperability tests with
# jsonrpsee's own client (in the benches package, which builds jsonrpsee).
set -eu
cd "$(dirname "$0")/.."
sh tests/peers/install.sh
cargo test --workspace "$@"
cargo test --manifest-path benches/Cargo.toml --test jsonrpsee_subscriptions
