#!/usr/bin/env bash
# `npm run demo`: strata's main job on the bundled example, in a throwaway
# store: plan and lint it, import the busybox:local base image, build the
# multi-stage example, then edit one source file in a copy and build again,
# showing which steps came from the cache, and the image it made.
set -euo pipefail
cd "$(dirname "$0")/.."
strata() { node dist/bin/strata.cjs "$@"; }
work=$(mktemp -d "${TMPDIR:-/tmp}/strata-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
export STRATA_STORE="$work/store"

echo "== strata plan examples/hello"
strata plan examples/hello
echo
echo "== strata check examples/hello, then examples/needs-work"
strata check examples/hello
strata check examples/needs-work || true
echo
if ! command -v bwrap >/dev/null || ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed'; then
  echo "(bubblewrap and busybox-static are needed to build: scripts/setup-system.sh installs them)"
  exit 0
fi
echo "== the base image: busybox:local from Debian's busybox-static"
bash scripts/make-busybox-rootfs.sh "$work/rootfs"
strata image import "$work/rootfs" --tag busybox:local
echo
cp -r examples/hello "$work/hello"
echo "== strata build -t hello:dev (cold)"
strata build -t hello:dev "$work/hello"
echo
echo "== edit src/index.html.in and build again (--explain): only the steps from its COPY on run, and it says why"
sed -i 's/Built by strata/Rebuilt by strata/' "$work/hello/src/index.html.in"
strata build --explain -t hello:dev "$work/hello"
echo
echo "== the image"
strata image ls
strata history hello:dev
