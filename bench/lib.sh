# shellcheck shell=bash
# Shared by the benchmark scripts (sourced): packages, the temp dir, the
# processes they start, builds, Caddyfiles and the curl enrollment.
# Everything listens on 127.0.0.1; everything started is stopped on exit.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)
PIDS=()
USED_PORTS=()
declare -A PORT=() ADMIN=() PID_OF=()

# The identity every load request carries (trusted header).
BENCH_USER=bench-user

# The keys of the Redis scenarios (the Redis store requires them).
BENCH_KEYS=$(head -c 32 /dev/urandom | base64 | tr -d '\n')

log() { printf '%s %s\n' "$(date +%T)" "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

as_root() {
	if [[ $(id -u) -eq 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		die "need root or sudo for: $*"
	fi
}

# need CMD PACKAGE: install the Debian package when the command is missing.
APT_UPDATED=
need() {
	command -v "$1" >/dev/null 2>&1 && return 0
	command -v apt-get >/dev/null 2>&1 || die "$1 is missing and there is no apt-get: install $2"
	log "installing $2"
	if [[ -z $APT_UPDATED ]]; then
		as_root apt-get update -qq >/dev/null
		APT_UPDATED=1
	fi
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null
	command -v "$1" >/dev/null 2>&1 || die "installing $2 did not provide $1"
}

setup_tmp() {
	command -v go >/dev/null 2>&1 || die "Go 1.26 or later is needed to build Caddy"
	TMP=$(mktemp -d "${TMPDIR:-/tmp}/caddy2fa-bench.XXXXXX")
	# Caddy writes autosave.json, instance.uuid and a local CA here.
	export XDG_CONFIG_HOME=$TMP/config XDG_DATA_HOME=$TMP/data
	trap cleanup EXIT
	trap 'exit 130' INT TERM
}

cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [[ -n ${KEEP_TMP:-} ]]; then
		log "kept $TMP"
	else
		rm -rf "$TMP"
	fi
}

# free_port VAR: a port nothing listens on, not handed out before, below
# the ephemeral range (outgoing connections take ports from there, and a
# listener cannot bind one that is in use).
free_port() {
	local p _ low=32768
	[[ -r /proc/sys/net/ipv4/ip_local_port_range ]] && read -r low _ </proc/sys/net/ipv4/ip_local_port_range
	((low > 11000)) || die "the ephemeral port range starts too low ($low) to pick ports below it"
	for _ in $(seq 200); do
		p=$((10000 + RANDOM % (low - 10000)))
		[[ " ${USED_PORTS[*]} " == *" $p "* ]] && continue
		# A refused connection means nothing listens there.
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			USED_PORTS+=("$p")
			printf -v "$1" '%s' "$p"
			return 0
		fi
	done
	die "no free local port found"
}

# start NAME CMD...: run in the background, logging to $TMP/NAME.log.
# PIN=1 runs every Caddy on the first CPU and the load (upstream, Redis,
# wrk) on the second, so that Caddy's own cost sets the pace and the
# scheduler does not move work between them (needs 2 CPUs and taskset).
CADDY_CPU=() LOAD_CPU=()
if [[ ${PIN:-0} == 1 ]]; then
	command -v taskset >/dev/null 2>&1 || die "PIN=1 needs taskset (Debian package util-linux)"
	(($(nproc) >= 2)) || die "PIN=1 needs 2 CPUs"
	CADDY_CPU=(taskset -c 0) LOAD_CPU=(taskset -c 1)
fi

start() {
	local name=$1
	shift
	"$@" >"$TMP/$name.log" 2>&1 &
	PIDS+=("$!")
	PID_OF[$name]=$!
}

# show_logs NAME: the end of a process's output (and Caddy's own log).
show_logs() {
	local f
	for f in "$TMP/$1.log" "$TMP/${1#caddy-}/caddy.log"; do
		[[ -s $f ]] && tail -n 20 "$f" >&2
	done
	return 0
}

# wait_up NAME URL: until URL answers, or fail with the process's log.
wait_up() {
	local name=$1 url=$2 _
	for _ in $(seq 200); do
		curl -s -o /dev/null --max-time 1 "$url" && return 0
		if ! kill -0 "${PID_OF[$name]}" 2>/dev/null; then
			show_logs "$name"
			die "$name exited during start"
		fi
		sleep 0.1
	done
	show_logs "$name"
	die "$name did not answer at $url"
}

build_tools() {
	log "building the upstream and the benchmark tools"
	(cd "$REPO_ROOT" && go build -o "$TMP/upstream" ./bench/upstream &&
		go build -o "$TMP/users" ./bench/users && go build -o "$TMP/jwt" ./bench/jwt)
}

# build_caddy: $TMP/caddy, Caddy's standard modules plus ours.
build_caddy() {
	log "building Caddy with caddy2fa"
	(cd "$REPO_ROOT" && go build -o "$TMP/caddy" ./cmd/caddy)
	CADDY=$TMP/caddy
}

# build_peers: $TMP/caddy-peers, the same plus caddy-security, in a module
# of its own so the project's go.mod stays untouched.
build_peers() {
	local mod=$TMP/peers-module
	log "building Caddy with caddy2fa and caddy-security (several minutes when cold)"
	mkdir -p "$mod"
	cat >"$mod/main.go" <<'EOF'
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddy2fa/caddy2fa/caddymodule"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
	_ "github.com/greenpau/caddy-security"
)

func main() { caddycmd.Main() }
EOF
	cat >"$mod/go.mod" <<EOF
module caddy2fa.bench/peers

go 1.26.0

require (
	github.com/caddy2fa/caddy2fa v0.0.0
	github.com/greenpau/caddy-security v1.1.64
)

replace github.com/caddy2fa/caddy2fa => $REPO_ROOT
EOF
	# The proxy refuses caddy-security's version list, so pin the version.
	(cd "$mod" && go mod tidy >/dev/null 2>&1 && go build -o "$TMP/caddy-peers" .) ||
		die "building with caddy-security failed (run with KEEP_TMP=1 and look in $mod)"
}

start_upstream() {
	free_port UPSTREAM
	start upstream "${LOAD_CPU[@]}" "$TMP/upstream" -addr "127.0.0.1:$UPSTREAM"
	wait_up upstream "http://127.0.0.1:$UPSTREAM/"
}

# prepare_users_bench: what the scripts that drive many users share: a temp
# dir, OUT_DIR, Caddy and the tools built, the upstream running.
prepare_users_bench() {
	need curl curl
	setup_tmp
	mkdir -p "$OUT_DIR"
	build_caddy
	build_tools
	start_upstream
}

start_redis() {
	need redis-server redis-server
	need redis-cli redis-tools
	free_port REDIS
	mkdir -p "$TMP/redis"
	start redis "${LOAD_CPU[@]}" redis-server --port "$REDIS" --bind 127.0.0.1 --save "" --appendonly no \
		--daemonize no --dir "$TMP/redis"
	local _
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$REDIS") 2>/dev/null && return 0
		sleep 0.1
	done
	die "redis-server did not start"
}

# caddy_site NAME GLOBAL BODY: write $TMP/NAME/Caddyfile for one site on a
# fresh port, with GLOBAL added to the global options.
caddy_site() {
	local name=$1 global=$2 body=$3
	free_port "PORT[$name]"
	free_port "ADMIN[$name]"
	mkdir -p "$TMP/$name"
	# Runtime log only for errors, to a file: nothing on the hot path.
	cat >"$TMP/$name/Caddyfile" <<EOF
{
	admin 127.0.0.1:${ADMIN[$name]}
	default_bind 127.0.0.1
	skip_install_trust
	auto_https off
	persist_config off
	log default {
		output file "$TMP/$name/caddy.log"
		level ERROR
	}
$global
}

http://127.0.0.1:${PORT[$name]} {
$body
}
EOF
}

# start_caddy NAME: run the site written by caddy_site.
start_caddy() {
	local name=$1
	start "caddy-$name" "${CADDY_CPU[@]}" "$CADDY" run --adapter caddyfile --config "$TMP/$name/Caddyfile"
	PID_OF[$name]=${PID_OF[caddy-$name]}
	wait_up "caddy-$name" "http://127.0.0.1:${ADMIN[$name]}/config/"
}

# twofactor_block [OPTIONS]: the protected site's directive; identity from
# the trusted X-User header, everyone must use TOTP.
twofactor_block() {
	cat <<EOF
	twofactor {
		identity {
			id {http.request.header.X-User}
		}
		trusted_proxies 127.0.0.1/32
		policy {
			enforce
			methods totp
		}
$1
	}
	reverse_proxy 127.0.0.1:$UPSTREAM
EOF
}

# enroll_curl NAME: enroll $BENCH_USER through the real pages with curl and
# oathtool; sets SESSION to the 2fa_session cookie's value. The browser
# carries APP_COOKIE (NAME=VALUE), the app's session, when it is set.
enroll_curl() {
	local name=$1 base="http://127.0.0.1:${PORT[$1]}" jar="$TMP/$1/cookies" page key csrf action code status
	need oathtool oathtool
	: >"$jar"
	if [[ -n ${APP_COOKIE:-} ]]; then
		printf '127.0.0.1\tFALSE\t/\tFALSE\t0\t%s\t%s\n' "${APP_COOKIE%%=*}" "${APP_COOKIE#*=}" >"$jar"
	fi
	page=$(curl -fsS -c "$jar" -b "$jar" -H "X-User: $BENCH_USER" -H 'Accept: text/html' "$base/.2fa/enroll/totp") ||
		die "$name: the enrollment page did not load"
	key=$(grep -o 'id="totp-key">[A-Z2-7 ]*<' <<<"$page" | sed 's/.*>//; s/<$//; s/ //g' || true)
	csrf=$(grep -o 'name="csrf" value="[^"]*"' <<<"$page" | head -n 1 | sed 's/.*value="//; s/"$//' || true)
	action=$(grep -o '<form method="post" action="[^"]*"' <<<"$page" | head -n 1 | sed 's/.*action="//; s/"$//' || true)
	[[ -n $key && -n $csrf && -n $action ]] || die "$name: no key, csrf token or form on the enrollment page"
	code=$(oathtool --totp -b "$key")
	status=$(curl -sS -o /dev/null -w '%{http_code}' -c "$jar" -b "$jar" -H "X-User: $BENCH_USER" \
		--data-urlencode "csrf=$csrf" --data-urlencode "code=$code" "$base$action")
	[[ $status == 303 ]] || die "$name: the enrollment code was refused (status $status)"
	SESSION=$(awk -F'\t' '$6 == "2fa_session" { print $7 }' "$jar")
	[[ -n $SESSION ]] || die "$name: no 2fa_session cookie after enrollment"
}

# check_upstream NAME CURL_ARGS...: the request must reach the app (200 and
# the upstream's marker header), not a redirect to the challenge.
check_upstream() {
	local name=$1 headers status
	shift
	headers=$(curl -sS -o /dev/null -D - "$@" "http://127.0.0.1:${PORT[$name]}/app/page") ||
		die "$name: request failed"
	status=$(head -n 1 <<<"$headers" | awk '{ print $2 }')
	if [[ $status != 200 ]] || ! grep -qi '^x-upstream: 1' <<<"$headers"; then
		printf '%s\n' "$headers" >&2
		die "$name: the verification request did not reach the upstream (status $status)"
	fi
}

# rss_kib PID FIELD: a /proc status field (VmRSS, RssAnon, RssFile) in KiB.
rss_kib() {
	awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}
