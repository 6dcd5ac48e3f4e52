#!/usr/bin/env bash
# Installs the Debian packages the tests drive for real (named as arguments), when missing.
# Without apt-get or root it installs nothing and says so: the tests that need a package then
# skip with that reason, and everything else runs.
set -euo pipefail
missing=()
for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null || [ "$(id -u)" != 0 ]; then
    echo "system packages not installed (need root and apt-get): ${missing[*]}" >&2
    exit 0
fi
echo "installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null \
    || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; } \
    || echo "could not install: ${missing[*]} (the tests that need them skip)" >&2
