#!/usr/bin/env bash
# The demo: builds Caddy with caddy2fa (./xcaddy.sh), then runs the sample
# legacy app on 127.0.0.1:9000 and Caddy with Caddyfile.example in front of
# it on http://localhost:8080/. Ctrl-C stops both. State lives in ./.demo.
set -euo pipefail
cd "$(dirname "$0")"

# Rebuild Caddy when any Go source is newer than the binary.
if [[ ! -x ./caddy ]] || [[ -n "$(find . -name '*.go' -newer ./caddy -print -quit)" ]] || [[ go.mod -nt ./caddy ]]; then
	./xcaddy.sh
fi
mkdir -p .demo/bin .demo/data
go build -o .demo/bin/legacyapp ./examples/legacyapp/cmd/legacyapp

export XDG_CONFIG_HOME="$PWD/.demo/xdg/config" XDG_DATA_HOME="$PWD/.demo/xdg/data"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

.demo/bin/legacyapp -listen 127.0.0.1:9000 &
pids+=($!)
./caddy run --config Caddyfile.example --adapter caddyfile &
pids+=($!)

sleep 1
cat <<'TXT'

  caddy2fa demo is running.

  Open   http://localhost:8080/
  Users  alice / alice-demo   (org admin)
         bob   / bob-demo
         carol / carol-demo

  After the app's login you are asked to set up a method: a passkey (your
  device's screen lock or a security key), or an authenticator app (scan
  the QR code, or type the key shown, then enter its code). Save the
  recovery codes shown next.
  Log out and in again: you are asked for a code, not to enroll again.

  Ctrl-C stops the demo. Its state is in ./.demo (delete it to start over).

TXT
wait -n "${pids[@]}"
