#!/usr/bin/env bash
# Installs the Debian packages strata's test suite needs. Idempotent and quiet
# when everything is present; run as root (CI is) or with sudo available.
set -euo pipefail

# Each entry: a Debian package the tests use, and why.
#   bubblewrap      the sandbox RUN steps execute in
#   busybox-static  the base root filesystem of test images (scripts/make-busybox-rootfs.sh)
#   skopeo, umoci   check every image strata writes with the real tools
#   gcc, libc6-dev  compile the static strata-run-as helper (RUN as a non-root USER)
#   util-linux      setpriv: the unreadable-file test drops root's file-permission capabilities (always in Debian; named for a minimal image)
PACKAGES=(bubblewrap busybox-static skopeo umoci gcc libc6-dev bzip2 xz-utils zstd tmux docker-registry apache2-utils podman util-linux)

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup-system: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "setup-system: strata needs Node.js >= 20 (found $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi
