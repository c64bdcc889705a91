#!/usr/bin/env bash
# Installs what the test suite talks to: real peers, not mocks.
#   oathtool                independent TOTP generator the codes are checked against
#   redis-server            the Redis store's peer
#   redis-sentinel          Redis Sentinel, for the failover tests
#   chromium                headless browser the browser tests drive (Debian's, without
#                           its recommended packages)
#   php-cli, python3,       real cookie parsers the gateway's reading of the Cookie header
#   default-jdk-headless    is checked against (with Node's cookie package, from npm)
#   axe-core                accessibility checks run in that browser (npm, pinned)
#   aws-ses-v2-local        Amazon SES v2 emulator (npm, pinned in package-lock.json)
#   serverless-offline-sns  Amazon SNS emulator that accepts SMS publishes; only its
#                           SNSServer class is used, so the package is unpacked into
#                           internal/testpeer/testdata/node/ without the Serverless
#                           framework it depends on,
#                           and its few runtime dependencies come from package.json
#                           (both in internal/testpeer/testdata/node/).
# Idempotent: does nothing (quickly) when everything is present; fails loudly
# when something cannot be installed.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian/Ubuntu packages; runs apt-get only when something is missing.
need=()
command -v oathtool >/dev/null || need+=(oathtool)
command -v redis-server >/dev/null || need+=(redis-server)
command -v redis-sentinel >/dev/null || need+=(redis-sentinel)
command -v chromium >/dev/null || need+=(chromium)
command -v php >/dev/null || need+=(php-cli)
command -v python3 >/dev/null || need+=(python3)
# Java runs a one-file program from source, which needs the compiler.
command -v javac >/dev/null || need+=(default-jdk-headless)

if ((${#need[@]})); then
	echo "installing: ${need[*]}"
	SUDO=""
	if [[ $(id -u) -ne 0 ]]; then
		command -v sudo >/dev/null || { echo "need root (or sudo) to install: ${need[*]}" >&2; exit 1; }
		SUDO=sudo
	fi
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# Node.js: the emulators' dependencies need Node 20 or later, newer than some
# distributions ship, so it is required rather than installed here.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	echo "need Node.js 20 or later, with npm, on PATH (https://nodejs.org/en/download)" >&2
	exit 1
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if ((node_major < 20)); then
	echo "need Node.js 20 or later; found $(node --version)" >&2
	exit 1
fi

# The Node packages live beside the scripts that use them, out of the Go
# module's way (the go tool skips testdata folders).
cd internal/testpeer/testdata/node

# npm writes node_modules/.package-lock.json on every install: when it is
# missing or older than package.json or the lock file, node_modules may not
# match them (npm ci then installs, or fails if the two disagree).
if [[ ! -e node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ||
	package.json -nt node_modules/.package-lock.json ]]; then
	echo "installing node packages (npm ci)"
	npm ci --no-audit --no-fund --loglevel=error
fi

sns_version=0.78.2
sns_integrity=sha512-Phgktr7mJYaXqBpifuzmh/mNZuD89PmYSKHV7Ies/jTMArREfkp2O+2qTJSP7XLy3M/63iffMCgOHOe6LkEWWg==
sns_dir=serverless-offline-sns
if [[ "$(cat "$sns_dir/.installed" 2>/dev/null)" != "$sns_version $sns_integrity" ]]; then
	echo "unpacking serverless-offline-sns@$sns_version into $sns_dir"
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	npm pack --silent --pack-destination "$tmp" "serverless-offline-sns@$sns_version" >/dev/null
	tarball=("$tmp"/serverless-offline-sns-*.tgz)
	got=$(node -e 'const fs = require("fs"), crypto = require("crypto");
		process.stdout.write("sha512-" + crypto.createHash("sha512").update(fs.readFileSync(process.argv[1])).digest("base64"))' "${tarball[0]}")
	if [[ "$got" != "$sns_integrity" ]]; then
		echo "serverless-offline-sns@$sns_version: tarball integrity $got, want $sns_integrity" >&2
		exit 1
	fi
	rm -rf "$sns_dir"
	mkdir -p "$sns_dir"
	tar -xzf "${tarball[0]}" -C "$sns_dir" --strip-components=1
	# Written last, so an interrupted unpack is redone on the next run.
	echo "$sns_version $sns_integrity" >"$sns_dir/.installed"
fi
