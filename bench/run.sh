#!/usr/bin/env bash
# Load benchmark: what the twofactor gate costs a verified user's request,
# against plain reverse_proxy on the same binary (and, with PEERS=1, against
# caddy-security's authorize and forward_auth, all on one combined binary).
#
#   bench/run.sh                          A plain, B twofactor (file), C twofactor (Redis)
#   PEERS=1 bench/run.sh                  also D caddy-security, E forward_auth
#   ROUNDS=1 DURATION=2s bench/run.sh     a quick try
#
# Environment: THREADS (2), CONNECTIONS (32), DURATION (10s), WARMUP (2s),
# ROUNDS (5: every scenario once per round, in a rotating order), PEERS (0),
# PIN (0; 1 runs Caddy on one CPU and the upstream, Redis and wrk on the
# other, so Caddy's cost sets the pace: see lib.sh),
# PROFILE (0; 1 adds one profiled run of A and B and saves CPU profiles),
# PROFILE_DURATION (DURATION: length of those runs; longer gives more samples),
# WAIT_IDLE (0; seconds to wait for the 1-minute load to drop below 1.0),
# OUT_DIR (bench/out), KEEP_TMP (keep the temp dir).
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-32}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
ROUNDS=${ROUNDS:-5}
PEERS=${PEERS:-0}
PROFILE=${PROFILE:-0}
PROFILE_DURATION=${PROFILE_DURATION:-$DURATION}
WAIT_IDLE=${WAIT_IDLE:-0}
OUT_DIR=${OUT_DIR:-$BENCH_DIR/out}

need curl curl
need wrk wrk
setup_tmp
mkdir -p "$OUT_DIR"

build_caddy
BINARY="caddy2fa + standard modules"
if [[ $PEERS == 1 ]]; then
	build_peers
	# Every scenario on the one binary: binaries differ in plain proxying
	# throughput by themselves (heap size, GC), which would bias the ratios.
	CADDY=$TMP/caddy-peers
	BINARY="caddy2fa + caddy-security v1.1.64 + standard modules"
fi
build_tools
start_upstream
start_redis

declare -A LABEL=(
	[A]="A plain reverse_proxy"
	[B]="B twofactor, embedded store"
	[C]="C twofactor, Redis store"
	[D]="D caddy-security authorize (JWT)"
	[E]="E forward_auth + reverse_proxy"
)
SCENARIOS=(A B C)

caddy_site A "" "	reverse_proxy 127.0.0.1:$UPSTREAM"
# Sessions are bound to the app's session cookie, as they are in front of
# a legacy app.
caddy_site B "	twofactor {
		store file \"$TMP/B/2fa.db\"
	}" "$(twofactor_block "		session_cookie app_session")"
caddy_site C "	twofactor {
		store redis redis://127.0.0.1:$REDIS/0
		keys $BENCH_KEYS
	}" "$(twofactor_block "		session_cookie app_session")"
if [[ $PEERS == 1 ]]; then
	SCENARIOS+=(D E)
	JWT_SECRET=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
	caddy_site D "	security {
		authorization policy bench {
			crypto key verify $JWT_SECRET
			allow roles authp/user
		}
	}" "	route {
		authorize with bench
		reverse_proxy 127.0.0.1:$UPSTREAM
	}"
	# The design Authelia uses: ask the auth service on every request.
	caddy_site E "" "	forward_auth 127.0.0.1:$UPSTREAM {
		uri /auth
		copy_headers Remote-User
	}
	reverse_proxy 127.0.0.1:$UPSTREAM"
fi
for s in "${SCENARIOS[@]}"; do
	start_caddy "$s"
done

# The requests of an already verified user, as each design's browser sends
# them: every scenario gets the identity header and the app's own session
# cookie; B and C add our session cookie (which they strip before the app),
# D its JWT and E an auth session cookie (both reach the app, as they do in
# those designs). Plain proxying gets no cookie of ours, so the app behind
# it never parses bytes it would not see without a gateway.
declare -A COOKIE=()
APP_COOKIE="app_session=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
enroll_curl B
COOKIE[B]="$APP_COOKIE; 2fa_session=$SESSION"
enroll_curl C
COOKIE[C]="$APP_COOKIE; 2fa_session=$SESSION"
COOKIE[A]=$APP_COOKIE
COOKIE[E]=${COOKIE[B]}
if [[ $PEERS == 1 ]]; then
	COOKIE[D]="$APP_COOKIE; access_token=$("$TMP/jwt" -secret "$JWT_SECRET" -sub "$BENCH_USER")"
fi
for s in "${SCENARIOS[@]}"; do
	check_upstream "$s" -H "X-User: $BENCH_USER" -H "Cookie: ${COOKIE[$s]}"
done
# And the gates are really closed to anyone else.
for s in B C; do
	status=$(curl -s -o /dev/null -w '%{http_code}' -H "X-User: someone-else" -H 'Accept: text/html' \
		-H "Cookie: ${COOKIE[$s]}" "http://127.0.0.1:${PORT[$s]}/app/page")
	[[ $status == 302 ]] || die "$s: another user with this session got $status, want 302"
done
log "verified: each scenario's request reaches the upstream"

if ((WAIT_IDLE > 0)); then
	waited=0
	while awk '{ exit !($1 >= 1.0) }' /proc/loadavg && ((waited < WAIT_IDLE)); do
		log "waiting for the machine to be idle: load $(cut -d' ' -f1-3 /proc/loadavg)"
		sleep 30
		waited=$((waited + 30))
	done
fi
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# to_ms VALUE: wrk's latency ("812.00us", "1.20ms", "2.01s") in ms.
# to_bytes VALUE: wrk's size ("150.12MB", binary units) in bytes.
# shellcheck disable=SC2016 # awk's own $ fields
WRK_AWK='
function to_ms(v) {
	if (v ~ /us$/) return v / 1000
	if (v ~ /ms$/) return v + 0
	if (v ~ /s$/) return v * 1000
	if (v ~ /m$/) return v * 60000
	return v + 0
}
function to_bytes(v) {
	if (v ~ /GB$/) return v * 1073741824
	if (v ~ /MB$/) return v * 1048576
	if (v ~ /KB$/) return v * 1024
	return v + 0
}
$1 == "50%" { p50 = to_ms($2) }
$1 == "99%" { p99 = to_ms($2) }
$1 == "Requests/sec:" { rps = $2 }
$2 == "requests" && $3 == "in" { n = $1; read = to_bytes($5) }
/Non-2xx or 3xx responses/ { bad = $NF }
/Socket errors/ { gsub(/,/, ""); errs = $4 + $6 + $8 + $10 }
END { printf "%s %.3f %.3f %d %d %d %d\n", rps, p50, p99, (n ? read / n : 0), bad + 0, errs + 0, n }'

# cpu_ticks PID VAR: the process's user+system CPU time in clock ticks,
# read without forking (a forked reader would count as our own CPU).
cpu_ticks() {
	local line f
	read -r line <"/proc/$1/stat"
	read -r -a f <<<"${line##*) }"
	printf -v "$2" '%s' $((f[11] + f[12]))
}

# measure SCENARIO DURATION: one wrk run; prints "req/s p50 p99 bytes/req
# non2xx socket_errors requests caddy_cpu_s upstream_cpu_s wrk_cpu_s".
# CPU seconds per request hold up when other work shares the machine;
# requests per second and latencies do not.
measure() {
	local s=$1 out c0 c1 u0 u1 tps
	tps=$(getconf CLK_TCK)
	cpu_ticks "${PID_OF[$s]}" c0
	cpu_ticks "${PID_OF[upstream]}" u0
	out=$("${LOAD_CPU[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$2" --latency \
		-H "X-User: $BENCH_USER" -H "Cookie: ${COOKIE[$s]}" \
		"http://127.0.0.1:${PORT[$s]}/app/page")
	cpu_ticks "${PID_OF[$s]}" c1
	cpu_ticks "${PID_OF[upstream]}" u1
	# This function runs in a subshell of its own: its children's CPU
	# time is wrk's (and getconf's, which is negligible).
	times >"$TMP/times-$s"
	printf '%s\n' "$out" >>"$TMP/wrk-$s.txt"
	printf '%s %s\n' "$(awk "$WRK_AWK" <<<"$out")" "$(awk -v c=$((c1 - c0)) -v u=$((u1 - u0)) -v t="$tps" '
		function sec(v, m) { m = v; sub(/m.*/, "", m); sub(/^[0-9]+m/, "", v); sub(/s$/, "", v); return m * 60 + v }
		NR == 2 { printf "%.3f %.3f %.3f", c / t, u / t, sec($1) + sec($2) }' "$TMP/times-$s")"
}

RAW=$OUT_DIR/runs.tsv
printf 'round\tscenario\treq_s\tp50_ms\tp99_ms\tbytes_per_req\tnon2xx\tsocket_errors\trequests\tcaddy_us_req\tupstream_us_req\twrk_us_req\n' >"$RAW"
n=${#SCENARIOS[@]}
log "measuring: $ROUNDS rounds of ${SCENARIOS[*]}, wrk -t$THREADS -c$CONNECTIONS -d$DURATION (warm-up $WARMUP), load $LOAD_BEFORE"
for ((r = 0; r < ROUNDS; r++)); do
	for ((i = 0; i < n; i++)); do
		s=${SCENARIOS[(r + i) % n]}
		measure "$s" "$WARMUP" >/dev/null
		read -r rps p50 p99 bpr bad errs reqs ccpu ucpu wcpu < <(measure "$s" "$DURATION")
		# A redirect or an error page is smaller than the app's 1 KiB body.
		((bad == 0 && bpr >= 1024)) ||
			die "$s: responses were not the app's (non-2xx $bad, $bpr bytes per response)"
		((errs == 0)) || log "warning: $s had $errs socket errors"
		read -r cus uus wus < <(awk -v n="$reqs" -v c="$ccpu" -v u="$ucpu" -v w="$wcpu" \
			'BEGIN { printf "%.2f %.2f %.2f\n", c * 1e6 / n, u * 1e6 / n, w * 1e6 / n }')
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$s" "$rps" "$p50" "$p99" \
			"$bpr" "$bad" "$errs" "$reqs" "$cus" "$uus" "$wus" >>"$RAW"
		log "round $((r + 1))/$ROUNDS $s: $rps req/s, p50 $p50 ms, p99 $p99 ms; CPU per request: Caddy $cus us, upstream $uus us, wrk $wus us"
	done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

if [[ $PROFILE == 1 ]]; then
	secs=${PROFILE_DURATION%s}
	[[ $secs =~ ^[0-9]+$ && $secs -ge 4 ]] || die "PROFILE_DURATION must be whole seconds, at least 4s"
	for s in A B; do
		log "profiling $s for ${secs}s"
		curl -s -o "$OUT_DIR/$s.cpu.pprof" \
			"http://127.0.0.1:${ADMIN[$s]}/debug/pprof/profile?seconds=$((secs - 2))" &
		prof=$!
		sleep 1
		read -r rps _ _ _ _ _ n _ <<<"$(measure "$s" "${secs}s")"
		wait "$prof"
		# The requests served during the profile, to compare profiles per
		# request (pprof's -diff_base compares totals).
		log "profiled $s: $n requests, $rps req/s"
	done
	# Go profiles carry their symbols: no binary needed to read them.
	log "profiles: go tool pprof -top $OUT_DIR/B.cpu.pprof"
fi

# median COLUMN SCENARIO: the median of a column of the runs.
median() {
	awk -F'\t' -v c="$1" -v s="$2" 'NR > 1 && $2 == s { print $c }' "$RAW" | sort -g |
		awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
range() {
	awk -F'\t' -v s="$1" 'NR > 1 && $2 == s { print $3 }' "$RAW" | sort -g |
		awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.0f-%.0f", lo, hi }'
}

TABLE=$OUT_DIR/table.txt
{
	echo "caddy2fa load benchmark, $(date -u +%Y-%m-%dT%H:%MZ)"
	echo "binary: $BINARY; upstream: 1 KiB bodies; $(nproc) cores; load before $LOAD_BEFORE, after $LOAD_AFTER"
	echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency, warm-up $WARMUP, $ROUNDS rounds (medians)"
	echo "target: twofactor >= 0.97x plain req/s, p99 added <= 0.1 ms"
	if awk '{ exit !($1 >= 1.0) }' <<<"$LOAD_BEFORE"; then
		echo "note: other work was running (load >= 1): req/s, latencies and CPU per request all move with it"
	fi
	echo
	printf '%-34s %8s %11s %8s %8s %8s %10s  %s\n' scenario "req/s" "range" "p50 ms" "p99 ms" "x plain" "p99 added" ""
	a_rps=$(median 3 A)
	a_p99=$(median 5 A)
	for s in "${SCENARIOS[@]}"; do
		rps=$(median 3 "$s")
		p50=$(median 4 "$s")
		p99=$(median 5 "$s")
		verdict=""
		if [[ $s == B || $s == C ]]; then
			verdict=$(awk -v r="$rps" -v a="$a_rps" -v p="$p99" -v ap="$a_p99" \
				'BEGIN { print ((r / a >= 0.97 && p - ap <= 0.1) ? "meets target" : "misses target") }')
		fi
		awk -v l="${LABEL[$s]}" -v r="$rps" -v g="$(range "$s")" -v p5="$p50" -v p9="$p99" \
			-v a="$a_rps" -v ap="$a_p99" -v v="$verdict" \
			'BEGIN { printf "%-34s %8.0f %11s %8.3f %8.3f %8.3f %+10.3f  %s\n", l, r, g, p5, p9, r / a, p9 - ap, v }'
	done
	echo
	echo "CPU per request (us, medians of the same runs). 'CPU x plain' is plain's total over the"
	echo "scenario's total (Caddy + upstream + wrk): the req/s ratio these costs would give. It moves"
	echo "by several percent from run to run too (per-request CPU falls as throughput rises)."
	echo
	printf '%-34s %8s %9s %8s %12s %12s\n' scenario Caddy upstream wrk "Caddy added" "CPU x plain"
	a_tot=$(awk -v c="$(median 10 A)" -v u="$(median 11 A)" -v w="$(median 12 A)" 'BEGIN { print c + u + w }')
	a_cad=$(median 10 A)
	for s in "${SCENARIOS[@]}"; do
		awk -v l="${LABEL[$s]}" -v c="$(median 10 "$s")" -v u="$(median 11 "$s")" -v w="$(median 12 "$s")" \
			-v t="$a_tot" -v ac="$a_cad" \
			'BEGIN { printf "%-34s %8.1f %9.1f %8.1f %+12.1f %12.3f\n", l, c, u, w, c - ac, t / (c + u + w) }'
	done
} | tee "$TABLE"
log "runs: $RAW; table: $TABLE"
