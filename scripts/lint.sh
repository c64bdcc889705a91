#!/usr/bin/env bash
# gofmt, go vet and staticcheck (pinned; fetched from the Go module proxy
# on first use): what every change must pass.
set -euo pipefail
cd "$(dirname "$0")/.."

staticcheck_version=v0.8.2 # staticcheck 2026.2.2

# Every Go file of the checkout (tracked or new), none of the npm ones.
files=$(git ls-files --cached --others --exclude-standard '*.go' 2>/dev/null || find . -name '*.go' -not -path '*/node_modules/*')
unformatted=$(for f in $files; do [[ -e "$f" ]] && echo "$f"; done | xargs gofmt -l)
if [[ -n "$unformatted" ]]; then
	echo "gofmt needed on:" >&2
	echo "$unformatted" >&2
	exit 1
fi
go vet ./...
go run "honnef.co/go/tools/cmd/staticcheck@$staticcheck_version" ./...
