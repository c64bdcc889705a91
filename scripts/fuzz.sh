#!/usr/bin/env bash
# Fuzzes every target in scripts/fuzz-targets for a while (FUZZTIME, default
# 2m each), keeping what it finds in each package's testdata/fuzz. Not part
# of ./test.sh, which runs each target for a fixed number of inputs.
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_CONFIG_HOME="$PWD/.xdg/config" XDG_DATA_HOME="$PWD/.xdg/data"
grep -v '^#' scripts/fuzz-targets | while read -r pkg target; do
	[[ -n "$pkg" ]] || continue
	echo "== $target ($pkg) for ${FUZZTIME:-2m}"
	go test -run '^$' -fuzz "^${target}\$" -fuzztime "${FUZZTIME:-2m}" "$pkg"
done
