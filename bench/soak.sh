#!/usr/bin/env bash
# Soak: two caddy2fa instances on Redis Sentinel (one master, two replicas,
# three Sentinels) for a while, 200 users signing in and out, the master
# killed (kill -9) every two minutes, one Caddy restart halfway. Prints the
# report and writes it, with a plot of throughput and errors over time, to
# OUT_DIR (soak.md, soak.svg).
#
#   bench/soak.sh                  ten minutes
#   DURATION=2m bench/soak.sh      shorter
#
# The same test runs for 40 seconds in every test run (go test ./e2e -run
# TestSoak); this script only makes it long.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10m}
OUT_DIR=${OUT_DIR:-bench/out/soak}
./scripts/install-test-deps.sh
mkdir -p "$OUT_DIR"
go test ./e2e -run '^TestSoakTwoInstancesThroughFailoversAndARestart$' -count=1 -v -timeout 60m \
	-args -soak="$DURATION" -soak-out="$(realpath "$OUT_DIR")" | grep -v '^=== '
echo "report: $OUT_DIR/soak.md, plot: $OUT_DIR/soak.svg"
