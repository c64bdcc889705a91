#!/usr/bin/env bash
# The test suite: installs its peers, checks formatting and vet, runs every
# test (unit, store conformance, the real Caddy binary end to end), each
# fuzz target for a fixed number of inputs, and each benchmark once so they
# keep compiling.
set -euo pipefail
cd "$(dirname "$0")"

./scripts/install-test-deps.sh

# Caddy writes autosave.json and a local CA under these: keep them here.
export XDG_CONFIG_HOME="$PWD/.xdg/config" XDG_DATA_HOME="$PWD/.xdg/data"

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [[ -n "$unformatted" ]]; then
	echo "gofmt needed on:" >&2
	echo "$unformatted" >&2
	exit 1
fi
go vet ./...

go test -count=1 -race $(go list ./... | grep -v /caddymodule)
go test -count=1 ./caddymodule/...

# Each fuzz target for a fixed number of inputs, never a time limit: a
# deadline on a loaded machine fails for nothing. ./scripts/fuzz.sh runs
# them for minutes.
grep -v '^#' scripts/fuzz-targets | while read -r pkg target; do
	[[ -n "$pkg" ]] || continue
	go test -run '^$' -fuzz "^${target}\$" -fuzztime "${FUZZ_INPUTS:-2000}x" "$pkg"
done

go test -run '^$' -bench . -benchtime 1x ./...
