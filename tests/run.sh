#!/bin/sh
# Runs every test: installs what the tests run beside our code (the node and
# Python peers of the interoperability tests, the OpenRPC meta-schema,
# TypeScript, Chromium, redis-server and nats-server: tests/peers/install.sh),
# runs the whole workspace's tests (unit, integration,
# compile-fail ui cases, doctests), then the interoperability tests with
# jsonrpsee's own client (in the benches package, which builds jsonrpsee)
# and a short soak under faults (benches/src/soak.rs).
set -eu
cd "$(dirname "$0")/.."
sh tests/peers/install.sh
cargo test --workspace "$@"
cargo test --manifest-path benches/Cargo.toml --test jsonrpsee_subscriptions --test soak
