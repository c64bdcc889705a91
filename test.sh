#!/usr/bin/env bash
# The test suite: installs its peers, lints (gofmt, vet, staticcheck), runs
# every test (unit, store conformance, the real Caddy binary end to end),
# each fuzz target for a fixed number of inputs, and each benchmark once so
# they keep compiling. `make test-unit` is the quick loop without peers.
set -euo pipefail
cd "$(dirname "$0")"

./scripts/install-test-deps.sh

# Caddy writes autosave.json and a local CA under these: keep them here.
export XDG_CONFIG_HOME="$PWD/.xdg/config" XDG_DATA_HOME="$PWD/.xdg/data"

./scripts/lint.sh

# The packages with the race detector; the end-to-end tests (the Caddy
# binary, the browser, a Redis cluster, the emulators) without it, as they
# spend their time in other processes.
go test -count=1 -race $(go list ./... | grep -v -e /caddymodule -e /e2e)
go test -count=1 ./caddymodule/... ./e2e/...

# Each fuzz target for a fixed number of inputs, never a time limit: a
# deadline on a loaded machine fails for nothing. ./scripts/fuzz.sh runs
# them for minutes.
grep -v '^#' scripts/fuzz-targets | while read -r pkg target; do
	[[ -n "$pkg" ]] || continue
	go test -run '^$' -fuzz "^${target}\$" -fuzztime "${FUZZ_INPUTS:-2000}x" "$pkg"
done

go test -run '^$' -bench . -benchtime 1x ./...
