#!/usr/bin/env bash
# Builds ./caddy: Caddy with the caddy2fa modules, using xcaddy.
# Needs only Go (1.26 or later); xcaddy itself is fetched by `go run`.
set -euo pipefail
cd "$(dirname "$0")"
CADDY_VERSION="${CADDY_VERSION:-v2.11.9}"
XCADDY_VERSION="${XCADDY_VERSION:-v0.4.5}"
OUTPUT="${OUTPUT:-./caddy}"
# The "@v0.0.0=./" form builds this checkout without asking the module
# proxy for an unpublished version.
go run "github.com/caddyserver/xcaddy/cmd/xcaddy@${XCADDY_VERSION}" build "$CADDY_VERSION" \
	--with "github.com/caddy2fa/caddy2fa@v0.0.0=./" \
	--output "$OUTPUT"
"$OUTPUT" list-modules | grep -q '^http.handlers.twofactor$' || { echo "xcaddy.sh: the built caddy lacks the twofactor module" >&2; exit 1; }
echo "built $OUTPUT"
