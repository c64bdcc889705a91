#!/usr/bin/env bash
# The test suite: installs its peers, checks formatting and vet, runs every
# test (unit, store conformance, the real Caddy binary end to end), each
# fuzz target briefly, and each benchmark once so they keep compiling.
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

fuzz() { go test -run '^$' -fuzz "^$2\$" -fuzztime "${FUZZTIME:-5s}" "$1"; }
fuzz ./challenge FuzzSafeReturnPath
fuzz ./identity FuzzLookupResponse
fuzz ./notify FuzzNormalizePhone
fuzz ./challenge FuzzSessionCookie
fuzz ./challenge FuzzFormInput
fuzz ./caddymodule FuzzUnmarshalCaddyfile

go test -run '^$' -bench . -benchtime 1x ./...
