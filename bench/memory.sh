#!/usr/bin/env bash
# Memory benchmark: Caddy's resident memory with the twofactor gate
# (embedded store, as in run.sh's scenario B) idle, then after USERS
# distinct users each enrolled through the real pages, passed 2FA and made
# a request through the gate (so the gate's caches hold every one of them).
#
#   bench/memory.sh                 10,000 users
#   USERS=1000 bench/memory.sh      a quick try
#
# Environment: USERS (10000), WARM_USERS (500: users enrolled before the
# baseline, so buffers the enrollment work needs are already counted),
# WORKERS (16 concurrent clients), SETTLE (5: seconds after a forced GC
# before reading /proc), FINAL_SETTLE (65: the same before the last
# reading), OUT_DIR (bench/out), KEEP_TMP.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

USERS=${USERS:-10000}
WARM_USERS=${WARM_USERS:-500}
WORKERS=${WORKERS:-16}
SETTLE=${SETTLE:-5}
# The last reading waits past the store's one-minute sweep: the steady
# state, not the moment the load stopped.
FINAL_SETTLE=${FINAL_SETTLE:-65}
OUT_DIR=${OUT_DIR:-$BENCH_DIR/out}

prepare_users_bench
caddy_site B "	twofactor {
		store file \"$TMP/B/2fa.db\"
	}" "$(twofactor_block "")"
start_caddy B
PID=${PID_OF[B]}
VARS_URL="http://127.0.0.1:${ADMIN[B]}/debug/vars"

# sample LABEL: force a GC (the heap profile handler runs one when asked),
# let the runtime settle, then read /proc and the Go heap. Prints
# "LABEL VmRSS RssAnon RssFile store code HeapAlloc" in KiB, where store
# and code split RssFile: the pages of the store file and of Caddy's
# binary that are mapped in.
sample() {
	local vars heap
	curl -fsS -o /dev/null "http://127.0.0.1:${ADMIN[B]}/debug/pprof/heap?gc=1"
	sleep "${2:-$SETTLE}"
	vars=$(curl -fsS "$VARS_URL")
	heap=$(grep -o '"HeapAlloc": *[0-9]*' <<<"$vars" | grep -o '[0-9]*$')
	printf '%s %s %s %s %s %s %s\n' "$1" "$(rss_kib "$PID" VmRSS)" "$(rss_kib "$PID" RssAnon)" \
		"$(rss_kib "$PID" RssFile)" "$(mapped_kib "$PID" "$TMP/B/2fa.db")" "$(mapped_kib "$PID" "$CADDY")" "$((heap / 1024))"
}

# mapped_kib PID FILE: resident KiB of the process's mappings of FILE.
mapped_kib() {
	awk -v f="$2" '/^[0-9a-f]+-[0-9a-f]+ / { cur = $6 } $1 == "Rss:" && cur == f { n += $2 } END { print n + 0 }' "/proc/$1/smaps"
}

# users PREFIX N: enroll N distinct users through the pages, each then
# making one request through the gate.
users() {
	"$TMP/users" enroll -url "http://127.0.0.1:${PORT[B]}" -prefix "$1" -n "$2" -workers "$WORKERS" |
		grep '^RESULT'
}

idle=$(sample idle)
log "idle: $idle"
users w "$WARM_USERS" >/dev/null
warm=$(sample warm)
log "after $WARM_USERS warm-up users: $warm"
log "enrolling $USERS users through the pages ($WORKERS clients)"
result=$(users m "$USERS")
log "$result"
after=$(sample after "$FINAL_SETTLE")
log "after $USERS more users: $after"
# Where the live heap is: go tool pprof -sample_index=inuse_space -top.
curl -fsS -o "$OUT_DIR/memory.heap.pprof" "http://127.0.0.1:${ADMIN[B]}/debug/pprof/heap"
db_kib=$(($(stat -c %s "$TMP/B/2fa.db") / 1024))

# per_user LABEL USERS FROM TO: the growth between two readings, per user.
per_user() {
	local -a from to
	read -r -a from <<<"$3"
	read -r -a to <<<"$4"
	printf '%-30s' "$1"
	for i in 1 2 3 4 5 6; do
		awk -v d=$((to[i] - from[i])) -v n="$2" 'BEGIN { printf " %10.2f", d / n }'
	done
	echo
}

OUT=$OUT_DIR/memory.txt
{
	echo "caddy2fa memory, $(date -u +%Y-%m-%dT%H:%MZ): scenario B (twofactor, embedded store)"
	echo "$USERS distinct users, each enrolled (TOTP), verified and one request through the gate"
	echo "readings after a forced GC and ${SETTLE}s (the last one ${FINAL_SETTLE}s); KiB"
	echo
	printf '%-30s %10s %10s %10s %10s %10s %10s\n' "" VmRSS RssAnon RssFile "of: store" "of: code" "Go heap"
	for row in "$idle" "$warm" "$after"; do
		read -r label rest <<<"$row"
		case $label in
		idle) label="idle (after start)" ;;
		warm) label="baseline ($WARM_USERS users)" ;;
		after) label="after $USERS more users" ;;
		esac
		# shellcheck disable=SC2086 # the six numbers, one per column
		printf '%-30s %10s %10s %10s %10s %10s %10s\n' "$label" $rest
	done
	per_user "per user above baseline" "$USERS" "$warm" "$after"
	per_user "per user above idle" $((USERS + WARM_USERS)) "$idle" "$after"
	echo
	echo "store file: $db_kib KiB (\"of: store\" counts the pages of it mapped in; \"of: code\" those of Caddy's binary)"
	echo "target: <= 1 KiB per user above idle (VmRSS)"
	echo "enrollment: $result"
	echo "heap profile: go tool pprof -sample_index=inuse_space -top $OUT_DIR/memory.heap.pprof"
} | tee "$OUT"
log "saved $OUT"
