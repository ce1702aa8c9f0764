#!/bin/sh
# Installs what the tests run beside our code:
#   - node packages from the committed package-lock.json into tests/peers/node_modules (npm ci):
#     the JSON-RPC peers of tests/interop.rs, the OpenRPC meta-schema and ajv
#     (tests/discovery.rs), playwright-core (tests/explorer.rs)
#   - Python packages pinned in tests/peers/requirements.txt (pip)
#   - Chromium, for tests/explorer.rs (Debian's package, with apt-get, when
#     neither $CHROMIUM nor /usr/bin/chromium is there)
#   - redis-server and nats-server, the brokers of tests/backplane.rs (Debian's
#     packages, with apt-get, when missing; the tests start and stop their own)
# Idempotent, and quick when everything is already in place.
# Environment: NODE, NPM and PYTHON name the programs (default node, npm, python3).
set -eu
cd "$(dirname "$0")"
NODE=${NODE:-node}
NPM=${NPM:-npm}
PYTHON=${PYTHON:-python3}

for tool in "$NODE" "$NPM" "$PYTHON"; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "tests/peers/install.sh: \`$tool\` is not installed (the interoperability tests need node, npm and python3)" >&2
        exit 1
    fi
done

# node: `npm ci` wipes and reinstalls node_modules, so run it only when the
# lock file differs from the one the last install used.
stamp=node_modules/.installed-package-lock.json
if [ -f "$stamp" ] && cmp -s package-lock.json "$stamp"; then
    echo "tests/peers: node packages up to date"
else
    echo "tests/peers: npm ci"
    "$NPM" ci --no-audit --no-fund --loglevel=error
    cp package-lock.json "$stamp"
fi

# Python: install only when a pinned version is missing.
if "$PYTHON" - <<'PY'
import sys
from importlib.metadata import PackageNotFoundError, version

missing = []
with open("requirements.txt") as f:
    for line in f:
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, wanted = line.split("==")
        try:
            if version(name) != wanted:
                missing.append(line)
        except PackageNotFoundError:
            missing.append(line)
sys.exit(1 if missing else 0)
PY
then
    echo "tests/peers: Python packages up to date"
else
    echo "tests/peers: pip install -r requirements.txt"
    "$PYTHON" -m pip install --disable-pip-version-check --root-user-action=ignore -q -r requirements.txt
fi

# A real browser for the explorer page's test.
if [ -n "${CHROMIUM:-}" ] && [ -x "$CHROMIUM" ]; then
    echo "tests/peers: browser $CHROMIUM"
elif [ -x /usr/bin/chromium ] || [ -x /usr/bin/chromium-browser ] || [ -x /usr/bin/google-chrome ]; then
    echo "tests/peers: browser found"
elif command -v apt-get >/dev/null 2>&1; then
    echo "tests/peers: apt-get install chromium"
    sudo=""
    # Never a password prompt: without root or password-less sudo, it fails.
    if [ "$(id -u)" != 0 ]; then sudo="sudo -n"; fi
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null \
        || { $sudo apt-get update -q >/dev/null && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }
else
    echo "tests/peers/install.sh: no Chromium (set CHROMIUM to a Chromium or Chrome binary; tests/explorer.rs needs one)" >&2
    exit 1
fi

# The brokers of the backplane tests.
missing=""
[ -x /usr/bin/redis-server ] || command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
[ -x /usr/sbin/nats-server ] || [ -x /usr/bin/nats-server ] || command -v nats-server >/dev/null 2>&1 || missing="$missing nats-server"
if [ -z "$missing" ]; then
    echo "tests/peers: brokers found"
elif command -v apt-get >/dev/null 2>&1; then
    echo "tests/peers: apt-get install$missing"
    sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo -n"; fi
    # shellcheck disable=SC2086
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >/dev/null \
        || { $sudo apt-get update -q >/dev/null && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >/dev/null; }
    # A package may start its own service: the tests use their own ports.
else
    echo "tests/peers/install.sh: missing$missing (tests/backplane.rs needs them)" >&2
    exit 1
fi
