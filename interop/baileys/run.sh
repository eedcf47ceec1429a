#!/usr/bin/env bash
# Interop check: the real Baileys client against wa-emulator (pair via QR, 515 restart, text both
# ways, image upload over HTTPS). Bounded to ~2 minutes; exits non-zero on any failure.
# Needs Node 20 and `npm ci` done in this directory (the script runs it if node_modules is missing).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$here"
[ -d node_modules/baileys ] || npm ci --no-audit --no-fund

# WA_EMULATOR_BIN: use an already built binary instead of building one
bin="${WA_EMULATOR_BIN:-}"
if [ -z "$bin" ]; then
  cargo build -q -p wa-emulator --manifest-path "$root/Cargo.toml"
  bin="${CARGO_TARGET_DIR:-$root/target}/debug/wa-emulator"
fi

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
field() { node -e 'const o=JSON.parse(process.argv[1]); if(!o[process.argv[2]]) process.exit(1); console.log(o[process.argv[2]])' "$line" "$1"; }
ws_url="$(field ws_url)"
control_url="$(field control_url)"
root_key="$(field root_public_key)"

me=15550001111
peer=15550002222
curl -fsS -XPOST "$control_url/control/accounts" -d "{\"phone\":\"$me\",\"push_name\":\"Baileys\"}" >/dev/null
curl -fsS -XPOST "$control_url/control/accounts" -d "{\"phone\":\"$peer\",\"push_name\":\"Peer\"}" >/dev/null
curl -fsS "$control_url/control/tls_cert" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>process.stdout.write(JSON.parse(s).pem))' >"$work/media.pem"

status=0
WS_URL="$ws_url" CONTROL_URL="$control_url" ROOT_PUBLIC_KEY="$root_key" ME="$me" PEER="$peer" \
  AUTH_DIR="$work/auth" NODE_EXTRA_CA_CERTS="$work/media.pem" \
  timeout 120 node interop.mjs || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- wa-emulator log (tail)"; tail -n 60 "$work/emu.err"
  echo "baileys interop FAILED (exit $status)"
  exit "$status"
fi
echo "baileys interop passed"
