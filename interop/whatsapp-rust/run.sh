#!/usr/bin/env bash
# Interop check: the real whatsapp-rust 0.7.0 client against wa-emulator (pair via QR, 515
# restart, text both ways). Builds this non-workspace crate (own Cargo.lock) and the emulator.
# Bounded to ~2 minutes once built; exits non-zero on any failure.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$here"

# WA_EMULATOR_BIN: use an already built binary instead of building one
bin="${WA_EMULATOR_BIN:-}"
if [ -z "$bin" ]; then
  cargo build -q -p wa-emulator --manifest-path "$root/Cargo.toml"
  bin="${CARGO_TARGET_DIR:-$root/target}/debug/wa-emulator"
fi
# The harness has its own target directory unless WR_TARGET_DIR says otherwise.
wr_target="${WR_TARGET_DIR:-$here/target}"
CARGO_TARGET_DIR="$wr_target" cargo build -q --locked --manifest-path "$here/Cargo.toml"
harness="$wr_target/debug/wa-interop-whatsapp-rust"

work="$(mktemp -d)"
emu_pid=""
cleanup() {
  if [ -n "$emu_pid" ]; then kill "$emu_pid" 2>/dev/null || true; wait "$emu_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

"$bin" --listen 127.0.0.1:0 >"$work/emu.out" 2>"$work/emu.err" &
emu_pid=$!
for _ in $(seq 1 100); do
  [ -s "$work/emu.out" ] && break
  kill -0 "$emu_pid" 2>/dev/null || { cat "$work/emu.err"; echo "wa-emulator exited"; exit 1; }
  sleep 0.1
done
line="$(head -n1 "$work/emu.out")"
[ -n "$line" ] || { cat "$work/emu.err"; echo "no startup line from wa-emulator"; exit 1; }
field() { printf '%s' "$line" | sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p"; }
ws_url="$(field ws_url)"
control_url="$(field control_url)"

me=15550001111
peer=15550002222
curl -fsS -XPOST "$control_url/control/accounts" -d "{\"phone\":\"$me\",\"push_name\":\"WR\"}" >/dev/null
curl -fsS -XPOST "$control_url/control/accounts" -d "{\"phone\":\"$peer\",\"push_name\":\"Peer\"}" >/dev/null
curl -fsS "$control_url/control/tls_cert" | sed -n 's/.*"pem":"\(.*\)".*/\1/p' | sed 's/\\n/\n/g' >"$work/media.pem"

status=0
WS_URL="$ws_url" CONTROL_URL="$control_url" ME="$me" PEER="$peer" DB="$work/wr.db" \
  MEDIA_CA="$work/media.pem" timeout 120 "$harness" || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- wa-emulator log (tail)"; tail -n 60 "$work/emu.err"
  echo "whatsapp-rust interop FAILED (exit $status)"
  exit "$status"
fi
echo "whatsapp-rust interop passed"
