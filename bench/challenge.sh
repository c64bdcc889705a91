#!/usr/bin/env bash
# Challenge-path throughput with the Redis store: how many TOTP
# verifications per second complete. A code is good once per user and time
# step (replays are refused), so USERS distinct users enroll through the
# pages first; then each opens a new app session (session_cookie), which
# the gate sends to the code form, and the verification POSTs are timed.
#
#   bench/challenge.sh                 10,000 users
#   USERS=1000 bench/challenge.sh      a quick try
#
# Environment: USERS (10000), WORKERS (16 concurrent clients), PROFILE (0;
# 1 saves a CPU profile of Caddy taken during the POSTs), PROFILE_SECONDS
# (5), OUT_DIR (bench/out), KEEP_TMP.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

USERS=${USERS:-10000}
WORKERS=${WORKERS:-16}
PROFILE=${PROFILE:-0}
PROFILE_SECONDS=${PROFILE_SECONDS:-5}
OUT_DIR=${OUT_DIR:-$BENCH_DIR/out}

prepare_users_bench
start_redis
caddy_site V "	twofactor {
		store redis redis://127.0.0.1:$REDIS/0
		keys $BENCH_KEYS
	}" "$(twofactor_block "		session_cookie app_session")"
start_caddy V

args=(verify -url "http://127.0.0.1:${PORT[V]}" -n "$USERS" -workers "$WORKERS" -session-cookie app_session -redis-port "$REDIS")
if [[ $PROFILE == 1 ]]; then
	args+=(-pprof-url "http://127.0.0.1:${ADMIN[V]}" -pprof-out "$OUT_DIR/verify.cpu.pprof" -pprof-seconds "$PROFILE_SECONDS")
fi
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
log "enrolling $USERS users, then one verification each ($WORKERS clients)"
out=$("$TMP/users" "${args[@]}")
results=$(grep '^RESULT' <<<"$out")
calls=$(grep '^REDIS verify_post' <<<"$out" | cut -d' ' -f3-)
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

OUT=$OUT_DIR/challenge.txt
{
	echo "caddy2fa challenge path, $(date -u +%Y-%m-%dT%H:%MZ): twofactor with the Redis store"
	echo "$USERS distinct users, $WORKERS concurrent clients, $(nproc) cores shared with the clients and Redis"
	echo "load before $LOAD_BEFORE, after $LOAD_AFTER; target: >= 2000 verifications/s"
	echo
	printf '%-44s %8s %10s %10s\n' phase "per s" "p50 ms" "p99 ms"
	while read -r _ name _ _ rate p50 p99; do
		case $name in
		enroll) name="enrollment (page + code POST)" ;;
		challenge_pages) name="new app session to the code form (4 GETs)" ;;
		verify_post) name="verification POST (TOTP check, new session)" ;;
		esac
		printf '%-44s %8s %10s %10s\n' "$name" "${rate#per_second=}" "${p50#p50_ms=}" "${p99#p99_ms=}"
	done <<<"$results"
	echo
	echo "Redis commands per verification POST (commands inside scripts included):"
	echo "  $calls"
	if [[ $PROFILE == 1 ]]; then
		echo
		echo "profile: go tool pprof -top $OUT_DIR/verify.cpu.pprof"
	fi
} | tee "$OUT"
log "saved $OUT"
