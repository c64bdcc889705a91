#!/usr/bin/env bash
# Installs what the test suite talks to: real peers, not mocks.
#   oathtool      independent TOTP generator the codes are checked against
# Debian/Ubuntu packages; runs apt-get only when something is missing.
set -euo pipefail

need=()
command -v oathtool >/dev/null || need+=(oathtool)

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
