#!/usr/bin/env bash
# gofmt, go vet and staticcheck (pinned; fetched from the Go module proxy
# on first use): what every change must pass.
set -euo pipefail
cd "$(dirname "$0")/.."

staticcheck_version=v0.8.2 # staticcheck 2026.2.2

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path '*/testdata/*'))
if [[ -n "$unformatted" ]]; then
	echo "gofmt needed on:" >&2
	echo "$unformatted" >&2
	exit 1
fi
go vet ./...
go run "honnef.co/go/tools/cmd/staticcheck@$staticcheck_version" ./...
