#!/usr/bin/env bash
# Real-browser end-to-end test of the wa-http web UI.
#
# Installs what it needs if missing (Debian chromium, playwright-core from npm), starts
# `wa-http --demo` on 127.0.0.1 port 0 with a temporary data directory, and drives the UI in
# headless chromium: create a session, see its QR code, let the simulated phone scan it, see
# WORKING, send a text and an image, find both in the simulated recipient's inbox, restart with
# a new QR, stop/start/delete, check a phone-sized layout. Screenshots go to ui-artifacts/.
#
# Environment: WA_HTTP_BIN (a built wa-http; default: cargo build -p wa-http),
# UI_ARTIFACTS (default: <repo>/ui-artifacts).
set -euo pipefail
cd "$(dirname "$0")"
HERE=$PWD
ROOT=$(cd ../../.. && pwd)

if [ ! -x /usr/bin/chromium ]; then
    echo "ui-tests: installing chromium" >&2
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
if [ ! -d node_modules/playwright-core ]; then
    echo "ui-tests: installing playwright-core" >&2
    if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
fi

if [ -z "${WA_HTTP_BIN:-}" ]; then
    (cd "$ROOT" && cargo build -p wa-http)
    WA_HTTP_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/wa-http"
fi
ARTIFACTS="${UI_ARTIFACTS:-$ROOT/ui-artifacts}"
mkdir -p "$ARTIFACTS"

WORK=$(mktemp -d)
"$WA_HTTP_BIN" --demo --listen 127.0.0.1:0 --data "$WORK/data" >"$WORK/stdout.log" 2>"$WORK/stderr.log" &
PID=$!
cleanup() {
    kill "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    cp "$WORK/stderr.log" "$ARTIFACTS/wa-http.log" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

URL=""
for _ in $(seq 1 300); do
    URL=$(sed -n 's/^wa-http listening on \(http:\/\/[^ ]*\)$/\1/p' "$WORK/stdout.log" | head -n1)
    [ -n "$URL" ] && break
    if ! kill -0 "$PID" 2>/dev/null; then
        echo "ui-tests: wa-http exited early" >&2
        cat "$WORK/stderr.log" >&2
        exit 1
    fi
    sleep 0.2
done
[ -n "$URL" ] || { echo "ui-tests: wa-http did not start" >&2; cat "$WORK/stderr.log" >&2; exit 1; }
echo "ui-tests: wa-http --demo at $URL" >&2

WA_HTTP_URL="$URL" UI_ARTIFACTS="$ARTIFACTS" UI_PROFILE="$WORK/profile" node "$HERE/ui-test.mjs"
